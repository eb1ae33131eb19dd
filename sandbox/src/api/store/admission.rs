//! Admission: what a write passes before it is persisted, besides the built-in field rules of
//! [`crate::api::validate`] — the registered admission hooks (the simulated Longhorn webhooks,
//! `controllers::admission`, which cite their upstream rules), the storage-protection
//! finalizers of the `StorageObjectInUseProtection` plugin, and the schema step of Longhorn's
//! CRDs when they are loaded.
//!
//! [`Admissions`] holds the hooks, the CRDs and the violations log; the store owns one and calls
//! it outside its lock. Nothing here imports the store.

use std::sync::{Arc, Mutex, RwLock};

use serde_json::{json, Value};

use crate::api::crd::CrdSet;
use crate::api::error::ApiError;
use crate::api::object::{name_of, namespace_of};
use crate::api::resources::{self, ResourceType};

/// How many distinct schema violations of controller writes [`super::Store::schema_violations`]
/// keeps.
pub const MAX_VIOLATIONS: usize = 1000;

/// Which operation an admission hook sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// POST (and server-side apply creating an object).
    Create,
    /// PUT or PATCH (main resource or `/status`).
    Update,
}

/// An admission hook (the simulated Longhorn webhook): sees the object about to be persisted
/// (and the old one on update), may mutate it, or denies with an [`ApiError`]. Runs for HTTP
/// requests only and outside the store lock, so it may read the store.
pub type Admission = Arc<
    dyn Fn(&'static ResourceType, Operation, &mut Value, Option<&Value>) -> Result<(), ApiError>
        + Send
        + Sync,
>;

/// The admission state of one store: hooks in registration order, Longhorn's CRDs when
/// loaded, and the schema violations seen in controller writes.
#[derive(Default)]
pub(super) struct Admissions {
    hooks: RwLock<Vec<Admission>>,
    /// Longhorn's CRDs when loaded (`--longhorn-crds`): schemas for client writes, printer
    /// columns, and the `customresourcedefinitions` served. Survives a store reset (the CRDs
    /// belong to the Longhorn release, not to one cluster incarnation).
    crds: RwLock<Option<Arc<CrdSet>>>,
    violations: Mutex<Vec<String>>,
}

impl Admissions {
    /// Appends a hook.
    pub(super) fn add(&self, hook: Admission) {
        self.hooks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(hook);
    }

    /// Runs every hook in order; the first denial wins.
    ///
    /// # Errors
    /// The denial of a hook.
    pub(super) fn admit(
        &self,
        rt: &'static ResourceType,
        op: Operation,
        obj: &mut Value,
        old: Option<&Value>,
    ) -> Result<(), ApiError> {
        // A copy: a hook may register another hook or read the store.
        let hooks: Vec<Admission> = self.hooks.read().unwrap_or_else(|e| e.into_inner()).clone();
        for h in hooks {
            h(rt, op, obj, old)?;
        }
        Ok(())
    }

    /// Installs (or, with `None`, removes) the CRDs.
    pub(super) fn set_crds(&self, crds: Option<Arc<CrdSet>>) {
        *self.crds.write().unwrap_or_else(|e| e.into_inner()) = crds;
    }

    /// The installed CRDs, if any.
    pub(super) fn crds(&self) -> Option<Arc<CrdSet>> {
        self.crds.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The violations log (see [`super::Store::schema_violations`]).
    pub(super) fn violations(&self) -> Vec<String> {
        self.violations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The schema step of a write. Client writes: prunes silently what admission added,
    /// drops non-nullable nulls, fills defaults, then validates; on update only errors not
    /// already present in `old` count (CRD validation ratcheting, on by default since
    /// Kubernetes 1.30: k8s.io/apiextensions-apiserver `pkg/features/kube_features.go`
    /// `CRDValidationRatcheting`). Controller writes are only checked and recorded.
    ///
    /// # Errors
    /// 422 Invalid with the schema's causes, for client writes only.
    pub(super) fn schema_gate(
        &self,
        rt: &'static ResourceType,
        obj: &mut Value,
        old: Option<&Value>,
        client: bool,
    ) -> Result<(), ApiError> {
        let Some(set) = self.crds() else {
            return Ok(());
        };
        let Some(crd) = set.for_type(rt) else {
            return Ok(());
        };
        let old_errs = old.map(|o| crd.field_errors(o)).unwrap_or_default();
        if client {
            crd.decode(obj);
            let errs: Vec<_> = crd
                .field_errors(obj)
                .into_iter()
                .filter(|e| !old_errs.contains(e))
                .collect();
            if !errs.is_empty() {
                return Err(crd.invalid(name_of(obj), &errs));
            }
            return Ok(());
        }
        let mut copy = obj.clone();
        let who = format!("{} {}/{}", rt.kind, namespace_of(obj), name_of(obj));
        let mut found: Vec<String> = crd
            .decode(&mut copy)
            .into_iter()
            .map(|path| format!("{who}: unknown field {path:?} (a real API server drops it)"))
            .collect();
        let errs: Vec<_> = crd
            .field_errors(&copy)
            .into_iter()
            .filter(|e| !old_errs.contains(e))
            .collect();
        if !errs.is_empty() {
            found.push(format!(
                "{who}: {}",
                crd.invalid(name_of(obj), &errs).message
            ));
        }
        if !found.is_empty() {
            let mut log = self.violations.lock().unwrap_or_else(|e| e.into_inner());
            for f in found {
                if log.len() < MAX_VIOLATIONS && !log.contains(&f) {
                    tracing::warn!(violation = %f, "simulated Longhorn wrote an object its CRD schema rejects");
                    log.push(f);
                }
            }
        }
        Ok(())
    }
}

/// `kubernetes.io/pvc-protection`: held while a pod uses the claim.
pub const PVC_PROTECTION_FINALIZER: &str = "kubernetes.io/pvc-protection";
/// `kubernetes.io/pv-protection`: held while the volume is bound to a claim.
pub const PV_PROTECTION_FINALIZER: &str = "kubernetes.io/pv-protection";

/// The finalizer the `StorageObjectInUseProtection` admission plugin adds to every new PVC and
/// PV (kubernetes@v1.32.0:plugin/pkg/admission/storage/storageobjectinuseprotection/admission.go),
/// for client and controller creates alike (the PV controller creates PVs through the API).
pub(super) fn add_protection_finalizer(rt: &'static ResourceType, obj: &mut Value) {
    let finalizer = if std::ptr::eq(rt, &resources::PVCS) {
        PVC_PROTECTION_FINALIZER
    } else if std::ptr::eq(rt, &resources::PVS) {
        PV_PROTECTION_FINALIZER
    } else {
        return;
    };
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let list = meta.entry("finalizers").or_insert_with(|| json!([]));
    if let Some(items) = list.as_array_mut() {
        if !items.iter().any(|f| f == finalizer) {
            items.push(json!(finalizer));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resources::{CONFIGMAPS, PVCS};

    #[test]
    fn hooks_run_in_order_and_the_first_denial_wins() {
        let a = Admissions::default();
        a.add(Arc::new(
            |_rt, _op, obj: &mut Value, _old: Option<&Value>| {
                obj["seen"] = json!(["first"]);
                Ok(())
            },
        ));
        a.add(Arc::new(
            |_rt, _op, obj: &mut Value, _old: Option<&Value>| {
                if name_of(obj) == "denied" {
                    return Err(ApiError::forbidden("denied by webhook"));
                }
                if let Some(seen) = obj["seen"].as_array_mut() {
                    seen.push(json!("second"));
                }
                Ok(())
            },
        ));
        let mut ok = json!({"metadata": {"name": "a"}});
        assert!(a
            .admit(&CONFIGMAPS, Operation::Create, &mut ok, None)
            .is_ok());
        assert_eq!(ok["seen"], json!(["first", "second"]));
        let mut denied = json!({"metadata": {"name": "denied"}});
        let e = a.admit(&CONFIGMAPS, Operation::Create, &mut denied, None);
        assert_eq!(e.err().map(|e| e.code), Some(403));
    }

    #[test]
    fn new_claims_get_the_protection_finalizer_once() {
        let mut pvc = json!({"metadata": {"name": "c", "finalizers": [PVC_PROTECTION_FINALIZER]}});
        add_protection_finalizer(&PVCS, &mut pvc);
        assert_eq!(
            pvc["metadata"]["finalizers"],
            json!([PVC_PROTECTION_FINALIZER])
        );
        let mut cm = json!({"metadata": {"name": "c"}});
        add_protection_finalizer(&CONFIGMAPS, &mut cm);
        assert!(cm["metadata"].get("finalizers").is_none());
    }
}
