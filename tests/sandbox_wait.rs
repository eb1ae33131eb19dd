//! The harness waits for the sandbox as a user would (issue 9): through its Kubernetes API and
//! S3, with nothing but the files in its state folder — never through the sandbox's in-process
//! store.

mod common;

use std::time::Duration;

use common::TestSandbox;
use dr_harness::cli::sandbox::{s3_env_keys, wait_bootstrapped, wait_ready};
use dr_sandbox::faults::Fault;

/// A bootstrapped sandbox is ready when looked at from its state folder alone (as for a
/// sandbox of another process), and `s3.env` holds the S3 server's own keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bootstrapped_sandbox_is_ready_through_its_state_files() {
    let sb = TestSandbox::start().await;
    let keys = s3_env_keys(sb.dir.path()).expect("s3.env has the keys");
    assert_eq!(keys.access_key, sb.sandbox.s3().access_key());
    assert_eq!(keys.secret_key, sb.sandbox.s3().secret_key());
    wait_ready(sb.dir.path(), Duration::from_secs(30))
        .await
        .expect("ready through the API and S3");
}

/// Regression: the old wait read the store, which says "bootstrapped" while the API refuses
/// every request, so `run` started a drill against a cluster no client could reach.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sandbox_whose_api_refuses_is_not_ready() {
    let sb = TestSandbox::start().await;
    sb.sandbox
        .faults()
        .set(Fault::ApiUnavailable { seconds: 600 });
    let err = wait_bootstrapped(&sb.sandbox, Duration::from_secs(3))
        .await
        .expect_err("the API answers nothing");
    assert!(
        err.contains("did not finish bootstrapping within 3s"),
        "{err}"
    );
    assert!(
        err.contains("Kustomization flux-system/dr-exercise Ready"),
        "names the gate: {err}"
    );
}

/// Without `s3.env` the S3 check cannot sign a request: the message names the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missing_s3_env_is_named() {
    let sb = TestSandbox::start().await;
    let env = sb.dir.path().join(dr_sandbox::names::S3_ENV_FILE);
    std::fs::remove_file(&env).expect("remove s3.env");
    let err = wait_ready(sb.dir.path(), Duration::from_secs(10))
        .await
        .expect_err("no keys");
    assert!(err.contains(&env.display().to_string()), "{err}");
}

/// A state folder with no sandbox: the kubeconfig is named, at once (no wait for the timeout).
#[tokio::test]
async fn an_empty_state_folder_names_the_kubeconfig() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = wait_ready(dir.path(), Duration::from_secs(600))
        .await
        .expect_err("nothing there");
    assert!(err.contains("the sandbox is not reachable"), "{err}");
    assert!(
        err.contains(&dir.path().join("kubeconfig").display().to_string()),
        "{err}"
    );
}
