//! Drill scenarios: an ordered list of steps from the step library plus RTO/RPO targets and
//! the sentinel's shape. One strict TOML file per scenario under `scenarios/`.
//!
//! Steps are parsed one by one (not by serde's internally tagged enum in one go) so that an
//! error inside a step still names its exact key, line and column: serde buffers tagged
//! content and loses toml's spans.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::ConfigError;
use super::locate::{Seg, Source};
use super::translate::{toml_error, translate};
use super::values::{self, parse_duration, DURATION_HINT};

/// Declares the step library: one line per kind (variant, struct, kind name, default timeout
/// in seconds). Adding a kind = one line here + one struct below.
macro_rules! step_kinds {
    ($( $(#[$doc:meta])* $variant:ident($ty:ident) = $kind:literal, $secs:expr; )*) => {
        /// The kind-specific part of a step; serde form is internally tagged by `kind`.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind")]
        pub enum StepSpec {
            $( $(#[$doc])* #[serde(rename = $kind)] $variant($ty), )*
        }

        impl StepSpec {
            /// Every known kind, in library order.
            pub const KINDS: &'static [&'static str] = &[$($kind),*];

            /// The kind name as written in TOML (`deploy-sentinel`).
            pub fn kind(&self) -> &'static str {
                match self { $(StepSpec::$variant(_) => $kind,)* }
            }

            /// The timeout used when the step sets none.
            pub fn default_timeout(&self) -> Duration {
                match self { $(StepSpec::$variant(_) => Duration::from_secs($secs),)* }
            }

            /// Deserializes the kind-specific keys of one step; `None` for an unknown kind.
            fn from_value(
                kind: &str,
                rest: toml::Value,
            ) -> Option<Result<StepSpec, serde_path_to_error::Error<toml::de::Error>>> {
                match kind {
                    $($kind => Some(serde_path_to_error::deserialize(rest).map(StepSpec::$variant)),)*
                    _ => None,
                }
            }
        }
    };
}

step_kinds! {
    /// Reach the cluster, record its identity, check Longhorn and the backup target.
    Preflight(PreflightStep) = "preflight", 120;
    /// Apply the sentinel workload (namespace, PVC, deployment).
    DeploySentinel(DeploySentinelStep) = "deploy-sentinel", 300;
    /// Write checksummed sentinel files into the volume and keep the manifest.
    WriteSentinel(WriteSentinelStep) = "write-sentinel", 300;
    /// Take an on-demand Longhorn backup and verify it in S3.
    Backup(BackupStep) = "backup", 1800;
    /// Start the sentinel's tick writer (measures RPO).
    StartTicks(StartTicksStep) = "start-ticks", 60;
    /// Run the destroy hook: the disaster (RTO clock starts).
    Destroy(DestroyStep) = "destroy", 3600;
    /// Run the rebuild hook.
    Rebuild(RebuildStep) = "rebuild", 3600;
    /// Wait for nodes, system pods, Kustomizations and health URLs.
    WaitReady(WaitReadyStep) = "wait-ready", 1800;
    /// Check the restore orchestrator restored the sentinel volume from the backup.
    VerifyRestore(VerifyRestoreStep) = "verify-restore", 1800;
    /// Verify the sentinel files byte for byte (RTO clock stops, RPO measured).
    VerifySentinel(VerifySentinelStep) = "verify-sentinel", 600;
    /// Remove what the drill created.
    Cleanup(CleanupStep) = "cleanup", 300;
}

/// `kind = "preflight"`: no options.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreflightStep {}

/// `kind = "deploy-sentinel"`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploySentinelStep {
    /// Take over an existing sentinel workload instead of failing when it exists.
    #[serde(default)]
    pub adopt: bool,
}

/// `kind = "write-sentinel"`: no options (sizes come from `[sentinel]`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteSentinelStep {}

/// Longhorn backup compression (`Volume.spec.backupCompressionMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    #[default]
    Lz4,
}

