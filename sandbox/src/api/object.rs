//! The rules that shape an object as the API server stores it: defaults filled on create,
//! server-owned metadata kept on update, status subresource semantics, `metadata.generation`.
//! Pure functions over `serde_json::Value`; the [`super::store::Store`] applies them under its
//! lock. The options of a write ([`WriteOptions`], [`UpdateScope`]) live here, beside the rules
//! they select, so that this module imports nothing of the store (the store re-exports them).

use rand::Rng;
use serde_json::{json, Value};

use super::error::ApiError;
use super::resources::{ResourceType, NAMESPACES, PODS};

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

/// RFC 3339 UTC timestamp with seconds precision, as Kubernetes writes `creationTimestamp`.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `metadata.name` of an object, `""` when absent.
pub fn name_of(obj: &Value) -> &str {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.namespace` of an object, `""` when absent.
pub fn namespace_of(obj: &Value) -> &str {
    obj.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.resourceVersion` parsed as a number, 0 when absent.
pub fn rv_of(obj: &Value) -> u64 {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// `metadata.uid` of an object, `""` when absent.
pub fn uid_of(obj: &Value) -> &str {
    obj.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Random suffix for `generateName`: 5 characters from the alphabet the API server uses
/// (k8s.io/apimachinery `pkg/util/rand` String, no vowels or confusable characters).
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The object's `metadata` map, created when absent or null.
///
/// # Errors
/// 400 BadRequest when the object or its `metadata` is not a JSON object.
pub fn metadata_mut(obj: &mut Value) -> Result<&mut serde_json::Map<String, Value>, ApiError> {
    let map = obj
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("the object must be a JSON object"))?;
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    if meta.is_null() {
        *meta = json!({});
    }
    meta.as_object_mut()
        .ok_or_else(|| ApiError::bad_request("metadata must be an object"))
}

/// The object without `metadata` and `status`: what `metadata.generation` tracks.
fn spec_part(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    v
}

fn set_status(obj: &mut Value, status: Option<Value>) {
    if let Some(m) = obj.as_object_mut() {
        match status {
            Some(s) => {
                m.insert("status".into(), s);
            }
            None => {
                m.remove("status");
            }
        }
    }
}

/// Fills a new object's server-owned fields before validation and admission: `apiVersion`,
/// `kind`, a name from `generateName`, the namespace from the URL (a Namespace body naming
/// another one is a 400), `status.phase` defaults for Namespaces and Pods; drops client-supplied
/// `uid`, `resourceVersion`, `creationTimestamp`, `generation`, and `.status` of client
/// creates of types with a status subresource.
///
/// # Errors
/// 400 BadRequest when the body is not an object or contradicts the request's type or namespace.
pub fn prepare_create(
    rt: &'static ResourceType,
    ns: Option<&str>,
    obj: &mut Value,
    opts: WriteOptions,
) -> Result<(), ApiError> {
    let map = obj
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("the object must be a JSON object"))?;
    for (field, want) in [
        ("apiVersion", rt.api_version()),
        ("kind", rt.kind.to_string()),
    ] {
        match map.get(field).and_then(Value::as_str) {
            Some(have) if !have.is_empty() && have != want => {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({}) does not match the expected API version ({}) or kind ({})",
                    map.get("apiVersion").and_then(Value::as_str).unwrap_or(""),
                    rt.api_version(),
                    rt.kind
                )));
            }
            _ => {
                map.insert(field.into(), json!(want));
            }
        }
    }
    if opts.client && rt.has_status {
        map.remove("status");
    }
    let meta = metadata_mut(obj)?;
    for server_field in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
        "deletionTimestamp",
    ] {
        meta.remove(server_field);
    }
    let has_name = meta
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    if !has_name {
        if let Some(prefix) = meta.get("generateName").and_then(Value::as_str) {
            if !prefix.is_empty() {
                let name = format!("{prefix}{}", random_suffix());
                meta.insert("name".into(), json!(name));
            }
        }
    }
    if rt.namespaced {
        let body_ns = meta.get("namespace").and_then(Value::as_str).unwrap_or("");
        let ns = match ns {
            Some(ns) if !body_ns.is_empty() && body_ns != ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            Some(ns) => ns.to_string(),
            None if !body_ns.is_empty() => body_ns.to_string(),
            None => "default".to_string(),
        };
        meta.insert("namespace".into(), json!(ns));
    } else {
        meta.remove("namespace");
    }
    if std::ptr::eq(rt, &NAMESPACES) && obj.get("status").is_none() {
        set_status(obj, Some(json!({"phase": "Active"})));
    }
    if std::ptr::eq(rt, &PODS) && obj.get("status").is_none() {
        set_status(obj, Some(json!({"phase": "Pending"})));
    }
    Ok(())
}

/// Applies the scope rules to a proposed update: name check, resourceVersion precondition,
/// status subresource semantics.
pub fn apply_scope(
    rt: &'static ResourceType,
    cur: &Value,
    proposed: Value,
    scope: UpdateScope,
    name: &str,
) -> Result<Value, ApiError> {
    if !proposed.is_object() {
        return Err(ApiError::bad_request("the object must be a JSON object"));
    }
    let body_name = name_of(&proposed);
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let body_rv = proposed
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !body_rv.is_empty() && body_rv != rv_of(cur).to_string() {
        return Err(ApiError::stale(rt, name));
    }
    Ok(match scope {
        UpdateScope::Main => {
            let mut new = proposed;
            if rt.has_status {
                set_status(&mut new, cur.get("status").cloned());
            }
            new
        }
        UpdateScope::Status => {
            let mut new = cur.clone();
            set_status(&mut new, proposed.get("status").cloned());
            new
        }
        UpdateScope::Whole => proposed,
    })
}

/// Restores server-owned fields from the stored object and bumps `generation` on spec change.
pub fn finish_update(
    rt: &'static ResourceType,
    cur: &Value,
    mut new: Value,
) -> Result<Value, ApiError> {
    {
        let map = new
            .as_object_mut()
            .ok_or_else(|| ApiError::bad_request("the object must be a JSON object"))?;
        map.insert("apiVersion".into(), json!(rt.api_version()));
        map.insert("kind".into(), json!(rt.kind));
    }
    let cur_meta = cur.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let meta = metadata_mut(&mut new)?;
    for f in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "resourceVersion",
        "generation",
        // set only by a DELETE of an object with finalizers, never by an update
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        match cur_meta.get(f) {
            Some(v) => {
                meta.insert(f.into(), v.clone());
            }
            None => {
                meta.remove(f);
            }
        }
    }
    if spec_part(cur) != spec_part(&new) {
        let generation = cur_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        new["metadata"]["generation"] = json!(generation + 1);
    }
    Ok(new)
}
