//! Hooks as subprocesses: exit codes, streaming, stopping a process group, cancellation,
//! redaction, missing tools, and the tools' own evidence of a partial or incomplete destroy.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dr_harness::config::{HookPreset, HookSpec};
use dr_harness::hooks::{
    check_tools, parse_report, run_hook, HookAction, HookError, HookOutcome, HookPlan, Stream,
};
use dr_harness::redact::Redactor;
use tokio_util::sync::CancellationToken;

fn sh_plan(script: &str) -> HookPlan {
    let spec = HookSpec::command(vec!["sh".into(), "-c".into(), script.into()]);
    HookPlan::from_spec(&spec, HookAction::Destroy, Path::new("/tmp"))
}

async fn run(plan: &HookPlan) -> (HookOutcome, Vec<(Stream, String)>) {
    let mut lines = Vec::new();
    let outcome = run_hook(plan, &Redactor::new(), CancellationToken::new(), |s, l| {
        lines.push((s, l.to_string()))
    })
    .await
    .expect("hook runs");
    (outcome, lines)
}

/// Dead = gone, or a zombie nobody reaped yet (it runs no code any more).
fn is_dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

fn wait_dead(pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if is_dead(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p
}

fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[tokio::test]
async fn exit_codes_are_reported() {
    let (ok, _) = run(&sh_plan("exit 0")).await;
    assert_eq!(ok.exit_code, Some(0));
    assert!(ok.succeeded());
    let (bad, _) = run(&sh_plan("echo failing >&2; exit 3")).await;
    assert_eq!(bad.exit_code, Some(3));
    assert!(!bad.succeeded());
    assert_eq!(
        bad.failure_summary().as_deref(),
        Some("hook exited with code 3")
    );
    assert_eq!(bad.tail, ["stderr: failing"]);
}

#[tokio::test]
async fn lines_stream_in_order_per_stream() {
    let (outcome, lines) = run(&sh_plan(
        "for i in 1 2 3 4 5; do echo out$i; done; echo warn >&2; printf 'no-newline'",
    ))
    .await;
    let out: Vec<&str> = lines
        .iter()
        .filter(|(s, _)| *s == Stream::Stdout)
        .map(|(_, l)| l.as_str())
        .collect();
    assert_eq!(out, ["out1", "out2", "out3", "out4", "out5", "no-newline"]);
    let err: Vec<&str> = lines
        .iter()
        .filter(|(s, _)| *s == Stream::Stderr)
        .map(|(_, l)| l.as_str())
        .collect();
    assert_eq!(err, ["warn"]);
    assert_eq!(outcome.tail.len(), 7);
    assert!(outcome.tail.contains(&"stderr: warn".to_string()));
}

#[tokio::test]
async fn tail_is_bounded() {
    let (outcome, lines) = run(&sh_plan(
        "i=0; while [ $i -lt 450 ]; do echo l$i; i=$((i+1)); done",
    ))
    .await;
    assert_eq!(lines.len(), 450);
    assert_eq!(outcome.tail.len(), dr_harness::hooks::runner::TAIL_LINES);
    assert_eq!(outcome.tail.last().map(String::as_str), Some("l449"));
}

#[tokio::test]
async fn timeout_sends_sigterm_to_the_group() {
    let mut plan = sh_plan("echo started; sleep 300");
    plan.timeout = Duration::from_millis(300);
    plan.grace = Duration::from_secs(20);
    let (outcome, _) = run(&plan).await;
    assert!(outcome.timed_out);
    assert!(!outcome.cancelled);
    // sh dies of the SIGTERM itself: no SIGKILL was needed.
    assert_eq!(outcome.signal, Some(15));
    assert_eq!(outcome.exit_code, None);
    assert!(outcome
        .failure_summary()
        .is_some_and(|s| s.contains("timed out")));
}

#[tokio::test]
async fn hook_ignoring_sigterm_is_killed_after_grace_with_its_children() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("child.pid");
    let script = format!(
        "trap '' TERM; sleep 300 & echo $! > {}; echo started; wait; wait",
        pidfile.display()
    );
    let mut plan = sh_plan(&script);
    plan.timeout = Duration::from_millis(500);
    plan.grace = Duration::from_millis(300);
    let (outcome, lines) = run(&plan).await;
    assert!(lines.iter().any(|(_, l)| l == "started"));
    assert!(outcome.timed_out);
    assert_eq!(
        outcome.signal,
        Some(9),
        "the leader ignored SIGTERM and needed SIGKILL"
    );
    let child: i32 = std::fs::read_to_string(&pidfile)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    assert!(wait_dead(child), "child {child} of the hook survived");
}

