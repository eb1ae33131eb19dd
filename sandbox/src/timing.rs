//! How long the sandbox's simulated cluster takes for each step.
//!
//! A real rebuild takes minutes (seed dr-exercise-plan: "exercise is ~30 minutes"; Longhorn's
//! default backupstore poll interval is 300 s). The sandbox keeps the same order of events but
//! scales the waits: [`Timing::fast`] runs a whole destroy/rebuild drill in a few seconds for
//! tests, [`Timing::realistic`] takes seconds per step so a human can watch a drill progress and
//! the harness's waits and RTO measurement see non-trivial durations. Every controller takes its
//! delays from here, never from literals.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Longhorn's default backupstore poll interval (Longhorn v1.8 BackupTarget CRD default
/// `spec.pollInterval: 300s`), the reference that [`Timing::backup_target_poll`] stands for.
pub const LONGHORN_DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(300);

/// Every delay of the simulated cluster. All fields are public and overridable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// How often every controller re-reconciles even without watch events.
    pub controller_tick: Duration,
    /// From `apply` being called to the API server answering (infrastructure provisioning).
    pub cluster_create: Duration,
    /// From the API server answering to the three nodes being `Ready`.
    pub node_ready: Duration,
    /// From nodes Ready to the Longhorn workloads being Available and the BackupTarget checked.
    pub longhorn_ready: Duration,
    /// Container start: from a Pod being schedulable (volumes bound) to `Running`.
    pub pod_start: Duration,
    /// Longhorn Volume creation: from the object to `detached`/`healthy`.
    pub volume_create: Duration,
    /// Longhorn Volume attach: from a pod needing it to `attached`.
    pub volume_attach: Duration,
    /// Snapshot creation time on top of the data-plane work.
    pub snapshot: Duration,
    /// Delay between backup state steps (`Pending` → `InProgress` → progress updates).
    pub backup_step: Duration,
    /// Delay between restore state steps (`restoreInitiated` → restore → done).
    pub restore_step: Duration,
    /// The effective BackupTarget poll period standing for Longhorn's default 300 s; other
    /// `spec.pollInterval` values are scaled by the same ratio (see [`Timing::scaled_poll`]).
    pub backup_target_poll: Duration,
    /// Flux Kustomization reconcile step: from dependencies Ready to the manifests applied.
    pub kustomization_step: Duration,
    /// How long `destroy` takes (infrastructure teardown).
    pub destroy: Duration,
    /// The empty-status window of a new BackupVolume: from a BackupTarget sync creating it
    /// (status without `lastBackupName`, `lastSyncedAt: null`) to the backup-volume controller
    /// filling its status from `volume.cfg` (longhorn-manager@v1.9.1:controller/backup_target_controller.go
    /// `pullBackupVolumeFromBackupTarget` creates the object with no status;
    /// longhorn-manager@v1.9.1:controller/backup_volume_controller.go `reconcile` fills it on its
    /// own, later pass). `Duration::ZERO` fills it in the same sync.
    pub backup_volume_status_delay: Duration,
}

impl Timing {
    /// A whole destroy/rebuild drill in a few seconds: tens of milliseconds per step, BackupTarget
    /// poll 200 ms.
    pub fn fast() -> Self {
        Self {
            controller_tick: Duration::from_millis(50),
            cluster_create: Duration::from_millis(20),
            node_ready: Duration::from_millis(30),
            longhorn_ready: Duration::from_millis(50),
            pod_start: Duration::from_millis(20),
            volume_create: Duration::from_millis(20),
            volume_attach: Duration::from_millis(20),
            snapshot: Duration::from_millis(10),
            backup_step: Duration::from_millis(20),
            restore_step: Duration::from_millis(20),
            backup_target_poll: Duration::from_millis(200),
            kustomization_step: Duration::from_millis(30),
            destroy: Duration::from_millis(20),
            backup_volume_status_delay: Duration::from_millis(150),
        }
    }

    /// Seconds per step (node ready 3 s, Longhorn ready 5 s, poll 10 s, backup and restore a few
    /// seconds): scaled-down versions of the seeds' minutes.
    pub fn realistic() -> Self {
        Self {
            controller_tick: Duration::from_millis(500),
            cluster_create: Duration::from_secs(4),
            node_ready: Duration::from_secs(3),
            longhorn_ready: Duration::from_secs(5),
            pod_start: Duration::from_secs(2),
            volume_create: Duration::from_secs(1),
            volume_attach: Duration::from_secs(1),
            snapshot: Duration::from_millis(500),
            backup_step: Duration::from_millis(700),
            restore_step: Duration::from_millis(800),
            backup_target_poll: Duration::from_secs(10),
            kustomization_step: Duration::from_secs(2),
            destroy: Duration::from_secs(3),
            backup_volume_status_delay: Duration::from_secs(2),
        }
    }

