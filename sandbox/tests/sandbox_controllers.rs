//! Controller behaviours a drill relies on beyond the happy path: Jobs run in busybox with
//! retries, scaling detaches volumes, forced BackupTarget syncs, and deleting Backup objects
//! deletes (or keeps) the remote data as Longhorn does.

mod sandbox_support;

use dr_backupstore::BackupStore;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use serde_json::json;

use sandbox_support::*;

fn job(name: &str, script: &str, backoff: i32) -> Job {
    serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "backoffLimit": backoff,
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", script]}],
            }},
        },
    }))
    .expect("job object")
}

fn job_condition(j: &Job, type_: &str) -> bool {
    j.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == type_ && c.status == "True"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_to_completion_and_respect_the_backoff_limit() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    sentinel_pod(&client).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    jobs.create(
        &PostParams::default(),
        &job("ok", "echo from-busybox; uname -s", 2),
    )
    .await
    .expect("create");
    jobs.create(
        &PostParams::default(),
        &job("bad", "echo failing; exit 3", 1),
    )
    .await
    .expect("create");

    let ok = eventually("job ok to complete", || {
        let jobs = jobs.clone();
        async move {
            jobs.get("ok")
                .await
                .ok()
                .filter(|j| job_condition(j, "Complete"))
        }
    })
    .await;
    assert_eq!(ok.status.as_ref().and_then(|s| s.succeeded), Some(1));
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let ok_pods = pods
        .list(&ListParams::default().labels("job-name=ok"))
        .await
        .expect("list")
        .items;
    assert_eq!(ok_pods.len(), 1);
    assert_eq!(
        ok_pods[0].status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded")
    );
    let logs = pods
        .logs(&ok_pods[0].name_any(), &LogParams::default())
        .await
        .expect("logs");
    assert!(logs.contains("from-busybox"), "{logs}");
    assert!(logs.contains("Linux"), "{logs}");

    let bad = eventually("job bad to fail", || {
        let jobs = jobs.clone();
        async move {
            jobs.get("bad")
                .await
                .ok()
                .filter(|j| job_condition(j, "Failed"))
        }
    })
    .await;
    assert_eq!(
        bad.status.as_ref().and_then(|s| s.failed),
        Some(2),
        "1 try + backoffLimit 1 retry"
    );
    let reason = bad
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "Failed")
        .and_then(|c| c.reason);
    assert_eq!(reason.as_deref(), Some("BackoffLimitExceeded"));
    let bad_pods = pods
        .list(&ListParams::default().labels("job-name=bad"))
        .await
        .expect("list")
        .items;
    let exit_codes: Vec<i32> = bad_pods
        .iter()
        .filter_map(|p| {
            p.status
                .as_ref()?
                .container_statuses
                .as_ref()?
                .first()?
                .state
                .as_ref()?
                .terminated
                .as_ref()
                .map(|t| t.exit_code)
        })
        .collect();
    assert_eq!(exit_codes, [3, 3]);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_the_sentinel_to_zero_detaches_its_volume_and_back_reattaches() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    sentinel_pod(&client).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "dr-exercise");
    let scale = |n: i32| json!({"spec": {"replicas": n}});
    deployments
        .patch(
            "dr-exercise",
            &PatchParams::default(),
            &Patch::Merge(scale(0)),
        )
        .await
        .expect("scale down");
    let volumes = longhorn(&client, "Volume");
    let v = eventually("the volume to detach", || {
        let volumes = volumes.clone();
        async move {
            volumes
                .get("dr-exercise-data")
                .await
                .ok()
                .filter(|v| status(v)["state"] == "detached")
        }
    })
    .await;
    assert_eq!(status(&v)["currentNodeID"], "");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "dr-exercise");
    assert!(pods
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .is_empty());

    deployments
        .patch(
            "dr-exercise",
            &PatchParams::default(),
            &Patch::Merge(scale(1)),
        )
        .await
        .expect("scale up");
    let pod = sentinel_pod(&client).await;
    let v = volumes.get("dr-exercise-data").await.expect("volume");
    assert_eq!(status(&v)["state"], "attached");
    let node = pods
        .get(&pod)
        .await
        .expect("pod")
        .spec
        .and_then(|s| s.node_name)
        .expect("scheduled");
    assert_eq!(status(&v)["currentNodeID"], json!(node));
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_requested_at_forces_a_backup_target_sync() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    let bts = longhorn(&client, "BackupTarget");
    let first = eventually("the first sync", || {
        let bts = bts.clone();
        async move {
            bts.get("default")
                .await
                .ok()
                .filter(|bt| status(bt)["lastSyncedAt"].is_string())
        }
    })
    .await;
    let _ = first;
    // pollInterval 0 disables periodic polling (Longhorn): only syncRequestedAt syncs now
    bts.patch(
        "default",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"pollInterval": "0s"}})),
    )
    .await
    .expect("patch poll interval");
    // let a sync that started before the patch finish, then watch five fast poll periods pass
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let before = bts.get("default").await.expect("bt");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let quiet = bts.get("default").await.expect("bt");
    assert_eq!(
        status(&quiet)["lastSyncedAt"],
        status(&before)["lastSyncedAt"],
        "polling must be off"
    );
    let requested = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    bts.patch(
        "default",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"syncRequestedAt": requested}})),
    )
    .await
    .expect("request a sync");
    let after = eventually("a sync after syncRequestedAt", || {
        let bts = bts.clone();
        let requested = requested.clone();
        async move {
            let bt = bts.get("default").await.ok()?;
            let synced = status(&bt)["lastSyncedAt"].as_str()?.to_string();
            (synced > requested).then_some(bt)
        }
    })
    .await;
    assert_ne!(
        status(&after)["lastSyncedAt"],
        status(&before)["lastSyncedAt"]
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_backup_object_deletes_its_remote_data_unless_labelled() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    write_and_backup(&client, "echo a > /data/a", "keep").await;
    write_and_backup(&client, "echo b > /data/b", "drop").await;
    let backups = longhorn(&client, "Backup");
    backups
        .patch(
            "backup-keep",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"longhorn.io/delete-custom-resource-only": "true"}}})),
        )
        .await
        .expect("label");
    backups
        .delete("backup-keep", &DeleteParams::default())
        .await
        .expect("delete keep");
    backups
        .delete("backup-drop", &DeleteParams::default())
        .await
        .expect("delete drop");
    let bs = BackupStore::new(sandbox.s3().client(), sandbox.s3().bucket(), "backupstore/");
    eventually("the remote cfg of backup-drop to go", || {
        let bs = bs.clone();
        async move {
            bs.get_backup_cfg("dr-exercise-data", "backup-drop")
                .await
                .ok()?
                .is_none()
                .then_some(())
        }
    })
    .await;
    assert!(
        bs.get_backup_cfg("dr-exercise-data", "backup-keep")
            .await
            .expect("s3")
            .is_some(),
        "delete-custom-resource-only must keep the remote backup"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_gates_are_recorded_as_events() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::all(client.clone());
    let reasons = eventually("the BootstrapComplete event", || {
        let events = events.clone();
        async move {
            let list = events.list(&ListParams::default()).await.ok()?;
            let reasons: Vec<String> = list.items.iter().filter_map(|e| e.reason.clone()).collect();
            reasons
                .iter()
                .any(|r| r == "BootstrapComplete")
                .then_some(reasons)
        }
    })
    .await;
    for gate in [
        "ApiServerReady",
        "NodesReady",
        "LonghornReady",
        "BackupTargetSynced",
        "BootstrapComplete",
    ] {
        assert!(
            reasons.iter().any(|r| r == gate),
            "no {gate} event in {reasons:?}"
        );
    }
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_backup_target_is_reported_unavailable() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    let bts = longhorn(&client, "BackupTarget");
    eventually("the BackupTarget to be available", || {
        let bts = bts.clone();
        async move {
            bts.get("default")
                .await
                .ok()
                .filter(|bt| status(bt)["available"] == json!(true))
        }
    })
    .await;
    sandbox
        .faults()
        .s3()
        .slow_down_for(std::time::Duration::from_secs(120));
    let bt = eventually("the BackupTarget to turn unavailable", || {
        let bts = bts.clone();
        async move {
            bts.get("default")
                .await
                .ok()
                .filter(|bt| status(bt)["available"] == json!(false))
        }
    })
    .await;
    let cond = status(&bt)["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Unavailable").cloned())
        .expect("Unavailable condition");
    assert_eq!(cond["status"], "True");
    assert!(cond["message"].as_str().is_some_and(|m| !m.is_empty()));
    sandbox.faults().clear();
    eventually("the BackupTarget to recover", || {
        let bts = bts.clone();
        async move {
            bts.get("default")
                .await
                .ok()
                .filter(|bt| status(bt)["available"] == json!(true))
        }
    })
    .await;
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_of_a_missing_volume_reports_an_error() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    let api = longhorn(&client, "Snapshot");
    let obj = serde_json::from_value(json!({
        "apiVersion": "longhorn.io/v1beta2", "kind": "Snapshot",
        "metadata": {"name": "orphan", "namespace": LH_NS},
        "spec": {"volume": "no-such-volume", "createSnapshot": true},
    }))
    .expect("object");
    let created = api
        .create(&PostParams::default(), &obj)
        .await
        .expect("created");
    assert_eq!(
        created.labels().get("longhornvolume").map(String::as_str),
        Some("no-such-volume")
    );
    let s = eventually("the snapshot error", || {
        let api = api.clone();
        async move {
            api.get("orphan")
                .await
                .ok()
                .filter(|s| status(s)["error"].as_str().is_some_and(|e| !e.is_empty()))
        }
    })
    .await;
    assert_eq!(status(&s)["readyToUse"], false);
    assert!(status(&s)["error"]
        .as_str()
        .is_some_and(|e| e.contains("no-such-volume")));
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pvc_does_not_bind_to_a_pv_of_another_storage_class() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    sentinel_pod(&client).await;
    let pvs: Api<k8s_openapi::api::core::v1::PersistentVolume> = Api::all(client.clone());
    let pv = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": "static-vol"},
        "spec": {
            "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "longhorn-static",
            "csi": {"driver": "driver.longhorn.io", "volumeHandle": "static-vol", "fsType": "ext4"},
        },
    }))
    .expect("pv");
    pvs.create(&PostParams::default(), &pv)
        .await
        .expect("pv created");
    let pvcs: Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
        Api::namespaced(client.clone(), "default");
    let pvc = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "wants-static", "namespace": "default"},
        "spec": {"storageClassName": "longhorn", "volumeName": "static-vol", "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "1Gi"}}},
    }))
    .expect("pvc");
    pvcs.create(&PostParams::default(), &pvc)
        .await
        .expect("pvc created");
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), "default");
    let msg = eventually("a VolumeMismatch event", || {
        let events = events.clone();
        async move {
            let list = events.list(&ListParams::default()).await.ok()?;
            list.items
                .into_iter()
                .find(|e| e.reason.as_deref() == Some("VolumeMismatch"))
                .and_then(|e| e.message)
        }
    })
    .await;
    assert!(msg.contains("storageClassName does not match"), "{msg}");
    let pvc = pvcs.get("wants-static").await.expect("pvc");
    assert_ne!(pvc.status.and_then(|s| s.phase).as_deref(), Some("Bound"));
    sandbox.shutdown().await;
}
