//! Proof that a destroyed cluster is gone.
//!
//! After a destroy hook, the only evidence that the old cluster no longer answers as itself is:
//! its API address refuses TCP connections, its DNS name no longer resolves, a TCP connect to
//! it times out (or the network says there is no route), or the API there answers with a
//! *different* identity (another `kube-system` UID: a rebuilt or other cluster). An HTTP answer
//! that is not an identity — a 5xx of an API server restarting behind its load balancer, a
//! 401/403 of rotated credentials, a slow or cut-off answer — proves nothing: the cluster may
//! still be up. [`probe`] tells the three cases apart; the destroy step retries the inconclusive
//! ones until its deadline.

use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;

use super::connect::{connect_at, KubeconfigSource};
use crate::cluster::ClusterIdentity;

/// How long one TCP connect may take before it counts as "connect timed out" evidence.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the identity request may take; a slower answer is inconclusive, never proof.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(8);

/// Why a cluster counts as gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// Every address of the API server refused the TCP connection.
    ConnectionRefused {
        /// The `ip:port` address (the first of the resolved ones that gave this evidence).
        address: String,
    },
    /// The API server's host name no longer resolves.
    DnsGone {
        /// The API server's host name.
        host: String,
        /// The resolver's error.
        message: String,
    },
    /// TCP connects to the API server timed out.
    ConnectTimeout {
        /// The `ip:port` address (the first of the resolved ones that gave this evidence).
        address: String,
    },
    /// The network reports no route to the API server.
    NoRoute {
        /// The `ip:port` address (the first of the resolved ones that gave this evidence).
        address: String,
        /// The operating system's error (`EHOSTUNREACH`, `ENETUNREACH`).
        message: String,
    },
    /// The API there answers as another cluster.
    DifferentIdentity {
        /// The `kube-system` namespace UID the API answered with now.
        kube_system_uid: String,
    },
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Evidence::ConnectionRefused { address } => {
                write!(f, "TCP connection refused at {address}")
            }
            Evidence::DnsGone { host, message } => {
                write!(f, "DNS name {host} no longer resolves ({message})")
            }
            Evidence::ConnectTimeout { address } => write!(
                f,
                "TCP connect to {address} timed out after {}s",
                CONNECT_TIMEOUT.as_secs()
            ),
            Evidence::NoRoute { address, message } => {
                write!(f, "no route to {address} ({message})")
            }
            Evidence::DifferentIdentity { kube_system_uid } => write!(
                f,
                "the API answers as a different cluster (kube-system UID {kube_system_uid})"
            ),
        }
    }
}

/// One look at the old cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// Proof that it no longer answers as itself.
    Gone(Evidence),
    /// It answers with the recorded `kube-system` UID: it is still up.
    StillUp,
    /// Something answers, but not with an identity (5xx, 401/403, slow, cut off…): what was
    /// seen. No proof either way.
    Inconclusive(String),
}

/// `host` and `port` of an API server URL (`https://h:6443`, port defaulting to the scheme's).
///
/// # Errors
/// A message when `url` has no host.
pub(crate) fn host_port(url: &str) -> Result<(String, u16), String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("API server URL {url:?} does not parse: {e}"))?;
    if !matches!(uri.scheme_str(), Some("https" | "http")) {
        // e.g. a redacted `***`, which would otherwise "resolve" to nothing and look gone
        return Err(format!("API server URL {url:?} is not an http(s) URL"));
    }
    let host = uri
        .host()
        .ok_or_else(|| format!("API server URL {url:?} has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("http") {
            80
        } else {
            443
        });
    Ok((host, port))
}

/// Looks at the old cluster once: TCP first (refused, unresolvable, timed out or unroutable is
/// proof), then — when something accepts connections — its identity over HTTP, using the
/// kubeconfig's credentials against the *recorded* API address. `client` caches that
/// connection between looks, so a kubeconfig command (`tofu output …`) runs once per proof,
/// not once per look.
pub async fn probe(
    old: &ClusterIdentity,
    kubeconfig: &KubeconfigSource,
    client: &mut Option<kube::Client>,
) -> Observation {
    let (host, port) = match host_port(&old.api_server) {
        Ok(hp) => hp,
        Err(e) => return Observation::Inconclusive(e),
    };
    if let Some(evidence) = tcp_evidence(&host, port).await {
        return Observation::Gone(evidence);
    }
    identity_at(old, kubeconfig, client).await
}

