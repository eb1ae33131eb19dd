//! The seam between the API server and the data plane: how `pods/exec` and `pods/log` reach
//! whatever runs pod commands (busybox processes in the sandbox, a fake in tests).
//!
//! The API server owns the wire protocol (WebSocket channels, Status frames); a [`PodRuntime`]
//! only runs a command with byte channels and reports its exit code.

use bytes::Bytes;
use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::mpsc;

/// One `pods/exec` call, already checked (pod exists, is Running, container exists).
pub struct ExecRequest {
    /// Namespace of the pod.
    pub namespace: String,
    /// The whole Pod object as stored (spec, status, labels).
    pub pod: Value,
    /// Container name (the request's `container`, or the pod's only/first container).
    pub container: String,
    /// argv of the command (the request's repeated `command` parameters).
    pub command: Vec<String>,
    /// Client stdin; `None` when the client did not ask for stdin. The channel closing means EOF.
    pub stdin: Option<mpsc::Receiver<Bytes>>,
    /// Where the command's stdout goes (chunks of any size).
    pub stdout: mpsc::Sender<Bytes>,
    /// Where the command's stderr goes (chunks of any size).
    pub stderr: mpsc::Sender<Bytes>,
    /// Whether the client asked for a TTY (stderr is then merged into stdout by real runtimes).
    pub tty: bool,
}

/// Runs pod commands and serves pod logs for the API server.
pub trait PodRuntime: Send + Sync + 'static {
    /// Runs the command; resolves to its exit code once it has exited and all its output has
    /// been sent to `stdout`/`stderr`.
    ///
    /// # Errors
    /// `Err(message)` when the command could not start (e.g. executable not found); the API
    /// server reports it as a channel-3 Status Failure carrying the message.
    fn exec(&self, req: ExecRequest) -> BoxFuture<'static, Result<i32, String>>;

    /// The whole log text of a pod's container (`container` `None` = the default container);
    /// `None` if the pod or container is unknown.
    fn logs(&self, namespace: &str, pod: &str, container: Option<&str>) -> Option<String>;
}
