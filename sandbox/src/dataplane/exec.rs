//! The sandbox's pod runtime: pod commands run in real busybox with the pod's volumes mounted.
//!
//! Each command gets a private mount namespace in which every volume mount of the container is
//! bind-mounted onto its volume directory inside the shared busybox rootfs, then the command is
//! `chroot`ed there. Commands that work here therefore work in a real `busybox` image, and the
//! mounts of concurrent commands never see each other.
//!
//! Why the `unshare`/`mount`/`chroot` binaries rather than syscalls in `pre_exec`: it is the
//! exact sequence measured to work on this machine, it needs no `unsafe` code between fork and
//! exec, and a failure prints a readable message on the command's stderr. The cost (one `sh`
//! and a few `mount` processes per exec) is milliseconds.
//!
//! Degraded mode: where mount namespaces are not permitted (an unprivileged container), the
//! command runs with the host's busybox binary, in the first mount's volume directory, with a
//! warning; absolute paths such as `/data/x` then do not reach the volume.
//!
//! Images whose name contains `dr-harness` run the host's dr-harness binary directly (the
//! restore orchestrator must talk to the sandbox API as a real in-cluster Job would).

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::mpsc;

use super::error::ExecError;
use super::logs::LogStore;
use super::rootfs::{busybox_path, Rootfs, DEVICES};
use crate::api::runtime::{ExecRequest, PodRuntime};

/// PATH inside pods, and for the host tools of the launcher (both layouts have these dirs).
const POD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How long output pipes may stay open after the command exited (background children still
/// writing) before the process group is killed.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Exit code reported for a command that could not start or was killed by its timeout
/// (containerd reports 128 for a StartError).
pub const START_ERROR_EXIT_CODE: i32 = 128;

/// Size of one stdout/stderr read, hence the largest chunk sent.
const CHUNK: usize = 64 * 1024;

/// The launcher run by `unshare -m` on the host, in the new mount namespace: bind every mount,
/// bind the host devices, then chroot into the rootfs and exec the pod's argv.
/// Arguments: `ROOTFS N (HOST_DIR CONTAINER_PATH rw|ro){N} ARGV...`.
const LAUNCHER: &str = r#"set -e
root=$1; n=$2; shift 2
while [ "$n" -gt 0 ]; do
  mkdir -p "$root$2"
  mount --bind "$1" "$root$2"
  if [ "$3" = ro ]; then mount -o remount,bind,ro "$root$2"; fi
  shift 3; n=$((n-1))
done
for d in DEVICES; do mount --bind "/dev/$d" "$root/dev/$d"; done
exec chroot "$root" "$@"
"#;

/// One volume mount of a container: what the command sees at `container_path` is `host_dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Absolute path inside the container (`volumeMounts[].mountPath`).
    pub container_path: String,
    /// The volume's data directory on the host.
    pub host_dir: PathBuf,
    /// `volumeMounts[].readOnly`.
    pub read_only: bool,
}

/// Resolves a pod's volume mounts to host directories. Implemented by the controllers (PVC →
/// `spec.volumeName` → volume dir); [`claim_mounts`] parses the pod side.
pub trait VolumeResolver: Send + Sync {
    /// The mounts of `container` of `pod` (a Pod object as stored) in `namespace`.
    ///
    /// # Errors
    /// A message when a claim or volume cannot be resolved (the exec then fails to start).
    fn mounts_for(
        &self,
        namespace: &str,
        pod: &Value,
        container: &str,
    ) -> Result<Vec<Mount>, String>;
}

/// A resolver that gives every container the same fixed mounts (tests, single-volume tools).
#[derive(Debug, Clone, Default)]
pub struct StaticResolver(pub Vec<Mount>);

impl VolumeResolver for StaticResolver {
    fn mounts_for(&self, _: &str, _: &Value, _: &str) -> Result<Vec<Mount>, String> {
        Ok(self.0.clone())
    }
}

/// One PVC-backed volume mount of a container, as the Pod spec states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMount {
    /// `volumeMounts[].mountPath`.
    pub container_path: String,
    /// `volumes[].persistentVolumeClaim.claimName`.
    pub claim_name: String,
    /// `volumeMounts[].readOnly` or `persistentVolumeClaim.readOnly`.
    pub read_only: bool,
}

