//! `dr-harness sandbox …`, and the sandbox embedded in `run` when no profile is given.
//!
//! `destroy`, `apply`, `down`, `fault` and `status` talk to a running sandbox through its control
//! endpoint (`<state>/control.json`), so they work as subprocess hooks of a drill — the hook
//! runner is exercised for real even against the sandbox.

use std::path::{Path, PathBuf};

use dr_sandbox::{control, names, Sandbox, SandboxOptions, Timing};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::Api;

use super::args::SandboxCommand;
use super::{EXIT_FAILED, EXIT_PASSED, EXIT_UNREACHABLE, EXIT_USAGE};
use crate::cluster::{wait, KubeconfigSource, RetryStats};
use crate::config::profile::BackupTargetSource;
use crate::longhorn::BackupTarget;
use crate::target::StaticKeys;

/// Checks that the host busybox the sandbox runs pods with exists: a missing local tool is a
/// setup error (exit 2), said before anything starts.
///
/// # Errors
/// A message naming the path and how to install or point at busybox.
pub fn busybox_present() -> Result<(), String> {
    let busybox = dr_sandbox::dataplane::rootfs::busybox_path();
    if busybox.is_file() {
        return Ok(());
    }
    Err(format!(
        "the built-in sandbox needs busybox at {} (install Debian package busybox-static: scripts/setup.sh installs every tool the sandbox needs; or set {} to its path)",
        busybox.display(),
        dr_sandbox::dataplane::rootfs::BUSYBOX_ENV
    ))
}

/// Why the embedded sandbox did not start.
#[derive(Debug)]
pub enum StartError {
    /// A host tool is missing (set-up of this machine; exit 2 with the install command).
    ToolMissing(String),
    /// The state folder is held by another sandbox (exit 2).
    InUse(String),
    /// Anything else (exit 3).
    Other(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::ToolMissing(m) | StartError::InUse(m) | StartError::Other(m) => {
                f.write_str(m)
            }
        }
    }
}

/// A sandbox started for one command and stopped with it.
pub struct EmbeddedSandbox {
    sandbox: Option<Sandbox>,
    _tmp: Option<tempfile::TempDir>,
    state: PathBuf,
}

impl EmbeddedSandbox {
    /// Starts a sandbox in `state` (a temporary folder when None).
    pub async fn start(
        state: Option<PathBuf>,
        timing: &str,
        longhorn_version: dr_sandbox::LonghornVersion,
        longhorn_crds: Option<PathBuf>,
    ) -> Result<EmbeddedSandbox, StartError> {
        let (tmp, state) = match state {
            Some(s) => (None, s),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("dr-harness-sandbox-")
                    .tempdir()
                    .map_err(|e| StartError::Other(e.to_string()))?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let timing: Timing = timing
            .parse()
            .map_err(|e| StartError::Other(format!("{e}")))?;
        let mut opts = SandboxOptions::new(&state);
        opts.timing = timing;
        opts.harness_bin = std::env::current_exe().ok();
        opts.longhorn_version = longhorn_version;
        opts.longhorn_crds = longhorn_crds;
        let sandbox = Sandbox::start(opts).await.map_err(|e| match e {
            dr_sandbox::SandboxError::ToolMissing { .. } => StartError::ToolMissing(e.to_string()),
            dr_sandbox::SandboxError::StateInUse { .. } => StartError::InUse(e.to_string()),
            e => StartError::Other(e.to_string()),
        })?;
        wait_bootstrapped(&sandbox, std::time::Duration::from_secs(120))
            .await
            .map_err(StartError::Other)?;
        Ok(EmbeddedSandbox {
            sandbox: Some(sandbox),
            _tmp: tmp,
            state,
        })
    }

    /// The sandbox's state folder (kubeconfig, `sandbox.json`, `s3.env`, the control socket).
    pub fn state_dir(&self) -> &Path {
        &self.state
    }

    /// The sandbox S3 server's keys.
    pub fn keys(&self) -> StaticKeys {
        let s3 = self.sandbox.as_ref().map(|s| s.s3());
        StaticKeys {
            access_key: s3.map(|s| s.access_key().to_string()).unwrap_or_default(),
            secret_key: s3.map(|s| s.secret_key().to_string()).unwrap_or_default(),
        }
    }
}

impl Drop for EmbeddedSandbox {
    fn drop(&mut self) {
        if let Some(sb) = self.sandbox.take() {
            // Best effort: stop servers without blocking the runtime's shutdown.
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move { sb.shutdown().await });
            }
        }
    }
}

/// Waits until a sandbox's bootstrap has finished, looking as a user would: through the
/// Kubernetes API and S3 with the files in its state folder, never into the sandbox's process
/// (see [`wait_ready`]).
///
/// # Errors
/// As [`wait_ready`].
pub async fn wait_bootstrapped(
    sandbox: &Sandbox,
    timeout: std::time::Duration,
) -> Result<(), String> {
    wait_ready(sandbox.state_dir(), timeout).await
}

