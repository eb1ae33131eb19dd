//! The command line as a user meets it: help, bad input (exit 2, file:line:column, nothing
//! touched), `list`.

use std::process::Command;

fn harness() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dr-harness"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

#[test]
fn help_teaches_the_main_commands() {
    let out = harness().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in [
        "run",
        "check",
        "list",
        "sandbox",
        "restore-orchestrator",
        "sentinel",
    ] {
        assert!(text.contains(word), "--help should mention {word}: {text}");
    }
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let out = harness().args(["run", "--alow-destroy"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_profile_exits_2_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "name = \"dev\"\n[kubeconfig]\npath = \"/nonexistent\"\n[backup_target]\nurl = \"s3://dr-backups@us-east-1/\"\n[safety]\nalow_destroy = true\n",
    )
    .unwrap();
    let out = harness()
        .args(["run", "full-rebuild", "--profile"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:7:"), "{err}");
    assert!(err.contains("alow_destroy"), "{err}");
}

#[test]
fn bad_scenario_exits_2_before_touching_anything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oops.toml");
    std::fs::write(
        &path,
        "name = \"oops\"\n[[steps]]\nkind = \"preflight\"\n[[steps]]\nkind = \"destory\"\n",
    )
    .unwrap();
    let out = harness().arg("run").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("oops.toml:5:"), "{err}");
    assert!(err.contains("destory"), "{err}");
}

#[test]
fn list_shows_builtin_scenarios_and_fixture_profiles() {
    let out = harness().args(["list", "--validate"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("full-rebuild"), "{text}");
    assert!(text.contains("sandbox"), "{text}");
}

#[test]
fn verify_backup_fleet_flags_are_checked_before_anything_is_read() {
    for (args, says) in [
        (vec!["--all-volumes", "--shard", "4/4"], "out of range"),
        (vec!["--all-volumes", "--shard", "a/4"], "not a number"),
        (vec!["--all-volumes", "--incremental"], "--deep"),
        (
            vec![
                "--all-volumes",
                "--deep",
                "--incremental",
                "--ledger-key-env",
                "DR_NO_SUCH_KEY_VAR",
            ],
            "DR_NO_SUCH_KEY_VAR",
        ),
    ] {
        let out = harness()
            .arg("verify-backup")
            .args(&args)
            .args(["--profile", "/nonexistent/profile.toml"])
            .env_remove("DR_HARNESS_SHARD")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {text}");
        assert!(text.contains(says), "{args:?} should say {says:?}: {text}");
    }
}
