//! Server-side SVG charts, written with the same compiled templates as the
//! pages (maud), so every label is escaped like any other value. No
//! script, no external font: a chart is readable in a mail client, in a
//! page with the strictest Content-Security-Policy, and on paper.
//!
//! Each chart is a `<figure data-chart=NAME>` holding the SVG (with a
//! `<title>` for screen readers) and the same numbers as a table, so the
//! figures can be read, copied and checked without looking at pixels.

use maud::{Markup, html};

const PALETTE: [&str; 8] = [
    "#1f6feb", "#2da44e", "#d4a72c", "#cf222e", "#8250df", "#0a7ea4", "#bc4c00", "#6e7781",
];

/// The data with every label's control characters shown as visible
/// escapes: labels are values from the vendor or the component, and each
/// appears several times in a chart (text, title, table, attribute).
fn cleaned(data: &[(String, u64)]) -> Vec<(String, u64)> {
    data.iter()
        .map(|(label, value)| (crate::term::clean_line(label).into_owned(), *value))
        .collect()
}

fn short(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        label.to_owned()
    } else {
        let mut s: String = label.chars().take(max - 1).collect();
        s.push('…');
        s
    }
}

/// Horizontal bars: one per `(label, value)`.
pub fn bars(name: &str, title: &str, data: &[(String, u64)]) -> Markup {
    let data = &cleaned(data);
    let max = data.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let row = 26u32;
    let (label_w, bar_w) = (170u32, 330u32);
    let height = (data.len() as u32).max(1) * row + 8;
    let total: u64 = data.iter().map(|(_, v)| *v).sum();
    html! {
        figure.chart data-chart=(name) {
            figcaption { (title) }
            svg xmlns="http://www.w3.org/2000/svg" role="img" width="560" height=(height)
                viewBox=(format!("0 0 560 {height}")) {
                title { (title) }
                @if data.is_empty() {
                    text x="0" y="18" class="muted" { "no data yet" }
                }
                @for (i, (label, value)) in data.iter().enumerate() {
                    @let y = i as u32 * row + 4;
                    @let w = ((*value as f64 / max as f64) * f64::from(bar_w)).round().max(1.0);
                    text x=(label_w - 8) y=(y + 16) text-anchor="end" { (short(label, 24)) }
                    rect x=(label_w) y=(y + 3) width=(w) height="18" rx="2"
                        fill=(PALETTE[i % PALETTE.len()]) {}
                    text x=(f64::from(label_w) + w + 6.0) y=(y + 16) { (value) }
                }
            }
            table.data {
                thead { tr { th { "value" } th.num { "members" } th.num { "share" } } }
                tbody {
                    @for (label, value) in data {
                        tr {
                            td { (label) }
                            td.num data-count=(label) { (value) }
                            td.num { (percent(*value, total)) }
                        }
                    }
                }
            }
        }
    }
}

fn percent(v: u64, total: u64) -> String {
    if total == 0 {
        "–".into()
    } else {
        format!("{:.1}%", v as f64 * 100.0 / total as f64)
    }
}

/// Vertical columns over time (months, runs), with an optional second
/// series drawn as a line on its own scale (e.g. duration).
pub fn columns(
    name: &str,
    title: &str,
    unit: &str,
    data: &[(String, u64)],
    line: Option<(&str, &[f64])>,
) -> Markup {
    let data = &cleaned(data);
    let (w, h, left, bottom) = (640.0f64, 220.0f64, 48.0f64, 36.0f64);
    let plot_h = h - bottom - 12.0;
    let max = data.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1) as f64;
    let n = data.len().max(1) as f64;
    let slot = (w - left - 8.0) / n;
    let bar = (slot * 0.7).clamp(1.0, 40.0);
    let line_max = line
        .map(|(_, l)| l.iter().cloned().fold(0.0f64, f64::max))
        .unwrap_or(0.0)
        .max(f64::EPSILON);
    let points: String = line
        .map(|(_, l)| {
            l.iter()
                .enumerate()
                .map(|(i, v)| {
                    format!(
                        "{:.1},{:.1}",
                        left + slot * (i as f64 + 0.5),
                        12.0 + plot_h - v / line_max * plot_h
                    )
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let every = (data.len() / 12).max(1);
    html! {
        figure.chart data-chart=(name) {
            figcaption { (title) }
            svg xmlns="http://www.w3.org/2000/svg" role="img" width=(w) height=(h)
                viewBox=(format!("0 0 {w} {h}")) {
                title { (title) }
                line x1=(left) y1=(12.0 + plot_h) x2=(w - 4.0) y2=(12.0 + plot_h) stroke="#8c959f" {}
                text x=(left - 6.0) y="20" text-anchor="end" class="muted" { (max as u64) }
                text x=(left - 6.0) y=(12.0 + plot_h) text-anchor="end" class="muted" { "0" }
                @if data.is_empty() {
                    text x=(left + 10.0) y="40" class="muted" { "no data yet" }
                }
                @for (i, (label, value)) in data.iter().enumerate() {
                    @let bh = (*value as f64 / max * plot_h).max(if *value > 0 { 1.0 } else { 0.0 });
                    @let x = left + slot * i as f64 + (slot - bar) / 2.0;
                    rect x=(format!("{x:.1}")) y=(format!("{:.1}", 12.0 + plot_h - bh))
                        width=(format!("{bar:.1}")) height=(format!("{bh:.1}")) fill=(PALETTE[0]) {
                        title { (label) ": " (value) " " (unit) }
                    }
                    @if i % every == 0 {
                        text x=(format!("{:.1}", left + slot * (i as f64 + 0.5))) y=(h - bottom + 16.0)
                            text-anchor="middle" class="axis" { (short(label, 10)) }
                    }
                }
                @if let Some((line_name, _)) = line {
                    polyline points=(points) fill="none" stroke=(PALETTE[3]) stroke-width="2" {}
                    text x=(w - 6.0) y="20" text-anchor="end" fill=(PALETTE[3]) { (line_name) }
                }
            }
            table.data {
                thead { tr { th { "" } th.num { (unit) } @if let Some((l, _)) = line { th.num { (l) } } } }
                tbody {
                    @for (i, (label, value)) in data.iter().enumerate() {
                        tr {
                            td { (label) }
                            td.num data-count=(label) { (value) }
                            @if let Some((_, l)) = line { td.num { (format!("{:.1}", l.get(i).copied().unwrap_or(0.0))) } }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A label from the vendor or the component reaches no part of a chart
    /// (text, title, table, attribute) with its control characters raw.
    #[test]
    fn labels_are_cleaned_everywhere_in_both_charts() {
        let data = vec![
            ("st\u{1b}[31matus\u{7}".to_owned(), 3),
            ("2026-0\u{9b}1".to_owned(), 1),
        ];
        let line = [1.0, 2.0];
        for chart in [
            bars("b", "B", &data).into_string(),
            columns("c", "C", "runs", &data, Some(("l", &line))).into_string(),
        ] {
            assert!(
                !chart.contains(['\u{1b}', '\u{7}', '\u{9b}']),
                "a raw control character: {chart}"
            );
            assert!(chart.contains("data-count=\"st"), "{chart}");
        }
    }
}
