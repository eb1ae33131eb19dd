//! Sentinel write/verify throughput through exec, against `sha256sum` on the same bytes.
//!
//! One file of `DR_BENCH_SENTINEL_MIB` MiB (default 256) of sentinel content is written into a
//! sandbox pod's volume exactly as `write-sentinel` does (`steps::write::stream_file`: content
//! generated and hashed in the harness, streamed through exec stdin into `cat > file`), then
//! read back and hashed exactly as `verify-sentinel` does (`cat FILE` streamed out through exec,
//! hashed in the harness), and hashed in the pod by its own `sha256sum` through exec (how the
//! step verified until session 9) for comparison. The same
//! file is then hashed on this host by coreutils `sha256sum` and by the data plane's own busybox
//! (the binary the pod runs), and the harness's generator + SHA-256 alone is timed, so the table
//! shows where the time goes. Prints one markdown table; nothing is asserted (benches measure),
//! except that every digest agrees (a wrong digest would make the row meaningless).

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use dr_harness::cluster::exec::{self, ExecTarget};
use dr_harness::sentinel::content::{expected_sha256, SentinelFile};
use dr_harness::steps::read_back::hash_through_exec;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;

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
    let volume = common::start_pod(&client, NAMESPACE, NAME).await;
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
    common::put_file(&pods, &target, "/data/MANIFEST.sha256", manifest).await;

    // verify-sentinel's work, as the step runs it.
    let names = vec![FILE.to_string()];
    let (verify, read_back) =
        measure_async(hash_through_exec(&pods, &target, "/data", &names)).await;
    let read_back = read_back.expect("hash_through_exec");
    assert_eq!(
        read_back.digests,
        vec![(expected.clone(), FILE.to_string())]
    );
    assert!(read_back.in_volume.ok, "{:?}", read_back.in_volume);
    // The step's way until session 9: the pod's own `sha256sum` through exec, digest only.
    let (in_pod, hashed) = measure_async(exec::run(
        &pods,
        &target,
        &["sh", "-c", &format!("cd /data && sha256sum {FILE}")],
    ))
    .await;
    let hashed = hashed.expect("sha256sum through exec");
    assert_eq!(hashed.exit_code, 0);
    assert_eq!(digest_of(&hashed.stdout), expected, "the pod's sha256sum");
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
        ("harness verify through exec (`read_back::hash_through_exec`: `cat` streamed out, hashed in the harness, manifest checked against its digests)", verify),
        ("the pod's busybox `sha256sum` through exec, digest only (the step until session 9)", in_pod),
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
        "Verification streams each file out of the pod (`cat` through exec) and hashes it in the harness, so its speed is the exec stream's, not the sentinel image's hashing tool's. The sandbox's pods run the data plane's busybox (as a `busybox` sentinel image does), whose `sha256sum` the in-pod row and the last column measure."
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
