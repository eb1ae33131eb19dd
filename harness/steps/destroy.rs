//! `destroy`: the disaster. Runs the profile's destroy hook — after re-checking every guard and
//! that the kubeconfig still points at the cluster identified at preflight — then proves the
//! cluster is really gone. The RTO clock starts when the hook starts.

use std::time::Duration;

use chrono::Utc;

use super::{facts, hook, preflight, ticks};
use crate::cluster;
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};

pub async fn run(ctx: &mut DrillContext) -> StepResult {
    let recorded = ctx.record.identity.clone().ok_or_else(|| {
        StepFailure::new("no cluster identity recorded; preflight must run before destroy")
    })?;
    // Read the identity anew through a fresh kubeconfig read: a kubeconfig that now points at
    // another cluster must not be destroyed.
    ctx.forget_connection();
    let conn = ctx.conn().await?;
    let now = cluster::identity(&conn, &ctx.stats).await?;
    if !ctx.check(
        "identity-unchanged",
        same_cluster(&ctx.redactor, &now, &recorded),
        format!(
            "{} / kube-system {}",
            recorded.api_server, recorded.kube_system_uid
        ),
        format!("{} / kube-system {}", now.api_server, now.kube_system_uid),
    ) {
        return Err(StepFailure::new(format!(
            "refusing to destroy: the kubeconfig now points at a different cluster ({} with kube-system UID {}) than the one checked at preflight ({} with kube-system UID {}). Nothing was destroyed",
            now.api_server, now.kube_system_uid, recorded.api_server, recorded.kube_system_uid
        )));
    }
    preflight::guard_destroy(ctx, &conn).await?;
    let spec = ctx
        .profile
        .hooks
        .destroy
        .clone()
        .ok_or_else(|| StepFailure::new("the profile has no [hooks.destroy]"))?;

    ticks::stop(ctx).await;
    let started = ctx.mark("disaster");
    ctx.set_fact(facts::DISASTER_AT, Utc::now().to_rfc3339());
    let outcome = hook::run_hook(ctx, crate::hooks::HookAction::Destroy, &spec).await?;
    ctx.phase("destroy", started.elapsed());
    if let Some(msg) = hook::hook_failure("destroy", &outcome) {
        return Err(StepFailure::new(msg));
    }
    // Trust, then verify: the old cluster must no longer answer as itself.
    ctx.forget_connection();
    let still_up = match tokio::time::timeout(Duration::from_secs(15), async {
        let conn = cluster::connect(&ctx.kubeconfig, Duration::from_secs(10))
            .await
            .ok()?;
        let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(conn.client);
        api.get("kube-system").await.ok()
    })
    .await
    {
        Ok(Some(ns)) => ns.metadata.uid.as_deref() == Some(recorded.kube_system_uid.as_str()),
        _ => false,
    };
    if !ctx.check(
        "cluster-gone",
        !still_up,
        "the destroyed cluster no longer answers",
        if still_up {
            "still answering with the same kube-system UID"
        } else {
            "gone"
        },
    ) {
        return Err(StepFailure::new(format!(
            "the destroy hook exited 0 but the cluster is still up: {} still answers with kube-system UID {}. The hook did not destroy it; check the hook's working directory and state",
            recorded.api_server, recorded.kube_system_uid
        )));
    }
    Ok(())
}

/// Whether two identities name the same cluster. The recorded one may come from a redacted run
/// state (a resumed drill), so both URLs are compared with secrets redacted.
fn same_cluster(
    redactor: &crate::redact::Redactor,
    a: &crate::engine::record::ClusterIdentity,
    b: &crate::engine::record::ClusterIdentity,
) -> bool {
    a.kube_system_uid == b.kube_system_uid
        && redactor.redact(&a.api_server) == redactor.redact(&b.api_server)
}
