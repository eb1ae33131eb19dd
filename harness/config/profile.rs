//! Cluster profiles: how to reach one cluster, where its backups go, how to destroy and
//! rebuild it, and what "ready" means for it. One strict TOML file per cluster under
//! `fixtures/profiles/` (documented key by key in `fixtures/profiles/README.md`); `sandbox` is
//! built in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::error::ConfigError;
use super::locate::{Seg, Source};
use super::translate::{toml_error, HINT_SEP};
use super::values;

/// A cluster profile, as read from TOML.
///
/// ```toml
/// name = "dev"                # cluster label for metrics and reports (required)
/// description = "…"           # optional
/// [kubeconfig]                # exactly one of path / command
/// [backup_target]             # Longhorn backup target (required)
/// [safety]                    # destroy guard rails
/// [hooks.destroy]             # [hooks.rebuild] has the same shape; both optional
/// [expect]                    # what a ready cluster looks like
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Cluster label used in metrics and reports (bounded cardinality), e.g. `dev`.
    pub name: String,
    /// Free text for humans.
    #[serde(default)]
    pub description: Option<String>,
    /// How to get a kubeconfig for the cluster.
    pub kubeconfig: Kubeconfig,
    /// Where Longhorn's backups live.
    pub backup_target: BackupTargetSource,
    /// Guard rails for destructive scenarios.
    #[serde(default)]
    pub safety: Safety,
    /// Infrastructure hooks; absent for clusters that only run non-destructive scenarios.
    #[serde(default)]
    pub hooks: Hooks,
    /// What a ready cluster looks like after a rebuild.
    #[serde(default)]
    pub expect: Expectations,
}

/// `[kubeconfig]`: exactly one of `path` and `command`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kubeconfig {
    /// Path to a kubeconfig file; a leading `~/` is expanded from `$HOME` at load time.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Context to use inside the kubeconfig (default: its current-context).
    #[serde(default)]
    pub context: Option<String>,
    /// A command (argv, no shell) that prints a kubeconfig on stdout. Run again after a
    /// rebuild, because a rebuilt cluster has new certificates and tokens.
    #[serde(default)]
    pub command: Option<Vec<String>>,
}

/// Where a kubeconfig comes from, once validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeconfigSource<'a> {
    /// `path`: a kubeconfig file (with `~/` already expanded).
    Path(&'a Path),
    /// `command`: an argv (no shell) whose stdout is a kubeconfig.
    Command(&'a [String]),
}

impl Kubeconfig {
    /// The validated source. Loading guarantees exactly one of `path`/`command` is set; a
    /// hand-built value with both prefers `path`.
    pub fn source(&self) -> Option<KubeconfigSource<'_>> {
        match (&self.path, &self.command) {
            (Some(p), _) => Some(KubeconfigSource::Path(p)),
            (None, Some(c)) => Some(KubeconfigSource::Command(c)),
            (None, None) => None,
        }
    }
}

/// A Longhorn S3 backup target URL, `s3://bucket@region/[prefix/]`.
///
/// Format from Longhorn's backup target docs and `longhorn/backupstore s3/s3.go`: the region
/// is required and the URL must end with `/`; keys live under `<prefix>backupstore/`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct BackupTargetUrl {
    /// The URL as written.
    pub url: String,
    /// S3 bucket name (the part before `@`).
    pub bucket: String,
    /// S3 region (the part after `@`), e.g. `us-east-1`.
    pub region: String,
    /// Folder inside the bucket, empty or ending with `/`.
    pub prefix: String,
}

