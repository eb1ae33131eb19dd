//! Runs a [`HookPlan`] as a subprocess in its own process group.
//!
//! Why a process group: terragrunt starts tofu, tofu starts providers; a SIGTERM to the
//! leader alone leaves them running against the cloud API. Signals go to the whole group:
//! SIGTERM first (tofu then releases its state lock), SIGKILL after the grace period.

use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::HookPreset;
use crate::redact::Redactor;

use super::plan::{HookAction, HookPlan};
use super::tgreport::{not_succeeded, parse_report};
use super::HookError;

/// How many output lines the outcome keeps for the report.
pub const TAIL_LINES: usize = 200;

/// How long output is still read after the leader exited, for lines still in the pipes or
/// written by processes it left behind (which are then killed).
const DRAIN_WINDOW: Duration = Duration::from_secs(2);

/// Limit for the `state list` post-check.
const POST_CHECK_TIMEOUT: Duration = Duration::from_secs(300);

/// How often a running hook reports its progress (the shared progress contract asks for at
/// least every 10 s; see [`crate::progress`]).
pub(crate) const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// The progress of one hook run, announced as `dr_harness::progress` events.
struct HookProgress {
    gate: String,
    started: Instant,
    timeout: Duration,
    state: String,
    lines: u64,
    closed: bool,
}

impl HookProgress {
    fn new(plan: &HookPlan, started: Instant) -> Self {
        let program = std::path::Path::new(plan.program())
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let p = HookProgress {
            gate: format!("{} hook ({program})", plan.action.as_str()),
            started,
            timeout: plan.timeout,
            state: "started".into(),
            lines: 0,
            closed: false,
        };
        p.emit();
        p
    }

    fn emit(&self) {
        crate::progress::waiting(
            "",
            &self.gate,
            self.started.elapsed(),
            Some(self.timeout),
            &self.state,
        );
    }

    /// A new state is announced at once; the same state again only by the periodic tick.
    fn set(&mut self, state: String) {
        if state != self.state {
            self.state = state;
            self.emit();
        }
    }

    fn running(&self) -> String {
        format!("running, {} lines of output", self.lines)
    }

    fn done(&mut self, state: &str) {
        if std::mem::replace(&mut self.closed, true) {
            return;
        }
        crate::progress::waited(
            "",
            &self.gate,
            self.started.elapsed(),
            Some(self.timeout),
            state,
        );
    }
}

impl Drop for HookProgress {
    /// A run that ended in an error still closes its wait, so no spinner is left behind.
    fn drop(&mut self) {
        self.done("ended");
    }
}

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The hook's standard output.
    Stdout,
    /// The hook's standard error.
    Stderr,
}

/// What happened when a hook ran.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HookOutcome {
    /// Exit code of the main command; `None` if it was killed by a signal.
    pub exit_code: Option<i32>,
    /// Signal number that ended the main command, if any.
    pub signal: Option<i32>,
    /// Monotonic run time of the main command (and post-check), seconds.
    pub seconds: f64,
    /// The timeout ran out and the group was stopped.
    pub timed_out: bool,
    /// The cancel token fired and the group was stopped.
    pub cancelled: bool,
    /// The last [`TAIL_LINES`] lines of output (both streams, redacted, stderr prefixed
    /// with `stderr: `).
    pub tail: Vec<String>,
    /// Terragrunt report rows whose Result is not `succeeded` (`unit: result (reason)`).
    pub partial_destroy: Vec<String>,
    /// Resources `state list` still printed after a destroy that exited 0; a failing
    /// post-check is recorded here too, because "unknown" is not "destroyed".
    pub remaining_resources: Vec<String>,
}

impl HookOutcome {
    /// The hook did its job: exit 0, not stopped, and the tool's evidence agrees.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0)
            && !self.timed_out
            && !self.cancelled
            && self.partial_destroy.is_empty()
            && self.remaining_resources.is_empty()
    }

    /// One line for a failure message, or `None` on success.
    pub fn failure_summary(&self) -> Option<String> {
        if self.succeeded() {
            return None;
        }
        Some(if self.cancelled {
            "hook cancelled".to_string()
        } else if self.timed_out {
            format!("hook timed out after {:.0}s", self.seconds)
        } else if let Some(sig) = self.signal {
            format!("hook killed by signal {sig}")
        } else if self.exit_code != Some(0) {
            format!(
                "hook exited with code {}",
                self.exit_code.map_or("?".into(), |c| c.to_string())
            )
        } else if !self.partial_destroy.is_empty() {
            format!("partial run: {}", self.partial_destroy.join(", "))
        } else {
            format!(
                "incomplete destroy: still in state: {}",
                self.remaining_resources.join(", ")
            )
        })
    }
}

/// Why the group is being stopped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    Timeout,
    Cancel,
}

