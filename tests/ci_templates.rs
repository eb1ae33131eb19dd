//! The CI and monitoring files users copy or include, checked with the ecosystem's own tools:
//! actionlint on the GitHub workflows and the composite action, the GitLab CI JSON schema on
//! the GitLab template (check-jsonschema's vendored copy), `promtool test rules` on the alert
//! rules, hadolint on the Containerfile; plus the rules those tools do not check (pinned
//! actions, inputs only through `env:`, JUnit globs that skip `latest`, dashboard queries that
//! use only metric names the harness emits). A missing tool is reported loudly and fails under
//! `CI=true` (scripts/setup.sh installs them all).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Says loudly that `what` cannot be checked; panics under `CI=true`.
fn missing(what: &str) {
    let msg = format!("!!! {what} (scripts/setup.sh installs it)");
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
    eprintln!("{msg}");
}

/// Runs `tool args` in `dir`; `None` (after saying so) when the tool is not installed.
fn tool(tool: &str, args: &[&str], dir: &Path) -> Option<Output> {
    match Command::new(tool).args(args).current_dir(dir).output() {
        Ok(out) => Some(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            missing(&format!("{tool} is not installed: NOT checked"));
            None
        }
        Err(e) => panic!("{tool} cannot run: {e}"),
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn workflows() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join("ci/github"))
        .expect("ci/github")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    v.sort();
    assert!(v.len() >= 3, "pr-gate, nightly, monthly drill: {v:?}");
    v
}

/// Our own action as the workflows reference it (`dr-harness/dr-harness@<sha>`).
const OWN_ACTION: &str = "dr-harness/dr-harness@";

/// actionlint, default profile: nothing reported. The workflows are linted in a scratch
/// repository where our own action is `./` (this repository's action.yml), so actionlint also
/// checks every input they pass against the action's declared inputs.
#[test]
fn actionlint_reports_nothing_on_the_workflows_and_the_action() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let root = scratch.path();
    std::fs::create_dir_all(root.join(".git")).expect(".git");
    std::fs::create_dir_all(root.join(".github/workflows")).expect("workflows");
    std::fs::copy(repo().join("action.yml"), root.join("action.yml")).expect("action.yml");
    let own = regex::Regex::new(r"dr-harness/dr-harness@[0-9a-f]{40}").expect("regex");
    for wf in workflows() {
        let text = std::fs::read_to_string(&wf).expect("workflow");
        let local = own.replace_all(&text, "./");
        let name = wf.file_name().expect("name");
        std::fs::write(root.join(".github/workflows").join(name), local.as_ref()).expect("copy");
    }
    let Some(out) = tool("actionlint", &["-no-color"], root) else {
        return;
    };
    assert!(
        out.status.success() && text(&out).trim().is_empty(),
        "actionlint: {}",
        text(&out)
    );
    // and a mistake is reported (the check is live): an input the action does not declare
    let pr = root.join(".github/workflows/pr-gate.yml");
    let bad = std::fs::read_to_string(&pr)
        .expect("pr-gate")
        .replace("scenarios:", "scenario:");
    std::fs::write(&pr, bad).expect("write");
    let out = tool("actionlint", &["-no-color"], root).expect("ran before");
    assert!(!out.status.success(), "actionlint misses a wrong input");
    assert!(
        text(&out).contains("input \"scenario\" is not defined"),
        "{}",
        text(&out)
    );
}

