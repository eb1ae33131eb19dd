//! Upload → S3 layout → restore round trips against an in-process S3 server.

mod common;

use std::collections::BTreeMap;
use std::sync::Mutex;

use common::{
    padded, pattern, seven_mib_image, sha512_64, write_image, write_image_allocated, TestS3,
    BUCKET, MI,
};
use dr_backupstore::{
    restore_image, upload_image, BackupCfg, BackupStore, BackupTargetUrl, CompressionMethod,
    UploadOptions, BLOCK_SIZE_16MI,
};

const VOL: &str = "pvc-sentinel";

fn opts(compression: CompressionMethod) -> UploadOptions {
    UploadOptions {
        compression,
        snapshot_name: "snap-1".into(),
        snapshot_created_at: "2025-05-01T10:00:00Z".into(),
        labels: BTreeMap::from([("drill".to_string(), "test".to_string())]),
        ..Default::default()
    }
}

/// `backupstore/volumes/<h1>/<h2>/<vol>/`, computed without the crate's layout module.
fn vol_dir(vol: &str) -> String {
    let c = sha512_64(vol.as_bytes());
    format!("backupstore/volumes/{}/{}/{vol}/", &c[0..2], &c[2..4])
}

fn blk_key(vol: &str, cs: &str) -> String {
    format!(
        "{}blocks/{}/{}/{cs}.blk",
        vol_dir(vol),
        &cs[0..2],
        &cs[2..4]
    )
}

async fn raw_json(s3: &TestS3, key: &str) -> serde_json::Value {
    let bytes = s3
        .store()
        .get_object(key)
        .await
        .expect("get")
        .unwrap_or_else(|| panic!("{key} missing"));
    serde_json::from_slice(&bytes).expect("json")
}

