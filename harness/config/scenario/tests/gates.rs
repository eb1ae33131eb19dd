//! The `gates` step: each gate kind's keys, keys that do not apply, and gate timeouts.

use std::time::Duration;

use super::super::{GateCheck, GateProbe, GatesStep, ObjectRef, ReadinessGate, StepSpec};
use super::{doc, line_of, rejected, step};
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

/// The message and hint for `gates = [{ <gate> }]`, checked to point at `gates`.
fn gate_error(keys: &str) -> (String, Option<String>) {
    let text = doc("gates", &format!("gates = [{{ name = \"g\", {keys} }}]\n"));
    let got = rejected(&text);
    assert_eq!(
        (got.line, got.column),
        (line_of(&text, "gates"), 1),
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
