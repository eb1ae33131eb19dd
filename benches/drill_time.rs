//! The full-rebuild drill's wall time on the built-in sandbox (fast timing), split by phase.
//!
//! One drill through the library path the CLI takes (`drill::run_drill`, the real
//! `dr-harness` binary as hooks and orchestrator), against a fresh sandbox (its start is not
//! counted). The RTO and every phase come from the run record the drill writes, as a report
//! would read them. Prints one markdown table; a drill that does not pass prints its failing
//! step and exits 1 (a failed drill's time measures nothing).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use dr_harness::engine::record::Outcome;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run());
}

async fn run() {
    let sb = common::TestSandbox::start().await;
    let out = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let record = common::drill(&sb, common::scenario("full-rebuild"), out.path()).await;
    let wall = started.elapsed().as_secs_f64();
    sb.sandbox.shutdown().await;
    if record.outcome != Outcome::Passed {
        let failing = record
            .failing_step()
            .map(|s| format!("{}: {}", s.name, s.message.clone().unwrap_or_default()));
        println!(
            "| full-rebuild drill did not pass ({:?}) | {} |",
            record.outcome,
            failing.unwrap_or_default()
        );
        std::process::exit(1);
    }
    let rto = record.rto_seconds.unwrap_or(f64::NAN);
    println!("| full-rebuild drill, sandbox, fast timing | seconds | share of the RTO |");
    println!("|---|---|---|");
    println!("| wall time of `run_drill` (preflight to report) | {wall:.2} | – |");
    println!("| RTO (disaster → data verified), from the run record | {rto:.2} | 100 % |");
    if let Some(rpo) = record.rpo_seconds {
        println!("| RPO (measured from the newest surviving tick) | {rpo:.2} | – |");
    }
    for p in &record.phases {
        println!(
            "| phase `{}` | {:.2} | {:.0} % |",
            p.phase,
            p.seconds,
            100.0 * p.seconds / rto
        );
    }
    // The wall time also holds what comes before the disaster (deploy, write, backup, verify).
    for s in &record.steps {
        println!(
            "| step `{}` ({:?}) | {:.2} | – |",
            s.name, s.status, s.seconds
        );
    }
}
