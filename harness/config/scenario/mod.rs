//! Drill scenarios: an ordered list of steps from the step library plus RTO/RPO targets and
//! the sentinel's shape. One strict TOML file per scenario under `scenarios/`.
//!
//! Steps are parsed one by one (not by serde's internally tagged enum in one go) so that an
//! error inside a step still names its exact key, line and column: serde buffers tagged
//! content and loses toml's spans.
//!
//! One job per file: `kinds.rs` holds the kind table ([`StepSpec`], default timeouts),
//! `entry.rs` parses one `[[steps]]` table, `options.rs`, `checks.rs` and `gates.rs` hold each
//! kind's options, `sentinel.rs` the `[sentinel]` table, and this file the scenario itself
//! (loading, the step list, [`scenarios_in`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::error::ConfigError;
use crate::config::locate::{Seg, Source};
use crate::config::translate::toml_error;
use crate::config::values;

mod checks;
mod entry;
mod gates;
mod kinds;
mod options;
mod sentinel;
#[cfg(test)]
mod tests;

pub use checks::{CheckStep, CompareOp, Comparison, Expectation, PodTarget, RawCheckStep};
pub use entry::StepEntry;
pub use gates::{GateCheck, GateProbe, GatesStep, ObjectRef, RawGate, ReadinessGate};
pub use kinds::StepSpec;
pub use options::{
    BackupFreshnessStep, BackupStep, CleanupStep, Compression, DeleteSentinelStep,
    DeploySentinelStep, DestroyStep, HealthStep, PreflightStep, RebuildStep, RestoreVolumeStep,
    RevertStep, ScaleStep, SnapshotStep, StartTicksStep, SystemBackupStep, SystemRestoreStep,
    VerifyBackupStep, VerifyRestoreStep, VerifyRevertStep, VerifySentinelStep, VolumeBackupPolicy,
    WaitReadyStep, WriteGenerationStep, WriteSentinelStep,
};
pub use sentinel::SentinelSpec;

use entry::parse_step;

/// A drill scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// E.g. `full-rebuild`; the `scenario` label in metrics.
    pub name: String,
    /// Free text shown when scenarios are listed; the run does not use it.
    pub description: Option<String>,
    /// Destroys the cluster: needs `--allow-destroy`, the profile's `allow_destroy` and the
    /// marker ConfigMap.
    pub destructive: bool,
    /// Recovery time objective; the drill fails when RTO exceeds it.
    pub rto_target: Option<Duration>,
    /// Recovery point objective; the drill fails when RPO exceeds it.
    pub rpo_target: Option<Duration>,
    /// The `[sentinel]` table, defaults filled in.
    pub sentinel: SentinelSpec,
    /// Set by [`Scenario::preflight_only`] and [`Scenario::read_only`], never from TOML: the run
    /// writes nothing to the cluster or the bucket (no drill lock, no run state beside the
    /// backups), so it works with read-only credentials. Local reports are still written.
    pub read_only: bool,
    steps: Vec<StepEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    destructive: bool,
    #[serde(default, with = "values::opt_duration")]
    rto_target: Option<Duration>,
    #[serde(default, with = "values::opt_duration")]
    rpo_target: Option<Duration>,
    #[serde(default)]
    sentinel: SentinelSpec,
    #[serde(default)]
    steps: Vec<toml::Table>,
}

impl Scenario {
    /// The steps in order.
    pub fn steps(&self) -> &[StepEntry] {
        &self.steps
    }

    /// A read-only copy keeping only the `preflight` steps (same name, targets and `destructive`
    /// flag, so the same guards run): what `dr-harness check` executes. A scenario without a
    /// preflight step (`health`) gets one: `check` always proves reachability and the guards.
    pub fn preflight_only(&self) -> Scenario {
        let mut copy = self.clone().read_only();
        copy.steps
            .retain(|s| matches!(s.spec, StepSpec::Preflight(_)));
        if copy.steps.is_empty() {
            copy.steps.push(StepEntry {
                name: "preflight".into(),
                timeout: None,
                spec: StepSpec::Preflight(PreflightStep::default()),
            });
        }
        copy
    }

    /// This scenario marked read-only (see [`Scenario::read_only`] the field): `verify-backup
    /// --read-only` and `check`.
    pub fn read_only(mut self) -> Scenario {
        self.read_only = true;
        self
    }

    /// Reads and validates a scenario file.
    ///
    /// # Errors
    /// [`ConfigError::Read`] if unreadable; [`ConfigError::Invalid`] with file:line:column and
    /// a hint for bad TOML, unknown keys or step kinds, wrong types, bad durations or sizes,
    /// duplicate step names, or no steps.
    pub fn load(path: &Path) -> Result<Scenario, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Scenario::from_str(&text, &path.display().to_string())
    }

    /// Parses a scenario from text; `origin_name` names it in errors.
    ///
    /// # Errors
    /// As [`Scenario::load`], minus reading.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str, origin_name: &str) -> Result<Scenario, ConfigError> {
        let source = Source::new(origin_name, text);
        let raw: RawScenario = toml::from_str(text).map_err(|e| toml_error(&source, &e))?;
        if raw.steps.is_empty() {
            return Err(source.error_at(
                0,
                format!("scenario `{}` has no steps", raw.name),
                Some("add [[steps]] tables with `kind = \"…\"`".into()),
            ));
        }
        let mut steps: Vec<StepEntry> = Vec::with_capacity(raw.steps.len());
        for (i, table) in raw.steps.into_iter().enumerate() {
            let entry = parse_step(&source, i, table)?;
            if let Some(first) = steps.iter().position(|s| s.name == entry.name) {
                let key = if source
                    .key_span(&[Seg::Key("steps"), Seg::Index(i), Seg::Key("name")])
                    .is_some()
                {
                    "name"
                } else {
                    "kind"
                };
                return Err(source.error_at_key(
                    &[Seg::Key("steps"), Seg::Index(i), Seg::Key(key)],
                    format!(
                        "duplicate step name `{}` in [[steps]] #{} (already used by [[steps]] #{})",
                        entry.name,
                        i + 1,
                        first + 1
                    ),
                    Some("give each step a unique `name = \"…\"`".into()),
                ));
            }
            steps.push(entry);
        }
        Ok(Scenario {
            name: raw.name,
            description: raw.description,
            destructive: raw.destructive,
            rto_target: raw.rto_target,
            rpo_target: raw.rpo_target,
            sentinel: raw.sentinel,
            read_only: false,
            steps,
        })
    }
}

/// Loads every `*.toml` in `dir` (sorted by file name), each with its own result, so one bad
/// scenario does not hide the others. An unreadable directory yields one entry for `dir`
/// holding [`ConfigError::ListDir`].
pub fn scenarios_in(dir: &Path) -> Vec<(PathBuf, Result<Scenario, ConfigError>)> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(source) => {
            return vec![(
                dir.to_path_buf(),
                Err(ConfigError::ListDir {
                    dir: dir.to_path_buf(),
                    source,
                }),
            )]
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let loaded = Scenario::load(&p);
            (p, loaded)
        })
        .collect()
}
