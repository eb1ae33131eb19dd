//! Run-state persistence: run.json written locally (atomically) and beside the backups in S3
//! after every step, and read back, with its schema version checked, for `--resume`.
//!
//! What is saved is always the redacted copy of the record ([`super::redaction::redacted`]); a
//! record that cannot be redacted is not saved at all.

use std::path::{Path, PathBuf};

use super::context::DrillContext;
use super::record::{RunRecord, RUN_RECORD_SCHEMA};
use super::redaction::redacted;

/// Where the run state is saved.
#[derive(Debug, Clone)]
pub struct StatePaths {
    /// `<out>/<run-id>/run.json`.
    pub local: PathBuf,
}

/// Why a run state could not be written or read back.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file could not be written (the temp file, its sync or the rename).
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The run.json being written.
        path: PathBuf,
        /// The I/O error (a serialization error is wrapped as one).
        #[source]
        source: std::io::Error,
    },
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The run.json being read.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a run record (`origin` names the file or S3 key).
    #[error("{origin} is not a run record: {message}")]
    Parse {
        /// The file path or S3 key the bytes came from.
        origin: String,
        /// What serde_json found wrong (not JSON, or a field missing or of the wrong type).
        message: String,
    },
    /// Written with another `schema_version` than [`RUN_RECORD_SCHEMA`] (`found` None: the
    /// record has no version at all, as before version 2).
    #[error("{}", schema_message(run_id, *found))]
    Schema {
        /// The record's `run_id` (`?` when it has none).
        run_id: String,
        /// The schema version the record carries (`schema_version`, or version 1's `schema`).
        found: Option<u64>,
    },
}

fn schema_message(run_id: &str, found: Option<u64>) -> String {
    match found {
        Some(n) if n > u64::from(RUN_RECORD_SCHEMA) => format!(
            "run {run_id} was written by a newer dr-harness (schema {n}; this one reads schema {RUN_RECORD_SCHEMA}); resume it with that version"
        ),
        _ => format!(
            "run {run_id} was written by an older dr-harness (schema {}); it cannot be resumed — start a new drill",
            found.map_or_else(|| "missing".to_string(), |n| n.to_string())
        ),
    }
}

/// Writes `record` as pretty JSON to `path` atomically (a temp file in the same folder, synced,
/// then renamed), so a crash while saving never leaves a truncated run.json behind. The file is
/// made world-readable (0644): node_exporter's textfile collector may run as another user.
///
/// # Errors
/// [`StateError::Write`] naming the path.
pub fn write_run_json(path: &Path, record: &RunRecord) -> Result<(), StateError> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let err = |source: std::io::Error| StateError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut text = serde_json::to_vec_pretty(record).map_err(|e| err(std::io::Error::other(e)))?;
    text.push(b'\n');
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(&text).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644)).map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// Reads a run.json back (see [`parse_run_state`]).
///
/// # Errors
/// [`StateError::Read`] if unreadable, else as [`parse_run_state`].
pub fn read_run_state(path: &Path) -> Result<RunRecord, StateError> {
    let bytes = std::fs::read(path).map_err(|source| StateError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_run_state(&bytes, &path.display().to_string())
}

/// Parses a saved run state (`origin` names where it came from, for messages), refusing any
/// `schema_version` other than [`RUN_RECORD_SCHEMA`] before reading the rest, so an old record
/// is never misread.
///
/// # Errors
/// [`StateError::Parse`] if not JSON or not a run record, [`StateError::Schema`] for another
/// (or a missing) schema version.
pub fn parse_run_state(bytes: &[u8], origin: &str) -> Result<RunRecord, StateError> {
    let parse = |message: String| StateError::Parse {
        origin: origin.to_string(),
        message,
    };
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| parse(e.to_string()))?;
    let found = value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64);
    if found != Some(u64::from(RUN_RECORD_SCHEMA)) {
        // Version 1 named its version `schema`.
        let found = found.or_else(|| value.get("schema").and_then(serde_json::Value::as_u64));
        let run_id = value
            .get("run_id")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("?")
            .to_string();
        return Err(StateError::Schema { run_id, found });
    }
    serde_json::from_value(value).map_err(|e| parse(e.to_string()))
}

/// Saves the redacted run state locally (atomically) and, best effort, beside the backups in
/// S3 (not for a read-only scenario: it leaves nothing in the bucket). Failures are logged and
/// counted in the retry stats (`run-state-withheld`, `s3-state-save-failed`), never fatal: the
/// drill itself goes on.
pub async fn save_state(ctx: &mut DrillContext, state: &StatePaths) {
    if let Some(dir) = state.local.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let record = match redacted(&ctx.record, &ctx.redactor) {
        Ok(r) => r,
        Err(e) => {
            ctx.stats.count("run-state-withheld");
            tracing::error!("the run state was not saved: {e}");
            return;
        }
    };
    if let Err(e) = write_run_json(&state.local, &record) {
        tracing::warn!("could not save the run state: {e}");
    }
    let remote = ctx
        .backup_target
        .as_ref()
        .filter(|_| !ctx.scenario.read_only);
    if let Some(target) = remote {
        if let Err(e) = target.save_run_state(&record.run_id, &record).await {
            ctx.stats.count("s3-state-save-failed");
            tracing::warn!("could not save the run state to the backup target: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_through_run_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        let mut r = RunRecord::new("run-1".into(), "full-rebuild", "dev", "dev");
        r.facts.volume = Some("pvc-1".into());
        write_run_json(&path, &r).unwrap();
        assert_eq!(read_run_state(&path).unwrap(), r);
    }

    #[test]
    fn an_older_record_is_refused_with_what_to_do() {
        // Schema 1: `schema` instead of `schema_version`, string-keyed facts.
        let old = br#"{"schema":1,"run_id":"3f6c2a1e-8d7b-4c1e-9a0f-2b5d7e9c4a10","facts":{"sentinel.volume":"pvc-1"}}"#;
        let err = parse_run_state(old, "run.json").expect_err("old schema");
        assert_eq!(
            err.to_string(),
            "run 3f6c2a1e-8d7b-4c1e-9a0f-2b5d7e9c4a10 was written by an older dr-harness (schema 1); it cannot be resumed — start a new drill"
        );
        let none = br#"{"run_id":"r"}"#;
        let err = parse_run_state(none, "run.json").expect_err("no schema");
        assert!(
            err.to_string()
                .contains("older dr-harness (schema missing)"),
            "{err}"
        );
        let newer = br#"{"schema_version":99,"run_id":"r"}"#;
        let err = parse_run_state(newer, "run.json").expect_err("newer schema");
        assert!(
            err.to_string().contains("newer dr-harness (schema 99"),
            "{err}"
        );
    }

    #[test]
    fn a_current_record_that_is_not_a_run_record_names_its_origin() {
        let bad = format!(r#"{{"schema_version":{RUN_RECORD_SCHEMA},"run_id":"r"}}"#);
        let err = parse_run_state(bad.as_bytes(), "s3://b/runs/r/run.json").expect_err("bad");
        assert!(matches!(err, StateError::Parse { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("s3://b/runs/r/run.json is not a run record"),
            "{err}"
        );
    }
}
