//! `backup-freshness`: RPO compliance, read-only. For every judged Longhorn volume the newest
//! `Completed` backup must be younger than `max_age`.
//!
//! The age comes from the BackupVolume (`status.lastBackupAt`, the snapshot time of the newest
//! backup — what Longhorn itself would restore from) and is cross-checked in S3, because a
//! BackupVolume can outlive its data (Longhorn #9530/#9384): `volume.cfg` must exist with a
//! `LastBackupAt` inside the target and the cfg of the BackupVolume's `lastBackupName` must be
//! there and complete. A newer backup in `Error`, or one `InProgress` for longer than
//! `stuck_after` (Longhorn #9417/#9168), fails with Longhorn's own message. Optionally every
//! volume must be covered by a backup RecurringJob, and the newest RKE2/k3s etcd snapshot under
//! the profile's `etcd_snapshot_prefix` must be younger than `etcd_max_age`.
//!
//! Each judged volume's age is stored in the record (`backup_ages`) and rendered as
//! `dr_harness_backup_age_seconds{volume}`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::Api;

use crate::cluster::{retry, Connection};
use crate::config::scenario::BackupFreshnessStep;
use crate::config::values::format_duration;
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};
use crate::longhorn::{lookup, Backup, BackupVolume, Volume};
use crate::target::describe_sdk_error;

/// Longhorn volume label opting a volume into one RecurringJob (`recurring-job.longhorn.io/<job>:
/// enabled`; Longhorn v1.8 RecurringJob docs).
const JOB_LABEL_PREFIX: &str = "recurring-job.longhorn.io/";
/// Volume label opting into every RecurringJob of a group.
const GROUP_LABEL_PREFIX: &str = "recurring-job-group.longhorn.io/";
/// PVC label (value `enabled`) that makes Longhorn take a volume's recurring-job labels from its
/// PVC, replacing the volume's own: `recurring-job.longhorn.io/source`
/// (longhorn-manager@v1.7.1/v1.9.1:types/types.go `GetRecurringJobSourceLabelKey`;
/// controller/volume_controller.go and controller/recurring_job_controller.go
/// `syncRecurringJobLabelsToTargetResource`). It shares the job prefix but names no job.
const PVC_SOURCE_LABEL: &str = "recurring-job.longhorn.io/source";
/// How long a BackupVolume may lag behind a Completed Backup before it is judged as it is.
const SYNC_GRACE: Duration = Duration::from_secs(30);
/// RecurringJob tasks that produce backups (`RecurringJob.spec.task`).
const BACKUP_TASKS: &[&str] = &["backup", "backup-force-create"];

/// A backup RecurringJob: its name and groups.
#[derive(Debug, Clone)]
struct BackupJob {
    name: String,
    groups: Vec<String>,
}

/// Runs `backup-freshness` (read-only): every judged volume's newest `Completed` backup must be
/// younger than `spec.max_age` (BackupVolume `status.lastBackupAt`,
/// `longhorn-manager@v1.9.1:k8s/pkg/apis/longhorn/v1beta2/backupvolume.go`), cross-checked in S3;
/// optionally RecurringJob coverage and etcd snapshot age. Reads and writes no
/// [`DrillFacts`](crate::engine::facts::DrillFacts).
///
/// # Errors
/// A [`StepFailure`] naming every volume that is stale, uncovered, missing from S3 or has a failed
/// or stuck newer backup.
pub async fn run(ctx: &mut DrillContext, spec: &BackupFreshnessStep) -> StepResult {
    if !spec.volumes.is_empty() && spec.volume_selector.is_some() {
        return Err(StepFailure::new(
            "the backup-freshness step sets both `volumes` and `volume_selector`; keep one of them",
        ));
    }
    let conn = ctx.conn().await?;
    let ns = ctx.profile.expect.longhorn_namespace.clone();
    let now = Utc::now();
    let volumes = judged_volumes(ctx, &conn, &ns, spec).await?;
    let jobs = if spec.require_recurring_job {
        Some(backup_jobs(ctx, &conn, &ns).await?)
    } else {
        None
    };
    let mut problems = Vec::new();
    for volume in &volumes {
        let name = volume.metadata.name.clone().unwrap_or_default();
        judge_volume(ctx, &conn, &ns, &name, spec, now, &mut problems).await?;
        if let Some(jobs) = &jobs {
            let labels = recurring_labels(ctx, &conn, volume).await?;
            let covering = covering_jobs(&labels, jobs);
            let found = if covering.is_empty() {
                format!(
                    "none (backup jobs: {})",
                    list_or_none(jobs.iter().map(|j| j.name.clone()))
                )
            } else {
                covering.join(", ")
            };
            if !ctx.check(
                &format!("recurring-job {name}"),
                !covering.is_empty(),
                "a backup RecurringJob covers the volume",
                found,
            ) {
                problems.push(format!(
                    "volume {name} is covered by no RecurringJob of task backup (backup jobs: {}); label the volume recurring-job.longhorn.io/<job>=enabled or recurring-job-group.longhorn.io/<group>=enabled",
                    list_or_none(jobs.iter().map(|j| j.name.clone()))
                ));
            }
        }
    }
    if let Some(max) = spec.etcd_max_age {
        etcd_snapshots(ctx, max, now, &mut problems).await?;
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(StepFailure::new(format!(
            "backups do not meet the RPO target of {}: {}",
            format_duration(spec.max_age),
            problems.join("; ")
        )))
    }
}

