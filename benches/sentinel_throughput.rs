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
use dr_harness::cluster::{wait, RetryStats};
use dr_harness::sentinel::content::{expected_sha256, SentinelFile};
use dr_harness::steps::verify_sentinel::hash_in_pod;
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
    let conn = sb.connect().await;
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
    let mut expected = String::new();
    let generate = measure(|| expected = expected_sha256(seed, &file));

    let path = format!("/data/{FILE}");
    let (write, written) = measure_async(dr_harness::steps::write::stream_file(
        &pods, &target, &path, seed, &file,
    ))
    .await;
    assert_eq!(written.expect("sentinel written through exec"), expected);
    let manifest = format!("{expected}  {FILE}\n");
    let put = exec::exec(
        &pods,
        &target,
        &["sh", "-c", "cat > /data/MANIFEST.sha256"],
        Some(std::iter::once(manifest.into_bytes())),
        None,
    )
    .await
    .expect("manifest written");
    assert_eq!(put.exit_code, 0);

    // verify-sentinel's in-pod work, as the step runs it.
    let names = vec![FILE.to_string()];
    let (verify, in_pod) = measure_async(hash_in_pod(&pods, &target, "/data", &names)).await;
    let in_pod = in_pod.expect("hash_in_pod");
    assert_eq!(in_pod.digests, vec![(expected.clone(), FILE.to_string())]);
    assert!(in_pod.in_volume.ok, "{:?}", in_pod.in_volume);
    // What the step did before: the same, plus `sha256sum -c` re-reading every byte in the pod.
    let (second_pass, check) = measure_async(exec::run(
        &pods,
        &target,
        &["sh", "-c", "cd /data && sha256sum -c MANIFEST.sha256"],
    ))
    .await;
    assert_eq!(check.expect("sha256sum -c through exec").exit_code, 0);
    let before = Sample {
        wall: verify.wall + second_pass.wall,
        cpu: verify.cpu + second_pass.cpu,
    };
    // An empty command through exec: the fixed cost of one exec round trip.
    let (round_trip, _) = measure_async(exec::run(&pods, &target, &["true"])).await;

    let host_file = sb.sandbox.data_plane().volume_dir(&volume).join(FILE);
    let busybox = dr_sandbox::dataplane::rootfs::busybox_path();
    let coreutils = measure(|| host_hash(Path::new("sha256sum"), &[], &host_file, &expected));
    let busybox_direct = measure(|| host_hash(&busybox, &["sha256sum"], &host_file, &expected));
    sb.sandbox.shutdown().await;

    let mib = mib as f64;
    println!(
        "| Sentinel, {mib} MiB file | wall s | MiB/s | CPU s | MiB per CPU s | × host `sha256sum` (wall) | × (CPU) | × the pod's `sha256sum` run directly (wall) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let rows = [
        ("harness write through exec (`steps::write::stream_file`: generate, hash, stream into `cat`)", write),
        ("harness verify through exec (`verify_sentinel::hash_in_pod`: busybox `sha256sum` in the pod, manifest checked against its digests)", verify),
        ("the same before this change (+ `sha256sum -c` in the pod: a second pass)", before),
        ("host coreutils `sha256sum` on the same file", coreutils),
        ("data plane's busybox `sha256sum` on the same file, no exec", busybox_direct),
        ("harness generator + SHA-256 alone, no I/O", generate),
    ];
    for (label, d) in rows {
        println!(
            "| {label} | {:.2} | {:.0} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} |",
            d.wall.as_secs_f64(),
            mib / d.wall.as_secs_f64(),
            d.cpu.as_secs_f64(),
            mib / d.cpu.as_secs_f64().max(0.01),
            coreutils.wall.as_secs_f64() / d.wall.as_secs_f64(),
            coreutils.cpu.as_secs_f64() / d.cpu.as_secs_f64().max(0.01),
            busybox_direct.wall.as_secs_f64() / d.wall.as_secs_f64(),
        );
    }
    println!(
        "| one empty exec round trip (`true`) | {:.3} | – | {:.2} | – | – | – | – |",
        round_trip.wall.as_secs_f64(),
        round_trip.cpu.as_secs_f64()
    );
    println!();
    println!(
        "Verification hashes in the pod with the pod's own `sha256sum` (the sandbox's pods run the data plane's busybox, as a `busybox` sentinel image does): the last column is the cost of going through exec; the `× host sha256sum` columns also count how much slower that binary's SHA-256 is than coreutils'."
    );
}

/// Wall time and CPU time (this process — harness and sandbox — and its finished children,
/// i.e. the pod's commands) of one measured piece.
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
}

/// CPU time of this process and its waited-for children, from `/proc/self/stat` (utime, stime,
/// cutime, cstime; clock ticks of 10 ms). On a shared machine wall time depends on the load;
/// CPU time much less so.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the `(comm)`, which may hold spaces: state is field 3, utime field 14.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<u64> = after
        .split_whitespace()
        .skip(11)
        .take(4)
        .filter_map(|f| f.parse().ok())
        .collect();
    Duration::from_millis(fields.iter().sum::<u64>() * 10)
}

fn measure(f: impl FnOnce()) -> Sample {
    let (wall, cpu) = (Instant::now(), cpu_time());
    f();
    Sample {
        wall: wall.elapsed(),
        cpu: cpu_time().saturating_sub(cpu),
    }
}

async fn measure_async<T>(f: impl std::future::Future<Output = T>) -> (Sample, T) {
    let (wall, cpu) = (Instant::now(), cpu_time());
    let out = f.await;
    let sample = Sample {
        wall: wall.elapsed(),
        cpu: cpu_time().saturating_sub(cpu),
    };
    (sample, out)
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

/// Runs `program args.. file` on this host and checks its digest.
fn host_hash(program: &Path, args: &[&str], file: &Path, expected: &str) {
    let out = std::process::Command::new(program)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{} could not run: {e}", program.display()));
    assert!(out.status.success(), "{} failed", program.display());
    assert_eq!(digest_of(&out.stdout), expected, "{}", program.display());
}

/// The digest in the first line of `sha256sum` output.
fn digest_of(stdout: &[u8]) -> String {
    String::from_utf8_lossy(stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}
