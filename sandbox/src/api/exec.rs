//! `pods/{name}/log` and `pods/{name}/exec`: the two pod subresources that reach the data plane
//! through [`super::runtime::PodRuntime`].
//!
//! Exec speaks the Kubernetes WebSocket stream protocol (`v5.channel.k8s.io` preferred,
//! `v4.channel.k8s.io` accepted; k8s.io/apimachinery `pkg/util/remotecommand`): every binary frame
//! is `[channel][payload]` with 0 stdin, 1 stdout, 2 stderr, 3 status (a JSON Status), 4 resize,
//! and under v5 `[255, channel]` closing a channel (`[255, 0]` = stdin EOF). All output is sent
//! before the status frame, because clients stop reading when the status arrives. Client stdin
//! goes through an unbounded queue so that a process that exits (or stops reading) while the
//! client still writes never blocks the output path.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::error::ApiError;
use super::http::{Ctx, Params};
use super::resources::PODS;
use super::runtime::ExecRequest;

const V5: &str = "v5.channel.k8s.io";
const V4: &str = "v4.channel.k8s.io";

/// The pod's container names, in spec order.
fn containers(pod: &Value) -> Vec<String> {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Picks the container: the requested one (must exist), else the
/// `kubectl.kubernetes.io/default-container` annotation, else the first.
fn pick_container(pod: &Value, name: &str, requested: Option<&str>) -> Result<String, ApiError> {
    let names = containers(pod);
    match requested.filter(|c| !c.is_empty()) {
        Some(c) if names.iter().any(|n| n == c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {name}"
        ))),
        None => {
            let annotated = pod
                .pointer("/metadata/annotations/kubectl.kubernetes.io~1default-container")
                .and_then(Value::as_str)
                .filter(|c| names.iter().any(|n| n == c));
            annotated
                .map(str::to_string)
                .or_else(|| names.first().cloned())
                .ok_or_else(|| {
                    ApiError::bad_request(format!("pod {name} does not have any containers"))
                })
        }
    }
}

/// Serves `GET .../pods/{name}/log` as plain text (`tailLines` honoured, `follow` ignored).
///
/// Whether a container has a log follows the pod's status, as the kubelet's does
/// (kubernetes@v1.32 `pkg/kubelet/kubelet_pods.go` `validateContainerLogStatus`): a container
/// whose status is `waiting` (or a `Pending` pod without container statuses) answers 400
/// `container "C" in pod "P" is waiting to start: <reason>`; a running or terminated one
/// answers its log, empty when it printed nothing (the sandbox does not execute long-running
/// containers' commands, so their log is empty).
///
/// # Errors
/// 404 when the pod does not exist; 400 when the container is unknown or still waiting.
pub(crate) fn logs(ctx: &Ctx, ns: &str, name: &str, params: &Params) -> Result<Response, ApiError> {
    let pod = ctx
        .store
        .get(&PODS, Some(ns), name)
        .ok_or_else(|| ApiError::not_found(&PODS, name))?;
    let container = pick_container(&pod, name, params.get("container"))?;
    if let Some(reason) = waiting_reason(&pod, &container) {
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
        )));
    }
    let text = ctx
        .runtime
        .logs(ns, name, Some(&container))
        .unwrap_or_default();
    let text = match params
        .get("tailLines")
        .and_then(|n| n.parse::<usize>().ok())
    {
        Some(n) => tail_lines(&text, n),
        None => text,
    };
    let mut resp = text.into_response();
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain"),
    );
    Ok(resp)
}

/// Why `container` of `pod` has no log yet, `None` once it runs or ran. A `Pending` pod whose
/// status lists no such container is `ContainerCreating` (the kubelet has not reported it).
fn waiting_reason(pod: &Value, container: &str) -> Option<String> {
    let status = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .and_then(|l| {
            l.iter()
                .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
        });
    match status {
        Some(c) => c.pointer("/state/waiting").map(|w| {
            w.get("reason")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
                .unwrap_or("ContainerCreating")
                .to_string()
        }),
        None => {
            let phase = pod.pointer("/status/phase").and_then(Value::as_str);
            matches!(phase, None | Some("Pending")).then(|| "ContainerCreating".to_string())
        }
    }
}

/// The last `n` lines of `text` (a trailing newline does not count as an extra line).
fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    lines[lines.len().saturating_sub(n)..].concat()
}

/// Checks the pod and upgrades `GET .../pods/{name}/exec` to a WebSocket session.
///
/// # Errors
/// 404 when the pod does not exist; 400 when it has no node, is not Running, the container
/// is unknown, or no `command` was given.
pub(crate) fn exec(
    ctx: Arc<Ctx>,
    ns: &str,
    name: &str,
    params: &Params,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let pod = ctx
        .store
        .get(&PODS, Some(ns), name)
        .ok_or_else(|| ApiError::not_found(&PODS, name))?;
    let container = pick_container(&pod, name, params.get("container"))?;
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if node.is_empty() {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("");
    if phase != "Running" {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade connection: container not found (\"{container}\")"
        )));
    }
    let command = params.all("command");
    if command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    let session = Session {
        namespace: ns.to_string(),
        pod,
        container,
        command,
        stdin: params.flag("stdin"),
        stdout: params.get("stdout").is_none_or(|v| v == "true" || v == "1"),
        stderr: params.get("stderr").is_none_or(|v| v == "true" || v == "1"),
        tty: params.flag("tty"),
    };
    let ws = ws.protocols([V5, V4]);
    let v5 = ws
        .selected_protocol()
        .is_some_and(|p| p.as_bytes() == V5.as_bytes());
    Ok(ws.on_upgrade(move |socket| run_session(ctx, session, socket, v5)))
}

