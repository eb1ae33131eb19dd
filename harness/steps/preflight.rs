//! `preflight`: prove the drill can run, and that it may, before anything changes.
//!
//! Reachability (API, Longhorn, backup target) is checked first; a failure there is an
//! infrastructure error (exit 3). For a destructive scenario every guard must hold (else exit 2) —
//! `--allow-destroy`, the profile's `allow_destroy`, the drill-target marker ConfigMap on the
//! cluster, the hook tools on PATH — or the drill refuses here, having made no mutating call.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

use crate::cluster;
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};
use crate::longhorn;
use crate::target::BackupTarget;

/// Runs `preflight`: checks the API, Longhorn and the backup target are reachable and, for a
/// destructive scenario, every destroy guard. Writes `facts.longhorn_version` and
/// `facts.longhorn_version_source`.
///
/// # Errors
/// A [`StepFailure`] with `infrastructure` set (exit 3) when something is unreachable, or with
/// `usage` set (exit 2) when a guard does not hold.
pub async fn run(ctx: &mut DrillContext) -> StepResult {
    // 1. The Kubernetes API.
    let conn = ctx.conn().await?;
    let version = cluster::retry::with_retry(&ctx.stats, "api", || conn.client.apiserver_version())
        .await
        .map_err(|e| {
            if crate::engine::failure::unreachable_error(&e) {
                StepFailure::unreachable(format!("the Kubernetes API at {} does not answer: {e}; check the profile's kubeconfig and that the cluster is up", conn.api_server))
            } else {
                // It answered, and refused: the credentials or their RBAC grants, not the network.
                StepFailure::new(format!("the Kubernetes API at {} refused the version request: {e}; check the kubeconfig's credentials and their RBAC grants", conn.api_server))
            }
        })?;
    ctx.check(
        "api-reachable",
        true,
        format!("the API at {} answers", conn.api_server),
        format!("Kubernetes {}", version.git_version),
    );

    // 2. Who the cluster is; re-checked right before a destroy.
    let identity = cluster::identity(&conn, &ctx.stats).await?;
    ctx.check(
        "cluster-identity",
        true,
        "kube-system namespace UID",
        identity.kube_system_uid.clone(),
    );
    ctx.record.identity = Some(identity);

    // 3. Longhorn and its BackupTarget.
    let ns = ctx.profile.expect.longhorn_namespace.clone();
    let targets: Api<longhorn::BackupTarget> = Api::namespaced(conn.client.clone(), &ns);
    let target = match cluster::retry::with_retry(&ctx.stats, "api", || targets.get_opt("default")).await {
        Ok(t) => t,
        Err(kube::Error::Api(s)) if s.code == 404 => {
            return Err(StepFailure::unreachable(format!(
                "Longhorn is not installed on {}: the longhorn.io/v1beta2 BackupTarget resource does not exist (404); dr-harness drills Longhorn volumes",
                conn.api_server
            )))
        }
        Err(e) => return Err(e.into()),
    };
    let available = target
        .as_ref()
        .and_then(|t| t.status.as_ref())
        .is_some_and(|s| s.available);
    let found = match &target {
        None => format!("no BackupTarget `default` in {ns}"),
        Some(t) => format!(
            "BackupTarget default ({}) available={}",
            t.spec.backup_target_url,
            t.status.as_ref().is_some_and(|s| s.available)
        ),
    };
    if !ctx.check(
        "longhorn-backup-target-available",
        available,
        "BackupTarget `default` available",
        found.clone(),
    ) {
        return Err(StepFailure::unreachable(format!(
            "Longhorn's backup target is not available ({found}); look at `kubectl -n {ns} get backuptarget default -o yaml` and the credential secret"
        )));
    }

    // 3b. Which Longhorn: the rules that differ by release (longhorn::version).
    let detected = cluster::retry::with_retry(&ctx.stats, "api", || {
        longhorn::version::detect(&conn.client, &ns)
    })
    .await?;
    record_version(ctx, &detected);

    // 4. The backup target, seen by the harness itself — and the one Longhorn uses.
    let target_cfg = ctx
        .profile
        .backup_target
        .resolve()
        .map_err(|e| StepFailure::unreachable(e.to_string()))?;
    let longhorn_url = target
        .as_ref()
        .map(|t| t.spec.backup_target_url.clone())
        .unwrap_or_default();
    let profile_url = target_cfg.url.to_string();
    let same = same_target(&profile_url, &longhorn_url);
    if !ctx.check(
        "backup-target-matches-longhorn",
        same.is_ok(),
        format!("BackupTarget default's backupTargetURL names the profile's target {profile_url}"),
        longhorn_url.clone(),
    ) {
        return Err(StepFailure::new(format!(
            "the profile's backup target {profile_url} is not the one Longhorn backs up to ({longhorn_url:?} in `kubectl -n {ns} get backuptarget default`): {}. The drill would check backups in the wrong place; fix [backup_target] url in profile `{}`",
            same.err().unwrap_or_default(),
            ctx.profile.name
        )));
    }
    let keys = ctx.s3_keys.clone();
    let bt = BackupTarget::connect_counting(&target_cfg, keys, &ctx.redactor, ctx.stats.clone())
        .await
        .map_err(|e| StepFailure::unreachable(e.to_string()))?;
    bt.head_bucket().await.map_err(|e| {
        StepFailure::unreachable(format!("{e}; check the endpoint and the credentials"))
    })?;
    ctx.check(
        "s3-bucket-reachable",
        true,
        format!("HeadBucket {} succeeds", bt.bucket),
        "ok",
    );
    // 5. Guards for destructive scenarios — checked before the first write anywhere.
    if ctx.scenario.destructive {
        guard_destroy(ctx, &conn).await?;
    }

    // 6. One drill per cluster: the lock lives in the backup target, beside the backups.
    // A read-only run (`check`, `verify-backup --read-only`) writes nothing there, so it takes
    // no lock; it changes nothing another drill could trip over.
    if ctx.scenario.read_only {
        ctx.check(
            "drill-lock",
            true,
            "a read-only run takes no drill lock",
            "not taken (read-only)",
        );
    } else if ctx.lock.is_none() {
        let lock = crate::target::lock::DrillLock::acquire(
            &bt,
            &ctx.record.cluster,
            &ctx.record.run_id,
            &ctx.scenario.name,
            crate::target::lock::LOCK_TTL,
        )
        .await
        .map_err(|e| StepFailure::new(e.to_string()))?;
        ctx.lock = Some(lock);
        ctx.check(
            "drill-lock",
            true,
            "no other drill on this cluster",
            "lock taken",
        );
    }
    ctx.backup_target = Some(bt);
    Ok(())
}

