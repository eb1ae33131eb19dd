//! Writes: create, update (replace, status, read-modify-write, the general client update) and
//! delete, with their API-server rules — server-filled metadata, optimistic concurrency on
//! `resourceVersion`, status subresource semantics, dry-run, graceful deletion of objects with
//! finalizers. Admission ([`super::admission`]) and validation run before the lock is taken;
//! removal and garbage collection are in [`super::gc`].

use std::collections::HashSet;

use serde_json::{json, Value};

use super::admission::{add_protection_finalizer, Operation};
use super::gc::{has_finalizers, is_terminating};
use super::history::{EventType, WatchEvent};
use super::state::{obj_key, type_key, ObjKey, State, Store};
use crate::api::error::ApiError;
use crate::api::object::{
    apply_scope, finish_update, metadata_mut, name_of, namespace_of, now_rfc3339, prepare_create,
    rv_of, uid_of, UpdateScope, WriteOptions,
};
use crate::api::resources::{ResourceType, NAMESPACES};
use crate::api::validate::validate;

impl Store {
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
            self.admissions
                .admit(rt, Operation::Create, &mut obj, None)?;
        }
        add_protection_finalizer(rt, &mut obj);
        self.admissions
            .schema_gate(rt, &mut obj, None, opts.client)?;
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
            .insert(key.clone(), obj.clone());
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
        if super::gc::all_owners_absent(&st, &obj) {
            let removed = self.remove_one(&mut st, rt, &key);
            let gone = std::iter::once(uid_of(&removed).to_string()).collect();
            self.collect_garbage(&mut st, gone);
        }
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
        self.admissions
            .schema_gate(rt, &mut new, Some(&cur), false)?;
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
                self.admissions
                    .admit(rt, Operation::Update, &mut new, Some(&cur))?;
            }
            let mut new = finish_update(rt, &cur, new)?;
            self.admissions
                .schema_gate(rt, &mut new, Some(&cur), opts.client)?;
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
        let mut gone_uids: HashSet<String> = HashSet::from([uid_of(&obj).to_string()]);
        if std::ptr::eq(rt, &NAMESPACES) {
            gone_uids.extend(self.remove_namespace_contents(&mut st, name));
        }
        if !orphan {
            self.collect_garbage(&mut st, gone_uids);
        }
        Ok(deleted)
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

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
