//! Volumes and snapshots: directory → ext4 image → directory round trips, revert, wipe.

mod dataplane_support;

use dataplane_support::{populate, pseudo_random, tree, MIB};
use dr_sandbox::dataplane::{DataPlane, DataPlaneError};

fn dataplane() -> (tempfile::TempDir, DataPlane) {
    let dir = tempfile::tempdir().expect("tempdir");
    let dp = DataPlane::new(&dir.path().join("cluster")).expect("e2fsprogs installed");
    (dir, dp)
}

#[tokio::test]
async fn snapshot_image_extracts_back_byte_for_byte() {
    let (dir, dp) = dataplane();
    let data = dp.create_volume("vol-a", 32 * MIB).await.expect("create");
    assert_eq!(data, dp.volume_dir("vol-a"));
    populate(&data, 1);
    let before = tree(&data);
    assert!(before.len() >= 8, "fixture too small: {before:?}");

    let snap = dp.snapshot("vol-a", "snap-1").await.expect("snapshot");
    assert_eq!(snap.size_bytes, 32 * MIB);
    assert_eq!(
        std::fs::metadata(&snap.image).expect("image").len(),
        32 * MIB
    );
    assert_eq!(dp.snapshot_info("vol-a", "snap-1").expect("info"), snap);

    let out = dir.path().join("extracted");
    dp.extract(&snap.image, &out).await.expect("extract");
    assert_eq!(tree(&out), before);
    assert!(!out.join("lost+found").exists());
}

#[tokio::test]
async fn revert_restores_the_snapshot_contents() {
    let (_dir, dp) = dataplane();
    let data = dp.create_volume("vol-r", 16 * MIB).await.expect("create");
    populate(&data, 2);
    let before = tree(&data);
    dp.snapshot("vol-r", "s1").await.expect("snapshot");

    std::fs::write(data.join("big.bin"), b"overwritten").expect("overwrite");
    std::fs::write(data.join("new-after-snapshot"), b"x").expect("new");
    std::fs::remove_dir_all(data.join("a")).expect("rm");
    assert_ne!(tree(&data), before);

    dp.revert("vol-r", "s1").await.expect("revert");
    assert_eq!(tree(&dp.volume_dir("vol-r")), before);
}

#[tokio::test]
async fn data_larger_than_the_volume_is_a_clear_mke2fs_error() {
    let (_dir, dp) = dataplane();
    let data = dp.create_volume("tiny", 4 * MIB).await.expect("create");
    std::fs::write(data.join("too-big"), pseudo_random(8 * MIB as usize, 3)).expect("write");
    let err = dp.snapshot("tiny", "s").await.expect_err("cannot fit");
    assert!(
        matches!(err, DataPlaneError::Tool { tool: "mke2fs", .. }),
        "{err}"
    );
    assert!(matches!(
        dp.snapshot_info("tiny", "s"),
        Err(DataPlaneError::SnapshotNotFound { .. })
    ));
}

#[tokio::test]
async fn missing_volume_and_snapshot_and_bad_names_are_errors() {
    let (_dir, dp) = dataplane();
    assert!(matches!(
        dp.snapshot("ghost", "s").await,
        Err(DataPlaneError::VolumeNotFound { .. })
    ));
    dp.create_volume("v", 8 * MIB).await.expect("create");
    assert!(matches!(
        dp.revert("v", "never").await,
        Err(DataPlaneError::SnapshotNotFound { .. })
    ));
    for bad in ["", "..", "a/b"] {
        assert!(matches!(
            dp.create_volume(bad, MIB).await,
            Err(DataPlaneError::InvalidName { .. })
        ));
    }
}

#[tokio::test]
async fn delete_and_wipe_lose_volumes() {
    let (_dir, dp) = dataplane();
    let a = dp.create_volume("a", 8 * MIB).await.expect("a");
    dp.create_volume("b", 8 * MIB).await.expect("b");
    std::fs::write(a.join("f"), b"x").expect("f");
    dp.snapshot("a", "s").await.expect("snap");
    dp.delete_volume("a").await.expect("delete");
    assert!(!dp.volume_exists("a"));
    assert!(dp.volume_exists("b"));
    dp.delete_volume("a").await.expect("deleting twice is fine");
    dp.wipe().await.expect("wipe");
    assert!(!dp.volume_exists("b"));
    assert!(dp.root().is_dir());
    assert_eq!(std::fs::read_dir(dp.root()).expect("ls").count(), 0);
}

#[tokio::test]
async fn snapshots_are_stable_where_data_did_not_change() {
    // Same files, same volume → same filesystem UUID and layout: most blocks repeat, which is
    // what makes the second backup incremental.
    let (_dir, dp) = dataplane();
    let data = dp.create_volume("stable", 16 * MIB).await.expect("create");
    populate(&data, 4);
    let s1 = dp.snapshot("stable", "s1").await.expect("s1");
    let s2 = dp.snapshot("stable", "s2").await.expect("s2");
    let a = std::fs::read(&s1.image).expect("a");
    let b = std::fs::read(&s2.image).expect("b");
    let block = 2 * MIB as usize;
    let same = a
        .chunks(block)
        .zip(b.chunks(block))
        .filter(|(x, y)| x == y)
        .count();
    let total = a.len() / block;
    assert!(same >= total / 2, "only {same} of {total} blocks identical");
}
