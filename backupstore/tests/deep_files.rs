//! Deep verification from S3 alone down to the files of a real ext4 volume (issue #5): clean
//! backups, damaged blocks and cfgs, wrong compression, changed sentinel files, 16 MiB blocks.
//! Images are built by `mke2fs -d`; every test skips with a message when it is absent.

mod common;

use std::path::{Path, PathBuf};

use common::ext4img::{
    build_image, find_in_file, mke2fs_or_skip, sha256sum, write_manifest, write_sentinel_tree,
    BIG_SEED, FILES, RUN_ID,
};
use common::{pattern, TestS3, MI};
use dr_backupstore::ext4::{list_dir, read_file_digest, verify_manifest, verify_paths, EntryKind};
use dr_backupstore::{
    compress, deep_verify_files, upload_image, BackupCfg, BackupStore, BlockFault,
    CompressionMethod, FileChecks, FileStatus, UploadOptions, VerifyError, BLOCK_SIZE_16MI,
    DEFAULT_MANIFEST_PATH,
};

const VOL: &str = "pvc-sentinel";
const BACKUP: &str = "backup-00000000000000d1";
const IMAGE_MIB: u64 = 64;

/// A sentinel tree, its ext4 image, and the image uploaded as [`BACKUP`].
struct Fixture {
    _s3: TestS3,
    store: BackupStore,
    cfg: BackupCfg,
    dir: tempfile::TempDir,
    tree: PathBuf,
    src_img: PathBuf,
}

impl Fixture {
    /// `None` when mke2fs is absent (the test then returns early, having printed why).
    async fn new(test: &str, opts: UploadOptions) -> Option<Self> {
        let mke2fs = mke2fs_or_skip(test)?;
        let dir = tempfile::tempdir().expect("tempdir");
        let tree = dir.path().join("tree");
        write_sentinel_tree(&tree);
        let src_img = dir.path().join("src.img");
        build_image(&mke2fs, &tree, &src_img, IMAGE_MIB);
        let s3 = TestS3::start().await;
        let store = s3.store();
        let cfg = upload_image(&store, VOL, BACKUP, &src_img, opts, None, |_, _| {})
            .await
            .expect("upload");
        Some(Self {
            _s3: s3,
            store,
            cfg,
            dir,
            tree,
            src_img,
        })
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("verified.img")
    }

    /// Key and offset of the block holding the first 4 KiB of the 5 MiB sentinel file.
    fn big_file_block(&self, block_size: u64) -> (String, u64) {
        self.big_file_block_at(block_size, 0)
    }

    /// Key and offset of the block holding byte `file_offset` of the 5 MiB sentinel file, found
    /// by searching the image for the file's content there.
    fn big_file_block_at(&self, block_size: u64, file_offset: usize) -> (String, u64) {
        let content = pattern(BIG_SEED, (5 * MI) as usize);
        let needle = &content[file_offset..file_offset + 4096];
        let at = find_in_file(&self.src_img, needle).expect("big file in image");
        let offset = at / block_size * block_size;
        let b = self
            .cfg
            .blocks
            .iter()
            .find(|b| b.offset == offset)
            .expect("block in map");
        (self.store.block_key(VOL, &b.block_checksum), offset)
    }

    fn expected_sha(&self, name: &str) -> String {
        sha256sum(&self.tree.join("dr-harness").join(name))
    }
}

fn manifest_checks() -> FileChecks {
    FileChecks::manifest(DEFAULT_MANIFEST_PATH)
}

fn assert_same_file(a: &Path, b: &Path) {
    assert_eq!(
        sha256sum(a),
        sha256sum(b),
        "{} vs {}",
        a.display(),
        b.display()
    );
}

