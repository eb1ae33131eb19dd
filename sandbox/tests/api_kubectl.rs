//! The real `kubectl` against the sandbox API server: discovery, get (Table), apply of the
//! sentinel namespace fixture, jsonpath output, merge patch, delete, exec over WebSocket, logs,
//! Longhorn CRs by full resource name, and `wait --for=jsonpath`.
//! Skipped (with a printed reason) when `kubectl` is not on PATH, a failure under `CI=true`.

#[path = "api_support.rs"]
mod support;

use std::path::PathBuf;
use std::time::Duration;

use dr_sandbox::api::resources::{CONFIGMAPS, LH_VOLUMES, NAMESPACES, PODS};
use serde_json::json;
use support::{Env, Kubectl};

fn fixture(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel);
    p.to_string_lossy().into_owned()
}

#[tokio::test]
async fn kubectl_get_namespaces_uses_table_output() {
    let env = Env::start().await;
    let Some(k) = Kubectl::new(&env) else { return };
    let out = k.ok(&["get", "ns"]).await;
    let first = out.lines().next().unwrap_or("");
    assert!(first.starts_with("NAME") && first.contains("AGE"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("default ")), "{out}");
    let names = k
        .ok(&[
            "get",
            "namespaces",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ])
        .await;
    assert_eq!(names, "default");
}

#[tokio::test]
async fn kubectl_apply_fixture_is_idempotent() {
    let env = Env::start().await;
    let Some(k) = Kubectl::new(&env) else { return };
    let path = fixture("fixtures/sentinel/namespace.yaml");
    let first = k.ok(&["apply", "-f", &path]).await;
    assert!(first.contains("namespace/dr-exercise created"), "{first}");
    let ns = env
        .store
        .get(&NAMESPACES, None, "dr-exercise")
        .expect("namespace stored");
    assert_eq!(
        ns["metadata"]["labels"]["purpose"],
        "disaster-recovery-testing"
    );
    let second = k.ok(&["apply", "-f", &path]).await;
    assert!(second.contains("unchanged"), "{second}");
}

#[tokio::test]
async fn kubectl_configmap_jsonpath_patch_delete() {
    let env = Env::start().await;
    let Some(k) = Kubectl::new(&env) else { return };
    // Typed generators send protobuf, which the sandbox refuses with a hint (documented limit).
    let (ok, _, err) = k
        .run(&["create", "configmap", "x", "--from-literal=k=v"])
        .await;
    assert!(!ok && err.contains("protobuf"), "{err}");
    let mut manifest = tempfile::NamedTempFile::new().expect("tempfile");
    std::io::Write::write_all(
        &mut manifest,
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  k: v\n",
    )
    .expect("write manifest");
    let path = manifest.path().to_string_lossy().into_owned();
    k.ok(&["apply", "-f", &path]).await;
    assert_eq!(
        k.ok(&["get", "configmap", "x", "-o", "jsonpath={.data.k}"])
            .await,
        "v"
    );
    k.ok(&[
        "patch",
        "configmap",
        "x",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"k":"w"}}"#,
    ])
    .await;
    assert_eq!(
        k.ok(&["get", "configmap", "x", "-o", "jsonpath={.data.k}"])
            .await,
        "w"
    );
    k.ok(&["label", "configmap", "x", "drill=yes"]).await;
    assert_eq!(
        k.ok(&["get", "cm", "-l", "drill=yes", "-o", "name"])
            .await
            .trim(),
        "configmap/x"
    );
    k.ok(&["delete", "configmap", "x"]).await;
    assert!(env.store.get(&CONFIGMAPS, Some("default"), "x").is_none());
    let (ok, _, err) = k.run(&["get", "configmap", "x"]).await;
    assert!(!ok && err.contains("not found"), "{err}");
}

#[tokio::test]
async fn kubectl_exec_and_logs() {
    let env = Env::start().await;
    let Some(k) = Kubectl::new(&env) else { return };
    env.running_pod("default", "sentinel");
    env.runtime.logs.lock().expect("lock").insert(
        ("default".into(), "sentinel".into()),
        "tick 1\ntick 2\n".into(),
    );
    assert_eq!(
        k.ok(&["exec", "sentinel", "--", "echo", "hi"]).await,
        "hi\n"
    );
    let input = "sentinel data\n".repeat(10_000);
    let (ok, out, err) = k
        .with_stdin(
            &["exec", "-i", "sentinel", "--", "wc", "-c"],
            input.as_bytes(),
        )
        .await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), input.len().to_string());
    let (ok, _, err) = k
        .run(&["exec", "sentinel", "--", "sh", "-c", "exit 4"])
        .await;
    assert!(!ok && err.contains("exit code 4"), "{err}");
    assert_eq!(k.ok(&["logs", "sentinel"]).await, "tick 1\ntick 2\n");
    assert_eq!(k.ok(&["logs", "sentinel", "--tail", "1"]).await, "tick 2\n");
}