/// Every `uses:` is pinned by a full commit SHA with the tag as a comment.
fn assert_pinned(file: &Path, text: &str) {
    let uses = regex::Regex::new(r"(?m)^\s*(?:-\s*)?uses:\s*(\S+)(.*)$").expect("regex");
    let pinned = regex::Regex::new(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$").expect("regex");
    let mut n = 0;
    for c in uses.captures_iter(text) {
        let target = &c[1];
        if target.starts_with("./") {
            continue;
        }
        assert!(
            pinned.is_match(target),
            "{}: `{target}` is not pinned by commit SHA",
            file.display()
        );
        assert!(
            c[2].trim_start().starts_with("# v"),
            "{}: `{target}` has no `# vX` tag comment",
            file.display()
        );
        n += 1;
    }
    assert!(n > 0, "{}: no actions used?", file.display());
}

/// Steps (of a workflow's jobs, or of the composite action).
fn steps(doc: &Value) -> Vec<Value> {
    let mut out = vec![];
    if let Some(jobs) = doc["jobs"].as_object() {
        for job in jobs.values() {
            out.extend(job["steps"].as_array().cloned().unwrap_or_default());
        }
    }
    out.extend(doc["runs"]["steps"].as_array().cloned().unwrap_or_default());
    out
}

/// `*` matches within one path segment, as the JUnit action's glob does.
fn glob_matches(pattern: &str, path: &str) -> bool {
    let re = format!("^{}$", regex::escape(pattern).replace(r"\*", "[^/]*"));
    regex::Regex::new(&re).expect("glob").is_match(path)
}

#[test]
fn workflows_and_action_follow_the_hardening_rules() {
    let mut files = workflows();
    files.push(repo().join("action.yml"));
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        assert_pinned(f, &text);
        let doc = yaml(f);
        for step in steps(&doc) {
            if let Some(run) = step["run"].as_str() {
                assert!(
                    !run.contains("${{"),
                    "{}: an expression inside run: (use env:): {run}",
                    f.display()
                );
            }
            let uses = step["uses"].as_str().unwrap_or_default();
            if uses.starts_with("actions/checkout@") {
                assert_eq!(
                    step["with"]["persist-credentials"],
                    false,
                    "{}: checkout persists credentials",
                    f.display()
                );
            }
        }
        if f.ends_with("action.yml") {
            continue;
        }
        assert!(
            doc.get("permissions").is_some(),
            "{}: no top-level permissions",
            f.display()
        );
        for (name, job) in doc["jobs"].as_object().expect("jobs") {
            let perms = job["permissions"]
                .as_object()
                .unwrap_or_else(|| panic!("{}: job {name} has no permissions", f.display()));
            for (scope, level) in perms {
                assert!(
                    level == "read" || (scope == "checks" && level == "write"),
                    "{}: job {name} asks for {scope}: {level}",
                    f.display()
                );
            }
            assert!(
                text.contains(OWN_ACTION),
                "{}: does not use the dr-harness action",
                f.display()
            );
        }
    }

    // JUnit is published once per drill: the glob matches run folders, not the `latest` link.
    let action = yaml(&repo().join("action.yml"));
    let junit = steps(&action)
        .into_iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .unwrap_or_default()
                .starts_with("mikepenz/action-junit-report@")
        })
        .expect("a JUnit publishing step");
    assert_eq!(junit["with"]["require_tests"], true);
    let pattern = junit["with"]["report_paths"]
        .as_str()
        .expect("report_paths")
        .replace("${{ inputs.out }}", "dr-reports");
    assert!(
        glob_matches(
            &pattern,
            "dr-reports/2aae0beb-3caa-4489-ba4d-eeca2a2d9323/junit.xml"
        ),
        "{pattern}"
    );
    assert!(
        !glob_matches(&pattern, "dr-reports/latest/junit.xml"),
        "{pattern} also matches latest/"
    );
}

/// The composite action's run step: inputs are data, never shell code.
#[test]
fn action_run_script_passes_inputs_as_arguments() {
    let bin = tempfile::tempdir().expect("tempdir");
    let argv_file = bin.path().join("argv");
    let fake = bin.path().join("dr-harness");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > {}\nexit 1\n",
            argv_file.display()
        ),
    )
    .expect("fake");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let output = bin.path().join("github_output");
    let pwned = bin.path().join("pwned");
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg(repo().join("ci/github/action/run.sh"))
        .env("PATH", path)
        .env("DRH_COMMAND", "run")
        .env(
            "DRH_SCENARIOS",
            format!("volume-restore health;touch {}", pwned.display()),
        )
        .env("DRH_PROFILE", "dr/profile with space.toml")
        .env("DRH_ALLOW_DESTROY", "false")
        .env("DRH_OUT", "dr-reports")
        .env("DRH_PUSHGATEWAY", "http://pgw:9091")
        .env("DRH_ARGS", "--repeat 2")
        .env("GITHUB_OUTPUT", &output)
        .output()
        .expect("bash");
    assert_eq!(
        out.status.code(),
        Some(1),
        "the drill's exit code is passed on: {}",
        text(&out)
    );
    let argv = std::fs::read_to_string(&argv_file).expect("argv");
    let argv: Vec<&str> = argv.lines().collect();
    assert_eq!(
        argv,
        [
            "run",
            "volume-restore",
            // split into words like any list input, never run
            "health;touch",
            &pwned.display().to_string(),
            "--profile",
            "dr/profile with space.toml",
            "--out",
            "dr-reports",
            "--pushgateway",
            "http://pgw:9091",
            "--repeat",
            "2"
        ]
    );
    assert!(!pwned.exists(), "an input ran as shell code");
    assert_eq!(
        std::fs::read_to_string(&output).expect("output"),
        "exit-code=1\n"
    );
}

