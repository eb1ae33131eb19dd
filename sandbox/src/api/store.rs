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

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};

use super::crd::CrdSet;
use super::error::ApiError;
use super::object::{apply_scope, finish_update, metadata_mut, prepare_create, uid_of};
pub use super::object::{name_of, namespace_of, now_rfc3339, rv_of};
use super::resources::{self, ResourceType, NAMESPACES};
use super::validate::validate;

/// How many watch events the history ring keeps for `resourceVersion` replay; a watch asking
/// for an older version gets 410 Gone.
pub const HISTORY_CAPACITY: usize = 10_000;

/// Capacity of the live-event broadcast; a subscriber lagging further behind gets
/// `RecvError::Lagged` (HTTP watches then close and the client re-watches).
pub const BROADCAST_CAPACITY: usize = 16_384;

/// How many distinct schema violations of controller writes [`Store::schema_violations`]
/// keeps.
pub const MAX_VIOLATIONS: usize = 1000;

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

/// Which operation an admission hook sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// POST (and server-side apply creating an object).
    Create,
    /// PUT or PATCH (main resource or `/status`).
    Update,
}

/// An admission hook (the simulated Longhorn webhook): sees the object about to be persisted
/// (and the old one on update), may mutate it, or denies with an [`ApiError`]. Runs for HTTP
/// requests only and outside the store lock, so it may read the store.
pub type Admission = Arc<
    dyn Fn(&'static ResourceType, Operation, &mut Value, Option<&Value>) -> Result<(), ApiError>
        + Send
        + Sync,
>;

/// Options of one write.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriteOptions {
    /// The write comes from an API client: run admission hooks, drop `.status` on create of
    /// types with a status subresource. Controllers leave it `false`.
    pub client: bool,
    /// `dryRun=All`: validate and return the result without persisting or emitting events.
    pub dry_run: bool,
}

impl WriteOptions {
    /// Options for a write from an HTTP client.
    pub fn client(dry_run: bool) -> Self {
        Self {
            client: true,
            dry_run,
        }
    }
}

/// Which part of an object an update may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateScope {
    /// The main resource: `.status` is kept from the stored object when the type has a status
    /// subresource.
    Main,
    /// The `/status` subresource: only `.status` is taken from the new object.
    Status,
    /// Everything (controllers).
    Whole,
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

type TypeKey = (&'static str, &'static str);
type ObjKey = (String, String);

struct State {
    objects: BTreeMap<TypeKey, BTreeMap<ObjKey, Value>>,
    rv: u64,
    /// Recent events with the object's state before each (None for creations).
    history: VecDeque<(WatchEvent, Option<Value>)>,
    /// Events at or below this version are no longer in `history`.
    floor: u64,
}

/// The cluster state. Cheap to share: [`Store::new`] returns an `Arc`.
pub struct Store {
    state: Mutex<State>,
    /// Serialises [`Store::update_with`] calls: admission runs outside `state`, and without
    /// this, concurrent patches of one hot object would keep invalidating each other.
    updates: Mutex<()>,
    hooks: RwLock<Vec<Admission>>,
    tx: broadcast::Sender<WatchEvent>,
    epoch: watch::Sender<u64>,
    /// Longhorn's CRDs when loaded (`--longhorn-crds`): schemas for client writes, printer
    /// columns, and the `customresourcedefinitions` served. Survives [`Store::reset`] (the
    /// CRDs belong to the Longhorn release, not to one cluster incarnation).
    crds: RwLock<Option<Arc<CrdSet>>>,
    /// Schema violations of controller writes ([`Store::schema_violations`]).
    violations: Mutex<Vec<String>>,
}

fn type_key(rt: &ResourceType) -> TypeKey {
    (rt.group, rt.plural)
}

