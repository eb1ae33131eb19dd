//! The two inline-SVG charts of report.html: the drill timeline (steps at their start, the RTO
//! window and target, recovery phases end to end from the disaster) and the RPO ticks.

use chrono::{DateTime, Utc};
use maud::{html, Markup};

use super::{human_seconds, judge, opt_secs, status_class, status_word};
use crate::engine::record::{RunRecord, StepRecord};

/// Width of the chart's drawing area in SVG user units (the SVG scales to the page width).
const CHART_W: f64 = 900.0;
/// Left margin of the chart for lane labels.
const LABEL_W: f64 = 170.0;
/// Height of one lane.
const LANE_H: f64 = 22.0;
/// Right margin of the chart, for the duration label of a bar that ends at the right edge.
const RIGHT_W: f64 = 56.0;

/// Seconds from the drill start to `at`.
fn offset(r: &RunRecord, at: DateTime<Utc>) -> f64 {
    (at - r.started_at).num_milliseconds() as f64 / 1000.0
}

fn disaster_offset(r: &RunRecord) -> Option<f64> {
    r.facts.disaster_at.map(|d| offset(r, d))
}

/// One bar of the chart, seconds from the drill start.
struct Bar<'a> {
    label: &'a str,
    start: f64,
    seconds: f64,
    class: &'static str,
    title: String,
    /// Drawn as a word instead of a bar (a step that did not run).
    not_run: Option<&'static str>,
}

/// Step bars placed at their wall-clock start; steps without a start (not run, or records from
/// before starts were kept) are laid end to end after the previous bar.
fn step_bars(r: &RunRecord) -> Vec<Bar<'_>> {
    let mut cursor = 0.0_f64;
    r.steps
        .iter()
        .map(|s: &StepRecord| {
            let start = s.started_at.map_or(cursor, |t| offset(r, t)).max(0.0);
            cursor = start + s.seconds.max(0.0);
            Bar {
                label: &s.name,
                start,
                seconds: s.seconds.max(0.0),
                class: status_class(s.status),
                title: format!(
                    "{} ({}): {} at +{}",
                    s.name,
                    status_word(s.status),
                    human_seconds(s.seconds),
                    human_seconds(start)
                ),
                not_run: (s.started_at.is_none() && s.seconds <= 0.0)
                    .then_some(status_word(s.status)),
            }
        })
        .collect()
}

