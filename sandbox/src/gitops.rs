//! A Flux-like GitOps controller: `kustomize.toolkit.fluxcd.io/v1` Kustomizations applying
//! manifests in dependency order.
//!
//! The seed plan orders a rebuild with Flux `dependsOn` (Longhorn → restore orchestrator →
//! workloads); the sandbox keeps that ordering. A Kustomization waits until each `dependsOn`
//! entry is `Ready` (reason `DependencyNotReady` meanwhile), then applies the multi-document YAML
//! registered for its `spec.path` (create-or-update through the store, admission included, as
//! Flux's server-side apply goes through the API server), records `lastAppliedRevision`
//! (`main@sha1:<digest of the manifests>`) and an inventory, and — with `spec.wait: true` or
//! `spec.healthChecks` — reports `Ready=True` (`ReconciliationSucceeded`) only once the applied
//! Deployments are Available, DaemonSets ready, Jobs complete and PVCs bound; a failed Job makes
//! it `Ready=False` (`HealthCheckFailed`). Simplifications: manifests are applied once per
//! revision (no drift correction, no pruning), and the source is in-process, not a Git
//! repository (see FIDELITY.md).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::api::resources::{
    self, DAEMONSETS, DEPLOYMENTS, FLUX_KUSTOMIZATIONS, JOBS, LH_BACKUPTARGETS, PVCS,
};
use crate::api::store::UpdateScope;
use crate::api::{ApiError, ResourceType, Store, WriteOptions};
use crate::controllers::context::{Controller, Ctx};
use crate::controllers::object::{
    condition, name, namespace, set_condition, set_condition_str, str_at, uid,
};

/// Errors of parsing or applying GitOps manifests.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GitOpsError {
    /// A YAML document does not parse.
    #[error("manifests at {path}: document {index}: {message}")]
    Yaml {
        /// The Kustomization path key.
        path: String,
        /// Zero-based document index.
        index: usize,
        /// Parser message.
        message: String,
    },
    /// A document's apiVersion/kind is not served by the sandbox.
    #[error("no matches for kind \"{kind}\" in version \"{api_version}\"")]
    UnknownKind {
        /// apiVersion of the document.
        api_version: String,
        /// kind of the document.
        kind: String,
    },
    /// The API refused a manifest.
    #[error("{kind}/{name} apply failed: {source}")]
    Apply {
        /// Kind of the object.
        kind: String,
        /// Name of the object.
        name: String,
        /// The API error.
        source: Box<ApiError>,
    },
}

