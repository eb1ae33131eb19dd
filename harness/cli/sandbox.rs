//! `dr-harness sandbox …`, and the sandbox embedded in `run` when no profile is given.
//!
//! `destroy`, `apply`, `down`, `fault` and `status` talk to a running sandbox through its control
//! endpoint (`<state>/control.json`), so they work as subprocess hooks of a drill — the hook
//! runner is exercised for real even against the sandbox.

use std::path::{Path, PathBuf};

use dr_sandbox::{control, Sandbox, SandboxOptions, Timing};

use super::args::SandboxCommand;
use super::{EXIT_FAILED, EXIT_PASSED, EXIT_UNREACHABLE, EXIT_USAGE};
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

/// Waits until a sandbox's bootstrap has finished: the GitOps Kustomization of the sentinel
/// workload is Ready (everything before it in the bootstrap order is then up). A drill starts on
/// a running cluster, as it would on a real one.
///
/// # Errors
/// A message naming what was last seen when `timeout` passes.
pub async fn wait_bootstrapped(
    sandbox: &Sandbox,
    timeout: std::time::Duration,
) -> Result<(), String> {
    use dr_sandbox::api::resources::FLUX_KUSTOMIZATIONS;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let k = sandbox
            .store()
            .get(&FLUX_KUSTOMIZATIONS, Some("flux-system"), "dr-exercise");
        let ready = k
            .as_ref()
            .and_then(|k| k["status"]["conditions"].as_array().cloned())
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
        if ready {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "the sandbox did not finish bootstrapping within {}s (Kustomization flux-system/dr-exercise: {})",
                timeout.as_secs(),
                k.map(|k| k["status"].to_string()).unwrap_or_else(|| "absent".into())
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

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
    println!("  export KUBECONFIG={}", state.join("kubeconfig").display());
    println!(
        "  source {}   # S3 endpoint and keys",
        state.join("s3.env").display()
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
