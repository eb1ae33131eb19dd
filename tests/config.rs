//! Profiles and scenarios: the shipped fixtures load, and every kind of mistake is reported
//! with the file, the right line:column and a hint.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dr_harness::config::{
    scenarios_in, Compression, ConfigError, Credentials, HookPreset, KubeconfigSource, Profile,
    Scenario, StepSpec,
};

fn repo() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if manifest.join("fixtures/profiles").exists() {
        manifest
    } else {
        PathBuf::from("/work/main")
    }
}

/// Writes `text` to a temp file and loads it as a profile.
fn profile_err(text: &str) -> (String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p.toml");
    std::fs::write(&path, text).expect("write");
    let err = Profile::load(&path).expect_err("profile must be rejected");
    (err.to_string(), path.display().to_string())
}

fn scenario_err(text: &str) -> (String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.toml");
    std::fs::write(&path, text).expect("write");
    let err = Scenario::load(&path).expect_err("scenario must be rejected");
    (err.to_string(), path.display().to_string())
}

const GOOD_PROFILE_HEAD: &str = "name = \"t\"\n[kubeconfig]\npath = \"/k\"\n[backup_target]\nurl = \"s3://bucket-x@us-east-1/\"\n";

#[test]
fn fixture_profiles_load_with_their_seed_values() {
    let dir = repo().join("fixtures/profiles");
    let dev = Profile::load(&dir.join("terragrunt-dev.toml")).expect("terragrunt-dev");
    assert_eq!(dev.name, "dev");
    assert_eq!(dev.expect.nodes, Some(4));
    let target = dev.backup_target.resolve().expect("static target");
    assert_eq!(target.url.bucket, "homelab-longhorn-backup-dev");
    assert!(!target.path_style());
    let destroy = dev.hooks.destroy.as_ref().expect("destroy hook");
    assert_eq!(destroy.preset, HookPreset::Terragrunt);
    assert_eq!(
        destroy.working_dir.as_deref(),
        Some(Path::new("infrastructure/stacks/dev"))
    );
    assert_eq!(destroy.timeout, Duration::from_secs(45 * 60));
    match dev.kubeconfig.source() {
        Some(KubeconfigSource::Command(argv)) => {
            assert!(argv.contains(&"/homelab/kubernetes/dev/kubeconfig".to_string()))
        }
        other => panic!("expected an SSM command, got {other:?}"),
    }

    let hz = Profile::load(&dir.join("tofu-rke2-hetzner.toml")).expect("tofu-rke2-hetzner");
    let t = hz.backup_target.resolve().expect("target");
    assert_eq!(
        t.endpoint.as_deref(),
        Some("https://fsn1.your-objectstorage.com")
    );
    assert!(t.path_style());
    assert_eq!(t.credentials, Credentials::Env);
    assert!(t.etcd_snapshot_prefix.is_some());
    assert_eq!(
        hz.hooks.rebuild.as_ref().map(|h| h.preset),
        Some(HookPreset::Tofu)
    );
    assert!(!hz.safety.allow_destroy);

    let k3s = Profile::load(&dir.join("make-k3s.toml")).expect("make-k3s");
    let d = k3s.hooks.destroy.as_ref().expect("destroy");
    assert_eq!(
        d.argv.as_deref(),
        Some(&["make".to_string(), "k3s-teardown".to_string()][..])
    );
    assert_eq!(d.grace, Duration::from_secs(30), "default grace");
    assert!(
        matches!(k3s.kubeconfig.source(), Some(KubeconfigSource::Path(p)) if !p.starts_with("~"))
    );
    assert_eq!(k3s.safety.marker.configmap, "dr-harness-drill-target");
}

#[test]
fn full_rebuild_scenario_has_the_steps_in_order() {
    let s = Scenario::load(&repo().join("scenarios/full-rebuild.toml")).expect("full-rebuild");
    let kinds: Vec<&str> = s.steps().iter().map(|e| e.spec.kind()).collect();
    assert_eq!(
        kinds,
        [
            "preflight",
            "deploy-sentinel",
            "write-sentinel",
            "start-ticks",
            "backup",
            "verify-backup",
            "destroy",
            "rebuild",
            "wait-ready",
            "verify-restore",
            "verify-sentinel",
            "health",
            "cleanup"
        ]
    );
    assert!(s.destructive);
    assert_eq!(s.rto_target, Some(Duration::from_secs(30 * 60)));
    assert_eq!(s.sentinel.file_sizes, vec![3 << 20, 5000 << 10, 1 << 10]);
    assert_eq!(s.steps()[0].name, "preflight");
    assert_eq!(s.preflight_only().steps().len(), 1);
}