async fn round_trip(compression: CompressionMethod, magic: &[u8]) {
    let s3 = TestS3::start().await;
    let store = s3.store();
    let dir = tempfile::tempdir().expect("tempdir");
    let image = seven_mib_image();
    let src = dir.path().join("src.img");
    write_image(&src, &image);

    let cfg = upload_image(
        &store,
        VOL,
        "backup-1",
        &src,
        opts(compression),
        None,
        |_, _| {},
    )
    .await
    .expect("upload");

    // Exact layout: one volume.cfg, one backup cfg, two distinct blocks (hole skipped, copy
    // deduped, the 1 MiB tail zero-padded to a full 2 MiB block as Longhorn's always are).
    let b0 = sha512_64(&image[..(2 * MI) as usize]);
    let b3 = sha512_64(&padded(&image[(6 * MI) as usize..], 2 * MI));
    let mut expected = vec![
        format!("{}volume.cfg", vol_dir(VOL)),
        format!("{}backups/backup_backup-1.cfg", vol_dir(VOL)),
        blk_key(VOL, &b0),
        blk_key(VOL, &b3),
    ];
    expected.sort();
    assert_eq!(s3.all_keys().await, expected);

    // Stored blocks are in the declared format.
    let mut stored_total = 0u64;
    for cs in [&b0, &b3] {
        let bytes = store
            .get_object(&blk_key(VOL, cs))
            .await
            .expect("get")
            .expect("block");
        assert!(
            bytes.starts_with(magic),
            "{compression} block lacks magic bytes"
        );
        stored_total += bytes.len() as u64;
    }

    // The cfg as Longhorn would read it: field names and string-encoded integers.
    let raw = raw_json(&s3, &format!("{}backups/backup_backup-1.cfg", vol_dir(VOL))).await;
    assert_eq!(raw["Name"], "backup-1");
    assert_eq!(raw["VolumeName"], VOL);
    assert_eq!(raw["SnapshotName"], "snap-1");
    assert_eq!(raw["SnapshotCreatedAt"], "2025-05-01T10:00:00Z");
    // Longhorn's rule: listed blocks × block size (3 × 2 MiB), not the volume size.
    assert_eq!(raw["Size"], (6 * MI).to_string());
    assert_eq!(raw["CompressionMethod"], compression.as_str());
    assert_eq!(raw["ProcessingBlocks"], serde_json::json!({}));
    assert_eq!(raw["IsIncremental"], false);
    assert_eq!(raw["Labels"]["drill"], "test");
    assert_eq!(raw["Parameters"]["backup-block-size"], "2097152");
    assert_eq!(raw["NewlyUploadedDataSize"], stored_total.to_string());
    assert_eq!(raw["ReUploadedDataSize"], "0");
    let created = raw["CreatedTime"].as_str().expect("CreatedTime string");
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok(),
        "{created}"
    );
    let blocks: Vec<(u64, String)> = raw["Blocks"]
        .as_array()
        .expect("Blocks array")
        .iter()
        .map(|b| {
            (
                b["Offset"].as_u64().expect("numeric Offset"),
                b["BlockChecksum"]
                    .as_str()
                    .expect("BlockChecksum")
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        blocks,
        vec![(0, b0.clone()), (4 * MI, b0.clone()), (6 * MI, b3.clone())]
    );
    assert_eq!(cfg.blocks.len(), 3);

    let vraw = raw_json(&s3, &format!("{}volume.cfg", vol_dir(VOL))).await;
    assert_eq!(vraw["Name"], VOL);
    assert_eq!(vraw["LastBackupName"], "backup-1");
    assert_eq!(vraw["LastBackupAt"], "2025-05-01T10:00:00Z");
    // The volume size: the image rounded up to whole blocks.
    assert_eq!(vraw["Size"], (8 * MI).to_string());
    assert_eq!(vraw["BlockCount"], "2");
    // Double-encoded, as Go's `json:",string"` writes it.
    assert_eq!(
        vraw["CompressionMethod"],
        format!("\"{}\"", compression.as_str())
    );
    assert_eq!(vraw["DataEngine"], "\"v1\"");
    assert!(!vraw["CreatedTime"].as_str().unwrap_or("").is_empty());

    // Restore from what S3 holds (re-read the cfg) and compare byte for byte.
    let read_back = store
        .get_backup_cfg(VOL, "backup-1")
        .await
        .expect("get cfg")
        .expect("cfg exists");
    assert_eq!(read_back, cfg);
    let out = dir.path().join("restored.img");
    let summary = restore_image(&store, VOL, &read_back, &out, |_, _| {})
        .await
        .expect("restore");
    assert_eq!(summary.blocks, 3);
    assert_eq!(summary.bytes_verified, 3 * 2 * MI);
    assert_eq!(summary.size, 8 * MI);
    assert_eq!(
        std::fs::read(&out).expect("read restored"),
        padded(&image, 2 * MI)
    );
}

/// Longhorn backs up every *allocated* block, all-zero ones included, and skips holes
/// (longhorn-engine@v1.9.1 vendor/…/backupstore/deltablock.go `backupMapping`: the mappings are
/// the snapshot's data extents). The all-zero 2 MiB block's name is Longhorn's
/// `731859…26d86b0`.
#[tokio::test]
async fn allocated_zero_blocks_are_backed_up_and_holes_are_not() {
    let s3 = TestS3::start().await;
    let store = s3.store();
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src.img");
    // Block 0 data, block 1 written zeros (allocated), blocks 2-3 a hole, block 4 data.
    let mut image = pattern(5, (2 * MI) as usize);
    image.extend(std::iter::repeat_n(0u8, (6 * MI) as usize));
    image.extend(pattern(6, (2 * MI) as usize));
    write_image(&src, &image);
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&src)
            .expect("open");
        f.write_all_at(&vec![0u8; (2 * MI) as usize], 2 * MI)
            .expect("write zeros");
        f.sync_all().expect("sync");
    }
    let cfg = upload_image(
        &store,
        VOL,
        "backup-z",
        &src,
        opts(CompressionMethod::Lz4),
        None,
        |_, _| {},
    )
    .await
    .expect("upload");
    const ZERO_2MI: &str = "731859029215873fdac1c9f2f8bd25a334abf0f3a9e1b057cf2cacc2826d86b0";
    assert_eq!(
        cfg.blocks
            .iter()
            .map(|b| (b.offset, b.block_checksum.as_str() == ZERO_2MI))
            .collect::<Vec<_>>(),
        vec![(0, false), (2 * MI, true), (8 * MI, false)]
    );
    assert_eq!(cfg.size, 3 * 2 * MI);
    assert!(store
        .head(&blk_key(VOL, ZERO_2MI))
        .await
        .expect("head")
        .is_some());
    let out = dir.path().join("out.img");
    restore_image(&store, VOL, &cfg, &out, |_, _| {})
        .await
        .expect("restore");
    assert_eq!(std::fs::read(&out).expect("read"), image);

    // A fully allocated image: every block is backed up, zeros included.
    let full = dir.path().join("full.img");
    write_image_allocated(&full, &image);
    let cfg = upload_image(
        &store,
        VOL,
        "backup-f",
        &full,
        opts(CompressionMethod::Lz4),
        None,
        |_, _| {},
    )
    .await
    .expect("upload");
    assert_eq!(cfg.blocks.len(), 5);
    assert_eq!(cfg.size, 10 * MI);
}

