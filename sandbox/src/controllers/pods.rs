//! Pod scheduling and start-up: the scheduler, the kubelet and Longhorn's CSI attach, simplified.
//!
//! A Pod without `spec.nodeName` is placed on the least-loaded Ready node. A scheduled Pod stays
//! `Pending` (container `ContainerCreating`) until every PVC it mounts is `Bound` to a PV whose
//! Longhorn volume exists, is not restoring (`status.restoreRequired`) and is not faulted — as
//! the kubelet waits for `ControllerPublishVolume` — then, after
//! [`Timing::pod_start`](crate::timing::Timing::pod_start), its volumes become `attached` to the
//! pod's node and the pod `Running` with `Ready`/`ContainersReady` conditions and
//! containerStatuses. Pods owned by Jobs are run by the Job controller instead; pods of other
//! owners (and bare pods) run "forever": their commands are never executed, only `exec`s are.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

use super::context::{Controller, Ctx, LONGHORN_NAMESPACE};
use super::naming::hex_suffix;
use super::nodes::ready_nodes;
use super::object::{name, namespace, now_rfc3339, set_condition, str_at, uid};
use crate::api::resources::{LH_VOLUMES, NODES, PODS, PVCS, PVS};
use crate::api::{ResourceType, Store};

/// Whether a Pod is `Running` with `Ready=True`.
pub fn is_pod_ready(pod: &Value) -> bool {
    str_at(pod, "/status/phase") == Some("Running")
        && super::object::condition(pod, "Ready") == Some(true)
}

/// Whether a Pod is owned by a Job (the Job controller runs those).
pub fn is_job_pod(pod: &Value) -> bool {
    pod.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r.get("kind").and_then(Value::as_str) == Some("Job"))
        })
}

/// The Ready node with the fewest non-terminated pods (ties: lowest name); `None` when no node
/// is Ready.
pub fn pick_node(store: &Store) -> Option<String> {
    let ready = ready_nodes(store);
    let pods = store.list(&PODS, None);
    ready.into_iter().min_by_key(|n| {
        pods.iter()
            .filter(|p| str_at(p, "/spec/nodeName") == Some(n.as_str()))
            .filter(|p| {
                !matches!(
                    str_at(p, "/status/phase"),
                    Some("Succeeded") | Some("Failed")
                )
            })
            .count()
    })
}

/// The Longhorn volume names behind a pod's PVC volumes, or why the pod cannot start yet.
///
/// # Errors
/// A kubelet-style message naming the first claim or volume that is not ready.
pub fn claim_volumes(store: &Store, ns: &str, pod: &Value) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let volumes = pod
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for v in volumes {
        let Some(claim) = v
            .pointer("/persistentVolumeClaim/claimName")
            .and_then(Value::as_str)
        else {
            continue;
        };
        let pvc = store
            .get(&PVCS, Some(ns), claim)
            .ok_or_else(|| format!("persistentvolumeclaim \"{claim}\" not found"))?;
        if str_at(&pvc, "/status/phase") != Some("Bound") {
            return Err(format!(
                "pod has unbound immediate PersistentVolumeClaims (claim \"{claim}\")"
            ));
        }
        let pv_name = str_at(&pvc, "/spec/volumeName").unwrap_or_default();
        let pv = store
            .get(&PVS, None, pv_name)
            .ok_or_else(|| format!("persistentvolume \"{pv_name}\" not found"))?;
        let Some(handle) = str_at(&pv, "/spec/csi/volumeHandle") else {
            // not a Longhorn PV (e.g. hostPath): nothing to attach
            continue;
        };
        let vol = store.get(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), handle).ok_or_else(|| {
            format!("AttachVolume.Attach failed for volume \"{pv_name}\": volume {handle} not found")
        })?;
        if str_at(&vol, "/status/robustness") == Some("faulted") {
            return Err(format!(
                "AttachVolume.Attach failed for volume \"{pv_name}\": volume {handle} is faulted"
            ));
        }
        if vol
            .pointer("/status/restoreRequired")
            .and_then(Value::as_bool)
            == Some(true)
        {
            return Err(format!("volume {handle} is restoring from backup"));
        }
        match str_at(&vol, "/status/state") {
            Some("detached") | Some("attached") => {}
            other => {
                return Err(format!(
                    "volume {handle} is not ready (state {})",
                    other.unwrap_or("\"\"")
                ))
            }
        }
        out.push(handle.to_string());
    }
    Ok(out)
}

