//! The sandbox's lifecycle: start, destroy, apply (rebuild), shutdown.
//!
//! A [`Sandbox`] owns what outlives a cluster — the S3 server (the backup target must survive
//! the disaster), the store (reset on destroy), the data plane root (wiped on destroy), the
//! faults and the control endpoint — and one `Cluster` at a time: the API server and the
//! controllers. `destroy` makes the API refuse connections, drops every object and wipes every
//! volume; `apply` brings a new API server up (same URL and token unless the
//! `kubeconfig-rotated` fault is set) and bootstraps the cluster again in the background, as a
//! real rebuild hook returns before Flux has finished.
//!
//! Files written into the state dir: `kubeconfig`, `s3.env` (AWS_* variables), `sandbox.json`
//! (URLs, bucket, region, backup target URL, control URL, pid), `control.json` (control URL and
//! token).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{ApiFaults, ApiServer, ApiServerOptions, RequestRecord, Store, TlsIdentity};
use crate::bootstrap::{self, BootstrapOptions, LONGHORN_PATH, ORCHESTRATOR_PATH, SENTINEL_PATH};
use crate::control::{ControlFailure, ControlServer, ControlTarget};
use crate::controllers::naming::{backup_target_url, hex_suffix};
use crate::controllers::resolver::StoreResolver;
use crate::controllers::version::LonghornVersion;
use crate::controllers::{self, BackupTargetAccess, Ctx};
use crate::dataplane::exec::{BusyboxRuntime, RuntimeOptions};
use crate::dataplane::DataPlane;
use crate::faults::{Fault, Faults};
use crate::s3::S3Server;
use crate::timing::Timing;

// Spelled once in `crate::names` (the harness's built-in profile expects the same names).
pub use crate::names::{BUCKET as SANDBOX_BUCKET, CLUSTER_NAME};
use crate::names::{CONTROL_FILE, KUBECONFIG_FILE, S3_ENV_FILE, STATE_FILE};

/// Errors of the sandbox lifecycle.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A state-dir file could not be written or read.
    #[error("sandbox state file {path}: {source}")]
    StateFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The S3 server did not start.
    #[error("s3 server did not start in {dir}: {source}")]
    S3 {
        /// Its data dir.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The API server did not start.
    #[error("api server did not start on {bind}: {source}")]
    ApiServer {
        /// Requested address.
        bind: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Another sandbox (a `sandbox up`, or a drill's embedded sandbox) holds this state folder.
    #[error("the sandbox state folder {} is in use by another sandbox (`sandbox up` or `run --sandbox-state`); stop it (`dr-harness sandbox down --state {}`) or use another folder", dir.display(), dir.display())]
    StateInUse {
        /// The state folder.
        dir: PathBuf,
    },
    /// A host tool the sandbox runs (busybox, mke2fs, debugfs) is not installed: a set-up
    /// problem of this machine, not an unreachable cluster.
    #[error("{tool} not found: install Debian package {package} (scripts/setup.sh installs every tool the sandbox needs)")]
    ToolMissing {
        /// The executable (or its path).
        tool: String,
        /// The Debian package that ships it.
        package: String,
    },
    /// The data plane or busybox runtime could not be set up.
    #[error("data plane setup failed: {0}")]
    DataPlane(String),
    /// The control endpoint did not start.
    #[error("control endpoint did not start: {0}")]
    Control(std::io::Error),
    /// `apply` while a cluster exists.
    #[error("cluster exists: destroy it before apply")]
    ClusterExists,
    /// The `--longhorn-crds` manifest is unusable.
    #[error(transparent)]
    Crds(#[from] crate::api::crd::CrdError),
    /// `apply` failed (fault `rebuild-fails`).
    #[error("rebuild failed: {0}")]
    RebuildFailed(String),
}

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Where the sandbox keeps its files (S3 data, volumes, kubeconfig, ...).
    pub state_dir: PathBuf,
    /// Delays of the simulated cluster.
    pub timing: Timing,
    /// The dr-harness binary the restore-orchestrator Job runs; `None` = the Job succeeds
    /// without doing anything (logs say so).
    pub harness_bin: Option<PathBuf>,
    /// Which Longhorn release to imitate (every per-release rule: `LonghornVersion`'s methods).
    pub longhorn_version: LonghornVersion,
    /// GitOps sources: (Kustomization path, multi-document YAML).
    pub gitops_manifests: Vec<(String, String)>,
    /// Whether the cluster carries the `kube-system/dr-harness-drill-target` ConfigMap.
    pub drill_target_marker: bool,
    /// A Longhorn manifest whose longhorn.io CRDs the API server serves and validates by
    /// (`--longhorn-crds`, see `api::crd`); `None` = the built-in rules.
    pub longhorn_crds: Option<PathBuf>,
}

impl SandboxOptions {
    /// Defaults: fast timing, no harness binary, the newest Longhorn release, the project's fixtures,
    /// drill-target marker on.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            timing: Timing::fast(),
            harness_bin: None,
            longhorn_version: LonghornVersion::default(),
            gitops_manifests: default_gitops_manifests(),
            drill_target_marker: true,
            longhorn_crds: None,
        }
    }
}