/// Runs `plan`: registers its secret values with `redactor`, spawns it (own process group,
/// stdin null), calls `on_line` for every redacted output line in arrival order (lines of one
/// stream keep their order), and stops the group on timeout or `cancel`. Afterwards reads the
/// terragrunt report or runs the destroy post-check.
///
/// # Errors
/// [`HookError::EmptyArgv`], [`HookError::Spawn`] or [`HookError::Wait`] when the process
/// cannot be started or observed. A non-zero exit, timeout or cancel is an `Ok` outcome.
pub async fn run_hook(
    plan: &HookPlan,
    redactor: &Redactor,
    cancel: CancellationToken,
    mut on_line: impl FnMut(Stream, &str) + Send,
) -> Result<HookOutcome, HookError> {
    run_plan(plan, redactor, cancel, &mut on_line).await
}

/// [`run_hook`] with the line callback as a trait object: the init and post-check run through
/// here again, and a generic callback would nest a new type per level.
async fn run_plan(
    plan: &HookPlan,
    redactor: &Redactor,
    cancel: CancellationToken,
    on_line: &mut (dyn FnMut(Stream, &str) + Send),
) -> Result<HookOutcome, HookError> {
    for secret in plan.secret_values() {
        redactor.add(&secret);
    }
    if let Some(init) = &plan.init {
        let mut init_plan = plan.clone();
        init_plan.argv = init.clone();
        init_plan.init = None;
        init_plan.report_file = None;
        init_plan.post_check = None;
        let mut outcome = Box::pin(run_plan(
            &init_plan,
            redactor,
            cancel.clone(),
            &mut *on_line,
        ))
        .await?;
        if !outcome.succeeded() {
            // The main command never ran: say which command failed.
            outcome.tail.push(format!(
                "stderr: dr-harness: `{}` failed; the {} command was not run",
                init.join(" "),
                plan.action.as_str()
            ));
            return Ok(outcome);
        }
    }
    let started = Instant::now();
    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
    let mut push_tail = |stream: Stream, line: &str| {
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(match stream {
            Stream::Stdout => line.to_string(),
            Stream::Stderr => format!("stderr: {line}"),
        });
    };

    let (program, mut child) = spawn(plan, &plan.argv)?;
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    let (tx, mut rx) = mpsc::unbounded_channel::<(Stream, String)>();
    forward_lines(child.stdout.take(), Stream::Stdout, tx.clone());
    forward_lines(child.stderr.take(), Stream::Stderr, tx);

    let deadline = tokio::time::sleep(plan.timeout);
    tokio::pin!(deadline);
    let mut stop: Option<Stop> = None;
    let mut status: Option<ExitStatus> = None;
    let mut output_open = true;
    let mut kill_at: Option<tokio::time::Instant> = None;
    let mut drain_until: Option<tokio::time::Instant> = None;
    let mut progress = HookProgress::new(plan, started);
    let mut progress_tick =
        tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);

    while status.is_none() || output_open {
        let kill_sleep = tokio::time::sleep_until(kill_at.unwrap_or_else(far_future));
        let drain_sleep = tokio::time::sleep_until(drain_until.unwrap_or_else(far_future));
        tokio::select! {
            msg = rx.recv(), if output_open => match msg {
                Some((stream, line)) => {
                    let line = redactor.redact(&line);
                    on_line(stream, &line);
                    push_tail(stream, &line);
                    progress.lines += 1;
                    if progress.lines == 1 {
                        progress.set(progress.running());
                    }
                }
                None => output_open = false,
            },
            res = child.wait(), if status.is_none() => {
                let st = res.map_err(|source| HookError::Wait { program: program.clone(), source })?;
                status = Some(st);
                if output_open {
                    drain_until = Some(tokio::time::Instant::now() + DRAIN_WINDOW);
                }
            },
            _ = &mut deadline, if stop.is_none() && status.is_none() => {
                stop = Some(Stop::Timeout);
                signal_group(pgid, Signal::SIGTERM);
                kill_at = Some(tokio::time::Instant::now() + plan.grace);
                progress.set("timed out, SIGTERM sent".into());
            },
            _ = cancel.cancelled(), if stop.is_none() && status.is_none() => {
                stop = Some(Stop::Cancel);
                signal_group(pgid, Signal::SIGTERM);
                kill_at = Some(tokio::time::Instant::now() + plan.grace);
                progress.set("cancelled, SIGTERM sent".into());
            },
            _ = kill_sleep, if kill_at.is_some() => {
                signal_group(pgid, Signal::SIGKILL);
                kill_at = None;
                progress.set("SIGKILL sent".into());
            },
            _ = progress_tick.tick(), if status.is_none() => {
                if stop.is_none() {
                    progress.state = progress.running();
                }
                progress.emit();
            },
            _ = drain_sleep, if drain_until.is_some() => {
                // The leader is gone but something still holds the pipes: leftovers of the
                // hook in its group. They are ours to clean up.
                signal_group(pgid, Signal::SIGKILL);
                drain_until = None;
                output_open = false;
            },
        }
    }
    // Stragglers that ignored SIGTERM while the leader exited in time still get the SIGKILL.
    if stop.is_some() {
        if kill_at.is_some() {
            wait_group_gone(pgid, kill_at).await;
        }
        signal_group(pgid, Signal::SIGKILL);
    }

    let status = status.unwrap_or_default();
    // The main command's wait ends here; the post-check, if any, is a wait of its own.
    progress.done(&match (stop, status.code()) {
        (Some(Stop::Timeout), _) => "timed out".to_string(),
        (Some(Stop::Cancel), _) => "cancelled".to_string(),
        (None, Some(code)) => format!("exited {code}"),
        (None, None) => "killed by a signal".to_string(),
    });
    let mut outcome = HookOutcome {
        exit_code: status.code(),
        signal: std::os::unix::process::ExitStatusExt::signal(&status),
        timed_out: stop == Some(Stop::Timeout),
        cancelled: stop == Some(Stop::Cancel),
        ..HookOutcome::default()
    };

    if outcome.exit_code == Some(0) && stop.is_none() {
        if let Some(report) = &plan.report_file {
            if report.exists() {
                let units = parse_report(report)?;
                outcome.partial_destroy = not_succeeded(&units);
            } else {
                push_tail(
                    Stream::Stderr,
                    "dr-harness: terragrunt wrote no report file; partial runs cannot be detected",
                );
            }
        }
        if let (Some(check), HookAction::Destroy) = (&plan.post_check, plan.action) {
            outcome.remaining_resources = post_check(plan, check, redactor, &cancel).await?;
        }
    }
    outcome.seconds = started.elapsed().as_secs_f64();
    outcome.tail = tail.into_iter().collect();
    Ok(outcome)
}

fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(365 * 24 * 3600)
}

fn spawn(plan: &HookPlan, argv: &[String]) -> Result<(String, Child), HookError> {
    let program = argv.first().cloned().ok_or_else(|| HookError::EmptyArgv {
        action: plan.action.as_str().to_string(),
    })?;
    let mut cmd = Command::new(&program);
    cmd.args(&argv[1..])
        .envs(&plan.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        // Dropping the future (engine aborted) must not leave a destroy running unobserved.
        .kill_on_drop(true);
    if let Some(dir) = &plan.working_dir {
        cmd.current_dir(dir);
    }
    let child = cmd.spawn().map_err(|source| HookError::Spawn {
        program: program.clone(),
        source,
    })?;
    Ok((program, child))
}

/// Sends lines of `reader` to `tx` until EOF; invalid UTF-8 is replaced, `\r\n` trimmed.
fn forward_lines<R>(reader: Option<R>, stream: Stream, tx: mpsc::UnboundedSender<(Stream, String)>)
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let Some(reader) = reader else { return };
    tokio::spawn(async move {
        let mut reader = BufReader::new(reader);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    while matches!(buf.last(), Some(b'\n' | b'\r')) {
                        buf.pop();
                    }
                    let line = String::from_utf8_lossy(&buf).into_owned();
                    if tx.send((stream, line)).is_err() {
                        break;
                    }
                }
            }
        }
    });
}

/// Signals every process of the group; a group that is already gone is not an error.
fn signal_group(pgid: Option<Pid>, signal: Signal) {
    if let Some(pgid) = pgid {
        let _ = killpg(pgid, signal);
    }
}

/// Waits until the group has no live members or `until` passes.
async fn wait_group_gone(pgid: Option<Pid>, until: Option<tokio::time::Instant>) {
    let Some(pgid) = pgid else { return };
    let until = until.unwrap_or_else(tokio::time::Instant::now);
    while tokio::time::Instant::now() < until {
        if killpg(pgid, None).is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs the destroy post-check; returns what it printed (the resources still in state), or a
/// description of its failure.
async fn post_check(
    plan: &HookPlan,
    argv: &[String],
    redactor: &Redactor,
    cancel: &CancellationToken,
) -> Result<Vec<String>, HookError> {
    let mut check_plan = plan.clone();
    check_plan.argv = argv.to_vec();
    check_plan.report_file = None;
    check_plan.post_check = None;
    check_plan.timeout = POST_CHECK_TIMEOUT.min(plan.timeout);
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let out = Box::pin(run_hook(
        &check_plan,
        redactor,
        cancel.clone(),
        |s, l| match s {
            Stream::Stdout if !l.trim().is_empty() => stdout.push(l.trim().to_string()),
            Stream::Stderr => stderr.push(l.to_string()),
            _ => {}
        },
    ))
    .await?;
    if out.exit_code == Some(0) {
        return Ok(stdout);
    }
    let tool = match plan.preset {
        HookPreset::Terraform => "terraform",
        _ => "tofu",
    };
    let mut remaining = vec![format!(
        "`{tool} state list` failed ({}), the state could not be checked",
        out.failure_summary().unwrap_or_default()
    )];
    remaining.extend(stderr.into_iter().rev().take(5).rev());
    Ok(remaining)
}
