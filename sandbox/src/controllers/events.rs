//! Core `Event` objects (`v1/Event`) recorded by the simulated controllers and the bootstrap.
//!
//! Real clusters leave a trail of Events that operators (and the harness's failure reports)
//! read to see what happened; the sandbox records one at every bootstrap gate and controller
//! milestone, shaped like the kubelet's and controllers' Events (`involvedObject`, `reason`,
//! `message`, `type`, `source.component`, `count`, timestamps).

use serde_json::{json, Value};

use super::naming::k8s_suffix;
use super::object::{name, namespace, now_rfc3339, uid};
use crate::api::resources::EVENTS;
use crate::api::{ResourceType, Store};

/// `Normal` or `Warning`, as `Event.type` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Routine progress.
    Normal,
    /// Something went wrong.
    Warning,
}

impl EventKind {
    fn as_str(self) -> &'static str {
        match self {
            EventKind::Normal => "Normal",
            EventKind::Warning => "Warning",
        }
    }
}

/// Records an Event about `obj` (of type `rt`) from `component`. The Event goes in the object's
/// namespace, or `default` for cluster-scoped objects (as Kubernetes does). Failures (e.g. the
/// namespace is gone) are logged, not returned: an Event must never stop a controller.
pub fn record(
    store: &Store,
    rt: &ResourceType,
    obj: &Value,
    component: &str,
    kind: EventKind,
    reason: &str,
    message: &str,
) {
    let ns = namespace(obj).unwrap_or("default").to_string();
    let now = now_rfc3339();
    let event = json!({
        "metadata": {
            "name": format!("{}.{}", name(obj), k8s_suffix(16)),
            "namespace": ns,
        },
        "involvedObject": {
            "apiVersion": rt.api_version(),
            "kind": rt.kind,
            "name": name(obj),
            "namespace": namespace(obj),
            "uid": uid(obj),
        },
        "reason": reason,
        "message": message,
        "type": kind.as_str(),
        "source": {"component": component},
        "reportingComponent": component,
        "count": 1,
        "firstTimestamp": now,
        "lastTimestamp": now,
    });
    if let Err(e) = store.create(&EVENTS, Some(&ns), event) {
        tracing::debug!(error = %e, reason, "event not recorded");
    }
}
