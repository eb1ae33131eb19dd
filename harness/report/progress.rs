//! Live progress of long waits on the console.
//!
//! Waits (a hook running, a volume restoring, nodes coming back) announce themselves through
//! `tracing` events — the shared contract: target [`TARGET`], level INFO, message `"waiting"`
//! (or `"waited"` when the wait ends), fields `step` (drill step name or `""`), `gate` (what is
//! awaited), `elapsed_s` and `timeout_s` (f64 seconds, timeout 0 = none) and `state` (the last
//! observed state, short). [`crate::progress::waiting`] and [`crate::progress::waited`] emit them.
//!
//! [`ProgressLayer`] renders them: on a terminal, one indicatif spinner per open wait with its
//! live elapsed time, the timeout and the last state; elsewhere (CI logs, files) it stays quiet,
//! printing at most one plain line per wait every [`PLAIN_INTERVAL`] of the wait's own elapsed
//! time, and a closing line only for waits it spoke about. Log lines and the drill's console
//! lines pass through [`SuspendingStderr`], which lifts the spinners while a line is written so
//! the two never interleave.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::html::human_seconds;

/// Target and emitters of the progress events live in [`crate::progress`] (below `hooks`);
/// re-exported here, where they are rendered.
pub use crate::progress::{waited, waiting, TARGET};

/// Without a terminal, the least time between two lines about one wait.
pub const PLAIN_INTERVAL: Duration = Duration::from_secs(30);

/// One progress event, read back from its fields.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProgressUpdate {
    /// The `"waited"` event that ends a wait.
    pub finished: bool,
    /// The drill step that waits, or `""` outside a drill.
    pub step: String,
    /// What is awaited, in words (`volume pvc-1 restore`); with `step`, the key of the wait.
    pub gate: String,
    /// Seconds since the wait started.
    pub elapsed_s: f64,
    /// Seconds the wait may take; 0 = no timeout.
    pub timeout_s: f64,
    /// The last state seen of what is awaited (secrets already masked).
    pub state: String,
}

impl ProgressUpdate {
    /// Key of the wait this event belongs to.
    fn key(&self) -> (String, String) {
        (self.step.clone(), self.gate.clone())
    }
}

/// The text shown for a wait, without elapsed time: `[step] gate · timeout 15m 0s · state`.
/// Used beside indicatif's live elapsed time on a terminal.
pub(crate) fn render_status(u: &ProgressUpdate) -> String {
    let mut out = String::new();
    if !u.step.is_empty() {
        out.push_str(&format!("[{}] ", u.step));
    }
    out.push_str(&u.gate);
    if u.timeout_s > 0.0 {
        out.push_str(&format!(" · timeout {}", human_seconds(u.timeout_s)));
    }
    if !u.state.is_empty() {
        out.push_str(&format!(" · {}", u.state));
    }
    out
}

/// The plain line for an event:
/// `… [restore] waiting for volume pvc-1 restore: 1m 12s of 15m 0s (8%), state: restoring`;
/// for the closing event `… [restore] volume pvc-1 restore: done after 1m 12s, state: restored`.
pub(crate) fn render_line(u: &ProgressUpdate) -> String {
    let step = if u.step.is_empty() {
        String::new()
    } else {
        format!("[{}] ", u.step)
    };
    let state = if u.state.is_empty() {
        String::new()
    } else {
        format!(", state: {}", u.state)
    };
    if u.finished {
        return format!(
            "… {step}{}: done after {}{state}",
            u.gate,
            human_seconds(u.elapsed_s)
        );
    }
    let of = if u.timeout_s > 0.0 {
        let pct = (u.elapsed_s / u.timeout_s * 100.0).clamp(0.0, 999.0);
        format!(" of {} ({pct:.0}%)", human_seconds(u.timeout_s))
    } else {
        String::new()
    };
    format!(
        "… {step}waiting for {}: {}{of}{state}",
        u.gate,
        human_seconds(u.elapsed_s)
    )
}

