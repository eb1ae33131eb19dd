//! Real Longhorn as the oracle (issue 13): backups written by Longhorn's own backupstore code
//! (longhorn-engine v1.9.1 vendor/github.com/longhorn/backupstore, see
//! `../shared/longhorn-vectors/README.md`) must verify, deep-verify and restore with
//! dr-backupstore, on the sandbox's S3 server and on an independent one (moto); damage must be
//! named by key and offset; and our writer, given the same snapshot images, must write what
//! Longhorn wrote. The vectors stay in `../shared/`; without them (or without `moto_server`)
//! each test says so loudly and fails under `CI=true`.

mod common;
mod oracle_support;

use std::collections::{BTreeMap, BTreeSet};

use dr_backupstore::deep::{deep_verify_files, FileChecks};
use dr_backupstore::{
    compress, restore_image, upload_image, verify_structure, BackupCfg, BackupStore,
    CompressionMethod, UploadOptions, VolumeCfg, BLOCK_SIZE_2MI,
};
use oracle_support::*;

/// Structural + deep verification (files against the image manifests) and our restore's
/// SHA-256 against Longhorn's, for every backup in the vectors, on one S3 server.
async fn verify_every_vector_backup(v: &Vectors, store: &BackupStore, server: &str) {
    let backups = v.backups();
    assert!(
        backups.len() >= 7,
        "expected the vector backups, found {backups:?}"
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    for b in &backups {
        let what = format!("{server}: {}/{}", b.volume, b.backup);
        let report = verify_structure(store, &b.volume, &b.backup)
            .await
            .unwrap_or_else(|e| panic!("{what}: structural verification failed: {e}"));
        assert!(report.is_ok(), "{what}: {:?}", report.problems());
        assert!(
            report.size_matches_blocks,
            "{what}: Size is not blocks × 2 MiB"
        );
        let (sha, bytes) = v.expected_sha(&b.volume, &b.backup);
        assert_eq!(report.volume_size, Some(bytes), "{what}: volume size");

        let (_, checks) = v.image_for_sha(&sha);
        let image = tmp.path().join(format!("{}-{}.deep", b.volume, b.backup));
        let deep = deep_verify_files(
            store,
            &b.volume,
            &b.backup,
            &image,
            &FileChecks {
                manifest: None,
                paths: checks.clone(),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{what}: deep verification failed: {e}"));
        let blocks = deep.blocks.as_ref().expect("block pass");
        assert!(blocks.problems.is_empty(), "{what}: {:?}", blocks.problems);
        assert_eq!(blocks.size, bytes, "{what}: deep image size");
        let files = deep.files.as_ref().expect("file pass");
        assert!(files.errors.is_empty(), "{what}: {:?}", files.errors);
        assert_eq!(files.paths.len(), checks.len(), "{what}");
        for f in &files.paths {
            assert!(f.is_ok(), "{what}: file {} {:?}", f.path, f.status);
        }
        assert_eq!(sha256_file(&image), sha, "{what}: deep image SHA-256");
        std::fs::remove_file(&image).expect("rm deep image");

        let cfg = store
            .get_backup_cfg(&b.volume, &b.backup)
            .await
            .expect("get cfg")
            .expect("cfg exists");
        let out = tmp
            .path()
            .join(format!("{}-{}.restored", b.volume, b.backup));
        let summary = restore_image(store, &b.volume, &cfg, &out, |_, _| {})
            .await
            .unwrap_or_else(|e| panic!("{what}: restore failed: {e}"));
        assert_eq!(summary.size, bytes, "{what}: restored size");
        assert_eq!(
            sha256_file(&out),
            sha,
            "{what}: our restore differs from Longhorn's restore"
        );
        std::fs::remove_file(&out).expect("rm restored image");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_vector_backup_verifies_and_restores_on_the_sandbox_s3() {
    let Some(v) = vectors() else { return };
    let s3 = SandboxS3::start().await;
    let client = s3.client();
    load(&client, s3.server.bucket(), &v.target_files()).await;
    verify_every_vector_backup(&v, &store(&client, s3.server.bucket()), "sandbox s3s-fs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_vector_backup_verifies_and_restores_on_moto() {
    let Some(v) = vectors() else { return };
    let Some(moto) = Moto::start().await else {
        return;
    };
    let client = moto.client().await;
    create_bucket(&client, "oracle").await;
    load(&client, "oracle", &v.target_files()).await;
    verify_every_vector_backup(&v, &store(&client, "oracle"), "moto").await;
}

/// Our parse of every vector cfg gives what Longhorn's `InspectVolume`/`InspectBackup`
/// answered, and writing it back gives Longhorn's bytes exactly (field order, the double
/// encoding of volume.cfg's `json:",string"` strings, digit strings, nulls).
#[test]
fn vector_cfgs_parse_as_longhorn_inspects_them_and_write_back_byte_for_byte() {
    let Some(v) = vectors() else { return };
    let inspect = v.dir.join("inspect");
    let json = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(inspect.join(name)).expect(name)).expect(name)
    };
    let s = |x: &serde_json::Value| x.as_str().unwrap_or_default().to_string();
    let map = |x: &serde_json::Value| -> BTreeMap<String, String> {
        serde_json::from_value(x.clone()).unwrap_or_default()
    };
    let mut volumes = BTreeSet::new();
    for b in v.backups() {
        volumes.insert(b.volume.clone());
        let raw = v.read(&b.cfg_key);
        let cfg = BackupCfg::from_json(&b.cfg_key, &raw).expect("backup cfg parses");
        assert_eq!(
            String::from_utf8(cfg.to_json(&b.cfg_key).expect("ser")).expect("utf8"),
            String::from_utf8(raw).expect("utf8"),
            "{}: our writing of Longhorn's backup cfg differs",
            b.cfg_key
        );
        let want = json(&format!("{}.{}.backup.json", b.volume, b.backup));
        let what = &b.cfg_key;
        assert_eq!(cfg.name, s(&want["Name"]), "{what}");
        assert_eq!(cfg.snapshot_name, s(&want["SnapshotName"]), "{what}");
        assert_eq!(
            cfg.snapshot_created_at,
            s(&want["SnapshotCreated"]),
            "{what}"
        );
        assert_eq!(cfg.created_time, s(&want["Created"]), "{what}");
        assert_eq!(cfg.size.to_string(), s(&want["Size"]), "{what}");
        assert_eq!(cfg.labels, map(&want["Labels"]), "{what}");
        assert_eq!(cfg.parameters, map(&want["Parameters"]), "{what}");
        assert_eq!(cfg.is_incremental, want["IsIncremental"] == true, "{what}");
        assert_eq!(
            cfg.compression_method.as_str(),
            s(&want["CompressionMethod"]),
            "{what}"
        );
        assert_eq!(
            cfg.newly_uploaded_data_size.to_string(),
            s(&want["NewlyUploadedDataSize"]),
            "{what}"
        );
        assert_eq!(
            cfg.re_uploaded_data_size.to_string(),
            s(&want["ReUploadedDataSize"]),
            "{what}"
        );
        // The backup cfg's Size is listed blocks × 2 MiB, never the volume size.
        assert_eq!(cfg.size, cfg.expected_size(BLOCK_SIZE_2MI), "{what}");
        let vkey = v.volume_cfg_key(&b.volume);
        let vol = VolumeCfg::from_json(&vkey, &v.read(&vkey)).expect("volume.cfg");
        assert_eq!(vol.size.to_string(), s(&want["VolumeSize"]), "{what}");
        assert_eq!(vol.created_time, s(&want["VolumeCreated"]), "{what}");
    }
    for vol in volumes {
        let key = v.volume_cfg_key(&vol);
        let raw = v.read(&key);
        let cfg = VolumeCfg::from_json(&key, &raw).expect("volume.cfg parses");
        assert_eq!(
            String::from_utf8(cfg.to_json(&key).expect("ser")).expect("utf8"),
            String::from_utf8(raw).expect("utf8"),
            "{key}: our writing of Longhorn's volume.cfg differs"
        );
        let want = json(&format!("{vol}.volume.json"));
        assert_eq!(cfg.name, s(&want["Name"]), "{key}");
        assert_eq!(cfg.size.to_string(), s(&want["Size"]), "{key}");
        assert_eq!(cfg.created_time, s(&want["Created"]), "{key}");
        assert_eq!(cfg.last_backup_name, s(&want["LastBackupName"]), "{key}");
        assert_eq!(cfg.last_backup_at, s(&want["LastBackupAt"]), "{key}");
        assert_eq!(cfg.data_engine, s(&want["DataEngine"]), "{key}");
        assert_eq!(
            cfg.backing_image_name,
            s(&want["BackingImageName"]),
            "{key}"
        );
        assert_eq!(
            cfg.backing_image_checksum,
            s(&want["BackingImageChecksum"]),
            "{key}"
        );
        assert_eq!(
            cfg.storage_class_name,
            s(&want["StorageClassname"]),
            "{key}"
        );
        assert_eq!(cfg.labels, map(&want["Labels"]), "{key}");
    }
}

/// Damaged copies of Longhorn's backups: every fault is reported with the block key and the
/// offset (or, for a cfg, the key and the position in it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_vector_backups_are_named_by_key_and_offset() {
    let Some(v) = vectors() else { return };
    let s3 = SandboxS3::start().await;
    let client = s3.client();
    let bucket = s3.server.bucket().to_string();
    load(&client, &bucket, &v.volume_files("vol-sparse")).await;
    let st = store(&client, &bucket);
    let b1 = v.backup_cfg("vol-sparse", "b1");

    // A corrupted block: valid lz4 of other content under the block's name.
    let corrupt = &b1.blocks[0];
    let corrupt_key = st.block_key("vol-sparse", &corrupt.block_checksum);
    let other = compress(CompressionMethod::Lz4, &vec![7u8; BLOCK_SIZE_2MI as usize]).expect("lz4");
    st.put_object(&corrupt_key, other).await.expect("corrupt");
    // A missing block.
    let gone = &b1.blocks[1];
    let gone_key = st.block_key("vol-sparse", &gone.block_checksum);
    st.delete_object(&gone_key).await.expect("delete block");

    let report = verify_structure(&st, "vol-sparse", "b1")
        .await
        .expect("verify");
    let problems = report.problems().join("\n");
    assert!(
        problems.contains(&format!(
            "block {gone_key} for offset {} is missing",
            gone.offset
        )),
        "{problems}"
    );
    assert_eq!(
        report.problems().len(),
        1,
        "only the missing block: {problems}"
    );

    let tmp = tempfile::tempdir().expect("tempdir");
    let deep = deep_verify_files(
        &st,
        "vol-sparse",
        "b1",
        &tmp.path().join("img"),
        &FileChecks::default(),
    )
    .await
    .expect("deep");
    let messages: Vec<String> = deep
        .blocks
        .expect("block pass")
        .problems
        .iter()
        .map(|p| p.message())
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0].contains(&corrupt_key)
            && messages[0].contains(&format!("offset {}", corrupt.offset))
            && messages[0].contains("checksum mismatch"),
        "{messages:?}"
    );
    assert!(
        messages[1].contains(&gone_key)
            && messages[1].contains(&format!("offset {}", gone.offset))
            && messages[1].contains("missing"),
        "{messages:?}"
    );
    let err = restore_image(&st, "vol-sparse", &b1, &tmp.path().join("r"), |_, _| {})
        .await
        .expect_err("restore of a damaged backup")
        .to_string();
    assert!(
        (err.contains(&corrupt_key) && err.contains(&format!("offset {}", corrupt.offset)))
            || (err.contains(&gone_key) && err.contains(&format!("offset {}", gone.offset))),
        "{err}"
    );

    // A truncated backup cfg: the error names the key and where the JSON stops.
    let b2 = v
        .backups()
        .into_iter()
        .find(|b| b.volume == "vol-sparse" && b.backup == "b2")
        .expect("b2");
    let raw = v.read(&b2.cfg_key);
    st.put_object(&b2.cfg_key, raw[..raw.len() / 2].to_vec())
        .await
        .expect("truncate");
    let err = verify_structure(&st, "vol-sparse", "b2")
        .await
        .expect_err("truncated cfg")
        .to_string();
    assert!(err.contains(&b2.cfg_key) && err.contains("column"), "{err}");
}

/// The in-progress states Longhorn left while a backup ran (`inflight/`): the first backup cfg
/// (`CreatedTime ""`, no blocks) is reported in progress naming its key; the later complete cfg
/// whose blocks are not in the target names every missing block by key and offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inflight_vector_states_are_reported() {
    let Some(v) = vectors() else { return };
    let s3 = SandboxS3::start().await;
    let client = s3.client();
    let st = store(&client, s3.server.bucket());
    let inflight = v.inflight("backup-inflight-observed.json");
    let version = |suffix: &str, i: usize| -> (String, Vec<u8>) {
        let (k, vs) = inflight
            .iter()
            .find(|(k, _)| k.ends_with(suffix))
            .unwrap_or_else(|| panic!("no inflight {suffix}"));
        (k.clone(), vs[i].clone().into_bytes())
    };
    for suffix in [".lck", "volume.cfg", ".cfg"] {
        let (k, bytes) = version(suffix, 0);
        st.put_object(&k, bytes).await.expect("put inflight");
    }
    let (cfg_key, _) = version("backup_backup-inflight.cfg", 0);
    let report = verify_structure(&st, "vol-inflight", "backup-inflight")
        .await
        .expect("verify in-progress");
    let problems = report.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("in progress") && problems[0].contains(&cfg_key),
        "{problems:?}"
    );
    let cfg = st
        .get_backup_cfg("vol-inflight", "backup-inflight")
        .await
        .expect("get")
        .expect("cfg");
    assert_eq!(cfg.size, 0);
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = restore_image(&st, "vol-inflight", &cfg, &tmp.path().join("r"), |_, _| {})
        .await
        .expect_err("in progress")
        .to_string();
    assert!(err.contains("in progress"), "{err}");

    // The complete cfg, its blocks never uploaded here: each is named by key and offset.
    let (_, done) = version("backup_backup-inflight.cfg", 1);
    st.put_object(&cfg_key, done.clone()).await.expect("put");
    let (_, vol_done) = version("volume.cfg", 1);
    let (vol_key, _) = version("volume.cfg", 1);
    st.put_object(&vol_key, vol_done).await.expect("put");
    let full = BackupCfg::from_json(&cfg_key, &done).expect("parse");
    let report = verify_structure(&st, "vol-inflight", "backup-inflight")
        .await
        .expect("verify");
    let problems = report.problems();
    assert_eq!(problems.len(), full.blocks.len(), "{problems:?}");
    for b in &full.blocks {
        let key = st.block_key("vol-inflight", &b.block_checksum);
        let line = format!("block {key} for offset {} is missing", b.offset);
        assert!(problems.contains(&line), "{line} not in {problems:?}");
    }
}

