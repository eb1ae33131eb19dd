//! Removal: taking one object out (with its DELETED event), the finalizer predicates that
//! decide whether a DELETE removes or only marks, and garbage collection — ownerReference
//! dependents and a Namespace's contents.
//!
//! Deliberate simplifications (see the store's module docs): garbage collection runs
//! synchronously when the owner goes, and a Namespace's objects go at once, finalizers
//! notwithstanding (no `Terminating` phase).

use std::collections::HashSet;

use serde_json::{json, Value};

use super::history::{EventType, WatchEvent};
use super::state::{type_key, ObjKey, State, Store};
use crate::api::object::uid_of;
use crate::api::resources::{self, ResourceType};

/// Whether `metadata.finalizers` is non-empty.
pub fn has_finalizers(obj: &Value) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

/// Whether the object is being deleted (`metadata.deletionTimestamp` set).
pub fn is_terminating(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

impl Store {
    /// Removes one object and emits DELETED with a new resourceVersion; `Value::Null` when
    /// it was not there.
    pub(super) fn remove_one(
        &self,
        st: &mut State,
        rt: &'static ResourceType,
        key: &ObjKey,
    ) -> Value {
        let removed = st
            .objects
            .get_mut(&type_key(rt))
            .and_then(|m| m.remove(key));
        let Some(mut obj) = removed else {
            return Value::Null;
        };
        let previous = obj.clone();
        st.rv += 1;
        let rv = st.rv;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.emit(
            st,
            WatchEvent {
                event_type: EventType::Deleted,
                resource: rt,
                object: obj.clone(),
                resource_version: rv,
            },
            Some(previous),
        );
        obj
    }

    /// Removes every namespaced object in namespace `ns`; returns their uids.
    pub(super) fn remove_namespace_contents(&self, st: &mut State, ns: &str) -> HashSet<String> {
        let mut gone = HashSet::new();
        for t in resources::all().iter().filter(|t| t.namespaced) {
            let keys: Vec<ObjKey> = st
                .objects
                .get(&type_key(t))
                .map(|m| m.keys().filter(|(ons, _)| ons == ns).cloned().collect())
                .unwrap_or_default();
            for k in keys {
                let o = self.remove_one(st, t, &k);
                gone.insert(uid_of(&o).to_string());
            }
        }
        gone
    }

    /// Deletes, until nothing changes, every object that has ownerReferences, at least one of
    /// them pointing at a deleted uid and none at a live object (Kubernetes garbage collector
    /// semantics, run synchronously).
    pub(super) fn collect_garbage(&self, st: &mut State, mut gone: HashSet<String>) {
        loop {
            let live: HashSet<String> = st
                .objects
                .values()
                .flat_map(|m| m.values().map(|o| uid_of(o).to_string()))
                .collect();
            let mut victims: Vec<(&'static ResourceType, ObjKey)> = Vec::new();
            for t in resources::all() {
                let Some(m) = st.objects.get(&type_key(t)) else {
                    continue;
                };
                for (k, o) in m {
                    let owners = owner_uids(o);
                    if !owners.is_empty()
                        && owners.iter().any(|u| gone.contains(*u))
                        && owners.iter().all(|u| !live.contains(*u))
                    {
                        victims.push((t, k.clone()));
                    }
                }
            }
            if victims.is_empty() {
                return;
            }
            for (t, k) in victims {
                let o = self.remove_one(st, t, &k);
                gone.insert(uid_of(&o).to_string());
            }
        }
    }
}

/// Whether `obj` names owners (`metadata.ownerReferences`) of which none exists: the garbage
/// collector deletes such a dependent whenever it sees one, not only when its owner goes — an
/// object created with a dangling owner (a controller acting on a stale read of an owner
/// deleted meanwhile) is deleted too (kubernetes@v1.32.0:pkg/controller/garbagecollector/
/// garbagecollector.go `attemptToDeleteItem`: no owner found alive, "item doesn't have any solid
/// owner, so it needs to be garbage collected").
pub(super) fn all_owners_absent(st: &State, obj: &Value) -> bool {
    let owners = owner_uids(obj);
    !owners.is_empty()
        && !st
            .objects
            .values()
            .flat_map(|m| m.values())
            .any(|o| owners.contains(&uid_of(o)))
}

/// The uids of `metadata.ownerReferences`.
fn owner_uids(obj: &Value) -> Vec<&str> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resources::{CONFIGMAPS, NAMESPACES};

    #[test]
    fn delete_cascades_to_owned_objects_and_namespace_contents() {
        let s = Store::new();
        s.ensure_namespace("default").ok();
        s.ensure_namespace("other").ok();
        let owner = s
            .create(
                &CONFIGMAPS,
                Some("default"),
                json!({"metadata": {"name": "owner"}}),
            )
            .unwrap_or_default();
        let uid = owner["metadata"]["uid"].clone();
        s.create(
            &CONFIGMAPS,
            Some("default"),
            json!({"metadata": {"name": "dep", "ownerReferences": [{"uid": uid, "kind": "ConfigMap", "name": "owner", "apiVersion": "v1"}]}}),
        )
        .ok();
        s.create(
            &CONFIGMAPS,
            Some("other"),
            json!({"metadata": {"name": "x"}}),
        )
        .ok();
        s.delete(&CONFIGMAPS, Some("default"), "owner").ok();
        assert!(s.get(&CONFIGMAPS, Some("default"), "dep").is_none());
        s.delete(&NAMESPACES, None, "other").ok();
        assert!(s.get(&CONFIGMAPS, Some("other"), "x").is_none());
    }

    /// The race behind a hung teardown: a controller working from a list taken before its
    /// Deployment was deleted creates a pod owned by it after the cascade ran. Kubernetes' GC
    /// deletes that pod; so must the store, or a wait for the pods to be gone never ends.
    #[test]
    fn a_dependent_created_after_its_owner_went_is_collected() {
        let s = Store::new();
        s.ensure_namespace("default").ok();
        let mut rx = s.subscribe();
        let created = s.create(
            &CONFIGMAPS,
            Some("default"),
            json!({"metadata": {"name": "late", "ownerReferences": [{"uid": "gone-uid", "kind": "Deployment", "name": "d", "apiVersion": "apps/v1"}]}}),
        );
        assert!(created.is_ok(), "the create itself succeeds: {created:?}");
        assert!(s.get(&CONFIGMAPS, Some("default"), "late").is_none());
        let mut kinds = Vec::new();
        while let Ok(ev) = rx.try_recv() {
            if std::ptr::eq(ev.resource, &CONFIGMAPS) {
                kinds.push(ev.event_type);
            }
        }
        assert_eq!(kinds, [EventType::Added, EventType::Deleted]);
        // With a live owner it stays.
        let owner = s
            .create(
                &CONFIGMAPS,
                Some("default"),
                json!({"metadata": {"name": "o"}}),
            )
            .unwrap_or_default();
        s.create(
            &CONFIGMAPS,
            Some("default"),
            json!({"metadata": {"name": "kept", "ownerReferences": [{"uid": uid_of(&owner)}]}}),
        )
        .ok();
        assert!(s.get(&CONFIGMAPS, Some("default"), "kept").is_some());
    }

    #[test]
    fn a_dependent_with_a_live_second_owner_stays() {
        let s = Store::new();
        s.ensure_namespace("default").ok();
        let uid = |name: &str| {
            s.create(
                &CONFIGMAPS,
                Some("default"),
                json!({"metadata": {"name": name}}),
            )
            .map(|o| uid_of(&o).to_string())
            .unwrap_or_default()
        };
        let (a, b) = (uid("a"), uid("b"));
        s.create(
            &CONFIGMAPS,
            Some("default"),
            json!({"metadata": {"name": "dep", "ownerReferences": [{"uid": a}, {"uid": b}]}}),
        )
        .ok();
        s.delete(&CONFIGMAPS, Some("default"), "a").ok();
        assert!(s.get(&CONFIGMAPS, Some("default"), "dep").is_some());
        s.delete(&CONFIGMAPS, Some("default"), "b").ok();
        assert!(s.get(&CONFIGMAPS, Some("default"), "dep").is_none());
    }
}