/// Every condition a destroy needs; each failing one is named with how to satisfy it.
pub async fn guard_destroy(ctx: &mut DrillContext, conn: &cluster::Connection) -> StepResult {
    let mut refusals = Vec::new();
    let mut missing_tools = Vec::new();
    if !ctx.check(
        "allow-destroy-flag",
        ctx.allow_destroy_flag,
        "--allow-destroy on the command line",
        ctx.allow_destroy_flag.to_string(),
    ) {
        refusals.push("--allow-destroy was not given on the command line".to_string());
    }
    let allowed = ctx.profile.safety.allow_destroy;
    if !ctx.check(
        "profile-allows-destroy",
        allowed,
        "allow_destroy = true in [safety]",
        allowed.to_string(),
    ) {
        refusals.push(format!(
            "profile `{}` does not set allow_destroy = true in [safety]",
            ctx.profile.name
        ));
    }
    let marker = ctx.profile.safety.marker.clone();
    let cms: Api<ConfigMap> = Api::namespaced(conn.client.clone(), &marker.namespace);
    let present = cluster::retry::with_retry(&ctx.stats, "api", || cms.get_opt(&marker.configmap))
        .await?
        .is_some();
    if !ctx.check(
        "drill-target-marker",
        present,
        format!(
            "ConfigMap {}/{} marks the cluster as a drill target",
            marker.namespace, marker.configmap
        ),
        if present {
            "present".to_string()
        } else {
            "absent".to_string()
        },
    ) {
        refusals.push(format!(
            "the cluster carries no drill-target marker (ConfigMap {}/{}); create it only on clusters that may be destroyed",
            marker.namespace, marker.configmap
        ));
    }
    let hooks = [
        (
            crate::hooks::HookAction::Destroy,
            ctx.profile.hooks.destroy.clone(),
        ),
        (
            crate::hooks::HookAction::Rebuild,
            ctx.profile.hooks.rebuild.clone(),
        ),
    ];
    for (action, spec) in hooks {
        let which = action.as_str();
        match spec {
            None => refusals.push(format!("the profile has no [hooks.{which}]")),
            Some(spec) => {
                let plan = super::hook::plan(ctx, &spec, action);
                // A missing tool's message names the argv, which may carry a secret.
                for secret in plan.secret_values() {
                    ctx.redactor.add(&secret);
                }
                match crate::hooks::check_tools(&plan) {
                    Ok(()) => {
                        ctx.check(
                            &format!("{which}-hook-tool"),
                            true,
                            format!("{} on PATH", plan.program()),
                            "found",
                        );
                    }
                    Err(e) => {
                        ctx.check(
                            &format!("{which}-hook-tool"),
                            false,
                            "hook tool on PATH",
                            e.to_string(),
                        );
                        missing_tools.push(e.to_string());
                    }
                }
            }
        }
    }
    if !missing_tools.is_empty() {
        // The machine running the drill lacks a tool: a setup error the user fixes (exit 2).
        return Err(StepFailure::usage(format!(
            "refusing to run destructive scenario `{}`: {}. Install the tool or fix the hook's argv; nothing was changed",
            ctx.scenario.name,
            missing_tools.join("; ")
        )));
    }
    if refusals.is_empty() {
        Ok(())
    } else {
        // A guard the user must satisfy: a usage/configuration error (exit 2), nothing touched.
        Err(StepFailure::usage(format!(
            "refusing to run destructive scenario `{}` on {}: {}. Nothing was changed.",
            ctx.scenario.name,
            conn.api_server,
            refusals.join("; ")
        )))
    }
}