#[tokio::test]
async fn clean_backup_verifies_every_sentinel_file() {
    let Some(fx) = Fixture::new("clean_backup", UploadOptions::default()).await else {
        return;
    };
    let report = deep_verify_files(&fx.store, VOL, BACKUP, &fx.out(), &manifest_checks())
        .await
        .expect("deep verify");
    assert!(report.is_ok(), "{:#?}", report.problems());
    let blocks = report.blocks.as_ref().expect("block pass");
    assert_eq!(blocks.blocks_verified, fx.cfg.blocks.len() as u64);
    assert_eq!(blocks.bytes_verified, fx.cfg.blocks.len() as u64 * 2 * MI);
    assert!(blocks.bytes_downloaded > 0);
    assert_same_file(&fx.out(), &fx.src_img);

    let manifest = report
        .files
        .as_ref()
        .and_then(|f| f.manifest.as_ref())
        .expect("manifest");
    assert_eq!(manifest.run_id.as_deref(), Some(RUN_ID));
    let paths: Vec<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    let expected_paths: Vec<String> = FILES.iter().map(|f| format!("/dr-harness/{f}")).collect();
    assert_eq!(paths, expected_paths);
    for (check, name) in manifest.files.iter().zip(FILES) {
        assert_eq!(check.expected, fx.expected_sha(name));
        let size = std::fs::metadata(fx.tree.join("dr-harness").join(name))
            .expect("stat")
            .len();
        assert_eq!(check.status, FileStatus::Ok { size }, "{name}");
    }
    assert_eq!(manifest.files[4].status, FileStatus::Ok { size: 5 * MI });
}

#[tokio::test]
async fn image_reader_lists_nested_dirs_and_digests_files() {
    let Some(fx) = Fixture::new("image_reader", UploadOptions::default()).await else {
        return;
    };
    let img = &fx.src_img;
    let root = list_dir(img, "/dr-harness").expect("list");
    let names: Vec<(&str, EntryKind)> = root.iter().map(|e| (e.name.as_str(), e.kind)).collect();
    assert_eq!(
        names,
        vec![
            ("MANIFEST.sha256", EntryKind::File),
            ("RUN_ID", EntryKind::File),
            ("data", EntryKind::Dir),
            ("ticks", EntryKind::Dir),
        ]
    );
    let deep = list_dir(img, "/dr-harness/data/nested/deep").expect("list nested");
    assert_eq!(deep.len(), 1);
    assert_eq!(deep[0].path, "/dr-harness/data/nested/deep/blob.bin");
    assert_eq!(deep[0].size, 300_000);

    let (size, sha) = read_file_digest(img, "/dr-harness/data/big-5mib.bin").expect("digest");
    assert_eq!(size, 5 * MI);
    assert_eq!(sha, fx.expected_sha("data/big-5mib.bin"));

    let err = read_file_digest(img, "/dr-harness/nope").expect_err("absent");
    assert!(err.to_string().contains("/dr-harness/nope"), "{err}");
    let err = read_file_digest(img, "/dr-harness/data").expect_err("a directory");
    assert!(err.to_string().contains("/dr-harness/data"), "{err}");
    let err = verify_manifest(img, "/dr-harness/NO-MANIFEST").expect_err("no manifest");
    assert!(err.to_string().contains("/dr-harness/NO-MANIFEST"), "{err}");

    // A user-given list, for volumes without a manifest.
    let wanted = vec![
        (
            "/dr-harness/ticks/tick-0001.txt".to_string(),
            fx.expected_sha("ticks/tick-0001.txt"),
        ),
        (
            "/dr-harness/ticks/tick-0009.txt".to_string(),
            "0".repeat(64),
        ),
        ("/dr-harness/RUN_ID".to_string(), "a".repeat(64)),
    ];
    let checks = verify_paths(img, &wanted).expect("verify paths");
    assert!(checks[0].is_ok());
    assert_eq!(checks[1].status, FileStatus::Missing);
    assert!(
        matches!(&checks[2].status, FileStatus::Mismatch { found, .. } if *found == fx.expected_sha("RUN_ID"))
    );
}

