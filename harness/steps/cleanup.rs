//! `cleanup`: delete only what this drill created — objects carrying its run id label.
//!
//! Backup objects need care: from Longhorn 1.7.2 they are first labelled
//! `longhorn.io/delete-custom-resource-only: "true"`, so deleting the object leaves the backup's
//! data on the backup target. Longhorn 1.7.0/1.7.1 have no such label
//! (longhorn-manager@v1.7.2:datastore/longhorn.go introduces it; absent at v1.7.1) and delete the
//! backup from the target with its object, so there — and when the version is unknown — the
//! Backup objects are left alone and the step says why ([`backup_policy`]).

use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::Api;

use super::LABEL_RUN_ID;
use crate::cluster::retry;
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};
use crate::engine::record::RunRecord;
use crate::longhorn::version::{self, LonghornVersion};
use crate::longhorn::{Backup, Snapshot, LABEL_DELETE_CR_ONLY};

/// What cleanup does with the drill's Backup objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupPolicy {
    /// Label `delete-custom-resource-only`, then delete the object; the data stays.
    DeleteObjectOnly,
    /// Leave the objects; why (for the step's output).
    Leave(String),
}

/// The policy for a cluster running `version` (None: unknown).
pub fn backup_policy(version: Option<LonghornVersion>) -> BackupPolicy {
    match version {
        Some(v) if v.has_cr_only_delete() => BackupPolicy::DeleteObjectOnly,
        Some(v) => BackupPolicy::Leave(format!(
            "Longhorn {v} has no {LABEL_DELETE_CR_ONLY} label (it exists from 1.7.2): deleting a Backup object there deletes the backup on the target, so the drill's Backup objects are left in place"
        )),
        None => BackupPolicy::Leave(format!(
            "the Longhorn version is unknown, and before 1.7.2 deleting a Backup object deletes the backup on the target ({LABEL_DELETE_CR_ONLY} does not exist there): the drill's Backup objects are left in place"
        )),
    }
}

/// Runs the `cleanup` step: deletes the objects labelled with this run id; Backup objects only
/// where [`backup_policy`] for `facts.longhorn_version` says deleting them keeps the data.
///
/// # Errors
/// A [`StepFailure`] when the cluster cannot be reached or a delete is refused.
pub async fn run(ctx: &mut DrillContext) -> StepResult {
    let ns = ctx.profile.expect.longhorn_namespace.clone();
    let selector = format!("{LABEL_RUN_ID}={}", ctx.record.run_id);
    let lp = ListParams::default().labels(&selector);
    if left_destroyed(&ctx.record) {
        if let Some(why) = gone(ctx, &ns, &lp).await {
            ctx.check(
                "cleanup",
                true,
                format!("only objects labelled {selector} deleted"),
                format!("nothing to delete: the cluster this drill destroyed was not rebuilt and {why}; what the drill created there went with it"),
            );
            return Ok(());
        }
    }
    let conn = match ctx.conn().await {
        Ok(c) => c,
        Err(e) => {
            return Err(StepFailure::unreachable(format!(
                "cannot reach the cluster to clean up: {e}"
            )))
        }
    };
    let mut deleted = Vec::new();
    let dp = DeleteParams::default();

    let known: Option<String> = ctx.record.facts.longhorn_version.clone();
    let longhorn_version = match known.and_then(|v| v.parse::<LonghornVersion>().ok()) {
        Some(v) => Some(v),
        // A resumed drill whose preflight predates the version fact: read it now.
        None => version::detect(&conn.client, &ns).await?.version,
    };
    let policy = backup_policy(longhorn_version);
    let backups: Api<Backup> = Api::namespaced(conn.client.clone(), &ns);
    let ours = retry::with_retry(&ctx.stats, "api", || backups.list(&lp))
        .await?
        .items;
    let mut left_alone = Vec::new();
    if let BackupPolicy::Leave(why) = &policy {
        for b in &ours {
            left_alone.push(b.metadata.name.clone().unwrap_or_default());
        }
        if !left_alone.is_empty() {
            ctx.say(format!(
                "left Backup {} in place: {why}",
                left_alone.join(", ")
            ));
        }
    }
    let to_delete = if policy == BackupPolicy::DeleteObjectOnly {
        ours
    } else {
        Vec::new()
    };
    for b in to_delete {
        let name = b.metadata.name.clone().unwrap_or_default();
        let patch = serde_json::json!({"metadata": {"labels": {LABEL_DELETE_CR_ONLY: "true"}}});
        let (pp, merge) = (PatchParams::default(), Patch::Merge(&patch));
        retry::with_retry(&ctx.stats, "api", || backups.patch(&name, &pp, &merge)).await?;
        // Only delete once the label is known to be on the object.
        let now = backups.get(&name).await?;
        // Longhorn checks the key's presence, any value (datastore/longhorn.go above).
        let labelled = now
            .metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(LABEL_DELETE_CR_ONLY));
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
    let mut found = if deleted.is_empty() {
        "nothing left to delete".to_string()
    } else {
        deleted.join(", ")
    };
    if let (false, BackupPolicy::Leave(why)) = (left_alone.is_empty(), &policy) {
        found.push_str(&format!(
            "; Backup {} left in place: {why}",
            left_alone.join(", ")
        ));
    }
    ctx.check(
        "cleanup",
        true,
        format!("only objects labelled {selector} deleted"),
        found,
    );
    for d in deleted {
        ctx.say(format!("deleted {d}"));
    }
    Ok(())
}

