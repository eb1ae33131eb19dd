//! The `check` step's options: which pod to exec in and what its output must be. The TOML form
//! ([`RawCheckStep`]) is validated into [`CheckStep`] when loading, so a step with two targets
//! or two expectations, an empty command or a bad regex never reaches a cluster.

use serde::{Deserialize, Serialize};

use crate::config::translate::HINT_SEP;

/// Which pod a `check` runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodTarget {
    /// A Running, Ready pod matching this label selector.
    Selector(String),
    /// A Running, Ready pod of this Deployment (by its `spec.selector.matchLabels`).
    Deployment(String),
}

/// A comparison operator of `compare = { op = ">=", value = 1000 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareOp {
    /// `==`
    #[serde(rename = "==")]
    Eq,
    /// `!=`
    #[serde(rename = "!=")]
    Ne,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
}

impl CompareOp {
    /// The operator as written in TOML.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }

    /// `found <op> wanted`.
    pub fn holds(self, found: f64, wanted: f64) -> bool {
        match self {
            CompareOp::Eq => found == wanted,
            CompareOp::Ne => found != wanted,
            CompareOp::Lt => found < wanted,
            CompareOp::Le => found <= wanted,
            CompareOp::Gt => found > wanted,
            CompareOp::Ge => found >= wanted,
        }
    }
}

/// `compare = { op, value }`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    /// How the command's output (as a number) is compared with `value`.
    pub op: CompareOp,
    /// The number the output is compared with.
    pub value: f64,
}

/// What a `check` expects of the command's stdout (trimmed of surrounding whitespace).
#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    /// The trimmed output equals this text.
    Equals(String),
    /// The trimmed output matches this regular expression (validated at load).
    Regex(String),
    /// The trimmed output is a number that compares so with `value`.
    Compare(Comparison),
}

/// `kind = "check"`: the app-data check (e.g. `SELECT COUNT(*) FROM test_data` equals 1000).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawCheckStep", into = "RawCheckStep")]
pub struct CheckStep {
    /// Namespace of the pod the command runs in.
    pub namespace: String,
    /// Which pod in `namespace` (TOML `pod_selector` or `deployment`).
    pub target: PodTarget,
    /// Container to exec in; default the pod's first container.
    pub container: Option<String>,
    /// argv, run without a shell (wrap in `["sh", "-c", "…"]` for one).
    pub command: Vec<String>,
    /// What stdout must be (TOML `equals`, `regex` or `compare`).
    pub expect: Expectation,
}

/// The TOML form of [`CheckStep`]: exactly one of `pod_selector`/`deployment` and exactly one
/// of `equals`/`regex`/`compare`, checked when loading. `equals` takes a string or a number
/// (`equals = 1000` compares with the text `1000`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheckStep {
    namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pod_selector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deployment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    container: Option<String>,
    command: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    equals: Option<toml::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    regex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    compare: Option<Comparison>,
}

impl TryFrom<RawCheckStep> for CheckStep {
    type Error = String;
    fn try_from(raw: RawCheckStep) -> Result<Self, String> {
        let hint = HINT_SEP;
        let target = match (raw.pod_selector, raw.deployment) {
            (Some(s), None) => PodTarget::Selector(s),
            (None, Some(d)) => PodTarget::Deployment(d),
            _ => {
                return Err(format!(
                    "set exactly one of `pod_selector` and `deployment` in the check step{hint}e.g. deployment = \"postgres\" or pod_selector = \"app=postgres\""
                ))
            }
        };
        if raw.command.is_empty() {
            return Err(format!("empty `command` in the check step{hint}give the argv, e.g. [\"sh\", \"-c\", \"wc -l < /data/rows\"]"));
        }
        let expect = match (raw.equals, raw.regex, raw.compare) {
            (Some(v), None, None) => Expectation::Equals(match v {
                toml::Value::String(s) => s,
                other => other.to_string(),
            }),
            (None, Some(r), None) => {
                regex::Regex::new(&r).map_err(|e| format!("invalid `regex` in the check step: {e}{hint}write a Rust regex, e.g. \"^[0-9]+$\""))?;
                Expectation::Regex(r)
            }
            (None, None, Some(c)) => Expectation::Compare(c),
            _ => {
                return Err(format!(
                    "set exactly one of `equals`, `regex` and `compare` in the check step{hint}e.g. compare = {{ op = \">=\", value = 1000 }}"
                ))
            }
        };
        Ok(CheckStep {
            namespace: raw.namespace,
            target,
            container: raw.container,
            command: raw.command,
            expect,
        })
    }
}

impl From<CheckStep> for RawCheckStep {
    fn from(c: CheckStep) -> Self {
        let (pod_selector, deployment) = match c.target {
            PodTarget::Selector(s) => (Some(s), None),
            PodTarget::Deployment(d) => (None, Some(d)),
        };
        let (equals, regex, compare) = match c.expect {
            Expectation::Equals(s) => (Some(toml::Value::String(s)), None, None),
            Expectation::Regex(r) => (None, Some(r), None),
            Expectation::Compare(c) => (None, None, Some(c)),
        };
        RawCheckStep {
            namespace: c.namespace,
            pod_selector,
            deployment,
            container: c.container,
            command: c.command,
            equals,
            regex,
            compare,
        }
    }
}
