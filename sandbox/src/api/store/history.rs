//! Watch history: the event types a watch sees and the ring of recent events that a watch
//! resuming from a `resourceVersion` replays (410 Gone once that version has left the ring).
//!
//! Pure data: the store records into the ring and takes a watch's snapshot under its own lock
//! (see [`super::Store::watch_from`]); nothing here locks or imports the store.

use std::collections::VecDeque;

use serde_json::Value;
use tokio::sync::broadcast;

use crate::api::error::ApiError;
use crate::api::resources::ResourceType;

/// How many watch events the history ring keeps for `resourceVersion` replay; a watch asking
/// for an older version gets 410 Gone.
pub const HISTORY_CAPACITY: usize = 10_000;

/// Capacity of the live-event broadcast; a subscriber lagging further behind gets
/// `RecvError::Lagged` (HTTP watches then close and the client re-watches).
pub const BROADCAST_CAPACITY: usize = 16_384;

/// Kind of a watch event (`ADDED`, `MODIFIED`, `DELETED` on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// Object created.
    Added,
    /// Object changed.
    Modified,
    /// Object deleted; the event carries the last state with the deletion's resourceVersion.
    Deleted,
}

impl EventType {
    /// Wire name: `"ADDED"`, `"MODIFIED"` or `"DELETED"`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change to one object.
#[derive(Clone, Debug)]
pub struct WatchEvent {
    /// What happened.
    pub event_type: EventType,
    /// Type of the object.
    pub resource: &'static ResourceType,
    /// The object after the change (before it, for deletions).
    pub object: Value,
    /// The resourceVersion this change produced.
    pub resource_version: u64,
}

/// What a watch starts from: events to replay, then the live receiver.
pub struct WatchStart {
    /// Events of the requested type after the requested resourceVersion (or synthetic ADDED
    /// events for every current object when no version was given), oldest first.
    pub replay: Vec<WatchEvent>,
    /// For each `replay` event, the object's state before it (`None` for creations and for
    /// the synthetic ADDED events): lets a selector-filtered watch tell "stopped matching".
    pub previous: Vec<Option<Value>>,
    /// Every object of the type at `resource_version` (the state live events start from).
    pub current: Vec<Value>,
    /// Live events (all types) after `resource_version`.
    pub receiver: broadcast::Receiver<WatchEvent>,
    /// The store's resourceVersion when the watch started.
    pub resource_version: u64,
}

/// The last [`HISTORY_CAPACITY`] events, each with the object's state before it (`None` for
/// creations).
#[derive(Default)]
pub(super) struct History {
    events: VecDeque<(WatchEvent, Option<Value>)>,
    /// Events at or below this version are no longer in `events`.
    floor: u64,
}

impl History {
    /// Records one event, dropping the oldest beyond the capacity.
    pub(super) fn push(&mut self, event: WatchEvent, previous: Option<Value>) {
        self.events.push_back((event, previous));
        while self.events.len() > HISTORY_CAPACITY {
            if let Some((old, _)) = self.events.pop_front() {
                self.floor = old.resource_version;
            }
        }
    }

    /// Events of type `rt` after `rv`, oldest first, with their previous states.
    ///
    /// # Errors
    /// 410 Gone (reason `Expired`) when `rv` is older than the ring.
    pub(super) fn after(
        &self,
        rt: &'static ResourceType,
        rv: u64,
    ) -> Result<(Vec<WatchEvent>, Vec<Option<Value>>), ApiError> {
        if rv < self.floor {
            return Err(ApiError::gone(rv));
        }
        Ok(self
            .events
            .iter()
            .filter(|(e, _)| e.resource_version > rv && std::ptr::eq(e.resource, rt))
            .cloned()
            .unzip())
    }

    /// Forgets every event; versions up to `floor` are gone from then on.
    pub(super) fn clear(&mut self, floor: u64) {
        self.events.clear();
        self.floor = floor;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resources::CONFIGMAPS;
    use serde_json::json;

    fn event(rv: u64) -> WatchEvent {
        WatchEvent {
            event_type: EventType::Added,
            resource: &CONFIGMAPS,
            object: json!({}),
            resource_version: rv,
        }
    }

    #[test]
    fn ring_drops_the_oldest_and_reports_gone_below_its_floor() {
        let mut h = History::default();
        for rv in 1..=(HISTORY_CAPACITY as u64 + 5) {
            h.push(event(rv), None);
        }
        assert_eq!(h.after(&CONFIGMAPS, 4).err().map(|e| e.code), Some(410));
        let (replay, previous) = h.after(&CONFIGMAPS, 5).unwrap_or_default();
        assert_eq!(replay.len(), HISTORY_CAPACITY);
        assert_eq!(previous.len(), HISTORY_CAPACITY);
        h.clear(100_000);
        assert_eq!(h.after(&CONFIGMAPS, 5).err().map(|e| e.code), Some(410));
    }
}