#[test]
fn scenarios_in_loads_every_file_separately() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("a.toml"),
        "name = \"a\"\n[[steps]]\nkind = \"preflight\"\n",
    )
    .expect("w");
    std::fs::write(
        dir.path().join("b.toml"),
        "name = \"b\"\n[[steps]]\nkind = \"nope\"\n",
    )
    .expect("w");
    std::fs::write(dir.path().join("notes.md"), "ignored").expect("w");
    let all = scenarios_in(dir.path());
    assert_eq!(all.len(), 2);
    assert!(all[0].1.is_ok());
    assert!(all[1].1.is_err());
    let shipped = scenarios_in(&repo().join("scenarios"));
    assert!(!shipped.is_empty());
    for (p, r) in shipped {
        assert!(r.is_ok(), "{}: {:?}", p.display(), r.err());
    }
}

#[test]
fn step_options_and_defaults() {
    let s = Scenario::from_str(
        "name = \"x\"\nrpo_target = \"24h\"\n[sentinel]\nfile_sizes = [\"2MiB\", \"1MB\", 17]\ntick_interval = \"500ms\"\n\
         [[steps]]\nkind = \"backup\"\nname = \"backup-gzip\"\ncompression = \"gzip\"\nwait_timeout = \"10m\"\ntimeout = \"1h 30m\"\nlabels = { purpose = \"drill\" }\n\
         [[steps]]\nkind = \"deploy-sentinel\"\nadopt = true\n",
        "inline",
    )
    .expect("valid");
    assert_eq!(s.rpo_target, Some(Duration::from_secs(24 * 3600)));
    assert_eq!(s.sentinel.file_sizes, vec![2 << 20, 1_000_000, 17]);
    assert_eq!(s.sentinel.tick_interval, Duration::from_millis(500));
    let b = &s.steps()[0];
    assert_eq!(b.name, "backup-gzip");
    assert_eq!(b.effective_timeout(), Duration::from_secs(5400));
    match &b.spec {
        StepSpec::Backup(opts) => {
            assert_eq!(opts.compression, Some(Compression::Gzip));
            assert_eq!(opts.wait_timeout, Some(Duration::from_secs(600)));
            assert_eq!(
                opts.labels.get("purpose").map(String::as_str),
                Some("drill")
            );
        }
        other => panic!("expected backup, got {other:?}"),
    }
    assert!(matches!(&s.steps()[1].spec, StepSpec::DeploySentinel(d) if d.adopt));
    assert_eq!(
        s.steps()[1].effective_timeout(),
        s.steps()[1].spec.default_timeout()
    );
}

#[test]
fn unknown_key_names_file_line_column_and_valid_keys() {
    let text = format!("{GOOD_PROFILE_HEAD}[safety]\nalow_destroy = true\n");
    let (msg, file) = profile_err(&text);
    assert_eq!(
        msg,
        format!("{file}:7:1: unknown key `alow_destroy` in [safety]; expected one of allow_destroy, marker")
    );
}

#[test]
fn wrong_type_names_the_key() {
    let text = format!("{GOOD_PROFILE_HEAD}[safety]\nallow_destroy = \"yes\"\n");
    let (msg, file) = profile_err(&text);
    assert!(
        msg.starts_with(&format!(
            "{file}:7:17: wrong type for key `allow_destroy` in [safety]"
        )),
        "{msg}"
    );
    assert!(msg.contains("expected a boolean"), "{msg}");
}

#[test]
fn bad_durations_name_the_key_and_show_the_syntax() {
    for (bad, col) in [("45 mins", 11), ("forever", 11)] {
        let text = format!("{GOOD_PROFILE_HEAD}[hooks.destroy]\npreset = \"command\"\nargv = [\"true\"]\ntimeout = \"{bad}\"\n");
        let (msg, file) = profile_err(&text);
        assert!(
            msg.starts_with(&format!(
                "{file}:9:{col}: invalid duration `{bad}` for key `timeout` in [hooks.destroy]"
            )),
            "{msg}"
        );
        assert!(msg.contains("\"1h 30m\""), "hint missing: {msg}");
    }
    let (msg, file) =
        scenario_err("name = \"s\"\n[[steps]]\nkind = \"backup\"\n\nwait_timeout = \"forever\"\n");
    assert!(
        msg.starts_with(&format!(
            "{file}:5:1: invalid duration `forever` for key `wait_timeout`"
        )),
        "{msg}"
    );
    let (msg, file) =
        scenario_err("name = \"s\"\n[[steps]]\nkind = \"backup\"\ntimeout = \"45 mins\"\n");
    assert!(
        msg.starts_with(&format!(
            "{file}:4:1: invalid duration `45 mins` for key `timeout`"
        )),
        "{msg}"
    );
}

