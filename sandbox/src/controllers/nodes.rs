//! Node readiness: the kubelet's `Ready` condition for the sandbox's three nodes.
//!
//! The bootstrap creates the nodes `NotReady`; this controller turns each `Ready` once
//! [`Timing::node_ready`](crate::timing::Timing::node_ready) has passed since the controller
//! first saw it (the kubelet registering and its CNI coming up), and flips one back to
//! `Ready=False` while the `node-not-ready` fault names it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::context::{Controller, Ctx};
use super::object::{name, now_rfc3339};
use crate::api::resources::NODES;
use crate::api::ResourceType;

/// Names of the sandbox's nodes.
pub use crate::names::NODE_NAMES;

/// A new, not yet Ready, Node object as the kubelet registers it (labels as RKE2/k3s set them).
pub fn node_manifest(node: &str, index: usize) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node,
            "labels": {
                "kubernetes.io/hostname": node,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/control-plane": "true",
                "node.longhorn.io/create-default-disk": "true",
                "topology.kubernetes.io/zone": "sandbox",
            },
        },
        "spec": {"podCIDR": format!("10.42.{index}.0/24")},
        "status": {
            "conditions": [{
                "type": "Ready", "status": "False", "reason": "KubeletNotReady",
                "message": "container runtime network not ready",
                "lastHeartbeatTime": now_rfc3339(), "lastTransitionTime": now_rfc3339(),
            }],
            "addresses": [
                {"type": "InternalIP", "address": format!("10.0.0.{}", 10 + index)},
                {"type": "Hostname", "address": node},
            ],
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "100Gi"},
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "100Gi"},
            "nodeInfo": {
                "kubeletVersion": "v1.33.0-sandbox",
                "containerRuntimeVersion": "busybox://sandbox",
                "operatingSystem": "linux",
                "architecture": "amd64",
                "osImage": "dr-sandbox",
                "kernelVersion": "sandbox",
            },
        },
    })
}

/// Whether a Node object reports `Ready=True`.
pub fn is_ready(node: &serde_json::Value) -> bool {
    super::object::condition(node, "Ready") == Some(true)
}

/// Names of the nodes that are Ready, sorted.
pub fn ready_nodes(store: &crate::api::Store) -> Vec<String> {
    store
        .list(&NODES, None)
        .iter()
        .filter(|n| is_ready(n))
        .map(|n| name(n).to_string())
        .collect()
}

/// Keeps each node's `Ready` condition as timing and faults say.
#[derive(Default)]
pub struct NodeController {
    first_seen: HashMap<String, Instant>,
}

impl Controller for NodeController {
    fn name(&self) -> &'static str {
        "nodes"
    }

    fn watches(&self) -> &'static [&'static ResourceType] {
        static W: [&ResourceType; 1] = [&NODES];
        &W
    }

    fn reconcile(&mut self, ctx: &Arc<Ctx>) {
        for node in ctx.store.list(&NODES, None) {
            let node_name = name(&node).to_string();
            let seen = *self
                .first_seen
                .entry(node_name.clone())
                .or_insert_with(Instant::now);
            let booted = seen.elapsed() >= ctx.timing.node_ready;
            let faulted = ctx.faults.node_not_ready(&node_name);
            let want = booted && !faulted;
            if is_ready(&node) == want {
                continue;
            }
            let (reason, message) = if want {
                ("KubeletReady", "kubelet is posting ready status")
            } else if faulted {
                (
                    "KubeletNotReady",
                    "PLEG is not healthy: sandbox fault node-not-ready",
                )
            } else {
                ("KubeletNotReady", "container runtime network not ready")
            };
            let res = ctx.store.modify(&NODES, None, &node_name, |n| {
                super::object::set_condition(n, "Ready", want, reason, message);
            });
            if let Err(e) = res {
                tracing::debug!(node = %node_name, error = %e, "node status not updated");
            } else if is_ready(&node) != want {
                let kind = if want {
                    super::events::EventKind::Normal
                } else {
                    super::events::EventKind::Warning
                };
                let reason = if want { "NodeReady" } else { "NodeNotReady" };
                let message = format!("Node {node_name} status is now: {reason}");
                super::events::record(&ctx.store, &NODES, &node, "kubelet", kind, reason, &message);
            }
        }
        let live: Vec<String> = ctx
            .store
            .list(&NODES, None)
            .iter()
            .map(|n| name(n).to_string())
            .collect();
        self.first_seen.retain(|n, _| live.contains(n));
    }
}
