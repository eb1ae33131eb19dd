//! Shared helpers for the sandbox lifecycle tests: start a sandbox in a tempdir, build a real
//! `kube` client from its kubeconfig, wait for conditions by polling the API, exec in pods,
//! and drive Longhorn snapshots/backups through the API as the harness does.

#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use dr_sandbox::{Sandbox, SandboxOptions, Timing};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, DynamicObject, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, Config};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::io::AsyncReadExt;

/// Longhorn's namespace.
pub const LH_NS: &str = "longhorn-system";
/// How long any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(90);

/// Starts a fast sandbox in a fresh tempdir; `tweak` adjusts the options.
pub async fn start(tweak: impl FnOnce(&mut SandboxOptions)) -> (TempDir, Sandbox) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = SandboxOptions::new(dir.path().join("state"));
    opts.timing = Timing::fast();
    tweak(&mut opts);
    let sandbox = Sandbox::start(opts).await.expect("sandbox starts");
    (dir, sandbox)
}

/// A kube client from the sandbox's kubeconfig file, with kube's silent retries off so that
/// injected API faults are visible.
pub async fn client(sandbox: &Sandbox) -> Client {
    let kubeconfig = Kubeconfig::read_from(sandbox.kubeconfig_path()).expect("kubeconfig readable");
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig valid");
    config.default_retry = false;
    Client::try_from(config).expect("client")
}

/// Polls `check` every 50 ms until it returns `Some`, failing the test after [`WAIT`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A dynamic API for a Longhorn kind in `longhorn-system`.
pub fn longhorn(client: &Client, kind: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk("longhorn.io", "v1beta2", kind));
    Api::namespaced_with(client.clone(), LH_NS, &ar)
}

/// A dynamic API for a Flux Kustomization in `flux-system`.
pub fn kustomizations(client: &Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "Kustomization",
    ));
    Api::namespaced_with(client.clone(), "flux-system", &ar)
}

/// The object's `status` as JSON (`Null` when absent).
pub fn status(obj: &DynamicObject) -> Value {
    obj.data.get("status").cloned().unwrap_or(Value::Null)
}

/// Waits until the sentinel Deployment's pod runs and returns its name.
pub async fn sentinel_pod(client: &Client) -> String {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "dr-exercise");
    eventually("the sentinel pod to run", || {
        let pods = pods.clone();
        async move {
            let list = pods
                .list(&ListParams::default().labels("app=dr-exercise"))
                .await
                .ok()?;
            list.items.into_iter().find_map(|p| {
                let running = p.status.as_ref()?.phase.as_deref() == Some("Running");
                running.then(|| p.metadata.name.clone()).flatten()
            })
        }
    })
    .await
}

/// Runs `sh -c script` in the sentinel container; returns (stdout, success).
pub async fn exec(client: &Client, pod: &str, script: &str) -> (String, bool) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "dr-exercise");
    let params = AttachParams::default()
        .stdin(false)
        .stdout(true)
        .stderr(true)
        .container("sentinel");
    let mut proc = pods
        .exec(pod, vec!["sh", "-c", script], &params)
        .await
        .expect("exec starts");
    let mut out = String::new();
    if let Some(mut stdout) = proc.stdout() {
        stdout
            .read_to_string(&mut out)
            .await
            .expect("stdout readable");
    }
    let status = proc.take_status().expect("status channel").await;
    let ok = status.as_ref().and_then(|s| s.status.as_deref()) == Some("Success");
    (out, ok)
}

/// Creates a Snapshot of `vol` and waits until it is ready to use.
pub async fn snapshot(client: &Client, vol: &str, snap: &str) -> DynamicObject {
    let api = longhorn(client, "Snapshot");
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "longhorn.io/v1beta2", "kind": "Snapshot",
        "metadata": {"name": snap, "namespace": LH_NS},
        "spec": {"volume": vol, "createSnapshot": true},
    }))
    .expect("snapshot object");
    api.create(&PostParams::default(), &obj)
        .await
        .expect("snapshot created");
    eventually("the snapshot to be ready", || {
        let api = api.clone();
        async move {
            let s = api.get(snap).await.ok()?;
            (status(&s)["readyToUse"] == json!(true)).then_some(s)
        }
    })
    .await
}

