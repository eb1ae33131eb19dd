//! Progress *events* of long waits: the emitting side of the console's live progress.
//!
//! The contract (shared with the renderer in `report::progress` and with
//! `cluster::progress::Progress`): `tracing` target [`TARGET`], level INFO, message `"waiting"`
//! (or `"waited"` when the wait ends), fields `step` (drill step name or `""`), `gate` (what is
//! awaited), `elapsed_s` and `timeout_s` (f64 seconds, timeout 0 = none) and `state` (the last
//! observed state, short).
//!
//! It sits at the bottom of the crate so that `hooks` (a hook is a wait too) can announce itself
//! without importing the reporters.

use std::time::Duration;

/// `tracing` target of the progress events.
pub const TARGET: &str = "dr_harness::progress";

/// Emits a `"waiting"` progress event (see the module docs for the fields). `timeout` `None`
/// is sent as `timeout_s = 0`.
pub fn waiting(step: &str, gate: &str, elapsed: Duration, timeout: Option<Duration>, state: &str) {
    emit("waiting", step, gate, elapsed, timeout, state);
}

/// Emits the closing `"waited"` progress event of a wait (fields as [`waiting`]).
pub fn waited(step: &str, gate: &str, elapsed: Duration, timeout: Option<Duration>, state: &str) {
    emit("waited", step, gate, elapsed, timeout, state);
}

/// One progress event whose message is `kind`.
fn emit(
    kind: &'static str,
    step: &str,
    gate: &str,
    elapsed: Duration,
    timeout: Option<Duration>,
    state: &str,
) {
    tracing::info!(
        target: TARGET,
        step,
        gate,
        elapsed_s = elapsed.as_secs_f64(),
        timeout_s = timeout.map_or(0.0, |t| t.as_secs_f64()),
        state,
        "{kind}"
    );
}
