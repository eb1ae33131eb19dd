//! Runs a scenario's steps in order, through a [`StepLibrary`] (the runner knows no step kinds).
//!
//! Each step gets the scenario's timeout (or its kind's default); the runner times it on the
//! monotonic clock, emits events, folds the step's checks and evidence into the record, and saves
//! the run state after every step — locally and beside the backups in S3, so the state survives
//! the loss of the runner with the cluster. After a failure, later steps are skipped except those
//! that always run (cleanup). On cancellation (Ctrl-C) the running step is told through the
//! cancellation token and given a grace period to stop its hooks, then marked interrupted.

use std::time::{Duration, Instant};

use chrono::Utc;

use super::context::DrillContext;
use super::events::{DrillEvent, EventKind, EventSink};
use super::library::StepLibrary;
use super::persist::save_state;
use super::record::{Outcome, RunRecord, StepRecord, StepStatus};
use crate::config::StepEntry;

/// Where the run state is saved; defined in [`super::persist`], re-exported at its old path.
pub use super::persist::StatePaths;
/// Redaction of the record before it leaves the process; defined in [`super::redaction`].
pub use super::redaction::{redacted, withheld_record, RedactionError};

/// How long a cancelled step may take to stop its hooks before it is abandoned.
pub const CANCEL_GRACE: Duration = Duration::from_secs(90);