impl Compression {
    /// The value Longhorn uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Lz4 => "lz4",
        }
    }
}

/// `kind = "backup"`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupStep {
    /// `none`, `gzip` or `lz4` (default).
    #[serde(default)]
    pub compression: Compression,
    /// How long to wait for the Backup to reach `Completed`; default: the step timeout.
    #[serde(
        default,
        with = "values::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub wait_timeout: Option<Duration>,
    /// Labels put on the Backup (`Backup.spec.labels`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
}

/// `kind = "start-ticks"`: no options (interval from `[sentinel]`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartTicksStep {}

/// `kind = "destroy"`: runs the profile's `[hooks.destroy]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestroyStep {}

/// `kind = "rebuild"`: runs the profile's `[hooks.rebuild]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RebuildStep {}

/// `kind = "wait-ready"`: checks the profile's `[expect]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitReadyStep {}

/// `kind = "verify-restore"`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRestoreStep {}

/// `kind = "verify-sentinel"`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifySentinelStep {}

/// `kind = "cleanup"`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanupStep {}

/// One step of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct StepEntry {
    /// Unique within the scenario; defaults to the kind.
    pub name: String,
    /// Step timeout from the scenario; `None` means [`StepSpec::default_timeout`].
    pub timeout: Option<Duration>,
    pub spec: StepSpec,
}

impl StepEntry {
    /// The timeout to enforce: the scenario's, else the kind's default.
    pub fn effective_timeout(&self) -> Duration {
        self.timeout.unwrap_or_else(|| self.spec.default_timeout())
    }
}

/// `[sentinel]`: the workload and data the drill writes and verifies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentinelSpec {
    /// Default `dr-exercise`.
    #[serde(default = "d_namespace")]
    pub namespace: String,
    /// Well-known PVC name the restore orchestrator restores; default `dr-exercise-data`.
    #[serde(default = "d_pvc")]
    pub pvc: String,
    /// Default `dr-exercise`.
    #[serde(default = "d_deployment")]
    pub deployment: String,
    /// Default `sentinel`.
    #[serde(default = "d_container")]
    pub container: String,
    /// Default `/data`.
    #[serde(default = "d_mount_path")]
    pub mount_path: String,
    /// Sentinel file sizes in bytes; default 3 MiB, 5000 KiB, 1 KiB (crossing Longhorn's 2 MiB
    /// block boundaries at different offsets).
    #[serde(default = "d_file_sizes", with = "values::sizes")]
    pub file_sizes: Vec<u64>,
    /// Interval of the RPO tick writer; default 1 s.
    #[serde(default = "d_tick_interval", with = "values::duration")]
    pub tick_interval: Duration,
}

fn d_namespace() -> String {
    "dr-exercise".into()
}
fn d_pvc() -> String {
    "dr-exercise-data".into()
}
fn d_deployment() -> String {
    "dr-exercise".into()
}
fn d_container() -> String {
    "sentinel".into()
}
fn d_mount_path() -> String {
    "/data".into()
}
fn d_file_sizes() -> Vec<u64> {
    vec![3 << 20, 5000 << 10, 1 << 10]
}
fn d_tick_interval() -> Duration {
    Duration::from_secs(1)
}

impl Default for SentinelSpec {
    fn default() -> Self {
        SentinelSpec {
            namespace: d_namespace(),
            pvc: d_pvc(),
            deployment: d_deployment(),
            container: d_container(),
            mount_path: d_mount_path(),
            file_sizes: d_file_sizes(),
            tick_interval: d_tick_interval(),
        }
    }
}

