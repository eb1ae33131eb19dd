//! Interrupting a drill at every step boundary leaves valid reports and a state from which
//! `--resume` completes the drill to a pass; SIGINT to the real binary exits 130 with reports.

mod common;

use common::{scenario, TestSandbox};
use dr_harness::drill::{run_drill, DrillRequest};
use dr_harness::engine::events::{DrillEvent, EventKind, EventSink};
use dr_harness::engine::record::{Outcome, StepStatus};
use dr_harness::redact::Redactor;
use tokio_util::sync::CancellationToken;

/// Cancels the drill as soon as `after` has finished (a signal between two steps).
struct CancelAfter {
    after: String,
    cancel: CancellationToken,
}

impl EventSink for CancelAfter {
    fn on_event(&mut self, event: &DrillEvent) {
        if let EventKind::StepFinished { record } = &event.kind {
            if record.name == self.after {
                self.cancel.cancel();
            }
        }
    }
}

async fn interrupt_then_resume(after: &str) {
    let sb = TestSandbox::start().await;
    let out = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let req = DrillRequest {
        profile: sb.profile(),
        scenario: scenario("full-rebuild"),
        allow_destroy: true,
        out_dir: out.path().to_path_buf(),
        s3_keys: Some(sb.keys()),
        resume: None,
        redactor: Redactor::new(),
        cancel: cancel.clone(),
    };
    let first = run_drill(
        req,
        &mut CancelAfter {
            after: after.to_string(),
            cancel,
        },
    )
    .await;
    assert_eq!(
        first.outcome,
        Outcome::Interrupted,
        "after {after}: {:#?}",
        first.steps
    );
    let interrupted: Vec<_> = first
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Interrupted)
        .collect();
    assert_eq!(
        interrupted.len(),
        1,
        "exactly the next step is marked interrupted: {:#?}",
        first.steps
    );
    assert!(interrupted[0]
        .message
        .as_deref()
        .unwrap_or("")
        .contains("--resume"));

    // The reports of an interrupted drill are valid.
    let paths =
        dr_harness::report::write_reports(out.path(), &first, None).expect("reports written");
    let junit = std::fs::read_to_string(out.path().join(&first.run_id).join("junit.xml")).unwrap();
    assert!(
        junit.contains(&format!("name=\"{}\"", interrupted[0].name)),
        "{junit}"
    );
    let saved = dr_harness::report::runjson::read_run_json(
        &out.path().join(&first.run_id).join("run.json"),
    )
    .unwrap();
    assert_eq!(saved.outcome, Outcome::Interrupted);
    drop(paths);

    // Resume from the saved state.
    let req = DrillRequest {
        profile: sb.profile(),
        scenario: scenario("full-rebuild"),
        allow_destroy: true,
        out_dir: out.path().to_path_buf(),
        s3_keys: Some(sb.keys()),
        resume: Some(saved),
        redactor: Redactor::new(),
        cancel: CancellationToken::new(),
    };
    let resumed = run_drill(req, &mut common::Events::default()).await;
    assert_eq!(resumed.run_id, first.run_id);
    assert_eq!(
        resumed.outcome,
        Outcome::Passed,
        "resume after {after}: {:#?}",
        resumed.failing_step()
    );
    assert!(resumed
        .steps
        .iter()
        .any(|s| s.status == StepStatus::Resumed));
    assert!(
        resumed.rto_seconds.is_some(),
        "RTO measured across the resume"
    );
    sb.sandbox.shutdown().await;
}

macro_rules! boundary_tests {
    ($($test:ident => $after:literal,)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $test() {
            interrupt_then_resume($after).await;
        }
    )*};
}

boundary_tests! {
    resume_after_preflight => "preflight",
    resume_after_deploy_sentinel => "deploy-sentinel",
    resume_after_write_sentinel => "write-sentinel",
    resume_after_start_ticks => "start-ticks",
    resume_after_backup => "backup",
    resume_after_destroy => "destroy",
    resume_after_rebuild => "rebuild",
    resume_after_wait_ready => "wait-ready",
    resume_after_verify_restore => "verify-restore",
    resume_after_verify_sentinel => "verify-sentinel",
}
