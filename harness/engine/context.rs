//! Everything a step can reach while a drill runs: the cluster connection (replaced after a
//! rebuild), the backup target, the record being built, the clock, and the cancellation token.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use tokio_util::sync::CancellationToken;

use crate::cluster::{self, ClusterError, Connection, KubeconfigSource, RetryStats};
use crate::config::{Profile, Scenario};
use crate::redact::Redactor;

use super::record::{CheckRecord, PhaseTiming, RunRecord};
use crate::target::BackupTarget;

/// The live state of one drill.
pub struct DrillContext {
    /// The profile the drill runs against (cluster, backup target, hooks, guards).
    pub profile: Profile,
    /// The scenario being run.
    pub scenario: Scenario,
    /// `--allow-destroy` was given on the command line.
    pub allow_destroy_flag: bool,
    /// The record being built; steps hand values on in its `facts` ([`super::facts::DrillFacts`]).
    pub record: RunRecord,
    /// Transient faults retried so far, by kind; copied into [`RunRecord::retries`].
    pub stats: RetryStats,
    /// Learns every secret the drill meets (kubeconfig tokens, S3 keys) and redacts them from
    /// logs, reports and the saved state.
    pub redactor: Redactor,
    /// Cancelled on SIGINT/SIGTERM; long waits select on it and stop.
    pub cancel: CancellationToken,
    /// Where the kubeconfig comes from; read again after [`DrillContext::forget_connection`].
    pub kubeconfig: KubeconfigSource,
    conn: Option<Connection>,
    /// The backup target, once preflight (or [`DrillContext::ensure_backup_target`]) connected it.
    pub backup_target: Option<BackupTarget>,
    /// Static S3 keys handed in by the caller (the embedded sandbox); None uses the profile's
    /// credential source.
    pub s3_keys: Option<crate::target::StaticKeys>,
    /// Monotonic marks (`disaster`, `rebuild-done`, …) for RTO and phase durations.
    pub marks: BTreeMap<String, Instant>,
    /// The drill lock in the backup target, held from preflight to the end of the drill.
    pub lock: Option<crate::target::lock::DrillLock>,
    /// A task a step left running (the sentinel ticker, between its start step and the
    /// destroy); stopped by the step that ends it, or by the runner when the drill ends.
    pub background: Option<Box<dyn super::background::Background>>,
    /// Where the running step's progress lines go: the runner shows each as it arrives (a
    /// fresh channel per step); outside a runner they go nowhere.
    pub progress: tokio::sync::mpsc::UnboundedSender<String>,
    /// Checks of the running step; drained into its record by the runner.
    pub checks: Vec<CheckRecord>,
    /// Hook output tail of the running step, for the report.
    pub output: Option<String>,
}

impl DrillContext {
    /// A context with no connection, no backup target and no marks yet; the cluster is connected
    /// lazily by [`DrillContext::conn`].
    pub fn new(
        profile: Profile,
        scenario: Scenario,
        record: RunRecord,
        kubeconfig: KubeconfigSource,
        allow_destroy_flag: bool,
        redactor: Redactor,
        cancel: CancellationToken,
    ) -> Self {
        DrillContext {
            profile,
            scenario,
            allow_destroy_flag,
            record,
            stats: RetryStats::default(),
            redactor,
            cancel,
            kubeconfig,
            conn: None,
            backup_target: None,
            s3_keys: None,
            marks: BTreeMap::new(),
            background: None,
            lock: None,
            progress: tokio::sync::mpsc::unbounded_channel().0,
            checks: Vec::new(),
            output: None,
        }
    }

    /// The current connection, connecting first if needed.
    ///
    /// # Errors
    /// As [`cluster::connect()`].
    pub async fn conn(&mut self) -> Result<Connection, ClusterError> {
        if let Some(c) = &self.conn {
            return Ok(c.clone());
        }
        let c = cluster::connect(&self.kubeconfig, Duration::from_secs(120)).await?;
        for secret in &c.secrets {
            self.redactor.add(secret);
        }
        self.conn = Some(c.clone());
        Ok(c)
    }