/// Parses multi-document YAML into objects, skipping empty documents (comments only).
///
/// # Errors
/// [`GitOpsError::Yaml`] naming `path` and the document index.
pub fn parse_manifests(path: &str, yaml: &str) -> Result<Vec<Value>, GitOpsError> {
    let mut out = Vec::new();
    for (index, doc) in serde_yaml::Deserializer::from_str(yaml).enumerate() {
        let value = Value::deserialize(doc).map_err(|e| GitOpsError::Yaml {
            path: path.to_string(),
            index,
            message: e.to_string(),
        })?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

/// Flux's apply order: namespaces, then CRDs, then cluster-wide and config objects, then
/// workloads.
fn apply_rank(obj: &Value) -> u8 {
    match str_at(obj, "/kind").unwrap_or("") {
        "Namespace" => 0,
        "CustomResourceDefinition" => 1,
        "ServiceAccount" | "ClusterRole" | "ClusterRoleBinding" | "Role" | "RoleBinding"
        | "ConfigMap" | "Secret" | "StorageClass" => 2,
        "PersistentVolume" | "PersistentVolumeClaim" => 3,
        _ => 4,
    }
}

/// The revision Flux would report for a set of manifests (`main@sha1:<40 hex>`; the digest is
/// a SHA-256 prefix of the manifest text: there is no Git commit in the sandbox).
pub fn revision_of(yaml: &str) -> String {
    let digest = hex::encode(Sha256::digest(yaml.as_bytes()));
    format!("main@sha1:{}", &digest[..40])
}

/// Creates or updates one manifest through the store as an API client (admission runs), with
/// Flux's ownership labels. Returns the type and the stored object.
///
/// # Errors
/// [`GitOpsError::UnknownKind`] or [`GitOpsError::Apply`].
pub fn apply_object(
    store: &Store,
    ks: &Value,
    mut obj: Value,
) -> Result<(&'static ResourceType, Value), GitOpsError> {
    let api_version = str_at(&obj, "/apiVersion").unwrap_or("").to_string();
    let kind = str_at(&obj, "/kind").unwrap_or("").to_string();
    let rt = resources::by_kind(&api_version, &kind).ok_or_else(|| GitOpsError::UnknownKind {
        api_version: api_version.clone(),
        kind: kind.clone(),
    })?;
    let ks_name = name(ks).to_string();
    let ks_ns = namespace(ks).unwrap_or("flux-system").to_string();
    crate::controllers::object::set_label(&mut obj, "kustomize.toolkit.fluxcd.io/name", &ks_name);
    crate::controllers::object::set_label(
        &mut obj,
        "kustomize.toolkit.fluxcd.io/namespace",
        &ks_ns,
    );
    let obj_name = name(&obj).to_string();
    let ns = if rt.namespaced {
        Some(
            namespace(&obj)
                .or_else(|| str_at(ks, "/spec/targetNamespace"))
                .unwrap_or("default")
                .to_string(),
        )
    } else {
        None
    };
    let wrap = |source: ApiError| GitOpsError::Apply {
        kind: kind.clone(),
        name: obj_name.clone(),
        source: Box::new(source),
    };
    let stored = match store.get(rt, ns.as_deref(), &obj_name) {
        None => store
            .create_with(rt, ns.as_deref(), obj, WriteOptions::client(false))
            .map_err(wrap)?,
        Some(_) => store
            .update_with(
                rt,
                ns.as_deref(),
                &obj_name,
                UpdateScope::Main,
                WriteOptions::client(false),
                |cur| {
                    let mut next = cur.clone();
                    if let (Some(n), Some(o)) = (next.as_object_mut(), obj.as_object()) {
                        for (k, v) in o {
                            match k.as_str() {
                                "metadata" | "status" => {}
                                _ => {
                                    n.insert(k.clone(), v.clone());
                                }
                            }
                        }
                    }
                    for field in ["labels", "annotations"] {
                        if let Some(m) = obj
                            .pointer(&format!("/metadata/{field}"))
                            .and_then(Value::as_object)
                        {
                            for (k, v) in m {
                                next["metadata"][field][k] = v.clone();
                            }
                        }
                    }
                    next["metadata"]["resourceVersion"] =
                        cur["metadata"]["resourceVersion"].clone();
                    Ok(next)
                },
            )
            .map_err(wrap)?,
    };
    Ok((rt, stored))
}

/// The health of one applied object as Flux's kstatus would judge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Current and ready.
    Ready,
    /// Still converging; the text says what is awaited.
    InProgress(String),
    /// Failed for good (a Job that failed).
    Failed(String),
}

/// Judges one object (looked up fresh in the store).
pub fn health(
    store: &Store,
    rt: &'static ResourceType,
    ns: Option<&str>,
    obj_name: &str,
) -> Health {
    let Some(obj) = store.get(rt, ns, obj_name) else {
        return Health::InProgress(format!("{} {obj_name} not found", rt.kind));
    };
    let id = format!("{}/{obj_name}", rt.kind);
    if std::ptr::eq(rt, &DEPLOYMENTS) {
        if crate::controllers::workloads::deployment_available(&obj) {
            Health::Ready
        } else {
            Health::InProgress(format!(
                "{id}: Deployment does not have minimum availability"
            ))
        }
    } else if std::ptr::eq(rt, &DAEMONSETS) {
        if crate::controllers::workloads::daemonset_ready(&obj) {
            Health::Ready
        } else {
            Health::InProgress(format!("{id}: not all pods are ready"))
        }
    } else if std::ptr::eq(rt, &JOBS) {
        if condition(&obj, "Complete") == Some(true) {
            Health::Ready
        } else if condition(&obj, "Failed") == Some(true) {
            Health::Failed(format!("{id}: Job has reached the specified backoff limit"))
        } else {
            Health::InProgress(format!("{id}: Job in progress"))
        }
    } else if std::ptr::eq(rt, &PVCS) {
        if str_at(&obj, "/status/phase") == Some("Bound") {
            Health::Ready
        } else {
            Health::InProgress(format!("{id}: PersistentVolumeClaim is not Bound"))
        }
    } else if std::ptr::eq(rt, &LH_BACKUPTARGETS) {
        if crate::controllers::backup_target::is_available(&obj) {
            Health::Ready
        } else {
            Health::InProgress(format!("{id}: backup target is not available"))
        }
    } else {
        Health::Ready
    }
}

/// Objects a Kustomization applied: (type, namespace, name).
type Applied = Vec<(&'static ResourceType, Option<String>, String)>;

/// Reconciles Flux Kustomizations.
#[derive(Default)]
pub struct KustomizationController {
    deps_ready_since: HashMap<String, Instant>,
    /// Objects applied per Kustomization uid: (type, namespace, name).
    applied: HashMap<String, Applied>,
}

impl Controller for KustomizationController {
    fn name(&self) -> &'static str {
        "kustomizations"
    }

    fn watches(&self) -> &'static [&'static ResourceType] {
        static W: [&ResourceType; 6] = [
            &FLUX_KUSTOMIZATIONS,
            &DEPLOYMENTS,
            &DAEMONSETS,
            &JOBS,
            &PVCS,
            &LH_BACKUPTARGETS,
        ];
        &W
    }

    fn reconcile(&mut self, ctx: &Arc<Ctx>) {
        for ks in ctx.store.list(&FLUX_KUSTOMIZATIONS, None) {
            if ks.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            self.reconcile_one(ctx, &ks);
        }
    }
}

