//! `delete-sentinel`: the disaster of `volume-restore` — delete the drill's own sentinel
//! Deployment, PVC, PV and Longhorn Volume, and nothing else — or, with `teardown = true`, tidy
//! them away at the end of a drill.
//!
//! Safety (issue #6): an object is the drill's own when it carries this run's
//! `dr-harness.io/run-id` label, or — for the PV and the Longhorn Volume, which the CSI
//! provisioner creates without the drill's labels — when it is the sentinel's well-known volume
//! recorded by `deploy-sentinel` (`DrillFacts::volume`) and Longhorn/Kubernetes tie it to the
//! sentinel PVC and nothing else, while that PVC is itself the drill's own. The disaster refuses to start unless every object present is
//! the drill's own (an adopted, GitOps-managed sentinel is not); the teardown skips what is not.
//! Backup and BackupVolume objects are never touched here: deleting them can delete the backup's
//! data on the backup target (longhorn-facts.md §2).

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::DeleteParams;
use kube::runtime::watcher;
use kube::{Api, Resource};

use super::LABEL_RUN_ID;
use crate::cluster::{retry, wait};
use crate::config::scenario::DeleteSentinelStep;
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};
use crate::longhorn::Volume;

/// How long each object may take to go away: pods get their 30 s default grace period and a
/// Longhorn volume detaches within a minute on a healthy cluster, so 4 minutes is a hang. (It is
/// also below the test runner's 5-minute limit, so a hang in a trial ends with this step's own
/// message — what was awaited, what was last seen — rather than a killed process.)
const GONE_TIMEOUT: Duration = Duration::from_secs(240);

/// One sentinel object and whether the drill may delete it.
struct Target {
    what: String,
    present: bool,
    ours: Result<(), String>,
}

