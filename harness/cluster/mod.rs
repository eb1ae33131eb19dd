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
    /// The kubeconfig could not be read, run or parsed, or names no usable context.
    #[error("kubeconfig from {origin}: {message}")]
    Kubeconfig {
        /// Where it came from: the file path, or the command line that printed it.
        origin: String,
        /// What was wrong, as the kubeconfig reader or the command reported it.
        message: String,
    },
    /// The profile names a kubeconfig file that does not exist: a configuration error (exit 2),
    /// not an unreachable cluster.
    #[error("kubeconfig file {path} does not exist; fix [kubeconfig] path in the profile (or KUBECONFIG)")]
    KubeconfigMissing {
        /// The path as the profile (or `KUBECONFIG`) gave it.
        path: String,
    },
    /// A Kubernetes API request failed (after the counted retries of transient errors).
    #[error("kubernetes API at {api_server}: {source}")]
    Api {
        /// API server URL, as the kubeconfig names it.
        api_server: String,
        /// The last error `kube` returned.
        #[source]
        source: kube::Error,
    },
    /// A command run through the pod exec subresource could not start, lost its stream or
    /// timed out (see [`exec::exec`]).
    #[error("exec in pod {namespace}/{pod}: {message}")]
    Exec {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        pod: String,
        /// What went wrong, including the command.
        message: String,
    },
    /// The API refused to list or watch: a missing RBAC grant, which no retry fixes.
    #[error("forbidden while waiting for {what}: grant list and watch on {resource} to this identity ({message})")]
    Forbidden {
        /// What the wait was for, in words, as the caller named it.
        what: String,
        /// The resource URL watched
        /// (`/apis/longhorn.io/v1beta2/namespaces/longhorn-system/volumes`).
        resource: String,
        /// The API server's refusal message.
        message: String,
    },
    /// A wait for a condition ran out of time.
    #[error("timed out after {seconds:.0}s waiting for {what}; last seen: {last_seen}")]
    WaitTimeout {
        /// What the wait was for, in words.
        what: String,
        /// How long it waited, in seconds.
        seconds: f64,
        /// The last state seen of the object waited on, so the report says how far it got.
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
