//! Injectable faults: the ways a real DR path breaks, switchable at runtime in the sandbox.
//!
//! Each [`Fault`] mirrors a failure mode a drill must catch (longhorn-facts.md §4: backups stuck
//! `InProgress`, missing or corrupted blocks, BackupVolumes not discovered, an orchestrator that
//! never ran; plus infrastructure failures: a destroy that destroys nothing, a rebuild that fails,
//! a rotated kubeconfig). [`Faults`] aggregates the switches of every sandbox part — the API
//! server's [`ApiFaults`], the S3 server's [`S3Faults`], the data plane's [`DataFaults`] and the
//! controllers' own — so the control endpoint and tests set them in one place. Faults live in the
//! sandbox process, not in the cluster: they survive `destroy`/`apply`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api::ApiFaults;
use crate::dataplane::DataFaults;
use crate::s3::S3Faults;

/// One fault, named as on the CLI (`dr-harness sandbox fault NAME [ARG]`) and in the control
/// endpoint's JSON body (`{"name": "api-unavailable", "seconds": 5}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// Every new backup ends in state `Error` with an S3 upload error text.
    BackupError,
    /// Every new backup stays `InProgress` forever (Longhorn issues #9417/#9168).
    BackupStuck,
    /// Every new backup ends in the final state `Unknown` (the engine reported a state the
    /// backup monitor does not know: longhorn-manager@v1.9.1:engineapi/backups.go
    /// `ConvertEngineBackupState`); nothing is uploaded.
    BackupUnknown,
    /// Every restore fails as when all replicas fail to restore: Volume condition `Restore`
    /// `False` reason `RestoreFailure` "All replica restore failed and the volume became
    /// Faulted", robustness `faulted`, state `detached`, `restoreRequired` left `true`
    /// (longhorn-manager@v1.9.1:controller/volume_controller.go `closeVolumeDependentResources`).
    RestoreFailure,
    /// After the next backup completes, one of its blocks is deleted from S3 (one-shot).
    BlockMissing,
    /// After the next backup completes, one of its blocks is overwritten with garbage (one-shot).
    BlockCorrupted,
    /// The restore-orchestrator Job is not run: the sentinel PVC gets a fresh, empty volume.
    OrchestratorSkipped,
    /// Restores read the backup before the requested one (issues #5292/#7945).
    OlderBackupRestored,
    /// One byte of the restored data is flipped after the next restore (one-shot).
    RestoredByteFlipped,
    /// The BackupTarget never creates BackupVolume/Backup objects from S3.
    BackupvolumeNeverDiscovered,
    /// The API server answers 503 to every request for `seconds`.
    ApiUnavailable {
        /// Length of the outage in seconds.
        seconds: u64,
    },
    /// Open watches are closed and new ones refused for `seconds`.
    WatchesDropped {
        /// Length of the outage in seconds.
        seconds: u64,
    },
    /// `apply` takes `seconds` longer before the API server answers.
    RebuildSlow {
        /// Extra provisioning time in seconds.
        seconds: u64,
    },
    /// `destroy` returns success but the cluster and its data stay.
    DestroyLeavesCluster,
    /// `apply` returns an error and no cluster comes up.
    RebuildFails,
    /// `apply` serves the API on a new port with a new token and rewrites the kubeconfig.
    KubeconfigRotated,
    /// The named node reports `Ready=False`.
    NodeNotReady {
        /// Node name, e.g. `node-2`.
        node: String,
    },
    /// The named Longhorn Volume reports `robustness: degraded`.
    VolumeDegraded {
        /// Longhorn Volume name.
        volume: String,
    },
    /// The rebuilt cluster carries no `kube-system/dr-harness-drill-target` ConfigMap.
    NoDrillTargetMarker,
    /// longhorn-manager answers a `snapshotRevert` with 200 but does not revert the data.
    RevertNotApplied,
    /// Every SystemRestore ends in state `Error` with a rollout failure message.
    SystemRestoreError,
    /// After the next SystemBackup uploads, its `system-backup.zip` in S3 is overwritten, so its
    /// SHA-256 no longer matches the cfg's `Checksum` (one-shot).
    SystemBackupZipCorrupted,
}

