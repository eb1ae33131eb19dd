//! `revert`: revert the sentinel volume to the drill's snapshot through longhorn-manager's REST
//! API — the way the Longhorn UI and `curl` do it; Longhorn has no CRD field for a revert.
//!
//! longhorn-manager (v1.7–v1.10, `api/router.go` + `api/volume.go`) serves
//! `POST /v1/volumes/<vol>?action=snapshotRevert` with body `{"name": "<snapshot>"}` on the
//! `longhorn-backend` Service, port 9500, in `longhorn-system`. Read in longhorn-manager's
//! `api/volume.go` (v1.8-era source): the handler refuses standby volumes and, when
//! `spec.frontend` is set and `spec.disableFrontend` is not, answers "cannot revert snapshot for
//! volume %v with frontend enabled" (wrapped in "failed to revert snapshot"). Longhorn's docs
//! ("Revert a snapshot") therefore require the volume attached in maintenance mode (frontend
//! disabled, no workload): the workload is scaled to 0 by the `scale` step first. Known gap: the
//! harness does not itself attach the detached volume in maintenance mode (`?action=attach` with
//! `disableFrontend: true`) before reverting; the sandbox's manager accepts a detached volume.
//! From outside the cluster the harness reaches the Service through the Kubernetes API server's
//! service proxy (`/api/v1/namespaces/<ns>/services/<svc>:<port>/proxy/...`), with the drill's
//! own kubeconfig credentials.
//!
//! Only the sentinel's own volume (`steps::facts::VOLUME`) is reverted, and only to the snapshot
//! this drill took (issue #6). The step marks the disaster (RTO runs from the revert to the data
//! verified).

use std::time::{Duration, Instant};

use kube::Api;

use super::facts;
use super::snapshot::REVERT_SNAPSHOT;
use crate::cluster::retry;
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};
use crate::longhorn::{Snapshot, Volume};

/// longhorn-manager's Service and port (Longhorn chart `longhorn-backend`, port 9500).
pub const MANAGER_SERVICE: &str = "longhorn-backend:9500";

/// The API-server proxy path of longhorn-manager's `snapshotRevert` action for `volume`.
pub fn revert_path(longhorn_namespace: &str, volume: &str) -> String {
    format!("/api/v1/namespaces/{longhorn_namespace}/services/{MANAGER_SERVICE}/proxy/v1/volumes/{volume}?action=snapshotRevert")
}

pub async fn run(ctx: &mut DrillContext, timeout: Duration) -> StepResult {
    let volume: String = ctx.fact(facts::VOLUME).ok_or_else(|| {
        StepFailure::new("no sentinel volume recorded; deploy-sentinel must run before revert")
    })?;
    let snapshot: String = ctx.fact(REVERT_SNAPSHOT).ok_or_else(|| {
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
    let state = before.status.map(|s| s.state).unwrap_or_default();
    ctx.say(format!("volume {volume} is {state} before the revert"));

    let started = Instant::now();
    ctx.mark("disaster");
    ctx.set_fact(facts::DISASTER_AT, chrono::Utc::now().to_rfc3339());
    let path = revert_path(&ns, &volume);
    let body = serde_json::json!({"name": snapshot})
        .to_string()
        .into_bytes();
    let request = http::Request::post(&path)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json")
        .body(body)
        .map_err(|e| StepFailure::new(format!("building the snapshotRevert request: {e}")))?;
    let answer = tokio::time::timeout(timeout, conn.client.request_text(request)).await;
    let text = match answer {
        Err(_) => {
            return Err(StepFailure::unreachable(format!(
                "longhorn-manager did not answer the snapshotRevert of {volume} within {}s",
                timeout.as_secs()
            )))
        }
        Ok(Err(kube::Error::Api(s))) => {
            ctx.check(
                "revert-accepted",
                false,
                format!("longhorn-manager reverts {volume} to {snapshot}"),
                s.message.clone(),
            );
            return Err(StepFailure::new(format!(
                "longhorn-manager refused to revert volume {volume} to snapshot {snapshot} (HTTP {}): {}. The volume must be detached from every workload (scale it to 0 first)",
                s.code, s.message
            ))
            .diagnostic(format!("POST {path}")));
        }
        Ok(Err(e)) => {
            return Err(StepFailure::unreachable(format!(
                "reaching longhorn-manager through the API server's service proxy: {e}"
            )))
        }
        Ok(Ok(text)) => text,
    };
    ctx.check(
        "revert-accepted",
        true,
        format!("longhorn-manager reverts {volume} to {snapshot}"),
        summarize(&text),
    );
    ctx.say(format!("reverted volume {volume} to snapshot {snapshot}"));
    ctx.phase("revert", started.elapsed());
    Ok(())
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
