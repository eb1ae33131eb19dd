//! StatefulSets: pods with stable ordinal names, claims from `volumeClaimTemplates`, and the
//! status `kubectl get sts`, `kubectl scale` and `kubectl rollout status` read.
//!
//! As the StatefulSet controller does (kubernetes@v1.32:pkg/controller/statefulset/
//! stateful_set_control.go, stateful_set_utils.go): replica `i` is the Pod `<set>-<i>` with
//! labels `statefulset.kubernetes.io/pod-name`, `apps.kubernetes.io/pod-index` and
//! `controller-revision-hash` (`<set>-<template hash>`), `spec.hostname` = its name and
//! `spec.subdomain` = `spec.serviceName`; for each `volumeClaimTemplates` entry `t` it mounts
//! the claim `<t>-<set>-<i>`, created when missing (and kept when the pod goes, the default
//! `Retain` retention policy). `podManagementPolicy: OrderedReady` (the default) creates pod
//! `i` only once pods `0..i` are Ready and removes the highest ordinal first, one at a time;
//! `Parallel` creates and removes at once. Template changes roll with the `RollingUpdate`
//! strategy (the default): the highest-ordinal outdated pod is deleted once every pod is
//! Ready, and recreated from the new template; `OnDelete` leaves pods alone.
//!
//! Simplifications: no ControllerRevision objects (the revision is the template hash), no
//! `partition`, `maxUnavailable`, `minReadySeconds` or `ordinals.start`; pods are not adopted
//! or orphaned by selector.

use std::sync::Arc;

use serde_json::{json, Value};

use super::context::{Controller, Ctx};
use super::naming::pod_template_hash;
use super::object::{label, name, namespace, obj_mut, str_at, uid};
use super::pods::{is_pod_ready, pick_node};
use super::workloads::{owned_pods, pod_from_template};
use crate::api::resources::{NODES, PODS, PVCS, STATEFULSETS};
use crate::api::{ApiError, ResourceType, Store};

/// Label with a pod's own name (kubernetes@v1.32:staging/src/k8s.io/api/apps/v1/types.go
/// `StatefulSetPodNameLabel`).
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// Label with a pod's ordinal (`PodIndexLabel`, on by default since Kubernetes 1.28).
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
/// Label with the revision a pod was made from (`ControllerRevisionHashLabelKey`).
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// Reconciles StatefulSets.
#[derive(Default)]
pub struct StatefulSetController;

impl Controller for StatefulSetController {
    fn name(&self) -> &'static str {
        "statefulsets"
    }

    fn watches(&self) -> &'static [&'static ResourceType] {
        static W: [&ResourceType; 4] = [&STATEFULSETS, &PODS, &PVCS, &NODES];
        &W
    }

    fn reconcile(&mut self, ctx: &Arc<Ctx>) {
        for set in ctx.store.list(&STATEFULSETS, None) {
            if let Err(e) = reconcile_set(&ctx.store, &set) {
                tracing::debug!(statefulset = name(&set), error = %e, "statefulset reconcile failed");
            }
        }
    }
}

/// The ordinal of a pod of set `set_name` (`<set>-<i>`), if its name has that shape.
fn ordinal(set_name: &str, pod: &Value) -> Option<usize> {
    name(pod)
        .strip_prefix(set_name)?
        .strip_prefix('-')?
        .parse()
        .ok()
}

/// Pod `i` of `set` at revision `revision`, with its claims mounted.
fn pod_for(set: &Value, set_name: &str, i: usize, revision: &str, node: Option<&str>) -> Value {
    let pod_name = format!("{set_name}-{i}");
    let index = i.to_string();
    let mut pod = pod_from_template(
        set,
        "apps/v1",
        "StatefulSet",
        &pod_name,
        &[
            (POD_NAME_LABEL, &pod_name),
            (POD_INDEX_LABEL, &index),
            (REVISION_LABEL, revision),
        ],
        node,
    );
    pod["spec"]["hostname"] = json!(pod_name);
    if let Some(service) = str_at(set, "/spec/serviceName").filter(|s| !s.is_empty()) {
        pod["spec"]["subdomain"] = json!(service);
    }
    for (template, claim) in claims(set, set_name, i) {
        let volumes = obj_mut(&mut pod, "spec")
            .entry("volumes")
            .or_insert_with(|| json!([]));
        if let Some(list) = volumes.as_array_mut() {
            list.retain(|v| v.get("name").and_then(Value::as_str) != Some(template.as_str()));
            list.push(json!({"name": template, "persistentVolumeClaim": {"claimName": claim}}));
        }
    }
    pod
}

