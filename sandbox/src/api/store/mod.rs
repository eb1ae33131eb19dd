//! The whole cluster state of the sandbox: every object, the resourceVersion counter, a ring of
//! recent watch events and a broadcast of live events.
//!
//! Objects are plain `serde_json::Value`s keyed by resource type, namespace and name. All writes
//! go through one mutex so that each write gets a unique, increasing resourceVersion and is
//! recorded in the history ring and broadcast **while the lock is held**: a watcher that takes
//! its history snapshot and subscribes under the same lock ([`Store::watch_from`]) neither misses
//! nor duplicates an event.
//!
//! Two kinds of writers use the store: API clients through the HTTP server (with admission hooks
//! and client rules, see [`WriteOptions`]) and in-process controllers calling [`Store::create`],
//! [`Store::replace`], [`Store::modify`] directly (no admission, status writable).
//!
//! Deletion follows the API server for objects with `metadata.finalizers`: DELETE sets
//! `deletionTimestamp` and the object stays until an update empties the list (new PVCs and PVs
//! get the storage-protection finalizers, released by `controllers::protection`). Deliberate
//! simplifications: objects without finalizers go at once; garbage collection of
//! ownerReference dependents runs synchronously when the owner is removed, and deleting a
//! Namespace removes its objects at once, finalizers notwithstanding (no `Terminating` phase).
//!
//! One job per file: `state` (the [`Store`], its lock and reads), `crud` (writes), `history`
//! (watch events and the replay ring), `admission` (hooks, CRD schemas, protection finalizers),
//! `gc` (removal, finalizer predicates, ownerReference and Namespace garbage collection). The
//! files import downwards only: `crud` → `gc` → `state` → `admission`, `history`.

mod admission;
mod crud;
mod gc;
mod history;
mod state;

pub use admission::{
    Admission, Operation, MAX_VIOLATIONS, PVC_PROTECTION_FINALIZER, PV_PROTECTION_FINALIZER,
};
pub use gc::{has_finalizers, is_terminating};
pub use history::{EventType, WatchEvent, WatchStart, BROADCAST_CAPACITY, HISTORY_CAPACITY};
pub use state::Store;

pub use crate::api::object::{
    name_of, namespace_of, now_rfc3339, rv_of, UpdateScope, WriteOptions,
};