    /// Returns a copy changed by `f`, for overriding single fields in a builder chain:
    /// `Timing::fast().with(|t| t.backup_target_poll = Duration::from_secs(60))`.
    pub fn with(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }

    /// The sandbox period for a BackupTarget `spec.pollInterval` of `spec`: scaled by
    /// `backup_target_poll / 300 s`, so the default 300 s becomes exactly `backup_target_poll`.
    /// Returns `None` for a zero interval: Longhorn disables periodic polling then (only
    /// `spec.syncRequestedAt` triggers a sync). Never shorter than one controller tick.
    pub fn scaled_poll(&self, spec: Duration) -> Option<Duration> {
        if spec.is_zero() {
            return None;
        }
        let ratio =
            self.backup_target_poll.as_secs_f64() / LONGHORN_DEFAULT_POLL_INTERVAL.as_secs_f64();
        let scaled = Duration::from_secs_f64(spec.as_secs_f64() * ratio);
        Some(scaled.max(self.controller_tick))
    }
}

impl Default for Timing {
    fn default() -> Self {
        Self::fast()
    }
}

/// A `Timing` profile name that is neither `fast` nor `realistic`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown timing profile {0:?}: expected \"fast\" or \"realistic\"")]
pub struct UnknownTiming(pub String);

impl FromStr for Timing {
    type Err = UnknownTiming;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fast" => Ok(Self::fast()),
            "realistic" => Ok(Self::realistic()),
            _ => Err(UnknownTiming(s.to_string())),
        }
    }
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Self::fast() {
            f.write_str("fast")
        } else if *self == Self::realistic() {
            f.write_str("realistic")
        } else {
            f.write_str("custom")
        }
    }
}

/// Parses a Go `time.Duration` string as Kubernetes/Longhorn objects carry them (`"300s"`,
/// `"5m0s"`, `"1h30m"`, `"250ms"`) or a bare number of seconds (`"300"`), as Longhorn's
/// BackupTarget `spec.pollInterval` accepts both (Longhorn v1.8 CRD: `metav1.Duration`).
///
/// # Errors
/// Returns the offending text when it is empty, has an unknown unit or a malformed number.
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err(format!("empty duration {text:?}"));
    }
    if let Ok(secs) = s.parse::<f64>() {
        return duration_from_secs(secs, text);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("duration {text:?} lacks a unit"))?;
        if num_len == 0 {
            return Err(format!("malformed duration {text:?}"));
        }
        let value: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("malformed number in duration {text:?}"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            unit => return Err(format!("unknown unit {unit:?} in duration {text:?}")),
        };
        total += value * factor;
        rest = &rest[unit_len..];
    }
    duration_from_secs(total, text)
}

fn duration_from_secs(secs: f64, text: &str) -> Result<Duration, String> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("invalid duration {text:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_like_longhorn_poll_intervals() {
        assert_eq!(parse_go_duration("300s"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_go_duration("5m0s"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_go_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("300"), Ok(Duration::from_secs(300)));
        assert!(parse_go_duration("5x").is_err());
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("m5").is_err());
    }

    #[test]
    fn default_poll_interval_scales_to_profile_poll() {
        let fast = Timing::fast();
        assert_eq!(
            fast.scaled_poll(LONGHORN_DEFAULT_POLL_INTERVAL),
            Some(fast.backup_target_poll)
        );
        let realistic = Timing::realistic();
        assert_eq!(
            realistic.scaled_poll(Duration::from_secs(600)),
            Some(realistic.backup_target_poll * 2)
        );
        assert_eq!(fast.scaled_poll(Duration::ZERO), None);
        // a tiny interval never polls faster than the controllers tick
        assert_eq!(
            fast.scaled_poll(Duration::from_millis(1)),
            Some(fast.controller_tick)
        );
    }

    #[test]
    fn profiles_parse_by_name_and_reject_others() {
        assert_eq!("fast".parse::<Timing>().ok(), Some(Timing::fast()));
        assert_eq!(
            "Realistic".parse::<Timing>().ok(),
            Some(Timing::realistic())
        );
        assert!("slow".parse::<Timing>().is_err());
        let custom = Timing::fast().with(|t| t.node_ready = Duration::from_secs(9));
        assert_eq!(custom.node_ready, Duration::from_secs(9));
        assert_eq!(custom.to_string(), "custom");
    }
}
