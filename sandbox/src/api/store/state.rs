//! The [`Store`] itself: the objects under one mutex with the resourceVersion counter and the
//! watch history, the live-event broadcast, the admission state; and the reads (get, list,
//! watch start) that take the lock once.
//!
//! Writes are in `crud` (create, update, delete) and `gc` (finalizers, ownerReference garbage
//! collection); both reach the fields through `pub(super)` items of this module.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::{broadcast, watch};

use super::admission::{Admission, Admissions};
use super::history::{EventType, History, WatchEvent, WatchStart, BROADCAST_CAPACITY};
use crate::api::crd::{self, CrdSet};
use crate::api::error::ApiError;
use crate::api::object::{name_of, rv_of};
use crate::api::resources::{self, ResourceType};

/// `(group, plural)` of a resource type.
pub(super) type TypeKey = (&'static str, &'static str);
/// `(namespace or "", name)` of an object.
pub(super) type ObjKey = (String, String);

/// What the store's mutex guards.
pub(super) struct State {
    /// Every object, by type then `(namespace, name)` (sorted: lists come out ordered).
    pub(super) objects: BTreeMap<TypeKey, BTreeMap<ObjKey, Value>>,
    /// The latest resourceVersion handed out.
    pub(super) rv: u64,
    /// Recent events, for watches resuming from a version.
    pub(super) history: History,
}

/// The cluster state. Cheap to share: [`Store::new`] returns an `Arc`.
pub struct Store {
    state: Mutex<State>,
    /// Serialises [`Store::update_with`] calls: admission runs outside `state`, and without
    /// this, concurrent patches of one hot object would keep invalidating each other.
    pub(super) updates: Mutex<()>,
    /// Admission hooks, CRDs and the violations log of controller writes.
    pub(super) admissions: Admissions,
    tx: broadcast::Sender<WatchEvent>,
    epoch: watch::Sender<u64>,
}

/// The map key of a type.
pub(super) fn type_key(rt: &ResourceType) -> TypeKey {
    (rt.group, rt.plural)
}

/// The map key of an object; `ns` is ignored for cluster-scoped types.
pub(super) fn obj_key(rt: &ResourceType, ns: Option<&str>, name: &str) -> ObjKey {
    let ns = if rt.namespaced { ns.unwrap_or("") } else { "" };
    (ns.to_string(), name.to_string())
}

impl Store {
    /// An empty store (no namespaces, resourceVersion 1).
    pub fn new() -> Arc<Store> {
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        let (epoch, _) = watch::channel(0);
        Arc::new(Store {
            state: Mutex::new(State {
                objects: BTreeMap::new(),
                rv: 1,
                history: History::default(),
            }),
            updates: Mutex::new(()),
            admissions: Admissions::default(),
            tx,
            epoch,
        })
    }

    /// Installs (or, with `None`, removes) Longhorn's CRDs: from then on client writes of
    /// Longhorn kinds are pruned and validated by their schemas, tables use their printer
    /// columns, and `customresourcedefinitions` lists them. The CRDs survive [`Store::reset`].
    pub fn set_crds(&self, crds: Option<Arc<CrdSet>>) {
        self.admissions.set_crds(crds);
    }

    /// The installed CRDs, if any.
    pub fn crds(&self) -> Option<Arc<CrdSet>> {
        self.admissions.crds()
    }

    /// Schema violations of controller writes seen since the CRDs were loaded (the
    /// simulated Longhorn writes the store directly, so they are never refused, only recorded
    /// and logged once each): one line per distinct problem, `Kind ns/name: <error>` — unknown
    /// fields a real API server would drop, and field errors it would answer 422 to. At most
    /// [`super::MAX_VIOLATIONS`] lines.
    pub fn schema_violations(&self) -> Vec<String> {
        self.admissions.violations()
    }

    /// Registers an admission hook, run on every create/update from API clients, in
    /// registration order. Hooks may read the store but must not call
    /// [`Store::update_with`] (updates are serialised: that would deadlock).
    pub fn add_admission(&self, hook: Admission) {
        self.admissions.add(hook);
    }