/// Waits until the sandbox whose state lives in `state_dir` is ready for a drill: the Flux
/// Kustomization of the sentinel workload is Ready (the bootstrap's last gate: nodes, Longhorn
/// and the backup target's first sync come before it), Longhorn's BackupTarget is available,
/// and the backup bucket answers a HeadBucket. It reads only the state folder's files, as a
/// user would: `<state>/kubeconfig`, the S3 endpoint and bucket from `<state>/sandbox.json` and
/// the keys from `<state>/s3.env`, so it works for a sandbox of another process
/// (`dr-harness sandbox up`) too. A drill starts on a running cluster, as it would on a real
/// one. Names come from [`dr_sandbox::names`]; the kubeconfig is read anew, so a rebuilt
/// sandbox with rotated credentials is waited for as well.
///
/// # Errors
/// A message naming what was awaited and what was last seen when `timeout` passes, or why the
/// kubeconfig, `sandbox.json` or `s3.env` cannot be used.
pub async fn wait_ready(state_dir: &Path, timeout: std::time::Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
    let source = KubeconfigSource::File {
        path: state_dir.join(names::KUBECONFIG_FILE),
        context: None,
    };
    let conn = crate::cluster::connect(&source, left())
        .await
        .map_err(|e| format!("the sandbox is not reachable: {e}"))?;
    let stats = RetryStats::default();
    let not_ready = |e: crate::cluster::ClusterError| {
        format!(
            "the sandbox did not finish bootstrapping within {}s: {e}",
            timeout.as_secs()
        )
    };

    let gvk = GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization");
    let kustomizations: Api<DynamicObject> = Api::namespaced_with(
        conn.client.clone(),
        names::FLUX_NAMESPACE,
        &ApiResource::from_gvk(&gvk),
    );
    let ready = |k: Option<&DynamicObject>| {
        k.and_then(|k| k.data["status"]["conditions"].as_array())
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
    };
    wait::wait_for(
        kustomizations,
        names::SENTINEL_KUSTOMIZATION,
        &format!(
            "sandbox Kustomization {}/{} Ready",
            names::FLUX_NAMESPACE,
            names::SENTINEL_KUSTOMIZATION
        ),
        left(),
        &stats,
        ready,
        |k| match k {
            None => "absent".into(),
            Some(k) => k.data["status"].to_string(),
        },
    )
    .await
    .map_err(not_ready)?;

    let targets: Api<BackupTarget> =
        Api::namespaced(conn.client.clone(), names::LONGHORN_NAMESPACE);
    wait::wait_for(
        targets,
        names::BACKUP_TARGET,
        &format!("sandbox BackupTarget `{}` available", names::BACKUP_TARGET),
        left(),
        &stats,
        |t: Option<&BackupTarget>| {
            t.and_then(|t| t.status.as_ref())
                .is_some_and(|s| s.available)
        },
        |t| match t {
            None => "absent".into(),
            Some(t) => format!(
                "available={}",
                t.status.as_ref().is_some_and(|s| s.available)
            ),
        },
    )
    .await
    .map_err(not_ready)?;

    bucket_reachable(state_dir, deadline).await
}

