//! `deploy-sentinel`: the sentinel workload (namespace, PVC with the well-known name, busybox
//! Deployment from `fixtures/sentinel/`), or the one GitOps already deploys.
//!
//! An existing Deployment is adopted untouched (a GitOps-managed sentinel must not be fought
//! over); otherwise the manifests are server-side applied with the drill's run id label. Either
//! way the step ends when the PVC is Bound and the Deployment Available, and records the Longhorn
//! volume behind the PVC.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolume, PersistentVolumeClaim};
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::Value;

use super::{FIELD_MANAGER, LABEL_RUN_ID};
use crate::cluster::{self, wait};
use crate::config::scenario::DeploySentinelStep;
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};
use crate::sentinel;

/// Runs `deploy-sentinel`: adopts an existing sentinel Deployment or server-side applies the
/// fixtures, waits for the PVC Bound and the Deployment Available, and writes `facts.volume` (the
/// Longhorn volume behind the PVC) and `facts.sentinel_adopted`.
///
/// # Errors
/// A [`StepFailure`] when an apply is refused or the PVC or Deployment is not ready within the
/// step's timeout.
pub async fn run(ctx: &mut DrillContext, step: &DeploySentinelStep) -> StepResult {
    let conn = ctx.conn().await?;
    let s = ctx.scenario.sentinel.clone();
    let deployments: Api<Deployment> = Api::namespaced(conn.client.clone(), &s.namespace);
    let existing =
        cluster::retry::with_retry(&ctx.stats, "api", || deployments.get_opt(&s.deployment))
            .await?;
    if existing.is_some() {
        ctx.say(format!(
            "adopting the existing sentinel deployment {}/{}",
            s.namespace, s.deployment
        ));
        ctx.record.facts.sentinel_adopted = Some(true);
    } else if step.adopt {
        return Err(StepFailure::new(format!(
            "expected GitOps to have deployed the sentinel deployment {}/{} (adopt = true) but it does not exist; check the GitOps source for the dr-exercise app",
            s.namespace, s.deployment
        )));
    } else {
        apply_manifests(ctx, &conn).await?;
        ctx.record.facts.sentinel_adopted = Some(false);
    }
    let timeout = Duration::from_secs(600);
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(conn.client.clone(), &s.namespace);
    let pvc = wait::wait_for(
        pvcs,
        &s.pvc,
        &format!("PVC {}/{} to be Bound", s.namespace, s.pvc),
        timeout,
        &ctx.stats,
        |p: Option<&PersistentVolumeClaim>| pvc_phase(p) == "Bound",
        |p| format!("phase {}", pvc_phase(p)),
    )
    .await?
    .ok_or_else(|| StepFailure::new("the PVC disappeared while waiting for it"))?;
    let volume = volume_of(ctx, &conn, &pvc).await?;
    ctx.check(
        "pvc-bound",
        true,
        format!("PVC {} Bound", s.pvc),
        format!("bound to Longhorn volume {volume}"),
    );
    ctx.record.facts.volume = Some(volume.clone());
    wait_available(ctx, &deployments, &s.deployment, timeout).await?;
    Ok(())
}

fn pvc_phase(p: Option<&PersistentVolumeClaim>) -> String {
    p.and_then(|p| p.status.as_ref())
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| {
            if p.is_some() {
                "Pending".into()
            } else {
                "absent".into()
            }
        })
}

/// The Longhorn volume name behind a bound PVC: its PV's CSI `volumeHandle` (the PV name when
/// the PV has no CSI source).
pub async fn volume_of(
    ctx: &DrillContext,
    conn: &cluster::Connection,
    pvc: &PersistentVolumeClaim,
) -> Result<String, StepFailure> {
    let pv_name = pvc
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.clone())
        .ok_or_else(|| {
            StepFailure::new("the PVC is Bound but names no volume (spec.volumeName empty)")
        })?;
    let pvs: Api<PersistentVolume> = Api::all(conn.client.clone());
    let pv = cluster::retry::with_retry(&ctx.stats, "api", || pvs.get_opt(&pv_name)).await?;
    Ok(pv
        .and_then(|pv| pv.spec)
        .and_then(|s| s.csi)
        .map(|csi| csi.volume_handle)
        .unwrap_or(pv_name))
}

