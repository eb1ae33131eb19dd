//! The fault matrix: every sandbox fault (`dr-harness sandbox fault --help`), and the
//! combinations a single fault cannot express, injected into a drill — one libtest-mimic trial
//! per row (`cargo test --test fault_matrix -- --list`). Each row names the step that must fail,
//! what its message must say and, where the cause is visible to the harness, how long that step
//! may take at most: a drill that sees why it cannot succeed must say so within seconds, not at
//! its timeout. Rows whose step is `-` are faults the drill rides through: it must pass.
//!
//! `docs/failure-modes.md` ("Fault matrix") is checked against [`ROWS`] by the trial
//! `fault_matrix::docs_match_the_table`, both ways, and every name of `Fault::NAMES` must
//! appear in some row (`fault_matrix::every_sandbox_fault_has_a_row`).

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::TestSandbox;
use dr_harness::config::Scenario;
use dr_harness::engine::events::{DrillEvent, EventKind, EventSink};
use dr_harness::engine::record::{Outcome, RunRecord, StepStatus};
use dr_harness::redact::Redactor;
use dr_sandbox::faults::{Fault, Faults};
use libtest_mimic::{Arguments, Failed, Trial};
use tokio_util::sync::CancellationToken;

/// When and how a row's fault reaches the sandbox.
#[derive(Clone, Copy)]
enum Inject {
    /// Set before the drill starts.
    Before(fn() -> Fault),
    /// Set when the named step starts.
    AtStep(&'static str, fn() -> Fault),
    /// A first, clean drill leaves an older backup; then the fault is set and a second drill runs.
    AfterCleanDrill(fn() -> Fault),
    /// The fault is set, the cluster destroyed and rebuilt by hand; then the drill runs.
    Rebuilt(fn() -> Fault),
    /// The destroy hook destroys (under `destroy-leaves-cluster`: nothing) and then makes the
    /// API answer 503 for this many seconds: the destroy's post-check meets an API that
    /// answers only with errors.
    DestroyThenApiUnavailable(u64),
    /// `dr-harness sandbox fault ARGS` runs this many milliseconds after the named step started
    /// (the step is already reading by then).
    LaterInStep(&'static str, u64, &'static str),
    /// Every block of the sentinel volume on the backup target is overwritten when the named
    /// step has finished (after verify-backup proved them good).
    CorruptBlocksAfter(&'static str),
}

/// One row of the matrix.
#[derive(Clone, Copy)]
struct Row {
    /// Fault name as `dr-harness sandbox fault` spells it (`a+b` for a combination).
    fault: &'static str,
    /// Scenario under `scenarios/`.
    scenario: &'static str,
    /// TOML edits applied to the scenario text (fast timing for this row).
    edits: &'static [(&'static str, &'static str)],
    inject: Inject,
    /// Step that must fail first; `-`: the drill must pass.
    step: &'static str,
    /// Substrings the failing step's message must contain, separated by ` … `.
    message: &'static str,
    /// Most seconds the failing step may take (the cause is visible: fail fast).
    bound_s: Option<u64>,
}

const VOL: &str = "dr-exercise-data";
/// full-rebuild with a short final health wait.
const FAST: &[(&str, &str)] = &[("wait = \"2m\"", "wait = \"10s\"")];

/// The matrix. Keep `docs/failure-modes.md` ("Fault matrix") in step: a trial compares them.
const ROWS: &[Row] = &[
    Row {
        fault: "backup-error",
        scenario: "full-rebuild",
        edits: FAST,
        inject: Inject::Before(|| Fault::BackupError),
        step: "backup",
        message: "ended in Error",
        bound_s: Some(60),
    },
    Row {
        fault: "backup-stuck",
        scenario: "full-rebuild",
        // the step's timeout (5 s) is far shorter than the wait's own (30 min)
        edits: &[("kind = \"backup\"\n", "kind = \"backup\"\ntimeout = \"5s\"\n")],
        inject: Inject::Before(|| Fault::BackupStuck),
        step: "backup",
        message: "to reach Completed … stuck in InProgress … longhorn/longhorn#9417",
        bound_s: Some(6),
    },
    Row {
        fault: "backup-unknown",
        scenario: "full-rebuild",
        edits: FAST,
        inject: Inject::Before(|| Fault::BackupUnknown),
        step: "backup",
        message: "ended in Unknown",
        bound_s: Some(60),
    },
    Row {
        fault: "restore-failure",
        scenario: "full-rebuild",
        edits: FAST,
        inject: Inject::Before(|| Fault::RestoreFailure),
        step: "wait-ready",
        message: "volume dr-exercise-data: Longhorn could not restore it from … All replica restore failed",
        bound_s: Some(60),
    },
    Row {
        fault: "block-missing",
        scenario: "full-rebuild",
        edits: FAST,
        inject: Inject::Before(|| Fault::BlockMissing),
        step: "backup",
        message: "the backup target disagrees … missing",
        bound_s: Some(60),
    },
    Row {
        fault: "block-corrupted",
        scenario: "full-rebuild",
        edits: FAST,
        inject: Inject::Before(|| Fault::BlockCorrupted),
        step: "verify-backup",
        message: "blocks/ … offset",
        bound_s: Some(60),
    },
    Row {
        fault: "block-corrupted-after-verify-backup",
        scenario: "full-rebuild",
        edits: FAST,
        inject: Inject::CorruptBlocksAfter("verify-backup"),
        step: "wait-ready",
        message: "volume dr-exercise-data: Longhorn could not restore it from … All replica restore failed",
        bound_s: Some(60),
    },
    Row {
        fault: "orchestrator-skipped",
        scenario: "full-rebuild",
        edits: FAST,
        inject: Inject::Before(|| Fault::OrchestratorSkipped),
        step: "verify-restore",
        message: "fresh, empty volume",
        bound_s: Some(60),
    },
    Row {
        fault: "older-backup-restored",
        scenario: "full-rebuild",
        edits: FAST,
        inject: Inject::AfterCleanDrill(|| Fault::OlderBackupRestored),
        step: "verify-sentinel",
        message: "older backup",
        bound_s: Some(60),
    },
    Row {
        fault: "restored-byte-flipped",
        scenario: "full-rebuild",
        edits: FAST,
        inject: Inject::Before(|| Fault::RestoredByteFlipped),
        step: "verify-sentinel",
        message: "first differing byte at offset",
        bound_s: Some(60),
    },
    Row {
        fault: "backupvolume-never-discovered",
        scenario: "full-rebuild",
        edits: FAST,
        inject: Inject::Before(|| Fault::BackupvolumeNeverDiscovered),
        step: "wait-ready",
        message: "found no BackupVolume of dr-exercise-data",
        bound_s: Some(60),
    },
    Row {
        fault: "api-unavailable",
        scenario: "full-rebuild",
        edits: FAST,
        inject: Inject::AtStep("backup", || Fault::ApiUnavailable { seconds: 3 }),
        step: "-",
        message: "",
        bound_s: None,
    },
    Row {
        fault: "watches-dropped",
        scenario: "full-rebuild",
        edits: FAST,
        inject: Inject::AtStep("wait-ready", || Fault::WatchesDropped { seconds: 3 }),
        step: "-",
        message: "",
        bound_s: None,
    },
    Row {
        fault: "rebuild-slow",
        scenario: "full-rebuild",
        edits: FAST,
        inject: Inject::Before(|| Fault::RebuildSlow { seconds: 2 }),
        step: "-",
        message: "",
        bound_s: None,
    },
    Row {
        fault: "destroy-leaves-cluster",
        scenario: "full-rebuild",
        edits: FAST,
        inject: Inject::Before(|| Fault::DestroyLeavesCluster),
        step: "destroy",
        message: "the destroy hook exited 0 but the cluster is still up",
        bound_s: Some(30),
    },
    Row {
        fault: "destroy-leaves-cluster+api-unavailable",
        scenario: "full-rebuild",
        edits: &[("kind = \"destroy\"\n", "kind = \"destroy\"\ntimeout = \"15s\"\n")],
        inject: Inject::DestroyThenApiUnavailable(20),
        step: "destroy",
        message: "could not prove that the destroyed cluster is gone … HTTP 503",
        bound_s: Some(16),
    },
    Row {
        fault: "rebuild-fails",
        scenario: "full-rebuild",
        edits: FAST,
        inject: Inject::Before(|| Fault::RebuildFails),
        step: "rebuild",
        message: "rebuild hook exited with",
        bound_s: Some(60),
    },
    Row {
        fault: "kubeconfig-rotated",
        scenario: "full-rebuild",
        edits: FAST,
        inject: Inject::Before(|| Fault::KubeconfigRotated),
        step: "-",
        message: "",
        bound_s: None,
    },
    Row {
        fault: "node-not-ready",
        scenario: "health",
        edits: &[("wait = \"1m\"", "wait = \"3s\"")],
        inject: Inject::Before(|| Fault::NodeNotReady {
            node: "node-2".into(),
        }),
        step: "health",
        message: "NotReady: node-2",
        bound_s: Some(15),
    },
    Row {
        fault: "node-not-ready@wait-ready",
        scenario: "full-rebuild",
        edits: &[(
            "kind = \"wait-ready\"\n",
            "kind = \"wait-ready\"\ntimeout = \"15s\"\n",
        )],
        inject: Inject::AtStep("rebuild", || Fault::NodeNotReady {
            node: "node-2".into(),
        }),
        step: "wait-ready",
        message: "3 Ready nodes … NotReady: node-2 Ready=False",
        bound_s: Some(16),
    },
    Row {
        fault: "volume-degraded",
        scenario: "health",
        edits: &[("wait = \"1m\"", "wait = \"3s\"")],
        // the volume turns degraded a second after the health step began: its first reads see
        // it healthy, and only the settle window catches the change
        inject: Inject::LaterInStep("health", 1000, "volume-degraded dr-exercise-data"),
        step: "health",
        message: "not healthy: dr-exercise-data (degraded)",
        bound_s: Some(15),
    },
    Row {
        fault: "no-drill-target-marker",
        scenario: "full-rebuild",
        edits: FAST,
        inject: Inject::Rebuilt(|| Fault::NoDrillTargetMarker),
        step: "preflight",
        message: "no drill-target marker",
        bound_s: Some(30),
    },
    Row {
        fault: "revert-not-applied",
        scenario: "snapshot-revert",
        edits: &[],
        inject: Inject::Before(|| Fault::RevertNotApplied),
        step: "verify-revert",
        message: "revert not applied: data B still present",
        bound_s: Some(60),
    },
    Row {
        fault: "system-restore-error",
        scenario: "system-restore",
        edits: &[("wait = \"2m\"", "wait = \"10s\"")],
        inject: Inject::Before(|| Fault::SystemRestoreError),
        step: "system-restore",
        message: "ended in Error … failed to roll out volumes",
        bound_s: Some(120),
    },
    Row {
        fault: "system-backup-zip-corrupted",
        scenario: "system-backup",
        edits: &[],
        inject: Inject::Before(|| Fault::SystemBackupZipCorrupted),
        step: "system-backup",
        message: "checksum mismatch",
        bound_s: Some(60),
    },
];

fn main() {
    let args = Arguments::from_args();
    // FAULT_MATRIX_LOG=info (an env filter) shows the drills' logs and progress while debugging.
    if let Ok(filter) = std::env::var("FAULT_MATRIX_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let mut trials = vec![
        Trial::test("fault_matrix::docs_match_the_table", docs_match_the_table),
        Trial::test(
            "fault_matrix::every_sandbox_fault_has_a_row",
            every_sandbox_fault_has_a_row,
        ),
    ];
    for row in ROWS {
        let row = *row;
        trials.push(Trial::test(format!("fault::{}", row.fault), move || {
            run_row(row)
        }));
    }
    libtest_mimic::run(&args, trials).exit();
}

/// A row as the documentation's table shows it.
fn doc_line(row: &Row) -> String {
    let bound = row
        .bound_s
        .map(|s| format!("{s} s"))
        .unwrap_or_else(|| "-".into());
    let message = if row.message.is_empty() {
        "- (passes)".to_string()
    } else {
        format!("`{}`", row.message)
    };
    format!(
        "| `{}` | {} | {} | {} | {} |",
        row.fault, row.scenario, row.step, message, bound
    )
}

fn doc_path() -> PathBuf {
    common::repo().join("docs/failure-modes.md")
}

/// The data rows of the doc's "Fault matrix" section.
fn doc_rows(text: &str) -> Vec<String> {
    let mut inside = false;
    let mut rows = Vec::new();
    for line in text.lines() {
        if line.starts_with("## ") {
            inside = line.trim() == "## Fault matrix";
            continue;
        }
        let line = line.trim();
        if inside && line.starts_with("| `") {
            rows.push(line.to_string());
        }
    }
    rows
}

fn docs_match_the_table() -> Result<(), Failed> {
    let text = std::fs::read_to_string(doc_path()).map_err(|e| Failed::from(e.to_string()))?;
    let documented = doc_rows(&text);
    let tested: Vec<String> = ROWS.iter().map(doc_line).collect();
    let mut problems = Vec::new();
    for t in &tested {
        if !documented.contains(t) {
            problems.push(format!("tested but not in the doc (or differs): {t}"));
        }
    }
    for d in &documented {
        if !tested.contains(d) {
            problems.push(format!("in the doc but not tested (or differs): {d}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failed::from(format!(
            "{} and tests/fault_matrix.rs ROWS disagree; the doc's \"Fault matrix\" section must hold exactly these rows:\n{}\n\nproblems:\n{}",
            doc_path().display(),
            tested.join("\n"),
            problems.join("\n")
        )))
    }
}

fn every_sandbox_fault_has_a_row() -> Result<(), Failed> {
    let missing: Vec<&str> = Fault::NAMES
        .iter()
        .copied()
        .filter(|name| {
            !ROWS
                .iter()
                .any(|r| r.fault.split(['+', '@']).next() == Some(*name))
        })
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Failed::from(format!(
            "sandbox faults without a row in the matrix: {}",
            missing.join(", ")
        )))
    }
}