/// Options for writing a vector backup again with our writer, as Longhorn v1.9.1 did.
fn golden_opts(
    v: &Vectors,
    vol: &str,
    backup: &str,
    compression: CompressionMethod,
) -> UploadOptions {
    let want = v.backup_cfg(vol, backup);
    UploadOptions {
        block_size: BLOCK_SIZE_2MI,
        compression,
        labels: want.labels.clone(),
        snapshot_name: want.snapshot_name.clone(),
        snapshot_created_at: want.snapshot_created_at.clone(),
        parameters: want.parameters.clone(),
        // v1.9.1 writes no backup-block-size parameter.
        record_block_size: false,
        ..UploadOptions::default()
    }
}

/// Our cfg bytes against Longhorn's, apart from times and (for compressed volumes) the
/// compressed byte counts, which depend on the compressor's implementation.
fn assert_same_cfg(ours: &[u8], longhorn: &[u8], exact_sizes: bool, what: &str) {
    let mut fields = vec!["CreatedTime"];
    if !exact_sizes {
        fields.extend(["NewlyUploadedDataSize", "ReUploadedDataSize"]);
    }
    let ours = mask(std::str::from_utf8(ours).expect("utf8"), &fields);
    let longhorn = mask(std::str::from_utf8(longhorn).expect("utf8"), &fields);
    assert_eq!(ours, longhorn, "{what}: our writer differs from Longhorn's");
}

