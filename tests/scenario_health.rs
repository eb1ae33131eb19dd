//! The `health` scenario against the sandbox: it passes on a settled cluster, and each injected
//! fault — a node NotReady, a degraded Longhorn volume, a health URL down — fails the `health`
//! step with a message that names what is wrong.

mod common;

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{assert_failed_at, drill, drill_with, step, TestSandbox};
use dr_harness::config::Scenario;
use dr_harness::engine::record::{Outcome, RunRecord};
use dr_sandbox::api::resources::{LH_VOLUMES, NODES};
use dr_sandbox::faults::Fault;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// The shipped scenario with a short settle time, so an unhealthy cluster fails fast.
fn health_scenario() -> Scenario {
    let text =
        std::fs::read_to_string(common::repo().join("scenarios/health.toml")).expect("health.toml");
    assert!(
        text.contains("wait = \"1m\""),
        "the scenario's wait changed; update this test"
    );
    Scenario::from_str(
        &text.replace("wait = \"1m\"", "wait = \"3s\""),
        "health-fast.toml",
    )
    .expect("scenario loads")
}

/// A tiny HTTP server on 127.0.0.1 answering every request with the status held in the
/// returned cell.
async fn status_server(initial: u16) -> (String, Arc<AtomicU16>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let status = Arc::new(AtomicU16::new(initial));
    let cell = status.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let code = cell.load(Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let body = if code < 300 { "ok" } else { "unavailable" };
                let resp = format!(
                    "HTTP/1.1 {code} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}/healthz"), status)
}

/// Waits until the sandbox's Longhorn volume `name` reports `robustness` (a precondition of the
/// test, not its verdict).
async fn wait_volume_robustness(sb: &TestSandbox, name: &str, robustness: &str) {
    let what = format!("volume {name} became {robustness}");
    common::until(&what, || {
        common::store_str(
            sb,
            &LH_VOLUMES,
            Some("longhorn-system"),
            name,
            "/status/robustness",
        )
        .as_deref()
            == Some(robustness)
    })
    .await;
}

/// Waits until node `name` reports `Ready` as `ready` (the sandbox may report a faulted node
/// Ready for a moment while it boots).
async fn wait_node_ready(sb: &TestSandbox, name: &str, ready: bool) {
    let want = if ready { "True" } else { "False" };
    let what = format!("node {name} reported Ready={want}");
    common::until(&what, || {
        let n = sb.sandbox.store().get(&NODES, None, name);
        let status = n
            .as_ref()
            .and_then(|n| n.pointer("/status/conditions"))
            .and_then(|c| c.as_array())
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
            .and_then(|c| c["status"].as_str());
        status == Some(want)
    })
    .await;
}

fn check_found(record: &RunRecord, step_name: &str, check: &str) -> String {
    let s = step(record, step_name);
    let c = s
        .checks
        .iter()
        .find(|c| c.name == check)
        .unwrap_or_else(|| panic!("no check {check} in {s:#?}"));
    format!("{} {}", c.passed, c.found.clone().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn healthy_sandbox_passes_every_check() {
    let sb = TestSandbox::start().await;
    wait_volume_robustness(&sb, "dr-exercise-data", "healthy").await;
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill(&sb, common::scenario("health"), out.path()).await;
    assert_eq!(record.outcome, Outcome::Passed, "{:#?}", record.steps);
    assert_eq!(check_found(&record, "health", "api-readyz"), "true ok");
    assert!(check_found(&record, "health", "nodes-ready").starts_with("true 3 of 3 nodes Ready"));
    assert!(check_found(&record, "health", "system-pod-coredns").starts_with("true 2 Running"));
    assert!(check_found(&record, "health", "longhorn-volumes-healthy").starts_with("true"));
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_not_ready_fails_naming_the_node() {
    let sb = TestSandbox::start().await;
    sb.sandbox.faults().set(Fault::NodeNotReady {
        node: "node-2".into(),
    });
    // Once its peers have booted, the faulted node has too, and stays NotReady.
    wait_node_ready(&sb, "node-1", true).await;
    wait_node_ready(&sb, "node-3", true).await;
    wait_node_ready(&sb, "node-2", false).await;
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill(&sb, health_scenario(), out.path()).await;
    assert_eq!(record.outcome, Outcome::Failed, "{:#?}", record.steps);
    assert_failed_at(&record, "health", "2 of 3 nodes Ready; NotReady: node-2");
    // Only the node is named as a problem: the rest of the cluster is fine.
    let msg = step(&record, "health").message.clone().unwrap_or_default();
    assert!(!msg.contains("longhorn-volumes-healthy"), "{msg}");
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn degraded_volume_fails_naming_the_volume() {
    let sb = TestSandbox::start().await;
    sb.sandbox.faults().set(Fault::VolumeDegraded {
        volume: "dr-exercise-data".into(),
    });
    wait_volume_robustness(&sb, "dr-exercise-data", "degraded").await;
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill(&sb, health_scenario(), out.path()).await;
    assert_failed_at(
        &record,
        "health",
        "not healthy: dr-exercise-data (degraded)",
    );
    assert!(check_found(&record, "health", "nodes-ready").starts_with("true"));
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_url_down_fails_naming_the_url_and_its_status() {
    let sb = TestSandbox::start().await;
    wait_volume_robustness(&sb, "dr-exercise-data", "healthy").await;
    let (up, _) = status_server(200).await;
    let (down, _) = status_server(503).await;
    // A port nobody listens on: bind, note the port, close.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}/", l.local_addr().expect("addr"))
    };
    let mut profile = sb.profile();
    profile.expect.health_urls = vec![up.clone(), down.clone(), closed.clone()];
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill_with(
        &sb,
        profile,
        health_scenario(),
        out.path(),
        false,
        CancellationToken::new(),
    )
    .await;
    assert_failed_at(
        &record,
        "health",
        &format!("health-url {down}: expected {down} answers 2xx/3xx within 10s, found HTTP 503"),
    );
    let msg = step(&record, "health").message.clone().unwrap_or_default();
    assert!(msg.contains(&format!("health-url {closed}")), "{msg}");
    assert!(
        !msg.contains(&format!("health-url {up}")),
        "the healthy URL is not a problem: {msg}"
    );
    assert_eq!(
        check_found(&record, "health", &format!("health-url {up}")),
        "true HTTP 200"
    );
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_recovering_url_passes_within_the_wait() {
    let sb = TestSandbox::start().await;
    let (url, status) = status_server(503).await;
    let mut profile = sb.profile();
    profile.expect.health_urls = vec![url.clone()];
    // The service comes back while the step is still waiting for the cluster to settle.
    let flip = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        status.store(204, Ordering::SeqCst);
    });
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill_with(
        &sb,
        profile,
        health_scenario(),
        out.path(),
        false,
        CancellationToken::new(),
    )
    .await;
    flip.await.expect("flip task");
    assert_eq!(record.outcome, Outcome::Passed, "{:#?}", record.steps);
    assert_eq!(
        check_found(&record, "health", &format!("health-url {url}")),
        "true HTTP 204"
    );
    sb.sandbox.shutdown().await;
}