/// Sets faults when steps start, corrupts blocks when a step finished.
struct Injector<'a> {
    faults: &'a Faults,
    at_step: Option<(&'static str, Fault)>,
    corrupt_after: Option<&'static str>,
    later: Option<(&'static str, u64, &'static str)>,
    state_dir: PathBuf,
    s3_dir: PathBuf,
    /// Fault commands started by [`Inject::LaterInStep`], reaped after the drill.
    children: Vec<std::process::Child>,
    corrupted: usize,
}

impl EventSink for Injector<'_> {
    fn on_event(&mut self, event: &DrillEvent) {
        match &event.kind {
            EventKind::StepStarted { step, .. }
                if self.at_step.as_ref().is_some_and(|(at, _)| at == step) =>
            {
                if let Some((_, fault)) = self.at_step.take() {
                    self.faults.set(fault);
                }
            }
            EventKind::StepStarted { step, .. }
                if self.later.as_ref().is_some_and(|(at, _, _)| at == step) =>
            {
                if let Some((_, ms, args)) = self.later.take() {
                    // a separate process, so the drill goes on meanwhile
                    let child = std::process::Command::new("sh")
                        .arg("-c")
                        .arg(format!(
                            "sleep {}; exec {} sandbox fault --state {} {args}",
                            ms as f64 / 1000.0,
                            common::harness_bin().display(),
                            self.state_dir.display()
                        ))
                        .spawn()
                        .expect("fault command started");
                    self.children.push(child);
                }
            }
            EventKind::StepFinished { record }
                if self.corrupt_after == Some(record.name.as_str()) =>
            {
                self.corrupt_after = None;
                self.corrupted = corrupt_blocks(&self.s3_dir, VOL);
            }
            _ => {}
        }
    }
}

