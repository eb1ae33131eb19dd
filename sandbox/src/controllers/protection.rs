//! The storage-protection controllers of kube-controller-manager: a PVC being deleted keeps
//! its `kubernetes.io/pvc-protection` finalizer while a scheduled pod names it, finished or
//! not (kubernetes@v1.32.0:pkg/controller/volume/pvcprotection/pvc_protection_controller.go
//! `isBeingUsed`, `podUsesPVC`), and a PV being deleted keeps `kubernetes.io/pv-protection` while it is
//! `Bound` (kubernetes@v1.32.0:pkg/controller/volume/pvprotection/pv_protection_controller.go
//! `isBeingUsed`). Removing the last finalizer lets the store remove the object.

use std::sync::Arc;

use serde_json::Value;

use super::context::{Controller, Ctx};
use super::object::{name, namespace, str_at};
use crate::api::resources::{PODS, PVCS, PVS};
use crate::api::store::{is_terminating, PVC_PROTECTION_FINALIZER, PV_PROTECTION_FINALIZER};
use crate::api::ResourceType;

/// Releases the protection finalizers of PVCs and PVs that are being deleted and no longer used.
#[derive(Default)]
pub struct ProtectionController;

impl Controller for ProtectionController {
    fn name(&self) -> &'static str {
        "storage-protection"
    }

    fn watches(&self) -> &'static [&'static ResourceType] {
        static W: [&ResourceType; 3] = [&PVCS, &PVS, &PODS];
        &W
    }

    fn reconcile(&mut self, ctx: &Arc<Ctx>) {
        let store = &ctx.store;
        for pvc in store.list(&PVCS, None) {
            if !is_terminating(&pvc) || !holds(&pvc, PVC_PROTECTION_FINALIZER) {
                continue;
            }
            let ns = namespace(&pvc).unwrap_or_default().to_string();
            let claim = name(&pvc).to_string();
            let used = store
                .list(&PODS, Some(&ns))
                .iter()
                .any(|p| pod_uses_claim(p, &claim));
            if !used {
                release(ctx, &PVCS, Some(&ns), &claim, PVC_PROTECTION_FINALIZER);
            }
        }
        for pv in store.list(&PVS, None) {
            if is_terminating(&pv)
                && holds(&pv, PV_PROTECTION_FINALIZER)
                && str_at(&pv, "/status/phase") != Some("Bound")
            {
                let pv_name = name(&pv).to_string();
                release(ctx, &PVS, None, &pv_name, PV_PROTECTION_FINALIZER);
            }
        }
    }
}

fn holds(obj: &Value, finalizer: &str) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|f| f == finalizer))
}

/// A scheduled pod (`spec.nodeName` set: the kubelet refuses to start an unscheduled one on a
/// claim being deleted) that mounts `claim`, whatever its phase: a `Succeeded` or `Failed` pod
/// holds the claim until the pod itself is deleted (the controller's `podUsesPVC` checks no
/// phase; only a generic ephemeral volume's claim is let go once its pod is shut down, and the
/// sandbox has no ephemeral volumes).
fn pod_uses_claim(pod: &Value, claim: &str) -> bool {
    let scheduled = str_at(pod, "/spec/nodeName").is_some_and(|n| !n.is_empty());
    scheduled
        && pod
            .pointer("/spec/volumes")
            .and_then(Value::as_array)
            .is_some_and(|vols| {
                vols.iter().any(|v| {
                    v.pointer("/persistentVolumeClaim/claimName")
                        .and_then(Value::as_str)
                        == Some(claim)
                })
            })
}

fn release(ctx: &Ctx, rt: &'static ResourceType, ns: Option<&str>, obj: &str, finalizer: &str) {
    let res = ctx.store.modify(rt, ns, obj, |o| {
        if let Some(list) = o
            .pointer_mut("/metadata/finalizers")
            .and_then(Value::as_array_mut)
        {
            list.retain(|f| f != finalizer);
        }
    });
    if let Err(e) = res {
        tracing::debug!(object = obj, error = %e, "protection finalizer not released");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(node: &str, phase: &str, claim: &str) -> Value {
        json!({
            "metadata": {"name": "p"},
            "spec": {"nodeName": node,
                     "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]},
            "status": {"phase": phase}
        })
    }

    #[test]
    fn a_finished_pod_still_holds_its_claim_and_an_unscheduled_one_does_not() {
        for phase in ["Running", "Succeeded", "Failed", "Pending"] {
            assert!(pod_uses_claim(&pod("node-1", phase, "c"), "c"), "{phase}");
        }
        assert!(!pod_uses_claim(&pod("", "Pending", "c"), "c"));
        assert!(!pod_uses_claim(&pod("node-1", "Running", "other"), "c"));
    }
}
