//! PersistentVolumeClaim binding and Longhorn's CSI provisioner.
//!
//! A PVC whose `spec.volumeName` names an existing PV binds to it (PV `spec.claimRef`, phase
//! `Bound` on both sides), which is how the sentinel PVC picks up a volume the restore
//! orchestrator restored. A PVC that names a PV which does not exist, or names none and uses the
//! `longhorn` StorageClass, is provisioned: an empty Longhorn Volume (named after `volumeName`,
//! else `pvc-<uid>`) and a PV (CSI driver `driver.longhorn.io`, `volumeHandle` = the volume,
//! fsType ext4, reclaim policy `Retain` for a named volume, `Delete` for a dynamic one — the
//! StorageClass default), then the bind. Longhorn's `status.kubernetesStatus` follows the PV and
//! PVC. PVs whose claim is gone become `Released`; `Delete` ones are removed with their volume.

use std::sync::Arc;

use serde_json::{json, Value};

use super::context::{Controller, Ctx, LONGHORN_NAMESPACE};
use super::object::{name, namespace, now_rfc3339, parse_quantity, str_at, uid};
use crate::api::resources::{LH_VOLUMES, PVCS, PVS};
use crate::api::{ApiError, ResourceType, Store};

/// The CSI driver name of Longhorn (longhorn-manager `types.LonghornDriverName`).
pub const LONGHORN_CSI_DRIVER: &str = "driver.longhorn.io";
/// The StorageClass the simulated Longhorn provisions for.
pub const LONGHORN_STORAGE_CLASS: &str = "longhorn";

/// A new, empty Longhorn Volume object as the CSI provisioner creates it.
pub fn longhorn_volume_manifest(vol: &str, size_bytes: u64) -> Value {
    json!({
        "apiVersion": "longhorn.io/v1beta2",
        "kind": "Volume",
        "metadata": {"name": vol, "namespace": LONGHORN_NAMESPACE},
        "spec": {
            "size": size_bytes.to_string(),
            "numberOfReplicas": 3,
            "accessMode": "rwo",
            "frontend": "blockdev",
            "dataEngine": "v1",
            "fromBackup": "",
            "Standby": false,
            "backupCompressionMethod": "lz4",
            "staleReplicaTimeout": 30,
        },
    })
}

/// A PV for Longhorn volume `vol` (longhorn-facts.md §2 "PV for a restored volume").
pub fn longhorn_pv_manifest(
    vol: &str,
    size_bytes: u64,
    storage_class: &str,
    reclaim: &str,
    access_modes: &Value,
) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": vol,
            "annotations": {"pv.kubernetes.io/provisioned-by": LONGHORN_CSI_DRIVER},
        },
        "spec": {
            "capacity": {"storage": size_bytes.to_string()},
            "accessModes": access_modes,
            "persistentVolumeReclaimPolicy": reclaim,
            "storageClassName": storage_class,
            "volumeMode": "Filesystem",
            "csi": {
                "driver": LONGHORN_CSI_DRIVER,
                "volumeHandle": vol,
                "fsType": "ext4",
                "volumeAttributes": {"numberOfReplicas": "3", "staleReplicaTimeout": "30"},
            },
        },
    })
}

/// Binds PVCs, provisions Longhorn volumes, releases PVs.
#[derive(Default)]
pub struct PvcController {
    /// (PVC uid, message) pairs already reported as a Warning Event.
    warned: std::collections::HashSet<(String, String)>,
}

impl Controller for PvcController {
    fn name(&self) -> &'static str {
        "persistentvolumes"
    }

    fn watches(&self) -> &'static [&'static ResourceType] {
        static W: [&ResourceType; 3] = [&PVCS, &PVS, &LH_VOLUMES];
        &W
    }

    fn reconcile(&mut self, ctx: &Arc<Ctx>) {
        let store = &ctx.store;
        for pvc in store.list(&PVCS, None) {
            // a claim being deleted is neither bound nor provisioned any more
            if str_at(&pvc, "/status/phase") == Some("Bound")
                || crate::api::store::is_terminating(&pvc)
            {
                continue;
            }
            if let Err(e) = bind_or_provision(store, &pvc) {
                tracing::debug!(pvc = name(&pvc), error = %e, "pvc not bound yet");
                if e.reason == "VolumeMismatch"
                    && self
                        .warned
                        .insert((uid(&pvc).to_string(), e.message.clone()))
                {
                    super::events::record(
                        store,
                        &PVCS,
                        &pvc,
                        "persistentvolume-controller",
                        super::events::EventKind::Warning,
                        "VolumeMismatch",
                        &e.message,
                    );
                }
            }
        }
        for pv in store.list(&PVS, None) {
            settle_pv(store, &pv);
        }
    }
}

