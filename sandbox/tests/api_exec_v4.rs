//! `pods/exec` under the v4 channel protocol, for API servers older than Kubernetes 1.30 and
//! clients that offer nothing newer: kube and kubectl both pick v5, so a raw WebSocket client
//! offers only `v4.channel.k8s.io` here.

#[path = "api_support.rs"]
mod support;

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use support::Env;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// Runs `command` over a v4-only exec and returns (negotiated protocol, stdout, status).
async fn exec_v4(env: &Env, command: &[&str]) -> (String, Vec<u8>, Value) {
    let base = env.server.url().replace("http://", "ws://");
    let query: String = command.iter().map(|c| format!("command={c}&")).collect();
    let mut req = format!(
        "{base}/api/v1/namespaces/default/pods/sentinel/exec?{query}stdout=true&stderr=true"
    )
    .into_client_request()
    .expect("request");
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "v4.channel.k8s.io".parse().unwrap(),
    );
    req.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", support::TOKEN).parse().unwrap(),
    );
    let (mut ws, resp) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade");
    let protocol = resp
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut stdout = Vec::new();
    let mut status = Value::Null;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(20), ws.next()).await {
        match msg.expect("frame") {
            Message::Binary(b) if !b.is_empty() => match b[0] {
                1 => stdout.extend_from_slice(&b[1..]),
                3 => status = serde_json::from_slice(&b[1..]).expect("status JSON"),
                _ => {}
            },
            Message::Close(_) => break,
            _ => {}
        }
    }
    (protocol, stdout, status)
}

#[tokio::test]
async fn v4_exec_streams_stdout_then_a_success_status() {
    let env = Env::start().await;
    env.running_pod("default", "sentinel");
    let (protocol, stdout, status) = exec_v4(&env, &["echo", "hi"]).await;
    assert_eq!(
        protocol, "v4.channel.k8s.io",
        "the server echoes the only protocol offered"
    );
    assert_eq!(stdout, b"hi\n");
    assert_eq!(status["status"], "Success", "{status}");
}

#[tokio::test]
async fn v4_exec_reports_a_non_zero_exit_code() {
    let env = Env::start().await;
    env.running_pod("default", "sentinel");
    let (_, _, status) = exec_v4(&env, &["sh", "-c", "exit%203"]).await;
    assert_eq!(status["status"], "Failure", "{status}");
    assert_eq!(status["reason"], "NonZeroExitCode", "{status}");
    assert_eq!(status["details"]["causes"][0]["message"], "3", "{status}");
}
