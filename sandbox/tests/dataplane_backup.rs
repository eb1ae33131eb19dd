//! Backups and restores through the in-process S3 server with the backupstore crate: files come
//! back byte-identical, keys follow Longhorn's layout, incrementals, and the data faults.

mod dataplane_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dataplane_support::{populate, tree, MIB};
use dr_backupstore::{BackupStore, BackupTargetUrl, CompressionMethod, BLOCK_SIZE_2MI};
use dr_sandbox::dataplane::{DataPlane, DataPlaneError};
use dr_sandbox::s3::S3Server;
use sha2::{Digest, Sha512};

struct Env {
    _dir: tempfile::TempDir,
    s3: S3Server,
    store: BackupStore,
    dp: DataPlane,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let s3 = S3Server::start(&dir.path().join("s3"), "drills")
        .await
        .expect("s3");
    let target = BackupTargetUrl::parse("s3://drills@us-east-1/").expect("target url");
    let store = BackupStore::for_target(s3.client(), &target);
    let dp = DataPlane::new(&dir.path().join("cluster")).expect("dataplane");
    Env {
        _dir: dir,
        s3,
        store,
        dp,
    }
}

/// Longhorn's GetChecksum: SHA-512 hex truncated to 64 characters (longhorn/backupstore
/// util/util.go), computed here independently of the backupstore crate.
fn longhorn_checksum(data: &[u8]) -> String {
    hex::encode(Sha512::digest(data))[..64].to_owned()
}

async fn all_keys(s3: &S3Server) -> Vec<String> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .client()
            .list_objects_v2()
            .bucket(s3.bucket())
            .set_continuation_token(token.clone())
            .send()
            .await
            .expect("list");
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return keys;
        }
    }
}

async fn snapshot_and_backup(
    e: &Env,
    vol: &str,
    snap: &str,
    backup: &str,
) -> dr_backupstore::BackupCfg {
    e.dp.snapshot(vol, snap).await.expect("snapshot");
    e.dp.backup(
        &e.store,
        vol,
        snap,
        backup,
        CompressionMethod::Lz4,
        BLOCK_SIZE_2MI,
        true,
        BTreeMap::from([("dr-harness/drill".to_owned(), "test".to_owned())]),
        |_, _| {},
    )
    .await
    .expect("backup")
}

