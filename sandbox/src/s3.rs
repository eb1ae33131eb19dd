//! The sandbox's backup target: a real S3 server (s3s-fs) served in process on 127.0.0.1.
//!
//! Why s3s-fs: the simulated Longhorn and the harness must talk real S3 (SigV4, path-style,
//! ListObjectsV2, conditional PUTs) so that the client code a drill runs against a real cluster is
//! the code the sandbox exercises. The data directory sits outside the cluster state, so a
//! sandbox `destroy` loses the cluster but never the backups — like a real off-cluster target.
//!
//! Three things are added in front of s3s-fs:
//! - **Atomic `If-None-Match: *`**: s3s-fs checks the condition and writes the object in two
//!   steps, so concurrent conditional PUTs of one key can all "win" (measured: 2–3 of 16, see
//!   shared/sandbox-notes.md). A per-key async mutex held across the inner call serialises
//!   conditional writers of one key, giving exactly one winner as on AWS S3 or moto.
//! - **Empty delimiter = none**: s3s-fs 0.14.1 panics on `ListObjects` with `delimiter=`, which
//!   Longhorn sends (see `EmptyDelimiterFix`).
//! - **Faults** ([`S3Faults`]): runtime switches that answer `503 SlowDown` or drop connections,
//!   so drills can prove they survive a flaky backup target.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use rand::distr::{Alphanumeric, SampleString};
use s3s::auth::SimpleAuth;
use s3s::dto;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The region the sandbox's S3 claims; Longhorn backup target URLs name it (`s3://bucket@region/`).
pub const REGION: &str = "us-east-1";

/// Runtime fault switches for the embedded S3 server. All switches are lock-free or briefly
/// locked, and can be flipped from any thread while requests are in flight.
#[derive(Debug, Default)]
pub struct S3Faults {
    /// Number of upcoming requests to answer with `503 SlowDown`.
    slow_down_next: AtomicU64,
    /// Answer every request with `503 SlowDown` until this instant.
    slow_down_until: Mutex<Option<Instant>>,
    /// Number of upcoming requests whose connection is dropped without a response.
    reset_next: AtomicU64,
    /// Requests answered with an injected fault so far (503s and resets).
    injected: AtomicU64,
    /// Requests seen by the server so far, faulted or not.
    seen: AtomicU64,
    /// Refuse every write (PUT, POST, DELETE) with `403 AccessDenied`, as read-only
    /// credentials under a bucket policy would; reads pass.
    read_only: std::sync::atomic::AtomicBool,
    /// Writes refused while read-only.
    writes_refused: AtomicU64,
}

/// What the fault layer decided for one request.
enum FaultDecision {
    Pass,
    SlowDown,
    Reset,
    Denied,
}

impl S3Faults {
    /// Answer the next `n` requests with HTTP 503 and an S3 `SlowDown` error body.
    pub fn slow_down_next(&self, n: u64) {
        self.slow_down_next.store(n, Ordering::SeqCst);
    }

    /// Answer every request with HTTP 503 `SlowDown` for `duration` from now.
    pub fn slow_down_for(&self, duration: Duration) {
        let until = Instant::now() + duration;
        *lock_ignoring_poison(&self.slow_down_until) = Some(until);
    }

    /// Drop the connection of the next `n` requests without answering (the client sees a
    /// connection reset / unexpected EOF).
    pub fn reset_next(&self, n: u64) {
        self.reset_next.store(n, Ordering::SeqCst);
    }

    /// Refuse (`true`) or allow again (`false`) every write: PUT, POST and DELETE requests
    /// are answered `403 AccessDenied`, the answer S3 gives read-only credentials.
    pub fn set_read_only(&self, on: bool) {
        self.read_only.store(on, Ordering::SeqCst);
    }

    /// How many writes were refused while read-only.
    pub fn writes_refused(&self) -> u64 {
        self.writes_refused.load(Ordering::SeqCst)
    }

    /// Turn every fault off.
    pub fn clear(&self) {
        self.read_only.store(false, Ordering::SeqCst);
        self.slow_down_next.store(0, Ordering::SeqCst);
        self.reset_next.store(0, Ordering::SeqCst);
        *lock_ignoring_poison(&self.slow_down_until) = None;
    }

    /// How many requests were answered by an injected fault since start.
    pub fn injected_count(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }

    /// How many requests reached the server since start (faulted or not).
    pub fn requests_seen(&self) -> u64 {
        self.seen.load(Ordering::SeqCst)
    }

