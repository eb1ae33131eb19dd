//! The sandbox's control endpoint and its client.
//!
//! `dr-harness sandbox destroy|apply|down|fault|status --state DIR` run as separate processes
//! (drill hooks), while the sandbox lives in the `dr-harness sandbox up` process. They talk over
//! HTTP on 127.0.0.1: the URL and a bearer token are in `DIR/control.json` (readable only by
//! whoever can read the state dir, which also holds the kubeconfig). Routes: POST `/destroy`,
//! `/apply`, `/down`, `/faults` (body: a [`Fault`] as JSON, or `{"clear": true}`), GET
//! `/status`. Answers are JSON; failures carry `{"error": "..."}` with status 409 (cluster
//! exists), 500 (rebuild failed), 400 (bad fault) or 401 (token).
//!
//! The endpoint serves any [`ControlTarget`] (the [`crate::Sandbox`] implements it): this module
//! knows nothing of the sandbox's lifecycle, which starts the endpoint, so the two do not
//! import each other.
//!
//! The client speaks plain HTTP/1.1 over a `TcpStream` (one request per connection) to avoid
//! pulling an HTTP client stack into the sandbox crate for four verbs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

use crate::faults::{Fault, Faults};

/// Why a control command failed, as the endpoint reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlFailure {
    /// The command conflicts with the current state (409: `apply` while a cluster exists);
    /// otherwise the failure is a 500.
    pub conflict: bool,
    /// The error text for the `{"error": ...}` body.
    pub message: String,
}

/// What the control endpoint drives: the running sandbox.
pub trait ControlTarget: Clone + Send + Sync + 'static {
    /// Destroys the cluster (idempotent).
    fn destroy(&self) -> impl std::future::Future<Output = Result<(), ControlFailure>> + Send;
    /// Rebuilds the cluster; returns the new API URL.
    fn apply(&self) -> impl std::future::Future<Output = Result<String, ControlFailure>> + Send;
    /// Asks the sandbox process to stop.
    fn request_down(&self);
    /// The fault switches.
    fn faults(&self) -> &Faults;
    /// The status document (cluster up or destroyed, URLs, active faults).
    fn status(&self) -> impl std::future::Future<Output = Value> + Send;
}

/// One command for a running sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlCommand {
    /// Destroy the cluster (POST `/destroy`).
    Destroy,
    /// Rebuild the cluster (POST `/apply`).
    Apply,
    /// Stop the sandbox process (POST `/down`).
    Down,
    /// Turn a fault on (POST `/faults`).
    SetFault(Fault),
    /// Turn every fault off (POST `/faults` with `{"clear": true}`).
    ClearFaults,
    /// Read the status (GET `/status`).
    Status,
}

/// Errors of talking to a sandbox's control endpoint.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// `control.json` is missing or unreadable: no sandbox runs with this state dir.
    #[error("no sandbox control file at {path}: {message}")]
    NotRunning {
        /// The expected `control.json`.
        path: PathBuf,
        /// Why it could not be used.
        message: String,
    },
    /// The control endpoint could not be reached.
    #[error("sandbox control endpoint {url} unreachable: {source}")]
    Connect {
        /// The endpoint.
        url: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The sandbox answered with an error.
    #[error("sandbox {command} failed with http {status}: {message}")]
    Failed {
        /// The command's route.
        command: String,
        /// HTTP status.
        status: u16,
        /// The error text from the body.
        message: String,
    },
    /// The answer was not HTTP/JSON.
    #[error("sandbox control endpoint answered garbage: {0}")]
    Protocol(String),
}

/// What `control.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ControlInfo {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Bearer token.
    pub token: String,
}

/// The running control endpoint.
pub struct ControlServer {
    addr: SocketAddr,
    token: String,
    task: JoinHandle<()>,
}

#[derive(Clone)]
struct AppState<T> {
    sandbox: T,
    token: String,
}

#[derive(Deserialize)]
struct ClearBody {
    clear: bool,
}

