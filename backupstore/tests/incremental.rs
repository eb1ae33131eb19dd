//! Incremental deep verification (issue #10): a later backup downloads only what changed plus a
//! scrub sample, still fails on a bad new block, finds bit rot in an old block through the
//! scrub or the periodic full pass, and a tampered ledger only costs downloads.

mod common;

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use common::{pattern, TestS3, MI};
use dr_backupstore::deep::{BlockFault, FileChecks};
use dr_backupstore::incremental::{incremental_verify, FullPassReason, IncrementalOptions};
use dr_backupstore::ledger::{ledger_key, LedgerLocation};
use dr_backupstore::{upload_image, BackupCfg, BackupStore, UploadOptions};

const VOL: &str = "vol-inc";
const KEY: &[u8] = b"test ledger key, 32 bytes long!!";
/// Blocks of the volume of the 1 % test (1 % must be whole blocks, 2 % scrub at least 3).
const BLOCKS: u64 = 200;
/// Blocks of the volume of the other tests.
const SMALL: u64 = 40;
const BS: u64 = 2 * MI;

/// Block `i` of generation `gen`: 2 MiB, distinct per (i, gen), cheap to make (a 4 KiB
/// pseudo-random run repeated), so the test moves little data.
fn block(i: u64, gen: u64) -> Vec<u8> {
    let chunk = pattern(i * 1_000 + gen + 1, 4096);
    let mut b = Vec::with_capacity(BS as usize);
    while (b.len() as u64) < BS {
        b.extend_from_slice(&chunk);
    }
    b
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 2, 0, 0).unwrap()
}

fn opts(store: &BackupStore, now: DateTime<Utc>, seed: u64) -> IncrementalOptions {
    let mut o = IncrementalOptions::new(
        LedgerLocation::S3 {
            key: ledger_key(store.root(), VOL),
        },
        KEY.to_vec(),
    );
    o.now = now;
    o.scrub_seed = Some(seed);
    o
}

/// A volume of `blocks` blocks, backed up as `b1`; returns the image path (kept in `dir`).
async fn first_backup(
    store: &BackupStore,
    dir: &Path,
    blocks: u64,
) -> (std::path::PathBuf, BackupCfg) {
    let img = dir.join("vol.img");
    let f = std::fs::File::create(&img).unwrap();
    for i in 0..blocks {
        f.write_all_at(&block(i, 0), i * BS).unwrap();
    }
    let cfg = upload_image(store, VOL, "b1", &img, backup_opts("s1"), None, |_, _| {})
        .await
        .expect("upload b1");
    (img, cfg)
}

fn backup_opts(snapshot: &str) -> UploadOptions {
    UploadOptions {
        snapshot_name: snapshot.into(),
        snapshot_created_at: "2026-03-01T02:00:00Z".into(),
        ..Default::default()
    }
}

/// Rewrites `changed` blocks of the image with generation 1 and backs it up as `name`.
async fn next_backup(
    store: &BackupStore,
    img: &Path,
    prev: &BackupCfg,
    name: &str,
    changed: &[u64],
) -> BackupCfg {
    let f = std::fs::OpenOptions::new().write(true).open(img).unwrap();
    for i in changed {
        f.write_all_at(&block(*i, 1), i * BS).unwrap();
    }
    upload_image(
        store,
        VOL,
        name,
        img,
        backup_opts(name),
        Some(prev),
        |_, _| {},
    )
    .await
    .expect("upload")
}

fn block_key(store: &BackupStore, i: u64, gen: u64) -> String {
    store.block_key(VOL, &dr_backupstore::checksum(&block(i, gen)))
}

