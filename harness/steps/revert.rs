//! `revert`: revert the sentinel volume to the drill's snapshot through longhorn-manager's REST
//! API — the way the Longhorn UI and `curl` do it; Longhorn has no CRD field for a revert.
//!
//! longhorn-manager refuses `snapshotRevert` while the volume's frontend is enabled
//! (`api/snapshot.go` `SnapshotRevert`, v1.7–v1.10: `spec.frontend` set and
//! `spec.disableFrontend` not → "cannot revert snapshot for volume %v with frontend enabled",
//! wrapped in "failed to revert snapshot"); a plainly detached volume is refused the same way
//! and has no engine to revert with. Longhorn's docs ("Revert a snapshot") therefore attach the
//! volume in maintenance mode first. So the step, after the `scale` step stopped the workload:
//!
//! 1. attaches in maintenance mode on a Ready node: `POST /v1/volumes/<vol>?action=attach` with
//!    `{"hostId", "disableFrontend": true, "attachedBy", "attacherType": "longhorn-api",
//!    "attachmentID"}` (`api/model.go` `AttachInput`, v1.5–v1.10; since 1.5 this adds a
//!    `longhorn-api` ticket to the volume's Longhorn VolumeAttachment, `manager/volume.go`
//!    `Attach`; older releases read only `hostId`/`disableFrontend` and ignore the rest), and
//!    waits until the Volume is `attached`;
//! 2. reverts: `POST /v1/volumes/<vol>?action=snapshotRevert` with `{"name": "<snapshot>"}`;
//! 3. detaches — also when the revert failed, so no ticket is left holding the volume:
//!    `POST /v1/volumes/<vol>?action=detach` with `{"attachmentID", "hostId"}` (`DetachInput`;
//!    1.5+ deletes exactly that ticket) and, after a successful revert, waits until the Volume
//!    is `detached` so the `scale` step can bring the workload back.
//!
//! If a workload still uses the volume, Longhorn 1.5+ accepts the ticket but the workload's
//! attachment keeps the frontend enabled, and the revert is refused in Longhorn's words — the
//! step reports that answer. The Service is `longhorn-backend:9500` in the Longhorn namespace,
//! reached from outside the cluster through the Kubernetes API server's service proxy
//! (`/api/v1/namespaces/<ns>/services/<svc>:<port>/proxy/...`) with the drill's own kubeconfig
//! credentials.
//!
//! Only the sentinel's own volume (`DrillFacts::volume`) is reverted, and only to the snapshot
//! this drill took (issue #6). The step marks the disaster (RTO runs from the revert to the data
//! verified).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::api::ListParams;
use kube::{Api, Client};

use crate::cluster::{retry, wait};
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};
use crate::longhorn::{Snapshot, Volume};

/// longhorn-manager's Service and port (Longhorn chart `longhorn-backend`, port 9500).
pub const MANAGER_SERVICE: &str = "longhorn-backend:9500";

/// Attacher type of a REST attachment (Longhorn 1.5+ `AttacherTypeLonghornAPI`, the default
/// `manager/volume.go` `Attach` fills in).
pub const ATTACHER_TYPE: &str = "longhorn-api";

/// The API-server proxy path of longhorn-manager's `snapshotRevert` action for `volume`.
pub fn revert_path(longhorn_namespace: &str, volume: &str) -> String {
    action_path(longhorn_namespace, volume, "snapshotRevert")
}

/// The API-server proxy path of longhorn-manager's volume `action` (`attach`, `detach`,
/// `snapshotRevert`) for `volume`.
pub fn action_path(longhorn_namespace: &str, volume: &str, action: &str) -> String {
    format!("/api/v1/namespaces/{longhorn_namespace}/services/{MANAGER_SERVICE}/proxy/v1/volumes/{volume}?action={action}")
}

/// The attachment ticket ID of this drill's maintenance attach, so the detach removes exactly
/// the ticket this drill created.
pub fn attachment_id(run_id: &str) -> String {
    format!("dr-harness-revert-{run_id}")
}

/// Maintenance-mode attach body (`api/model.go` `AttachInput`, Longhorn 1.5–1.10).
pub fn attach_body(node: &str, attachment_id: &str) -> serde_json::Value {
    serde_json::json!({
        "hostId": node,
        "disableFrontend": true,
        "attachedBy": "dr-harness",
        "attacherType": ATTACHER_TYPE,
        "attachmentID": attachment_id,
    })
}

/// Detach body (`api/model.go` `DetachInput`, Longhorn 1.5–1.10).
pub fn detach_body(node: &str, attachment_id: &str) -> serde_json::Value {
    serde_json::json!({"attachmentID": attachment_id, "hostId": node, "forceDetach": false})
}

/// How one longhorn-manager action went wrong.
enum ActionError {
    /// No answer within the step's timeout.
    Timeout,
    /// longhorn-manager answered an error: HTTP status and its message.
    Refused(u16, String),
    /// The API server or its proxy could not be reached.
    Unreachable(kube::Error),
}