#[tokio::test]
async fn missing_block_is_reported_with_its_key_and_the_file_it_breaks() {
    let Some(fx) = Fixture::new("missing_block", UploadOptions::default()).await else {
        return;
    };
    // A block in the middle of the 5 MiB file holds nothing but that file's data.
    let (key, offset) = fx.big_file_block_at(2 * MI, (5 * MI / 2) as usize);
    fx.store.delete_object(&key).await.expect("delete");

    let report = deep_verify_files(&fx.store, VOL, BACKUP, &fx.out(), &manifest_checks())
        .await
        .expect("deep verify runs to the end");
    let blocks = report.blocks.as_ref().expect("block pass");
    assert_eq!(blocks.problems.len(), 1, "{:?}", blocks.problems);
    assert_eq!(blocks.problems[0].key, key);
    assert!(blocks.problems[0].offsets.contains(&offset));
    assert_eq!(blocks.problems[0].fault, BlockFault::Missing);
    // Every other block still verified.
    assert_eq!(blocks.blocks_verified, fx.cfg.blocks.len() as u64 - 1);

    let problems = report.problems();
    let block_msgs: Vec<&String> = problems.iter().filter(|p| p.contains(&key)).collect();
    assert_eq!(block_msgs.len(), 1, "reported once: {problems:?}");
    assert!(block_msgs[0].contains(&offset.to_string()) && block_msgs[0].contains("missing"));
    // The hole lands in the 5 MiB file: the file pass names it with both digests.
    let expected = fx.expected_sha("data/big-5mib.bin");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("/dr-harness/data/big-5mib.bin") && p.contains(&expected)),
        "{problems:?}"
    );
    assert!(!report.is_ok());
}

#[tokio::test]
async fn corrupted_blocks_are_reported_with_key_and_offset() {
    let Some(fx) = Fixture::new("corrupted_block", UploadOptions::default()).await else {
        return;
    };
    let (key, offset) = fx.big_file_block(2 * MI);
    // Valid lz4, wrong content: only the SHA-512/64 name can tell.
    let other = compress(CompressionMethod::Lz4, &vec![7u8; (2 * MI) as usize]).expect("lz4");
    fx.store.put_object(&key, other).await.expect("overwrite");
    // And the first block (superblock) replaced by bytes no decompressor accepts.
    let first = &fx.cfg.blocks[0];
    let first_key = fx.store.block_key(VOL, &first.block_checksum);
    assert_ne!(
        first_key, key,
        "the 5 MiB file must not share the superblock's block"
    );
    fx.store
        .put_object(&first_key, b"definitely not a block".to_vec())
        .await
        .expect("overwrite");

    let report = deep_verify_files(&fx.store, VOL, BACKUP, &fx.out(), &manifest_checks())
        .await
        .expect("deep verify runs to the end");
    let blocks = report.blocks.as_ref().expect("block pass");
    assert_eq!(blocks.problems.len(), 2, "{:?}", blocks.problems);
    let mismatch = blocks
        .problems
        .iter()
        .find(|p| p.key == key)
        .expect("mismatch found");
    assert!(matches!(
        mismatch.fault,
        BlockFault::ChecksumMismatch { .. }
    ));
    assert!(mismatch.offsets.contains(&offset));
    let garbage = blocks
        .problems
        .iter()
        .find(|p| p.key == first_key)
        .expect("garbage found");
    assert!(matches!(garbage.fault, BlockFault::Decompress { .. }));

    let problems = report.problems();
    assert!(
        problems.iter().any(|p| p.contains(&key)
            && p.contains(&offset.to_string())
            && p.contains("checksum mismatch")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains(&first_key)
            && p.contains(&format!("offset {}", first.offset))
            && p.contains("neither gzip nor lz4")),
        "{problems:?}"
    );
    // Without its superblock the image is no filesystem: said, not hidden.
    assert!(
        problems.iter().any(|p| p.contains("not a readable ext4")),
        "{problems:?}"
    );
}

