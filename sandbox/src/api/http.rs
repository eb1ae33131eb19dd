//! What every HTTP handler of the API server shares: the handler state ([`Ctx`]), the request
//! record, replies (JSON, text, Status errors), request parsing (query [`Params`], the resource
//! [`Target`] of a path, bodies and their content types) and authentication.
//!
//! It sits below `server` (the router), `handlers` (resources), `watch` and `exec`, which all
//! import it and none of which it imports: that is what keeps the four out of an import circle.
//!
//! Authentication: a request is authenticated by `Authorization: Bearer <token>`, which kube-rs
//! and kubectl send from the kubeconfig's `user.token` over HTTPS (the generated kubeconfig's
//! default context). Over plain HTTP kubectl (client-go) sends no kubeconfig credential — it reads
//! them only when `rest.IsConfigTransportTLS` holds (kubernetes/client-go
//! `tools/clientcmd/client_config.go` `DirectClientConfig.ClientConfig`, "only try to read the
//! auth information if we are secure"; kubernetes/kubectl#744) — so for older callers of the
//! plain-HTTP URL two more are accepted: the path prefix `/sandbox-auth/<token>` (stripped
//! before routing) and `Authorization: Basic base64(<any user>:<token>)`, which Go's HTTP
//! client derives by itself from user info in the server URL (net/http `Client.send`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use super::faults::ApiFaults;
use super::proxy::ServiceBackend;
use super::resources::{self, ResourceType};
use super::runtime::PodRuntime;
use super::store::Store;

/// One served request, for "the harness made no mutating request" checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method, e.g. `"PATCH"`.
    pub method: String,
    /// Path and query, e.g. `"/api/v1/namespaces/default/pods?limit=500"`.
    pub path_and_query: String,
    /// HTTP status code of the response (101 for exec upgrades).
    pub status: u16,
    /// When the request arrived.
    pub at: SystemTime,
    /// The `User-Agent` header, `""` when absent.
    pub user_agent: String,
}

impl RequestRecord {
    /// Whether the request could change cluster state: POST, PUT, PATCH and DELETE, and also
    /// `pods/exec` and `pods/attach` requests whatever their method (kubectl and kube open
    /// exec as a WebSocket GET), because a command run in a pod can change its data.
    pub fn is_mutating(&self) -> bool {
        let path = self.path_and_query.split('?').next().unwrap_or("");
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
            || path.ends_with("/exec")
            || path.ends_with("/attach")
    }
}

/// Backends of the service proxy, by (namespace, Service name): port and backend.
pub(crate) type ServiceBackends =
    std::collections::HashMap<(String, String), (u16, Arc<dyn ServiceBackend>)>;

/// State shared by every handler.
pub(crate) struct Ctx {
    pub store: Arc<Store>,
    pub token: String,
    pub runtime: Arc<dyn PodRuntime>,
    pub faults: Arc<ApiFaults>,
    pub shutdown: CancellationToken,
    pub log: Mutex<Vec<RequestRecord>>,
    pub addr: SocketAddr,
    /// Service-proxy backends by (namespace, service name): port and backend.
    pub services: Mutex<ServiceBackends>,
}

// ---- replies ----

/// A JSON response with `Content-Type: application/json`.
pub(crate) fn json_response(code: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// The error as a `Status` response with its HTTP code.
pub(crate) fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.to_status())
}

/// A `text/plain` response.
pub(crate) fn text_response(code: u16, text: String) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    let mut resp = (status, text).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// The API server's 404 for a path it does not serve.
pub(crate) fn not_found_path() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

/// 200 with `v`, or [`not_found_path`] for `None`.
pub(crate) fn opt_json(v: Option<Value>) -> Response {
    match v {
        Some(v) => json_response(200, &v),
        None => error_response(&not_found_path()),
    }
}

// ---- requests ----

