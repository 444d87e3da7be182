//! Charts as inline SVG, no script and no external file, so that `report.html` and the pages
//! of repeats and sweeps open anywhere offline. One module for every chart evbench draws: x–y
//! charts (time series with shaded fault spans, curves with a marker per point, categories),
//! the bars of a latency distribution, and grouped bars comparing named things.

use std::fmt::Write as _;

pub use super::escape_html as esc;

const W: f64 = 760.0;
const H: f64 = 300.0;
const PAD_L: f64 = 64.0;
const PAD_R: f64 = 20.0;
const PAD_B: f64 = 36.0;
const LEGEND_ROW: f64 = 16.0;
const LEGEND_COLUMNS: usize = 3;

/// Colours of the series, in order.
pub const COLORS: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
];

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub dashed: bool,
    /// A marker on every point (curves of a few points) or none (time series).
    pub markers: bool,
    /// (x, y, the point's run passed its checks, tooltip).
    pub points: Vec<(f64, f64, bool, String)>,
}

/// How the x axis is labelled.
#[derive(Debug, Clone)]
pub enum XAxis {
    /// Numbers, ticks chosen here.
    Numeric,
    /// One tick per category at x = 0, 1, …
    Categories(Vec<String>),
}

/// A span of the x axis shaded behind the lines, with a label at its top (a fault's time).
#[derive(Debug, Clone)]
pub struct Band<'a> {
    pub from: f64,
    pub to: f64,
    pub label: &'a str,
}

/// An x–y chart: its axes, its series and what is drawn behind them.
#[derive(Debug, Clone)]
pub struct XyChart<'a> {
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub x_axis: &'a XAxis,
    pub series: &'a [Series],
    /// Shaded spans behind the lines.
    pub bands: &'a [Band<'a>],
    /// Draws y = x (achieved against offered load).
    pub diagonal: bool,
}

/// Where data coordinates land on the canvas.
#[derive(Debug, Clone, Copy)]
struct Scale {
    x_lo: f64,
    x_hi: f64,
    y_hi: f64,
    pad_t: f64,
}

impl Scale {
    fn x(&self, x: f64) -> f64 {
        PAD_L + (W - PAD_L - PAD_R) * (x - self.x_lo) / (self.x_hi - self.x_lo)
    }

    fn y(&self, y: f64) -> f64 {
        H - PAD_B - (H - PAD_B - self.pad_t) * (y / self.y_hi)
    }
}

impl XyChart<'_> {
    /// The chart as an `<svg>` element.
    pub fn svg(&self) -> String {
        let mut svg = open_svg();
        let all: Vec<(f64, f64)> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| (p.0, p.1)))
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        if all.is_empty() {
            svg.push_str("<text x=20 y=40>no data</text></svg>");
            return svg;
        }
        let legend_rows = self.series.len().div_ceil(LEGEND_COLUMNS).max(1);
        let (x_lo, x_hi, y_hi) = bounds(self.x_axis, &all, self.diagonal);
        let scale = Scale {
            x_lo,
            x_hi,
            y_hi,
            pad_t: 14.0 + LEGEND_ROW * legend_rows as f64,
        };
        self.draw_bands(&mut svg, &scale);
        self.draw_frame(&mut svg, &scale);
        if self.diagonal {
            let (from, to) = (x_lo.max(0.0), x_hi.min(y_hi));
            let _ = write!(
                svg,
                "<line x1={:.1} y1={:.1} x2={:.1} y2={:.1} stroke='#bbb' stroke-dasharray='2 4'><title>achieved = offered</title></line>",
                scale.x(from),
                scale.y(from),
                scale.x(to),
                scale.y(to)
            );
        }
        for (i, series) in self.series.iter().enumerate() {
            draw_series(&mut svg, &scale, series);
            draw_legend_entry(&mut svg, i, series);
        }
        svg.push_str("</svg>");
        svg
    }

    fn draw_bands(&self, svg: &mut String, scale: &Scale) {
        for band in self.bands {
            let (x0, x1) = (scale.x(band.from), scale.x(band.to.max(band.from)));
            // A fault shorter than a pixel still shows as a 2 px line.
            let width = (x1 - x0).max(2.0);
            let _ = write!(
                svg,
                "<rect class=fault x={x0:.1} y={:.1} width={width:.1} height={:.1} fill='#f2b8b5' fill-opacity=0.45><title>{}</title></rect>\
                 <text x={:.1} y={:.1} font-size=9 fill='#a33'>{}</text>",
                scale.pad_t,
                H - PAD_B - scale.pad_t,
                esc(band.label),
                x0 + 2.0,
                scale.pad_t + 9.0,
                esc(band.label)
            );
        }
    }

    /// Grid, ticks, axes and their labels.
    fn draw_frame(&self, svg: &mut String, scale: &Scale) {
        y_grid(svg, scale);
        let x_ticks: Vec<(f64, String)> = match self.x_axis {
            XAxis::Categories(names) => names
                .iter()
                .enumerate()
                .map(|(i, n)| (i as f64, n.clone()))
                .collect(),
            XAxis::Numeric => ticks(scale.x_lo, scale.x_hi)
                .into_iter()
                .map(|t| (t, short(t)))
                .collect(),
        };
        for (x, label) in &x_ticks {
            let px = scale.x(*x);
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
            "<line x1={PAD_L} y1={} x2={} y2={} stroke='#888'/><line x1={PAD_L} y1={:.1} x2={PAD_L} y2={} stroke='#888'/>",
            H - PAD_B,
            W - PAD_R,
            H - PAD_B,
            scale.pad_t,
            H - PAD_B
        );
        let _ = write!(
            svg,
            "<text x={} y={} text-anchor=end>{}</text><text x=4 y={:.1} >{}</text>",
            W - PAD_R,
            H - 4.0,
            esc(self.x_label),
            scale.pad_t - 4.0,
            esc(self.y_label)
        );
    }
}