fn bind_or_provision(store: &Store, pvc: &Value) -> Result<(), ApiError> {
    let wanted = str_at(pvc, "/spec/volumeName")
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let class = str_at(pvc, "/spec/storageClassName")
        .unwrap_or(LONGHORN_STORAGE_CLASS)
        .to_string();
    if let Some(pv_name) = &wanted {
        if let Some(pv) = store.get(&PVS, None, pv_name) {
            return bind(store, pvc, &pv);
        }
    }
    if class != LONGHORN_STORAGE_CLASS {
        return Ok(());
    }
    let vol = wanted
        .clone()
        .unwrap_or_else(|| format!("pvc-{}", uid(pvc)));
    let request = str_at(pvc, "/spec/resources/requests/storage").unwrap_or("1Gi");
    let mut size = parse_quantity(request).map_err(ApiError::bad_request)?;
    match store.get(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), &vol) {
        // a volume created ahead of the claim (e.g. restored by the orchestrator) keeps its size
        Some(existing) => {
            if let Some(s) = str_at(&existing, "/spec/size").and_then(|s| s.parse().ok()) {
                size = s;
            }
        }
        None => {
            store.create(
                &LH_VOLUMES,
                Some(LONGHORN_NAMESPACE),
                longhorn_volume_manifest(&vol, size),
            )?;
        }
    }
    let reclaim = if wanted.is_some() { "Retain" } else { "Delete" };
    let modes = pvc
        .pointer("/spec/accessModes")
        .cloned()
        .unwrap_or_else(|| json!(["ReadWriteOnce"]));
    let pv = match store.create(
        &PVS,
        None,
        longhorn_pv_manifest(&vol, size, &class, reclaim, &modes),
    ) {
        Ok(pv) => pv,
        Err(e) if e.reason == "AlreadyExists" => store.get(&PVS, None, &vol).ok_or(e)?,
        Err(e) => return Err(e),
    };
    bind(store, pvc, &pv)
}

/// Why a PVC cannot bind to the PV it names, in the persistentvolume controller's words
/// (`pkg/controller/volume/persistentvolume`: "Cannot bind to requested volume …").
fn mismatch(pvc: &Value, pv: &Value) -> Option<String> {
    let pv_name = name(pv);
    let want_class = str_at(pvc, "/spec/storageClassName").unwrap_or(LONGHORN_STORAGE_CLASS);
    let pv_class = str_at(pv, "/spec/storageClassName").unwrap_or("");
    if want_class != pv_class {
        return Some(format!(
            "Cannot bind to requested volume \"{pv_name}\": storageClassName does not match"
        ));
    }
    let request =
        str_at(pvc, "/spec/resources/requests/storage").and_then(|q| parse_quantity(q).ok());
    let capacity = str_at(pv, "/spec/capacity/storage").and_then(|q| parse_quantity(q).ok());
    if let (Some(request), Some(capacity)) = (request, capacity) {
        if capacity < request {
            return Some(format!(
                "Cannot bind to requested volume \"{pv_name}\": requested PV is too small"
            ));
        }
    }
    None
}

