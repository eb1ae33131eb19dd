//! The HTTP front end: binds 127.0.0.1, serves HTTPS and plain HTTP on one port (see
//! `super::tls`), checks the credentials, applies injected faults, records every request, and
//! hands each request to the discovery, resource, watch, log and exec handlers. What those share
//! (state, replies, request parsing, authentication) is in `super::http`.
//!
//! Authentication (see `super::http`): `Authorization: Bearer <token>`, which kube-rs and
//! kubectl send over HTTPS from the kubeconfig's `user.token` — the default context of
//! [`ApiServer::kubeconfig_yaml`], as a real cluster's kubeconfig, serves every kubectl
//! command, `kubectl get --raw` and `exec` included. For older callers over plain HTTP, where
//! client-go sends no kubeconfig credential, two more are accepted: the path prefix
//! `/sandbox-auth/<token>` (stripped before routing) and `Authorization: Basic` with the token
//! as password (the kubeconfig's `<context>-basic` context puts it into the URL's user info).
//!
//! Choice for [`ApiServer::mutating_requests`]: see [`RequestRecord::is_mutating`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
pub use super::faults::ApiFaults;
pub use super::http::RequestRecord;
use super::http::{
    authorized, error_response, header_str, is_public, json_response, not_found_path, opt_json,
    read_body, strip_auth_prefix, text_response, Ctx,
};
use super::runtime::PodRuntime;
use super::store::Store;
pub use super::tls::TlsIdentity;
use super::{discovery, handlers};

/// How to run an [`ApiServer`].
pub struct ApiServerOptions {
    /// Where to listen; `127.0.0.1:0` picks a free port.
    pub bind: SocketAddr,
    /// The bearer token every request except `/readyz`, `/livez`, `/healthz`, `/version` must
    /// carry.
    pub token: String,
    /// Runs `pods/exec` commands and serves `pods/log`.
    pub runtime: Arc<dyn PodRuntime>,
    /// Fault switches (shared with whoever injects faults).
    pub faults: Arc<ApiFaults>,
    /// Cluster name written into the generated kubeconfig.
    pub cluster_name: String,
    /// The CA and serving certificate; `None` makes new ones for this start. Pass a previous
    /// server's [`ApiServer::tls`] to restart on the same address with kubeconfigs written for
    /// it still valid.
    pub tls: Option<TlsIdentity>,
}

/// A running sandbox API server.
pub struct ApiServer {
    ctx: Arc<Ctx>,
    cluster_name: String,
    tls: TlsIdentity,
    task: tokio::task::JoinHandle<()>,
}

/// How many request records [`ApiServer::request_log`] keeps (oldest dropped first).
pub const REQUEST_LOG_CAPACITY: usize = 100_000;

/// The user name of the server URL's user info (any name is accepted; the token is the password).
const BASIC_USER: &str = "sandbox";

/// Faults, authentication, `Audit-Id` and the request log, around every request.
async fn gate(State(ctx): State<Arc<Ctx>>, mut req: Request, next: Next) -> Response {
    let at = SystemTime::now();
    let prefixed = strip_auth_prefix(&mut req, &ctx.token);
    let method = req.method().to_string();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut resp = if ctx.faults.is_unavailable() {
        error_response(&ApiError::unavailable(
            "the server is currently unable to handle the request (injected fault)",
        ))
    } else if !prefixed && !is_public(req.uri().path()) && !authorized(req.headers(), &ctx.token) {
        if req.headers().contains_key(header::AUTHORIZATION) {
            error_response(&ApiError::unauthorized())
        } else {
            // No credentials at all: typically kubectl pointed at the plain-HTTP URL, where
            // client-go sends none of the kubeconfig's.
            error_response(&ApiError::new(
                401,
                "Unauthorized",
                "Unauthorized: no credentials; kubectl sends none to an http:// server: use the sandbox kubeconfig's default context (https with its CA and bearer token)",
            ))
        }
    } else {
        next.run(req).await
    };
    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        resp.headers_mut().insert("audit-id", v);
    }
    let record = RequestRecord {
        method,
        path_and_query,
        status: resp.status().as_u16(),
        at,
        user_agent,
    };
    ctx.log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(record);
    resp
}

