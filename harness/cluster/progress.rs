//! Live progress of long waits, and the running step's deadline as waits see it.
//!
//! Every long wait reports what it awaits through `tracing` events (the shared contract of the
//! console renderer): target [`TARGET`], level INFO, message `"waiting"` with fields `step` (the
//! drill step, or `""` outside a drill), `gate` (what is awaited, e.g. `volume pvc-1 restore`),
//! `elapsed_s` and `timeout_s` (f64 seconds, `0` = no timeout) and `state` (the last observed
//! state, short). One is emitted when the wait starts, on every change of state and at least
//! every [`HEARTBEAT`]; a final one with message `"waited"` and the same fields when it ends.
//!
//! The runner runs each step inside a [`StepScope`] (a tokio task-local): waits read from it the
//! step's name for their events and the step's deadline, so a wait whose own timeout is longer
//! than what is left of the step ends first ([`clamp`]) and its specific diagnosis (e.g. a backup
//! "stuck InProgress (#9417)") reaches the report instead of the runner's generic "did not finish
//! within its timeout". The scope also keeps the last wait's state ([`StepScope::last_wait`]) for
//! the runner's message when a step times out outside any wait.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::redact::Redactor;

/// `tracing` target of the progress events (defined once, in [`crate::progress`]).
pub use crate::progress::TARGET;

/// Longest silence between two progress events of one wait.
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// Time kept back from the step's deadline when a wait is clamped to it: enough for the step to
/// turn the wait's timeout into its own message before the runner's timer fires.
pub const STEP_MARGIN: Duration = Duration::from_millis(750);

/// The state of the newest wait of a step, for the runner's timeout message.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitSnapshot {
    /// What was awaited.
    pub gate: String,
    /// Last observed state.
    pub state: String,
    /// Seconds the wait had run at the last observation.
    pub elapsed_s: f64,
    /// Whether the wait has ended (met, failed or timed out).
    pub finished: bool,
}

/// The running step, as waits inside it see it.
#[derive(Debug, Clone)]
pub struct StepScope {
    /// Step name (the scenario's `name`).
    pub name: String,
    /// When the runner gives up on the step (its `timeout`), if known.
    pub deadline: Option<Instant>,
    /// Masks secrets in gates and states before they are emitted.
    pub redactor: Redactor,
    /// The newest wait's state; shared with the runner.
    pub last_wait: Arc<Mutex<Option<WaitSnapshot>>>,
}

impl StepScope {
    /// A scope for step `name` ending at `deadline`.
    pub fn new(name: &str, deadline: Option<Instant>, redactor: Redactor) -> Self {
        StepScope {
            name: name.to_string(),
            deadline,
            redactor,
            last_wait: Arc::new(Mutex::new(None)),
        }
    }

    /// The newest wait's state, if any wait ran in this step.
    pub fn last_wait(&self) -> Option<WaitSnapshot> {
        self.last_wait
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Runs `fut` with this scope visible to the waits inside it.
    pub async fn run<F: Future>(self, fut: F) -> F::Output {
        SCOPE.scope(self, fut).await
    }
}

tokio::task_local! {
    static SCOPE: StepScope;
}

fn with_scope<R>(f: impl FnOnce(&StepScope) -> R) -> Option<R> {
    SCOPE.try_with(f).ok()
}

/// What is left of the running step before the runner's timer fires (less [`STEP_MARGIN`]),
/// None outside a step or for a step without deadline.
pub fn step_remaining() -> Option<Duration> {
    with_scope(|s| s.deadline)
        .flatten()
        .map(|d| d.saturating_duration_since(Instant::now()))
        .map(|left| left.saturating_sub(STEP_MARGIN.min(left / 2)))
}

/// `timeout`, shortened to what is left of the running step (see [`step_remaining`]), so the
/// wait ends with its own diagnosis before the step is cut off.
pub fn clamp(timeout: Duration) -> Duration {
    match step_remaining() {
        Some(left) => timeout.min(left),
        None => timeout,
    }
}

/// One wait's progress reporter: emits the contract's events and keeps the step's snapshot.
#[derive(Debug)]
pub struct Progress {
    gate: String,
    step: String,
    timeout: Duration,
    started: Instant,
    last_emit: Instant,
    state: String,
    redactor: Option<Redactor>,
    last_wait: Option<Arc<Mutex<Option<WaitSnapshot>>>>,
}

impl Progress {
    /// Starts reporting a wait for `gate` with `timeout` (zero: none); emits the first event.
    pub fn start(gate: &str, timeout: Duration) -> Progress {
        let (step, redactor, last_wait) = with_scope(|s| {
            (
                s.name.clone(),
                Some(s.redactor.clone()),
                Some(s.last_wait.clone()),
            )
        })
        .unwrap_or_default();
        let now = Instant::now();
        let mut p = Progress {
            gate: gate.to_string(),
            step,
            timeout,
            started: now,
            last_emit: now,
            state: "started".to_string(),
            redactor,
            last_wait,
        };
        p.emit(false);
        p
    }