/// Waits for a Deployment to be Available for its current spec (see [`available`]).
pub async fn wait_available(
    ctx: &mut DrillContext,
    deployments: &Api<Deployment>,
    name: &str,
    timeout: Duration,
) -> StepResult {
    wait::wait_for(
        deployments.clone(),
        name,
        &format!("deployment {name} to be Available"),
        timeout,
        &ctx.stats,
        |d: Option<&Deployment>| available(d),
        |d| match d {
            None => "absent".to_string(),
            Some(d) => format!(
                "readyReplicas={}",
                d.status
                    .as_ref()
                    .and_then(|s| s.ready_replicas)
                    .unwrap_or(0)
            ),
        },
    )
    .await?;
    ctx.check(
        "deployment-available",
        true,
        format!("deployment {name} Available"),
        "Available=True",
    );
    Ok(())
}

/// Whether a Deployment is Available *for its current spec*: `Available=True`, the controller
/// has observed the latest generation, and as many replicas are ready as the spec asks. A
/// Deployment scaled to 0 stays `Available=True`, so the condition alone would let a scale-up
/// "pass" before its pod runs.
pub fn available(d: Option<&Deployment>) -> bool {
    let Some(d) = d else { return false };
    let Some(status) = d.status.as_ref() else {
        return false;
    };
    let condition = status.conditions.as_ref().is_some_and(|cs| {
        cs.iter()
            .any(|c| c.type_ == "Available" && c.status == "True")
    });
    let observed = status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
    let wanted = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    condition && observed && status.ready_replicas.unwrap_or(0) >= wanted
}

/// Server-side applies the sentinel manifests, renamed to the scenario's sentinel names and
/// labelled with the run id.
async fn apply_manifests(ctx: &mut DrillContext, conn: &cluster::Connection) -> StepResult {
    let s = ctx.scenario.sentinel.clone();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for (file, text) in sentinel::MANIFESTS {
        let mut doc: Value = serde_yaml::from_str(text).map_err(|e| {
            StepFailure::new(format!("fixtures/sentinel/{file} is not valid YAML: {e}"))
        })?;
        rename(&mut doc, &s, &ctx.record.run_id);
        let kind = doc["kind"].as_str().unwrap_or_default().to_string();
        let name = doc["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let patch = Patch::Apply(&doc);
        match kind.as_str() {
            "Namespace" => {
                let api: Api<Namespace> = Api::all(conn.client.clone());
                cluster::retry::with_retry(&ctx.stats, "api", || api.patch(&name, &params, &patch))
                    .await?;
            }
            "PersistentVolumeClaim" => {
                let api: Api<PersistentVolumeClaim> =
                    Api::namespaced(conn.client.clone(), &s.namespace);
                cluster::retry::with_retry(&ctx.stats, "api", || api.patch(&name, &params, &patch))
                    .await?;
            }
            "Deployment" => {
                let api: Api<Deployment> = Api::namespaced(conn.client.clone(), &s.namespace);
                cluster::retry::with_retry(&ctx.stats, "api", || api.patch(&name, &params, &patch))
                    .await?;
            }
            other => {
                return Err(StepFailure::new(format!(
                    "fixtures/sentinel/{file}: unexpected kind {other}"
                )))
            }
        }
        ctx.say(format!("applied {kind} {name}"));
    }
    Ok(())
}

fn rename(doc: &mut Value, s: &crate::config::scenario::SentinelSpec, run_id: &str) {
    let kind = doc["kind"].as_str().unwrap_or_default().to_string();
    doc["metadata"]["labels"][LABEL_RUN_ID] = Value::String(run_id.to_string());
    match kind.as_str() {
        "Namespace" => doc["metadata"]["name"] = s.namespace.clone().into(),
        "PersistentVolumeClaim" => {
            doc["metadata"]["name"] = s.pvc.clone().into();
            doc["metadata"]["namespace"] = s.namespace.clone().into();
            // The well-known name: PVC = Longhorn Volume = PV name.
            doc["spec"]["volumeName"] = s.pvc.clone().into();
        }
        "Deployment" => {
            doc["metadata"]["name"] = s.deployment.clone().into();
            doc["metadata"]["namespace"] = s.namespace.clone().into();
            let spec = &mut doc["spec"]["template"]["spec"];
            if let Some(c) = spec["containers"].get_mut(0) {
                c["name"] = s.container.clone().into();
                if let Some(m) = c["volumeMounts"].get_mut(0) {
                    m["mountPath"] = s.mount_path.clone().into();
                }
            }
            if let Some(v) = spec["volumes"].get_mut(0) {
                v["persistentVolumeClaim"]["claimName"] = s.pvc.clone().into();
            }
        }
        _ => {}
    }
}