impl ControlServer {
    /// Serves the control endpoint for `sandbox` on a random loopback port.
    ///
    /// # Errors
    /// Binding the listener.
    pub async fn start<T: ControlTarget>(sandbox: T) -> std::io::Result<ControlServer> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let token = crate::controllers::naming::hex_suffix(32);
        let state = AppState {
            sandbox,
            token: token.clone(),
        };
        let app = Router::new()
            .route("/destroy", post(destroy::<T>))
            .route("/apply", post(apply::<T>))
            .route("/down", post(down::<T>))
            .route("/faults", post(faults::<T>))
            .route("/status", get(status::<T>))
            .with_state(state);
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "sandbox control endpoint stopped");
            }
        });
        Ok(ControlServer { addr, token, task })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What to write into `control.json`.
    pub fn info(&self) -> ControlInfo {
        ControlInfo {
            url: self.url(),
            token: self.token.clone(),
        }
    }

    /// Stops serving.
    pub fn shutdown(self) {
        self.task.abort();
    }
}

/// `Some(401 response)` unless the request carries the control token.
fn rejection<T>(state: &AppState<T>, headers: &HeaderMap) -> Option<Response> {
    let want = format!("Bearer {}", state.token);
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some(got) if got == want => None,
        _ => Some(
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "missing or wrong bearer token"})),
            )
                .into_response(),
        ),
    }
}

fn error_response(e: &ControlFailure) -> Response {
    let status = if e.conflict {
        StatusCode::CONFLICT
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    (status, Json(json!({"error": e.message}))).into_response()
}

async fn destroy<T: ControlTarget>(
    State(state): State<AppState<T>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = rejection(&state, &headers) {
        return r;
    }
    match state.sandbox.destroy().await {
        Ok(()) => Json(json!({"ok": true, "cluster": "destroyed"})).into_response(),
        Err(e) => error_response(&e),
    }
}

async fn apply<T: ControlTarget>(State(state): State<AppState<T>>, headers: HeaderMap) -> Response {
    if let Some(r) = rejection(&state, &headers) {
        return r;
    }
    match state.sandbox.apply().await {
        Ok(api_url) => {
            Json(json!({"ok": true, "cluster": "up", "api_url": api_url})).into_response()
        }
        Err(e) => error_response(&e),
    }
}

async fn down<T: ControlTarget>(State(state): State<AppState<T>>, headers: HeaderMap) -> Response {
    if let Some(r) = rejection(&state, &headers) {
        return r;
    }
    state.sandbox.request_down();
    Json(json!({"ok": true})).into_response()
}

async fn faults<T: ControlTarget>(
    State(state): State<AppState<T>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(r) = rejection(&state, &headers) {
        return r;
    }
    if let Ok(ClearBody { clear: true }) = serde_json::from_str::<ClearBody>(&body) {
        state.sandbox.faults().clear();
    } else {
        match serde_json::from_str::<Fault>(&body) {
            Ok(f) => state.sandbox.faults().set(f),
            Err(e) => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error": format!("bad fault: {e}")})),
                )
                    .into_response()
            }
        }
    }
    Json(json!({"ok": true, "faults": state.sandbox.faults().active()})).into_response()
}

async fn status<T: ControlTarget>(
    State(state): State<AppState<T>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = rejection(&state, &headers) {
        return r;
    }
    Json(state.sandbox.status().await).into_response()
}

