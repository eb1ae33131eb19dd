//! One drill, end to end: a profile, a scenario, the engine, and the run state — the library
//! entry point the CLI and the tests share.

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::cluster::KubeconfigSource;
use crate::config::profile::KubeconfigSource as ProfileKubeconfig;
use crate::config::{Profile, Scenario};
use crate::engine::context::DrillContext;
use crate::engine::events::EventSink;
use crate::engine::record::RunRecord;
use crate::engine::runner::{run_steps, StatePaths};
use crate::redact::Redactor;
use crate::steps::Steps;
use crate::target::StaticKeys;

/// Everything needed to run one drill.
pub struct DrillRequest {
    /// The loaded profile (cluster, backup target, hooks, guards).
    pub profile: Profile,
    /// The loaded scenario: its steps, timeouts and RTO/RPO targets.
    pub scenario: Scenario,
    /// `--allow-destroy` given.
    pub allow_destroy: bool,
    /// Reports folder; the run state goes to `<out>/<run-id>/run.json`.
    pub out_dir: PathBuf,
    /// Static S3 keys (the embedded sandbox); None uses the profile's credentials.
    pub s3_keys: Option<StaticKeys>,
    /// A previous record to resume (`--resume`).
    pub resume: Option<RunRecord>,
    /// Redacts every secret the drill learns from what it logs, reports and saves.
    pub redactor: Redactor,
    /// Cancelled on SIGINT/SIGTERM: the running step stops and the record is `Interrupted`.
    pub cancel: CancellationToken,
}

/// The kubeconfig source a profile names.
pub fn kubeconfig_source(profile: &Profile) -> KubeconfigSource {
    let context = profile.kubeconfig.context.clone();
    match profile.kubeconfig.source() {
        Some(ProfileKubeconfig::Command(argv)) => KubeconfigSource::Command {
            argv: argv.to_vec(),
            context,
        },
        Some(ProfileKubeconfig::Path(p)) => KubeconfigSource::File {
            path: p.to_path_buf(),
            context,
        },
        None => KubeconfigSource::File {
            path: default_kubeconfig(),
            context,
        },
    }
}

fn default_kubeconfig() -> PathBuf {
    std::env::var_os("KUBECONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".kube/config")))
        .unwrap_or_else(|| PathBuf::from(".kube/config"))
}

/// Why a resume was refused before any step ran.
#[derive(Debug, thiserror::Error)]
pub enum ResumeRefused {
    /// The profile's cluster is not the one the run started on: a usage error (exit 2).
    #[error("refusing to resume run {run_id}: the profile's kubeconfig points at {now} (kube-system UID {now_uid}), not at the cluster the run started on ({then}, kube-system UID {then_uid}); resume with that cluster's profile. Nothing was run")]
    OtherCluster {
        /// The run being resumed.
        run_id: String,
        /// API server URL the profile's kubeconfig points at now (redacted).
        now: String,
        /// UID of that cluster's `kube-system` namespace.
        now_uid: String,
        /// API server URL the run started on (as saved, redacted).
        then: String,
        /// UID of the `kube-system` namespace the run started on.
        then_uid: String,
    },
    /// The cluster could not be asked who it is.
    #[error("cannot resume run {run_id}: the cluster's identity could not be read: {message}")]
    Unreachable {
        /// The run being resumed.
        run_id: String,
        /// Why the identity could not be read (connection or API error).
        message: String,
        /// Exit 2 (the kubeconfig is missing) rather than 3.
        usage: bool,
    },
}

/// Checks, before any step of a resumed run, that the profile's cluster is the one the run
/// started on (same kube-system UID; API URLs compared with secrets redacted, as the saved
/// record is redacted). Skipped once the run's destroy or rebuild step has started: the
/// cluster is then expected to be a new one.
///
/// # Errors
/// [`ResumeRefused`] when it is another cluster or its identity cannot be read.
pub async fn check_resume_identity(
    profile: &Profile,
    record: &RunRecord,
    redactor: &Redactor,
) -> Result<(), ResumeRefused> {
    let Some(then) = &record.identity else {
        return Ok(());
    };
    let moved_on = record
        .steps
        .iter()
        .any(|s| matches!(s.kind.as_str(), "destroy" | "rebuild") && s.started_at.is_some());
    if moved_on {
        return Ok(());
    }
    let unreachable = |message: String, usage: bool| ResumeRefused::Unreachable {
        run_id: record.run_id.clone(),
        message,
        usage,
    };
    let conn = crate::cluster::connect(
        &kubeconfig_source(profile),
        std::time::Duration::from_secs(60),
    )
    .await
    .map_err(|e| {
        let usage = matches!(e, crate::cluster::ClusterError::KubeconfigMissing { .. });
        unreachable(e.to_string(), usage)
    })?;
    for s in &conn.secrets {
        redactor.add(s);
    }
    let now = crate::cluster::identity(&conn, &crate::cluster::RetryStats::default())
        .await
        .map_err(|e| unreachable(e.to_string(), false))?;
    let same = now.kube_system_uid == then.kube_system_uid
        && redactor.redact(&now.api_server) == redactor.redact(&then.api_server);
    if same {
        Ok(())
    } else {
        Err(ResumeRefused::OtherCluster {
            run_id: record.run_id.clone(),
            now: redactor.redact(&now.api_server).into_owned(),
            now_uid: now.kube_system_uid,
            then: redactor.redact(&then.api_server).into_owned(),
            then_uid: then.kube_system_uid.clone(),
        })
    }
}

/// Whether `id` is a run id: a UUID in its hyphenated form, as [`run_drill`] makes them. Run
/// ids name folders and S3 keys, so anything else (`../x`) is refused before it is joined
/// into a path.
pub fn is_run_id(id: &str) -> bool {
    Uuid::try_parse(id).is_ok_and(|u| u.hyphenated().to_string() == id.to_ascii_lowercase())
}

/// Path of a run's state file.
pub fn state_path(out_dir: &Path, run_id: &str) -> PathBuf {
    out_dir.join(run_id).join("run.json")
}

/// Runs the drill with the step library [`Steps`] and returns its record; the record is also
/// saved after every step.
pub async fn run_drill(req: DrillRequest, sink: &mut dyn EventSink) -> RunRecord {
    let mut record = match req.resume {
        Some(r) => r,
        None => RunRecord::new(
            Uuid::new_v4().to_string(),
            &req.scenario.name,
            &req.profile.name,
            &req.profile.name,
        ),
    };
    record.rto_target_seconds = req.scenario.rto_target.map(|d| d.as_secs_f64());
    record.rpo_target_seconds = req.scenario.rpo_target.map(|d| d.as_secs_f64());
    let state = StatePaths {
        local: state_path(&req.out_dir, &record.run_id),
    };
    let kubeconfig = kubeconfig_source(&req.profile);
    let mut ctx = DrillContext::new(
        req.profile,
        req.scenario,
        record,
        kubeconfig,
        req.allow_destroy,
        req.redactor,
        req.cancel,
    );
    ctx.s3_keys = req.s3_keys;
    run_steps(&mut ctx, &Steps, sink, &state).await
}