    fn decide(&self, method: &Method) -> FaultDecision {
        self.seen.fetch_add(1, Ordering::SeqCst);
        let write = matches!(*method, Method::PUT | Method::POST | Method::DELETE);
        if write && self.read_only.load(Ordering::SeqCst) {
            self.writes_refused.fetch_add(1, Ordering::SeqCst);
            return FaultDecision::Denied;
        }
        if take_one(&self.reset_next) {
            self.injected.fetch_add(1, Ordering::SeqCst);
            return FaultDecision::Reset;
        }
        if take_one(&self.slow_down_next) {
            self.injected.fetch_add(1, Ordering::SeqCst);
            return FaultDecision::SlowDown;
        }
        let mut until = lock_ignoring_poison(&self.slow_down_until);
        match *until {
            Some(t) if Instant::now() < t => {
                self.injected.fetch_add(1, Ordering::SeqCst);
                FaultDecision::SlowDown
            }
            Some(_) => {
                *until = None;
                FaultDecision::Pass
            }
            None => FaultDecision::Pass,
        }
    }
}

/// Decrement a counter if it is positive; true when one unit was taken.
fn take_one(counter: &AtomicU64) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// A poisoned lock here only means another request panicked; the guarded data (an instant, a
/// lock map) stays meaningful, so serving goes on.
fn lock_ignoring_poison<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Per-key async mutexes for conditional writes. Entries are dropped when no writer holds them.
#[derive(Default)]
struct KeyLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl KeyLocks {
    fn get(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = lock_ignoring_poison(&self.locks);
        map.entry(key.to_owned()).or_default().clone()
    }

    fn release(&self, key: &str) {
        let mut map = lock_ignoring_poison(&self.locks);
        // The caller dropped its clone first: one strong ref (the map's) means no writer waits.
        if map.get(key).is_some_and(|l| Arc::strong_count(l) <= 1) {
            map.remove(key);
        }
    }
}

/// The request-level wrapper around s3s: faults first, then the per-key lock for conditional
/// writes, then s3s-fs.
struct Frontend {
    s3: S3Service,
    faults: Arc<S3Faults>,
    locks: KeyLocks,
}

/// Error that makes hyper drop the connection without a response (the "reset" fault).
#[derive(Debug, thiserror::Error)]
#[error("injected connection reset")]
struct InjectedReset;

impl Frontend {
    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<s3s::Body>, Box<dyn std::error::Error + Send + Sync>> {
        match self.faults.decide(req.method()) {
            FaultDecision::Pass => {}
            FaultDecision::SlowDown => return Ok(slow_down_response(req.uri().path())),
            FaultDecision::Reset => return Err(Box::new(InjectedReset)),
            FaultDecision::Denied => return Ok(access_denied_response(req.uri().path())),
        }
        let conditional = (req.method() == Method::PUT || req.method() == Method::POST)
            && req.headers().contains_key(hyper::header::IF_NONE_MATCH);
        let req = req.map(s3s::Body::from);
        if !conditional {
            return Ok(self.s3.call(req).await?);
        }
        let key = req.uri().path().to_owned();
        let lock = self.locks.get(&key);
        let result = {
            let _held = lock.lock().await;
            self.s3.call(req).await
        };
        drop(lock);
        self.locks.release(&key);
        Ok(result?)
    }
}

/// The S3 error document for `403 AccessDenied` (AWS S3 REST error response format), what a
/// write with read-only credentials gets.
fn access_denied_response(resource: &str) -> Response<s3s::Body> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>\
         <Message>Access Denied</Message><Resource>{}</Resource>\
         <RequestId>sandbox-read-only</RequestId></Error>",
        xml_escape(resource)
    );
    let mut resp = Response::new(s3s::Body::from(body));
    *resp.status_mut() = StatusCode::FORBIDDEN;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/xml"),
    );
    resp
}

/// The S3 error document for `503 SlowDown` (AWS S3 REST error response format).
fn slow_down_response(resource: &str) -> Response<s3s::Body> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
         <Message>Please reduce your request rate.</Message><Resource>{}</Resource>\
         <RequestId>sandbox-fault</RequestId></Error>",
        xml_escape(resource)
    );
    let mut resp = Response::new(s3s::Body::from(body));
    *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/xml"),
    );
    resp
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// s3s-fs behind one correction: an **empty delimiter** means "no delimiter", as on AWS S3.
///
/// Why: s3s-fs 0.14.1 treats `delimiter=` as a real, empty delimiter (`remaining.find("")` is
/// always 0) and panics slicing an empty remainder (`s3.rs:1316`). Longhorn sends exactly that
/// request — `service.DeleteObjects` lists with `ListObjects(key, "")` before deleting
/// (longhorn/longhorn-engine@v1.9.1:vendor/github.com/longhorn/backupstore/s3/s3_service.go),
/// and every `Remove` of the S3 driver (s3/s3.go) goes through it: releasing a lock, deleting
/// a backup cfg, garbage-collecting blocks. No s3s release fixing it builds on rustc 1.95 (0.15+ need
/// 1.96). Normalising the parsed input, after s3s checked the SigV4 signature over the raw
/// query, keeps signatures valid. Every other operation is passed through unchanged.
struct EmptyDelimiterFix(s3s_fs::FileSystem);