/// The project's fixtures as GitOps sources: the restore orchestrator and the sentinel.
pub fn default_gitops_manifests() -> Vec<(String, String)> {
    let join = |docs: &[&str]| docs.join("\n---\n");
    vec![
        (
            ORCHESTRATOR_PATH.to_string(),
            join(&[
                include_str!("../../fixtures/restore-orchestrator/serviceaccount.yaml"),
                include_str!("../../fixtures/restore-orchestrator/rbac.yaml"),
                include_str!("../../fixtures/restore-orchestrator/job.yaml"),
            ]),
        ),
        (
            SENTINEL_PATH.to_string(),
            join(&[
                include_str!("../../fixtures/sentinel/namespace.yaml"),
                include_str!("../../fixtures/sentinel/pvc.yaml"),
                include_str!("../../fixtures/sentinel/deployment.yaml"),
            ]),
        ),
    ]
}

/// One incarnation of the cluster: its API server and controllers.
struct Cluster {
    api: ApiServer,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

pub(crate) struct Inner {
    /// `<state>/sandbox.lock`, locked exclusively while this sandbox lives: two sandboxes in
    /// one folder would overwrite each other's kubeconfig and control endpoint, orphaning one.
    /// The OS drops the lock when the process dies, so a crash leaves no stale lock;
    /// [`Sandbox::shutdown`] releases it.
    lock: std::sync::Mutex<Option<std::fs::File>>,
    opts: SandboxOptions,
    store: Arc<Store>,
    s3: S3Server,
    faults: Arc<Faults>,
    data: Arc<DataPlane>,
    runtime: Arc<BusyboxRuntime>,
    cluster: Mutex<Option<Cluster>>,
    endpoint: StdMutex<(SocketAddr, String)>,
    /// The API server's CA and certificate, kept with the endpoint across a rebuild (a new
    /// one with `kubeconfig-rotated`) so that an old kubeconfig works again after `apply`.
    tls: StdMutex<Option<TlsIdentity>>,
    past_requests: StdMutex<Vec<RequestRecord>>,
    down: watch::Sender<bool>,
    control: StdMutex<Option<ControlServer>>,
}

/// A running sandbox. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("state_dir", &self.inner.opts.state_dir)
            .finish_non_exhaustive()
    }
}

/// Takes the exclusive lock of `<state>/sandbox.lock` (std's advisory `File::try_lock`,
/// flock on Linux), without waiting.
fn lock_state_dir(state: &Path) -> Result<std::fs::File, SandboxError> {
    let path = state.join("sandbox.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| SandboxError::StateFile {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(SandboxError::StateInUse {
            dir: state.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(SandboxError::StateFile { path, source }),
    }
}

/// Writes a state file readable by the owner only: kubeconfig, s3.env and control.json hold
/// credentials.
fn write_file(path: &Path, contents: &str) -> Result<(), SandboxError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| SandboxError::StateFile {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    f.write_all(contents.as_bytes()).map_err(err)
}

