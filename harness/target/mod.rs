//! The harness's own view of the backup target: an S3 client, Longhorn's backupstore inside it,
//! and the drill's own files beside the backups (`<prefix>dr-harness/runs/<run-id>/…`), so the
//! run state and the sentinel manifest survive the cluster.

use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::Client;

use crate::cluster::RetryStats;
use crate::config::profile::{BackupTarget as TargetConfig, Credentials as CredentialSource};
use crate::engine::record::RunRecord;
use crate::redact::Redactor;

pub mod lock;

/// Errors talking to the backup target.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("backup target s3://{bucket} at {endpoint}: {message}")]
    S3 {
        bucket: String,
        endpoint: String,
        message: String,
    },
    #[error("backup target credentials: {0}")]
    Credentials(String),
}

/// A connected backup target.
#[derive(Clone)]
pub struct BackupTarget {
    pub client: Client,
    pub bucket: String,
    /// Folder prefix of the target URL (`""` or ending in `/`).
    pub prefix: String,
    /// The Longhorn URL, `s3://bucket@region/[prefix/]`.
    pub url: String,
    /// Endpoint shown in messages (`aws` when the SDK default).
    pub endpoint: String,
}

impl std::fmt::Debug for BackupTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupTarget")
            .field("url", &self.url)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// Counts S3 retries: the SDK retries throttling, 5xx and connection errors itself (standard
/// mode, bounded exponential backoff); this interceptor sees every attempt after the first and
/// counts it as `s3-retry`, so the report shows what a pass had to ride through.
#[derive(Debug)]
struct CountRetries(RetryStats);

impl aws_sdk_s3::config::Intercept for CountRetries {
    fn name(&self) -> &'static str {
        "dr-harness-count-retries"
    }

    fn read_before_attempt(
        &self,
        _context: &aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &aws_sdk_s3::config::RuntimeComponents,
        cfg: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        use aws_smithy_runtime_api::client::retries::RequestAttempts;
        if cfg
            .load::<RequestAttempts>()
            .is_some_and(|a| a.attempts() > 1)
        {
            self.0.count("s3-retry");
        }
        Ok(())
    }
}

/// Static credentials handed in by the caller (the embedded sandbox), redacted in Debug.
#[derive(Clone)]
pub struct StaticKeys {
    pub access_key: String,
    pub secret_key: String,
}

impl std::fmt::Debug for StaticKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticKeys(***)")
    }
}

impl BackupTarget {
    /// Builds the S3 client for `cfg`. Checksums are sent only when required, since several S3
    /// implementations reject the SDK's default aws-chunked CRC32 bodies (Longhorn #12676).
    ///
    /// # Errors
    /// [`TargetError::Credentials`] when `credentials = "env"` and the variables are missing.
    pub async fn connect(
        cfg: &TargetConfig,
        keys: Option<StaticKeys>,
        redactor: &Redactor,
    ) -> Result<BackupTarget, TargetError> {
        Self::connect_counting(cfg, keys, redactor, RetryStats::default()).await
    }

    /// [`BackupTarget::connect`], counting the SDK's retries into `stats`.
    ///
    /// # Errors
    /// As [`BackupTarget::connect`].
    pub async fn connect_counting(
        cfg: &TargetConfig,
        keys: Option<StaticKeys>,
        redactor: &Redactor,
        stats: RetryStats,
    ) -> Result<BackupTarget, TargetError> {
        // A target URL without `@region` is valid for Longhorn, which then uses AWS_REGION
        // (longhorn-engine@v1.9.1 vendor/…/backupstore/s3/s3_service.go newService): leave the
        // region to the environment as well.
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if !cfg.url.region.is_empty() {
            loader = loader.region(Region::new(cfg.url.region.clone()));
        }
        let keys = match (keys, cfg.credentials) {
            (Some(k), _) => Some(k),
            (None, CredentialSource::Env) => {
                let ak = std::env::var("AWS_ACCESS_KEY_ID").map_err(|_| {
                    TargetError::Credentials(
                        "AWS_ACCESS_KEY_ID is not set (profile says credentials = \"env\")".into(),
                    )
                })?;
                let sk = std::env::var("AWS_SECRET_ACCESS_KEY").map_err(|_| {
                    TargetError::Credentials(
                        "AWS_SECRET_ACCESS_KEY is not set (profile says credentials = \"env\")"
                            .into(),
                    )
                })?;
                Some(StaticKeys {
                    access_key: ak,
                    secret_key: sk,
                })
            }
            (None, CredentialSource::Chain) => None,
        };
        if let Some(k) = &keys {
            redactor.add(&k.secret_key);
            redactor.add(&k.access_key);
            loader = loader.credentials_provider(Credentials::new(
                &k.access_key,
                &k.secret_key,
                None,
                None,
                "dr-harness",
            ));
        }
        if let Some(endpoint) = &cfg.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let shared = loader.load().await;
        // Bounded exponential backoff, generous enough to ride through a short outage of the target.
        let retry = aws_sdk_s3::config::retry::RetryConfig::standard()
            .with_max_attempts(6)
            .with_initial_backoff(std::time::Duration::from_millis(200))
            .with_max_backoff(std::time::Duration::from_secs(5));
        let s3_config = aws_sdk_s3::config::Builder::from(&shared)
            .retry_config(retry)
            .force_path_style(cfg.path_style())
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .response_checksum_validation(
                aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
            )
            .interceptor(CountRetries(stats))
            .build();
        Ok(BackupTarget {
            client: Client::from_conf(s3_config),
            bucket: cfg.url.bucket.clone(),
            prefix: cfg.url.prefix.clone(),
            url: cfg.url.url.clone(),
            endpoint: cfg.endpoint.clone().unwrap_or_else(|| "aws".into()),
        })
    }