/// A fault string that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultParseError {
    /// The name is not one of [`Fault::NAMES`].
    #[error("unknown fault {0:?}")]
    Unknown(String),
    /// The fault needs an argument (seconds, node or volume) and none was given.
    #[error("fault {name} needs an argument: {what}")]
    MissingArgument {
        /// Fault name.
        name: String,
        /// What the argument is.
        what: &'static str,
    },
    /// The fault takes no argument, or the argument is malformed.
    #[error("fault {name}: bad argument {arg:?}: {why}")]
    BadArgument {
        /// Fault name.
        name: String,
        /// The argument as given.
        arg: String,
        /// Why it was rejected.
        why: &'static str,
    },
}

impl Fault {
    /// Every fault name, in documentation order.
    pub const NAMES: &'static [&'static str] = &[
        "backup-error",
        "backup-stuck",
        "backup-unknown",
        "restore-failure",
        "block-missing",
        "block-corrupted",
        "orchestrator-skipped",
        "older-backup-restored",
        "restored-byte-flipped",
        "backupvolume-never-discovered",
        "api-unavailable",
        "watches-dropped",
        "rebuild-slow",
        "destroy-leaves-cluster",
        "rebuild-fails",
        "kubeconfig-rotated",
        "node-not-ready",
        "volume-degraded",
        "no-drill-target-marker",
        "system-restore-error",
        "system-backup-zip-corrupted",
        "revert-not-applied",
    ];

    /// The kebab-case name of this fault.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::BackupError => "backup-error",
            Fault::BackupStuck => "backup-stuck",
            Fault::BackupUnknown => "backup-unknown",
            Fault::RestoreFailure => "restore-failure",
            Fault::BlockMissing => "block-missing",
            Fault::BlockCorrupted => "block-corrupted",
            Fault::OrchestratorSkipped => "orchestrator-skipped",
            Fault::OlderBackupRestored => "older-backup-restored",
            Fault::RestoredByteFlipped => "restored-byte-flipped",
            Fault::BackupvolumeNeverDiscovered => "backupvolume-never-discovered",
            Fault::ApiUnavailable { .. } => "api-unavailable",
            Fault::WatchesDropped { .. } => "watches-dropped",
            Fault::RebuildSlow { .. } => "rebuild-slow",
            Fault::DestroyLeavesCluster => "destroy-leaves-cluster",
            Fault::RebuildFails => "rebuild-fails",
            Fault::KubeconfigRotated => "kubeconfig-rotated",
            Fault::NodeNotReady { .. } => "node-not-ready",
            Fault::VolumeDegraded { .. } => "volume-degraded",
            Fault::NoDrillTargetMarker => "no-drill-target-marker",
            Fault::RevertNotApplied => "revert-not-applied",
            Fault::SystemRestoreError => "system-restore-error",
            Fault::SystemBackupZipCorrupted => "system-backup-zip-corrupted",
        }
    }

    /// Builds a fault from its CLI form: a name and an optional argument (seconds for
    /// `api-unavailable`/`watches-dropped`/`rebuild-slow`, a node for `node-not-ready`, a
    /// volume for `volume-degraded`).
    ///
    /// # Errors
    /// [`FaultParseError`] for an unknown name, a missing, superfluous or malformed argument.
    pub fn parse(name: &str, arg: Option<&str>) -> Result<Self, FaultParseError> {
        let name = name.trim();
        let arg = arg.map(str::trim).filter(|a| !a.is_empty());
        let seconds = |what: &'static str| -> Result<u64, FaultParseError> {
            let a = arg.ok_or(FaultParseError::MissingArgument {
                name: name.to_string(),
                what,
            })?;
            let a = a.strip_suffix('s').unwrap_or(a);
            a.parse().map_err(|_| FaultParseError::BadArgument {
                name: name.to_string(),
                arg: a.to_string(),
                why: "expected a whole number of seconds",
            })
        };
        let text = |what: &'static str| -> Result<String, FaultParseError> {
            arg.map(str::to_string)
                .ok_or(FaultParseError::MissingArgument {
                    name: name.to_string(),
                    what,
                })
        };
        let fault = match name {
            "backup-error" => Fault::BackupError,
            "backup-stuck" => Fault::BackupStuck,
            "backup-unknown" => Fault::BackupUnknown,
            "restore-failure" => Fault::RestoreFailure,
            "block-missing" => Fault::BlockMissing,
            "block-corrupted" => Fault::BlockCorrupted,
            "orchestrator-skipped" => Fault::OrchestratorSkipped,
            "older-backup-restored" => Fault::OlderBackupRestored,
            "restored-byte-flipped" => Fault::RestoredByteFlipped,
            "backupvolume-never-discovered" => Fault::BackupvolumeNeverDiscovered,
            "api-unavailable" => Fault::ApiUnavailable {
                seconds: seconds("seconds")?,
            },
            "watches-dropped" => Fault::WatchesDropped {
                seconds: seconds("seconds")?,
            },
            "rebuild-slow" => Fault::RebuildSlow {
                seconds: seconds("seconds")?,
            },
            "destroy-leaves-cluster" => Fault::DestroyLeavesCluster,
            "rebuild-fails" => Fault::RebuildFails,
            "kubeconfig-rotated" => Fault::KubeconfigRotated,
            "node-not-ready" => Fault::NodeNotReady {
                node: text("node name")?,
            },
            "volume-degraded" => Fault::VolumeDegraded {
                volume: text("volume name")?,
            },
            "no-drill-target-marker" => Fault::NoDrillTargetMarker,
            "revert-not-applied" => Fault::RevertNotApplied,
            "system-restore-error" => Fault::SystemRestoreError,
            "system-backup-zip-corrupted" => Fault::SystemBackupZipCorrupted,
            other => return Err(FaultParseError::Unknown(other.to_string())),
        };
        if fault.argument().is_none() {
            if let Some(a) = arg {
                return Err(FaultParseError::BadArgument {
                    name: name.to_string(),
                    arg: a.to_string(),
                    why: "this fault takes no argument",
                });
            }
        }
        Ok(fault)
    }

    /// The argument in CLI form, if the fault has one.
    pub fn argument(&self) -> Option<String> {
        match self {
            Fault::ApiUnavailable { seconds }
            | Fault::WatchesDropped { seconds }
            | Fault::RebuildSlow { seconds } => Some(seconds.to_string()),
            Fault::NodeNotReady { node } => Some(node.clone()),
            Fault::VolumeDegraded { volume } => Some(volume.clone()),
            _ => None,
        }
    }

    /// Key under which the fault is kept active: faults with a node/volume argument are kept
    /// once per target, others once per name.
    fn key(&self) -> String {
        match self {
            Fault::NodeNotReady { node } => format!("node-not-ready/{node}"),
            Fault::VolumeDegraded { volume } => format!("volume-degraded/{volume}"),
            other => other.name().to_string(),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.argument() {
            Some(arg) => write!(f, "{}={arg}", self.name()),
            None => f.write_str(self.name()),
        }
    }
}