/// `(template name, claim name)` of each `volumeClaimTemplates` entry for ordinal `i`.
fn claims(set: &Value, set_name: &str, i: usize) -> Vec<(String, String)> {
    set.pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .map(|ts| {
            ts.iter()
                .filter_map(|t| str_at(t, "/metadata/name"))
                .map(|t| (t.to_string(), format!("{t}-{set_name}-{i}")))
                .collect()
        })
        .unwrap_or_default()
}

/// Creates the missing claims of ordinal `i` from the templates (labels: the template's plus
/// the set's `matchLabels`, as `getPersistentVolumeClaims` does).
fn ensure_claims(store: &Store, set: &Value, ns: &str, set_name: &str, i: usize) {
    let Some(templates) = set
        .pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
    else {
        return;
    };
    for t in templates {
        let Some(template) = str_at(t, "/metadata/name") else {
            continue;
        };
        let claim = format!("{template}-{set_name}-{i}");
        if store.get(&PVCS, Some(ns), &claim).is_some() {
            continue;
        }
        let mut labels = t
            .pointer("/metadata/labels")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        if let Some(selector) = set
            .pointer("/spec/selector/matchLabels")
            .and_then(Value::as_object)
        {
            for (k, v) in selector {
                labels[k] = v.clone();
            }
        }
        let pvc = json!({
            "metadata": {"name": claim, "namespace": ns, "labels": labels},
            "spec": t.get("spec").cloned().unwrap_or_else(|| json!({})),
        });
        if let Err(e) = store.create(&PVCS, Some(ns), pvc) {
            tracing::debug!(claim = %claim, error = %e, "statefulset claim not created");
        }
    }
}

