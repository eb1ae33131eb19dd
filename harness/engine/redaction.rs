//! The run record as it may leave the process: every known secret masked, or, when masking
//! breaks the record, a failed stand-in that carries names only.

use super::record::{Outcome, RunRecord, StepRecord, StepStatus};

/// The record could not be redacted: it is not written anywhere.
#[derive(Debug, thiserror::Error)]
#[error("the run record could not be redacted ({0}); it was not written, so no secret can leak through it")]
pub struct RedactionError(String);

/// The record with every known secret replaced in every string (the API server URL, hook
/// output, messages…): what leaves the process is always this copy.
///
/// The record is redacted as a parsed JSON value, string by string, so escaping cannot hide a
/// secret. Masking can still make the record unreadable as a [`RunRecord`] (a secret equal to
/// a status name such as `passed`).
///
/// # Errors
/// [`RedactionError`] then: fail closed, the caller must not write the record.
pub fn redacted(
    record: &RunRecord,
    redactor: &crate::redact::Redactor,
) -> Result<RunRecord, RedactionError> {
    let mut value = serde_json::to_value(record).map_err(|e| RedactionError(e.to_string()))?;
    redactor.redact_json(&mut value);
    // The serde message may quote a value: it was masked already, but say only where.
    serde_json::from_value(value).map_err(|e| {
        RedactionError(format!(
            "a masked value no longer fits the record: {}",
            redactor.redact(&e.to_string())
        ))
    })
}

/// The stand-in for a record that could not be redacted: failed, names only (redacted as
/// text), one step saying why, and `report_withheld` set.
pub fn withheld_record(
    record: &RunRecord,
    redactor: &crate::redact::Redactor,
    error: &RedactionError,
) -> RunRecord {
    let text = |s: &str| redactor.redact(s).into_owned();
    let mut out = RunRecord::new(
        text(&record.run_id),
        &text(&record.scenario),
        &text(&record.profile),
        &text(&record.cluster),
    );
    out.started_at = record.started_at;
    out.finished_at = record.finished_at;
    out.outcome = Outcome::Failed;
    out.steps.push(StepRecord {
        name: "redaction".into(),
        kind: "redaction".into(),
        status: StepStatus::Failed,
        started_at: record.finished_at,
        seconds: 0.0,
        checks: Vec::new(),
        message: Some(format!(
            "{error}. Usually a registered secret equals a word the record needs (a status, a step kind): use a longer, random secret"
        )),
        diagnostics: Vec::new(),
        output: None,
        infrastructure: false,
        usage: false,
    });
    out.report_withheld = true;
    out
}