#[tokio::test]
async fn backup_and_restore_round_trip_in_longhorn_layout() {
    let e = env().await;
    let data =
        e.dp.create_volume("sentinel-vol", 32 * MIB)
            .await
            .expect("create");
    populate(&data, 7);
    let before = tree(&data);
    e.dp.snapshot("sentinel-vol", "snap-1")
        .await
        .expect("snapshot");

    let done = Arc::new(AtomicU64::new(0));
    let seen = done.clone();
    let total_seen = Arc::new(AtomicU64::new(0));
    let total_w = total_seen.clone();
    let cfg =
        e.dp.backup(
            &e.store,
            "sentinel-vol",
            "snap-1",
            "backup-0123456789abcdef",
            CompressionMethod::Lz4,
            BLOCK_SIZE_2MI,
            true,
            BTreeMap::from([("app".to_owned(), "sentinel".to_owned())]),
            move |d, total| {
                total_w.store(total, Ordering::SeqCst);
                seen.fetch_max(d, Ordering::SeqCst);
            },
        )
        .await
        .expect("backup");
    // Progress counts the snapshot's allocated blocks (what Longhorn backs up), not the volume.
    let allocated = cfg.blocks.len() as u64 * BLOCK_SIZE_2MI;
    assert_eq!(total_seen.load(Ordering::SeqCst), allocated);
    assert_eq!(
        done.load(Ordering::SeqCst),
        allocated,
        "progress reached the end"
    );
    assert_eq!(cfg.name, "backup-0123456789abcdef");
    assert_eq!(cfg.volume_name, "sentinel-vol");
    assert_eq!(cfg.snapshot_name, "snap-1");
    // Longhorn's rule: the backup cfg's Size is listed blocks × block size; the volume size
    // lives in volume.cfg.
    assert_eq!(cfg.size, allocated);
    assert!(cfg.size <= 32 * MIB);
    let vcfg = e
        .store
        .get_volume_cfg("sentinel-vol")
        .await
        .expect("get volume.cfg")
        .expect("volume.cfg");
    assert_eq!(vcfg.size, 32 * MIB);
    assert!(
        !cfg.created_time.is_empty(),
        "complete backups carry CreatedTime"
    );
    assert_eq!(cfg.labels.get("app").map(String::as_str), Some("sentinel"));
    assert!(!cfg.blocks.is_empty());

    // Keys, checked against Longhorn's layout computed here, not by the backupstore crate.
    let c = longhorn_checksum(b"sentinel-vol");
    let vol_dir = format!(
        "backupstore/volumes/{}/{}/sentinel-vol/",
        &c[0..2],
        &c[2..4]
    );
    let keys = all_keys(&e.s3).await;
    let mut block_keys = BTreeSet::new();
    for k in &keys {
        let rest = k
            .strip_prefix(&vol_dir)
            .unwrap_or_else(|| panic!("key {k} outside {vol_dir}"));
        if rest == "volume.cfg" || rest == "backups/backup_backup-0123456789abcdef.cfg" {
            continue;
        }
        let parts: Vec<&str> = rest.split('/').collect();
        assert_eq!(parts.len(), 4, "unexpected key {k}");
        assert_eq!(parts[0], "blocks");
        let sum = parts[3].strip_suffix(".blk").expect(".blk");
        assert_eq!(sum.len(), 64);
        assert_eq!((parts[1], parts[2]), (&sum[0..2], &sum[2..4]), "{k}");
        block_keys.insert(sum.to_owned());
    }
    assert!(keys.contains(&format!("{vol_dir}volume.cfg")));
    assert!(keys.contains(&format!(
        "{vol_dir}backups/backup_backup-0123456789abcdef.cfg"
    )));
    let mapped: BTreeSet<String> = cfg
        .blocks
        .iter()
        .map(|b| b.block_checksum.clone())
        .collect();
    assert_eq!(block_keys, mapped, "exactly the mapped blocks are stored");

    // Restore into a volume that does not exist yet, as a rebuilt cluster would.
    let outcome =
        e.dp.restore(
            &e.store,
            "sentinel-vol",
            "backup-0123456789abcdef",
            "restored-vol",
            |_, _| {},
        )
        .await
        .expect("restore");
    assert_eq!(outcome.backup.name, "backup-0123456789abcdef");
    assert!(outcome.flipped.is_none());
    assert_eq!(e.dp.volume_size("restored-vol").expect("size"), 32 * MIB);
    assert_eq!(tree(&e.dp.volume_dir("restored-vol")), before);
}

#[tokio::test]
async fn second_backup_is_incremental_and_each_restores_its_own_state() {
    let e = env().await;
    let data = e.dp.create_volume("vol-i", 32 * MIB).await.expect("create");
    populate(&data, 11);
    let first_state = tree(&data);
    let b1 = snapshot_and_backup(&e, "vol-i", "s1", "backup-1111111111111111").await;

    std::fs::write(
        data.join("a/b/c/deep.txt"),
        b"changed after the first backup\n",
    )
    .expect("edit");
    std::fs::write(data.join("tick-2"), b"2").expect("add");
    let second_state = tree(&data);
    let b2 = snapshot_and_backup(&e, "vol-i", "s2", "backup-2222222222222222").await;
    assert!(b2.is_incremental);
    assert!(
        b2.newly_uploaded_data_size < b1.newly_uploaded_data_size,
        "incremental uploaded {} bytes, full {}",
        b2.newly_uploaded_data_size,
        b1.newly_uploaded_data_size
    );

    e.dp.restore(
        &e.store,
        "vol-i",
        "backup-2222222222222222",
        "r2",
        |_, _| {},
    )
    .await
    .expect("restore b2");
    assert_eq!(tree(&e.dp.volume_dir("r2")), second_state);
    e.dp.restore(
        &e.store,
        "vol-i",
        "backup-1111111111111111",
        "r1",
        |_, _| {},
    )
    .await
    .expect("restore b1");
    assert_eq!(tree(&e.dp.volume_dir("r1")), first_state);

    // Fault: the older backup comes back instead of the one asked for.
    e.dp.faults().set_restore_older_backup(true);
    let outcome =
        e.dp.restore(
            &e.store,
            "vol-i",
            "backup-2222222222222222",
            "r-fault",
            |_, _| {},
        )
        .await
        .expect("faulty restore still succeeds");
    assert_eq!(outcome.backup.name, "backup-1111111111111111");
    assert_eq!(tree(&e.dp.volume_dir("r-fault")), first_state);
    e.dp.faults().clear();
    let outcome =
        e.dp.restore(
            &e.store,
            "vol-i",
            "backup-2222222222222222",
            "r-fault",
            |_, _| {},
        )
        .await
        .expect("restore after clear");
    assert_eq!(outcome.backup.name, "backup-2222222222222222");
    assert_eq!(tree(&e.dp.volume_dir("r-fault")), second_state);
}