/// Overwrites every block of `volume` under the S3 server's data folder (the object files of
/// s3s-fs), as bit rot or tampering on the backup target would; returns how many.
fn corrupt_blocks(dir: &Path, volume: &str) -> usize {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    let marker = format!("/{volume}/blocks/");
    let mut n = 0;
    for f in files {
        let s = f.to_string_lossy();
        if s.contains(&marker) && s.ends_with(".blk") {
            std::fs::write(
                &f,
                b"fault matrix: this block was corrupted after verify-backup",
            )
            .expect("block overwritten");
            n += 1;
        }
    }
    n
}

fn load(row: &Row) -> Scenario {
    let path = common::repo().join(format!("scenarios/{}.toml", row.scenario));
    let mut text = std::fs::read_to_string(&path).expect("scenario text");
    for (from, to) in row.edits {
        assert!(
            text.contains(from),
            "{}: {from:?} not found; update the row's edits",
            path.display()
        );
        text = text.replacen(from, to, 1);
    }
    Scenario::from_str(&text, &format!("{}-matrix.toml", row.scenario)).expect("scenario loads")
}

/// Stack of the thread that drives a row: a whole drill is one large future (debug builds keep
/// every await point's state), more than the 2 MiB a test thread gets.
const ROW_STACK: usize = 32 * 1024 * 1024;

