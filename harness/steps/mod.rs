//! The step library: one module per step kind, offered to the engine as [`Steps`] (its
//! [`StepLibrary`]). Each step reads what earlier steps stored in the record's typed facts
//! ([`crate::engine::facts::DrillFacts`]), does one job against the cluster, the backup target or the infrastructure,
//! records its checks, and fails with a message that says what was expected, what was found and
//! what to look at.

pub mod app_check;
pub mod backup;
pub mod cleanup;
pub mod delete_sentinel;
pub mod deploy;
pub mod destroy;
pub mod freshness;
pub mod gates;
pub mod health;
pub mod hook;
pub mod pod;
pub mod preflight;
pub mod read_back;
pub mod rebuild;
pub mod restore_volume;
pub mod restore_watch;
pub mod revert;
pub mod scale;
pub mod shard;
pub mod snapshot;
pub mod system_backup;
pub mod system_restore;
pub mod ticks;
pub mod verify_backup;
pub mod verify_restore;
pub mod verify_sentinel;
pub mod wait_ready;
pub mod write;
pub mod write_generation;

use futures::future::LocalBoxFuture;

use crate::config::{StepEntry, StepSpec};
use crate::engine::context::DrillContext;
use crate::engine::failure::StepResult;
use crate::engine::library::StepLibrary;

/// Label set on every object a drill creates: deletion and revert act only on objects carrying
/// the drill's own run id.
pub const LABEL_RUN_ID: &str = "dr-harness.io/run-id";
/// Field manager for server-side apply.
pub const FIELD_MANAGER: &str = "dr-harness";

/// The first `n` hex digits of a run id: the drill's object names derive from it, so a resumed
/// drill finds the objects it created before.
pub fn run_hex(run_id: &str, n: usize) -> String {
    run_id
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .take(n)
        .collect()
}

/// The step library the drill runs: every step kind of [`StepSpec`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Steps;

impl StepLibrary for Steps {
    fn run<'a>(
        &'a self,
        ctx: &'a mut DrillContext,
        entry: &'a StepEntry,
    ) -> LocalBoxFuture<'a, StepResult> {
        Box::pin(run(ctx, entry))
    }

    fn runs_hooks(&self, spec: &StepSpec) -> bool {
        runs_hooks(spec)
    }

    fn always_runs(&self, spec: &StepSpec) -> bool {
        always_runs(spec)
    }

    fn creates_nothing(&self, kind: &str) -> bool {
        kind == "preflight"
    }
}

/// Runs one step.
pub async fn run(ctx: &mut DrillContext, entry: &StepEntry) -> StepResult {
    match &entry.spec {
        StepSpec::Preflight(_) => preflight::run(ctx).await,
        StepSpec::DeploySentinel(s) => deploy::run(ctx, s).await,
        StepSpec::WriteSentinel(_) => write::run(ctx).await,
        StepSpec::Backup(s) => backup::run(ctx, s).await,
        StepSpec::StartTicks(_) => ticks::start(ctx).await,
        StepSpec::Destroy(_) => destroy::run(ctx).await,
        StepSpec::Rebuild(_) => rebuild::run(ctx).await,
        StepSpec::WaitReady(_) => {
            wait_ready::run(
                ctx,
                entry
                    .timeout
                    .unwrap_or_else(|| entry.spec.default_timeout()),
            )
            .await
        }
        StepSpec::VerifyRestore(_) => verify_restore::run(ctx).await,
        StepSpec::VerifySentinel(_) => verify_sentinel::run(ctx).await,
        StepSpec::Cleanup(_) => cleanup::run(ctx).await,
        StepSpec::VerifyBackup(s) => verify_backup::run(ctx, s).await,
        StepSpec::Health(s) => health::run(ctx, s).await,
        StepSpec::BackupFreshness(s) => freshness::run(ctx, s).await,
        StepSpec::Check(s) => app_check::run(ctx, s).await,
        StepSpec::Gates(s) => gates::run(ctx, s, entry.effective_timeout()).await,
        StepSpec::SystemBackup(s) => system_backup::run(ctx, s, entry.effective_timeout()).await,
        StepSpec::SystemRestore(_) => system_restore::run(ctx, entry.effective_timeout()).await,
        StepSpec::DeleteSentinel(s) => delete_sentinel::run(ctx, s).await,
        StepSpec::RestoreVolume(s) => restore_volume::run(ctx, s, entry.effective_timeout()).await,
        StepSpec::Snapshot(_) => snapshot::run(ctx, entry.effective_timeout()).await,
        StepSpec::WriteGeneration(s) => write_generation::run(ctx, s).await,
        StepSpec::Scale(s) => scale::run(ctx, s, entry.effective_timeout()).await,
        StepSpec::Revert(_) => revert::run(ctx, entry.effective_timeout()).await,
        StepSpec::VerifyRevert(s) => write_generation::verify_gone(ctx, s).await,
    }
}

/// Steps that run infrastructure hooks, which must be stopped gracefully on interruption.
pub fn runs_hooks(spec: &StepSpec) -> bool {
    matches!(spec, StepSpec::Destroy(_) | StepSpec::Rebuild(_))
}

/// Steps that run even after an earlier step failed (they only tidy up what the drill made).
pub fn always_runs(spec: &StepSpec) -> bool {
    matches!(spec, StepSpec::Cleanup(_))
        || matches!(spec, StepSpec::DeleteSentinel(d) if d.teardown)
}
