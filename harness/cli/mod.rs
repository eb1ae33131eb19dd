//! Command-line interface: parse, build a plan, call the library, map the outcome to an exit code.
//!
//! Exit codes: 0 passed, 1 a drill failed, 2 usage or configuration error, 3 infrastructure
//! unreachable (cluster, backup target, hooks' tools), 130 interrupted.

mod args;
mod init;
mod orchestrator;
mod run;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod scenarios;

use clap::Parser;

pub use args::Cli;

/// Exit code: every drill passed (also `--help` and `--version`).
pub const EXIT_PASSED: i32 = 0;
/// Exit code: a drill ran and failed (a step's check did not hold).
pub const EXIT_FAILED: i32 = 1;
/// Exit code: bad usage or configuration (flags, profile, scenario file); nothing was changed.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: infrastructure unreachable (cluster API, backup target, a hook's tool), so the
/// drill could not judge the cluster's recoverability either way.
pub const EXIT_UNREACHABLE: i32 = 3;
/// Exit code: interrupted by Ctrl-C or SIGTERM (128 + SIGINT, the shell's convention).
pub const EXIT_INTERRUPTED: i32 = 130;

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_USAGE
            } else {
                EXIT_PASSED
            };
            let _ = e.print();
            return code;
        }
    };
    init_tracing(cli.verbose);
    crate::cluster::connect::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return EXIT_UNREACHABLE;
        }
    };
    let code = runtime.block_on(dispatch(cli));
    // Hooks and servers were stopped by their owners; do not wait for stray blocking tasks.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    code
}

async fn dispatch(cli: Cli) -> i32 {
    use args::Command;
    match cli.command {
        Command::Run(a) => run::run(a).await,
        Command::Check(a) => run::check(a).await,
        Command::List(a) => run::list(a),
        #[cfg(feature = "sandbox")]
        Command::Sandbox(a) => sandbox::sandbox(a).await,
        Command::RestoreOrchestrator(a) => orchestrator::run(a).await,
        Command::VerifyBackup(a) => run::verify_backup(a).await,
        Command::Init(a) => init::run(a),
    }
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    use crate::report::progress;

    let default = match verbose {
        // kube_runtime logs every broken watch as an error, and kube-client's trace layer every
        // failed request (`failed with error …`, kube-client-5.0.0 src/client/builder.rs
        // `on_failure`), even one a retry then rides through; the waits and retries count and
        // report those, and the step names what finally failed.
        0 => {
            "warn,dr_harness=info,dr_sandbox=warn,kube_runtime=off,kube_client::client::builder=off"
        }
        1 => "info",
        _ => "debug",
    };
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("DR_HARNESS_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
    };
    // Wait progress is drawn by its own layer (spinners on a TTY, sparse lines otherwise), never
    // printed as a log line; everything else goes through the spinner-aware stderr. Every log
    // line passes the process-wide redactor: at -vv kube and hyper print URLs and headers that
    // may carry a token.
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(crate::redact::RedactingMakeWriter::new(
            progress::SuspendingStderrMaker,
        ))
        // Colour codes only for a terminal: CI logs and files get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .with_filter(filter())
        .with_filter(tracing_subscriber::filter::filter_fn(|m| {
            m.target() != progress::TARGET && m.target() != crate::steps::hook::OUTPUT_TARGET
        }));
    // A hook's own output, line by line, as the hook wrote it after its step's name
    // (`[destroy] …`): a timestamp and a level in front of every line of a terraform plan only
    // bury it. Still filtered by the verbosity, still redacted.
    let hook_output = tracing_subscriber::fmt::layer()
        .with_writer(crate::redact::RedactingMakeWriter::new(
            progress::SuspendingStderrMaker,
        ))
        .with_ansi(false)
        .without_time()
        .with_level(false)
        .with_target(false)
        .with_filter(filter())
        .with_filter(tracing_subscriber::filter::filter_fn(|m| {
            m.target() == crate::steps::hook::OUTPUT_TARGET
        }));
    let waits = progress::ProgressLayer::for_stderr().with_filter(
        tracing_subscriber::filter::filter_fn(|m| m.target() == progress::TARGET),
    );
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(hook_output)
        .with(waits)
        .try_init();
}