fn obj_key(rt: &ResourceType, ns: Option<&str>, name: &str) -> ObjKey {
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
                history: VecDeque::new(),
                floor: 0,
            }),
            updates: Mutex::new(()),
            hooks: RwLock::new(Vec::new()),
            tx,
            epoch,
            crds: RwLock::new(None),
            violations: Mutex::new(Vec::new()),
        })
    }

    /// Installs (or, with `None`, removes) Longhorn's CRDs: from then on client writes of
    /// Longhorn kinds are pruned and validated by their schemas, tables use their printer
    /// columns, and `customresourcedefinitions` lists them.
    pub fn set_crds(&self, crds: Option<Arc<CrdSet>>) {
        *self.crds.write().unwrap_or_else(|e| e.into_inner()) = crds;
    }

    /// The installed CRDs, if any.
    pub fn crds(&self) -> Option<Arc<CrdSet>> {
        self.crds.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Schema violations of controller writes seen since the CRDs were loaded (the
    /// simulated Longhorn writes the store directly, so they are never refused, only recorded
    /// and logged once each): one line per distinct problem, `Kind ns/name: <error>` — unknown
    /// fields a real API server would drop, and field errors it would answer 422 to. At most
    /// [`MAX_VIOLATIONS`] lines.
    pub fn schema_violations(&self) -> Vec<String> {
        self.violations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The schema step of a write. Client writes: prunes silently what admission added,
    /// drops non-nullable nulls, fills defaults, then validates; on update only errors not
    /// already present in `old` count (CRD validation ratcheting, on by default since
    /// Kubernetes 1.30: k8s.io/apiextensions-apiserver `pkg/features/kube_features.go`
    /// `CRDValidationRatcheting`). Controller writes are only checked and recorded.
    fn schema_gate(
        &self,
        rt: &'static ResourceType,
        obj: &mut Value,
        old: Option<&Value>,
        client: bool,
    ) -> Result<(), ApiError> {
        let Some(set) = self.crds() else {
            return Ok(());
        };
        let Some(crd) = set.for_type(rt) else {
            return Ok(());
        };
        let old_errs = old.map(|o| crd.field_errors(o)).unwrap_or_default();
        if client {
            crd.decode(obj);
            let errs: Vec<_> = crd
                .field_errors(obj)
                .into_iter()
                .filter(|e| !old_errs.contains(e))
                .collect();
            if !errs.is_empty() {
                return Err(crd.invalid(name_of(obj), &errs));
            }
            return Ok(());
        }
        let mut copy = obj.clone();
        let who = format!("{} {}/{}", rt.kind, namespace_of(obj), name_of(obj));
        let mut found: Vec<String> = crd
            .decode(&mut copy)
            .into_iter()
            .map(|path| format!("{who}: unknown field {path:?} (a real API server drops it)"))
            .collect();
        let errs: Vec<_> = crd
            .field_errors(&copy)
            .into_iter()
            .filter(|e| !old_errs.contains(e))
            .collect();
        if !errs.is_empty() {
            found.push(format!(
                "{who}: {}",
                crd.invalid(name_of(obj), &errs).message
            ));
        }
        if !found.is_empty() {
            let mut log = self.violations.lock().unwrap_or_else(|e| e.into_inner());
            for f in found {
                if log.len() < MAX_VIOLATIONS && !log.contains(&f) {
                    tracing::warn!(violation = %f, "simulated Longhorn wrote an object its CRD schema rejects");
                    log.push(f);
                }
            }
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent JSON values behind; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One object, `None` if absent. `ns` is ignored for cluster-scoped types.
    pub fn get(&self, rt: &ResourceType, ns: Option<&str>, name: &str) -> Option<Value> {
        if std::ptr::eq(rt, &resources::CRDS) {
            let loaded = self.crds();
            let set = loaded
                .as_deref()
                .unwrap_or_else(|| super::crd::builtin::builtin());
            if let Some(crd) = set.crds().iter().find(|c| c.name == name) {
                return Some(crd.object.clone());
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

    /// Like [`Store::list`], plus the store's resourceVersion at the time of the list (what a
    /// List's `metadata.resourceVersion` reports and a following watch starts from).
    pub fn list_at(&self, rt: &ResourceType, ns: Option<&str>) -> (Vec<Value>, u64) {
        let st = self.lock();
        let items = match st.objects.get(&type_key(rt)) {
            None => Vec::new(),
            Some(m) => m
                .iter()
                .filter(|((ons, _), _)| match ns {
                    Some(ns) if rt.namespaced => ons == ns,
                    _ => true,
                })
                .map(|(_, v)| v.clone())
                .collect(),
        };
        let mut items = items;
        if std::ptr::eq(rt, &resources::CRDS) {
            // Longhorn's CRDs are served from the loaded set, else the built-in synthesized set
            // (crd::builtin); either outlives a cluster reset.
            let loaded = self.crds();
            let set = loaded
                .as_deref()
                .unwrap_or_else(|| super::crd::builtin::builtin());
            items.extend(set.crds().iter().map(|c| c.object.clone()));
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
    /// current objects when `since` is `None`) and a live receiver, taken under one lock.
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
            Some(rv) => {
                if rv < st.floor {
                    return Err(ApiError::gone(rv));
                }
                st.history
                    .iter()
                    .filter(|(e, _)| e.resource_version > rv && std::ptr::eq(e.resource, rt))
                    .cloned()
                    .unzip()
            }
        };
        Ok(WatchStart {
            replay,
            previous,
            current,
            receiver,
            resource_version: st.rv,
        })
    }

    /// Registers an admission hook, run on every create/update from API clients, in
    /// registration order. Hooks may read the store but must not call
    /// [`Store::update_with`] (updates are serialised: that would deadlock).
    pub fn add_admission(&self, hook: Admission) {
        self.hooks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(hook);
    }

    fn admit(
        &self,
        rt: &'static ResourceType,
        op: Operation,
        obj: &mut Value,
        old: Option<&Value>,
    ) -> Result<(), ApiError> {
        let hooks: Vec<Admission> = self.hooks.read().unwrap_or_else(|e| e.into_inner()).clone();
        for h in hooks {
            h(rt, op, obj, old)?;
        }
        Ok(())
    }

    fn emit(&self, st: &mut State, event: WatchEvent, previous: Option<Value>) {
        st.history.push_back((event.clone(), previous));
        while st.history.len() > HISTORY_CAPACITY {
            if let Some((old, _)) = st.history.pop_front() {
                st.floor = old.resource_version;
            }
        }
        // No receivers is fine: nobody watches yet.
        let _ = self.tx.send(event);
    }

    /// Creates an object as a controller would (no admission, `.status` kept).
    ///
    /// # Errors
    /// See [`Store::create_with`].
    pub fn create(
        &self,
        rt: &'static ResourceType,
        ns: Option<&str>,
        obj: Value,
    ) -> Result<Value, ApiError> {
        self.create_with(rt, ns, obj, WriteOptions::default())
    }

    /// Creates an object: fills `apiVersion`, `kind`, `metadata.{name (from generateName),
    /// namespace, uid, creationTimestamp, resourceVersion, generation: 1}`, validates, runs
    /// admission for client writes, stores and emits ADDED.
    ///
    /// # Errors
    /// 400 when apiVersion/kind/namespace contradict the request; 404 when the namespace does
    /// not exist; 409 AlreadyExists; 422 Invalid (see `validate`); any admission denial.
    pub fn create_with(
        &self,
        rt: &'static ResourceType,
        ns: Option<&str>,
        mut obj: Value,
        opts: WriteOptions,
    ) -> Result<Value, ApiError> {
        prepare_create(rt, ns, &mut obj, opts)?;
        if opts.client {
            self.admit(rt, Operation::Create, &mut obj, None)?;
        }
        add_protection_finalizer(rt, &mut obj);
        self.schema_gate(rt, &mut obj, None, opts.client)?;
        validate(rt, &obj)?;
        let ns_name = namespace_of(&obj).to_string();
        let name = name_of(&obj).to_string();
        let mut st = self.lock();
        if rt.namespaced {
            let ns_exists = st
                .objects
                .get(&type_key(&NAMESPACES))
                .is_some_and(|m| m.contains_key(&(String::new(), ns_name.clone())));
            if !ns_exists {
                return Err(ApiError::not_found(&NAMESPACES, &ns_name));
            }
        }
        let key = obj_key(rt, Some(&ns_name), &name);
        if st
            .objects
            .get(&type_key(rt))
            .is_some_and(|m| m.contains_key(&key))
        {
            return Err(ApiError::already_exists(rt, &name));
        }
        let meta = metadata_mut(&mut obj)?;
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
        meta.insert("generation".into(), json!(1));
        if opts.dry_run {
            return Ok(obj);
        }
        st.rv += 1;
        let rv = st.rv;
        metadata_mut(&mut obj)?.insert("resourceVersion".into(), json!(rv.to_string()));
        st.objects
            .entry(type_key(rt))
            .or_default()
            .insert(key, obj.clone());
        self.emit(
            &mut st,
            WatchEvent {
                event_type: EventType::Added,
                resource: rt,
                object: obj.clone(),
                resource_version: rv,
            },
            None,
        );
        Ok(obj)
    }

    /// Replaces the main resource as a controller would (PUT semantics: `.status` kept from the
    /// stored object when the type has a status subresource; no admission).
    ///
    /// # Errors
    /// See [`Store::update_with`].
    pub fn replace(
        &self,
        rt: &'static ResourceType,
        ns: Option<&str>,
        name: &str,
        obj: Value,
    ) -> Result<Value, ApiError> {
        self.update_with(
            rt,
            ns,
            name,
            UpdateScope::Main,
            WriteOptions::default(),
            |_| Ok(obj.clone()),
        )
    }

    /// Replaces only `.status` (PUT `.../status` semantics; everything else of `obj` ignored).
    ///
    /// # Errors
    /// See [`Store::update_with`].
    pub fn replace_status(
        &self,
        rt: &'static ResourceType,
        ns: Option<&str>,
        name: &str,
        obj: Value,
    ) -> Result<Value, ApiError> {
        self.update_with(
            rt,
            ns,
            name,
            UpdateScope::Status,
            WriteOptions::default(),
            |_| Ok(obj.clone()),
        )
    }

    /// Atomic read-modify-write of the whole object (including status) for controllers. `f`
    /// runs under the store lock: it must not call the store. Identity fields (name,
    /// namespace, uid, creationTimestamp) are restored if `f` changes them. No new
    /// resourceVersion and no event when `f` leaves the object unchanged; `metadata.generation`
    /// is bumped when anything outside `metadata`/`status` changed.
    ///
    /// # Errors
    /// 404 NotFound when the object does not exist.
    pub fn modify(
        &self,
        rt: &'static ResourceType,
        ns: Option<&str>,
        name: &str,
        f: impl FnOnce(&mut Value),
    ) -> Result<Value, ApiError> {
        let mut st = self.lock();
        let key = obj_key(rt, ns, name);
        let cur = st
            .objects
            .get(&type_key(rt))
            .and_then(|m| m.get(&key))
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        let mut new = cur.clone();
        f(&mut new);
        let mut new = finish_update(rt, &cur, new)?;
        if new == cur {
            return Ok(cur);
        }
        self.schema_gate(rt, &mut new, Some(&cur), false)?;
        Ok(self.commit(&mut st, rt, key, new))
    }

    /// The general update: `f` maps the stored object to the proposed one (PUT body, patched
    /// object), then scope rules apply, admission runs for client writes (outside the lock),
    /// and the result is committed if the object did not change meanwhile (else retried).
    /// A proposed `metadata.resourceVersion` that differs from the stored one is a conflict.
    /// Calls are serialised with each other (not with `modify`, `create`, `delete`).
    ///
    /// # Errors
    /// 404 NotFound; 409 Conflict on a stale resourceVersion or after 16 lost races; 400 when
    /// the name does not match; 422 Invalid; admission denials; errors returned by `f`.
    pub fn update_with(
        &self,
        rt: &'static ResourceType,
        ns: Option<&str>,
        name: &str,
        scope: UpdateScope,
        opts: WriteOptions,
        mut f: impl FnMut(&Value) -> Result<Value, ApiError>,
    ) -> Result<Value, ApiError> {
        let key = obj_key(rt, ns, name);
        let _serial = self.updates.lock().unwrap_or_else(|e| e.into_inner());
        // Only `modify`, `create` and `delete` can still interleave; they do so rarely.
        for _ in 0..16 {
            let cur = self
                .get(rt, ns, name)
                .ok_or_else(|| ApiError::not_found(rt, name))?;
            let proposed = f(&cur)?;
            let mut new = apply_scope(rt, &cur, proposed, scope, name)?;
            if opts.client {
                self.admit(rt, Operation::Update, &mut new, Some(&cur))?;
            }
            let mut new = finish_update(rt, &cur, new)?;
            self.schema_gate(rt, &mut new, Some(&cur), opts.client)?;
            if scope != UpdateScope::Status {
                validate(rt, &new)?;
            }
            if new == cur {
                return Ok(cur);
            }
            let mut st = self.lock();
            let stored_rv = st
                .objects
                .get(&type_key(rt))
                .and_then(|m| m.get(&key))
                .map(rv_of);
            match stored_rv {
                None => return Err(ApiError::not_found(rt, name)),
                Some(rv) if rv != rv_of(&cur) => continue,
                Some(_) => {}
            }
            if opts.dry_run {
                return Ok(new);
            }
            return Ok(self.commit(&mut st, rt, key, new));
        }
        Err(ApiError::stale(rt, name))
    }

    fn commit(
        &self,
        st: &mut State,
        rt: &'static ResourceType,
        key: ObjKey,
        mut new: Value,
    ) -> Value {
        if is_terminating(&new) && !has_finalizers(&new) {
            // The last finalizer went: the API server removes the object with this update
            // (kubernetes/apiserver@v0.32.13:pkg/registry/generic/registry/store.go `Update`,
            // `ShouldDeleteDuringUpdate`).
            st.objects
                .entry(type_key(rt))
                .or_default()
                .insert(key.clone(), new);
            let removed = self.remove_one(st, rt, &key);
            self.collect_garbage(st, HashSet::from([uid_of(&removed).to_string()]));
            return removed;
        }
        st.rv += 1;
        let rv = st.rv;
        new["metadata"]["resourceVersion"] = json!(rv.to_string());
        let previous = st
            .objects
            .entry(type_key(rt))
            .or_default()
            .insert(key, new.clone());
        self.emit(
            st,
            WatchEvent {
                event_type: EventType::Modified,
                resource: rt,
                object: new.clone(),
                resource_version: rv,
            },
            previous,
        );
        new
    }

    /// Deletes an object (and its dependents, and a Namespace's objects) as a controller would.
    ///
    /// # Errors
    /// 404 NotFound.
    pub fn delete(
        &self,
        rt: &'static ResourceType,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        self.delete_with(rt, ns, name, false, false)
    }

    /// Deletes an object and emits DELETED (carrying the deletion's resourceVersion). Unless
    /// `orphan`, objects whose every `metadata.ownerReferences[].uid` is gone are deleted too,
    /// transitively; deleting a Namespace deletes every object in it. `dry_run` only checks
    /// existence.
    ///
    /// # Errors
    /// 404 NotFound.
    pub fn delete_with(
        &self,
        rt: &'static ResourceType,
        ns: Option<&str>,
        name: &str,
        dry_run: bool,
        orphan: bool,
    ) -> Result<Value, ApiError> {
        let mut st = self.lock();
        let key = obj_key(rt, ns, name);
        let exists = st
            .objects
            .get(&type_key(rt))
            .and_then(|m| m.get(&key))
            .cloned();
        let Some(obj) = exists else {
            return Err(ApiError::not_found(rt, name));
        };
        if dry_run {
            return Ok(obj);
        }
        if has_finalizers(&obj) {
            // Graceful deletion: the object stays, marked, until its finalizers are removed
            // (kubernetes/apiserver@v0.32.13:pkg/registry/generic/registry/store.go `Delete`,
            // `updateForGracefulDeletionAndFinalizers`).
            if is_terminating(&obj) {
                return Ok(obj);
            }
            let mut marked = obj;
            marked["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
            marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            return Ok(self.commit(&mut st, rt, key, marked));
        }
        let deleted = self.remove_one(&mut st, rt, &key);
        let mut gone_uids: HashSet<String> = HashSet::new();
        gone_uids.insert(uid_of(&obj).to_string());
        if std::ptr::eq(rt, &NAMESPACES) {
            for t in resources::all().iter().filter(|t| t.namespaced) {
                let keys: Vec<ObjKey> = st
                    .objects
                    .get(&type_key(t))
                    .map(|m| m.keys().filter(|(ons, _)| ons == name).cloned().collect())
                    .unwrap_or_default();
                for k in keys {
                    let o = self.remove_one(&mut st, t, &k);
                    gone_uids.insert(uid_of(&o).to_string());
                }
            }
        }
        if !orphan {
            self.collect_garbage(&mut st, gone_uids);
        }
        Ok(deleted)
    }

    fn remove_one(&self, st: &mut State, rt: &'static ResourceType, key: &ObjKey) -> Value {
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

    /// Deletes, until nothing changes, every object that has ownerReferences, at least one of
    /// them pointing at a deleted uid and none at a live object (Kubernetes garbage collector
    /// semantics, run synchronously).
    fn collect_garbage(&self, st: &mut State, mut gone: HashSet<String>) {
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
                    let owners: Vec<&str> = o
                        .pointer("/metadata/ownerReferences")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(|r| r.get("uid").and_then(Value::as_str))
                                .collect()
                        })
                        .unwrap_or_default();
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

    /// Drops every object (cluster destroyed). The resourceVersion counter stays monotonic, the
    /// history is cleared (watches resuming from an older version get 410 Gone), no events are
    /// emitted, and [`Store::reset_signal`] fires so that open HTTP watches close.
    pub fn reset(&self) {
        let mut st = self.lock();
        st.objects.clear();
        st.history.clear();
        st.rv += 1;
        st.floor = st.rv;
        drop(st);
        self.epoch.send_modify(|e| *e += 1);
    }

    /// Creates a Namespace if it does not exist yet; returns it either way.
    ///
    /// # Errors
    /// 422 Invalid for a malformed name.
    pub fn ensure_namespace(&self, name: &str) -> Result<Value, ApiError> {
        if let Some(ns) = self.get(&NAMESPACES, None, name) {
            return Ok(ns);
        }
        match self.create(&NAMESPACES, None, json!({"metadata": {"name": name}})) {
            Err(e) if e.reason == "AlreadyExists" => self
                .get(&NAMESPACES, None, name)
                .ok_or_else(|| ApiError::not_found(&NAMESPACES, name)),
            other => other,
        }
    }
}

/// The finalizer the `StorageObjectInUseProtection` admission plugin adds to every new PVC and
/// PV (kubernetes@v1.32.0:plugin/pkg/admission/storage/storageobjectinuseprotection/admission.go),
/// for client and controller creates alike (the PV controller creates PVs through the API).
fn add_protection_finalizer(rt: &'static ResourceType, obj: &mut Value) {
    let finalizer = if std::ptr::eq(rt, &resources::PVCS) {
        PVC_PROTECTION_FINALIZER
    } else if std::ptr::eq(rt, &resources::PVS) {
        PV_PROTECTION_FINALIZER
    } else {
        return;
    };
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let list = meta.entry("finalizers").or_insert_with(|| json!([]));
    if let Some(items) = list.as_array_mut() {
        if !items.iter().any(|f| f == finalizer) {
            items.push(json!(finalizer));
        }
    }
}

/// `kubernetes.io/pvc-protection`: held while a pod uses the claim.
pub const PVC_PROTECTION_FINALIZER: &str = "kubernetes.io/pvc-protection";
/// `kubernetes.io/pv-protection`: held while the volume is bound to a claim.
pub const PV_PROTECTION_FINALIZER: &str = "kubernetes.io/pv-protection";

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resources::{CONFIGMAPS, LH_VOLUMES};

    fn store_with_ns() -> Arc<Store> {
        let s = Store::new();
        s.ensure_namespace("default").ok();
        s
    }

    #[test]
    fn create_fills_metadata_and_rejects_duplicates() {
        let s = store_with_ns();
        let cm = s
            .create(
                &CONFIGMAPS,
                Some("default"),
                json!({"metadata": {"name": "a"}, "data": {"k": "v"}}),
            )
            .ok();
        let cm = cm.unwrap_or_default();
        assert_eq!(cm["kind"], "ConfigMap");
        assert_eq!(cm["metadata"]["namespace"], "default");
        assert_eq!(cm["metadata"]["generation"], 1);
        assert!(rv_of(&cm) > 0);
        let dup = s.create(
            &CONFIGMAPS,
            Some("default"),
            json!({"metadata": {"name": "a"}}),
        );
        assert_eq!(
            dup.err().map(|e| e.reason),
            Some("AlreadyExists".to_string())
        );
    }

    #[test]
    fn create_in_missing_namespace_is_404() {
        let s = Store::new();
        let e = s.create(
            &CONFIGMAPS,
            Some("nope"),
            json!({"metadata": {"name": "a"}}),
        );
        assert_eq!(
            e.err().map(|e| e.message),
            Some("namespaces \"nope\" not found".into())
        );
    }

    #[test]
    fn replace_keeps_status_and_bumps_generation() {
        let s = store_with_ns();
        let v = json!({"metadata": {"name": "v"}, "spec": {"size": "1"}, "status": {"state": "detached"}});
        let created = s
            .create(&LH_VOLUMES, Some("default"), v)
            .unwrap_or_default();
        let mut put = created.clone();
        put["spec"]["size"] = json!("2");
        put["status"]["state"] = json!("attached");
        let out = s
            .replace(&LH_VOLUMES, Some("default"), "v", put)
            .unwrap_or_default();
        assert_eq!(out["status"]["state"], "detached");
        assert_eq!(out["metadata"]["generation"], 2);
        let st = s
            .replace_status(
                &LH_VOLUMES,
                Some("default"),
                "v",
                json!({"status": {"state": "attached"}}),
            )
            .unwrap_or_default();
        assert_eq!(st["status"]["state"], "attached");
        assert_eq!(st["spec"]["size"], "2");
        assert_eq!(st["metadata"]["generation"], 2);
    }

    #[test]
    fn stale_resource_version_conflicts() {
        let s = store_with_ns();
        let a = s
            .create(
                &CONFIGMAPS,
                Some("default"),
                json!({"metadata": {"name": "a"}}),
            )
            .unwrap_or_default();
        let mut b = a.clone();
        b["data"] = json!({"x": "1"});
        assert!(s
            .replace(&CONFIGMAPS, Some("default"), "a", b.clone())
            .is_ok());
        let e = s.replace(&CONFIGMAPS, Some("default"), "a", b);
        assert_eq!(e.err().map(|e| e.code), Some(409));
    }

    #[test]
    fn modify_without_change_emits_nothing() {
        let s = store_with_ns();
        s.create(
            &CONFIGMAPS,
            Some("default"),
            json!({"metadata": {"name": "a"}}),
        )
        .ok();
        let before = s.resource_version();
        s.modify(&CONFIGMAPS, Some("default"), "a", |_| {}).ok();
        assert_eq!(s.resource_version(), before);
        s.modify(&CONFIGMAPS, Some("default"), "a", |o| {
            o["data"] = json!({"k": "v"})
        })
        .ok();
        assert_eq!(s.resource_version(), before + 1);
    }

    #[test]
    fn delete_cascades_to_owned_objects_and_namespace_contents() {
        let s = store_with_ns();
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

    #[test]
    fn watch_from_replays_history_and_reports_gone_after_reset() {
        let s = store_with_ns();
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
    fn concurrent_client_patches_all_land() {
        let s = store_with_ns();
        // A hook forces the optimistic path (admission outside the lock, commit re-checked).
        s.add_admission(Arc::new(
            |_rt, _op, _obj: &mut Value, _old: Option<&Value>| Ok(()),
        ));
        s.create(
            &CONFIGMAPS,
            Some("default"),
            json!({"metadata": {"name": "c"}, "data": {}}),
        )
        .ok();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        let key = format!("k{t}-{i}");
                        s.update_with(
                            &CONFIGMAPS,
                            Some("default"),
                            "c",
                            UpdateScope::Main,
                            WriteOptions::client(false),
                            |cur| {
                                let mut next = cur.clone();
                                next["data"][&key] = json!("v");
                                // Like a patch: no resourceVersion precondition.
                                next["metadata"]
                                    .as_object_mut()
                                    .map(|m| m.remove("resourceVersion"));
                                Ok(next)
                            },
                        )
                        .map(|_| ())
                        .map_err(|e| e.message)?;
                    }
                    Ok::<(), String>(())
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().ok(), Some(Ok(())));
        }
        let c = s.get(&CONFIGMAPS, Some("default"), "c").unwrap_or_default();
        assert_eq!(c["data"].as_object().map(|m| m.len()), Some(200));
    }

    #[test]
    fn admission_runs_only_for_client_writes() {
        let s = store_with_ns();
        s.add_admission(Arc::new(
            |_rt, _op, obj: &mut Value, _old: Option<&Value>| {
                if name_of(obj) == "denied" {
                    return Err(ApiError::forbidden("denied by webhook"));
                }
                obj["metadata"]["labels"] = json!({"mutated": "yes"});
                Ok(())
            },
        ));
        let c = s
            .create_with(
                &CONFIGMAPS,
                Some("default"),
                json!({"metadata": {"name": "a"}}),
                WriteOptions::client(false),
            )
            .unwrap_or_default();
        assert_eq!(c["metadata"]["labels"]["mutated"], "yes");
        let d = s.create_with(
            &CONFIGMAPS,
            Some("default"),
            json!({"metadata": {"name": "denied"}}),
            WriteOptions::client(false),
        );
        assert_eq!(d.err().map(|e| e.code), Some(403));
        assert!(s
            .create(
                &CONFIGMAPS,
                Some("default"),
                json!({"metadata": {"name": "denied"}})
            )
            .is_ok());
    }
}
