//! `cleanup`: delete only what this drill created — objects carrying its run id label. Backup
//! objects are first labelled `longhorn.io/delete-custom-resource-only: "true"`, so deleting the
//! object never deletes the backup's data on the backup target (Longhorn 1.7.2+).

use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::Api;

use super::LABEL_RUN_ID;
use crate::cluster::retry;
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};
use crate::longhorn::{Backup, Snapshot, LABEL_DELETE_CR_ONLY};

pub async fn run(ctx: &mut DrillContext) -> StepResult {
    let conn = match ctx.conn().await {
        Ok(c) => c,
        Err(e) => {
            return Err(StepFailure::unreachable(format!(
                "cannot reach the cluster to clean up: {e}"
            )))
        }
    };
    let ns = ctx.profile.expect.longhorn_namespace.clone();
    let selector = format!("{LABEL_RUN_ID}={}", ctx.record.run_id);
    let lp = ListParams::default().labels(&selector);
    let mut deleted = Vec::new();
    let dp = DeleteParams::default();

    let backups: Api<Backup> = Api::namespaced(conn.client.clone(), &ns);
    for b in retry::with_retry(&ctx.stats, "api", || backups.list(&lp))
        .await?
        .items
    {
        let name = b.metadata.name.clone().unwrap_or_default();
        let patch = serde_json::json!({"metadata": {"labels": {LABEL_DELETE_CR_ONLY: "true"}}});
        let (pp, merge) = (PatchParams::default(), Patch::Merge(&patch));
        retry::with_retry(&ctx.stats, "api", || backups.patch(&name, &pp, &merge)).await?;
        // Only delete once the label is known to be on the object.
        let now = backups.get(&name).await?;
        let labelled = now
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_DELETE_CR_ONLY))
            .map(String::as_str)
            == Some("true");
        if !labelled {
            return Err(StepFailure::new(format!("backup {name} did not keep the {LABEL_DELETE_CR_ONLY} label; not deleting it (that would delete its data on the backup target)")));
        }
        retry::with_retry(&ctx.stats, "api", || backups.delete(&name, &dp)).await?;
        deleted.push(format!(
            "Backup {name} (object only; the backup stays on the target)"
        ));
    }
    let snapshots: Api<Snapshot> = Api::namespaced(conn.client.clone(), &ns);
    for s in retry::with_retry(&ctx.stats, "api", || snapshots.list(&lp))
        .await?
        .items
    {
        let name = s.metadata.name.clone().unwrap_or_default();
        retry::with_retry(&ctx.stats, "api", || snapshots.delete(&name, &dp)).await?;
        deleted.push(format!("Snapshot {name}"));
    }
    ctx.check(
        "cleanup",
        true,
        format!("only objects labelled {selector} deleted"),
        if deleted.is_empty() {
            "nothing left to delete".to_string()
        } else {
            deleted.join(", ")
        },
    );
    for d in deleted {
        ctx.say(format!("deleted {d}"));
    }
    Ok(())
}
