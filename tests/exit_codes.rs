//! Every exit code of the README's table, from the real binary: usage and configuration errors
//! exit 2 before anything is touched, an unreachable cluster exits 3, a drill that ran and
//! failed (a partial destroy, an API that answers 403/404) exits 1.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{harness_bin, repo, write_profile, TestSandbox};

fn run_cli(args: &[&str], env: &[(&str, String)], cwd: &Path) -> Output {
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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s3_env(sb: &TestSandbox) -> Vec<(&'static str, String)> {
    let keys = sb.keys();
    vec![
        ("AWS_ACCESS_KEY_ID", keys.access_key),
        ("AWS_SECRET_ACCESS_KEY", keys.secret_key),
    ]
}

/// The mutating API requests the sandbox received while `f` ran.
async fn mutating_during(sb: &TestSandbox, f: impl FnOnce() -> Output) -> (Output, Vec<String>) {
    let before = sb.sandbox.api_request_log().await.len();
    let out = f();
    let log = sb.sandbox.api_request_log().await;
    let mutating = log[before.min(log.len())..]
        .iter()
        .filter(|r| r.is_mutating())
        .map(|r| format!("{} {}", r.method, r.path_and_query))
        .collect();
    (out, mutating)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn destroy_guards_exit_2_without_a_mutating_request() {
    let sb = TestSandbox::start().await;
    let work = tempfile::tempdir().unwrap();
    let profile = write_profile(&sb, work.path(), &[]);
    let env = s3_env(&sb);
    // `dr-harness <args>` exits 2 naming `needle` and sends no mutating request.
    let refused = |args: Vec<String>, needle: &'static str| {
        let (sb, env) = (&sb, &env);
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (out, mutating) = mutating_during(sb, || run_cli(&args, env, &repo())).await;
            assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
            assert!(stderr(&out).contains(needle), "{}", stderr(&out));
            assert!(mutating.is_empty(), "{mutating:?}");
        }
    };
    let run = |profile: &std::path::Path, allow: bool| {
        let mut args = vec!["run".to_string(), "full-rebuild".to_string()];
        if allow {
            args.push("--allow-destroy".into());
        }
        args.extend(["--profile".to_string(), profile.display().to_string()]);
        args
    };
    // No --allow-destroy.
    refused(run(&profile, false), "--allow-destroy was not given").await;
    // The profile does not allow it.
    let text = std::fs::read_to_string(&profile).unwrap();
    let denied = work.path().join("denied.toml");
    std::fs::write(
        &denied,
        text.replace("allow_destroy = true", "allow_destroy = false"),
    )
    .unwrap();
    refused(run(&denied, true), "allow_destroy = true").await;
    // A hook tool missing on this machine.
    let no_tool = work.path().join("no-tool.toml");
    std::fs::write(
        &no_tool,
        text.replace("argv = [\"sh\"", "argv = [\"/nonexistent/tofu\""),
    )
    .unwrap();
    refused(run(&no_tool, true), "/nonexistent/tofu").await;
    sb.sandbox.shutdown().await;
}

