//! Benchmark of incremental deep verification (issue #10), not a test: prints a markdown table.
//!
//! A volume of `DR_BENCH_INC_MIB` MiB (default 1024) of dense pseudo-random 2 MiB blocks is
//! backed up (lz4) to an in-process s3s-fs server. Then, in one process and one run:
//! - plain GET of every block object (the download baseline, 4 in flight);
//! - the first incremental run (no ledger: a full deep pass of the blocks, no image written);
//! - a second backup with 1 % of the blocks changed, verified incrementally (2 % scrub);
//! - a third backup with 10 % changed, verified incrementally.
//!
//! Bytes and time of each run are given as a share of the full deep pass.
//! Run: `cargo bench -p dr-backupstore --bench incremental`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use common::{pattern, TestS3, MI};
use dr_backupstore::deep::FileChecks;
use dr_backupstore::incremental::{incremental_verify, IncrementalOptions, IncrementalReport};
use dr_backupstore::ledger::{ledger_key, LedgerLocation};
use dr_backupstore::{upload_image, BackupCfg, BackupStore, UploadOptions};
use futures::stream::{self, StreamExt};

const VOL: &str = "pvc-bench-inc";
const BS: u64 = 2 * MI;
const KEY: &[u8] = b"bench ledger key of 32 bytes....";

fn block(i: u64, gen: u64) -> Vec<u8> {
    pattern(i * 1_000_003 + gen * 7 + 1, BS as usize)
}

async fn backup(
    store: &BackupStore,
    img: &std::path::Path,
    name: &str,
    prev: Option<&BackupCfg>,
) -> BackupCfg {
    let opts = UploadOptions {
        snapshot_name: format!("snap-{name}"),
        snapshot_created_at: "2026-03-01T02:00:00Z".into(),
        ..Default::default()
    };
    upload_image(store, VOL, name, img, opts, prev, |_, _| {})
        .await
        .expect("upload")
}

async fn plain_get(store: &BackupStore) -> (u64, Duration) {
    let keys: Vec<String> = store
        .list_blocks(VOL)
        .await
        .expect("list")
        .into_iter()
        .map(|b| store.block_key(VOL, &b.checksum))
        .collect();
    let t = Instant::now();
    let n = stream::iter(keys)
        .map(|key| async move {
            let out = store
                .client()
                .get_object()
                .bucket(store.bucket())
                .key(&key)
                .send()
                .await
                .expect("get");
            let mut body = out.body;
            let mut n = 0u64;
            while let Some(c) = body.next().await {
                n += c.expect("chunk").len() as u64;
            }
            n
        })
        .buffer_unordered(4)
        .fold(0u64, |a, n| async move { a + n })
        .await;
    (n, t.elapsed())
}

async fn verify(store: &BackupStore, backup: &str, day: i64) -> (IncrementalReport, Duration) {
    let mut o = IncrementalOptions::new(
        LedgerLocation::S3 {
            key: ledger_key(store.root(), VOL),
        },
        KEY.to_vec(),
    );
    o.now = chrono::Utc::now() + chrono::Duration::days(day);
    o.scrub_seed = Some(day as u64);
    let t = Instant::now();
    let r = incremental_verify(store, VOL, backup, &FileChecks::default(), &o)
        .await
        .expect("verify");
    assert!(r.is_ok(), "{:?}", r.problems());
    (r, t.elapsed())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let size_mib: u64 = std::env::var("DR_BENCH_INC_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let blocks = size_mib * MI / BS;
    let s3 = TestS3::start().await;
    let store = s3.store();
    let dir = tempfile::tempdir().expect("tempdir");
    let img = dir.path().join("vol.img");
    eprintln!("building and uploading a {size_mib} MiB volume ...");
    {
        let f = std::fs::File::create(&img).expect("image");
        for i in 0..blocks {
            f.write_all_at(&block(i, 0), i * BS).expect("write");
        }
    }
    let b1 = backup(&store, &img, "b1", None).await;
    let (plain_bytes, plain_t) = plain_get(&store).await;
    let (full, full_t) = verify(&store, "b1", 0).await;

    let mut rows = vec![(
        "plain GET of every block".to_string(),
        plain_bytes,
        plain_t,
        None,
    )];
    rows.push((
        "full deep pass (first run, no ledger)".into(),
        full.bytes_downloaded(),
        full_t,
        Some(full.clone()),
    ));
    let mut prev = b1;
    for (day, pct) in [(1i64, 1u64), (2, 10)] {
        // At most pct % of the blocks (5 of 512 for 1 %), never none.
        let changed = (blocks * pct / 100).max(1);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&img)
            .expect("image");
        // Spread the changed blocks over the volume.
        for k in 0..changed {
            let i = k * blocks / changed;
            f.write_all_at(&block(i, day as u64), i * BS)
                .expect("write");
        }
        let name = format!("b{}", day + 1);
        prev = backup(&store, &img, &name, Some(&prev)).await;
        let (r, t) = verify(&store, &name, day).await;
        rows.push((
            format!("incremental, {pct} % of blocks changed"),
            r.bytes_downloaded(),
            t,
            Some(r),
        ));
    }

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("incremental benchmark: {size_mib} MiB volume, {blocks} blocks of 2 MiB, lz4, {cores} cores, 2 % scrub");
    println!();
    println!("| run | MiB downloaded | s | MiB/s | bytes vs full deep | time vs full deep | new/changed | scrubbed | skipped |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let full_bytes = full.bytes_downloaded() as f64;
    for (name, bytes, t, r) in rows {
        let (n, s, k) = r.map_or(("-".into(), "-".into(), "-".into()), |r| {
            (
                r.new_or_changed.blocks.to_string(),
                r.scrubbed.blocks.to_string(),
                r.skipped.blocks.to_string(),
            )
        });
        println!(
            "| {name} | {:.1} | {:.2} | {:.0} | {:.2} % | {:.2} % | {n} | {s} | {k} |",
            bytes as f64 / MI as f64,
            t.as_secs_f64(),
            bytes as f64 / MI as f64 / t.as_secs_f64().max(1e-9),
            100.0 * bytes as f64 / full_bytes,
            100.0 * t.as_secs_f64() / full_t.as_secs_f64(),
        );
    }
    println!();
    println!(
        "deep (blocks, no image) vs plain GET of the same blocks: {:.2}x",
        plain_t.as_secs_f64() / full_t.as_secs_f64()
    );
}
