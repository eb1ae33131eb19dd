//! Names of the facts steps hand to later steps through the run record (and so across `--resume`).

/// Longhorn Volume name behind the sentinel PVC.
pub const VOLUME: &str = "sentinel.volume";
/// The sentinel manifest: `[{sha256, name, size}]`.
pub const MANIFEST: &str = "sentinel.manifest";
/// Name of the Longhorn Snapshot the drill took.
pub const SNAPSHOT: &str = "backup.snapshot";
/// Name of the Backup (also its name on the backup target).
pub const BACKUP: &str = "backup.name";
/// Newest tick written before the disaster, Unix milliseconds.
pub const LAST_TICK_WRITTEN_MS: &str = "ticks.last_written_ms";
/// Wall-clock time the drill asked for its snapshot, Unix milliseconds: data written after it is
/// not in the backup.
pub const SNAPSHOT_AT_MS: &str = "backup.snapshot_at_ms";
/// First tick written, Unix milliseconds.
pub const FIRST_TICK_MS: &str = "ticks.first_ms";
/// Wall-clock start of the disaster (destroy hook start), RFC 3339; RTO fallback after a resume.
pub const DISASTER_AT: &str = "disaster.at";
/// The Longhorn release preflight found (`"1.9.1"`), absent when it could not tell; see
/// [`crate::longhorn::version`].
pub const LONGHORN_VERSION: &str = "longhorn.version";
/// Where preflight read the Longhorn version from, or why it is unknown.
pub const LONGHORN_VERSION_SOURCE: &str = "longhorn.version_source";
/// What proved the destroyed cluster gone (e.g. `TCP connection refused at 10.0.0.1:6443`).
pub const DESTROY_EVIDENCE: &str = "destroy.evidence";
