//! The control endpoint (what `dr-harness sandbox destroy|apply|fault|status|down` call) and the
//! backup-aware bootstrap with a restore-orchestrator stand-in run as the Job's binary.

mod sandbox_support;

use std::path::Path;

use dr_sandbox::control::{request, ControlCommand, ControlError};
use dr_sandbox::Fault;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};
use serde_json::json;

use sandbox_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_endpoint_drives_destroy_apply_faults_and_down() {
    let (_dir, sandbox) = start(|_| {}).await;
    let state = sandbox.state_dir().to_path_buf();
    let st = request(&state, ControlCommand::Status)
        .await
        .expect("status");
    assert_eq!(st["cluster"], "up");
    assert_eq!(st["api_url"], json!(sandbox.api_url()));

    let set = request(
        &state,
        ControlCommand::SetFault(Fault::NodeNotReady {
            node: "node-3".into(),
        }),
    )
    .await
    .expect("fault set");
    assert_eq!(set["faults"][0]["name"], "node-not-ready");
    assert!(sandbox.faults().node_not_ready("node-3"));
    request(&state, ControlCommand::ClearFaults)
        .await
        .expect("faults cleared");
    assert!(sandbox.faults().active().is_empty());

    request(&state, ControlCommand::Destroy)
        .await
        .expect("destroy");
    assert_eq!(
        request(&state, ControlCommand::Status)
            .await
            .expect("status")["cluster"],
        "destroyed"
    );
    let nodes: Api<Node> = Api::all(client(&sandbox).await);
    assert!(
        nodes.list(&ListParams::default()).await.is_err(),
        "API refuses after destroy"
    );

    request(&state, ControlCommand::Apply).await.expect("apply");
    let nodes: Api<Node> = Api::all(client(&sandbox).await);
    nodes
        .list(&ListParams::default())
        .await
        .expect("API answers after apply");
    match request(&state, ControlCommand::Apply).await {
        Err(ControlError::Failed {
            status, message, ..
        }) => {
            assert_eq!(status, 409);
            assert!(message.contains("cluster exists"), "{message}");
        }
        other => panic!("expected a 409, got {other:?}"),
    }
    request(&state, ControlCommand::SetFault(Fault::RebuildFails))
        .await
        .expect("fault");
    request(&state, ControlCommand::Destroy)
        .await
        .expect("destroy");
    match request(&state, ControlCommand::Apply).await {
        Err(ControlError::Failed { status, .. }) => assert_eq!(status, 500),
        other => panic!("expected a failed rebuild, got {other:?}"),
    }

    let waiter = {
        let sandbox = sandbox.clone();
        tokio::spawn(async move { sandbox.wait_stopped().await })
    };
    request(&state, ControlCommand::Down).await.expect("down");
    tokio::time::timeout(std::time::Duration::from_secs(10), waiter)
        .await
        .expect("wait_stopped returns after /down")
        .expect("task");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn control_request_without_a_sandbox_says_not_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    match request(dir.path(), ControlCommand::Status).await {
        Err(ControlError::NotRunning { path, .. }) => assert!(path.ends_with("control.json")),
        other => panic!("expected NotRunning, got {other:?}"),
    }
}

/// A stand-in for `dr-harness restore-orchestrator` using kubectl: find the BackupVolume by label
/// (1.8 naming), take its last backup's URL, create the Volume with `fromBackup`, wait for the
/// restore. The PVC controller then provisions the PV for the existing volume.
const STAND_IN: &str = r#"#!/bin/sh
set -eu
vol=dr-exercise-data
last=$(kubectl -n longhorn-system get backupvolumes.longhorn.io -l backup-volume=$vol -o jsonpath='{.items[0].status.lastBackupName}' 2>/dev/null || true)
if [ -z "$last" ]; then echo "no backup of $vol: a fresh volume will be created"; exit 0; fi
url=$(kubectl -n longhorn-system get backups.longhorn.io "$last" -o jsonpath='{.status.url}')
echo "restoring $vol from $url"
cat <<EOF | kubectl apply --validate=false -f -
apiVersion: longhorn.io/v1beta2
kind: Volume
metadata:
  name: $vol
  namespace: longhorn-system
spec:
  fromBackup: "$url"
  numberOfReplicas: 3
  accessMode: rwo
  size: "1"
EOF
kubectl -n longhorn-system wait volumes.longhorn.io/$vol --for=jsonpath='{.status.restoreRequired}'=false --timeout=60s
echo restored
"#;

fn write_stand_in(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("dr-harness");
    std::fs::write(&path, STAND_IN).expect("script written");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_aware_bootstrap_restores_the_sentinel_with_an_orchestrator_stand_in() {
    if which_kubectl().is_none() {
        eprintln!("skipped: kubectl is not on PATH (the stand-in orchestrator needs it)");
        return;
    }
    let scripts = tempfile::tempdir().expect("tempdir");
    let stand_in = write_stand_in(scripts.path());
    let (_dir, sandbox) = start(|o| o.harness_bin = Some(stand_in.clone())).await;
    let client = client(&sandbox).await;
    let b = write_and_backup(&client, "echo survived > /data/sentinel.txt", "boot").await;
    assert_eq!(status(&b)["state"], "Completed");

    let client = rebuild(&sandbox).await;
    let pod = sentinel_pod(&client).await;
    let vol = longhorn(&client, "Volume")
        .get("dr-exercise-data")
        .await
        .expect("volume");
    assert_eq!(
        vol.data["spec"]["fromBackup"],
        status(&b)["url"],
        "the orchestrator restored from the backup"
    );
    let (out, ok) = exec(&client, &pod, "cat /data/sentinel.txt").await;
    assert!(ok, "cat failed");
    assert_eq!(out, "survived\n");
    sandbox.shutdown().await;
}

fn which_kubectl() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join("kubectl"))
        .find(|p| p.is_file())
}

/// The real `dr-harness restore-orchestrator` as the Job's binary (opt-in: set
/// `DR_HARNESS_BIN=/path/to/dr-harness`; the lead's suite covers it end to end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_aware_bootstrap_with_the_real_orchestrator() {
    let Some(bin) = std::env::var_os("DR_HARNESS_BIN").map(std::path::PathBuf::from) else {
        eprintln!("skipped: DR_HARNESS_BIN is not set");
        return;
    };
    let (_dir, sandbox) = start(|o| o.harness_bin = Some(bin.clone())).await;
    let client = client(&sandbox).await;
    let b = write_and_backup(&client, "echo real > /data/sentinel.txt", "real").await;
    assert_eq!(status(&b)["state"], "Completed");
    let client = rebuild(&sandbox).await;
    let pod = sentinel_pod(&client).await;
    let vol = longhorn(&client, "Volume")
        .get("dr-exercise-data")
        .await
        .expect("volume");
    assert_eq!(vol.data["spec"]["fromBackup"], status(&b)["url"]);
    let (out, ok) = exec(&client, &pod, "cat /data/sentinel.txt").await;
    assert!(ok);
    assert_eq!(out, "real\n");
    sandbox.shutdown().await;
}
