//! Fidelity check: with each supported Longhorn version's real CRDs loaded
//! (`../shared/longhorn-crds/crds-v<ver>.yaml`), every object the simulated Longhorn writes —
//! bootstrap, a snapshot and backup, destroy + rebuild with the backup target sync, and a
//! restore — conforms to Longhorn's schemas (status included). The controllers write the
//! store directly, so the store records what a real API server would refuse or prune
//! (`Store::schema_violations`); this test fails on any of it.
//!
//! Without the shared CRDs the test says so loudly and passes, unless `CI=true`.

mod sandbox_support;
mod shared_data;

use std::path::PathBuf;

use dr_sandbox::LonghornVersion;
use kube::api::DynamicObject;
use sandbox_support::*;
use serde_json::json;

const VERSIONS: [&str; 5] = ["1.7.1", "1.7.3", "1.8.2", "1.9.1", "1.10.1"];

fn crds_file(version: &str) -> Option<PathBuf> {
    shared_data::longhorn_crds(version, "CRD conformance")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_longhorn_writes_only_what_longhorns_crds_accept() {
    let mut report = Vec::new();
    for v in VERSIONS {
        let Some(file) = crds_file(v) else { return };
        let version: LonghornVersion = v.parse().expect("supported version");
        let is_1_7 = v.starts_with("1.7.");
        let (_dir, sandbox) = start(|o| {
            o.longhorn_crds = Some(file);
            o.longhorn_version = version;
        })
        .await;
        let client = client(&sandbox).await;
        let b = write_and_backup(&client, "echo conform > /data/c", "conform").await;
        let st = status(&b);
        assert_eq!(st["state"], "Completed", "{v}: backup failed: {st}");
        let url = st["url"].as_str().expect("backup url").to_string();
        let client = rebuild(&sandbox).await;
        discovered_backup(&client, "backup-conform").await;
        let restored = if is_1_7 {
            restore_1_7(&client, "conform-restored", &url).await
        } else {
            restore_volume(&client, "conform-restored", &url).await
        };
        assert_eq!(
            status(&restored)["restoreRequired"],
            json!(false),
            "{v}: restore failed: {}",
            status(&restored)
        );
        assert_ne!(
            status(&restored)["robustness"],
            "faulted",
            "{v}: restore failed: {}",
            status(&restored)
        );
        for line in sandbox.store().schema_violations() {
            report.push(format!("{v}: {line}"));
        }
        sandbox.shutdown().await;
    }
    assert!(
        report.is_empty(),
        "the simulated Longhorn wrote objects Longhorn's CRDs reject:\n{}",
        report.join("\n")
    );
}

/// `restore_volume` for Longhorn 1.7 naming: the BackupVolume is named like the volume and
/// carries no `backup-volume` label, so wait for it by name.
async fn restore_1_7(client: &kube::Client, name: &str, url: &str) -> DynamicObject {
    let bvs = longhorn(client, "BackupVolume");
    eventually("the 1.7 BackupVolume to be discovered", || {
        let bvs = bvs.clone();
        async move { bvs.get("dr-exercise-data").await.ok() }
    })
    .await;
    restore_now(client, name, url).await
}