/// Reads the contract's fields off an event.
#[derive(Default)]
struct Fields {
    message: String,
    update: ProgressUpdate,
}

impl Fields {
    fn set_str(&mut self, field: &Field, value: String) {
        match field.name() {
            "message" => self.message = value,
            "step" => self.update.step = value,
            "gate" => self.update.gate = value,
            "state" => self.update.state = value,
            _ => {}
        }
    }

    fn set_num(&mut self, field: &Field, value: f64) {
        match field.name() {
            "elapsed_s" => self.update.elapsed_s = value,
            "timeout_s" => self.update.timeout_s = value,
            _ => {}
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set_str(field, value.to_string());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set_num(field, value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set_num(field, value as f64);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set_num(field, value as f64);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        // `%value` fields and the message arrive here; Display-wrapped values print unquoted.
        self.set_str(field, format!("{value:?}"));
    }
}

/// Reads a progress event; `None` for events of other targets or other messages.
pub fn parse_event(event: &Event<'_>) -> Option<ProgressUpdate> {
    if event.metadata().target() != TARGET {
        return None;
    }
    let mut f = Fields::default();
    event.record(&mut f);
    f.update.finished = match f.message.as_str() {
        "waiting" => false,
        "waited" => true,
        _ => return None,
    };
    Some(f.update)
}

/// The spinners of the process, once a terminal layer exists; [`suspend`] lifts them.
static BARS: OnceLock<MultiProgress> = OnceLock::new();

/// Runs `f` with the spinners lifted off the terminal (if any are drawn), so that what `f`
/// writes to stderr does not interleave with them.
pub fn suspend<R>(f: impl FnOnce() -> R) -> R {
    match BARS.get() {
        Some(mp) => mp.suspend(f),
        None => f(),
    }
}

/// stderr for log and console lines: buffers until a newline, then writes the whole lines
/// with the spinners lifted ([`suspend`]). Also a `MakeWriter` for `tracing_subscriber::fmt`.
#[derive(Default)]
pub struct SuspendingStderr {
    buf: Vec<u8>,
}

impl SuspendingStderr {
    fn flush_lines(&mut self, all: bool) -> std::io::Result<()> {
        let upto = if all {
            self.buf.len()
        } else {
            match self.buf.iter().rposition(|b| *b == b'\n') {
                Some(i) => i + 1,
                None => return Ok(()),
            }
        };
        if upto == 0 {
            return Ok(());
        }
        let chunk: Vec<u8> = self.buf.drain(..upto).collect();
        suspend(|| {
            let mut err = std::io::stderr().lock();
            err.write_all(&chunk)?;
            err.flush()
        })
    }
}

impl Write for SuspendingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(buf);
        self.flush_lines(false)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.flush_lines(true)
    }
}