/// Query parameters in order, repeated keys kept (`command=a&command=b`).
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// The query of `uri`.
    ///
    /// # Errors
    /// 400 BadRequest for a malformed query string.
    pub fn parse(uri: &axum::http::Uri) -> Result<Self, ApiError> {
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map(|q| Params(q.0))
            .map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Whether `name` is `true`/`1`.
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true" | "1"))
    }

    /// `dryRun=All`.
    pub fn dry_run(&self) -> bool {
        self.get("dryRun") == Some("All")
    }
}

/// What a resource path names.
pub(crate) struct Target {
    pub rt: &'static ResourceType,
    pub ns: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

/// Parses the segments of `/api/{v}/…` or `/apis/{g}/{v}/…` into a [`Target`]: a
/// (namespaced) collection, one object, or one object's subresource.
///
/// # Errors
/// 404 for an unknown type, a namespaced object addressed without its namespace, or more
/// segments than a subresource.
pub(crate) fn parse_target(segs: &[&str]) -> Result<Target, ApiError> {
    let (group, version, rest) = match segs {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(not_found_path()),
    };
    let lookup = |plural: &str| resources::lookup(group, version, plural);
    let name_and_sub = |tail: &[&str]| match tail {
        [] => Ok((None, None)),
        [name] => Ok((Some(name.to_string()), None)),
        [name, sub] => Ok((Some(name.to_string()), Some(sub.to_string()))),
        _ => Err(not_found_path()),
    };
    match rest {
        ["namespaces", ns, plural, tail @ ..] if lookup(plural).is_some_and(|rt| rt.namespaced) => {
            let rt = lookup(plural).ok_or_else(not_found_path)?;
            let (name, sub) = name_and_sub(tail)?;
            Ok(Target {
                rt,
                ns: Some(ns.to_string()),
                name,
                sub,
            })
        }
        [plural, tail @ ..] => {
            let rt = lookup(plural).ok_or_else(not_found_path)?;
            let (name, sub) = name_and_sub(tail)?;
            // Namespaced objects are only addressable below /namespaces/{ns}/.
            if rt.namespaced && name.is_some() {
                return Err(not_found_path());
            }
            Ok(Target {
                rt,
                ns: None,
                name,
                sub,
            })
        }
        [] => Err(not_found_path()),
    }
}

/// A header as text, `""` when absent or not ASCII.
pub(crate) fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Reads a request body up to 64 MiB.
///
/// # Errors
/// 400 BadRequest when the body cannot be read or is larger.
pub(crate) async fn read_body(body: Body) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, 64 << 20)
        .await
        .map_err(|e| ApiError::bad_request(format!("error reading request body: {e}")))
}

/// kubectl's typed generators (`create configmap`, `create namespace`, `run`) send protobuf,
/// which the sandbox cannot decode without the Kubernetes schemas: answer 415 with a hint.
/// (`kubectl apply`, `patch`, `label`, `delete` and kube-rs send JSON.)
///
/// # Errors
/// 415 UnsupportedMediaType for a protobuf content type.
pub(crate) fn reject_protobuf(content_type: &str) -> Result<(), ApiError> {
    if content_type.contains("protobuf") {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            "the sandbox API server accepts JSON and YAML bodies only, not protobuf; use `kubectl apply -f` instead of typed `kubectl create` generators",
        ));
    }
    Ok(())
}

/// A JSON or YAML request body that must be an object.
///
/// # Errors
/// 400 BadRequest when it is neither, or not an object.
pub(crate) fn parse_object(body: &[u8]) -> Result<Value, ApiError> {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(je) => serde_yaml::from_slice(body)
            .map_err(|_| ApiError::bad_request(format!("error decoding request body: {je}")))?,
    };
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    Ok(v)
}

// ---- authentication ----

/// Path prefix that authenticates a request like a bearer token (see the module docs).
pub(crate) const AUTH_PREFIX: &str = "/sandbox-auth/";

/// Paths served without credentials, as kube-apiserver serves its health and version
/// endpoints to `system:anonymous`.
pub(crate) fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/readyz" | "/livez" | "/healthz" | "/version" | "/readyz/" | "/livez/" | "/healthz/"
    )
}

