//! The `scale` subresource of Deployments and StatefulSets (`kubectl scale deploy|sts x
//! --replicas=N`), as kube-apiserver serves it (kubernetes@v1.32
//! `pkg/registry/apps/deployment/storage/storage.go` and
//! `pkg/registry/apps/statefulset/storage/storage.go`, `ScaleREST`; which types have it:
//! [`super::resources::has_scale`]): `GET` answers an `autoscaling/v1 Scale` (`spec.replicas`
//! from the workload's spec, `status.replicas` from its status, `status.selector` the label
//! selector as a string); `PUT` and `PATCH` (merge, JSON, strategic — the Scale has no lists,
//! so strategic is a merge) change only the workload's `spec.replicas`. A Scale whose
//! `metadata.resourceVersion` differs from the workload's is a 409 conflict (the Scale's
//! resourceVersion is the workload's). Negative replicas are 422 `Invalid`.

use serde_json::{json, Value};

use super::error::ApiError;
use super::patch::{self, PatchKind};
use super::resources::ResourceType;
use super::store::{Store, UpdateScope, WriteOptions};

/// `metav1.FormatLabelSelector` of `matchLabels` (the Scale's `status.selector`).
fn selector_string(deploy: &Value) -> String {
    deploy
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// The `autoscaling/v1 Scale` of a Deployment or StatefulSet object.
pub fn scale_of(deploy: &Value) -> Value {
    let meta = |k: &str| deploy.pointer(&format!("/metadata/{k}")).cloned();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta("name"),
            "namespace": meta("namespace"),
            "uid": meta("uid"),
            "resourceVersion": meta("resourceVersion"),
            "creationTimestamp": meta("creationTimestamp"),
        },
        "spec": {"replicas": deploy.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)},
        "status": {
            "replicas": deploy.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector_string(deploy),
        },
    })
}

/// How a scale write arrives.
pub enum ScaleWrite<'a> {
    /// `PUT` with a whole Scale.
    Replace(&'a Value),
    /// `PATCH` of the given kind with this document.
    Patch(PatchKind, &'a Value),
}

/// Applies a scale write to the workload `ns/name` of type `rt` (one with
/// [`super::resources::has_scale`]) and returns the new Scale.
///
/// # Errors
/// 404 when the workload is missing; 409 on a stale `metadata.resourceVersion`; 422 when
/// `spec.replicas` is missing, not an integer or negative; patch errors as 400.
pub fn write(
    store: &Store,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    write: ScaleWrite<'_>,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let updated = store.update_with(
        rt,
        Some(ns),
        name,
        UpdateScope::Main,
        WriteOptions::client(dry_run),
        |cur| {
            let current = scale_of(cur);
            let wanted = match &write {
                ScaleWrite::Replace(body) => (*body).clone(),
                ScaleWrite::Patch(kind, doc) => {
                    let kind = if *kind == PatchKind::Strategic {
                        PatchKind::Merge
                    } else {
                        *kind
                    };
                    patch::apply_patch(kind, &current, doc)?
                }
            };
            let rv = wanted
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or("");
            let cur_rv = current
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !rv.is_empty() && rv != cur_rv {
                return Err(ApiError::new(
                    409,
                    "Conflict",
                    format!("Operation cannot be fulfilled on {}.{} \"{name}\": the object has been modified; please apply your changes to the latest version and try again", rt.plural, rt.group),
                ));
            }
            let replicas = wanted.pointer("/spec/replicas").and_then(Value::as_i64);
            let replicas = match replicas {
                Some(r) if r >= 0 => r,
                Some(r) => {
                    return Err(ApiError::new(
                        422,
                        "Invalid",
                        format!("Scale.autoscaling \"{name}\" is invalid: spec.replicas: Invalid value: {r}: must be greater than or equal to 0"),
                    ))
                }
                None => {
                    return Err(ApiError::new(
                        422,
                        "Invalid",
                        format!("Scale.autoscaling \"{name}\" is invalid: spec.replicas: Required value"),
                    ))
                }
            };
            let mut next = cur.clone();
            next["spec"]["replicas"] = json!(replicas);
            Ok(next)
        },
    )?;
    Ok(scale_of(&updated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_reads_replicas_and_selector() {
        let d = json!({"metadata": {"name": "d", "namespace": "n", "resourceVersion": "7"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "x"}}},
            "status": {"replicas": 2}});
        let s = scale_of(&d);
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(s["status"]["replicas"], 2);
        assert_eq!(s["status"]["selector"], "app=x");
        assert_eq!(s["metadata"]["resourceVersion"], "7");
    }
}
