//! The API server's transport: TLS with a certificate made at every start, and plain HTTP on the
//! same port, told apart by the first byte a client sends.
//!
//! kube-apiserver serves HTTPS only, with a serving certificate signed by the cluster CA that the
//! kubeconfig's `certificate-authority-data` carries; kubeadm's is `/etc/kubernetes/pki/ca.crt`
//! and the certificate's SANs name every address clients use (kubernetes/kubernetes
//! `cmd/kubeadm/app/phases/certs/certlist.go` `KubeadmCertAPIServer`). The sandbox does the same
//! with a throw-away CA ([`TlsIdentity::generate`]), made when a server starts without one; the
//! sandbox keeps it with the endpoint and token across destroy/apply (an old kubeconfig works
//! again) and makes a new one with the `kubeconfig-rotated` fault (`crate::lifecycle`).
//!
//! Plain HTTP stays on the port for the sandbox's own tests and callers of
//! [`super::server::ApiServer::url`] (a real apiserver has none): a TLS connection opens with a
//! handshake record, content type 22 (RFC 8446 §5.1, `ContentType.handshake`), and an HTTP/1.1
//! request or the HTTP/2 preface opens with an ASCII letter, so peeking one byte decides.

use std::net::IpAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// What a connection task ends with when it fails (logged, never returned to anyone).
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The first byte of a TLS connection: a handshake record (RFC 8446 §5.1, content type 22).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// How long an accepted connection may take to send its first byte and finish a TLS handshake
/// (a client that connects and says nothing holds no task forever).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// The sandbox cluster's CA and the API server's serving certificate: made by
/// [`TlsIdentity::generate`] (by [`super::server::ApiServer::start`] unless given one), and
/// kept across a restart on the same address so that kubeconfigs written before stay valid,
/// as a rebuilt cluster that keeps its PKI does. Cloning shares the keys.
#[derive(Clone)]
pub struct TlsIdentity {
    /// The CA certificate, PEM (what a kubeconfig's `certificate-authority-data` carries,
    /// base64-encoded).
    ca_pem: Arc<str>,
    /// The rustls acceptor presenting the serving certificate (and the CA after it).
    pub(crate) acceptor: TlsAcceptor,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// A fresh CA (ECDSA P-256, common name `dr-sandbox-ca`) and a serving certificate signed by
    /// it for `localhost`, `127.0.0.1` and `ip` (the address the server binds, unless
    /// unspecified), for server auth.
    /// The TLS server speaks TLS 1.2 and 1.3 through rustls' aws-lc-rs provider and offers
    /// ALPN `h2` and `http/1.1`, as kube-apiserver does.
    ///
    /// # Errors
    /// Key generation, signing or the rustls configuration failing, as an I/O error (`Other`).
    pub fn generate(ip: IpAddr) -> std::io::Result<TlsIdentity> {
        let err = |what: &str, e: &dyn std::fmt::Display| {
            std::io::Error::other(format!("sandbox api tls: {what}: {e}"))
        };
        let ca_key = KeyPair::generate().map_err(|e| err("CA key", &e))?;
        let mut ca_params =
            CertificateParams::new(Vec::<String>::new()).map_err(|e| err("CA params", &e))?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "dr-sandbox-ca");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params
            .self_signed(&ca_key)
            .map_err(|e| err("CA certificate", &e))?;
        let issuer = Issuer::new(ca_params, &ca_key);

        let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        if !ip.is_unspecified() && ip != IpAddr::from([127, 0, 0, 1]) {
            names.push(ip.to_string());
        }
        let server_key = KeyPair::generate().map_err(|e| err("server key", &e))?;
        let mut params = CertificateParams::new(names).map_err(|e| err("server params", &e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = params
            .signed_by(&server_key, &issuer)
            .map_err(|e| err("server certificate", &e))?;

        let chain: Vec<CertificateDer<'static>> =
            vec![server_cert.der().clone(), ca_cert.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| err("protocol versions", &e))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| err("server config", &e))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsIdentity {
            ca_pem: ca_cert.pem().into(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
}

/// Serves `app` on `listener` until `shutdown` is cancelled, each connection over TLS or plain
/// HTTP by its first byte, through hyper-util's HTTP/1 + HTTP/2 builder with upgrades (exec's
/// WebSocket). Shutdown is graceful as `axum::serve(..).with_graceful_shutdown` is: stop
/// accepting, ask every open connection to finish its in-flight requests and close, and return
/// once all have closed (the caller bounds the wait).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    acceptor: TlsAcceptor,
    shutdown: CancellationToken,
) {
    // Every connection task holds a clone of `open`; `closed()` resolves when all are gone.
    let (open, mut all_closed) = tokio::sync::mpsc::channel::<()>(1);
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // As axum::serve: accept errors (e.g. too many open files) are transient.
                    tracing::debug!(error = %e, "sandbox api accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (app, acceptor, shutdown, open) = (
            app.clone(),
            acceptor.clone(),
            shutdown.clone(),
            open.clone(),
        );
        tokio::spawn(async move {
            let _open = open;
            if let Err(e) = serve_connection(stream, app, acceptor, shutdown).await {
                tracing::trace!(%peer, error = %e, "sandbox api connection ended with an error");
            }
        });
    }
    drop(listener);
    drop(open);
    let _ = all_closed.recv().await;
}

/// One accepted connection: TLS or plain by its first byte, then HTTP until the client closes
/// or `shutdown` asks for a graceful close.
async fn serve_connection(
    stream: TcpStream,
    app: Router,
    acceptor: TlsAcceptor,
    shutdown: CancellationToken,
) -> Result<(), BoxError> {
    let _ = stream.set_nodelay(true);
    let mut first = [0u8; 1];
    let peeked = tokio::select! {
        () = shutdown.cancelled() => return Ok(()),
        p = tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)) => p,
    };
    if peeked?? == 0 {
        return Ok(());
    }
    let service = TowerToHyperService::new(app);
    if first[0] == TLS_HANDSHAKE_RECORD {
        let tls = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            t = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => t??,
        };
        http(TokioIo::new(tls), service, shutdown).await
    } else {
        http(TokioIo::new(stream), service, shutdown).await
    }
}

/// HTTP/1.1 or HTTP/2 (by the client's preface) with upgrades over `io`, as `axum::serve` runs
/// a connection (HTTP/2 extended CONNECT on for WebSockets over h2).
async fn http<I>(
    io: TokioIo<I>,
    service: TowerToHyperService<Router>,
    shutdown: CancellationToken,
) -> Result<(), BoxError>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http2().enable_connect_protocol();
    let mut conn = pin!(builder.serve_connection_with_upgrades(io, service));
    let mut asked = false;
    loop {
        tokio::select! {
            served = conn.as_mut() => return served,
            () = shutdown.cancelled(), if !asked => {
                asked = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