fn bind(store: &Store, pvc: &Value, pv: &Value) -> Result<(), ApiError> {
    let ns = namespace(pvc).unwrap_or("default").to_string();
    let pvc_name = name(pvc).to_string();
    let pv_name = name(pv).to_string();
    if let Some(msg) = mismatch(pvc, pv) {
        return Err(ApiError::new(409, "VolumeMismatch", msg));
    }
    if let Some(claim) = pv.pointer("/spec/claimRef") {
        let other_uid = claim.get("uid").and_then(Value::as_str).unwrap_or("");
        let same_claim = claim.get("name").and_then(Value::as_str) == Some(pvc_name.as_str())
            && claim.get("namespace").and_then(Value::as_str) == Some(ns.as_str());
        if !same_claim || (!other_uid.is_empty() && other_uid != uid(pvc)) {
            return Err(ApiError::conflict(
                &PVS,
                &pv_name,
                "volume already bound to a different claim",
            ));
        }
    }
    let claim_ref = json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": ns, "name": pvc_name,
        "uid": uid(pvc),
    });
    store.modify(&PVS, None, &pv_name, |p| {
        p["spec"]["claimRef"] = claim_ref;
        super::object::obj_mut(p, "status").insert("phase".into(), json!("Bound"));
    })?;
    let capacity = pv
        .pointer("/spec/capacity")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let modes = pv
        .pointer("/spec/accessModes")
        .cloned()
        .unwrap_or_else(|| json!(["ReadWriteOnce"]));
    let bound_at = crate::transitions::stamp();
    store.modify(&PVCS, Some(&ns), &pvc_name, |c| {
        c["spec"]["volumeName"] = json!(pv_name);
        let meta = super::object::obj_mut(c, "metadata");
        let ann = meta.entry("annotations").or_insert_with(|| json!({}));
        ann["pv.kubernetes.io/bind-completed"] = json!("yes");
        ann["volume.kubernetes.io/storage-provisioner"] = json!(super::pvc::LONGHORN_CSI_DRIVER);
        c["status"] = json!({"phase": "Bound", "accessModes": modes, "capacity": capacity});
    })?;
    crate::transitions::note(
        bound_at,
        "PersistentVolumeClaim",
        Some(&ns),
        &pvc_name,
        crate::transitions::change::PVC_BOUND,
    );
    if let Some(handle) = str_at(pv, "/spec/csi/volumeHandle") {
        let _ = store.modify(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), handle, |v| {
            let st = super::object::obj_mut(v, "status");
            let ks = st.entry("kubernetesStatus").or_insert_with(|| json!({}));
            ks["pvName"] = json!(pv_name);
            ks["pvStatus"] = json!("Bound");
            ks["namespace"] = json!(ns);
            ks["pvcName"] = json!(pvc_name);
            ks["lastPVCRefAt"] = json!("");
        });
    }
    let msg = format!("Successfully bound to volume \"{pv_name}\"");
    super::events::record(
        store,
        &PVCS,
        pvc,
        "persistentvolume-controller",
        super::events::EventKind::Normal,
        "ProvisioningSucceeded",
        &msg,
    );
    Ok(())
}

/// Marks unclaimed PVs `Available`, PVs whose claim is gone `Released` (deleting `Delete` ones
/// with their Longhorn volume).
fn settle_pv(store: &Store, pv: &Value) {
    let pv_name = name(pv).to_string();
    let phase = str_at(pv, "/status/phase").unwrap_or("");
    let Some(claim) = pv.pointer("/spec/claimRef") else {
        if phase != "Available" {
            let _ = store.modify(&PVS, None, &pv_name, |p| {
                super::object::obj_mut(p, "status").insert("phase".into(), json!("Available"));
            });
        }
        return;
    };
    if phase != "Bound" {
        return;
    }
    let ns = claim.get("namespace").and_then(Value::as_str).unwrap_or("");
    let cname = claim.get("name").and_then(Value::as_str).unwrap_or("");
    let cuid = claim.get("uid").and_then(Value::as_str).unwrap_or("");
    let alive = store
        .get(&PVCS, Some(ns), cname)
        .is_some_and(|c| cuid.is_empty() || uid(&c) == cuid);
    if alive {
        return;
    }
    let handle = str_at(pv, "/spec/csi/volumeHandle").map(str::to_string);
    if str_at(pv, "/spec/persistentVolumeReclaimPolicy") == Some("Delete") {
        let _ = store.delete(&PVS, None, &pv_name);
        if let Some(h) = handle {
            let _ = store.delete(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), &h);
        }
        return;
    }
    let _ = store.modify(&PVS, None, &pv_name, |p| {
        super::object::obj_mut(p, "status").insert("phase".into(), json!("Released"));
    });
    if let Some(h) = handle {
        let now = now_rfc3339();
        let _ = store.modify(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), &h, |v| {
            let st = super::object::obj_mut(v, "status");
            let ks = st.entry("kubernetesStatus").or_insert_with(|| json!({}));
            ks["pvStatus"] = json!("Released");
            ks["lastPVCRefAt"] = json!(now);
        });
    }
}