/// The PVC-backed mounts of `container` in a Pod object: joins `containers[].volumeMounts[]`
/// with `spec.volumes[].persistentVolumeClaim` by volume name (Kubernetes core/v1 Pod fields).
/// Mounts of other volume kinds (emptyDir, configMap...) are skipped.
pub fn claim_mounts(pod: &Value, container: &str) -> Vec<ClaimMount> {
    let Some(c) = find_container(pod, container) else {
        return Vec::new();
    };
    let volumes = pod
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mounts = c
        .get("volumeMounts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    mounts
        .iter()
        .filter_map(|m| {
            let name = m.get("name")?.as_str()?;
            let path = m.get("mountPath")?.as_str()?;
            let vol = volumes
                .iter()
                .find(|v| v.get("name").and_then(Value::as_str) == Some(name))?;
            let pvc = vol.get("persistentVolumeClaim")?;
            let claim = pvc.get("claimName")?.as_str()?;
            let ro = |v: &Value| v.get("readOnly").and_then(Value::as_bool).unwrap_or(false);
            Some(ClaimMount {
                container_path: path.to_owned(),
                claim_name: claim.to_owned(),
                read_only: ro(m) || ro(pvc),
            })
        })
        .collect()
}

/// The container object named `container` in `spec.containers` (or `spec.initContainers`).
fn find_container<'a>(pod: &'a Value, container: &str) -> Option<&'a Value> {
    ["/spec/containers", "/spec/initContainers"]
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
}