impl BackupTargetUrl {
    /// Parses and validates a backup target URL.
    ///
    /// # Errors
    /// A message (ending in a `\nhint: ` line on how to write it) for a non-`s3://` scheme, a
    /// missing bucket or region, a query string, or a missing trailing slash.
    pub fn parse(url: &str) -> Result<Self, String> {
        let hint = format!(
            "{HINT_SEP}write it as s3://<bucket>@<region>/ or s3://<bucket>@<region>/<folder>/ (as Longhorn does, s3://<bucket>/<folder> takes the region from AWS_REGION)"
        );
        let bad = |why: &str| format!("invalid backup target URL `{url}`: {why}{hint}");
        // The layout rules are the backupstore crate's (one parser for the whole project); the
        // profile adds S3's bucket naming rule, which is worth catching before any request.
        use dr_backupstore::TargetError as E;
        let parsed = dr_backupstore::BackupTargetUrl::parse(url).map_err(|e| {
            bad(match e {
                E::WrongScheme { .. } => "only s3:// targets are supported",
                E::MissingRegion { .. } => "missing `@<region>` after the bucket",
                E::EmptyBucketOrRegion { .. } => "missing bucket or region",
                E::MissingTrailingSlash { .. } if url.contains('?') || url.contains('#') => {
                    "a target URL takes no query"
                }
                E::MissingPath { .. } => "missing the path: at least a `/` after the region",
                _ => "not a backup target URL",
            })
        })?;
        let (bucket, region, prefix) = (
            parsed.bucket.as_str(),
            parsed.region.as_str(),
            parsed.prefix.as_str(),
        );
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
        if !bucket_ok {
            return Err(bad(
                "the bucket name must be 3-63 lowercase letters, digits, `.` or `-`",
            ));
        }
        if region.contains(char::is_whitespace) {
            return Err(bad("missing region"));
        }
        Ok(BackupTargetUrl {
            url: url.to_string(),
            bucket: bucket.to_string(),
            region: region.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// Key prefix of the Longhorn backupstore inside the bucket: `<prefix>backupstore/`.
    pub fn backupstore_prefix(&self) -> String {
        format!("{}backupstore/", self.prefix)
    }
}

impl TryFrom<String> for BackupTargetUrl {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        BackupTargetUrl::parse(&value)
    }
}

impl std::fmt::Display for BackupTargetUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

/// How the harness gets S3 credentials (the cluster's Longhorn has its own secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Credentials {
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` from the environment only.
    Env,
    /// The AWS SDK default chain (env, profile, SSO, IMDS).
    #[default]
    Chain,
}

/// `[backup_target]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupTarget {
    /// Longhorn backup target URL, `s3://bucket@region/[prefix/]`.
    pub url: BackupTargetUrl,
    /// S3 endpoint for non-AWS stores (MinIO, Hetzner); default AWS.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Path-style addressing; default `true` when `endpoint` is set, else `false`.
    #[serde(default)]
    pub path_style: Option<bool>,
    /// `env` or `chain` (default).
    #[serde(default)]
    pub credentials: Credentials,
    /// Folder of RKE2/k3s etcd-s3 snapshots in the same bucket, for etcd scenarios.
    #[serde(default)]
    pub etcd_snapshot_prefix: Option<String>,
}

impl BackupTarget {
    /// Effective path-style setting (Longhorn's rule: with a custom endpoint and no
    /// `VIRTUAL_HOSTED_STYLE`, path style is used).
    pub fn path_style(&self) -> bool {
        self.path_style.unwrap_or(self.endpoint.is_some())
    }
}

/// Where the backup target comes from: the profile itself, or the sandbox's state file
/// (written when the sandbox starts, so its random ports are known only then).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "BackupTarget")]
pub enum BackupTargetSource {
    /// `[backup_target]` as written in the profile.
    Static(BackupTarget),
    /// `<state>/sandbox.json` with `backup_target_url`, `s3_endpoint`, `region`.
    SandboxState(PathBuf),
}

impl From<BackupTarget> for BackupTargetSource {
    fn from(t: BackupTarget) -> Self {
        BackupTargetSource::Static(t)
    }
}

/// The fields of `<state>/sandbox.json` the profile needs (written by the sandbox).
#[derive(Debug, Clone, Deserialize)]
struct SandboxInfo {
    backup_target_url: String,
    s3_endpoint: String,
    #[allow(dead_code)]
    region: Option<String>,
}

impl BackupTargetSource {
    /// The backup target; reads the sandbox state file for the built-in sandbox profile.
    ///
    /// # Errors
    /// [`ConfigError::SandboxState`] if the state file is missing, not JSON, or holds an
    /// invalid backup target URL.
    pub fn resolve(&self) -> Result<BackupTarget, ConfigError> {
        match self {
            BackupTargetSource::Static(t) => Ok(t.clone()),
            BackupTargetSource::SandboxState(path) => {
                let state_err = |message: String| ConfigError::SandboxState {
                    path: path.clone(),
                    message,
                };
                let text = std::fs::read_to_string(path)
                    .map_err(|e| state_err(format!("cannot read: {e}")))?;
                let info: SandboxInfo = serde_json::from_str(&text)
                    .map_err(|e| state_err(format!("not a sandbox state file: {e}")))?;
                let url = BackupTargetUrl::parse(&info.backup_target_url)
                    .map_err(|e| state_err(e.replace(HINT_SEP, "; ")))?;
                Ok(BackupTarget {
                    url,
                    endpoint: Some(info.s3_endpoint),
                    path_style: Some(true),
                    credentials: Credentials::Env,
                    etcd_snapshot_prefix: None,
                })
            }
        }
    }
}

/// `[safety]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Safety {
    /// The profile's consent to destructive scenarios (also needs `--allow-destroy` and the
    /// marker ConfigMap in the cluster). Default `false`.
    #[serde(default)]
    pub allow_destroy: bool,
    /// The ConfigMap that marks a cluster as a drill target.
    #[serde(default)]
    pub marker: Marker,
}

/// The drill-target marker ConfigMap; default `kube-system/dr-harness-drill-target`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Marker {
    /// Namespace of the marker ConfigMap; default `kube-system`.
    #[serde(default = "default_marker_namespace")]
    pub namespace: String,
    /// Name of the marker ConfigMap; default `dr-harness-drill-target`.
    #[serde(default = "default_marker_configmap")]
    pub configmap: String,
}