async fn golden_backup(
    v: &Vectors,
    st: &BackupStore,
    vol: &str,
    backup: &str,
    image_sha: &str,
    compression: CompressionMethod,
    previous: Option<&BackupCfg>,
) -> BackupCfg {
    let (image, _) = v.image_for_sha(image_sha);
    let opts = golden_opts(v, vol, backup, compression);
    let ours = upload_image(st, vol, backup, &image, opts, previous, |_, _| {})
        .await
        .unwrap_or_else(|e| panic!("{vol}/{backup}: upload: {e}"));
    let key = st.backup_cfg_key(vol, backup);
    let ours_raw = st.get_object(&key).await.expect("get").expect("our cfg");
    let want = v.backup_cfg(vol, backup);
    let want_key = v
        .backups()
        .into_iter()
        .find(|b| b.volume == vol && b.backup == backup)
        .expect("vector")
        .cfg_key;
    assert_eq!(key, want_key, "{vol}/{backup}: cfg key");
    assert_eq!(ours.blocks, want.blocks, "{vol}/{backup}: block map");
    assert_eq!(ours.size, want.size, "{vol}/{backup}: Size");
    if want.re_uploaded_data_size > 0 {
        assert!(
            ours.re_uploaded_data_size > 0,
            "{vol}/{backup}: re-uploaded"
        );
    }
    assert_eq!(
        ours.newly_uploaded_data_size == 0,
        want.newly_uploaded_data_size == 0,
        "{vol}/{backup}: newly uploaded"
    );
    assert_same_cfg(
        &ours_raw,
        &v.read(&want_key),
        compression == CompressionMethod::None,
        &format!("{vol}/{backup} backup cfg"),
    );
    ours
}

