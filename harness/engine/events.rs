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
    pub at: DateTime<Utc>,
    /// Monotonic time since the drill started.
    pub elapsed: Duration,
    pub kind: EventKind,
}

#[derive(Debug, Clone)]
pub enum EventKind {
    DrillStarted {
        run_id: String,
        scenario: String,
        cluster: String,
        steps: Vec<String>,
    },
    StepStarted {
        step: String,
        kind: String,
    },
    /// A line of progress inside a step (hook output, wait status); already redacted.
    Progress {
        step: String,
        line: String,
    },
    CheckFinished {
        step: String,
        check: CheckRecord,
    },
    StepFinished {
        record: StepRecord,
    },
    DrillFinished {
        record: Box<RunRecord>,
    },
}

/// A consumer of drill events. Implementations must be cheap: they run on the engine's task.
pub trait EventSink: Send {
    fn on_event(&mut self, event: &DrillEvent);
}
