//! What the runner needs from a step library, and from the tasks steps leave running.
//!
//! The engine knows no step kinds: [`StepLibrary`] is how it runs one step and asks the two
//! questions its rules depend on (does the step run hooks, does it run even after a failure).
//! `crate::steps::Steps` implements it; `crate::drill` hands it to the runner; the runner's unit
//! tests hand it a fake.

use futures::future::LocalBoxFuture;

use super::context::DrillContext;
use super::failure::StepResult;
use crate::config::{StepEntry, StepSpec};

/// Tasks steps leave running; defined in [`super::background`], re-exported beside the library.
pub use super::background::Background;

/// A library of step kinds the runner can run.
pub trait StepLibrary: Sync {
    /// Runs one step of the scenario against `ctx`. The runner bounds it with the step's
    /// timeout and may drop the future when the drill is interrupted (after
    /// [`StepLibrary::runs_hooks`] steps were given a grace period).
    ///
    /// A local (not `Send`) future: the runner drives it on the drill's own task, and the step
    /// futures, which hold references across awaits, do not prove `Send` for every lifetime.
    ///
    /// # Errors
    /// The step's [`super::failure::StepFailure`].
    fn run<'a>(
        &'a self,
        ctx: &'a mut DrillContext,
        entry: &'a StepEntry,
    ) -> LocalBoxFuture<'a, StepResult>;

    /// Whether the step runs infrastructure hooks, which must be let stop gracefully (SIGTERM,
    /// grace, SIGKILL) when the drill is interrupted, instead of being dropped at once.
    fn runs_hooks(&self, spec: &StepSpec) -> bool;

    /// Whether the step runs even after an earlier step failed (it only tidies up what the drill
    /// made). The runner runs it only when a step that may create something has run.
    fn always_runs(&self, spec: &StepSpec) -> bool;

    /// Whether a step of `kind` (a [`StepSpec::kind`] name) only looks and never creates
    /// anything (preflight): after a failure, tidy-up steps are not run when only such steps
    /// ran.
    fn creates_nothing(&self, kind: &str) -> bool;
}