fn set_ready(
    store: &Store,
    ks: &Value,
    status: &str,
    reason: &str,
    message: &str,
    extra: impl FnOnce(&mut Value),
) {
    let ns = namespace(ks).unwrap_or("flux-system").to_string();
    let generation = ks
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(1));
    let _ = store.modify(&FLUX_KUSTOMIZATIONS, Some(&ns), name(ks), |o| {
        o["status"]["observedGeneration"] = generation;
        set_condition_str(o, "Ready", status, reason, message);
        if status == "Unknown" {
            set_condition(o, "Reconciling", true, reason, message);
        } else if let Some(cs) = o
            .pointer_mut("/status/conditions")
            .and_then(Value::as_array_mut)
        {
            cs.retain(|c| c.get("type").and_then(Value::as_str) != Some("Reconciling"));
        }
        extra(o);
    });
}

impl KustomizationController {
    fn reconcile_one(&mut self, ctx: &Arc<Ctx>, ks: &Value) {
        let store = &ctx.store;
        let ks_ns = namespace(ks).unwrap_or("flux-system").to_string();
        let id = uid(ks).to_string();
        // dependencies first
        let deps = ks
            .pointer("/spec/dependsOn")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for dep in deps {
            let dep_name = dep.get("name").and_then(Value::as_str).unwrap_or("");
            let dep_ns = dep
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or(&ks_ns);
            let ready = store
                .get(&FLUX_KUSTOMIZATIONS, Some(dep_ns), dep_name)
                .is_some_and(|d| condition(&d, "Ready") == Some(true));
            if !ready {
                self.deps_ready_since.remove(&id);
                let msg = format!("dependency '{dep_ns}/{dep_name}' is not ready");
                set_ready(store, ks, "False", "DependencyNotReady", &msg, |_| {});
                return;
            }
        }
        let since = *self
            .deps_ready_since
            .entry(id.clone())
            .or_insert_with(Instant::now);
        if since.elapsed() < ctx.timing.kustomization_step {
            set_ready(
                store,
                ks,
                "Unknown",
                "Progressing",
                "Reconciliation in progress",
                |_| {},
            );
            return;
        }
        let path = str_at(ks, "/spec/path").unwrap_or("").to_string();
        let Some(yaml) = ctx
            .gitops
            .iter()
            .find(|(p, _)| normalise(p) == normalise(&path))
            .map(|(_, y)| y.clone())
        else {
            let msg = format!("kustomization path not found: stat /tmp/kustomization/{}: no such file or directory", normalise(&path));
            set_ready(store, ks, "False", "ReconciliationFailed", &msg, |_| {});
            return;
        };
        let revision = revision_of(&yaml);
        let applied_rev = str_at(ks, "/status/lastAppliedRevision")
            .unwrap_or("")
            .to_string();
        if applied_rev != revision || !self.applied.contains_key(&id) {
            match self.apply(store, ks, &path, &yaml) {
                Ok(objects) => {
                    let entries: Vec<Value> = objects
                        .iter()
                        .map(|(rt, ns, n)| {
                            json!({"id": format!("{}_{}_{}_{}", ns.as_deref().unwrap_or(""), n, rt.group, rt.kind), "v": rt.version})
                        })
                        .collect();
                    let rev = revision.clone();
                    set_ready(
                        store,
                        ks,
                        "Unknown",
                        "Progressing",
                        "Reconciliation in progress",
                        |o| {
                            o["status"]["lastAppliedRevision"] = json!(rev);
                            o["status"]["lastAttemptedRevision"] = json!(rev);
                            o["status"]["inventory"] = json!({"entries": entries});
                        },
                    );
                    let msg = format!("Server-side apply completed: {} object(s)", objects.len());
                    crate::controllers::events::record(
                        store,
                        &FLUX_KUSTOMIZATIONS,
                        ks,
                        "kustomize-controller",
                        crate::controllers::events::EventKind::Normal,
                        "ReconciliationSucceeded",
                        &msg,
                    );
                    self.applied.insert(id.clone(), objects);
                }
                Err(e) => {
                    let rev = revision.clone();
                    set_ready(
                        store,
                        ks,
                        "False",
                        "ReconciliationFailed",
                        &e.to_string(),
                        |o| {
                            o["status"]["lastAttemptedRevision"] = json!(rev);
                        },
                    );
                    return;
                }
            }
        }
        // health: applied objects when spec.wait, plus spec.healthChecks
        let mut checks: Applied = Vec::new();
        if ks.pointer("/spec/wait").and_then(Value::as_bool) == Some(true) {
            checks.extend(self.applied.get(&id).cloned().unwrap_or_default());
        }
        for hc in ks
            .pointer("/spec/healthChecks")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let api_version = hc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
            let kind = hc.get("kind").and_then(Value::as_str).unwrap_or("");
            if let Some(rt) = resources::by_kind(api_version, kind) {
                let ns = hc
                    .get("namespace")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let n = hc
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                checks.push((rt, ns, n));
            }
        }
        for (rt, ns, n) in &checks {
            match health(store, rt, ns.as_deref(), n) {
                Health::Ready => {}
                Health::InProgress(msg) => {
                    set_ready(
                        store,
                        ks,
                        "Unknown",
                        "Progressing",
                        &format!("Reconciliation in progress: waiting for {msg}"),
                        |_| {},
                    );
                    return;
                }
                Health::Failed(msg) => {
                    set_ready(
                        store,
                        ks,
                        "False",
                        "HealthCheckFailed",
                        &format!("health check failed: {msg}"),
                        |_| {},
                    );
                    return;
                }
            }
        }
        let was_ready = condition(ks, "Ready") == Some(true);
        set_ready(
            store,
            ks,
            "True",
            "ReconciliationSucceeded",
            &format!("Applied revision: {revision}"),
            |_| {},
        );
        if !was_ready {
            crate::controllers::events::record(
                store,
                &FLUX_KUSTOMIZATIONS,
                ks,
                "kustomize-controller",
                crate::controllers::events::EventKind::Normal,
                "ReconciliationSucceeded",
                &format!(
                    "Reconciliation finished, next run in {}",
                    str_at(ks, "/spec/interval").unwrap_or("10m")
                ),
            );
        }
    }

    fn apply(
        &self,
        store: &Store,
        ks: &Value,
        path: &str,
        yaml: &str,
    ) -> Result<Applied, GitOpsError> {
        let mut docs = parse_manifests(path, yaml)?;
        docs.sort_by_key(apply_rank);
        let mut out = Vec::new();
        for doc in docs {
            let (rt, stored) = apply_object(store, ks, doc)?;
            out.push((
                rt,
                namespace(&stored).map(str::to_string),
                name(&stored).to_string(),
            ));
        }
        Ok(out)
    }
}

