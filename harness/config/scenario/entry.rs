//! One `[[steps]]` table of a scenario: its common keys (`kind`, `name`, `timeout`) are taken
//! out by hand, so each error names its own key's line and column, and the rest is handed to
//! the kind's options struct (see [`StepSpec`]).

use std::time::Duration;

use crate::config::error::ConfigError;
use crate::config::locate::{Seg, Source};
use crate::config::translate::{translate, HINT_SEP};
use crate::config::values::{parse_duration, DURATION_HINT};

use super::kinds::StepSpec;

/// One step of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct StepEntry {
    /// Unique within the scenario; defaults to the kind.
    pub name: String,
    /// Step timeout from the scenario; `None` means [`StepSpec::default_timeout`].
    pub timeout: Option<Duration>,
    /// The kind and its options.
    pub spec: StepSpec,
}

impl StepEntry {
    /// The timeout to enforce: the scenario's, else the kind's default.
    pub fn effective_timeout(&self) -> Duration {
        self.timeout.unwrap_or_else(|| self.spec.default_timeout())
    }
}

pub(super) fn parse_step(
    source: &Source<'_>,
    i: usize,
    mut table: toml::Table,
) -> Result<StepEntry, ConfigError> {
    let n = i + 1;
    let at = |key: &'static str| [Seg::Key("steps"), Seg::Index(i), Seg::Key(key)];
    let kinds_hint = format!("expected one of {}", StepSpec::KINDS.join(", "));
    let kind = match table.remove("kind") {
        Some(toml::Value::String(k)) => k,
        Some(other) => {
            return Err(source.error_at_key(
                &at("kind"),
                format!(
                    "wrong type for key `kind` in [[steps]] #{n}: found {}",
                    other.type_str()
                ),
                Some(kinds_hint),
            ))
        }
        None => {
            return Err(source.error_at_key(
                &[Seg::Key("steps"), Seg::Index(i)],
                format!("missing key `kind` in [[steps]] #{n}"),
                Some(kinds_hint),
            ))
        }
    };
    let table_name = format!("[[steps]] #{n} ({kind})");
    let name = match table.remove("name") {
        None => kind.clone(),
        Some(toml::Value::String(s)) if valid_step_name(&s) => s,
        Some(other) => {
            return Err(source.error_at_key(
                &at("name"),
                format!("invalid step name {other} in {table_name}"),
                Some(
                    "use letters, digits, `-`, `_` or `.`, starting with a letter or digit".into(),
                ),
            ))
        }
    };
    let timeout = match table.remove("timeout") {
        None => None,
        Some(toml::Value::String(s)) => match parse_duration(&s) {
            Ok(d) => Some(d),
            Err(e) => {
                return Err(source.error_at_key(
                    &at("timeout"),
                    format!("{e} for key `timeout` in {table_name}"),
                    Some(DURATION_HINT.into()),
                ))
            }
        },
        Some(other) => {
            return Err(source.error_at_key(
                &at("timeout"),
                format!(
                    "wrong type for key `timeout` in {table_name}: found {}",
                    other.type_str()
                ),
                Some(DURATION_HINT.into()),
            ))
        }
    };
    let written: Vec<String> = table.keys().cloned().collect();
    let spec = match StepSpec::from_value(&kind, toml::Value::Table(table)) {
        None => {
            return Err(source.error_at_key(
                &at("kind"),
                format!("unknown step kind `{kind}` in [[steps]] #{n}"),
                Some(kinds_hint),
            ))
        }
        Some(Ok(spec)) => spec,
        Some(Err(e)) => {
            let raw = e.inner().message().to_string();
            // Unknown keys sit at the struct itself (empty path) and are named in the message;
            // other errors are at the field the path names.
            let key = raw
                .strip_prefix("unknown field `")
                .and_then(|r| r.split('`').next())
                .map(str::to_string)
                .or_else(|| {
                    e.path()
                        .iter()
                        .next()
                        .map(|seg| seg.to_string())
                        .filter(|s| s != "?")
                });
            let (message, hint) = translate(&raw, key.as_deref(), &table_name);
            let unknown = raw
                .strip_prefix("unknown field `")
                .and_then(|r| r.split('`').next());
            let mut inside = error_path(e.path(), unknown);
            if inside.is_empty() {
                inside.extend(sole_named_key(&raw, &written).map(Part::Key));
            }
            let mut path = vec![Seg::Key("steps"), Seg::Index(i)];
            path.extend(inside.iter().map(Part::seg));
            return Err(source.error_at_key(&path, message, hint));
        }
    };
    Ok(StepEntry {
        name,
        timeout,
        spec,
    })
}

/// One segment of a key path inside a step, owned (serde's path outlives no borrow of ours).
enum Part {
    Key(String),
    Index(usize),
}

impl Part {
    fn seg(&self) -> Seg<'_> {
        match self {
            Part::Key(k) => Seg::Key(k),
            Part::Index(n) => Seg::Index(*n),
        }
    }
}

/// Where inside a step an options error sits: serde's path to the value it failed on
/// (`gates[2].timeout`, `compare.op`), then the unknown key the message names, which serde
/// reports at the table holding it. The error then points at that key, or at the deepest part
/// of the path the text has (the gate's inline table), not at the whole step.
fn error_path(path: &serde_path_to_error::Path, unknown: Option<&str>) -> Vec<Part> {
    use serde_path_to_error::Segment;
    let mut parts: Vec<Part> = path
        .iter()
        .map_while(|seg| match seg {
            Segment::Map { key } => Some(Part::Key(key.clone())),
            Segment::Seq { index } => Some(Part::Index(*index)),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect();
    parts.extend(unknown.map(|k| Part::Key(k.to_string())));
    parts
}

/// For a rule checked over a whole step (a `TryFrom` of its options, so serde reports no
/// path): the one key the message names in backticks that the step also sets, e.g. `regex` in
/// "invalid `regex` in the check step". Rules about several keys ("set exactly one of
/// `equals`, `regex` and `compare`") name none or several and stay at the step's header.
fn sole_named_key(raw: &str, written: &[String]) -> Option<String> {
    let message = raw.split(HINT_SEP).next().unwrap_or(raw);
    let mut named: Vec<&str> = message
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|k| written.iter().any(|w| w == k))
        .collect();
    named.dedup();
    match named.as_slice() {
        [one] => Some(one.to_string()),
        _ => None,
    }
}

fn valid_step_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