/// Flips bytes of a stored block in place on the server's disk: the ETag s3s-fs recorded at
/// upload stays, as with bit rot on a real store.
fn rot(s3: &TestS3, key: &str) {
    let path = s3.object_path(key);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut b = [0u8; 16];
    f.read_exact_at(&mut b, 64).unwrap();
    for x in &mut b {
        *x ^= 0x5a;
    }
    f.write_all_at(&b, 64).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_percent_changed_downloads_at_most_three_percent_of_a_full_pass() {
    let s3 = TestS3::start().await;
    let store = s3.store();
    let dir = tempfile::tempdir().unwrap();
    let (img, b1) = first_backup(&store, dir.path(), BLOCKS).await;

    let full = incremental_verify(
        &store,
        VOL,
        "b1",
        &FileChecks::default(),
        &opts(&store, t0(), 1),
    )
    .await
    .expect("first run");
    assert!(full.is_ok(), "{:?}", full.problems());
    assert_eq!(full.full_pass, Some(FullPassReason::NoLedger));
    assert_eq!(full.new_or_changed.blocks, BLOCKS);
    assert_eq!(full.bytes_downloaded(), full.listed.bytes);

    // 1 % of the blocks change before the next nightly backup.
    let changed = [17, 123];
    next_backup(&store, &img, &b1, "b2", &changed).await;
    let inc = incremental_verify(
        &store,
        VOL,
        "b2",
        &FileChecks::default(),
        &opts(&store, t0() + chrono::Duration::days(1), 2),
    )
    .await
    .expect("incremental run");
    assert!(inc.is_ok(), "{:?}", inc.problems());
    assert_eq!(inc.full_pass, None, "{}", inc.summary());
    assert_eq!(inc.new_or_changed.blocks, 2, "{}", inc.summary());
    assert!(
        inc.scrubbed.blocks >= 3,
        "2 % of 198 trusted blocks: {}",
        inc.summary()
    );
    assert_eq!(
        inc.new_or_changed.blocks + inc.scrubbed.blocks + inc.skipped.blocks,
        inc.listed.blocks
    );
    let ratio = inc.bytes_downloaded() as f64 / full.bytes_downloaded() as f64;
    assert!(
        ratio <= 0.03,
        "incremental downloaded {:.2} % of a full pass: {}",
        ratio * 100.0,
        inc.summary()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_new_block_fails_the_incremental_run_and_stays_out_of_the_ledger() {
    let s3 = TestS3::start().await;
    let store = s3.store();
    let dir = tempfile::tempdir().unwrap();
    let (img, b1) = first_backup(&store, dir.path(), SMALL).await;
    let no_files = FileChecks::default();
    incremental_verify(&store, VOL, "b1", &no_files, &opts(&store, t0(), 1))
        .await
        .unwrap();
    let b2 = next_backup(&store, &img, &b1, "b2", &[5, 6]).await;
    let bad = block_key(&store, 6, 1);
    rot(&s3, &bad);

    let day1 = t0() + chrono::Duration::days(1);
    let r = incremental_verify(&store, VOL, "b2", &no_files, &opts(&store, day1, 2))
        .await
        .unwrap();
    assert!(!r.is_ok());
    let msg = r.problems().join("\n");
    assert!(
        msg.contains(&bad) && msg.contains("checksum mismatch"),
        "{msg}"
    );
    assert!(msg.contains(&format!("offset {}", 6 * BS)), "{msg}");

    // The next run downloads it again (no entry was written for a bad block) and fails again.
    let r = incremental_verify(&store, VOL, "b2", &no_files, &opts(&store, day1, 3))
        .await
        .unwrap();
    assert!(r.problems().join("\n").contains(&bad));
    assert!(r.new_or_changed.blocks >= 1);
    let _ = b2;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bit_rot_in_an_old_block_is_found_by_the_scrub_or_the_weekly_full_pass() {
    let s3 = TestS3::start().await;
    let store = s3.store();
    let dir = tempfile::tempdir().unwrap();
    let (_img, _b1) = first_backup(&store, dir.path(), SMALL).await;
    let no_files = FileChecks::default();
    incremental_verify(&store, VOL, "b1", &no_files, &opts(&store, t0(), 1))
        .await
        .unwrap();
    let rotten = block_key(&store, 21, 0);
    rot(&s3, &rotten);

    // Nightly runs with fixed seeds; a full pass is due after 7 days at the latest.
    let mut found = None;
    for night in 1..=7u64 {
        let now = t0() + chrono::Duration::days(night as i64);
        let r = incremental_verify(
            &store,
            VOL,
            "b1",
            &no_files,
            &opts(&store, now, 100 + night),
        )
        .await
        .unwrap();
        if !r.is_ok() {
            let msg = r.problems().join("\n");
            assert!(msg.contains(&rotten), "{msg}");
            found = Some((night, r.full_pass.clone(), r.scrubbed.blocks));
            break;
        }
        assert_eq!(r.new_or_changed.blocks, 0, "night {night}: {}", r.summary());
    }
    let (night, full_pass, _) = found.expect("the rotten block is found within 7 nights");
    if night == 7 {
        assert!(
            matches!(full_pass, Some(FullPassReason::Due { .. })),
            "{full_pass:?}"
        );
    }

    // A whole-block scrub finds it on the first incremental night as well.
    let s3b = TestS3::start().await;
    let store_b = s3b.store();
    let dir_b = tempfile::tempdir().unwrap();
    first_backup(&store_b, dir_b.path(), SMALL).await;
    incremental_verify(&store_b, VOL, "b1", &no_files, &opts(&store_b, t0(), 1))
        .await
        .unwrap();
    rot(&s3b, &rotten);
    let mut o = opts(&store_b, t0() + chrono::Duration::days(1), 9);
    o.scrub_fraction = 1.0;
    let r = incremental_verify(&store_b, VOL, "b1", &no_files, &o)
        .await
        .unwrap();
    assert!(r.problems().join("\n").contains(&rotten), "{}", r.summary());
    assert!(r.problems.iter().any(|p| matches!(
        p.fault,
        BlockFault::ChecksumMismatch { .. } | BlockFault::Decompress { .. }
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_ledger_only_causes_extra_downloads() {
    let s3 = TestS3::start().await;
    let store = s3.store();
    let dir = tempfile::tempdir().unwrap();
    first_backup(&store, dir.path(), SMALL).await;
    let no_files = FileChecks::default();
    incremental_verify(&store, VOL, "b1", &no_files, &opts(&store, t0(), 1))
        .await
        .unwrap();

    // A bad tool replaces block 9 with other bytes: the signed ledger is valid, but its entry
    // no longer matches the live object's ETag and size, so the block is downloaded again.
    let victim = block_key(&store, 9, 0);
    store
        .put_object(&victim, b"not a block".to_vec())
        .await
        .unwrap();
    let mut o = opts(&store, t0() + chrono::Duration::days(1), 2);
    o.scrub_fraction = 0.0;
    let r = incremental_verify(&store, VOL, "b1", &no_files, &o)
        .await
        .unwrap();
    assert_eq!(r.full_pass, None, "{}", r.summary());
    assert_eq!(r.ledger_entries_stale, 1, "{}", r.summary());
    assert_eq!(
        r.new_or_changed.blocks,
        1,
        "only the changed block: {}",
        r.summary()
    );
    assert!(
        r.problems().join("\n").contains(&victim),
        "{:?}",
        r.problems()
    );

    // Someone with write access to the bucket now edits the ledger to carry the new object's
    // ETag and size, so that a cross-check alone would skip it: the signature fails, the
    // whole ledger is rejected and the run is a full pass that finds the block.
    let (_, new_etag) = store.head_tagged(&victim).await.unwrap().expect("object");
    let new_etag = new_etag.expect("etag");
    let lkey = ledger_key(store.root(), VOL);
    let text = String::from_utf8(store.get_object(&lkey).await.unwrap().unwrap()).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cs = dr_backupstore::checksum(&block(9, 0));
    v["ledger"]["blocks"][&cs] = serde_json::json!({
        "size": 11, "etag": new_etag, "verified_at": "2026-03-01T02:00:00Z"
    });
    store
        .put_object(&lkey, serde_json::to_vec(&v).unwrap())
        .await
        .unwrap();
    let r = incremental_verify(&store, VOL, "b1", &no_files, &o)
        .await
        .unwrap();
    assert!(
        matches!(&r.full_pass, Some(FullPassReason::LedgerRejected { reason }) if reason.contains("signature")),
        "{}",
        r.summary()
    );
    assert_eq!(r.new_or_changed.blocks, SMALL, "full pass: {}", r.summary());
    assert!(
        r.problems().join("\n").contains(&victim),
        "{:?}",
        r.problems()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_ledger_and_stale_full_pass() {
    let s3 = TestS3::start().await;
    let store = s3.store();
    let dir = tempfile::tempdir().unwrap();
    first_backup(&store, dir.path(), SMALL).await;
    let no_files = FileChecks::default();
    let path = dir.path().join("ledgers/vol-inc.json");
    let mut o = opts(&store, t0(), 1);
    o.ledger = LedgerLocation::Local(path.clone());
    o.full_every = Duration::from_secs(3 * 24 * 3600);
    let r = incremental_verify(&store, VOL, "b1", &no_files, &o)
        .await
        .unwrap();
    assert_eq!(r.full_pass, Some(FullPassReason::NoLedger));
    assert!(path.exists(), "local ledger written");
    assert!(
        store
            .get_object(&ledger_key(store.root(), VOL))
            .await
            .unwrap()
            .is_none(),
        "nothing written to the target"
    );
    o.now = t0() + chrono::Duration::days(2);
    let r = incremental_verify(&store, VOL, "b1", &no_files, &o)
        .await
        .unwrap();
    assert_eq!(r.full_pass, None);
    assert!(r.skipped.blocks > 0);
    o.now = t0() + chrono::Duration::days(3);
    let r = incremental_verify(&store, VOL, "b1", &no_files, &o)
        .await
        .unwrap();
    assert!(
        matches!(r.full_pass, Some(FullPassReason::Due { .. })),
        "{}",
        r.summary()
    );
    assert_eq!(r.skipped.blocks, 0);
}