impl ActionError {
    /// The step failure for `what` (e.g. "attach volume v in maintenance mode on node n").
    fn into_failure(self, what: &str, path: &str, timeout: Duration) -> StepFailure {
        match self {
            ActionError::Timeout => StepFailure::unreachable(format!(
                "longhorn-manager did not answer the request to {what} within {}s",
                timeout.as_secs()
            )),
            ActionError::Refused(code, message) => StepFailure::new(format!(
                "longhorn-manager refused to {what} (HTTP {code}): {message}"
            )),
            ActionError::Unreachable(e) => StepFailure::unreachable(format!(
                "reaching longhorn-manager through the API server's service proxy to {what}: {e}"
            )),
        }
        .diagnostic(format!("POST {path}"))
    }
}

/// POSTs one volume action through the service proxy; the answer's body on success.
async fn post_action(
    client: &Client,
    path: &str,
    body: &serde_json::Value,
    timeout: Duration,
) -> Result<String, ActionError> {
    let request = http::Request::post(path)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json")
        .body(body.to_string().into_bytes())
        .map_err(|e| ActionError::Refused(0, format!("building the request: {e}")))?;
    match tokio::time::timeout(timeout, client.request_text(request)).await {
        Err(_) => Err(ActionError::Timeout),
        Ok(Err(kube::Error::Api(s))) => Err(ActionError::Refused(s.code, s.message)),
        Ok(Err(e)) => Err(ActionError::Unreachable(e)),
        Ok(Ok(text)) => Ok(text),
    }
}

/// Node `Ready` condition (`status.conditions[type=Ready].status == "True"`).
fn node_ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The node to attach on: the volume's last node if it is Ready, else the first Ready node by
/// name (longhorn-manager refuses a node that is not Ready).
async fn pick_node(
    ctx: &DrillContext,
    client: &Client,
    prefer: &str,
) -> Result<String, StepFailure> {
    let nodes: Api<Node> = Api::all(client.clone());
    let list = {
        let lp = ListParams::default();
        retry::with_retry(&ctx.stats, "api", || nodes.list(&lp)).await?
    };
    let mut ready: Vec<String> = list
        .items
        .iter()
        .filter(|n| node_ready(n))
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    ready.sort();
    if ready.iter().any(|n| n == prefer) {
        return Ok(prefer.to_string());
    }
    ready.into_iter().next().ok_or_else(|| {
        StepFailure::new(format!(
            "no Ready node to attach the volume on for the revert ({} nodes, none Ready)",
            list.items.len()
        ))
    })
}