    /// The state, locked.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent JSON values behind; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `f` of the CRDs served as `customresourcedefinitions`: the loaded set, else the
    /// built-in synthesized one (`crd::builtin`); either outlives a cluster reset.
    fn with_served_crds<T>(&self, f: impl FnOnce(&CrdSet) -> T) -> T {
        let loaded = self.crds();
        f(loaded.as_deref().unwrap_or_else(|| crd::builtin::builtin()))
    }

    /// One object, `None` if absent. `ns` is ignored for cluster-scoped types.
    pub fn get(&self, rt: &ResourceType, ns: Option<&str>, name: &str) -> Option<Value> {
        if std::ptr::eq(rt, &resources::CRDS) {
            let served = self.with_served_crds(|set| {
                set.crds()
                    .iter()
                    .find(|c| c.name == name)
                    .map(|c| c.object.clone())
            });
            if served.is_some() {
                return served;
            }
        }
        let st = self.lock();
        st.objects
            .get(&type_key(rt))
            .and_then(|m| m.get(&obj_key(rt, ns, name)))
            .cloned()
    }

    /// Objects of a type, sorted by namespace then name; `ns` `None` = all namespaces.
    pub fn list(&self, rt: &ResourceType, ns: Option<&str>) -> Vec<Value> {
        self.list_at(rt, ns).0
    }

    /// The objects of [`Store::list`] for which `keep` is true, cloning only those: controllers
    /// that look for a few objects among many (a workload's pods among every pod of a
    /// namespace) run this on every tick. In one drill test (perf, session 7) `list` was 8 % of
    /// the CPU, 3 % of it under `owned_pods`, which wanted a few of the pods it cloned.
    pub fn list_where(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        keep: impl Fn(&Value) -> bool,
    ) -> Vec<Value> {
        self.list_where_at(rt, ns, keep).0
    }

    /// Like [`Store::list`], plus the store's resourceVersion at the time of the list (what a
    /// List's `metadata.resourceVersion` reports and a following watch starts from).
    pub fn list_at(&self, rt: &ResourceType, ns: Option<&str>) -> (Vec<Value>, u64) {
        self.list_where_at(rt, ns, |_| true)
    }

    /// [`Store::list_where`] plus the resourceVersion: the one walk both lists share.
    fn list_where_at(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        keep: impl Fn(&Value) -> bool,
    ) -> (Vec<Value>, u64) {
        let served = if std::ptr::eq(rt, &resources::CRDS) {
            self.with_served_crds(|set| {
                set.crds()
                    .iter()
                    .map(|c| &c.object)
                    .filter(|o| keep(o))
                    .cloned()
                    .collect()
            })
        } else {
            Vec::new()
        };
        let st = self.lock();
        let mut items: Vec<Value> = match st.objects.get(&type_key(rt)) {
            None => Vec::new(),
            Some(m) => m
                .iter()
                .filter(|((ons, _), v)| {
                    let in_ns = match ns {
                        Some(ns) if rt.namespaced => ons == ns,
                        _ => true,
                    };
                    in_ns && keep(v)
                })
                .map(|(_, v)| v.clone())
                .collect(),
        };
        if !served.is_empty() {
            items.extend(served);
            items.sort_by(|a, b| name_of(a).cmp(name_of(b)));
        }
        (items, st.rv)
    }

    /// The current (latest) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    /// Every future event, of every type (for controllers).
    pub fn subscribe(&self) -> broadcast::Receiver<WatchEvent> {
        self.tx.subscribe()
    }

    /// Changes each time [`Store::reset`] runs; HTTP watches close when it does.
    pub fn reset_signal(&self) -> watch::Receiver<u64> {
        self.epoch.subscribe()
    }