/// The compression of a volume is fixed by its first backup: a later request for another
/// method writes the volume's (longhorn-engine@v1.9.1 deltablock.go `CreateDeltaBlockBackup`:
/// `config.Volume.CompressionMethod = volume.CompressionMethod`).
#[tokio::test]
async fn compression_is_fixed_by_the_volumes_first_backup() {
    let s3 = TestS3::start().await;
    let store = s3.store();
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src.img");
    write_image(&src, &seven_mib_image());
    upload_image(
        &store,
        VOL,
        "backup-1",
        &src,
        opts(CompressionMethod::Gzip),
        None,
        |_, _| {},
    )
    .await
    .expect("first");
    write_image(&src, &pattern(9, (4 * MI) as usize));
    let second = upload_image(
        &store,
        VOL,
        "backup-2",
        &src,
        opts(CompressionMethod::Lz4),
        None,
        |_, _| {},
    )
    .await
    .expect("second");
    assert_eq!(second.compression_method, CompressionMethod::Gzip);
    for b in &second.blocks {
        let bytes = store
            .get_object(&blk_key(VOL, &b.block_checksum))
            .await
            .expect("get")
            .expect("block");
        assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
    }
    let vol = store.get_volume_cfg(VOL).await.expect("get").expect("cfg");
    assert_eq!(vol.compression_method, CompressionMethod::Gzip);
}

#[tokio::test]
async fn lz4_round_trip_writes_longhorn_layout_and_restores_identically() {
    round_trip(CompressionMethod::Lz4, &[0x04, 0x22, 0x4d, 0x18]).await;
}

#[tokio::test]
async fn gzip_round_trip_writes_longhorn_layout_and_restores_identically() {
    round_trip(CompressionMethod::Gzip, &[0x1f, 0x8b]).await;
}

#[tokio::test]
async fn second_backup_uploads_only_changed_blocks_and_lists_the_complete_map() {
    let s3 = TestS3::start().await;
    let store = s3.store();
    let dir = tempfile::tempdir().expect("tempdir");
    let image = seven_mib_image();
    let src = dir.path().join("src.img");
    write_image(&src, &image);
    let first = upload_image(
        &store,
        VOL,
        "backup-1",
        &src,
        opts(CompressionMethod::Lz4),
        None,
        |_, _| {},
    )
    .await
    .expect("first upload");

    // Change only the last (partial) block.
    let mut changed = image.clone();
    changed[(6 * MI) as usize + 100] ^= 0xff;
    write_image(&src, &changed);
    let second = upload_image(
        &store,
        VOL,
        "backup-2",
        &src,
        UploadOptions {
            // A new snapshot: Longhorn makes a full backup of the snapshot it last backed up.
            snapshot_name: "snap-2".into(),
            ..opts(CompressionMethod::Lz4)
        },
        Some(&first),
        |_, _| {},
    )
    .await
    .expect("second upload");

    let new_cs = sha512_64(&padded(&changed[(6 * MI) as usize..], 2 * MI));
    let new_obj = store
        .get_object(&blk_key(VOL, &new_cs))
        .await
        .expect("get")
        .expect("new block uploaded");
    assert_eq!(second.newly_uploaded_data_size, new_obj.len() as u64);
    assert!(second.is_incremental);
    assert_eq!(
        second.blocks.iter().map(|b| b.offset).collect::<Vec<_>>(),
        vec![0, 4 * MI, 6 * MI],
        "the incremental cfg still lists the complete map"
    );
    assert_eq!(store.list_blocks(VOL).await.expect("list").len(), 3);
    let vol = store
        .get_volume_cfg(VOL)
        .await
        .expect("get")
        .expect("volume.cfg");
    assert_eq!(vol.last_backup_name, "backup-2");
    assert_eq!(vol.block_count, 3);

    // Both backups restore on their own.
    for (cfg, want) in [(&first, &image), (&second, &changed)] {
        let out = dir.path().join(format!("{}.img", cfg.name));
        restore_image(&store, VOL, cfg, &out, |_, _| {})
            .await
            .expect("restore");
        assert_eq!(
            std::fs::read(&out).expect("read"),
            padded(want, 2 * MI),
            "{}",
            cfg.name
        );
    }

    // Without a previous cfg, HEAD finds the existing blocks: nothing new is uploaded.
    let third = upload_image(
        &store,
        VOL,
        "backup-3",
        &src,
        opts(CompressionMethod::Lz4),
        None,
        |_, _| {},
    )
    .await
    .expect("third upload");
    assert_eq!(third.newly_uploaded_data_size, 0);
    assert_eq!(store.list_blocks(VOL).await.expect("list").len(), 3);
    assert_eq!(
        store.list_backups(VOL).await.expect("list backups"),
        vec!["backup-1", "backup-2", "backup-3"]
    );
}

