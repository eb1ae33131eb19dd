//! dr-harness: proves, continuously, that a Kubernetes cluster's data can be recovered.
//!
//! The library holds everything; the `dr-harness` binary only parses arguments, builds a plan,
//! calls in here and maps the outcome to an exit code.

pub mod config;
pub mod engine;
pub mod hooks;
pub mod redact;
pub mod report;
