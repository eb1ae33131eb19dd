//! Deployments and DaemonSets: pods from templates, and the workload status clients wait on.
//!
//! A Deployment gets one Pod per replica named `<deployment>-<pod-template-hash>-<5 chars>`
//! (labels from the template plus `pod-template-hash`, an ownerReference to the Deployment);
//! pods of an older template are deleted first (the `Recreate` strategy the sentinel uses).
//! The status carries `replicas`, `readyReplicas`, `availableReplicas`, `updatedReplicas`,
//! `observedGeneration` and the `Available`/`Progressing` conditions as the deployment
//! controller writes them (reasons `MinimumReplicasAvailable`, `NewReplicaSetAvailable`).
//! A DaemonSet gets one Pod per node. Simplification: pods are owned by the workload directly,
//! without a ReplicaSet in between (see FIDELITY.md).

use std::sync::Arc;

use serde_json::{json, Value};

use super::context::{Controller, Ctx};
use super::naming::{deployment_pod_name, k8s_suffix, pod_template_hash};
use super::object::{is_owned_by, name, namespace, owner_reference, set_condition, str_at};
use super::pods::{is_pod_ready, pick_node};
use crate::api::resources::{DAEMONSETS, DEPLOYMENTS, NODES, PODS};
use crate::api::{ResourceType, Store};

/// A Pending Pod for `template` owned by `owner`.
pub fn pod_from_template(
    owner: &Value,
    owner_api_version: &str,
    owner_kind: &str,
    pod_name: &str,
    extra_labels: &[(&str, &str)],
    node: Option<&str>,
) -> Value {
    let template = owner
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut labels = template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if !labels.is_object() {
        labels = json!({});
    }
    for (k, v) in extra_labels {
        labels[*k] = json!(v);
    }
    let mut spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    if spec.get("restartPolicy").is_none() {
        spec["restartPolicy"] = json!("Always");
    }
    spec["schedulerName"] = json!("default-scheduler");
    if let Some(node) = node {
        spec["nodeName"] = json!(node);
    }
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name,
            "namespace": namespace(owner),
            "labels": labels,
            "ownerReferences": [owner_reference(owner, owner_api_version, owner_kind)],
        },
        "spec": spec,
        "status": {"phase": "Pending", "qosClass": "Burstable"},
    });
    if let Some(annotations) = template.pointer("/metadata/annotations") {
        pod["metadata"]["annotations"] = annotations.clone();
    }
    pod
}

/// Pods owned by the object with `owner_uid` in `ns`.
pub fn owned_pods(store: &Store, ns: Option<&str>, owner_uid: &str) -> Vec<Value> {
    store.list_where(&PODS, ns, |p| is_owned_by(p, owner_uid))
}

/// Reconciles Deployments.
#[derive(Default)]
pub struct DeploymentController;

impl Controller for DeploymentController {
    fn name(&self) -> &'static str {
        "deployments"
    }

    fn watches(&self) -> &'static [&'static ResourceType] {
        static W: [&ResourceType; 3] = [&DEPLOYMENTS, &PODS, &NODES];
        &W
    }

    fn reconcile(&mut self, ctx: &Arc<Ctx>) {
        for d in ctx.store.list(&DEPLOYMENTS, None) {
            if let Err(e) = reconcile_deployment(&ctx.store, &d) {
                tracing::debug!(deployment = name(&d), error = %e, "deployment reconcile failed");
            }
        }
    }
}

