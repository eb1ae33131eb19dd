//! Fleet-scale `verify-backup` (issue #10) on the sandbox: 20 volumes on the backup target,
//! one of them damaged; four shards (`shard = "I/4"`) together give exactly the verdicts of
//! one unsharded run, each volume in one shard; an incremental rerun downloads only what
//! changed and still fails the damaged volume; the shard labels the metrics and JUnit.

mod common;

use std::collections::BTreeMap;

use common::TestSandbox;
use dr_backupstore::{upload_image, BackupStore, BackupTargetUrl, UploadOptions};
use dr_harness::config::Scenario;
use dr_harness::engine::record::RunRecord;

const VOLUMES: usize = 20;
const BROKEN: &str = "fleet-vol-07";
const KEY_ENV: &str = "DR_HARNESS_TEST_FLEET_LEDGER_KEY";

fn store(sb: &TestSandbox) -> BackupStore {
    let target = BackupTargetUrl::parse(&sb.sandbox.backup_target_url()).expect("target url");
    BackupStore::for_target(sb.sandbox.s3().client(), &target)
}

/// Uploads `fleet-vol-00` … `fleet-vol-19` (3 small blocks each, distinct per volume) and
/// deletes one block of [`BROKEN`].
async fn fleet(sb: &TestSandbox) {
    let store = store(sb);
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..VOLUMES {
        let vol = format!("fleet-vol-{i:02}");
        let img = dir.path().join(format!("{vol}.img"));
        let mut data = Vec::new();
        for b in 0..3u8 {
            data.extend(std::iter::repeat_n(i as u8 * 3 + b + 1, 2 << 20));
        }
        std::fs::write(&img, &data).expect("image");
        let opts = UploadOptions {
            snapshot_name: format!("snap-{vol}"),
            snapshot_created_at: "2026-03-01T02:00:00Z".into(),
            ..Default::default()
        };
        upload_image(&store, &vol, "backup-1", &img, opts, None, |_, _| {})
            .await
            .expect("upload");
        let mut v = store
            .get_volume_cfg(&vol)
            .await
            .unwrap()
            .expect("volume.cfg");
        if v.last_backup_name.is_empty() {
            v.last_backup_name = "backup-1".into();
            store.put_volume_cfg(&v).await.unwrap();
        }
    }
    let cfg = store
        .get_backup_cfg(BROKEN, "backup-1")
        .await
        .unwrap()
        .expect("cfg");
    store
        .delete_object(&store.block_key(BROKEN, &cfg.blocks[1].block_checksum))
        .await
        .unwrap();
}

fn scenario(extra: &str) -> Scenario {
    Scenario::from_str(
        &format!(
            "name = \"verify-backup\"\ndescription = \"fleet\"\n[[steps]]\n\
             kind = \"verify-backup\"\nall_volumes = true\ndeep = true\n{extra}"
        ),
        "fleet.toml",
    )
    .expect("scenario")
}

async fn run(sb: &TestSandbox, extra: &str, out: &std::path::Path) -> RunRecord {
    common::drill_with(
        sb,
        sb.profile(),
        scenario(extra),
        out,
        false,
        tokio_util::sync::CancellationToken::new(),
    )
    .await
}

/// volume → verdict of the fleet's volumes in `r`.
fn verdicts(r: &RunRecord) -> BTreeMap<String, bool> {
    r.backup_verifications
        .iter()
        .filter(|v| v.volume.starts_with("fleet-vol-"))
        .map(|v| (v.volume.clone(), v.success))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_nightly_gives_the_verdicts_of_one_unsharded_run() {
    // SAFETY: set once, before any thread of this test binary reads it; no other test here.
    unsafe { std::env::set_var(KEY_ENV, "fleet test ledger key, 32 bytes") };
    let sb = TestSandbox::start().await;
    fleet(&sb).await;
    let out = tempfile::tempdir().expect("out");

    let whole = run(&sb, "", out.path()).await;
    let expected = verdicts(&whole);
    assert_eq!(expected.len(), VOLUMES, "{expected:?}");
    assert_eq!(
        expected.values().filter(|ok| !**ok).count(),
        1,
        "{expected:?}"
    );
    assert_eq!(expected.get(BROKEN), Some(&false));

    let mut merged = BTreeMap::new();
    for i in 0..4 {
        let r = run(&sb, &format!("shard = \"{i}/4\"\n"), out.path()).await;
        assert_eq!(r.shard.as_deref(), Some(format!("{i}/4").as_str()));
        for (vol, ok) in verdicts(&r) {
            assert!(
                merged.insert(vol.clone(), ok).is_none(),
                "{vol} verified by two shards"
            );
        }
        let metrics = dr_harness::report::render_metrics(&r, None);
        assert!(
            metrics.contains(&format!("shard=\"{i}/4\"")),
            "shard label missing:\n{metrics}"
        );
        let junit = dr_harness::report::render_junit(&r);
        assert!(
            junit.contains(&format!("<property name=\"shard\" value=\"{i}/4\"/>")),
            "{junit}"
        );
    }
    assert_eq!(
        merged, expected,
        "sharded verdicts differ from the unsharded run"
    );

    // Incremental: the first run proves every block, the second downloads almost nothing, and
    // the damaged volume fails both times.
    let inc = format!("incremental = true\nledger_key_env = \"{KEY_ENV}\"\nscrub_seed = 7\n");
    let first = run(&sb, &inc, out.path()).await;
    assert_eq!(verdicts(&first), expected);
    let second = run(&sb, &inc, out.path()).await;
    assert_eq!(verdicts(&second), expected);
    let (listed, downloaded): (u64, u64) = second
        .backup_verifications
        .iter()
        .filter(|v| v.volume.starts_with("fleet-vol-") && v.volume != BROKEN)
        .map(|v| {
            let i = v.incremental.as_ref().expect("incremental counts");
            (v.listed_bytes, i.new_or_changed_bytes + i.scrubbed_bytes)
        })
        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
    assert!(listed > 0);
    assert!(
        downloaded * 10 <= listed,
        "second incremental run downloaded {downloaded} of {listed} listed block bytes"
    );
    let metrics = dr_harness::report::render_metrics(&second, None);
    assert!(
        metrics.contains("dr_harness_verify_downloaded_bytes{"),
        "{metrics}"
    );
    assert!(
        metrics.contains("dr_harness_verify_listed_bytes{"),
        "{metrics}"
    );
    let broken = second
        .backup_verifications
        .iter()
        .find(|v| v.volume == BROKEN)
        .expect("broken volume verified");
    assert!(
        broken.problems.iter().any(|p| p.contains("is missing")),
        "{:?}",
        broken.problems
    );
}
