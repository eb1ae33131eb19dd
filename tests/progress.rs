//! Live wait progress: the contract's events as the hook runner emits them, and how the console
//! layer renders them when stderr is not a terminal (quiet: at most one line per wait every
//! 30 s of the wait, a closing line only for waits it spoke about).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dr_harness::config::HookSpec;
use dr_harness::hooks::{run_hook, HookAction, HookPlan};
use dr_harness::redact::Redactor;
use dr_harness::report::progress::{
    parse_event, waited, waiting, ProgressLayer, ProgressUpdate, PLAIN_INTERVAL, TARGET,
};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// A writer the test can read back.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// Collects every progress event, parsed.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<ProgressUpdate>>>);

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if let Some(u) = parse_event(event) {
            self.0.lock().unwrap().push(u);
        }
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[test]
fn without_a_terminal_short_waits_are_silent_and_long_ones_speak_every_30s() {
    assert_eq!(PLAIN_INTERVAL, Duration::from_secs(30));
    let buf = Buf::default();
    let subscriber = tracing_subscriber::registry()
        .with(ProgressLayer::plain(Box::new(buf.clone()), PLAIN_INTERVAL));
    tracing::subscriber::with_default(subscriber, || {
        let t = Some(Duration::from_secs(900));
        // A short wait: never printed, not even its end.
        for e in [0.0, 5.0] {
            waiting("health", "api ready", secs(e), t, "connecting");
        }
        waited("health", "api ready", secs(8.0), t, "ready");
        // A long wait reporting every 10 s, with two state changes.
        for i in 0..=7 {
            let state = if i < 4 { "pending" } else { "restoring" };
            waiting(
                "restore",
                "volume pvc-1 restore",
                secs(10.0 * i as f64),
                t,
                state,
            );
        }
        waited("restore", "volume pvc-1 restore", secs(75.0), t, "restored");
        // Another event of another target is not progress.
        tracing::info!(target: "dr_harness::drill", step = "x", gate = "y", "waiting");
    });
    let lines = buf.lines();
    assert_eq!(
        lines,
        vec![
            "… [restore] waiting for volume pvc-1 restore: 30.0s of 15m 0s (3%), state: pending",
            "… [restore] waiting for volume pvc-1 restore: 1m 0s of 15m 0s (7%), state: restoring",
            "… [restore] volume pvc-1 restore: done after 1m 15s, state: restored",
        ],
        "{lines:#?}"
    );
}

#[test]
fn events_carry_the_contract_fields() {
    let cap = Capture::default();
    let subscriber = tracing_subscriber::registry().with(cap.clone());
    tracing::subscriber::with_default(subscriber, || {
        waiting("rebuild", "nodes ready", secs(12.5), None, "1/3 Ready");
        // Emitted by hand as another helper's wait might: `%` fields, integer elapsed.
        tracing::info!(target: TARGET, step = %"s", gate = %"g", elapsed_s = 3u64, timeout_s = 60.0, state = %"x", "waited");
    });
    let got = cap.0.lock().unwrap().clone();
    assert_eq!(
        got,
        vec![
            ProgressUpdate {
                finished: false,
                step: "rebuild".into(),
                gate: "nodes ready".into(),
                elapsed_s: 12.5,
                timeout_s: 0.0,
                state: "1/3 Ready".into(),
            },
            ProgressUpdate {
                finished: true,
                step: "s".into(),
                gate: "g".into(),
                elapsed_s: 3.0,
                timeout_s: 60.0,
                state: "x".into(),
            },
        ]
    );
}

fn sh_plan(script: &str) -> HookPlan {
    let spec = HookSpec::command(vec!["sh".into(), "-c".into(), script.into()]);
    let mut plan = HookPlan::from_spec(&spec, HookAction::Destroy, std::path::Path::new("/tmp"));
    plan.timeout = Duration::from_secs(30);
    plan
}

