//! The drill's own files in the backup target, beside Longhorn's backups, so the run state and
//! the sentinel manifest outlive the cluster they describe.
//!
//! Layout: `<prefix>dr-harness/runs/<run-id>/<name>` — `<prefix>` is the target URL's folder
//! (`""` or ending in `/`), `<name>` e.g. [`RUN_STATE_FILE`] or the sentinel manifest. Longhorn
//! writes only under `<prefix>backupstore/`
//! (longhorn/longhorn-engine@v1.9.1:vendor/github.com/longhorn/backupstore/s3/s3.go
//! `updatePath`), so these keys never collide with its objects.

use serde::Serialize;

use super::{describe_sdk_error, BackupTarget, TargetError};

/// Folder of the runs under the target's prefix.
pub const RUNS_DIR: &str = "dr-harness/runs/";
/// Name of a run's persisted record.
pub const RUN_STATE_FILE: &str = "run.json";

impl BackupTarget {
    /// Key of a drill file: `<prefix>dr-harness/runs/<run-id>/<name>`.
    pub fn run_key(&self, run_id: &str, name: &str) -> String {
        format!("{}{run_id}/{name}", self.runs_prefix())
    }

    /// The folder of every run's files: `<prefix>dr-harness/runs/`.
    pub fn runs_prefix(&self) -> String {
        format!("{}{RUNS_DIR}", self.prefix)
    }

    /// Writes one drill file.
    ///
    /// # Errors
    /// [`TargetError::S3`].
    pub async fn put_run_file(
        &self,
        run_id: &str,
        name: &str,
        body: Vec<u8>,
    ) -> Result<(), TargetError> {
        let key = self.run_key(run_id, name);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .body(body.into())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err(format!("PutObject {key}: {}", describe_sdk_error(&e))))
    }

    /// Reads one drill file; None when absent.
    ///
    /// # Errors
    /// [`TargetError::S3`] for anything but "no such key".
    pub async fn get_run_file(
        &self,
        run_id: &str,
        name: &str,
    ) -> Result<Option<Vec<u8>>, TargetError> {
        let key = self.run_key(run_id, name);
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(out) => {
                let bytes = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| self.err(format!("GetObject {key}: {e}")))?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(self.err(format!("GetObject {key}: {}", describe_sdk_error(&e)))),
        }
    }

    /// Saves `state` (the run record) as run `run_id`'s [`RUN_STATE_FILE`], pretty JSON.
    ///
    /// Generic so this level-2 module needs no import of the engine's record type.
    ///
    /// # Errors
    /// [`TargetError::S3`], also when `state` cannot be serialized.
    pub async fn save_run_state<S: Serialize>(
        &self,
        run_id: &str,
        state: &S,
    ) -> Result<(), TargetError> {
        let body = serde_json::to_vec_pretty(state).map_err(|e| self.err(e.to_string()))?;
        self.put_run_file(run_id, RUN_STATE_FILE, body).await
    }

    /// When a drill of (`cluster`, `scenario`) last passed, from the run states kept beside
    /// the backups (`<prefix>dr-harness/runs/*/run.json`): the newest `max_runs` states by
    /// modification time are read, newest first, and the first passed one's finish time is
    /// returned (Unix seconds). None when none of them passed.
    ///
    /// # Errors
    /// [`TargetError::S3`] when the listing or a read fails.
    pub async fn last_success(
        &self,
        cluster: &str,
        scenario: &str,
        max_runs: usize,
    ) -> Result<Option<f64>, TargetError> {
        let prefix = self.runs_prefix();
        let mut states: Vec<(i64, String)> = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                self.err(format!(
                    "ListObjectsV2 {prefix}: {}",
                    describe_sdk_error(&e)
                ))
            })?;
            for o in page.contents() {
                if let Some(key) = o
                    .key()
                    .filter(|k| k.ends_with(&format!("/{RUN_STATE_FILE}")))
                {
                    let modified = o.last_modified().map_or(0, |t| t.secs());
                    states.push((modified, key.to_string()));
                }
            }
        }
        states.sort_unstable_by(|a, b| b.cmp(a));
        for (_, key) in states.into_iter().take(max_runs) {
            let Some(run_id) = key
                .strip_prefix(&prefix)
                .and_then(|k| k.strip_suffix(RUN_STATE_FILE))
                .and_then(|k| k.strip_suffix('/'))
            else {
                continue;
            };
            let Some(bytes) = self.get_run_file(run_id, RUN_STATE_FILE).await? else {
                continue;
            };
            // Only the few fields needed: a state of another schema still tells its verdict.
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                continue;
            };
            if v["cluster"] == cluster && v["scenario"] == scenario && v["outcome"] == "passed" {
                let finished = v["finished_at"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
                if let Some(t) = finished {
                    return Ok(Some(t.timestamp_millis() as f64 / 1000.0));
                }
            }
        }
        Ok(None)
    }
}
