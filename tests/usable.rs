//! dr-harness as a new user meets it outside this repository: the built binary run from an
//! empty folder (scenarios built in), `dr-harness init` + `check` giving a profile the sandbox
//! accepts, and the ops-cluster manifests in `deploy/` accepted by a real kubectl's
//! `apply --dry-run=server` against the sandbox API.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{harness_bin, missing, repo, TestSandbox};

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The binary run from `dir`, with nothing of the repository around it.
fn harness_in(dir: &Path) -> Command {
    let mut c = Command::new(harness_bin());
    c.current_dir(dir);
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_scenarios_run_from_a_folder_outside_the_repo() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(!dir.path().join("scenarios").exists());
    let out = tokio::task::spawn_blocking({
        let d = dir.path().to_path_buf();
        move || {
            harness_in(&d)
                .args(["run", "health", "volume-restore", "--out", "reports"])
                .output()
                .expect("dr-harness runs")
        }
    })
    .await
    .expect("join");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("scenario health"), "{all}");
    assert!(all.contains("scenario volume-restore"), "{all}");
    let junit = std::fs::read_to_string(dir.path().join("reports/latest/junit.xml"))
        .expect("junit.xml in the folder the user ran from");
    assert!(junit.contains("volume-restore"), "{junit}");
}

#[test]
fn unknown_scenario_names_the_built_in_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = harness_in(dir.path())
        .args(["run", "no-such-drill"])
        .output()
        .expect("runs");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    for name in [
        "full-rebuild",
        "health",
        "volume-restore",
        "snapshot-revert",
    ] {
        assert!(all.contains(name), "the error lists {name}: {all}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_writes_a_commented_profile_that_check_accepts() {
    let sb = TestSandbox::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = sb.sandbox.kubeconfig_path().display().to_string();
    let url = sb.sandbox.backup_target_url();
    let endpoint = sb.sandbox.s3().endpoint();
    let init = harness_in(dir.path())
        .args([
            "init",
            "--name",
            "sandbox-init",
            "--kubeconfig",
            &kubeconfig,
            "--backup-target",
            &url,
            "--endpoint",
            &endpoint,
            "--credentials",
            "env",
            "--nodes",
            "3",
            "--orchestrator-job",
            "longhorn-system/longhorn-restore-orchestrator",
        ])
        .output()
        .expect("init runs");
    assert_eq!(init.status.code(), Some(0), "{}", text(&init));
    let path = dir.path().join("dr-harness.toml");
    let written = std::fs::read_to_string(&path).expect("profile written");
    // Commented: the keys the flags did not set are there as comments, with defaults.
    assert!(written.contains("# context = "), "{written}");
    assert!(written.contains("# [hooks.destroy]"), "{written}");
    let profile = dr_harness::config::Profile::load(&path).expect("the strict parser accepts it");
    assert_eq!(profile.name, "sandbox-init");
    assert_eq!(profile.expect.nodes, Some(3));
    assert!(!profile.safety.allow_destroy);

    // Not overwritten without --force.
    let again = harness_in(dir.path())
        .args(["init", "--name", "other"])
        .output()
        .expect("init runs");
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(text(&again).contains("--force"), "{}", text(&again));
    assert_eq!(std::fs::read_to_string(&path).expect("kept"), written);

    let keys = sb.keys();
    let check = tokio::task::spawn_blocking({
        let d = dir.path().to_path_buf();
        move || {
            harness_in(&d)
                .args(["check", "health", "--profile", "dr-harness.toml"])
                .env("AWS_ACCESS_KEY_ID", keys.access_key)
                .env("AWS_SECRET_ACCESS_KEY", keys.secret_key)
                .output()
                .expect("check runs")
        }
    })
    .await
    .expect("join");
    let all = text(&check);
    assert_eq!(check.status.code(), Some(0), "{all}");
    assert!(all.contains("sandbox-init"), "{all}");
    assert!(all.contains("preflight"), "{all}");
}

#[test]
fn init_rejects_flags_that_make_an_invalid_profile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = harness_in(dir.path())
        .args(["init", "--backup-target", "s3://bucket-without-region"])
        .output()
        .expect("runs");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("backup"), "{all}");
    assert!(
        !dir.path().join("dr-harness.toml").exists(),
        "nothing written"
    );

    let out = harness_in(dir.path())
        .args(["init", "--hooks", "tofu"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--working-dir"), "{}", text(&out));
}

fn kubectl_available() -> bool {
    Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_manifests_pass_a_server_side_dry_run() {
    if !kubectl_available() {
        missing("no kubectl on PATH (scripts/setup.sh installs one): deploy/ NOT validated");
        return;
    }
    let sb = TestSandbox::start().await;
    let kubeconfig = sb.sandbox.kubeconfig_path();
    let kubectl = move |args: Vec<String>| {
        let kc = kubeconfig.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                Command::new("kubectl")
                    .arg("--kubeconfig")
                    .arg(&kc)
                    .args(&args)
                    .output()
                    .expect("kubectl runs")
            })
            .await
            .expect("join")
        }
    };
    let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    // As on a real API server, a dry-run create in a namespace that does not exist yet fails:
    // the namespace is created for real first.
    let ns = kubectl(vec![
        "apply".into(),
        "-f".into(),
        repo().join("deploy/namespace.yaml").display().to_string(),
    ])
    .await;
    assert!(ns.status.success(), "{}", text(&ns));
    let deploy = repo().join("deploy");
    for dir in [deploy.clone(), deploy.join("sharded")] {
        let out = kubectl(vec![
            "apply".into(),
            "--dry-run=server".into(),
            "--validate=strict".into(),
            "-f".into(),
            dir.display().to_string(),
        ])
        .await;
        let all = text(&out);
        assert!(out.status.success(), "apply -f {}: {all}", dir.display());
        assert!(all.contains("(server dry run)"), "{all}");
        assert!(!all.to_lowercase().contains("warning"), "{all}");
    }
    let listed = kubectl(args(
        "get cronjobs,serviceaccounts,configmaps -n dr-harness -o name",
    ))
    .await;
    let names = text(&listed);
    assert!(listed.status.success(), "{names}");
    assert!(
        !names.contains("cronjob") && !names.contains("dr-harness-profile"),
        "a dry run persists nothing: {names}"
    );
}