/// `Some("")` → `None`; any other delimiter unchanged.
fn normalise_delimiter(delimiter: &mut Option<String>) {
    if delimiter.as_deref() == Some("") {
        *delimiter = None;
    }
}

#[async_trait::async_trait]
impl s3s::S3 for EmptyDelimiterFix {
    async fn list_objects(
        &self,
        mut req: s3s::S3Request<dto::ListObjectsInput>,
    ) -> s3s::S3Result<s3s::S3Response<dto::ListObjectsOutput>> {
        normalise_delimiter(&mut req.input.delimiter);
        self.0.list_objects(req).await
    }

    async fn list_objects_v2(
        &self,
        mut req: s3s::S3Request<dto::ListObjectsV2Input>,
    ) -> s3s::S3Result<s3s::S3Response<dto::ListObjectsV2Output>> {
        normalise_delimiter(&mut req.input.delimiter);
        self.0.list_objects_v2(req).await
    }

    async fn create_bucket(
        &self,
        req: s3s::S3Request<dto::CreateBucketInput>,
    ) -> s3s::S3Result<s3s::S3Response<dto::CreateBucketOutput>> {
        self.0.create_bucket(req).await
    }

    async fn copy_object(
        &self,
        req: s3s::S3Request<dto::CopyObjectInput>,
    ) -> s3s::S3Result<s3s::S3Response<dto::CopyObjectOutput>> {
        self.0.copy_object(req).await
    }

    async fn delete_bucket(
        &self,
        req: s3s::S3Request<dto::DeleteBucketInput>,
    ) -> s3s::S3Result<s3s::S3Response<dto::DeleteBucketOutput>> {
        self.0.delete_bucket(req).await
    }

    async fn delete_object(
        &self,
        req: s3s::S3Request<dto::DeleteObjectInput>,
    ) -> s3s::S3Result<s3s::S3Response<dto::DeleteObjectOutput>> {
        self.0.delete_object(req).await
    }

    async fn delete_objects(
        &self,
        req: s3s::S3Request<dto::DeleteObjectsInput>,
    ) -> s3s::S3Result<s3s::S3Response<dto::DeleteObjectsOutput>> {
        self.0.delete_objects(req).await
    }

    async fn get_bucket_location(
        &self,
        req: s3s::S3Request<dto::GetBucketLocationInput>,
    ) -> s3s::S3Result<s3s::S3Response<dto::GetBucketLocationOutput>> {
        self.0.get_bucket_location(req).await
    }

    async fn get_object(
        &self,
        req: s3s::S3Request<dto::GetObjectInput>,
    ) -> s3s::S3Result<s3s::S3Response<dto::GetObjectOutput>> {
        self.0.get_object(req).await
    }

    async fn head_bucket(
        &self,
        req: s3s::S3Request<dto::HeadBucketInput>,
    ) -> s3s::S3Result<s3s::S3Response<dto::HeadBucketOutput>> {
        self.0.head_bucket(req).await
    }

    async fn head_object(
        &self,
        req: s3s::S3Request<dto::HeadObjectInput>,
    ) -> s3s::S3Result<s3s::S3Response<dto::HeadObjectOutput>> {
        self.0.head_object(req).await
    }

    async fn list_buckets(
        &self,
        req: s3s::S3Request<dto::ListBucketsInput>,
    ) -> s3s::S3Result<s3s::S3Response<dto::ListBucketsOutput>> {
        self.0.list_buckets(req).await
    }