#[tokio::test]
async fn full_backup_mode_reuploads_existing_blocks() {
    let s3 = TestS3::start().await;
    let store = s3.store();
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src.img");
    write_image(&src, &seven_mib_image());
    let first = upload_image(
        &store,
        VOL,
        "backup-1",
        &src,
        opts(CompressionMethod::Lz4),
        None,
        |_, _| {},
    )
    .await
    .expect("first");
    let mut o = opts(CompressionMethod::Lz4);
    o.parameters.insert("backup-mode".into(), "full".into());
    let full = upload_image(&store, VOL, "backup-2", &src, o, Some(&first), |_, _| {})
        .await
        .expect("full");
    assert!(!full.is_incremental);
    assert_eq!(full.newly_uploaded_data_size, 0);
    assert_eq!(full.re_uploaded_data_size, first.newly_uploaded_data_size);
}

#[tokio::test]
async fn block_size_16mi_round_trip() {
    let s3 = TestS3::start().await;
    let store = s3.store();
    let dir = tempfile::tempdir().expect("tempdir");
    // 16 MiB of data, a 16 MiB hole, then 4 MiB of data: 36 MiB, last block partial (stored
    // zero-padded to 16 MiB; the volume is 48 MiB).
    let mut image = pattern(7, (16 * MI) as usize);
    image.extend(std::iter::repeat_n(0u8, (16 * MI) as usize));
    image.extend(pattern(8, (4 * MI) as usize));
    let src = dir.path().join("src.img");
    write_image(&src, &image);
    let mut o = opts(CompressionMethod::Lz4);
    o.block_size = BLOCK_SIZE_16MI;
    let cfg = upload_image(&store, VOL, "backup-16", &src, o, None, |_, _| {})
        .await
        .expect("upload");
    assert_eq!(cfg.block_size().expect("block size"), BLOCK_SIZE_16MI);
    assert_eq!(
        cfg.blocks.iter().map(|b| b.offset).collect::<Vec<_>>(),
        vec![0, 32 * MI]
    );
    let first = sha512_64(&image[..(16 * MI) as usize]);
    assert!(store
        .head(&blk_key(VOL, &first))
        .await
        .expect("head")
        .is_some());

    let read_back = store
        .get_backup_cfg(VOL, "backup-16")
        .await
        .expect("get")
        .expect("cfg");
    assert_eq!(read_back.parameters["backup-block-size"], "16777216");
    assert_eq!(read_back.size, 2 * 16 * MI, "listed blocks × 16 MiB");
    let out = dir.path().join("out.img");
    restore_image(&store, VOL, &read_back, &out, |_, _| {})
        .await
        .expect("restore");
    assert_eq!(std::fs::read(&out).expect("read"), padded(&image, 16 * MI));
}

#[tokio::test]
async fn restore_falls_back_when_lz4_blocks_are_declared_gzip() {
    let s3 = TestS3::start().await;
    let store = s3.store();
    let dir = tempfile::tempdir().expect("tempdir");
    let image = seven_mib_image();
    let src = dir.path().join("src.img");
    write_image(&src, &image);
    upload_image(
        &store,
        VOL,
        "backup-1",
        &src,
        opts(CompressionMethod::Lz4),
        None,
        |_, _| {},
    )
    .await
    .expect("upload");
    // Rewrite the cfg as a legacy writer would: empty method, meaning gzip.
    let key = store.backup_cfg_key(VOL, "backup-1");
    let mut raw = raw_json(&s3, &key).await;
    raw["CompressionMethod"] = serde_json::Value::String(String::new());
    store
        .put_object(&key, serde_json::to_vec(&raw).expect("ser"))
        .await
        .expect("put");
    let cfg = store
        .get_backup_cfg(VOL, "backup-1")
        .await
        .expect("get")
        .expect("cfg");
    assert_eq!(cfg.compression_method, CompressionMethod::Gzip);
    let out = dir.path().join("out.img");
    restore_image(&store, VOL, &cfg, &out, |_, _| {})
        .await
        .expect("restore with fallback");
    assert_eq!(std::fs::read(&out).expect("read"), padded(&image, 2 * MI));
}

