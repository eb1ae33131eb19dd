//! The full-rebuild drill against the sandbox: a clean drill passes with measured RTO and RPO;
//! each injected fault fails the drill at the right step with the right diagnosis; each safety
//! guard refuses a destroy on its own.

mod common;

use common::{assert_failed_at, drill, drill_with, scenario, step, TestSandbox};
use dr_harness::engine::record::{Outcome, StepStatus};
use dr_sandbox::faults::Fault;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clean_full_rebuild_passes_with_rto_and_rpo() {
    let sb = TestSandbox::start().await;
    let out = tempfile::tempdir().unwrap();
    let record = drill(&sb, scenario("full-rebuild"), out.path()).await;
    assert_eq!(record.outcome, Outcome::Passed, "{:#?}", record.steps);
    let rto = record.rto_seconds.expect("RTO measured");
    assert!(rto > 0.0);
    let rpo = record.rpo_seconds.expect("RPO measured");
    assert!(rpo >= 0.0 && rpo < rto + 60.0, "rpo {rpo}");
    assert!(
        record.verified_bytes >= 3 * 1024 * 1024,
        "verified {}",
        record.verified_bytes
    );
    for phase in [
        "destroy",
        "rebuild",
        "api-ready",
        "longhorn-ready",
        "backupvolume-discovered",
        "orchestrator-done",
        "volume-restored",
        "workload-available",
    ] {
        assert!(
            record.phases.iter().any(|p| p.phase == phase),
            "phase {phase} missing: {:?}",
            record.phases
        );
    }
    assert!(record
        .backup_url
        .as_deref()
        .unwrap_or("")
        .contains("backup=backup-"));
    let v = &record.backup_verifications;
    assert_eq!(
        v.len(),
        1,
        "the new backup was verified deeply before the destroy"
    );
    assert!(
        v[0].success && v[0].deep && v[0].verified_bytes >= 8 * 1024 * 1024,
        "{v:?}"
    );
    // The run state was saved locally and beside the backups.
    assert!(out.path().join(&record.run_id).join("run.json").is_file());
    // The hooks' scratch dir went with the hooks.
    let scratch = std::env::temp_dir().join(format!("dr-harness-{}", record.run_id));
    assert!(!scratch.exists(), "{} left behind", scratch.display());
    sb.sandbox.shutdown().await;
}

