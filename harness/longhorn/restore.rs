//! Reading a `fromBackup` restore's progress from `Volume.status`, shared by the `restore-volume`
//! step and the restore orchestrator.
//!
//! Longhorn's volume controller sets `restoreRequired: true` and `restoreInitiated: true`
//! together when it starts a restore, and clears `restoreRequired` when the restore is done;
//! `restoreInitiated` stays true (longhorn-manager@v1.7.1/v1.9.1/v1.10.1:
//! controller/volume_controller.go, `RestoreInitiated = true` beside `RestoreRequired = true`).
//! A freshly created volume shows `restoreRequired: false` *before* the controller got to it, so
//! only `restoreInitiated` tells a finished restore from one not yet begun. A failed restore is the
//! condition `Restore` with reason `RestoreFailure` (longhorn-manager@v1.9.1:
//! k8s/pkg/apis/longhorn/v1beta2/volume.go `VolumeConditionReasonRestoreFailure`).

use super::VolumeStatus;

/// Where a restore stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreProgress {
    /// Not begun, or still copying.
    Running,
    /// Longhorn finished it: initiated, no longer required, past `creating`.
    Done,
    /// Longhorn gave up; its message.
    Failed(String),
}

/// Longhorn's message when the volume's `Restore` condition reports `RestoreFailure`.
pub(crate) fn restore_failure(s: &VolumeStatus) -> Option<String> {
    s.conditions
        .iter()
        .find(|c| c.type_ == "Restore" && c.reason == "RestoreFailure")
        .map(|c| {
            if c.message.is_empty() {
                "RestoreFailure (no message)".to_string()
            } else {
                c.message.clone()
            }
        })
}

/// Why a restoring volume will not finish by itself: the `Restore` condition's `RestoreFailure`
/// message, else robustness `faulted` while `restoreRequired` (Longhorn sets the condition
/// from exactly that state when it closes the volume's engine and replicas:
/// longhorn-manager@v1.9.1:controller/volume_controller.go `closeVolumeDependentResources`, so
/// the robustness can be seen a moment before the condition).
pub fn restore_failed(s: &VolumeStatus) -> Option<String> {
    restore_failure(s).or_else(|| {
        (s.robustness == "faulted" && s.restore_required).then(|| {
            "the volume became faulted while restoring (robustness faulted, restoreRequired true)"
                .to_string()
        })
    })
}

/// The progress of a `fromBackup` restore as `status` shows it (None: no status yet).
pub fn restore_progress(status: Option<&VolumeStatus>) -> RestoreProgress {
    let Some(s) = status else {
        return RestoreProgress::Running;
    };
    if let Some(msg) = restore_failure(s) {
        return RestoreProgress::Failed(msg);
    }
    let settled = !s.state.is_empty() && s.state != "creating";
    if s.restore_initiated && !s.restore_required && settled {
        RestoreProgress::Done
    } else {
        RestoreProgress::Running
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::longhorn::LonghornCondition;

    fn status(json: serde_json::Value) -> VolumeStatus {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn restore_failure_carries_longhorns_message() {
        let mut s = VolumeStatus::default();
        assert_eq!(restore_failure(&s), None);
        s.conditions.push(LonghornCondition {
            type_: "Restore".into(),
            status: "False".into(),
            reason: "RestoreFailure".into(),
            message: "no such key".into(),
        });
        assert_eq!(restore_failure(&s).as_deref(), Some("no such key"));
        assert_eq!(
            restore_progress(Some(&s)),
            RestoreProgress::Failed("no such key".into())
        );
    }

    #[test]
    fn detached_before_the_restore_began_is_not_restored() {
        // What a new fromBackup volume looks like before the volume controller started the restore.
        let s = status(serde_json::json!({
            "state": "detached", "robustness": "unknown",
            "restoreRequired": false, "restoreInitiated": false, "conditions": null
        }));
        assert_eq!(restore_progress(Some(&s)), RestoreProgress::Running);
        let s = status(serde_json::json!({
            "state": "attached", "restoreRequired": true, "restoreInitiated": true
        }));
        assert_eq!(restore_progress(Some(&s)), RestoreProgress::Running);
        let s = status(serde_json::json!({
            "state": "detached", "restoreRequired": false, "restoreInitiated": true
        }));
        assert_eq!(restore_progress(Some(&s)), RestoreProgress::Done);
        assert_eq!(restore_progress(None), RestoreProgress::Running);
    }
}