pub(super) fn timeline(r: &RunRecord) -> Markup {
    let steps = step_bars(r);
    let disaster = disaster_offset(r);
    // Phases are durations measured during the recovery; they follow each other from the
    // disaster on, so they are drawn end to end from there (from 0 without a disaster).
    let mut cursor = disaster.unwrap_or(0.0).max(0.0);
    let phases: Vec<Bar<'_>> = r
        .phases
        .iter()
        .map(|p| {
            let b = Bar {
                label: &p.phase,
                start: cursor,
                seconds: p.seconds.max(0.0),
                class: "phase",
                title: format!("phase {}: {}", p.phase, human_seconds(p.seconds)),
                not_run: None,
            };
            cursor += p.seconds.max(0.0);
            b
        })
        .collect();
    let mut end = steps
        .iter()
        .chain(phases.iter())
        .map(|b| b.start + b.seconds)
        .fold(0.0_f64, f64::max);
    if let (Some(d), Some(rto)) = (disaster, r.rto_seconds) {
        end = end.max(d + rto);
    }
    if let (Some(d), Some(t)) = (disaster, r.rto_target_seconds) {
        // Show the target line when it is near enough to be meaningful on the scale.
        if d + t <= end * 1.5 {
            end = end.max(d + t);
        }
    }
    if let Some(f) = r.finished_at {
        end = end.max(offset(r, f));
    }
    let end = if end > 0.0 { end } else { 1.0 };
    let x = |s: f64| LABEL_W + (s / end).clamp(0.0, 1.0) * (CHART_W - LABEL_W - RIGHT_W);
    let lanes = steps.len() + usize::from(!phases.is_empty()) * (phases.len() + 1);
    let top = 24.0;
    let height = top + LANE_H * lanes as f64 + 30.0;
    let bar = |b: &Bar<'_>, lane: usize| {
        let y = top + LANE_H * lane as f64;
        let x0 = x(b.start);
        let w = (x(b.start + b.seconds) - x0).max(2.0);
        html! {
            g class={ "bar " (b.class) } {
                title { (b.title) }
                text x=(LABEL_W - 6.0) y=(y + 15.0) text-anchor="end" class="lbl" { (b.label) }
                @if let Some(word) = b.not_run {
                    text x=(fmt1(x0)) y=(y + 15.0) class="dur" { (word) }
                } @else {
                    rect x=(fmt1(x0)) y=(y + 4.0) width=(fmt1(w)) height=(LANE_H - 8.0) rx="2" {}
                    text x=(fmt1(x0 + w + 4.0)) y=(y + 15.0) class="dur" { (human_seconds(b.seconds)) }
                }
            }
        }
    };
    let ticks = axis_ticks(end);
    html! {
        section id="timeline" {
            h2 { "Timeline" }
            p class="note" {
                "Steps at their start time; "
                @if disaster.is_some() { "the shaded band is the RTO window (disaster → data verified); " }
                "recovery phases are drawn end to end from the disaster."
            }
            svg class="chart" role="img" aria-label="drill timeline"
                viewBox={ "0 0 " (CHART_W) " " (fmt1(height)) } xmlns="http://www.w3.org/2000/svg" {
                @for t in &ticks {
                    line x1=(fmt1(x(*t))) x2=(fmt1(x(*t))) y1=(top) y2=(fmt1(height - 24.0)) class="grid" {}
                    text x=(fmt1(x(*t))) y=(fmt1(height - 8.0)) text-anchor="middle" class="axis" { "+" (human_seconds(*t)) }
                }
                @if let (Some(d), Some(rto)) = (disaster, r.rto_seconds) {
                    g id="rto-window" {
                        title { "RTO window: " (human_seconds(rto)) }
                        rect x=(fmt1(x(d))) y="4" width=(fmt1((x(d + rto) - x(d)).max(1.0)))
                            height=(fmt1(height - 28.0)) class="rto" {}
                        text x=(fmt1(x(d) + 4.0)) y="16" class="rtolbl" { "RTO " (human_seconds(rto)) }
                    }
                }
                @if let (Some(d), Some(t)) = (disaster, r.rto_target_seconds) {
                    g id="rto-target" {
                        title { "RTO target: " (human_seconds(t)) }
                        @if d + t <= end {
                            line x1=(fmt1(x(d + t))) x2=(fmt1(x(d + t))) y1="4" y2=(fmt1(height - 24.0)) class="target" {}
                            text x=(fmt1(x(d + t) - 4.0)) y="16" text-anchor="end" class="tgtlbl" { "target " (human_seconds(t)) }
                        } @else {
                            // Far beyond the drill: say where it is instead of squashing the chart.
                            text x=(CHART_W - 6.0) y="16" text-anchor="end" class="tgtlbl" {
                                "RTO target " (human_seconds(t)) " at +" (human_seconds(d + t)) " →"
                            }
                        }
                    }
                }
                @for (i, b) in steps.iter().enumerate() { (bar(b, i)) }
                @if !phases.is_empty() {
                    text x="4" y=(fmt1(top + LANE_H * steps.len() as f64 + 15.0)) class="lane-h" { "recovery phases" }
                    @for (i, b) in phases.iter().enumerate() { (bar(b, steps.len() + 1 + i)) }
                }
            }
        }
    }
}

fn fmt1(v: f64) -> String {
    format!("{v:.1}")
}

/// About five round tick positions from 0 to `end` seconds.
fn axis_ticks(end: f64) -> Vec<f64> {
    let raw = end / 5.0;
    let step = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
    ]
    .into_iter()
    .find(|s| *s >= raw)
    .unwrap_or(raw.ceil());
    let mut v = Vec::new();
    let mut t = 0.0;
    while t <= end + 1e-9 && v.len() < 50 {
        v.push(t);
        t += step;
    }
    v
}