/// Runs every step of `ctx.scenario` not already completed in `ctx.record`, each through
/// `library`, and returns the finished record (also left in `ctx.record`); the redacted run
/// state is saved after every step ([`save_state`]).
pub async fn run_steps(
    ctx: &mut DrillContext,
    library: &dyn StepLibrary,
    sink: &mut dyn EventSink,
    state: &StatePaths,
) -> RunRecord {
    let started = Instant::now();
    let emit = |sink: &mut dyn EventSink, kind: EventKind| {
        sink.on_event(&DrillEvent {
            at: Utc::now(),
            elapsed: started.elapsed(),
            kind,
        });
    };
    let steps: Vec<StepEntry> = ctx.scenario.steps().to_vec();
    emit(
        sink,
        EventKind::DrillStarted {
            run_id: ctx.record.run_id.clone(),
            scenario: ctx.record.scenario.clone(),
            cluster: ctx.record.cluster.clone(),
            steps: steps.iter().map(|s| s.name.clone()).collect(),
        },
    );
    // A resumed drill re-runs its failed or interrupted step: nothing has failed yet in this attempt.
    let mut failed = false;
    let mut interrupted = false;
    for entry in &steps {
        if let Some(done) = ctx
            .record
            .steps
            .iter()
            .find(|s| s.name == entry.name && s.status.is_success())
        {
            // Resumed drill: this step passed in an earlier attempt.
            let mut resumed = done.clone();
            resumed.status = StepStatus::Resumed;
            replace_step(&mut ctx.record, resumed.clone());
            emit(sink, EventKind::StepFinished { record: resumed });
            continue;
        }
        let kind = entry.spec.kind();
        // Tidy-up steps run after a failure only if the drill got far enough to create something.
        let created_something = ctx
            .record
            .steps
            .iter()
            .any(|s| !library.creates_nothing(&s.kind) && s.status != StepStatus::Skipped);
        let always = library.always_runs(&entry.spec) && created_something;
        let not_run = |status: StepStatus, message: Option<String>| {
            StepRecord::not_run(&entry.name, kind, status, message)
        };
        if ctx.cancel.is_cancelled() && !interrupted {
            // The signal came between two steps: this one is where a resume picks up.
            interrupted = true;
            let record = not_run(
                StepStatus::Interrupted,
                Some(format!("interrupted before step `{}` started; resume with `dr-harness run --resume {}`", entry.name, ctx.record.run_id)),
            );
            replace_step(&mut ctx.record, record.clone());
            emit(sink, EventKind::StepFinished { record });
            continue;
        }
        if interrupted || (failed && !always) {
            let record = not_run(StepStatus::Skipped, None);
            replace_step(&mut ctx.record, record.clone());
            emit(sink, EventKind::StepFinished { record });
            continue;
        }
        if ctx.backup_target.is_none()
            && ctx
                .record
                .steps
                .iter()
                .any(|s| s.status == StepStatus::Resumed)
        {
            if let Err(e) = ctx.ensure_backup_target().await {
                tracing::warn!("resumed drill: the backup target is not available: {e}");
            }
        }
        emit(
            sink,
            EventKind::StepStarted {
                step: entry.name.clone(),
                kind: kind.to_string(),
            },
        );
        let step_started_at = Utc::now();
        let step_clock = Instant::now();
        let timeout = entry
            .timeout
            .unwrap_or_else(|| entry.spec.default_timeout());
        let cancel = ctx.cancel.clone();
        let run_id = ctx.record.run_id.clone();
        // Waits inside the step see its name (progress events) and its deadline (they end just
        // before it, with their own diagnosis).
        let scope = crate::cluster::progress::StepScope::new(
            &entry.name,
            Some(step_clock + timeout),
            ctx.redactor.clone(),
        );
        let waits = scope.clone();
        // The step's progress lines (`DrillContext::say`) are shown as they are said, so a
        // hook's command line comes before the output the hook prints meanwhile.
        let (said, mut lines) = tokio::sync::mpsc::unbounded_channel();
        ctx.progress = said;
        let progress = |sink: &mut dyn EventSink, line: String| {
            emit(
                sink,
                EventKind::Progress {
                    step: entry.name.clone(),
                    line,
                },
            );
        };
        let (status, failure) = {
            // Boxed: the step futures are large, and a drill is often driven from a thread
            // with a small stack (a test thread's 2 MiB).
            let mut fut = Box::pin(scope.run(library.run(ctx, entry)));
            let timer = tokio::time::sleep(timeout);
            tokio::pin!(timer);
            loop {
                break tokio::select! {
                    Some(line) = lines.recv() => {
                        progress(sink, line);
                        continue;
                    }
                    res = &mut fut => match res {
                        Ok(()) => (StepStatus::Passed, None),
                        // A wait that ran out because the step's deadline came (waits end just
                        // before it, with their own diagnosis) is the step timing out.
                        Err(f) if cut_by_deadline(step_clock.elapsed(), timeout, waits.last_wait()) => {
                            (StepStatus::TimedOut, Some(f))
                        }
                        Err(f) => (StepStatus::Failed, Some(f)),
                    },
                    _ = &mut timer => (
                        StepStatus::TimedOut,
                        Some(super::failure::StepFailure::new(timeout_message(
                            &entry.name,
                            timeout,
                            waits.last_wait(),
                        ))),
                    ),
                    _ = cancel.cancelled() => {
                        // A hook step sees the token and stops its process group gracefully
                        // (SIGTERM, grace, SIGKILL): let it. Any other step is dropped at once.
                        if library.runs_hooks(&entry.spec) {
                            let _ = tokio::time::timeout(CANCEL_GRACE, &mut fut).await;
                        }
                        (StepStatus::Interrupted, Some(super::failure::StepFailure::new(
                            format!("interrupted while running step `{}`; resume with `dr-harness run --resume {run_id}`", entry.name),
                        )))
                    }
                };
            }
        };
        // Lines said after the last one shown (the step's last moments, a cancelled step's
        // grace period).
        while let Ok(line) = lines.try_recv() {
            progress(sink, line);
        }
        let mut record = StepRecord {
            name: entry.name.clone(),
            kind: kind.to_string(),
            status,
            started_at: Some(step_started_at),
            seconds: step_clock.elapsed().as_secs_f64(),
            checks: std::mem::take(&mut ctx.checks),
            message: None,
            diagnostics: Vec::new(),
            output: ctx
                .output
                .take()
                .map(|o| ctx.redactor.redact(&o).into_owned()),
            infrastructure: false,
            usage: false,
        };
        for check in &record.checks {
            emit(
                sink,
                EventKind::CheckFinished {
                    step: entry.name.clone(),
                    check: check.clone(),
                },
            );
        }
        if let Some(f) = failure {
            record.message = Some(ctx.redactor.redact(&f.message).into_owned());
            record.diagnostics = f
                .diagnostics
                .iter()
                .map(|d| ctx.redactor.redact(d).into_owned())
                .collect();
            record.infrastructure = f.infrastructure;
            record.usage = f.usage;
        }
        match status {
            StepStatus::Interrupted => interrupted = true,
            StepStatus::Failed | StepStatus::TimedOut => failed = true,
            _ => {}
        }
        replace_step(&mut ctx.record, record.clone());
        ctx.record.retries = ctx.stats.snapshot();
        emit(sink, EventKind::StepFinished { record });
        save_state(ctx, state).await;
    }
    if let Some(task) = ctx.background.take() {
        task.stop(&mut ctx.record.facts).await;
    }
    if let Some(lock) = ctx.lock.take() {
        lock.release().await;
    }
    ctx.record.finished_at = Some(Utc::now());
    ctx.record.outcome = ctx.record.rolled_up_outcome();
    apply_targets(&mut ctx.record);
    ctx.record.retries = ctx.stats.snapshot();
    save_state(ctx, state).await;
    // Fail closed: a record that cannot be redacted never leaves the process; the drill
    // fails with a record that says so and carries nothing but redacted names.
    let record = redacted(&ctx.record, &ctx.redactor)
        .unwrap_or_else(|e| withheld_record(&ctx.record, &ctx.redactor, &e));
    emit(
        sink,
        EventKind::DrillFinished {
            record: Box::new(record.clone()),
        },
    );
    record
}