/// Runs `delete-sentinel`: deletes the sentinel Deployment, PVC, PV and Longhorn Volume
/// (`facts.volume`) when all are the drill's own; the disaster records `facts.disaster_at` and
/// `facts.storage_class`, the teardown (`step.teardown`) skips objects that are not the drill's.
///
/// # Errors
/// A [`StepFailure`] when a present object is not the drill's own (disaster only), a delete is
/// refused, or the objects are not gone in time.
pub async fn run(ctx: &mut DrillContext, step: &DeleteSentinelStep) -> StepResult {
    let volume: String = ctx.record.facts.volume.clone().ok_or_else(|| {
        StepFailure::new(
            "no sentinel volume recorded; deploy-sentinel must run before delete-sentinel",
        )
    })?;
    let conn = ctx.conn().await?;
    let s = ctx.scenario.sentinel.clone();
    let ns = ctx.profile.expect.longhorn_namespace.clone();
    let run_id = ctx.record.run_id.clone();
    let deployments: Api<Deployment> = Api::namespaced(conn.client.clone(), &s.namespace);
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(conn.client.clone(), &s.namespace);
    let pvs: Api<PersistentVolume> = Api::all(conn.client.clone());
    let volumes: Api<Volume> = Api::namespaced(conn.client.clone(), &ns);

    let deployment =
        retry::with_retry(&ctx.stats, "api", || deployments.get_opt(&s.deployment)).await?;
    let pvc = retry::with_retry(&ctx.stats, "api", || pvcs.get_opt(&s.pvc)).await?;
    let pv = retry::with_retry(&ctx.stats, "api", || pvs.get_opt(&volume)).await?;
    let lh_volume = retry::with_retry(&ctx.stats, "api", || volumes.get_opt(&volume)).await?;

    // The PV and Volume count as the sentinel's own only while the sentinel PVC is (or is gone):
    // the well-known volume of an adopted sentinel is not the drill's to delete.
    let pvc_ours = pvc.as_ref().is_none_or(|p| labelled(p, &run_id).is_ok());
    let not_our_pvc = || Err("its sentinel PVC is not the drill's own".to_string());
    let targets = [
        Target {
            what: format!("Deployment {}/{}", s.namespace, s.deployment),
            present: deployment.is_some(),
            ours: deployment.as_ref().map_or(Ok(()), |d| labelled(d, &run_id)),
        },
        Target {
            what: format!("PersistentVolumeClaim {}/{}", s.namespace, s.pvc),
            present: pvc.is_some(),
            ours: pvc.as_ref().map_or(Ok(()), |p| labelled(p, &run_id)),
        },
        Target {
            what: format!("PersistentVolume {volume}"),
            present: pv.is_some(),
            ours: match &pv {
                None => Ok(()),
                Some(p) if labelled(p, &run_id).is_ok() => Ok(()),
                Some(_) if !pvc_ours => not_our_pvc(),
                Some(p) => pv_is_sentinels(p, &run_id, &volume, &s.namespace, &s.pvc),
            },
        },
        Target {
            what: format!("Longhorn Volume {ns}/{volume}"),
            present: lh_volume.is_some(),
            ours: match &lh_volume {
                None => Ok(()),
                Some(v) if labelled(v, &run_id).is_ok() => Ok(()),
                Some(_) if !pvc_ours => not_our_pvc(),
                Some(v) => volume_is_sentinels(v, &run_id, &volume, &s.namespace, &s.pvc),
            },
        },
    ];
    let refused: Vec<String> = targets
        .iter()
        .filter(|t| t.present)
        .filter_map(|t| {
            t.ours
                .as_ref()
                .err()
                .map(|why| format!("{}: {why}", t.what))
        })
        .collect();
    let owned = refused.is_empty();
    ctx.check(
        "only-own-objects",
        owned || step.teardown,
        format!("every sentinel object carries {LABEL_RUN_ID}={run_id} or is the recorded volume {volume}"),
        if owned { "all are the drill's own".to_string() } else { refused.join("; ") },
    );
    if !owned && !step.teardown {
        return Err(StepFailure::new(format!(
            "refusing to delete the sentinel: {}. volume-restore deletes only a sentinel this drill deployed itself; give the scenario its own [sentinel] namespace and names so deploy-sentinel applies a fresh one",
            refused.join("; ")
        )));
    }
    if let Some(class) = pvc
        .as_ref()
        .and_then(|p| p.spec.as_ref())
        .and_then(|sp| sp.storage_class_name.clone())
    {
        ctx.record.facts.storage_class = Some(class);
    }

    let started = Instant::now();
    if !step.teardown {
        // The RTO clock starts with the first deletion.
        ctx.mark("disaster");
        ctx.record.facts.disaster_at = Some(chrono::Utc::now());
    }
    let may = |i: usize| targets[i].present && targets[i].ours.is_ok();
    let dp = DeleteParams::default();
    let mut deleted = Vec::new();
    if may(0) {
        let selector = deployment
            .as_ref()
            .and_then(|d| d.spec.as_ref())
            .and_then(|sp| sp.selector.match_labels.clone())
            .unwrap_or_default()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        retry::with_retry(&ctx.stats, "api", || deployments.delete(&s.deployment, &dp)).await?;
        deleted.push(targets[0].what.clone());
        // The volume stays attached while a pod uses it.
        if !selector.is_empty() {
            let pods: Api<Pod> = Api::namespaced(conn.client.clone(), &s.namespace);
            wait::wait_for_set(
                pods,
                watcher::Config::default().labels(&selector),
                &format!("the sentinel pods ({selector}) to be gone"),
                GONE_TIMEOUT,
                &ctx.stats,
                |set: &[Pod]| set.is_empty(),
                |set| format!("{} pods left", set.len()),
            )
            .await?;
        }
    }
    if may(1) {
        retry::with_retry(&ctx.stats, "api", || pvcs.delete(&s.pvc, &dp)).await?;
        wait_gone(ctx, pvcs.clone(), &s.pvc, &targets[1].what).await?;
        deleted.push(targets[1].what.clone());
    }
    if may(2) {
        retry::with_retry(&ctx.stats, "api", || pvs.delete(&volume, &dp)).await?;
        wait_gone(ctx, pvs.clone(), &volume, &targets[2].what).await?;
        deleted.push(targets[2].what.clone());
    }
    if may(3) {
        // Longhorn deletes a volume cleanly once it is detached.
        wait::wait_for(
            volumes.clone(),
            &volume,
            &format!("volume {volume} to detach"),
            GONE_TIMEOUT,
            &ctx.stats,
            |v: Option<&Volume>| {
                v.is_none_or(|v| {
                    v.status
                        .as_ref()
                        .is_none_or(|st| st.state != "attached" && st.state != "attaching")
                })
            },
            |v| {
                format!(
                    "state {:?}",
                    v.and_then(|v| v.status.as_ref()).map(|st| st.state.clone())
                )
            },
        )
        .await?;
        retry::with_retry(&ctx.stats, "api", || volumes.delete(&volume, &dp)).await?;
        wait_gone(ctx, volumes.clone(), &volume, &targets[3].what).await?;
        deleted.push(targets[3].what.clone());
    }
    let skipped: Vec<String> = targets
        .iter()
        .filter(|t| t.present && t.ours.is_err())
        .map(|t| t.what.clone())
        .collect();
    if !skipped.is_empty() {
        ctx.say(format!(
            "left alone (not this drill's): {}",
            skipped.join(", ")
        ));
    }
    ctx.check(
        "sentinel-deleted",
        true,
        "the drill's own sentinel objects deleted; Backup and BackupVolume objects untouched",
        if deleted.is_empty() {
            "nothing to delete".to_string()
        } else {
            deleted.join(", ")
        },
    );
    for d in &deleted {
        ctx.say(format!("deleted {d}"));
    }
    if !step.teardown {
        ctx.phase("delete", started.elapsed());
    }
    Ok(())
}

/// Whether `obj` carries this run's id label.
fn labelled<K: Resource>(obj: &K, run_id: &str) -> Result<(), String> {
    match obj.meta().labels.as_ref().and_then(|l| l.get(LABEL_RUN_ID)) {
        Some(v) if v == run_id => Ok(()),
        Some(v) => Err(format!("labelled by another drill ({LABEL_RUN_ID}={v})")),
        None => Err(format!(
            "no {LABEL_RUN_ID} label (not deployed by this drill, e.g. adopted from GitOps)"
        )),
    }
}