/// A drill scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// E.g. `full-rebuild`; the `scenario` label in metrics.
    pub name: String,
    pub description: Option<String>,
    /// Destroys the cluster: needs `--allow-destroy`, the profile's `allow_destroy` and the
    /// marker ConfigMap.
    pub destructive: bool,
    /// Recovery time objective; the drill fails when RTO exceeds it.
    pub rto_target: Option<Duration>,
    /// Recovery point objective; the drill fails when RPO exceeds it.
    pub rpo_target: Option<Duration>,
    pub sentinel: SentinelSpec,
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

    /// A copy keeping only the `preflight` steps (same name, targets and `destructive` flag,
    /// so the same guards run): what `dr-harness check` executes.
    pub fn preflight_only(&self) -> Scenario {
        let mut copy = self.clone();
        copy.steps
            .retain(|s| matches!(s.spec, StepSpec::Preflight(_)));
        copy
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
            steps,
        })
    }
}

fn parse_step(
    source: &Source<'_>,
    i: usize,
    mut table: toml::Table,
) -> Result<StepEntry, ConfigError> {
    let n = i + 1;
    let at = |key: &'static str| [Seg::Key("steps"), Seg::Index(i), Seg::Key(key)];
    let kinds_hint = format!("expected one of {}", StepSpec::KINDS.join(", "));
    let kind = match table.remove("kind") {
        Some(toml::Value::String(k)) => k,
        Some(other) => {
            return Err(source.error_at_key(
                &at("kind"),
                format!(
                    "wrong type for key `kind` in [[steps]] #{n}: found {}",
                    other.type_str()
                ),
                Some(kinds_hint),
            ))
        }
        None => {
            return Err(source.error_at_key(
                &[Seg::Key("steps"), Seg::Index(i)],
                format!("missing key `kind` in [[steps]] #{n}"),
                Some(kinds_hint),
            ))
        }
    };
    let table_name = format!("[[steps]] #{n} ({kind})");
    let name = match table.remove("name") {
        None => kind.clone(),
        Some(toml::Value::String(s)) if valid_step_name(&s) => s,
        Some(other) => {
            return Err(source.error_at_key(
                &at("name"),
                format!("invalid step name {other} in {table_name}"),
                Some(
                    "use letters, digits, `-`, `_` or `.`, starting with a letter or digit".into(),
                ),
            ))
        }
    };
    let timeout = match table.remove("timeout") {
        None => None,
        Some(toml::Value::String(s)) => match parse_duration(&s) {
            Ok(d) => Some(d),
            Err(e) => {
                return Err(source.error_at_key(
                    &at("timeout"),
                    format!("{e} for key `timeout` in {table_name}"),
                    Some(DURATION_HINT.into()),
                ))
            }
        },
        Some(other) => {
            return Err(source.error_at_key(
                &at("timeout"),
                format!(
                    "wrong type for key `timeout` in {table_name}: found {}",
                    other.type_str()
                ),
                Some(DURATION_HINT.into()),
            ))
        }
    };
    let spec = match StepSpec::from_value(&kind, toml::Value::Table(table)) {
        None => {
            return Err(source.error_at_key(
                &at("kind"),
                format!("unknown step kind `{kind}` in [[steps]] #{n}"),
                Some(kinds_hint),
            ))
        }
        Some(Ok(spec)) => spec,
        Some(Err(e)) => {
            let raw = e.inner().message().to_string();
            // Unknown keys sit at the struct itself (empty path) and are named in the message;
            // other errors are at the field the path names.
            let key = raw
                .strip_prefix("unknown field `")
                .and_then(|r| r.split('`').next())
                .map(str::to_string)
                .or_else(|| {
                    e.path()
                        .iter()
                        .next()
                        .map(|seg| seg.to_string())
                        .filter(|s| s != "?")
                });
            let (message, hint) = translate(&raw, key.as_deref(), &table_name);
            let path: Vec<Seg<'_>> = match &key {
                Some(k) => vec![Seg::Key("steps"), Seg::Index(i), Seg::Key(k)],
                None => vec![Seg::Key("steps"), Seg::Index(i)],
            };
            return Err(source.error_at_key(&path, message, hint));
        }
    };
    Ok(StepEntry {
        name,
        timeout,
        spec,
    })
}

fn valid_step_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
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