/// Routes one request by path (Kubernetes paths are too irregular for a static router).
async fn dispatch(State(ctx): State<Arc<Ctx>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let get = req.method() == Method::GET;
    match segs.as_slice() {
        ["readyz" | "livez" | "healthz"] => text_response(200, "ok".into()),
        ["version"] if get => json_response(200, &discovery::version()),
        ["api"] if get => json_response(200, &discovery::api_versions(&ctx.addr.to_string())),
        ["apis"] if get => json_response(200, &discovery::api_group_list()),
        ["api", "v1"] if get => opt_json(discovery::resource_list("", "v1")),
        ["apis", g] if get => opt_json(discovery::api_group(g)),
        ["apis", g, v] if get => opt_json(discovery::resource_list(g, v)),
        ["openapi", "v3"] if get => json_response(200, &discovery::openapi_v3_index()),
        ["openapi", "v2"] if get => {
            let accept = header_str(req.headers(), header::ACCEPT);
            if accept.is_empty() || accept.contains("json") || accept.contains("*/*") {
                json_response(200, &super::openapi::v2_document())
            } else {
                error_response(&ApiError::new(
                    406,
                    "NotAcceptable",
                    "only application/json is served for /openapi/v2",
                ))
            }
        }
        ["openapi", "v3", "api", v] if get => opt_json(discovery::openapi_v3_group(
            "",
            v,
            ctx.store.crds().as_deref(),
        )),
        ["openapi", "v3", "apis", g, v] if get => opt_json(discovery::openapi_v3_group(
            g,
            v,
            ctx.store.crds().as_deref(),
        )),
        ["api", "v1", "namespaces", ns, "services", svc, "proxy", ..] => {
            let (ns, svc) = (ns.to_string(), svc.to_string());
            let prefix = format!("/api/v1/namespaces/{ns}/services/{svc}/proxy");
            serve_proxy(&ctx, &ns, &svc, &prefix, req).await
        }
        ["apis", g, v, plural]
            if req.method() == Method::POST && super::reviews::resources(g, v).is_some() =>
        {
            let (g, v, plural) = (g.to_string(), v.to_string(), plural.to_string());
            let body = match read_body(req.into_body()).await {
                Ok(b) => b,
                Err(e) => return error_response(&e),
            };
            match super::reviews::answer(&g, &v, &plural, &body) {
                Some(Ok(review)) => json_response(201, &review),
                Some(Err(e)) => error_response(&e),
                None => error_response(&not_found_path()),
            }
        }
        ["api", "v1", ..] | ["apis", _, _, ..] => handlers::resource(ctx.clone(), req).await,
        _ => error_response(&not_found_path()),
    }
}

/// The service proxy (see [`super::proxy`]): the Service must exist, then its registered
/// backend answers.
async fn serve_proxy(ctx: &Ctx, ns: &str, seg: &str, prefix: &str, req: Request) -> Response {
    let (name, port) = super::proxy::parse_service_segment(seg);
    if ctx
        .store
        .get(&super::resources::SERVICES, Some(ns), &name)
        .is_none()
    {
        return error_response(&ApiError::new(
            404,
            "NotFound",
            format!("services \"{name}\" not found"),
        ));
    }
    let backend = ctx
        .services
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&(ns.to_string(), name.clone()))
        .filter(|(p, _)| port.is_none_or(|want| want == *p))
        .map(|(_, b)| b.clone());
    let Some(backend) = backend else {
        return error_response(&ApiError::new(
            503,
            "ServiceUnavailable",
            format!("no endpoints available for service \"{name}\""),
        ));
    };
    let method = req.method().to_string();
    let path = req
        .uri()
        .path()
        .strip_prefix(prefix)
        .unwrap_or("")
        .to_string();
    let query = req.uri().query().map(str::to_string);
    let body = match read_body(req.into_body()).await {
        Ok(b) => b,
        Err(e) => return error_response(&e),
    };
    let path = if path.is_empty() {
        "/".to_string()
    } else {
        path
    };
    let answer = backend
        .handle(super::proxy::ProxyRequest {
            method,
            path,
            query,
            body,
        })
        .await;
    json_response(answer.status, &answer.body)
}