/// Every CronJob in deploy/ runs the dr-harness image with arguments this binary accepts.
#[test]
fn deploy_cronjobs_use_arguments_the_binary_parses() {
    let deploy = repo().join("deploy");
    let mut files = vec![];
    for dir in [deploy.clone(), deploy.join("sharded")] {
        for e in std::fs::read_dir(&dir).expect("deploy/").flatten() {
            if e.path().extension().is_some_and(|x| x == "yaml") {
                files.push(e.path());
            }
        }
    }
    let mut seen = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v: serde_json::Value = serde::Deserialize::deserialize(doc).expect("valid YAML");
            if v["kind"] != "CronJob" {
                continue;
            }
            let pod = &v["spec"]["jobTemplate"]["spec"]["template"]["spec"];
            assert_eq!(
                pod["securityContext"]["runAsNonRoot"],
                true,
                "{}",
                f.display()
            );
            let args: Vec<String> = pod["containers"][0]["args"]
                .as_array()
                .expect("args")
                .iter()
                .map(|a| a.as_str().unwrap_or_default().to_string())
                .collect();
            // `--help` after the arguments: clap validates the subcommand, then prints help.
            let sub = &args[0];
            let out = Command::new(harness_bin())
                .args([sub.as_str(), "--help"])
                .output()
                .expect("runs");
            let help = String::from_utf8_lossy(&out.stdout);
            for a in args.iter().skip(1).filter(|a| a.starts_with("--")) {
                let flag = a.split('=').next().unwrap_or(a);
                // --shard arrives with helper "verify"'s branch; checked there.
                if flag == "--shard" {
                    continue;
                }
                assert!(
                    help.contains(flag),
                    "{}: `{sub}` has no flag {flag}",
                    f.display()
                );
            }
            seen += 1;
        }
    }
    assert!(seen >= 3, "three CronJobs in deploy/");
}

/// A missing busybox is this machine's set-up (exit 2, naming the package and the script),
/// not an unreachable cluster (exit 3). busybox is hidden in a private mount namespace.
#[test]
fn missing_busybox_is_a_setup_error_naming_the_package() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hide = "for f in /bin/busybox /usr/bin/busybox; do [ -e \"$f\" ] && mount --bind /dev/null \"$f\"; done; exec \"$0\" run health";
    let out = match Command::new("unshare")
        .args(["-m", "sh", "-c", hide])
        .arg(harness_bin())
        .current_dir(dir.path())
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            missing(&format!(
                "unshare cannot run ({e}): missing-busybox handling NOT checked"
            ));
            return;
        }
    };
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("busybox-static"), "{all}");
    assert!(all.contains("scripts/setup.sh"), "{all}");
}
