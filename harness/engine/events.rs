//! Events a drill emits while it runs; reporters (console, logs) consume them.
//!
//! Modelled on nextest's `TestEvent`: every event carries the wall-clock time and the monotonic
//! time elapsed since the drill started, so sinks need no clock of their own.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::record::{CheckRecord, RunRecord, StepRecord};

/// One thing that happened during a drill.
#[derive(Debug, Clone)]
pub struct DrillEvent {
    /// Wall-clock time of the event, UTC.
    pub at: DateTime<Utc>,
    /// Monotonic time since the drill started.
    pub elapsed: Duration,
    /// What happened.
    pub kind: EventKind,
}

/// What a [`DrillEvent`] reports, in the order a drill emits them.
#[derive(Debug, Clone)]
pub enum EventKind {
    /// The drill is about to run its first step.
    DrillStarted {
        /// UUID v4 of the drill ([`RunRecord::run_id`]).
        run_id: String,
        /// Scenario name, e.g. `full-rebuild`.
        scenario: String,
        /// Cluster name label from the profile.
        cluster: String,
        /// Names of the scenario's steps, in order.
        steps: Vec<String>,
    },
    /// A step began.
    StepStarted {
        /// Name of the step (unique within the scenario).
        step: String,
        /// Step kind, e.g. `write-sentinel`.
        kind: String,
    },
    /// A line of progress inside a step (hook output, wait status); already redacted.
    Progress {
        /// Name of the step the line belongs to.
        step: String,
        /// One line of text, without its newline.
        line: String,
    },
    /// A step finished one check.
    CheckFinished {
        /// Name of the step that made the check.
        step: String,
        /// The check's outcome.
        check: CheckRecord,
    },
    /// A step ended (any status).
    StepFinished {
        /// The step's final record.
        record: StepRecord,
    },
    /// The drill ended; the record is final (outcome rolled up, RTO/RPO set).
    DrillFinished {
        /// The whole record of the drill (boxed: it is large).
        record: Box<RunRecord>,
    },
}

/// A consumer of drill events. Implementations must be cheap: they run on the engine's task.
pub trait EventSink: Send {
    /// Handles one event; must not block (no network, no long I/O).
    fn on_event(&mut self, event: &DrillEvent);
}