/// The RPO as points on one wall-clock axis: first tick, snapshot, last tick written, newest
/// surviving tick (disaster − RPO), disaster.
pub(super) fn rpo_ticks(r: &RunRecord) -> Markup {
    let disaster_ms = r.facts.disaster_at.map(|d| d.timestamp_millis());
    let mut points: Vec<(&str, i64, &str)> = Vec::new();
    if let Some(t) = r.facts.first_tick_ms {
        points.push(("first tick", t, "tick"));
    }
    if let Some(t) = r.facts.snapshot_at_ms {
        points.push(("snapshot", t, "snap"));
    }
    if let Some(t) = r.facts.last_tick_written_ms {
        points.push(("last tick written", t, "tick"));
    }
    if let (Some(d), Some(rpo)) = (disaster_ms, r.rpo_seconds) {
        points.push((
            "newest surviving tick",
            d - (rpo * 1000.0) as i64,
            "survive",
        ));
    }
    if let Some(d) = disaster_ms {
        points.push(("disaster", d, "disaster"));
    }
    if points.len() < 2 {
        return html! {
            section id="rpo" {
                h2 { "RPO ticks" }
                p class="note" { "No RPO measured in this scenario (no ticks before a disaster)." }
            }
        };
    }
    points.sort_by_key(|p| p.1);
    let (lo, hi) = (points[0].1, points[points.len() - 1].1);
    let span = (hi - lo).max(1) as f64;
    let x = |ms: i64| 30.0 + (ms - lo) as f64 / span * (CHART_W - 60.0);
    let (rpo_j, rpo_c) = judge(r.rpo_seconds, r.rpo_target_seconds);
    html! {
        section id="rpo" {
            h2 { "RPO ticks" }
            p class="note" {
                "Data-loss window: the disaster minus the newest tick that survived the restore: "
                b { (opt_secs(r.rpo_seconds)) } " (target " (opt_secs(r.rpo_target_seconds)) ") "
                span class=(rpo_c) { (rpo_j) }
            }
            svg class="chart" role="img" aria-label="RPO ticks" viewBox={ "0 0 " (CHART_W) " 104" }
                xmlns="http://www.w3.org/2000/svg" {
                line x1="30" x2=(CHART_W - 30.0) y1="50" y2="50" class="grid" {}
                @if let (Some(d), Some(rpo)) = (disaster_ms, r.rpo_seconds) {
                    rect x=(fmt1(x(d - (rpo * 1000.0) as i64))) y="30"
                        width=(fmt1((x(d) - x(d - (rpo * 1000.0) as i64)).max(1.0))) height="20" class="rto" {
                        title { "lost: " (human_seconds(rpo)) }
                    }
                }
                @for (i, (label, ms, class)) in points.iter().enumerate() {
                    g class={ "pt " (class) } {
                        title { (label) " at " (fmt_ms(*ms)) }
                        circle cx=(fmt1(x(*ms))) cy="50" r="5" {}
                        // Four label rows (two above, two below) so close points stay legible.
                        text x=(fmt1(x(*ms))) y=(["22", "74", "36", "90"][i % 4])
                            text-anchor=(anchor(x(*ms)))
                            class="axis" { (label) }
                    }
                }
            }
        }
    }
}

/// Text anchor keeping a label near either edge inside the chart.
fn anchor(x: f64) -> &'static str {
    if x < CHART_W * 0.2 {
        "start"
    } else if x > CHART_W * 0.8 {
        "end"
    } else {
        "middle"
    }
}

fn fmt_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |d| d.format("%H:%M:%S%.3f UTC").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_ticks_are_round_and_cover_the_span() {
        assert_eq!(axis_ticks(100.0), vec![0.0, 30.0, 60.0, 90.0]);
        let t = axis_ticks(1900.0);
        assert_eq!(t[1], 600.0);
        assert!(t.len() >= 4);
    }
}
