//! run.json: the drill's full record, the self-describing result bundle and the state
//! `--resume` reads back.

use std::path::Path;

use super::ReportError;
use crate::engine::record::{RunRecord, RUN_RECORD_SCHEMA};

/// Writes `record` as pretty JSON to `path` atomically (temp file + rename), so a crash while
/// saving state never leaves a truncated run.json behind.
///
/// # Errors
/// [`ReportError::Write`] naming the path.
pub fn write_run_json(path: &Path, record: &RunRecord) -> Result<(), ReportError> {
    let mut text = serde_json::to_vec_pretty(record).map_err(|e| ReportError::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    text.push(b'\n');
    super::write_atomic(path, &text)
}

/// Reads a run.json back, refusing other schema versions rather than misreading them.
///
/// # Errors
/// [`ReportError::Read`] if unreadable, [`ReportError::Parse`] if not a run record,
/// [`ReportError::Schema`] for a `schema` other than [`RUN_RECORD_SCHEMA`].
pub fn read_run_json(path: &Path) -> Result<RunRecord, ReportError> {
    let bytes = std::fs::read(path).map_err(|source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| ReportError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let schema = value.get("schema").and_then(serde_json::Value::as_u64);
    if schema != Some(u64::from(RUN_RECORD_SCHEMA)) {
        return Err(ReportError::Schema {
            path: path.to_path_buf(),
            found: schema.map_or_else(|| "none".to_string(), |s| s.to_string()),
            expected: RUN_RECORD_SCHEMA,
        });
    }
    serde_json::from_value(value).map_err(|e| ReportError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}
