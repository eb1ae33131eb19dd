//! `system-backup`: a Longhorn SystemBackup (Longhorn's own bundle of its resources plus the
//! PVs/PVCs/StorageClasses that use it), then proof on the backup target.
//!
//! `Ready` is not proof, so the step reads S3 itself: `system-backup.cfg` exists under
//! `backupstore/system-backups/<longhornVersion>/<name>/` (longhorn-facts.md §1), the SHA-256 of
//! `system-backup.zip` equals the cfg's `Checksum`, and the zip's Volume list names the sentinel
//! volume. An `Error` state fails at once with Longhorn's message (the SystemBackup's `Error`
//! condition, Longhorn v1.8 CRD). States: Longhorn docs "Longhorn System Backup And Restore".

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::time::Duration;

use kube::api::{ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::Api;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::LABEL_RUN_ID;
use crate::cluster::{retry, wait};
use crate::config::scenario::SystemBackupStep;
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};

/// The drill's SystemBackup name, derived from the run id so a resumed drill finds it again.
pub fn system_backup_name(run_id: &str) -> String {
    let hex = super::run_hex(run_id, 8);
    format!("dr-harness-{hex}")
}

/// A dynamic API for Longhorn kind `kind` (`SystemBackup`, `SystemRestore`) in `ns`.
pub fn longhorn_api(client: &kube::Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk("longhorn.io", "v1beta2", kind));
    Api::namespaced_with(client.clone(), ns, &ar)
}

