//! Prometheus metrics of a drill, for node_exporter's textfile collector or a Pushgateway.
//!
//! All series carry `cluster` and `scenario` (from the profile and scenario: bounded); the
//! only other labels are `phase`, `step`, `kind` and `volume` (Longhorn Volume names, bounded by
//! the cluster's volumes), whose values come from the step library
//! and the scenario files, never from run ids or error text. Names follow Prometheus' base-unit
//! conventions (`_seconds`, `_bytes`, `_timestamp_seconds`).

use std::path::Path;
use std::time::Duration;

use prometheus::{Encoder, Gauge, GaugeVec, Opts, Registry, TextEncoder};

use super::ReportError;
use crate::engine::record::{Outcome, RunRecord};

// Metric names, one prefix. Every series carries the labels `cluster` and `scenario` (and
// `shard` in a sharded run); the extra label of a per-item gauge is named on its constant.

/// 1 if the last drill proved recovery end to end, else 0.
pub const SUCCESS: &str = "dr_harness_success";
/// Recovery time of the last drill, seconds: destroy start to sentinel verified. Absent when
/// not measured.
pub const RTO: &str = "dr_harness_rto_seconds";
/// Data-loss window of the last drill, seconds: newest sentinel write minus the last tick that
/// survived. Absent when not measured.
pub const RPO: &str = "dr_harness_rpo_seconds";
/// The scenario's RTO target, seconds (absent when it sets none).
pub const RTO_TARGET: &str = "dr_harness_rto_target_seconds";
/// The scenario's RPO target, seconds (absent when it sets none).
pub const RPO_TARGET: &str = "dr_harness_rpo_target_seconds";
/// Duration of each recovery phase of the last drill, seconds (label `phase`).
pub const PHASE_DURATION: &str = "dr_harness_phase_duration_seconds";
/// Unix time the last drill finished, seconds.
pub const LAST_RUN: &str = "dr_harness_last_run_timestamp_seconds";
/// Unix time of the last drill that passed, seconds; a failed drill carries the previous
/// value over (see [`History`]), absent when none ever passed.
pub const LAST_SUCCESS: &str = "dr_harness_last_success_timestamp_seconds";
/// Sentinel bytes verified byte for byte after the restore.
pub const VERIFIED_BYTES: &str = "dr_harness_verified_bytes";
/// Per step (label `step`): 1 if it succeeded in the last drill, else 0 (failed, timed out,
/// interrupted or skipped).
pub const STEP_SUCCESS: &str = "dr_harness_step_success";
/// Transient faults retried during the last drill, by kind (label `kind`: `api-503`, `s3`…).
pub const RETRIES: &str = "dr_harness_retries";
/// Age of each volume's newest `Completed` backup, seconds (label `volume`: Longhorn Volume
/// names come from the cluster and are bounded by its volume count).
pub const BACKUP_AGE: &str = "dr_harness_backup_age_seconds";
/// Per volume: 1 if its backup verified from S3 alone, else 0.
pub const BACKUP_VERIFY_SUCCESS: &str = "dr_harness_backup_verify_success";
/// Per volume: bytes of the volume image verified block by block.
pub const BACKUP_VERIFIED_BYTES: &str = "dr_harness_backup_verified_bytes";
/// Per volume: stored bytes downloaded by its backup verification (issue #10: incremental
/// runs download what changed, the scrub sample and the file pass's blocks).
pub const VERIFY_DOWNLOADED_BYTES: &str = "dr_harness_verify_downloaded_bytes";
/// Per volume: stored bytes of the distinct blocks its verified backup lists.
pub const VERIFY_LISTED_BYTES: &str = "dr_harness_verify_listed_bytes";
/// Per volume: how long the verification took, seconds.
pub const BACKUP_VERIFY_SECONDS: &str = "dr_harness_backup_verify_seconds";
/// Per volume: Unix time of the last successful verification (kept from the previous file on failure).
pub const BACKUP_VERIFY_LAST_SUCCESS: &str =
    "dr_harness_backup_verify_last_success_timestamp_seconds";

