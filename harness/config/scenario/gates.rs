//! The `gates` step's options: ordered readiness gates (a Kubernetes condition or field, an HTTP
//! answer, or a command's exit status). The TOML form ([`RawGate`]) holds every key of every
//! gate kind; loading turns it into a [`ReadinessGate`] and rejects keys that do not apply.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::translate::HINT_SEP;
use crate::config::values;

/// `kind = "gates"`: readiness gates that must open in the declared order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatesStep {
    /// In recovery order: gate k may be ready only once every gate before it is.
    pub gates: Vec<ReadinessGate>,
    /// How often HTTP and command gates are probed (conditions are read as often); default
    /// 250 ms.
    #[serde(default = "d_poll_interval", with = "values::duration")]
    pub poll_interval: Duration,
}

fn d_poll_interval() -> Duration {
    Duration::from_millis(250)
}

/// A Kubernetes object a condition gate reads (`apiVersion`, `kind`, `namespace`, `name`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectRef {
    /// `group/version` (`apps/v1`, `longhorn.io/v1beta2`), or `v1` for the core group.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// The object's kind (`Deployment`).
    pub kind: String,
    /// Absent for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The object's `metadata.name`.
    pub name: String,
}

/// What makes a condition gate ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateCheck {
    /// `status.conditions[type == T].status == "True"`.
    ConditionType(String),
    /// The field at a dotted path (`status.robustness`) equals this text.
    Field {
        /// Dotted path from the object's root (`status.robustness`).
        path: String,
        /// The text the field must equal (numbers and booleans compare by their JSON text).
        equals: String,
    },
}

/// How a gate is probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateProbe {
    /// Ready when the Kubernetes object passes `check`.
    Condition {
        /// The object read on every poll.
        object: ObjectRef,
        /// The condition or field that must hold.
        check: GateCheck,
    },
    /// Ready when the URL answers `expect_status` (default: any 2xx) and the body contains
    /// `expect_body_contains` when set.
    Http {
        /// The URL fetched on every poll.
        url: String,
        /// The HTTP status that means ready; `None`: any 2xx.
        expect_status: Option<u16>,
        /// Text the response body must contain, when set.
        expect_body_contains: Option<String>,
    },
    /// Ready when the command (run on the harness host, no shell) exits 0.
    Command {
        /// Program and arguments (never empty).
        argv: Vec<String>,
    },
}

/// One readiness gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawGate", into = "RawGate")]
pub struct ReadinessGate {
    /// Unique within the step; the phase is recorded as `gate-<name>`.
    pub name: String,
    /// From the start of the step; default the step's timeout.
    pub timeout: Option<Duration>,
    /// How readiness is probed (TOML `kind` and its keys).
    pub probe: GateProbe,
}

/// The TOML form of [`ReadinessGate`]; which keys are allowed depends on `kind`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGate {
    name: String,
    kind: String,
    #[serde(
        default,
        with = "values::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    object: Option<ObjectRef>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    equals: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expect_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expect_body_contains: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    argv: Option<Vec<String>>,
}

impl TryFrom<RawGate> for ReadinessGate {
    type Error = String;
    fn try_from(g: RawGate) -> Result<Self, String> {
        let hint = HINT_SEP;
        let name = g.name.clone();
        let stray = |keys: &[(&str, bool)]| -> Result<(), String> {
            match keys.iter().find(|(_, set)| *set) {
                Some((k, _)) => Err(format!(
                    "key `{k}` does not apply to gate `{name}` of kind \"{}\"{hint}remove it",
                    g.kind
                )),
                None => Ok(()),
            }
        };
        let probe = match g.kind.as_str() {
            "condition" => {
                stray(&[("url", g.url.is_some()), ("expect_status", g.expect_status.is_some()), ("expect_body_contains", g.expect_body_contains.is_some()), ("argv", g.argv.is_some())])?;
                let object = g.object.clone().ok_or_else(|| format!("missing key `object` in condition gate `{name}`{hint}add object = {{ apiVersion = \"apps/v1\", kind = \"Deployment\", namespace = \"…\", name = \"…\" }}"))?;
                let check = match (g.type_.clone(), g.field.clone(), g.equals.clone()) {
                    (Some(t), None, None) => GateCheck::ConditionType(t),
                    (None, Some(path), Some(equals)) => GateCheck::Field { path, equals },
                    _ => return Err(format!("condition gate `{name}` needs either `type` (a status condition) or `field` with `equals`{hint}e.g. type = \"Available\", or field = \"status.robustness\" with equals = \"healthy\"")),
                };
                GateProbe::Condition { object, check }
            }
            "http" => {
                stray(&[("object", g.object.is_some()), ("type", g.type_.is_some()), ("field", g.field.is_some()), ("equals", g.equals.is_some()), ("argv", g.argv.is_some())])?;
                let url = g.url.clone().ok_or_else(|| format!("missing key `url` in http gate `{name}`{hint}add url = \"http://…\""))?;
                GateProbe::Http { url, expect_status: g.expect_status, expect_body_contains: g.expect_body_contains.clone() }
            }
            "command" => {
                stray(&[("object", g.object.is_some()), ("type", g.type_.is_some()), ("field", g.field.is_some()), ("equals", g.equals.is_some()), ("url", g.url.is_some()), ("expect_status", g.expect_status.is_some()), ("expect_body_contains", g.expect_body_contains.is_some())])?;
                match g.argv.clone() {
                    Some(argv) if !argv.is_empty() => GateProbe::Command { argv },
                    _ => return Err(format!("missing or empty `argv` in command gate `{name}`{hint}add argv = [\"program\", \"arg\"] (run without a shell; exit 0 = ready)")),
                }
            }
            other => return Err(format!("unknown gate kind `{other}` in gate `{name}`{hint}expected one of condition, http, command")),
        };
        Ok(ReadinessGate {
            name: g.name,
            timeout: g.timeout,
            probe,
        })
    }
}

impl From<ReadinessGate> for RawGate {
    fn from(g: ReadinessGate) -> Self {
        let mut raw = RawGate {
            name: g.name,
            kind: String::new(),
            timeout: g.timeout,
            object: None,
            type_: None,
            field: None,
            equals: None,
            url: None,
            expect_status: None,
            expect_body_contains: None,
            argv: None,
        };
        match g.probe {
            GateProbe::Condition { object, check } => {
                raw.kind = "condition".into();
                raw.object = Some(object);
                match check {
                    GateCheck::ConditionType(t) => raw.type_ = Some(t),
                    GateCheck::Field { path, equals } => {
                        raw.field = Some(path);
                        raw.equals = Some(equals);
                    }
                }
            }
            GateProbe::Http {
                url,
                expect_status,
                expect_body_contains,
            } => {
                raw.kind = "http".into();
                raw.url = Some(url);
                raw.expect_status = expect_status;
                raw.expect_body_contains = expect_body_contains;
            }
            GateProbe::Command { argv } => {
                raw.kind = "command".into();
                raw.argv = Some(argv);
            }
        }
        raw
    }
}
