//! Watch-based waits that survive broken watches.
//!
//! `kube::runtime::watcher` with `default_backoff()` re-lists and re-watches after a dropped
//! watch or a 410 Gone (a bare `await_condition` fails at once on 410; shared/sandbox-notes.md).
//! Each restart is counted as a `watch-restart` retry. Every wait reports its progress
//! ([`super::progress`]) and ends, at the latest, shortly before the running step's deadline, so
//! its own timeout message (what was awaited, what was last seen) reaches the report. The caller's condition sees the newest
//! state of the named object (None while it does not exist), and the wait ends as soon as a change
//! satisfies it. Timeouts compose: the caller says how long, the error says what was last seen.
//! A 403 is no broken watch but a missing grant: the wait fails at once with
//! [`ClusterError::Forbidden`] instead of retrying until its timeout.

use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

use super::progress::{self, Progress};
use super::{ClusterError, RetryStats};

/// Waits until `cond` holds for the object `name` in `api`, returning the object (None when the
/// condition was met by its absence).
///
/// `describe` renders the last seen state for the timeout message.
///
/// # Errors
/// [`ClusterError::WaitTimeout`] naming `what` and the last state seen.
pub async fn wait_for<K>(
    api: Api<K>,
    name: &str,
    what: &str,
    timeout: Duration,
    stats: &RetryStats,
    cond: impl Fn(Option<&K>) -> bool,
    describe: impl Fn(Option<&K>) -> String,
) -> Result<Option<K>, ClusterError>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    // The set of objects of that name: none or one.
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let set = wait_for_set(
        api,
        config,
        what,
        timeout,
        stats,
        |set| cond(set.first()),
        |set| describe(set.first()),
    )
    .await?;
    Ok(set.into_iter().next())
}

/// Waits until `cond` holds for the whole set of objects matching `config` (e.g. a label
/// selector), kept current from watch events. Returns that set.
///
/// # Errors
/// [`ClusterError::WaitTimeout`] naming `what` and `describe` of the last set seen.
pub async fn wait_for_set<K>(
    api: Api<K>,
    config: watcher::Config,
    what: &str,
    timeout: Duration,
    stats: &RetryStats,
    cond: impl Fn(&[K]) -> bool,
    describe: impl Fn(&[K]) -> String,
) -> Result<Vec<K>, ClusterError>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    use std::collections::BTreeMap;
    let key = |k: &K| {
        let m = k.meta();
        format!(
            "{}/{}",
            m.namespace.clone().unwrap_or_default(),
            m.name.clone().unwrap_or_default()
        )
    };
    let resource = api.resource_url().to_string();
    let mut forbidden_msg: Option<String> = None;
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    let mut current: BTreeMap<String, K> = BTreeMap::new();
    let mut init: Option<BTreeMap<String, K>> = None;
    let mut last_seen = "nothing yet (no answer from the API)".to_string();
    let started = std::time::Instant::now();
    let timeout = progress::clamp(timeout);
    let mut progress = Progress::start(what, timeout);
    let mut beat = heartbeat();
    let work = async {
        loop {
            let event = tokio::select! {
                event = stream.next() => match event {
                    Some(event) => event,
                    None => return None,
                },
                _ = beat.tick() => {
                    progress.heartbeat();
                    continue;
                }
            };
            match event {
                Err(e) => {
                    if let Some(msg) = forbidden(&e) {
                        forbidden_msg = Some(msg);
                        return None;
                    }
                    stats.count("watch-restart");
                    progress.observe(&format!("watch restarting ({last_seen})"));
                    continue;
                }
                Ok(Event::Init) => init = Some(BTreeMap::new()),
                Ok(Event::InitApply(obj)) => {
                    if let Some(buf) = init.as_mut() {
                        buf.insert(key(&obj), obj);
                    }
                }
                Ok(Event::InitDone) => current = init.take().unwrap_or_default(),
                Ok(Event::Apply(obj)) => {
                    current.insert(key(&obj), obj);
                }
                Ok(Event::Delete(obj)) => {
                    current.remove(&key(&obj));
                }
            }
            if init.is_some() {
                continue;
            }
            let set: Vec<K> = current.values().cloned().collect();
            last_seen = describe(&set);
            progress.observe(&last_seen);
            if cond(&set) {
                return Some(set);
            }
        }
    };
    let outcome = tokio::time::timeout(timeout, work).await.ok().flatten();
    finish(
        progress,
        outcome.is_some(),
        forbidden_msg.is_some(),
        &last_seen,
    );
    wait_result(outcome, forbidden_msg, what, resource, started, last_seen)
}

/// A ticker for [`Progress::heartbeat`]; its first tick is a period away (the wait's start was
/// reported already).
fn heartbeat() -> tokio::time::Interval {
    let period = progress::HEARTBEAT;
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    beat
}

/// Emits the wait's final progress event.
fn finish(progress: Progress, met: bool, forbidden: bool, last_seen: &str) {
    let state = if met {
        format!("met: {last_seen}")
    } else if forbidden {
        "forbidden".to_string()
    } else {
        format!("timed out: {last_seen}")
    };
    progress.finish(&state);
}

/// The end of a watch-based wait: Forbidden when the watch was refused (whatever was seen),
/// else the value found, else a timeout naming what was last seen.
fn wait_result<T>(
    found: Option<T>,
    forbidden_msg: Option<String>,
    what: &str,
    resource: String,
    started: std::time::Instant,
    last_seen: String,
) -> Result<T, ClusterError> {
    if let Some(message) = forbidden_msg {
        return Err(ClusterError::Forbidden {
            what: what.to_string(),
            resource,
            message,
        });
    }
    found.ok_or_else(|| ClusterError::WaitTimeout {
        what: what.to_string(),
        seconds: started.elapsed().as_secs_f64(),
        last_seen,
    })
}

/// The API's message when a watcher error is a 403 Forbidden (on the initial list, the watch
/// start, or inside the stream), None for errors a re-list may cure.
pub fn forbidden(e: &watcher::Error) -> Option<String> {
    let status = match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s))
        | watcher::Error::WatchError(s) => s,
        _ => return None,
    };
    (status.code == 403).then(|| {
        if status.message.is_empty() {
            "403 Forbidden".to_string()
        } else {
            status.message.clone()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, message: &str) -> Box<kube::core::Status> {
        Box::new(kube::core::Status {
            code,
            message: message.to_string(),
            reason: "Forbidden".to_string(),
            ..Default::default()
        })
    }

    #[test]
    fn a_403_is_forbidden_not_a_restart() {
        let msg = "volumes.longhorn.io is forbidden: User \"system:serviceaccount:x:y\" cannot watch resource";
        for e in [
            watcher::Error::InitialListFailed(kube::Error::Api(status(403, msg))),
            watcher::Error::WatchStartFailed(kube::Error::Api(status(403, msg))),
            watcher::Error::WatchError(status(403, msg)),
        ] {
            assert_eq!(forbidden(&e).as_deref(), Some(msg), "{e}");
        }
        assert_eq!(
            forbidden(&watcher::Error::WatchError(status(
                410,
                "too old resource version"
            ))),
            None
        );
        assert_eq!(forbidden(&watcher::Error::NoResourceVersion), None);
    }
}