/// All regular files under `dir` by relative path.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("ls") {
            let path = entry.expect("entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("meta");
            if meta.is_dir() {
                walk(root, &path, out);
            } else if meta.is_file() {
                let rel = path
                    .strip_prefix(root)
                    .expect("rel")
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&path).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[tokio::test]
async fn flip_byte_fault_changes_exactly_one_byte_once() {
    let e = env().await;
    let data = e.dp.create_volume("vol-f", 16 * MIB).await.expect("create");
    populate(&data, 5);
    let original = files(&data);
    snapshot_and_backup(&e, "vol-f", "s", "backup-ffffffffffffffff").await;

    e.dp.faults().set_flip_byte_after_restore(true);
    let outcome =
        e.dp.restore(&e.store, "vol-f", "backup-ffffffffffffffff", "r", |_, _| {})
            .await
            .expect("restore");
    let flipped = outcome.flipped.expect("fault fired");
    let restored = files(&e.dp.volume_dir("r"));
    assert_eq!(
        restored.keys().collect::<Vec<_>>(),
        original.keys().collect::<Vec<_>>()
    );
    let mut differing = 0;
    for (name, bytes) in &original {
        let got = &restored[name];
        assert_eq!(got.len(), bytes.len(), "{name} changed length");
        differing += got.iter().zip(bytes).filter(|(a, b)| a != b).count();
    }
    assert_eq!(differing, 1);
    assert!(flipped.path.starts_with(e.dp.volume_dir("r")));

    let again =
        e.dp.restore(&e.store, "vol-f", "backup-ffffffffffffffff", "r", |_, _| {})
            .await
            .expect("restore again");
    assert!(again.flipped.is_none(), "the fault is one-shot");
    assert_eq!(files(&e.dp.volume_dir("r")), original);
}

#[tokio::test]
async fn restoring_an_unknown_backup_is_not_found() {
    let e = env().await;
    let err =
        e.dp.restore(
            &e.store,
            "nothing",
            "backup-0000000000000000",
            "x",
            |_, _| {},
        )
        .await
        .expect_err("no such backup");
    assert!(
        matches!(err, DataPlaneError::BackupNotFound { .. }),
        "{err}"
    );
    assert!(
        !e.dp.volume_exists("x"),
        "a failed restore creates no volume"
    );
}

#[test]
fn backup_and_restore_futures_can_be_spawned() {
    fn assert_send<T: Send>(_: &T) {}
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let e = env().await;
        let backup = e.dp.backup(
            &e.store,
            "v",
            "s",
            "b",
            CompressionMethod::Lz4,
            BLOCK_SIZE_2MI,
            true,
            BTreeMap::new(),
            |_, _| {},
        );
        assert_send(&backup);
        let restore = e.dp.restore(&e.store, "v", "b", "w", |_, _| {});
        assert_send(&restore);
    });
}
