//! Watch streams (`?watch=true`): replay from the history ring after `resourceVersion` (or the
//! current state when none is given), then live events, as JSON lines in a chunked response.
//!
//! Supports `allowWatchBookmarks` (a BOOKMARK every second), `sendInitialEvents=true` (current
//! state, then a bookmark annotated `k8s.io/initial-events-end: "true"`), label and field
//! selectors, `timeoutSeconds`. A resourceVersion older than the history ring yields one
//! `ERROR` event carrying a 410 Expired Status. The stream ends on timeout, server shutdown,
//! store reset, an injected watch drop, or when this watcher lags too far behind.
//! With selectors, an object that starts matching is sent as ADDED and one that stops matching
//! as DELETED, judged against the object's previous state (kept in the store's history for
//! replayed events, and per watch for live ones).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use super::http::{Ctx, Params, Target};
use super::resources::ResourceType;
use super::selectors::{FieldSelector, LabelSelector};
use super::store::{name_of, namespace_of, EventType, WatchEvent};
use super::table::{to_partial, to_table};

/// How often bookmarks are sent when the client allows them.
const BOOKMARK_EVERY: Duration = Duration::from_secs(1);

/// Longest watch when the client gives no `timeoutSeconds` (the real default is 30–60 min).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// The representation a watch client asked for with its `Accept` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// Whole objects.
    Full,
    /// `PartialObjectMetadata` (kube's `metadata_watcher`).
    Metadata,
    /// A one-row `Table` per event (kubectl `get -w`); columns repeat in every event, which
    /// kubectl's printer tolerates (it prints headers only when the columns change).
    Table,
}

struct Filter {
    rt: &'static ResourceType,
    /// Longhorn's CRDs, for their printer columns in Table encoding.
    crds: Option<Arc<super::crd::CrdSet>>,
    /// How event objects are rendered (kubectl's `get -w` asks for Tables).
    encoding: Encoding,
    ns: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    /// Whether the event concerns this watch's type and namespace.
    fn in_scope(&self, ev: &WatchEvent) -> bool {
        std::ptr::eq(ev.resource, self.rt)
            && self
                .ns
                .as_deref()
                .is_none_or(|ns| namespace_of(&ev.object) == ns)
    }

    fn selects(&self, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }

    fn unfiltered(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    /// The event type to send for `ev` given the object's state before it, as the real API
    /// server does for selector-filtered watches: an object that starts matching is ADDED, one
    /// that stops matching is DELETED; `None` = send nothing.
    fn translate(&self, ev: &WatchEvent, previous: Option<&Value>) -> Option<&'static str> {
        if !self.in_scope(ev) {
            return None;
        }
        let now = self.selects(&ev.object);
        let before = previous.is_some_and(|p| self.selects(p));
        match ev.event_type {
            EventType::Added => now.then_some("ADDED"),
            EventType::Modified => match (before, now) {
                (true, true) => Some("MODIFIED"),
                (false, true) => Some("ADDED"),
                (true, false) => Some("DELETED"),
                (false, false) => None,
            },
            EventType::Deleted => (before || now).then_some("DELETED"),
        }
    }

    fn encode(&self, kind: &str, ev: &WatchEvent) -> Bytes {
        match self.encoding {
            Encoding::Full => line(kind, &ev.object),
            Encoding::Metadata => line(kind, &to_partial(&ev.object)),
            Encoding::Table => line(
                kind,
                &to_table(
                    self.rt,
                    self.crds.as_deref(),
                    std::slice::from_ref(&ev.object),
                    &ev.resource_version.to_string(),
                ),
            ),
        }
    }
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut s = json!({"type": kind, "object": object}).to_string();
    s.push('\n');
    Bytes::from(s)
}

