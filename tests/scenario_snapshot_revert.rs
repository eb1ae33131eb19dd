//! The `snapshot-revert` scenario (rollback scenario B) against the sandbox: it passes with data
//! A verified and data B gone (the revert attaching the volume in maintenance mode and detaching
//! it again), fails with "revert not applied" when longhorn-manager answers the revert without
//! applying it, and fails with Longhorn's refusal when the workload still uses the volume.

mod common;

use common::{assert_failed_at, drill, repo, scenario, step, TestSandbox};
use dr_harness::config::scenario::Scenario;
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
    let checks: Vec<(&str, bool)> = step(&record, "revert")
        .checks
        .iter()
        .map(|c| (c.name.as_str(), c.passed))
        .collect();
    for name in ["maintenance-attach", "revert-accepted", "volume-detached"] {
        assert!(checks.contains(&(name, true)), "{name}: {checks:?}");
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revert_of_a_volume_in_use_is_refused_in_longhorns_words() {
    let text = std::fs::read_to_string(repo().join("scenarios/snapshot-revert.toml"))
        .expect("scenario text");
    let scale_down = "[[steps]]\nname = \"scale-down\"\nkind = \"scale\"\nreplicas = 0\n";
    assert!(
        text.contains(scale_down),
        "the scenario scales down before the revert"
    );
    let without = Scenario::from_str(&text.replace(scale_down, ""), "snapshot-revert-in-use")
        .expect("scenario without scale-down parses");
    let sb = TestSandbox::start().await;
    let out = tempfile::tempdir().unwrap();
    let record = drill(&sb, without, out.path()).await;
    sb.sandbox.shutdown().await;
    assert_failed_at(&record, "revert", "with frontend enabled");
    let msg = step(&record, "revert").message.clone().unwrap_or_default();
    assert!(
        msg.contains("longhorn-manager refused to revert volume"),
        "{msg}"
    );
    assert_eq!(step(&record, "verify-revert").status, StepStatus::Skipped);
    assert_eq!(step(&record, "teardown").status, StepStatus::Passed);
}
