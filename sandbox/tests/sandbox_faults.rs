//! One test per sandbox fault, each asserting the fault's observable effect through the API,
//! S3 or the data plane.

mod sandbox_support;

use std::time::{Duration, Instant};

use dr_backupstore::BackupStore;
use dr_sandbox::Fault;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::api::{Api, ListParams, LogParams, WatchParams};
use serde_json::json;

use sandbox_support::*;

fn store_of(sandbox: &dr_sandbox::Sandbox) -> BackupStore {
    BackupStore::new(sandbox.s3().client(), sandbox.s3().bucket(), "backupstore/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_error_ends_backups_in_error() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    sandbox.faults().set(Fault::BackupError);
    let b = write_and_backup(&client, "echo a > /data/a", "err").await;
    let st = status(&b);
    assert_eq!(st["state"], "Error");
    assert!(
        st["error"]
            .as_str()
            .is_some_and(|e| e.contains("backup-error")),
        "{st}"
    );
    assert!(store_of(&sandbox)
        .get_backup_cfg("dr-exercise-data", "backup-err")
        .await
        .expect("s3")
        .is_none());
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_unknown_ends_backups_in_the_final_state_unknown() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    sandbox.faults().set(Fault::BackupUnknown);
    let b = write_and_backup(&client, "echo a > /data/a", "unk").await;
    let st = status(&b);
    assert_eq!(st["state"], "Unknown", "{st}");
    assert!(
        st["lastSyncedAt"].is_string(),
        "final states stamp lastSyncedAt: {st}"
    );
    // final: clearing the fault does not resume it
    sandbox.faults().clear();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again = longhorn(&client, "Backup")
        .get("backup-unk")
        .await
        .expect("backup");
    assert_eq!(status(&again)["state"], "Unknown");
    assert!(store_of(&sandbox)
        .get_backup_cfg("dr-exercise-data", "backup-unk")
        .await
        .expect("s3")
        .is_none());
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_failure_faults_the_volume_as_longhorn_reports_it() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    let b = write_and_backup(&client, "echo a > /data/a", "rf").await;
    let url = status(&b)["url"].as_str().expect("url").to_string();
    sandbox.faults().set(Fault::RestoreFailure);
    let v = restore_volume(&client, "from-rf", &url).await;
    let st = status(&v);
    assert_eq!(st["robustness"], "faulted", "{st}");
    assert_eq!(st["state"], "detached", "{st}");
    assert_eq!(st["restoreRequired"], json!(true), "{st}");
    let cond = st["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Restore").cloned())
        .expect("Restore condition");
    assert_eq!(cond["status"], "False", "{cond}");
    assert_eq!(cond["reason"], "RestoreFailure", "{cond}");
    assert_eq!(
        cond["message"],
        "All replica restore failed and the volume became Faulted"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_stuck_keeps_backups_in_progress() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    sandbox.faults().set(Fault::BackupStuck);
    let pod = sentinel_pod(&client).await;
    assert!(exec(&client, &pod, "echo a > /data/a").await.1);
    snapshot(&client, "dr-exercise-data", "snap-stuck").await;
    let api = longhorn(&client, "Backup");
    let obj = serde_json::from_value(json!({
        "apiVersion": "longhorn.io/v1beta2", "kind": "Backup",
        "metadata": {"name": "backup-stuck", "namespace": LH_NS},
        "spec": {"snapshotName": "snap-stuck"},
    }))
    .expect("object");
    api.create(&Default::default(), &obj)
        .await
        .expect("created");
    let b = eventually("the backup to stall", || {
        let api = api.clone();
        async move {
            api.get("backup-stuck")
                .await
                .ok()
                .filter(|b| status(b)["progress"] == json!(37))
        }
    })
    .await;
    assert_eq!(status(&b)["state"], "InProgress");
    // a later BackupTarget sync does not move it either
    let synced_before = status(
        &longhorn(&client, "BackupTarget")
            .get("default")
            .await
            .expect("bt"),
    )["lastSyncedAt"]
        .clone();
    eventually("another BackupTarget sync", || {
        let api = longhorn(&client, "BackupTarget");
        let before = synced_before.clone();
        async move {
            api.get("default")
                .await
                .ok()
                .filter(|bt| status(bt)["lastSyncedAt"] != before)
        }
    })
    .await;
    let b = api.get("backup-stuck").await.expect("still there");
    assert_eq!(status(&b)["state"], "InProgress");
    assert!(store_of(&sandbox)
        .get_backup_cfg("dr-exercise-data", "backup-stuck")
        .await
        .expect("s3")
        .is_none());
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_missing_deletes_a_block_of_the_next_backup() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    sandbox.faults().set(Fault::BlockMissing);
    let b = write_and_backup(&client, "echo a > /data/a", "miss").await;
    assert_eq!(
        status(&b)["state"],
        "Completed",
        "the backup itself succeeds"
    );
    let bs = store_of(&sandbox);
    let cfg = bs
        .get_backup_cfg("dr-exercise-data", "backup-miss")
        .await
        .expect("s3")
        .expect("cfg");
    let mut missing = 0;
    for block in &cfg.blocks {
        if bs
            .head(&bs.block_key("dr-exercise-data", &block.block_checksum))
            .await
            .expect("s3")
            .is_none()
        {
            missing += 1;
        }
    }
    assert_eq!(missing, 1);
    assert!(
        !sandbox.faults().is_set("block-missing"),
        "one-shot fault is consumed"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_corrupted_overwrites_a_block_and_restores_fail() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    sandbox.faults().set(Fault::BlockCorrupted);
    let b = write_and_backup(&client, "echo a > /data/a", "bad").await;
    let url = status(&b)["url"].as_str().expect("url").to_string();
    let bs = store_of(&sandbox);
    let cfg = bs
        .get_backup_cfg("dr-exercise-data", "backup-bad")
        .await
        .expect("s3")
        .expect("cfg");
    let first = bs
        .get_block("dr-exercise-data", &cfg.blocks[0].block_checksum)
        .await
        .expect("s3")
        .expect("block");
    assert!(String::from_utf8_lossy(&first).contains("block-corrupted"));
    let v = restore_volume(&client, "from-bad", &url).await;
    let st = status(&v);
    assert_eq!(st["robustness"], "faulted", "{st}");
    let cond = st["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Restore").cloned())
        .expect("Restore condition");
    assert_eq!(cond["reason"], "RestoreFailure");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestrator_skipped_leaves_the_sentinel_on_a_fresh_volume() {
    let scripts = tempfile::tempdir().expect("tempdir");
    let stand_in = scripts.path().join("dr-harness");
    std::fs::write(
        &stand_in,
        "#!/bin/sh\necho stand-in orchestrator ran: \"$@\"\n",
    )
    .expect("script");
    std::fs::set_permissions(
        &stand_in,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let (_dir, sandbox) = start(|o| o.harness_bin = Some(stand_in.clone())).await;
    let client = client(&sandbox).await;
    let b = write_and_backup(&client, "echo keep > /data/k", "orch").await;
    assert_eq!(status(&b)["state"], "Completed");
    sandbox.faults().set(Fault::OrchestratorSkipped);
    let client = rebuild(&sandbox).await;
    let pod = sentinel_pod(&client).await;
    let vol = longhorn(&client, "Volume")
        .get("dr-exercise-data")
        .await
        .expect("volume");
    assert_eq!(
        vol.data["spec"]["fromBackup"], "",
        "a fresh volume, not a restore"
    );
    let (out, _) = exec(&client, &pod, "cat /data/k 2>/dev/null || echo absent").await;
    assert_eq!(out.trim(), "absent");
    let pods: Api<Pod> = Api::namespaced(client.clone(), LH_NS);
    let job_pod = pods
        .list(&ListParams::default().labels("job-name=longhorn-restore-orchestrator"))
        .await
        .expect("list")
        .items
        .into_iter()
        .next()
        .expect("orchestrator pod");
    let logs = pods
        .logs(
            &job_pod.metadata.name.unwrap_or_default(),
            &LogParams::default(),
        )
        .await
        .expect("logs");
    assert!(logs.contains("orchestrator-skipped"), "{logs}");
    assert!(
        !logs.contains("stand-in orchestrator ran"),
        "the orchestrator ran anyway: {logs}"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_backup_restored_restores_the_previous_backup() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    write_and_backup(&client, "echo 1 > /data/n", "first").await;
    let second = write_and_backup(&client, "echo 2 > /data/n", "second").await;
    let url = status(&second)["url"].as_str().expect("url").to_string();
    sandbox.faults().set(Fault::OlderBackupRestored);
    let v = restore_volume(&client, "older", &url).await;
    // a restored volume no pod uses is detached: Longhorn reports robustness unknown
    assert_eq!(status(&v)["robustness"], "unknown");
    let n = std::fs::read_to_string(sandbox.data_plane().volume_dir("older").join("n")).expect("n");
    assert_eq!(n, "1\n", "the previous backup's data came back");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restored_byte_flipped_changes_one_byte_of_the_restored_data() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    let b = write_and_backup(&client, "echo abcdefgh > /data/f", "flip").await;
    let url = status(&b)["url"].as_str().expect("url").to_string();
    sandbox.faults().set(Fault::RestoredByteFlipped);
    restore_volume(&client, "flipped", &url).await;
    let got = std::fs::read(sandbox.data_plane().volume_dir("flipped").join("f")).expect("f");
    let want = b"abcdefgh\n";
    assert_eq!(got.len(), want.len());
    let diffs = got.iter().zip(want.iter()).filter(|(a, b)| a != b).count();
    assert_eq!(diffs, 1);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backupvolume_never_discovered_suppresses_discovery() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    write_and_backup(&client, "echo a > /data/a", "hidden").await;
    sandbox.faults().set(Fault::BackupvolumeNeverDiscovered);
    let client = rebuild(&sandbox).await;
    let synced = eventually("two BackupTarget syncs on the rebuilt cluster", || {
        let api = longhorn(&client, "BackupTarget");
        async move {
            api.get("default")
                .await
                .ok()
                .filter(|bt| status(bt)["lastSyncedAt"].is_string())
        }
    })
    .await;
    let first = status(&synced)["lastSyncedAt"].clone();
    eventually("a later sync", || {
        let api = longhorn(&client, "BackupTarget");
        let first = first.clone();
        async move {
            api.get("default")
                .await
                .ok()
                .filter(|bt| status(bt)["lastSyncedAt"] != first)
        }
    })
    .await;
    let bvs = longhorn(&client, "BackupVolume")
        .list(&ListParams::default())
        .await
        .expect("list");
    assert!(
        bvs.items.is_empty(),
        "BackupVolumes appeared: {:?}",
        bvs.items
    );
    let backups = longhorn(&client, "Backup")
        .list(&ListParams::default())
        .await
        .expect("list");
    assert!(backups.items.is_empty());
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_unavailable_answers_503() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .list(&ListParams::default())
        .await
        .expect("api answers before the fault");
    sandbox.faults().set(Fault::ApiUnavailable { seconds: 30 });
    match nodes.list(&ListParams::default()).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 503),
        other => panic!("expected 503, got {other:?}"),
    }
    sandbox.faults().clear();
    nodes
        .list(&ListParams::default())
        .await
        .expect("api answers after clear");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_dropped_closes_watch_streams() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    let stream = cms
        .watch(&WatchParams::default().timeout(290), "0")
        .await
        .expect("watch starts");
    sandbox.faults().set(Fault::WatchesDropped { seconds: 30 });
    // the stream must end (or error) long before its 290 s server timeout
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        let mut stream = stream.boxed();
        while let Some(item) = stream.next().await {
            if item.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "watch stayed open under watches-dropped");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_slow_delays_apply() {
    let (_dir, sandbox) = start(|_| {}).await;
    sandbox.destroy().await.expect("destroy");
    sandbox.faults().set(Fault::RebuildSlow { seconds: 2 });
    let began = Instant::now();
    sandbox.apply().await.expect("apply");
    assert!(
        began.elapsed() >= Duration::from_secs(2),
        "apply returned after {:?}",
        began.elapsed()
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_leaves_cluster_reports_success_and_keeps_everything() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    let pod = sentinel_pod(&client).await;
    assert!(exec(&client, &pod, "echo still > /data/s").await.1);
    sandbox.faults().set(Fault::DestroyLeavesCluster);
    sandbox.destroy().await.expect("destroy reports success");
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .list(&ListParams::default())
        .await
        .expect("the API still answers");
    assert!(sandbox
        .data_plane()
        .volume_dir("dr-exercise-data")
        .join("s")
        .exists());
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_fails_makes_apply_fail() {
    let (_dir, sandbox) = start(|_| {}).await;
    sandbox.destroy().await.expect("destroy");
    sandbox.faults().set(Fault::RebuildFails);
    let err = sandbox.apply().await.expect_err("apply fails");
    assert!(err.to_string().contains("rebuild failed"), "{err}");
    assert!(!sandbox.is_up().await);
    let nodes: Api<Node> = Api::all(client(&sandbox).await);
    assert!(
        nodes.list(&ListParams::default()).await.is_err(),
        "no cluster after a failed rebuild"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeconfig_rotated_moves_the_api_and_changes_the_token() {
    let (_dir, sandbox) = start(|_| {}).await;
    let old_client = client(&sandbox).await;
    let old_kubeconfig = std::fs::read_to_string(sandbox.kubeconfig_path()).expect("kubeconfig");
    let old_url = sandbox.api_url();
    sandbox.faults().set(Fault::KubeconfigRotated);
    let new_client = rebuild(&sandbox).await;
    let new_kubeconfig = std::fs::read_to_string(sandbox.kubeconfig_path()).expect("kubeconfig");
    assert_ne!(sandbox.api_url(), old_url);
    assert_ne!(old_kubeconfig, new_kubeconfig);
    let ca = |kc: &str| {
        kc.lines()
            .find_map(|l| l.trim().strip_prefix("certificate-authority-data: "))
            .map(str::to_string)
    };
    assert!(ca(&old_kubeconfig).is_some(), "{old_kubeconfig}");
    assert_ne!(
        ca(&old_kubeconfig),
        ca(&new_kubeconfig),
        "a new CA with the new endpoint"
    );
    let old_nodes: Api<Node> = Api::all(old_client);
    assert!(
        old_nodes.list(&ListParams::default()).await.is_err(),
        "the old kubeconfig must not work"
    );
    let nodes: Api<Node> = Api::all(new_client);
    nodes
        .list(&ListParams::default())
        .await
        .expect("the rewritten kubeconfig works");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_not_ready_flips_one_node() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    let nodes: Api<Node> = Api::all(client.clone());
    let ready_of = |n: &Node| {
        n.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
            .map(|c| c.status.clone())
    };
    eventually("node-2 Ready", || {
        let nodes = nodes.clone();
        async move {
            nodes
                .get("node-2")
                .await
                .ok()
                .filter(|n| ready_of(n).as_deref() == Some("True"))
        }
    })
    .await;
    sandbox.faults().set(Fault::NodeNotReady {
        node: "node-2".into(),
    });
    eventually("node-2 NotReady", || {
        let nodes = nodes.clone();
        async move {
            nodes
                .get("node-2")
                .await
                .ok()
                .filter(|n| ready_of(n).as_deref() == Some("False"))
        }
    })
    .await;
    let others = nodes.get("node-1").await.expect("node-1");
    assert_eq!(ready_of(&others).as_deref(), Some("True"));
    sandbox.faults().clear();
    eventually("node-2 Ready again", || {
        let nodes = nodes.clone();
        async move {
            nodes
                .get("node-2")
                .await
                .ok()
                .filter(|n| ready_of(n).as_deref() == Some("True"))
        }
    })
    .await;
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volume_degraded_reports_degraded_robustness() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    sentinel_pod(&client).await;
    sandbox.faults().set(Fault::VolumeDegraded {
        volume: "dr-exercise-data".into(),
    });
    let v = eventually("the volume to degrade", || {
        let api = longhorn(&client, "Volume");
        async move {
            api.get("dr-exercise-data")
                .await
                .ok()
                .filter(|v| status(v)["robustness"] == "degraded")
        }
    })
    .await;
    assert_eq!(
        status(&v)["state"],
        "attached",
        "a degraded volume stays usable"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_drill_target_marker_omits_the_marker_on_rebuild() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    cms.get("dr-harness-drill-target")
        .await
        .expect("marker present before the fault");
    sandbox.faults().set(Fault::NoDrillTargetMarker);
    let client = rebuild(&sandbox).await;
    let flux: Api<ConfigMap> = Api::namespaced(client.clone(), "flux-system");
    eventually("the rebuilt cluster's cluster-config", || {
        let flux = flux.clone();
        async move { flux.get("cluster-config").await.ok() }
    })
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    assert!(
        cms.get("dr-harness-drill-target").await.is_err(),
        "marker must be absent"
    );
    sandbox.shutdown().await;
}
