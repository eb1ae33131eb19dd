//! The one S3 client builder of the workspace: the harness (its backup target), the sandbox's
//! tests and the benches all build their [`Client`] here, so timeouts, retries, the checksum
//! mode and the addressing style are decided once.
//!
//! Why these defaults (every one can be changed on [`ClientOptions`]):
//! - [`CONNECT_TIMEOUT`] 10 s: a TCP/TLS handshake to a reachable S3 endpoint takes well under a
//!   second, even across regions; 10 s rides through a loaded server, and a black-holed endpoint
//!   fails in seconds rather than after the OS's ~2 min SYN retries.
//! - [`ATTEMPT_TIMEOUT`] 120 s per attempt (request sent, response headers back; for PutObject
//!   the body is part of the attempt): one 16 MiB block over a 2 Mbit/s link fits. Without it a
//!   server that accepts and never answers holds a drill step until the step's own timeout
//!   (3600 s by default).
//! - [`STALL_GRACE`] 20 s: a response body whose transfer stops (headers sent, then nothing) is
//!   failed by the SDK's stalled-stream protection after this long without progress — the
//!   attempt timeout no longer runs once the headers are in. 20 s is the SDK's own default.
//! - retries: standard mode (throttling, 5xx, connection errors), [`MAX_ATTEMPTS`] attempts with
//!   exponential backoff from 200 ms up to 5 s, generous enough to ride through a short outage.
//! - checksums: [`ChecksumMode::WhenRequired`], since several S3 implementations reject the
//!   SDK's default aws-chunked CRC32 trailers (Longhorn issue #12676).

use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    SharedCredentialsProvider, SharedInterceptor, StalledStreamProtectionConfig,
};
use aws_sdk_s3::Client;

/// Default connect timeout (TCP + TLS handshake) of every client built here.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default per-attempt timeout: request sent and response headers received; one 16 MiB block
/// over a slow link fits.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(120);
/// Default time a response body may make no progress before the SDK fails the read.
pub const STALL_GRACE: Duration = Duration::from_secs(20);
/// Default number of attempts of one request (the first one included).
pub const MAX_ATTEMPTS: u32 = 6;

/// When request checksums are computed and response checksums validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChecksumMode {
    /// Only for operations that require one (the default; see the module docs for why).
    #[default]
    WhenRequired,
    /// Whenever the operation supports one (the SDK's own default, aws-chunked CRC32 uploads).
    WhenSupported,
}

/// Everything that decides how a client reaches a backup target.
///
/// Build with [`ClientOptions::new`], adjust with the `with_*` methods, then [`build_client`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Custom endpoint URL (`AWS_ENDPOINTS` of Longhorn's credential secret, a local server);
    /// `None` uses AWS.
    pub endpoint: Option<String>,
    /// Region; empty leaves it to the environment (`AWS_REGION`, the AWS profile), as Longhorn
    /// does for a target URL without `@region`
    /// (longhorn/longhorn-engine@v1.9.1:vendor/github.com/longhorn/backupstore/s3/s3_service.go
    /// `newService`).
    pub region: String,
    /// Path-style addressing: `true` for most non-AWS servers (Longhorn uses it when
    /// `AWS_ENDPOINTS` is set and `VIRTUAL_HOSTED_STYLE` is not `"true"`).
    pub path_style: bool,
    /// Credentials; `None` uses the default AWS credential chain.
    pub credentials: Option<SharedCredentialsProvider>,
    /// Connect timeout ([`CONNECT_TIMEOUT`]).
    pub connect_timeout: Duration,
    /// Per-attempt timeout ([`ATTEMPT_TIMEOUT`]).
    pub attempt_timeout: Duration,
    /// Stalled response body grace period ([`STALL_GRACE`]).
    pub stall_grace: Duration,
    /// Retry policy (standard mode, [`MAX_ATTEMPTS`], 200 ms–5 s backoff).
    pub retry: RetryConfig,
    /// An interceptor added to every request (the harness counts retries with one).
    pub interceptor: Option<SharedInterceptor>,
    /// Checksum mode ([`ChecksumMode::WhenRequired`]).
    pub checksums: ChecksumMode,
}

