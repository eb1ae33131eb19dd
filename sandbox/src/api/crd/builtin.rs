//! The Longhorn CRDs the sandbox serves when no manifest is loaded (`--longhorn-crds` absent):
//! `kubectl get crd` lists them and `kubectl get volumes.longhorn.io` prints their columns, as on
//! a cluster where Longhorn is installed.
//!
//! These CRD objects are synthesized, not Longhorn's: names, scope, short names, the `v1beta2`
//! version and its `additionalPrinterColumns` are Longhorn's (longhorn/longhorn-manager@v1.10.1
//! `k8s/crds.yaml`, the sandbox's default release), but the schema is an honest
//! `{type: object, x-kubernetes-preserve-unknown-fields: true}`: without the real manifest
//! no schema validation runs (the built-in rules of `validate.rs` do), so the served schema
//! claims none. Load the real CRDs with `--longhorn-crds` for schemas and validation.

use std::sync::LazyLock;

use serde_json::{json, Value};

use super::{CrdSet, LONGHORN_GROUP};
use crate::api::resources::{self, ResourceType};

/// One `additionalPrinterColumns` entry.
struct Col {
    name: &'static str,
    type_name: &'static str,
    json_path: &'static str,
    description: &'static str,
}

/// Printer columns per Longhorn plural (longhorn-manager@v1.10.1 `k8s/crds.yaml`, `v1beta2`).
const COLUMNS: &[(&str, &[Col])] = &[
    (
        "volumes",
        &[
            Col { name: "Data Engine", type_name: "string", json_path: ".spec.dataEngine", description: "The data engine of the volume" },
            Col { name: "State", type_name: "string", json_path: ".status.state", description: "The state of the volume" },
            Col { name: "Robustness", type_name: "string", json_path: ".status.robustness", description: "The robustness of the volume" },
            Col { name: "Scheduled", type_name: "string", json_path: ".status.conditions[?(@.type=='Schedulable')].status", description: "The scheduled condition of the volume" },
            Col { name: "Size", type_name: "string", json_path: ".spec.size", description: "The size of the volume" },
            Col { name: "Node", type_name: "string", json_path: ".status.currentNodeID", description: "The node that the volume is currently attaching to" },
            Col { name: "Age", type_name: "date", json_path: ".metadata.creationTimestamp", description: "" },
        ],
    ),
    (
        "snapshots",
        &[
            Col { name: "Volume", type_name: "string", json_path: ".spec.volume", description: "The volume that this snapshot belongs to" },
            Col { name: "CreationTime", type_name: "string", json_path: ".status.creationTime", description: "Timestamp when the point-in-time snapshot was taken" },
            Col { name: "ReadyToUse", type_name: "boolean", json_path: ".status.readyToUse", description: "Indicates if the snapshot is ready to be used to restore/backup a volume" },
            Col { name: "RestoreSize", type_name: "string", json_path: ".status.restoreSize", description: "Represents the minimum size of volume required to rehydrate from this snapshot" },
            Col { name: "Size", type_name: "string", json_path: ".status.size", description: "The actual size of the snapshot" },
            Col { name: "Age", type_name: "date", json_path: ".metadata.creationTimestamp", description: "" },
        ],
    ),
    (
        "backups",
        &[
            Col { name: "SnapshotName", type_name: "string", json_path: ".status.snapshotName", description: "The snapshot name" },
            Col { name: "SnapshotSize", type_name: "string", json_path: ".status.size", description: "The snapshot size" },
            Col { name: "SnapshotCreatedAt", type_name: "string", json_path: ".status.snapshotCreatedAt", description: "The snapshot creation time" },
            Col { name: "BackupTarget", type_name: "string", json_path: ".status.backupTargetName", description: "The backup target name" },
            Col { name: "State", type_name: "string", json_path: ".status.state", description: "The backup state" },
            Col { name: "LastSyncedAt", type_name: "string", json_path: ".status.lastSyncedAt", description: "The backup last synced time" },
        ],
    ),
    (
        "backupvolumes",
        &[
            Col { name: "BackupTarget", type_name: "string", json_path: ".spec.backupTargetName", description: "The backup target name" },
            Col { name: "CreatedAt", type_name: "string", json_path: ".status.createdAt", description: "The backup volume creation time" },
            Col { name: "LastBackupName", type_name: "string", json_path: ".status.lastBackupName", description: "The backup volume last backup name" },
            Col { name: "LastBackupAt", type_name: "string", json_path: ".status.lastBackupAt", description: "The backup volume last backup time" },
            Col { name: "LastSyncedAt", type_name: "string", json_path: ".status.lastSyncedAt", description: "The backup volume last synced time" },
        ],
    ),
    (
        "backuptargets",
        &[
            Col { name: "URL", type_name: "string", json_path: ".spec.backupTargetURL", description: "The backup target URL" },
            Col { name: "Credential", type_name: "string", json_path: ".spec.credentialSecret", description: "The backup target credential secret" },
            Col { name: "LastBackupAt", type_name: "string", json_path: ".spec.pollInterval", description: "The backup target poll interval" },
            Col { name: "Available", type_name: "boolean", json_path: ".status.available", description: "Indicate whether the backup target is available or not" },
            Col { name: "LastSyncedAt", type_name: "string", json_path: ".status.lastSyncedAt", description: "The backup target last synced time" },
        ],
    ),
    (
        "recurringjobs",
        &[
            Col { name: "Groups", type_name: "string", json_path: ".spec.groups", description: "Sets groupings to the jobs. When set to \"default\" group will be added to the volume label when no other job label exist in volume" },
            Col { name: "Task", type_name: "string", json_path: ".spec.task", description: "Should be one of \"snapshot\", \"snapshot-force-create\", \"snapshot-cleanup\", \"snapshot-delete\", \"backup\", \"backup-force-create\", \"filesystem-trim\" or \"system-backup\"" },
            Col { name: "Cron", type_name: "string", json_path: ".spec.cron", description: "The cron expression represents recurring job scheduling" },
            Col { name: "Retain", type_name: "integer", json_path: ".spec.retain", description: "The number of snapshots/backups to keep for the volume" },
            Col { name: "Concurrency", type_name: "integer", json_path: ".spec.concurrency", description: "The concurrent job to run by each cron job" },
            Col { name: "Age", type_name: "date", json_path: ".metadata.creationTimestamp", description: "" },
            Col { name: "Labels", type_name: "string", json_path: ".spec.labels", description: "Specify the labels" },
        ],
    ),
    (
        "systembackups",
        &[
            Col { name: "Version", type_name: "string", json_path: ".status.version", description: "The system backup Longhorn version" },
            Col { name: "State", type_name: "string", json_path: ".status.state", description: "The system backup state" },
            Col { name: "Created", type_name: "string", json_path: ".status.createdAt", description: "The system backup creation time" },
            Col { name: "LastSyncedAt", type_name: "string", json_path: ".status.lastSyncedAt", description: "The last time that the system backup was synced into the cluster" },
        ],
    ),
    (
        "systemrestores",
        &[
            Col { name: "State", type_name: "string", json_path: ".status.state", description: "The system restore state" },
            Col { name: "Age", type_name: "date", json_path: ".metadata.creationTimestamp", description: "" },
        ],
    ),
    (
        "settings",
        &[
            Col { name: "Value", type_name: "string", json_path: ".value", description: "The value of the setting" },
            Col { name: "Applied", type_name: "boolean", json_path: ".status.applied", description: "The setting is applied" },
            Col { name: "Age", type_name: "date", json_path: ".metadata.creationTimestamp", description: "" },
        ],
    ),
    (
        "nodes",
        &[
            Col { name: "Ready", type_name: "string", json_path: ".status.conditions[?(@.type=='Ready')].status", description: "Indicate whether the node is ready" },
            Col { name: "AllowScheduling", type_name: "boolean", json_path: ".spec.allowScheduling", description: "Indicate whether the user disabled/enabled replica scheduling for the node" },
            Col { name: "Schedulable", type_name: "string", json_path: ".status.conditions[?(@.type=='Schedulable')].status", description: "Indicate whether Longhorn can schedule replicas on the node" },
            Col { name: "Age", type_name: "date", json_path: ".metadata.creationTimestamp", description: "" },
        ],
    ),
    (
        "engineimages",
        &[
            Col { name: "Incompatible", type_name: "boolean", json_path: ".status.incompatible", description: "Compatibility of the engine image" },
            Col { name: "State", type_name: "string", json_path: ".status.state", description: "State of the engine image" },
            Col { name: "Image", type_name: "string", json_path: ".spec.image", description: "The Longhorn engine image" },
            Col { name: "RefCount", type_name: "integer", json_path: ".status.refCount", description: "Number of resources using the engine image" },
            Col { name: "BuildDate", type_name: "date", json_path: ".status.buildDate", description: "The build date of the engine image" },
            Col { name: "Age", type_name: "date", json_path: ".metadata.creationTimestamp", description: "" },
        ],
    ),];