impl ApiServer {
    /// Binds `opts.bind` and serves in a background task until [`ApiServer::shutdown`].
    ///
    /// # Errors
    /// The bind error (e.g. address in use).
    pub async fn start(store: Arc<Store>, opts: ApiServerOptions) -> std::io::Result<ApiServer> {
        let listener = tokio::net::TcpListener::bind(opts.bind).await?;
        let addr = listener.local_addr()?;
        let tls = match opts.tls {
            Some(tls) => tls,
            None => TlsIdentity::generate(addr.ip())?,
        };
        let shutdown = CancellationToken::new();
        let ctx = Arc::new(Ctx {
            store,
            token: opts.token,
            runtime: opts.runtime,
            faults: opts.faults,
            shutdown: shutdown.clone(),
            log: Mutex::new(Vec::new()),
            addr,
            services: Mutex::new(Default::default()),
        });
        let app = Router::new()
            .fallback(dispatch)
            .layer(axum::middleware::from_fn_with_state(ctx.clone(), gate))
            .with_state(ctx.clone());
        let task = tokio::spawn(super::tls::serve(
            listener,
            app,
            tls.acceptor.clone(),
            shutdown,
        ));
        Ok(ApiServer {
            ctx,
            cluster_name: opts.cluster_name,
            tls,
            task,
        })
    }

    /// The plain-HTTP base URL, `http://127.0.0.1:PORT` (the sandbox's own callers; clients
    /// must send the token as a bearer header, see the module docs).
    pub fn url(&self) -> String {
        format!("http://{}", self.ctx.addr)
    }

    /// The HTTPS base URL on the same port, `https://127.0.0.1:PORT`; its certificate is signed
    /// by [`ApiServer::ca_pem`].
    pub fn https_url(&self) -> String {
        format!("https://{}", self.ctx.addr)
    }

    /// The PEM of the CA (made at this start) that signed the serving certificate, whose SANs
    /// are `localhost`, `127.0.0.1` and the bound IP.
    pub fn ca_pem(&self) -> &str {
        self.tls.ca_pem()
    }

    /// The CA and serving certificate, to start a later server with the same ones
    /// ([`ApiServerOptions::tls`]).
    pub fn tls(&self) -> TlsIdentity {
        self.tls.clone()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.ctx.addr
    }

    /// A kubeconfig for this server, as a real cluster's: cluster `cluster_name` at
    /// [`ApiServer::https_url`] with `certificate-authority-data` (base64 of
    /// [`ApiServer::ca_pem`]), one user `<cluster_name>-admin` with the bearer token, and context
    /// `context` (namespace `default`), the current context; every kubectl command works
    /// through it. A second context, `<context>-basic` (cluster `<cluster_name>-basic`), kept
    /// for older callers, reaches the same port over plain HTTP with the token as user info
    /// in the URL (`http://sandbox:<token>@…`, sent as Basic auth); kubectl's WebSocket dialer
    /// refuses it for `exec` ("malformed ws or wss URL").
    pub fn kubeconfig_yaml(&self, context: &str) -> String {
        use base64::Engine as _;
        let cluster = &self.cluster_name;
        let token = &self.ctx.token;
        let url = self.https_url();
        let ca = base64::engine::general_purpose::STANDARD.encode(self.ca_pem());
        let basic_url = format!("http://{BASIC_USER}:{token}@{}", self.ctx.addr);
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {cluster}\n  cluster:\n    server: {url}\n    certificate-authority-data: {ca}\n- name: {cluster}-basic\n  cluster:\n    server: {basic_url}\ncontexts:\n- name: {context}\n  context:\n    cluster: {cluster}\n    user: {cluster}-admin\n    namespace: default\n- name: {context}-basic\n  context:\n    cluster: {cluster}-basic\n    user: {cluster}-admin\n    namespace: default\ncurrent-context: {context}\nusers:\n- name: {cluster}-admin\n  user:\n    token: {token}\npreferences: {{}}\n",
        )
    }

    /// Serves `/api/v1/namespaces/<ns>/services/<name>[:<port>]/proxy/…` from `backend` (the
    /// Service object must exist in the store too). Registering again replaces the backend.
    pub fn register_service(
        &self,
        namespace: &str,
        name: &str,
        port: u16,
        backend: Arc<dyn super::proxy::ServiceBackend>,
    ) {
        self.ctx
            .services
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((namespace.to_string(), name.to_string()), (port, backend));
    }

    /// Every request served so far, oldest first.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.ctx
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The mutating requests served so far (see [`RequestRecord::is_mutating`]).
    pub fn mutating_requests(&self) -> Vec<RequestRecord> {
        self.request_log()
            .into_iter()
            .filter(RequestRecord::is_mutating)
            .collect()
    }

    /// Forgets the request log (e.g. between drill phases).
    pub fn clear_request_log(&self) {
        self.ctx
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Stops accepting connections, closes open watches and exec sessions, and waits (at most
    /// 5 s) for the server task to end.
    pub async fn shutdown(self) {
        self.ctx.shutdown.cancel();
        let mut task = self.task;
        if tokio::time::timeout(Duration::from_secs(5), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}
