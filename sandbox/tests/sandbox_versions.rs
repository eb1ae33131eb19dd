//! The simulated Longhorn per release (`SandboxOptions::longhorn_version`): every rule that
//! differs between 1.7.1, 1.7.3, 1.8.2, 1.9.1 and 1.10.1, observed through the API (and the real
//! `kubectl` where a client's view matters) — the sources are cited in
//! `src/controllers/version.rs`.

mod sandbox_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use dr_sandbox::api::resources::{LH_BACKUPTARGETS, LH_BACKUPVOLUMES, LH_SETTINGS, LH_VOLUMES};
use dr_sandbox::api::EventType;
use dr_sandbox::{LonghornVersion, Sandbox};
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::Client;
use sandbox_support::*;
use serde_json::{json, Value};

const VOL: &str = "dr-exercise-data";

fn kubectl_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
}

/// `kubectl apply -f -` of `yaml` against the sandbox; (success, stdout + stderr).
async fn kubectl_apply(bin: &Path, sandbox: &Sandbox, yaml: &str) -> (bool, String) {
    use tokio::io::AsyncWriteExt;
    let cache = tempfile::tempdir().expect("cache dir");
    let mut child = tokio::process::Command::new(bin)
        .arg("--kubeconfig")
        .arg(sandbox.kubeconfig_path())
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["apply", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl starts");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(yaml.as_bytes()).await.expect("write stdin");
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("kubectl finishes in time")
        .expect("kubectl output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn backup_yaml(name: &str, snap: &str, labelled: bool) -> String {
    let labels = if labelled {
        format!("  labels:\n    backup-volume: {VOL}\n")
    } else {
        String::new()
    };
    format!(
        "apiVersion: longhorn.io/v1beta2\nkind: Backup\nmetadata:\n  name: {name}\n  namespace: longhorn-system\n{labels}spec:\n  snapshotName: {snap}\n"
    )
}

/// A ready snapshot of the sentinel volume (the volume exists once the sentinel pod runs).
async fn sentinel_snapshot(client: &Client, snap: &str) {
    sentinel_pod(client).await;
    snapshot(client, VOL, snap).await;
}

async fn start_version(v: LonghornVersion) -> (tempfile::TempDir, Sandbox) {
    start(|o| o.longhorn_version = v).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_backup_without_the_volume_label_is_refused_on_1_9_1() {
    let Some(bin) = kubectl_path() else {
        eprintln!("skipped: kubectl is not on PATH");
        return;
    };
    let (_dir, sandbox) = start_version(LonghornVersion::V1_9_1).await;
    let client = client(&sandbox).await;
    sentinel_snapshot(&client, "snap-k").await;
    let (ok, out) = kubectl_apply(
        &bin,
        &sandbox,
        &backup_yaml("backup-nolabel", "snap-k", false),
    )
    .await;
    assert!(
        !ok,
        "1.9.1 must refuse a Backup without backup-volume: {out}"
    );
    // the mutator panics on a nil-wrapped error: the API server reports the failed webhook call
    assert!(
        out.contains("InternalError")
            && out.contains("failed calling webhook \"mutator.longhorn.io\"")
            && out.contains("EOF"),
        "{out}"
    );
    assert!(
        longhorn(&client, "Backup")
            .get("backup-nolabel")
            .await
            .is_err(),
        "nothing stored"
    );
    let (ok, out) =
        kubectl_apply(&bin, &sandbox, &backup_yaml("backup-label", "snap-k", true)).await;
    assert!(ok, "a labelled Backup is accepted: {out}");
    let b = longhorn(&client, "Backup")
        .get("backup-label")
        .await
        .expect("stored");
    assert_eq!(
        b.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("backup-target"))
            .map(String::as_str),
        Some("default"),
        "1.8+ add the backup-target label"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_backup_without_the_volume_label_is_accepted_on_1_10_1() {
    let Some(bin) = kubectl_path() else {
        eprintln!("skipped: kubectl is not on PATH");
        return;
    };
    let (_dir, sandbox) = start_version(LonghornVersion::V1_10_1).await;
    let client = client(&sandbox).await;
    sentinel_snapshot(&client, "snap-k").await;
    let (ok, out) = kubectl_apply(
        &bin,
        &sandbox,
        &backup_yaml("backup-nolabel", "snap-k", false),
    )
    .await;
    assert!(ok, "1.10 derives the label from the snapshot: {out}");
    let b = longhorn(&client, "Backup")
        .get("backup-nolabel")
        .await
        .expect("stored");
    assert_eq!(
        b.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("backup-volume"))
            .map(String::as_str),
        Some(VOL)
    );
    // neither label nor snapshot: the 1.10 mutator panics too
    let bare = "apiVersion: longhorn.io/v1beta2\nkind: Backup\nmetadata:\n  name: backup-bare\n  namespace: longhorn-system\nspec: {}\n";
    let (ok, out) = kubectl_apply(&bin, &sandbox, bare).await;
    assert!(
        !ok && out.contains("mutator.longhorn.io") && out.contains("EOF"),
        "{out}"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_volume_names_and_version_markers_follow_each_release() {
    for v in LonghornVersion::ALL {
        let (_dir, sandbox) = start_version(v).await;
        let client = client(&sandbox).await;
        let b = write_and_backup(&client, "echo v > /data/v", "names").await;
        assert_eq!(status(&b)["state"], "Completed", "{v}: {:?}", status(&b));
        let bv = discovered_backup_volume(&client, VOL).await;
        let name = bv.metadata.name.clone().unwrap_or_default();
        match v {
            LonghornVersion::V1_7_1 | LonghornVersion::V1_7_3 => {
                assert_eq!(name, VOL, "{v}");
                assert!(
                    bv.metadata.labels.is_none_or(|l| l.is_empty()),
                    "{v}: no labels"
                );
                assert!(bv.data["spec"].get("volumeName").is_none(), "{v}");
                assert!(status(&b).get("backupTargetName").is_none(), "{v}");
            }
            LonghornVersion::V1_8_2 => {
                let suffix = name.strip_prefix(&format!("{VOL}-")).expect("prefixed");
                assert_eq!(suffix.len(), 8);
                assert!(suffix.chars().all(|c| c.is_ascii_hexdigit()));
                assert_eq!(bv.data["spec"]["volumeName"], VOL);
            }
            LonghornVersion::V1_9_1 | LonghornVersion::V1_10_1 => {
                // sha256("dr-exercise-data-default"), computed independently with sha256sum
                assert_eq!(name, "dr-exercise-data-77a0e0e7", "{v}");
                assert_eq!(bv.data["spec"]["backupTargetName"], "default");
            }
        }
        let setting = sandbox
            .store()
            .get(&LH_SETTINGS, Some(LH_NS), "current-longhorn-version")
            .expect("current-longhorn-version Setting");
        assert_eq!(setting["value"], json!(v.to_string()));
        let ds = sandbox
            .store()
            .get(
                &dr_sandbox::api::resources::DAEMONSETS,
                Some(LH_NS),
                "longhorn-manager",
            )
            .expect("longhorn-manager DaemonSet");
        assert_eq!(
            ds.pointer("/spec/template/spec/containers/0/image"),
            Some(&json!(format!("longhornio/longhorn-manager:{v}")))
        );
        sandbox.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_backup_volume_has_an_empty_status_with_nulls_until_the_controller_fills_it() {
    let (_dir, sandbox) = start(|o| {
        o.timing.backup_volume_status_delay = Duration::from_secs(3);
    })
    .await;
    let client = client(&sandbox).await;
    let b = write_and_backup(&client, "echo w > /data/w", "window").await;
    assert_eq!(status(&b)["state"], "Completed");
    let api = longhorn(&client, "BackupVolume");
    let bv = eventually("the new BackupVolume", || {
        let api = api.clone();
        async move {
            api.list(&ListParams::default().labels(&format!("backup-volume={VOL}")))
                .await
                .ok()?
                .items
                .into_iter()
                .next()
        }
    })
    .await;
    let name = bv.metadata.name.clone().unwrap_or_default();
    // the raw JSON as any client reads it: explicit nulls, not missing keys
    let raw: Value = {
        let req = hyper::Request::get(format!(
            "/apis/longhorn.io/v1beta2/namespaces/{LH_NS}/backupvolumes/{name}"
        ))
        .body(Vec::new())
        .expect("request");
        let text = client.request_text(req).await.expect("raw get");
        assert!(text.contains("\"lastSyncedAt\":null"), "{text}");
        serde_json::from_str(&text).expect("json")
    };
    let st = &raw["status"];
    assert_eq!(st["lastBackupName"], "", "{raw}");
    assert!(
        st["lastSyncedAt"].is_null() && st.get("lastSyncedAt").is_some(),
        "{raw}"
    );
    assert!(
        st["lastModificationTime"].is_null() && st["labels"].is_null(),
        "{raw}"
    );
    assert!(raw["spec"]["syncRequestedAt"].is_null(), "{raw}");
    let filled = eventually("the BackupVolume status to be filled", || {
        let api = api.clone();
        let name = name.clone();
        async move {
            let bv = api.get(&name).await.ok()?;
            status(&bv)["lastSyncedAt"].is_string().then_some(bv)
        }
    })
    .await;
    assert_eq!(status(&filled)["lastBackupName"], "backup-window");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backup_target_is_created_with_null_conditions_and_last_synced_at() {
    let (_dir, sandbox) = start(|o| {
        // the BackupTarget comes after Longhorn is ready: time to subscribe first
        o.timing.longhorn_ready = Duration::from_millis(800);
    })
    .await;
    let mut rx = sandbox.store().subscribe();
    let created = tokio::time::timeout(WAIT, async {
        loop {
            let ev = rx.recv().await.expect("store events");
            if ev.event_type == EventType::Added && std::ptr::eq(ev.resource, &LH_BACKUPTARGETS) {
                return ev.object;
            }
        }
    })
    .await
    .expect("the BackupTarget is created");
    let st = &created["status"];
    assert!(
        st.get("conditions").is_some_and(Value::is_null),
        "{created}"
    );
    assert!(
        st.get("lastSyncedAt").is_some_and(Value::is_null),
        "{created}"
    );
    sandbox.shutdown().await;
}

/// Creates a Backup, then deletes its object carrying `delete-custom-resource-only: <value>`;
/// returns whether `backup_<name>.cfg` is still in S3 afterwards.
async fn cfg_survives_labelled_delete(v: LonghornVersion, value: &str) -> bool {
    let (_dir, sandbox) = start_version(v).await;
    let client = client(&sandbox).await;
    let b = write_and_backup(&client, "echo d > /data/d", "del").await;
    assert_eq!(status(&b)["state"], "Completed");
    let bs = dr_backupstore::BackupStore::new(
        sandbox.s3().client(),
        sandbox.s3().bucket(),
        "backupstore/",
    );
    assert!(bs
        .get_backup_cfg(VOL, "backup-del")
        .await
        .expect("s3")
        .is_some());
    let api = longhorn(&client, "Backup");
    api.patch(
        "backup-del",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"metadata": {"labels": {"longhorn.io/delete-custom-resource-only": value}}}),
        ),
    )
    .await
    .expect("label");
    api.delete("backup-del", &DeleteParams::default())
        .await
        .expect("delete");
    // the remote delete runs in the background: give it several controller ticks
    tokio::time::sleep(Duration::from_millis(800)).await;
    let kept = bs
        .get_backup_cfg(VOL, "backup-del")
        .await
        .expect("s3")
        .is_some();
    sandbox.shutdown().await;
    kept
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_labelled_backup_deletes_its_data_on_1_7_1_and_keeps_it_on_1_7_3() {
    assert!(
        !cfg_survives_labelled_delete(LonghornVersion::V1_7_1, "true").await,
        "1.7.1 knows no delete-custom-resource-only label: the backup goes"
    );
    // 1.7.2+ check the key's presence: any value keeps the data
    assert!(
        cfg_survives_labelled_delete(LonghornVersion::V1_7_3, "false").await,
        "1.7.3 keeps the backup when the key is present"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_volume_is_robustness_unknown() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    let api = longhorn(&client, "Volume");
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "longhorn.io/v1beta2", "kind": "Volume",
        "metadata": {"name": "lonely", "namespace": LH_NS},
        "spec": {"size": "1073741824", "numberOfReplicas": 3},
    }))
    .expect("volume");
    api.create(&PostParams::default(), &obj)
        .await
        .expect("created");
    let v = eventually("the volume to be detached", || {
        let api = api.clone();
        async move {
            let v = api.get("lonely").await.ok()?;
            (status(&v)["state"] == "detached").then_some(v)
        }
    })
    .await;
    assert_eq!(status(&v)["robustness"], "unknown", "{:?}", status(&v));
    // the webhook defaulted the backup settings of the API-created volume
    assert_eq!(v.data["spec"]["backupCompressionMethod"], "lz4");
    assert_eq!(v.data["spec"]["backupBlockSize"], "2097152");
    // an attached, used volume is healthy
    sentinel_pod(&client).await;
    let used = eventually("the sentinel volume attached", || {
        let api = api.clone();
        async move {
            let v = api.get(VOL).await.ok()?;
            (status(&v)["state"] == "attached").then_some(v)
        }
    })
    .await;
    assert_eq!(status(&used)["robustness"], "healthy");
    sandbox.shutdown().await;
}

/// Backs up the sentinel volume after setting its `spec.backupBlockSize` to 16 MiB; returns
/// the written cfg's block size.
async fn block_size_with_16mi_volume(v: LonghornVersion) -> u64 {
    let (_dir, sandbox) = start_version(v).await;
    let client = client(&sandbox).await;
    sentinel_pod(&client).await;
    sandbox
        .store()
        .modify(&LH_VOLUMES, Some(LH_NS), VOL, |o| {
            o["spec"]["backupBlockSize"] = json!("16777216");
        })
        .expect("volume patched");
    let b = write_and_backup(&client, "echo big > /data/big", "bs").await;
    assert_eq!(status(&b)["state"], "Completed", "{:?}", status(&b));
    let bs = dr_backupstore::BackupStore::new(
        sandbox.s3().client(),
        sandbox.s3().bucket(),
        "backupstore/",
    );
    let cfg = bs
        .get_backup_cfg(VOL, "backup-bs")
        .await
        .expect("s3")
        .expect("cfg");
    let size = cfg.block_size().expect("block size parameter");
    assert!(
        cfg.blocks.iter().all(|b| b.offset % size == 0),
        "offsets are multiples of the block size"
    );
    sandbox.shutdown().await;
    size
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_mib_blocks_only_on_1_10() {
    assert_eq!(
        block_size_with_16mi_volume(LonghornVersion::V1_10_1).await,
        dr_backupstore::BLOCK_SIZE_16MI
    );
    assert_eq!(
        block_size_with_16mi_volume(LonghornVersion::V1_9_1).await,
        dr_backupstore::BLOCK_SIZE_2MI,
        "1.9 has no backupBlockSize: always 2 MiB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_request_in_the_same_second_as_the_last_sync_does_nothing() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    let api = longhorn(&client, "BackupTarget");
    // no periodic polls: only requests sync
    eventually("the BackupTarget to exist", || {
        let api = api.clone();
        async move {
            api.patch(
                "default",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"pollInterval": "0s"}})),
            )
            .await
            .ok()
        }
    })
    .await;
    let last = eventually("a first sync", || {
        let api = api.clone();
        async move {
            let bt = api.get("default").await.ok()?;
            status(&bt)["lastSyncedAt"].as_str().map(str::to_string)
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let settled = status(&api.get("default").await.expect("bt"))["lastSyncedAt"].clone();
    let last = settled.as_str().map(str::to_string).unwrap_or(last);
    // same second as the last sync: Longhorn's `After` is false
    api.patch(
        "default",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"syncRequestedAt": last}})),
    )
    .await
    .expect("request");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let bt = api.get("default").await.expect("bt");
    assert_eq!(
        status(&bt)["lastSyncedAt"],
        json!(last),
        "no sync for a same-second request"
    );
    // one second later: a sync
    let later = (chrono::DateTime::parse_from_rfc3339(&last).expect("time")
        + chrono::Duration::seconds(1))
    .to_utc()
    .format("%Y-%m-%dT%H:%M:%SZ")
    .to_string();
    api.patch(
        "default",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"syncRequestedAt": later}})),
    )
    .await
    .expect("request");
    eventually("the later request to sync", || {
        let api = api.clone();
        let last = last.clone();
        async move {
            let bt = api.get("default").await.ok()?;
            (status(&bt)["lastSyncedAt"].as_str() != Some(last.as_str())).then_some(())
        }
    })
    .await;
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_1_7_a_restore_needs_the_backup_volume_by_name() {
    let (_dir, sandbox) = start_version(LonghornVersion::V1_7_3).await;
    let client = client(&sandbox).await;
    let b = write_and_backup(&client, "echo r > /data/r", "r17").await;
    let url = status(&b)["url"].as_str().expect("url").to_string();
    discovered_backup_volume(&client, VOL).await;
    // No more discovery from here on. A sync already running when the fault is set checked it
    // before and may still recreate the BackupVolume, so wait for a sync to finish after the
    // fault (syncs of one target run one after the other): every later one honours it.
    sandbox
        .faults()
        .set(dr_sandbox::Fault::BackupvolumeNeverDiscovered);
    let targets = longhorn(&client, "BackupTarget");
    let synced = |bt: &DynamicObject| status(bt)["lastSyncedAt"].as_str().map(str::to_string);
    let before = synced(&targets.get("default").await.expect("BackupTarget"));
    eventually("a BackupTarget sync after the fault", || {
        let targets = targets.clone();
        let before = before.clone();
        async move {
            let now = synced(&targets.get("default").await.ok()?);
            (now.is_some() && now != before).then_some(())
        }
    })
    .await;
    // the BackupVolume goes (object only); the Backup object stays
    let bvs = longhorn(&client, "BackupVolume");
    bvs.patch(
        VOL,
        &PatchParams::default(),
        &Patch::Merge(
            json!({"metadata": {"labels": {"longhorn.io/delete-custom-resource-only": "true"}}}),
        ),
    )
    .await
    .expect("label");
    bvs.delete(VOL, &DeleteParams::default())
        .await
        .expect("delete");
    assert!(sandbox
        .store()
        .get(&LH_BACKUPVOLUMES, Some(LH_NS), VOL)
        .is_none());
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "longhorn.io/v1beta2", "kind": "Volume",
        "metadata": {"name": "from17", "namespace": LH_NS},
        "spec": {"fromBackup": url, "size": "1", "numberOfReplicas": 3},
    }))
    .expect("volume");
    let err = longhorn(&client, "Volume")
        .create(&PostParams::default(), &obj)
        .await
        .expect_err("refused without the BackupVolume");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "cannot get backup volume {VOL}: backupvolume.longhorn.io \"{VOL}\" not found"
        )),
        "{msg}"
    );
    sandbox.shutdown().await;
}