/// `./fixtures/sentinel/` and `fixtures/sentinel` name the same path.
fn normalise(path: &str) -> &str {
    path.trim_start_matches("./").trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_doc_yaml_skips_comment_only_documents() {
        let yaml = "# header only\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n";
        let docs = parse_manifests("p", yaml).expect("parses");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["kind"], "ConfigMap");
        assert!(matches!(
            parse_manifests("p", "a: [\n"),
            Err(GitOpsError::Yaml { .. })
        ));
    }

    #[test]
    fn revisions_change_with_content_and_paths_normalise() {
        assert_ne!(revision_of("a"), revision_of("b"));
        assert!(revision_of("a").starts_with("main@sha1:"));
        assert_eq!(normalise("./fixtures/sentinel/"), "fixtures/sentinel");
    }

    #[test]
    fn apply_creates_then_updates_with_flux_labels() {
        let store = Store::new();
        store.ensure_namespace("flux-system").expect("ns");
        let ks = json!({"metadata": {"name": "app", "namespace": "flux-system", "uid": "u"}, "spec": {"targetNamespace": "apps"}});
        let docs = parse_manifests(
            "p",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  k: one\n",
        )
        .expect("parses");
        for d in docs {
            apply_object(&store, &ks, d).expect("applies");
        }
        let cm = store
            .get(&resources::CONFIGMAPS, Some("apps"), "cfg")
            .expect("created in targetNamespace");
        assert_eq!(cm["data"]["k"], "one");
        assert_eq!(
            cm["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"],
            "app"
        );
        let update = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "apps"}, "data": {"k": "two"}});
        apply_object(&store, &ks, update).expect("updates");
        let cm = store
            .get(&resources::CONFIGMAPS, Some("apps"), "cfg")
            .expect("still there");
        assert_eq!(cm["data"]["k"], "two");
        let bad =
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}});
        assert!(matches!(
            apply_object(&store, &ks, bad),
            Err(GitOpsError::UnknownKind { .. })
        ));
    }
}