/// Whether a destroy step of this drill passed (it proved the cluster gone) and no rebuild
/// step has passed since: the objects the drill created went with the cluster.
pub fn left_destroyed(record: &RunRecord) -> bool {
    let destroyed = record
        .steps
        .iter()
        .rposition(|s| s.kind == "destroy" && s.status.is_success());
    destroyed.is_some_and(|i| {
        !record.steps[i..]
            .iter()
            .any(|s| s.kind == "rebuild" && s.status.is_success())
    })
}

/// Why the cluster is taken to be still gone (no kubeconfig, or one connection refused), or
/// None when something answers, as a rebuild that failed late may have left a cluster up.
/// One attempt, not the API retries' 25 s: against a cluster known destroyed they only delay
/// the report.
async fn gone(ctx: &mut DrillContext, ns: &str, lp: &ListParams) -> Option<String> {
    let conn = match ctx.conn().await {
        Ok(c) => c,
        Err(e) => return Some(format!("cannot be reached ({e})")),
    };
    let backups: Api<Backup> = Api::namespaced(conn.client.clone(), ns);
    match backups.list(lp).await {
        Err(e) if retry::transient_kind(&e).as_deref() == Some("api-connect") => {
            Some(format!("does not answer at {} ({e})", conn.api_server))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::record::{StepRecord, StepStatus};

    fn step(kind: &str, status: StepStatus) -> StepRecord {
        StepRecord::not_run(kind, kind, status, None)
    }

    fn record(steps: &[(&str, StepStatus)]) -> RunRecord {
        let mut r = RunRecord::new("r".into(), "full-rebuild", "p", "c");
        r.steps = steps.iter().map(|(k, s)| step(k, *s)).collect();
        r
    }

    #[test]
    fn left_destroyed_only_after_a_destroy_without_a_rebuild() {
        use StepStatus::{Failed, Passed, Resumed, Skipped};
        assert!(left_destroyed(&record(&[
            ("destroy", Passed),
            ("rebuild", Failed)
        ])));
        assert!(left_destroyed(&record(&[
            ("destroy", Resumed),
            ("rebuild", Skipped)
        ])));
        assert!(!left_destroyed(&record(&[
            ("destroy", Passed),
            ("rebuild", Passed)
        ])));
        assert!(!left_destroyed(&record(&[
            ("destroy", Passed),
            ("rebuild", Resumed)
        ])));
        // A destroy that did not prove the cluster gone leaves it possibly up.
        assert!(!left_destroyed(&record(&[
            ("destroy", Failed),
            ("rebuild", Skipped)
        ])));
        assert!(!left_destroyed(&record(&[("backup", Passed)])));
        // A second disaster after a rebuild: the last destroy counts.
        assert!(left_destroyed(&record(&[
            ("destroy", Passed),
            ("rebuild", Passed),
            ("destroy", Passed),
        ])));
    }

    #[test]
    fn backups_are_left_alone_before_1_7_2_and_when_unknown() {
        for old in ["1.7.0", "1.7.1"] {
            match backup_policy(Some(old.parse().unwrap())) {
                BackupPolicy::Leave(why) => {
                    assert!(why.contains(old) && why.contains("1.7.2"), "{why}")
                }
                other => panic!("{old}: {other:?}"),
            }
        }
        assert!(matches!(backup_policy(None), BackupPolicy::Leave(_)));
        for ok in ["1.7.2", "1.7.3", "1.8.2", "1.9.1", "1.10.1"] {
            assert_eq!(
                backup_policy(Some(ok.parse().unwrap())),
                BackupPolicy::DeleteObjectOnly,
                "{ok}"
            );
        }
    }
}
