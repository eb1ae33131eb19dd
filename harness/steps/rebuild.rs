//! `rebuild`: runs the profile's rebuild hook. The new cluster's kubeconfig is read again
//! afterwards (a rebuild usually hands out a new endpoint and new credentials).

use super::hook;
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};

/// Runs `rebuild`: runs the profile's rebuild hook, then re-reads the kubeconfig. Reads and writes
/// no [`DrillFacts`](crate::engine::facts::DrillFacts).
///
/// # Errors
/// A [`StepFailure`] when the profile has no `[hooks.rebuild]` or the hook fails (the message says
/// how to rebuild by hand and `--resume`).
pub async fn run(ctx: &mut DrillContext) -> StepResult {
    let spec = ctx
        .profile
        .hooks
        .rebuild
        .clone()
        .ok_or_else(|| StepFailure::new("the profile has no [hooks.rebuild]"))?;
    let started = ctx.mark("rebuild-start");
    let outcome = hook::run_hook(ctx, crate::hooks::HookAction::Rebuild, &spec).await?;
    ctx.phase("rebuild", started.elapsed());
    ctx.mark("rebuild-done");
    ctx.forget_connection();
    match hook::hook_failure("rebuild", &outcome) {
        Some(msg) => Err(StepFailure::new(format!("{msg}; the cluster is gone and was not rebuilt — rebuild it by hand, then `dr-harness run --resume {}` to finish the drill", ctx.record.run_id))),
        None => Ok(()),
    }
}
