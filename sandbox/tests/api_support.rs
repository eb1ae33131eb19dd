//! Shared test fixture for the `api_*` tests: an in-process sandbox API server on 127.0.0.1 with
//! a random port, a fake `PodRuntime` that runs exec commands on the host, and kube clients.
//! (Compiled as its own empty test target too; the tests include it with `#[path]`.)
#![allow(dead_code)]

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use dr_sandbox::api::resources::{NAMESPACES, PODS};
use dr_sandbox::api::{ApiFaults, ApiServer, ApiServerOptions, ExecRequest, PodRuntime, Store};
use futures::future::BoxFuture;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs exec commands as host processes; logs come from a map filled by the test.
#[derive(Default)]
pub struct HostRuntime {
    /// Pod logs by `(namespace, pod)`, as `kubectl logs` / the log endpoint return them.
    pub logs: Mutex<HashMap<(String, String), String>>,
}

async fn pump_out<R: tokio::io::AsyncRead + Unpin>(mut r: R, tx: tokio::sync::mpsc::Sender<Bytes>) {
    let mut buf = vec![0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                    return;
                }
            }
        }
    }
}

impl PodRuntime for HostRuntime {
    fn exec(&self, req: ExecRequest) -> BoxFuture<'static, Result<i32, String>> {
        Box::pin(async move {
            let mut cmd = tokio::process::Command::new(&req.command[0]);
            cmd.args(&req.command[1..])
                .stdin(if req.stdin.is_some() {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            let mut child = cmd
                .spawn()
                .map_err(|e| format!("starting {:?}: {e}", req.command))?;
            if let (Some(mut rx), Some(mut stdin)) = (req.stdin, child.stdin.take()) {
                tokio::spawn(async move {
                    while let Some(b) = rx.recv().await {
                        if stdin.write_all(&b).await.is_err() {
                            return;
                        }
                    }
                    // Channel closed = client EOF: dropping stdin closes the pipe.
                });
            }
            let out = child
                .stdout
                .take()
                .map(|o| tokio::spawn(pump_out(o, req.stdout)));
            let err = child
                .stderr
                .take()
                .map(|e| tokio::spawn(pump_out(e, req.stderr)));
            let status = child.wait().await.map_err(|e| e.to_string())?;
            if let Some(h) = out {
                let _ = h.await;
            }
            if let Some(h) = err {
                let _ = h.await;
            }
            Ok(status.code().unwrap_or(-1))
        })
    }

    fn logs(&self, namespace: &str, pod: &str, _container: Option<&str>) -> Option<String> {
        self.logs
            .lock()
            .ok()?
            .get(&(namespace.to_string(), pod.to_string()))
            .cloned()
    }
}

/// The bearer token the test server accepts (written into its kubeconfig).
pub const TOKEN: &str = "sandbox-test-token";

/// One running test API server and what the test needs to drive and inspect it.
pub struct Env {
    /// The server's object store, for setting up and checking state without the API.
    pub store: Arc<Store>,
    /// The server (bound to 127.0.0.1 on a random port).
    pub server: ApiServer,
    /// Fault switches of the API (unavailable for a while, dropped watches).
    pub faults: Arc<ApiFaults>,
    /// The exec and log runtime behind the pods.
    pub runtime: Arc<HostRuntime>,
}

impl Env {
    /// Starts a server with the namespace `default`, no faults and a host-process runtime.
    ///
    /// # Panics
    /// When the server cannot bind or start (a test fixture: failing loudly is the point).
    pub async fn start() -> Env {
        let store = Store::new();
        store
            .ensure_namespace("default")
            .expect("default namespace");
        let faults = ApiFaults::new();
        let runtime = Arc::new(HostRuntime::default());
        let server = ApiServer::start(
            store.clone(),
            ApiServerOptions {
                bind: "127.0.0.1:0".parse().expect("addr"),
                token: TOKEN.into(),
                runtime: runtime.clone(),
                faults: faults.clone(),
                cluster_name: "sandbox".into(),
                tls: None,
            },
        )
        .await
        .expect("server starts");
        Env {
            store,
            server,
            faults,
            runtime,
        }
    }