/// Renders the drill's metrics in the text exposition format (0.0.4).
///
/// `previous_last_success` is the `dr_harness_last_success_timestamp_seconds` of the previous
/// run (see [`read_last_success`]): a failed drill keeps it, so "time since the last proven
/// recovery" keeps growing instead of resetting. It is omitted when no drill ever passed.
/// RTO/RPO are omitted when not measured.
pub fn render_metrics(record: &RunRecord, previous_last_success: Option<f64>) -> String {
    render_metrics_with(
        record,
        previous_last_success,
        &std::collections::BTreeMap::new(),
    )
}

/// [`render_metrics`], also keeping each volume's last successful backup verification from the
/// previous file (`previous_per_volume`, see [`read_verify_last_success`]).
pub fn render_metrics_with(
    record: &RunRecord,
    previous_last_success: Option<f64>,
    previous_per_volume: &std::collections::BTreeMap<String, f64>,
) -> String {
    let registry = Registry::new();
    let opts = |name: &str, help: &str| {
        let o = Opts::new(name, help)
            .const_label("cluster", record.cluster.as_str())
            .const_label("scenario", record.scenario.as_str());
        // A sharded run labels every series with its shard (`I/N`, bounded by N), so the
        // shards' files and Pushgateway groups do not overwrite each other.
        match &record.shard {
            Some(shard) => o.const_label("shard", shard.as_str()),
            None => o,
        }
    };
    let gauge = |name: &str, help: &str, value: f64| {
        if let Ok(g) = Gauge::with_opts(opts(name, help)) {
            g.set(value);
            let _ = registry.register(Box::new(g));
        }
    };
    let gauge_vec = |name: &str, help: &str, label: &str, values: Vec<(String, f64)>| {
        if values.is_empty() {
            return;
        }
        if let Ok(g) = GaugeVec::new(opts(name, help), &[label]) {
            for (l, v) in values {
                g.with_label_values(&[l.as_str()]).set(v);
            }
            let _ = registry.register(Box::new(g));
        }
    };

    let passed = record.outcome == Outcome::Passed;
    gauge(
        SUCCESS,
        "1 if the last drill proved recovery end to end, else 0.",
        if passed { 1.0 } else { 0.0 },
    );
    if let Some(v) = record.rto_seconds {
        gauge(
            RTO,
            "Recovery time of the last drill: destroy start to sentinel verified, seconds.",
            v,
        );
    }
    if let Some(v) = record.rpo_seconds {
        gauge(RPO, "Data-loss window of the last drill: newest write minus last surviving sentinel tick, seconds.", v);
    }
    if let Some(v) = record.rto_target_seconds {
        gauge(RTO_TARGET, "RTO target of the scenario, seconds.", v);
    }
    if let Some(v) = record.rpo_target_seconds {
        gauge(RPO_TARGET, "RPO target of the scenario, seconds.", v);
    }
    gauge_vec(
        PHASE_DURATION,
        "Duration of each recovery phase of the last drill, seconds.",
        "phase",
        record
            .phases
            .iter()
            .map(|p| (p.phase.clone(), p.seconds))
            .collect(),
    );
    let finished = record.finished_at.unwrap_or(record.started_at);
    let finished_secs = finished.timestamp_millis() as f64 / 1000.0;
    gauge(
        LAST_RUN,
        "Unix time the last drill finished, seconds.",
        finished_secs,
    );
    let last_success = if passed {
        Some(finished_secs)
    } else {
        previous_last_success
    };
    if let Some(v) = last_success {
        gauge(
            LAST_SUCCESS,
            "Unix time of the last drill that passed, seconds.",
            v,
        );
    }
    gauge(
        VERIFIED_BYTES,
        "Sentinel bytes verified byte for byte after the restore.",
        record.verified_bytes as f64,
    );
    gauge_vec(
        STEP_SUCCESS,
        "1 if the step succeeded in the last drill, else 0 (failed, timed out, interrupted or skipped).",
        "step",
        record
            .steps
            .iter()
            .map(|s| (s.name.clone(), if s.status.is_success() { 1.0 } else { 0.0 }))
            .collect(),
    );
    gauge_vec(
        RETRIES,
        "Transient faults retried during the last drill, by kind.",
        "kind",
        record
            .retries
            .iter()
            .map(|(k, v)| (k.clone(), *v as f64))
            .collect(),
    );
    gauge_vec(
        BACKUP_AGE,
        "Age of the newest Completed backup of each Longhorn volume at the last drill, seconds.",
        "volume",
        record
            .backup_ages
            .iter()
            .map(|(v, age)| (v.clone(), *age))
            .collect(),
    );

    let per_volume = |f: &dyn Fn(&crate::engine::record::BackupVerification) -> f64| {
        record
            .backup_verifications
            .iter()
            .map(|v| (v.volume.clone(), f(v)))
            .collect::<Vec<_>>()
    };
    gauge_vec(
        BACKUP_VERIFY_SUCCESS,
        "1 if the volume's backup verified from the backup target alone, else 0.",
        "volume",
        per_volume(&|v| if v.success { 1.0 } else { 0.0 }),
    );
    gauge_vec(
        BACKUP_VERIFIED_BYTES,
        "Bytes of the volume image verified block by block from the backup target.",
        "volume",
        per_volume(&|v| v.verified_bytes as f64),
    );
    let deep: Vec<&crate::engine::record::BackupVerification> = record
        .backup_verifications
        .iter()
        .filter(|v| v.deep)
        .collect();
    gauge_vec(
        VERIFY_DOWNLOADED_BYTES,
        "Stored bytes downloaded to verify the volume's backup deeply (incremental: only what changed, the scrub sample and the files' blocks).",
        "volume",
        deep.iter()
            .map(|v| (v.volume.clone(), v.downloaded_bytes as f64))
            .collect(),
    );
    gauge_vec(
        VERIFY_LISTED_BYTES,
        "Stored bytes of the distinct blocks the volume's verified backup lists.",
        "volume",
        deep.iter()
            .map(|v| (v.volume.clone(), v.listed_bytes as f64))
            .collect(),
    );
    gauge_vec(
        BACKUP_VERIFY_SECONDS,
        "Duration of the backup verification of each volume, seconds.",
        "volume",
        per_volume(&|v| v.seconds),
    );
    let finished = record
        .finished_at
        .unwrap_or_else(chrono::Utc::now)
        .timestamp_millis() as f64
        / 1000.0;
    gauge_vec(
        BACKUP_VERIFY_LAST_SUCCESS,
        "Unix time of the last successful backup verification of each volume, seconds.",
        "volume",
        record
            .backup_verifications
            .iter()
            .filter_map(|v| {
                if v.success {
                    Some((v.volume.clone(), finished))
                } else {
                    previous_per_volume
                        .get(&v.volume)
                        .map(|t| (v.volume.clone(), *t))
                }
            })
            .collect(),
    );

    let mut out = String::new();
    // Encoding gathered gauges cannot fail (no invalid names: they are constants above).
    let _ = TextEncoder::new().encode_utf8(&registry.gather(), &mut out);
    out
}