fn reconcile_deployment(store: &Store, d: &Value) -> Result<(), crate::api::ApiError> {
    let ns = namespace(d).unwrap_or("default").to_string();
    let d_name = name(d).to_string();
    let uid = super::object::uid(d).to_string();
    let desired = d
        .pointer("/spec/replicas")
        .and_then(Value::as_u64)
        .unwrap_or(1) as usize;
    let template = d.pointer("/spec/template").cloned().unwrap_or(Value::Null);
    let hash = pod_template_hash(&template);

    let pods = owned_pods(store, Some(&ns), &uid);
    let (current, old): (Vec<Value>, Vec<Value>) = pods
        .into_iter()
        .partition(|p| super::object::label(p, "pod-template-hash") == Some(hash.as_str()));
    for p in &old {
        let _ = store.delete(&PODS, Some(&ns), name(p));
    }
    // Recreate: the new template's pods start only once the old ones are gone
    if old.is_empty() {
        if current.len() < desired {
            for _ in current.len()..desired {
                let pod_name = deployment_pod_name(&d_name, &hash);
                let node = pick_node(store);
                let pod = pod_from_template(
                    d,
                    "apps/v1",
                    "Deployment",
                    &pod_name,
                    &[("pod-template-hash", &hash)],
                    node.as_deref(),
                );
                store.create(&PODS, Some(&ns), pod)?;
            }
        } else if current.len() > desired {
            let mut victims = current.clone();
            // delete not-ready pods first, as the ReplicaSet controller does
            victims.sort_by_key(is_pod_ready);
            for p in victims.iter().take(current.len() - desired) {
                let _ = store.delete(&PODS, Some(&ns), name(p));
            }
        }
    }

    let pods = owned_pods(store, Some(&ns), &uid);
    let replicas = pods.len();
    let updated = pods
        .iter()
        .filter(|p| super::object::label(p, "pod-template-hash") == Some(hash.as_str()))
        .count();
    let ready = pods.iter().filter(|p| is_pod_ready(p)).count();
    let generation = d
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let rs_name = format!("{d_name}-{hash}");
    store.modify(&DEPLOYMENTS, Some(&ns), &d_name, |obj| {
        let st = super::object::obj_mut(obj, "status");
        st.insert("observedGeneration".into(), json!(generation));
        st.insert("replicas".into(), json!(replicas));
        st.insert("updatedReplicas".into(), json!(updated));
        st.insert("readyReplicas".into(), json!(ready));
        st.insert("availableReplicas".into(), json!(ready));
        if replicas > ready {
            st.insert("unavailableReplicas".into(), json!(replicas - ready));
        } else {
            st.remove("unavailableReplicas");
        }
        let available = ready >= desired;
        if available {
            set_condition(
                obj,
                "Available",
                true,
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            );
        } else {
            set_condition(
                obj,
                "Available",
                false,
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            );
        }
        if available && updated == replicas {
            let msg = format!("ReplicaSet \"{rs_name}\" has successfully progressed.");
            set_condition(obj, "Progressing", true, "NewReplicaSetAvailable", &msg);
        } else {
            let msg = format!("ReplicaSet \"{rs_name}\" is progressing.");
            set_condition(obj, "Progressing", true, "ReplicaSetUpdated", &msg);
        }
    })?;
    Ok(())
}

/// Whether a Deployment reports `Available=True` with every desired replica ready.
pub fn deployment_available(d: &Value) -> bool {
    let desired = d
        .pointer("/spec/replicas")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    let ready = d
        .pointer("/status/readyReplicas")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    super::object::condition(d, "Available") == Some(true) && ready >= desired
}

/// Whether a DaemonSet has a ready pod on every node.
pub fn daemonset_ready(ds: &Value) -> bool {
    let desired = ds
        .pointer("/status/desiredNumberScheduled")
        .and_then(Value::as_u64);
    let ready = ds.pointer("/status/numberReady").and_then(Value::as_u64);
    matches!((desired, ready), (Some(d), Some(r)) if d > 0 && r >= d)
}

/// Reconciles DaemonSets: one pod per node, status counts.
pub struct DaemonSetController;

impl Controller for DaemonSetController {
    fn name(&self) -> &'static str {
        "daemonsets"
    }

    fn watches(&self) -> &'static [&'static ResourceType] {
        static W: [&ResourceType; 3] = [&DAEMONSETS, &PODS, &NODES];
        &W
    }

    fn reconcile(&mut self, ctx: &Arc<Ctx>) {
        let nodes: Vec<String> = ctx
            .store
            .list(&NODES, None)
            .iter()
            .map(|n| name(n).to_string())
            .collect();
        for ds in ctx.store.list(&DAEMONSETS, None) {
            let ns = namespace(&ds).unwrap_or("default").to_string();
            let ds_name = name(&ds).to_string();
            let pods = owned_pods(&ctx.store, Some(&ns), super::object::uid(&ds));
            for node in &nodes {
                let has = pods
                    .iter()
                    .any(|p| str_at(p, "/spec/nodeName") == Some(node.as_str()));
                if !has {
                    let pod_name = format!("{ds_name}-{}", k8s_suffix(5));
                    let pod =
                        pod_from_template(&ds, "apps/v1", "DaemonSet", &pod_name, &[], Some(node));
                    if let Err(e) = ctx.store.create(&PODS, Some(&ns), pod) {
                        tracing::debug!(daemonset = %ds_name, error = %e, "daemonset pod not created");
                    }
                }
            }
            let pods = owned_pods(&ctx.store, Some(&ns), super::object::uid(&ds));
            let ready = pods.iter().filter(|p| is_pod_ready(p)).count();
            let generation = ds
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let desired = nodes.len();
            let scheduled = pods.len().min(desired);
            let _ = ctx.store.modify(&DAEMONSETS, Some(&ns), &ds_name, |obj| {
                let st = super::object::obj_mut(obj, "status");
                st.insert("observedGeneration".into(), json!(generation));
                st.insert("desiredNumberScheduled".into(), json!(desired));
                st.insert("currentNumberScheduled".into(), json!(scheduled));
                st.insert("updatedNumberScheduled".into(), json!(scheduled));
                st.insert("numberMisscheduled".into(), json!(0));
                st.insert("numberReady".into(), json!(ready));
                st.insert("numberAvailable".into(), json!(ready));
                if desired > ready {
                    st.insert("numberUnavailable".into(), json!(desired - ready));
                } else {
                    st.remove("numberUnavailable");
                }
            });
        }
    }
}
