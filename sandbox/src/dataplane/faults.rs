//! Data faults: restores that silently return the wrong data, so drills prove their verification
//! catches what Longhorn would not report (longhorn-facts.md §4: a restore that missed the newest
//! backup, #5292/#7945; corrupted data).

use std::sync::atomic::{AtomicBool, Ordering};

/// Runtime switches of the data plane, shared with the sandbox's fault registry.
#[derive(Debug, Default)]
pub struct DataFaults {
    /// One-shot: after the next restore, flip one byte of one restored file.
    flip_byte_after_restore: AtomicBool,
    /// Sticky: restores read the backup made before the requested one.
    restore_older_backup: AtomicBool,
}

impl DataFaults {
    /// Arms (or disarms) the one-shot byte flip after the next restore.
    pub fn set_flip_byte_after_restore(&self, on: bool) {
        self.flip_byte_after_restore.store(on, Ordering::SeqCst);
    }

    /// Turns restoring the previous backup instead of the requested one on or off.
    pub fn set_restore_older_backup(&self, on: bool) {
        self.restore_older_backup.store(on, Ordering::SeqCst);
    }

    /// Whether the byte flip is armed (without consuming it).
    pub fn flip_byte_armed(&self) -> bool {
        self.flip_byte_after_restore.load(Ordering::SeqCst)
    }

    /// Whether restores read the previous backup.
    pub fn restore_older_backup(&self) -> bool {
        self.restore_older_backup.load(Ordering::SeqCst)
    }

    /// Consumes the one-shot byte flip: true exactly once per arming.
    pub fn take_flip_byte(&self) -> bool {
        self.flip_byte_after_restore.swap(false, Ordering::SeqCst)
    }

    /// Turns every data fault off.
    pub fn clear(&self) {
        self.set_flip_byte_after_restore(false);
        self.set_restore_older_backup(false);
    }
}
