//! The `recovery-order` scenario and the `gates` step against the sandbox. The shipped scenario
//! passes with one phase per gate in order. A Vault-like recovery is played out with the
//! sandbox's own sentinel volume (gate 1), a local HTTP server standing in for Vault's
//! `/v1/sys/health` (gate 2, 503 while sealed), a command gate for "secrets synced" (gate 3)
//! and an app Deployment the test creates (gate 4): in order it passes; the app up before Vault
//! is an order violation naming both gates; Vault never unsealed times out naming its gate.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{assert_failed_at, drill, TestSandbox};
use dr_harness::config::Scenario;
use dr_harness::engine::record::{Outcome, RunRecord};
use dr_sandbox::api::resources::{DEPLOYMENTS, LH_VOLUMES};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A stand-in for Vault's health endpoint: 503 `{"sealed":true}` until unsealed, then 200.
async fn vault() -> (String, Arc<AtomicBool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let unsealed = Arc::new(AtomicBool::new(false));
    let flag = unsealed.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let open = flag.load(Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let (code, body) = if open {
                    (200, r#"{"initialized":true,"sealed":false}"#)
                } else {
                    (503, r#"{"initialized":true,"sealed":true}"#)
                };
                let resp = format!("HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}/v1/sys/health"), unsealed)
}

/// The four-gate Vault-like recovery; `vault_timeout` bounds gate 2.
fn vault_scenario(vault_url: &str, marker: &Path, vault_timeout: &str) -> Scenario {
    let text = format!(
        r#"name = "recovery-order-vault"

[[steps]]
kind = "gates"
poll_interval = "100ms"

[[steps.gates]]
name = "volume-healthy"
kind = "condition"
object = {{ apiVersion = "longhorn.io/v1beta2", kind = "Volume", namespace = "longhorn-system", name = "dr-exercise-data" }}
field = "status.robustness"
equals = "healthy"
timeout = "1m"

[[steps.gates]]
name = "vault-unsealed"
kind = "http"
url = "{vault_url}"
expect_status = 200
expect_body_contains = "\"sealed\":false"
timeout = "{vault_timeout}"

[[steps.gates]]
name = "secrets-synced"
kind = "command"
argv = ["test", "-e", "{marker}"]
timeout = "1m"

[[steps.gates]]
name = "app-scaled-up"
kind = "condition"
object = {{ apiVersion = "apps/v1", kind = "Deployment", namespace = "dr-exercise", name = "app" }}
type = "Available"
timeout = "1m"
"#,
        marker = marker.display()
    );
    Scenario::from_str(&text, "recovery-order-vault.toml").expect("scenario loads")
}

fn volume_healthy(sb: &TestSandbox) -> bool {
    sb.sandbox
        .store()
        .get(&LH_VOLUMES, Some("longhorn-system"), "dr-exercise-data")
        .and_then(|v| {
            v.pointer("/status/robustness")
                .and_then(|r| r.as_str())
                .map(|r| r == "healthy")
        })
        .unwrap_or(false)
}

fn app_available(sb: &TestSandbox) -> bool {
    sb.sandbox
        .store()
        .get(&DEPLOYMENTS, Some("dr-exercise"), "app")
        .and_then(|d| d.pointer("/status/conditions").cloned())
        .and_then(|c| c.as_array().cloned())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Available" && c["status"] == "True")
        })
}

/// The application, scaled up: a Deployment in the sentinel's namespace.
fn create_app(sb: &TestSandbox) {
    sb.sandbox
        .store()
        .create(
            &DEPLOYMENTS,
            Some("dr-exercise"),
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "app", "namespace": "dr-exercise"},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": "app"}},
                    "template": {
                        "metadata": {"labels": {"app": "app"}},
                        "spec": {"containers": [{"name": "app", "image": "busybox:1.36",
                                                  "command": ["sh", "-c", "while true; do sleep 3600; done"]}]},
                    },
                },
            }),
        )
        .expect("app deployment created");
}

fn phase(record: &RunRecord, name: &str) -> f64 {
    record
        .phases
        .iter()
        .find(|p| p.phase == name)
        .unwrap_or_else(|| panic!("no phase {name} in {:?}", record.phases))
        .seconds
}

