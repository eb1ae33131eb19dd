//! PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch and
//! server-side apply, each turned into "the new object" for [`super::store::Store::update_with`].
//!
//! Strategic merge is approximated: a merge patch in which lists of objects under well-known
//! keys (`containers`, `initContainers`, `volumes`, `volumeMounts`, `env`, `ports`, ...) are
//! merged by their `name` key (`$patch: delete` removes an element), and `$`-directives such
//! as `$setElementOrder/...` and `$retainKeys` are ignored. Server-side apply is a strategic
//! merge of the applied configuration onto the live object: fields a previous apply set but the
//! new one omits are NOT removed (`metadata.managedFields` records each manager's applied
//! fields, see [`super::managed`], but ownership is not used to remove them).

use serde_json::{Map, Value};

use super::error::ApiError;

/// The PATCH flavours, by `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply; body is YAML or JSON).
    Apply,
}

impl PatchKind {
    /// The kind for a `Content-Type` header value (parameters ignored).
    ///
    /// # Errors
    /// 415-like 400 BadRequest for any other media type.
    pub fn from_content_type(ct: &str) -> Result<Self, ApiError> {
        let media = ct.split(';').next().unwrap_or("").trim();
        match media {
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/json-patch+json" => Ok(Self::Json),
            "application/strategic-merge-patch+json" => Ok(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(Self::Apply),
            other => Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {other:?})"),
            )),
        }
    }
}

/// Parses a PATCH body: JSON for every kind, YAML also for apply.
///
/// # Errors
/// 400 BadRequest when the body does not parse.
pub fn parse_body(kind: PatchKind, body: &[u8]) -> Result<Value, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => Ok(v),
        Err(e) if kind == PatchKind::Apply => serde_yaml::from_slice::<Value>(body).map_err(|ye| {
            ApiError::bad_request(format!("error decoding YAML: {ye} (as JSON: {e})"))
        }),
        Err(e) => Err(ApiError::bad_request(format!("error decoding patch: {e}"))),
    }
}

/// Applies a parsed patch to `target`, returning the patched object.
///
/// # Errors
/// 400 for a malformed JSON patch document; 422 Invalid when a JSON patch operation fails
/// (missing path, failed `test`); 400 when a merge-style patch is not an object.
pub fn apply_patch(kind: PatchKind, target: &Value, patch: &Value) -> Result<Value, ApiError> {
    let mut doc = target.clone();
    match kind {
        PatchKind::Merge => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("merge patch must be a JSON object"));
            }
            json_patch::merge(&mut doc, patch);
        }
        PatchKind::Json => {
            let p: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(&mut doc, &p).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?;
        }
        PatchKind::Strategic | PatchKind::Apply => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("patch must be a JSON object"));
            }
            strategic_merge(&mut doc, patch);
        }
    }
    Ok(doc)
}

/// List fields merged element-wise by `name` (k8s.io/api `patchMergeKey:"name"` fields that
/// drills touch; ports merge by `containerPort` in the real API, by `name` here).
const MERGE_BY_NAME: &[&str] = &[
    "containers",
    "initContainers",
    "volumes",
    "volumeMounts",
    "env",
    "ports",
    "imagePullSecrets",
    "volumeDevices",
];

fn strategic_merge(target: &mut Value, patch: &Value) {
    let Value::Object(pm) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(tm) = target else {
        return;
    };
    for (k, pv) in pm {
        if k.starts_with('$') {
            continue;
        }
        match pv {
            Value::Null => {
                tm.remove(k);
            }
            Value::Object(_) => {
                let entry = tm.entry(k.clone()).or_insert(Value::Null);
                strategic_merge(entry, pv);
            }
            Value::Array(items) if MERGE_BY_NAME.contains(&k.as_str()) => {
                let base = match tm.remove(k) {
                    Some(Value::Array(a)) => a,
                    _ => Vec::new(),
                };
                tm.insert(k.clone(), Value::Array(merge_named_list(base, items)));
            }
            other => {
                tm.insert(k.clone(), other.clone());
            }
        }
    }
}

fn merge_named_list(mut base: Vec<Value>, items: &[Value]) -> Vec<Value> {
    for item in items {
        let Some(name) = item.get("name").and_then(Value::as_str) else {
            base.push(item.clone());
            continue;
        };
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        let pos = base
            .iter()
            .position(|b| b.get("name").and_then(Value::as_str) == Some(name));
        match (pos, delete) {
            (Some(i), true) => {
                base.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic_merge(&mut base[i], item),
            (None, false) => {
                let mut fresh = Value::Object(Map::new());
                strategic_merge(&mut fresh, item);
                base.push(fresh);
            }
        }
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_removes_nulls() {
        let t = json!({"data": {"a": "1", "b": "2"}});
        let out = apply_patch(
            PatchKind::Merge,
            &t,
            &json!({"data": {"a": null, "c": "3"}}),
        )
        .ok();
        assert_eq!(out, Some(json!({"data": {"b": "2", "c": "3"}})));
    }

    #[test]
    fn json_patch_failure_is_422() {
        let t = json!({"data": {}});
        let p = json!([{"op": "replace", "path": "/data/missing", "value": "x"}]);
        assert_eq!(
            apply_patch(PatchKind::Json, &t, &p).err().map(|e| e.code),
            Some(422)
        );
        let p = json!([{"op": "add", "path": "/data/k", "value": "x"}]);
        assert_eq!(
            apply_patch(PatchKind::Json, &t, &p).ok(),
            Some(json!({"data": {"k": "x"}}))
        );
    }

    #[test]
    fn strategic_merges_containers_by_name() {
        let t = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        let p = json!({"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "a", "image": "z"}, {"name": "b", "$patch": "delete"}]}});
        let out = apply_patch(PatchKind::Strategic, &t, &p).ok();
        assert_eq!(
            out,
            Some(json!({"spec": {"containers": [{"name": "a", "image": "z"}]}}))
        );
    }

    #[test]
    fn apply_accepts_yaml() {
        let v = parse_body(PatchKind::Apply, b"metadata:\n  name: x\ndata:\n  k: v\n").ok();
        assert_eq!(
            v,
            Some(json!({"metadata": {"name": "x"}, "data": {"k": "v"}}))
        );
        assert!(parse_body(PatchKind::Merge, b"a: b").is_err());
    }
}