/// Reads `dr_harness_last_success_timestamp_seconds` back from a previous metrics file.
/// `None` when the file is missing, unreadable or has no such sample.
pub fn read_last_success(path: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(LAST_SUCCESS) && l[LAST_SUCCESS.len()..].starts_with(['{', ' ']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.trim().parse().ok())
}

/// Reads each volume's `dr_harness_backup_verify_last_success_timestamp_seconds` back from a
/// previous metrics file; empty when there is none.
pub fn read_verify_last_success(path: &Path) -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return out;
    };
    for line in text
        .lines()
        .filter(|l| l.starts_with(BACKUP_VERIFY_LAST_SUCCESS))
    {
        let volume = line
            .split("volume=\"")
            .nth(1)
            .and_then(|r| r.split('"').next());
        let value = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.trim().parse::<f64>().ok());
        if let (Some(volume), Some(value)) = (volume, value) {
            out.insert(volume.to_string(), value);
        }
    }
    out
}

/// What a drill's metrics carry over from earlier runs of the same (cluster, scenario): the
/// last time one passed and each volume's last successful backup verification (Unix seconds).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// [`LAST_SUCCESS`]: Unix seconds of the last passed drill; `None` = none known.
    pub last_success: Option<f64>,
    /// [`BACKUP_VERIFY_LAST_SUCCESS`] by volume name: Unix seconds of each volume's last
    /// successful backup verification.
    pub verify_last_success: std::collections::BTreeMap<String, f64>,
}