fn default_marker_namespace() -> String {
    "kube-system".to_string()
}

fn default_marker_configmap() -> String {
    "dr-harness-drill-target".to_string()
}

impl Default for Marker {
    fn default() -> Self {
        Marker {
            namespace: default_marker_namespace(),
            configmap: default_marker_configmap(),
        }
    }
}

/// `[hooks]`: `destroy` and `rebuild`, both optional.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    /// `[hooks.destroy]`: tears the cluster down (the `destroy` step); needed by destructive
    /// scenarios.
    #[serde(default)]
    pub destroy: Option<HookSpec>,
    /// `[hooks.rebuild]`: builds the cluster again (the `rebuild` step).
    #[serde(default)]
    pub rebuild: Option<HookSpec>,
}

/// Which tool a hook runs; the preset builds its command line (see `hooks::plan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HookPreset {
    /// `terragrunt run --all … -- destroy|apply -auto-approve` in `working_dir`.
    Terragrunt,
    /// `tofu -chdir=DIR destroy|apply -auto-approve -input=false`.
    Tofu,
    /// `terraform -chdir=DIR destroy|apply -auto-approve -input=false`.
    Terraform,
    /// `argv` as given.
    Command,
}

impl HookPreset {
    /// The name as written in TOML.
    pub fn as_str(self) -> &'static str {
        match self {
            HookPreset::Terragrunt => "terragrunt",
            HookPreset::Tofu => "tofu",
            HookPreset::Terraform => "terraform",
            HookPreset::Command => "command",
        }
    }
}

/// `[hooks.destroy]` / `[hooks.rebuild]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookSpec {
    /// Which tool runs the hook; it decides the command line.
    pub preset: HookPreset,
    /// Stack directory for terragrunt/tofu/terraform (required there); the command's working
    /// directory for `command`. Relative paths are relative to where the harness runs.
    #[serde(default)]
    pub working_dir: Option<PathBuf>,
    /// The command for `preset = "command"` (required there, forbidden for the others).
    #[serde(default)]
    pub argv: Option<Vec<String>>,
    /// Appended to the preset's argv.
    #[serde(default)]
    pub extra_args: Vec<String>,
    /// Wall-clock limit; default 60 minutes.
    #[serde(default = "default_hook_timeout", with = "values::duration")]
    pub timeout: Duration,
    /// SIGTERM → SIGKILL grace; default 30 seconds.
    #[serde(default = "default_hook_grace", with = "values::duration")]
    pub grace: Duration,
    /// Extra environment for the hook.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Names of environment variables (from `env` or inherited) whose values are redacted
    /// everywhere.
    #[serde(default)]
    pub secret_env: Vec<String>,
    /// Run `init -input=false -no-color` before the hook's command (a fresh CI checkout has no
    /// `.terraform`); terragrunt/tofu/terraform only.
    #[serde(default)]
    pub init: bool,
}

fn default_hook_timeout() -> Duration {
    Duration::from_secs(60 * 60)
}

fn default_hook_grace() -> Duration {
    Duration::from_secs(30)
}

impl HookSpec {
    /// A `command` hook with defaults (60 min timeout, 30 s grace).
    pub fn command(argv: Vec<String>) -> Self {
        HookSpec {
            preset: HookPreset::Command,
            working_dir: None,
            argv: Some(argv),
            extra_args: Vec::new(),
            timeout: default_hook_timeout(),
            grace: default_hook_grace(),
            env: BTreeMap::new(),
            init: false,
            secret_env: Vec::new(),
        }
    }

    /// Values of the `secret_env` variables, from `env` first, else the harness's own
    /// environment; unset names are skipped. Register them with the `Redactor`.
    pub fn secret_values(&self) -> Vec<String> {
        self.secret_env
            .iter()
            .filter_map(|name| {
                self.env
                    .get(name)
                    .cloned()
                    .or_else(|| std::env::var(name).ok())
            })
            .collect()
    }
}