#[tokio::test]
async fn truncated_cfg_is_a_parse_error_naming_the_key() {
    let Some(fx) = Fixture::new("truncated_cfg", UploadOptions::default()).await else {
        return;
    };
    let key = fx.store.backup_cfg_key(VOL, BACKUP);
    let bytes = fx.store.get_object(&key).await.expect("get").expect("cfg");
    fx.store
        .put_object(&key, bytes[..bytes.len() / 2].to_vec())
        .await
        .expect("truncate");
    let err = deep_verify_files(&fx.store, VOL, BACKUP, &fx.out(), &manifest_checks())
        .await
        .expect_err("parse error");
    assert!(matches!(err, VerifyError::Store(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&key) && msg.contains("cannot parse"), "{msg}");
}

#[tokio::test]
async fn in_progress_backup_is_reported_and_still_checked() {
    let Some(mut fx) = Fixture::new("in_progress", UploadOptions::default()).await else {
        return;
    };
    fx.cfg.created_time.clear();
    fx.store.put_backup_cfg(&fx.cfg).await.expect("put");
    let report = deep_verify_files(&fx.store, VOL, BACKUP, &fx.out(), &manifest_checks())
        .await
        .expect("deep verify");
    let problems = report.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("in progress")
            && problems[0].contains(&report.structure.backup_cfg_key),
        "{problems:?}"
    );
    assert!(report.file_checks().iter().all(|f| f.is_ok()));
    assert_eq!(report.file_checks().len(), FILES.len());
}

#[tokio::test]
async fn wrong_declared_compression_falls_back_or_reports_both_failures() {
    let opts = UploadOptions {
        compression: CompressionMethod::Lz4,
        ..Default::default()
    };
    let Some(mut fx) = Fixture::new("wrong_compression", opts).await else {
        return;
    };
    // lz4 blocks declared gzip: Longhorn's magic-byte fallback restores them, so must we.
    fx.cfg.compression_method = CompressionMethod::Gzip;
    fx.store.put_backup_cfg(&fx.cfg).await.expect("put");
    let report = deep_verify_files(&fx.store, VOL, BACKUP, &fx.out(), &manifest_checks())
        .await
        .expect("deep verify");
    assert!(report.is_ok(), "{:#?}", report.problems());
    assert_same_file(&fx.out(), &fx.src_img);

    // A block that is neither gzip nor lz4 (a zstd frame header): both methods fail.
    let (key, offset) = fx.big_file_block(2 * MI);
    let mut zstd_like = vec![0x28, 0xb5, 0x2f, 0xfd];
    zstd_like.extend_from_slice(&[0u8; 64]);
    fx.store
        .put_object(&key, zstd_like)
        .await
        .expect("overwrite");
    let report = deep_verify_files(&fx.store, VOL, BACKUP, &fx.out(), &manifest_checks())
        .await
        .expect("deep verify");
    let problems = report.problems();
    assert!(
        problems.iter().any(|p| p.contains(&key)
            && p.contains(&offset.to_string())
            && p.contains("declared gzip")
            && p.contains("28b52ffd")),
        "{problems:?}"
    );
}

#[tokio::test]
async fn changed_sentinel_file_is_reported_with_path_and_both_digests() {
    let Some(mke2fs) = mke2fs_or_skip("changed_sentinel") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let tree = dir.path().join("tree");
    write_sentinel_tree(&tree);
    let base = tree.join("dr-harness");
    let expected_tick = sha256sum(&base.join("ticks/tick-0002.txt"));
    // After the manifest was written: one file changed, one deleted.
    std::fs::write(base.join("ticks/tick-0002.txt"), "tick 2 TAMPERED\n").expect("write");
    let found_tick = sha256sum(&base.join("ticks/tick-0002.txt"));
    std::fs::remove_file(base.join("data/nested/deep/blob.bin")).expect("rm");
    let img = dir.path().join("src.img");
    build_image(&mke2fs, &tree, &img, IMAGE_MIB);

    let s3 = TestS3::start().await;
    let store = s3.store();
    upload_image(
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
    let out = dir.path().join("verified.img");
    let report = deep_verify_files(&store, VOL, BACKUP, &out, &manifest_checks())
        .await
        .expect("deep verify");
    assert!(report
        .blocks
        .as_ref()
        .is_some_and(|b| b.problems.is_empty()));
    let problems = report.problems();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("/dr-harness/ticks/tick-0002.txt")
                && p.contains(&expected_tick)
                && p.contains(&found_tick)),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("/dr-harness/data/nested/deep/blob.bin") && p.contains("missing")),
        "{problems:?}"
    );

    // Restoring the deleted file and re-writing the manifest over the changed tree: passes.
    std::fs::write(base.join("data/nested/deep/blob.bin"), pattern(7, 300_000)).expect("write");
    write_manifest(&tree);
    build_image(&mke2fs, &tree, &img, IMAGE_MIB);
    let second = "backup-00000000000000d2";
    upload_image(
        &store,
        VOL,
        second,
        &img,
        UploadOptions::default(),
        None,
        |_, _| {},
    )
    .await
    .expect("upload");
    let report = deep_verify_files(&store, VOL, second, &out, &manifest_checks())
        .await
        .expect("deep verify");
    assert!(report.is_ok(), "{:?}", report.problems());
    assert_eq!(report.file_checks().len(), FILES.len());
}

