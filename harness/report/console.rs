//! The human view: live progress lines on stderr while a drill runs, and a summary table.
//!
//! stderr, because stdout is kept for machine-readable output.

use std::io::Write;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, Table};

use crate::engine::events::{DrillEvent, EventKind, EventSink};
use crate::engine::record::{Outcome, RunRecord, StepRecord, StepStatus};

/// Prints drill events as they happen:
/// `[ 12.3s] ▶ backup`, `[ 16.4s] ✔ backup (4.1s)`, `[ 20.0s] ✘ verify-sentinel: …`, with
/// progress and check lines indented under their step.
pub struct ConsoleReporter {
    out: Box<dyn Write + Send>,
}

impl Default for ConsoleReporter {
    fn default() -> Self {
        Self::new()
    }
}

impl ConsoleReporter {
    /// A reporter writing to stderr (lifting the live wait spinners while it writes).
    pub fn new() -> Self {
        ConsoleReporter {
            out: Box::new(super::progress::SuspendingStderr::default()),
        }
    }

    /// A reporter writing to `out` (tests, log files).
    pub fn with_writer(out: Box<dyn Write + Send>) -> Self {
        ConsoleReporter { out }
    }

    /// The line for an event, without the trailing newline; `None` for events not shown.
    pub fn format_event(event: &DrillEvent) -> Option<String> {
        let t = format!("[{:>5.1}s]", event.elapsed.as_secs_f64());
        Some(match &event.kind {
            EventKind::DrillStarted {
                run_id,
                scenario,
                cluster,
                steps,
            } => format!(
                "{t} drill {run_id}: scenario {scenario} on cluster {cluster} ({} steps)",
                steps.len()
            ),
            EventKind::StepStarted { step, .. } => format!("{t} ▶ {step}"),
            EventKind::Progress { line, .. } => format!("{t}     {line}"),
            EventKind::CheckFinished { check, .. } => {
                if check.passed {
                    format!("{t}   ✔ {}", check.name)
                } else {
                    format!(
                        "{t}   ✘ {}: expected {}, found {}",
                        check.name,
                        check.expected.as_deref().unwrap_or("?"),
                        check.found.as_deref().unwrap_or("?")
                    )
                }
            }
            EventKind::StepFinished { record } => step_line(&t, record),
            EventKind::DrillFinished { record } => format!(
                "{t} drill {}: {}",
                outcome_word(record.outcome),
                rto_rpo_line(record)
            ),
        })
    }
}

fn step_line(t: &str, s: &StepRecord) -> String {
    let why = s.message.as_deref().unwrap_or("no message");
    match s.status {
        StepStatus::Passed => format!("{t} ✔ {} ({:.1}s)", s.name, s.seconds),
        StepStatus::Resumed => format!("{t} ✔ {} (resumed)", s.name),
        StepStatus::Failed => format!("{t} ✘ {}: {why}", s.name),
        StepStatus::TimedOut => {
            format!("{t} ✘ {} timed out after {:.1}s: {why}", s.name, s.seconds)
        }
        StepStatus::Interrupted => format!("{t} ✘ {} interrupted", s.name),
        StepStatus::Skipped => format!("{t} ↷ {} skipped", s.name),
    }
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Passed => "PASSED",
        Outcome::Failed => "FAILED",
        Outcome::Interrupted => "INTERRUPTED",
        Outcome::Unknown => "UNKNOWN",
    }
}

fn fmt_secs(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_string(), |s| format!("{s:.1}s"))
}

fn rto_rpo_line(r: &RunRecord) -> String {
    format!(
        "RTO {} (target {}), RPO {} (target {})",
        fmt_secs(r.rto_seconds),
        fmt_secs(r.rto_target_seconds),
        fmt_secs(r.rpo_seconds),
        fmt_secs(r.rpo_target_seconds)
    )
}

impl EventSink for ConsoleReporter {
    fn on_event(&mut self, event: &DrillEvent) {
        if let Some(line) = Self::format_event(event) {
            // A closed stderr must not stop a drill that is destroying a cluster.
            let _ = self.out.write_all(format!("{line}\n").as_bytes());
        }
    }
}

fn verdict(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Passed => "✔ passed",
        StepStatus::Resumed => "✔ resumed",
        StepStatus::Failed => "✘ failed",
        StepStatus::TimedOut => "✘ timed out",
        StepStatus::Interrupted => "✘ interrupted",
        StepStatus::Skipped => "↷ skipped",
    }
}

/// A table of every step (name, kind, duration, verdict), the phases, and RTO/RPO lines
/// against their targets.
pub fn summary_table(record: &RunRecord) -> String {
    let mut steps = Table::new();
    steps.load_preset(UTF8_FULL_CONDENSED);
    steps.set_header(vec!["step", "kind", "duration", "verdict"]);
    for s in &record.steps {
        steps.add_row(vec![
            Cell::new(&s.name),
            Cell::new(&s.kind),
            Cell::new(format!("{:.1}s", s.seconds)),
            Cell::new(verdict(s.status)),
        ]);
    }
    let mut out = format!(
        "drill {} — scenario {} on cluster {} (profile {}): {}\n{steps}\n",
        record.run_id,
        record.scenario,
        record.cluster,
        record.profile,
        outcome_word(record.outcome)
    );
    if !record.phases.is_empty() {
        let mut phases = Table::new();
        phases.load_preset(UTF8_FULL_CONDENSED);
        phases.set_header(vec!["phase", "duration"]);
        for p in &record.phases {
            phases.add_row(vec![
                Cell::new(&p.phase),
                Cell::new(format!("{:.1}s", p.seconds)),
            ]);
        }
        out.push_str(&format!("{phases}\n"));
    }
    let judge = |v: Option<f64>, target: Option<f64>| match (v, target) {
        (Some(v), Some(t)) if v <= t => " ✔ within target",
        (Some(_), Some(_)) => " ✘ over target",
        _ => "",
    };
    out.push_str(&format!(
        "RTO: {} (target {}){}\n",
        fmt_secs(record.rto_seconds),
        fmt_secs(record.rto_target_seconds),
        judge(record.rto_seconds, record.rto_target_seconds)
    ));
    out.push_str(&format!(
        "RPO: {} (target {}){}\n",
        fmt_secs(record.rpo_seconds),
        fmt_secs(record.rpo_target_seconds),
        judge(record.rpo_seconds, record.rpo_target_seconds)
    ));
    if let Some(failing) = record.failing_step() {
        out.push_str(&format!(
            "first failure: {}: {}\n",
            failing.name,
            failing.message.as_deref().unwrap_or("no message")
        ));
    }
    out
}
