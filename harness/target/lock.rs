//! The drill lock: one drill per cluster at a time, held in the backup target (which outlives
//! the cluster) as `<prefix>dr-harness/locks/<cluster>.json`.
//!
//! Taken with a conditional create (`If-None-Match: *`), so of two drills racing for it exactly
//! one wins; renewed by its owner while the drill runs; a lock past its expiry (its owner died)
//! may be taken over, a live one is refused with a message naming its owner.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::target::BackupTarget;

/// How long a lock lives without renewal.
pub const LOCK_TTL: Duration = Duration::from_secs(15 * 60);

/// The lock file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// The holding drill's run id.
    pub run_id: String,
    /// `user@host pid N`, for the refusal message.
    pub owner: String,
    /// The holding drill's scenario name.
    pub scenario: String,
    /// When the lock was first taken (UTC).
    pub acquired_at: DateTime<Utc>,
    /// When it lapses unless renewed (UTC): [`LOCK_TTL`] after the last renewal.
    pub expires_at: DateTime<Utc>,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// A live lock of another run: names its owner and expiry.
    #[error("another drill holds the lock on cluster {cluster}: run {} ({}) by {} since {}, until {} unless renewed; wait for it to finish or, if it died, for the lock to expire", .info.run_id, .info.scenario, .info.owner, .info.acquired_at, .info.expires_at)]
    Held {
        /// The cluster the lock is for.
        cluster: String,
        /// The lock file as read.
        info: LockInfo,
    },
    /// Reading or writing the lock object failed.
    #[error("drill lock at {key}: {message}")]
    Store {
        /// The lock's key.
        key: String,
        /// The S3 error.
        message: String,
    },
}

/// A held lock; renewal runs in the background until [`DrillLock::release`].
pub struct DrillLock {
    target: BackupTarget,
    key: String,
    run_id: String,
    renewer: Option<(CancellationToken, JoinHandle<()>)>,
}

fn owner() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into());
    format!("{user}@{host} pid {}", std::process::id())
}

/// Key of a cluster's lock.
pub fn lock_key(target: &BackupTarget, cluster: &str) -> String {
    format!("{}dr-harness/locks/{cluster}.json", target.prefix)
}

impl DrillLock {
    /// Takes the lock for `run_id` on `cluster`, taking over an expired one. Re-taking a lock
    /// this run already holds (a resumed drill) succeeds.
    ///
    /// # Errors
    /// [`LockError::Held`] naming the live owner; [`LockError::Store`] when S3 fails.
    pub async fn acquire(
        target: &BackupTarget,
        cluster: &str,
        run_id: &str,
        scenario: &str,
        ttl: Duration,
    ) -> Result<DrillLock, LockError> {
        let store = target.backupstore();
        let key = lock_key(target, cluster);
        let err = |m: String| LockError::Store {
            key: key.clone(),
            message: m,
        };
        for _attempt in 0..3 {
            let now = Utc::now();
            let info = LockInfo {
                run_id: run_id.to_string(),
                owner: owner(),
                scenario: scenario.to_string(),
                acquired_at: now,
                expires_at: now + chrono::Duration::from_std(ttl).unwrap_or_default(),
            };
            let body = serde_json::to_vec_pretty(&info).map_err(|e| err(e.to_string()))?;
            if store
                .put_bytes_if_absent(&key, body)
                .await
                .map_err(|e| err(e.to_string()))?
            {
                return Ok(DrillLock::held(target, key.clone(), run_id, scenario, ttl));
            }
            let existing = match store
                .get_object(&key)
                .await
                .map_err(|e| err(e.to_string()))?
            {
                Some(bytes) => serde_json::from_slice::<LockInfo>(&bytes).ok(),
                None => continue, // released between our two calls: try again
            };
            match existing {
                Some(held) if held.run_id == run_id => {
                    return Ok(DrillLock::held(target, key.clone(), run_id, scenario, ttl));
                }
                Some(held) if held.expires_at > Utc::now() => {
                    return Err(LockError::Held {
                        cluster: cluster.to_string(),
                        info: held,
                    });
                }
                // Expired or unreadable: take it over. Delete, then race for the create again.
                _ => {
                    tracing::warn!("taking over the expired drill lock {key}");
                    store
                        .delete_object(&key)
                        .await
                        .map_err(|e| err(e.to_string()))?;
                }
            }
        }
        Err(err(
            "could not take the lock after 3 attempts (another drill is racing for it)".into(),
        ))
    }

    fn held(
        target: &BackupTarget,
        key: String,
        run_id: &str,
        scenario: &str,
        ttl: Duration,
    ) -> DrillLock {
        let stop = CancellationToken::new();
        let task = {
            let store = target.backupstore();
            let key = key.clone();
            let run_id = run_id.to_string();
            let scenario = scenario.to_string();
            let stop = stop.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(ttl / 3) => {}
                    }
                    let now = Utc::now();
                    let info = LockInfo {
                        run_id: run_id.clone(),
                        owner: owner(),
                        scenario: scenario.clone(),
                        acquired_at: now,
                        expires_at: now + chrono::Duration::from_std(ttl).unwrap_or_default(),
                    };
                    if let Ok(body) = serde_json::to_vec_pretty(&info) {
                        if let Err(e) = store.put_object(&key, body).await {
                            tracing::warn!("could not renew the drill lock {key}: {e}");
                        }
                    }
                }
            })
        };
        DrillLock {
            target: target.clone(),
            key,
            run_id: run_id.to_string(),
            renewer: Some((stop, task)),
        }
    }

    /// Stops renewal and deletes the lock if it is still this run's.
    pub async fn release(mut self) {
        if let Some((stop, task)) = self.renewer.take() {
            stop.cancel();
            let _ = task.await;
        }
        let store = self.target.backupstore();
        if let Ok(Some(bytes)) = store.get_object(&self.key).await {
            if serde_json::from_slice::<LockInfo>(&bytes).is_ok_and(|i| i.run_id == self.run_id) {
                let _ = store.delete_object(&self.key).await;
            }
        }
    }
}