struct Session {
    namespace: String,
    pod: Value,
    container: String,
    command: Vec<String>,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
}

fn normal_close() -> Message {
    Message::Close(Some(axum::extract::ws::CloseFrame {
        code: axum::extract::ws::close_code::NORMAL,
        reason: "".into(),
    }))
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::Binary(Bytes::from(v))
}

/// The channel-3 Status for an exec outcome.
fn exit_status(outcome: &Result<i32, String>, command: &[String]) -> Value {
    match outcome {
        Ok(0) => json!({"metadata": {}, "status": "Success"}),
        Ok(code) => json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("command terminated with non-zero exit code: error executing command {command:?}, exit code {code}"),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        Err(msg) => json!({
            "metadata": {},
            "status": "Failure",
            "message": msg,
            "reason": "InternalError",
        }),
    }
}

async fn run_session(ctx: Arc<Ctx>, s: Session, socket: WebSocket, v5: bool) {
    let (mut sink, mut source) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(16);
    let (err_tx, mut err_rx) = mpsc::channel::<Bytes>(16);
    // Client stdin → unbounded queue → bounded runtime channel, via a forwarder task, so that
    // reading the socket never waits on the process.
    let (queue_tx, mut queue_rx) = mpsc::unbounded_channel::<Bytes>();
    let mut queue_tx = Some(queue_tx);
    let stdin_rx = if s.stdin {
        let (in_tx, in_rx) = mpsc::channel::<Bytes>(16);
        tokio::spawn(async move {
            while let Some(b) = queue_rx.recv().await {
                if in_tx.send(b).await.is_err() {
                    return;
                }
            }
        });
        Some(in_rx)
    } else {
        queue_tx = None;
        None
    };
    let req = ExecRequest {
        namespace: s.namespace.clone(),
        pod: s.pod.clone(),
        container: s.container.clone(),
        command: s.command.clone(),
        stdin: stdin_rx,
        stdout: out_tx,
        stderr: err_tx,
        tty: s.tty,
    };
    let mut process = tokio::spawn(ctx.runtime.exec(req));
    let mut outcome: Option<Result<i32, String>> = None;
    let mut out_open = true;
    let mut err_open = true;
    let mut client_open = true;
    // Runs until the process has exited and both output channels are drained.
    while outcome.is_none() || out_open || err_open {
        tokio::select! {
            r = &mut process, if outcome.is_none() => {
                outcome = Some(r.unwrap_or_else(|e| Err(format!("exec task failed: {e}"))));
                // Output senders the runtime still holds would keep the loop alive forever.
                if out_open || err_open {
                    drain(&mut out_rx, &mut err_rx, &mut sink, &s).await;
                    out_open = false;
                    err_open = false;
                }
            }
            b = out_rx.recv(), if out_open => match b {
                Some(b) => {
                    if s.stdout && sink.send(frame(1, &b)).await.is_err() {
                        client_open = false;
                    }
                }
                None => out_open = false,
            },
            b = err_rx.recv(), if err_open => match b {
                Some(b) => {
                    if s.stderr && sink.send(frame(2, &b)).await.is_err() {
                        client_open = false;
                    }
                }
                None => err_open = false,
            },
            m = source.next(), if client_open => match m {
                Some(Ok(Message::Binary(data))) => match data.first() {
                    Some(0) => {
                        if let Some(q) = &queue_tx {
                            let _ = q.send(data.slice(1..));
                        }
                    }
                    Some(255) if v5 && data.get(1) == Some(&0) => queue_tx = None,
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    client_open = false;
                    queue_tx = None;
                }
                Some(Ok(_)) => {}
            },
            _ = ctx.shutdown.cancelled() => {
                process.abort();
                let _ = sink.send(normal_close()).await;
                return;
            }
        }
    }
    let outcome = outcome.unwrap_or_else(|| Err("exec ended without a result".into()));
    let status = exit_status(&outcome, &s.command).to_string();
    let _ = sink.send(frame(3, status.as_bytes())).await;
    // A close frame without a code reads as "1005 no status" to client-go, which kubectl
    // reports as an error: close with 1000 (normal closure) like the real API server.
    let _ = sink.send(normal_close()).await;
    // Let the close handshake finish, but never hang on a silent client.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(m)) = source.next().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Sends whatever output is already queued (the runtime has exited; late chunks are lost).
async fn drain(
    out_rx: &mut mpsc::Receiver<Bytes>,
    err_rx: &mut mpsc::Receiver<Bytes>,
    sink: &mut futures::stream::SplitSink<WebSocket, Message>,
    s: &Session,
) {
    while let Ok(b) = out_rx.try_recv() {
        if s.stdout {
            let _ = sink.send(frame(1, &b)).await;
        }
    }
    while let Ok(b) = err_rx.try_recv() {
        if s.stderr {
            let _ = sink.send(frame(2, &b)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail_lines("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(tail_lines("a\nb", 5), "a\nb");
    }

    #[test]
    fn non_zero_exit_reports_code_cause() {
        let s = exit_status(&Ok(3), &["sh".into()]);
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "3");
        assert_eq!(exit_status(&Ok(0), &[])["status"], "Success");
    }

    #[test]
    fn container_defaults_to_annotation_then_first() {
        let pod = json!({"metadata": {"annotations": {"kubectl.kubernetes.io/default-container": "b"}},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        assert_eq!(pick_container(&pod, "p", None).ok().as_deref(), Some("b"));
        assert_eq!(
            pick_container(&pod, "p", Some("a")).ok().as_deref(),
            Some("a")
        );
        assert!(pick_container(&pod, "p", Some("z")).is_err());
    }
}