/// Horizontal grid lines at round values of y, labelled at the left.
fn y_grid(svg: &mut String, scale: &Scale) {
    for tick in ticks(0.0, scale.y_hi) {
        let y = scale.y(tick);
        let _ = write!(
            svg,
            "<line x1={PAD_L} y1={y:.1} x2={} y2={y:.1} stroke='#eee'/><text x={} y={:.1} text-anchor=end>{}</text>",
            W - PAD_R,
            PAD_L - 4.0,
            y + 4.0,
            short(tick)
        );
    }
}

fn open_svg() -> String {
    format!("<svg width={W} height={H} viewBox='0 0 {W} {H}' role=img>")
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

fn draw_series(svg: &mut String, scale: &Scale, series: &Series) {
    let mut points: Vec<&(f64, f64, bool, String)> = series
        .points
        .iter()
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let line: Vec<String> = points
        .iter()
        .map(|p| format!("{:.1},{:.1}", scale.x(p.0), scale.y(p.1)))
        .collect();
    let _ = write!(
        svg,
        "<polyline fill=none stroke='{}' stroke-width=1.8{} points='{}'/>",
        series.color,
        dash(series),
        line.join(" ")
    );
    if !series.markers {
        return;
    }
    for (x, y, ok, tip) in points {
        let (cx, cy) = (scale.x(*x), scale.y(*y));
        if *ok {
            let _ = write!(
                svg,
                "<circle cx={cx:.1} cy={cy:.1} r=3.5 fill='{}'><title>{}</title></circle>",
                series.color,
                esc(tip)
            );
        } else {
            let _ = write!(
                svg,
                "<circle class=failed cx={cx:.1} cy={cy:.1} r=5 fill='#fff' stroke='#cf222e' stroke-width=2><title>{} (checks failed)</title></circle>",
                esc(tip)
            );
        }
    }
}

fn draw_legend_entry(svg: &mut String, index: usize, series: &Series) {
    let (row, column) = (index / LEGEND_COLUMNS, index % LEGEND_COLUMNS);
    let lx = PAD_L + 4.0 + 230.0 * column as f64;
    let ly = 4.0 + LEGEND_ROW * row as f64;
    let _ = write!(
        svg,
        "<line x1={lx} y1={:.1} x2={} y2={:.1} stroke-width='2'{} stroke='{}'/><text x={} y={:.1}>{}</text>",
        ly + 6.0,
        lx + 18.0,
        ly + 6.0,
        dash(series),
        series.color,
        lx + 22.0,
        ly + 10.0,
        esc(&series.name)
    );
}

fn dash(series: &Series) -> &'static str {
    if series.dashed {
        " stroke-dasharray='6 4'"
    } else {
        ""
    }
}

