//! Charts as inline SVG: no script, no external file, so `report.html` opens anywhere offline.

use std::fmt::Write as _;

pub(super) use super::escape_html as esc;

const W: f64 = 760.0;
const H: f64 = 260.0;
const PAD_L: f64 = 60.0;
const PAD_B: f64 = 30.0;
const PAD_T: f64 = 24.0;
const PAD_R: f64 = 16.0;

/// A span of the x axis shaded behind the lines, with a label at its top (a fault's time).
pub(super) struct Band<'a> {
    pub from: f64,
    pub to: f64,
    pub label: &'a str,
}

/// A line chart of several series sharing an x axis, with `bands` shaded behind them.
pub(super) fn line_chart(
    y_label: &str,
    x_label: &str,
    x: &[f64],
    series: &[(&str, &str, &[f64])],
    bands: &[Band<'_>],
) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg width={W} height={H} viewBox='0 0 {W} {H}' role=img>"
    );
    if x.is_empty() {
        svg.push_str("<text x=20 y=40>no data</text></svg>");
        return svg;
    }
    let x_max = x.iter().copied().fold(1.0_f64, f64::max);
    let y_max = series
        .iter()
        .flat_map(|s| s.2.iter().copied())
        .fold(0.0_f64, f64::max)
        .max(1e-9)
        * 1.05;
    axes(&mut svg, x_label, y_label, x_max, y_max);
    for band in bands {
        let (x0, x1) = (sx(band.from, x_max), sx(band.to.max(band.from), x_max));
        // A fault shorter than a pixel still shows as a 2 px line.
        let width = (x1 - x0).max(2.0);
        let _ = write!(
            svg,
            "<rect class=fault x={x0:.1} y={PAD_T} width={width:.1} height={} fill='#f2b8b5' fill-opacity=0.45><title>{}</title></rect>\
             <text x={:.1} y={} font-size=9 fill='#a33'>{}</text>",
            H - PAD_B - PAD_T,
            esc(band.label),
            x0 + 2.0,
            PAD_T + 9.0,
            esc(band.label)
        );
    }
    for (i, (name, color, ys)) in series.iter().enumerate() {
        let points: Vec<String> = x
            .iter()
            .zip(ys.iter())
            .map(|(&xv, &yv)| format!("{:.1},{:.1}", sx(xv, x_max), sy(yv, y_max)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=none stroke='{color}' stroke-width=1.6 points='{}'/>",
            points.join(" ")
        );
        let lx = PAD_L + 10.0 + 190.0 * i as f64;
        let _ = write!(
            svg,
            "<rect x={lx} y=6 width=10 height=10 fill='{color}'/><text x={} y=15>{}</text>",
            lx + 14.0,
            esc(name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Bars of a latency distribution over logarithmic buckets.
pub(super) fn bar_chart(title: &str, buckets: &[(f64, u64)]) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg width={W} height={H} viewBox='0 0 {W} {H}' role=img><text x={PAD_L} y=15>{}</text>",
        esc(title)
    );
    if buckets.is_empty() {
        svg.push_str("<text x=20 y=40>no samples</text></svg>");
        return svg;
    }
    let y_max = buckets.iter().map(|b| b.1).max().unwrap_or(1).max(1) as f64 * 1.05;
    let n = buckets.len() as f64;
    let plot_w = W - PAD_L - PAD_R;
    let bar_w = plot_w / n;
    let _ = write!(
        svg,
        "<line x1={PAD_L} y1={} x2={} y2={} stroke='#888'/>",
        H - PAD_B,
        W - PAD_R,
        H - PAD_B
    );
    for (i, (upper, count)) in buckets.iter().enumerate() {
        let x = PAD_L + bar_w * i as f64;
        let y = sy(*count as f64, y_max);
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
        "<text x={} y={} text-anchor=end>ms (upper bound)</text>",
        W - PAD_R,
        H - 2.0
    );
    svg.push_str("</svg>");
    svg
}

fn axes(svg: &mut String, x_label: &str, y_label: &str, x_max: f64, y_max: f64) {
    let _ = write!(
        svg,
        "<line x1={PAD_L} y1={} x2={} y2={} stroke='#888'/>",
        H - PAD_B,
        W - PAD_R,
        H - PAD_B
    );
    let _ = write!(
        svg,
        "<line x1={PAD_L} y1={PAD_T} x2={PAD_L} y2={} stroke='#888'/>",
        H - PAD_B
    );
    for k in 0..=4 {
        let v = y_max * f64::from(k) / 4.0;
        let y = sy(v, y_max);
        let _ = write!(
            svg,
            "<line x1={PAD_L} y1={y:.1} x2={} y2={y:.1} stroke='#eee'/><text x={} y={:.1} text-anchor=end>{}</text>",
            W - PAD_R,
            PAD_L - 4.0,
            y + 4.0,
            short(v)
        );
        let xv = x_max * f64::from(k) / 4.0;
        let _ = write!(
            svg,
            "<text x={:.1} y={} text-anchor=middle>{}</text>",
            sx(xv, x_max),
            H - PAD_B + 14.0,
            short(xv)
        );
    }
    let _ = write!(
        svg,
        "<text x={} y={} text-anchor=end>{}</text>",
        W - PAD_R,
        H - 2.0,
        esc(x_label)
    );
    let _ = write!(
        svg,
        "<text x=4 y={} >{}</text>",
        PAD_T - 8.0 + 30.0,
        esc(y_label)
    );
}

fn sx(x: f64, x_max: f64) -> f64 {
    PAD_L + (W - PAD_L - PAD_R) * (x / x_max.max(1e-9))
}

fn sy(y: f64, y_max: f64) -> f64 {
    H - PAD_B - (H - PAD_B - PAD_T) * (y / y_max.max(1e-9))
}

fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}