fn marker_path(dir: &Path) -> PathBuf {
    dir.join("secrets-synced")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shipped_recovery_order_passes_with_a_phase_per_gate() {
    let sb = TestSandbox::start().await;
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill(&sb, common::scenario("recovery-order"), out.path()).await;
    assert_eq!(record.outcome, Outcome::Passed, "{:#?}", record.steps);
    let order = [
        "backup-target-available",
        "restore-orchestrator-done",
        "sentinel-volume-healthy",
        "sentinel-app-available",
    ];
    let times: Vec<f64> = order
        .iter()
        .map(|g| phase(&record, &format!("gate-{g}")))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "gates opened out of order: {times:?}"
    );
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn vault_recovery_in_order_passes_and_times_each_gate() {
    let sb = TestSandbox::start().await;
    let (url, unsealed) = vault().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = marker_path(dir.path());
    let scenario = vault_scenario(&url, &marker, "1m");
    let out = tempfile::tempdir().expect("tempdir");
    let (record, ()) = tokio::join!(drill(&sb, scenario, out.path()), async {
        // The recovery, in order: storage, then Vault, then the secrets, then the app.
        common::until("sentinel volume healthy", || volume_healthy(&sb)).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        unsealed.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        std::fs::write(&marker, b"synced").expect("marker");
        tokio::time::sleep(Duration::from_millis(300)).await;
        create_app(&sb);
    });
    assert_eq!(record.outcome, Outcome::Passed, "{:#?}", record.steps);
    let t: Vec<f64> = [
        "volume-healthy",
        "vault-unsealed",
        "secrets-synced",
        "app-scaled-up",
    ]
    .iter()
    .map(|g| phase(&record, &format!("gate-{g}")))
    .collect();
    assert!(
        t.windows(2).all(|w| w[0] < w[1]),
        "each gate after the one before: {t:?}"
    );
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn app_up_before_vault_is_an_order_violation_naming_both_gates() {
    let sb = TestSandbox::start().await;
    let (url, _sealed_forever) = vault().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = marker_path(dir.path());
    std::fs::write(&marker, b"synced").expect("marker");
    // Storage is up and the app was scaled up, but Vault is still sealed.
    common::until("sentinel volume healthy", || volume_healthy(&sb)).await;
    create_app(&sb);
    common::until("app available", || app_available(&sb)).await;
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill(&sb, vault_scenario(&url, &marker, "1m"), out.path()).await;
    assert_failed_at(
        &record,
        "gates",
        "order violation: gate `secrets-synced` (#3)",
    );
    let msg = record
        .failing_step()
        .and_then(|s| s.message.clone())
        .unwrap_or_default();
    assert!(
        msg.contains("the earlier gate `vault-unsealed` (#2) is not ready"),
        "{msg}"
    );
    assert!(
        msg.contains("HTTP 503"),
        "what the earlier gate showed: {msg}"
    );
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn app_started_before_its_secrets_is_an_order_violation() {
    let sb = TestSandbox::start().await;
    let (url, unsealed) = vault().await;
    unsealed.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = marker_path(dir.path());
    common::until("sentinel volume healthy", || volume_healthy(&sb)).await;
    create_app(&sb);
    common::until("app available", || app_available(&sb)).await;
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill(&sb, vault_scenario(&url, &marker, "1m"), out.path()).await;
    assert_failed_at(
        &record,
        "gates",
        "order violation: gate `app-scaled-up` (#4)",
    );
    let msg = record
        .failing_step()
        .and_then(|s| s.message.clone())
        .unwrap_or_default();
    assert!(
        msg.contains("the earlier gate `secrets-synced` (#3) is not ready"),
        "{msg}"
    );
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn vault_never_unsealed_times_out_naming_the_gate() {
    let sb = TestSandbox::start().await;
    let (url, _sealed_forever) = vault().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill(
        &sb,
        vault_scenario(&url, &marker_path(dir.path()), "2s"),
        out.path(),
    )
    .await;
    assert_failed_at(
        &record,
        "gates",
        "gate `vault-unsealed` (#2) was not ready within 2s",
    );
    let msg = record
        .failing_step()
        .and_then(|s| s.message.clone())
        .unwrap_or_default();
    assert!(
        msg.contains("answered HTTP 503 without"),
        "last seen state: {msg}"
    );
    assert!(msg.contains("gates ready: volume-healthy at"), "{msg}");
    // The gate that did open is timed.
    assert!(phase(&record, "gate-volume-healthy") >= 0.0);
    assert!(!record
        .phases
        .iter()
        .any(|p| p.phase == "gate-vault-unsealed"));
    sb.sandbox.shutdown().await;
}

#[test]
fn gate_tables_are_checked_when_loading() {
    let base = "name = \"x\"\n[[steps]]\nkind = \"gates\"\n[[steps.gates]]\nname = \"g\"\n";
    let err = Scenario::from_str(&format!("{base}kind = \"tcp\"\n"), "x.toml")
        .expect_err("unknown kind")
        .to_string();
    assert!(err.contains("unknown gate kind `tcp`"), "{err}");
    let err = Scenario::from_str(&format!("{base}kind = \"http\"\n"), "x.toml")
        .expect_err("no url")
        .to_string();
    assert!(err.contains("missing key `url` in http gate `g`"), "{err}");
    let err = Scenario::from_str(
        &format!("{base}kind = \"http\"\nurl = \"http://x/\"\nargv = [\"true\"]\n"),
        "x.toml",
    )
    .expect_err("stray key")
    .to_string();
    assert!(
        err.contains("key `argv` does not apply to gate `g`"),
        "{err}"
    );
    let err = Scenario::from_str(
        &format!("{base}kind = \"condition\"\nobject = {{ apiVersion = \"v1\", kind = \"Node\", name = \"n\" }}\n"),
        "x.toml",
    )
    .expect_err("no type or field")
    .to_string();
    assert!(err.contains("needs either `type`"), "{err}");
    assert!(Scenario::from_str(
        &format!("{base}kind = \"command\"\nargv = [\"true\"]\ntimeout = \"5s\"\n"),
        "x.toml"
    )
    .is_ok());
}
