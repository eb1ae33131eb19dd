//! `destroy`: the disaster. Runs the profile's destroy hook — after re-checking every guard and
//! that the kubeconfig still points at the cluster identified at preflight — then proves the
//! cluster is really gone: only a refused or timed-out TCP connect, a vanished DNS name or a
//! different cluster identity at the old API address count ([`crate::cluster::gone`]); error
//! answers are retried until the step's deadline, then fail the step. The RTO clock starts when
//! the hook starts.

use std::time::{Duration, Instant};

use chrono::Utc;

use super::{hook, preflight, ticks};
use crate::cluster;
use crate::cluster::gone::{self, Observation};
use crate::cluster::progress::{self, Progress};
use crate::cluster::ClusterIdentity;
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};

/// Runs `destroy`: re-checks the guards and the cluster identity, runs the destroy hook, then waits
/// until the old API is provably gone. Writes `facts.disaster_at` (when the hook started) and
/// `facts.destroy_evidence` (what proved the cluster gone).
///
/// # Errors
/// A [`StepFailure`] when a guard fails, the hook fails, or the API still answers as the same
/// cluster at the step's deadline.
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
    ctx.record.facts.disaster_at = Some(Utc::now());
    let outcome = hook::run_hook(ctx, crate::hooks::HookAction::Destroy, &spec).await?;
    ctx.phase("destroy", started.elapsed());
    if let Some(msg) = hook::hook_failure("destroy", &outcome) {
        return Err(StepFailure::new(msg));
    }
    // Trust, then verify: the old cluster must no longer answer as itself.
    // `now`, not `recorded`: the same cluster (checked above), but its URL as the kubeconfig
    // gives it, never a redacted copy from a resumed run's state.
    ctx.forget_connection();
    prove_gone(ctx, &now).await
}

/// How long to keep looking for proof when the step has no deadline (outside the runner).
const PROOF_WINDOW_WITHOUT_DEADLINE: Duration = Duration::from_secs(300);

/// Looks at the old cluster until there is proof it is gone (see [`crate::cluster::gone`]):
/// fails at once when it still answers with its recorded identity, and — when it answers only
/// with errors (5xx, 401/403, slow answers) — when the step's time is up, saying what was seen.
/// The `cluster-gone` check names the evidence.
async fn prove_gone(ctx: &mut DrillContext, recorded: &ClusterIdentity) -> StepResult {
    let window = progress::step_remaining().unwrap_or(PROOF_WINDOW_WITHOUT_DEADLINE);
    let deadline = Instant::now() + window;
    let gate = format!(
        "the destroyed cluster at {} to stop answering",
        recorded.api_server
    );
    let mut progress = Progress::start(&gate, window);
    let mut pause = Duration::from_millis(250);
    let mut looks = 0u32;
    let mut client = None;
    let last = loop {
        looks += 1;
        let seen = gone::probe(recorded, &ctx.kubeconfig, &mut client).await;
        match seen {
            Observation::Gone(evidence) => {
                progress.finish(&format!("gone: {evidence}"));
                ctx.record.facts.destroy_evidence = Some(evidence.to_string());
                ctx.check(
                    "cluster-gone",
                    true,
                    "the destroyed cluster no longer answers as itself (connection refused, DNS name gone, TCP connect timeout or a different identity)",
                    format!("gone: {evidence}"),
                );
                return Ok(());
            }
            Observation::StillUp => {
                progress.finish("still answering with the same kube-system UID");
                ctx.check(
                    "cluster-gone",
                    false,
                    "the destroyed cluster no longer answers as itself",
                    "still answering with the same kube-system UID",
                );
                return Err(StepFailure::new(format!(
                    "the destroy hook exited 0 but the cluster is still up: {} still answers with kube-system UID {}. The hook did not destroy it; check the hook's working directory and state",
                    recorded.api_server, recorded.kube_system_uid
                )));
            }
            Observation::Inconclusive(what) => {
                progress.observe(&what);
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() || ctx.cancel.is_cancelled() {
                    break what;
                }
                tokio::time::sleep(pause.min(left)).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    };
    progress.finish(&format!("no proof: {last}"));
    ctx.check(
        "cluster-gone",
        false,
        "the destroyed cluster no longer answers as itself (connection refused, DNS name gone, TCP connect timeout or a different identity)",
        format!("no proof after {looks} looks: {last}"),
    );
    Err(StepFailure::new(format!(
        "could not prove that the destroyed cluster is gone: for {:.0}s after the destroy hook exited 0, {} kept accepting connections and the last answer was: {last}. An error answer (5xx, 401/403) or a slow one is no proof that the cluster was destroyed, so the drill stops here rather than go on against a cluster that may still be up. Check the destroy hook and what now serves {}",
        window.as_secs_f64(),
        recorded.api_server,
        recorded.api_server
    )))
}

/// Whether two identities name the same cluster. The recorded one may come from a redacted run
/// state (a resumed drill), so both URLs are compared with secrets redacted.
fn same_cluster(
    redactor: &crate::redact::Redactor,
    a: &ClusterIdentity,
    b: &ClusterIdentity,
) -> bool {
    a.kube_system_uid == b.kube_system_uid
        && redactor.redact(&a.api_server) == redactor.redact(&b.api_server)
}