fn run_row(row: Row) -> Result<(), Failed> {
    let driver = std::thread::Builder::new()
        .name(format!("fault-{}", row.fault))
        .stack_size(ROW_STACK)
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .enable_all()
                .build()
                .map_err(|e| Failed::from(e.to_string()))?;
            rt.block_on(async move {
                let sb = TestSandbox::start().await;
                let out = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
                let result = drill_row(&sb, &row, out.path()).await;
                sb.sandbox.shutdown().await;
                result
            })
        })
        .map_err(|e| Failed::from(format!("no thread for the row: {e}")))?;
    driver
        .join()
        .unwrap_or_else(|_| Err(Failed::from("the row panicked")))
}

async fn drill_row(sb: &TestSandbox, row: &Row, out: &Path) -> Result<(), Failed> {
    let scenario = load(row);
    let mut profile = sb.profile();
    let mut at_step = None;
    let mut corrupt_after = None;
    let mut later = None;
    match row.inject {
        Inject::Before(f) => sb.sandbox.faults().set(f()),
        Inject::AtStep(step, f) => at_step = Some((step, f())),
        Inject::AfterCleanDrill(f) => {
            let first = common::drill(sb, scenario.clone(), out).await;
            if first.outcome != Outcome::Passed {
                return Err(Failed::from(format!(
                    "the clean first drill failed: {:?}",
                    first.failing_step()
                )));
            }
            sb.sandbox.faults().set(f());
        }
        Inject::Rebuilt(f) => {
            sb.sandbox.faults().set(f());
            sb.sandbox.destroy().await.expect("destroyed");
            sb.sandbox.apply().await.expect("rebuilt");
            dr_harness::cli::sandbox::wait_bootstrapped(
                &sb.sandbox,
                std::time::Duration::from_secs(60),
            )
            .await
            .expect("rebuilt sandbox bootstraps");
        }
        Inject::DestroyThenApiUnavailable(seconds) => {
            sb.sandbox.faults().set(Fault::DestroyLeavesCluster);
            let bin = common::harness_bin().display().to_string();
            let state = sb.dir.path().display().to_string();
            let hook = profile.hooks.destroy.as_mut().expect("a destroy hook");
            hook.argv = Some(vec![
                "sh".into(),
                "-c".into(),
                format!(
                    "{bin} sandbox destroy --state {state} && {bin} sandbox fault --state {state} api-unavailable {seconds}"
                ),
            ]);
        }
        Inject::CorruptBlocksAfter(step) => corrupt_after = Some(step),
        Inject::LaterInStep(step, ms, args) => later = Some((step, ms, args)),
    }
    let mut sink = Injector {
        faults: sb.sandbox.faults(),
        at_step,
        corrupt_after,
        later,
        state_dir: sb.dir.path().to_path_buf(),
        children: Vec::new(),
        s3_dir: sb.sandbox.s3().data_dir().to_path_buf(),
        corrupted: 0,
    };
    let req = dr_harness::drill::DrillRequest {
        profile,
        scenario,
        allow_destroy: true,
        out_dir: out.to_path_buf(),
        s3_keys: Some(sb.keys()),
        resume: None,
        redactor: Redactor::new(),
        cancel: CancellationToken::new(),
    };
    let started = Instant::now();
    let record = dr_harness::drill::run_drill(req, &mut sink).await;
    let took = started.elapsed();
    for mut child in std::mem::take(&mut sink.children) {
        let status = child.wait().map_err(|e| Failed::from(e.to_string()))?;
        if !status.success() {
            return Err(Failed::from(format!(
                "the delayed fault command failed ({status}): the fault was not injected"
            )));
        }
    }
    if matches!(row.inject, Inject::CorruptBlocksAfter(_)) && sink.corrupted == 0 {
        return Err(Failed::from(
            "no block of the sentinel volume was found to corrupt",
        ));
    }
    judge(row, &record, took)
}