/// `[expect]`: what a ready cluster looks like.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// Number of Ready nodes after a rebuild; unchecked when absent.
    #[serde(default)]
    pub nodes: Option<u32>,
    /// Name prefixes of pods in `kube-system` that must be Running; default `["coredns"]`.
    #[serde(default = "default_system_pods")]
    pub system_pods: Vec<String>,
    /// Flux Kustomizations (namespace `flux-system`) that must be Ready.
    #[serde(default)]
    pub kustomizations: Vec<String>,
    /// URLs that must answer 2xx.
    #[serde(default)]
    pub health_urls: Vec<String>,
    /// Namespace Longhorn runs in; default `longhorn-system`.
    #[serde(default = "default_longhorn_namespace")]
    pub longhorn_namespace: String,
    /// `namespace/name` of the restore-orchestrator Job that must complete after a rebuild.
    #[serde(default)]
    pub orchestrator_job: Option<String>,
}

fn default_system_pods() -> Vec<String> {
    vec!["coredns".to_string()]
}

fn default_longhorn_namespace() -> String {
    "longhorn-system".to_string()
}

impl Default for Expectations {
    fn default() -> Self {
        Expectations {
            nodes: None,
            system_pods: default_system_pods(),
            kustomizations: Vec::new(),
            health_urls: Vec::new(),
            longhorn_namespace: default_longhorn_namespace(),
            orchestrator_job: None,
        }
    }
}

impl Expectations {
    /// `(namespace, name)` of the orchestrator Job (validated at load).
    pub fn orchestrator_job_ref(&self) -> Option<(&str, &str)> {
        self.orchestrator_job
            .as_deref()
            .and_then(|j| j.split_once('/'))
    }
}

impl Profile {
    /// Reads and validates a profile file. Touches nothing but that file (no network).
    ///
    /// # Errors
    /// [`ConfigError::Read`] if the file cannot be read; [`ConfigError::Invalid`] with
    /// file:line:column and a hint for bad TOML, unknown keys, wrong types, bad durations,
    /// an invalid backup target URL, or an inconsistent kubeconfig/hook section.
    pub fn load(path: &Path) -> Result<Profile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Profile::from_str(&text, &path.display().to_string())
    }

    /// Parses a profile from text; `origin` names it in errors.
    ///
    /// # Errors
    /// As [`Profile::load`], minus reading.
    pub fn from_str(text: &str, origin: &str) -> Result<Profile, ConfigError> {
        let source = Source::new(origin, text);
        let mut profile: Profile = toml::from_str(text).map_err(|e| toml_error(&source, &e))?;
        profile.validate(&source)?;
        if let Some(p) = &profile.kubeconfig.path {
            profile.kubeconfig.path = Some(expand_home(p));
        }
        Ok(profile)
    }

    fn validate(&self, source: &Source<'_>) -> Result<(), ConfigError> {
        let k = &self.kubeconfig;
        match (&k.path, &k.command) {
            (Some(_), Some(_)) => {
                return Err(source.error_at_key(
                    &[Seg::Key("kubeconfig"), Seg::Key("command")],
                    "both `path` and `command` set in [kubeconfig]".into(),
                    Some("keep exactly one: a file path, or a command that prints the kubeconfig".into()),
                ))
            }
            (None, None) => {
                return Err(source.error_at_key(
                    &[Seg::Key("kubeconfig")],
                    "neither `path` nor `command` set in [kubeconfig]".into(),
                    Some("add `path = \"~/.kube/<cluster>.yaml\"` or `command = [\"…\"]`".into()),
                ))
            }
            (None, Some(c)) if c.is_empty() => {
                return Err(source.error_at_key(
                    &[Seg::Key("kubeconfig"), Seg::Key("command")],
                    "empty `command` in [kubeconfig]".into(),
                    Some("give the program and its arguments, e.g. [\"tofu\", \"output\", \"-raw\", \"kubeconfig\"]".into()),
                ))
            }
            _ => {}
        }
        for (which, hook) in [
            ("destroy", &self.hooks.destroy),
            ("rebuild", &self.hooks.rebuild),
        ] {
            if let Some(hook) = hook {
                validate_hook(source, which, hook)?;
            }
        }
        if let Some(job) = &self.expect.orchestrator_job {
            let ok = matches!(job.split_once('/'), Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/'));
            if !ok {
                return Err(source.error_at_key(
                    &[Seg::Key("expect"), Seg::Key("orchestrator_job")],
                    format!("invalid `orchestrator_job` `{job}` in [expect]"),
                    Some("write it as <namespace>/<job-name>, e.g. longhorn-system/longhorn-restore-orchestrator".into()),
                ));
            }
        }
        Ok(())
    }

    /// The built-in `sandbox` profile for the local stand-in cluster whose state lives in
    /// `state_dir`: kubeconfig `<state>/kubeconfig`, backup target from `<state>/sandbox.json`
    /// (resolved later by [`BackupTargetSource::resolve`]), hooks running this executable's
    /// `sandbox destroy|apply --state <state>`, destroy allowed, and the sandbox's shape as
    /// expectations (3 nodes, coredns, the three Flux Kustomizations, the orchestrator Job).
    /// Every name comes from [`dr_sandbox::names`], which the sandbox builds its cluster by.
    /// Only in builds with the `sandbox` feature (the default).
    #[cfg(feature = "sandbox")]
    pub fn builtin_sandbox(state_dir: &Path) -> Profile {
        use dr_sandbox::names;
        // If the executable path is unknown, fall back to finding it on PATH.
        let exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "dr-harness".to_string());
        let state = state_dir.display().to_string();
        let hook = |verb: &str| {
            HookSpec::command(vec![
                exe.clone(),
                "sandbox".into(),
                verb.into(),
                "--state".into(),
                state.clone(),
            ])
        };
        Profile {
            name: names::CLUSTER_NAME.to_string(),
            description: Some("built-in local stand-in cluster".to_string()),
            kubeconfig: Kubeconfig {
                path: Some(state_dir.join(names::KUBECONFIG_FILE)),
                context: None,
                command: None,
            },
            backup_target: BackupTargetSource::SandboxState(state_dir.join(names::STATE_FILE)),
            safety: Safety {
                allow_destroy: true,
                marker: Marker::default(),
            },
            hooks: Hooks {
                destroy: Some(hook("destroy")),
                rebuild: Some(hook("apply")),
            },
            expect: Expectations {
                nodes: Some(names::NODE_NAMES.len() as u32),
                system_pods: vec![names::DNS_DEPLOYMENT.to_string()],
                kustomizations: names::KUSTOMIZATIONS.map(str::to_string).to_vec(),
                health_urls: Vec::new(),
                longhorn_namespace: names::LONGHORN_NAMESPACE.to_string(),
                orchestrator_job: Some(format!(
                    "{}/{}",
                    names::ORCHESTRATOR_JOB.0,
                    names::ORCHESTRATOR_JOB.1
                )),
            },
        }
    }
}