    fn err(&self, message: impl Into<String>) -> TargetError {
        TargetError::S3 {
            bucket: self.bucket.clone(),
            endpoint: self.endpoint.clone(),
            message: message.into(),
        }
    }

    /// Key of a drill file: `<prefix>dr-harness/runs/<run-id>/<name>`.
    pub fn run_key(&self, run_id: &str, name: &str) -> String {
        format!("{}dr-harness/runs/{run_id}/{name}", self.prefix)
    }

    /// HeadBucket: the bucket exists and the credentials may read it.
    ///
    /// # Errors
    /// [`TargetError::S3`] with the service's error code.
    pub async fn head_bucket(&self) -> Result<(), TargetError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err(format!("HeadBucket failed: {}", describe_sdk_error(&e))))
    }

    /// Writes one drill file.
    ///
    /// # Errors
    /// [`TargetError::S3`].
    pub async fn put_run_file(
        &self,
        run_id: &str,
        name: &str,
        body: Vec<u8>,
    ) -> Result<(), TargetError> {
        let key = self.run_key(run_id, name);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .body(body.into())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err(format!("PutObject {key}: {}", describe_sdk_error(&e))))
    }

    /// Reads one drill file; None when absent.
    ///
    /// # Errors
    /// [`TargetError::S3`] for anything but "no such key".
    pub async fn get_run_file(
        &self,
        run_id: &str,
        name: &str,
    ) -> Result<Option<Vec<u8>>, TargetError> {
        let key = self.run_key(run_id, name);
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(out) => {
                let bytes = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| self.err(format!("GetObject {key}: {e}")))?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(self.err(format!("GetObject {key}: {}", describe_sdk_error(&e)))),
        }
    }

    /// Saves `run.json` beside the backups.
    ///
    /// # Errors
    /// [`TargetError::S3`].
    pub async fn save_run_state(&self, record: &RunRecord) -> Result<(), TargetError> {
        let body = serde_json::to_vec_pretty(record).map_err(|e| self.err(e.to_string()))?;
        self.put_run_file(&record.run_id, "run.json", body).await
    }

    /// When a drill of (`cluster`, `scenario`) last passed, from the run states kept beside
    /// the backups (`<prefix>dr-harness/runs/*/run.json`): the newest `max_runs` states by
    /// modification time are read, newest first, and the first passed one's finish time is
    /// returned (Unix seconds). None when none of them passed.
    ///
    /// # Errors
    /// [`TargetError::S3`] when the listing or a read fails.
    pub async fn last_success(
        &self,
        cluster: &str,
        scenario: &str,
        max_runs: usize,
    ) -> Result<Option<f64>, TargetError> {
        let prefix = format!("{}dr-harness/runs/", self.prefix);
        let mut states: Vec<(i64, String)> = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                self.err(format!(
                    "ListObjectsV2 {prefix}: {}",
                    describe_sdk_error(&e)
                ))
            })?;
            for o in page.contents() {
                if let Some(key) = o.key().filter(|k| k.ends_with("/run.json")) {
                    let modified = o.last_modified().map_or(0, |t| t.secs());
                    states.push((modified, key.to_string()));
                }
            }
        }
        states.sort_unstable_by(|a, b| b.cmp(a));
        for (_, key) in states.into_iter().take(max_runs) {
            let Some(run_id) = key
                .strip_prefix(&prefix)
                .and_then(|k| k.strip_suffix("/run.json"))
            else {
                continue;
            };
            let Some(bytes) = self.get_run_file(run_id, "run.json").await? else {
                continue;
            };
            // Only the few fields needed: a state of another schema still tells its verdict.
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                continue;
            };
            if v["cluster"] == cluster && v["scenario"] == scenario && v["outcome"] == "passed" {
                let finished = v["finished_at"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
                if let Some(t) = finished {
                    return Ok(Some(t.timestamp_millis() as f64 / 1000.0));
                }
            }
        }
        Ok(None)
    }

    /// Longhorn's backupstore in this bucket.
    pub fn backupstore(&self) -> dr_backupstore::BackupStore {
        dr_backupstore::BackupStore::new(
            self.client.clone(),
            &self.bucket,
            format!("{}backupstore/", self.prefix),
        )
    }
}

/// A one-line description of an SDK error: the service's code and message when there is one.
pub fn describe_sdk_error<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_s3::error::SdkError;
    match e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            match (err.code(), err.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                _ => format!("{err}"),
            }
        }
        SdkError::DispatchFailure(d) => format!("could not connect ({:?})", d),
        SdkError::TimeoutError(_) => "timed out".to_string(),
        other => other.to_string(),
    }
}
