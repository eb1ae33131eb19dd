//! The API server's service proxy (`/api/v1/namespaces/<ns>/services/<svc>[:<port>]/proxy/…`),
//! which `kubectl proxy`, dashboards and the harness use to reach an in-cluster HTTP service
//! with the cluster credentials only.
//!
//! A real API server forwards to one of the Service's endpoints; the sandbox has no pod network,
//! so an in-process [`ServiceBackend`] registered for the Service answers instead (today:
//! the simulated longhorn-manager behind `longhorn-system/longhorn-backend:9500`). As in
//! Kubernetes, the Service object must exist (404 otherwise) and a Service without a backend
//! answers 503 "no endpoints available". Simplifications: the `[scheme:]name[:port]` form is
//! accepted but the scheme is ignored; response headers other than JSON content are not kept.

use bytes::Bytes;
use futures::future::BoxFuture;
use serde_json::Value;

/// One proxied request as the backend sees it: the path after `/proxy` and the raw query.
#[derive(Debug, Clone)]
pub struct ProxyRequest {
    /// HTTP method, e.g. `"POST"`.
    pub method: String,
    /// Path below the proxy, starting with `/`, e.g. `/v1/volumes/vol-a`.
    pub path: String,
    /// Query string without `?`, e.g. `action=snapshotRevert`.
    pub query: Option<String>,
    /// Request body (JSON for longhorn-manager).
    pub body: Bytes,
}

/// The backend's answer: HTTP status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyResponse {
    /// HTTP status code.
    pub status: u16,
    /// JSON body.
    pub body: Value,
}

/// An in-process stand-in for a Service's pods.
pub trait ServiceBackend: Send + Sync + 'static {
    /// Answers one proxied request.
    fn handle(&self, req: ProxyRequest) -> BoxFuture<'static, ProxyResponse>;
}

/// Splits the proxy's service segment `[scheme:]name[:port]` into name and port (`None` when
/// absent or not a number).
pub fn parse_service_segment(seg: &str) -> (String, Option<u16>) {
    let parts: Vec<&str> = seg.split(':').collect();
    match parts.as_slice() {
        [name] => (name.to_string(), None),
        [name, port] => match port.parse() {
            Ok(p) => (name.to_string(), Some(p)),
            // `scheme:name`
            Err(_) => (port.to_string(), None),
        },
        [_, name, port, ..] => (name.to_string(), port.parse().ok()),
        [] => (String::new(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_segments_in_every_form() {
        assert_eq!(
            parse_service_segment("longhorn-backend:9500"),
            ("longhorn-backend".into(), Some(9500))
        );
        assert_eq!(
            parse_service_segment("longhorn-backend"),
            ("longhorn-backend".into(), None)
        );
        assert_eq!(
            parse_service_segment("http:longhorn-backend:9500"),
            ("longhorn-backend".into(), Some(9500))
        );
        assert_eq!(parse_service_segment("https:svc"), ("svc".into(), None));
    }
}
