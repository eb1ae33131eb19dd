//! `snapshot`: a Longhorn Snapshot of the sentinel volume — the point a later `revert` goes back
//! to (rollback scenario B of seeds/operational-readiness-longhorn.md: snapshot before a risky
//! change).
//!
//! The Snapshot CR (`longhorn.io/v1beta2`, `spec.volume`, `spec.createSnapshot: true`) carries
//! the drill's run id so `cleanup` removes it; the step ends when Longhorn reports
//! `status.readyToUse`, and fails at once with `status.error`.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::PostParams;
use kube::Api;

use super::LABEL_RUN_ID;
use crate::cluster::{retry, wait};
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};
use crate::longhorn::{Snapshot, SnapshotSpec};

/// The revert point's name: `dr-harness-rp-<8 hex of the run id>` (Longhorn snapshot names
/// follow Kubernetes object-name rules).
pub fn revert_snapshot_name(run_id: &str) -> String {
    let hex = super::run_hex(run_id, 8);
    format!("dr-harness-rp-{hex}")
}

/// Runs `snapshot`: creates this run's Snapshot CR of `facts.volume` and waits up to `timeout` for
/// `status.readyToUse`; writes `facts.revert_snapshot`. Fields:
/// `longhorn-manager@v1.9.1:k8s/pkg/apis/longhorn/v1beta2/snapshot.go`.
///
/// # Errors
/// A [`StepFailure`] when no volume is recorded, Longhorn sets `status.error` (quoted), or the
/// snapshot is not ready in time.
pub async fn run(ctx: &mut DrillContext, timeout: Duration) -> StepResult {
    let volume: String = ctx.record.facts.volume.clone().ok_or_else(|| {
        StepFailure::new("no sentinel volume recorded; deploy-sentinel must run before snapshot")
    })?;
    let conn = ctx.conn().await?;
    let ns = ctx.profile.expect.longhorn_namespace.clone();
    let run_id = ctx.record.run_id.clone();
    let name = revert_snapshot_name(&run_id);
    let snapshots: Api<Snapshot> = Api::namespaced(conn.client.clone(), &ns);
    let mut snap = Snapshot::new(
        &name,
        SnapshotSpec {
            volume: volume.clone(),
            create_snapshot: true,
            labels: BTreeMap::new(),
        },
    );
    snap.metadata.labels = Some(BTreeMap::from([(LABEL_RUN_ID.to_string(), run_id.clone())]));
    let pp = PostParams::default();
    match retry::with_retry(&ctx.stats, "api", || snapshots.create(&pp, &snap)).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.reason == "AlreadyExists" => {
            let existing = snapshots.get(&name).await?;
            let ours = existing
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_RUN_ID))
                == Some(&run_id);
            if !ours {
                return Err(StepFailure::new(format!("snapshot {name} already exists and was not created by this drill; refusing to use it")));
            }
        }
        Err(e) => return Err(e.into()),
    }
    ctx.record.facts.revert_snapshot = Some(name.clone());
    let done = wait::wait_for(
        snapshots.clone(),
        &name,
        &format!("snapshot {name} of volume {volume} to be readyToUse"),
        timeout,
        &ctx.stats,
        |s: Option<&Snapshot>| {
            s.and_then(|s| s.status.as_ref())
                .is_some_and(|st| st.ready_to_use || !st.error.is_empty())
        },
        |s| format!("{:?}", s.and_then(|s| s.status.clone())),
    )
    .await?
    .ok_or_else(|| StepFailure::new(format!("snapshot {name} disappeared while waiting for it")))?;
    let status = done.status.unwrap_or_default();
    if !status.error.is_empty() {
        return Err(StepFailure::new(format!(
            "Longhorn could not take snapshot {name} of volume {volume}: {}",
            status.error
        )));
    }
    ctx.check(
        "snapshot-ready",
        true,
        format!("snapshot {name} readyToUse"),
        format!("created {}", status.creation_time),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn revert_point_name_is_derived_from_the_run_id() {
        assert_eq!(
            super::revert_snapshot_name("0a1b2c3d-4e5f-6789"),
            "dr-harness-rp-0a1b2c3d"
        );
    }
}