#[test]
fn gitlab_template_validates_against_the_gitlab_ci_schema() {
    let file = repo().join("ci/gitlab/dr-harness.gitlab-ci.yml");
    let Some(out) = tool(
        "check-jsonschema",
        &[
            "--builtin-schema",
            "vendor.gitlab-ci",
            &file.display().to_string(),
        ],
        &repo(),
    ) else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out));

    let doc = yaml(&file);
    let base = &doc[".dr-harness"];
    let junit: Vec<String> = base["artifacts"]["reports"]["junit"]
        .as_array()
        .expect("artifacts:reports:junit")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect();
    assert!(junit.iter().any(|p| glob_matches(
        p,
        "dr-reports/2aae0beb-3caa-4489-ba4d-eeca2a2d9323/junit.xml"
    )));
    assert!(junit.iter().any(|p| glob_matches(
        p,
        "dr-reports/verify/2aae0beb-3caa-4489-ba4d-eeca2a2d9323/junit.xml"
    )));
    assert!(
        !junit
            .iter()
            .any(|p| glob_matches(p, "dr-reports/latest/junit.xml")
                || glob_matches(p, "dr-reports/verify/latest/junit.xml")),
        "{junit:?}"
    );
    assert_eq!(base["artifacts"]["when"], "always");

    // the destructive drill: manual only, in a protected environment, never on a merge request
    let drill = &doc["dr-harness:monthly-drill"];
    let script = drill["script"].to_string();
    assert!(script.contains("--allow-destroy"), "{script}");
    assert!(drill["environment"]["name"].is_string());
    for rule in drill["rules"].as_array().expect("rules") {
        assert_eq!(rule["when"], "manual", "{rule}");
        assert!(
            !rule["if"]
                .as_str()
                .unwrap_or_default()
                .contains("merge_request"),
            "{rule}"
        );
    }
    for (name, job) in doc.as_object().expect("jobs") {
        if name != "dr-harness:monthly-drill" && job.get("script").is_some() {
            assert!(
                !job["script"].to_string().contains("--allow-destroy"),
                "{name} destroys"
            );
        }
    }
    let nightly = doc["dr-harness:nightly"]["rules"].to_string();
    assert!(nightly.contains("schedule"), "{nightly}");
}

#[test]
fn promtool_rule_unit_tests_pass() {
    let dir = repo().join("ci/prometheus");
    let Some(out) = tool(
        "promtool",
        &["check", "rules", "dr-harness-alerts.yml"],
        &dir,
    ) else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out));
    let out = tool(
        "promtool",
        &[
            "test",
            "rules",
            "dr-harness-alerts.test.yml",
            "dr-harness-alerts-stale.test.yml",
        ],
        &dir,
    )
    .expect("promtool");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("SUCCESS"), "{}", text(&out));
}

/// The metric names the harness writes: the string constants of harness/report/prometheus.rs.
fn emitted_metrics() -> BTreeSet<String> {
    let src = std::fs::read_to_string(repo().join("harness/report/prometheus.rs"))
        .expect("prometheus.rs");
    let re = regex::Regex::new(r#""(dr_harness_[a-z_]+)""#).expect("regex");
    let names: BTreeSet<String> = re.captures_iter(&src).map(|c| c[1].to_string()).collect();
    assert!(names.contains("dr_harness_rto_target_seconds"), "{names:?}");
    names
}

/// Metric names a PromQL expression selects (identifiers outside label matchers, strings,
/// ranges and grouping clauses that are neither functions nor keywords).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let strip = regex::Regex::new(r#""[^"]*"|\{[^}]*\}|\[[^\]]*\]|\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"#).expect("regex");
    let bare = strip.replace_all(expr, " ");
    let ident = regex::Regex::new(r"[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?").expect("regex");
    let keywords = ["and", "or", "unless", "offset", "bool"];
    ident
        .captures_iter(&bare)
        .filter(|c| c.get(1).is_none())
        .map(|c| c[0].trim().to_string())
        .filter(|w| !keywords.contains(&w.as_str()))
        .collect()
}

