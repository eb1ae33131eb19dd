//! The keys every step takes (`kind`, `name`, `timeout`) and the scenario's own keys.

use std::time::Duration;

use super::super::{PreflightStep, Scenario, StepSpec};
use super::{column_of, doc, line_of, rejected, step, ORIGIN};
use crate::config::values::DURATION_HINT;

fn kinds_hint() -> Option<String> {
    Some(format!("expected one of {}", StepSpec::KINDS.join(", ")))
}

#[test]
fn a_scenario_without_steps_is_rejected() {
    let got = rejected("name = \"empty\"\ndescription = \"nothing\"\n");
    assert_eq!(got.message, "scenario `empty` has no steps");
    assert_eq!(
        got.hint.as_deref(),
        Some("add [[steps]] tables with `kind = \"…\"`")
    );
    assert_eq!((got.line, got.column), (1, 1));
}

#[test]
fn kind_must_be_a_known_string() {
    let text = "name = \"t\"\n[[steps]]\nkind = \"preflight\"\n[[steps]]\nname = \"x\"\n";
    let got = rejected(text);
    assert_eq!(got.message, "missing key `kind` in [[steps]] #2");
    assert_eq!(got.hint, kinds_hint());
    assert_eq!(
        (got.line, got.column),
        (4, 1),
        "at the second [[steps]] header"
    );

    let text = doc("teleport", "");
    let got = rejected(&text);
    assert_eq!(got.message, "unknown step kind `teleport` in [[steps]] #1");
    assert_eq!(got.hint, kinds_hint());
    assert_eq!((got.line, got.column), (line_of(&text, "kind"), 1));

    let text = "name = \"t\"\n[[steps]]\nkind = 5\n";
    let got = rejected(text);
    assert_eq!(
        got.message,
        "wrong type for key `kind` in [[steps]] #1: found integer"
    );
    assert_eq!(got.hint, kinds_hint());
    assert_eq!((got.line, got.column), (3, 1));
}

#[test]
fn step_names_are_checked() {
    for good in ["a", "9lives", "pre.flight_1-b"] {
        let entry = step("preflight", &format!("name = \"{good}\"\n")).expect(good);
        assert_eq!(entry.name, good);
    }
    for (bad, shown) in [
        ("\"-x\"", "\"-x\""),
        ("\"\"", "\"\""),
        ("\"has space\"", "\"has space\""),
        ("\"dé\"", "\"dé\""),
        ("5", "5"),
    ] {
        let text = doc("preflight", &format!("name = {bad}\n"));
        let got = rejected(&text);
        assert_eq!(
            got.message,
            format!("invalid step name {shown} in [[steps]] #1 (preflight)")
        );
        assert_eq!(
            got.hint.as_deref(),
            Some("use letters, digits, `-`, `_` or `.`, starting with a letter or digit")
        );
        assert_eq!(
            (got.line, got.column),
            (line_of(&text, &format!("name = {bad}")), 1)
        );
    }
}

#[test]
fn step_timeouts_are_durations() {
    let entry = step("backup", "timeout = \"1h 30m\"\n").expect("timeout");
    assert_eq!(entry.timeout, Some(Duration::from_secs(5400)));

    let text = doc("backup", "timeout = \"soon\"\n");
    let got = rejected(&text);
    assert_eq!(
        got.message,
        "invalid duration `soon` for key `timeout` in [[steps]] #1 (backup)"
    );
    assert_eq!(got.hint.as_deref(), Some(DURATION_HINT));
    assert_eq!((got.line, got.column), (line_of(&text, "timeout"), 1));

    let text = doc("backup", "timeout = 30\n");
    let got = rejected(&text);
    assert_eq!(
        got.message,
        "wrong type for key `timeout` in [[steps]] #1 (backup): found integer"
    );
    assert_eq!(got.hint.as_deref(), Some(DURATION_HINT));
}