/// Marks Longhorn volumes attached to `node` for `pod` (Longhorn `status.state`,
/// `currentNodeID`, `kubernetesStatus.workloadsStatus`).
pub fn attach_volumes(store: &Store, volumes: &[String], node: &str, pod: &Value) {
    let owner = pod
        .pointer("/metadata/ownerReferences/0")
        .cloned()
        .unwrap_or(Value::Null);
    let workload = json!([{
        "podName": name(pod),
        "podStatus": "Running",
        "workloadName": owner.get("name").cloned().unwrap_or(json!("")),
        "workloadType": owner.get("kind").cloned().unwrap_or(json!("")),
    }]);
    for vol in volumes {
        let at = crate::transitions::stamp();
        let was_attached = at.is_some()
            && store
                .get(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), vol)
                .is_some_and(|v| str_at(&v, "/status/state") == Some("attached"));
        let res = store.modify(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), vol, |v| {
            let st = super::object::obj_mut(v, "status");
            st.insert("state".into(), json!("attached"));
            st.insert("currentNodeID".into(), json!(node));
            let ks = st.entry("kubernetesStatus").or_insert_with(|| json!({}));
            ks["workloadsStatus"] = workload.clone();
            ks["lastPodRefAt"] = json!("");
            ks["namespace"] = json!(namespace(pod));
        });
        match res {
            Err(e) => tracing::debug!(volume = %vol, error = %e, "volume not attached"),
            Ok(_) if !was_attached => crate::transitions::note(
                at,
                "Volume",
                Some(LONGHORN_NAMESPACE),
                vol,
                crate::transitions::change::VOLUME_ATTACHED,
            ),
            Ok(_) => {}
        }
    }
}

