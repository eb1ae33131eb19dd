//! The harness adapting to what upstream Longhorn does (issue 13), against the sandbox: the
//! Backup it creates carries the `backup-volume` label the 1.7–1.9 webhooks require; cleanup on
//! Longhorn 1.7.1 (read from the longhorn-manager image, as on a real cluster) leaves Backup
//! objects alone and says why; preflight refuses a profile whose backup target is not Longhorn's;
//! a BackupVolume whose nullable status fields are `null` does not break the restore.

mod common;

use common::{assert_failed_at, drill, scenario, step, TestSandbox};
use dr_harness::config::Scenario;
use dr_harness::engine::record::Outcome;
use dr_sandbox::api::resources::{
    LH_BACKUPS, LH_BACKUPTARGETS, LH_BACKUPVOLUMES, LH_VOLUMES, NAMESPACES, PVS,
};
use dr_sandbox::faults::Fault;
use dr_sandbox::LonghornVersion;
use serde_json::json;

const VOLUME: &str = "dr-volume-restore-data";
const NS: &str = "longhorn-system";

/// `volume-restore` cut after its backup step: no cleanup touches the Backup afterwards.
fn up_to_backup() -> Scenario {
    Scenario::from_str(
        r#"
name = "backup-only"
destructive = false
[sentinel]
namespace = "dr-volume-restore"
pvc = "dr-volume-restore-data"
deployment = "dr-volume-restore"
container = "sentinel"
mount_path = "/data"
file_sizes = ["1KiB"]
[[steps]]
kind = "preflight"
[[steps]]
kind = "deploy-sentinel"
[[steps]]
kind = "write-sentinel"
[[steps]]
kind = "backup"
"#,
        "backup-only.toml",
    )
    .expect("scenario parses")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_backup_carries_the_backup_volume_label() {
    let sb = TestSandbox::start().await;
    let out = tempfile::tempdir().unwrap();
    let record = drill(&sb, up_to_backup(), out.path()).await;
    assert_eq!(record.outcome, Outcome::Passed, "{:#?}", record.steps);
    let name: String = record.facts.backup.clone().unwrap();
    let backup = sb
        .sandbox
        .store()
        .get(&LH_BACKUPS, Some(NS), &name)
        .expect("the drill's Backup");
    assert_eq!(
        backup["metadata"]["labels"]["backup-volume"], VOLUME,
        "Longhorn 1.7–1.9 refuse a Backup without it: {backup:#}"
    );
    // The version is in the run record.
    assert!(
        record.facts.longhorn_version.is_some(),
        "{:?}",
        record.facts
    );
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cleanup_on_longhorn_1_7_1_leaves_backup_objects_and_says_why() {
    // A sandbox imitating 1.7.1 for real: there, deleting a Backup object deletes its backup
    // on the target whatever its labels (FIDELITY.md, per-release rules).
    let sb = TestSandbox::start_version(LonghornVersion::V1_7_1).await;
    let out = tempfile::tempdir().unwrap();
    let record = drill(&sb, scenario("volume-restore"), out.path()).await;
    assert_eq!(record.outcome, Outcome::Passed, "{:#?}", record.steps);
    assert_eq!(record.facts.longhorn_version.as_deref(), Some("1.7.1"));
    let name: String = record.facts.backup.clone().unwrap();
    assert!(
        sb.sandbox
            .store()
            .get(&LH_BACKUPS, Some(NS), &name)
            .is_some(),
        "on 1.7.1 deleting the Backup object would delete the backup on the target"
    );
    let s3 = sb.sandbox.s3();
    let cfg = dr_backupstore::BackupStore::new(s3.client(), s3.bucket(), "backupstore/")
        .get_backup_cfg(VOLUME, &name)
        .await
        .expect("S3 readable");
    assert!(cfg.is_some(), "the backup {name} is still on the target");
    let log = sb.sandbox.api_request_log().await;
    assert!(
        !log.iter()
            .any(|r| r.method == "DELETE" && r.path_and_query.contains("/backups/")),
        "a Backup object was deleted on 1.7.1"
    );
    let cleanup = step(&record, "cleanup");
    let found = cleanup
        .checks
        .iter()
        .find(|c| c.name == "cleanup")
        .and_then(|c| c.found.clone())
        .unwrap_or_default();
    assert!(
        found.contains(&name)
            && found.contains("left in place")
            && found.contains("Longhorn 1.7.1")
            && found.contains("delete-custom-resource-only"),
        "the step names the objects and says why: {found}"
    );
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cleanup_on_longhorn_1_7_3_labels_then_deletes_the_object_only() {
    let sb = TestSandbox::start_version(LonghornVersion::V1_7_3).await;
    let out = tempfile::tempdir().unwrap();
    let record = drill(&sb, scenario("volume-restore"), out.path()).await;
    assert_eq!(record.outcome, Outcome::Passed, "{:#?}", record.steps);
    let log = sb.sandbox.api_request_log().await;
    assert!(
        log.iter()
            .any(|r| r.method == "DELETE" && r.path_and_query.contains("/backups/")),
        "from 1.7.2 the Backup object is deleted (CR only)"
    );
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn preflight_refuses_a_profile_target_longhorn_does_not_back_up_to() {
    let sb = TestSandbox::start().await;
    let store = sb.sandbox.store();
    let url = store
        .get(&LH_BACKUPTARGETS, Some(NS), "default")
        .and_then(|bt| bt["spec"]["backupTargetURL"].as_str().map(str::to_string))
        .expect("BackupTarget default");
    // Same bucket, another prefix: Longhorn's target stays available, but it is not ours.
    let elsewhere = format!("{}/other-cluster/", url.trim_end_matches('/'));
    store
        .modify(&LH_BACKUPTARGETS, Some(NS), "default", |bt| {
            bt["spec"]["backupTargetURL"] = json!(elsewhere)
        })
        .expect("patch BackupTarget");
    let out = tempfile::tempdir().unwrap();
    let record = drill(&sb, up_to_backup(), out.path()).await;
    assert_failed_at(&record, "preflight", "is not the one Longhorn backs up to");
    assert_failed_at(&record, "preflight", "other-cluster");
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_volume_with_null_status_fields_does_not_break_the_restore() {
    let sb = TestSandbox::start().await;
    // Another volume's BackupVolume as Longhorn leaves it before its first sync: the fields its
    // CRD marks nullable are null (shared/longhorn-crds/crds-v1.9.1.yaml).
    sb.sandbox
        .store()
        .create(
            &LH_BACKUPVOLUMES,
            Some(NS),
            json!({
                "apiVersion": "longhorn.io/v1beta2", "kind": "BackupVolume",
                "metadata": {"name": "unsynced-vol-1a2b3c4d", "namespace": NS,
                             "labels": {"backup-volume": "unsynced-vol"}},
                "spec": {"syncRequestedAt": null, "backupTargetName": null, "volumeName": "unsynced-vol"},
                "status": {"lastSyncedAt": null, "lastModificationTime": null, "labels": null,
                           "messages": null, "lastBackupName": ""}
            }),
        )
        .expect("BackupVolume");
    let out = tempfile::tempdir().unwrap();
    let record = drill(&sb, scenario("volume-restore"), out.path()).await;
    assert_eq!(record.outcome, Outcome::Passed, "{:#?}", record.steps);
    // It was there, nulls and all, through every lookup of the drill.
    let bv = sb
        .sandbox
        .store()
        .get(&LH_BACKUPVOLUMES, Some(NS), "unsynced-vol-1a2b3c4d")
        .expect("the unsynced BackupVolume is still there");
    assert!(bv["status"]["lastSyncedAt"].is_null(), "{bv:#}");
    sb.sandbox.shutdown().await;
}

/// A Backup Longhorn leaves in state `Unknown` (final upstream: longhorn-manager@v1.9.1:
/// controller/backup_controller.go `backupInFinalState`) fails the backup step at once instead of
/// being waited out until the step's timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_ending_unknown_fails_at_once() {
    let sb = TestSandbox::start().await;
    sb.sandbox.faults().set(Fault::BackupStuck);
    let store = sb.sandbox.store().clone();
    // The sandbox leaves the stuck backup InProgress at 37%; turn it into Unknown there.
    let flipper = tokio::spawn(async move {
        loop {
            for b in store.list(&LH_BACKUPS, Some(NS)) {
                if b["status"]["progress"] == json!(37) {
                    let name = b["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    let _ = store.modify(&LH_BACKUPS, Some(NS), &name, |o| {
                        o["status"]["state"] = json!("Unknown")
                    });
                    return;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    });
    let out = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let record = tokio::time::timeout(
        std::time::Duration::from_secs(90),
        drill(&sb, up_to_backup(), out.path()),
    )
    .await
    .expect("the backup step must not wait out an Unknown backup");
    flipper.abort();
    assert_failed_at(&record, "backup", "ended in Unknown");
    assert!(started.elapsed().as_secs() < 90);
    sb.sandbox.shutdown().await;
}

/// The orchestrator stops at once on the Volume condition `Restore` with reason
/// `RestoreFailure` (longhorn-manager@v1.9.1:k8s/pkg/apis/longhorn/v1beta2/volume.go) and reports
/// Longhorn's message, instead of waiting for `restoreRequired: false` until its timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_orchestrator_fails_at_once_on_restore_failure() {
    // Slow restore steps, so the injected failure lands while Longhorn is still restoring.
    let sb = TestSandbox::start_with(|o| {
        o.timing.restore_step = std::time::Duration::from_secs(2);
    })
    .await;
    let out = tempfile::tempdir().unwrap();
    let record = drill(&sb, up_to_backup(), out.path()).await;
    assert_eq!(record.outcome, Outcome::Passed, "{:#?}", record.steps);
    let store = sb.sandbox.store().clone();
    forget_volume(&sb);
    // Longhorn fails the restore as soon as it starts.
    let flip_store = store.clone();
    let flipper = tokio::spawn(async move {
        loop {
            if let Some(v) = flip_store.get(&LH_VOLUMES, Some(NS), VOLUME) {
                if v["status"]["restoreInitiated"] == json!(true) {
                    let _ = flip_store.modify(&LH_VOLUMES, Some(NS), VOLUME, |o| {
                        o["status"]["restoreRequired"] = json!(true);
                        o["status"]["conditions"] = json!([{
                            "type": "Restore", "status": "False", "reason": "RestoreFailure",
                            "message": "injected: failed to restore block at offset 0"
                        }]);
                    });
                    return;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    });
    let client = sandbox_client(&sb).await;
    let opts = orchestrator_options();
    let started = std::time::Instant::now();
    let result = dr_harness::orchestrator::run(client, &opts, |_| {}).await;
    flipper.abort();
    let err = result.expect_err("a failed restore fails the orchestrator");
    let msg = err.to_string();
    assert!(
        msg.contains(VOLUME) && msg.contains("injected: failed to restore block at offset 0"),
        "{msg}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(50),
        "waited {:?}",
        started.elapsed()
    );
    sb.sandbox.shutdown().await;
}

/// The sentinel volume gone, as after a rebuild; its backup stays on the target.
fn forget_volume(sb: &TestSandbox) {
    let store = sb.sandbox.store();
    store
        .delete(&NAMESPACES, None, "dr-volume-restore")
        .expect("namespace");
    let _ = store.delete(&PVS, None, VOLUME);
    let _ = store.delete(&LH_VOLUMES, Some(NS), VOLUME);
}

/// A client of the sandbox's API, as the orchestrator Job has one.
async fn sandbox_client(sb: &TestSandbox) -> kube::Client {
    sb.connect().await.client
}

fn orchestrator_options() -> dr_harness::orchestrator::OrchestratorOptions {
    dr_harness::orchestrator::OrchestratorOptions {
        volumes: vec![VOLUME.to_string()],
        namespace: NS.to_string(),
        skip_flag: None,
        replicas: 1,
        timeout: std::time::Duration::from_secs(60),
        storage_class: "longhorn".to_string(),
    }
}

/// Longhorn leaves `BackupTarget.status.lastSyncedAt` and `conditions` null before a first sync
/// (both `nullable: true` in its CRDs); the orchestrator's sync request is answered with that
/// object and must not fail after it was applied. With polling off, the one requested sync can
/// end before the BackupVolume caught up with the request; the orchestrator asks again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_orchestrator_copes_with_a_backup_target_never_synced() {
    let sb = TestSandbox::start().await;
    let out = tempfile::tempdir().unwrap();
    let record = drill(&sb, up_to_backup(), out.path()).await;
    assert_eq!(record.outcome, Outcome::Passed, "{:#?}", record.steps);
    forget_volume(&sb);
    sb.sandbox
        .store()
        .modify(&LH_BACKUPTARGETS, Some(NS), "default", |bt| {
            // No polling (Longhorn: pollInterval 0 disables it), so only our request syncs and
            // the answer to it still carries the nulls.
            bt["spec"]["pollInterval"] = json!("0s");
            bt["status"]["lastSyncedAt"] = json!(null);
            bt["status"]["conditions"] = json!(null);
        })
        .expect("BackupTarget");
    let client = sandbox_client(&sb).await;
    let outcomes = dr_harness::orchestrator::run(client, &orchestrator_options(), |_| {})
        .await
        .expect("the orchestrator restores");
    let backup: String = record.facts.backup.clone().unwrap();
    assert_eq!(
        outcomes.get(VOLUME),
        Some(&dr_harness::orchestrator::VolumeOutcome::Restored { backup })
    );
    sb.sandbox.shutdown().await;
}