/// Sends `cmd` to the sandbox whose state dir is `state_dir` and returns its JSON answer.
/// Waits up to 10 minutes for slow commands (a realistic rebuild).
///
/// # Errors
/// [`ControlError`] when no sandbox runs there, it cannot be reached, or it reports a failure.
pub async fn request(state_dir: &Path, cmd: ControlCommand) -> Result<Value, ControlError> {
    let path = state_dir.join(crate::names::CONTROL_FILE);
    let text = tokio::fs::read_to_string(&path)
        .await
        .map_err(|e| ControlError::NotRunning {
            path: path.clone(),
            message: e.to_string(),
        })?;
    let info: ControlInfo = serde_json::from_str(&text).map_err(|e| ControlError::NotRunning {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let (method, route, body) = match &cmd {
        ControlCommand::Destroy => ("POST", "/destroy", String::new()),
        ControlCommand::Apply => ("POST", "/apply", String::new()),
        ControlCommand::Down => ("POST", "/down", String::new()),
        ControlCommand::SetFault(f) => (
            "POST",
            "/faults",
            serde_json::to_string(f).unwrap_or_default(),
        ),
        ControlCommand::ClearFaults => ("POST", "/faults", json!({"clear": true}).to_string()),
        ControlCommand::Status => ("GET", "/status", String::new()),
    };
    let host = info
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let connect_err = |source| ControlError::Connect {
        url: info.url.clone(),
        source,
    };
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(&host)
            .await
            .map_err(connect_err)?;
        let req = format!(
            "{method} {route} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            info.token,
            body.len()
        );
        stream
            .write_all(req.as_bytes())
            .await
            .map_err(connect_err)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.map_err(connect_err)?;
        Ok::<Vec<u8>, ControlError>(raw)
    };
    let raw = tokio::time::timeout(Duration::from_secs(600), exchange)
        .await
        .map_err(|_| ControlError::Protocol(format!("no answer to {route} within 600 s")))??;
    let (status, body) = parse_response(&raw)?;
    let value: Value =
        serde_json::from_slice(&body).map_err(|e| ControlError::Protocol(e.to_string()))?;
    if (200..300).contains(&status) {
        Ok(value)
    } else {
        Err(ControlError::Failed {
            command: route.trim_start_matches('/').to_string(),
            status,
            message: value
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        })
    }
}

/// Splits an HTTP/1.1 response into status code and body (identity or chunked encoding).
fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>), ControlError> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| ControlError::Protocol("no end of headers".into()))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let body = &raw[split + 4..];
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ControlError::Protocol(format!("bad status line in {head:?}")))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if !chunked {
        return Ok((status, body.to_vec()));
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| ControlError::Protocol("truncated chunk".into()))?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]).to_string();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| ControlError::Protocol(format!("bad chunk size {size_text:?}")))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            break;
        }
        if rest.len() < size {
            return Err(ControlError::Protocol("truncated chunk".into()));
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or(&[]);
    }
    Ok((status, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse_plain_and_chunked() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(parse_response(plain).ok(), Some((200, b"{}".to_vec())));
        let chunked = b"HTTP/1.1 409 Conflict\r\ntransfer-encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(chunked).ok(),
            Some((409, b"{\"a\":1}".to_vec()))
        );
        assert!(parse_response(b"garbage").is_err());
    }

    /// A target that is always up: `apply` conflicts, `destroy` succeeds.
    #[derive(Clone)]
    struct AlwaysUp(std::sync::Arc<Faults>);

    impl ControlTarget for AlwaysUp {
        async fn destroy(&self) -> Result<(), ControlFailure> {
            Ok(())
        }
        async fn apply(&self) -> Result<String, ControlFailure> {
            Err(ControlFailure {
                conflict: true,
                message: "cluster exists: destroy it before apply".into(),
            })
        }
        fn request_down(&self) {}
        fn faults(&self) -> &Faults {
            &self.0
        }
        async fn status(&self) -> Value {
            json!({"cluster": "up"})
        }
    }

    /// The endpoint and its client against a fake target, no sandbox: a conflict is 409 with
    /// the target's message, a fault set through the endpoint reaches the target's switches.
    #[tokio::test]
    async fn endpoint_serves_any_target() {
        use std::sync::Arc;
        let faults = Arc::new(Faults::new(
            crate::api::ApiFaults::new(),
            Arc::new(Default::default()),
            Arc::new(Default::default()),
        ));
        let server = ControlServer::start(AlwaysUp(faults.clone())).await;
        assert!(server.is_ok(), "control endpoint did not start");
        let Ok(server) = server else { return };
        let dir = std::env::temp_dir().join(format!("dr-control-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let info = serde_json::to_string(&server.info()).unwrap_or_default();
        std::fs::write(dir.join("control.json"), info).ok();
        let applied = request(&dir, ControlCommand::Apply).await;
        let failure = match &applied {
            Err(ControlError::Failed {
                status, message, ..
            }) => Some((*status, message.contains("cluster exists"))),
            _ => None,
        };
        assert_eq!(failure, Some((409, true)), "{applied:?}");
        let status = request(&dir, ControlCommand::Status).await.ok();
        assert_eq!(status, Some(json!({"cluster": "up"})));
        let set = request(&dir, ControlCommand::SetFault(Fault::RebuildFails)).await;
        assert!(set.is_ok(), "{set:?}");
        assert!(faults.is_set(Fault::RebuildFails.name()));
        server.shutdown();
        std::fs::remove_dir_all(&dir).ok();
    }
}
