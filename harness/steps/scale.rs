//! `scale`: set the sentinel Deployment's replicas and wait for the outcome. Scaling to 0 is
//! how a revert is prepared: Longhorn reverts only a volume no workload uses, so the step waits
//! until the Deployment's pods are gone and the Longhorn Volume is `detached`. Scaling up waits
//! for `Available` (the volume attaches again under the pod).
//!
//! Only the drill's own sentinel is scaled: the Deployment must carry this run's
//! `dr-harness.io/run-id` label (issue #6).

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams};
use kube::runtime::watcher;
use kube::Api;

use super::{deploy, LABEL_RUN_ID};
use crate::cluster::{retry, wait};
use crate::config::scenario::ScaleStep;
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};
use crate::longhorn::Volume;

/// Runs `scale`: sets the drill's own sentinel Deployment to `step.replicas`; to 0 it waits until
/// the pods are gone and `facts.volume`'s `status.state` is `detached`
/// (`longhorn-manager@v1.9.1:k8s/pkg/apis/longhorn/v1beta2/volume.go`), otherwise for `Available`,
/// within `timeout`.
///
/// # Errors
/// A [`StepFailure`] when the Deployment lacks this run's label, the patch is refused, or the
/// outcome is not reached in time.
pub async fn run(ctx: &mut DrillContext, step: &ScaleStep, timeout: Duration) -> StepResult {
    let conn = ctx.conn().await?;
    let s = ctx.scenario.sentinel.clone();
    let run_id = ctx.record.run_id.clone();
    let deployments: Api<Deployment> = Api::namespaced(conn.client.clone(), &s.namespace);
    let d = retry::with_retry(&ctx.stats, "api", || deployments.get_opt(&s.deployment))
        .await?
        .ok_or_else(|| {
            StepFailure::new(format!(
                "the sentinel deployment {}/{} does not exist",
                s.namespace, s.deployment
            ))
        })?;
    let label = d
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_RUN_ID))
        .cloned();
    if label.as_deref() != Some(run_id.as_str()) {
        return Err(StepFailure::new(format!(
            "refusing to scale deployment {}/{}: it does not carry {LABEL_RUN_ID}={run_id} (found {label:?}); only a sentinel this drill deployed is scaled",
            s.namespace, s.deployment
        )));
    }
    let patch = serde_json::json!({"spec": {"replicas": step.replicas}});
    let (pp, merge) = (PatchParams::default(), Patch::Merge(&patch));
    retry::with_retry(&ctx.stats, "api", || {
        deployments.patch(&s.deployment, &pp, &merge)
    })
    .await?;
    ctx.say(format!(
        "scaled deployment {}/{} to {}",
        s.namespace, s.deployment, step.replicas
    ));
    if step.replicas > 0 {
        return deploy::wait_available(ctx, &deployments, &s.deployment, timeout).await;
    }
    let selector = d
        .spec
        .and_then(|sp| sp.selector.match_labels)
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let pods: Api<Pod> = Api::namespaced(conn.client.clone(), &s.namespace);
    wait::wait_for_set(
        pods,
        watcher::Config::default().labels(&selector),
        &format!("the sentinel pods ({selector}) to be gone"),
        timeout,
        &ctx.stats,
        |set: &[Pod]| set.is_empty(),
        |set| format!("{} pods left", set.len()),
    )
    .await?;
    if let Some(volume) = ctx.record.facts.volume.clone() {
        let volumes: Api<Volume> =
            Api::namespaced(conn.client.clone(), &ctx.profile.expect.longhorn_namespace);
        wait::wait_for(
            volumes,
            &volume,
            &format!("volume {volume} to detach"),
            timeout,
            &ctx.stats,
            |v: Option<&Volume>| {
                v.and_then(|v| v.status.as_ref())
                    .is_some_and(|st| st.state == "detached")
            },
            |v| {
                format!(
                    "state {:?}",
                    v.and_then(|v| v.status.as_ref()).map(|st| st.state.clone())
                )
            },
        )
        .await?;
        ctx.check(
            "volume-detached",
            true,
            format!("volume {volume} detached"),
            "detached",
        );
    }
    Ok(())
}