#[test]
fn unknown_step_kind_lists_known_kinds() {
    let (msg, file) = scenario_err(
        "name = \"s\"\n\n[[steps]]\nkind = \"preflight\"\n\n[[steps]]\nkind = \"snapshoot\"\n",
    );
    assert!(
        msg.starts_with(&format!(
            "{file}:7:1: unknown step kind `snapshoot` in [[steps]] #2"
        )),
        "{msg}"
    );
    assert!(
        msg.contains("expected one of preflight, deploy-sentinel, write-sentinel, backup"),
        "{msg}"
    );
}

#[test]
fn unknown_key_inside_a_step_points_at_it() {
    let (msg, file) =
        scenario_err("name = \"s\"\n[[steps]]\nkind = \"backup\"\ncompresion = \"lz4\"\n");
    assert!(
        msg.starts_with(&format!(
            "{file}:4:1: unknown key `compresion` in [[steps]] #1 (backup)"
        )),
        "{msg}"
    );
    assert!(
        msg.contains("expected one of compression, wait_timeout, labels"),
        "{msg}"
    );
    let (msg, _) =
        scenario_err("name = \"s\"\n[[steps]]\nkind = \"backup\"\ncompression = \"zstd\"\n");
    assert!(
        msg.contains(":4:1: unknown value `zstd` for key `compression`"),
        "{msg}"
    );
    assert!(msg.contains("expected one of none, gzip, lz4"), "{msg}");
}

#[test]
fn duplicate_step_names_point_at_the_second() {
    let (msg, file) = scenario_err(
        "name = \"s\"\n[[steps]]\nkind = \"backup\"\n[[steps]]\nkind = \"preflight\"\n[[steps]]\nkind = \"backup\"\n",
    );
    assert!(
        msg.starts_with(&format!("{file}:7:1: duplicate step name `backup` in [[steps]] #3 (already used by [[steps]] #1)")),
        "{msg}"
    );
    assert!(msg.contains("unique `name"), "{msg}");
    let (msg, file) = scenario_err(
        "name = \"s\"\n[[steps]]\nkind = \"backup\"\nname = \"b\"\n[[steps]]\nkind = \"preflight\"\nname = \"b\"\n",
    );
    assert!(
        msg.starts_with(&format!("{file}:7:1: duplicate step name `b`")),
        "{msg}"
    );
}

#[test]
fn argv_with_a_preset_is_rejected() {
    let text = format!(
        "{GOOD_PROFILE_HEAD}[hooks.rebuild]\npreset = \"tofu\"\nworking_dir = \"infra\"\nargv = [\"tofu\", \"apply\"]\n"
    );
    let (msg, file) = profile_err(&text);
    assert!(
        msg.starts_with(&format!(
            "{file}:9:1: `argv` is not allowed in [hooks.rebuild] with preset \"tofu\""
        )),
        "{msg}"
    );
    assert!(msg.contains("extra_args"), "{msg}");
}

#[test]
fn command_preset_without_argv_is_rejected() {
    let text = format!("{GOOD_PROFILE_HEAD}\n[hooks.destroy]\npreset = \"command\"\n");
    let (msg, file) = profile_err(&text);
    assert!(
        msg.starts_with(&format!(
            "{file}:8:1: missing key `argv` in [hooks.destroy] for preset \"command\""
        )),
        "{msg}"
    );
    assert!(msg.contains("argv = ["), "{msg}");
}

#[test]
fn bad_backup_target_urls_are_rejected_at_the_value() {
    // `s3://bucket-x/` and `s3://bucket-x@us-east-1/folder` are valid Longhorn targets
    // (longhorn-engine@v1.9.1 vendor/…/backupstore/s3/s3.go initFunc): see
    // longhorn_valid_target_urls_are_accepted.
    for bad in [
        "s3://bucket-x@us-east-1",
        "https://bucket-x@us-east-1/",
        "s3://bucket-x@us-east-1/folder?x=1",
    ] {
        let text = format!(
            "name = \"t\"\n[kubeconfig]\npath = \"/k\"\n[backup_target]\nurl = \"{bad}\"\n"
        );
        let (msg, file) = profile_err(&text);
        assert!(
            msg.starts_with(&format!("{file}:5:7: invalid backup target URL `{bad}`")),
            "{bad}: {msg}"
        );
        assert!(msg.contains("s3://<bucket>@<region>/"), "{msg}");
    }
}

