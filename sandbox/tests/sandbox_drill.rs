//! End-to-end sandbox behaviour through a real `kube` client: bootstrap, sentinel exec,
//! snapshot, backup into the real Longhorn S3 layout, destroy, rebuild, discovery, restore.

mod sandbox_support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, PersistentVolumeClaim, Pod};
use kube::api::{Api, ListParams, PostParams};
use kube::ResourceExt;
use serde_json::{json, Value};

use dr_backupstore::BackupStore;
use sandbox_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_brings_up_nodes_longhorn_flux_and_the_sentinel() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;

    let nodes: Api<Node> = Api::all(client.clone());
    let ready = eventually("three Ready nodes", || {
        let nodes = nodes.clone();
        async move {
            let list = nodes.list(&ListParams::default()).await.ok()?;
            let ready: Vec<String> = list
                .items
                .iter()
                .filter(|n| {
                    n.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|cs| {
                            cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                        })
                })
                .map(|n| n.name_any())
                .collect();
            (ready.len() == 3).then_some(ready)
        }
    })
    .await;
    assert_eq!(ready, ["node-1", "node-2", "node-3"]);

    let bt = eventually("the BackupTarget to be available", || {
        let api = longhorn(&client, "BackupTarget");
        async move {
            let bt = api.get("default").await.ok()?;
            (status(&bt)["available"] == json!(true)).then_some(bt)
        }
    })
    .await;
    assert_eq!(
        bt.data["spec"]["backupTargetURL"],
        json!(sandbox.backup_target_url())
    );
    assert_eq!(
        bt.data["spec"]["credentialSecret"],
        "longhorn-backup-credentials"
    );

    let pod = sentinel_pod(&client).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "dr-exercise");
    let d = deployments
        .get("dr-exercise")
        .await
        .expect("sentinel deployment");
    let st = d.status.expect("deployment status");
    assert_eq!(st.ready_replicas, Some(1));
    assert!(st
        .conditions
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Available" && c.status == "True"));

    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "dr-exercise");
    let pvc = pvcs.get("dr-exercise-data").await.expect("sentinel pvc");
    let pvc_status = pvc.status.expect("pvc status");
    assert_eq!(pvc_status.phase.as_deref(), Some("Bound"));
    assert_eq!(
        pvc.spec.and_then(|s| s.volume_name).as_deref(),
        Some("dr-exercise-data")
    );
    let vol = longhorn(&client, "Volume")
        .get("dr-exercise-data")
        .await
        .expect("longhorn volume");
    assert_eq!(
        vol.data["spec"]["fromBackup"], "",
        "no backup exists: the volume is fresh"
    );
    assert_eq!(
        status(&vol)["state"],
        "attached",
        "the running sentinel pod has it attached"
    );
    assert_eq!(
        status(&vol)["kubernetesStatus"]["pvcName"],
        "dr-exercise-data"
    );

    // the cluster identity, system pods, marker and GitOps chain
    let namespaces: Api<Namespace> = Api::all(client.clone());
    assert!(namespaces
        .get("kube-system")
        .await
        .expect("kube-system")
        .uid()
        .is_some());
    let marker: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    let m = marker
        .get("dr-harness-drill-target")
        .await
        .expect("drill-target marker");
    assert_eq!(
        m.data
            .unwrap_or_default()
            .get("cluster")
            .map(String::as_str),
        Some("sandbox")
    );
    let ks = eventually("all Kustomizations Ready", || {
        let api = kustomizations(&client);
        async move {
            let list = api.list(&ListParams::default()).await.ok()?;
            let all_ready = list.items.len() == 3
                && list.items.iter().all(|k| {
                    status(k)["conditions"].as_array().is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
                });
            all_ready.then_some(list.items)
        }
    })
    .await;
    assert!(ks.iter().all(|k| status(k)["lastAppliedRevision"]
        .as_str()
        .is_some_and(|r| r.starts_with("main@sha1:"))));
    let coredns: Api<Pod> = Api::namespaced(client.clone(), "kube-system");
    let running = eventually("coredns pods running", || {
        let api = coredns.clone();
        async move {
            let list = api
                .list(&ListParams::default().labels("k8s-app=kube-dns"))
                .await
                .ok()?;
            let n = list
                .items
                .iter()
                .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
                .count();
            (n == 2).then_some(n)
        }
    })
    .await;
    assert_eq!(running, 2);

    // exec reaches the volume's directory in the data plane
    let (_, ok) = exec(&client, &pod, "echo hi > /data/x").await;
    assert!(ok, "exec succeeded");
    let on_disk = std::fs::read_to_string(
        sandbox
            .data_plane()
            .volume_dir("dr-exercise-data")
            .join("x"),
    )
    .expect("written file");
    assert_eq!(on_disk, "hi\n");

    // state files
    let info: Value = serde_json::from_str(
        &std::fs::read_to_string(sandbox.state_dir().join("sandbox.json")).expect("sandbox.json"),
    )
    .expect("json");
    assert_eq!(
        info["backup_target_url"],
        json!(format!("s3://{}@us-east-1/", sandbox.s3().bucket()))
    );
    assert_eq!(info["api_url"], json!(sandbox.api_url()));
    assert!(info["control_url"]
        .as_str()
        .is_some_and(|u| u.starts_with("http://127.0.0.1:")));
    for secret_file in ["kubeconfig", "s3.env", "control.json"] {
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(sandbox.state_dir().join(secret_file))
                .expect("state file")
                .permissions(),
        );
        assert_eq!(
            mode & 0o077,
            0,
            "{secret_file} is readable by others: {mode:o}"
        );
    }
    let env = std::fs::read_to_string(sandbox.state_dir().join("s3.env")).expect("s3.env");
    assert!(env.contains("AWS_ACCESS_KEY_ID"));
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_survives_destroy_and_restores_after_rebuild() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    let b = write_and_backup(
        &client,
        "echo hi > /data/x && mkdir -p /data/d && echo deep > /data/d/y",
        "one",
    )
    .await;
    let st = status(&b);
    assert_eq!(st["state"], "Completed", "backup failed: {st}");
    let url = st["url"].as_str().expect("url").to_string();
    assert_eq!(
        url,
        format!(
            "s3://{}@us-east-1/?backup=backup-one&volume=dr-exercise-data",
            sandbox.s3().bucket()
        )
    );
    assert_eq!(st["volumeName"], "dr-exercise-data");
    assert_eq!(st["compressionMethod"], "lz4");
    assert_eq!(st["backupTargetName"], "default");
    assert!(st["backupCreatedAt"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    assert_eq!(
        b.labels().get("backup-volume").map(String::as_str),
        Some("dr-exercise-data")
    );

    // the S3 objects exist at Longhorn's layout
    let bs = BackupStore::new(sandbox.s3().client(), sandbox.s3().bucket(), "backupstore/");
    let vcfg = bs
        .get_volume_cfg("dr-exercise-data")
        .await
        .expect("s3")
        .expect("volume.cfg");
    assert_eq!(vcfg.last_backup_name, "backup-one");
    let cfg = bs
        .get_backup_cfg("dr-exercise-data", "backup-one")
        .await
        .expect("s3")
        .expect("backup cfg");
    assert!(cfg.is_complete());
    assert!(!cfg.blocks.is_empty());
    for block in &cfg.blocks {
        let key = bs.block_key("dr-exercise-data", &block.block_checksum);
        assert!(
            bs.head(&key).await.expect("s3").is_some(),
            "block {key} missing"
        );
    }

    // destroy: API refuses connections, volumes gone, S3 kept
    let vol_dir = sandbox.data_plane().volume_dir("dr-exercise-data");
    assert!(vol_dir.exists());
    sandbox.destroy().await.expect("destroy");
    let nodes: Api<Node> = Api::all(client.clone());
    let err = nodes
        .list(&ListParams::default())
        .await
        .expect_err("destroyed cluster answers nothing");
    assert!(
        format!("{err:?}").to_lowercase().contains("connect"),
        "unexpected error {err:?}"
    );
    assert!(!vol_dir.exists(), "volume data survived destroy");
    assert!(bs
        .get_backup_cfg("dr-exercise-data", "backup-one")
        .await
        .expect("s3")
        .is_some());
    sandbox.destroy().await.expect("destroy is idempotent");

    // apply: BackupVolume discovered with 1.8 naming, Backup synced, restore works
    let url_before = sandbox.api_url();
    let kubeconfig_before = std::fs::read_to_string(sandbox.kubeconfig_path()).expect("kubeconfig");
    sandbox.apply().await.expect("apply");
    assert_eq!(
        std::fs::read_to_string(sandbox.kubeconfig_path()).expect("kubeconfig"),
        kubeconfig_before,
        "a rebuild keeps the endpoint, token and CA"
    );
    assert_eq!(
        sandbox.api_url(),
        url_before,
        "a rebuild serves the same URL"
    );
    nodes
        .list(&ListParams::default())
        .await
        .expect("the old kubeconfig works again after apply");
    let err = sandbox.apply().await.expect_err("apply twice");
    assert!(err.to_string().contains("cluster exists"));
    let client = sandbox_support::client(&sandbox).await;
    let bv = discovered_backup_volume(&client, "dr-exercise-data").await;
    let bv_name = bv.name_any();
    let suffix = bv_name
        .strip_prefix("dr-exercise-data-")
        .expect("1.8 name prefix");
    assert_eq!(suffix.len(), 8);
    assert_eq!(bv.data["spec"]["volumeName"], "dr-exercise-data");
    assert_eq!(
        bv.labels().get("backup-target").map(String::as_str),
        Some("default")
    );
    assert_eq!(status(&bv)["lastBackupName"], "backup-one");
    let synced = discovered_backup(&client, "backup-one").await;
    assert_eq!(status(&synced)["url"], json!(url));
    assert_eq!(status(&synced)["state"], "Completed");

    let restored = restore_volume(&client, "restored", &url).await;
    let st = status(&restored);
    assert_eq!(
        st["robustness"], "unknown",
        "restore failed (detached: unknown): {st}"
    );
    assert_eq!(
        restored.labels().get("backup-volume").map(String::as_str),
        Some("dr-exercise-data")
    );
    assert_eq!(
        restored.data["spec"]["size"],
        json!(status(&synced)["volumeSize"]),
        "webhook took the size from the Backup"
    );
    let dir = sandbox.data_plane().volume_dir("restored");
    assert_eq!(
        std::fs::read_to_string(dir.join("x")).expect("x restored"),
        "hi\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("d/y")).expect("d/y restored"),
        "deep\n"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn longhorn_1_7_names_backup_volumes_after_the_volume() {
    let (_dir, sandbox) = start(|o| o.longhorn_version = dr_sandbox::LonghornVersion::V1_7_3).await;
    let client = client(&sandbox).await;
    let b = write_and_backup(&client, "echo seven > /data/v", "v17").await;
    assert_eq!(status(&b)["state"], "Completed");
    assert!(
        status(&b).get("backupTargetName").is_none(),
        "1.7 has no backupTargetName"
    );
    let client = rebuild(&sandbox).await;
    // by name on 1.7, once the backup-volume controller filled its status
    let bv = discovered_backup_volume(&client, "dr-exercise-data").await;
    assert_eq!(bv.name_any(), "dr-exercise-data");
    assert!(
        bv.labels().get("backup-volume").is_none(),
        "1.7 BackupVolumes carry no labels"
    );
    assert_eq!(status(&bv)["lastBackupName"], "backup-v17");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_denies_restoring_a_backup_that_does_not_exist() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    eventually("the BackupTarget to sync", || {
        let api = longhorn(&client, "BackupTarget");
        async move {
            api.get("default")
                .await
                .ok()
                .filter(|bt| status(bt)["lastSyncedAt"].is_string())
        }
    })
    .await;
    let api = longhorn(&client, "Volume");
    let url = format!(
        "s3://{}@us-east-1/?backup=backup-0000000000000000&volume=ghost",
        sandbox.s3().bucket()
    );
    let obj = serde_json::from_value(json!({
        "apiVersion": "longhorn.io/v1beta2", "kind": "Volume",
        "metadata": {"name": "ghost", "namespace": LH_NS},
        "spec": {"fromBackup": url, "size": "1073741824"},
    }))
    .expect("object");
    let err = api
        .create(&PostParams::default(), &obj)
        .await
        .expect_err("denied");
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 422);
            assert!(
                status.message.contains("denied the request"),
                "{}",
                status.message
            );
            // 1.8+ look the Backup up first (longhorn-manager@v1.9.1 volume mutator)
            assert!(
                status
                    .message
                    .contains("cannot get backup backup-0000000000000000"),
                "{}",
                status.message
            );
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert!(
        api.get("ghost").await.is_err(),
        "denied volume must not exist"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "slow: realistic timing takes about half a minute; run with -- --ignored"]
async fn realistic_timing_bootstraps_the_sentinel() {
    let (_dir, sandbox) = start(|o| o.timing = dr_sandbox::Timing::realistic()).await;
    let client = client(&sandbox).await;
    let pod = sentinel_pod(&client).await;
    let (out, ok) = exec(&client, &pod, "echo realistic").await;
    assert!(ok);
    assert_eq!(out, "realistic\n");
    sandbox.shutdown().await;
}
