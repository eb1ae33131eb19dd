//! `report.html`: one self-contained page per drill for people — the verdict, the phase
//! timeline as a Gantt-like chart with the RTO window marked, each step's checks, failures with
//! their diagnostics, and the RPO ticks.
//!
//! Self-contained means no network at all: CSS is inline, charts are inline SVG, no fonts, no
//! scripts (the page works with JavaScript disabled and a strict CSP). Rendered with `maud`,
//! whose templates escape every interpolated value, so hook output holding `<script>` shows as
//! text. Everything comes from the [`RunRecord`], whose strings the engine already redacted.

use chrono::{DateTime, Utc};
use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::engine::record::{Outcome, RunRecord, StepRecord, StepStatus};
use crate::steps::facts;

/// Width of the chart's drawing area in SVG user units (the SVG scales to the page width).
const CHART_W: f64 = 900.0;
/// Left margin of the chart for lane labels.
const LABEL_W: f64 = 170.0;
/// Height of one lane.
const LANE_H: f64 = 22.0;
/// Right margin of the chart, for the duration label of a bar that ends at the right edge.
const RIGHT_W: f64 = 56.0;

/// Renders `record` as a complete HTML5 document (UTF-8, no external references).
pub fn render_html(record: &RunRecord) -> String {
    let verdict = verdict_word(record.outcome);
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // No network and no scripts, stated to the browser as well.
                meta http-equiv="Content-Security-Policy"
                    content="default-src 'none'; style-src 'unsafe-inline'; img-src data:";
                title { "dr-harness " (record.scenario) ": " (verdict) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header class={ "verdict " (verdict_class(record.outcome)) } {
                    h1 {
                        span class="badge" data-verdict=(verdict) { (verdict) }
                        " drill " (record.scenario)
                    }
                    p class="sub" {
                        "cluster " b { (record.cluster) } " · profile " (record.profile)
                        " · run " code { (record.run_id) }
                    }
                }
                main {
                    (summary(record))
                    (first_failure(record))
                    (timeline(record))
                    (rpo_ticks(record))
                    (steps_section(record))
                    (verifications(record))
                    (details(record))
                }
                footer {
                    "dr-harness " (record.harness_version) " · rendered from run.json of run "
                    (record.run_id)
                }
            }
        }
    };
    page.into_string()
}

fn verdict_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Passed => "PASSED",
        Outcome::Failed => "FAILED",
        Outcome::Interrupted => "INTERRUPTED",
        Outcome::Unknown => "UNKNOWN",
    }
}

fn verdict_class(o: Outcome) -> &'static str {
    match o {
        Outcome::Passed => "pass",
        Outcome::Failed => "fail",
        Outcome::Interrupted | Outcome::Unknown => "warn",
    }
}

fn status_word(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Passed => "passed",
        StepStatus::Resumed => "resumed",
        StepStatus::Failed => "failed",
        StepStatus::TimedOut => "timed out",
        StepStatus::Interrupted => "interrupted",
        StepStatus::Skipped => "skipped",
    }
}

fn status_class(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Passed | StepStatus::Resumed => "pass",
        StepStatus::Failed | StepStatus::TimedOut => "fail",
        StepStatus::Interrupted => "warn",
        StepStatus::Skipped => "skip",
    }
}

/// `612.5` → `10m 12.5s`; `3.0` → `3.0s`; `7300` → `2h 1m 40s`.
pub fn human_seconds(s: f64) -> String {
    if !s.is_finite() {
        return "n/a".into();
    }
    let s = s.max(0.0);
    if s < 60.0 {
        return format!("{s:.1}s");
    }
    let total = s.round() as u64;
    let (h, m, sec) = (total / 3600, (total % 3600) / 60, total % 60);
    if h > 0 {
        format!("{h}h {m}m {sec}s")
    } else if s < 600.0 && (s - s.round()).abs() >= 0.05 {
        format!("{m}m {:.1}s", s - (m * 60) as f64)
    } else {
        format!("{m}m {sec}s")
    }
}

fn opt_secs(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), human_seconds)
}

