//! Counted retries of transient API errors.
//!
//! Retry only what a server says is transient (429, 500, 502, 503, 504) or a connection that
//! failed, with bounded exponential backoff (kube-rs `client/retry.rs` retries 429/503/504; a drill
//! also rides through connection resets during a brief outage). Each retry is counted by kind so
//! the report shows how much a pass had to work for it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

/// Retries so far, by kind (`api-503`, `api-connect`, `watch-restart`, `s3`…). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct RetryStats(Arc<Mutex<BTreeMap<String, u64>>>);

impl RetryStats {
    /// Adds one retry of `kind` (`api-503`, `s3`…).
    pub fn count(&self, kind: &str) {
        if let Ok(mut m) = self.0.lock() {
            *m.entry(kind.to_string()).or_default() += 1;
        }
    }

    /// The counts so far, by kind (a copy; later retries do not change it).
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// The retry kind of a kube error, or None when it is not transient.
pub(crate) fn transient_kind(err: &kube::Error) -> Option<String> {
    match err {
        kube::Error::Api(status) if matches!(status.code, 429 | 500 | 502 | 503 | 504) => {
            Some(format!("api-{}", status.code))
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) => Some("api-connect".into()),
        _ => None,
    }
}

/// Retries of one API call before its error is returned.
pub const MAX_RETRIES: usize = 8;

/// Backoff used for API calls: 200 ms doubling to 5 s, [`MAX_RETRIES`] retries (about 25 s in
/// all), jittered.
pub fn api_backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(MAX_RETRIES)
        .with_jitter()
}

/// Runs `op`, retrying transient kube errors with [`api_backoff`] and counting them under
/// `<prefix>-<code>`. Each retry is also logged at INFO (`retry 2 of 8 in 0.4 s`, with the
/// error), so a run against an API that does not answer shows what it is doing during the
/// backoff's 25 s instead of nothing.
///
/// # Errors
/// The last error, once it is not transient or the retries are used up.
pub async fn with_retry<T, F, Fut>(
    stats: &RetryStats,
    prefix: &str,
    op: F,
) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut retries = 0;
    op.retry(api_backoff())
        .when(|e| transient_kind(e).is_some())
        .notify(|e, delay| {
            if let Some(kind) = transient_kind(e) {
                let kind = kind.replacen("api", prefix, 1);
                stats.count(&kind);
                retries += 1;
                tracing::info!(
                    "Kubernetes API request failed ({kind}: {e}); retry {retries} of {MAX_RETRIES} in {:.1} s",
                    delay.as_secs_f64()
                );
            }
        })
        .await
}
