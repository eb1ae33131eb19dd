//! The sentinel: the workload and the checksummed data a drill writes into its volume and
//! expects back, byte for byte, after the restore.

pub mod content;
pub mod manifest;
pub mod ticker;
pub mod ticks;

/// Directory inside the sentinel volume that holds everything the harness writes.
pub const DIR_NAME: &str = "dr-harness";
/// Manifest file name (sha256sum format) inside [`DIR_NAME`].
pub const MANIFEST_FILE: &str = "MANIFEST.sha256";
/// File holding the run id of the drill that wrote the data.
pub const RUN_ID_FILE: &str = "RUN_ID";
/// Append-only tick log used to measure the RPO.
pub const TICKS_FILE: &str = "ticks.log";

/// The sentinel manifests shipped in `fixtures/sentinel/` (namespace, PVC, Deployment), in
/// apply order.
pub const MANIFESTS: &[(&str, &str)] = &[
    (
        "namespace.yaml",
        include_str!("../../fixtures/sentinel/namespace.yaml"),
    ),
    ("pvc.yaml", include_str!("../../fixtures/sentinel/pvc.yaml")),
    (
        "deployment.yaml",
        include_str!("../../fixtures/sentinel/deployment.yaml"),
    ),
];
