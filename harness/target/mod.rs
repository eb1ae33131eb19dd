//! Backup-target I/O in one place: the harness's connection to the S3 bucket Longhorn backs up
//! into, Longhorn's backupstore inside it, and the drill's own files beside the backups.
//!
//! - [`BackupTarget`] (here): bucket, prefix, the client; HeadBucket; the backupstore view;
//! - [`client`]: the S3 client from the profile's `[backup_target]` and credentials, through the
//!   workspace's one builder (timeouts, retry counting, checksum mode);
//! - [`lock`]: the drill lock (one drill per cluster);
//! - [`runs`]: run files (`run.json`, the sentinel manifest), the last passed run.
//!
//! Level 2 of the crate's layering: imports `config`, `cluster` (retry counters) and `redact`,
//! never the engine or the steps.

use aws_sdk_s3::Client;

use crate::cluster::RetryStats;
use crate::config::profile::BackupTarget as TargetConfig;
use crate::redact::Redactor;

pub mod client;
pub mod lock;
pub mod runs;

/// Errors talking to the backup target.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// An S3 request failed (after the SDK's retries) or its answer could not be used.
    #[error("backup target s3://{bucket} at {endpoint}: {message}")]
    S3 {
        /// The bucket.
        bucket: String,
        /// The endpoint (`aws` for AWS).
        endpoint: String,
        /// The operation, key and the service's error code and message.
        message: String,
    },
    /// The profile's credential source gave no keys (names the missing variable).
    #[error("backup target credentials: {0}")]
    Credentials(String),
}

/// A connected backup target.
#[derive(Clone)]
pub struct BackupTarget {
    /// The S3 client ([`client::build`]).
    pub client: Client,
    /// The bucket of the target URL.
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

/// Static credentials handed in by the caller (the embedded sandbox), redacted in Debug.
#[derive(Clone)]
pub struct StaticKeys {
    /// Access key id.
    pub access_key: String,
    /// Secret access key (never printed).
    pub secret_key: String,
}

impl std::fmt::Debug for StaticKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticKeys(***)")
    }
}

impl BackupTarget {
    /// Connects to the target `cfg` describes: builds its client ([`client::build`]: the
    /// workspace's timeouts and retries, checksums only when required). Sends no request.
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
        let client = client::build(cfg, keys, redactor, stats).await?;
        Ok(BackupTarget {
            client,
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

    /// Longhorn's backupstore in this bucket, rooted at `<prefix>backupstore/`
    /// (longhorn/longhorn-engine@v1.9.1:vendor/github.com/longhorn/backupstore/s3/s3.go
    /// `updatePath`).
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