/// The synthesized CRD object for `rt` (see the module docs).
fn crd_object(rt: &ResourceType, cols: &[Col]) -> Value {
    let columns: Vec<Value> = cols
        .iter()
        .map(|c| {
            let mut v = json!({"name": c.name, "type": c.type_name, "jsonPath": c.json_path});
            if !c.description.is_empty() {
                v["description"] = json!(c.description);
            }
            v
        })
        .collect();
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": format!("{}.{}", rt.plural, rt.group),
            "labels": {"app.kubernetes.io/name": "longhorn", "longhorn-manager": ""},
        },
        "spec": {
            "group": rt.group,
            "names": {
                "kind": rt.kind,
                "listKind": rt.list_kind,
                "plural": rt.plural,
                "singular": rt.singular,
                "shortNames": rt.short_names,
            },
            "scope": if rt.namespaced { "Namespaced" } else { "Cluster" },
            "versions": [{
                "name": rt.version,
                "served": true,
                "storage": true,
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": true,
                }},
                "subresources": {"status": {}},
            }],
        },
    })
}

static BUILTIN: LazyLock<CrdSet> = LazyLock::new(|| {
    let mut crds = Vec::new();
    for rt in resources::all()
        .iter()
        .filter(|rt| rt.group == LONGHORN_GROUP)
    {
        let cols = COLUMNS
            .iter()
            .find(|(plural, _)| *plural == rt.plural)
            .map(|(_, c)| *c)
            .unwrap_or(&[]);
        // The object is built from our own tables, so it always has what parse_crd needs.
        if let Ok(crd) = super::parse_crd(crd_object(rt, cols), "built-in") {
            crds.push(crd);
        }
    }
    CrdSet {
        source: "built-in (synthesized, longhorn-manager v1.10.1 columns)".into(),
        crds,
    }
});

/// The built-in set: one CRD per served longhorn.io kind (see the module docs).
pub fn builtin() -> &'static CrdSet {
    &BUILTIN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_longhorn_kind_has_a_crd_with_columns() {
        let set = builtin();
        for rt in resources::all()
            .iter()
            .filter(|rt| rt.group == LONGHORN_GROUP)
        {
            let crd = set.for_type(rt);
            assert!(crd.is_some(), "{} has no built-in CRD", rt.plural);
            assert!(
                !crd.map(|c| c.columns.is_empty()).unwrap_or(true),
                "{} has no printer columns",
                rt.plural
            );
        }
        let vol = set.for_type(&resources::LH_VOLUMES).map(|c| &c.object);
        assert_eq!(
            vol.and_then(|o| o.pointer("/metadata/name")),
            Some(&json!("volumes.longhorn.io"))
        );
        assert_eq!(
            vol.and_then(|o| o.pointer("/status/conditions/1/type")),
            Some(&json!("Established"))
        );
    }
}
