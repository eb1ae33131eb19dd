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

/// verify-sentinel's read-back hashes what the pod's `cat` streams out: a byte flipped in the
/// volume, a file removed and a manifest that no longer agrees each show, and the digest of the
/// changed file is the one coreutils `sha256sum` computes from the volume on the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_back_hashes_what_the_volume_holds() {
    use dr_harness::cluster::exec::ExecTarget;
    use dr_harness::sentinel::content::files_for_sizes;
    use dr_harness::steps::read_back::hash_through_exec;
    use dr_harness::steps::write::stream_file;

    let sb = TestSandbox::start().await;
    let conn = sb.connect().await;
    let volume = common::start_pod(&conn.client, "read-back", "rb").await;
    let pods = kube::Api::namespaced(conn.client.clone(), "read-back");
    let target = ExecTarget {
        namespace: "read-back".into(),
        pod: "rb".into(),
        container: "c".into(),
        timeout: std::time::Duration::from_secs(60),
    };
    // Sizes crossing the 64 KiB read buffer and the 1 MiB exec buffer at odd offsets.
    let files = files_for_sizes(&[(3 << 20) + 17, 1000]);
    let mut expected = Vec::new();
    for f in &files {
        let sha = stream_file(&pods, &target, &format!("/data/{}", f.name), "run-rb", f)
            .await
            .expect("written");
        expected.push((sha, f.name.clone()));
    }
    let manifest: String = expected
        .iter()
        .map(|(h, n)| format!("{h}  {n}\n"))
        .collect();
    common::put_file(&pods, &target, "/data/MANIFEST.sha256", manifest).await;
    let names: Vec<String> = files.iter().map(|f| f.name.clone()).collect();

    let intact = hash_through_exec(&pods, &target, "/data", &names)
        .await
        .expect("read back");
    assert_eq!(intact.digests, expected);
    assert!(intact.in_volume.ok, "{:?}", intact.in_volume);

    // Change the volume under the pod: one byte flipped past the first MiB, one file gone.
    let dir = sb.sandbox.data_plane().volume_dir(&volume);
    let first = dir.join(&names[0]);
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[(1 << 20) + 4097] ^= 0x01;
    std::fs::write(&first, &bytes).unwrap();
    std::fs::remove_file(dir.join(&names[1])).unwrap();
    let out = std::process::Command::new("sha256sum")
        .arg(&first)
        .output()
        .expect("coreutils sha256sum runs");
    let host_digest = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();

    let changed = hash_through_exec(&pods, &target, "/data", &names)
        .await
        .expect("read back");
    assert_eq!(
        changed.digests,
        vec![(host_digest.clone(), names[0].clone())]
    );
    assert_ne!(host_digest, expected[0].0);
    assert!(!changed.in_volume.ok);
    assert_eq!(
        changed.in_volume.lines,
        vec![
            format!("{}: FAILED", names[0]),
            format!("{}: FAILED open or read", names[1]),
        ]
    );
    sb.sandbox.shutdown().await;
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
