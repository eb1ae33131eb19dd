//! Sentinel write/verify throughput through exec, against `sha256sum` on the same bytes.
//!
//! One file of `DR_BENCH_SENTINEL_MIB` MiB (default 256) of sentinel content is written into a
//! sandbox pod's volume exactly as `write-sentinel` does (`steps::write::stream_file`: content
//! generated and hashed in the harness, streamed through exec stdin into `cat > file`), then
//! hashed in the pod exactly as `verify-sentinel` does (`sha256sum FILE` through exec). The same
//! file is then hashed on this host by coreutils `sha256sum` and by the data plane's own busybox
//! (the binary the pod runs), and the harness's generator + SHA-256 alone is timed, so the table
//! shows where the time goes. Prints one markdown table; nothing is asserted (benches measure),
//! except that every digest agrees (a wrong digest would make the row meaningless).

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use dr_harness::cluster::exec::{self, ExecTarget};
use dr_harness::cluster::{wait, KubeconfigSource, RetryStats};
use dr_harness::sentinel::content::{expected_sha256, SentinelFile};
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, Pod};
use kube::api::{Api, PostParams};
use serde_json::json;

const NAMESPACE: &str = "sentinel-bench";
const NAME: &str = "bench";
const FILE: &str = "sentinel-1.bin";

fn main() {
    let mib: u64 = std::env::var("DR_BENCH_SENTINEL_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run(mib));
}

async fn run(mib: u64) {
    let sb = common::TestSandbox::start().await;
    let source = KubeconfigSource::File {
        path: sb.sandbox.kubeconfig_path(),
        context: None,
    };
    let conn = dr_harness::cluster::connect(&source, Duration::from_secs(30))
        .await
        .expect("connect to the sandbox");
    let client = conn.client.clone();
    let volume = start_pod(&client).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let target = ExecTarget {
        namespace: NAMESPACE.into(),
        pod: NAME.into(),
        container: "c".into(),
        timeout: Duration::from_secs(600),
    };
    let file = SentinelFile {
        name: FILE.into(),
        size: mib * 1024 * 1024,
    };
    let seed = "bench-run";

    // The harness's own share of a write: generating the content and hashing it.
    let t = Instant::now();
    let expected = expected_sha256(seed, &file);
    let generate = t.elapsed();

    let t = Instant::now();
    let written = dr_harness::steps::write::stream_file(
        &pods,
        &target,
        &format!("/data/{FILE}"),
        seed,
        &file,
    )
    .await
    .expect("sentinel written through exec");
    let write = t.elapsed();
    assert_eq!(written, expected, "the written digest is the expected one");

    let t = Instant::now();
    let out = exec::run(&pods, &target, &["sha256sum", &format!("/data/{FILE}")])
        .await
        .expect("sha256sum through exec");
    let verify = t.elapsed();
    assert_eq!(
        digest_of(&out.stdout),
        expected,
        "the pod hashes the same bytes"
    );

    // An empty command through exec: the fixed cost of one exec round trip.
    let t = Instant::now();
    exec::run(&pods, &target, &["true"])
        .await
        .expect("true through exec");
    let round_trip = t.elapsed();

    let host_file = sb.sandbox.data_plane().volume_dir(&volume).join(FILE);
    let busybox = dr_sandbox::dataplane::rootfs::busybox_path();
    let coreutils = host_hash(Path::new("sha256sum"), &[], &host_file, &expected);
    let busybox_direct = host_hash(&busybox, &["sha256sum"], &host_file, &expected);
    sb.sandbox.shutdown().await;

    let rate = |d: Duration| mib as f64 / d.as_secs_f64();
    let reference = rate(coreutils);
    println!("| Sentinel, {mib} MiB file | seconds | MiB/s | × host `sha256sum` |");
    println!("|---|---|---|---|");
    let rows = [
        (
            "harness write through exec (`stream_file`: generate, hash, stream into `cat`)",
            write,
        ),
        (
            "harness verify through exec (`sha256sum` in the pod, busybox)",
            verify,
        ),
        ("host coreutils `sha256sum` on the same file", coreutils),
        (
            "data plane's busybox `sha256sum` on the same file, no exec",
            busybox_direct,
        ),
        ("harness generator + SHA-256 alone, no I/O", generate),
    ];
    for (label, d) in rows {
        println!(
            "| {label} | {:.2} | {:.0} | {:.2} |",
            d.as_secs_f64(),
            rate(d),
            rate(d) / reference
        );
    }
    println!(
        "| one empty exec round trip (`true`) | {:.3} | – | – |",
        round_trip.as_secs_f64()
    );
}

/// Creates a PVC and a Pod mounting it at /data, waits until the Pod runs; returns the volume.
async fn start_pod(client: &kube::Client) -> String {
    let stats = RetryStats::default();
    let ns: Api<Namespace> = Api::all(client.clone());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": NAMESPACE}})).unwrap(),
    )
    .await
    .expect("namespace created");
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), NAMESPACE);
    let pvc = serde_json::from_value(json!({
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {
            "storageClassName": "longhorn",
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "8Gi"}},
        },
    }))
    .unwrap();
    pvcs.create(&PostParams::default(), &pvc)
        .await
        .expect("PVC created");
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let pod = serde_json::from_value(json!({
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {
            "containers": [{
                "name": "c",
                "image": "busybox:1.36",
                "command": ["sh", "-c", "sleep 3600"],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            }],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": NAME}}],
        },
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("Pod created");
    let phase = |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref())
            .and_then(|s| s.phase.clone())
            .unwrap_or_default()
    };
    wait::wait_for(
        pods,
        NAME,
        "the bench pod to run",
        Duration::from_secs(120),
        &stats,
        |p| phase(p) == "Running",
        |p| format!("phase {}", phase(p)),
    )
    .await
    .expect("the bench pod runs");
    let pvc = pvcs.get(NAME).await.expect("PVC read");
    pvc.spec
        .and_then(|s| s.volume_name)
        .expect("the PVC is bound to a volume")
}

/// Runs `program args.. file` on this host and checks its digest; returns its wall time.
fn host_hash(program: &Path, args: &[&str], file: &Path, expected: &str) -> Duration {
    let t = Instant::now();
    let out = std::process::Command::new(program)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{} could not run: {e}", program.display()));
    let took = t.elapsed();
    assert!(out.status.success(), "{} failed", program.display());
    assert_eq!(digest_of(&out.stdout), expected, "{}", program.display());
    took
}

/// The digest in the first line of `sha256sum` output.
fn digest_of(stdout: &[u8]) -> String {
    String::from_utf8_lossy(stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}