    /// Seconds since the wait started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Records the newest observed state; emits an event when it changed or when the last one
    /// is [`HEARTBEAT`] old.
    pub fn observe(&mut self, state: &str) {
        let state: String = state.chars().take(300).collect();
        if state != self.state || self.last_emit.elapsed() >= HEARTBEAT {
            self.state = state;
            self.emit(false);
        }
    }

    /// Emits a heartbeat if the last event is [`HEARTBEAT`] old (for waits with no new state).
    pub fn heartbeat(&mut self) {
        if self.last_emit.elapsed() >= HEARTBEAT {
            self.emit(false);
        }
    }

    /// Ends the wait with its final state: emits `"waited"`.
    pub fn finish(mut self, state: &str) {
        self.state = state.chars().take(300).collect();
        self.emit(true);
    }

    fn emit(&mut self, finished: bool) {
        self.last_emit = Instant::now();
        let redact = |t: &str| match &self.redactor {
            Some(r) => r.redact(t).into_owned(),
            None => t.to_string(),
        };
        let gate = redact(&self.gate);
        let state = redact(&self.state);
        let elapsed = self.started.elapsed();
        let elapsed_s = elapsed.as_secs_f64();
        let emit = if finished {
            crate::progress::waited
        } else {
            crate::progress::waiting
        };
        emit(&self.step, &gate, elapsed, Some(self.timeout), &state);
        if let Some(slot) = &self.last_wait {
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(WaitSnapshot {
                gate,
                state,
                elapsed_s,
                finished,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[tokio::test]
    async fn clamp_keeps_a_margin_inside_the_step() {
        assert_eq!(clamp(Duration::from_secs(30)), Duration::from_secs(30));
        let scope = StepScope::new(
            "backup",
            Some(Instant::now() + Duration::from_secs(5)),
            Redactor::new(),
        );
        let got = scope.run(async { clamp(Duration::from_secs(1800)) }).await;
        assert!(
            got <= Duration::from_millis(4250) && got >= Duration::from_secs(4),
            "{got:?}"
        );
    }

    /// Collects the progress events' message and fields, as the console renderer reads them.
    #[derive(Clone, Default)]
    struct Collect(Arc<Mutex<Vec<BTreeMap<String, String>>>>);

    struct Fields<'a>(&'a mut BTreeMap<String, String>);

    impl tracing::field::Visit for Fields<'_> {
        fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
            self.0
                .insert(field.name().to_string(), format!("str:{value}"));
        }
        fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
            self.0
                .insert(field.name().to_string(), format!("f64:{value}"));
        }
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            self.0
                .insert(field.name().to_string(), format!("debug:{value:?}"));
        }
    }

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Collect {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            if event.metadata().target() != TARGET {
                return;
            }
            let mut fields = BTreeMap::new();
            event.record(&mut Fields(&mut fields));
            fields.insert("level".into(), event.metadata().level().to_string());
            self.0.lock().unwrap().push(fields);
        }
    }

    #[test]
    fn events_follow_the_shared_contract() {
        use tracing_subscriber::layer::SubscriberExt;
        let collect = Collect::default();
        let subscriber = tracing_subscriber::registry().with(collect.clone());
        tracing::subscriber::with_default(subscriber, || {
            let mut p = Progress::start("volume pvc-1 restore", Duration::from_secs(30));
            p.observe("state attached");
            p.observe("state attached"); // unchanged and fresh: no event
            p.finish("met: state detached");
        });
        let events = collect.0.lock().unwrap().clone();
        let messages: Vec<&str> = events.iter().map(|e| e["message"].as_str()).collect();
        assert_eq!(messages, ["debug:waiting", "debug:waiting", "debug:waited"]);
        for e in &events {
            assert_eq!(e["level"], "INFO");
            assert_eq!(e["step"], "str:", "outside a drill the step is empty");
            assert_eq!(e["gate"], "str:volume pvc-1 restore");
            assert_eq!(e["timeout_s"], "f64:30");
            assert!(e["elapsed_s"].starts_with("f64:"), "{e:?}");
        }
        assert_eq!(events[1]["state"], "str:state attached");
        assert_eq!(events[2]["state"], "str:met: state detached");
    }

    #[tokio::test]
    async fn the_step_sees_the_last_wait_redacted() {
        let redactor = Redactor::new();
        redactor.add("s3cr3t-token");
        let scope = StepScope::new("wait-ready", None, redactor);
        let slot = scope.clone();
        scope
            .run(async {
                let mut p = Progress::start("volume v restore", Duration::from_secs(9));
                p.observe("state attached, token s3cr3t-token");
            })
            .await;
        let snap = slot.last_wait().expect("a wait ran");
        assert_eq!(snap.gate, "volume v restore");
        assert_eq!(snap.state, "state attached, token ***");
        assert!(!snap.finished);
    }
}
