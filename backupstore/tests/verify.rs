//! Structural and deep verification of backups in S3, clean and damaged.

mod common;

use common::{seven_mib_image, write_image, TestS3, MI};
use dr_backupstore::{
    compress, deep_verify, restore_image, upload_image, verify_structure, BackupCfg, BackupStore,
    BlockMapping, CompressionMethod, RestoreError, UploadOptions, VerifyError,
};

const VOL: &str = "pvc-sentinel";
const BACKUP: &str = "backup-0123456789abcdef";

/// Starts S3 and writes the 7 MiB test image as [`BACKUP`]; returns the server, store, cfg and
/// a temp dir for outputs.
async fn backed_up() -> (TestS3, BackupStore, BackupCfg, tempfile::TempDir) {
    let s3 = TestS3::start().await;
    let store = s3.store();
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src.img");
    write_image(&src, &seven_mib_image());
    let cfg = upload_image(
        &store,
        VOL,
        BACKUP,
        &src,
        UploadOptions::default(),
        None,
        |_, _| {},
    )
    .await
    .expect("upload");
    (s3, store, cfg, dir)
}

#[tokio::test]
async fn clean_backup_passes_structural_and_deep_verification() {
    let (_s3, store, cfg, dir) = backed_up().await;
    let report = verify_structure(&store, VOL, BACKUP).await.expect("verify");
    assert!(report.is_ok(), "{:?}", report.problems());
    assert!(report.volume_cfg_found && report.volume_cfg_names_it && report.complete);
    assert_eq!(report.blocks_listed, 3);
    assert_eq!(report.unique_blocks, 2);
    assert_eq!(report.block_size, Some(2 * MI));
    assert!(!report.head_fallback);

    let out = dir.path().join("deep.img");
    let deep = deep_verify(&store, VOL, BACKUP, &out).await.expect("deep");
    assert_eq!(deep.restore.bytes_verified, 6 * MI);
    assert_eq!(deep.restore.blocks, cfg.blocks.len() as u64);
    assert_eq!(
        std::fs::read(&out).expect("read"),
        common::padded(&seven_mib_image(), 2 * MI)
    );
}

