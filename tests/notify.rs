//! `--notify`: messages as Slack-compatible and Discord webhooks receive them, against a local
//! HTTP receiver — shapes, content, redaction of a planted secret, retries, and a failing
//! webhook that warns without changing the drill's exit code.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use dr_harness::engine::record::{Outcome, RunRecord, StepRecord, StepStatus};
use dr_harness::redact::Redactor;
use dr_harness::report::notify::{notify_all, send, Flavour, NotifyTarget, SendOptions};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    path: String,
    content_type: String,
    body: serde_json::Value,
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    /// Answers 503 to this many requests before accepting.
    fail_first: Arc<Mutex<u32>>,
}

async fn hook(
    State(rx): State<Receiver>,
    Path(rest): Path<String>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    {
        let mut left = rx.fail_first.lock().unwrap();
        if *left > 0 {
            *left -= 1;
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    }
    let body = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
    rx.got.lock().unwrap().push(Got {
        path: format!("/{rest}"),
        content_type: headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        body,
    });
    if rest.starts_with("gone") {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::NO_CONTENT
    }
}

async fn start_receiver() -> (Receiver, SocketAddr) {
    let rx = Receiver::default();
    let app = Router::new()
        .route("/{*rest}", post(hook))
        .with_state(rx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (rx, addr)
}

const PLANTED: &str = "hcloud-token-PLANTED-0123456789";

fn failed_record() -> RunRecord {
    let mut r = RunRecord::new("run-n1".into(), "full-rebuild", "sandbox", "prod-eu");
    r.outcome = Outcome::Failed;
    r.rto_target_seconds = Some(1800.0);
    r.rpo_seconds = Some(4.0);
    r.steps.push(StepRecord {
        name: "rebuild".into(),
        kind: "rebuild".into(),
        status: StepStatus::Failed,
        started_at: None,
        seconds: 12.0,
        checks: vec![],
        // As if a tool had echoed the token into the message before it was registered.
        message: Some(format!(
            "rebuild hook exited with code 1; its last lines: Error: token {PLANTED} rejected\nsecond line"
        )),
        diagnostics: vec![],
        output: None,
        infrastructure: false,
        usage: false,
    });
    r
}

fn quick() -> SendOptions {
    SendOptions {
        timeout: Duration::from_secs(5),
        retries: 3,
        min_delay: Duration::from_millis(20),
    }
}

#[tokio::test]
async fn slack_and_discord_get_one_redacted_message_each() {
    let (rx, addr) = start_receiver().await;
    let slack =
        NotifyTarget::parse(&format!("http://{addr}/services/T000/B000/slacktoken")).unwrap();
    let discord = NotifyTarget::parse(&format!(
        "discord+http://{addr}/api/webhooks/42/discordtoken"
    ))
    .unwrap();
    assert_eq!(slack.flavour, Flavour::Slack);
    assert_eq!(discord.flavour, Flavour::Discord);
    let redactor = Redactor::new();
    redactor.add(PLANTED);
    let failures = notify_all(
        &[slack, discord],
        &failed_record(),
        "https://ci.example/jobs/7/artifacts/report.html",
        &redactor,
        &quick(),
    )
    .await;
    assert!(failures.is_empty(), "{failures:?}");

    let got = rx.got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:?}");
    let by_path = |p: &str| got.iter().find(|g| g.path == p).expect(p).clone();
    let s = by_path("/services/T000/B000/slacktoken");
    let d = by_path("/api/webhooks/42/discordtoken");
    assert_eq!(s.content_type, "application/json");
    assert_eq!(d.content_type, "application/json");
    let text = s.body["text"].as_str().expect("slack {text}");
    let content = d.body["content"].as_str().expect("discord {content}");
    assert!(s.body.get("content").is_none() && d.body.get("text").is_none());
    assert_eq!(text, content, "one message, two shapes");
    for needle in [
        "full-rebuild",
        "prod-eu",
        "FAILED",
        "RTO n/a (target 30m 0s)",
        "RPO 4.0s",
        "first failure: rebuild: rebuild hook exited with code 1",
        "report: https://ci.example/jobs/7/artifacts/report.html",
        "run-n1",
    ] {
        assert!(text.contains(needle), "{needle} missing in {text}");
    }
    assert!(!text.contains(PLANTED), "the planted secret leaked: {text}");
    assert!(text.contains("token *** rejected"), "{text}");
    assert!(
        !text.contains("second line"),
        "only the first line of the failure"
    );
}

#[tokio::test]
async fn transient_errors_are_retried_and_permanent_ones_are_not() {
    let (rx, addr) = start_receiver().await;
    *rx.fail_first.lock().unwrap() = 2;
    let t = NotifyTarget::parse(&format!("http://{addr}/hooks/retry-me")).unwrap();
    send(&t, "hello", &quick())
        .await
        .expect("third attempt lands");
    assert_eq!(rx.got.lock().unwrap().len(), 1);

    // 404 is not transient: one attempt, an error naming the host but not the token path.
    let t = NotifyTarget::parse(&format!("http://{addr}/gone/secret-path-token")).unwrap();
    let e = send(&t, "hello", &quick()).await.unwrap_err().to_string();
    assert_eq!(rx.got.lock().unwrap().len(), 2, "no retry after a 404");
    assert!(e.contains("404"), "{e}");
    assert!(e.contains(&addr.to_string()), "{e}");
    assert!(!e.contains("secret-path-token"), "{e}");

    // Nobody listening: the retries run out and the error says so, without the URL.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let t = NotifyTarget::parse(&format!("http://{dead_addr}/hooks/deadtoken")).unwrap();
    let e = send(&t, "hello", &quick()).await.unwrap_err().to_string();
    assert!(!e.contains("deadtoken"), "{e}");
}

/// The CLI end to end on the sandbox: a passing `health` drill notifies a Slack receiver and a
/// Discord receiver; a third, dead webhook only warns — exit code 0 stands — and no webhook
/// URL (a credential) appears in the output.
#[tokio::test(flavor = "multi_thread")]
async fn run_notifies_and_a_dead_webhook_does_not_change_the_exit_code() {
    let (rx, addr) = start_receiver().await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let out_dir = tempfile::tempdir().unwrap();
    let urls = [
        format!("slack+http://{addr}/services/T1/B1/clitoken1"),
        format!("discord+http://{addr}/api/webhooks/1/clitoken2"),
        format!("http://{dead_addr}/services/T9/B9/deadtoken3"),
    ];
    let mut cmd = tokio::process::Command::new(common::harness_bin());
    cmd.current_dir(common::repo())
        .args(["run", "health", "--out"])
        .arg(out_dir.path())
        .args(["--report-url", "https://ci.example/r/{run_id}/report.html"]);
    for u in &urls {
        cmd.args(["--notify", u]);
    }
    let out = tokio::time::timeout(Duration::from_secs(300), cmd.output())
        .await
        .expect("drill finished in time")
        .expect("run dr-harness");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: notification to the slack webhook on"),
        "{stderr}"
    );
    for token in ["clitoken1", "clitoken2", "deadtoken3"] {
        assert!(
            !stderr.contains(token) && !stdout.contains(token),
            "{token} leaked: {stderr}"
        );
    }
    let got = rx.got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:?}");
    let run_id = std::fs::read_link(out_dir.path().join("latest"))
        .expect("latest")
        .display()
        .to_string();
    for g in &got {
        let text = g
            .body
            .get("text")
            .or_else(|| g.body.get("content"))
            .and_then(|v| v.as_str())
            .expect("text or content");
        assert!(text.contains("health") && text.contains("PASSED"), "{text}");
        assert!(
            text.contains(&format!("https://ci.example/r/{run_id}/report.html")),
            "{text}"
        );
    }
}

#[test]
fn a_bad_notify_url_is_a_usage_error_before_anything_runs() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::harness_bin())
        .current_dir(common::repo())
        .args([
            "run",
            "health",
            "--notify",
            "ftp://chat.example/hooks/t0ken",
            "--out",
        ])
        .arg(out_dir.path())
        .output()
        .expect("run dr-harness");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--notify ftp://chat.example"), "{stderr}");
    assert!(stderr.contains("http(s) webhook URL"), "{stderr}");
    assert!(!stderr.contains("t0ken"), "{stderr}");
    assert!(
        std::fs::read_dir(out_dir.path()).unwrap().next().is_none(),
        "no drill ran"
    );
}