#[tokio::test]
async fn a_running_hook_reports_start_output_and_end() {
    let cap = Capture::default();
    let subscriber = tracing_subscriber::registry().with(cap.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    let outcome = run_hook(
        &sh_plan("echo one; echo two; exit 3"),
        &Redactor::new(),
        CancellationToken::new(),
        |_, _| {},
    )
    .await
    .expect("hook ran");
    assert_eq!(outcome.exit_code, Some(3));
    let got = cap.0.lock().unwrap().clone();
    let gate = "destroy hook (sh)";
    assert!(got.iter().all(|u| u.gate == gate), "{got:#?}");
    let first = got.first().expect("an event");
    assert!(!first.finished && first.state == "started", "{first:?}");
    assert_eq!(first.timeout_s, 30.0);
    assert!(
        got.iter()
            .any(|u| !u.finished && u.state.starts_with("running")),
        "{got:#?}"
    );
    let last = got.last().unwrap();
    assert!(last.finished, "the wait is closed: {last:?}");
    assert_eq!(last.state, "exited 3");
    assert!(last.elapsed_s >= 0.0 && last.elapsed_s < 30.0);
    assert_eq!(got.iter().filter(|u| u.finished).count(), 1);
}

#[tokio::test]
async fn a_timed_out_hook_says_so_before_it_ends() {
    let cap = Capture::default();
    let subscriber = tracing_subscriber::registry().with(cap.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut plan = sh_plan("sleep 30");
    plan.timeout = Duration::from_millis(300);
    plan.grace = Duration::from_millis(300);
    let outcome = run_hook(&plan, &Redactor::new(), CancellationToken::new(), |_, _| {})
        .await
        .expect("hook ran");
    assert!(outcome.timed_out);
    let got = cap.0.lock().unwrap().clone();
    assert!(
        got.iter()
            .any(|u| !u.finished && u.state == "timed out, SIGTERM sent"),
        "{got:#?}"
    );
    assert_eq!(got.last().map(|u| u.state.as_str()), Some("timed out"));
}

/// The binary end to end, stderr not a terminal: a full drill on the sandbox (hooks included)
/// prints no progress event as a log line even at `info` — the events are drawn by their own
/// layer, which stays quiet for waits shorter than 30 s — and leaves report.html beside
/// junit.xml with the verdict and the RTO window.
#[test]
fn a_drill_without_a_terminal_keeps_progress_out_of_the_log_and_writes_report_html() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dr-harness"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DR_HARNESS_LOG", "info,kube_runtime=off")
        .args(["run", "full-rebuild", "--allow-destroy", "--out"])
        .arg(out_dir.path())
        .output()
        .expect("run dr-harness");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("destroy hook:"),
        "the drill ran its hooks: {stderr}"
    );
    // The hooks' own output (the sandbox's destroy and rebuild print JSON) is shown line by
    // line after the step's name, without a timestamp and a level in front of each line.
    // Its command line (a progress line of the step, shown as it is said) comes first.
    for step in ["destroy", "rebuild"] {
        let lines: Vec<&str> = stderr.lines().collect();
        let output = lines.iter().position(|l| *l == format!("[{step}] {{"));
        let command = lines
            .iter()
            .position(|l| l.contains(&format!("{step} hook: ")));
        assert!(
            matches!((command, output), (Some(c), Some(o)) if c < o),
            "{step} hook: command line {command:?}, output {output:?}: {stderr}"
        );
    }
    assert!(!stderr.contains("INFO [destroy]"), "{stderr}");
    for l in stderr.lines() {
        assert!(
            !(l.contains("gate=") || l.contains(" waiting ") || l.contains("waited")),
            "a progress event was logged: {l}"
        );
    }
    let latest = out_dir.path().join("latest");
    assert!(latest.join("junit.xml").is_file());
    let html = std::fs::read_to_string(latest.join("report.html")).expect("report.html");
    assert!(html.contains(r#"data-verdict="PASSED""#));
    assert!(
        html.contains(r#"id="rto-window""#),
        "a real drill's RTO window is drawn"
    );
    assert!(html.contains("newest surviving tick"), "and its RPO ticks");
}
