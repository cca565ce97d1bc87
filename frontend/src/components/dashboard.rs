//! The live dashboard: one SVG line chart per measure over the last five minutes, one line per
//! relay node (per core for CPU). Drawn by yew as polylines with computed points, in a
//! `viewBox` that scales to any width, so the charts stack readably on a phone.
//!
//! Coordinates are integers (a 1000 × 300 box): formatting floats would cost the bundle.

use shared::ops::StatsPoint;
use yew::prelude::*;

use crate::i18n::texts;
use crate::state::Ops;

/// The time the charts span.
const WINDOW_MS: u64 = 300_000;
const W: u64 = 1000;
const H: u64 = 300;
const VIEW_BOX: &str = "0 0 1000 300";
/// Line colours by node.
const COLOURS: [&str; 6] = [
    "#3b82f6", "#ef4444", "#10b981", "#f59e0b", "#8b5cf6", "#ec4899",
];
/// The legend's node names, in their lines' colours.
const NAME_COLOURS: [&str; 6] = [
    "color:#3b82f6",
    "color:#ef4444",
    "color:#10b981",
    "color:#f59e0b",
    "color:#8b5cf6",
    "color:#ec4899",
];

/// One line: its colour and its `(ts, value)` points.
struct Line {
    colour: &'static str,
    points: Vec<(u64, u64)>,
}

/// The dashboard's charts.
pub fn dashboard(ops: &Ops) -> Html {
    let nodes = &ops.nodes;
    let end = nodes
        .values()
        .filter_map(|s| s.last().map(|p| p.ts))
        .max()
        .unwrap_or(0);
    let lines = |value: &dyn Fn(&StatsPoint) -> u64| -> Vec<Line> {
        nodes
            .values()
            .enumerate()
            .map(|(i, series)| Line {
                colour: COLOURS[i % COLOURS.len()],
                points: series.iter().map(|p| (p.ts, value(p))).collect(),
            })
            .collect()
    };
    // CPU: one line per core, in its node's colour; percentages in tenths.
    let cpu: Vec<Line> = nodes
        .values()
        .enumerate()
        .flat_map(|(i, series)| {
            let cores = series
                .iter()
                .filter_map(|p| p.cpu.as_ref().map(Vec::len))
                .max()
                .unwrap_or(0);
            (0..cores).map(move |core| Line {
                colour: COLOURS[i % COLOURS.len()],
                points: series
                    .iter()
                    .filter_map(|p| Some((p.ts, tenths(*p.cpu.as_ref()?.get(core)?))))
                    .collect(),
            })
        })
        .collect();
    let mib = |b: u64| b >> 20;
    let t = texts();
    let legend = nodes.keys().enumerate().map(|(i, node)| {
        html! {
            <span class="legend-node" style={NAME_COLOURS[i % NAME_COLOURS.len()]}>{ node.clone() }</span>
        }
    });
    html! {
        <section id="dashboard" class="dashboard" aria-label={t.dashboard}>
            <div class="legend">{ for legend }</div>
            <div class="charts">
                { chart("cpu", t.chart_cpu, "%", &cpu, Some(1000), 10, end) }
                { chart("mem", t.chart_mem, " MiB", &lines(&|p| mib(p.mem_total.saturating_sub(p.mem_available))), None, 1, end) }
                { chart("rss", t.chart_rss, " MiB", &lines(&|p| mib(p.rss)), None, 1, end) }
                { chart("connections", t.chart_connections, "", &lines(&|p| p.connections), None, 1, end) }
                { chart("messages", t.chart_messages, "/s", &lines(&|p| tenths(p.messages_per_s)), None, 10, end) }
                { chart("deliveries", t.chart_deliveries, "/s", &lines(&|p| tenths(p.deliveries_per_s)), None, 10, end) }
            </div>
        </section>
    }
}

/// A value in tenths, for integer drawing and labels.
fn tenths(v: f32) -> u64 {
    // Saturating: NaN and negatives are 0.
    (v * 10.0).round() as u64
}

/// `v` (in units of 1/`scale`) as text with one decimal when `scale` is 10.
fn label(v: u64, scale: u64) -> String {
    if scale == 10 {
        format!("{}.{}", v / 10, v % 10)
    } else {
        v.to_string()
    }
}

/// One chart: the lines over the five minutes up to `end`, scaled to `max` (or to their
/// highest value), with its title, its top value and each line's newest value.
fn chart(
    id: &str,
    title: &str,
    unit: &str,
    lines: &[Line],
    max: Option<u64>,
    scale: u64,
    end: u64,
) -> Html {
    let start = end.saturating_sub(WINDOW_MS);
    let top = max
        .unwrap_or_else(|| {
            lines
                .iter()
                .flat_map(|l| l.points.iter().map(|p| p.1))
                .max()
                .unwrap_or(0)
        })
        .max(1);
    let now: Vec<String> = lines
        .iter()
        .filter_map(|l| l.points.last())
        .map(|p| format!("{}{unit}", label(p.1, scale)))
        .collect();
    let polylines = lines.iter().map(|line| {
        let mut points = String::new();
        for &(ts, v) in line.points.iter().filter(|p| p.0 >= start) {
            let x = (ts - start) * W / WINDOW_MS;
            let y = H - v.min(top) * H / top;
            points.push_str(&format!("{x},{y} "));
        }
        html! { <polyline points={points} stroke={line.colour} /> }
    });
    html! {
        <figure class="chart" data-chart={id.to_owned()}>
            <figcaption>
                <span class="chart-title">{ title.to_owned() }</span>
                <span class="chart-now">{ now.join(" · ") }</span>
            </figcaption>
            <svg viewBox={VIEW_BOX} preserveAspectRatio="none" role="img"
                 aria-label={title.to_owned()}>
                { for polylines }
            </svg>
            <span class="chart-top">{ format!("max {}{unit}", label(top, scale)) }</span>
        </figure>
    }
}