impl ClientOptions {
    /// Options for `endpoint` (`None`: AWS) in `region` (empty: from the environment), with
    /// the default credential chain and the defaults of the module docs.
    pub fn new(endpoint: Option<&str>, region: &str, path_style: bool) -> Self {
        Self {
            endpoint: endpoint.map(str::to_string),
            region: region.to_string(),
            path_style,
            credentials: None,
            connect_timeout: CONNECT_TIMEOUT,
            attempt_timeout: ATTEMPT_TIMEOUT,
            stall_grace: STALL_GRACE,
            retry: RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(5)),
            interceptor: None,
            checksums: ChecksumMode::WhenRequired,
        }
    }

    /// Static keys (`access key id`, `secret access key`); `source` names them in the SDK's
    /// debug output (never the secret).
    pub fn with_static_keys(
        mut self,
        access_key: &str,
        secret_key: &str,
        source: &'static str,
    ) -> Self {
        self.credentials = Some(SharedCredentialsProvider::new(Credentials::new(
            access_key, secret_key, None, None, source,
        )));
        self
    }

    /// Connect and per-attempt timeouts.
    pub fn with_timeouts(mut self, connect: Duration, attempt: Duration) -> Self {
        self.connect_timeout = connect;
        self.attempt_timeout = attempt;
        self
    }

    /// Grace period of a stalled response body.
    pub fn with_stall_grace(mut self, grace: Duration) -> Self {
        self.stall_grace = grace;
        self
    }

    /// Retry policy.
    pub fn with_retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// An interceptor run on every request.
    pub fn with_interceptor(mut self, interceptor: SharedInterceptor) -> Self {
        self.interceptor = Some(interceptor);
        self
    }

    /// Checksum mode.
    pub fn with_checksums(mut self, mode: ChecksumMode) -> Self {
        self.checksums = mode;
        self
    }
}

/// Builds the client `opts` describes. Loads the shared AWS configuration (environment,
/// profile, credential chain) for whatever `opts` leaves open; never fails — missing
/// credentials or an unreachable endpoint show up on the first request.
pub async fn build_client(opts: ClientOptions) -> Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if !opts.region.is_empty() {
        loader = loader.region(Region::new(opts.region.clone()));
    }
    if let Some(creds) = opts.credentials.clone() {
        loader = loader.credentials_provider(creds);
    }
    let shared = loader.load().await;
    Client::from_conf(apply(aws_sdk_s3::config::Builder::from(&shared), opts).build())
}

/// The SDK configuration `opts` describes, without reading the environment: for callers that
/// know region and credentials (the sandbox's own S3 server) and cannot await. An empty region
/// or missing credentials are left unset, so requests then fail to sign.
pub fn sdk_config(opts: ClientOptions) -> aws_sdk_s3::Config {
    let mut builder = aws_sdk_s3::Config::builder().behavior_version(BehaviorVersion::latest());
    if !opts.region.is_empty() {
        builder = builder.region(Region::new(opts.region.clone()));
    }
    if let Some(creds) = opts.credentials.clone() {
        builder = builder.credentials_provider(creds);
    }
    apply(builder, opts).build()
}

/// Everything but region and credentials, on top of `builder`.
fn apply(builder: aws_sdk_s3::config::Builder, opts: ClientOptions) -> aws_sdk_s3::config::Builder {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(opts.connect_timeout)
        .operation_attempt_timeout(opts.attempt_timeout)
        .build();
    let stall = StalledStreamProtectionConfig::enabled()
        .grace_period(opts.stall_grace)
        .build();
    let (request, response) = match opts.checksums {
        ChecksumMode::WhenRequired => (
            RequestChecksumCalculation::WhenRequired,
            ResponseChecksumValidation::WhenRequired,
        ),
        ChecksumMode::WhenSupported => (
            RequestChecksumCalculation::WhenSupported,
            ResponseChecksumValidation::WhenSupported,
        ),
    };
    let mut builder = builder
        .force_path_style(opts.path_style)
        .request_checksum_calculation(request)
        .response_checksum_validation(response)
        .timeout_config(timeouts)
        .stalled_stream_protection(stall)
        .retry_config(opts.retry);
    if let Some(url) = opts.endpoint {
        builder = builder.endpoint_url(url);
    }
    if let Some(i) = opts.interceptor {
        builder.push_interceptor(i);
    }
    builder
}

/// The client most callers want: [`ClientOptions::new`] with optional static keys
/// (`(access key id, secret access key)`; `None`: the default credential chain).
pub async fn s3_client(
    endpoint: Option<&str>,
    region: &str,
    path_style: bool,
    creds: Option<(&str, &str)>,
) -> Client {
    let mut opts = ClientOptions::new(endpoint, region, path_style);
    if let Some((access_key, secret_key)) = creds {
        opts = opts.with_static_keys(access_key, secret_key, "dr-backupstore");
    }
    build_client(opts).await
}