#[tokio::test]
async fn sixteen_mib_blocks_round_trip_with_deep_verify() {
    let opts = UploadOptions {
        block_size: BLOCK_SIZE_16MI,
        ..Default::default()
    };
    let Some(fx) = Fixture::new("sixteen_mib", opts).await else {
        return;
    };
    assert_eq!(
        fx.cfg
            .parameters
            .get("backup-block-size")
            .map(String::as_str),
        Some("16777216")
    );
    assert!(fx
        .cfg
        .blocks
        .iter()
        .all(|b| b.offset % BLOCK_SIZE_16MI == 0));
    assert!(fx.cfg.blocks.len() <= (IMAGE_MIB * MI / BLOCK_SIZE_16MI) as usize);
    let report = deep_verify_files(&fx.store, VOL, BACKUP, &fx.out(), &manifest_checks())
        .await
        .expect("deep verify");
    assert!(report.is_ok(), "{:#?}", report.problems());
    let blocks = report.blocks.as_ref().expect("block pass");
    assert_eq!(blocks.block_size, BLOCK_SIZE_16MI);
    assert_eq!(
        blocks.bytes_verified,
        fx.cfg.blocks.len() as u64 * BLOCK_SIZE_16MI
    );
    assert_same_file(&fx.out(), &fx.src_img);
    assert_eq!(report.file_checks().len(), FILES.len());

    // A corrupted 16 MiB block is named with its 16 MiB-aligned offset.
    let (key, offset) = fx.big_file_block(BLOCK_SIZE_16MI);
    let other = compress(CompressionMethod::Lz4, &vec![1u8; 4096]).expect("lz4");
    fx.store.put_object(&key, other).await.expect("overwrite");
    let report = deep_verify_files(&fx.store, VOL, BACKUP, &fx.out(), &manifest_checks())
        .await
        .expect("deep verify");
    assert_eq!(offset % BLOCK_SIZE_16MI, 0);
    assert!(
        report
            .problems()
            .iter()
            .any(|p| p.contains(&key) && p.contains(&format!("offset {offset}"))),
        "{:?}",
        report.problems()
    );
}

#[tokio::test]
async fn no_file_checks_skips_the_filesystem_and_user_paths_are_checked() {
    let Some(fx) = Fixture::new("user_paths", UploadOptions::default()).await else {
        return;
    };
    let report = deep_verify_files(&fx.store, VOL, BACKUP, &fx.out(), &FileChecks::default())
        .await
        .expect("deep verify");
    assert!(report.files.is_none());
    assert!(report.is_ok(), "{:?}", report.problems());

    let checks = FileChecks {
        manifest: None,
        paths: vec![
            (
                "/dr-harness/data/big-5mib.bin".to_string(),
                fx.expected_sha("data/big-5mib.bin"),
            ),
            ("/dr-harness/absent".to_string(), "b".repeat(64)),
        ],
    };
    let report = deep_verify_files(&fx.store, VOL, BACKUP, &fx.out(), &checks)
        .await
        .expect("deep verify");
    let problems = report.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("/dr-harness/absent") && problems[0].contains("missing"));
    assert!(report.file_checks()[0].is_ok());
}
