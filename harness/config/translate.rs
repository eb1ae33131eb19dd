//! Turns serde's terse deserialization messages into messages that name the key and table and
//! a hint that says what would be valid.

use std::sync::OnceLock;

use regex::Regex;

use super::values::{DURATION_HINT, SIZE_HINT};

/// Separator our own validation messages use to carry a hint through serde's `custom` errors.
pub(crate) const HINT_SEP: &str = "\nhint: ";

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).unwrap_or_else(|e| panic!("static regex: {e}")))
}

/// `` `a`, `b` or `c` `` → `a, b, c`.
fn unquote_list(list: &str) -> String {
    let names: Vec<&str> = list.split('`').skip(1).step_by(2).collect();
    if names.is_empty() {
        list.to_string()
    } else {
        names.join(", ")
    }
}

/// The message and hint for a serde/toml error `raw` found at `key` (if known) in `table`.
pub(crate) fn translate(raw: &str, key: Option<&str>, table: &str) -> (String, Option<String>) {
    static UNKNOWN_FIELD: OnceLock<Regex> = OnceLock::new();
    static MISSING_FIELD: OnceLock<Regex> = OnceLock::new();
    static UNKNOWN_VARIANT: OnceLock<Regex> = OnceLock::new();
    static INVALID_TYPE: OnceLock<Regex> = OnceLock::new();

    let raw = raw.trim();
    if let Some((msg, hint)) = raw.split_once(HINT_SEP) {
        let msg = match key {
            Some(k) if !msg.contains(&format!("`{k}`")) => {
                format!("{msg} for key `{k}` in {table}")
            }
            _ => msg.to_string(),
        };
        return (msg, Some(hint.to_string()));
    }
    if let Some(c) = re(&UNKNOWN_FIELD, r"^unknown field `([^`]*)`, (.*)$").captures(raw) {
        let hint = match &c[2] {
            "there are no fields" => "this table takes no keys".to_string(),
            rest => {
                let list = rest
                    .strip_prefix("expected one of ")
                    .or_else(|| rest.strip_prefix("expected "))
                    .unwrap_or(rest);
                format!("expected one of {}", unquote_list(list))
            }
        };
        return (format!("unknown key `{}` in {table}", &c[1]), Some(hint));
    }
    if let Some(c) = re(&MISSING_FIELD, r"^missing field `([^`]*)`$").captures(raw) {
        return (
            format!("missing key `{}` in {table}", &c[1]),
            Some(format!("add `{} = …` to {table}", &c[1])),
        );
    }
    if let Some(c) = re(
        &UNKNOWN_VARIANT,
        r"^unknown variant `([^`]*)`, expected (?:one of )?(.*)$",
    )
    .captures(raw)
    {
        let what = match key {
            Some(k) => format!("unknown value `{}` for key `{k}` in {table}", &c[1]),
            None => format!("unknown value `{}` in {table}", &c[1]),
        };
        return (
            what,
            Some(format!("expected one of {}", unquote_list(&c[2]))),
        );
    }
    if let Some(c) = re(
        &INVALID_TYPE,
        r"^invalid (?:type|value): (.*), expected (.*)$",
    )
    .captures(raw)
    {
        let what = match key {
            Some(k) => format!("wrong type for key `{k}` in {table}: found {}", &c[1]),
            None => format!("wrong type in {table}: found {}", &c[1]),
        };
        return (what, Some(format!("expected {}", &c[2])));
    }
    let with_key = |m: &str| match key {
        Some(k) => format!("{m} for key `{k}` in {table}"),
        None => format!("{m} in {table}"),
    };
    if raw.starts_with("invalid duration") {
        return (with_key(raw), Some(DURATION_HINT.to_string()));
    }
    if raw.starts_with("invalid size") {
        return (with_key(raw), Some(SIZE_HINT.to_string()));
    }
    if raw.starts_with("duplicate key") {
        return (
            raw.to_string(),
            Some("each key may appear once per table".to_string()),
        );
    }
    // TOML syntax errors are multi-line ("invalid table header\nexpected `.`, `]`").
    let one_line = raw.lines().collect::<Vec<_>>().join(": ");
    (
        one_line,
        Some("check the TOML syntax at this position".to_string()),
    )
}

/// A located [`ConfigError`] for a toml deserialization error in `source`.
///
/// toml gives a byte span: on the key for unknown keys, on the value for bad values, on the
/// table for missing keys. Where the span covers a whole table (errors raised while buffering
/// it), the key the message names is searched inside the span to point at its line.
pub(crate) fn toml_error(
    source: &super::locate::Source<'_>,
    err: &toml::de::Error,
) -> super::ConfigError {
    let raw = err.message();
    let span = err.span().unwrap_or(0..0);
    let mut offset = span.start;
    if let Some(named) = raw
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next())
    {
        if source.key_at(offset).as_deref() != Some(named) {
            if let Some(found) = source.find_in(span.clone(), &format!("\n{named}")) {
                offset = found + 1;
            }
        }
    }
    let key = source.key_at(offset);
    // toml spans a table missing a key over that table; for the root table the span is empty
    // at offset 0, where `table_at` would name the first table header of the file instead.
    let table = if raw.starts_with("missing field") && span.is_empty() {
        "the top level".to_string()
    } else {
        source.table_at(offset)
    };
    let (message, hint) = translate(raw, key.as_deref(), &table);
    source.error_at(offset, message, hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_lists_the_valid_keys() {
        let (m, h) = translate(
            "unknown field `alow_destroy`, expected `allow_destroy` or `marker`",
            Some("alow_destroy"),
            "[safety]",
        );
        assert_eq!(m, "unknown key `alow_destroy` in [safety]");
        assert_eq!(h.as_deref(), Some("expected one of allow_destroy, marker"));
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        #[serde(default)]
        kube: Option<Kube>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Kube {
        path: String,
    }

    fn located(text: &str) -> (usize, usize, String, Option<String>) {
        let source = super::super::locate::Source::new("f.toml", text);
        let err = toml::from_str::<Doc>(text).expect_err("must be rejected");
        match toml_error(&source, &err) {
            super::super::ConfigError::Invalid {
                line,
                column,
                message,
                hint,
                ..
            } => (line, column, message, hint),
            other => panic!("{other}"),
        }
    }

    /// Regression: with the file starting at a table header, a missing top-level key was
    /// blamed on that table.
    #[test]
    fn missing_keys_name_their_own_table() {
        let (line, column, message, hint) = located("[kube]\npath = \"/k\"\n");
        assert_eq!((line, column), (1, 1));
        assert_eq!(message, "missing key `name` in the top level");
        assert_eq!(hint.as_deref(), Some("add `name = …` to the top level"));

        let text = "name = \"x\"\n\n[kube]\n";
        let (line, _, message, hint) = located(text);
        assert_eq!(line, 3);
        assert_eq!(message, "missing key `path` in [kube]");
        assert_eq!(hint.as_deref(), Some("add `path = …` to [kube]"));
    }

    #[test]
    fn wrong_type_names_the_key() {
        let (m, h) = translate(
            "invalid type: string \"yes\", expected a boolean",
            Some("allow_destroy"),
            "[safety]",
        );
        assert_eq!(
            m,
            "wrong type for key `allow_destroy` in [safety]: found string \"yes\""
        );
        assert_eq!(h.as_deref(), Some("expected a boolean"));
    }
}