/// A PV is the sentinel's own when labelled by this run, or when its CSI `volumeHandle` is the
/// recorded volume and its claim (if any) is the sentinel PVC.
fn pv_is_sentinels(
    pv: &PersistentVolume,
    run_id: &str,
    volume: &str,
    ns: &str,
    pvc: &str,
) -> Result<(), String> {
    if labelled(pv, run_id).is_ok() {
        return Ok(());
    }
    let spec = pv.spec.as_ref();
    let handle = spec
        .and_then(|s| s.csi.as_ref())
        .map(|c| c.volume_handle.as_str());
    if handle != Some(volume) {
        return Err(format!(
            "its volumeHandle {handle:?} is not the sentinel volume {volume}"
        ));
    }
    match spec.and_then(|s| s.claim_ref.as_ref()) {
        Some(c) if c.namespace.as_deref() != Some(ns) || c.name.as_deref() != Some(pvc) => {
            Err(format!(
                "claimed by {}/{}, not by the sentinel PVC {ns}/{pvc}",
                c.namespace.clone().unwrap_or_default(),
                c.name.clone().unwrap_or_default()
            ))
        }
        _ => Ok(()),
    }
}

/// A Longhorn Volume is the sentinel's own when labelled by this run, or when it is the recorded
/// volume and Longhorn's `kubernetesStatus` names no PVC other than the sentinel's.
fn volume_is_sentinels(
    v: &Volume,
    run_id: &str,
    volume: &str,
    ns: &str,
    pvc: &str,
) -> Result<(), String> {
    if labelled(v, run_id).is_ok() {
        return Ok(());
    }
    if v.metadata.name.as_deref() != Some(volume) {
        return Err(format!("not the recorded sentinel volume {volume}"));
    }
    let ks = v
        .status
        .as_ref()
        .map(|s| s.kubernetes_status.clone())
        .unwrap_or_default();
    if !ks.pvc_name.is_empty() && (ks.pvc_name != pvc || ks.namespace != ns) {
        return Err(format!(
            "Longhorn reports it in use by PVC {}/{}",
            ks.namespace, ks.pvc_name
        ));
    }
    Ok(())
}

async fn wait_gone<K>(ctx: &DrillContext, api: Api<K>, name: &str, what: &str) -> StepResult
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    wait::wait_for(
        api,
        name,
        &format!("{what} to be gone"),
        GONE_TIMEOUT,
        &ctx.stats,
        |o: Option<&K>| o.is_none(),
        |o| {
            if o.is_some() {
                "still present".to_string()
            } else {
                "gone".to_string()
            }
        },
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn pv(labels: &[(&str, &str)], handle: &str, claim: Option<(&str, &str)>) -> PersistentVolume {
        let mut v = serde_json::json!({
            "metadata": {"name": handle, "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()},
            "spec": {"csi": {"driver": "driver.longhorn.io", "volumeHandle": handle}},
        });
        if let Some((ns, n)) = claim {
            v["spec"]["claimRef"] = serde_json::json!({"namespace": ns, "name": n});
        }
        serde_json::from_value(v).expect("pv")
    }

    #[test]
    fn a_pv_is_ours_only_by_label_or_as_the_sentinels_volume() {
        assert!(pv_is_sentinels(
            &pv(&[(LABEL_RUN_ID, "r1")], "other", None),
            "r1",
            "vol",
            "ns",
            "pvc"
        )
        .is_ok());
        assert!(pv_is_sentinels(
            &pv(&[], "vol", Some(("ns", "pvc"))),
            "r1",
            "vol",
            "ns",
            "pvc"
        )
        .is_ok());
        let other_claim = pv_is_sentinels(
            &pv(&[], "vol", Some(("ns", "db"))),
            "r1",
            "vol",
            "ns",
            "pvc",
        );
        assert!(other_claim.unwrap_err().contains("ns/db"));
        assert!(pv_is_sentinels(&pv(&[], "other", None), "r1", "vol", "ns", "pvc").is_err());
        let foreign = pv_is_sentinels(
            &pv(&[(LABEL_RUN_ID, "r0")], "other", None),
            "r1",
            "vol",
            "ns",
            "pvc",
        );
        assert!(foreign.is_err());
    }

    #[test]
    fn another_drills_label_is_not_ours() {
        let d: Deployment = serde_json::from_value(
            serde_json::json!({"metadata": {"name": "d", "labels": {LABEL_RUN_ID: "r0"}}}),
        )
        .expect("deployment");
        assert!(labelled(&d, "r0").is_ok());
        assert!(labelled(&d, "r1").unwrap_err().contains("r0"));
    }

    #[test]
    fn a_volume_in_use_by_another_pvc_is_not_ours() {
        let v: Volume = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "vol"},
            "spec": {},
            "status": {"kubernetesStatus": {"namespace": "app", "pvcName": "data"}},
        }))
        .expect("volume");
        assert!(volume_is_sentinels(&v, "r1", "vol", "ns", "pvc")
            .unwrap_err()
            .contains("app/data"));
        assert!(volume_is_sentinels(&v, "r1", "vol", "app", "data").is_ok());
    }
}
