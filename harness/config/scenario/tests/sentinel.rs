//! `[sentinel]`: defaults, every key, sizes and the tick interval.

use std::collections::BTreeSet;
use std::time::Duration;

use super::super::{Scenario, SentinelSpec};
use super::{column_of, line_of, rejected, ORIGIN};
use crate::config::values::{DURATION_HINT, SIZE_HINT};

const STEPS: &str = "\n[[steps]]\nkind = \"preflight\"\n";

fn sentinel(table: &str) -> SentinelSpec {
    let text = format!("name = \"t\"\n{table}{STEPS}");
    Scenario::from_str(&text, ORIGIN)
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .sentinel
}

const FULL: &str = "[sentinel]\nnamespace = \"drill\"\npvc = \"drill-data\"\ndeployment = \"drill-app\"\ncontainer = \"app\"\nmount_path = \"/srv\"\nfile_sizes = [\"2MiB\", 4096, \"1MB\"]\ntick_interval = \"250ms\"\n";

#[test]
fn defaults_are_the_documented_ones() {
    let want = SentinelSpec {
        namespace: "dr-exercise".into(),
        pvc: "dr-exercise-data".into(),
        deployment: "dr-exercise".into(),
        container: "sentinel".into(),
        mount_path: "/data".into(),
        file_sizes: vec![3 << 20, 5000 << 10, 1 << 10],
        tick_interval: Duration::from_secs(1),
    };
    assert_eq!(sentinel(""), want, "no [sentinel] table");
    assert_eq!(sentinel("[sentinel]\n"), want, "an empty one");
    assert_eq!(SentinelSpec::default(), want);
}

#[test]
fn every_key_is_read() {
    let s = sentinel(FULL);
    assert_eq!(
        s,
        SentinelSpec {
            namespace: "drill".into(),
            pvc: "drill-data".into(),
            deployment: "drill-app".into(),
            container: "app".into(),
            mount_path: "/srv".into(),
            file_sizes: vec![2 << 20, 4096, 1_000_000],
            tick_interval: Duration::from_millis(250),
        }
    );
    // FULL sets every key the spec has (fails when a key is added without a case here).
    let table: toml::Table = toml::from_str(FULL).unwrap_or_default();
    let written: BTreeSet<String> = table["sentinel"]
        .as_table()
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    let serialized: BTreeSet<String> = toml::Value::try_from(&s)
        .ok()
        .and_then(|v| v.as_table().map(|t| t.keys().cloned().collect()))
        .unwrap_or_default();
    assert_eq!(written, serialized);
}

#[test]
fn the_spec_round_trips_through_toml() {
    let s = sentinel(FULL);
    let mut text = String::from("name = \"t\"\n[sentinel]\n");
    text.push_str(&toml::to_string(&s).unwrap_or_else(|e| panic!("{e}")));
    text.push_str(STEPS);
    assert_eq!(
        Scenario::from_str(&text, ORIGIN).map(|x| x.sentinel).ok(),
        Some(s),
        "{text}"
    );
}

#[test]
fn bad_values_name_the_key_and_the_table() {
    let text = format!("name = \"t\"\n[sentinel]\npvc_name = \"x\"\n{STEPS}");
    let got = rejected(&text);
    assert_eq!(got.message, "unknown key `pvc_name` in [sentinel]");
    assert_eq!(
        got.hint.as_deref(),
        Some("expected one of namespace, pvc, deployment, container, mount_path, file_sizes, tick_interval")
    );
    assert_eq!((got.line, got.column), (line_of(&text, "pvc_name"), 1));

    let text =
        format!("name = \"t\"\n[sentinel]\nfile_sizes = [\"1MiB\", \"3 mebibytes\"]\n{STEPS}");
    let got = rejected(&text);
    assert_eq!(
        got.message,
        "invalid size `3 mebibytes` for key `file_sizes` in [sentinel]"
    );
    assert_eq!(got.hint.as_deref(), Some(SIZE_HINT));
    let line = line_of(&text, "file_sizes");
    assert_eq!(got.line, line);

    let text = format!("name = \"t\"\n[sentinel]\nfile_sizes = [-1]\n{STEPS}");
    let got = rejected(&text);
    assert_eq!(
        got.message,
        "invalid size `-1`: negative for key `file_sizes` in [sentinel]"
    );

    let text = format!("name = \"t\"\n[sentinel]\ntick_interval = \"1 second\"\n{STEPS}");
    let got = rejected(&text);
    assert_eq!(
        got.message,
        "invalid duration `1 second` for key `tick_interval` in [sentinel]"
    );
    assert_eq!(got.hint.as_deref(), Some(DURATION_HINT));
    let line = line_of(&text, "tick_interval");
    assert_eq!(
        (got.line, got.column),
        (line, column_of(&text, line, "\"1 second\""))
    );
}
