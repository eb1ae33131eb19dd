//! A real `kubectl` against the whole sandbox (API emulator + controllers + simulated Longhorn):
//! the commands a platform engineer types during a drill by hand. Skipped, with a message, only
//! when no kubectl is on PATH (`.ci/run` installs one).

mod common;

use std::process::Command;

use common::TestSandbox;

struct Kubectl {
    kubeconfig: std::path::PathBuf,
}

impl Kubectl {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        use std::io::Write;
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("kubectl runs");
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        } else {
            drop(child.stdin.take());
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        self.ok_in(args, None)
    }

    fn ok_in(&self, args: &[&str], stdin: Option<&str>) -> String {
        let (ok, out, err) = self.run(args, stdin);
        assert!(ok, "kubectl {} failed: {err}", args.join(" "));
        out
    }
}

fn kubectl_available() -> bool {
    Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kubectl_drives_a_backup_and_reads_the_discovered_backupvolume() {
    if !kubectl_available() {
        eprintln!("SKIPPED: no kubectl on PATH (.ci/run installs one)");
        return;
    }
    let sb = TestSandbox::start().await;
    let k = Kubectl {
        kubeconfig: sb.dir.path().join("kubeconfig"),
    };
    let kk = |args: &'static [&'static str]| {
        let k = Kubectl {
            kubeconfig: k.kubeconfig.clone(),
        };
        async move {
            tokio::task::spawn_blocking(move || k.ok(args))
                .await
                .unwrap()
        }
    };

    // The sentinel workload that GitOps deployed is Available.
    let waited = kk(&[
        "-n",
        "dr-exercise",
        "wait",
        "--for=condition=available",
        "deployment/dr-exercise",
        "--timeout=60s",
    ])
    .await;
    assert!(waited.contains("condition met"), "{waited}");
    let pods = kk(&["get", "pods", "-A"]).await;
    assert!(
        pods.contains("dr-exercise") && pods.contains("Running"),
        "{pods}"
    );

    // Write data through exec, as the seed's Taskfile does.
    let pod = kk(&[
        "-n",
        "dr-exercise",
        "get",
        "pod",
        "-l",
        "app=dr-exercise",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ])
    .await;
    let k2 = Kubectl {
        kubeconfig: k.kubeconfig.clone(),
    };
    let p = pod.clone();
    tokio::task::spawn_blocking(move || {
        k2.ok(&[
            "-n",
            "dr-exercise",
            "exec",
            &p,
            "--",
            "sh",
            "-c",
            "echo sentinel-by-kubectl > /data/by-kubectl.txt && sync",
        ])
    })
    .await
    .unwrap();

    // Snapshot and backup by applying Longhorn objects, then wait for them.
    let manifests = r#"
apiVersion: longhorn.io/v1beta2
kind: Snapshot
metadata: {name: by-kubectl, namespace: longhorn-system}
spec: {volume: dr-exercise-data, createSnapshot: true}
---
apiVersion: longhorn.io/v1beta2
kind: Backup
metadata: {name: backup-0123456789abcdef, namespace: longhorn-system}
spec: {snapshotName: by-kubectl}
"#;
    let k3 = Kubectl {
        kubeconfig: k.kubeconfig.clone(),
    };
    tokio::task::spawn_blocking(move || k3.ok_in(&["apply", "-f", "-"], Some(manifests)))
        .await
        .unwrap();
    let k5 = Kubectl {
        kubeconfig: k.kubeconfig.clone(),
    };
    let (ok, done, err) = tokio::task::spawn_blocking(move || {
        k5.run(
            &[
                "-n",
                "longhorn-system",
                "wait",
                "--for=jsonpath={.status.state}=Completed",
                "backup/backup-0123456789abcdef",
                "--timeout=120s",
            ],
            None,
        )
    })
    .await
    .unwrap();
    if !ok {
        let state = kk(&[
            "-n",
            "longhorn-system",
            "get",
            "snapshots,backups",
            "-o",
            "yaml",
        ])
        .await;
        panic!("backup did not complete: {err}\n{state}");
    }
    assert!(done.contains("condition met"), "{done}");
    let url = kk(&[
        "-n",
        "longhorn-system",
        "get",
        "backups.longhorn.io",
        "backup-0123456789abcdef",
        "-o",
        "jsonpath={.status.url}",
    ])
    .await;
    assert!(
        url.contains("backup=backup-0123456789abcdef") && url.contains("volume=dr-exercise-data"),
        "{url}"
    );

    // Force a sync of the backup target and read the discovered BackupVolume (1.8+ naming).
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let patch = format!("{{\"spec\":{{\"syncRequestedAt\":\"{now}\"}}}}");
    let k4 = Kubectl {
        kubeconfig: k.kubeconfig.clone(),
    };
    tokio::task::spawn_blocking(move || {
        k4.ok(&[
            "-n",
            "longhorn-system",
            "patch",
            "backuptarget",
            "default",
            "--type",
            "merge",
            "-p",
            &patch,
        ])
    })
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let volumes = loop {
        let v = kk(&[
            "-n",
            "longhorn-system",
            "get",
            "backupvolumes",
            "-l",
            "backup-volume=dr-exercise-data",
            "-o",
            "jsonpath={.items[*].spec.volumeName}",
        ])
        .await;
        if v.contains("dr-exercise-data") || std::time::Instant::now() > deadline {
            break v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(volumes.trim(), "dr-exercise-data");
    let last = kk(&[
        "-n",
        "longhorn-system",
        "get",
        "backupvolumes",
        "-o",
        "jsonpath={.items[0].status.lastBackupName}",
    ])
    .await;
    assert_eq!(last.trim(), "backup-0123456789abcdef");

    // The orchestrator Job's logs, and a delete.
    let logs = kk(&[
        "-n",
        "longhorn-system",
        "logs",
        "job/longhorn-restore-orchestrator",
    ])
    .await;
    assert!(logs.contains("restore orchestration complete"), "{logs}");
    let deleted = kk(&[
        "-n",
        "longhorn-system",
        "delete",
        "snapshot.longhorn.io",
        "by-kubectl",
    ])
    .await;
    assert!(deleted.contains("deleted"), "{deleted}");
    sb.sandbox.shutdown().await;
}

/// Issue 11: right after `wait --for=condition=available`, `kubectl logs` must agree with the
/// pod's Running phase (it used to answer "waiting to start: ContainerCreating" for every
/// long-running pod, whose commands the sandbox never executes), and `get nodes`/`get pods`
/// show kube-apiserver's columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kubectl_logs_agree_with_the_pod_phase_after_wait_available() {
    if !kubectl_available() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "no kubectl on PATH: .ci/run must install one"
        );
        eprintln!("SKIPPED: no kubectl on PATH (.ci/run installs one)");
        return;
    }
    let sb = TestSandbox::start().await;
    let kubeconfig = sb.dir.path().join("kubeconfig");
    let run = |args: Vec<&'static str>| {
        let k = Kubectl {
            kubeconfig: kubeconfig.clone(),
        };
        async move {
            tokio::task::spawn_blocking(move || k.run(&args, None))
                .await
                .unwrap()
        }
    };
    let (ok, waited, err) = run(vec![
        "-n",
        "dr-exercise",
        "wait",
        "--for=condition=available",
        "deployment/dr-exercise",
        "--timeout=60s",
    ])
    .await;
    assert!(ok && waited.contains("condition met"), "{waited}{err}");
    let (ok, out, err) = run(vec!["-n", "dr-exercise", "logs", "deployment/dr-exercise"]).await;
    assert!(ok, "kubectl logs failed right after wait: {out}{err}");
    assert!(!err.contains("ContainerCreating"), "{err}");

    let (_, pods, _) = run(vec!["-n", "dr-exercise", "get", "pods"]).await;
    let head: Vec<&str> = pods
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        head,
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{pods}"
    );
    assert!(
        pods.lines()
            .skip(1)
            .any(|l| l.split_whitespace().nth(1) == Some("1/1")
                && l.split_whitespace().nth(2) == Some("Running")),
        "{pods}"
    );
    let (_, nodes, _) = run(vec!["get", "nodes"]).await;
    let head: Vec<&str> = nodes
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        head,
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
        "{nodes}"
    );
    assert!(nodes.contains(" Ready "), "{nodes}");
    sb.sandbox.shutdown().await;
}