fn bookmark(rt: &ResourceType, rv: u64, initial_end: bool) -> Bytes {
    let mut obj = json!({
        "kind": rt.kind,
        "apiVersion": rt.api_version(),
        "metadata": {"resourceVersion": rv.to_string()},
    });
    if initial_end {
        obj["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    line("BOOKMARK", &obj)
}

/// Starts a watch response for `t` (a collection target).
///
/// # Errors
/// 400 for malformed selectors or resourceVersion; 503 while watches are being dropped.
pub(crate) fn serve(
    ctx: Arc<Ctx>,
    t: &Target,
    params: &Params,
    encoding: Encoding,
) -> Result<Response, ApiError> {
    // Subscribed before anything else: a fault or reset that comes after the client got its
    // 200 must still close this watch, even if the pump task has not started yet.
    let closers = Closers {
        drop_signal: ctx.faults.drop_signal(),
        reset: ctx.store.reset_signal(),
        shutdown: ctx.shutdown.clone(),
    };
    if ctx.faults.watches_dropped() {
        return Err(ApiError::unavailable(
            "watch requests are refused for now (injected fault)",
        ));
    }
    let filter = Filter {
        rt: t.rt,
        crds: ctx.store.crds(),
        encoding,
        ns: t.ns.clone(),
        labels: LabelSelector::parse(params.get("labelSelector").unwrap_or(""))?,
        fields: FieldSelector::parse(t.rt, params.get("fieldSelector").unwrap_or(""))?,
    };
    let send_initial = params.flag("sendInitialEvents");
    let bookmarks = params.flag("allowWatchBookmarks");
    let since = match params.get("resourceVersion").unwrap_or("") {
        "" | "0" => None,
        rv => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?,
        ),
    };
    let timeout = params
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);

    let (tx, rx) = mpsc::channel::<Bytes>(64);
    // With sendInitialEvents the state is streamed first, whatever resourceVersion says.
    let start = ctx
        .store
        .watch_from(t.rt, if send_initial { None } else { since });
    match start {
        Err(e) => {
            // The real API server reports an expired version inside a 200 stream.
            let _ = tx.try_send(line("ERROR", &e.to_status()));
        }
        Ok(start) => {
            tokio::spawn(pump(
                filter,
                start,
                closers,
                tx,
                send_initial,
                bookmarks,
                timeout,
            ));
        }
    }
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<Bytes, Infallible>(b), rx))
    });
    let mut resp = (StatusCode::OK, Body::from_stream(stream)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// Signals that end a watch early, taken when the request arrived.
struct Closers {
    /// Changes when an injected fault drops every open watch.
    drop_signal: watch::Receiver<u64>,
    /// Changes when the store is reset (cluster destroyed).
    reset: watch::Receiver<u64>,
    /// Cancelled when the API server stops.
    shutdown: CancellationToken,
}

/// Feeds one watch until it ends; returns when the client is gone or the watch must close.
async fn pump(
    filter: Filter,
    start: super::store::WatchStart,
    closers: Closers,
    tx: mpsc::Sender<Bytes>,
    send_initial: bool,
    bookmarks: bool,
    timeout: Duration,
) {
    let mut last_rv = start.resource_version;
    for (ev, previous) in start.replay.iter().zip(start.previous.iter()) {
        if let Some(kind) = filter.translate(ev, previous.as_ref()) {
            if tx.send(filter.encode(kind, ev)).await.is_err() {
                return;
            }
        }
    }
    // Each object's last state, to judge whether a live event starts or stops matching.
    let mut known: HashMap<(String, String), Value> = if filter.unfiltered() {
        HashMap::new()
    } else {
        start
            .current
            .into_iter()
            .filter(|o| filter.ns.as_deref().is_none_or(|ns| namespace_of(o) == ns))
            .map(|o| ((namespace_of(&o).to_string(), name_of(&o).to_string()), o))
            .collect()
    };
    if send_initial && tx.send(bookmark(filter.rt, last_rv, true)).await.is_err() {
        return;
    }
    let mut receiver = start.receiver;
    let Closers {
        mut drop_signal,
        mut reset,
        shutdown,
    } = closers;
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut ticker = tokio::time::interval(BOOKMARK_EVERY);
    ticker.tick().await;
    loop {
        tokio::select! {
            ev = receiver.recv() => match ev {
                Ok(ev) => {
                    last_rv = last_rv.max(ev.resource_version);
                    if !filter.in_scope(&ev) {
                        continue;
                    }
                    let kind = if filter.unfiltered() {
                        Some(ev.event_type.as_str())
                    } else {
                        let key = (namespace_of(&ev.object).to_string(), name_of(&ev.object).to_string());
                        let kind = filter.translate(&ev, known.get(&key));
                        if ev.event_type == EventType::Deleted {
                            known.remove(&key);
                        } else {
                            known.insert(key, ev.object.clone());
                        }
                        kind
                    };
                    if let Some(kind) = kind {
                        if tx.send(filter.encode(kind, &ev)).await.is_err() {
                            return;
                        }
                    }
                }
                // Lagged: events were lost for this watcher; closing makes the client re-watch.
                Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = ticker.tick() => {
                if bookmarks && tx.send(bookmark(filter.rt, last_rv, false)).await.is_err() {
                    return;
                }
                if tx.is_closed() {
                    return;
                }
            }
            _ = &mut deadline => return,
            _ = drop_signal.changed() => return,
            _ = reset.changed() => return,
            _ = shutdown.cancelled() => return,
        }
    }
}