#[tokio::test]
async fn kubectl_reads_longhorn_volumes() {
    let env = Env::start().await;
    let Some(k) = Kubectl::new(&env) else { return };
    env.ensure_ns("longhorn-system");
    env.store
        .create(
            &LH_VOLUMES,
            Some("longhorn-system"),
            json!({"metadata": {"name": "pvc-1"}, "spec": {"size": "1073741824"}, "status": {"state": "detached", "robustness": "healthy"}}),
        )
        .expect("volume");
    let out = k
        .ok(&[
            "get",
            "volumes.longhorn.io",
            "-n",
            "longhorn-system",
            "-o",
            "jsonpath={.items[0].status.robustness}",
        ])
        .await;
    assert_eq!(out, "healthy");
    let short = k.ok(&["get", "lhv", "-n", "longhorn-system"]).await;
    assert!(
        short.contains("pvc-1") && short.contains("detached"),
        "{short}"
    );
}

#[tokio::test]
async fn kubectl_wait_for_jsonpath() {
    let env = Env::start().await;
    let Some(k) = Kubectl::new(&env) else { return };
    env.store
        .create(
            &PODS,
            Some("default"),
            json!({"metadata": {"name": "w"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}, "status": {"phase": "Pending"}}),
        )
        .expect("pod");
    let store = env.store.clone();
    let flip = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        store.modify(&PODS, Some("default"), "w", |p| {
            p["status"]["phase"] = json!("Running")
        })
    });
    let out = k
        .ok(&[
            "wait",
            "--for=jsonpath={.status.phase}=Running",
            "pod/w",
            "--timeout=30s",
        ])
        .await;
    assert!(out.contains("pod/w condition met"), "{out}");
    flip.await.expect("join").expect("modify");
}

#[tokio::test]
async fn kubectl_applies_every_fixture_and_reapplies_changes() {
    let env = Env::start().await;
    let Some(k) = Kubectl::new(&env) else { return };
    env.ensure_ns("longhorn-system");
    k.ok(&["apply", "-f", &fixture("fixtures/sentinel/namespace.yaml")])
        .await;
    let out = k.ok(&["apply", "-f", &fixture("fixtures/sentinel/")]).await;
    assert!(
        out.contains("deployment.apps/") && out.contains("persistentvolumeclaim/"),
        "{out}"
    );
    let out = k
        .ok(&["apply", "-f", &fixture("fixtures/restore-orchestrator/")])
        .await;
    assert!(
        out.contains("job.batch/longhorn-restore-orchestrator created"),
        "{out}"
    );
    // Re-apply a changed Deployment: kubectl computes a strategic merge patch.
    let deploy =
        std::fs::read_to_string(fixture("fixtures/sentinel/deployment.yaml")).expect("fixture");
    let changed = format!("{deploy}\n").replacen(
        "metadata:\n",
        "metadata:\n  annotations:\n    drill/changed: \"yes\"\n",
        1,
    );
    let mut f = tempfile::NamedTempFile::new().expect("tempfile");
    std::io::Write::write_all(&mut f, changed.as_bytes()).expect("write");
    let out = k.ok(&["apply", "-f", &f.path().to_string_lossy()]).await;
    assert!(out.contains("configured"), "{out}");
    let name = k
        .ok(&[
            "get",
            "deploy",
            "-n",
            "dr-exercise",
            "-o",
            "jsonpath={.items[0].metadata.annotations.drill/changed}",
        ])
        .await;
    assert_eq!(name, "yes");
    // Server-side apply (application/apply-patch+yaml with fieldManager=kubectl).
    let out = k
        .ok(&[
            "apply",
            "--server-side",
            "-f",
            &fixture("fixtures/sentinel/pvc.yaml"),
        ])
        .await;
    assert!(out.contains("serverside-applied"), "{out}");
    let out = k
        .ok(&["delete", "-f", &fixture("fixtures/restore-orchestrator/")])
        .await;
    assert!(out.contains("deleted"), "{out}");
    assert!(env
        .store
        .get(
            &dr_sandbox::api::resources::JOBS,
            Some("longhorn-system"),
            "longhorn-restore-orchestrator"
        )
        .is_none());
}

#[tokio::test]
async fn kubectl_get_watch_prints_table_rows_for_changes() {
    let env = Env::start().await;
    let Some(k) = Kubectl::new(&env) else { return };
    env.running_pod("default", "sentinel");
    let store = env.store.clone();
    let flip = async {
        // Change the pod only once kubectl's watch request has arrived.
        for _ in 0..200 {
            if env
                .server
                .request_log()
                .iter()
                .any(|r| r.path_and_query.contains("watch=true"))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        store.modify(&PODS, Some("default"), "sentinel", |p| {
            p["status"]["phase"] = json!("Succeeded")
        })
    };
    let ((_, stdout, stderr), flipped) =
        tokio::join!(k.run(&["get", "pods", "-w", "--request-timeout=4s"]), flip);
    flipped.expect("modify");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines
            .first()
            .is_some_and(|l| l.starts_with("NAME") && l.contains("STATUS")),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("sentinel") && l.contains("Succeeded")),
        "{stdout}\n{stderr}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("NAME")).count(),
        1,
        "one header"
    );
}
