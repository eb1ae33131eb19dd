//! Pod commands in real busybox with a mapped volume: file writes, `sha256sum -c`, streamed
//! stdin and stdout, exit codes, timeouts, Job runs and their logs, the dr-harness image.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dr_sandbox::api::runtime::{ExecRequest, PodRuntime};
use dr_sandbox::dataplane::{
    claim_mounts, BusyboxRuntime, ClaimMount, ExecError, Isolation, Mount, RuntimeOptions,
    StaticResolver,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

struct Fixture {
    _dir: tempfile::TempDir,
    vol: PathBuf,
    rt: BusyboxRuntime,
}

fn fixture_with(opts: impl FnOnce(&mut RuntimeOptions), read_only: bool) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let vol = dir.path().join("vol");
    std::fs::create_dir_all(&vol).expect("vol dir");
    let mut o = RuntimeOptions::new(dir.path().join("rootfs"));
    opts(&mut o);
    let resolver = StaticResolver(vec![Mount {
        container_path: "/data".into(),
        host_dir: vol.clone(),
        read_only,
    }]);
    let rt = BusyboxRuntime::new(o, Arc::new(resolver)).expect("runtime");
    assert_eq!(
        rt.isolation(),
        Isolation::Chroot,
        "these tests need mount namespaces (run as root)"
    );
    Fixture { _dir: dir, vol, rt }
}

fn fixture() -> Fixture {
    fixture_with(|_| {}, false)
}

fn pod(image: &str) -> Value {
    json!({
        "metadata": {"name": "sentinel", "namespace": "dr-sentinel"},
        "spec": {
            "containers": [{
                "name": "main",
                "image": image,
                "env": [{"name": "GREETING", "value": "hello from env"}],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}]
            }],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "sentinel-data"}}]
        }
    })
}