#[tokio::test]
async fn cancel_token_stops_the_hook() {
    let plan = sh_plan("echo ready; sleep 300");
    let token = CancellationToken::new();
    let trigger = token.clone();
    let outcome = run_hook(&plan, &Redactor::new(), token, move |_, l| {
        if l == "ready" {
            trigger.cancel();
        }
    })
    .await
    .expect("hook runs");
    assert!(outcome.cancelled);
    assert!(!outcome.timed_out);
    assert!(!outcome.succeeded());
    assert_eq!(outcome.signal, Some(15));
}

#[tokio::test]
async fn secret_env_values_are_redacted_from_lines_and_tail() {
    let mut spec = HookSpec::command(vec![
        "sh".into(),
        "-c".into(),
        "echo \"token=$HCLOUD_TOKEN\"; echo \"$HCLOUD_TOKEN\" >&2".into(),
    ]);
    spec.env
        .insert("HCLOUD_TOKEN".into(), "hc-9f8e7d6c5b4a".into());
    spec.secret_env = vec!["HCLOUD_TOKEN".into()];
    let plan = HookPlan::from_spec(&spec, HookAction::Rebuild, Path::new("/tmp"));
    let redactor = Redactor::new();
    let mut lines = Vec::new();
    let outcome = run_hook(&plan, &redactor, CancellationToken::new(), |_, l| {
        lines.push(l.to_string())
    })
    .await
    .expect("runs");
    assert!(lines.contains(&"token=***".to_string()), "{lines:?}");
    assert!(lines
        .iter()
        .chain(outcome.tail.iter())
        .all(|l| !l.contains("hc-9f8e7d6c5b4a")));
    // The redactor keeps the secret for everything reported later.
    assert_eq!(redactor.redact("x hc-9f8e7d6c5b4a"), "x ***");
}

#[tokio::test]
async fn missing_tools_are_reported_before_running() {
    let plan = HookPlan::from_spec(
        &HookSpec::command(vec!["dr-harness-no-such-tool".into()]),
        HookAction::Destroy,
        Path::new("/tmp"),
    );
    match check_tools(&plan) {
        Err(HookError::ToolMissing { tool, hint }) => {
            assert_eq!(tool, "dr-harness-no-such-tool");
            assert!(hint.contains("[hooks.destroy]"), "{hint}");
        }
        other => panic!("expected ToolMissing, got {other:?}"),
    }
    let empty = tempfile::tempdir().expect("tempdir");
    let mut spec = HookSpec::command(vec![]);
    spec.preset = HookPreset::Tofu;
    spec.argv = None;
    spec.working_dir = Some("infra".into());
    spec.env
        .insert("PATH".into(), empty.path().display().to_string());
    let plan = HookPlan::from_spec(&spec, HookAction::Destroy, Path::new("/tmp"));
    let err = check_tools(&plan).expect_err("no tofu in an empty PATH");
    assert!(
        err.to_string()
            .contains("hook tool `tofu` not found; install OpenTofu"),
        "{err}"
    );
    assert!(check_tools(&sh_plan("true")).is_ok());
}

#[test]
fn terragrunt_report_fixture_flags_units_not_succeeded() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config/terragrunt-report.json");
    let fixture = if fixture.exists() {
        fixture
    } else {
        PathBuf::from("/work/main/tests/fixtures/config/terragrunt-report.json")
    };
    let units = parse_report(&fixture).expect("parses");
    assert_eq!(units.len(), 3);
    let bad: Vec<String> = units
        .iter()
        .filter(|u| !u.succeeded())
        .map(|u| u.name.clone())
        .collect();
    assert_eq!(bad, ["cluster", "dns"]);
}

