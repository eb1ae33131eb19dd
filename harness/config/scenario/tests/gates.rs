//! The `gates` step: each gate kind's keys, keys that do not apply, and gate timeouts.

use std::time::Duration;

use super::super::{GateCheck, GateProbe, GatesStep, ObjectRef, ReadinessGate, StepSpec};
use super::{doc, position_of, rejected, step};
use crate::config::values::DURATION_HINT;

const DEPLOY: &str =
    "object = { apiVersion = \"apps/v1\", kind = \"Deployment\", namespace = \"db\", name = \"pg\" }";

fn gates(body: &str) -> GatesStep {
    match step("gates", body).map(|e| e.spec) {
        Ok(StepSpec::Gates(g)) => g,
        other => panic!("{other:?}\n{body}"),
    }
}

/// The one gate of `gates = [{ <gate> }]`.
fn gate(keys: &str) -> ReadinessGate {
    let mut g = gates(&format!("gates = [{{ name = \"g\", {keys} }}]\n"));
    assert_eq!(g.gates.len(), 1);
    g.gates.remove(0)
}

/// The message and hint for `gates = [{ <gate> }]`, checked to point at the gate.
fn gate_error(keys: &str) -> (String, Option<String>) {
    let text = doc("gates", &format!("gates = [{{ name = \"g\", {keys} }}]\n"));
    let got = rejected(&text);
    assert_eq!(
        (got.line, got.column),
        position_of(&text, "{ name"),
        "{keys}"
    );
    let suffix = " for key `gates` in [[steps]] #1 (gates)";
    let message = got
        .message
        .strip_suffix(suffix)
        .unwrap_or_else(|| panic!("{:?} should end with {suffix:?}", got.message))
        .to_string();
    (message, got.hint)
}

#[test]
fn condition_gates_read_a_condition_or_a_field() {
    let object = ObjectRef {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        namespace: Some("db".into()),
        name: "pg".into(),
    };
    let g = gate(&format!(
        "kind = \"condition\", {DEPLOY}, type = \"Available\""
    ));
    assert_eq!(
        g.probe,
        GateProbe::Condition {
            object: object.clone(),
            check: GateCheck::ConditionType("Available".into())
        }
    );
    let g = gate(&format!(
        "kind = \"condition\", {DEPLOY}, field = \"status.readyReplicas\", equals = \"1\""
    ));
    assert_eq!(
        g.probe,
        GateProbe::Condition {
            object,
            check: GateCheck::Field {
                path: "status.readyReplicas".into(),
                equals: "1".into()
            }
        }
    );
    let g = gate("kind = \"condition\", object = { apiVersion = \"v1\", kind = \"Node\", name = \"n1\" }, type = \"Ready\"");
    assert!(
        matches!(&g.probe, GateProbe::Condition { object, .. } if object.namespace.is_none()),
        "cluster-scoped objects need no namespace"
    );
}

#[test]
fn condition_gate_mistakes() {
    let (m, h) = gate_error("kind = \"condition\", type = \"Available\"");
    assert_eq!(m, "missing key `object` in condition gate `g`");
    assert!(h.is_some_and(|h| h.starts_with("add object = { apiVersion = ")));

    let needs =
        "condition gate `g` needs either `type` (a status condition) or `field` with `equals`";
    for keys in [
        "",
        ", type = \"Available\", field = \"status.x\", equals = \"1\"",
        ", field = \"status.x\"",
        ", equals = \"1\"",
    ] {
        let (m, _) = gate_error(&format!("kind = \"condition\", {DEPLOY}{keys}"));
        assert_eq!(m, needs, "{keys}");
    }

    let (m, h) = gate_error(&format!(
        "kind = \"condition\", {DEPLOY}, type = \"Available\", url = \"http://x\""
    ));
    assert_eq!(
        m,
        "key `url` does not apply to gate `g` of kind \"condition\""
    );
    assert_eq!(h.as_deref(), Some("remove it"));
}

#[test]
fn http_gates() {
    let g = gate("kind = \"http\", url = \"http://a/healthz\", expect_status = 204, expect_body_contains = \"ok\", timeout = \"2m\"");
    assert_eq!(g.timeout, Some(Duration::from_secs(120)));
    assert_eq!(
        g.probe,
        GateProbe::Http {
            url: "http://a/healthz".into(),
            expect_status: Some(204),
            expect_body_contains: Some("ok".into()),
        }
    );
    let (m, h) = gate_error("kind = \"http\"");
    assert_eq!(m, "missing key `url` in http gate `g`");
    assert_eq!(h.as_deref(), Some("add url = \"http://…\""));
    let (m, _) = gate_error("kind = \"http\", url = \"http://a\", argv = [\"true\"]");
    assert_eq!(m, "key `argv` does not apply to gate `g` of kind \"http\"");
}

