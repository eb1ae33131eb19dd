//! The API server's transport: HTTPS with the CA the kubeconfig carries (checked: a client that
//! does not trust that CA, or asks for another name, is refused), plain HTTP on the same port,
//! and the real kubectl through the kubeconfig's default context only — `get --raw`, `get`,
//! `auth whoami`, `exec` and `logs`, which client-go sends credentials for only over HTTPS.
//! A missing kubectl fails under `CI=true` and is skipped (loudly) elsewhere.

#[path = "api_support.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};
use support::{Env, Kubectl};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::rustls;

/// Sends one HTTP/1.1 GET with `Connection: close` over `io` and returns the whole response.
async fn get<I: AsyncRead + AsyncWrite + Unpin>(
    mut io: I,
    path: &str,
    token: Option<&str>,
) -> String {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n");
    io.write_all(req.as_bytes()).await.expect("write request");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), io.read_to_end(&mut out))
        .await
        .expect("response in time")
        .expect("read response");
    String::from_utf8_lossy(&out).into_owned()
}

/// A rustls client trusting only `roots`, offering HTTP/1.1 only.
fn tls_client(roots: rustls::RootCertStore) -> tokio_rustls::TlsConnector {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// A root store holding the server's CA.
fn trusting(env: &Env) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let mut pem = env.server.ca_pem().as_bytes();
    for cert in rustls_pemfile_certs(&mut pem) {
        roots.add(cert).expect("CA added");
    }
    assert_eq!(roots.len(), 1, "one CA certificate");
    roots
}

/// The certificates of a PEM text (rustls' own PEM reader).
fn rustls_pemfile_certs(pem: &mut &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject as _;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .expect("CA PEM parses")
}

async fn connect(env: &Env) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(env.server.addr())
        .await
        .expect("tcp connect")
}

#[tokio::test]
async fn kubeconfig_default_context_is_https_with_the_ca_and_a_bearer_token() {
    let env = Env::start().await;
    let yaml = env.server.kubeconfig_yaml("sandbox");
    let kc = kube::config::Kubeconfig::from_yaml(&yaml).expect("kubeconfig parses");
    assert_eq!(kc.current_context.as_deref(), Some("sandbox"));
    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == "sandbox")
        .and_then(|c| c.cluster.clone())
        .expect("cluster sandbox");
    assert_eq!(
        cluster.server.as_deref(),
        Some(env.server.https_url().as_str())
    );
    assert!(env.server.https_url().starts_with("https://127.0.0.1:"));
    use base64::Engine as _;
    let ca = base64::engine::general_purpose::STANDARD
        .decode(cluster.certificate_authority_data.expect("CA data"))
        .expect("base64");
    assert_eq!(String::from_utf8_lossy(&ca), env.server.ca_pem());
    assert!(env
        .server
        .ca_pem()
        .starts_with("-----BEGIN CERTIFICATE-----"));

    // kube (as the harness builds it) over TLS, then the request is logged as authenticated.
    let nss: Api<Namespace> = Api::all(env.client().await);
    let list = nss
        .list(&ListParams::default())
        .await
        .expect("list over https");
    assert!(list
        .items
        .iter()
        .any(|n| n.metadata.name.as_deref() == Some("default")));
    let log = env.server.request_log();
    assert!(
        log.iter()
            .any(|r| r.path_and_query.starts_with("/api/v1/namespaces") && r.status == 200),
        "{log:?}"
    );
}

#[tokio::test]
async fn plain_http_is_served_on_the_same_port() {
    let env = Env::start().await;
    let ok = get(
        connect(&env).await,
        "/api/v1/namespaces",
        Some(support::TOKEN),
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.contains("\"NamespaceList\""), "{ok}");
    let denied = get(connect(&env).await, "/api/v1/namespaces", None).await;
    assert!(denied.starts_with("HTTP/1.1 401"), "{denied}");
    assert!(denied.contains("default context"), "{denied}");
    // And kube pointed at the plain URL with the token.
    let mut config = kube::Config::new(env.server.url().parse().expect("url"));
    config.auth_info.token = Some(support::TOKEN.to_string().into());
    config.default_retry = false;
    let nss: Api<Namespace> = Api::all(kube::Client::try_from(config).expect("client"));
    nss.list(&ListParams::default())
        .await
        .expect("list over http");
}

