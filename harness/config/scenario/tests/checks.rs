//! The `check` step: exactly one pod target, exactly one expectation, a command, a valid regex.

use super::super::{CheckStep, CompareOp, Comparison, Expectation, PodTarget, StepSpec};
use super::{doc, line_of, position_of, rejected, step};

const HEAD: &str = "namespace = \"db\"\ncommand = [\"cat\", \"/data/rows\"]\n";

fn check(body: &str) -> CheckStep {
    match step("check", &format!("{HEAD}{body}")).map(|e| e.spec) {
        Ok(StepSpec::Check(c)) => c,
        other => panic!("{other:?}"),
    }
}

#[test]
fn target_is_a_selector_or_a_deployment() {
    let c = check("pod_selector = \"app=db\"\nequals = \"x\"\n");
    assert_eq!(c.target, PodTarget::Selector("app=db".into()));
    let c = check("deployment = \"db\"\nequals = \"x\"\n");
    assert_eq!(c.target, PodTarget::Deployment("db".into()));

    for targets in ["", "pod_selector = \"app=db\"\ndeployment = \"db\"\n"] {
        let text = doc("check", &format!("{HEAD}{targets}equals = \"x\"\n"));
        let got = rejected(&text);
        assert_eq!(
            got.message,
            "set exactly one of `pod_selector` and `deployment` in the check step"
        );
        assert_eq!(
            got.hint.as_deref(),
            Some("e.g. deployment = \"postgres\" or pod_selector = \"app=postgres\"")
        );
        assert_eq!((got.line, got.column), (line_of(&text, "[[steps]]"), 1));
    }
}

#[test]
fn equals_takes_text_or_a_toml_scalar_as_text() {
    for (value, text) in [
        ("\"ok\"", "ok"),
        ("1000", "1000"),
        ("-3", "-3"),
        ("1.5", "1.5"),
        ("true", "true"),
    ] {
        let c = check(&format!("deployment = \"db\"\nequals = {value}\n"));
        assert_eq!(c.expect, Expectation::Equals(text.into()), "{value}");
    }
}

#[test]
fn regex_is_validated_when_loading() {
    let c = check("deployment = \"db\"\nregex = \"^[0-9]+$\"\n");
    assert_eq!(c.expect, Expectation::Regex("^[0-9]+$".into()));

    let text = doc(
        "check",
        &format!("{HEAD}deployment = \"db\"\nregex = \"(\"\n"),
    );
    let got = rejected(&text);
    assert!(
        got.message
            .starts_with("invalid `regex` in the check step: regex parse error"),
        "{}",
        got.message
    );
    assert_eq!(
        got.hint.as_deref(),
        Some("write a Rust regex, e.g. \"^[0-9]+$\"")
    );
    assert_eq!(
        (got.line, got.column),
        position_of(&text, "regex ="),
        "at the one key the rule is about"
    );
}

#[test]
fn compare_takes_every_operator() {
    for op in [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Lt,
        CompareOp::Le,
        CompareOp::Gt,
        CompareOp::Ge,
    ] {
        let c = check(&format!(
            "deployment = \"db\"\ncompare = {{ op = \"{}\", value = 2.5 }}\n",
            op.as_str()
        ));
        assert_eq!(
            c.expect,
            Expectation::Compare(Comparison { op, value: 2.5 })
        );
    }
    let text = doc(
        "check",
        &format!("{HEAD}deployment = \"db\"\ncompare = {{ op = \"=~\", value = 1 }}\n"),
    );
    let got = rejected(&text);
    assert_eq!(
        got.message,
        "unknown value `=~` for key `compare` in [[steps]] #1 (check)"
    );
    assert_eq!(
        got.hint.as_deref(),
        Some("expected one of ==, !=, <, <=, >, >=")
    );
    assert_eq!(
        (got.line, got.column),
        position_of(&text, "op = "),
        "at `op`"
    );

    // Regression: an unknown key inside the inline table pointed at 1:1 (the scenario's first
    // line): the path ended at a key the step does not have and no span was found.
    let text = doc(
        "check",
        &format!(
            "{HEAD}deployment = \"db\"\ncompare = {{ op = \">=\", value = 1, unit = \"rows\" }}\n"
        ),
    );
    let got = rejected(&text);
    assert_eq!(got.message, "unknown key `unit` in [[steps]] #1 (check)");
    assert_eq!(got.hint.as_deref(), Some("expected one of op, value"));
    assert_eq!((got.line, got.column), position_of(&text, "unit"));
}

#[test]
fn compare_ops_mean_what_they_say() {
    let table = [
        (CompareOp::Eq, [false, true, false]),
        (CompareOp::Ne, [true, false, true]),
        (CompareOp::Lt, [true, false, false]),
        (CompareOp::Le, [true, true, false]),
        (CompareOp::Gt, [false, false, true]),
        (CompareOp::Ge, [false, true, true]),
    ];
    for (op, want) in table {
        let got = [1.0, 2.0, 3.0].map(|found| op.holds(found, 2.0));
        assert_eq!(got, want, "{}", op.as_str());
    }
}

#[test]
fn one_expectation_and_a_command_are_required() {
    for expectations in ["", "equals = 1\ncompare = { op = \"==\", value = 1 }\n"] {
        let text = doc(
            "check",
            &format!("{HEAD}deployment = \"db\"\n{expectations}"),
        );
        let got = rejected(&text);
        assert_eq!(
            got.message,
            "set exactly one of `equals`, `regex` and `compare` in the check step"
        );
    }
    let text = doc(
        "check",
        "namespace = \"db\"\ncommand = []\ndeployment = \"db\"\nequals = 1\n",
    );
    let got = rejected(&text);
    assert_eq!(got.message, "empty `command` in the check step");
    assert_eq!((got.line, got.column), position_of(&text, "command ="));
    assert_eq!(
        got.hint.as_deref(),
        Some("give the argv, e.g. [\"sh\", \"-c\", \"wc -l < /data/rows\"]")
    );
}