async fn assert_golden_volume(v: &Vectors, st: &BackupStore, vol: &str) {
    let key = st.volume_cfg_key(vol);
    assert_eq!(key, v.volume_cfg_key(vol), "{vol}: volume.cfg key");
    let ours = st.get_object(&key).await.expect("get").expect("volume.cfg");
    assert_same_cfg(&ours, &v.read(&key), true, &format!("{vol} volume.cfg"));
    // The same block objects (names are plaintext checksums, so compressor-independent).
    let ours: BTreeSet<String> = st
        .list_blocks(vol)
        .await
        .expect("list")
        .into_iter()
        .map(|b| b.checksum)
        .collect();
    let want: BTreeSet<String> = v
        .volume_files(vol)
        .into_iter()
        .filter_map(|(k, _)| {
            k.rsplit('/')
                .next()
                .and_then(|f| f.strip_suffix(".blk"))
                .map(str::to_string)
        })
        .collect();
    assert_eq!(ours, want, "{vol}: block objects");
}

/// The golden writer test: for Longhorn's snapshot images, our writer (what the sandbox uses)
/// writes the same block offsets and checksums, `Size`, `BlockCount`, field order and
/// encodings of both cfgs (times aside), merges the incremental map of b2 after b1 the same way,
/// re-uploads on `backup-mode: full`, and handles gzip, none and a 1 GiB sparse volume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_writer_writes_what_longhorn_wrote() {
    let Some(v) = vectors() else { return };
    let s3 = SandboxS3::start().await;
    let client = s3.client();
    let st = store(&client, s3.server.bucket());
    let sha = |vol: &str, b: &str| v.expected_sha(vol, b).0;

    let lz4 = CompressionMethod::Lz4;
    let b1 = golden_backup(
        &v,
        &st,
        "vol-sparse",
        "b1",
        &sha("vol-sparse", "b1"),
        lz4,
        None,
    )
    .await;
    let b2 = golden_backup(
        &v,
        &st,
        "vol-sparse",
        "b2",
        &sha("vol-sparse", "b2"),
        lz4,
        Some(&b1),
    )
    .await;
    golden_backup(
        &v,
        &st,
        "vol-sparse",
        "b3-full",
        &sha("vol-sparse", "b2"),
        lz4,
        Some(&b2),
    )
    .await;
    assert_golden_volume(&v, &st, "vol-sparse").await;

    golden_backup(
        &v,
        &st,
        "vol-gzip",
        "g1",
        &sha("vol-gzip", "g1"),
        CompressionMethod::Gzip,
        None,
    )
    .await;
    assert_golden_volume(&v, &st, "vol-gzip").await;
    golden_backup(
        &v,
        &st,
        "vol-none",
        "n1",
        &sha("vol-none", "n1"),
        CompressionMethod::None,
        None,
    )
    .await;
    assert_golden_volume(&v, &st, "vol-none").await;
    golden_backup(
        &v,
        &st,
        "vol-big",
        "big1",
        &sha("vol-big", "big1"),
        lz4,
        None,
    )
    .await;
    assert_golden_volume(&v, &st, "vol-big").await;

    // Compression is fixed per volume at its first backup: a later request for lz4 on the
    // gzip volume still writes gzip (longhorn-engine@v1.9.1 deltablock.go
    // CreateDeltaBlockBackup: config.Volume.CompressionMethod = volume.CompressionMethod).
    let (image, _) = v.image_for_sha(&sha("vol-sparse", "b2"));
    let g2 = upload_image(
        &st,
        "vol-gzip",
        "g2",
        &image,
        UploadOptions {
            compression: CompressionMethod::Lz4,
            snapshot_name: "sg2".into(),
            record_block_size: false,
            ..UploadOptions::default()
        },
        None,
        |_, _| {},
    )
    .await
    .expect("g2");
    assert_eq!(g2.compression_method, CompressionMethod::Gzip);
    let vol = st
        .get_volume_cfg("vol-gzip")
        .await
        .expect("get")
        .expect("cfg");
    assert_eq!(vol.compression_method, CompressionMethod::Gzip);
    for b in &g2.blocks {
        let stored = st
            .get_block("vol-gzip", &b.block_checksum)
            .await
            .expect("get")
            .expect("block");
        assert_eq!(
            &stored[..2],
            &[0x1f, 0x8b],
            "block {} is not gzip",
            b.block_checksum
        );
    }
}