impl History {
    /// The newer of each timestamp in `self` and `other`: every source (Pushgateway group,
    /// run state in S3, local textfile) can only move a last success forward.
    pub fn merge(mut self, other: History) -> History {
        self.last_success = match (self.last_success, other.last_success) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        for (volume, t) in other.verify_last_success {
            let slot = self.verify_last_success.entry(volume).or_insert(t);
            *slot = slot.max(t);
        }
        self
    }

    /// Reads the history of (`cluster`, `scenario`) from Prometheus text: only samples whose
    /// `cluster` and `scenario` labels match count (a file or gateway holding other
    /// scenarios' series cannot lend them their last success).
    pub fn from_text(text: &str, cluster: &str, scenario: &str) -> History {
        let lines = text.lines().map(|l| Ok(l.to_string()));
        let Ok(scrape) = prometheus_parse::Scrape::parse(lines) else {
            return History::default();
        };
        let mut out = History::default();
        for sample in scrape.samples {
            if sample.labels.get("cluster") != Some(cluster)
                || sample.labels.get("scenario") != Some(scenario)
            {
                continue;
            }
            let value = match sample.value {
                prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => continue,
            };
            if !value.is_finite() {
                continue;
            }
            if sample.metric == LAST_SUCCESS {
                out = out.merge(History {
                    last_success: Some(value),
                    ..History::default()
                });
            } else if sample.metric == BACKUP_VERIFY_LAST_SUCCESS {
                if let Some(volume) = sample.labels.get("volume") {
                    out = out.merge(History {
                        last_success: None,
                        verify_last_success: [(volume.to_string(), value)].into(),
                    });
                }
            }
        }
        out
    }

    /// [`History::from_text`] of a file; empty when it is missing or unreadable.
    pub fn from_file(path: &Path, cluster: &str, scenario: &str) -> History {
        std::fs::read_to_string(path)
            .map(|t| History::from_text(&t, cluster, scenario))
            .unwrap_or_default()
    }
}

/// The Pushgateway URL of the group of (`cluster`, `scenario`).
/// The group of (`cluster`, `scenario`, `shard`): a shard of a sharded verification gets a
/// group of its own, so shards do not replace each other's metrics.
fn group_url(url: &str, cluster: &str, scenario: &str, shard: Option<&str>) -> String {
    format!(
        "{}/metrics/job/dr_harness{}{}{}",
        url.trim_end_matches('/'),
        grouping_segment("cluster", cluster),
        grouping_segment("scenario", scenario),
        shard
            .map(|s| grouping_segment("shard", s))
            .unwrap_or_default()
    )
}

/// Reads the history of (`cluster`, `scenario`) from the Pushgateway's own group, before a PUT
/// replaces it: a drill pushed from a fresh CI checkout (no local metrics file) must keep the
/// last success the gateway holds (a `PUT` replaces every metric of the group:
/// prometheus/pushgateway@v1.5.1:README.md, "PUT method"). Uses the gateway's JSON API
/// `GET /api/v1/metrics` (same README, "Query API": every group with its labels, each metric's
/// samples with their value as a string) and takes the group whose labels are exactly
/// job=dr_harness, cluster, scenario (and shard, for a shard of a sharded verification).
/// An absent group is an empty history.
///
/// # Errors
/// [`ReportError::Push`] naming the URL when the gateway does not answer 2xx or the answer is
/// not the API's JSON; the caller must then not PUT (that could erase the history).
pub async fn read_gateway_history(
    url: &str,
    cluster: &str,
    scenario: &str,
    shard: Option<&str>,
    timeout: Duration,
) -> Result<History, ReportError> {
    let api = format!("{}/api/v1/metrics", url.trim_end_matches('/'));
    let err = |message: String| ReportError::Push {
        url: api.clone(),
        message,
    };
    crate::cluster::connect::install_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| err(e.to_string()))?;
    let resp = client
        .get(&api)
        .send()
        .await
        .map_err(|e| err(format!("could not read the group's history: {e}")))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(err(format!("answered {status} to the history read")));
    }
    let text = resp
        .text()
        .await
        .map_err(|e| err(format!("could not read the group's history: {e}")))?;
    let body: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| err(format!("the history read is not the API's JSON: {e}")))?;
    let groups = body["data"]
        .as_array()
        .ok_or_else(|| err("the history read has no `data` list".into()))?;
    let mut want =
        serde_json::json!({"job": "dr_harness", "cluster": cluster, "scenario": scenario});
    if let Some(shard) = shard {
        want["shard"] = shard.into();
    }
    let mut out = History::default();
    for group in groups.iter().filter(|g| g["labels"] == want) {
        let samples = |name: &str| {
            group[name]["metrics"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        };
        let value = |m: &serde_json::Value| {
            m["value"]
                .as_str()
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite())
        };
        for m in samples(LAST_SUCCESS) {
            out = out.merge(History {
                last_success: value(&m),
                ..History::default()
            });
        }
        for m in samples(BACKUP_VERIFY_LAST_SUCCESS) {
            if let (Some(volume), Some(v)) = (m["labels"]["volume"].as_str(), value(&m)) {
                out = out.merge(History {
                    last_success: None,
                    verify_last_success: [(volume.to_string(), v)].into(),
                });
            }
        }
    }
    Ok(out)
}