#[tokio::test]
async fn tls_with_the_ca_works_for_every_san_and_is_refused_otherwise() {
    let env = Env::start().await;
    for name in ["localhost", "127.0.0.1"] {
        let server_name = rustls::pki_types::ServerName::try_from(name)
            .expect("name")
            .to_owned();
        let tls = tls_client(trusting(&env))
            .connect(server_name, connect(&env).await)
            .await
            .unwrap_or_else(|e| panic!("handshake as {name}: {e}"));
        let resp = get(tls, "/api/v1/namespaces", Some(support::TOKEN)).await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{name}: {resp}");
        assert!(resp.contains("\"NamespaceList\""), "{name}: {resp}");
    }

    // The certificate names only the sandbox's addresses.
    let other = rustls::pki_types::ServerName::try_from("kubernetes.example")
        .expect("name")
        .to_owned();
    let wrong_name = tls_client(trusting(&env))
        .connect(other, connect(&env).await)
        .await
        .expect_err("a name outside the SANs is refused");
    assert!(
        wrong_name.to_string().contains("NotValidForName")
            || wrong_name.to_string().contains("not valid for name"),
        "{wrong_name}"
    );

    // A client that does not trust the CA: no handshake, so no request reaches the server.
    env.server.clear_request_log();
    let localhost = rustls::pki_types::ServerName::try_from("localhost")
        .expect("name")
        .to_owned();
    let untrusted = tls_client(rustls::RootCertStore::empty())
        .connect(localhost, connect(&env).await)
        .await
        .expect_err("an untrusted CA is refused");
    assert!(
        untrusted.to_string().contains("UnknownIssuer"),
        "{untrusted}"
    );
    // kube too, with the token but without the CA.
    let mut config = kube::Config::new(env.server.https_url().parse().expect("url"));
    config.auth_info.token = Some(support::TOKEN.to_string().into());
    config.default_retry = false;
    let nss: Api<Namespace> = Api::all(kube::Client::try_from(config).expect("client"));
    let e = nss
        .list(&ListParams::default())
        .await
        .expect_err("kube without the CA is refused");
    assert!(
        format!("{e:?}").contains("UnknownIssuer") || format!("{e:?}").contains("certificate"),
        "{e:?}"
    );
    assert!(
        env.server.request_log().is_empty(),
        "{:?}",
        env.server.request_log()
    );
}

#[tokio::test]
async fn kubectl_default_context_serves_raw_get_auth_exec_and_logs() {
    let env = Env::start().await;
    // The kubeconfig's default context: no `--context` is passed.
    let Some(kubectl) = Kubectl::new(&env) else {
        return;
    };
    env.store
        .create(
            &dr_sandbox::api::resources::NODES,
            None,
            serde_json::json!({"metadata": {"name": "node-1"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        )
        .expect("node created");
    env.running_pod("default", "sentinel");
    env.runtime.logs.lock().expect("lock").insert(
        ("default".into(), "sentinel".into()),
        "tick 1\ntick 2\n".into(),
    );
    let ok = |args: &'static [&'static str]| kubectl.ok(args);

    let v2 = ok(&["get", "--raw", "/openapi/v2"]).await;
    let v2: serde_json::Value = serde_json::from_str(&v2).expect("openapi v2 is JSON");
    assert_eq!(v2["swagger"], "2.0");
    let nss = ok(&["get", "--raw", "/api/v1/namespaces"]).await;
    let nss: serde_json::Value = serde_json::from_str(&nss).expect("JSON");
    assert_eq!(nss["kind"], "NamespaceList");
    let nodes = ok(&["get", "nodes"]).await;
    assert!(
        nodes.starts_with("NAME") && nodes.contains("node-1"),
        "{nodes}"
    );
    let who = ok(&["auth", "whoami"]).await;
    assert!(who.contains("sandbox-admin"), "{who}");
    assert_eq!(ok(&["exec", "sentinel", "--", "echo", "hi"]).await, "hi\n");
    assert_eq!(ok(&["logs", "sentinel"]).await, "tick 1\ntick 2\n");

    // Every request came with the bearer token over TLS: no path prefix, none refused.
    let log = env.server.request_log();
    assert!(log.iter().all(|r| r.status != 401), "{log:?}");
    assert!(
        log.iter()
            .any(|r| r.path_and_query.starts_with("/openapi/v2") && r.status == 200),
        "{log:?}"
    );
    assert!(
        log.iter().any(|r| r.path_and_query.contains("/exec")),
        "{log:?}"
    );
}