impl Sandbox {
    /// Starts S3, the data plane, the API server and the controllers, writes the state files,
    /// serves the control endpoint and starts the bootstrap (which runs on in the background).
    ///
    /// # Errors
    /// [`SandboxError`] when a state file, S3, the API server, the data plane or the control
    /// endpoint cannot be set up.
    pub async fn start(opts: SandboxOptions) -> Result<Sandbox, SandboxError> {
        let state = opts.state_dir.clone();
        std::fs::create_dir_all(&state).map_err(|source| SandboxError::StateFile {
            path: state.clone(),
            source,
        })?;
        let lock = lock_state_dir(&state)?;
        let s3_dir = state.join("s3");
        std::fs::create_dir_all(&s3_dir).map_err(|source| SandboxError::StateFile {
            path: s3_dir.clone(),
            source,
        })?;
        let s3 = S3Server::start(&s3_dir, SANDBOX_BUCKET)
            .await
            .map_err(|source| SandboxError::S3 {
                dir: s3_dir.clone(),
                source,
            })?;
        let store = Store::new();
        store.set_crds(crate::api::crd::load_for_sandbox(
            opts.longhorn_crds.as_deref(),
        )?);
        store.add_admission(controllers::admission::longhorn_webhook(
            &store,
            opts.longhorn_version,
        ));
        let data = Arc::new(DataPlane::new(&state.join("cluster")).map_err(|e| match e {
            crate::dataplane::DataPlaneError::ToolMissing { tool, package } => {
                SandboxError::ToolMissing {
                    tool: tool.to_string(),
                    package: package.to_string(),
                }
            }
            e => SandboxError::DataPlane(e.to_string()),
        })?);
        let mut rt_opts = RuntimeOptions::new(state.join("rootfs"));
        if !rt_opts.busybox.is_file() {
            return Err(SandboxError::ToolMissing {
                tool: rt_opts.busybox.display().to_string(),
                package: "busybox-static".to_string(),
            });
        }
        rt_opts.harness_bin = opts.harness_bin.clone();
        rt_opts.in_cluster_env = vec![(
            "KUBECONFIG".to_string(),
            state.join(KUBECONFIG_FILE).display().to_string(),
        )];
        let resolver = Arc::new(StoreResolver::new(&store, &data));
        let runtime = tokio::task::spawn_blocking(move || BusyboxRuntime::new(rt_opts, resolver))
            .await
            .map_err(|e| SandboxError::DataPlane(e.to_string()))?
            .map_err(|e| SandboxError::DataPlane(e.to_string()))?;
        let faults = Arc::new(Faults::new(
            ApiFaults::new(),
            s3.faults_handle(),
            data.faults().clone(),
        ));
        write_file(&state.join(S3_ENV_FILE), &s3.env_file_contents())?;
        let (down, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            lock: std::sync::Mutex::new(Some(lock)),
            opts,
            store,
            s3,
            faults,
            data,
            runtime: Arc::new(runtime),
            cluster: Mutex::new(None),
            endpoint: StdMutex::new((SocketAddr::from(([127, 0, 0, 1], 0)), hex_suffix(32))),
            tls: StdMutex::new(None),
            past_requests: StdMutex::new(Vec::new()),
            down,
            control: StdMutex::new(None),
        });
        let sandbox = Sandbox { inner };
        let control = ControlServer::start(sandbox.clone())
            .await
            .map_err(SandboxError::Control)?;
        write_file(
            &state.join(CONTROL_FILE),
            &serde_json::to_string_pretty(&control.info()).unwrap_or_default(),
        )?;
        *sandbox
            .inner
            .control
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(control);
        sandbox.bring_up(false).await?;
        Ok(sandbox)
    }

    /// The kubeconfig file (rewritten by `apply`).
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.inner.opts.state_dir.join(KUBECONFIG_FILE)
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.inner.opts.state_dir
    }

    /// The S3 server (the backup target; survives destroy).
    pub fn s3(&self) -> &S3Server {
        &self.inner.s3
    }

    /// The cluster state (for tests; empty while destroyed).
    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    /// The data plane (volumes on disk).
    pub fn data_plane(&self) -> &Arc<DataPlane> {
        &self.inner.data
    }

    /// The fault switches.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// The Longhorn backup target URL, `s3://<bucket>@<region>/`.
    pub fn backup_target_url(&self) -> String {
        backup_target_url(self.inner.s3.bucket(), self.inner.s3.region())
    }

    /// The API server URL (also while destroyed: the URL a rebuild will serve again).
    pub fn api_url(&self) -> String {
        let (addr, _) = self
            .inner
            .endpoint
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        format!("http://{addr}")
    }

    /// Whether a cluster is up (not destroyed).
    pub async fn is_up(&self) -> bool {
        self.inner.cluster.lock().await.is_some()
    }

    /// Every request the API servers of this sandbox served so far (all incarnations).
    pub async fn api_request_log(&self) -> Vec<RequestRecord> {
        let mut all = self
            .inner
            .past_requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(c) = self.inner.cluster.lock().await.as_ref() {
            all.extend(c.api.request_log());
        }
        all
    }

    /// Destroys the cluster: the API server stops (connections refused), every object is
    /// dropped and every volume's data wiped; S3 is untouched. Idempotent. With the
    /// `destroy-leaves-cluster` fault it returns success and changes nothing.
    ///
    /// # Errors
    /// None today; `Result` for symmetry with `apply` and future infrastructure errors.
    pub async fn destroy(&self) -> Result<(), SandboxError> {
        let mut guard = self.inner.cluster.lock().await;
        if guard.is_none() {
            return Ok(());
        }
        if self.inner.faults.is_set(Fault::DestroyLeavesCluster.name()) {
            tracing::warn!("fault destroy-leaves-cluster: destroy reports success, cluster stays");
            return Ok(());
        }
        tokio::time::sleep(self.inner.opts.timing.destroy).await;
        if let Some(cluster) = guard.take() {
            cluster.cancel.cancel();
            self.inner
                .past_requests
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(cluster.api.request_log());
            cluster.api.shutdown().await;
            for t in cluster.tasks {
                t.abort();
            }
        }
        self.inner.store.reset();
        if let Err(e) = self.inner.data.wipe().await {
            tracing::warn!(error = %e, "data plane not fully wiped");
        }
        tracing::info!("sandbox cluster destroyed");
        Ok(())
    }

    /// Rebuilds the cluster after `destroy`: a new API server, controllers and the bootstrap.
    ///
    /// # Errors
    /// [`SandboxError::ClusterExists`] when not destroyed; [`SandboxError::RebuildFailed`] with
    /// the `rebuild-fails` fault; [`SandboxError::ApiServer`] when the port cannot be bound.
    pub async fn apply(&self) -> Result<(), SandboxError> {
        if self.inner.faults.is_set(Fault::RebuildFails.name()) {
            return Err(SandboxError::RebuildFailed(
                "infrastructure apply exited with status 1 (sandbox fault rebuild-fails)".into(),
            ));
        }
        let rotate = self.inner.faults.is_set(Fault::KubeconfigRotated.name());
        self.bring_up(rotate).await
    }

    async fn bring_up(&self, rotate: bool) -> Result<(), SandboxError> {
        let inner = &self.inner;
        let mut guard = inner.cluster.lock().await;
        if guard.is_some() {
            return Err(SandboxError::ClusterExists);
        }
        tokio::time::sleep(inner.opts.timing.cluster_create + inner.faults.rebuild_delay()).await;
        if rotate {
            *inner.endpoint.lock().unwrap_or_else(|e| e.into_inner()) =
                (SocketAddr::from(([127, 0, 0, 1], 0)), hex_suffix(32));
            *inner.tls.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
        let (bind, token) = inner
            .endpoint
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let api = start_api(inner, bind, token.clone()).await?;
        *inner.endpoint.lock().unwrap_or_else(|e| e.into_inner()) = (api.addr(), token);
        *inner.tls.lock().unwrap_or_else(|e| e.into_inner()) = Some(api.tls());
        write_file(&self.kubeconfig_path(), &api.kubeconfig_yaml(CLUSTER_NAME))?;
        self.write_sandbox_json(&api.url())?;

        let cancel = CancellationToken::new();
        let ctx = Arc::new(Ctx {
            store: inner.store.clone(),
            timing: inner.opts.timing.clone(),
            faults: inner.faults.clone(),
            version: inner.opts.longhorn_version,
            data: inner.data.clone(),
            runtime: inner.runtime.clone(),
            target: BackupTargetAccess {
                url: self.backup_target_url(),
                bucket: inner.s3.bucket().to_string(),
                region: inner.s3.region().to_string(),
                client: inner.s3.client(),
            },
            gitops: gitops_sources(&inner.opts.gitops_manifests),
            harness_bin: inner.opts.harness_bin.clone(),
            cancel: cancel.clone(),
            sync_now: Default::default(),
        });
        api.register_service(
            crate::controllers::LONGHORN_NAMESPACE,
            controllers::manager::MANAGER_SERVICE,
            controllers::manager::MANAGER_PORT,
            Arc::new(controllers::manager::LonghornManager::new(ctx.clone())),
        );
        let mut tasks = controllers::start_all(&ctx);
        let boot = BootstrapOptions {
            drill_target_marker: inner.opts.drill_target_marker,
            access_key: inner.s3.access_key().to_string(),
            secret_key: inner.s3.secret_key().to_string(),
            endpoint: inner.s3.endpoint(),
        };
        let boot_ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = bootstrap::run(boot_ctx, boot).await {
                tracing::error!(error = %e, "sandbox bootstrap failed");
            }
        }));
        *guard = Some(Cluster { api, cancel, tasks });
        tracing::info!(url = %self.api_url(), "sandbox cluster up");
        Ok(())
    }

    fn write_sandbox_json(&self, api_url: &str) -> Result<(), SandboxError> {
        let control_url = self
            .inner
            .control
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|c| c.url())
            .unwrap_or_default();
        let info = json!({
            "kubeconfig": self.kubeconfig_path(),
            "api_url": api_url,
            "s3_endpoint": self.inner.s3.endpoint(),
            "bucket": self.inner.s3.bucket(),
            "region": self.inner.s3.region(),
            "backup_target_url": self.backup_target_url(),
            "control_url": control_url,
            "pid": std::process::id(),
        });
        write_file(
            &self.inner.opts.state_dir.join(STATE_FILE),
            &serde_json::to_string_pretty(&info).unwrap_or_default(),
        )
    }

    /// Status for the control endpoint: cluster up or destroyed, URLs, active faults.
    pub async fn status(&self) -> serde_json::Value {
        json!({
            "cluster": if self.is_up().await { "up" } else { "destroyed" },
            "api_url": self.api_url(),
            "s3_endpoint": self.inner.s3.endpoint(),
            "backup_target_url": self.backup_target_url(),
            "longhorn_version": self.inner.opts.longhorn_version,
            "timing": self.inner.opts.timing.to_string(),
            "faults": self.inner.faults.active(),
        })
    }

    /// Asks [`Sandbox::wait_stopped`] to return (the control endpoint's `/down`).
    pub fn request_down(&self) {
        self.inner.down.send_replace(true);
    }

    /// Returns once `/down` was requested (or [`Sandbox::request_down`] called).
    pub async fn wait_stopped(&self) {
        let mut rx = self.inner.down.subscribe();
        // an error means the sender is gone: the sandbox is being dropped, stop waiting
        let _ = rx.wait_for(|down| *down).await;
    }

    /// Stops the cluster (without wiping data) and the control endpoint, and releases
    /// [`Sandbox::wait_stopped`]. S3 stops when the last `Sandbox` handle is dropped.
    pub async fn shutdown(&self) {
        if let Some(cluster) = self.inner.cluster.lock().await.take() {
            cluster.cancel.cancel();
            cluster.api.shutdown().await;
            for t in cluster.tasks {
                t.abort();
            }
        }
        let control = self
            .inner
            .control
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(c) = control {
            c.shutdown();
        }
        // S3 stops when the last handle to the sandbox is dropped (S3Server's Drop)
        self.request_down();
        // The folder is free for the next sandbox once this one has stopped serving.
        drop(
            self.inner
                .lock
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
    }
}