    /// Starts a watch of one type: history after `since` (or synthetic ADDED events for all
    /// current objects when `since` is `None`) and a live receiver, taken under one lock, so
    /// that the watch neither misses nor duplicates an event.
    ///
    /// # Errors
    /// 410 Gone (reason `Expired`) when `since` is older than the history ring.
    pub fn watch_from(
        &self,
        rt: &'static ResourceType,
        since: Option<u64>,
    ) -> Result<WatchStart, ApiError> {
        let st = self.lock();
        let receiver = self.tx.subscribe();
        let current: Vec<Value> = st
            .objects
            .get(&type_key(rt))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        let (replay, previous) = match since {
            None => (
                current
                    .iter()
                    .map(|o| WatchEvent {
                        event_type: EventType::Added,
                        resource: rt,
                        object: o.clone(),
                        resource_version: rv_of(o),
                    })
                    .collect(),
                vec![None; current.len()],
            ),
            Some(rv) => st.history.after(rt, rv)?,
        };
        Ok(WatchStart {
            replay,
            previous,
            current,
            receiver,
            resource_version: st.rv,
        })
    }

    /// Records an event in the history and broadcasts it; called with the lock held, so
    /// events are broadcast in resourceVersion order.
    pub(super) fn emit(&self, st: &mut State, event: WatchEvent, previous: Option<Value>) {
        st.history.push(event.clone(), previous);
        // No receivers is fine: nobody watches yet.
        let _ = self.tx.send(event);
    }

    /// Drops every object (cluster destroyed). The resourceVersion counter stays monotonic, the
    /// history is cleared (watches resuming from an older version get 410 Gone), no events are
    /// emitted, and [`Store::reset_signal`] fires so that open HTTP watches close.
    pub fn reset(&self) {
        let mut st = self.lock();
        st.objects.clear();
        st.rv += 1;
        let floor = st.rv;
        st.history.clear(floor);
        drop(st);
        self.epoch.send_modify(|e| *e += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resources::{CONFIGMAPS, CRDS, NAMESPACES};
    use crate::api::store::namespace_of;
    use serde_json::json;

    #[test]
    fn watch_from_replays_history_and_reports_gone_after_reset() {
        let s = Store::new();
        s.ensure_namespace("default").ok();
        let rv0 = s.resource_version();
        s.create(
            &CONFIGMAPS,
            Some("default"),
            json!({"metadata": {"name": "a"}}),
        )
        .ok();
        let w = s.watch_from(&CONFIGMAPS, Some(rv0)).ok();
        assert_eq!(w.map(|w| w.replay.len()), Some(1));
        s.reset();
        assert_eq!(
            s.watch_from(&CONFIGMAPS, Some(rv0)).err().map(|e| e.code),
            Some(410)
        );
        assert!(s.list(&NAMESPACES, None).is_empty());
    }

    #[test]
    fn list_where_keeps_what_list_would_give_and_the_predicate_accepts() {
        let s = Store::new();
        for ns in ["a", "b"] {
            s.ensure_namespace(ns).ok();
            for (name, app) in [("x", "keep"), ("y", "drop"), ("z", "keep")] {
                s.create(
                    &CONFIGMAPS,
                    Some(ns),
                    json!({"metadata": {"name": name, "labels": {"app": app}}}),
                )
                .ok();
            }
        }
        let keep = |v: &Value| v.pointer("/metadata/labels/app") == Some(&json!("keep"));
        let names = |v: Vec<Value>| -> Vec<String> {
            v.iter()
                .map(|o| format!("{}/{}", namespace_of(o), name_of(o)))
                .collect()
        };
        assert_eq!(
            names(s.list_where(&CONFIGMAPS, Some("b"), keep)),
            ["b/x", "b/z"]
        );
        let mut expected = s.list(&CONFIGMAPS, None);
        expected.retain(keep);
        assert_eq!(s.list_where(&CONFIGMAPS, None, keep), expected);
        assert_eq!(names(expected), ["a/x", "a/z", "b/x", "b/z"]);
        let crds = s.list_where(&CRDS, None, |c| name_of(c).ends_with("longhorn.io"));
        assert!(!crds.is_empty());
        assert!(crds.len() <= s.list(&CRDS, None).len());
    }

    #[test]
    fn longhorn_crds_are_served_without_being_stored() {
        let s = Store::new();
        let crds = s.list(&CRDS, None);
        assert!(!crds.is_empty());
        let first = name_of(&crds[0]).to_string();
        assert!(s.get(&CRDS, None, &first).is_some());
        s.reset();
        assert_eq!(s.list(&CRDS, None).len(), crds.len());
    }
}
