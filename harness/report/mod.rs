//! Reports of a drill, each rendered from the one [`RunRecord`]:
//! JUnit XML for CI, Prometheus metrics for alerting, run.json as the full record and resume
//! state, the console view and report.html for humans, and notifications to chat webhooks.
//!
//! [`write_reports`] lays them out as `<out>/<run-id>/{junit.xml, metrics.prom, run.json,
//! summary.txt, report.html}`, points `<out>/latest` at the newest run and keeps one textfile
//! per (cluster, scenario) in `<out>/metrics/`.

pub mod console;
pub mod html;
pub mod junit;
pub mod notify;
pub mod progress;
pub mod prometheus;
pub mod runjson;

use std::path::{Path, PathBuf};

use crate::engine::record::RunRecord;

pub use console::{summary_table, ConsoleReporter};
pub use html::render_html;
pub use junit::{render_junit, render_junit_suite};
pub use prometheus::{push_to_gateway, read_last_success, render_metrics, write_textfile_atomic};
pub use runjson::{read_run_json, write_run_json};

/// Errors of the report area.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A report file or the `latest` link could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or link written.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A report file (run.json, a previous metrics textfile) could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file read.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A file that should be a run record is not valid JSON or does not fit the record.
    #[error("{} is not a run record: {message}", path.display())]
    Parse {
        /// The file read.
        path: PathBuf,
        /// The JSON error, with its line and column.
        message: String,
    },
    /// A run record written by a harness with another record schema.
    #[error("{} has run.json schema {found}, this harness reads schema {expected}", path.display())]
    Schema {
        /// The file read.
        path: PathBuf,
        /// The `schema` found, or `none`.
        found: String,
        /// The schema this harness reads (`RUN_RECORD_SCHEMA` of the run record).
        expected: u32,
    },
    /// The Pushgateway could not be read or written.
    #[error("pushing metrics to {url} failed: {message}")]
    Push {
        /// The gateway URL requested (group or API path).
        url: String,
        /// The connection error, timeout, or HTTP status and body.
        message: String,
    },
}

/// Where [`write_reports`] put things.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPaths {
    /// `<out>/<run-id>`.
    pub dir: PathBuf,
    /// `<out>/<run-id>/junit.xml` ([`render_junit`]).
    pub junit: PathBuf,
    /// `<out>/<run-id>/metrics.prom`: the Prometheus textfile ([`render_metrics`]).
    pub metrics: PathBuf,
    /// `<out>/<run-id>/run.json`: the run record ([`write_run_json`]).
    pub run_json: PathBuf,
    /// `<out>/<run-id>/summary.txt`: the console summary table ([`summary_table`]).
    pub summary: PathBuf,
    /// `<out>/<run-id>/report.html`: the self-contained page for people ([`render_html`]).
    pub html: PathBuf,
    /// `<out>/latest`: a symlink to `<run-id>`, or a copy where symlinks are not possible.
    pub latest: PathBuf,
}

/// Writes all reports of `record` under `out_dir/<run-id>/` and points `out_dir/latest` at
/// them (symlink replaced atomically; a copied directory where symlinks fail).
///
/// The history (last success, per-volume last verification) comes from `previous_metrics` when
/// given, else from the local files of the same (cluster, scenario) ([`local_history`]); only
/// samples labelled with this drill's cluster and scenario count.
///
/// # Errors
/// [`ReportError::Write`] naming the file or directory that could not be written.
pub fn write_reports(
    out_dir: &Path,
    record: &RunRecord,
    previous_metrics: Option<&Path>,
) -> Result<ReportPaths, ReportError> {
    let history = match previous_metrics {
        Some(p) => prometheus::History::from_file(p, &record.cluster, &record.scenario),
        None => local_history(out_dir, record),
    };
    write_reports_with(out_dir, record, &history)
}

/// `<out>/metrics/<cluster>--<scenario>.prom`: the textfile of one (cluster, scenario), kept
/// beside those of every other scenario so a suite leaves one file per scenario for
/// node_exporter's textfile collector (point it at `<out>/metrics/`). Characters other than
/// `[A-Za-z0-9._-]` in the names become `_`.
pub fn scenario_metrics_path(out_dir: &Path, cluster: &str, scenario: &str) -> PathBuf {
    let safe = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
    };
    out_dir
        .join("metrics")
        .join(format!("{}--{}.prom", safe(cluster), safe(scenario)))
}

