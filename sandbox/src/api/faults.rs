//! Injectable API server faults: a window in which every request answers 503, and a window in
//! which watches are cut and refused. Drills use them to prove that waits recover.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// Runtime fault switches shared by the API server and whoever injects faults.
pub struct ApiFaults {
    unavailable_until: Mutex<Option<Instant>>,
    drop_watches_until: Mutex<Option<Instant>>,
    /// Bumped each time watches must close now.
    drop_signal: watch::Sender<u64>,
}

fn active(slot: &Mutex<Option<Instant>>) -> bool {
    let guard = slot.lock().unwrap_or_else(|e| e.into_inner());
    guard.is_some_and(|until| Instant::now() < until)
}

impl ApiFaults {
    /// No faults active.
    pub fn new() -> Arc<Self> {
        let (drop_signal, _) = watch::channel(0);
        Arc::new(Self {
            unavailable_until: Mutex::new(None),
            drop_watches_until: Mutex::new(None),
            drop_signal,
        })
    }

    /// Every request (including `/readyz`, `/livez`, `/healthz`) answers 503 with a Status of
    /// reason `ServiceUnavailable` for the next `d`.
    pub fn unavailable_for(&self, d: Duration) {
        *self
            .unavailable_until
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + d);
        // Watches open before the outage end too: a real restarting API server drops them.
        self.drop_signal.send_modify(|n| *n += 1);
    }

    /// Closes every open watch now and answers new watch requests with 503 for the next `d`.
    pub fn drop_watches_for(&self, d: Duration) {
        *self
            .drop_watches_until
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + d);
        self.drop_signal.send_modify(|n| *n += 1);
    }

    /// Ends every fault window now.
    pub fn clear(&self) {
        *self
            .unavailable_until
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
        *self
            .drop_watches_until
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Whether the outage window is open.
    pub fn is_unavailable(&self) -> bool {
        active(&self.unavailable_until)
    }

    /// Whether new watches are refused.
    pub fn watches_dropped(&self) -> bool {
        active(&self.drop_watches_until)
    }

    /// Changes whenever open watches must close.
    pub fn drop_signal(&self) -> watch::Receiver<u64> {
        self.drop_signal.subscribe()
    }
}