/// The argv a container runs: `command` followed by `args` (core/v1 Container fields).
pub fn container_argv(pod: &Value, container: &str) -> Vec<String> {
    let Some(c) = find_container(pod, container) else {
        return Vec::new();
    };
    ["command", "args"]
        .iter()
        .filter_map(|k| c.get(*k).and_then(Value::as_array))
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// The name of the first container of the pod, if any.
pub fn first_container(pod: &Value) -> Option<String> {
    pod.pointer("/spec/containers/0/name")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn pod_name(pod: &Value) -> String {
    pod.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Literal `env[].value` entries of the container; `valueFrom` is not resolved here.
fn container_env(container: &Value) -> Vec<(String, String)> {
    container
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some((
                e.get("name")?.as_str()?.to_owned(),
                e.get("value")?.as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// Settings of a [`BusyboxRuntime`].
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Where the busybox rootfs is built (e.g. `STATE/rootfs`).
    pub rootfs_dir: PathBuf,
    /// The host busybox binary (default `/bin/busybox`, Debian `busybox-static`).
    pub busybox: PathBuf,
    /// The dr-harness binary run for `dr-harness` images; `None` makes such pods fail to start.
    pub harness_bin: Option<PathBuf>,
    /// Environment for `dr-harness` pods (e.g. `KUBECONFIG=<in-cluster kubeconfig>`).
    pub in_cluster_env: Vec<(String, String)>,
    /// Timeout of `exec` calls through [`PodRuntime`]; `None` = no limit.
    pub exec_timeout: Option<Duration>,
}

impl RuntimeOptions {
    /// Defaults: busybox at [`busybox_path`] (`/bin/busybox` unless `DR_SANDBOX_BUSYBOX`), no
    /// harness binary, one hour per exec.
    pub fn new(rootfs_dir: impl Into<PathBuf>) -> Self {
        Self {
            rootfs_dir: rootfs_dir.into(),
            busybox: busybox_path(),
            harness_bin: None,
            in_cluster_env: Vec::new(),
            exec_timeout: Some(Duration::from_secs(3600)),
        }
    }
}

/// How commands are isolated on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Private mount namespace + chroot into the busybox rootfs (the normal mode).
    Chroot,
    /// Host busybox in the volume dir: mount namespaces were not permitted.
    HostDegraded,
}

struct Inner {
    opts: RuntimeOptions,
    rootfs: Rootfs,
    isolation: Isolation,
    resolver: Arc<dyn VolumeResolver>,
    logs: LogStore,
}

/// The [`PodRuntime`] of the sandbox: runs pod commands in busybox, keeps pod logs.
/// Cheap to clone (shared state).
#[derive(Clone)]
pub struct BusyboxRuntime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for BusyboxRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusyboxRuntime")
            .field("rootfs", &self.inner.rootfs.dir())
            .field("isolation", &self.inner.isolation)
            .finish_non_exhaustive()
    }
}

/// What a command of a pod will be run as, once the image is known.
enum Launch {
    Busybox { mounts: Vec<Mount> },
    Harness { bin: PathBuf },
}

impl BusyboxRuntime {
    /// Builds the rootfs and probes whether mount namespaces are permitted (running
    /// `unshare -m true` once). Blocking: call at sandbox start.
    ///
    /// # Errors
    /// [`ExecError::Rootfs`] when busybox is missing or the rootfs cannot be written.
    pub fn new(
        opts: RuntimeOptions,
        resolver: Arc<dyn VolumeResolver>,
    ) -> Result<BusyboxRuntime, ExecError> {
        let rootfs = Rootfs::build(&opts.rootfs_dir, &opts.busybox)?;
        let isolation = probe_isolation();
        if isolation == Isolation::HostDegraded {
            tracing::warn!(
                "mount namespaces are not permitted here: pod commands run with the host's \
                 busybox in the volume directory; absolute paths like /data do not reach volumes"
            );
        }
        Ok(BusyboxRuntime {
            inner: Arc::new(Inner {
                opts,
                rootfs,
                isolation,
                resolver,
                logs: LogStore::default(),
            }),
        })
    }

    /// The isolation mode in use.
    pub fn isolation(&self) -> Isolation {
        self.inner.isolation
    }

    /// The pod log store (shared with [`PodRuntime::logs`]).
    pub fn log_store(&self) -> &LogStore {
        &self.inner.logs
    }

    /// Appends `text` to the log of the pod's default container.
    pub fn append_log(&self, namespace: &str, pod: &str, text: &str) {
        self.inner.logs.append(namespace, pod, text);
    }

    /// Runs `req` with a timeout (`None` = no limit). Stdin chunks are written as they arrive
    /// and the channel closing is EOF; stdout/stderr chunks (at most 64 KiB) are sent as they
    /// are read. Resolves to the exit code (128 + signal number when killed by a signal).
    /// Dropping the future kills the command's process group.
    ///
    /// # Errors
    /// [`ExecError`]: missing container, unresolvable mounts, spawn failure, or
    /// [`ExecError::TimedOut`] (the process group was killed).
    pub async fn exec_with_timeout(
        &self,
        req: ExecRequest,
        timeout: Option<Duration>,
    ) -> Result<i32, ExecError> {
        let pod = pod_name(&req.pod);
        let cmd = self.command_for(&req)?;
        if req.tty {
            tracing::warn!(pod = %pod, "tty requested: not supported, stderr is merged into stdout");
        }
        let stderr = if req.tty {
            req.stdout.clone()
        } else {
            req.stderr
        };
        run_process(cmd, &pod, req.stdin, req.stdout, stderr, timeout).await
    }

    /// Runs `command` in the pod's first container to completion (a Job pod), appending its
    /// stdout and stderr to the pod's log as they arrive, with [`RuntimeOptions::exec_timeout`].
    /// Returns `(exit_code, whole log of this run)`. A command that cannot start (no container,
    /// unresolvable volume, spawn failure) or times out reports exit code 128, as a container
    /// runtime's StartError does, with the reason appended to the log.
    pub async fn run_to_completion(&self, pod: &Value, command: Vec<String>) -> (i32, String) {
        let namespace = pod
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_owned();
        let name = pod_name(pod);
        let container = first_container(pod).unwrap_or_default();
        let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(16);
        let (err_tx, mut err_rx) = mpsc::channel::<Bytes>(16);
        let req = ExecRequest {
            namespace: namespace.clone(),
            pod: pod.clone(),
            container: container.clone(),
            command,
            stdin: None,
            stdout: out_tx,
            stderr: err_tx,
            tty: false,
        };
        let run = self.exec_with_timeout(req, self.inner.opts.exec_timeout);
        let logs = &self.inner.logs;
        let collect = async {
            let mut all = String::new();
            let (mut out_open, mut err_open) = (true, true);
            while out_open || err_open {
                let chunk = tokio::select! {
                    c = out_rx.recv(), if out_open => c.or_else(|| { out_open = false; None }),
                    c = err_rx.recv(), if err_open => c.or_else(|| { err_open = false; None }),
                };
                if let Some(chunk) = chunk {
                    let text = String::from_utf8_lossy(&chunk);
                    logs.append_container(&namespace, &name, &container, &text);
                    all.push_str(&text);
                }
            }
            all
        };
        let (result, mut all) = tokio::join!(run, collect);
        match result {
            Ok(code) => (code, all),
            Err(e) => {
                let line = format!("{e}\n");
                tracing::warn!(pod = %name, error = %e, "job pod command failed to run");
                logs.append_container(&namespace, &name, &container, &line);
                all.push_str(&line);
                (START_ERROR_EXIT_CODE, all)
            }
        }
    }

    /// Chooses how to run the request (by image) and builds the host command.
    fn command_for(&self, req: &ExecRequest) -> Result<Command, ExecError> {
        let pod = pod_name(&req.pod);
        let container = find_container(&req.pod, &req.container).ok_or_else(|| ExecError::Pod {
            namespace: req.namespace.clone(),
            pod: pod.clone(),
            message: format!("no container named {:?}", req.container),
        })?;
        if req.command.is_empty() {
            return Err(ExecError::Pod {
                namespace: req.namespace.clone(),
                pod,
                message: "empty command".into(),
            });
        }
        let image = container
            .get("image")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let launch = if image.contains("dr-harness") {
            let bin =
                self.inner
                    .opts
                    .harness_bin
                    .clone()
                    .ok_or_else(|| ExecError::NoHarnessBinary {
                        pod: pod.clone(),
                        image: image.to_owned(),
                    })?;
            Launch::Harness { bin }
        } else {
            if !image.contains("busybox") {
                tracing::warn!(pod = %pod, image, "image is not busybox: running the command in busybox");
            }
            let mounts = self
                .inner
                .resolver
                .mounts_for(&req.namespace, &req.pod, &req.container)
                .map_err(|message| ExecError::Mounts {
                    namespace: req.namespace.clone(),
                    pod: pod.clone(),
                    message,
                })?;
            for m in &mounts {
                validate_container_path(&m.container_path).map_err(|message| {
                    ExecError::Mounts {
                        namespace: req.namespace.clone(),
                        pod: pod.clone(),
                        message,
                    }
                })?;
            }
            Launch::Busybox { mounts }
        };
        let env = container_env(container);
        Ok(match launch {
            Launch::Harness { bin } => {
                let mut cmd = Command::new(bin);
                cmd.args(&req.command[1..])
                    .envs(env)
                    .envs(self.inner.opts.in_cluster_env.iter().cloned());
                cmd
            }
            Launch::Busybox { mounts } => {
                let mut cmd = match self.inner.isolation {
                    Isolation::Chroot => {
                        chroot_command(self.inner.rootfs.dir(), mounts, &req.command)
                    }
                    Isolation::HostDegraded => {
                        host_command(&self.inner.opts.busybox, &mounts, &req.command)
                    }
                };
                cmd.env_clear()
                    .env("PATH", POD_PATH)
                    .env("HOME", "/root")
                    .env("HOSTNAME", &pod)
                    .envs(env);
                cmd
            }
        })
    }
}

/// Mount paths must be absolute and stay inside the rootfs.
fn validate_container_path(p: &str) -> Result<(), String> {
    let path = Path::new(p);
    if !path.is_absolute() {
        return Err(format!("mountPath {p:?} is not absolute"));
    }
    if path
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!("mountPath {p:?} contains '..'"));
    }
    Ok(())
}