/// Creates a Backup of snapshot `snap` and waits until it leaves the in-flight states. Sets the
/// `backup-volume` label to the snapshot's volume, as Longhorn 1.7–1.9 require of clients.
pub async fn backup(client: &Client, snap: &str, name: &str) -> DynamicObject {
    let snapshot = longhorn(client, "Snapshot")
        .get(snap)
        .await
        .expect("the snapshot to back up exists");
    let vol = snapshot.data["spec"]["volume"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let api = longhorn(client, "Backup");
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "longhorn.io/v1beta2", "kind": "Backup",
        "metadata": {"name": name, "namespace": LH_NS, "labels": {"backup-volume": vol}},
        "spec": {"snapshotName": snap, "labels": {"drill": "test"}},
    }))
    .expect("backup object");
    api.create(&PostParams::default(), &obj)
        .await
        .expect("backup created");
    eventually("the backup to finish", || {
        let api = api.clone();
        async move {
            let b = api.get(name).await.ok()?;
            matches!(
                status(&b)["state"].as_str(),
                Some("Completed") | Some("Error") | Some("Unknown")
            )
            .then_some(b)
        }
    })
    .await
}

/// Writes `script` into the sentinel volume, snapshots and backs it up; returns the Backup.
pub async fn write_and_backup(client: &Client, script: &str, tag: &str) -> DynamicObject {
    let pod = sentinel_pod(client).await;
    let (_, ok) = exec(client, &pod, script).await;
    assert!(ok, "writing sentinel data with {script:?} failed");
    snapshot(client, "dr-exercise-data", &format!("snap-{tag}")).await;
    backup(client, &format!("snap-{tag}"), &format!("backup-{tag}")).await
}

/// Creates a Longhorn Volume restoring from `url` and waits until the restore ended; returns it.
/// Waits for the BackupVolume first: Longhorn's webhook refuses a restore before the backup
/// target has synced it.
pub async fn restore_volume(client: &Client, name: &str, url: &str) -> DynamicObject {
    let vol = url.rsplit("volume=").next().unwrap_or_default().to_string();
    discovered_backup_volume(client, &vol).await;
    restore_now(client, name, url).await
}

/// Creates a Longhorn Volume restoring from `url` at once (the BackupVolume must exist) and
/// waits until the restore ended, done or faulted; returns it.
pub async fn restore_now(client: &Client, name: &str, url: &str) -> DynamicObject {
    let api = longhorn(client, "Volume");
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "longhorn.io/v1beta2", "kind": "Volume",
        "metadata": {"name": name, "namespace": LH_NS},
        "spec": {"fromBackup": url, "numberOfReplicas": 3, "size": "1", "accessMode": "rwo"},
    }))
    .expect("volume object");
    api.create(&PostParams::default(), &obj)
        .await
        .expect("restore volume created");
    eventually("the restore to end", || {
        let api = api.clone();
        async move {
            let v = api.get(name).await.ok()?;
            let st = status(&v);
            let done = st["restoreRequired"] == json!(false) && st["state"] == json!("detached");
            let failed = st["robustness"] == json!("faulted");
            (done || failed).then_some(v)
        }
    })
    .await
}

/// Destroys and rebuilds the cluster, then returns a fresh client.
pub async fn rebuild(sandbox: &Sandbox) -> Client {
    sandbox.destroy().await.expect("destroy");
    sandbox.apply().await.expect("apply");
    client(sandbox).await
}

/// Waits until the BackupTarget discovered a BackupVolume for `vol` (by label on 1.8+, by
/// name on 1.7) and its status is filled (`lastSyncedAt` set), and returns it.
pub async fn discovered_backup_volume(client: &Client, vol: &str) -> DynamicObject {
    let api = longhorn(client, "BackupVolume");
    eventually("the BackupVolume to be discovered", || {
        let api = api.clone();
        async move {
            api.list(&ListParams::default())
                .await
                .ok()?
                .items
                .into_iter()
                .find(|bv| {
                    let named = bv.metadata.name.as_deref() == Some(vol);
                    let labelled = bv
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get("backup-volume"))
                        .map(String::as_str)
                        == Some(vol);
                    (named || labelled) && status(bv)["lastSyncedAt"].is_string()
                })
        }
    })
    .await
}

/// Waits until the Backup object `name` exists (synced from S3 after a rebuild).
pub async fn discovered_backup(client: &Client, name: &str) -> DynamicObject {
    let api = longhorn(client, "Backup");
    eventually("the Backup to be discovered", || {
        let api = api.clone();
        async move { api.get(name).await.ok() }
    })
    .await
}
