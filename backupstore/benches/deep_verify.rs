//! Benchmark of deep verification from S3 alone (issue #5), not a test: prints a table.
//!
//! For each volume size (`DR_BENCH_MIB`, MiB, comma-separated; default `256,1024`) it builds a
//! real ext4 image with `mke2fs -d` over generated files (about 80 % of the volume) and a
//! sha256 manifest (a raw image of dense pseudo-random 2 MiB blocks when mke2fs is absent),
//! uploads it as a Longhorn backup (lz4, 2 MiB blocks) to an s3s-fs server on 127.0.0.1 (in
//! this process, or with `DR_BENCH_S3=process` in a process of its own), and measures:
//! - plain download: every block object fetched with plain GetObject calls into a sink, same
//!   concurrency, no decompression or checksum (what any download tool would do);
//! - the block pass alone (`deep_verify_files` without file checks), alternating with the
//!   plain download for `DR_BENCH_ROUNDS` rounds (default 3): the table gives the medians and
//!   the median of the rounds' ratios, and the cores each kept busy (process CPU time over
//!   wall time, which counts the in-process S3 server too). Each round starts after `sync(2)`,
//!   so no writeback of the upload or of the last round runs during a measurement;
//! - the file pass alone (`verify_manifest` over the reassembled image);
//! - the whole `deep_verify_files` call (blocks + manifest) in a fresh child process of this
//!   binary that only talks to the parent's S3 server, so its peak memory (`VmHWM` of the
//!   child) is what a harness process verifying that backup needs, free of the upload's and the
//!   S3 server's allocations.
//!
//! Run: `cargo bench -p dr-backupstore --bench deep_verify` (release build).

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{pattern, TestS3, MI};
use dr_backupstore::ext4::verify_manifest;
use dr_backupstore::{
    checksum, compress, decompress, deep_verify_files_with, upload_image, BackupStore,
    CompressionMethod, DeepOptions, FileChecks, UploadOptions, DEFAULT_MANIFEST_PATH,
};
use futures::stream::{self, StreamExt};
use sha2::{Digest, Sha256};

const VOL: &str = "pvc-bench";
const BACKUP: &str = "backup-00000000000be7c0";
/// Blocks in flight for both the plain GET and the block pass, unless `DR_BENCH_CONC` says
/// otherwise: deep verification's default (`deep::DeepOptions`).
const CONCURRENCY: usize = 4;
/// Plain GETs and block passes of each volume, alternating, unless `DR_BENCH_ROUNDS` says
/// otherwise.
const ROUNDS: usize = 3;
/// Size of each generated file.
const FILE_MIB: u64 = 16;
/// Child mode: the S3 endpoint to verify against.
const CHILD_ENDPOINT: &str = "DR_BENCH_CHILD_ENDPOINT";
/// Child mode: where to reassemble the image.
const CHILD_IMAGE: &str = "DR_BENCH_CHILD_IMAGE";
/// Child mode: `1` to check the manifest inside the image.
const CHILD_MANIFEST: &str = "DR_BENCH_CHILD_MANIFEST";
/// Server mode: this binary runs only the S3 server and prints its endpoint.
const SERVER_MODE: &str = "DR_BENCH_SERVER";

struct Row {
    size_mib: u64,
    kind: &'static str,
    blocks: usize,
    stored: u64,
    /// Median of the rounds.
    plain: Duration,
    /// Median of the rounds.
    block_pass: Duration,
    /// Median over the rounds of plain GET time / block pass time (the block pass's speed
    /// as a fraction of the plain GET's).
    ratio: f64,
    /// Lowest and highest ratio of a round.
    ratio_range: (f64, f64),
    /// Cores kept busy (process CPU time / wall time) by the plain GETs and the block passes.
    cores: (f64, f64),
    file_pass: Option<(Duration, u64)>,
    total: Duration,
    verified: u64,
    files_ok: usize,
    /// Peak RSS of the child process that ran `deep_verify_files`, bytes.
    child_hwm: u64,
}