/// Records the detected Longhorn version in the run record's facts and the step's checks.
fn record_version(ctx: &mut DrillContext, detected: &longhorn::version::Detected) {
    match detected.version {
        Some(v) => {
            ctx.record.facts.longhorn_version = Some(v.to_string());
            ctx.check(
                "longhorn-version",
                true,
                "the Longhorn version is known",
                format!("{v} ({})", detected.source),
            );
        }
        None => {
            // Not fatal: the version-dependent steps take the safe side (cleanup leaves Backups).
            ctx.say(format!(
                "warning: could not tell the Longhorn version ({}); cleanup will leave Backup objects alone",
                detected.source
            ));
        }
    }
    ctx.record.facts.longhorn_version_source = Some(detected.source.clone());
}

/// Whether the profile's target URL and Longhorn's `backupTargetURL` name the same backups:
/// both parsed by Longhorn's own rules ([`dr_backupstore::BackupTargetUrl::parse`]: trailing
/// slash optional, paths cleaned like `filepath.Join`, percent-decoded), then bucket and prefix
/// equal and, when both name one, the region. Err says how they differ.
pub fn same_target(profile_url: &str, longhorn_url: &str) -> Result<(), String> {
    use dr_backupstore::BackupTargetUrl;
    let ours = BackupTargetUrl::parse(profile_url).map_err(|e| e.to_string())?;
    let theirs = BackupTargetUrl::parse(longhorn_url).map_err(|e| format!("Longhorn's {e}"))?;
    let mut diffs = Vec::new();
    if ours.bucket != theirs.bucket {
        diffs.push(format!("bucket {} vs {}", ours.bucket, theirs.bucket));
    }
    if ours.prefix != theirs.prefix {
        diffs.push(format!(
            "path {:?} vs {:?}",
            ours.prefix.trim_end_matches('/'),
            theirs.prefix.trim_end_matches('/')
        ));
    }
    // An empty region is "from the environment" (Longhorn: AWS_REGION): not a difference.
    if !ours.region.is_empty() && !theirs.region.is_empty() && ours.region != theirs.region {
        diffs.push(format!("region {} vs {}", ours.region, theirs.region));
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::same_target;

    #[test]
    fn target_comparison_normalises_longhorns_forms() {
        assert!(same_target("s3://backups@us-east-1/", "s3://backups@us-east-1/").is_ok());
        assert!(same_target("s3://backups@us-east-1/a/", "s3://backups/a").is_ok());
        let e = same_target("s3://backups@us-east-1/a/", "s3://backups@us-east-1/b/").unwrap_err();
        assert!(e.contains("path \"a\" vs \"b\""), "{e}");
        let e = same_target("s3://backups@us-east-1/", "s3://other@us-east-1/").unwrap_err();
        assert!(e.contains("bucket backups vs other"), "{e}");
        assert!(same_target("s3://backups@us-east-1/", "").is_err());
    }

    #[test]
    fn forms_longhorn_accepts_name_the_same_target() {
        for same in [
            "s3://backups@us-east-1/cluster-a",
            "s3://backups/cluster-a/",
            "s3://backups@us-east-1//cluster-a//",
            "S3://backups@us-east-1/cluster-a/./",
        ] {
            assert!(
                same_target("s3://backups@us-east-1/cluster-a/", same).is_ok(),
                "{same}"
            );
        }
        for other in [
            "s3://backups@us-east-1/cluster-b/",
            "s3://backups@us-east-1/",
            "s3://other@us-east-1/cluster-a/",
            "s3://backups@eu-west-1/cluster-a/",
            "nfs://backups@us-east-1/cluster-a/",
        ] {
            assert!(
                same_target("s3://backups@us-east-1/cluster-a/", other).is_err(),
                "{other}"
            );
        }
    }
}
