//! The simulated SystemBackup/SystemRestore: the zip and cfg land under the real key layout with
//! a matching checksum, a rebuilt cluster discovers them, a SystemRestore brings back the volume
//! with its data, and the two faults fail the way Longhorn would.

mod sandbox_support;

use dr_backupstore::BackupStore;
use dr_sandbox::controllers::system_backup::{read_zip, system_backup_key, LONGHORN_VERSION};
use dr_sandbox::Fault;
use kube::api::{DynamicObject, PostParams};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use sandbox_support::*;

fn store_of(sandbox: &dr_sandbox::Sandbox) -> BackupStore {
    BackupStore::new(sandbox.s3().client(), sandbox.s3().bucket(), "backupstore/")
}

async fn create(client: &kube::Client, kind: &str, obj: Value) {
    let o: DynamicObject = serde_json::from_value(obj).expect("object");
    longhorn(client, kind)
        .create(&PostParams::default(), &o)
        .await
        .expect("created");
}

/// Waits until the named SystemBackup/SystemRestore reaches one of `states`.
async fn wait_state(client: &kube::Client, kind: &str, name: &str, states: &[&str]) -> Value {
    let api = longhorn(client, kind);
    eventually(&format!("{kind} {name} to reach {states:?}"), || {
        let api = api.clone();
        async move {
            let o = api.get(name).await.ok()?;
            let st = status(&o);
            states
                .contains(&st["state"].as_str().unwrap_or(""))
                .then_some(st)
        }
    })
    .await
}

async fn system_backup(client: &kube::Client, name: &str) -> Value {
    create(
        client,
        "SystemBackup",
        json!({"apiVersion": "longhorn.io/v1beta2", "kind": "SystemBackup",
               "metadata": {"name": name, "namespace": LH_NS},
               "spec": {"volumeBackupPolicy": "if-not-present"}}),
    )
    .await;
    wait_state(client, "SystemBackup", name, &["Ready", "Error"]).await
}

async fn system_restore(client: &kube::Client, name: &str, sb: &str) -> Value {
    create(
        client,
        "SystemRestore",
        json!({"apiVersion": "longhorn.io/v1beta2", "kind": "SystemRestore",
               "metadata": {"name": name, "namespace": LH_NS},
               "spec": {"systemBackup": sb}}),
    )
    .await;
    wait_state(client, "SystemRestore", name, &["Completed", "Error"]).await
}