fn reconcile_set(store: &Store, set: &Value) -> Result<(), ApiError> {
    let ns = namespace(set).unwrap_or("default").to_string();
    let set_name = name(set).to_string();
    let desired = set
        .pointer("/spec/replicas")
        .and_then(Value::as_u64)
        .unwrap_or(1) as usize;
    let parallel = str_at(set, "/spec/podManagementPolicy") == Some("Parallel");
    let on_delete = str_at(set, "/spec/updateStrategy/type") == Some("OnDelete");
    let template = set
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(Value::Null);
    let revision = format!("{set_name}-{}", pod_template_hash(&template));

    let mut pods: Vec<(usize, Value)> = owned_pods(store, Some(&ns), uid(set))
        .into_iter()
        .filter_map(|p| ordinal(&set_name, &p).map(|i| (i, p)))
        .collect();
    pods.sort_by_key(|(i, _)| *i);
    let all_ready = pods.iter().all(|(_, p)| is_pod_ready(p));

    // Scale down: ordinals >= desired go, highest first.
    let surplus: Vec<&(usize, Value)> = pods.iter().rev().filter(|(i, _)| *i >= desired).collect();
    let removals = if parallel {
        surplus.len()
    } else {
        usize::from(all_ready && !surplus.is_empty())
    };
    for (_, p) in surplus.into_iter().take(removals) {
        let _ = store.delete(&PODS, Some(&ns), name(p));
    }

    // Scale up: the missing ordinals below desired, lowest first.
    for i in 0..desired {
        if pods.iter().any(|(o, _)| *o == i) {
            continue;
        }
        let predecessors_ready = pods
            .iter()
            .filter(|(o, _)| *o < i)
            .all(|(_, p)| is_pod_ready(p));
        if !parallel && !predecessors_ready {
            break;
        }
        ensure_claims(store, set, &ns, &set_name, i);
        let node = pick_node(store);
        store.create(
            &PODS,
            Some(&ns),
            pod_for(set, &set_name, i, &revision, node.as_deref()),
        )?;
        if !parallel {
            break;
        }
    }

    // Rolling update: the highest-ordinal outdated pod, once every pod is Ready.
    if !on_delete && all_ready {
        let outdated = pods
            .iter()
            .rev()
            .find(|(i, p)| *i < desired && label(p, REVISION_LABEL) != Some(revision.as_str()));
        if let Some((_, p)) = outdated {
            let _ = store.delete(&PODS, Some(&ns), name(p));
        }
    }

    let pods = owned_pods(store, Some(&ns), uid(set));
    let replicas = pods.len();
    let ready = pods.iter().filter(|p| is_pod_ready(p)).count();
    let updated = pods
        .iter()
        .filter(|p| label(p, REVISION_LABEL) == Some(revision.as_str()))
        .count();
    let generation = set
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    store.modify(&STATEFULSETS, Some(&ns), &set_name, |obj| {
        let st = obj_mut(obj, "status");
        st.insert("observedGeneration".into(), json!(generation));
        st.insert("replicas".into(), json!(replicas));
        st.insert("readyReplicas".into(), json!(ready));
        st.insert("availableReplicas".into(), json!(ready));
        st.insert("currentReplicas".into(), json!(updated));
        st.insert("updatedReplicas".into(), json!(updated));
        st.insert("currentRevision".into(), json!(revision));
        st.insert("updateRevision".into(), json!(revision));
        st.insert("collisionCount".into(), json!(0));
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_get_ordinal_names_identity_labels_and_claims() {
        let set = json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
            "spec": {
                "serviceName": "web",
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}],
                        "volumes": [{"name": "data", "emptyDir": {}}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"}}],
            },
        });
        let pod = pod_for(&set, "web", 2, "web-abc", None);
        assert_eq!(name(&pod), "web-2");
        assert_eq!(label(&pod, POD_NAME_LABEL), Some("web-2"));
        assert_eq!(label(&pod, POD_INDEX_LABEL), Some("2"));
        assert_eq!(label(&pod, REVISION_LABEL), Some("web-abc"));
        assert_eq!(pod["spec"]["hostname"], "web-2");
        assert_eq!(pod["spec"]["subdomain"], "web");
        assert_eq!(
            pod["spec"]["volumes"],
            json!([{"name": "data", "persistentVolumeClaim": {"claimName": "data-web-2"}}])
        );
        assert_eq!(ordinal("web", &pod), Some(2));
        assert_eq!(ordinal("we", &pod), None);
    }

    fn mark_ready(store: &Store, ns: &str, pod: &str) {
        let _ = store.modify(&PODS, Some(ns), pod, |p| {
            p["status"] = json!({"phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}]});
        });
    }

    fn pod_names(store: &Store, set: &Value) -> Vec<String> {
        let mut names: Vec<String> = owned_pods(store, Some("default"), uid(set))
            .iter()
            .map(|p| name(p).to_string())
            .collect();
        names.sort();
        names
    }

    /// OrderedReady: one pod at a time, each after its predecessor is Ready; claims from the
    /// templates; scale-down removes the highest ordinal first; the status counts follow.
    #[test]
    fn ordered_ready_scales_up_and_down_one_ordinal_at_a_time() {
        let store = crate::api::Store::new();
        store.ensure_namespace("default").ok();
        let created = store.create(
            &STATEFULSETS,
            Some("default"),
            json!({"metadata": {"name": "db"},
                "spec": {"replicas": 2, "serviceName": "db",
                    "selector": {"matchLabels": {"app": "db"}},
                    "template": {"metadata": {"labels": {"app": "db"}},
                        "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "data"},
                        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "longhorn",
                            "resources": {"requests": {"storage": "1Gi"}}}}]}}),
        );
        assert!(created.is_ok(), "{created:?}");
        let set = created.unwrap_or_default();
        let pass = || {
            let cur = store.get(&STATEFULSETS, Some("default"), "db");
            reconcile_set(&store, &cur.unwrap_or_default())
        };
        assert!(pass().is_ok());
        assert_eq!(pod_names(&store, &set), ["db-0"]);
        assert!(store.get(&PVCS, Some("default"), "data-db-0").is_some());
        assert!(pass().is_ok());
        assert_eq!(pod_names(&store, &set), ["db-0"], "db-1 waits for db-0");
        mark_ready(&store, "default", "db-0");
        assert!(pass().is_ok());
        assert_eq!(pod_names(&store, &set), ["db-0", "db-1"]);
        mark_ready(&store, "default", "db-1");
        assert!(pass().is_ok());
        let status = store
            .get(&STATEFULSETS, Some("default"), "db")
            .map(|s| s["status"].clone())
            .unwrap_or_default();
        assert_eq!(
            (
                status["replicas"].as_u64(),
                status["readyReplicas"].as_u64()
            ),
            (Some(2), Some(2))
        );

        let _ = store.modify(&STATEFULSETS, Some("default"), "db", |s| {
            s["spec"]["replicas"] = json!(0);
        });
        assert!(pass().is_ok());
        assert_eq!(
            pod_names(&store, &set),
            ["db-0"],
            "the highest ordinal goes first"
        );
        assert!(pass().is_ok());
        assert!(pod_names(&store, &set).is_empty());
        assert!(
            store.get(&PVCS, Some("default"), "data-db-1").is_some(),
            "claims are retained"
        );
    }
}
