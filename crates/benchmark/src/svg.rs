//! An x–y chart as inline SVG (points joined by lines, a marker per point), no script: the
//! pages open anywhere offline, like `report.html`.

use std::fmt::Write as _;

pub(crate) use scenario::report::escape_html as esc;

/// One line of a chart.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub name: String,
    pub color: &'static str,
    pub dashed: bool,
    /// (x, y, the point's run passed its checks, tooltip).
    pub points: Vec<(f64, f64, bool, String)>,
}

/// Colours of the series, in order.
pub(crate) const COLORS: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
];

const W: f64 = 760.0;
const H: f64 = 300.0;
const PAD_L: f64 = 64.0;
const PAD_R: f64 = 20.0;
const PAD_B: f64 = 36.0;
const LEGEND_ROW: f64 = 16.0;
const LEGEND_COLUMNS: usize = 3;

/// How the x axis is labelled.
#[derive(Debug, Clone)]
pub(crate) enum XAxis {
    /// Numbers, ticks chosen here.
    Numeric,
    /// One tick per category at x = 0, 1, …
    Categories(Vec<String>),
}

/// The plotted ranges: x from the axis (categories) or the points, y from zero to the highest
/// point (or x, when the diagonal is drawn), with some headroom.
fn bounds(x_axis: &XAxis, all: &[(f64, f64)], diagonal: bool) -> (f64, f64, f64) {
    let (x_lo, x_hi) = match x_axis {
        XAxis::Categories(names) => (-0.5, names.len() as f64 - 0.5),
        XAxis::Numeric => {
            let lo = all.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
            let hi = all.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
            let lo = if lo >= 0.0 { 0.0 } else { lo };
            let hi = if hi > lo { hi * 1.05 } else { lo + 1.0 };
            (lo, hi)
        }
    };
    let mut y_hi = all.iter().map(|p| p.1).fold(0.0_f64, f64::max);
    if diagonal {
        y_hi = y_hi.max(all.iter().map(|p| p.0).fold(0.0_f64, f64::max));
    }
    let y_hi = if y_hi > 0.0 { y_hi * 1.08 } else { 1.0 };
    (x_lo, x_hi, y_hi)
}