/// The status of a pod whose containers all run.
pub fn running_status(pod: &Value, node: &str, store: &Store) -> Value {
    let now = now_rfc3339();
    let host_ip = store
        .get(&NODES, None, node)
        .and_then(|n| {
            n.pointer("/status/addresses/0/address")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "10.0.0.10".into());
    let pod_ip = format!(
        "10.42.{}.{}",
        node.trim_start_matches("node-"),
        2 + rand::random::<u8>() % 200
    );
    let containers = container_statuses(pod, |_| json!({"running": {"startedAt": now}}), true);
    let cond = |t: &str| json!({"type": t, "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
    json!({
        "phase": "Running",
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": now,
        "qosClass": "Burstable",
        "conditions": [cond("PodReadyToStartContainers"), cond("Initialized"), cond("Ready"), cond("ContainersReady"), cond("PodScheduled")],
        "containerStatuses": containers,
    })
}

/// containerStatuses for every container of `pod`, with `state` built per container name.
pub fn container_statuses(pod: &Value, state: impl Fn(&str) -> Value, ready: bool) -> Value {
    let containers = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Value::Array(
        containers
            .iter()
            .map(|c| {
                let cname = c.get("name").and_then(Value::as_str).unwrap_or("");
                let image = c.get("image").and_then(Value::as_str).unwrap_or("");
                json!({
                    "name": cname,
                    "image": image,
                    "imageID": format!("{image}@sha256:{}", hex_suffix(64)),
                    "containerID": format!("containerd://{}", hex_suffix(64)),
                    "ready": ready,
                    "started": ready,
                    "restartCount": 0,
                    "state": state(cname),
                    "lastState": {},
                })
            })
            .collect(),
    )
}

/// Schedules a pod without node; returns the node (existing or new), or `None` if unschedulable.
pub fn ensure_scheduled(store: &Store, pod: &Value) -> Option<String> {
    if let Some(node) = str_at(pod, "/spec/nodeName") {
        return Some(node.to_string());
    }
    let ns = namespace(pod).unwrap_or("default");
    match pick_node(store) {
        Some(node) => {
            let res = store.modify(&PODS, Some(ns), name(pod), |p| {
                p["spec"]["nodeName"] = json!(node);
                set_condition(p, "PodScheduled", true, "", "");
            });
            res.ok().map(|_| node)
        }
        None => {
            let total = store.list(&NODES, None).len();
            let msg = format!("0/{total} nodes are available: {total} node(s) had untolerated taint {{node.kubernetes.io/not-ready: }}.");
            let _ = store.modify(&PODS, Some(ns), name(pod), |p| {
                set_condition(p, "PodScheduled", false, "Unschedulable", &msg);
            });
            None
        }
    }
}

/// Marks a pod as waiting for its volumes (container `ContainerCreating`).
fn set_waiting(store: &Store, pod: &Value, message: &str) {
    let ns = namespace(pod).unwrap_or("default");
    let containers = container_statuses(
        pod,
        |_| json!({"waiting": {"reason": "ContainerCreating", "message": message}}),
        false,
    );
    let _ = store.modify(&PODS, Some(ns), name(pod), |p| {
        let already = p
            .pointer("/status/containerStatuses/0/state/waiting/message")
            .and_then(Value::as_str)
            == Some(message);
        if !already {
            p["status"]["containerStatuses"] = containers;
        }
        set_condition(p, "PodScheduled", true, "", "");
    });
}

/// Starts scheduled pods once their volumes are usable.
#[derive(Default)]
pub struct PodController {
    startable_since: HashMap<String, Instant>,
}

impl Controller for PodController {
    fn name(&self) -> &'static str {
        "pods"
    }

    fn watches(&self) -> &'static [&'static ResourceType] {
        static W: [&ResourceType; 5] = [&PODS, &NODES, &PVCS, &PVS, &LH_VOLUMES];
        &W
    }

    fn reconcile(&mut self, ctx: &Arc<Ctx>) {
        let store = &ctx.store;
        let pods = store.list(&PODS, None);
        for pod in &pods {
            if is_job_pod(pod) || str_at(pod, "/status/phase") != Some("Pending") {
                continue;
            }
            let Some(node) = ensure_scheduled(store, pod) else {
                continue;
            };
            let ns = namespace(pod).unwrap_or("default").to_string();
            let volumes = match claim_volumes(store, &ns, pod) {
                Ok(v) => v,
                Err(msg) => {
                    self.startable_since.remove(uid(pod));
                    set_waiting(store, pod, &msg);
                    continue;
                }
            };
            let since = *self
                .startable_since
                .entry(uid(pod).to_string())
                .or_insert_with(Instant::now);
            let delay = ctx.timing.pod_start
                + if volumes.is_empty() {
                    Default::default()
                } else {
                    ctx.timing.volume_attach
                };
            if since.elapsed() < delay {
                continue;
            }
            attach_volumes(store, &volumes, &node, pod);
            let status = running_status(pod, &node, store);
            let res = store.modify(&PODS, Some(&ns), name(pod), |p| p["status"] = status);
            if res.is_ok() {
                let msg = format!(
                    "Started container {}",
                    str_at(pod, "/spec/containers/0/name").unwrap_or("")
                );
                super::events::record(
                    store,
                    &PODS,
                    pod,
                    "kubelet",
                    super::events::EventKind::Normal,
                    "Started",
                    &msg,
                );
            }
        }
        let live: std::collections::HashSet<&str> = pods.iter().map(uid).collect();
        self.startable_since
            .retain(|u, _| live.contains(u.as_str()));
    }
}

/// Longhorn volumes used by pods that run or are scheduled to start, with the pod's node
/// (what Longhorn's volume attachment tickets express). Pods that finished do not count.
pub fn volumes_in_use(store: &Store) -> std::collections::HashMap<String, String> {
    let mut used = std::collections::HashMap::new();
    for pod in store.list(&PODS, None) {
        let phase = str_at(&pod, "/status/phase").unwrap_or("Pending");
        let Some(node) = str_at(&pod, "/spec/nodeName") else {
            continue;
        };
        if !matches!(phase, "Running" | "Pending") {
            continue;
        }
        let ns = namespace(&pod).unwrap_or("default").to_string();
        let claims = pod
            .pointer("/spec/volumes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for v in claims {
            let Some(claim) = v
                .pointer("/persistentVolumeClaim/claimName")
                .and_then(Value::as_str)
            else {
                continue;
            };
            let Some(pvc) = store.get(&PVCS, Some(&ns), claim) else {
                continue;
            };
            let Some(pv) = str_at(&pvc, "/spec/volumeName").and_then(|n| store.get(&PVS, None, n))
            else {
                continue;
            };
            if let Some(h) = str_at(&pv, "/spec/csi/volumeHandle") {
                used.insert(h.to_string(), node.to_string());
            }
        }
    }
    used
}

/// Whether a Running pod mounts Longhorn volume `vol`.
pub fn volume_users_running(store: &Store, vol: &str) -> bool {
    store.list(&PODS, None).iter().any(|pod| {
        str_at(pod, "/status/phase") == Some("Running")
            && claim_volumes(store, namespace(pod).unwrap_or("default"), pod)
                .is_ok_and(|v| v.iter().any(|h| h == vol))
    })
}