#[tokio::test]
async fn terragrunt_partial_destroy_is_reported_from_its_report_file() {
    let bin = tempfile::tempdir().expect("tempdir");
    // A fake terragrunt that writes a CSV-less JSON report where one unit failed, then exits 0.
    write_script(
        bin.path(),
        "terragrunt",
        r#"while [ $# -gt 0 ]; do if [ "$1" = "--report-file" ]; then out="$2"; fi; shift; done
printf '[{"name":"network","result":"succeeded"},{"name":"cluster","result":"failed","reason":"run error"}]' > "$out"
echo "destroy finished""#,
    );
    let scratch = tempfile::tempdir().expect("tempdir");
    let mut spec = HookSpec::command(vec![]);
    spec.preset = HookPreset::Terragrunt;
    spec.argv = None;
    spec.working_dir = Some("infrastructure/stacks/dev".into());
    spec.env.insert("PATH".into(), path_with(bin.path()));
    let plan = HookPlan::from_spec(&spec, HookAction::Destroy, scratch.path());
    check_tools(&plan).expect("fake terragrunt found");
    let (outcome, _) = run(&plan).await;
    assert_eq!(outcome.exit_code, Some(0));
    assert_eq!(outcome.partial_destroy, ["cluster: failed (run error)"]);
    assert!(!outcome.succeeded());
    assert!(outcome
        .failure_summary()
        .is_some_and(|s| s.contains("partial run: cluster")));
}

#[tokio::test]
async fn tofu_state_list_post_check_reports_incomplete_destroy() {
    let bin = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    let leftover = state.path().join("leftover");
    write_script(
        bin.path(),
        "tofu",
        &format!(
            r#"case "$*" in *"state list"*) [ -f {} ] && echo 'hcloud_server.master[0]'; exit 0;; esac
echo "Destroy complete! Resources: 11 destroyed.""#,
            leftover.display()
        ),
    );
    let mut spec = HookSpec::command(vec![]);
    spec.preset = HookPreset::Tofu;
    spec.argv = None;
    spec.working_dir = Some(state.path().to_path_buf());
    spec.env.insert("PATH".into(), path_with(bin.path()));
    let plan = HookPlan::from_spec(&spec, HookAction::Destroy, state.path());

    let (clean, _) = run(&plan).await;
    assert!(clean.succeeded(), "{clean:?}");
    assert!(clean.remaining_resources.is_empty());

    std::fs::write(&leftover, "").expect("mark leftover");
    let (dirty, lines) = run(&plan).await;
    assert_eq!(dirty.exit_code, Some(0));
    assert!(lines.iter().any(|(_, l)| l.starts_with("Destroy complete")));
    assert_eq!(dirty.remaining_resources, ["hcloud_server.master[0]"]);
    assert!(!dirty.succeeded());
    assert!(dirty
        .failure_summary()
        .is_some_and(|s| s.contains("incomplete destroy")));
}

/// A fake `tofu` on PATH that logs each invocation's arguments and fails `init` when
/// `FAIL_INIT` is set.
fn fake_tofu(dir: &Path) -> PathBuf {
    let log = dir.join("calls.log");
    write_script(
        dir,
        "tofu",
        &format!(
            "echo \"$*\" >> {log}\ncase \"$*\" in *' init '*) [ -n \"$FAIL_INIT\" ] && {{ echo init failed >&2; exit 1; }};; esac\nexit 0",
            log = log.display()
        ),
    );
    log
}

fn tofu_spec(dir: &Path) -> HookSpec {
    let mut spec = HookSpec::command(vec![]);
    spec.preset = HookPreset::Tofu;
    spec.argv = None;
    spec.working_dir = Some("stack".into());
    spec.init = true;
    spec.env.insert("PATH".into(), path_with(dir));
    spec
}

#[tokio::test]
async fn init_runs_before_the_tofu_command_without_colour() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = fake_tofu(dir.path());
    let plan = HookPlan::from_spec(
        &tofu_spec(dir.path()),
        HookAction::Rebuild,
        Path::new("/tmp"),
    );
    let (outcome, _) = run(&plan).await;
    assert!(outcome.succeeded(), "{outcome:?}");
    let calls = std::fs::read_to_string(&log).expect("tofu ran");
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        [
            "-chdir=stack init -input=false -no-color",
            "-chdir=stack apply -auto-approve -input=false -no-color",
        ]
    );
}

#[tokio::test]
async fn a_failed_init_stops_the_hook_before_its_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = fake_tofu(dir.path());
    let mut spec = tofu_spec(dir.path());
    spec.env.insert("FAIL_INIT".into(), "1".into());
    let plan = HookPlan::from_spec(&spec, HookAction::Destroy, Path::new("/tmp"));
    let (outcome, _) = run(&plan).await;
    assert_eq!(outcome.exit_code, Some(1));
    assert!(!outcome.succeeded());
    let calls = std::fs::read_to_string(&log).expect("tofu ran");
    assert_eq!(calls.lines().count(), 1, "only init ran: {calls}");
    let tail = outcome.tail.join("\n");
    assert!(tail.contains("init failed"), "{tail}");
    assert!(tail.contains("the destroy command was not run"), "{tail}");
}
