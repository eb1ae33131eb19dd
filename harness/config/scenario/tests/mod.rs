//! Unit tests of scenario parsing: every step kind's options (`kinds.rs`), the keys every step
//! and the scenario itself take (`rules.rs`), the `check` and `gates` rules and `[sentinel]`.
//! Each rejected input is checked for its message, its hint and the line:column it points at.

use crate::config::error::ConfigError;

use super::{Scenario, StepEntry};

mod checks;
mod gates;
mod kinds;
mod rules;
mod sentinel;

/// The origin name errors carry in these tests.
const ORIGIN: &str = "s.toml";

/// A scenario with one step of `kind`; `body` (option lines) starts on line 5.
fn doc(kind: &str, body: &str) -> String {
    format!("name = \"t\"\n\n[[steps]]\nkind = \"{kind}\"\n{body}")
}

/// The one step of [`doc`]`(kind, body)`.
fn step(kind: &str, body: &str) -> Result<StepEntry, ConfigError> {
    Scenario::from_str(&doc(kind, body), ORIGIN).map(|s| s.steps()[0].clone())
}

/// A located rejection, as [`ConfigError::Invalid`] holds it.
#[derive(Debug, PartialEq)]
struct Located {
    line: usize,
    column: usize,
    message: String,
    hint: Option<String>,
}

/// The rejection of `text`; panics when it loads or fails otherwise.
fn rejected(text: &str) -> Located {
    match Scenario::from_str(text, ORIGIN) {
        Err(ConfigError::Invalid {
            file,
            line,
            column,
            message,
            hint,
        }) => {
            assert_eq!(file, ORIGIN, "the error names the file");
            Located {
                line,
                column,
                message,
                hint,
            }
        }
        Err(other) => panic!("expected a located error, got {other}"),
        Ok(s) => panic!("expected a rejection, loaded {s:?}\n--- text ---\n{text}"),
    }
}

/// 1-based number of the first line that starts (after indentation) with `prefix`; computed
/// from the text so that a test states where an error must point, not a number.
fn line_of(text: &str, prefix: &str) -> usize {
    text.lines()
        .position(|l| l.trim_start().starts_with(prefix))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("no line starts with {prefix:?} in\n{text}"))
}

/// 1-based (line, column) of the first `needle` in `text`.
fn position_of(text: &str, needle: &str) -> (usize, usize) {
    let line = text
        .lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} not in\n{text}"));
    (line, column_of(text, line, needle))
}

/// 1-based column of the first `needle` on line `line` of `text`.
fn column_of(text: &str, line: usize, needle: &str) -> usize {
    let l = text.lines().nth(line - 1).unwrap_or_default();
    let byte = l
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not on line {line}: {l:?}"));
    l[..byte].chars().count() + 1
}