/// The chart. `diagonal` draws y = x (achieved against offered load).
pub(crate) fn xy_chart(
    x_label: &str,
    y_label: &str,
    x_axis: &XAxis,
    series: &[Series],
    diagonal: bool,
) -> String {
    let legend_rows = series.len().div_ceil(LEGEND_COLUMNS).max(1);
    let pad_t = 14.0 + LEGEND_ROW * legend_rows as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg width={W} height={H} viewBox='0 0 {W} {H}' role=img>"
    );
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| (p.0, p.1)))
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    if all.is_empty() {
        svg.push_str("<text x=20 y=40>no data</text></svg>");
        return svg;
    }
    let (x_lo, x_hi, y_hi) = bounds(x_axis, &all, diagonal);
    let sx = |x: f64| PAD_L + (W - PAD_L - PAD_R) * (x - x_lo) / (x_hi - x_lo);
    let sy = |y: f64| H - PAD_B - (H - PAD_B - pad_t) * (y / y_hi);

    // Grid and y ticks.
    for tick in ticks(0.0, y_hi) {
        let y = sy(tick);
        let _ = write!(
            svg,
            "<line x1={PAD_L} y1={y:.1} x2={} y2={y:.1} stroke='#eee'/><text x={} y={:.1} text-anchor=end>{}</text>",
            W - PAD_R,
            PAD_L - 4.0,
            y + 4.0,
            short(tick)
        );
    }
    // x ticks.
    let x_ticks: Vec<(f64, String)> = match x_axis {
        XAxis::Categories(names) => names
            .iter()
            .enumerate()
            .map(|(i, n)| (i as f64, n.clone()))
            .collect(),
        XAxis::Numeric => ticks(x_lo, x_hi)
            .into_iter()
            .map(|t| (t, short(t)))
            .collect(),
    };
    for (x, label) in &x_ticks {
        let px = sx(*x);
        let _ = write!(
            svg,
            "<line x1={px:.1} y1={} x2={px:.1} y2={} stroke='#888'/><text x={px:.1} y={} text-anchor=middle>{}</text>",
            H - PAD_B,
            H - PAD_B + 4.0,
            H - PAD_B + 16.0,
            esc(label)
        );
    }
    let _ = write!(
        svg,
        "<line x1={PAD_L} y1={} x2={} y2={} stroke='#888'/><line x1={PAD_L} y1={pad_t} x2={PAD_L} y2={} stroke='#888'/>",
        H - PAD_B,
        W - PAD_R,
        H - PAD_B,
        H - PAD_B
    );
    let _ = write!(
        svg,
        "<text x={} y={} text-anchor=end>{}</text><text x=4 y={} >{}</text>",
        W - PAD_R,
        H - 4.0,
        esc(x_label),
        pad_t - 4.0,
        esc(y_label)
    );
    if diagonal {
        let end = x_hi.min(y_hi);
        let _ = write!(
            svg,
            "<line x1={:.1} y1={:.1} x2={:.1} y2={:.1} stroke='#bbb' stroke-dasharray='2 4'><title>achieved = offered</title></line>",
            sx(x_lo.max(0.0)),
            sy(x_lo.max(0.0)),
            sx(end),
            sy(end)
        );
    }
    for (i, s) in series.iter().enumerate() {
        let mut points: Vec<&(f64, f64, bool, String)> = s
            .points
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let dash = if s.dashed {
            " stroke-dasharray='6 4'"
        } else {
            ""
        };
        let line: Vec<String> = points
            .iter()
            .map(|p| format!("{:.1},{:.1}", sx(p.0), sy(p.1)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=none stroke='{}' stroke-width=1.8{dash} points='{}'/>",
            s.color,
            line.join(" ")
        );
        for (x, y, ok, tip) in points {
            if *ok {
                let _ = write!(
                    svg,
                    "<circle cx={:.1} cy={:.1} r=3.5 fill='{}'><title>{}</title></circle>",
                    sx(*x),
                    sy(*y),
                    s.color,
                    esc(tip)
                );
            } else {
                let _ = write!(
                    svg,
                    "<circle class=failed cx={:.1} cy={:.1} r=5 fill='#fff' stroke='#cf222e' stroke-width=2><title>{} (checks failed)</title></circle>",
                    sx(*x),
                    sy(*y),
                    esc(tip)
                );
            }
        }
        let (row, column) = (i / LEGEND_COLUMNS, i % LEGEND_COLUMNS);
        let lx = PAD_L + 4.0 + 230.0 * column as f64;
        let ly = 4.0 + LEGEND_ROW * row as f64;
        let _ = write!(
            svg,
            "<line x1={lx} y1={:.1} x2={} y2={:.1} stroke-width='2'{dash} stroke='{}'/><text x={} y={:.1}>{}</text>",
            ly + 6.0,
            lx + 18.0,
            ly + 6.0,
            s.color,
            lx + 22.0,
            ly + 10.0,
            esc(&s.name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// About five round ticks from `lo` to `hi`.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = hi - lo;
    if span <= 0.0 || !span.is_finite() {
        return vec![lo];
    }
    let raw = span / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let mut out = Vec::new();
    let mut t = (lo / step).ceil() * step;
    while t <= hi + step * 1e-9 {
        out.push(t);
        t += step;
    }
    out
}

/// 1234 → `1.2k`, 0.5 → `0.5`.
fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_ticks() {
        assert_eq!(ticks(0.0, 100.0), vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(ticks(0.0, 1.0).len(), 6);
        assert_eq!(short(12_345.0), "12k");
        assert_eq!(short(0.5), "0.50");
    }

    #[test]
    fn a_chart_has_markers_legend_and_escaped_text() {
        let svg = xy_chart(
            "chargers <n>",
            "ms",
            &XAxis::Numeric,
            &[Series {
                name: "p99 & more".into(),
                color: COLORS[0],
                dashed: true,
                points: vec![
                    (50.0, 1.0, true, "a".into()),
                    (100.0, 2.0, false, "b".into()),
                ],
            }],
            true,
        );
        assert!(svg.contains("<polyline") && svg.contains("<circle"));
        // In HTML an unquoted value swallows the `/` of `/>`: the element would stay open.
        for (i, _) in svg.match_indices("/>") {
            assert_eq!(
                &svg[i - 1..i],
                "'",
                "quoted before `/>`: {}",
                &svg[i.saturating_sub(40)..i + 2]
            );
        }
        assert!(svg.contains("class=failed"));
        assert!(svg.contains("chargers &lt;n&gt;") && svg.contains("p99 &amp; more"));
        let empty = xy_chart("x", "y", &XAxis::Numeric, &[], false);
        assert!(empty.contains("no data"));
    }
}