/// Writes `text` to `path` atomically (temp file in the same directory, mode 0644, rename),
/// so node_exporter's textfile collector never reads a half-written file.
///
/// # Errors
/// [`ReportError::Write`] naming the path.
pub fn write_textfile_atomic(path: &Path, text: &str) -> Result<(), ReportError> {
    super::write_atomic(path, text.as_bytes())
}

/// URL-safe base64 (RFC 4648 §5, with padding), as the Pushgateway's `@base64` label form wants.
fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE.encode(bytes)
}

/// One `/<label>/<value>` pair of a Pushgateway grouping key: plain when the value is made of
/// URL-safe characters, else the `<label>@base64/<value>` form (required for `/`).
pub(crate) fn grouping_segment(label: &str, value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain {
        format!("/{label}/{value}")
    } else if value.is_empty() {
        format!("/{label}@base64/=")
    } else {
        format!("/{label}@base64/{}", base64_url(value.as_bytes()))
    }
}

/// PUTs `text` to a Pushgateway under `job=dr_harness`, `cluster`, `scenario` (no `instance`
/// label: a drill is not tied to the machine that ran it). A PUT replaces the whole group, so
/// series of a previous run do not linger.
///
/// # Errors
/// [`ReportError::Push`] naming the URL for connection errors, timeouts and non-2xx answers.
///
/// `shard` (`I/N` of a sharded `verify-backup`) adds a `shard` grouping label, so the shards of
/// one nightly each own a group instead of replacing each other's.
pub async fn push_to_gateway(
    url: &str,
    cluster: &str,
    scenario: &str,
    shard: Option<&str>,
    text: &str,
    timeout: Duration,
) -> Result<(), ReportError> {
    let target = group_url(url, cluster, scenario, shard);
    let push_err = |message: String| ReportError::Push {
        url: target.clone(),
        message,
    };
    // reqwest is built without a TLS provider of its own: use the process-wide one.
    crate::cluster::connect::install_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| push_err(e.to_string()))?;
    let resp = client
        .put(&target)
        .header(
            reqwest::header::CONTENT_TYPE,
            TextEncoder::new().format_type(),
        )
        .body(text.to_string())
        .send()
        .await
        .map_err(|e| push_err(e.to_string()))?;
    let status = resp.status();
    if !status.is_success() {
        let detail = resp.text().await.unwrap_or_default();
        let detail: String = detail.chars().take(300).collect();
        return Err(push_err(format!("answered {status}: {}", detail.trim())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_url_matches_rfc4648_vectors() {
        assert_eq!(base64_url(b"f"), "Zg==");
        assert_eq!(base64_url(b"fo"), "Zm8=");
        assert_eq!(base64_url(b"foo"), "Zm9v");
        assert_eq!(base64_url(b"/var/tmp"), "L3Zhci90bXA=");
        assert_eq!(base64_url(&[0xfb, 0xff]), "-_8=");
    }

    #[test]
    fn grouping_segments_encode_slashes() {
        assert_eq!(grouping_segment("cluster", "dev"), "/cluster/dev");
        assert_eq!(grouping_segment("cluster", "a/b"), "/cluster@base64/YS9i");
        assert_eq!(grouping_segment("cluster", ""), "/cluster@base64/=");
    }
}
