//! Strict TOML configuration: cluster profiles and drill scenarios.
//!
//! Every table rejects unknown keys and every error names the file, line and column and says
//! how to fix it: in a drill, a mistyped `allow_destroy` or timeout must stop the run before it
//! touches anything. Loading reads exactly one file and nothing else (no network).

pub mod error;
mod locate;
pub mod profile;
pub mod scenario;
mod translate;
pub mod values;

pub use error::ConfigError;
pub use profile::{
    BackupTarget, BackupTargetSource, BackupTargetUrl, Credentials, Expectations, HookPreset,
    HookSpec, Hooks, Kubeconfig, KubeconfigSource, Marker, Profile, Safety,
};
pub use scenario::{
    scenarios_in, BackupStep, CleanupStep, Compression, DeploySentinelStep, DestroyStep,
    PreflightStep, RebuildStep, Scenario, SentinelSpec, StartTicksStep, StepEntry, StepSpec,
    VerifyRestoreStep, VerifySentinelStep, WaitReadyStep, WriteSentinelStep,
};
