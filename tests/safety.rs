//! The promises of issue #6, each proven against the sandbox: secrets never leave, a swapped
//! kubeconfig is never destroyed, one drill per cluster, transient faults are ridden out and
//! counted, and bad input exits 2/3 without a single mutating request.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{all_files, drill_with, harness_bin, scenario, write_profile, TestSandbox};
use dr_harness::config::Profile;
use dr_harness::engine::events::{DrillEvent, EventKind, EventSink};
use dr_harness::engine::record::Outcome;
use dr_harness::redact::Redactor;
use dr_harness::target::lock::DrillLock;
use dr_harness::target::BackupTarget;
use dr_sandbox::faults::Fault;
use tokio_util::sync::CancellationToken;

fn kubeconfig_token(sb: &TestSandbox) -> String {
    let text = std::fs::read_to_string(sb.dir.path().join("kubeconfig")).unwrap();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("token:"))
        .map(|t| t.trim().to_string())
        .expect("token in kubeconfig")
}

fn run_cli(args: &[&str], env: &[(&str, String)], cwd: &Path) -> std::process::Output {
    let mut cmd = Command::new(harness_bin());
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("dr-harness runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_secret_reaches_any_output() {
    let sb = TestSandbox::start().await;
    let work = tempfile::tempdir().unwrap();
    let hook_secret = "hunter2-hook-token-0xC0FFEE";
    let profile = write_profile(&sb, work.path(), &[("HOOK_TOKEN", hook_secret)]);
    let keys = sb.keys();
    let out = work.path().join("reports");
    let res = run_cli(
        &[
            "run",
            "full-rebuild",
            "--allow-destroy",
            "--profile",
            profile.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-v",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", keys.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", keys.secret_key.clone()),
        ],
        work.path(),
    );
    let stdout = String::from_utf8_lossy(&res.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&res.stderr).into_owned();
    assert_eq!(res.status.code(), Some(0), "{stderr}");
    // The hook did print its token: the redaction had something to do.
    assert!(
        stderr.contains("HOOK_TOKEN=***"),
        "hook output should appear redacted: {stderr}"
    );

    let secrets = [
        hook_secret.to_string(),
        keys.secret_key.clone(),
        kubeconfig_token(&sb),
    ];
    let mut texts = vec![
        ("stdout".to_string(), stdout),
        ("stderr".to_string(), stderr),
    ];
    let mut files = Vec::new();
    all_files(&out, &mut files);
    assert!(
        files.iter().any(|f| f.ends_with("junit.xml"))
            && files.iter().any(|f| f.ends_with("run.json"))
    );
    for f in files {
        texts.push((
            f.display().to_string(),
            String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned(),
        ));
    }
    // And the copies kept beside the backups.
    let objects = sb.run_state_texts().await;
    assert!(!objects.is_empty(), "run state kept in S3");
    texts.extend(objects);
    for (origin, text) in &texts {
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "a secret leaked into {origin}");
        }
    }
    sb.sandbox.shutdown().await;
}

/// Swaps the kubeconfig file for another cluster's once `after` has finished.
struct SwapKubeconfig<'a> {
    after: &'a str,
    from: std::path::PathBuf,
    to: std::path::PathBuf,
}