/// Adds the built-in Longhorn path (no manifests: installed by the bootstrap) to the sources.
fn gitops_sources(user: &[(String, String)]) -> Vec<(String, String)> {
    let mut all = user.to_vec();
    if !all.iter().any(|(p, _)| p == LONGHORN_PATH) {
        all.push((LONGHORN_PATH.to_string(), String::new()));
    }
    all
}

async fn start_api(
    inner: &Inner,
    bind: SocketAddr,
    token: String,
) -> Result<ApiServer, SandboxError> {
    let mut last = None;
    // the old listener's port may linger for a moment after shutdown
    for _ in 0..20 {
        let opts = ApiServerOptions {
            bind,
            token: token.clone(),
            runtime: inner.runtime.clone(),
            faults: inner.faults.api().clone(),
            cluster_name: CLUSTER_NAME.to_string(),
            tls: inner.tls.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        };
        match ApiServer::start(inner.store.clone(), opts).await {
            Ok(api) => return Ok(api),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(SandboxError::ApiServer {
        bind,
        source: last.unwrap_or_else(|| std::io::Error::other("unknown")),
    })
}

impl From<SandboxError> for ControlFailure {
    fn from(e: SandboxError) -> Self {
        ControlFailure {
            conflict: matches!(e, SandboxError::ClusterExists),
            message: e.to_string(),
        }
    }
}

/// The control endpoint drives the sandbox through its public methods.
impl ControlTarget for Sandbox {
    async fn destroy(&self) -> Result<(), ControlFailure> {
        Ok(Sandbox::destroy(self).await?)
    }

    async fn apply(&self) -> Result<String, ControlFailure> {
        Sandbox::apply(self).await?;
        Ok(self.api_url())
    }

    fn request_down(&self) {
        Sandbox::request_down(self);
    }

    fn faults(&self) -> &Faults {
        Sandbox::faults(self)
    }

    async fn status(&self) -> serde_json::Value {
        Sandbox::status(self).await
    }
}