/// Whether the `Authorization` header carries the token: `Bearer <token>` (kube-rs), or
/// `Basic base64(<any user>:<token>)`, which Go's HTTP client sends by itself for a server URL
/// with user info (`http://sandbox:<token>@127.0.0.1:PORT`), even over plain HTTP where
/// client-go drops every kubeconfig credential (see the module docs).
pub(crate) fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    if let Some(t) = value.strip_prefix("Bearer ") {
        return t.trim() == token;
    }
    if let Some(b64) = value.strip_prefix("Basic ") {
        use base64::Engine as _;
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
            return false;
        };
        let Ok(text) = String::from_utf8(raw) else {
            return false;
        };
        return text.split_once(':').is_some_and(|(_, pw)| pw == token);
    }
    false
}

/// Strips `/sandbox-auth/<token>` from the URI; `true` when the prefix carried the right token.
pub(crate) fn strip_auth_prefix(req: &mut Request, token: &str) -> bool {
    let Some(pq) = req.uri().path_and_query().map(|p| p.as_str().to_string()) else {
        return false;
    };
    let Some(rest) = pq.strip_prefix(AUTH_PREFIX) else {
        return false;
    };
    let Some(after) = rest.strip_prefix(token) else {
        return false;
    };
    if !(after.is_empty() || after.starts_with('/') || after.starts_with('?')) {
        return false;
    }
    let new_pq = if after.starts_with('/') {
        after.to_string()
    } else {
        format!("/{after}")
    };
    let mut parts = req.uri().clone().into_parts();
    match new_pq.parse() {
        Ok(p) => parts.path_and_query = Some(p),
        Err(_) => return false,
    }
    match axum::http::Uri::from_parts(parts) {
        Ok(uri) => {
            *req.uri_mut() = uri;
            true
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_targets() {
        let t = parse_target(&["api", "v1", "namespaces", "d", "pods", "p", "exec"]).ok();
        let t = t.map(|t| (t.rt.kind, t.ns, t.name, t.sub));
        assert_eq!(
            t,
            Some((
                "Pod",
                Some("d".into()),
                Some("p".into()),
                Some("exec".into())
            ))
        );
        let ns = parse_target(&["api", "v1", "namespaces", "d", "status"]).ok();
        assert_eq!(
            ns.map(|t| (t.rt.kind, t.name, t.sub)),
            Some(("Namespace", Some("d".into()), Some("status".into())))
        );
        let lh = parse_target(&["apis", "longhorn.io", "v1beta2", "volumes"]).ok();
        assert_eq!(lh.map(|t| (t.rt.kind, t.ns)), Some(("Volume", None)));
        assert!(parse_target(&["api", "v1", "pods", "p"]).is_err());
        assert!(parse_target(&["api", "v1", "bogus"]).is_err());
        assert!(parse_target(&["api", "v1", "namespaces", "d", "pods", "p", "a", "b"]).is_err());
    }

    #[test]
    fn bearer_and_basic_credentials_carry_the_token() {
        use base64::Engine as _;
        let mut h = HeaderMap::new();
        assert!(!authorized(&h, "tok"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer tok"),
        );
        assert!(authorized(&h, "tok"));
        assert!(!authorized(&h, "other"));
        let basic = base64::engine::general_purpose::STANDARD.encode("anyone:tok");
        let v = HeaderValue::from_str(&format!("Basic {basic}")).ok();
        h.insert(
            header::AUTHORIZATION,
            v.unwrap_or(HeaderValue::from_static("")),
        );
        assert!(authorized(&h, "tok"));
    }

    #[test]
    fn the_auth_prefix_is_stripped_only_with_the_right_token() {
        let mut req = Request::new(Body::empty());
        *req.uri_mut() = "/sandbox-auth/tok/api/v1?x=1".parse().unwrap_or_default();
        assert!(strip_auth_prefix(&mut req, "tok"));
        assert_eq!(req.uri().to_string(), "/api/v1?x=1");
        let mut bad = Request::new(Body::empty());
        *bad.uri_mut() = "/sandbox-auth/tokX/api".parse().unwrap_or_default();
        assert!(!strip_auth_prefix(&mut bad, "tok"));
    }
}