/// A sparse backup lists few blocks, so its cfg `Size` (listed blocks × block size, Longhorn's
/// rule) is far below the offsets of its blocks; the bound is the volume size of `volume.cfg`.
/// An empty volume's backup (`Size "0"`, no blocks) is legitimate too.
#[tokio::test]
async fn sparse_backup_with_blocks_beyond_its_size_and_an_empty_backup_verify_clean() {
    let s3 = TestS3::start().await;
    let store = s3.store();
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src.img");
    let mut image = vec![0u8; (14 * MI) as usize];
    image.extend(common::pattern(4, (2 * MI) as usize));
    write_image(&src, &image);
    let cfg = upload_image(
        &store,
        VOL,
        "sparse",
        &src,
        UploadOptions::default(),
        None,
        |_, _| {},
    )
    .await
    .expect("upload");
    assert_eq!(cfg.size, 2 * MI);
    assert_eq!(cfg.blocks[0].offset, 14 * MI);
    let report = verify_structure(&store, VOL, "sparse")
        .await
        .expect("verify");
    assert!(report.is_ok(), "{:?}", report.problems());
    assert_eq!(report.volume_size, Some(16 * MI));
    let out = dir.path().join("sparse.img");
    let deep = deep_verify(&store, VOL, "sparse", &out)
        .await
        .expect("deep");
    assert_eq!(deep.restore.size, 16 * MI);
    assert_eq!(std::fs::read(&out).expect("read"), image);

    let empty = dir.path().join("empty.img");
    write_image(&empty, &vec![0u8; (4 * MI) as usize]);
    let cfg = upload_image(
        &store,
        "vol-empty",
        "empty-1",
        &empty,
        UploadOptions::default(),
        None,
        |_, _| {},
    )
    .await
    .expect("upload empty");
    assert!(cfg.blocks.is_empty());
    assert_eq!(cfg.size, 0);
    let raw = store
        .get_object(&store.backup_cfg_key("vol-empty", "empty-1"))
        .await
        .expect("get")
        .expect("cfg");
    assert!(
        String::from_utf8_lossy(&raw).contains(r#""Size":"0""#),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    let report = verify_structure(&store, "vol-empty", "empty-1")
        .await
        .expect("verify");
    assert!(report.is_ok(), "{:?}", report.problems());
    let deep = deep_verify(&store, "vol-empty", "empty-1", &dir.path().join("e.img"))
        .await
        .expect("deep empty");
    assert_eq!(deep.restore.size, 4 * MI);
}

/// A block beyond the volume size of volume.cfg is out of range, in verification and restore.
#[tokio::test]
async fn block_beyond_the_volume_size_is_out_of_range() {
    let (_s3, store, mut cfg, dir) = backed_up().await;
    let cs = cfg.blocks[0].block_checksum.clone();
    cfg.blocks.push(BlockMapping {
        offset: 8 * MI,
        block_checksum: cs,
    });
    store.put_backup_cfg(&cfg).await.expect("put");
    let report = verify_structure(&store, VOL, BACKUP).await.expect("verify");
    assert_eq!(report.out_of_range, vec![8 * MI]);
    let problems = report.problems().join("\n");
    assert!(
        problems.contains("offset 8388608") && problems.contains("volume size 8388608"),
        "{problems}"
    );
    let err = restore_image(&store, VOL, &cfg, &dir.path().join("o"), |_, _| {})
        .await
        .expect_err("out of range")
        .to_string();
    assert!(
        err.contains("offset 8388608") && err.contains(".blk"),
        "{err}"
    );
}

#[tokio::test]
async fn deleted_block_is_reported_missing_with_its_key_for_every_offset() {
    let (_s3, store, cfg, dir) = backed_up().await;
    // Block 0's content is also at offset 4 MiB: deleting it breaks both offsets.
    let key = store.block_key(VOL, &cfg.blocks[0].block_checksum);
    store.delete_object(&key).await.expect("delete");

    let report = verify_structure(&store, VOL, BACKUP).await.expect("verify");
    assert_eq!(
        report.blocks_missing,
        vec![(0, key.clone()), (4 * MI, key.clone())]
    );
    let problems = report.problems();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems.iter().all(|p| p.contains(&key)), "{problems:?}");

    let err = deep_verify(&store, VOL, BACKUP, &dir.path().join("o.img"))
        .await
        .expect_err("missing block");
    assert!(
        matches!(err, VerifyError::Restore(RestoreError::MissingBlock { key: ref k, .. }) if *k == key),
        "{err}"
    );
}

#[tokio::test]
async fn garbage_block_fails_deep_verify_naming_key_and_offset() {
    let (_s3, store, cfg, dir) = backed_up().await;
    let last = cfg.blocks.last().expect("blocks");
    let key = store.block_key(VOL, &last.block_checksum);
    store
        .put_object(&key, b"not a compressed block at all".to_vec())
        .await
        .expect("overwrite");

    // Structure is still fine: the object exists.
    assert!(verify_structure(&store, VOL, BACKUP)
        .await
        .expect("verify")
        .is_ok());

    let err = deep_verify(&store, VOL, BACKUP, &dir.path().join("o.img"))
        .await
        .expect_err("garbage");
    let msg = err.to_string();
    assert!(msg.contains(&key), "{msg}");
    assert!(msg.contains(&(6 * MI).to_string()), "{msg}");
    assert!(
        matches!(err, VerifyError::Restore(RestoreError::Decompress { offset, .. }) if offset == 6 * MI),
        "{msg}"
    );
}

#[tokio::test]
async fn valid_but_wrong_content_is_a_checksum_mismatch() {
    let (_s3, store, cfg, dir) = backed_up().await;
    let last = cfg.blocks.last().expect("blocks");
    let key = store.block_key(VOL, &last.block_checksum);
    let other = compress(CompressionMethod::Lz4, &vec![7u8; MI as usize]).expect("compress");
    store.put_object(&key, other).await.expect("overwrite");

    let err = deep_verify(&store, VOL, BACKUP, &dir.path().join("o.img"))
        .await
        .expect_err("mismatch");
    let msg = err.to_string();
    assert!(
        msg.contains(&key) && msg.contains("checksum mismatch"),
        "{msg}"
    );
    assert!(matches!(
        err,
        VerifyError::Restore(RestoreError::ChecksumMismatch { offset, .. }) if offset == 6 * MI
    ));
}

#[tokio::test]
async fn truncated_cfg_is_a_parse_error_naming_the_key() {
    let (_s3, store, _cfg, _dir) = backed_up().await;
    let key = store.backup_cfg_key(VOL, BACKUP);
    let bytes = store.get_object(&key).await.expect("get").expect("cfg");
    store
        .put_object(&key, bytes[..bytes.len() / 2].to_vec())
        .await
        .expect("truncate");
    let err = verify_structure(&store, VOL, BACKUP)
        .await
        .expect_err("parse error");
    let msg = err.to_string();
    assert!(msg.contains(&key), "{msg}");
    assert!(msg.contains("cannot parse"), "{msg}");
}

#[tokio::test]
async fn empty_created_time_is_reported_in_progress() {
    let (_s3, store, mut cfg, dir) = backed_up().await;
    cfg.created_time.clear();
    store.put_backup_cfg(&cfg).await.expect("put");
    let report = verify_structure(&store, VOL, BACKUP).await.expect("verify");
    assert!(!report.complete);
    let problems = report.problems();
    assert!(
        problems.iter().any(|p| p.contains("in progress")),
        "{problems:?}"
    );
    let err = deep_verify(&store, VOL, BACKUP, &dir.path().join("o.img"))
        .await
        .expect_err("in progress");
    assert!(
        matches!(err, VerifyError::Restore(RestoreError::InProgress { .. })),
        "{err}"
    );
}

#[tokio::test]
async fn inconsistent_block_map_is_reported() {
    let (_s3, store, mut cfg, _dir) = backed_up().await;
    let cs = cfg.blocks[0].block_checksum.clone();
    cfg.blocks.push(BlockMapping {
        offset: MI + 5,
        block_checksum: cs.clone(),
    });
    cfg.blocks.push(BlockMapping {
        offset: 64 * MI,
        block_checksum: cs.clone(),
    });
    cfg.blocks.push(BlockMapping {
        offset: 0,
        block_checksum: cs,
    });
    cfg.blocks.push(BlockMapping {
        offset: 2 * MI,
        block_checksum: "xyz".into(),
    });
    store.put_backup_cfg(&cfg).await.expect("put");
    let report = verify_structure(&store, VOL, BACKUP).await.expect("verify");
    assert_eq!(report.misaligned, vec![MI + 5]);
    assert_eq!(report.out_of_range, vec![64 * MI]);
    assert_eq!(report.duplicate_offsets, vec![0]);
    assert_eq!(report.invalid_checksums, vec![(2 * MI, "xyz".to_string())]);
    assert!(report.blocks_missing.is_empty());
    assert_eq!(report.problems().len(), 4, "{:?}", report.problems());
}

#[tokio::test]
async fn older_backup_is_not_named_by_volume_cfg_and_missing_volume_cfg_is_a_problem() {
    let (_s3, store, _cfg, dir) = backed_up().await;
    let src = dir.path().join("src.img");
    upload_image(
        &store,
        VOL,
        "backup-newer",
        &src,
        UploadOptions::default(),
        None,
        |_, _| {},
    )
    .await
    .expect("second upload");
    let report = verify_structure(&store, VOL, BACKUP).await.expect("verify");
    assert!(!report.volume_cfg_names_it);
    assert!(report.is_ok(), "{:?}", report.problems());

    store
        .delete_object(&store.volume_cfg_key(VOL))
        .await
        .expect("delete");
    let report = verify_structure(&store, VOL, BACKUP).await.expect("verify");
    assert!(!report.volume_cfg_found);
    assert!(report.problems().iter().any(|p| p.contains("volume.cfg")));
}

#[tokio::test]
async fn unknown_backup_is_an_error_naming_the_key() {
    let (_s3, store, _cfg, _dir) = backed_up().await;
    let err = verify_structure(&store, VOL, "backup-nope")
        .await
        .expect_err("not found");
    assert!(matches!(err, VerifyError::BackupNotFound { .. }));
    assert!(err
        .to_string()
        .contains(&store.backup_cfg_key(VOL, "backup-nope")));
}