    /// Drops the connection so the next [`DrillContext::conn`] re-reads the kubeconfig (after a
    /// rebuild the cluster has a new endpoint and new credentials).
    pub fn forget_connection(&mut self) {
        self.conn = None;
    }

    /// The backup target.
    ///
    /// # Errors
    /// A message when the profile's backup target could not be set up.
    pub fn backup_target(&self) -> Result<&BackupTarget, String> {
        self.backup_target.as_ref().ok_or_else(|| {
            "the backup target is not configured (preflight did not run)".to_string()
        })
    }

    /// Connects the backup target if preflight did not (a resumed drill skips the preflight it
    /// already passed) and takes the drill lock again.
    ///
    /// # Errors
    /// A message when the target or the lock cannot be had.
    pub async fn ensure_backup_target(&mut self) -> Result<(), String> {
        if self.backup_target.is_none() {
            self.connect_backup_target().await?;
        }
        if self.lock.is_none() {
            let bt = self.backup_target()?.clone();
            let lock = crate::target::lock::DrillLock::acquire(
                &bt,
                &self.record.cluster,
                &self.record.run_id,
                &self.scenario.name,
                crate::target::lock::LOCK_TTL,
            )
            .await
            .map_err(|e| e.to_string())?;
            self.lock = Some(lock);
        }
        Ok(())
    }

    /// Connects the backup target (read access; no lock), checking the bucket with HeadBucket.
    ///
    /// # Errors
    /// A message naming the bucket and endpoint.
    pub async fn connect_backup_target(&mut self) -> Result<(), String> {
        let cfg = self
            .profile
            .backup_target
            .resolve()
            .map_err(|e| e.to_string())?;
        let bt = BackupTarget::connect_counting(
            &cfg,
            self.s3_keys.clone(),
            &self.redactor,
            self.stats.clone(),
        )
        .await
        .map_err(|e| e.to_string())?;
        bt.head_bucket().await.map_err(|e| e.to_string())?;
        self.backup_target = Some(bt);
        Ok(())
    }

    /// Pods API in the sentinel namespace.
    pub async fn sentinel_pods(&mut self) -> Result<Api<Pod>, ClusterError> {
        let ns = self.scenario.sentinel.namespace.clone();
        Ok(Api::namespaced(self.conn().await?.client, &ns))
    }

    /// Records a phase duration (seconds, monotonic).
    pub fn phase(&mut self, phase: &str, took: Duration) {
        self.record.phases.retain(|p| p.phase != phase);
        self.record.phases.push(PhaseTiming {
            phase: phase.to_string(),
            seconds: took.as_secs_f64(),
        });
    }

    /// Marks a moment on the monotonic clock.
    pub fn mark(&mut self, name: &str) -> Instant {
        let now = Instant::now();
        self.marks.insert(name.to_string(), now);
        now
    }

    /// Adds a redacted progress line.
    pub fn say(&mut self, line: impl AsRef<str>) {
        let line = self.redactor.redact(line.as_ref()).into_owned();
        tracing::debug!(target: "dr_harness::drill", "{line}");
        // No runner listening (a step run on its own) is not an error: the line is logged.
        let _ = self.progress.send(line);
    }
}

impl DrillContext {
    /// Records a check of the running step. Returns `passed` so callers can branch on it.
    pub fn check(
        &mut self,
        name: &str,
        passed: bool,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> bool {
        let expected = self.redactor.redact(&expected.into()).into_owned();
        let found = self.redactor.redact(&found.into()).into_owned();
        self.checks.push(CheckRecord {
            name: name.to_string(),
            passed,
            expected: Some(expected),
            found: Some(found),
            seconds: 0.0,
        });
        passed
    }
}