impl Drop for SuspendingStderr {
    fn drop(&mut self) {
        let _ = self.flush_lines(true);
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for SuspendingStderrMaker {
    type Writer = SuspendingStderr;
    fn make_writer(&'a self) -> Self::Writer {
        SuspendingStderr::default()
    }
}

/// `MakeWriter` giving a [`SuspendingStderr`] per log event.
#[derive(Debug, Clone, Copy, Default)]
pub struct SuspendingStderrMaker;

/// How [`ProgressLayer`] shows waits.
enum Mode {
    /// Spinners on a terminal, one per open wait.
    Bars {
        multi: MultiProgress,
        bars: HashMap<(String, String), ProgressBar>,
    },
    /// Occasional plain lines to a writer.
    Plain {
        out: Box<dyn Write + Send>,
        interval_s: f64,
        /// Per wait: the elapsed time of the last line printed about it (0 before any).
        spoken: HashMap<(String, String), f64>,
    },
}

/// A `tracing` layer rendering the progress events (see the module docs). Give it a filter
/// letting [`TARGET`] through; it ignores every other event itself.
pub struct ProgressLayer {
    mode: Mutex<Mode>,
}

impl ProgressLayer {
    /// Spinners when stderr is a terminal (and `TERM` is not `dumb`), otherwise plain lines
    /// every [`PLAIN_INTERVAL`] at most.
    pub fn for_stderr() -> Self {
        let tty =
            std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb");
        if tty {
            let multi = BARS
                .get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
                .clone();
            ProgressLayer {
                mode: Mutex::new(Mode::Bars {
                    multi,
                    bars: HashMap::new(),
                }),
            }
        } else {
            Self::plain(Box::new(SuspendingStderr::default()), PLAIN_INTERVAL)
        }
    }

    /// Plain lines to `out`, at most one per wait every `interval` of the wait's elapsed time
    /// (tests, log files).
    pub fn plain(out: Box<dyn Write + Send>, interval: Duration) -> Self {
        ProgressLayer {
            mode: Mutex::new(Mode::Plain {
                out,
                interval_s: interval.as_secs_f64(),
                spoken: HashMap::new(),
            }),
        }
    }

    /// Shows one update.
    pub fn show(&self, u: &ProgressUpdate) {
        let mut mode = match self.mode.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        match &mut *mode {
            Mode::Bars { multi, bars } => show_bar(multi, bars, u),
            Mode::Plain {
                out,
                interval_s,
                spoken,
            } => {
                let key = u.key();
                let line = if u.finished {
                    // Close only what was announced: a short wait stays silent.
                    spoken.remove(&key).map(|_| render_line(u))
                } else {
                    let last = spoken.get(&key).copied().unwrap_or(0.0);
                    (u.elapsed_s - last >= *interval_s).then(|| {
                        spoken.insert(key, u.elapsed_s);
                        render_line(u)
                    })
                };
                if let Some(line) = line {
                    // A closed stderr must not stop a drill.
                    let _ = out.write_all(format!("{line}\n").as_bytes());
                    let _ = out.flush();
                }
            }
        }
    }
}

fn show_bar(
    multi: &MultiProgress,
    bars: &mut HashMap<(String, String), ProgressBar>,
    u: &ProgressUpdate,
) {
    let key = u.key();
    if u.finished {
        if let Some(bar) = bars.remove(&key) {
            bar.finish_and_clear();
            multi.remove(&bar);
        }
        return;
    }
    let bar = bars.entry(key).or_insert_with(|| {
        let style = ProgressStyle::with_template("{spinner:.cyan} {elapsed:>6} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = multi.add(
            ProgressBar::new_spinner()
                .with_style(style)
                .with_elapsed(Duration::from_secs_f64(u.elapsed_s.max(0.0))),
        );
        bar.enable_steady_tick(Duration::from_millis(250));
        bar
    });
    bar.set_message(render_status(u));
}

impl<S: Subscriber> Layer<S> for ProgressLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if let Some(u) = parse_event(event) {
            self.show(&u);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upd(gate: &str, elapsed: f64, finished: bool) -> ProgressUpdate {
        ProgressUpdate {
            finished,
            step: "restore".into(),
            gate: gate.into(),
            elapsed_s: elapsed,
            timeout_s: 900.0,
            state: "restoring".into(),
        }
    }

    #[test]
    fn line_names_gate_elapsed_timeout_and_state() {
        assert_eq!(
            render_line(&upd("volume pvc-1 restore", 72.0, false)),
            "… [restore] waiting for volume pvc-1 restore: 1m 12s of 15m 0s (8%), state: restoring"
        );
        let mut no_timeout = upd("api", 3.0, false);
        no_timeout.timeout_s = 0.0;
        no_timeout.step.clear();
        no_timeout.state.clear();
        assert_eq!(render_line(&no_timeout), "… waiting for api: 3.0s");
        assert_eq!(
            render_line(&upd("volume pvc-1 restore", 80.0, true)),
            "… [restore] volume pvc-1 restore: done after 1m 20s, state: restoring"
        );
        assert_eq!(
            render_status(&upd("g", 1.0, false)),
            "[restore] g · timeout 15m 0s · restoring"
        );
    }
}