fn list_or_none(items: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = items.collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// The Longhorn Volumes to judge: those named, those the selector picks, or all.
async fn judged_volumes(
    ctx: &mut DrillContext,
    conn: &Connection,
    ns: &str,
    spec: &BackupFreshnessStep,
) -> Result<Vec<Volume>, StepFailure> {
    let api: Api<Volume> = Api::namespaced(conn.client.clone(), ns);
    let lp = match &spec.volume_selector {
        Some(sel) => ListParams::default().labels(sel),
        None => ListParams::default(),
    };
    let listed = retry::with_retry(&ctx.stats, "api", || api.list(&lp))
        .await?
        .items;
    let volumes: Vec<Volume> = if spec.volumes.is_empty() {
        listed
    } else {
        let missing: Vec<&String> = spec
            .volumes
            .iter()
            .filter(|v| !listed.iter().any(|l| l.metadata.name.as_ref() == Some(*v)))
            .collect();
        if !missing.is_empty() {
            return Err(StepFailure::new(format!(
                "Longhorn volume(s) {} do not exist in {ns}; check `volumes` in the scenario against `kubectl -n {ns} get volumes.longhorn.io`",
                missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        listed
            .into_iter()
            .filter(|l| {
                l.metadata
                    .name
                    .as_ref()
                    .is_some_and(|n| spec.volumes.contains(n))
            })
            .collect()
    };
    if volumes.is_empty() {
        // An empty set proves nothing: never a pass.
        return Err(StepFailure::new(format!(
            "no Longhorn volume to judge in {ns}{}; nothing can be said about the RPO",
            spec.volume_selector
                .as_ref()
                .map(|s| format!(" matches the selector `{s}`"))
                .unwrap_or_default()
        )));
    }
    ctx.say(format!(
        "judging {} volume(s): {}",
        volumes.len(),
        volumes
            .iter()
            .filter_map(|v| v.metadata.name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(volumes)
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn age_of(now: DateTime<Utc>, at: DateTime<Utc>) -> Duration {
    (now - at).to_std().unwrap_or_default()
}

fn human_age(d: Duration) -> String {
    // Whole seconds: sub-second noise only hides the number that matters.
    format_duration(Duration::from_secs(d.as_secs()))
}

/// Age, S3 cross-check, failed and stuck backups of one volume.
async fn judge_volume(
    ctx: &mut DrillContext,
    conn: &Connection,
    ns: &str,
    vol: &str,
    spec: &BackupFreshnessStep,
    now: DateTime<Utc>,
    problems: &mut Vec<String>,
) -> StepResult {
    let bvs: Api<BackupVolume> = Api::namespaced(conn.client.clone(), ns);
    let backups: Api<Backup> = Api::namespaced(conn.client.clone(), ns);
    let (bv, all) = settled(ctx, &bvs, &backups, vol).await?;
    let want = format!(
        "newest Completed backup younger than {}",
        format_duration(spec.max_age)
    );

    let bv_status = bv
        .as_ref()
        .and_then(|b| b.status.clone())
        .unwrap_or_default();
    let last_at = parse_time(&bv_status.last_backup_at);
    match (&bv, last_at) {
        (None, _) => {
            ctx.check(&format!("backup-age {vol}"), false, want, "no BackupVolume");
            problems.push(format!(
                "volume {vol} has no BackupVolume: it was never backed up, or Longhorn has not synced the backup target (see `kubectl -n {ns} get backupvolumes.longhorn.io -l backup-volume={vol}`)"
            ));
        }
        (Some(_), None) => {
            ctx.check(
                &format!("backup-age {vol}"),
                false,
                want,
                "BackupVolume has no lastBackupAt",
            );
            problems.push(format!(
                "volume {vol} has no Completed backup (its BackupVolume has no lastBackupAt)"
            ));
        }
        (Some(_), Some(at)) => {
            let age = age_of(now, at);
            ctx.record
                .backup_ages
                .insert(vol.to_string(), age.as_secs_f64());
            let fresh = age <= spec.max_age;
            let found = format!(
                "{} old ({} at {})",
                human_age(age),
                bv_status.last_backup_name,
                bv_status.last_backup_at
            );
            if !ctx.check(&format!("backup-age {vol}"), fresh, want, found) {
                problems.push(format!(
                    "the newest backup of volume {vol} ({}) is {} old, older than the target of {}; check the volume's backup RecurringJob and `kubectl -n {ns} get backups.longhorn.io -l backup-volume={vol}`",
                    bv_status.last_backup_name,
                    human_age(age),
                    format_duration(spec.max_age)
                ));
            }
            cross_check_s3(
                ctx,
                vol,
                &bv_status.last_backup_name,
                spec.max_age,
                now,
                problems,
            )
            .await?;
        }
    }

    // Failed or stuck backups newer than the newest good one.
    let newest_good = lookup::newest_completed(&all)
        .and_then(|b| b.status.as_ref())
        .and_then(|s| parse_time(&s.snapshot_created_at))
        .or(last_at);
    let mut failed = Vec::new();
    let mut stuck = Vec::new();
    for b in &all {
        let Some(st) = b.status.as_ref() else {
            continue;
        };
        let name = b.metadata.name.clone().unwrap_or_default();
        // Serialised form is RFC 3339 whatever time crate k8s-openapi uses inside.
        let created = b
            .metadata
            .creation_timestamp
            .as_ref()
            .and_then(|t| serde_json::to_value(t).ok())
            .and_then(|v| v.as_str().and_then(parse_time));
        // Both times are whole seconds: a backup created in the second of the newest good
        // snapshot may well be newer, so the tie counts (a failure is not hidden by rounding).
        let newer = match (created, newest_good) {
            (Some(c), Some(g)) => c >= g,
            _ => true,
        };
        match st.state.as_str() {
            "Error" if newer => failed.push(format!(
                "{name} ended in Error: {}",
                if st.error.is_empty() {
                    "(no message)"
                } else {
                    &st.error
                }
            )),
            "InProgress" | "Pending" => {
                let running = created.map(|c| age_of(now, c)).unwrap_or_default();
                if running > spec.stuck_after {
                    stuck.push(format!(
                        "{name} {} for {} at {}%",
                        st.state,
                        human_age(running),
                        st.progress
                    ));
                }
            }
            _ => {}
        }
    }
    if !ctx.check(
        &format!("no-failed-backup {vol}"),
        failed.is_empty(),
        "no backup in Error since the newest Completed one",
        list_or_none(failed.iter().cloned()),
    ) {
        problems.push(format!("volume {vol}: backup {}", failed.join("; ")));
    }
    if !ctx.check(
        &format!("no-stuck-backup {vol}"),
        stuck.is_empty(),
        format!(
            "no backup InProgress for longer than {}",
            format_duration(spec.stuck_after)
        ),
        list_or_none(stuck.iter().cloned()),
    ) {
        problems.push(format!(
            "volume {vol}: backup {} — stuck (Longhorn #9417/#9168); look at the instance-manager logs of the volume's engine",
            stuck.join("; ")
        ));
    }
    Ok(())
}

/// The volume's BackupVolume and Backups, once the BackupVolume has caught up with the newest
/// Completed Backup object: Longhorn updates the BackupVolume from the backup target a moment
/// after a backup completes, and judging in between would blame a sync lag on the backups.
/// Gives up after [`SYNC_GRACE`] and returns what it last read.
async fn settled(
    ctx: &mut DrillContext,
    bvs: &Api<BackupVolume>,
    backups: &Api<Backup>,
    vol: &str,
) -> Result<(Option<BackupVolume>, Vec<Backup>), StepFailure> {
    let deadline = std::time::Instant::now() + SYNC_GRACE;
    loop {
        let bv =
            retry::with_retry(&ctx.stats, "api", || lookup::find_backup_volume(bvs, vol)).await?;
        let all = retry::with_retry(&ctx.stats, "api", || lookup::backups_of(backups, vol)).await?;
        let newest = lookup::newest_completed(&all)
            .and_then(|b| b.status.as_ref())
            .and_then(|s| parse_time(&s.snapshot_created_at));
        let synced = bv
            .as_ref()
            .and_then(|b| b.status.as_ref())
            .and_then(|s| parse_time(&s.last_backup_at));
        let behind = match (newest, synced) {
            (Some(n), Some(s)) => n > s,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if !behind || std::time::Instant::now() >= deadline {
            return Ok((bv, all));
        }
        ctx.stats.count("backupvolume-sync-lag");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `volume.cfg` present with `LastBackupAt` inside the target; the cfg of `last_backup` present
/// and complete (longhorn/backupstore layout, longhorn-facts.md §1).
async fn cross_check_s3(
    ctx: &mut DrillContext,
    vol: &str,
    last_backup: &str,
    max_age: Duration,
    now: DateTime<Utc>,
    problems: &mut Vec<String>,
) -> StepResult {
    let store = ctx.backup_target().map_err(StepFailure::new)?.backupstore();
    let vcfg_key = store.volume_cfg_key(vol);
    let vcfg = store.get_volume_cfg(vol).await.map_err(|e| {
        StepFailure::unreachable(format!("reading {vcfg_key} from the backup target: {e}"))
    })?;
    match vcfg {
        None => {
            ctx.check(
                &format!("s3-volume-cfg {vol}"),
                false,
                format!("{vcfg_key} present"),
                "absent",
            );
            problems.push(format!(
                "volume {vol}: the BackupVolume says it has backups but {vcfg_key} is missing in s3://{} (data lost on the target? Longhorn #9530/#9384)",
                store.bucket()
            ));
        }
        Some(cfg) => {
            let s3_age = parse_time(&cfg.last_backup_at).map(|t| age_of(now, t));
            let ok = s3_age.is_some_and(|a| a <= max_age);
            let found = match s3_age {
                Some(a) => format!(
                    "LastBackupAt {} ({} old), LastBackupName {}",
                    cfg.last_backup_at,
                    human_age(a),
                    cfg.last_backup_name
                ),
                None => format!("LastBackupAt `{}` unreadable", cfg.last_backup_at),
            };
            if !ctx.check(
                &format!("s3-volume-cfg {vol}"),
                ok,
                format!("{vcfg_key} LastBackupAt within the target"),
                found.clone(),
            ) {
                problems.push(format!(
                    "volume {vol}: in S3, {found}, not within {}",
                    format_duration(max_age)
                ));
            }
        }
    }
    let cfg_key = store.backup_cfg_key(vol, last_backup);
    let bcfg = store.get_backup_cfg(vol, last_backup).await.map_err(|e| {
        StepFailure::unreachable(format!("reading {cfg_key} from the backup target: {e}"))
    })?;
    let (ok, found) = match &bcfg {
        None => (false, "absent".to_string()),
        Some(c) if !c.is_complete() => {
            (false, "present but incomplete (no CreatedTime)".to_string())
        }
        Some(c) => (true, format!("present, created {}", c.created_time)),
    };
    if !ctx.check(
        &format!("s3-backup-cfg {vol}"),
        ok,
        format!("{cfg_key} present and complete"),
        found.clone(),
    ) {
        problems.push(format!(
            "volume {vol}: the newest backup {last_backup} named by the BackupVolume is not restorable: {cfg_key} {found}"
        ));
    }
    Ok(())
}

/// Every RecurringJob (`longhorn.io/v1beta2`) whose task makes backups.
async fn backup_jobs(
    ctx: &mut DrillContext,
    conn: &Connection,
    ns: &str,
) -> Result<Vec<BackupJob>, StepFailure> {
    let gvk = GroupVersionKind::gvk("longhorn.io", "v1beta2", "RecurringJob");
    let api: Api<DynamicObject> =
        Api::namespaced_with(conn.client.clone(), ns, &ApiResource::from_gvk(&gvk));
    let lp_all = ListParams::default();
    let list = retry::with_retry(&ctx.stats, "api", || api.list(&lp_all)).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|j| {
            let task = j
                .data
                .pointer("/spec/task")
                .and_then(|t| t.as_str())
                .unwrap_or("");
            BACKUP_TASKS.contains(&task)
        })
        .map(|j| BackupJob {
            name: j.metadata.name.clone().unwrap_or_default(),
            groups: j
                .data
                .pointer("/spec/groups")
                .and_then(|g| g.as_array())
                .map(|g| {
                    g.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect())
}

/// The recurring-job labels that apply to `volume`: its own, or its PVC's when the PVC carries
/// `recurring-job.longhorn.io/source: enabled` (then Longhorn syncs them from the PVC).
async fn recurring_labels(
    ctx: &mut DrillContext,
    conn: &Connection,
    volume: &Volume,
) -> Result<BTreeMap<String, String>, StepFailure> {
    let own = volume.metadata.labels.clone().unwrap_or_default();
    let mut pvc_labels = None;
    let ks = volume
        .status
        .as_ref()
        .map(|s| s.kubernetes_status.clone())
        .unwrap_or_default();
    if !ks.pvc_name.is_empty() && !ks.namespace.is_empty() {
        let pvcs: Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
            Api::namespaced(conn.client.clone(), &ks.namespace);
        if let Some(pvc) =
            retry::with_retry(&ctx.stats, "api", || pvcs.get_opt(&ks.pvc_name)).await?
        {
            pvc_labels = pvc.metadata.labels;
        }
    }
    Ok(effective_recurring_labels(&own, pvc_labels.as_ref()))
}

/// Whether `key` is a recurring-job or job-group label (not the PVC source label), as
/// longhorn-manager@v1.9.1:types/types.go `IsRecurringJobLabel` decides.
fn is_recurring_job_label(key: &str) -> bool {
    key != PVC_SOURCE_LABEL
        && (key.starts_with(JOB_LABEL_PREFIX) || key.starts_with(GROUP_LABEL_PREFIX))
}

/// The recurring-job labels Longhorn applies to a volume with labels `own` whose PVC has
/// `pvc` (None: no PVC): the PVC's when it carries [`PVC_SOURCE_LABEL`]`: enabled`, else the
/// volume's own.
fn effective_recurring_labels(
    own: &BTreeMap<String, String>,
    pvc: Option<&BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let from = match pvc {
        Some(p) if p.get(PVC_SOURCE_LABEL).map(String::as_str) == Some("enabled") => p,
        _ => own,
    };
    from.iter()
        .filter(|(k, _)| is_recurring_job_label(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Names of the backup jobs that cover a volume with `labels`. A volume with no recurring-job
/// label at all is in Longhorn's `default` group.
fn covering_jobs(labels: &BTreeMap<String, String>, jobs: &[BackupJob]) -> Vec<String> {
    let enabled = |prefix: &str| -> Vec<String> {
        labels
            .iter()
            .filter(|(_, v)| v.as_str() == "enabled")
            .filter_map(|(k, _)| k.strip_prefix(prefix).map(str::to_string))
            .collect()
    };
    let direct = enabled(JOB_LABEL_PREFIX);
    let mut groups = enabled(GROUP_LABEL_PREFIX);
    if labels.is_empty() {
        groups.push("default".into());
    }
    jobs.iter()
        .filter(|j| direct.contains(&j.name) || j.groups.iter().any(|g| groups.contains(g)))
        .map(|j| j.name.clone())
        .collect()
}

/// The newest object under the profile's `etcd_snapshot_prefix` (RKE2/k3s `etcd-s3` uploads) is
/// younger than `max_age`, judged by its S3 `LastModified`.
async fn etcd_snapshots(
    ctx: &mut DrillContext,
    max_age: Duration,
    now: DateTime<Utc>,
    problems: &mut Vec<String>,
) -> StepResult {
    let cfg = ctx
        .profile
        .backup_target
        .resolve()
        .map_err(|e| StepFailure::unreachable(e.to_string()))?;
    let Some(prefix) = cfg.etcd_snapshot_prefix.clone() else {
        return Err(StepFailure::new(
            "etcd_max_age is set but the profile has no backup_target.etcd_snapshot_prefix; set it to the etcd-s3 folder (e.g. \"etcd-snapshots/\")",
        ));
    };
    let bt = ctx.backup_target().map_err(StepFailure::new)?.clone();
    let mut newest: Option<(DateTime<Utc>, String)> = None;
    let mut count = 0usize;
    let mut token: Option<String> = None;
    loop {
        let out = bt
            .client
            .list_objects_v2()
            .bucket(&bt.bucket)
            .prefix(&prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| {
                StepFailure::unreachable(format!(
                    "listing s3://{}/{prefix}: {}",
                    bt.bucket,
                    describe_sdk_error(&e)
                ))
            })?;
        for obj in out.contents() {
            let (Some(key), Some(modified)) = (obj.key(), obj.last_modified()) else {
                continue;
            };
            count += 1;
            let at = DateTime::<Utc>::from_timestamp(modified.secs(), modified.subsec_nanos());
            if let Some(at) = at {
                if newest.as_ref().is_none_or(|(n, _)| at > *n) {
                    newest = Some((at, key.to_string()));
                }
            }
        }
        match out.next_continuation_token() {
            Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => break,
        }
    }
    let want = format!(
        "newest etcd snapshot under s3://{}/{prefix} younger than {}",
        bt.bucket,
        format_duration(max_age)
    );
    match newest {
        None => {
            ctx.check("etcd-snapshot-age", false, want, "no snapshot");
            problems.push(format!(
                "no etcd snapshot under s3://{}/{prefix}; check the etcd-s3 settings of RKE2/k3s (etcd-s3-folder)",
                bt.bucket
            ));
        }
        Some((at, key)) => {
            let age = age_of(now, at);
            let found = format!("{key}, {} old ({count} snapshots)", human_age(age));
            if !ctx.check("etcd-snapshot-age", age <= max_age, want, found) {
                problems.push(format!(
                    "the newest etcd snapshot {key} is {} old, older than the target of {}",
                    human_age(age),
                    format_duration(max_age)
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The PVC source label Longhorn reads is `recurring-job.longhorn.io/source` (the old
    /// `recurring-job-source.longhorn.io` is no Longhorn label), and it names no job.
    #[test]
    fn pvc_source_label_is_longhorns_and_names_no_job() {
        let own = labels(&[("recurring-job.longhorn.io/hourly", "enabled")]);
        let pvc = labels(&[
            ("recurring-job.longhorn.io/source", "enabled"),
            ("recurring-job-group.longhorn.io/backup-daily", "enabled"),
        ]);
        assert_eq!(
            effective_recurring_labels(&own, Some(&pvc)),
            labels(&[("recurring-job-group.longhorn.io/backup-daily", "enabled")])
        );
        let not_source = labels(&[
            ("recurring-job-source.longhorn.io", "enabled"),
            ("recurring-job-group.longhorn.io/backup-daily", "enabled"),
        ]);
        assert_eq!(effective_recurring_labels(&own, Some(&not_source)), own);
        assert_eq!(effective_recurring_labels(&own, None), own);
    }

    #[test]
    fn coverage_by_job_group_and_default_group() {
        let jobs = vec![
            BackupJob {
                name: "nightly".into(),
                groups: vec!["default".into()],
            },
            BackupJob {
                name: "hourly".into(),
                groups: vec!["db".into()],
            },
        ];
        assert_eq!(covering_jobs(&labels(&[]), &jobs), vec!["nightly"]);
        assert_eq!(
            covering_jobs(
                &labels(&[("recurring-job-group.longhorn.io/db", "enabled")]),
                &jobs
            ),
            vec!["hourly"]
        );
        assert_eq!(
            covering_jobs(
                &labels(&[("recurring-job.longhorn.io/nightly", "enabled")]),
                &jobs
            ),
            vec!["nightly"]
        );
        // A labelled volume leaves the default group; a disabled label covers nothing.
        assert!(covering_jobs(
            &labels(&[("recurring-job-group.longhorn.io/db", "disabled")]),
            &jobs
        )
        .is_empty());
    }
}
