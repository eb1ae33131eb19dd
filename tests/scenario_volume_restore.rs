//! The `volume-restore` scenario (issue #4, the PR gate) against the sandbox: it passes on
//! Longhorn 1.8 and 1.7 naming with a measured single-volume RTO; a stale backup and a backup
//! deleted from the target fail it with the right diagnosis; it deletes only the drill's own
//! sentinel objects and never a Backup/BackupVolume without `delete-custom-resource-only`.

mod common;

use common::{assert_failed_at, drill, scenario, step, TestSandbox};
use dr_harness::engine::record::{Outcome, RunRecord, StepStatus};
use dr_sandbox::api::resources::{LH_BACKUPVOLUMES, LH_VOLUMES, NAMESPACES, PVCS};
use dr_sandbox::faults::Fault;
use serde_json::json;

const VOLUME: &str = "dr-volume-restore-data";

fn assert_passed_with_rto(record: &RunRecord) {
    assert_eq!(record.outcome, Outcome::Passed, "{:#?}", record.steps);
    let rto = record.rto_seconds.expect("single-volume RTO measured");
    assert!(rto > 0.0, "rto {rto}");
    for phase in [
        "delete",
        "backupvolume-discovered",
        "volume-restored",
        "workload-available",
    ] {
        assert!(
            record.phases.iter().any(|p| p.phase == phase),
            "phase {phase} missing: {:?}",
            record.phases
        );
    }
    assert!(
        record.verified_bytes >= 3 * 1024 * 1024,
        "verified {}",
        record.verified_bytes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_on_longhorn_1_8_naming() {
    let sb = TestSandbox::start().await;
    let out = tempfile::tempdir().unwrap();
    let record = drill(&sb, scenario("volume-restore"), out.path()).await;
    assert_passed_with_rto(&record);
    // The restored volume came from this drill's backup, under its well-known name.
    let url = record.backup_url.clone().unwrap_or_default();
    assert!(url.contains(&format!("volume={VOLUME}")), "{url}");
    assert_eq!(step(&record, "verify-restore").status, StepStatus::Passed);
    // The teardown left nothing of the drill's sentinel behind, and the BackupVolume stays.
    let store = sb.sandbox.store();
    assert!(
        store
            .get(&LH_VOLUMES, Some("longhorn-system"), VOLUME)
            .is_none(),
        "teardown removes the restored volume"
    );
    assert!(
        store
            .list(&LH_BACKUPVOLUMES, Some("longhorn-system"))
            .iter()
            .any(|bv| bv["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(&format!("{VOLUME}-")))),
        "the 1.8-named BackupVolume must survive the drill"
    );
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_on_longhorn_1_7_naming() {
    let sb =
        TestSandbox::start_with(|o| o.longhorn_version = dr_sandbox::LonghornVersion::V1_7_3).await;
    let out = tempfile::tempdir().unwrap();
    let record = drill(&sb, scenario("volume-restore"), out.path()).await;
    assert_passed_with_rto(&record);
    let store = sb.sandbox.store();
    assert!(
        store
            .get(&LH_BACKUPVOLUMES, Some("longhorn-system"), VOLUME)
            .is_some(),
        "1.7 names the BackupVolume after its volume"
    );
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stale_backup_restored_fails_naming_the_older_run() {
    let sb = TestSandbox::start().await;
    let out = tempfile::tempdir().unwrap();
    let first = drill(&sb, scenario("volume-restore"), out.path()).await;
    assert_eq!(first.outcome, Outcome::Passed, "{:#?}", first.steps);
    sb.sandbox.faults().set(Fault::OlderBackupRestored);
    let record = drill(&sb, scenario("volume-restore"), out.path()).await;
    sb.sandbox.shutdown().await;
    let failing = record.failing_step().expect("the drill must fail");
    let msg = failing.message.clone().unwrap_or_default();
    assert_eq!(failing.name, "verify-sentinel", "{failing:#?}");
    assert!(
        msg.contains(&first.run_id) && msg.contains("older backup"),
        "{msg}"
    );
    // The teardown still ran after the failure.
    assert_eq!(
        step(&record, "teardown").status,
        StepStatus::Passed,
        "{:#?}",
        record.steps
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_deleted_from_the_target_fails_the_restore_with_its_key() {
    let sb = TestSandbox::start().await;
    let out = tempfile::tempdir().unwrap();
    // The disaster deletes the sentinel volume; at that moment the backup vanishes from S3 as
    // well (a lifecycle rule or an operator deleting it between backup and restore).
    let store = sb.sandbox.store().clone();
    let s3 = sb.sandbox.s3().client();
    let bucket = sb.sandbox.s3().bucket().to_string();
    let deleted_keys = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = deleted_keys.clone();
    let saboteur = tokio::spawn(async move {
        let mut seen = false;
        loop {
            let present = store
                .get(&LH_VOLUMES, Some("longhorn-system"), VOLUME)
                .is_some();
            seen |= present;
            if seen && !present {
                let listed = s3
                    .list_objects_v2()
                    .bucket(&bucket)
                    .prefix("backupstore/volumes/")
                    .send()
                    .await
                    .expect("list");
                for o in listed.contents() {
                    let key = o.key().unwrap_or_default().to_string();
                    if key.contains(&format!("/{VOLUME}/backups/backup_")) {
                        s3.delete_object()
                            .bucket(&bucket)
                            .key(&key)
                            .send()
                            .await
                            .expect("delete");
                        sink.lock().unwrap().push(key);
                    }
                }
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    });
    let record = drill(&sb, scenario("volume-restore"), out.path()).await;
    // The saboteur acts only once the volume is gone; a drill that never got there ends it.
    saboteur.abort();
    let deleted = deleted_keys.lock().unwrap().clone();
    sb.sandbox.shutdown().await;
    assert_eq!(
        deleted.len(),
        1,
        "exactly the drill's backup cfg was deleted: {deleted:?}; drill: {:?} at {:#?}",
        record.outcome,
        record.failing_step()
    );
    let backup: String = record.facts.backup.clone().expect("backup fact");
    assert!(
        deleted[0].ends_with(&format!("backup_{backup}.cfg")),
        "{deleted:?}"
    );
    assert_failed_at(&record, "restore-volume", &deleted[0]);
    assert_eq!(step(&record, "verify-sentinel").status, StepStatus::Skipped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn objects_without_the_run_id_are_never_deleted() {
    let sb = TestSandbox::start().await;
    let store = sb.sandbox.store().clone();
    // An unrelated claim in the drill's own namespace, another app's claim, and a bare volume.
    store.create(&NAMESPACES, None, json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dr-volume-restore"}})).expect("ns");
    store
        .create(
            &NAMESPACES,
            None,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}}),
        )
        .expect("ns");
    let pvc = |ns: &str, name: &str| {
        json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"storageClassName": "longhorn", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}},
        })
    };
    store
        .create(
            &PVCS,
            Some("dr-volume-restore"),
            pvc("dr-volume-restore", "other-data"),
        )
        .expect("pvc");
    store
        .create(&PVCS, Some("app"), pvc("app", "db-data"))
        .expect("pvc");
    store
        .create(
            &LH_VOLUMES,
            Some("longhorn-system"),
            dr_sandbox::controllers::pvc::longhorn_volume_manifest("unrelated-vol", 64 << 20),
        )
        .expect("volume");
    let backup_volumes_before: Vec<String> = store
        .list(&LH_BACKUPVOLUMES, Some("longhorn-system"))
        .iter()
        .filter_map(|bv| bv["metadata"]["name"].as_str().map(str::to_string))
        .collect();

    let out = tempfile::tempdir().unwrap();
    let record = drill(&sb, scenario("volume-restore"), out.path()).await;
    assert_eq!(record.outcome, Outcome::Passed, "{:#?}", record.steps);

    assert!(store
        .get(&PVCS, Some("dr-volume-restore"), "other-data")
        .is_some());
    assert!(store.get(&PVCS, Some("app"), "db-data").is_some());
    assert!(store
        .get(&LH_VOLUMES, Some("longhorn-system"), "unrelated-vol")
        .is_some());
    let survivors: Vec<String> = store
        .list(&LH_BACKUPVOLUMES, Some("longhorn-system"))
        .iter()
        .filter_map(|bv| bv["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    for bv in backup_volumes_before {
        assert!(survivors.contains(&bv), "BackupVolume {bv} was deleted");
    }
    // No request ever deleted a BackupVolume; every Backup deleted was labelled first.
    let log = sb.sandbox.api_request_log().await;
    assert!(
        !log.iter()
            .any(|r| r.method == "DELETE" && r.path_and_query.contains("/backupvolumes")),
        "a BackupVolume was deleted"
    );
    for r in log.iter().filter(|r| r.method == "DELETE") {
        assert!(
            !r.path_and_query.contains("/namespaces/app/"),
            "deleted in another app's namespace: {}",
            r.path_and_query
        );
        assert!(
            !r.path_and_query.contains("unrelated-vol"),
            "{}",
            r.path_and_query
        );
    }
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_adopted_sentinel_is_not_deleted() {
    // The sandbox's GitOps deploys the default sentinel without a run id: a volume-restore drill
    // pointed at it must refuse before deleting anything.
    let sb = TestSandbox::start().await;
    let text = std::fs::read_to_string(common::repo().join("scenarios/volume-restore.toml"))
        .unwrap()
        .replace(
            "namespace = \"dr-volume-restore\"",
            "namespace = \"dr-exercise\"",
        )
        .replace(
            "pvc = \"dr-volume-restore-data\"",
            "pvc = \"dr-exercise-data\"",
        )
        .replace(
            "deployment = \"dr-volume-restore\"",
            "deployment = \"dr-exercise\"",
        );
    let sc = dr_harness::config::Scenario::from_str(&text, "volume-restore-adopted.toml").unwrap();
    let out = tempfile::tempdir().unwrap();
    let record = drill(&sb, sc, out.path()).await;
    assert_failed_at(
        &record,
        "delete-sentinel",
        "refusing to delete the sentinel",
    );
    let store = sb.sandbox.store();
    assert!(store
        .get(
            &dr_sandbox::api::resources::DEPLOYMENTS,
            Some("dr-exercise"),
            "dr-exercise"
        )
        .is_some());
    assert!(store
        .get(&PVCS, Some("dr-exercise"), "dr-exercise-data")
        .is_some());
    assert!(store
        .get(&LH_VOLUMES, Some("longhorn-system"), "dr-exercise-data")
        .is_some());
    sb.sandbox.shutdown().await;
}
