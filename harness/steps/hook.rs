//! Running one of the profile's infrastructure hooks as a step's work.

use crate::config::profile::HookSpec;
use crate::engine::context::DrillContext;
use crate::engine::failure::StepFailure;
use crate::hooks::{self, HookAction, HookOutcome, HookPlan};

/// `tracing` target of a hook's output lines (INFO, message `[<step>] <line>`, redacted), which
/// the CLI prints as they are, without time or level.
pub const OUTPUT_TARGET: &str = "dr_harness::hook";

/// Folder for files hooks write for the harness (the terragrunt report), one per run; it
/// exists only while a hook runs (`run_hook` removes it once the outcome is read).
pub fn scratch_dir(ctx: &DrillContext) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("dr-harness-{}", ctx.record.run_id))
}

/// The plan for one of the profile's hooks.
pub fn plan(ctx: &DrillContext, spec: &HookSpec, action: HookAction) -> HookPlan {
    HookPlan::from_spec(spec, action, &scratch_dir(ctx))
}

/// Runs `spec`, streaming its (redacted) output into the log and keeping its tail for the
/// report. Returns the outcome whatever the exit code; fails only when it could not run.
pub async fn run_hook(
    ctx: &mut DrillContext,
    action: HookAction,
    spec: &HookSpec,
) -> Result<HookOutcome, StepFailure> {
    let which = action.as_str();
    let plan = plan(ctx, spec, action);
    // Before anything about the hook is printed (its argv, a missing tool): an argv or a
    // message may carry a `secret_env` value.
    for secret in plan.secret_values() {
        ctx.redactor.add(&secret);
    }
    hooks::check_tools(&plan).map_err(|e| StepFailure::new(format!("{which} hook: {e}")))?;
    let scratch = scratch_dir(ctx);
    let _ = std::fs::create_dir_all(&scratch);
    ctx.say(format!("{which} hook: {}", plan.display()));
    let step = which.to_string();
    let outcome = hooks::run_hook(
        &plan,
        &ctx.redactor,
        ctx.cancel.clone(),
        move |_stream, line| {
            tracing::info!(target: OUTPUT_TARGET, "[{step}] {line}");
        },
    )
    .await;
    // What the hook wrote for us is in `outcome` now; a drill leaves no files behind in /tmp.
    let _ = std::fs::remove_dir_all(&scratch);
    let outcome =
        outcome.map_err(|e| StepFailure::new(format!("{which} hook could not run: {e}")))?;
    ctx.output = Some(outcome.tail.join("\n"));
    Ok(outcome)
}

/// A failure message for a hook that did not succeed, or None when it did.
pub fn hook_failure(which: &str, outcome: &HookOutcome) -> Option<String> {
    let summary = outcome.failure_summary()?;
    let last = outcome
        .tail
        .iter()
        .rev()
        .take(5)
        .rev()
        .cloned()
        .collect::<Vec<_>>()
        .join(" | ");
    Some(if outcome.timed_out {
        format!("{which} {summary} and was stopped (SIGTERM, then SIGKILL); raise `timeout` in [hooks.{which}] if the infrastructure is merely slow")
    } else if !outcome.partial_destroy.is_empty() || !outcome.remaining_resources.is_empty() {
        format!("the {which} hook exited 0 but did not finish: {summary}")
    } else {
        format!("{which} {summary}; its last lines: {last}")
    })
}
