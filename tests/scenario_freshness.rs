//! The `backup-freshness` scenario against the sandbox: a fresh backup passes with its age in
//! the record and the metrics; a backup older than the target, a newer backup in `Error`, one
//! stuck `InProgress`, a volume no RecurringJob covers, a backup cfg lost from S3 and stale etcd
//! snapshots each fail the `backup-freshness` step with a message that names the cause.

mod common;

use common::{assert_failed_at, drill, drill_with, step, TestSandbox};
use dr_harness::config::{BackupTargetSource, Scenario};
use dr_harness::engine::record::{Outcome, RunRecord};
use dr_sandbox::api::resources::{LH_BACKUPS, LH_RECURRINGJOBS};
use dr_sandbox::faults::Fault;
use serde_json::json;
use tokio_util::sync::CancellationToken;

const VOLUME: &str = "dr-exercise-data";

/// The shipped scenario with `replacements` applied (each `from` must occur).
fn shipped(replacements: &[(&str, &str)]) -> Scenario {
    let mut text = std::fs::read_to_string(common::repo().join("scenarios/backup-freshness.toml"))
        .expect("scenario file");
    for (from, to) in replacements {
        assert!(
            text.contains(from),
            "scenario no longer contains {from:?}; update this test"
        );
        text = text.replace(from, to);
    }
    Scenario::from_str(&text, "backup-freshness-test.toml").expect("scenario loads")
}

/// The strictly read-only form: preflight, then the freshness step with `options`.
fn read_only(options: &str) -> Scenario {
    let text = format!(
        "name = \"backup-freshness\"\n[[steps]]\nkind = \"preflight\"\n[[steps]]\nkind = \"backup-freshness\"\nvolumes = [\"{VOLUME}\"]\n{options}\n"
    );
    Scenario::from_str(&text, "backup-freshness-read-only.toml").expect("scenario loads")
}

/// A good drill first: the sentinel volume gets a Completed backup.
async fn with_a_good_backup(sb: &TestSandbox) -> RunRecord {
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill(sb, shipped(&[]), out.path()).await;
    assert_eq!(record.outcome, Outcome::Passed, "{:#?}", record.steps);
    record
}

/// Creates a new Backup of the snapshot the good drill took, as a RecurringJob would, and
/// waits for it to reach `state` (a precondition, not the verdict).
async fn new_backup_reaching(sb: &TestSandbox, good: &RunRecord, name: &str, state: &str) {
    let snapshot = good.facts.snapshot.clone().expect("snapshot fact");
    sb.sandbox
        .store()
        .create(
            &LH_BACKUPS,
            Some("longhorn-system"),
            json!({
                "apiVersion": "longhorn.io/v1beta2", "kind": "Backup",
                "metadata": {"name": name, "namespace": "longhorn-system",
                             "labels": {"backup-volume": VOLUME, "RecurringJob": "nightly"}},
                "spec": {"snapshotName": snapshot, "labels": {}},
            }),
        )
        .expect("Backup created");
    let what = format!("backup {name} reached {state}");
    common::until(&what, || {
        common::store_str(
            sb,
            &LH_BACKUPS,
            Some("longhorn-system"),
            name,
            "/status/state",
        )
        .as_deref()
            == Some(state)
    })
    .await;
}