struct Output {
    code: Result<i32, ExecError>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

fn argv(cmd: &[&str]) -> Vec<String> {
    cmd.iter().map(|s| s.to_string()).collect()
}

async fn run(
    rt: &BusyboxRuntime,
    image: &str,
    cmd: &[&str],
    stdin: Option<mpsc::Receiver<Bytes>>,
    timeout: Option<Duration>,
) -> Output {
    let (out_tx, mut out_rx) = mpsc::channel(4);
    let (err_tx, mut err_rx) = mpsc::channel(4);
    let req = ExecRequest {
        namespace: "dr-sentinel".into(),
        pod: pod(image),
        container: "main".into(),
        command: argv(cmd),
        stdin,
        stdout: out_tx,
        stderr: err_tx,
        tty: false,
    };
    let collect_out = async {
        let mut v = Vec::new();
        while let Some(c) = out_rx.recv().await {
            v.extend_from_slice(&c);
        }
        v
    };
    let collect_err = async {
        let mut v = Vec::new();
        while let Some(c) = err_rx.recv().await {
            v.extend_from_slice(&c);
        }
        v
    };
    let (code, stdout, stderr) =
        tokio::join!(rt.exec_with_timeout(req, timeout), collect_out, collect_err);
    Output {
        code,
        stdout,
        stderr,
    }
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[tokio::test]
async fn echo_into_data_lands_in_the_volume_dir() {
    let f = fixture();
    let out = run(
        &f.rt,
        "busybox:1.36",
        &["sh", "-c", "echo x > /data/f"],
        None,
        None,
    )
    .await;
    assert_eq!(
        out.code.expect("ran"),
        0,
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(f.vol.join("f")).expect("file in volume"),
        b"x\n"
    );
}

#[tokio::test]
async fn root_is_the_busybox_rootfs_not_the_host() {
    let f = fixture();
    // /work exists on the host, never in a busybox image.
    let out = run(
        &f.rt,
        "busybox",
        &[
            "sh",
            "-c",
            "test -e /work && echo host || echo image; echo $GREETING",
        ],
        None,
        None,
    )
    .await;
    assert_eq!(out.code.expect("ran"), 0);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "image\nhello from env\n"
    );
}

#[tokio::test]
async fn sha256sum_check_passes_then_fails_after_corruption() {
    let f = fixture();
    let body = b"sentinel tick 42\n".repeat(1000);
    std::fs::write(f.vol.join("ticks"), &body).expect("write");
    std::fs::write(
        f.vol.join("SHA256SUMS"),
        format!("{}  /data/ticks\n", sha256_hex(&body)),
    )
    .expect("sums");
    let ok = run(
        &f.rt,
        "busybox",
        &["sha256sum", "-c", "/data/SHA256SUMS"],
        None,
        None,
    )
    .await;
    assert_eq!(ok.code.expect("ran"), 0);
    assert!(String::from_utf8_lossy(&ok.stdout).contains("/data/ticks: OK"));

    std::fs::write(f.vol.join("ticks"), b"tampered").expect("tamper");
    let bad = run(
        &f.rt,
        "busybox",
        &["sha256sum", "-c", "/data/SHA256SUMS"],
        None,
        None,
    )
    .await;
    assert_ne!(bad.code.expect("ran"), 0);
}

#[tokio::test]
async fn stdin_is_streamed_to_eof_and_lands_byte_for_byte() {
    let f = fixture();
    let data: Vec<u8> = (0..5 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let feed = data.clone();
    let feeder = tokio::spawn(async move {
        for chunk in feed.chunks(64 * 1024) {
            tx.send(Bytes::copy_from_slice(chunk)).await.expect("send");
        }
        // tx dropped here: EOF for the command
    });
    let out = run(
        &f.rt,
        "busybox",
        &["sh", "-c", "cat > /data/big"],
        Some(rx),
        None,
    )
    .await;
    feeder.await.expect("feeder");
    assert_eq!(out.code.expect("ran"), 0);
    let got = std::fs::read(f.vol.join("big")).expect("big");
    assert_eq!(got.len(), data.len());
    assert_eq!(sha256_hex(&got), sha256_hex(&data));
}

#[tokio::test]
async fn stdout_arrives_while_the_command_still_runs() {
    let f = fixture();
    let (in_tx, in_rx) = mpsc::channel::<Bytes>(1);
    let (out_tx, mut out_rx) = mpsc::channel(4);
    let (err_tx, _err_rx) = mpsc::channel(4);
    let req = ExecRequest {
        namespace: "dr-sentinel".into(),
        pod: pod("busybox"),
        container: "main".into(),
        command: argv(&["sh", "-c", "echo first; read line; echo second $line"]),
        stdin: Some(in_rx),
        stdout: out_tx,
        stderr: err_tx,
        tty: false,
    };
    let rt = f.rt.clone();
    let exec = tokio::spawn(async move { rt.exec(req).await });
    // The command blocks on `read` until we answer, so "first" can only come by streaming.
    let first = tokio::time::timeout(Duration::from_secs(20), out_rx.recv())
        .await
        .expect("first chunk before the command ends")
        .expect("chunk");
    assert_eq!(&first[..], b"first\n");
    in_tx
        .send(Bytes::from_static(b"go\n"))
        .await
        .expect("stdin");
    drop(in_tx);
    let mut rest = Vec::new();
    while let Some(c) = out_rx.recv().await {
        rest.extend_from_slice(&c);
    }
    assert_eq!(rest, b"second go\n");
    assert_eq!(exec.await.expect("join"), Ok(0));
}

#[tokio::test]
async fn exit_code_and_stderr_are_reported() {
    let f = fixture();
    let out = run(
        &f.rt,
        "busybox",
        &["sh", "-c", "echo oops >&2; exit 3"],
        None,
        None,
    )
    .await;
    assert_eq!(out.code.expect("ran"), 3);
    assert_eq!(out.stderr, b"oops\n");
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn unknown_command_fails_like_a_missing_executable() {
    let f = fixture();
    let out = run(&f.rt, "busybox", &["no-such-tool"], None, None).await;
    assert_eq!(out.code.expect("launcher ran"), 127);
}

fn process_alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // A zombie is dead: only its exit status waits to be reaped.
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

async fn wait_dead(pid: &str) -> bool {
    for _ in 0..100 {
        if !process_alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn command_outliving_its_timeout_is_killed_with_its_children() {
    let f = fixture();
    let out = run(
        &f.rt,
        "busybox",
        &["sh", "-c", "sleep 300 & echo $! > /data/pid; wait"],
        None,
        Some(Duration::from_secs(2)),
    )
    .await;
    assert!(
        matches!(out.code, Err(ExecError::TimedOut { .. })),
        "{:?}",
        out.code
    );
    let pid = std::fs::read_to_string(f.vol.join("pid")).expect("pid file");
    let pid = pid.trim();
    assert!(!pid.is_empty());
    assert!(
        wait_dead(pid).await,
        "background sleep {pid} survived the timeout"
    );
}

#[tokio::test]
async fn dropping_the_exec_future_kills_the_command() {
    let f = fixture();
    let rt = f.rt.clone();
    let vol = f.vol.clone();
    let task = tokio::spawn(async move {
        run(
            &rt,
            "busybox",
            &["sh", "-c", "echo $$ > /data/pid; exec sleep 300"],
            None,
            None,
        )
        .await
    });
    let pid_file = vol.join("pid");
    let mut pid = String::new();
    for _ in 0..200 {
        pid = std::fs::read_to_string(&pid_file).unwrap_or_default();
        if pid.ends_with('\n') {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let pid = pid.trim().to_owned();
    assert!(!pid.is_empty(), "command never started");
    assert!(process_alive(&pid));
    task.abort();
    let _ = task.await;
    assert!(wait_dead(&pid).await, "command {pid} survived cancellation");
}

#[tokio::test]
async fn read_only_mounts_refuse_writes() {
    let f = fixture_with(|_| {}, true);
    std::fs::write(f.vol.join("keep"), b"k").expect("seed");
    let out = run(
        &f.rt,
        "busybox",
        &["sh", "-c", "cat /data/keep; echo y > /data/new"],
        None,
        None,
    )
    .await;
    assert_ne!(out.code.expect("ran"), 0);
    assert_eq!(out.stdout, b"k");
    assert!(!f.vol.join("new").exists());
}

#[tokio::test]
async fn job_run_to_completion_collects_logs_for_kubectl_logs() {
    let f = fixture();
    let p = pod("busybox");
    let (code, logs) =
        f.rt.run_to_completion(
            &p,
            argv(&["sh", "-c", "echo restored; echo warn >&2; exit 0"]),
        )
        .await;
    assert_eq!(code, 0);
    assert!(
        logs.contains("restored\n") && logs.contains("warn\n"),
        "{logs:?}"
    );
    let stored =
        f.rt.logs("dr-sentinel", "sentinel", None)
            .expect("logs stored");
    assert_eq!(stored, logs);
    assert_eq!(f.rt.logs("dr-sentinel", "other", None), None);

    f.rt.append_log("dr-sentinel", "sentinel", "controller note\n");
    let (code, _) =
        f.rt.run_to_completion(&p, argv(&["sh", "-c", "exit 4"]))
            .await;
    assert_eq!(code, 4);
}

#[tokio::test]
async fn job_that_cannot_start_reports_128_with_the_reason() {
    let f = fixture();
    let mut p = pod("busybox");
    p["spec"]["containers"] = json!([]);
    let (code, logs) = f.rt.run_to_completion(&p, argv(&["true"])).await;
    assert_eq!(code, 128);
    assert!(logs.contains("no container"), "{logs:?}");
}

#[tokio::test]
async fn dr_harness_image_runs_the_host_binary_with_in_cluster_env() {
    // /bin/sh stands in for the dr-harness binary: argv after the first element is passed.
    let f = fixture_with(
        |o| {
            o.harness_bin = Some(PathBuf::from("/bin/sh"));
            o.in_cluster_env = vec![("KUBECONFIG".into(), "/state/in-cluster.kubeconfig".into())];
        },
        false,
    );
    let out = run(
        &f.rt,
        "ghcr.io/example/dr-harness:0.1.0",
        &[
            "dr-harness",
            "-c",
            "echo $KUBECONFIG; test -d /work && echo host",
        ],
        None,
        None,
    )
    .await;
    assert_eq!(out.code.expect("ran"), 0);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "/state/in-cluster.kubeconfig\nhost\n"
    );

    let none = fixture();
    let err = run(
        &none.rt,
        "dr-harness:latest",
        &["dr-harness", "version"],
        None,
        None,
    )
    .await;
    assert!(matches!(err.code, Err(ExecError::NoHarnessBinary { .. })));
}

#[test]
fn claim_mounts_join_volume_mounts_with_pvc_volumes() {
    let mut p = pod("busybox");
    p["spec"]["containers"][0]["volumeMounts"]
        .as_array_mut()
        .expect("mounts")
        .extend([
            json!({"name": "cache", "mountPath": "/cache"}),
            json!({"name": "ro", "mountPath": "/ro", "readOnly": true}),
        ]);
    p["spec"]["volumes"]
        .as_array_mut()
        .expect("volumes")
        .extend([
            json!({"name": "cache", "emptyDir": {}}),
            json!({"name": "ro", "persistentVolumeClaim": {"claimName": "other"}}),
        ]);
    assert_eq!(
        claim_mounts(&p, "main"),
        vec![
            ClaimMount {
                container_path: "/data".into(),
                claim_name: "sentinel-data".into(),
                read_only: false
            },
            ClaimMount {
                container_path: "/ro".into(),
                claim_name: "other".into(),
                read_only: true
            },
        ]
    );
    assert!(claim_mounts(&p, "nope").is_empty());
}