fn validate_hook(source: &Source<'_>, which: &str, hook: &HookSpec) -> Result<(), ConfigError> {
    let table = format!("[hooks.{which}]");
    let at = |key: &'static str| [Seg::Key("hooks"), Seg::Key(which), Seg::Key(key)];
    match hook.preset {
        HookPreset::Command if hook.init => Err(source.error_at_key(
            &at("init"),
            format!("`init` is not allowed in {table} with preset \"command\""),
            Some("`init = true` runs `init -input=false` of terragrunt/tofu/terraform; put an init into the command itself".into()),
        )),
        HookPreset::Command => match &hook.argv {
            None => Err(source.error_at_key(
                &at("preset"),
                format!("missing key `argv` in {table} for preset \"command\""),
                Some("add `argv = [\"program\", \"arg\", …]` (run without a shell)".into()),
            )),
            Some(argv) if argv.is_empty() || argv[0].trim().is_empty() => Err(source.error_at_key(
                &at("argv"),
                format!("empty `argv` in {table}"),
                Some(
                    "give the program and its arguments, e.g. [\"make\", \"k3s-teardown\"]".into(),
                ),
            )),
            Some(_) => Ok(()),
        },
        preset => {
            if hook.argv.is_some() {
                return Err(source.error_at_key(
                    &at("argv"),
                    format!("`argv` is not allowed in {table} with preset \"{}\"", preset.as_str()),
                    Some(format!(
                        "the {} preset builds its own command line: remove `argv` (use `extra_args` to add flags) or set preset = \"command\"",
                        preset.as_str()
                    )),
                ));
            }
            if hook.working_dir.is_none() {
                return Err(source.error_at_key(
                    &at("preset"),
                    format!(
                        "missing key `working_dir` in {table} for preset \"{}\"",
                        preset.as_str()
                    ),
                    Some("add `working_dir = \"<stack directory>\"`".into()),
                ));
            }
            Ok(())
        }
    }
}

/// `~/x` → `$HOME/x`; other paths unchanged (also when `HOME` is unset).
fn expand_home(p: &Path) -> PathBuf {
    match (p.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => p.to_path_buf(),
    }
}