#[test]
fn duplicate_names_point_at_the_second_step() {
    // Both default to the kind: the error points at the second `kind`.
    let text = "name = \"t\"\n[[steps]]\nkind = \"preflight\"\n[[steps]]\nkind = \"preflight\"\n";
    let got = rejected(text);
    assert_eq!(
        got.message,
        "duplicate step name `preflight` in [[steps]] #2 (already used by [[steps]] #1)"
    );
    assert_eq!(
        got.hint.as_deref(),
        Some("give each step a unique `name = \"…\"`")
    );
    assert_eq!((got.line, got.column), (5, 1));

    // An explicit name: the error points at it.
    let text = "name = \"t\"\n[[steps]]\nkind = \"backup\"\n[[steps]]\nkind = \"preflight\"\nname = \"backup\"\n";
    let got = rejected(text);
    assert_eq!(
        got.message,
        "duplicate step name `backup` in [[steps]] #2 (already used by [[steps]] #1)"
    );
    assert_eq!((got.line, got.column), (6, 1));
}

#[test]
fn scenario_keys_and_defaults() {
    let s = Scenario::from_str(&doc("preflight", ""), ORIGIN).expect("minimal");
    assert_eq!(s.name, "t");
    assert_eq!(s.description, None);
    assert!(!s.destructive);
    assert_eq!((s.rto_target, s.rpo_target), (None, None));
    assert!(!s.read_only, "never from TOML");

    let text = "name = \"dr\"\ndescription = \"d\"\ndestructive = true\nrto_target = \"30m\"\nrpo_target = \"1h\"\n[[steps]]\nkind = \"preflight\"\n";
    let s = Scenario::from_str(text, ORIGIN).expect("full");
    assert_eq!(s.description.as_deref(), Some("d"));
    assert!(s.destructive);
    assert_eq!(s.rto_target, Some(Duration::from_secs(1800)));
    assert_eq!(s.rpo_target, Some(Duration::from_secs(3600)));
}

#[test]
fn scenario_key_mistakes_are_located() {
    let text = "name = \"t\"\ndestructve = true\n[[steps]]\nkind = \"preflight\"\n";
    let got = rejected(text);
    assert_eq!(got.message, "unknown key `destructve` in the top level");
    assert_eq!(
        got.hint.as_deref(),
        Some("expected one of name, description, destructive, rto_target, rpo_target, sentinel, steps")
    );
    assert_eq!((got.line, got.column), (2, 1));

    let text = "name = \"t\"\nrto_target = \"30 min\"\n[[steps]]\nkind = \"preflight\"\n";
    let got = rejected(text);
    assert_eq!(
        got.message,
        "invalid duration `30 min` for key `rto_target` in the top level"
    );
    assert_eq!(got.hint.as_deref(), Some(DURATION_HINT));
    assert_eq!(
        (got.line, got.column),
        (2, column_of(text, 2, "\"30 min\""))
    );

    // Regression: a file starting with a table header blamed that table for a missing
    // top-level key ("add `name = …` to [[steps]]" would name the step, not the scenario).
    let text = "[[steps]]\nkind = \"preflight\"\n";
    let got = rejected(text);
    assert_eq!(got.message, "missing key `name` in the top level");
    assert_eq!(got.hint.as_deref(), Some("add `name = …` to the top level"));
    assert_eq!((got.line, got.column), (1, 1));
}

#[test]
fn preflight_only_and_read_only_copies() {
    let text = "name = \"t\"\ndestructive = true\nrto_target = \"5m\"\n[[steps]]\nkind = \"preflight\"\n[[steps]]\nkind = \"backup\"\n[[steps]]\nkind = \"preflight\"\nname = \"again\"\n";
    let s = Scenario::from_str(text, ORIGIN).expect("scenario");
    let p = s.preflight_only();
    let names: Vec<&str> = p.steps().iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["preflight", "again"]);
    assert!(p.read_only && p.destructive);
    assert_eq!(p.rto_target, s.rto_target);
    assert!(!s.read_only, "the original is untouched");

    let s = Scenario::from_str(&doc("health", ""), ORIGIN).expect("health");
    let p = s.preflight_only();
    assert_eq!(p.steps().len(), 1, "a preflight step is added");
    assert_eq!(p.steps()[0].spec, StepSpec::Preflight(PreflightStep {}));
    assert!(s.read_only().read_only);
}
