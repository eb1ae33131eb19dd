//! Timestamps of the state changes the simulated controllers make, for measuring how long the
//! harness takes to notice them (the gate detection lag of `benches/gate_lag.rs`).
//!
//! Off by default: `note` is then one relaxed atomic load and changes nothing. Only benches and
//! tests call [`start_recording`]; the log is process-wide (one sandbox per bench process), so a
//! test that records must not share its process with another recording test.
//!
//! Each entry is taken just before the controller commits the change to the store, so the lag
//! measured from it includes the store write, the watch fan-out, the HTTP stream and the
//! harness's own decoding: an upper bound of what the harness adds to a real cluster's change.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// A state change: `change` happened to the object `kind` `namespace`/`name` at `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The object's kind, e.g. `PersistentVolumeClaim`, `Volume`.
    pub kind: &'static str,
    /// Its namespace (None for cluster-scoped objects).
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// What changed, one of the [`change`] constants.
    pub change: &'static str,
    /// When the controller committed it (monotonic clock of this process).
    pub at: Instant,
}

/// The changes that are recorded (the `change` of a [`Transition`]).
pub mod change {
    /// A PVC's `status.phase` became `Bound` (controllers/pvc.rs `bind`).
    pub const PVC_BOUND: &str = "pvc-bound";
    /// A Longhorn Volume's `status.state` became `attached` (controllers/pods.rs).
    pub const VOLUME_ATTACHED: &str = "volume-attached";
    /// A restored Longhorn Volume's `status.restoreRequired` became false (controllers/volume.rs).
    pub const VOLUME_RESTORED: &str = "volume-restored";
}

static RECORDING: AtomicBool = AtomicBool::new(false);
static LOG: Mutex<Vec<Transition>> = Mutex::new(Vec::new());

fn log() -> std::sync::MutexGuard<'static, Vec<Transition>> {
    // A panic while holding the lock leaves a plain Vec behind: still usable.
    LOG.lock().unwrap_or_else(|e| e.into_inner())
}

/// Clears the log and starts recording every [`change`] the controllers commit.
pub fn start_recording() {
    log().clear();
    RECORDING.store(true, Ordering::SeqCst);
}

/// Stops recording and returns what was recorded, oldest first.
pub fn stop_recording() -> Vec<Transition> {
    RECORDING.store(false, Ordering::SeqCst);
    std::mem::take(&mut *log())
}

/// What was recorded so far (recording goes on), oldest first.
pub fn recorded() -> Vec<Transition> {
    log().clone()
}

/// The time to stamp a change with, taken before the commit; None while not recording (then
/// nothing is allocated or locked).
pub(crate) fn stamp() -> Option<Instant> {
    RECORDING.load(Ordering::Relaxed).then(Instant::now)
}

/// Records `change` of an object, stamped `at` (from [`stamp`]); does nothing for `None`.
pub(crate) fn note(
    at: Option<Instant>,
    kind: &'static str,
    namespace: Option<&str>,
    name: &str,
    change: &'static str,
) {
    let Some(at) = at else { return };
    log().push(Transition {
        kind,
        namespace: namespace.map(str::to_string),
        name: name.to_string(),
        change,
        at,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_recorded_unless_asked_and_the_log_is_taken_whole() {
        // Other unit tests' controllers may commit changes meanwhile: look at this name only.
        let name = "transitions-unit-test";
        let mine = |log: &[Transition]| {
            log.iter()
                .filter(|t| t.name == name)
                .map(|t| (t.kind, t.change))
                .collect::<Vec<_>>()
        };
        assert_eq!(stamp(), None);
        note(stamp(), "Volume", Some("ns"), name, change::VOLUME_ATTACHED);
        start_recording();
        note(stamp(), "Volume", Some("ns"), name, change::VOLUME_ATTACHED);
        assert_eq!(mine(&recorded()).len(), 1);
        let got = stop_recording();
        assert_eq!(mine(&got), vec![("Volume", change::VOLUME_ATTACHED)]);
        assert_eq!(stamp(), None);
        assert!(mine(&recorded()).is_empty());
    }
}