#[test]
fn a_kubeconfig_file_that_does_not_exist_exits_2() {
    let work = tempfile::tempdir().unwrap();
    let profile = work.path().join("p.toml");
    std::fs::write(
        &profile,
        "name = \"dev\"\n[kubeconfig]\npath = \"/nonexistent/kubeconfig\"\n[backup_target]\nurl = \"s3://dr-backups@us-east-1/\"\nendpoint = \"http://127.0.0.1:9\"\npath_style = true\ncredentials = \"env\"\n",
    )
    .unwrap();
    let out = run_cli(
        &[
            "run",
            "full-rebuild",
            "--profile",
            profile.to_str().unwrap(),
            "--out",
        ],
        &[],
        &repo(),
    );
    // clap: --out needs a value → usage error too; give it one.
    assert_eq!(out.status.code(), Some(2));
    let out = run_cli(
        &[
            "run",
            "full-rebuild",
            "--profile",
            profile.to_str().unwrap(),
            "--out",
            work.path().join("r").to_str().unwrap(),
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "a".into()),
            ("AWS_SECRET_ACCESS_KEY", "b".into()),
        ],
        &repo(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("kubeconfig file /nonexistent/kubeconfig does not exist"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_missing_busybox_exits_2_naming_the_fix() {
    let work = tempfile::tempdir().unwrap();
    let out = run_cli(
        &[
            "run",
            "full-rebuild",
            "--out",
            work.path().to_str().unwrap(),
        ],
        &[("DR_SANDBOX_BUSYBOX", "/nonexistent/busybox".into())],
        &repo(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("/nonexistent/busybox") && err.contains("busybox-static"),
        "{err}"
    );
    let state = work.path().join("state");
    let out = run_cli(
        &["sandbox", "up", "--state", state.to_str().unwrap()],
        &[("DR_SANDBOX_BUSYBOX", "/nonexistent/busybox".into())],
        &repo(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("/nonexistent/busybox"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_run_id_that_is_not_a_uuid_exits_2_before_anything() {
    let work = tempfile::tempdir().unwrap();
    for id in [
        "../x",
        "../../etc/passwd",
        "latest",
        "3f6c2a1e8d7b4c1e9a0f2b5d7e9c4a10x",
    ] {
        let out = run_cli(
            &[
                "run",
                "full-rebuild",
                "--resume",
                id,
                "--out",
                work.path().to_str().unwrap(),
            ],
            &[],
            &repo(),
        );
        assert_eq!(out.status.code(), Some(2), "{id}: {}", stderr(&out));
        assert!(stderr(&out).contains("is not a run id"), "{}", stderr(&out));
    }
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

/// A run state written by an older harness (schema 1: `schema`, string-keyed facts) is refused
/// before any step, saying it cannot be resumed; the state file is left as it was.
#[test]
fn resuming_a_run_of_an_older_schema_exits_2_before_any_step() {
    let work = tempfile::tempdir().unwrap();
    let profile = work.path().join("p.toml");
    std::fs::write(
        &profile,
        "name = \"dev\"\n[kubeconfig]\npath = \"/nonexistent/kubeconfig\"\n[backup_target]\nurl = \"s3://dr-backups@us-east-1/\"\nendpoint = \"http://127.0.0.1:9\"\npath_style = true\ncredentials = \"env\"\n",
    )
    .unwrap();
    let id = "3f6c2a1e-8d7b-4c1e-9a0f-2b5d7e9c4a10";
    let out_dir = work.path().join("r");
    let state = out_dir.join(id).join("run.json");
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    let old = serde_json::json!({
        "schema": 1,
        "run_id": id,
        "harness_version": "0.1.0",
        "scenario": "full-rebuild",
        "profile": "dev",
        "cluster": "dev",
        "started_at": "2026-03-02T10:00:00Z",
        "outcome": "interrupted",
        "steps": [{"name": "preflight", "kind": "preflight", "status": "passed"}],
        "facts": {"sentinel.volume": "pvc-1", "infrastructure_failure": true}
    })
    .to_string();
    std::fs::write(&state, &old).unwrap();
    let out = run_cli(
        &[
            "run",
            "full-rebuild",
            "--profile",
            profile.to_str().unwrap(),
            "--resume",
            id,
            "--out",
            out_dir.to_str().unwrap(),
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "a".into()),
            ("AWS_SECRET_ACCESS_KEY", "b".into()),
        ],
        &repo(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "run {id} was written by an older dr-harness (schema 1); it cannot be resumed — start a new drill"
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        old,
        "state untouched"
    );
}

/// An HTTP server answering every request with a Kubernetes `Status` of `code`.
async fn refusing_api(code: u16) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let reason = if code == 403 { "Forbidden" } else { "NotFound" };
                let body = format!(
                    r#"{{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure","message":"refused by the test API ({code})","reason":"{reason}","code":{code}}}"#
                );
                let resp = format!(
                    "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_answering_403_or_404_is_a_failed_drill_not_unreachable() {
    for code in [403u16, 404] {
        let server = refusing_api(code).await;
        let work = tempfile::tempdir().unwrap();
        let kubeconfig = work.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\nusers:\n- name: u\n  user: {{token: abcdefgh}}\n"),
        )
        .unwrap();
        let profile = work.path().join("p.toml");
        std::fs::write(
            &profile,
            format!("name = \"dev\"\n[kubeconfig]\npath = \"{}\"\n[backup_target]\nurl = \"s3://dr-backups@us-east-1/\"\nendpoint = \"http://127.0.0.1:9\"\npath_style = true\ncredentials = \"env\"\n", kubeconfig.display()),
        )
        .unwrap();
        let out = tokio::task::spawn_blocking({
            let profile = profile.clone();
            let r = work.path().join("r");
            move || {
                run_cli(
                    &[
                        "run",
                        "full-rebuild",
                        "--profile",
                        profile.to_str().unwrap(),
                        "--out",
                        r.to_str().unwrap(),
                    ],
                    &[
                        ("AWS_ACCESS_KEY_ID", "a".into()),
                        ("AWS_SECRET_ACCESS_KEY", "b".into()),
                    ],
                    &repo(),
                )
            }
        })
        .await
        .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{code}: {err}");
        assert!(
            err.contains(&format!("refused by the test API ({code})")),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sandbox_state_folder_in_use_is_refused() {
    let sb = TestSandbox::start().await;
    let state = sb.dir.path().display().to_string();
    let work = tempfile::tempdir().unwrap();
    let out = run_cli(
        &[
            "run",
            "full-rebuild",
            "--allow-destroy",
            "--sandbox-state",
            &state,
            "--out",
            work.path().to_str().unwrap(),
        ],
        &[],
        &repo(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is in use by another sandbox"),
        "{}",
        stderr(&out)
    );
    let out = run_cli(&["sandbox", "up", "--state", &state], &[], &repo());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is in use by another sandbox"),
        "{}",
        stderr(&out)
    );
    // The running sandbox was not disturbed: its kubeconfig still reaches it.
    assert!(sb.dir.path().join("kubeconfig").is_file());
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partial_destroy_found_by_tofu_state_list_exits_1() {
    let sb = TestSandbox::start().await;
    let work = tempfile::tempdir().unwrap();
    let profile = write_profile(&sb, work.path(), &[]);
    // A tofu whose destroy exits 0 but leaves a resource in its state.
    let bin = work.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let tofu = bin.join("tofu");
    std::fs::write(
        &tofu,
        "#!/bin/sh\ncase \"$*\" in *'state list'*) echo 'module.cluster.hcloud_server.node[2]';; esac\nexit 0\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tofu, std::fs::Permissions::from_mode(0o755)).unwrap();
    let text = std::fs::read_to_string(&profile).unwrap();
    let start = text.find("[hooks.destroy]\n").unwrap();
    let end = text.find("[hooks.rebuild]").unwrap();
    let tofu_profile = work.path().join("tofu.toml");
    std::fs::write(
        &tofu_profile,
        format!(
            "{}[hooks.destroy]\npreset = \"tofu\"\nworking_dir = \"{}\"\n{}",
            &text[..start],
            work.path().display(),
            &text[end..]
        ),
    )
    .unwrap();
    let mut env = s3_env(&sb);
    env.push((
        "PATH",
        format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    ));
    let out = tokio::task::spawn_blocking({
        let p = tofu_profile.display().to_string();
        let r = work.path().join("r").display().to_string();
        move || {
            run_cli(
                &[
                    "run",
                    "full-rebuild",
                    "--allow-destroy",
                    "--profile",
                    &p,
                    "--out",
                    &r,
                ],
                &env,
                &repo(),
            )
        }
    })
    .await
    .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("hcloud_server.node[2]"), "{err}");
    sb.sandbox.shutdown().await;
}

/// Cancels the drill once `after` finished (a signal between two steps).
struct CancelAfter {
    after: &'static str,
    cancel: tokio_util::sync::CancellationToken,
}

impl dr_harness::engine::events::EventSink for CancelAfter {
    fn on_event(&mut self, event: &dr_harness::engine::events::DrillEvent) {
        if let dr_harness::engine::events::EventKind::StepFinished { record } = &event.kind {
            if record.name == self.after {
                self.cancel.cancel();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resume_against_another_cluster_is_refused_before_any_step() {
    use dr_harness::drill::{check_resume_identity, run_drill, DrillRequest, ResumeRefused};
    let a = TestSandbox::start().await;
    let b = TestSandbox::start().await;
    let out = tempfile::tempdir().unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let req = DrillRequest {
        profile: a.profile(),
        scenario: common::scenario("full-rebuild"),
        allow_destroy: true,
        out_dir: out.path().to_path_buf(),
        s3_keys: Some(a.keys()),
        resume: None,
        redactor: dr_harness::redact::Redactor::new(),
        cancel: cancel.clone(),
    };
    let first = run_drill(
        req,
        &mut CancelAfter {
            after: "preflight",
            cancel,
        },
    )
    .await;
    assert_eq!(
        first.outcome,
        dr_harness::engine::record::Outcome::Interrupted
    );
    let redactor = dr_harness::redact::Redactor::new();
    // The cluster it started on: allowed.
    check_resume_identity(&a.profile(), &first, &redactor)
        .await
        .expect("same cluster");
    // Another one: refused, naming both identities.
    match check_resume_identity(&b.profile(), &first, &redactor).await {
        Err(ResumeRefused::OtherCluster {
            then_uid, now_uid, ..
        }) => assert_ne!(then_uid, now_uid),
        other => panic!("expected OtherCluster, got {other:?}"),
    }
    // Through the CLI: exit 2 and not one mutating request on the other cluster.
    let work = tempfile::tempdir().unwrap();
    let profile_b = write_profile(&b, work.path(), &[]).display().to_string();
    let o = out.path().display().to_string();
    let env = s3_env(&b);
    let id = first.run_id.clone();
    let (res, mutating) = mutating_during(&b, || {
        run_cli(
            &[
                "run",
                "full-rebuild",
                "--allow-destroy",
                "--resume",
                &id,
                "--profile",
                &profile_b,
                "--out",
                &o,
            ],
            &env,
            &repo(),
        )
    })
    .await;
    let err = stderr(&res);
    assert_eq!(res.status.code(), Some(2), "{err}");
    assert!(err.contains("refusing to resume run"), "{err}");
    assert!(mutating.is_empty(), "{mutating:?}");
    a.sandbox.shutdown().await;
    b.sandbox.shutdown().await;
}
