//! Talking to the cluster through the Kubernetes API (`kube`): connecting, identity, exec, waits
//! and counted retries.

pub mod connect;
pub mod exec;
pub mod gone;
pub mod progress;
pub mod retry;
pub mod wait;

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;

pub use connect::{connect, Connection, KubeconfigSource};
pub use retry::RetryStats;

use serde::{Deserialize, Serialize};

/// Who the cluster is: recorded at preflight, re-checked right before a destroy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterIdentity {
    /// API server URL from the kubeconfig.
    pub api_server: String,
    /// `metadata.uid` of the `kube-system` Namespace: stable for the life of a cluster, new after
    /// a rebuild.
    pub kube_system_uid: String,
}

/// Errors talking to a cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("kubeconfig from {origin}: {message}")]
    Kubeconfig { origin: String, message: String },
    /// The profile names a kubeconfig file that does not exist: a configuration error (exit 2),
    /// not an unreachable cluster.
    #[error("kubeconfig file {path} does not exist; fix [kubeconfig] path in the profile (or KUBECONFIG)")]
    KubeconfigMissing { path: String },
    #[error("kubernetes API at {api_server}: {source}")]
    Api {
        api_server: String,
        #[source]
        source: kube::Error,
    },
    #[error("exec in pod {namespace}/{pod}: {message}")]
    Exec {
        namespace: String,
        pod: String,
        message: String,
    },
    /// The API refused to list or watch: a missing RBAC grant, which no retry fixes.
    #[error("forbidden while waiting for {what}: grant list and watch on {resource} to this identity ({message})")]
    Forbidden {
        what: String,
        resource: String,
        message: String,
    },
    #[error("timed out after {seconds:.0}s waiting for {what}; last seen: {last_seen}")]
    WaitTimeout {
        what: String,
        seconds: f64,
        last_seen: String,
    },
}

/// Reads the cluster's identity: API server URL and the `kube-system` namespace UID, which a
/// rebuilt or different cluster does not share.
///
/// # Errors
/// [`ClusterError::Api`] when the namespace cannot be read.
pub async fn identity(
    conn: &Connection,
    stats: &RetryStats,
) -> Result<ClusterIdentity, ClusterError> {
    let api: Api<Namespace> = Api::all(conn.client.clone());
    let ns = retry::with_retry(stats, "api", || api.get("kube-system"))
        .await
        .map_err(|source| ClusterError::Api {
            api_server: conn.api_server.clone(),
            source,
        })?;
    Ok(ClusterIdentity {
        api_server: conn.api_server.clone(),
        kube_system_uid: ns.metadata.uid.unwrap_or_default(),
    })
}