/// Parses `NAME`, `NAME=ARG`, `NAME:ARG` or `NAME ARG`.
impl FromStr for Fault {
    type Err = FaultParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        match s.find(['=', ':', ' ']) {
            Some(i) => Fault::parse(&s[..i], Some(&s[i + 1..])),
            None => Fault::parse(s, None),
        }
    }
}

/// The controllers' and lifecycle's view of the active faults, plus one-shot bookkeeping.
#[derive(Debug, Default)]
struct Active {
    faults: BTreeMap<String, Fault>,
}

/// Every fault switch of one sandbox. Cheap to share (`Arc<Faults>`); all methods take `&self`.
pub struct Faults {
    active: Mutex<Active>,
    api: Arc<ApiFaults>,
    s3: Arc<S3Faults>,
    data: Arc<DataFaults>,
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Faults")
            .field("active", &self.active())
            .finish_non_exhaustive()
    }
}

impl Faults {
    /// Aggregates the switches of the API server, the S3 server and the data plane.
    pub fn new(api: Arc<ApiFaults>, s3: Arc<S3Faults>, data: Arc<DataFaults>) -> Self {
        Self {
            active: Mutex::new(Active::default()),
            api,
            s3,
            data,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Active> {
        // a panic while holding this lock leaves only a map of plain values: safe to reuse
        self.active
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Turns a fault on. Timed faults (`api-unavailable`, `watches-dropped`) start now; setting
    /// one again restarts its window. Data-plane faults are armed in the data plane directly.
    pub fn set(&self, fault: Fault) {
        match &fault {
            Fault::ApiUnavailable { seconds } => {
                self.api.unavailable_for(Duration::from_secs(*seconds))
            }
            Fault::WatchesDropped { seconds } => {
                self.api.drop_watches_for(Duration::from_secs(*seconds))
            }
            Fault::OlderBackupRestored => self.data.set_restore_older_backup(true),
            Fault::RestoredByteFlipped => self.data.set_flip_byte_after_restore(true),
            _ => {}
        }
        tracing::info!(fault = %fault, "sandbox fault set");
        self.lock().faults.insert(fault.key(), fault);
    }

    /// Turns every fault off, including the API server's, S3's and the data plane's switches.
    pub fn clear(&self) {
        self.lock().faults.clear();
        self.api.clear();
        self.s3.clear();
        self.data.clear();
        tracing::info!("sandbox faults cleared");
    }

    /// The faults set and not yet consumed, sorted by name.
    pub fn active(&self) -> Vec<Fault> {
        self.lock().faults.values().cloned().collect()
    }

    /// Whether a fault without argument (or any instance of a fault with one) named `name` is on.
    pub fn is_set(&self, name: &str) -> bool {
        self.lock().faults.values().any(|f| f.name() == name)
    }

    /// Whether `fault` is on; consumes it (one-shot faults such as `block-missing`).
    pub fn take(&self, fault: &Fault) -> bool {
        self.lock().faults.remove(&fault.key()).is_some()
    }

    /// Whether node `node` must report `Ready=False`.
    pub fn node_not_ready(&self, node: &str) -> bool {
        self.lock()
            .faults
            .contains_key(&format!("node-not-ready/{node}"))
    }

    /// Whether Longhorn Volume `volume` must report `robustness: degraded`.
    pub fn volume_degraded(&self, volume: &str) -> bool {
        self.lock()
            .faults
            .contains_key(&format!("volume-degraded/{volume}"))
    }

    /// Extra provisioning time for `apply` from `rebuild-slow`.
    pub fn rebuild_delay(&self) -> Duration {
        match self.lock().faults.get("rebuild-slow") {
            Some(Fault::RebuildSlow { seconds }) => Duration::from_secs(*seconds),
            _ => Duration::ZERO,
        }
    }

    /// The API server's switches.
    pub fn api(&self) -> &Arc<ApiFaults> {
        &self.api
    }

    /// The S3 server's switches.
    pub fn s3(&self) -> &Arc<S3Faults> {
        &self.s3
    }

    /// The data plane's switches.
    pub fn data(&self) -> &Arc<DataFaults> {
        &self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_and_round_trips_through_display_and_json() {
        for name in Fault::NAMES {
            let arg = match *name {
                "api-unavailable" | "watches-dropped" | "rebuild-slow" => Some("7"),
                "node-not-ready" => Some("node-2"),
                "volume-degraded" => Some("dr-exercise-data"),
                _ => None,
            };
            let fault = Fault::parse(name, arg).expect("known fault parses");
            assert_eq!(fault.name(), *name);
            assert_eq!(fault.to_string().parse::<Fault>().as_ref(), Ok(&fault));
            let json = serde_json::to_value(&fault).expect("serialises");
            assert_eq!(json["name"], *name);
            let back: Fault = serde_json::from_value(json).expect("deserialises");
            assert_eq!(back, fault);
        }
    }

    #[test]
    fn cli_forms_and_errors() {
        assert_eq!(
            "api-unavailable 5".parse(),
            Ok(Fault::ApiUnavailable { seconds: 5 })
        );
        assert_eq!(
            "rebuild-slow=3s".parse(),
            Ok(Fault::RebuildSlow { seconds: 3 })
        );
        assert_eq!(
            "node-not-ready:node-1".parse(),
            Ok(Fault::NodeNotReady {
                node: "node-1".into()
            })
        );
        assert!(matches!(
            "nope".parse::<Fault>(),
            Err(FaultParseError::Unknown(_))
        ));
        assert!(matches!(
            "api-unavailable".parse::<Fault>(),
            Err(FaultParseError::MissingArgument { .. })
        ));
        assert!(matches!(
            "api-unavailable=soon".parse::<Fault>(),
            Err(FaultParseError::BadArgument { .. })
        ));
        assert!(matches!(
            "backup-error=1".parse::<Fault>(),
            Err(FaultParseError::BadArgument { .. })
        ));
        let json = serde_json::json!({"name": "api-unavailable", "seconds": 4});
        assert_eq!(
            serde_json::from_value::<Fault>(json).ok(),
            Some(Fault::ApiUnavailable { seconds: 4 })
        );
    }
}
