//! `dr-harness restore-orchestrator`.

use super::args::OrchestratorArgs;
use super::{EXIT_FAILED, EXIT_PASSED, EXIT_UNREACHABLE, EXIT_USAGE};
use crate::orchestrator::{self, OrchestratorOptions};

pub async fn run(a: OrchestratorArgs) -> i32 {
    let skip_flag = match a.skip_flag_configmap.as_deref().map(|s| s.split_once('/')) {
        None => None,
        Some(Some((ns, name))) => Some((ns.to_string(), name.to_string())),
        Some(None) => {
            eprintln!("error: --skip-flag-configmap takes NAMESPACE/NAME, e.g. flux-system/cluster-config");
            return EXIT_USAGE;
        }
    };
    let client = match kube::Client::try_default().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: no Kubernetes configuration (in-cluster or KUBECONFIG): {e}");
            return EXIT_UNREACHABLE;
        }
    };
    let opts = OrchestratorOptions {
        volumes: a.volumes,
        namespace: a.namespace,
        skip_flag,
        replicas: a.replicas,
        timeout: a.timeout,
        storage_class: a.storage_class,
    };
    match orchestrator::run(client, &opts, |line| println!("{line}")).await {
        Ok(_) => EXIT_PASSED,
        Err(e) => {
            eprintln!("error: restore orchestration failed: {e}");
            EXIT_FAILED
        }
    }
}