impl EventSink for SwapKubeconfig<'_> {
    fn on_event(&mut self, event: &DrillEvent) {
        if let EventKind::StepFinished { record } = &event.kind {
            if record.name == self.after {
                std::fs::copy(&self.from, &self.to).expect("kubeconfig swapped");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kubeconfig_swapped_after_preflight_is_never_destroyed() {
    let target = TestSandbox::start().await;
    let other = TestSandbox::start().await;
    let work = tempfile::tempdir().unwrap();
    // The profile reads a kubeconfig file the test controls.
    let kubeconfig = work.path().join("kubeconfig");
    std::fs::copy(target.dir.path().join("kubeconfig"), &kubeconfig).unwrap();
    let mut profile: Profile = target.profile();
    profile.kubeconfig.path = Some(kubeconfig.clone());
    let req = dr_harness::drill::DrillRequest {
        profile,
        scenario: scenario("full-rebuild"),
        allow_destroy: true,
        out_dir: work.path().join("reports"),
        s3_keys: Some(target.keys()),
        resume: None,
        redactor: Redactor::new(),
        cancel: CancellationToken::new(),
    };
    let mut swap = SwapKubeconfig {
        after: "backup",
        from: other.dir.path().join("kubeconfig"),
        to: kubeconfig,
    };
    let record = dr_harness::drill::run_drill(req, &mut swap).await;
    common::assert_failed_at(&record, "destroy", "points at a different cluster");
    assert!(
        other.sandbox.is_up().await,
        "the other cluster must not have been destroyed"
    );
    assert!(
        target.sandbox.is_up().await,
        "nor the original (the hook never ran)"
    );
    target.sandbox.shutdown().await;
    other.sandbox.shutdown().await;
}

async fn backup_target(sb: &TestSandbox) -> BackupTarget {
    let cfg = sb.profile().backup_target.resolve().unwrap();
    BackupTarget::connect(&cfg, Some(sb.keys()), &Redactor::new())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_drill_on_a_locked_cluster_is_refused_and_a_stale_lock_taken_over() {
    let sb = TestSandbox::start().await;
    let out = tempfile::tempdir().unwrap();
    let bt = backup_target(&sb).await;
    let other = DrillLock::acquire(
        &bt,
        "sandbox",
        "other-run-1234",
        "full-rebuild",
        Duration::from_secs(600),
    )
    .await
    .unwrap();
    let refused = drill_with(
        &sb,
        sb.profile(),
        scenario("full-rebuild"),
        out.path(),
        true,
        CancellationToken::new(),
    )
    .await;
    common::assert_failed_at(&refused, "preflight", "other-run-1234");
    other.release().await;

    // A lock whose owner died long ago (expired) is taken over. Written as a dead owner leaves
    // it: a forgotten DrillLock would keep its renewal task alive and re-create the lock
    // under the taker's feet (every ttl/3), which made this test lose the race at random.
    let dead = dr_harness::target::lock::LockInfo {
        run_id: "dead-run-5678".into(),
        owner: "a runner that died".into(),
        scenario: "full-rebuild".into(),
        acquired_at: chrono::Utc::now() - chrono::Duration::hours(2),
        expires_at: chrono::Utc::now() - chrono::Duration::hours(1),
    };
    bt.backupstore()
        .put_object(
            &dr_harness::target::lock::lock_key(&bt, "sandbox"),
            serde_json::to_vec(&dead).unwrap(),
        )
        .await
        .unwrap();
    let record = drill_with(
        &sb,
        sb.profile(),
        scenario("full-rebuild"),
        out.path(),
        true,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(
        record.outcome,
        Outcome::Passed,
        "{:#?}",
        record.failing_step()
    );
    sb.sandbox.shutdown().await;
}

/// Injects a fault when `at` starts.
struct InjectAt<'a> {
    at: &'a str,
    faults: &'a dr_sandbox::faults::Faults,
    fault: Option<Fault>,
}

impl EventSink for InjectAt<'_> {
    fn on_event(&mut self, event: &DrillEvent) {
        if let EventKind::StepStarted { step, .. } = &event.kind {
            if step == self.at {
                if let Some(f) = self.fault.take() {
                    self.faults.set(f);
                }
            }
        }
    }
}

async fn drill_through(at: &str, fault: Fault) -> dr_harness::engine::record::RunRecord {
    let sb = TestSandbox::start().await;
    let out = tempfile::tempdir().unwrap();
    let req = dr_harness::drill::DrillRequest {
        profile: sb.profile(),
        scenario: scenario("full-rebuild"),
        allow_destroy: true,
        out_dir: out.path().to_path_buf(),
        s3_keys: Some(sb.keys()),
        resume: None,
        redactor: Redactor::new(),
        cancel: CancellationToken::new(),
    };
    let mut inject = InjectAt {
        at,
        faults: sb.sandbox.faults(),
        fault: Some(fault),
    };
    let record = dr_harness::drill::run_drill(req, &mut inject).await;
    sb.sandbox.shutdown().await;
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_drill_rides_through_a_short_api_outage_and_counts_the_retries() {
    let record = drill_through("backup", Fault::ApiUnavailable { seconds: 3 }).await;
    assert_eq!(
        record.outcome,
        Outcome::Passed,
        "{:#?}",
        record.failing_step()
    );
    let retries: u64 = record.retries.values().sum();
    assert!(retries > 0, "retries are counted: {:?}", record.retries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_drill_rides_through_dropped_watches() {
    let record = drill_through("wait-ready", Fault::WatchesDropped { seconds: 3 }).await;
    assert_eq!(
        record.outcome,
        Outcome::Passed,
        "{:#?}",
        record.failing_step()
    );
    assert!(
        record.retries.get("watch-restart").copied().unwrap_or(0) > 0,
        "{:?}",
        record.retries
    );
}

/// Runs the CLI with bad input against a live sandbox and returns (exit code, stderr, mutating
/// requests the sandbox saw meanwhile).
async fn bad_input(
    sb: &TestSandbox,
    args: &[&str],
    env: &[(&str, String)],
) -> (Option<i32>, String, Vec<String>) {
    let before = sb.sandbox.api_request_log().await.len();
    let work = tempfile::tempdir().unwrap();
    let res = run_cli(args, env, work.path());
    let log = sb.sandbox.api_request_log().await;
    let mutating = log[before.min(log.len())..]
        .iter()
        .filter(|r| r.is_mutating())
        .map(|r| format!("{} {}", r.method, r.path_and_query))
        .collect();
    (
        res.status.code(),
        String::from_utf8_lossy(&res.stderr).into_owned(),
        mutating,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_exits_2_or_3_without_a_mutating_request() {
    let sb = TestSandbox::start().await;
    let work = tempfile::tempdir().unwrap();
    let good_path = write_profile(&sb, work.path(), &[]);
    let good = good_path.display().to_string();
    let keys = sb.keys();
    let env = vec![
        ("AWS_ACCESS_KEY_ID", keys.access_key.clone()),
        ("AWS_SECRET_ACCESS_KEY", keys.secret_key.clone()),
    ];
    let text = std::fs::read_to_string(&good_path).unwrap();
    let variant = |name: &str, from: &str, to: &str| {
        let p = work.path().join(name);
        assert!(text.contains(from), "{from}");
        std::fs::write(&p, text.replace(from, to)).unwrap();
        p.display().to_string()
    };

    // Malformed / unknown key / wrong type / bad duration in the profile.
    let unknown_key = variant(
        "unknown.toml",
        "allow_destroy = true",
        "alow_destroy = true",
    );
    let wrong_type = variant("type.toml", "nodes = 3", "nodes = \"three\"");
    let bad_duration = variant(
        "duration.toml",
        "timeout = \"5m\"",
        "timeout = \"5 minutes\"",
    );
    for p in [&unknown_key, &wrong_type, &bad_duration] {
        let (code, err, mutating) = bad_input(
            &sb,
            &["run", "full-rebuild", "--allow-destroy", "--profile", p],
            &env,
        )
        .await;
        assert_eq!(code, Some(2), "{p}: {err}");
        assert!(
            err.contains(p.as_str()) && err.contains(':'),
            "names the file: {err}"
        );
        assert!(mutating.is_empty(), "{p}: {mutating:?}");
    }
    // Unknown step kind in a scenario.
    let bad_scenario = work.path().join("bad-scenario.toml");
    std::fs::write(
        &bad_scenario,
        "name = \"x\"\n[[steps]]\nkind = \"preflight\"\n[[steps]]\nkind = \"destory\"\n",
    )
    .unwrap();
    let (code, err, mutating) = bad_input(
        &sb,
        &["run", bad_scenario.to_str().unwrap(), "--profile", &good],
        &env,
    )
    .await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("bad-scenario.toml:5:"), "{err}");
    assert!(mutating.is_empty());

    // Missing hook binary.
    let no_tool = variant(
        "no-tool.toml",
        "argv = [\"sh\"",
        "argv = [\"/nonexistent/terragrunt\"",
    );
    let (code, err, mutating) = bad_input(
        &sb,
        &[
            "run",
            "full-rebuild",
            "--allow-destroy",
            "--profile",
            &no_tool,
        ],
        &env,
    )
    .await;
    // A tool missing on this machine is a setup error the user fixes: exit 2.
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("/nonexistent/terragrunt"), "{err}");
    assert!(mutating.is_empty(), "{mutating:?}");

    // Wrong S3 credentials.
    let wrong = vec![
        ("AWS_ACCESS_KEY_ID", keys.access_key.clone()),
        (
            "AWS_SECRET_ACCESS_KEY",
            "wrong-secret-key-000000".to_string(),
        ),
    ];
    let (code, err, mutating) = bad_input(
        &sb,
        &["run", "full-rebuild", "--allow-destroy", "--profile", &good],
        &wrong,
    )
    .await;
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("HeadBucket"), "{err}");
    assert!(mutating.is_empty(), "{mutating:?}");

    // Unreachable API.
    let dead_kubeconfig = work.path().join("dead-kubeconfig");
    std::fs::write(
        &dead_kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:9\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n- name: u\n  user: {token: abc}\n",
    )
    .unwrap();
    let state_kubeconfig = format!("{}/kubeconfig", sb.dir.path().display());
    let unreachable = variant(
        "unreachable.toml",
        &state_kubeconfig,
        dead_kubeconfig.to_str().unwrap(),
    );
    let (code, err, _) = bad_input(
        &sb,
        &[
            "run",
            "full-rebuild",
            "--allow-destroy",
            "--profile",
            &unreachable,
        ],
        &env,
    )
    .await;
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("127.0.0.1:9"), "names the endpoint: {err}");
    assert!(err.contains("does not answer"), "{err}");
    // One clear message, not an ERROR line from the client library per retried request.
    assert!(!err.contains("ERROR"), "{err}");
    // The backoff's 25 s are not silent: each retry says what failed and when the next try is.
    assert!(
        err.contains("Kubernetes API request failed (api-connect")
            && err.contains("retry 1 of 8 in ")
            && err.contains("retry 8 of 8 in "),
        "{err}"
    );

    // A cluster without Longhorn.
    let store = sb.sandbox.store();
    store
        .delete(
            &dr_sandbox::api::resources::LH_BACKUPTARGETS,
            Some("longhorn-system"),
            "default",
        )
        .unwrap();
    let (code, err, mutating) = bad_input(
        &sb,
        &["run", "full-rebuild", "--allow-destroy", "--profile", &good],
        &env,
    )
    .await;
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("BackupTarget"), "{err}");
    assert!(mutating.is_empty(), "{mutating:?}");
    sb.sandbox.shutdown().await;
}

/// Throttles S3 when step `at` starts: the next `requests` requests get 503 `SlowDown`.
/// A count, not a time window: the SDK's backoff has full jitter, so a time-based outage can
/// outlast every attempt by chance; fewer throttled requests than the retry budget (6 attempts)
/// must always be ridden through.
struct S3OutageAt<'a> {
    at: &'a str,
    s3: &'a dr_sandbox::s3::S3Server,
    requests: u64,
    done: bool,
}

impl EventSink for S3OutageAt<'_> {
    fn on_event(&mut self, event: &DrillEvent) {
        if let EventKind::StepStarted { step, .. } = &event.kind {
            if step == self.at && !self.done {
                self.done = true;
                self.s3.faults().slow_down_next(self.requests);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_drill_rides_through_s3_throttling_and_counts_the_retries() {
    let sb = TestSandbox::start().await;
    let out = tempfile::tempdir().unwrap();
    let req = dr_harness::drill::DrillRequest {
        profile: sb.profile(),
        scenario: scenario("full-rebuild"),
        allow_destroy: true,
        out_dir: out.path().to_path_buf(),
        s3_keys: Some(sb.keys()),
        resume: None,
        redactor: Redactor::new(),
        cancel: CancellationToken::new(),
    };
    let mut outage = S3OutageAt {
        at: "verify-backup",
        s3: sb.sandbox.s3(),
        requests: 4,
        done: false,
    };
    let record = dr_harness::drill::run_drill(req, &mut outage).await;
    sb.sandbox.shutdown().await;
    assert_eq!(
        record.outcome,
        Outcome::Passed,
        "{:#?}",
        record.failing_step()
    );
    assert!(
        record.retries.get("s3-retry").copied().unwrap_or(0) > 0,
        "S3 retries are counted: {:?}",
        record.retries
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigint_stops_the_drill_writes_reports_and_exits_130() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("reports");
    let child = std::process::Command::new(harness_bin())
        .args([
            "run",
            "full-rebuild",
            "--allow-destroy",
            "--out",
            out.to_str().unwrap(),
        ])
        .current_dir(work.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("dr-harness starts");
    // Wait until the drill has written its sentinel (the run state says so), then interrupt.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let state = loop {
        let found = std::fs::read_dir(&out).ok().and_then(|d| {
            d.flatten().map(|e| e.path().join("run.json")).find(|p| {
                std::fs::read_to_string(p)
                    .is_ok_and(|t| t.contains("\"write-sentinel\"") && t.contains("\"passed\""))
            })
        });
        if let Some(p) = found {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the drill never got to write-sentinel"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("SIGINT sent");
    let status = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        status.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let dir = state.parent().unwrap();
    let record = dr_harness::report::runjson::read_run_json(&dir.join("run.json")).unwrap();
    assert_eq!(record.outcome, Outcome::Interrupted);
    assert!(record
        .steps
        .iter()
        .any(|s| s.status == dr_harness::engine::record::StepStatus::Interrupted));
    let junit = std::fs::read_to_string(dir.join("junit.xml")).expect("JUnit written after SIGINT");
    assert!(junit.contains("<testsuite"), "{junit}");
    assert!(dir.join("metrics.prom").is_file());
}
