//! Unit tests of the runner's rules with a fake step library: no cluster, no network, no
//! sandbox. The clock is paused (`start_paused`), so step timeouts and grace periods pass at once.
//!
//! The fake runs no real step: each step's behaviour is chosen by its name, and the fake records
//! which steps started and which finished their work.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{BoxFuture, LocalBoxFuture};
use tokio_util::sync::CancellationToken;

use super::context::DrillContext;
use super::events::{DrillEvent, EventSink};
use super::facts::DrillFacts;
use super::failure::{StepFailure, StepResult};
use super::library::{Background, StepLibrary};
use super::record::{Outcome, RunRecord, StepStatus};
use super::runner::{run_steps, StatePaths};
use crate::cluster::KubeconfigSource;
use crate::config::profile::BackupTargetSource;
use crate::config::{Profile, Scenario, StepEntry, StepSpec};
use crate::redact::Redactor;

/// What a fake step does.
#[derive(Clone, Copy)]
enum Act {
    Pass,
    Fail,
    /// Fails reaching its system (exit 3 material).
    Unreachable,
    /// Passes, then the drill is interrupted (as if Ctrl-C came right after it).
    PassThenInterrupt,
    /// Interrupts the drill, then keeps working for this long before it would pass.
    InterruptThenWork(Duration),
    /// Works for this long, then passes.
    Work(Duration),
    /// Passes, leaving a background task running.
    StartBackground,
}

/// Records `"<step>"` when a step starts and `"<step>:done"` when it finished its work.
#[derive(Default)]
struct Fake {
    acts: HashMap<String, Act>,
    log: Mutex<Vec<String>>,
    stopped: Arc<Mutex<bool>>,
}

impl Fake {
    fn with(acts: &[(&str, Act)]) -> Fake {
        Fake {
            acts: acts.iter().map(|(n, a)| (n.to_string(), *a)).collect(),
            ..Fake::default()
        }
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn note(&self, what: String) {
        self.log.lock().unwrap().push(what);
    }
}

struct FakeBackground {
    stopped: Arc<Mutex<bool>>,
}

impl Background for FakeBackground {
    fn stop<'a>(self: Box<Self>, facts: &'a mut DrillFacts) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            *self.stopped.lock().unwrap() = true;
            facts.last_tick_written_seq = Some(7);
        })
    }
}

impl StepLibrary for Fake {
    fn run<'a>(
        &'a self,
        ctx: &'a mut DrillContext,
        entry: &'a StepEntry,
    ) -> LocalBoxFuture<'a, StepResult> {
        Box::pin(async move {
            let name = entry.name.clone();
            self.note(name.clone());
            let act = self.acts.get(&name).copied().unwrap_or(Act::Pass);
            let result = match act {
                Act::Pass => Ok(()),
                Act::Fail => Err(StepFailure::new(format!("{name} found it broken"))),
                Act::Unreachable => Err(StepFailure::unreachable(format!("{name} got no answer"))),
                Act::PassThenInterrupt => {
                    ctx.cancel.cancel();
                    Ok(())
                }
                Act::InterruptThenWork(d) => {
                    ctx.cancel.cancel();
                    tokio::time::sleep(d).await;
                    Ok(())
                }
                Act::Work(d) => {
                    tokio::time::sleep(d).await;
                    Ok(())
                }
                Act::StartBackground => {
                    ctx.background = Some(Box::new(FakeBackground {
                        stopped: self.stopped.clone(),
                    }));
                    Ok(())
                }
            };
            self.note(format!("{name}:done"));
            result
        })
    }

    fn runs_hooks(&self, spec: &StepSpec) -> bool {
        matches!(spec, StepSpec::Destroy(_))
    }

    fn always_runs(&self, spec: &StepSpec) -> bool {
        matches!(spec, StepSpec::Cleanup(_))
    }

    fn creates_nothing(&self, kind: &str) -> bool {
        kind == "preflight"
    }
}

#[derive(Default)]
struct Events(Vec<DrillEvent>);

impl EventSink for Events {
    fn on_event(&mut self, event: &DrillEvent) {
        self.0.push(event.clone());
    }
}

/// A scenario of the given `(kind, extra toml)` steps, each named by its kind.
fn scenario(steps: &[(&str, &str)]) -> Scenario {
    let mut text = String::from("name = \"unit\"\ndestructive = true\n");
    for (kind, extra) in steps {
        text.push_str(&format!("[[steps]]\nkind = \"{kind}\"\n{extra}\n"));
    }
    Scenario::from_str(&text, "unit.toml").expect("scenario")
}

