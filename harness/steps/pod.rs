//! Finding the sentinel pod and the exec target inside it.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::Api;

use crate::cluster::exec::ExecTarget;
use crate::cluster::retry;
use crate::engine::context::DrillContext;
use crate::engine::failure::StepFailure;

/// The Running, Ready pod of the sentinel Deployment, as an exec target with `timeout`.
///
/// # Errors
/// A [`StepFailure`] naming the deployment and the pods' phases when none is ready.
pub async fn sentinel_target(
    ctx: &mut DrillContext,
    timeout: Duration,
) -> Result<(Api<Pod>, ExecTarget), StepFailure> {
    let s = ctx.scenario.sentinel.clone();
    let conn = ctx.conn().await?;
    let deployments: Api<Deployment> = Api::namespaced(conn.client.clone(), &s.namespace);
    let pods: Api<Pod> = Api::namespaced(conn.client.clone(), &s.namespace);
    let deployment = retry::with_retry(&ctx.stats, "api", || deployments.get_opt(&s.deployment))
        .await?
        .ok_or_else(|| {
            StepFailure::new(format!(
                "the sentinel deployment {}/{} does not exist",
                s.namespace, s.deployment
            ))
        })?;
    let selector = selector_of(&deployment);
    let what = format!(
        "deployment {}/{} (selector {selector})",
        s.namespace, s.deployment
    );
    let pod = ready_pod(ctx, &pods, &selector, &what).await?;
    Ok((
        pods.clone(),
        ExecTarget {
            namespace: s.namespace.clone(),
            pod: pod.metadata.name.clone().unwrap_or_default(),
            container: s.container.clone(),
            timeout,
        },
    ))
}

/// The label selector of a Deployment's pods (`spec.selector.matchLabels`), as `k=v,…`.
pub fn selector_of(deployment: &Deployment) -> String {
    deployment
        .spec
        .as_ref()
        .and_then(|sp| sp.selector.match_labels.clone())
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A Running, Ready pod matching `selector`; the failure lists every matching pod's phase.
///
/// # Errors
/// A [`StepFailure`] naming `what` when none is ready.
pub async fn ready_pod(
    ctx: &DrillContext,
    pods: &Api<Pod>,
    selector: &str,
    what: &str,
) -> Result<Pod, StepFailure> {
    let lp = ListParams::default().labels(selector);
    let list = retry::with_retry(&ctx.stats, "api", || pods.list(&lp)).await?;
    if let Some(p) = list.items.iter().find(|p| is_ready(p)) {
        return Ok(p.clone());
    }
    Err(StepFailure::new(format!(
        "no Running and Ready pod for {what}; pods: [{}]",
        list.items
            .iter()
            .map(|p| format!(
                "{}: {}",
                p.metadata.name.clone().unwrap_or_default(),
                p.status
                    .as_ref()
                    .and_then(|s| s.phase.clone())
                    .unwrap_or_default()
            ))
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// Running, Ready and not being deleted.
pub fn is_ready(p: &Pod) -> bool {
    let status = match &p.status {
        Some(s) => s,
        None => return false,
    };
    p.metadata.deletion_timestamp.is_none()
        && status.phase.as_deref() == Some("Running")
        && status
            .conditions
            .as_ref()
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Quotes a string for a POSIX shell.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Runs `sync` in the sentinel pod, so the page cache reaches the volume (a snapshot, a backup
/// and a revert act on blocks).
///
/// # Errors
/// A [`StepFailure`] when the exec cannot run or `sync` fails (its stderr).
pub async fn sync_volume(pods: &Api<Pod>, target: &ExecTarget) -> Result<(), StepFailure> {
    let sync = crate::cluster::exec::run(pods, target, &["sync"]).await?;
    if sync.exit_code != 0 {
        return Err(StepFailure::new(format!(
            "sync in the sentinel pod failed: {}",
            sync.stderr.trim()
        )));
    }
    Ok(())
}