fn chroot_command(rootfs: &Path, mut mounts: Vec<Mount>, argv: &[String]) -> Command {
    // Parents first, so a mount nested in another volume lands inside it, not under it.
    mounts.sort_by_key(|m| Path::new(&m.container_path).components().count());
    let launcher = LAUNCHER.replace("DEVICES", &DEVICES.join(" "));
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "--", "/bin/sh", "-c"])
        .arg(launcher)
        .arg("sh")
        .arg(rootfs)
        .arg(mounts.len().to_string());
    for m in &mounts {
        cmd.arg(&m.host_dir)
            .arg(m.container_path.trim_end_matches('/'))
            .arg(if m.read_only { "ro" } else { "rw" });
    }
    cmd.args(argv);
    cmd
}

fn host_command(busybox: &Path, mounts: &[Mount], argv: &[String]) -> Command {
    let mut cmd = Command::new(busybox);
    cmd.args(argv);
    if let Some(m) = mounts.first() {
        cmd.current_dir(&m.host_dir);
    }
    cmd
}

/// Whether `unshare -m` works here (root with CAP_SYS_ADMIN, not a restricted container).
fn probe_isolation() -> Isolation {
    let ok = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Isolation::Chroot
    } else {
        Isolation::HostDegraded
    }
}

/// Kills the process group on drop unless disarmed: cancellation (a dropped future) and
/// timeouts must not leave pod commands running.
struct GroupKill {
    pgid: Option<nix::unistd::Pid>,
}