#[test]
fn longhorn_valid_target_urls_are_accepted() {
    for (url, prefix) in [
        ("s3://bucket-x/", ""),
        ("s3://bucket-x/folder", "folder/"),
        ("s3://bucket-x@us-east-1/folder", "folder/"),
        ("s3://bucket-x@us-east-1//a/./b/", "a/b/"),
    ] {
        let parsed = dr_harness::config::profile::BackupTargetUrl::parse(url)
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(parsed.prefix, prefix, "{url}");
        assert_eq!(
            parsed.backupstore_prefix(),
            format!("{prefix}backupstore/"),
            "{url}"
        );
    }
}

#[test]
fn kubeconfig_needs_exactly_one_source() {
    let (msg, file) = profile_err(
        "name = \"t\"\n[kubeconfig]\npath = \"/k\"\ncommand = [\"x\"]\n[backup_target]\nurl = \"s3://bucket-x@us-east-1/\"\n",
    );
    assert!(
        msg.starts_with(&format!(
            "{file}:4:1: both `path` and `command` set in [kubeconfig]"
        )),
        "{msg}"
    );
}

#[test]
fn syntax_errors_and_missing_keys_are_located() {
    let (msg, file) = profile_err("name = \"t\"\n[kubeconfig\npath = \"/k\"\n");
    assert!(msg.starts_with(&format!("{file}:2:")), "{msg}");
    let (msg, file) = profile_err(
        "name = \"t\"\n[kubeconfig]\npath = \"/k\"\n[backup_target]\nendpoint = \"http://x\"\n",
    );
    assert!(msg.starts_with(&format!("{file}:")), "{msg}");
    assert!(msg.contains("missing key `url`"), "{msg}");
}

#[test]
fn unreadable_file_is_a_read_error() {
    let err = Profile::load(Path::new("/nonexistent/dr-harness/p.toml")).expect_err("missing");
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(err.to_string().contains("/nonexistent/dr-harness/p.toml"));
}

#[test]
fn builtin_sandbox_profile_points_into_the_state_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = Profile::builtin_sandbox(dir.path());
    assert_eq!(p.name, "sandbox");
    assert!(p.safety.allow_destroy);
    assert_eq!(p.expect.nodes, Some(3));
    assert_eq!(
        p.expect.kustomizations,
        ["longhorn", "longhorn-restore-orchestrator", "dr-exercise"]
    );
    assert_eq!(
        p.expect.orchestrator_job_ref(),
        Some(("longhorn-system", "longhorn-restore-orchestrator"))
    );
    assert_eq!(
        p.kubeconfig.source(),
        Some(KubeconfigSource::Path(&dir.path().join("kubeconfig")))
    );
    let d = p.hooks.destroy.as_ref().expect("destroy");
    let argv = d.argv.as_ref().expect("argv");
    assert_eq!(
        &argv[1..],
        [
            "sandbox",
            "destroy",
            "--state",
            &dir.path().display().to_string()
        ]
    );
    assert_eq!(
        p.hooks
            .rebuild
            .as_ref()
            .and_then(|h| h.argv.as_ref())
            .map(|a| a[2].as_str()),
        Some("apply")
    );
    // The backup target is read lazily: missing state is a clear error, present state resolves.
    let err = p.backup_target.resolve().expect_err("no sandbox.json yet");
    assert!(matches!(err, ConfigError::SandboxState { .. }), "{err}");
    std::fs::write(
        dir.path().join("sandbox.json"),
        r#"{"backup_target_url":"s3://sandbox-backups@us-east-1/","s3_endpoint":"http://127.0.0.1:9","region":"us-east-1","extra":1}"#,
    )
    .expect("write");
    let t = p.backup_target.resolve().expect("resolves");
    assert_eq!(t.url.bucket, "sandbox-backups");
    assert_eq!(t.endpoint.as_deref(), Some("http://127.0.0.1:9"));
    assert!(t.path_style());
}

#[test]
fn init_is_for_the_tool_presets_only() {
    let text = format!(
        "{GOOD_PROFILE_HEAD}[hooks.rebuild]\npreset = \"command\"\nargv = [\"make\", \"up\"]\ninit = true\n"
    );
    let (msg, file) = profile_err(&text);
    assert!(
        msg.starts_with(&format!(
            "{file}:9:1: `init` is not allowed in [hooks.rebuild] with preset \"command\""
        )),
        "{msg}"
    );
    let ok = format!(
        "{GOOD_PROFILE_HEAD}[hooks.rebuild]\npreset = \"tofu\"\nworking_dir = \"infra\"\ninit = true\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, ok).unwrap();
    let p = dr_harness::config::Profile::load(&path).expect("init with tofu is fine");
    assert!(p.hooks.rebuild.expect("rebuild hook").init);
}