/// Runs `revert`: attaches `facts.volume` in maintenance mode, reverts it to
/// `facts.revert_snapshot` through longhorn-manager's REST API, detaches it, and writes
/// `facts.disaster_at`; `timeout` bounds each wait.
///
/// # Errors
/// A [`StepFailure`] when a fact is missing, no node is Ready, longhorn-manager refuses a call (its
/// text quoted), or a wait times out.
pub async fn run(ctx: &mut DrillContext, timeout: Duration) -> StepResult {
    let volume: String = ctx.record.facts.volume.clone().ok_or_else(|| {
        StepFailure::new("no sentinel volume recorded; deploy-sentinel must run before revert")
    })?;
    let snapshot: String = ctx.record.facts.revert_snapshot.clone().ok_or_else(|| {
        StepFailure::new("no snapshot recorded; the snapshot step must run before revert")
    })?;
    let conn = ctx.conn().await?;
    let ns = ctx.profile.expect.longhorn_namespace.clone();

    // The snapshot must be this drill's and of this volume.
    let snapshots: Api<Snapshot> = Api::namespaced(conn.client.clone(), &ns);
    let snap = retry::with_retry(&ctx.stats, "api", || snapshots.get_opt(&snapshot))
        .await?
        .ok_or_else(|| {
            StepFailure::new(format!(
                "snapshot {snapshot} no longer exists; nothing to revert to"
            ))
        })?;
    if snap.spec.volume != volume {
        return Err(StepFailure::new(format!(
            "snapshot {snapshot} is of volume {}, not of the sentinel volume {volume}",
            snap.spec.volume
        )));
    }
    let volumes: Api<Volume> = Api::namespaced(conn.client.clone(), &ns);
    let before = retry::with_retry(&ctx.stats, "api", || volumes.get_opt(&volume))
        .await?
        .ok_or_else(|| StepFailure::new(format!("Longhorn volume {volume} does not exist")))?;
    let status = before.status.unwrap_or_default();
    ctx.say(format!(
        "volume {volume} is {} before the revert",
        status.state
    ));
    let node = pick_node(ctx, &conn.client, &status.current_node_id).await?;
    let ticket = attachment_id(&ctx.record.run_id);

    let started = Instant::now();
    ctx.mark("disaster");
    ctx.record.facts.disaster_at = Some(chrono::Utc::now());

    // 1. maintenance-mode attach
    let what =
        format!("attach volume {volume} in maintenance mode (frontend disabled) on node {node}");
    let path = action_path(&ns, &volume, "attach");
    if let Err(e) = post_action(&conn.client, &path, &attach_body(&node, &ticket), timeout).await {
        ctx.check(
            "maintenance-attach",
            false,
            what.clone(),
            "refused or unanswered",
        );
        return Err(e.into_failure(&what, &path, timeout));
    }
    let attached = wait::wait_for(
        volumes.clone(),
        &volume,
        &format!("volume {volume} to attach in maintenance mode"),
        timeout,
        &ctx.stats,
        |v: Option<&Volume>| {
            v.and_then(|v| v.status.as_ref())
                .is_some_and(|st| st.state == "attached")
        },
        describe_state,
    )
    .await;
    if let Err(e) = attached {
        let failure = StepFailure::from(e);
        return Err(detach_after_failure(
            ctx,
            &conn.client,
            &ns,
            &volume,
            &node,
            &ticket,
            timeout,
            failure,
        )
        .await);
    }
    ctx.check(
        "maintenance-attach",
        true,
        what,
        format!("attached on {node}"),
    );

    // 2. revert
    let what = format!("revert volume {volume} to snapshot {snapshot}");
    let path = revert_path(&ns, &volume);
    let body = serde_json::json!({"name": snapshot});
    let text = match post_action(&conn.client, &path, &body, timeout).await {
        Ok(text) => text,
        Err(e) => {
            let found = match &e {
                ActionError::Refused(_, m) => m.clone(),
                ActionError::Timeout => "no answer".to_string(),
                ActionError::Unreachable(err) => err.to_string(),
            };
            ctx.check(
                "revert-accepted",
                false,
                format!("longhorn-manager reverts {volume} to {snapshot}"),
                found,
            );
            let failure = e.into_failure(&what, &path, timeout);
            return Err(detach_after_failure(
                ctx,
                &conn.client,
                &ns,
                &volume,
                &node,
                &ticket,
                timeout,
                failure,
            )
            .await);
        }
    };
    ctx.check(
        "revert-accepted",
        true,
        format!("longhorn-manager reverts {volume} to {snapshot}"),
        summarize(&text),
    );
    ctx.say(format!("reverted volume {volume} to snapshot {snapshot}"));

    // 3. detach and wait until the workload can take the volume again
    let what = format!("detach volume {volume} from node {node} after the revert");
    let path = action_path(&ns, &volume, "detach");
    post_action(&conn.client, &path, &detach_body(&node, &ticket), timeout)
        .await
        .map_err(|e| e.into_failure(&what, &path, timeout))?;
    wait::wait_for(
        volumes,
        &volume,
        &format!("volume {volume} to detach after the revert"),
        timeout,
        &ctx.stats,
        |v: Option<&Volume>| {
            v.and_then(|v| v.status.as_ref())
                .is_some_and(|st| st.state == "detached")
        },
        describe_state,
    )
    .await?;
    ctx.check(
        "volume-detached",
        true,
        format!("volume {volume} detached after the revert"),
        "detached",
    );
    ctx.phase("revert", started.elapsed());
    Ok(())
}

/// Detaches this drill's ticket after a failed attach wait or revert, so the volume is not left
/// in maintenance mode; the original failure is returned, with the detach's outcome added.
#[allow(clippy::too_many_arguments)]
async fn detach_after_failure(
    ctx: &mut DrillContext,
    client: &Client,
    ns: &str,
    volume: &str,
    node: &str,
    ticket: &str,
    timeout: Duration,
    failure: StepFailure,
) -> StepFailure {
    let what = format!("detach volume {volume} from node {node}");
    let path = action_path(ns, volume, "detach");
    match post_action(client, &path, &detach_body(node, ticket), timeout).await {
        Ok(_) => {
            ctx.say(format!(
                "detached volume {volume} (ticket {ticket}) after the failure"
            ));
            failure.diagnostic(format!("detach of {volume} after the failure: accepted"))
        }
        Err(e) => {
            let detach = e.into_failure(&what, &path, timeout);
            ctx.say(format!(
                "the detach after the failure failed too: {}",
                detach.message
            ));
            failure.diagnostic(format!(
                "detach of {volume} after the failure: {}; detach it by hand (ticket {ticket})",
                detach.message
            ))
        }
    }
}

fn describe_state(v: Option<&Volume>) -> String {
    format!(
        "state {:?}",
        v.and_then(|v| v.status.as_ref()).map(|st| st.state.clone())
    )
}

/// The volume's name and state from longhorn-manager's JSON answer, else the first 200 bytes.
fn summarize(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => format!(
            "volume {} state {}",
            v["name"].as_str().unwrap_or("?"),
            v["state"].as_str().unwrap_or("?")
        ),
        Err(_) => text.chars().take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn proxy_path_names_service_port_and_action() {
        assert_eq!(
            super::revert_path("longhorn-system", "vol-a"),
            "/api/v1/namespaces/longhorn-system/services/longhorn-backend:9500/proxy/v1/volumes/vol-a?action=snapshotRevert"
        );
    }
}