fn check<'a>(record: &'a RunRecord, name: &str) -> &'a dr_harness::engine::record::CheckRecord {
    let s = step(record, "backup-freshness");
    s.checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name} in {s:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fresh_backup_covered_by_a_recurring_job_passes_with_its_age() {
    // The sandbox's platform config has RecurringJob backup-daily; the sentinel PVC opts in by
    // its group label (with recurring-job-source), as on the seeds' clusters.
    let sb = TestSandbox::start().await;
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill(&sb, shipped(&[]), out.path()).await;
    assert_eq!(record.outcome, Outcome::Passed, "{:#?}", record.steps);
    let age = *record.backup_ages.get(VOLUME).expect("age recorded");
    assert!((0.0..120.0).contains(&age), "age {age}");
    assert!(
        check(&record, &format!("recurring-job {VOLUME}"))
            .found
            .as_deref()
            == Some("backup-daily")
    );
    assert!(check(&record, &format!("s3-backup-cfg {VOLUME}")).passed);
    assert!(check(&record, &format!("s3-volume-cfg {VOLUME}")).passed);
    // The age becomes one Prometheus series for the volume.
    let text = dr_harness::report::render_metrics(&record, None);
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("dr_harness_backup_age_seconds{")
                && l.contains(&format!("volume=\"{VOLUME}\""))
        })
        .unwrap_or_else(|| panic!("no backup age series in\n{text}"));
    let value: f64 = line
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("a number");
    assert_eq!(value, age);
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn volume_without_a_recurring_job_fails_naming_it() {
    let sb = TestSandbox::start().await;
    // Take the platform's recurring backup job away.
    sb.sandbox
        .store()
        .delete(&LH_RECURRINGJOBS, Some("longhorn-system"), "backup-daily")
        .expect("the sandbox has RecurringJob backup-daily");
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill(&sb, shipped(&[]), out.path()).await;
    assert_failed_at(
        &record,
        "backup-freshness",
        &format!("volume {VOLUME} is covered by no RecurringJob of task backup"),
    );
    // The backup itself was fresh: only the coverage failed.
    assert!(check(&record, &format!("backup-age {VOLUME}")).passed);
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_older_than_the_target_fails_with_its_age() {
    let sb = TestSandbox::start().await;
    let out = tempfile::tempdir().expect("tempdir");
    // Any real backup is older than a 1 ms target.
    let record = drill(
        &sb,
        shipped(&[("max_age = \"24h\"", "max_age = \"1ms\"")]),
        out.path(),
    )
    .await;
    assert_failed_at(
        &record,
        "backup-freshness",
        &format!("the newest backup of volume {VOLUME}"),
    );
    let msg = step(&record, "backup-freshness")
        .message
        .clone()
        .unwrap_or_default();
    assert!(msg.contains("older than the target of 1ms"), "{msg}");
    assert!(!check(&record, &format!("backup-age {VOLUME}")).passed);
    // The age is still reported, so dashboards show how far behind the volume is.
    assert!(record.backup_ages.contains_key(VOLUME));
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn newer_backup_in_error_fails_with_longhorns_message() {
    let sb = TestSandbox::start().await;
    let good = with_a_good_backup(&sb).await;
    sb.sandbox.faults().set(Fault::BackupError);
    new_backup_reaching(&sb, &good, "backup-e0e0e0e0e0e0e0e0", "Error").await;
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill(
        &sb,
        read_only("max_age = \"24h\"\nrequire_recurring_job = false"),
        out.path(),
    )
    .await;
    assert_failed_at(
        &record,
        "backup-freshness",
        "backup-e0e0e0e0e0e0e0e0 ended in Error: failed to upload block",
    );
    let msg = step(&record, "backup-freshness")
        .message
        .clone()
        .unwrap_or_default();
    assert!(
        msg.contains("SlowDown"),
        "Longhorn's own error text is quoted: {msg}"
    );
    // The older Completed backup is still fresh: the failure is the errored one alone.
    assert!(check(&record, &format!("backup-age {VOLUME}")).passed);
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_stuck_in_progress_fails_as_stuck() {
    let sb = TestSandbox::start().await;
    let good = with_a_good_backup(&sb).await;
    sb.sandbox.faults().set(Fault::BackupStuck);
    new_backup_reaching(&sb, &good, "backup-5705705705705705", "InProgress").await;
    let out = tempfile::tempdir().expect("tempdir");
    // A stuck threshold of 1 ms: the InProgress backup has been running longer than that.
    let scenario =
        read_only("max_age = \"24h\"\nrequire_recurring_job = false\nstuck_after = \"1ms\"");
    let record = drill(&sb, scenario, out.path()).await;
    assert_failed_at(
        &record,
        "backup-freshness",
        "backup-5705705705705705 InProgress for",
    );
    let msg = step(&record, "backup-freshness")
        .message
        .clone()
        .unwrap_or_default();
    assert!(msg.contains("stuck (Longhorn #9417/#9168)"), "{msg}");
    // With the default threshold (1 h) the same backup is merely running: the check passes.
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill(
        &sb,
        read_only("max_age = \"24h\"\nrequire_recurring_job = false"),
        out.path(),
    )
    .await;
    assert_eq!(record.outcome, Outcome::Passed, "{:#?}", record.steps);
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn etcd_snapshots_are_judged_by_their_upload_time() {
    let sb = TestSandbox::start().await;
    let _good = with_a_good_backup(&sb).await;
    // RKE2's etcd-s3 uploads, in the same bucket under their own folder.
    let client = sb.sandbox.s3().client();
    let bucket = sb
        .sandbox
        .backup_target_url()
        .trim_start_matches("s3://")
        .split('@')
        .next()
        .expect("bucket")
        .to_string();
    for name in [
        "etcd-snapshot-node-1-1767225600",
        "etcd-snapshot-node-1-1767229200",
    ] {
        client
            .put_object()
            .bucket(&bucket)
            .key(format!("etcd-snapshots/{name}"))
            .body(b"etcd".to_vec().into())
            .send()
            .await
            .expect("snapshot uploaded");
    }
    let mut profile = sb.profile();
    let mut target = profile.backup_target.resolve().expect("sandbox target");
    target.etcd_snapshot_prefix = Some("etcd-snapshots/".into());
    profile.backup_target = BackupTargetSource::Static(target);

    let opts = "max_age = \"24h\"\nrequire_recurring_job = false\netcd_max_age = \"1h\"";
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill_with(
        &sb,
        profile.clone(),
        read_only(opts),
        out.path(),
        false,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(record.outcome, Outcome::Passed, "{:#?}", record.steps);
    let found = check(&record, "etcd-snapshot-age")
        .found
        .clone()
        .unwrap_or_default();
    assert!(
        found.contains("etcd-snapshots/etcd-snapshot-node-1-") && found.contains("(2 snapshots)"),
        "{found}"
    );

    let opts = "max_age = \"24h\"\nrequire_recurring_job = false\netcd_max_age = \"1ms\"";
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill_with(
        &sb,
        profile,
        read_only(opts),
        out.path(),
        false,
        CancellationToken::new(),
    )
    .await;
    assert_failed_at(
        &record,
        "backup-freshness",
        "the newest etcd snapshot etcd-snapshots/etcd-snapshot-node-1-",
    );

    // Without the folder in the profile the step says what to configure.
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill(&sb, read_only(opts), out.path()).await;
    assert_failed_at(
        &record,
        "backup-freshness",
        "no backup_target.etcd_snapshot_prefix",
    );
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_cfg_lost_from_s3_is_not_fresh() {
    let sb = TestSandbox::start().await;
    let good = with_a_good_backup(&sb).await;
    let backup = good.facts.backup.clone().expect("backup fact");
    let url = dr_backupstore::BackupTargetUrl::parse(&sb.sandbox.backup_target_url())
        .expect("target url");
    let store = dr_backupstore::BackupStore::for_target(sb.sandbox.s3().client(), &url);
    store
        .delete_object(&store.backup_cfg_key(VOLUME, &backup))
        .await
        .expect("cfg deleted");
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill(
        &sb,
        read_only("max_age = \"24h\"\nrequire_recurring_job = false"),
        out.path(),
    )
    .await;
    // However far Longhorn has re-synced the loss, the volume must not pass as fresh.
    let failing = record
        .failing_step()
        .unwrap_or_else(|| panic!("passed despite the lost cfg: {:#?}", record.steps));
    assert_eq!(failing.name, "backup-freshness", "{failing:#?}");
    let msg = failing.message.clone().unwrap_or_default();
    assert!(msg.contains(VOLUME), "{msg}");
    sb.sandbox.shutdown().await;
}
