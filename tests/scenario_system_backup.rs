//! The `system-backup` and `system-restore` scenarios against the sandbox: both pass when Longhorn
//! works; a SystemRestore that errors fails `system-restore` with Longhorn's message; a zip
//! altered on the backup target fails `system-backup` with the checksum mismatch.

mod common;

use common::{assert_failed_at, drill, scenario, step, TestSandbox};
use dr_harness::engine::record::{Outcome, StepStatus};
use dr_sandbox::api::resources::LH_VOLUMES;
use dr_sandbox::faults::Fault;

/// A sandbox where nothing restores or provisions the sentinel volume on its own after a
/// rebuild: GitOps deploys only the sentinel's namespace, and the restore-orchestrator Job runs
/// no restore. Only a SystemRestore can bring the data back.
async fn sandbox_without_orchestrated_restore() -> TestSandbox {
    TestSandbox::start_with(|o| {
        o.harness_bin = None;
        o.gitops_manifests = vec![
            dr_sandbox::lifecycle::default_gitops_manifests()
                .into_iter()
                .find(|(path, _)| path == dr_sandbox::bootstrap::ORCHESTRATOR_PATH)
                .expect("orchestrator source"),
            (
                dr_sandbox::bootstrap::SENTINEL_PATH.to_string(),
                include_str!("../fixtures/sentinel/namespace.yaml").to_string(),
            ),
        ];
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_backup_scenario_passes_with_checksum_and_sentinel_proven() {
    let sb = TestSandbox::start().await;
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill(&sb, scenario("system-backup"), out.path()).await;
    assert_eq!(
        record.outcome,
        Outcome::Passed,
        "{:#?}",
        record.failing_step()
    );
    let s = step(&record, "system-backup");
    assert_eq!(s.status, StepStatus::Passed);
    for check in [
        "system-backup-cfg",
        "system-backup-checksum",
        "system-backup-lists-sentinel",
    ] {
        assert!(
            s.checks.iter().any(|c| c.name == check && c.passed),
            "check {check} missing or failed: {:#?}",
            s.checks
        );
    }
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_restore_scenario_brings_the_sentinel_back_through_longhorn() {
    let sb = sandbox_without_orchestrated_restore().await;
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill(&sb, scenario("system-restore"), out.path()).await;
    assert_eq!(
        record.outcome,
        Outcome::Passed,
        "{:#?}",
        record.failing_step()
    );
    assert_eq!(step(&record, "system-restore").status, StepStatus::Passed);
    assert_eq!(step(&record, "verify-sentinel").status, StepStatus::Passed);
    // the volume came back through the SystemRestore, not the orchestrator
    let v = sb
        .sandbox
        .store()
        .get(&LH_VOLUMES, Some("longhorn-system"), "dr-exercise-data");
    let labels = v
        .as_ref()
        .and_then(|v| v.pointer("/metadata/labels"))
        .cloned()
        .unwrap_or_default();
    assert!(
        labels.get("app.kubernetes.io/managed-by").is_none(),
        "{labels}"
    );
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_restore_error_fails_at_system_restore_with_longhorns_message() {
    let sb = sandbox_without_orchestrated_restore().await;
    sb.sandbox.faults().set(Fault::SystemRestoreError);
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill(&sb, scenario("system-restore"), out.path()).await;
    assert_failed_at(&record, "system-restore", "failed to roll out volumes");
    assert_failed_at(&record, "system-restore", "ended in Error");
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_system_backup_zip_fails_at_system_backup_with_checksum_mismatch() {
    let sb = TestSandbox::start().await;
    sb.sandbox.faults().set(Fault::SystemBackupZipCorrupted);
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill(&sb, scenario("system-backup"), out.path()).await;
    assert_failed_at(&record, "system-backup", "checksum mismatch");
    sb.sandbox.shutdown().await;
}