impl GroupKill {
    fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // ESRCH means the group is already gone, which is the goal.
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Spawns `cmd` in its own process group and pumps its stdio (see
/// [`BusyboxRuntime::exec_with_timeout`]).
async fn run_process(
    mut cmd: Command,
    pod: &str,
    stdin: Option<mpsc::Receiver<Bytes>>,
    stdout: mpsc::Sender<Bytes>,
    stderr: mpsc::Sender<Bytes>,
    timeout: Option<Duration>,
) -> Result<i32, ExecError> {
    let program = cmd.as_std().get_program().to_string_lossy().into_owned();
    cmd.process_group(0)
        .kill_on_drop(true)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| ExecError::Spawn {
        program,
        pod: pod.to_owned(),
        source,
    })?;
    let mut group = GroupKill {
        pgid: child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(nix::unistd::Pid::from_raw),
    };

    let stdin_task = match (stdin, child.stdin.take()) {
        (Some(rx), Some(pipe)) => Some(tokio::spawn(pump_stdin(rx, pipe))),
        _ => None,
    };
    let out_task = child
        .stdout
        .take()
        .map(|p| tokio::spawn(pump_output(p, stdout)));
    let err_task = child
        .stderr
        .take()
        .map(|p| tokio::spawn(pump_output(p, stderr)));

    let work = async {
        let status = child.wait().await.map_err(|source| ExecError::Wait {
            pod: pod.to_owned(),
            source,
        })?;
        let drain = async {
            for t in [out_task, err_task].into_iter().flatten() {
                // A pump only ends by EOF; a join error means it panicked, output is lost.
                let _ = t.await;
            }
        };
        tokio::pin!(drain);
        if tokio::time::timeout(DRAIN_GRACE, &mut drain).await.is_err() {
            tracing::warn!(
                pod,
                "background processes kept the output open: killing them"
            );
            group.kill();
            drain.await;
        }
        Ok(exit_code(status))
    };
    let result = match timeout {
        None => work.await,
        Some(limit) => match tokio::time::timeout(limit, work).await {
            Ok(r) => r,
            Err(_) => {
                group.kill();
                Err(ExecError::TimedOut {
                    pod: pod.to_owned(),
                    seconds: limit.as_secs(),
                })
            }
        },
    };
    if let Some(t) = stdin_task {
        t.abort();
    }
    result
}

/// Exit code as a shell reports it: the code, or 128 + signal number.
fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

/// Buffer of the stdin pump: clients send stdin in small frames (kube-client 5: 4 KiB,
/// kube-client-5.0.0 src/api/remote_command.rs), so queued frames are gathered into one pipe
/// write of up to this many bytes instead of one write per frame.
const STDIN_BUFFER: usize = 256 * 1024;

async fn pump_stdin(mut rx: mpsc::Receiver<Bytes>, pipe: tokio::process::ChildStdin) {
    let mut pipe = tokio::io::BufWriter::with_capacity(STDIN_BUFFER, pipe);
    while let Some(chunk) = rx.recv().await {
        // Flushed whenever nothing more is queued, so interactive input is not held back.
        let written = match pipe.write_all(&chunk).await {
            Ok(()) if rx.is_empty() => pipe.flush().await,
            other => other,
        };
        if written.is_err() {
            // The command closed its stdin (exited or stopped reading): nothing left to feed.
            return;
        }
    }
    // Channel closed: flush and drop the pipe, which is EOF for the command.
    let _ = pipe.shutdown().await;
}

async fn pump_output(mut pipe: impl AsyncRead + Unpin, tx: mpsc::Sender<Bytes>) {
    let mut buf = vec![0u8; CHUNK];
    let mut receiver_gone = false;
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                // Keep reading after the receiver is gone, or the command blocks on a full pipe.
                if !receiver_gone && tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                    receiver_gone = true;
                }
            }
        }
    }
}

impl PodRuntime for BusyboxRuntime {
    fn exec(&self, req: ExecRequest) -> BoxFuture<'static, Result<i32, String>> {
        let this = self.clone();
        let timeout = self.inner.opts.exec_timeout;
        Box::pin(async move {
            this.exec_with_timeout(req, timeout)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn logs(&self, namespace: &str, pod: &str, container: Option<&str>) -> Option<String> {
        self.inner.logs.get(namespace, pod, container)
    }
}