/// A time series chart: several series sharing the x values, no markers, `bands` shaded
/// behind them. Each series is (name, colour, y values).
pub fn line_chart(
    y_label: &str,
    x_label: &str,
    x: &[f64],
    series: &[(&str, &'static str, &[f64])],
    bands: &[Band<'_>],
) -> String {
    let series: Vec<Series> = series
        .iter()
        .map(|(name, color, ys)| Series {
            name: (*name).to_owned(),
            color,
            dashed: false,
            markers: false,
            points: x
                .iter()
                .zip(ys.iter())
                .map(|(&x, &y)| (x, y, true, String::new()))
                .collect(),
        })
        .collect();
    XyChart {
        x_label,
        y_label,
        x_axis: &XAxis::Numeric,
        series: &series,
        bands,
        diagonal: false,
    }
    .svg()
}

/// Bars of a latency distribution over logarithmic buckets: (upper bound in ms, count).
pub fn bar_chart(title: &str, buckets: &[(f64, u64)]) -> String {
    let mut svg = open_svg();
    let _ = write!(svg, "<text x={PAD_L} y=15>{}</text>", esc(title));
    if buckets.is_empty() {
        svg.push_str("<text x=20 y=40>no samples</text></svg>");
        return svg;
    }
    let y_max = buckets.iter().map(|b| b.1).max().unwrap_or(1).max(1) as f64 * 1.05;
    let scale = Scale {
        x_lo: 0.0,
        x_hi: 1.0,
        y_hi: y_max,
        pad_t: 24.0,
    };
    let n = buckets.len() as f64;
    let bar_w = (W - PAD_L - PAD_R) / n;
    let _ = write!(
        svg,
        "<line x1={PAD_L} y1={} x2={} y2={} stroke='#888'/>",
        H - PAD_B,
        W - PAD_R,
        H - PAD_B
    );
    for (i, (upper, count)) in buckets.iter().enumerate() {
        let x = PAD_L + bar_w * i as f64;
        let y = scale.y(*count as f64);
        let _ = write!(
            svg,
            "<rect x={x:.1} y={y:.1} width={:.1} height={:.1} fill='#1f77b4'><title>≤ {upper} ms: {count}</title></rect>",
            (bar_w - 2.0).max(1.0),
            H - PAD_B - y
        );
        if i % 2 == 0 || n < 12.0 {
            let _ = write!(
                svg,
                "<text x={:.1} y={} text-anchor=middle>{}</text>",
                x + bar_w / 2.0,
                H - PAD_B + 14.0,
                short(*upper)
            );
        }
    }
    let _ = write!(
        svg,
        "<text x={} y={} text-anchor=end>ms (upper bound)</text></svg>",
        W - PAD_R,
        H - 2.0
    );
    svg
}

/// One bar of every group: a compared thing (an engine, say) and its value in each group
/// (`None`: not measured there, no bar).
#[derive(Debug, Clone)]
pub struct BarSeries {
    pub name: String,
    pub color: &'static str,
    /// Its run passed its checks (a failed one is drawn hatched-out: outlined, not filled).
    pub passed: bool,
    pub values: Vec<Option<f64>>,
}

/// Grouped bars: one group per figure (`groups`), one bar per series in each, each bar labelled
/// with its value; the legend names the series. For comparing a few named things (engines) on
/// figures where a line from one to the next would mean nothing.
pub fn grouped_bar_chart(y_label: &str, groups: &[String], series: &[BarSeries]) -> String {
    let legend_rows = series.len().div_ceil(LEGEND_COLUMNS) as f64;
    // Legend rows, then a row for the y label, then the plot.
    let pad_t = 24.0 + LEGEND_ROW * legend_rows;
    let mut svg = open_svg();
    let y_max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0f64, |a, &v| a.max(v));
    if groups.is_empty() || series.is_empty() || y_max <= 0.0 {
        svg.push_str("<text x=20 y=40>nothing measured</text></svg>");
        return svg;
    }
    let scale = Scale {
        x_lo: 0.0,
        x_hi: groups.len() as f64,
        y_hi: y_max * 1.12,
        pad_t,
    };
    for (i, s) in series.iter().enumerate() {
        let x = PAD_L + (i % LEGEND_COLUMNS) as f64 * 220.0;
        let y = 12.0 + LEGEND_ROW * (i / LEGEND_COLUMNS) as f64;
        let _ = write!(
            svg,
            "<rect x={x} y={} width=10 height=10 fill='{}'/><text x={} y={y}>{}{}</text>",
            y - 9.0,
            s.color,
            x + 14.0,
            esc(&s.name),
            if s.passed { "" } else { " (FAILED)" }
        );
    }
    y_grid(&mut svg, &scale);
    let base = H - PAD_B;
    let _ = write!(
        svg,
        "<line x1={PAD_L} y1={base} x2={} y2={base} stroke='#888'/>",
        W - PAD_R
    );
    let group_w = scale.x(1.0) - scale.x(0.0);
    let bar_w = (group_w * 0.8 / series.len() as f64).max(2.0);
    for (g, group) in groups.iter().enumerate() {
        let left = scale.x(g as f64) + group_w * 0.1;
        for (i, s) in series.iter().enumerate() {
            let Some(v) = s.values.get(g).copied().flatten() else {
                continue;
            };
            let x = left + bar_w * i as f64;
            let y = scale.y(v);
            let fill = if s.passed {
                format!("fill='{}'", s.color)
            } else {
                format!("fill='white' stroke='{}' stroke-width=2", s.color)
            };
            let _ = write!(
                svg,
                "<rect x={x:.1} y={y:.1} width={:.1} height={:.1} {fill}><title>{}: {}</title></rect>\
                 <text x={:.1} y={:.1} text-anchor=middle>{}</text>",
                (bar_w - 2.0).max(1.0),
                (base - y).max(0.0),
                esc(&format!("{} · {group}", s.name)),
                short(v),
                x + bar_w / 2.0 - 1.0,
                y - 3.0,
                short(v)
            );
        }
        let _ = write!(
            svg,
            "<text x={:.1} y={} text-anchor=middle>{}</text>",
            scale.x(g as f64 + 0.5),
            base + 14.0,
            esc(group)
        );
    }
    let _ = write!(
        svg,
        "<text x=4 y={:.1}>{}</text></svg>",
        pad_t - 8.0,
        esc(y_label)
    );
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

/// A number for an axis, short: 1234 → `1.2k`, 12 345 → `12k`, −2 500 → `-2.5k`, 0.5 → `0.50`.
pub fn short(v: f64) -> String {
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
    fn round_ticks_and_short_numbers() {
        assert_eq!(ticks(0.0, 100.0), vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(ticks(0.0, 1.0).len(), 6);
        assert_eq!(short(12_345.0), "12k");
        assert_eq!(short(-2_500.0), "-2.5k");
        assert_eq!(short(-25.0), "-25");
        assert_eq!(short(2_500_000.0), "2.5M");
        assert_eq!(short(0.5), "0.50");
    }

    fn one_series(markers: bool) -> Vec<Series> {
        vec![Series {
            name: "p99 & more".into(),
            color: COLORS[0],
            dashed: true,
            markers,
            points: vec![
                (50.0, 1.0, true, "a".into()),
                (100.0, 2.0, false, "b".into()),
            ],
        }]
    }

    #[test]
    fn a_chart_has_markers_legend_and_escaped_text() {
        let series = one_series(true);
        let svg = XyChart {
            x_label: "chargers <n>",
            y_label: "ms",
            x_axis: &XAxis::Numeric,
            series: &series,
            bands: &[],
            diagonal: true,
        }
        .svg();
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
        let empty = XyChart {
            series: &[],
            ..XyChart {
                x_label: "x",
                y_label: "y",
                x_axis: &XAxis::Numeric,
                series: &series,
                bands: &[],
                diagonal: false,
            }
        }
        .svg();
        assert!(empty.contains("no data"));
    }

    #[test]
    fn a_time_series_has_bands_and_no_markers() {
        let svg = line_chart(
            "ms",
            "s",
            &[0.0, 1.0, 2.0],
            &[("p99", COLORS[1], &[5.0, 9.0, 7.0])],
            &[Band {
                from: 1.0,
                to: 1.5,
                label: "kill-sink",
            }],
        );
        assert!(svg.contains("class=fault") && svg.contains("kill-sink"));
        assert!(svg.contains("<polyline") && !svg.contains("<circle"));
    }
}