/// The history of `record`'s (cluster, scenario) in `out_dir`: its own textfile
/// ([`scenario_metrics_path`]) and `latest/metrics.prom` (if that run was the same scenario;
/// the labels decide), the newer of each.
pub fn local_history(out_dir: &Path, record: &RunRecord) -> prometheus::History {
    let (c, s) = (&record.cluster, &record.scenario);
    prometheus::History::from_file(&scenario_metrics_path(out_dir, c, s), c, s).merge(
        prometheus::History::from_file(&out_dir.join("latest").join("metrics.prom"), c, s),
    )
}

/// [`write_reports`] with the history given (merged from the Pushgateway, S3 and local files
/// by the caller). Also writes [`scenario_metrics_path`].
///
/// # Errors
/// [`ReportError::Write`] naming the file or directory that could not be written.
pub fn write_reports_with(
    out_dir: &Path,
    record: &RunRecord,
    history: &prometheus::History,
) -> Result<ReportPaths, ReportError> {
    let latest = out_dir.join("latest");
    let dir = out_dir.join(&record.run_id);
    std::fs::create_dir_all(&dir).map_err(|source| ReportError::Write {
        path: dir.clone(),
        source,
    })?;
    let paths = ReportPaths {
        junit: dir.join("junit.xml"),
        metrics: dir.join("metrics.prom"),
        run_json: dir.join("run.json"),
        summary: dir.join("summary.txt"),
        html: dir.join("report.html"),
        latest,
        dir,
    };
    let metrics =
        prometheus::render_metrics_with(record, history.last_success, &history.verify_last_success);
    write_atomic(&paths.junit, render_junit(record).as_bytes())?;
    write_textfile_atomic(&paths.metrics, &metrics)?;
    let per_scenario = scenario_metrics_path(out_dir, &record.cluster, &record.scenario);
    if let Some(parent) = per_scenario.parent() {
        std::fs::create_dir_all(parent).map_err(|source| ReportError::Write {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    write_textfile_atomic(&per_scenario, &metrics)?;
    write_run_json(&paths.run_json, record)?;
    write_atomic(&paths.summary, summary_table(record).as_bytes())?;
    write_atomic(&paths.html, render_html(record).as_bytes())?;
    point_latest(out_dir, &record.run_id, &paths.latest)?;
    Ok(paths)
}

/// Makes `latest` name `run_id`: a relative symlink created beside it and renamed over it
/// (atomic for readers); falls back to a copied directory where symlinks fail.
fn point_latest(out_dir: &Path, run_id: &str, latest: &Path) -> Result<(), ReportError> {
    let write_err = |path: &Path, source: std::io::Error| ReportError::Write {
        path: path.to_path_buf(),
        source,
    };
    let tmp = out_dir.join(format!(".latest-{run_id}.tmp"));
    let _ = remove_any(&tmp);
    if std::os::unix::fs::symlink(run_id, &tmp).is_ok() {
        // rename() cannot replace a directory (left by an earlier copy fallback) with a link.
        if latest.is_dir() && !is_symlink(latest) {
            remove_any(latest).map_err(|e| write_err(latest, e))?;
        }
        return std::fs::rename(&tmp, latest).map_err(|e| write_err(latest, e));
    }
    std::fs::create_dir_all(&tmp).map_err(|e| write_err(&tmp, e))?;
    let src = out_dir.join(run_id);
    let entries = std::fs::read_dir(&src).map_err(|e| write_err(&src, e))?;
    for entry in entries.flatten() {
        let to = tmp.join(entry.file_name());
        std::fs::copy(entry.path(), &to).map_err(|e| write_err(&to, e))?;
    }
    let _ = remove_any(latest);
    std::fs::rename(&tmp, latest).map_err(|e| write_err(latest, e))
}

fn is_symlink(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
}

fn remove_any(p: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes `bytes` to `path` via a temp file in the same directory and a rename, mode 0644.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let err = |source: std::io::Error| ReportError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    // node_exporter runs as another user; tempfile creates 0600.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644)).map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}