/// Whether a failed step ended because its last wait timed out at the step's deadline.
fn cut_by_deadline(
    took: Duration,
    timeout: Duration,
    wait: Option<crate::cluster::progress::WaitSnapshot>,
) -> bool {
    let near_deadline = took + 2 * crate::cluster::progress::STEP_MARGIN >= timeout;
    near_deadline && wait.is_some_and(|w| w.finished && w.state.starts_with("timed out"))
}

/// The message of a step cut off by its timeout: names what the step was waiting for and what
/// it last saw, when a wait was running, so the cause is not lost to the generic timeout.
fn timeout_message(
    step: &str,
    timeout: Duration,
    wait: Option<crate::cluster::progress::WaitSnapshot>,
) -> String {
    let waiting = match wait {
        Some(w) if !w.finished => format!(
            " while waiting {:.0}s for {} (last seen: {})",
            w.elapsed_s, w.gate, w.state
        ),
        _ => String::new(),
    };
    format!(
        "step `{step}` did not finish within its timeout of {}{waiting}; raise `timeout` for this step in the scenario if the cluster is merely slow",
        humantime::format_duration(timeout)
    )
}

/// Puts `record` in place of the step of the same name, or appends it.
fn replace_step(run: &mut RunRecord, record: StepRecord) {
    match run.steps.iter_mut().find(|s| s.name == record.name) {
        Some(slot) => *slot = record,
        None => run.steps.push(record),
    }
}