    async fn put_object(
        &self,
        req: s3s::S3Request<dto::PutObjectInput>,
    ) -> s3s::S3Result<s3s::S3Response<dto::PutObjectOutput>> {
        self.0.put_object(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: s3s::S3Request<dto::CreateMultipartUploadInput>,
    ) -> s3s::S3Result<s3s::S3Response<dto::CreateMultipartUploadOutput>> {
        self.0.create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: s3s::S3Request<dto::UploadPartInput>,
    ) -> s3s::S3Result<s3s::S3Response<dto::UploadPartOutput>> {
        self.0.upload_part(req).await
    }

    async fn upload_part_copy(
        &self,
        req: s3s::S3Request<dto::UploadPartCopyInput>,
    ) -> s3s::S3Result<s3s::S3Response<dto::UploadPartCopyOutput>> {
        self.0.upload_part_copy(req).await
    }

    async fn list_parts(
        &self,
        req: s3s::S3Request<dto::ListPartsInput>,
    ) -> s3s::S3Result<s3s::S3Response<dto::ListPartsOutput>> {
        self.0.list_parts(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: s3s::S3Request<dto::CompleteMultipartUploadInput>,
    ) -> s3s::S3Result<s3s::S3Response<dto::CompleteMultipartUploadOutput>> {
        self.0.complete_multipart_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: s3s::S3Request<dto::AbortMultipartUploadInput>,
    ) -> s3s::S3Result<s3s::S3Response<dto::AbortMultipartUploadOutput>> {
        self.0.abort_multipart_upload(req).await
    }
}

/// Everything needed to (re)start the server identically: same data, port and credentials.
#[derive(Clone)]
struct Settings {
    data_dir: PathBuf,
    bucket: String,
    access_key: String,
    secret_key: String,
}

/// The embedded S3 server: s3s-fs on `127.0.0.1:<random port>` with SigV4 auth by one random
/// key pair, and one bucket created at start.
///
/// Objects are plain files under `<data_dir>/<bucket>/<key>` (s3s-fs layout), so they survive
/// [`S3Server::shutdown`] and a restart on the same data dir.
pub struct S3Server {
    settings: Settings,
    addr: SocketAddr,
    faults: Arc<S3Faults>,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for S3Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Server")
            .field("endpoint", &self.endpoint())
            .field("bucket", &self.settings.bucket)
            .field("data_dir", &self.settings.data_dir)
            .field("access_key", &self.settings.access_key)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

impl S3Server {
    /// Start a server on a random loopback port with fresh random credentials, storing objects
    /// under `data_dir` (created if missing) and creating `bucket` (a directory in s3s-fs).
    ///
    /// # Errors
    /// I/O errors creating the data dir or bucket dir, or binding the listener.
    pub async fn start(data_dir: &Path, bucket: &str) -> io::Result<S3Server> {
        let settings = Settings {
            data_dir: data_dir.to_path_buf(),
            bucket: bucket.to_owned(),
            access_key: format!("SANDBOX{}", random_token(13).to_uppercase()),
            secret_key: random_token(40),
        };
        Self::start_with(settings, 0, Arc::new(S3Faults::default())).await
    }

    /// Start a server with given credentials on `port` (0 = any free port), e.g. to bring a
    /// sandbox's S3 back on the endpoint and keys a previous process recorded.
    ///
    /// # Errors
    /// I/O errors creating the data dir or bucket dir, or binding the port.
    pub async fn start_on(
        data_dir: &Path,
        bucket: &str,
        port: u16,
        access_key: &str,
        secret_key: &str,
    ) -> io::Result<S3Server> {
        let settings = Settings {
            data_dir: data_dir.to_path_buf(),
            bucket: bucket.to_owned(),
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
        };
        Self::start_with(settings, port, Arc::new(S3Faults::default())).await
    }

    /// Start again with the same data dir, bucket, credentials and fault switches, on `port`
    /// (0 = any free port).
    async fn start_with(
        settings: Settings,
        port: u16,
        faults: Arc<S3Faults>,
    ) -> io::Result<S3Server> {
        std::fs::create_dir_all(settings.data_dir.join(&settings.bucket))?;
        let fs = s3s_fs::FileSystem::new(&settings.data_dir).map_err(|e| {
            io::Error::other(format!("s3s-fs on {}: {e:?}", settings.data_dir.display()))
        })?;
        let mut builder = S3ServiceBuilder::new(EmptyDelimiterFix(fs));
        builder.set_auth(SimpleAuth::from_single(
            settings.access_key.clone(),
            settings.secret_key.clone(),
        ));
        let frontend = Arc::new(Frontend {
            s3: builder.build(),
            faults: faults.clone(),
            locks: KeyLocks::default(),
        });
        // tokio sets SO_REUSEADDR on Unix listeners, so a restart can rebind the same port
        // while old connections sit in TIME_WAIT.
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let cancel = CancellationToken::new();
        let task = tokio::spawn(serve(listener, frontend, cancel.clone()));
        tracing::info!(%addr, bucket = %settings.bucket, "sandbox s3 listening");
        Ok(S3Server {
            settings,
            addr,
            faults,
            cancel,
            task: Some(task),
        })
    }

    /// Stop the server (if running) and start it again on the same port, data, credentials
    /// and fault switches.
    ///
    /// # Errors
    /// I/O errors rebinding the port (e.g. another process took it) or opening the data dir.
    pub async fn restart(&mut self) -> io::Result<()> {
        self.shutdown().await;
        let next =
            Self::start_with(self.settings.clone(), self.addr.port(), self.faults.clone()).await?;
        *self = next;
        Ok(())
    }

    /// Stop accepting connections and abort open ones; objects stay on disk.
    pub async fn shutdown(&mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "sandbox s3 server task ended abnormally");
            }
        }
    }

