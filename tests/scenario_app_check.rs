//! The app-data `check` step against the sandbox's sentinel pod (real busybox): the seed's
//! row-count test passes with the right count and fails with the wrong one, naming what was
//! printed; a failing command reports its exit code and stderr; and the scenario loader refuses
//! a check with no or two expectations.

mod common;

use common::{assert_failed_at, drill, step, TestSandbox};
use dr_harness::config::Scenario;
use dr_harness::engine::record::{Outcome, RunRecord};

/// A scenario that seeds `rows` rows into the sentinel volume, then runs `checks` (TOML
/// `[[steps]]` tables of kind `check`).
fn scenario(rows: u32, checks: &str) -> Scenario {
    let text = format!(
        r#"name = "app-check"

[[steps]]
kind = "deploy-sentinel"

[[steps]]
kind = "check"
name = "seed-rows"
namespace = "dr-exercise"
deployment = "dr-exercise"
command = ["sh", "-c", "seq 1 {rows} > /data/test_data && echo seeded"]
equals = "seeded"

{checks}
"#
    );
    Scenario::from_str(&text, "app-check.toml").expect("scenario loads")
}

/// The seed's `SELECT COUNT(*) FROM test_data` equals 1000, as a line count.
const COUNT_EQUALS_1000: &str = r#"[[steps]]
kind = "check"
name = "row-count"
namespace = "dr-exercise"
pod_selector = "app=dr-exercise"
container = "sentinel"
command = ["sh", "-c", "wc -l < /data/test_data"]
equals = 1000
"#;

fn found(record: &RunRecord, step_name: &str) -> String {
    let s = step(record, step_name);
    s.checks
        .iter()
        .find(|c| c.name == "app-data")
        .and_then(|c| c.found.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn right_row_count_passes_by_equals_regex_and_compare() {
    let sb = TestSandbox::start().await;
    let checks = format!(
        "{COUNT_EQUALS_1000}\n{}",
        r#"[[steps]]
kind = "check"
name = "row-count-regex"
namespace = "dr-exercise"
deployment = "dr-exercise"
command = ["sh", "-c", "wc -l < /data/test_data"]
regex = "^[0-9]{4}$"

[[steps]]
kind = "check"
name = "row-count-at-least"
namespace = "dr-exercise"
deployment = "dr-exercise"
command = ["sh", "-c", "wc -l < /data/test_data"]
compare = { op = ">=", value = 1000 }
"#
    );
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill(&sb, scenario(1000, &checks), out.path()).await;
    assert_eq!(record.outcome, Outcome::Passed, "{:#?}", record.steps);
    for name in ["row-count", "row-count-regex", "row-count-at-least"] {
        assert_eq!(found(&record, name), "1000", "{name}");
    }
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_row_count_fails_with_what_was_printed() {
    let sb = TestSandbox::start().await;
    let checks = format!(
        "{COUNT_EQUALS_1000}\n{}",
        r#"[[steps]]
kind = "check"
name = "row-count-at-least"
namespace = "dr-exercise"
deployment = "dr-exercise"
command = ["sh", "-c", "wc -l < /data/test_data"]
compare = { op = ">=", value = 1000 }
"#
    );
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill(&sb, scenario(999, &checks), out.path()).await;
    assert_failed_at(
        &record,
        "row-count",
        "printed \"999\", expected output equal to \"1000\"",
    );
    assert_eq!(found(&record, "row-count"), "999");
    sb.sandbox.shutdown().await;

    // The numeric comparison fails the same way on its own.
    let sb = TestSandbox::start().await;
    let checks = r#"[[steps]]
kind = "check"
name = "row-count-at-least"
namespace = "dr-exercise"
deployment = "dr-exercise"
command = ["sh", "-c", "wc -l < /data/test_data"]
compare = { op = ">=", value = 1000 }
"#;
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill(&sb, scenario(999, checks), out.path()).await;
    assert_failed_at(&record, "row-count-at-least", "expected a number >= 1000");
    sb.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_command_reports_exit_code_and_stderr() {
    let sb = TestSandbox::start().await;
    let checks = r#"[[steps]]
kind = "check"
name = "psql"
namespace = "dr-exercise"
deployment = "dr-exercise"
command = ["sh", "-c", "echo 'relation test_data does not exist' >&2; exit 3"]
equals = "1000"
"#;
    let out = tempfile::tempdir().expect("tempdir");
    let record = drill(&sb, scenario(10, checks), out.path()).await;
    assert_failed_at(
        &record,
        "psql",
        "exited with 3: relation test_data does not exist",
    );
    sb.sandbox.shutdown().await;
}

#[test]
fn a_check_needs_exactly_one_expectation_and_one_pod_target() {
    let base =
        "name = \"x\"\n[[steps]]\nkind = \"check\"\nnamespace = \"db\"\ncommand = [\"true\"]\n";
    let err = Scenario::from_str(
        &format!("{base}deployment = \"pg\"\nequals = \"1\"\nregex = \"1\"\n"),
        "x.toml",
    )
    .expect_err("two expectations")
    .to_string();
    assert!(
        err.contains("exactly one of `equals`, `regex` and `compare`"),
        "{err}"
    );
    let err = Scenario::from_str(&format!("{base}deployment = \"pg\"\n"), "x.toml")
        .expect_err("none")
        .to_string();
    assert!(
        err.contains("exactly one of `equals`, `regex` and `compare`"),
        "{err}"
    );
    let err = Scenario::from_str(&format!("{base}equals = \"1\"\n"), "x.toml")
        .expect_err("no pod")
        .to_string();
    assert!(
        err.contains("exactly one of `pod_selector` and `deployment`"),
        "{err}"
    );
    let err = Scenario::from_str(
        &format!("{base}deployment = \"pg\"\nregex = \"(\"\n"),
        "x.toml",
    )
    .expect_err("bad regex")
    .to_string();
    assert!(err.contains("invalid `regex`"), "{err}");
    let err = Scenario::from_str(
        &format!("{base}deployment = \"pg\"\ncompare = {{ op = \"=>\", value = 1 }}\n"),
        "x.toml",
    )
    .expect_err("bad operator")
    .to_string();
    assert!(err.contains("=>"), "{err}");
    assert!(Scenario::from_str(
        &format!("{base}deployment = \"pg\"\ncompare = {{ op = \">=\", value = 1000 }}\n"),
        "x.toml"
    )
    .is_ok());
}