/// Fails a passed drill whose measured RTO or RPO exceeds the scenario's target, with a step
/// record of its own so JUnit shows why.
fn apply_targets(run: &mut RunRecord) {
    if run.outcome != Outcome::Passed {
        return;
    }
    let mut breaches = Vec::new();
    if let (Some(rto), Some(target)) = (run.rto_seconds, run.rto_target_seconds) {
        if rto > target {
            breaches.push(format!("RTO {rto:.1}s exceeds the target of {target:.0}s"));
        }
    }
    if let (Some(rpo), Some(target)) = (run.rpo_seconds, run.rpo_target_seconds) {
        if rpo > target {
            breaches.push(format!("RPO {rpo:.1}s exceeds the target of {target:.0}s"));
        }
    }
    if breaches.is_empty() {
        return;
    }
    run.steps.push(StepRecord {
        name: "targets".into(),
        kind: "targets".into(),
        status: StepStatus::Failed,
        started_at: Some(Utc::now()),
        seconds: 0.0,
        checks: Vec::new(),
        message: Some(format!(
            "{}; the recovery worked but too slowly — look at the phase durations to see where the time went",
            breaches.join("; ")
        )),
        diagnostics: Vec::new(),
        output: None,
        infrastructure: false,
        usage: false,
    });
    run.outcome = Outcome::Failed;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::progress::WaitSnapshot;

    #[test]
    fn a_timed_out_step_names_the_wait_it_was_in() {
        let wait = WaitSnapshot {
            gate: "backup b of volume v to reach Completed".into(),
            state: "state \"InProgress\", progress 0%".into(),
            elapsed_s: 4.2,
            finished: false,
        };
        let msg = timeout_message("backup", Duration::from_secs(5), Some(wait.clone()));
        assert!(
            msg.contains("while waiting 4s for backup b of volume v to reach Completed (last seen: state \"InProgress\", progress 0%)"),
            "{msg}"
        );
        // A wait that had ended is not what the step was stuck in.
        let done = WaitSnapshot {
            finished: true,
            ..wait
        };
        let msg = timeout_message("backup", Duration::from_secs(5), Some(done.clone()));
        assert!(!msg.contains("while waiting"), "{msg}");
        // A wait that timed out at the step's deadline makes the step timed out, not failed.
        let timed_out = WaitSnapshot {
            state: "timed out: state InProgress".into(),
            ..done
        };
        let five = Duration::from_secs(5);
        assert!(cut_by_deadline(
            Duration::from_millis(4300),
            five,
            Some(timed_out.clone())
        ));
        assert!(!cut_by_deadline(
            Duration::from_secs(1),
            five,
            Some(timed_out)
        ));
        assert!(
            msg.contains("did not finish within its timeout of 5s"),
            "{msg}"
        );
    }
    use crate::redact::Redactor;

    fn record_with_output(output: &str) -> RunRecord {
        let mut r = RunRecord::new("run-1".into(), "full-rebuild", "dev", "dev");
        r.steps.push(StepRecord {
            name: "destroy".into(),
            kind: "destroy".into(),
            status: StepStatus::Passed,
            started_at: None,
            seconds: 1.0,
            checks: Vec::new(),
            message: None,
            diagnostics: Vec::new(),
            output: Some(output.into()),
            infrastructure: false,
            usage: false,
        });
        r
    }

    #[test]
    fn a_json_escaped_secret_is_redacted_in_the_record() {
        let redactor = Redactor::new();
        redactor.add("ab\"c\\d123");
        let r = record_with_output(r#"{"token":"ab\"c\\d123"} and ab"c\d123"#);
        let out = redacted(&r, &redactor).unwrap();
        assert_eq!(
            out.steps[0].output.as_deref(),
            Some(r#"{"token":"***"} and ***"#)
        );
    }

    #[test]
    fn a_record_that_cannot_be_redacted_is_withheld_not_leaked() {
        // A secret equal to a status name masks the status: the record no longer parses.
        let redactor = Redactor::new();
        redactor.add("passed");
        let r = record_with_output("the secret passed through");
        let err = redacted(&r, &redactor).expect_err("must fail closed");
        let withheld = withheld_record(&r, &redactor, &err);
        assert_eq!(withheld.outcome, Outcome::Failed);
        assert!(withheld.report_withheld);
        let text = serde_json::to_string(&withheld).unwrap();
        assert!(!text.contains("passed"), "{text}");
        assert!(text.contains("could not be redacted"), "{text}");
    }
}