/// `status.state` of a Longhorn object (`""` when absent).
pub fn state(o: Option<&DynamicObject>) -> String {
    o.and_then(|o| o.data.pointer("/status/state"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// The message Longhorn gives for an `Error` state: the `Error` condition's message, or any
/// condition message, or `status.error`.
pub fn error_message(o: &DynamicObject) -> String {
    let conds = o
        .data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    conds
        .iter()
        .find(|c| c["type"] == "Error")
        .or_else(|| {
            conds
                .iter()
                .find(|c| c["message"].as_str().is_some_and(|m| !m.is_empty()))
        })
        .and_then(|c| c["message"].as_str())
        .or_else(|| o.data.pointer("/status/error").and_then(Value::as_str))
        .filter(|m| !m.is_empty())
        .unwrap_or("(Longhorn gave no error message)")
        .to_string()
}

/// Key of a system backup file: `<root>system-backups/<version>/<name>/<file>`.
pub fn system_backup_key(root: &str, version: &str, name: &str, file: &str) -> String {
    format!("{root}system-backups/{version}/{name}/{file}")
}

/// Names of the Longhorn Volumes in a system backup zip (its `…/yamls/longhorn/volumes.yaml`
/// YAML list; the other entries hold Settings, RecurringJobs, PVs, PVCs, StorageClasses).
///
/// # Errors
/// A message when the bytes are not a zip, or the volume list is missing or not YAML.
pub fn zip_volume_names(bytes: &[u8]) -> Result<Vec<String>, String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| format!("system-backup.zip is not a readable zip: {e}"))?;
    let entry = archive
        .file_names()
        .filter_map(Result::ok)
        .find(|n| n.ends_with("yamls/longhorn/volumes.yaml"))
        .map(|n| n.to_string())
        .ok_or_else(|| "system-backup.zip has no yamls/longhorn/volumes.yaml".to_string())?;
    let mut text = String::new();
    archive
        .by_name(&entry)
        .map_err(|e| format!("system-backup.zip entry {entry}: {e}"))?
        .read_to_string(&mut text)
        .map_err(|e| format!("system-backup.zip entry {entry}: {e}"))?;
    let list: Value = serde_yaml::from_str(&text)
        .map_err(|e| format!("system-backup.zip entry {entry} is not YAML: {e}"))?;
    Ok(list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|v| {
                    v.pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Runs `system-backup`: creates this run's SystemBackup, waits up to `timeout` for `Ready`, then
/// checks `system-backup.cfg`, the zip's SHA-256 and that the zip names `facts.volume`. Writes
/// `facts.system_backup` and `facts.system_backup_version`. `status.state`:
/// `longhorn-manager@v1.9.1:k8s/pkg/apis/longhorn/v1beta2/systembackup.go`.
///
/// # Errors
/// A [`StepFailure`] when it reaches `Error` (Longhorn's message), times out, or the backup
/// target's copy is missing, corrupt or lacks the volume.
pub async fn run(ctx: &mut DrillContext, step: &SystemBackupStep, timeout: Duration) -> StepResult {
    let conn = ctx.conn().await?;
    let ns = ctx.profile.expect.longhorn_namespace.clone();
    let run_id = ctx.record.run_id.clone();
    let name = system_backup_name(&run_id);
    let api = longhorn_api(&conn.client, &ns, "SystemBackup");
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "longhorn.io/v1beta2", "kind": "SystemBackup",
        "metadata": {"name": name, "namespace": ns, "labels": {LABEL_RUN_ID: run_id}},
        "spec": {"volumeBackupPolicy": step.volume_backup_policy.as_str()},
    }))
    .map_err(|e| StepFailure::new(e.to_string()))?;
    let existing = retry::with_retry(&ctx.stats, "api", || api.get_opt(&name)).await?;
    if existing.is_none() {
        let pp = PostParams::default();
        retry::with_retry(&ctx.stats, "api", || api.create(&pp, &obj)).await?;
        ctx.say(format!(
            "created SystemBackup {ns}/{name} (volumeBackupPolicy {})",
            step.volume_backup_policy.as_str()
        ));
    }
    ctx.record.facts.system_backup = Some(name.clone());
    let done = wait::wait_for(
        api,
        &name,
        &format!("SystemBackup {name} to reach Ready"),
        timeout.saturating_sub(Duration::from_secs(5)),
        &ctx.stats,
        |o: Option<&DynamicObject>| matches!(state(o).as_str(), "Ready" | "Error"),
        |o| format!("state {:?}", state(o)),
    )
    .await?
    .ok_or_else(|| {
        StepFailure::new(format!(
            "SystemBackup {name} disappeared while waiting for it"
        ))
    })?;
    if state(Some(&done)) == "Error" {
        return Err(StepFailure::new(format!(
            "Longhorn SystemBackup {name} ended in Error: {}",
            error_message(&done)
        ))
        .diagnostic(format!("kubectl -n {ns} get systembackup {name} -o yaml")));
    }
    let version = done
        .data
        .pointer("/status/version")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    ctx.check(
        "system-backup-ready",
        true,
        format!("SystemBackup {name} Ready"),
        format!("Longhorn {version}"),
    );
    ctx.record.facts.system_backup_version = Some(version.clone());
    prove_in_s3(ctx, &name, &version).await
}

/// The cfg exists, the zip's SHA-256 is the cfg's `Checksum`, the zip lists the sentinel volume.
async fn prove_in_s3(ctx: &mut DrillContext, name: &str, version: &str) -> StepResult {
    let bs = ctx
        .backup_target()
        .map_err(StepFailure::unreachable)?
        .backupstore();
    let cfg_key = system_backup_key(bs.root(), version, name, "system-backup.cfg");
    let zip_key = system_backup_key(bs.root(), version, name, "system-backup.zip");
    let unreachable = |key: &str, e: dr_backupstore::StoreError| {
        StepFailure::unreachable(format!("reading {key} from the backup target: {e}"))
    };
    let cfg_bytes = bs
        .get_object(&cfg_key)
        .await
        .map_err(|e| unreachable(&cfg_key, e))?;
    if !ctx.check(
        "system-backup-cfg",
        cfg_bytes.is_some(),
        format!("{cfg_key} exists"),
        if cfg_bytes.is_some() {
            "present"
        } else {
            "missing"
        },
    ) {
        return Err(StepFailure::new(format!(
            "Longhorn reports SystemBackup {name} Ready, but {cfg_key} is not on the backup target; check the BackupTarget URL and the credential secret"
        )));
    }
    let cfg: BTreeMap<String, Value> = serde_json::from_slice(&cfg_bytes.unwrap_or_default())
        .map_err(|e| {
            StepFailure::new(format!("{cfg_key} is not a JSON system backup config: {e}"))
        })?;
    let want = cfg
        .get("Checksum")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let zip = bs
        .get_object(&zip_key)
        .await
        .map_err(|e| unreachable(&zip_key, e))?
        .ok_or_else(|| {
            StepFailure::new(format!(
                "{cfg_key} exists but {zip_key} does not: the system backup upload is incomplete"
            ))
        })?;
    let got = hex::encode(Sha256::digest(&zip));
    if !ctx.check(
        "system-backup-checksum",
        want == got,
        format!("SHA-256 {want} (Checksum in system-backup.cfg)"),
        got.clone(),
    ) {
        return Err(StepFailure::new(format!(
            "checksum mismatch: {zip_key} has SHA-256 {got}, but system-backup.cfg says Checksum {want}; the zip changed after Longhorn wrote it (corruption or tampering on the backup target), and a SystemRestore from it will fail"
        )));
    }
    let volume: Option<String> = ctx.record.facts.volume.clone();
    let names = zip_volume_names(&zip).map_err(StepFailure::new)?;
    if let Some(volume) = volume {
        if !ctx.check(
            "system-backup-lists-sentinel",
            names.contains(&volume),
            format!("volume {volume} in the zip"),
            names.join(", "),
        ) {
            return Err(StepFailure::new(format!(
                "system backup {name} does not hold the sentinel volume {volume} (it lists: {}); a SystemRestore from it would not bring the sentinel back",
                names.join(", ")
            )));
        }
    }
    ctx.say(format!(
        "system backup {name}: {} bytes, checksum ok, {} volumes",
        zip.len(),
        names.len()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn volume_names_come_from_the_longhorn_volume_list() {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        w.start_file("sb/yamls/longhorn/volumes.yaml", opts)
            .expect("entry");
        w.write_all(b"kind: List\nitems:\n- metadata: {name: dr-exercise-data}\n- metadata: {name: other}\n").expect("write");
        let bytes = w.finish().expect("finish").into_inner();
        assert_eq!(
            zip_volume_names(&bytes).expect("reads"),
            vec!["dr-exercise-data", "other"]
        );
        assert!(zip_volume_names(b"PK not really").is_err());
    }

    #[test]
    fn names_and_keys() {
        assert_eq!(
            system_backup_name("1a2b3c4d-5e6f-7a8b"),
            "dr-harness-1a2b3c4d"
        );
        assert_eq!(
            system_backup_key("backupstore/", "v1.8.1", "sb", "system-backup.cfg"),
            "backupstore/system-backups/v1.8.1/sb/system-backup.cfg"
        );
    }
}
