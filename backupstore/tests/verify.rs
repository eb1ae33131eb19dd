//! Structural and deep verification of backups in S3, clean and damaged.

mod common;

use common::{seven_mib_image, write_image, TestS3, MI};
use dr_backupstore::{
    compress, deep_verify, upload_image, verify_structure, BackupCfg, BackupStore, BlockMapping,
    CompressionMethod, RestoreError, UploadOptions, VerifyError,
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
    assert_eq!(deep.restore.bytes_verified, 5 * MI);
    assert_eq!(deep.restore.blocks, cfg.blocks.len() as u64);
    assert_eq!(std::fs::read(&out).expect("read"), seven_mib_image());
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
