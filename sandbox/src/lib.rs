//! dr-sandbox: a local stand-in for a Kubernetes cluster with Longhorn and an S3 backup target.
//!
//! [`Sandbox::start`] brings up an S3 server (the backup target, kept for the sandbox's whole
//! life), a Kubernetes API server that `kube` and `kubectl` talk to, simulated controllers
//! (workloads, PVCs, Longhorn, Flux) and a busybox data plane, then bootstraps the cluster in
//! the order a real rebuild follows. [`Sandbox::destroy`] / [`Sandbox::apply`] lose and rebuild
//! everything but S3; [`faults::Faults`] injects the failure modes a drill must catch. See
//! `FIDELITY.md` for what is emulated how faithfully.

pub mod api;
pub mod bootstrap;
pub mod control;
pub mod controllers;
pub mod dataplane;
pub mod faults;
pub mod gitops;
pub mod lifecycle;
pub mod names;
pub mod s3;
pub mod timing;
pub mod transitions;

pub use controllers::version::{BackupVolumeNaming, LonghornVersion, UnknownLonghornVersion};
pub use faults::{Fault, Faults};
pub use lifecycle::{Sandbox, SandboxError, SandboxOptions};
pub use timing::Timing;
