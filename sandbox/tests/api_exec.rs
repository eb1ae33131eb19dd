//! `pods/exec` over WebSocket (v5, stdin EOF, exit codes) and `pods/log` through `kube`.

#[path = "api_support.rs"]
mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, LogParams, PostParams};
use serde_json::json;
use support::Env;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(20);

async fn read_all(r: Option<impl tokio::io::AsyncRead + Unpin>) -> String {
    let mut s = String::new();
    if let Some(mut r) = r {
        r.read_to_string(&mut s).await.expect("read");
    }
    s
}

#[tokio::test]
async fn exec_echo_returns_stdout_and_success() {
    let env = Env::start().await;
    env.running_pod("default", "sentinel");
    let api: Api<Pod> = Api::namespaced(env.client().await, "default");
    let mut p = api
        .exec(
            "sentinel",
            ["echo", "hi"],
            &AttachParams::default().stderr(false),
        )
        .await
        .expect("exec");
    let out = tokio::time::timeout(LIMIT, read_all(p.stdout()))
        .await
        .expect("stdout in time");
    let status = p
        .take_status()
        .expect("status future")
        .await
        .expect("status");
    assert_eq!(out, "hi\n");
    assert_eq!(status.status.as_deref(), Some("Success"));
}

#[tokio::test]
async fn exec_stdin_reaches_eof_and_cat_echoes_it() {
    let env = Env::start().await;
    env.running_pod("default", "sentinel");
    let api: Api<Pod> = Api::namespaced(env.client().await, "default");
    let mut p = api
        .exec(
            "sentinel",
            ["cat"],
            &AttachParams::default().stdin(true).stderr(false),
        )
        .await
        .expect("exec");
    let mut stdin = p.stdin().expect("stdin");
    let stdout = p.stdout();
    let reader = tokio::spawn(read_all(stdout));
    let payload = "line one\nline two\n".repeat(256 * 1024);
    stdin.write_all(payload.as_bytes()).await.expect("write");
    stdin.shutdown().await.expect("eof");
    drop(stdin);
    let out = tokio::time::timeout(LIMIT, reader)
        .await
        .expect("cat ends after EOF")
        .expect("join");
    assert_eq!(out.len(), payload.len());
    assert_eq!(out, payload);
    let status = p.take_status().expect("status").await.expect("status");
    assert_eq!(status.status.as_deref(), Some("Success"));
}

#[tokio::test]
async fn exec_non_zero_exit_is_reported() {
    let env = Env::start().await;
    env.running_pod("default", "sentinel");
    let api: Api<Pod> = Api::namespaced(env.client().await, "default");
    let mut p = api
        .exec(
            "sentinel",
            ["sh", "-c", "echo oops >&2; exit 3"],
            &AttachParams::default(),
        )
        .await
        .expect("exec");
    let err = tokio::time::timeout(LIMIT, read_all(p.stderr()))
        .await
        .expect("stderr in time");
    let status = p.take_status().expect("status").await.expect("status");
    assert_eq!(err, "oops\n");
    assert_eq!(status.status.as_deref(), Some("Failure"));
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    let code = status
        .details
        .and_then(|d| d.causes)
        .and_then(|cs| {
            cs.into_iter()
                .find(|c| c.reason.as_deref() == Some("ExitCode"))
        })
        .and_then(|c| c.message);
    assert_eq!(code.as_deref(), Some("3"));
}

#[tokio::test]
async fn exec_survives_process_exiting_while_client_writes() {
    let env = Env::start().await;
    env.running_pod("default", "sentinel");
    let api: Api<Pod> = Api::namespaced(env.client().await, "default");
    let mut p = api
        .exec("sentinel", ["true"], &AttachParams::default().stdin(true))
        .await
        .expect("exec");
    let mut stdin = p.stdin().expect("stdin");
    let status = p.take_status().expect("status");
    let chunk = vec![b'x'; 64 * 1024];
    // The writer must not be what decides the outcome: race it against the status.
    let writer = async {
        for _ in 0..64 {
            if stdin.write_all(&chunk).await.is_err() {
                break;
            }
        }
        futures::future::pending::<()>().await
    };
    let st = tokio::time::timeout(LIMIT, async {
        tokio::select! {
            s = status => s,
            _ = writer => None,
        }
    })
    .await
    .expect("status arrives although stdin is still being written");
    assert_eq!(st.and_then(|s| s.status).as_deref(), Some("Success"));
}

#[tokio::test]
async fn exec_into_pending_pod_is_refused() {
    let env = Env::start().await;
    let api: Api<Pod> = Api::namespaced(env.client().await, "default");
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "pending"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})).expect("pod");
    api.create(&PostParams::default(), &pod)
        .await
        .expect("create");
    let e = api
        .exec("pending", ["echo"], &AttachParams::default())
        .await;
    assert!(e.is_err(), "exec into a pod without a node must fail");
    let missing = api.exec("nope", ["echo"], &AttachParams::default()).await;
    assert!(missing.is_err());
}

#[tokio::test]
async fn logs_come_from_the_runtime_with_tail_lines() {
    let env = Env::start().await;
    env.running_pod("default", "sentinel");
    env.runtime.logs.lock().expect("lock").insert(
        ("default".into(), "sentinel".into()),
        "tick 1\ntick 2\ntick 3\n".into(),
    );
    let api: Api<Pod> = Api::namespaced(env.client().await, "default");
    let all = api
        .logs("sentinel", &LogParams::default())
        .await
        .expect("logs");
    assert_eq!(all, "tick 1\ntick 2\ntick 3\n");
    let tail = api
        .logs(
            "sentinel",
            &LogParams {
                tail_lines: Some(1),
                ..LogParams::default()
            },
        )
        .await
        .expect("tail");
    assert_eq!(tail, "tick 3\n");
    let e = api
        .logs("ghost", &LogParams::default())
        .await
        .expect_err("404");
    assert!(matches!(e, kube::Error::Api(s) if s.code == 404));
}