#[tokio::test]
async fn prefixed_target_writes_under_prefix_and_lists_volumes() {
    let s3 = TestS3::start().await;
    let target =
        BackupTargetUrl::parse(&format!("s3://{BUCKET}@us-east-1/cluster-a/")).expect("target");
    let store = BackupStore::for_target(s3.client.clone(), &target);
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src.img");
    write_image(&src, &pattern(3, (2 * MI) as usize));
    for vol in ["vol-b", "vol-a"] {
        upload_image(
            &store,
            vol,
            "backup-x",
            &src,
            opts(CompressionMethod::Lz4),
            None,
            |_, _| {},
        )
        .await
        .expect("upload");
    }
    let keys = s3.all_keys().await;
    assert!(!keys.is_empty());
    assert!(
        keys.iter()
            .all(|k| k.starts_with("cluster-a/backupstore/volumes/")),
        "{keys:?}"
    );
    assert_eq!(
        store.list_volumes().await.expect("list"),
        vec!["vol-a", "vol-b"]
    );
    assert!(s3.store().list_volumes().await.expect("list").is_empty());
}

#[tokio::test]
async fn progress_reports_every_byte_once() {
    let s3 = TestS3::start().await;
    let store = s3.store();
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src.img");
    write_image(&src, &seven_mib_image());
    let seen = Mutex::new(Vec::new());
    let cfg = upload_image(
        &store,
        VOL,
        "backup-1",
        &src,
        opts(CompressionMethod::Lz4),
        None,
        |d, t| {
            seen.lock().expect("lock").push((d, t));
        },
    )
    .await
    .expect("upload");
    let seen = seen.into_inner().expect("lock");
    assert_eq!(
        seen.len(),
        3,
        "one call per allocated block (the hole is not read)"
    );
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(seen.last().copied(), Some((6 * MI, 6 * MI)));

    let restore_seen = Mutex::new(Vec::new());
    restore_image(&store, VOL, &cfg, &dir.path().join("o.img"), |d, t| {
        restore_seen.lock().expect("lock").push((d, t));
    })
    .await
    .expect("restore");
    let restore_seen = restore_seen.into_inner().expect("lock");
    assert_eq!(restore_seen.last().copied(), Some((6 * MI, 6 * MI)));
}

#[tokio::test]
async fn put_bytes_if_absent_refuses_to_overwrite() {
    let s3 = TestS3::start().await;
    let store = s3.store();
    let key = "dr-harness/runs/run-1/lock";
    assert!(store
        .put_bytes_if_absent(key, b"first".to_vec())
        .await
        .expect("put"));
    assert!(!store
        .put_bytes_if_absent(key, b"second".to_vec())
        .await
        .expect("put"));
    assert_eq!(
        store.get_object(key).await.expect("get"),
        Some(b"first".to_vec())
    );
    assert_eq!(store.head(key).await.expect("head"), Some(5));
    store.delete_object(key).await.expect("delete");
    assert_eq!(store.head(key).await.expect("head"), None);
    assert_eq!(store.get_object(key).await.expect("get"), None);
}

#[tokio::test]
async fn invalid_names_and_block_sizes_are_rejected_before_io() {
    let s3 = TestS3::start().await;
    let store = s3.store();
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src.img");
    write_image(&src, &pattern(1, 4096));
    let err = upload_image(
        &store,
        "-bad",
        "b1",
        &src,
        UploadOptions::default(),
        None,
        |_, _| {},
    )
    .await
    .expect_err("bad name");
    assert!(err.to_string().contains("-bad"), "{err}");
    let o = UploadOptions {
        block_size: 4 * MI,
        ..Default::default()
    };
    let err = upload_image(&store, VOL, "b1", &src, o, None, |_, _| {})
        .await
        .expect_err("bad block size");
    assert!(err.to_string().contains("4194304"), "{err}");
    assert!(s3.all_keys().await.is_empty());
    let _: Option<BackupCfg> = store.get_backup_cfg(VOL, "b1").await.expect("get");
}