/// The request sequence Longhorn's S3 driver sends to release a lock and remove a backup
/// (`Remove` → `DeleteObjects` → `ListObjects(key, "")`, then `DeleteObject` per key;
/// longhorn-engine@v1.9.1 vendor/…/backupstore/s3/s3_service.go) works on the sandbox's S3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_s3_answers_longhorns_remove_requests() {
    let Some(v) = vectors() else { return };
    let s3 = SandboxS3::start().await;
    let client = s3.client();
    let bucket = s3.server.bucket().to_string();
    load(&client, &bucket, &v.volume_files("vol-gc")).await;
    let lock = v.inflight("restore-lock-observed.json");
    let (lock_key, versions) = &lock[0];
    let lock_key = lock_key
        .replace("vol-ext4", "vol-gc")
        .replace("29/aa", "b4/1c");
    client
        .put_object()
        .bucket(&bucket)
        .key(&lock_key)
        .body(versions[1].clone().into_bytes().into())
        .send()
        .await
        .expect("put lock");
    let cfg_key = v
        .backups()
        .into_iter()
        .find(|b| b.volume == "vol-gc")
        .expect("gc2")
        .cfg_key;
    for key in [lock_key.as_str(), cfg_key.as_str()] {
        let listed = client
            .list_objects()
            .bucket(&bucket)
            .prefix(key)
            .delimiter("")
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListObjects prefix={key} delimiter='': {e:?}"));
        let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
        assert_eq!(keys, vec![key]);
        client
            .delete_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .expect("delete");
    }
    let left = client
        .list_objects()
        .bucket(&bucket)
        .prefix("backupstore/volumes/b4/1c/vol-gc/")
        .delimiter("")
        .send()
        .await
        .expect("list");
    let keys: Vec<&str> = left.contents().iter().filter_map(|o| o.key()).collect();
    assert!(!keys
        .iter()
        .any(|k| k.ends_with(".lck") || k.ends_with(".cfg") && k.contains("backups/")));
    assert!(keys.iter().any(|k| k.ends_with("volume.cfg")), "{keys:?}");
}

