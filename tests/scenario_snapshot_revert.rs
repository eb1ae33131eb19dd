//! The `snapshot-revert` scenario (rollback scenario B) against the sandbox: it passes with data
//! A verified and data B gone, and fails with "revert not applied" when longhorn-manager answers
//! the revert without applying it.

mod common;

use common::{assert_failed_at, drill, scenario, step, TestSandbox};
use dr_harness::engine::record::{Outcome, StepStatus};
use dr_sandbox::faults::Fault;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revert_brings_back_data_a_and_removes_data_b() {
    let sb = TestSandbox::start().await;
    let out = tempfile::tempdir().unwrap();
    let record = drill(&sb, scenario("snapshot-revert"), out.path()).await;
    assert_eq!(record.outcome, Outcome::Passed, "{:#?}", record.steps);
    assert_eq!(step(&record, "verify-revert").status, StepStatus::Passed);
    assert!(
        record.rto_seconds.is_some_and(|r| r > 0.0),
        "RTO from the revert: {:?}",
        record.rto_seconds
    );
    assert!(
        record.phases.iter().any(|p| p.phase == "revert"),
        "{:?}",
        record.phases
    );
    assert!(
        record.verified_bytes >= 3 * 1024 * 1024,
        "verified {}",
        record.verified_bytes
    );
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revert_not_applied_is_caught() {
    let sb = TestSandbox::start().await;
    sb.sandbox.faults().set(Fault::RevertNotApplied);
    let out = tempfile::tempdir().unwrap();
    let record = drill(&sb, scenario("snapshot-revert"), out.path()).await;
    sb.sandbox.shutdown().await;
    assert_failed_at(
        &record,
        "verify-revert",
        "revert not applied: data B still present",
    );
    assert_eq!(
        step(&record, "revert").status,
        StepStatus::Passed,
        "the manager answered 200"
    );
    assert_eq!(step(&record, "teardown").status, StepStatus::Passed);
}