    /// A kube client built from the generated kubeconfig (as the harness builds it).
    pub async fn client_with_retry(&self, retry: bool) -> kube::Client {
        let yaml = self.server.kubeconfig_yaml("sandbox");
        let kc = kube::config::Kubeconfig::from_yaml(&yaml).expect("kubeconfig parses");
        let mut config =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .expect("config from kubeconfig");
        config.default_retry = retry;
        kube::Client::try_from(config).expect("client")
    }

    /// A kube client without kube's own retries (so injected faults reach the test).
    pub async fn client(&self) -> kube::Client {
        self.client_with_retry(false).await
    }

    /// Creates namespace `ns` in the store unless it exists.
    pub fn ensure_ns(&self, ns: &str) {
        self.store.ensure_namespace(ns).expect("namespace");
    }

    /// A Running pod (as the controllers would leave it) with one container `main`.
    pub fn running_pod(&self, ns: &str, name: &str) {
        self.ensure_ns(ns);
        self.store
            .create(
                &PODS,
                Some(ns),
                json!({
                    "metadata": {"name": name, "labels": {"app": "sentinel"}},
                    "spec": {"nodeName": "node-1", "containers": [{"name": "main", "image": "busybox"}]},
                    "status": {"phase": "Running"}
                }),
            )
            .expect("pod created");
    }

    /// The server's kubeconfig in a temporary file (deleted when the handle drops), for kubectl.
    pub fn write_kubeconfig(&self) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("tempfile");
        std::io::Write::write_all(&mut f, self.server.kubeconfig_yaml("sandbox").as_bytes())
            .expect("write kubeconfig");
        f
    }

    /// How many namespaces the store holds.
    pub fn namespaces(&self) -> usize {
        self.store.list(&NAMESPACES, None).len()
    }
}

/// The real kubectl on PATH with a kubeconfig for an [`Env`] and its own cache dir.
pub struct Kubectl {
    bin: std::path::PathBuf,
    kubeconfig: tempfile::NamedTempFile,
    cache: tempfile::TempDir,
}

impl Kubectl {
    /// kubectl from PATH; `None` (said on stderr) when it is missing, which fails under
    /// `CI=true`.
    pub fn new(env: &Env) -> Option<Kubectl> {
        let found = std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("kubectl"))
                .find(|p| p.is_file())
        });
        let Some(bin) = found else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "kubectl is not on PATH: .ci/run must install it"
            );
            eprintln!("SKIPPED: kubectl is not on PATH");
            return None;
        };
        Some(Kubectl {
            bin,
            kubeconfig: env.write_kubeconfig(),
            cache: tempfile::tempdir().expect("cache dir"),
        })
    }

    /// The command with this kubeconfig, cache dir and (when `SANDBOX_KUBECTL_V` is set) that
    /// verbosity, before `args`.
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.arg("--kubeconfig")
            .arg(self.kubeconfig.path())
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(
                std::env::var("SANDBOX_KUBECTL_V")
                    .map(|v| vec![format!("-v={v}")])
                    .unwrap_or_default(),
            )
            .args(args)
            .kill_on_drop(true);
        cmd
    }

    /// Runs kubectl; `(success, stdout, stderr)`. A failure is also printed on stderr.
    pub async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            self.command(args).output(),
        )
        .await
        .expect("kubectl finishes in time")
        .expect("kubectl runs");
        let (ok, stdout, stderr) = outcome(&out);
        if !ok {
            eprintln!("kubectl {args:?} failed:\n{stdout}\n{stderr}");
        }
        (ok, stdout, stderr)
    }

    /// Runs kubectl with `input` on its stdin (closed afterwards); `(success, stdout, stderr)`.
    pub async fn with_stdin(&self, args: &[&str], input: &[u8]) -> (bool, String, String) {
        use std::process::Stdio;
        use tokio::io::AsyncWriteExt;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl starts");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input).await.expect("write stdin");
        drop(stdin);
        let out =
            tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
                .await
                .expect("kubectl finishes in time")
                .expect("kubectl output");
        outcome(&out)
    }

    /// Runs kubectl and asserts it succeeded; its stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args).await;
        assert!(ok, "kubectl {args:?} failed:\n{out}\n{err}");
        out
    }
}

/// A finished kubectl's `(success, stdout, stderr)`.
fn outcome(out: &std::process::Output) -> (bool, String, String) {
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
