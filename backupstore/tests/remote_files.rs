//! Files of a backed-up ext4 volume checked straight from S3, block by block on demand
//! (issue #10 item 2): checking the sentinel manifest of a large volume downloads megabytes,
//! not the volume.

mod common;

use std::io::Read;

use common::ext4img::{build_image, mke2fs_or_skip, write_sentinel_tree};
use common::{TestS3, MI};
use dr_backupstore::ext4::{Ext4Image, DEFAULT_MANIFEST_PATH};
use dr_backupstore::remote::RemoteImage;
use dr_backupstore::{upload_image, UploadOptions};

const VOL: &str = "vol-big";
const FILLER_MIB: u64 = 160;

/// Uploads a 1 GiB ext4 volume holding the sentinel tree and a large file of random data the
/// manifest does not list; returns the store and the backup cfg.
async fn big_volume(s3: &TestS3, test: &str) -> Option<dr_backupstore::BackupCfg> {
    let mke2fs = mke2fs_or_skip(test)?;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    write_sentinel_tree(&root);
    // Random data (incompressible) from the kernel: large and cheap to make.
    let mut filler = vec![0u8; (FILLER_MIB * MI) as usize];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut filler)
        .unwrap();
    std::fs::write(root.join("app-data.bin"), &filler).unwrap();
    drop(filler);
    let img = dir.path().join("vol.img");
    build_image(&mke2fs, &root, &img, 1024);
    let cfg = upload_image(
        &s3.store(),
        VOL,
        "b1",
        &img,
        UploadOptions::default(),
        None,
        |_, _| {},
    )
    .await
    .expect("upload");
    Some(cfg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_of_a_large_volume_is_checked_with_megabytes_of_downloads() {
    let s3 = TestS3::start().await;
    let Some(cfg) = big_volume(&s3, "remote manifest check").await else {
        return;
    };
    let store = s3.store();
    let stored: u64 = store
        .list_blocks(VOL)
        .await
        .unwrap()
        .iter()
        .map(|b| b.size)
        .sum();
    assert!(
        stored >= FILLER_MIB * MI,
        "the backup stores {stored} bytes"
    );

    let (reader, stats) = RemoteImage::new(
        store.clone(),
        VOL,
        &cfg,
        2 * MI,
        1024 * MI,
        tokio::runtime::Handle::current(),
    );
    let report = tokio::task::spawn_blocking(move || {
        Ext4Image::from_reader("s3://backups/vol-big", Box::new(reader))
            .expect("ext4 from S3")
            .verify_manifest(DEFAULT_MANIFEST_PATH)
            .expect("manifest")
    })
    .await
    .unwrap();
    assert!(report.is_ok(), "{:?}", report.problems());
    assert_eq!(report.files.len(), 5);
    let fetched = stats.bytes();
    assert!(
        fetched <= 24 * MI,
        "checking 5 files fetched {} MiB of a {} MiB backup",
        fetched / MI,
        stored / MI
    );
    assert!(stats.problems().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_block_under_a_checked_file_is_named_by_key_and_offset() {
    let s3 = TestS3::start().await;
    let Some(cfg) = big_volume(&s3, "remote bad block").await else {
        return;
    };
    let store = s3.store();
    // Find the block holding the 5 MiB sentinel file: read the file once and note which
    // blocks that fetched beyond the metadata.
    let (reader, stats) = RemoteImage::new(
        store.clone(),
        VOL,
        &cfg,
        2 * MI,
        1024 * MI,
        tokio::runtime::Handle::current(),
    );
    let before_after = tokio::task::spawn_blocking(move || {
        let fs = Ext4Image::from_reader("s3", Box::new(reader)).unwrap();
        fs.read_file_digest("/dr-harness/RUN_ID").unwrap();
        let before = stats.blocks();
        fs.read_file_digest("/dr-harness/data/big-5mib.bin")
            .unwrap();
        (before, stats.blocks())
    })
    .await
    .unwrap();
    assert!(before_after.1 > before_after.0, "{before_after:?}");
    // Corrupt every block the map lists whose plaintext holds the file's first bytes.
    let needle = common::pattern(common::ext4img::BIG_SEED, 4096);
    let mut hit = None;
    for b in &cfg.blocks {
        let stored = store
            .get_block(VOL, &b.block_checksum)
            .await
            .unwrap()
            .unwrap();
        let plain =
            dr_backupstore::decompress(cfg.compression_method, &stored, 2 * MI as usize).unwrap();
        // A file's data starts on a filesystem block (ext4's smallest is 1 KiB) and Longhorn's
        // blocks are 2 MiB-aligned, so only 1 KiB-aligned offsets need comparing (sliding byte
        // by byte took most of this test's 50 s in a debug build).
        let starts_here = |at: usize| plain.get(at..at + needle.len()) == Some(needle.as_slice());
        if (0..plain.len()).step_by(1024).any(starts_here) {
            hit = Some((b.offset, store.block_key(VOL, &b.block_checksum)));
            store
                .put_block(VOL, &b.block_checksum, b"garbage".to_vec())
                .await
                .unwrap();
            break;
        }
    }
    let (offset, key) = hit.expect("the file's block");
    let (reader, stats) = RemoteImage::new(
        store.clone(),
        VOL,
        &cfg,
        2 * MI,
        1024 * MI,
        tokio::runtime::Handle::current(),
    );
    let found = tokio::task::spawn_blocking(move || {
        Ext4Image::from_reader("s3", Box::new(reader))
            .unwrap()
            .verify_manifest(DEFAULT_MANIFEST_PATH)
    })
    .await
    .unwrap();
    // On a volume this empty mke2fs packs the manifest into the same 2 MiB block as the big
    // file: then the manifest itself is unreadable; otherwise the file is reported.
    let msg = match found {
        Ok(report) => report.problems().join("\n"),
        Err(e) => e.to_string(),
    };
    assert!(msg.contains("big-5mib.bin") || msg.contains(&key), "{msg}");
    let problems = stats.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].key, key);
    assert!(problems[0].message().contains(&offset.to_string()));
}
