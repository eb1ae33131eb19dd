//! Infrastructure hooks: the subprocesses that destroy and rebuild a cluster (terragrunt,
//! OpenTofu/Terraform, or any command).
//!
//! A profile's [`HookSpec`](crate::config::HookSpec) becomes a [`HookPlan`] (the exact argv,
//! directory, environment and limits, see [`plan`]); [`run_hook`] runs it in its own process
//! group, streams its redacted output line by line, and stops the whole group on timeout or
//! cancellation (SIGTERM, grace, SIGKILL — the order nextest uses for test processes). A
//! destroy is only trusted when the tool's own evidence agrees: terragrunt's run report must
//! list no unit that did not succeed, and `tofu state list` must print nothing afterwards.

pub mod plan;
pub mod runner;
pub mod tgreport;

use std::path::PathBuf;

pub use plan::{check_tools, HookAction, HookPlan};
pub use runner::{run_hook, HookOutcome, Stream};
pub use tgreport::{parse_report, UnitResult};

/// Errors of the hook area. Exit codes and timeouts are not errors: they are part of
/// [`HookOutcome`]; these are the cases where the hook could not be run or observed at all.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The program is neither an existing path nor found on `PATH`.
    #[error("hook tool `{tool}` not found; {hint}")]
    ToolMissing {
        /// The program as the plan names it (`argv[0]`).
        tool: String,
        /// What to do: install the tool and put it on `PATH`, or fix `argv` in `[hooks.<action>]`.
        hint: String,
    },
    /// A plan with no program (only possible for hand-built plans).
    #[error("hook `{action}` has an empty argv")]
    EmptyArgv {
        /// `destroy` or `rebuild`.
        action: String,
    },
    /// The process could not be started.
    #[error("cannot start hook `{program}`: {source}")]
    Spawn {
        /// The program (`argv[0]`).
        program: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for the process failed.
    #[error("cannot wait for hook `{program}`: {source}")]
    Wait {
        /// The program (`argv[0]`).
        program: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A terragrunt report file exists but cannot be read or parsed.
    #[error("cannot read terragrunt report {}: {message}", path.display())]
    Report {
        /// The report file (the hook's `--report-file`).
        path: PathBuf,
        /// The read or CSV/JSON parse error.
        message: String,
    },
}