#[test]
fn command_gates() {
    let g = gate("kind = \"command\", argv = [\"pg_isready\", \"-h\", \"db\"]");
    assert_eq!(
        g.probe,
        GateProbe::Command {
            argv: vec!["pg_isready".into(), "-h".into(), "db".into()]
        }
    );
    for keys in ["kind = \"command\"", "kind = \"command\", argv = []"] {
        let (m, _) = gate_error(keys);
        assert_eq!(m, "missing or empty `argv` in command gate `g`", "{keys}");
    }
    let (m, _) = gate_error("kind = \"command\", argv = [\"true\"], expect_status = 200");
    assert_eq!(
        m,
        "key `expect_status` does not apply to gate `g` of kind \"command\""
    );
}

#[test]
fn unknown_gate_kinds_and_bad_gate_timeouts() {
    let (m, h) = gate_error("kind = \"tcp\"");
    assert_eq!(m, "unknown gate kind `tcp` in gate `g`");
    assert_eq!(
        h.as_deref(),
        Some("expected one of condition, http, command")
    );

    let text = doc(
        "gates",
        "gates = [{ name = \"g\", kind = \"http\", url = \"http://a\", timeout = \"ten minutes\" }]\n",
    );
    let got = rejected(&text);
    assert_eq!(
        got.message,
        "invalid duration `ten minutes` for key `gates` in [[steps]] #1 (gates)"
    );
    assert_eq!(got.hint.as_deref(), Some(DURATION_HINT));
}

#[test]
fn gates_keep_their_order_and_may_be_tables() {
    let body = "poll_interval = \"100ms\"\n\n[[steps.gates]]\nname = \"db\"\nkind = \"command\"\nargv = [\"true\"]\n\n[[steps.gates]]\nname = \"api\"\nkind = \"http\"\nurl = \"http://api\"\n";
    let g = gates(body);
    let names: Vec<&str> = g.gates.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["db", "api"]);
    assert_eq!(g.poll_interval, Duration::from_millis(100));
    assert!(g.gates.iter().all(|g| g.timeout.is_none()));
}

/// Regression: an error in the third of several gates pointed at the `gates` key (or, for an
/// unknown key, at 1:1); it points at that gate, and at the unknown key itself.
#[test]
fn errors_point_at_the_gate_and_key_they_are_about() {
    let body = concat!(
        "gates = [\n",
        "  { name = \"a\", kind = \"http\", url = \"http://a\" },\n",
        "  { name = \"b\", kind = \"http\", url = \"http://b\" },\n",
        "  { name = \"c\", kind = \"tcp\" },\n",
        "]\n",
    );
    let text = doc("gates", body);
    let got = rejected(&text);
    assert_eq!(
        got.message,
        "unknown gate kind `tcp` in gate `c` for key `gates` in [[steps]] #1 (gates)"
    );
    assert_eq!((got.line, got.column), position_of(&text, "{ name = \"c\""));

    let text = doc(
        "gates",
        &body.replace(
            "kind = \"tcp\"",
            "kind = \"http\", url = \"http://c\", colour = 1",
        ),
    );
    let got = rejected(&text);
    assert_eq!(got.message, "unknown key `colour` in [[steps]] #1 (gates)");
    assert!(got
        .hint
        .is_some_and(|h| h.starts_with("expected one of name, kind, timeout, ")));
    assert_eq!((got.line, got.column), position_of(&text, "colour"));

    let text = doc(
        "gates",
        &body.replace(
            "kind = \"tcp\"",
            "kind = \"http\", url = \"http://c\", timeout = \"soon\"",
        ),
    );
    let got = rejected(&text);
    assert_eq!(
        got.message,
        "invalid duration `soon` for key `gates` in [[steps]] #1 (gates)"
    );
    assert_eq!((got.line, got.column), position_of(&text, "timeout"));

    // Gates written as [[steps.gates]] tables: the error points at the gate's header.
    let text = doc("gates", "\n[[steps.gates]]\nname = \"a\"\nkind = \"command\"\nargv = [\"true\"]\n\n[[steps.gates]]\nname = \"b\"\nkind = \"command\"\n");
    let got = rejected(&text);
    assert_eq!(
        got.message,
        "missing or empty `argv` in command gate `b` for key `gates` in [[steps]] #1 (gates)"
    );
    assert_eq!(
        (got.line, got.column),
        (line_of_nth(&text, "[[steps.gates]]", 2), 1)
    );
}

/// 1-based line of the `n`th (1-based) line starting with `prefix`.
fn line_of_nth(text: &str, prefix: &str, n: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with(prefix))
        .nth(n - 1)
        .map(|(i, _)| i + 1)
        .unwrap_or_else(|| panic!("no {n}th {prefix:?}"))
}
