//! dr-harness: proves, continuously, that a Kubernetes cluster's data can be recovered.
//!
//! Architecture (one folder per area):
//! - [`config`]: strict TOML profiles (how to reach and rebuild a cluster) and scenarios (what to test);
//! - [`engine`]: runs a scenario's steps, times them, emits events, keeps the run record;
//! - [`target`]: backup-target I/O — the S3 client, the drill lock, run files beside the backups;
//! - [`steps`]: the step library (preflight, sentinel, backup, destroy/rebuild, verification…);
//! - [`cluster`], [`longhorn`]: the Kubernetes API through `kube`, Longhorn's resources;
//! - [`sentinel`]: the deterministic, checksummed data a drill writes and verifies;
//! - [`progress`]: the progress events long waits emit (rendered by `report::progress`);
//! - [`hooks`]: infrastructure hooks (terragrunt, tofu/terraform, commands) as subprocesses;
//! - [`report`]: JUnit, Prometheus, run.json, console;
//! - [`orchestrator`]: the restore orchestrator users deploy as a Job in their clusters;
//! - [`cli`]: argument parsing and exit codes; the binary is a thin wrapper around it.
//!
//! The library holds everything; the `dr-harness` binary only calls [`cli::main`].

pub mod cli;
pub mod cluster;
pub mod config;
pub mod drill;
pub mod engine;
pub mod hooks;
pub mod longhorn;
pub mod orchestrator;
pub mod progress;
pub mod redact;
pub mod report;
pub mod sentinel;
pub mod steps;
pub mod target;