#[test]
fn alert_rules_and_dashboard_use_only_emitted_metric_names() {
    let emitted = emitted_metrics();
    let mut used = BTreeSet::new();

    let rules = yaml(&repo().join("ci/prometheus/dr-harness-alerts.yml"));
    for group in rules["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            let expr = rule["expr"].as_str().expect("expr");
            for m in metric_names(expr) {
                assert!(
                    emitted.contains(&m),
                    "alert {}: `{m}` is not a metric the harness writes",
                    rule["alert"]
                );
                used.insert(m);
            }
        }
    }

    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("ci/grafana/dr-harness.json")).expect("dashboard"),
    )
    .expect("the dashboard is valid JSON");
    let mut exprs = vec![];
    for panel in dashboard["panels"].as_array().expect("panels") {
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {} has no query", panel["title"]);
        for t in targets {
            exprs.push((
                panel["title"].to_string(),
                t["expr"].as_str().expect("expr").to_string(),
            ));
        }
    }
    for var in dashboard["templating"]["list"]
        .as_array()
        .expect("templating")
    {
        if let Some(q) = var["definition"].as_str() {
            let inner = q
                .trim_start_matches("label_values(")
                .rsplit_once(',')
                .map_or(q, |(m, _)| m);
            exprs.push((format!("variable {}", var["name"]), inner.to_string()));
        }
    }
    for (title, expr) in &exprs {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{title}: no metric in `{expr}`");
        for m in names {
            assert!(
                emitted.contains(&m),
                "{title}: `{m}` is not a metric the harness writes"
            );
            used.insert(m);
        }
    }
    // what the issue asks the dashboard and alerts to show
    for needed in [
        "dr_harness_success",
        "dr_harness_rto_seconds",
        "dr_harness_rto_target_seconds",
        "dr_harness_phase_duration_seconds",
        "dr_harness_verified_bytes",
        "dr_harness_last_success_timestamp_seconds",
        "dr_harness_backup_verify_success",
    ] {
        assert!(used.contains(needed), "{needed} is shown nowhere");
    }
}

#[test]
fn metric_name_extraction_skips_labels_functions_and_keywords() {
    let names = metric_names(
        r#"time() - max by (cluster, scenario) (dr_harness_x{scenario=~"a|b"}) > on (cluster) rate(other_total[5m]) unless up"#,
    );
    assert_eq!(
        names,
        ["dr_harness_x", "other_total", "up"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}

/// The image runs the documented release build without the built-in sandbox (every use of the
/// image passes --profile); hadolint finds nothing.
#[test]
fn containerfile_runs_the_release_build_and_lints_clean() {
    let cf = std::fs::read_to_string(repo().join("Containerfile")).expect("Containerfile");
    let make = std::fs::read_to_string(repo().join("Makefile")).expect("Makefile");
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README");
    let release = "cargo build --release --locked --no-default-features --bin dr-harness";
    assert!(cf.contains(&format!("RUN {release}\n")), "Containerfile");
    assert!(
        make.contains(&release.replacen("cargo", "$(CARGO)", 1)),
        "make release-image"
    );
    assert!(
        readme.contains(release),
        "the README documents the release build"
    );
    assert!(
        cf.contains("COPY --from=build /src/target/release/dr-harness"),
        "the runtime stage holds the binary"
    );
    let rust_version = std::fs::read_to_string(repo().join("Cargo.toml"))
        .expect("Cargo.toml")
        .lines()
        .find_map(|l| {
            l.strip_prefix("rust-version = \"")
                .map(|v| v.trim_end_matches('"').to_string())
        })
        .expect("rust-version");
    assert!(
        cf.contains(&format!("FROM rust:{rust_version}-")),
        "the build image's Rust is the workspace's rust-version {rust_version}"
    );
    if let Some(out) = tool(
        "hadolint",
        &["--failure-threshold", "info", "Containerfile"],
        &repo(),
    ) {
        assert!(out.status.success(), "hadolint: {}", text(&out));
    }
}

/// The build without the `sandbox` feature (the image's) links none of the sandbox's server
/// code: cargo's own dependency graph of the dr-harness package has no path to the sandbox
/// crate, its API server (axum) or its S3 server (s3s, s3s-fs). Guards against a dependency
/// that pulls the sandbox back in unconditionally.
#[test]
fn the_build_without_the_sandbox_feature_has_no_sandbox_code() {
    for package in ["dr-sandbox", "axum", "s3s", "s3s-fs"] {
        let out = Command::new(env!("CARGO"))
            .args([
                "tree",
                "--locked",
                "--offline",
                "--no-default-features",
                "-e",
                "normal",
                "-p",
                "dr-harness",
                "-i",
                package,
            ])
            .current_dir(repo())
            .output()
            .expect("cargo runs");
        assert!(
            out.status.success(),
            "cargo tree -i {package}: {}",
            text(&out)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "",
            "the build without the sandbox depends on {package}"
        );
    }
    // and the default build does carry it: the check above looks at the right graph
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--locked",
            "--offline",
            "-e",
            "normal",
            "-p",
            "dr-harness",
            "-i",
            "axum",
        ])
        .current_dir(repo())
        .output()
        .expect("cargo runs");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("dr-sandbox"),
        "{}",
        text(&out)
    );
}
