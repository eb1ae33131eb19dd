//! Maps a pod's volume mounts to data-plane directories, as the kubelet + Longhorn CSI would.
//!
//! Chain: `volumeMounts[]` → `spec.volumes[].persistentVolumeClaim.claimName` → PVC
//! `spec.volumeName` → PV `spec.csi.volumeHandle` (the Longhorn volume name) → the data plane's
//! directory for that volume. Used by the busybox runtime for `exec` and Job pods.

use std::sync::{Arc, Weak};

use serde_json::Value;

use super::object::str_at;
use crate::api::resources::{PVCS, PVS};
use crate::api::Store;
use crate::dataplane::exec::{claim_mounts, Mount, VolumeResolver};
use crate::dataplane::DataPlane;

/// Resolves mounts from the store. Holds the store and data plane weakly: the runtime that owns
/// the resolver outlives neither.
pub struct StoreResolver {
    store: Weak<Store>,
    data: Weak<DataPlane>,
}

impl StoreResolver {
    /// A resolver over `store` and `data`.
    pub fn new(store: &Arc<Store>, data: &Arc<DataPlane>) -> Self {
        Self {
            store: Arc::downgrade(store),
            data: Arc::downgrade(data),
        }
    }
}

impl VolumeResolver for StoreResolver {
    fn mounts_for(
        &self,
        namespace: &str,
        pod: &Value,
        container: &str,
    ) -> Result<Vec<Mount>, String> {
        let store = self.store.upgrade().ok_or("cluster is gone")?;
        let data = self.data.upgrade().ok_or("data plane is gone")?;
        let mut out = Vec::new();
        for cm in claim_mounts(pod, container) {
            let pvc = store
                .get(&PVCS, Some(namespace), &cm.claim_name)
                .ok_or_else(|| format!("persistentvolumeclaim \"{}\" not found", cm.claim_name))?;
            let pv_name = str_at(&pvc, "/spec/volumeName")
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    format!("persistentvolumeclaim \"{}\" is not bound", cm.claim_name)
                })?;
            let pv = store
                .get(&PVS, None, pv_name)
                .ok_or_else(|| format!("persistentvolume \"{pv_name}\" not found"))?;
            let handle = str_at(&pv, "/spec/csi/volumeHandle")
                .ok_or_else(|| format!("persistentvolume \"{pv_name}\" is not a CSI volume"))?;
            out.push(Mount {
                container_path: cm.container_path,
                host_dir: data.volume_dir(handle),
                read_only: cm.read_only,
            });
        }
        Ok(out)
    }
}
