//! `report.html`: one self-contained page per drill for people — the verdict, the phase
//! timeline as a Gantt-like chart with the RTO window marked, each step's checks, failures with
//! their diagnostics, and the RPO ticks.
//!
//! Self-contained means no network at all: CSS is inline, charts are inline SVG, no fonts, no
//! scripts (the page works with JavaScript disabled and a strict CSP). Rendered with `maud`,
//! whose templates escape every interpolated value, so hook output holding `<script>` shows as
//! text. Everything comes from the [`RunRecord`], whose strings the engine already redacted.

mod chart;

use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::engine::record::{Outcome, RunRecord, StepStatus};

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
                    (chart::timeline(record))
                    (chart::rpo_ticks(record))
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

/// Seconds as a person says them: `3.0` → `3.0s`, `75.25` → `1m 15.2s`, `300` → `5m 0s`,
/// `612.5` → `10m 13s` (whole seconds from 10 minutes on), `7300` → `2h 1m 40s`.
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
const CSS: &str = include_str!("report.css");

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
    fn bytes_in_binary_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(8_389_632), "8.0 MiB");
    }
}