/// The S3 keys in `<state>/s3.env` (`export AWS_ACCESS_KEY_ID=…` lines, shell-quoted).
///
/// # Errors
/// A message naming the file when it cannot be read or lacks a key.
pub fn s3_env_keys(state_dir: &Path) -> Result<StaticKeys, String> {
    let path = state_dir.join(names::S3_ENV_FILE);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("sandbox S3 file {}: {e}", path.display()))?;
    let vars: std::collections::HashMap<String, String> = text
        .lines()
        .filter_map(shlex::split)
        .filter_map(|words| {
            let assignment = match words.as_slice() {
                [export, a] if export == "export" => a,
                [a] => a,
                _ => return None,
            };
            let (k, v) = assignment.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect();
    let var = |name: &str| {
        vars.get(name).cloned().ok_or_else(|| {
            format!(
                "sandbox S3 file {}: no {name}; restart the sandbox to rewrite it",
                path.display()
            )
        })
    };
    Ok(StaticKeys {
        access_key: var("AWS_ACCESS_KEY_ID")?,
        secret_key: var("AWS_SECRET_ACCESS_KEY")?,
    })
}

/// Asks the sandbox's S3 endpoint (from `<state>/sandbox.json`) for its bucket until it
/// answers or `deadline` passes.
async fn bucket_reachable(state_dir: &Path, deadline: tokio::time::Instant) -> Result<(), String> {
    // The backup target exactly as the built-in sandbox profile reads it.
    let target = BackupTargetSource::SandboxState(state_dir.join(names::STATE_FILE))
        .resolve()
        .map_err(|e| e.to_string())?;
    let endpoint = target.endpoint.unwrap_or_default();
    let (bucket, region) = (target.url.bucket, target.url.region);
    let keys = s3_env_keys(state_dir)?;
    let client = dr_backupstore::s3_client(
        Some(&endpoint),
        &region,
        true,
        Some((&keys.access_key, &keys.secret_key)),
    )
    .await;
    let mut pause = std::time::Duration::from_millis(20);
    loop {
        let answer = client.head_bucket().bucket(&bucket).send().await;
        let err = match answer {
            Ok(_) => return Ok(()),
            Err(e) => aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
        };
        if tokio::time::Instant::now() + pause > deadline {
            return Err(format!(
                "the sandbox's bucket {bucket} at {endpoint} did not answer: {err}"
            ));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_millis(500));
    }
}

/// Runs `dr-harness sandbox <up|destroy|apply|down|status|fault>`: `up` runs a sandbox in the
/// foreground, the others ask a running one over its control socket. Returns the process exit
/// code: 0 success, 1 a control call failed, 2 a usage error (e.g. an unknown fault name or a
/// missing tool), 3 the sandbox could not start.
pub async fn sandbox(cmd: SandboxCommand) -> i32 {
    match cmd {
        SandboxCommand::Up {
            state,
            timing,
            longhorn_version,
            longhorn_crds,
        } => up(state, &timing, longhorn_version, longhorn_crds).await,
        SandboxCommand::Destroy { state } => {
            control_call(&state, control::ControlCommand::Destroy).await
        }
        SandboxCommand::Apply { state } => {
            control_call(&state, control::ControlCommand::Apply).await
        }
        SandboxCommand::Down { state } => control_call(&state, control::ControlCommand::Down).await,
        SandboxCommand::Status { state } => {
            control_call(&state, control::ControlCommand::Status).await
        }
        SandboxCommand::Fault { state, name, arg } => {
            if name == "clear" {
                return control_call(&state, control::ControlCommand::ClearFaults).await;
            }
            let fault = match dr_sandbox::faults::Fault::parse(&name, arg.as_deref()) {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("error: {e}");
                    return EXIT_USAGE;
                }
            };
            control_call(&state, control::ControlCommand::SetFault(fault)).await
        }
    }
}

async fn up(
    state: PathBuf,
    timing: &str,
    longhorn_version: dr_sandbox::LonghornVersion,
    longhorn_crds: Option<PathBuf>,
) -> i32 {
    let timing: Timing = match timing.parse() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if let Err(msg) = busybox_present() {
        eprintln!("error: {msg}");
        return EXIT_USAGE;
    }
    let mut opts = SandboxOptions::new(&state);
    opts.timing = timing;
    opts.harness_bin = std::env::current_exe().ok();
    opts.longhorn_version = longhorn_version;
    let crds_note = match &longhorn_crds {
        Some(f) => format!(
            "  Longhorn CRDs from {} (objects validated by their schemas)",
            f.display()
        ),
        None => format!("  {}", dr_sandbox::api::crd::BUILT_IN_RULES_NOTE),
    };
    opts.longhorn_crds = longhorn_crds;
    let sandbox = match Sandbox::start(opts).await {
        Ok(s) => s,
        Err(e @ dr_sandbox::SandboxError::StateInUse { .. }) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
        Err(e @ dr_sandbox::SandboxError::ToolMissing { .. }) => {
            eprintln!("error: could not start the sandbox: {e}");
            return EXIT_USAGE;
        }
        Err(e) => {
            eprintln!("error: could not start the sandbox: {e}");
            return EXIT_UNREACHABLE;
        }
    };
    if let Err(e) = wait_bootstrapped(&sandbox, std::time::Duration::from_secs(300)).await {
        eprintln!("warning: {e}");
    }
    println!(
        "sandbox up (Longhorn {longhorn_version}); state in {}",
        state.display()
    );
    println!("{crds_note}");
    println!(
        "  export KUBECONFIG={}",
        state.join(names::KUBECONFIG_FILE).display()
    );
    println!(
        "  source {}   # S3 endpoint and keys",
        state.join(names::S3_ENV_FILE).display()
    );
    println!(
        "stop with Ctrl-C or `dr-harness sandbox down --state {}`",
        state.display()
    );
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = sandbox.wait_stopped() => {}
    }
    sandbox.shutdown().await;
    EXIT_PASSED
}

async fn control_call(state: &Path, cmd: control::ControlCommand) -> i32 {
    match control::request(state, cmd).await {
        Ok(v) => {
            if !v.is_null() {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            }
            EXIT_PASSED
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_FAILED
        }
    }
}