/// A profile that reaches nothing: its kubeconfig and backup target do not exist, so a runner
/// that tried to connect would fail at once instead of touching the network.
fn profile(dir: &Path) -> Profile {
    let mut p = Profile::from_str(
        "name = \"unit\"\n[kubeconfig]\npath = \"/nonexistent/kubeconfig\"\n[backup_target]\nurl = \"s3://bucket@us-east-1/\"\n",
        "unit-profile.toml",
    )
    .expect("profile");
    p.backup_target = BackupTargetSource::SandboxState(dir.join("no-sandbox.json"));
    p
}

/// Runs `scenario` through `library`, starting from `record` (a resume) or a new one.
async fn run(scenario: Scenario, library: &Fake, record: Option<RunRecord>) -> RunRecord {
    let dir = tempfile::tempdir().unwrap();
    let record = record.unwrap_or_else(|| {
        RunRecord::new(
            "3f6c2a1e-8d7b-4c1e-9a0f-2b5d7e9c4a10".into(),
            &scenario.name,
            "unit",
            "unit",
        )
    });
    let state = StatePaths {
        local: dir.path().join(&record.run_id).join("run.json"),
    };
    let mut ctx = DrillContext::new(
        profile(dir.path()),
        scenario,
        record,
        KubeconfigSource::File {
            path: dir.path().join("kubeconfig"),
            context: None,
        },
        false,
        Redactor::new(),
        CancellationToken::new(),
    );
    let record = run_steps(&mut ctx, library, &mut Events::default(), &state).await;
    // The state was saved, and reads back as what was returned.
    let saved = super::persist::read_run_state(&state.local).expect("saved state");
    assert_eq!(saved.steps, record.steps);
    record
}

fn statuses(r: &RunRecord) -> Vec<(&str, StepStatus)> {
    r.steps
        .iter()
        .map(|s| (s.name.as_str(), s.status))
        .collect()
}

fn message<'a>(r: &'a RunRecord, step: &str) -> &'a str {
    r.steps
        .iter()
        .find(|s| s.name == step)
        .and_then(|s| s.message.as_deref())
        .unwrap_or("")
}

use StepStatus::*;

