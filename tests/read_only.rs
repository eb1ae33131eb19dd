//! Read-only means read-only: `check` runs the preflight of any scenario and writes nothing to
//! the cluster or the bucket; `verify-backup --read-only` works with credentials that may not
//! write (the sandbox S3 refusing every write with 403 AccessDenied, as a bucket policy would).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{drill_with, harness_bin, write_profile, TestSandbox};
use dr_harness::config::Scenario;
use dr_harness::engine::record::Outcome;
use tokio_util::sync::CancellationToken;

fn run_cli(args: &[&str], sb: &TestSandbox) -> Output {
    run_cli_with_tmp(args, sb, &std::env::temp_dir())
}

/// `run_cli` with `TMPDIR` set to `tmp`, to see what the run leaves there.
fn run_cli_with_tmp(args: &[&str], sb: &TestSandbox, tmp: &Path) -> Output {
    let keys = sb.keys();
    Command::new(harness_bin())
        .args(args)
        .env("TMPDIR", tmp)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("AWS_ACCESS_KEY_ID", keys.access_key)
        .env("AWS_SECRET_ACCESS_KEY", keys.secret_key)
        .output()
        .expect("dr-harness runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Keys under `dr-harness/` in the sandbox bucket (locks and run states).
async fn harness_keys(sb: &TestSandbox) -> Vec<String> {
    let listed = sb
        .sandbox
        .s3()
        .client()
        .list_objects_v2()
        .bucket(sb.sandbox.s3().bucket())
        .prefix("dr-harness/")
        .send()
        .await
        .expect("list");
    listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

async fn mutating_api_requests(sb: &TestSandbox, since: usize) -> Vec<String> {
    let log = sb.sandbox.api_request_log().await;
    log[since.min(log.len())..]
        .iter()
        .filter(|r| r.is_mutating())
        .map(|r| format!("{} {}", r.method, r.path_and_query))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn check_runs_the_preflight_of_any_scenario_and_writes_nothing() {
    let sb = TestSandbox::start().await;
    let work = tempfile::tempdir().unwrap();
    let profile = write_profile(&sb, work.path(), &[]);
    let p = profile.display().to_string();
    let tmp = work.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // Any write would be refused and counted: `check` must not need one.
    sb.sandbox.s3().faults().set_read_only(true);
    for args in [
        vec!["check", "health", "--profile", &p],
        vec!["check", "full-rebuild", "--allow-destroy", "--profile", &p],
    ] {
        let before = sb.sandbox.api_request_log().await.len();
        let out = tokio::task::block_in_place(|| run_cli_with_tmp(&args, &sb, &tmp));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(
            err.contains("preflight"),
            "{args:?} ran the preflight: {err}"
        );
        assert!(err.contains("PASSED") || err.contains("passed"), "{err}");
        assert_eq!(
            mutating_api_requests(&sb, before).await,
            Vec::<String>::new(),
            "{args:?}"
        );
    }
    assert_eq!(
        sb.sandbox.s3().faults().writes_refused(),
        0,
        "no write was attempted"
    );
    sb.sandbox.s3().faults().set_read_only(false);
    assert_eq!(
        harness_keys(&sb).await,
        Vec::<String>::new(),
        "no lock, no run.json"
    );
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "check left files behind: {left:?}");
    sb.sandbox.shutdown().await;
}

/// preflight → deploy → write → backup: a backup on the target to verify.
fn backup_scenario(dir: &Path) -> Scenario {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/full-rebuild.toml"),
    )
    .unwrap();
    let sentinel = &text[text.find("[sentinel]").unwrap()..text.find("[[steps]]").unwrap()];
    let body = format!(
        "name = \"make-backup\"\n{sentinel}\n[[steps]]\nkind = \"preflight\"\n[[steps]]\nkind = \"deploy-sentinel\"\n[[steps]]\nkind = \"write-sentinel\"\n[[steps]]\nkind = \"backup\"\n"
    );
    let path = dir.join("make-backup.toml");
    std::fs::write(&path, body).unwrap();
    Scenario::load(&path).expect("scenario")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verify_backup_read_only_works_with_credentials_that_cannot_write() {
    let sb = TestSandbox::start().await;
    let work = tempfile::tempdir().unwrap();
    let record = drill_with(
        &sb,
        sb.profile(),
        backup_scenario(work.path()),
        &work.path().join("setup"),
        false,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(record.outcome, Outcome::Passed, "{:#?}", record.steps);
    let before_keys = harness_keys(&sb).await;
    let profile = write_profile(&sb, work.path(), &[]);
    let p = profile.display().to_string();
    let faults = sb.sandbox.s3().faults();
    faults.set_read_only(true);

    let out_dir = work.path().join("verify");
    let o = out_dir.display().to_string();
    let out = tokio::task::block_in_place(|| {
        run_cli(
            &[
                "verify-backup",
                "--all-volumes",
                "--read-only",
                "--profile",
                &p,
                "--out",
                &o,
            ],
            &sb,
        )
    });
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(faults.writes_refused(), 0, "{}", stderr(&out));
    // Reports are local only.
    assert!(out_dir.join("latest").join("junit.xml").is_file());

    // Control: without --read-only the same run tries to leave its run files in the bucket.
    let out = tokio::task::block_in_place(|| {
        run_cli(
            &[
                "verify-backup",
                "--all-volumes",
                "--profile",
                &p,
                "--out",
                &o,
            ],
            &sb,
        )
    });
    assert!(faults.writes_refused() > 0, "{}", stderr(&out));
    faults.set_read_only(false);
    assert_eq!(
        harness_keys(&sb).await,
        before_keys,
        "nothing new in the bucket"
    );
    sb.sandbox.shutdown().await;
}
