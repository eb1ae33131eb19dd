//! Metrics keep their history: a real Pushgateway (Debian `prometheus-pushgateway`) holds the
//! last success of a (cluster, scenario); a failed drill pushed from an empty out folder must
//! not erase it, and an empty `--pushgateway` is a usage error.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dr_harness::engine::record::{Outcome, RunRecord};
use dr_harness::report::{push_to_gateway, render_metrics};

const LAST_SUCCESS: &str = "dr_harness_last_success_timestamp_seconds";

/// A Pushgateway on a free port, stopped on drop.
struct Gateway {
    child: Child,
    url: String,
    _data: tempfile::TempDir,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pushgateway_binary() -> Option<&'static str> {
    let bin = "prometheus-pushgateway";
    let found = Command::new(bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if found {
        return Some(bin);
    }
    let msg = "!!! prometheus-pushgateway not found (apt-get install prometheus-pushgateway): metrics history NOT tested against a real Pushgateway";
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
    eprintln!("{msg}");
    None
}

async fn start_gateway() -> Option<Gateway> {
    let bin = pushgateway_binary()?;
    dr_harness::cluster::connect::install_crypto_provider();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    // Debian's build persists to /var/lib/prometheus by default: keep every run hermetic.
    let data = tempfile::tempdir().expect("tempdir");
    let child = Command::new(bin)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!(
            "--persistence.file={}",
            data.path().join("pushgateway.data").display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pushgateway starts");
    let gw = Gateway {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _data: data,
    };
    // Wait for its readiness endpoint rather than a fixed sleep.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = reqwest::get(format!("{}/-/ready", gw.url))
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return Some(gw);
        }
        assert!(
            Instant::now() < deadline,
            "pushgateway not ready at {}",
            gw.url
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of `metric` in the gateway's group (job=dr_harness, cluster, scenario).
async fn group_value(gw: &Gateway, cluster: &str, scenario: &str, metric: &str) -> Option<f64> {
    let text = reqwest::get(format!("{}/api/v1/metrics", gw.url))
        .await
        .expect("api answers")
        .text()
        .await
        .expect("body");
    let body: serde_json::Value = serde_json::from_str(&text).expect("json");
    let want = serde_json::json!({"job": "dr_harness", "cluster": cluster, "scenario": scenario});
    body["data"]
        .as_array()?
        .iter()
        .find(|g| g["labels"] == want)?[metric]["metrics"][0]["value"]
        .as_str()?
        .parse()
        .ok()
}

/// A profile whose cluster does not answer: the drill fails at preflight, fast.
fn unreachable_profile(dir: &Path, name: &str) -> std::path::PathBuf {
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:9\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n- name: u\n  user: {token: abcdefgh}\n",
    )
    .unwrap();
    let profile = dir.join("p.toml");
    std::fs::write(
        &profile,
        format!(
            "name = \"{name}\"\n[kubeconfig]\npath = \"{}\"\n[backup_target]\nurl = \"s3://dr-backups@us-east-1/\"\nendpoint = \"http://127.0.0.1:9\"\npath_style = true\ncredentials = \"env\"\n",
            kubeconfig.display()
        ),
    )
    .unwrap();
    profile
}

fn harness(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dr-harness"));
    c.current_dir(dir)
        .env("AWS_ACCESS_KEY_ID", "test-access")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret-key");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_drill_from_an_empty_out_folder_keeps_the_last_success_in_the_gateway() {
    let Some(gw) = start_gateway().await else {
        return;
    };
    let (cluster, scenario) = ("ci-cluster", "full-rebuild");
    // A drill that passed earlier, pushed from another machine.
    let mut passed = RunRecord::new("earlier".into(), scenario, cluster, cluster);
    passed.outcome = Outcome::Passed;
    passed.finished_at = Some(chrono::Utc::now() - chrono::Duration::days(3));
    let earlier = passed.finished_at.unwrap().timestamp_millis() as f64 / 1000.0;
    push_to_gateway(
        &gw.url,
        cluster,
        scenario,
        None,
        &render_metrics(&passed, None),
        Duration::from_secs(5),
    )
    .await
    .expect("earlier push");
    assert_eq!(
        group_value(&gw, cluster, scenario, LAST_SUCCESS).await,
        Some(earlier)
    );

    // Now a fresh CI checkout: empty out folder, the cluster does not answer.
    let work = tempfile::tempdir().unwrap();
    let profile = unreachable_profile(work.path(), cluster);
    let out = work.path().join("reports");
    let res = harness(Path::new(env!("CARGO_MANIFEST_DIR")))
        .args(["run", scenario, "--profile"])
        .arg(&profile)
        .arg("--out")
        .arg(&out)
        .args(["--pushgateway", &gw.url])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(3), "{stderr}");
    assert_eq!(
        group_value(&gw, cluster, scenario, "dr_harness_success").await,
        Some(0.0),
        "the failed drill was pushed: {stderr}"
    );
    assert_eq!(
        group_value(&gw, cluster, scenario, LAST_SUCCESS).await,
        Some(earlier),
        "the failed push kept the last success: {stderr}"
    );
    // The local textfile of this scenario carries it too.
    let text = std::fs::read_to_string(
        out.join("metrics")
            .join(format!("{cluster}--{scenario}.prom")),
    )
    .expect("per-scenario textfile");
    assert!(text.contains(LAST_SUCCESS), "{text}");
}

#[test]
fn an_empty_pushgateway_is_a_usage_error() {
    let work = tempfile::tempdir().unwrap();
    for url in ["", "   ", "pushgateway:9091"] {
        let res = harness(work.path())
            .args(["run", "health", "--pushgateway", url])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&res.stderr);
        assert_eq!(res.status.code(), Some(2), "{url:?}: {stderr}");
        assert!(stderr.contains("--pushgateway"), "{stderr}");
    }
    // Nothing ran: no reports folder.
    assert!(!work.path().join("reports").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_success_is_read_from_the_run_states_in_s3() {
    use dr_harness::target::BackupTarget;
    let sb = common::TestSandbox::start().await;
    let cfg = sb.profile().backup_target.resolve().expect("target");
    let bt = BackupTarget::connect(&cfg, Some(sb.keys()), &dr_harness::redact::Redactor::new())
        .await
        .expect("connect");
    let at = |days: i64| chrono::Utc::now() - chrono::Duration::days(days);
    let state = |id: &str, scenario: &str, cluster: &str, outcome: Outcome, days: i64| {
        let mut r = RunRecord::new(id.into(), scenario, cluster, cluster);
        r.outcome = outcome;
        r.finished_at = Some(at(days));
        r
    };
    // Saved oldest first (the listing orders by modification time): the passed full-rebuild
    // of 9 days ago is the answer, not the newer failure, nor another scenario's or another
    // cluster's pass.
    let passed = state("run-a", "full-rebuild", "dev", Outcome::Passed, 9);
    for r in [
        passed.clone(),
        state("run-b", "full-rebuild", "dev", Outcome::Failed, 2),
        state("run-c", "health", "dev", Outcome::Passed, 1),
        state("run-d", "full-rebuild", "prod", Outcome::Passed, 1),
    ] {
        bt.save_run_state(&r.run_id, &r).await.expect("saved");
        // Distinct modification times (whole seconds in listings).
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let want = passed.finished_at.unwrap().timestamp_millis() as f64 / 1000.0;
    assert_eq!(
        bt.last_success("dev", "full-rebuild", 50)
            .await
            .expect("read"),
        Some(want)
    );
    assert_eq!(
        bt.last_success("dev", "backup-freshness", 50)
            .await
            .expect("read"),
        None
    );
    sb.sandbox.shutdown().await;
}