fn error_message(st: &Value) -> String {
    st["conditions"][0]["message"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_backup_uploads_zip_and_cfg_with_matching_checksum_and_backs_up_volumes() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    let pod = sentinel_pod(&client).await;
    let (_, ok) = exec(&client, &pod, "echo system > /data/s").await;
    assert!(ok);
    let st = system_backup(&client, "sb-one").await;
    assert_eq!(st["state"], "Ready", "{st}");
    assert_eq!(st["version"], LONGHORN_VERSION);

    let bs = store_of(&sandbox);
    let zip_key = system_backup_key(
        "backupstore/",
        LONGHORN_VERSION,
        "sb-one",
        "system-backup.zip",
    );
    let cfg_key = system_backup_key(
        "backupstore/",
        LONGHORN_VERSION,
        "sb-one",
        "system-backup.cfg",
    );
    let zip = bs.get_object(&zip_key).await.expect("s3").expect("zip");
    let cfg: Value =
        serde_json::from_slice(&bs.get_object(&cfg_key).await.expect("s3").expect("cfg"))
            .expect("cfg json");
    assert_eq!(cfg["Name"], "sb-one");
    assert_eq!(cfg["Checksum"], hex::encode(Sha256::digest(&zip)).as_str());
    let lists = read_zip(&zip).expect("zip readable");
    let vols = &lists["longhorn/volumes.yaml"];
    assert!(
        vols.iter()
            .any(|v| v["metadata"]["name"] == "dr-exercise-data"),
        "{vols:?}"
    );
    assert!(lists["kubernetes/persistentvolumeclaims.yaml"]
        .iter()
        .any(|p| p["metadata"]["name"] == "dr-exercise-data"));
    // if-not-present: the volume had no backup, so the system backup made one
    let v = longhorn(&client, "Volume")
        .get("dr-exercise-data")
        .await
        .expect("volume");
    let last = status(&v)["lastBackup"].as_str().unwrap_or("").to_string();
    assert!(!last.is_empty(), "no volume backup was made");
    let b = longhorn(&client, "Backup")
        .get(&last)
        .await
        .expect("backup");
    assert_eq!(
        b.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("longhorn.io/system-backup"))
            .map(String::as_str),
        Some("sb-one")
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuilt_cluster_discovers_system_backup_and_restore_brings_volume_back() {
    // The sentinel workload is not in GitOps here, so nothing provisions a fresh volume before
    // the SystemRestore (which leaves existing volumes alone).
    let (_dir, sandbox) = start(|o| {
        o.gitops_manifests = vec![
            dr_sandbox::lifecycle::default_gitops_manifests()
                .into_iter()
                .find(|(path, _)| path == dr_sandbox::bootstrap::ORCHESTRATOR_PATH)
                .expect("orchestrator source"),
            (
                dr_sandbox::bootstrap::SENTINEL_PATH.to_string(),
                include_str!("../../fixtures/sentinel/namespace.yaml").to_string(),
            ),
        ];
    })
    .await;
    let client = client(&sandbox).await;
    for doc in [
        include_str!("../../fixtures/sentinel/pvc.yaml"),
        include_str!("../../fixtures/sentinel/deployment.yaml"),
    ] {
        let obj: Value = serde_yaml::from_str(doc).expect("fixture yaml");
        let rt = if obj["kind"] == "Deployment" {
            &dr_sandbox::api::resources::DEPLOYMENTS
        } else {
            &dr_sandbox::api::resources::PVCS
        };
        eventually("the sentinel namespace", || async {
            sandbox
                .store()
                .create(rt, Some("dr-exercise"), obj.clone())
                .ok()
        })
        .await;
    }
    let pod = sentinel_pod(&client).await;
    let (_, ok) = exec(&client, &pod, "echo survived > /data/s").await;
    assert!(ok);
    assert_eq!(system_backup(&client, "sb-two").await["state"], "Ready");

    let client = rebuild(&sandbox).await;
    let st = wait_state(&client, "SystemBackup", "sb-two", &["Ready"]).await;
    assert_eq!(st["version"], LONGHORN_VERSION);
    let st = system_restore(&client, "sr-two", "sb-two").await;
    assert_eq!(st["state"], "Completed", "{st}");
    let v = longhorn(&client, "Volume")
        .get("dr-exercise-data")
        .await
        .expect("volume restored");
    assert!(v.data["spec"]["fromBackup"]
        .as_str()
        .is_some_and(|u| u.contains("volume=dr-exercise-data")));
    // the PVC is back and the redeployed workload reads the data of before the disaster
    {
        let doc = include_str!("../../fixtures/sentinel/deployment.yaml");
        let obj: Value = serde_yaml::from_str(doc).expect("fixture yaml");
        sandbox
            .store()
            .create(
                &dr_sandbox::api::resources::DEPLOYMENTS,
                Some("dr-exercise"),
                obj,
            )
            .expect("deployment");
    }
    let pod = sentinel_pod(&client).await;
    let (out, ok) = exec(&client, &pod, "cat /data/s").await;
    assert!(ok);
    assert_eq!(out.trim(), "survived");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_restore_error_fault_ends_restore_in_error_with_message() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    assert_eq!(system_backup(&client, "sb-err").await["state"], "Ready");
    sandbox.faults().set(Fault::SystemRestoreError);
    let st = system_restore(&client, "sr-err", "sb-err").await;
    assert_eq!(st["state"], "Error");
    assert!(error_message(&st).contains("system-restore-error"), "{st}");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_zip_fault_breaks_the_checksum_and_the_restore() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    sandbox.faults().set(Fault::SystemBackupZipCorrupted);
    assert_eq!(system_backup(&client, "sb-bad").await["state"], "Ready");
    let bs = store_of(&sandbox);
    let key = |f: &str| system_backup_key("backupstore/", LONGHORN_VERSION, "sb-bad", f);
    let zip = bs
        .get_object(&key("system-backup.zip"))
        .await
        .expect("s3")
        .expect("zip");
    let cfg: Value = serde_json::from_slice(
        &bs.get_object(&key("system-backup.cfg"))
            .await
            .expect("s3")
            .expect("cfg"),
    )
    .expect("cfg json");
    assert_ne!(cfg["Checksum"], hex::encode(Sha256::digest(&zip)).as_str());
    let st = system_restore(&client, "sr-bad", "sb-bad").await;
    assert_eq!(st["state"], "Error");
    assert!(error_message(&st).contains("checksum mismatch"), "{st}");
    sandbox.shutdown().await;
}
