//! Terragrunt run reports: one row per unit of a `run --all`, read to detect a partial destroy
//! instead of trusting the exit code alone.
//!
//! Format from terragrunt's release notes (v0.81.2 CSV, v0.81.3 JSON) and the "Run Report"
//! docs: CSV header `Name,Started,Ended,Result,Reason,Cause`; JSON an array of objects with the
//! same fields in lower case (`name`, `started`, `ended`, `result`, `reason`, `cause`). Results
//! seen: `succeeded`, `failed`, `early exit`, `excluded`. Both spellings of the keys are
//! accepted.

use serde::Deserialize;
use std::path::Path;

use super::HookError;

/// One unit's row of a terragrunt report.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UnitResult {
    /// The unit, as terragrunt names it in the report (its directory).
    #[serde(alias = "Name")]
    pub name: String,
    /// When the unit started, as terragrunt writes it (kept as text, not parsed).
    #[serde(default, alias = "Started")]
    pub started: Option<String>,
    /// When the unit ended, as terragrunt writes it (kept as text, not parsed).
    #[serde(default, alias = "Ended")]
    pub ended: Option<String>,
    /// `succeeded`, `failed`, `early exit`, `excluded`, …
    #[serde(alias = "Result")]
    pub result: String,
    /// Terragrunt's reason for the result (e.g. `run error`), when it gives one; free text.
    #[serde(default, alias = "Reason")]
    pub reason: Option<String>,
    /// What caused that reason (e.g. the failed dependency or the error), when given; free text.
    #[serde(default, alias = "Cause")]
    pub cause: Option<String>,
}

impl UnitResult {
    /// Whether this unit succeeded (`Result` is `succeeded`, any case).
    pub fn succeeded(&self) -> bool {
        self.result.trim().eq_ignore_ascii_case("succeeded")
    }

    /// `name: result (reason; cause)` for reports.
    pub fn describe(&self) -> String {
        let detail: Vec<&str> = [self.reason.as_deref(), self.cause.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect();
        if detail.is_empty() {
            format!("{}: {}", self.name, self.result)
        } else {
            format!("{}: {} ({})", self.name, self.result, detail.join("; "))
        }
    }
}

/// Parses a report's text; JSON when it starts with `[`, CSV otherwise.
///
/// # Errors
/// A message when the JSON does not match the schema or a CSV row lacks the `Name`/`Result`
/// columns.
pub(crate) fn parse_report_text(text: &str) -> Result<Vec<UnitResult>, String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return serde_json::from_str(trimmed).map_err(|e| format!("invalid JSON report: {e}"));
    }
    parse_csv(trimmed)
}

/// Reads and parses a report file.
///
/// # Errors
/// [`HookError::Report`] naming the file when it cannot be read or parsed.
pub fn parse_report(path: &Path) -> Result<Vec<UnitResult>, HookError> {
    let text = std::fs::read_to_string(path).map_err(|e| HookError::Report {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    parse_report_text(&text).map_err(|message| HookError::Report {
        path: path.to_path_buf(),
        message,
    })
}

/// Splits one CSV record, honouring double quotes (a reason may contain commas).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

fn parse_csv(text: &str) -> Result<Vec<UnitResult>, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().ok_or("empty CSV report")?;
    let columns: Vec<String> = csv_fields(header)
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let idx = |name: &str| columns.iter().position(|c| c == name);
    let (name_i, result_i) = match (idx("name"), idx("result")) {
        (Some(n), Some(r)) => (n, r),
        _ => return Err(format!("CSV report header `{header}` lacks Name or Result")),
    };
    let get = |row: &[String], i: Option<usize>| {
        i.and_then(|i| row.get(i))
            .map(|s| s.to_string())
            .filter(|s| !s.is_empty())
    };
    lines
        .map(|line| {
            let row = csv_fields(line);
            Ok(UnitResult {
                name: get(&row, Some(name_i))
                    .ok_or_else(|| format!("CSV row `{line}` has no Name"))?,
                started: get(&row, idx("started")),
                ended: get(&row, idx("ended")),
                result: get(&row, Some(result_i))
                    .ok_or_else(|| format!("CSV row `{line}` has no Result"))?,
                reason: get(&row, idx("reason")),
                cause: get(&row, idx("cause")),
            })
        })
        .collect()
}

/// The rows whose result is not `succeeded`, described for the report.
pub fn not_succeeded(units: &[UnitResult]) -> Vec<String> {
    units
        .iter()
        .filter(|u| !u.succeeded())
        .map(UnitResult::describe)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_quoted_reason() {
        let text = "Name,Started,Ended,Result,Reason,Cause\nnet,a,b,succeeded,,\ncluster,a,b,failed,\"run error, exit 1\",\n";
        let units = parse_report_text(text).unwrap_or_default();
        assert_eq!(units.len(), 2);
        assert_eq!(
            not_succeeded(&units),
            vec!["cluster: failed (run error, exit 1)".to_string()]
        );
    }

    #[test]
    fn json_lowercase_keys() {
        let text = r#"[{"name":"a","started":"x","ended":"y","result":"early exit","reason":"run error"}]"#;
        let units = parse_report_text(text).unwrap_or_default();
        assert_eq!(
            not_succeeded(&units),
            vec!["a: early exit (run error)".to_string()]
        );
    }
}