fn judge(row: &Row, record: &RunRecord, took: std::time::Duration) -> Result<(), Failed> {
    let summary = || {
        record
            .steps
            .iter()
            .map(|s| {
                format!(
                    "{} {:?} {:.1}s {}",
                    s.name,
                    s.status,
                    s.seconds,
                    s.message.clone().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    if row.step == "-" {
        return if record.outcome == Outcome::Passed {
            Ok(())
        } else {
            Err(Failed::from(format!(
                "{}: the drill should ride through this fault and pass, but: {:?}\n{}",
                row.fault,
                record.outcome,
                summary()
            )))
        };
    }
    let Some(failing) = record.failing_step() else {
        return Err(Failed::from(format!(
            "{}: the drill did not fail ({:?}, {:.1}s)\n{}",
            row.fault,
            record.outcome,
            took.as_secs_f64(),
            summary()
        )));
    };
    let msg = failing.message.clone().unwrap_or_default();
    let mut problems = Vec::new();
    if failing.name != row.step {
        problems.push(format!(
            "failed at step {} instead of {}",
            failing.name, row.step
        ));
    }
    for part in row.message.split(" … ") {
        if !msg.contains(part) {
            problems.push(format!("the message lacks {part:?}"));
        }
    }
    if row.fault == "backup-stuck" && failing.status != StepStatus::TimedOut {
        problems.push(format!(
            "a wait cut off by the step's timeout must leave the step timed out, not {:?}",
            failing.status
        ));
    }
    if let Some(bound) = row.bound_s {
        if failing.seconds > bound as f64 {
            problems.push(format!(
                "step {} took {:.1}s, more than the {bound} s the visible cause allows",
                failing.name, failing.seconds
            ));
        }
    }
    if problems.is_empty() {
        eprintln!(
            "{}: {} failed in {:.1}s (drill {:.1}s): {msg}",
            row.fault,
            failing.name,
            failing.seconds,
            took.as_secs_f64()
        );
        Ok(())
    } else {
        Err(Failed::from(format!(
            "{}: {}\nmessage: {msg}\ndiagnostics: {:?}\nsteps:\n{}",
            row.fault,
            problems.join("; "),
            failing.diagnostics,
            summary()
        )))
    }
}