/// Runs `dr-harness verify-backup --deep` (the real binary) against a plain S3 target through
/// a profile; returns exit code and combined output.
fn run_verify_backup(
    profile: &std::path::Path,
    out: &std::path::Path,
    backup: &str,
) -> (i32, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_dr-harness"))
        .args([
            "verify-backup",
            "--volume",
            "vol-sparse",
            "--backup",
            backup,
            "--deep",
        ])
        .arg("--profile")
        .arg(profile)
        .arg("--out")
        .arg(out)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .expect("run dr-harness");
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// The CLI on Longhorn's own backups: `verify-backup --deep` passes a clean one (exit 0) and
/// fails a damaged one (exit 1) naming the missing block's key and offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_verify_backup_deep_on_longhorn_written_backups() {
    let Some(v) = vectors() else { return };
    let Some(moto) = Moto::start().await else {
        return;
    };
    let client = moto.client().await;
    create_bucket(&client, "oracle").await;
    load(&client, "oracle", &v.volume_files("vol-sparse")).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let profile = tmp.path().join("oracle.toml");
    std::fs::write(
        &profile,
        format!(
            "name = \"oracle\"\n[kubeconfig]\npath = \"/nonexistent/kubeconfig\"\n\
             [backup_target]\nurl = \"s3://oracle@us-east-1/\"\nendpoint = \"{}\"\n\
             credentials = \"env\"\n",
            moto.endpoint
        ),
    )
    .expect("write profile");
    let out = tmp.path().join("reports");

    let (code, text) = run_verify_backup(&profile, &out, "b1");
    assert_eq!(code, 0, "clean Longhorn backup must pass:\n{text}");
    assert!(text.contains("deep:vol-sparse"), "{text}");

    let b1 = v.backup_cfg("vol-sparse", "b1");
    let gone = &b1.blocks[1];
    let key = store(&client, "oracle").block_key("vol-sparse", &gone.block_checksum);
    client
        .delete_object()
        .bucket("oracle")
        .key(&key)
        .send()
        .await
        .expect("delete block");
    let (code, text) = run_verify_backup(&profile, &out, "b1");
    assert_eq!(code, 1, "damaged backup must fail:\n{text}");
    assert!(
        text.contains(&format!("block {key} at offset {} is missing", gone.offset)),
        "{text}"
    );
}