/// `within` / `over` / `""` for a measured value against its target.
fn judge(v: Option<f64>, target: Option<f64>) -> (&'static str, &'static str) {
    match (v, target) {
        (Some(v), Some(t)) if v <= t => ("within target", "pass"),
        (Some(_), Some(_)) => ("over target", "fail"),
        _ => ("", ""),
    }
}

fn summary(r: &RunRecord) -> Markup {
    let (rto_j, rto_c) = judge(r.rto_seconds, r.rto_target_seconds);
    let (rpo_j, rpo_c) = judge(r.rpo_seconds, r.rpo_target_seconds);
    let passed = r.steps.iter().filter(|s| s.status.is_success()).count();
    html! {
        section class="cards" {
            div class="card" {
                div class="k" { "RTO" }
                div class="v" { (opt_secs(r.rto_seconds)) }
                div class="t" { "target " (opt_secs(r.rto_target_seconds)) " " span class=(rto_c) { (rto_j) } }
            }
            div class="card" {
                div class="k" { "RPO" }
                div class="v" { (opt_secs(r.rpo_seconds)) }
                div class="t" { "target " (opt_secs(r.rpo_target_seconds)) " " span class=(rpo_c) { (rpo_j) } }
            }
            div class="card" {
                div class="k" { "steps" }
                div class="v" { (passed) " / " (r.steps.len()) }
                div class="t" { "succeeded" }
            }
            div class="card" {
                div class="k" { "verified" }
                div class="v" { (human_bytes(r.verified_bytes)) }
                div class="t" { "sentinel bytes, byte for byte" }
            }
        }
    }
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

fn first_failure(r: &RunRecord) -> Markup {
    let Some(s) = r.failing_step() else {
        return html! {};
    };
    html! {
        section class="failure" id="first-failure" {
            h2 { "First failure: step " (s.name) " (" (status_word(s.status)) ")" }
            p class="msg" { (s.message.as_deref().unwrap_or("no message recorded")) }
            @for c in s.checks.iter().filter(|c| !c.passed) {
                p { "check " b { (c.name) } ": expected " (c.expected.as_deref().unwrap_or("?"))
                    ", found " (c.found.as_deref().unwrap_or("?")) }
            }
            @if !s.diagnostics.is_empty() {
                h3 { "Diagnostics" }
                pre class="diag" { @for d in &s.diagnostics { (d) "\n" } }
            }
        }
    }
}

/// Seconds from the drill start to `at`.
fn offset(r: &RunRecord, at: DateTime<Utc>) -> f64 {
    (at - r.started_at).num_milliseconds() as f64 / 1000.0
}

fn disaster_offset(r: &RunRecord) -> Option<f64> {
    r.facts
        .get(facts::DISASTER_AT)
        .and_then(|v| v.as_str())
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| offset(r, d.with_timezone(&Utc)))
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

fn timeline(r: &RunRecord) -> Markup {
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

fn fact_ms(r: &RunRecord, key: &str) -> Option<i64> {
    r.facts.get(key).and_then(|v| v.as_i64())
}

/// The RPO as points on one wall-clock axis: first tick, snapshot, last tick written, newest
/// surviving tick (disaster − RPO), disaster.
fn rpo_ticks(r: &RunRecord) -> Markup {
    let disaster_ms = r
        .facts
        .get(facts::DISASTER_AT)
        .and_then(|v| v.as_str())
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.timestamp_millis());
    let mut points: Vec<(&str, i64, &str)> = Vec::new();
    if let Some(t) = fact_ms(r, facts::FIRST_TICK_MS) {
        points.push(("first tick", t, "tick"));
    }
    if let Some(t) = fact_ms(r, facts::SNAPSHOT_AT_MS) {
        points.push(("snapshot", t, "snap"));
    }
    if let Some(t) = fact_ms(r, facts::LAST_TICK_WRITTEN_MS) {
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

fn steps_section(r: &RunRecord) -> Markup {
    html! {
        section id="steps" {
            h2 { "Steps" }
            @for s in &r.steps {
                details class={ "step " (status_class(s.status)) } open[!s.status.is_success() && s.status != StepStatus::Skipped] {
                    summary {
                        span class={ "st " (status_class(s.status)) } { (status_word(s.status)) }
                        " " b class="name" { (s.name) } " "
                        span class="kind" { (s.kind) } " "
                        span class="dur" { (human_seconds(s.seconds)) }
                    }
                    @if let Some(m) = &s.message { p class="msg" { (m) } }
                    @if !s.checks.is_empty() {
                        table class="checks" {
                            thead { tr { th { "check" } th { "" } th { "expected" } th { "found" } th { "time" } } }
                            tbody {
                                @for c in &s.checks {
                                    tr class=(if c.passed { "pass" } else { "fail" }) {
                                        td { (c.name) }
                                        td { (if c.passed { "✔" } else { "✘" }) }
                                        td { (c.expected.as_deref().unwrap_or("")) }
                                        td { (c.found.as_deref().unwrap_or("")) }
                                        td { (human_seconds(c.seconds)) }
                                    }
                                }
                            }
                        }
                    }
                    @if !s.diagnostics.is_empty() {
                        h4 { "Diagnostics" }
                        pre class="diag" { @for d in &s.diagnostics { (d) "\n" } }
                    }
                    @if let Some(o) = &s.output {
                        h4 { "Output (tail)" }
                        pre class="out" { (o) }
                    }
                }
            }
        }
    }
}

fn verifications(r: &RunRecord) -> Markup {
    if r.backup_verifications.is_empty() {
        return html! {};
    }
    html! {
        section id="verifications" {
            h2 { "Backups verified from the backup target" }
            table class="checks" {
                thead { tr { th { "volume" } th { "backup" } th { "" } th { "depth" } th { "bytes" } th { "time" } th { "problems" } } }
                tbody {
                    @for v in &r.backup_verifications {
                        tr class=(if v.success { "pass" } else { "fail" }) {
                            td { (v.volume) } td { (v.backup) }
                            td { (if v.success { "✔" } else { "✘" }) }
                            td { (if v.deep { "deep" } else { "structural" }) }
                            td { (human_bytes(v.verified_bytes)) }
                            td { (human_seconds(v.seconds)) }
                            td { @for p in &v.problems { (p) br; } }
                        }
                    }
                }
            }
        }
    }
}

fn details(r: &RunRecord) -> Markup {
    html! {
        section id="details" {
            h2 { "Run" }
            table class="kv" {
                tr { th { "run id" } td { code { (r.run_id) } } }
                tr { th { "scenario" } td { (r.scenario) } }
                tr { th { "cluster" } td { (r.cluster) } }
                tr { th { "profile" } td { (r.profile) } }
                tr { th { "started" } td { (r.started_at.to_rfc3339()) } }
                tr { th { "finished" } td { (r.finished_at.map_or_else(|| "not finished".into(), |f| f.to_rfc3339())) } }
                @if let Some(u) = &r.backup_url { tr { th { "backup" } td { code { (u) } } } }
                @if let Some(id) = &r.identity {
                    tr { th { "API server" } td { code { (id.api_server) } } }
                    tr { th { "kube-system uid" } td { code { (id.kube_system_uid) } } }
                }
                @if !r.retries.is_empty() {
                    tr { th { "retries" } td { @for (k, n) in &r.retries { (k) " × " (n) br; } } }
                }
                @if !r.backup_ages.is_empty() {
                    tr { th { "backup ages" } td { @for (v, a) in &r.backup_ages { (v) ": " (human_seconds(*a)) br; } } }
                }
            }
        }
    }
}

/// The page's style sheet: system fonts only, light and dark schemes, print-friendly.
const CSS: &str = r#"
:root{--fg:#1d2430;--bg:#fff;--mut:#5b6472;--line:#d8dde5;--pass:#1f883d;--fail:#cf222e;--warn:#bf8700;--skip:#8c959f;--phase:#0969da;--rto:rgba(207,34,46,.10)}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--mut:#9da7b3;--line:#30363d;--rto:rgba(248,81,73,.16)}}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{padding:18px 28px;border-bottom:4px solid var(--line)}
header.pass{border-color:var(--pass)}header.fail{border-color:var(--fail)}header.warn{border-color:var(--warn)}
h1{margin:0;font-size:24px}h2{font-size:18px;margin:26px 0 8px}h3,h4{font-size:14px;margin:12px 0 4px}
.sub,.note,footer{color:var(--mut)}.note{margin:0 0 6px;font-size:13px}
.badge{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;background:var(--skip)}
.pass .badge{background:var(--pass)}.fail .badge{background:var(--fail)}.warn .badge{background:var(--warn)}
main{padding:0 28px 28px;max-width:1200px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-top:18px}
.card{border:1px solid var(--line);border-radius:6px;padding:10px 14px;min-width:180px}
.card .k{color:var(--mut);font-size:12px;text-transform:uppercase}.card .v{font-size:22px;font-weight:600}.card .t{font-size:12px;color:var(--mut)}
span.pass{color:var(--pass);font-weight:600}span.fail{color:var(--fail);font-weight:600}
.failure{border:1px solid var(--fail);border-left-width:6px;border-radius:6px;padding:4px 16px;margin-top:18px}
.msg{white-space:pre-wrap;overflow-wrap:anywhere}
pre{background:rgba(127,127,127,.08);border:1px solid var(--line);border-radius:4px;padding:8px;overflow:auto;max-height:420px;white-space:pre-wrap;overflow-wrap:anywhere;font-size:12.5px}
svg.chart{width:100%;height:auto;border:1px solid var(--line);border-radius:6px}
svg text{font-size:11px;fill:var(--fg)}svg .axis,svg .dur{fill:var(--mut);font-size:10px}svg .lane-h{font-weight:600;fill:var(--mut)}
svg .grid{stroke:var(--line);stroke-width:1}
svg .bar rect{fill:var(--skip)}svg .bar.pass rect{fill:var(--pass)}svg .bar.fail rect{fill:var(--fail)}svg .bar.warn rect{fill:var(--warn)}svg .bar.phase rect{fill:var(--phase)}
svg rect.rto{fill:var(--rto);stroke:var(--fail);stroke-dasharray:4 3}svg .rtolbl{fill:var(--fail);font-weight:600}
svg .target{stroke:var(--warn);stroke-width:2;stroke-dasharray:6 4}svg .tgtlbl{fill:var(--warn)}
svg .pt circle{fill:var(--phase)}svg .pt.snap circle{fill:var(--warn)}svg .pt.survive circle{fill:var(--pass)}svg .pt.disaster circle{fill:var(--fail)}
details.step{border:1px solid var(--line);border-radius:6px;margin:6px 0;padding:6px 12px}
details.step.fail{border-color:var(--fail)}details.step summary{cursor:pointer}
.st{display:inline-block;min-width:80px;font-size:12px;font-weight:600}.st.pass{color:var(--pass)}.st.fail{color:var(--fail)}.st.warn{color:var(--warn)}.st.skip{color:var(--skip)}
.kind,.dur{color:var(--mut);font-size:12px}
table{border-collapse:collapse;width:100%;font-size:13px;margin:6px 0}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
tr.fail td{color:var(--fail)}table.kv th{width:160px;color:var(--mut);font-weight:500}
footer{padding:12px 28px;font-size:12px;border-top:1px solid var(--line)}
@media print{details.step{break-inside:avoid}pre{max-height:none}}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_seconds_reads_like_a_person_would_say_it() {
        assert_eq!(human_seconds(3.0), "3.0s");
        assert_eq!(human_seconds(612.5), "10m 13s");
        assert_eq!(human_seconds(75.25), "1m 15.2s");
        assert_eq!(human_seconds(7300.0), "2h 1m 40s");
        assert_eq!(human_seconds(300.0), "5m 0s");
        assert_eq!(human_seconds(f64::NAN), "n/a");
    }

    #[test]
    fn axis_ticks_are_round_and_cover_the_span() {
        assert_eq!(axis_ticks(100.0), vec![0.0, 30.0, 60.0, 90.0]);
        let t = axis_ticks(1900.0);
        assert_eq!(t[1], 600.0);
        assert!(t.len() >= 4);
    }

    #[test]
    fn bytes_in_binary_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(8_389_632), "8.0 MiB");
    }
}