    /// Base URL, e.g. `http://127.0.0.1:40123` (path-style requests go to `<endpoint>/<bucket>/<key>`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The access key id (random per sandbox, stable across restarts).
    pub fn access_key(&self) -> &str {
        &self.settings.access_key
    }

    /// The secret access key (random per sandbox, stable across restarts).
    pub fn secret_key(&self) -> &str {
        &self.settings.secret_key
    }

    /// The bucket created at start.
    pub fn bucket(&self) -> &str {
        &self.settings.bucket
    }

    /// The region the server claims: always [`REGION`] (`us-east-1`).
    pub fn region(&self) -> &str {
        REGION
    }

    /// Where objects are stored on disk (`<data_dir>/<bucket>/<key>`).
    pub fn data_dir(&self) -> &Path {
        &self.settings.data_dir
    }

    /// The runtime fault switches.
    pub fn faults(&self) -> &S3Faults {
        &self.faults
    }

    /// A shareable handle on the fault switches (for controllers that outlive a borrow).
    pub fn faults_handle(&self) -> Arc<S3Faults> {
        self.faults.clone()
    }

    /// SDK config for this server, from the workspace's one builder
    /// ([`dr_backupstore::sdk_config`]): static credentials, path-style addressing, checksums
    /// only when required (the SDK's default aws-chunked CRC32 trailers are what some S3
    /// servers reject, Longhorn issue #12676; sandbox-notes.md), the builder's connect, attempt
    /// and stalled-body timeouts; the SDK's default retries (standard mode, 3 attempts).
    pub fn client_config(&self) -> aws_sdk_s3::Config {
        let opts = dr_backupstore::ClientOptions::new(Some(&self.endpoint()), REGION, true)
            .with_static_keys(
                &self.settings.access_key,
                &self.settings.secret_key,
                "dr-sandbox",
            )
            .with_retry(aws_sdk_s3::config::retry::RetryConfig::standard());
        dr_backupstore::sdk_config(opts)
    }

    /// An `aws_sdk_s3::Client` configured by [`S3Server::client_config`].
    pub fn client(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(self.client_config())
    }

    /// A shell file giving the processes started after `source`-ing it access to this server:
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`,
    /// `DR_BUCKET`, one `export NAME='value'` line each, single-quoted for `sh`.
    pub fn env_file_contents(&self) -> String {
        let endpoint = self.endpoint();
        [
            ("AWS_ACCESS_KEY_ID", self.access_key()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key()),
            ("AWS_REGION", REGION),
            ("AWS_ENDPOINT_URL", endpoint.as_str()),
            ("DR_BUCKET", self.bucket()),
        ]
        .iter()
        // `export`: `source s3.env` must hand the variables to the programs started after it
        // (aws, dr-harness), not only set them in the shell.
        .map(|(k, v)| format!("export {k}={}\n", shell_quote(v)))
        .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Quote a value for POSIX `sh`: wrap in single quotes, `'` becomes `'\''`.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

fn random_token(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), len)
}

/// Accept loop: one hyper connection task per socket. Connection tasks live in a `JoinSet`
/// owned by this loop, so cancelling the loop aborts every open connection too.
async fn serve(listener: TcpListener, frontend: Arc<Frontend>, cancel: CancellationToken) {
    let builder = ConnBuilder::new(TokioExecutor::new());
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let socket = tokio::select! {
            () = cancel.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            res = listener.accept() => match res {
                Ok((socket, _)) => socket,
                Err(e) => {
                    tracing::warn!(error = %e, "sandbox s3 accept failed");
                    continue;
                }
            },
        };
        let fe = frontend.clone();
        let service = hyper::service::service_fn(move |req| fe.clone().handle(req));
        let conn = builder
            .serve_connection(TokioIo::new(socket), service)
            .into_owned();
        conns.spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "sandbox s3 connection ended with error");
            }
        });
    }
    conns.abort_all();
}
