//! The names of the sandbox cluster, spelled once.
//!
//! The sandbox creates these objects and files (`bootstrap.rs`, `lifecycle.rs`); the harness's
//! built-in `sandbox` profile (`dr_harness::config::Profile::builtin_sandbox`) expects them and
//! `dr-harness sandbox up` / `run` without a profile wait for them. Changing one here changes
//! both sides together.

/// The kubeconfig context and cluster name, the profile name and the drill-target marker's
/// `cluster` value.
pub const CLUSTER_NAME: &str = "sandbox";

/// The S3 bucket of the sandbox's backup target.
pub const BUCKET: &str = "dr-sandbox-backups";

/// The kubeconfig file in the state folder (rewritten by every rebuild).
pub const KUBECONFIG_FILE: &str = "kubeconfig";
/// The state file in the state folder: JSON with `kubeconfig`, `api_url`, `s3_endpoint`,
/// `bucket`, `region`, `backup_target_url`, `control_url`, `pid`.
pub const STATE_FILE: &str = "sandbox.json";
/// The `AWS_*` variables of the S3 server (endpoint and keys), for `source`.
pub const S3_ENV_FILE: &str = "s3.env";
/// The control endpoint's URL and bearer token (read by `dr-harness sandbox down|destroy|…`).
pub const CONTROL_FILE: &str = "control.json";

/// The nodes every sandbox cluster registers, in order.
pub const NODE_NAMES: [&str; 3] = ["node-1", "node-2", "node-3"];

/// The namespace Longhorn lives in.
pub const LONGHORN_NAMESPACE: &str = "longhorn-system";
/// The BackupTarget every sandbox uses (Longhorn creates `default`).
pub const BACKUP_TARGET: &str = "default";
/// The Longhorn StorageClass (the cluster's default class).
pub const STORAGE_CLASS: &str = "longhorn";
/// The Longhorn backup credential Secret in [`LONGHORN_NAMESPACE`] (longhorn-facts.md §5).
pub const CREDENTIAL_SECRET: &str = "longhorn-backup-credentials";
/// The Deployment the harness expects among the system pods (by name prefix).
pub const DNS_DEPLOYMENT: &str = "coredns";

/// Namespace and name of the drill-target marker ConfigMap.
pub const DRILL_TARGET_MARKER: (&str, &str) = ("kube-system", "dr-harness-drill-target");

/// The namespace of the Flux objects (Kustomizations, `cluster-config`).
pub const FLUX_NAMESPACE: &str = "flux-system";
/// The Kustomization that reports Longhorn's health.
pub const LONGHORN_KUSTOMIZATION: &str = "longhorn";
/// The Kustomization of the restore orchestrator (dependsOn [`LONGHORN_KUSTOMIZATION`]).
pub const ORCHESTRATOR_KUSTOMIZATION: &str = "longhorn-restore-orchestrator";
/// The Kustomization of the sentinel workload (dependsOn [`ORCHESTRATOR_KUSTOMIZATION`]); its
/// Ready condition ends the bootstrap.
pub const SENTINEL_KUSTOMIZATION: &str = "dr-exercise";
/// The Kustomizations in bootstrap order.
pub const KUSTOMIZATIONS: [&str; 3] = [
    LONGHORN_KUSTOMIZATION,
    ORCHESTRATOR_KUSTOMIZATION,
    SENTINEL_KUSTOMIZATION,
];

/// Namespace and name of the restore-orchestrator Job (fixtures/restore-orchestrator/job.yaml).
pub const ORCHESTRATOR_JOB: (&str, &str) = (LONGHORN_NAMESPACE, "longhorn-restore-orchestrator");

#[cfg(test)]
mod tests {
    use super::*;

    /// The Job name is written in the fixture the sandbox applies; the two must agree.
    #[test]
    fn orchestrator_job_matches_the_fixture() {
        let job: serde_json::Value =
            serde_yaml::from_str(include_str!("../../fixtures/restore-orchestrator/job.yaml"))
                .expect("job.yaml parses");
        assert_eq!(job["kind"], "Job");
        assert_eq!(job["metadata"]["namespace"], ORCHESTRATOR_JOB.0);
        assert_eq!(job["metadata"]["name"], ORCHESTRATOR_JOB.1);
    }
}
