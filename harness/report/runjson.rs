//! run.json: the drill's full record, the self-describing result bundle and the state
//! `--resume` reads back. The writing and the schema check live in [`crate::engine::persist`]
//! (the runner saves the state after every step); these are the reporters' entry points.

use std::path::Path;

use super::ReportError;
use crate::engine::persist::{self, StateError};
use crate::engine::record::{RunRecord, RUN_RECORD_SCHEMA};

/// Writes `record` as pretty JSON to `path` atomically (temp file + rename), so a crash while
/// saving state never leaves a truncated run.json behind.
///
/// # Errors
/// [`ReportError::Write`] naming the path.
pub fn write_run_json(path: &Path, record: &RunRecord) -> Result<(), ReportError> {
    persist::write_run_json(path, record).map_err(|e| match e {
        StateError::Write { path, source } => ReportError::Write { path, source },
        other => ReportError::Write {
            path: path.to_path_buf(),
            source: std::io::Error::other(other.to_string()),
        },
    })
}

/// Reads a run.json back, refusing other schema versions rather than misreading them.
///
/// # Errors
/// [`ReportError::Read`] if unreadable, [`ReportError::Parse`] if not a run record,
/// [`ReportError::Schema`] for a `schema_version` other than [`RUN_RECORD_SCHEMA`].
pub fn read_run_json(path: &Path) -> Result<RunRecord, ReportError> {
    persist::read_run_state(path).map_err(|e| match e {
        StateError::Read { path, source } => ReportError::Read { path, source },
        StateError::Write { path, source } => ReportError::Write { path, source },
        StateError::Parse { message, .. } => ReportError::Parse {
            path: path.to_path_buf(),
            message,
        },
        StateError::Schema { found, .. } => ReportError::Schema {
            path: path.to_path_buf(),
            found: found.map_or_else(|| "none".to_string(), |s| s.to_string()),
            expected: RUN_RECORD_SCHEMA,
        },
    })
}