/// What the child prints: `seconds verified_bytes files_ok vmhwm_bytes`.
struct ChildResult {
    secs: f64,
    verified: u64,
    files_ok: usize,
    hwm: u64,
}

/// A positive integer from environment variable `name`, else `default`.
fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

fn concurrency() -> usize {
    env_count("DR_BENCH_CONC", CONCURRENCY)
}

fn rounds() -> usize {
    env_count("DR_BENCH_ROUNDS", ROUNDS)
}

/// The median of `v` (the upper one of an even count); `v` is sorted.
fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MI as f64
}

fn rate(bytes: u64, d: Duration) -> f64 {
    mib(bytes) / d.as_secs_f64().max(1e-9)
}

/// A `kB` field of /proc/self/status, in bytes.
fn proc_status_bytes(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// CPU time (user + system) this process has used so far, seconds (`/proc/self/stat` fields
/// 14 and 15, in clock ticks).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3: utime (14) and stime (15) are its 12th and 13th.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf only reads a constant of the running system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) / per_second
}

/// Writes ~80 % of `size_mib` as files under `root/dr-harness/` (some nested) and a manifest.
fn write_tree(root: &Path, size_mib: u64) {
    let base = root.join("dr-harness");
    let files = (size_mib * 8 / 10 / FILE_MIB).max(1);
    let mut manifest = String::new();
    for i in 0..files {
        let rel = if i % 4 == 3 {
            format!("data/nested/f{i:04}.bin")
        } else {
            format!("data/f{i:04}.bin")
        };
        let path = base.join(&rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        let content = pattern(1000 + i, (FILE_MIB * MI) as usize);
        manifest.push_str(&format!(
            "{}  {rel}\n",
            hex::encode(Sha256::digest(&content))
        ));
        std::fs::write(&path, content).expect("write file");
    }
    std::fs::write(base.join("RUN_ID"), "bench\n").expect("write");
    std::fs::write(base.join("MANIFEST.sha256"), manifest).expect("write manifest");
}

/// Dense pseudo-random raw image (no filesystem), for machines without mke2fs.
fn write_raw(img: &Path, size_mib: u64) {
    let mut f = std::fs::File::create(img).expect("create");
    for i in 0..size_mib / 2 {
        f.write_all(&pattern(i + 1, (2 * MI) as usize))
            .expect("write");
    }
}

async fn plain_download(store: &BackupStore, keys: &[String]) -> u64 {
    stream::iter(keys)
        .map(|key| async move {
            let out = store
                .client()
                .get_object()
                .bucket(store.bucket())
                .key(key)
                .send()
                .await
                .expect("get object");
            let mut body = out.body;
            let mut n = 0u64;
            while let Some(chunk) = body.next().await {
                n += chunk.expect("body chunk").len() as u64;
            }
            n
        })
        .buffer_unordered(concurrency())
        .fold(0u64, |acc, n| async move { acc + n })
        .await
}

/// One core's cost of each CPU stage of deep verification on a 2 MiB lz4 block of the bench's
/// data: printed before the table so a ratio below 1 can be read against what the extra work
/// costs (all of it is on top of a plain GET, which the same machine must also serve).
fn stage_costs() {
    const ROUNDS: u32 = 64;
    let block = pattern(7, (2 * MI) as usize);
    let stored = compress(CompressionMethod::Lz4, &block).expect("compress");
    let max_len = block.len();
    let time = |f: &mut dyn FnMut()| {
        f();
        let t = Instant::now();
        for _ in 0..ROUNDS {
            f();
        }
        rate(block.len() as u64 * u64::from(ROUNDS), t.elapsed())
    };
    let lz4 = time(&mut || {
        std::hint::black_box(decompress(CompressionMethod::Lz4, &stored, max_len).expect("lz4"));
    });
    let mut reused = Vec::new();
    let lz4_reused = time(&mut || {
        dr_backupstore::decompress_into(CompressionMethod::Lz4, &stored, max_len, &mut reused)
            .expect("lz4");
        std::hint::black_box(&reused);
    });
    let sha = time(&mut || {
        std::hint::black_box(checksum(&block));
    });
    let sha2_crate = time(&mut || {
        std::hint::black_box(sha2::Sha512::digest(&block));
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let file = std::fs::File::create(dir.path().join("w.img")).expect("create");
    let mut off = 0u64;
    let write = time(&mut || {
        use std::os::unix::fs::FileExt;
        file.write_all_at(&block, off).expect("write");
        off += block.len() as u64;
    });
    println!(
        "CPU stages on one core (MiB/s of plaintext, 2 MiB lz4 block, stored {:.0} % of plain): lz4 decompress {lz4:.0} (into a reused buffer, as the pipeline does: {lz4_reused:.0}), SHA-512 checksum {sha:.0} (sha2 crate: {sha2_crate:.0}), image write (page cache) {write:.0}",
        100.0 * stored.len() as f64 / block.len() as f64
    );
}

/// The S3 server the bench talks to: s3s-fs on this process's runtime, or, with
/// `DR_BENCH_S3=process`, in a process of its own (this binary in server mode). In its own
/// process the server's CPU time is not counted in "cores busy", which is then the verifier's
/// alone, and its threads no longer share the verifier's async workers: closer to a real S3
/// target, which is never inside the verifying process, though still on the same cores.
enum Server {
    Process {
        endpoint: String,
        store: BackupStore,
        _child: Box<tokio::process::Child>,
    },
    InProcess(TestS3),
}

/// Whether `DR_BENCH_S3=process` asks for the server in a process of its own.
fn server_in_own_process() -> bool {
    std::env::var("DR_BENCH_S3").is_ok_and(|v| v == "process")
}

impl Server {
    async fn start() -> Self {
        if !server_in_own_process() {
            return Self::InProcess(TestS3::start().await);
        }
        let exe = std::env::current_exe().expect("current exe");
        let mut child = tokio::process::Command::new(exe)
            .env(SERVER_MODE, "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the S3 server process");
        let stdout = child.stdout.take().expect("server stdout");
        let mut line = String::new();
        tokio::io::AsyncBufReadExt::read_line(&mut tokio::io::BufReader::new(stdout), &mut line)
            .await
            .expect("server endpoint");
        let endpoint = line.trim().to_string();
        assert!(endpoint.starts_with("http://"), "server printed {line:?}");
        let store = common::store_at(&endpoint).await;
        Self::Process {
            endpoint,
            store,
            _child: Box::new(child),
        }
    }

    fn store(&self) -> BackupStore {
        match self {
            Self::Process { store, .. } => store.clone(),
            Self::InProcess(s3) => s3.store(),
        }
    }

    fn endpoint(&self) -> &str {
        match self {
            Self::Process { endpoint, .. } => endpoint,
            Self::InProcess(s3) => &s3.endpoint,
        }
    }
}

/// Server mode: s3s-fs with [`BUCKET`] created, its endpoint on stdout, until stdin closes
/// (the parent exited or dropped its handle).
async fn serve() {
    let s3 = TestS3::start().await;
    println!("{}", s3.endpoint);
    let mut rest = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut tokio::io::stdin(), &mut rest).await;
}

async fn run(size_mib: u64) -> Row {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = dir.path().join("volume.img");
    let mke2fs = common::ext4img::mke2fs();
    let kind = match &mke2fs {
        Some(bin) => {
            let tree = dir.path().join("tree");
            write_tree(&tree, size_mib);
            common::ext4img::build_image(bin, &tree, &img, size_mib);
            std::fs::remove_dir_all(&tree).expect("remove tree");
            "ext4"
        }
        None => {
            write_raw(&img, size_mib);
            "raw"
        }
    };
    let s3 = Server::start().await;
    let store = s3.store();
    let cfg = upload_image(
        &store,
        VOL,
        BACKUP,
        &img,
        UploadOptions::default(),
        None,
        |_, _| {},
    )
    .await
    .expect("upload");
    std::fs::remove_file(&img).expect("remove source image");

    let mut keys: Vec<String> = cfg
        .blocks
        .iter()
        .map(|b| store.block_key(VOL, &b.block_checksum))
        .collect();
    keys.sort();
    keys.dedup();

    // Plain GETs and block passes alternate, ROUNDS times each, so that a change in the
    // machine's load during the run weighs on both; the table shows the medians.
    let out = dir.path().join("verified.img");
    let opts = DeepOptions {
        concurrency: concurrency(),
        limiter: None,
    };
    let (mut plains, mut passes, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut plain_cpu, mut pass_cpu) = (0.0, 0.0);
    let mut stored = 0;
    for _ in 0..rounds() {
        // A fresh image each time, as the harness gives one (a new temporary directory per
        // verification, steps/verify_backup.rs): truncating the last round's image would be
        // timed as part of the pass.
        let _ = std::fs::remove_file(&out);
        // Each round starts with no dirty pages: the kernel's writeback of the upload's S3
        // objects (3.2 GB at 4 GiB) or of the last round's image would otherwise run on the
        // same 2 cores during whichever measurement comes next.
        settle();
        let (t, c) = (Instant::now(), cpu_seconds());
        stored = plain_download(&store, &keys).await;
        let plain = t.elapsed();
        plain_cpu += cpu_seconds() - c;

        let (t, c) = (Instant::now(), cpu_seconds());
        let blocks_only =
            deep_verify_files_with(&store, VOL, BACKUP, &out, &FileChecks::default(), &opts)
                .await
                .expect("block pass");
        let pass = t.elapsed();
        pass_cpu += cpu_seconds() - c;
        assert!(blocks_only.is_ok(), "{:?}", blocks_only.problems());
        ratios.push(plain.as_secs_f64() / pass.as_secs_f64());
        plains.push(plain);
        passes.push(pass);
    }
    let (plain, block_pass) = (median(&mut plains), median(&mut passes));
    let total_secs = |v: &[Duration]| v.iter().map(Duration::as_secs_f64).sum::<f64>();
    let cores_plain = plain_cpu / total_secs(&plains);
    let cores_pass = pass_cpu / total_secs(&passes);
    ratios.sort_by(f64::total_cmp);

    let file_pass = (kind == "ext4").then(|| {
        let t = Instant::now();
        let m = verify_manifest(&out, DEFAULT_MANIFEST_PATH).expect("manifest");
        assert!(m.is_ok(), "{:?}", m.problems());
        (t.elapsed(), m.bytes_ok())
    });

    let child = run_child(s3.endpoint(), &out, kind == "ext4").await;
    Row {
        size_mib,
        kind,
        blocks: cfg.blocks.len(),
        stored,
        plain,
        block_pass,
        ratio: ratios[ratios.len() / 2],
        ratio_range: (ratios[0], ratios[ratios.len() - 1]),
        cores: (cores_plain, cores_pass),
        file_pass,
        total: Duration::from_secs_f64(child.secs),
        verified: child.verified,
        files_ok: child.files_ok,
        child_hwm: child.hwm,
    }
}

/// Writes every dirty page of the machine back to disk (`sync(2)`), untimed.
fn settle() {
    // SAFETY: sync takes no arguments and touches no memory of ours.
    unsafe { libc::sync() };
}

/// Runs this binary in child mode against `endpoint` and parses its result line.
async fn run_child(endpoint: &str, out: &Path, manifest: bool) -> ChildResult {
    let exe = std::env::current_exe().expect("current exe");
    let output = tokio::process::Command::new(exe)
        .env(CHILD_ENDPOINT, endpoint)
        .env(CHILD_IMAGE, out)
        .env(CHILD_MANIFEST, if manifest { "1" } else { "0" })
        .output()
        .await
        .expect("run child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed: {stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let fields: Vec<&str> = stdout.split_whitespace().collect();
    assert_eq!(fields.len(), 4, "child printed {stdout:?}");
    ChildResult {
        secs: fields[0].parse().expect("secs"),
        verified: fields[1].parse().expect("verified"),
        files_ok: fields[2].parse().expect("files"),
        hwm: fields[3].parse().expect("hwm"),
    }
}

/// Child mode: one `deep_verify_files` call, then `seconds verified files_ok vmhwm` on stdout.
async fn child(endpoint: &str) {
    let image = std::env::var_os(CHILD_IMAGE).expect("child image path");
    let manifest = std::env::var(CHILD_MANIFEST).is_ok_and(|v| v == "1");
    let store = common::store_at(endpoint).await;
    let checks = if manifest {
        FileChecks::manifest(DEFAULT_MANIFEST_PATH)
    } else {
        FileChecks::default()
    };
    let t = Instant::now();
    let opts = DeepOptions {
        concurrency: concurrency(),
        limiter: None,
    };
    let report = deep_verify_files_with(&store, VOL, BACKUP, Path::new(&image), &checks, &opts)
        .await
        .expect("deep verify");
    let secs = t.elapsed().as_secs_f64();
    assert!(report.is_ok(), "{:?}", report.problems());
    println!(
        "{secs} {} {} {}",
        report.blocks.as_ref().map_or(0, |b| b.bytes_verified),
        report.file_checks().iter().filter(|f| f.is_ok()).count(),
        proc_status_bytes("VmHWM:")
    );
}

#[tokio::main]
async fn main() {
    if std::env::var_os(SERVER_MODE).is_some() {
        serve().await;
        return;
    }
    if let Ok(endpoint) = std::env::var(CHILD_ENDPOINT) {
        child(&endpoint).await;
        return;
    }
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let sizes: Vec<u64> = std::env::var("DR_BENCH_MIB")
        .unwrap_or_else(|_| "256,1024".to_string())
        .split(',')
        .map(|v| {
            v.trim()
                .parse()
                .unwrap_or_else(|_| panic!("DR_BENCH_MIB: {v:?} is not a size in MiB"))
        })
        .collect();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let server = if server_in_own_process() {
        "in a process of its own (cores busy: the verifier's alone)"
    } else {
        "in this process (cores busy include it)"
    };
    println!(
        "deep_verify benchmark: {cores} cores, concurrency {}, lz4, 2 MiB blocks, S3 server {server}",
        concurrency()
    );
    stage_costs();
    let mut rows = Vec::new();
    for size in sizes {
        eprintln!("building and uploading a {size} MiB volume ...");
        rows.push(run(size).await);
    }
    println!(
        "| volume | image | blocks | stored MiB | plain GET MiB/s | block pass s | block pass MiB/s (stored) | block pass MiB/s (volume data) | block pass / plain GET (min–max of {} rounds) | cores busy: plain GET, block pass | file pass s (MiB/s) | deep_verify_files s | files OK | peak RSS of verifying process MiB |",
        rounds()
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let files = r.file_pass.map_or("-".to_string(), |(d, bytes)| {
            format!("{:.2} ({:.0})", d.as_secs_f64(), rate(bytes, d))
        });
        println!(
            "| {} MiB | {} | {} | {:.0} | {:.0} | {:.2} | {:.0} | {:.0} | **{:.2}×** ({:.2}–{:.2}) | {:.2}, {:.2} | {} | {:.2} | {} | {:.0} |",
            r.size_mib,
            r.kind,
            r.blocks,
            mib(r.stored),
            rate(r.stored, r.plain),
            r.block_pass.as_secs_f64(),
            rate(r.stored, r.block_pass),
            rate(r.verified, r.block_pass),
            r.ratio,
            r.ratio_range.0,
            r.ratio_range.1,
            r.cores.0,
            r.cores.1,
            files,
            r.total.as_secs_f64(),
            r.files_ok,
            mib(r.child_hwm),
        );
    }
}
