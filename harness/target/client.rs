//! The backup target's S3 client, built from the profile's `[backup_target]` through the
//! workspace's one builder, [`dr_backupstore::build_client`]: the same connect (10 s), attempt
//! (120 s) and stalled-body (20 s) timeouts, retry policy (standard mode, 6 attempts, 200 ms–5 s
//! backoff) and "checksums only when required" mode as every other client of the workspace
//! (reasons in [`dr_backupstore::client`]). A stalled target therefore fails a request within
//! those bounds instead of holding a step until its own timeout (3600 s by default).

use aws_sdk_s3::config::SharedInterceptor;
use aws_sdk_s3::Client;
use dr_backupstore::ClientOptions;

use super::{StaticKeys, TargetError};
use crate::cluster::RetryStats;
use crate::config::profile::{BackupTarget as TargetConfig, Credentials as CredentialSource};
use crate::redact::Redactor;

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

/// The keys to sign with: `keys` when the caller has them (the embedded sandbox), else those the
/// profile's `credentials` names — `env` reads `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`,
/// `chain` returns `None` (the SDK's default chain). Keys found are added to `redactor`.
///
/// # Errors
/// [`TargetError::Credentials`] when `credentials = "env"` and a variable is missing.
pub fn resolve_keys(
    cfg: &TargetConfig,
    keys: Option<StaticKeys>,
    redactor: &Redactor,
) -> Result<Option<StaticKeys>, TargetError> {
    let keys = match (keys, cfg.credentials) {
        (Some(k), _) => Some(k),
        (None, CredentialSource::Env) => {
            let var = |name: &str| {
                std::env::var(name).map_err(|_| {
                    TargetError::Credentials(format!(
                        "{name} is not set (profile says credentials = \"env\")"
                    ))
                })
            };
            Some(StaticKeys {
                access_key: var("AWS_ACCESS_KEY_ID")?,
                secret_key: var("AWS_SECRET_ACCESS_KEY")?,
            })
        }
        (None, CredentialSource::Chain) => None,
    };
    if let Some(k) = &keys {
        redactor.add(&k.secret_key);
        redactor.add(&k.access_key);
    }
    Ok(keys)
}

/// The builder options for `cfg`: its endpoint, region (empty: from the environment, as
/// Longhorn does for a target URL without `@region`,
/// longhorn/longhorn-engine@v1.9.1:vendor/github.com/longhorn/backupstore/s3/s3_service.go
/// `newService`), path style, `keys`, the workspace's default timeouts and retries, and an
/// interceptor counting each retry into `stats` as `s3-retry`.
pub fn options(cfg: &TargetConfig, keys: Option<&StaticKeys>, stats: RetryStats) -> ClientOptions {
    let mut opts = ClientOptions::new(cfg.endpoint.as_deref(), &cfg.url.region, cfg.path_style())
        .with_interceptor(SharedInterceptor::new(CountRetries(stats)));
    if let Some(k) = keys {
        opts = opts.with_static_keys(&k.access_key, &k.secret_key, "dr-harness");
    }
    opts
}

/// Builds the client for `cfg` ([`resolve_keys`], then [`options`]).
///
/// # Errors
/// As [`resolve_keys`].
pub async fn build(
    cfg: &TargetConfig,
    keys: Option<StaticKeys>,
    redactor: &Redactor,
    stats: RetryStats,
) -> Result<Client, TargetError> {
    let keys = resolve_keys(cfg, keys, redactor)?;
    Ok(dr_backupstore::build_client(options(cfg, keys.as_ref(), stats)).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(toml_text: &str) -> TargetConfig {
        toml::from_str(toml_text).expect("valid [backup_target]")
    }

    #[test]
    fn the_target_client_has_the_workspace_timeouts() {
        // The old harness client had no timeout at all: a stalled target held a step 3600 s.
        let c = cfg("url = \"s3://bkt@us-east-1/p/\"\nendpoint = \"http://127.0.0.1:9\"\n");
        let o = options(&c, None, RetryStats::default());
        assert_eq!(o.connect_timeout, dr_backupstore::client::CONNECT_TIMEOUT);
        assert_eq!(o.attempt_timeout, dr_backupstore::client::ATTEMPT_TIMEOUT);
        assert_eq!(o.stall_grace, dr_backupstore::client::STALL_GRACE);
        assert_eq!(o.endpoint.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(o.region, "us-east-1");
        assert!(
            o.path_style,
            "a custom endpoint means path style (Longhorn's rule)"
        );
        assert!(o.interceptor.is_some(), "retries are counted");
        assert_eq!(o.checksums, dr_backupstore::ChecksumMode::WhenRequired);
    }

    #[test]
    fn keys_handed_in_win_and_are_redacted() {
        let c = cfg("url = \"s3://bkt@us-east-1/\"\ncredentials = \"env\"\n");
        // Keys handed in win over the profile's source (the embedded sandbox).
        let given = StaticKeys {
            access_key: "AKIDGIVEN".into(),
            secret_key: "given-secret".into(),
        };
        let r = Redactor::new();
        let k = resolve_keys(&c, Some(given), &r).expect("given keys");
        assert_eq!(k.map(|k| k.access_key).as_deref(), Some("AKIDGIVEN"));
        assert!(!r.redact("x given-secret y").contains("given-secret"));
    }

    #[tokio::test]
    async fn the_built_client_carries_the_timeouts() {
        // What the harness's requests really run with, not only the options.
        let c = cfg("url = \"s3://bkt@us-east-1/\"\nendpoint = \"http://127.0.0.1:9\"\n");
        let keys = StaticKeys {
            access_key: "AKIDTEST".into(),
            secret_key: "test-secret".into(),
        };
        let client = build(&c, Some(keys), &Redactor::new(), RetryStats::default())
            .await
            .expect("client");
        let t = client.config().timeout_config().expect("timeouts");
        assert_eq!(
            t.operation_attempt_timeout(),
            Some(dr_backupstore::client::ATTEMPT_TIMEOUT)
        );
        assert_eq!(
            t.connect_timeout(),
            Some(dr_backupstore::client::CONNECT_TIMEOUT)
        );
    }
}