#[tokio::test(start_paused = true)]
async fn steps_after_a_failure_are_skipped() {
    let fake = Fake::with(&[("write-sentinel", Act::Fail)]);
    let s = scenario(&[("preflight", ""), ("write-sentinel", ""), ("backup", "")]);
    let r = run(s, &fake, None).await;
    assert_eq!(
        statuses(&r),
        [
            ("preflight", Passed),
            ("write-sentinel", Failed),
            ("backup", Skipped)
        ]
    );
    assert_eq!(
        message(&r, "write-sentinel"),
        "write-sentinel found it broken"
    );
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(
        fake.log(),
        [
            "preflight",
            "preflight:done",
            "write-sentinel",
            "write-sentinel:done"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn cleanup_runs_after_a_failure_only_once_something_was_created() {
    let steps = [
        ("preflight", ""),
        ("deploy-sentinel", ""),
        ("backup", ""),
        ("cleanup", ""),
    ];
    // Preflight failed: nothing was made, nothing to tidy.
    let fake = Fake::with(&[("preflight", Act::Fail)]);
    let r = run(scenario(&steps), &fake, None).await;
    assert_eq!(
        statuses(&r),
        [
            ("preflight", Failed),
            ("deploy-sentinel", Skipped),
            ("backup", Skipped),
            ("cleanup", Skipped)
        ]
    );
    assert!(
        !fake.log().contains(&"cleanup".to_string()),
        "{:?}",
        fake.log()
    );
    // A step that may create something ran: cleanup runs despite the failure.
    let fake = Fake::with(&[("deploy-sentinel", Act::Fail)]);
    let r = run(scenario(&steps), &fake, None).await;
    assert_eq!(
        statuses(&r),
        [
            ("preflight", Passed),
            ("deploy-sentinel", Failed),
            ("backup", Skipped),
            ("cleanup", Passed)
        ]
    );
    assert_eq!(r.outcome, Outcome::Failed);
}

#[tokio::test(start_paused = true)]
async fn an_interruption_between_steps_marks_the_next_one_for_resume() {
    let fake = Fake::with(&[("deploy-sentinel", Act::PassThenInterrupt)]);
    let s = scenario(&[
        ("preflight", ""),
        ("deploy-sentinel", ""),
        ("backup", ""),
        ("cleanup", ""),
    ]);
    let r = run(s, &fake, None).await;
    assert_eq!(
        statuses(&r),
        [
            ("preflight", Passed),
            ("deploy-sentinel", Passed),
            ("backup", Interrupted),
            ("cleanup", Skipped)
        ]
    );
    assert_eq!(
        message(&r, "backup"),
        format!(
            "interrupted before step `backup` started; resume with `dr-harness run --resume {}`",
            r.run_id
        )
    );
    assert_eq!(r.outcome, Outcome::Interrupted);
    assert!(
        !fake.log().contains(&"backup".to_string()),
        "{:?}",
        fake.log()
    );
}

#[tokio::test(start_paused = true)]
async fn an_interruption_during_a_step_drops_it_but_lets_a_hook_step_stop() {
    // An ordinary step is dropped at once: its work never finishes.
    let fake = Fake::with(&[("backup", Act::InterruptThenWork(Duration::from_secs(5)))]);
    let s = scenario(&[("preflight", ""), ("backup", ""), ("verify-sentinel", "")]);
    let r = run(s, &fake, None).await;
    assert_eq!(
        statuses(&r),
        [
            ("preflight", Passed),
            ("backup", Interrupted),
            ("verify-sentinel", Skipped)
        ]
    );
    assert!(
        message(&r, "backup").starts_with("interrupted while running step `backup`; resume with"),
        "{}",
        message(&r, "backup")
    );
    assert!(
        !fake.log().contains(&"backup:done".to_string()),
        "{:?}",
        fake.log()
    );
    // A hook step gets its grace period to stop its process group.
    let fake = Fake::with(&[("destroy", Act::InterruptThenWork(Duration::from_secs(5)))]);
    let s = scenario(&[("preflight", ""), ("destroy", ""), ("verify-sentinel", "")]);
    let r = run(s, &fake, None).await;
    assert_eq!(
        statuses(&r),
        [
            ("preflight", Passed),
            ("destroy", Interrupted),
            ("verify-sentinel", Skipped)
        ]
    );
    assert!(
        fake.log().contains(&"destroy:done".to_string()),
        "{:?}",
        fake.log()
    );
    // … but not longer than the grace.
    let too_slow = super::runner::CANCEL_GRACE * 2;
    let fake = Fake::with(&[("destroy", Act::InterruptThenWork(too_slow))]);
    let s = scenario(&[("preflight", ""), ("destroy", "")]);
    let r = run(s, &fake, None).await;
    assert_eq!(
        statuses(&r),
        [("preflight", Passed), ("destroy", Interrupted)]
    );
    assert!(
        !fake.log().contains(&"destroy:done".to_string()),
        "{:?}",
        fake.log()
    );
}

#[tokio::test(start_paused = true)]
async fn a_resume_reruns_the_failed_step_and_not_the_passed_ones() {
    let s = scenario(&[
        ("preflight", ""),
        ("deploy-sentinel", ""),
        ("backup", ""),
        ("verify-sentinel", ""),
    ]);
    let first = run(s.clone(), &Fake::with(&[("backup", Act::Fail)]), None).await;
    assert_eq!(first.outcome, Outcome::Failed);
    let fake = Fake::with(&[]);
    let r = run(s, &fake, Some(first.clone())).await;
    assert_eq!(r.run_id, first.run_id);
    assert_eq!(
        statuses(&r),
        [
            ("preflight", Resumed),
            ("deploy-sentinel", Resumed),
            ("backup", Passed),
            ("verify-sentinel", Passed)
        ]
    );
    assert_eq!(r.outcome, Outcome::Passed);
    assert_eq!(
        fake.log(),
        [
            "backup",
            "backup:done",
            "verify-sentinel",
            "verify-sentinel:done"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_step_past_its_timeout_is_timed_out_and_stops_the_drill() {
    let fake = Fake::with(&[("backup", Act::Work(Duration::from_secs(3600)))]);
    let s = scenario(&[("backup", "timeout = \"5s\""), ("verify-sentinel", "")]);
    let r = run(s, &fake, None).await;
    assert_eq!(
        statuses(&r),
        [("backup", TimedOut), ("verify-sentinel", Skipped)]
    );
    assert!(
        message(&r, "backup").starts_with("step `backup` did not finish within its timeout of 5s"),
        "{}",
        message(&r, "backup")
    );
    assert_eq!(r.outcome, Outcome::Failed);
    // Within its timeout the same work passes.
    let fake = Fake::with(&[("backup", Act::Work(Duration::from_secs(4)))]);
    let s = scenario(&[("backup", "timeout = \"5s\"")]);
    assert_eq!(statuses(&run(s, &fake, None).await), [("backup", Passed)]);
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_system_is_recorded_on_the_step() {
    let fake = Fake::with(&[("backup", Act::Unreachable)]);
    let r = run(scenario(&[("backup", "")]), &fake, None).await;
    let step = &r.steps[0];
    assert_eq!(step.status, Failed);
    assert!(step.infrastructure && !step.usage, "{step:?}");
}

#[tokio::test(start_paused = true)]
async fn a_background_task_still_running_at_the_end_is_stopped() {
    let fake = Fake::with(&[("start-ticks", Act::StartBackground)]);
    let r = run(
        scenario(&[("start-ticks", ""), ("backup", "")]),
        &fake,
        None,
    )
    .await;
    assert_eq!(r.outcome, Outcome::Passed);
    assert!(*fake.stopped.lock().unwrap());
    assert_eq!(r.facts.last_tick_written_seq, Some(7));
}