async fn faulted(fault: Fault) -> dr_harness::engine::record::RunRecord {
    let sb = TestSandbox::start().await;
    sb.sandbox.faults().set(fault);
    let out = tempfile::tempdir().unwrap();
    let record = drill(&sb, scenario("full-rebuild"), out.path()).await;
    sb.sandbox.shutdown().await;
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_error_fails_the_backup_step_with_longhorns_text() {
    let record = faulted(Fault::BackupError).await;
    assert_failed_at(&record, "backup", "ended in Error");
    assert_eq!(
        step(&record, "destroy").status,
        StepStatus::Skipped,
        "nothing may be destroyed after a failed backup"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn block_missing_in_s3_is_caught_before_destroy() {
    let record = faulted(Fault::BlockMissing).await;
    assert_failed_at(&record, "backup", "missing");
    assert_eq!(step(&record, "destroy").status, StepStatus::Skipped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn corrupted_block_is_caught_by_deep_verification_before_destroy() {
    let record = faulted(Fault::BlockCorrupted).await;
    assert_failed_at(&record, "verify-backup", "blocks/");
    let msg = record
        .failing_step()
        .and_then(|s| s.message.clone())
        .unwrap_or_default();
    assert!(msg.contains("offset"), "names the offset: {msg}");
    assert_eq!(
        step(&record, "destroy").status,
        StepStatus::Skipped,
        "the cluster survives a bad backup"
    );
    assert!(!record.backup_verifications.is_empty() && !record.backup_verifications[0].success);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orchestrator_not_running_gives_a_fresh_volume_diagnosis() {
    let record = faulted(Fault::OrchestratorSkipped).await;
    let failing = record.failing_step().expect("fails");
    assert!(
        ["verify-restore", "wait-ready"].contains(&failing.name.as_str()),
        "{failing:#?}"
    );
    if failing.name == "verify-restore" {
        assert_failed_at(&record, "verify-restore", "fresh, empty volume");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn older_backup_restored_is_named() {
    // A first, clean drill leaves an older backup on the target.
    let sb = TestSandbox::start().await;
    let out = tempfile::tempdir().unwrap();
    let first = drill(&sb, scenario("full-rebuild"), out.path()).await;
    assert_eq!(first.outcome, Outcome::Passed, "{:#?}", first.steps);
    sb.sandbox.faults().set(Fault::OlderBackupRestored);
    let record = drill(&sb, scenario("full-rebuild"), out.path()).await;
    sb.sandbox.shutdown().await;
    let failing = record.failing_step().expect("the drill must fail");
    let msg = failing.message.clone().unwrap_or_default();
    assert_eq!(failing.name, "verify-sentinel", "{failing:#?}");
    assert!(
        msg.contains(&first.run_id) && msg.contains("older backup"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flipped_byte_is_found_with_its_offset() {
    let record = faulted(Fault::RestoredByteFlipped).await;
    assert_failed_at(&record, "verify-sentinel", "first differing byte at offset");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_rebuild_fails_the_rebuild_step() {
    let record = faulted(Fault::RebuildFails).await;
    assert_failed_at(&record, "rebuild", "rebuild hook exited with");
    // Cleanup sees at once that the cluster is gone, with what the drill made in it, instead
    // of retrying a cluster known destroyed.
    let cleanup = step(&record, "cleanup");
    assert_eq!(cleanup.status, StepStatus::Passed, "{cleanup:?}");
    let found = cleanup.checks[0].found.as_deref().unwrap_or_default();
    assert!(
        found.contains("was not rebuilt and does not answer"),
        "{cleanup:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn destroy_that_leaves_the_cluster_up_is_caught() {
    let record = faulted(Fault::DestroyLeavesCluster).await;
    assert_failed_at(&record, "destroy", "still up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rto_target_exceeded_fails_the_drill() {
    let sb = TestSandbox::start().await;
    let out = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(common::repo().join("scenarios/full-rebuild.toml"))
        .unwrap()
        .replace("rto_target = \"30m\"", "rto_target = \"1ms\"");
    let sc = dr_harness::config::Scenario::from_str(&text, "full-rebuild-tight.toml").unwrap();
    let record = drill(&sb, sc, out.path()).await;
    assert_eq!(record.outcome, Outcome::Failed);
    assert_failed_at(&record, "targets", "exceeds the target");
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn destroy_needs_the_flag_the_profile_and_the_marker() {
    // Without --allow-destroy.
    let sb = TestSandbox::start().await;
    let out = tempfile::tempdir().unwrap();
    let r = drill_with(
        &sb,
        sb.profile(),
        scenario("full-rebuild"),
        out.path(),
        false,
        CancellationToken::new(),
    )
    .await;
    assert_failed_at(&r, "preflight", "--allow-destroy was not given");
    assert_eq!(step(&r, "deploy-sentinel").status, StepStatus::Skipped);
    // Without allow_destroy in the profile.
    let mut profile = sb.profile();
    profile.safety.allow_destroy = false;
    let r = drill_with(
        &sb,
        profile,
        scenario("full-rebuild"),
        out.path(),
        true,
        CancellationToken::new(),
    )
    .await;
    assert_failed_at(&r, "preflight", "does not set allow_destroy");
    sb.sandbox.shutdown().await;
    // Without the marker on the cluster.
    let sb = TestSandbox::start_with(|o| o.drill_target_marker = false).await;
    let r = drill(&sb, scenario("full-rebuild"), out.path()).await;
    assert_failed_at(&r, "preflight", "no drill-target marker");
    sb.sandbox.shutdown().await;
}
