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
use crate::engine::s3::StaticKeys;
use crate::redact::Redactor;

/// Everything needed to run one drill.
pub struct DrillRequest {
    pub profile: Profile,
    pub scenario: Scenario,
    /// `--allow-destroy` given.
    pub allow_destroy: bool,
    /// Reports folder; the run state goes to `<out>/<run-id>/run.json`.
    pub out_dir: PathBuf,
    /// Static S3 keys (the embedded sandbox); None uses the profile's credentials.
    pub s3_keys: Option<StaticKeys>,
    /// A previous record to resume (`--resume`).
    pub resume: Option<RunRecord>,
    pub redactor: Redactor,
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

/// Path of a run's state file.
pub fn state_path(out_dir: &Path, run_id: &str) -> PathBuf {
    out_dir.join(run_id).join("run.json")
}

/// Runs the drill and returns its record; the record is also saved after every step.
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
    run_steps(&mut ctx, sink, &state).await
}