/// Evidence from DNS and TCP alone; None when some address accepted a connection (or the
/// answer was ambiguous, such as a temporary DNS failure).
async fn tcp_evidence(host: &str, port: u16) -> Option<Evidence> {
    let addrs: Vec<SocketAddr> =
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::lookup_host((host, port))).await {
            Err(_) => return None, // a slow resolver is no proof
            Ok(Err(e)) => {
                let message = e.to_string();
                // EAI_AGAIN: the resolver could not answer now, which says nothing about the name.
                let temporary = message.contains("Temporary failure") || message.contains("again");
                return (!temporary).then(|| Evidence::DnsGone {
                    host: host.to_string(),
                    message,
                });
            }
            Ok(Ok(addrs)) => addrs.collect(),
        };
    let mut first: Option<Evidence> = None;
    for addr in &addrs {
        let address = addr.to_string();
        let evidence =
            match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr)).await
            {
                Ok(Ok(_stream)) => return None,
                Err(_) => Evidence::ConnectTimeout { address },
                Ok(Err(e)) => match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => {
                        Evidence::ConnectionRefused { address }
                    }
                    std::io::ErrorKind::HostUnreachable
                    | std::io::ErrorKind::NetworkUnreachable => Evidence::NoRoute {
                        address,
                        message: e.to_string(),
                    },
                    // Anything else (a reset, too many open files…) is no proof.
                    _ => return None,
                },
            };
        first.get_or_insert(evidence);
    }
    first
}

/// Asks the API at the recorded address for `kube-system`'s UID.
async fn identity_at(
    old: &ClusterIdentity,
    kubeconfig: &KubeconfigSource,
    client: &mut Option<kube::Client>,
) -> Observation {
    let client = match client {
        Some(c) => c.clone(),
        None => {
            match connect_at(kubeconfig, Duration::from_secs(30), Some(&old.api_server)).await {
                Ok(conn) => client.insert(conn.client).clone(),
                Err(e) => {
                    return Observation::Inconclusive(format!(
                        "the API accepts connections, but its identity could not be asked: {e}"
                    ))
                }
            }
        }
    };
    let api: Api<Namespace> = Api::all(client);
    match tokio::time::timeout(ANSWER_TIMEOUT, api.get("kube-system")).await {
        Err(_) => Observation::Inconclusive(format!(
            "the API accepts connections but gave no answer within {}s",
            ANSWER_TIMEOUT.as_secs()
        )),
        Ok(Ok(ns)) => {
            let uid = ns.metadata.uid.unwrap_or_default();
            if uid == old.kube_system_uid {
                Observation::StillUp
            } else {
                Observation::Gone(Evidence::DifferentIdentity {
                    kube_system_uid: uid,
                })
            }
        }
        Ok(Err(kube::Error::Api(status))) => Observation::Inconclusive(format!(
            "the API answers HTTP {} {} ({})",
            status.code, status.reason, status.message
        )),
        Ok(Err(e)) => Observation::Inconclusive(format!("the API answers, but: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_of_api_urls() {
        assert_eq!(
            host_port("https://10.0.0.1:6443").unwrap(),
            ("10.0.0.1".to_string(), 6443)
        );
        assert_eq!(
            host_port("https://api.example.internal").unwrap(),
            ("api.example.internal".to_string(), 443)
        );
        assert_eq!(
            host_port("http://[::1]:8080").unwrap(),
            ("::1".to_string(), 8080)
        );
        assert!(host_port("***").is_err());
    }

    #[tokio::test]
    async fn a_closed_port_is_refused_and_an_open_one_is_no_proof() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(tcp_evidence("127.0.0.1", port).await, None);
        drop(listener);
        assert!(matches!(
            tcp_evidence("127.0.0.1", port).await,
            Some(Evidence::ConnectionRefused { .. })
        ));
    }

    #[tokio::test]
    async fn an_unresolvable_name_is_gone() {
        // `.invalid` never resolves (RFC 2606).
        let got = tcp_evidence("cluster-gone.invalid", 6443).await;
        assert!(
            matches!(got, Some(Evidence::DnsGone { .. }) | None),
            "{got:?}"
        );
    }
}
