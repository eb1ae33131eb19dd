//! Create/update validation: the few required-field rules of the real API server (and of
//! Longhorn's CRD schema) that a drill could trip over, answered with 422 Invalid.
//!
//! Only required fields and name syntax are checked; the sandbox is not a schema validator.

use serde_json::Value;

use super::error::ApiError;
use super::resources::{
    ResourceType, DEPLOYMENTS, JOBS, LH_VOLUMES, NAMESPACES, PODS, PVCS, STATEFULSETS,
};

/// Looks up a nested field by dotted path (`"spec.resources.requests.storage"`).
pub fn field<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(obj, |v, seg| v.get(seg))
        .filter(|v| !v.is_null())
}

fn required(rt: &ResourceType, name: &str, obj: &Value, path: &str) -> Result<(), ApiError> {
    match field(obj, path) {
        Some(Value::Array(a)) if a.is_empty() => {
            Err(ApiError::invalid(rt, name, path, "Required value"))
        }
        Some(Value::String(s)) if s.is_empty() => {
            Err(ApiError::invalid(rt, name, path, "Required value"))
        }
        Some(_) => Ok(()),
        None => Err(ApiError::invalid(rt, name, path, "Required value")),
    }
}

/// RFC 1123 subdomain (names of most objects): lower-case alphanumerics, `-` and `.`, at most
/// 253 characters, starting and ending alphanumeric. Namespaces must be RFC 1123 labels (no `.`,
/// at most 63 characters). Source: k8s.io/apimachinery `pkg/util/validation`.
fn valid_name(name: &str, label: bool) -> bool {
    let max = if label { 63 } else { 253 };
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !name.is_empty()
        && name.len() <= max
        && name.starts_with(alnum)
        && name.ends_with(alnum)
        && name
            .chars()
            .all(|c| alnum(c) || c == '-' || (c == '.' && !label))
}

/// Checks an object about to be stored (after defaults and admission).
///
/// # Errors
/// 422 Invalid naming the first offending field: `metadata.name` missing or malformed;
/// Pod without `spec.containers`; PVC without `spec.accessModes` or
/// `spec.resources.requests.storage`; Deployment without `spec.selector`/`spec.template`; Job
/// without `spec.template.spec.containers`; Longhorn Volume without `spec`.
pub fn validate(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.is_empty() {
        return Err(ApiError::invalid(
            rt,
            "",
            "metadata.name",
            "Required value: name or generateName is required",
        ));
    }
    let label = std::ptr::eq(rt, &NAMESPACES);
    if !valid_name(name, label) {
        let what = if label {
            "RFC 1123 label"
        } else {
            "RFC 1123 subdomain"
        };
        return Err(ApiError::invalid(
            rt,
            name,
            "metadata.name",
            &format!("Invalid value: \"{name}\": a lowercase {what} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"),
        ));
    }
    if std::ptr::eq(rt, &PODS) {
        required(rt, name, obj, "spec.containers")?;
        if let Some(Value::Array(cs)) = field(obj, "spec.containers") {
            for (i, c) in cs.iter().enumerate() {
                required(rt, name, c, "name").map_err(|_| {
                    ApiError::invalid(
                        rt,
                        name,
                        &format!("spec.containers[{i}].name"),
                        "Required value",
                    )
                })?;
                required(rt, name, c, "image").map_err(|_| {
                    ApiError::invalid(
                        rt,
                        name,
                        &format!("spec.containers[{i}].image"),
                        "Required value",
                    )
                })?;
            }
        }
    } else if std::ptr::eq(rt, &PVCS) {
        required(rt, name, obj, "spec.accessModes")?;
        required(rt, name, obj, "spec.resources.requests.storage")?;
    } else if std::ptr::eq(rt, &DEPLOYMENTS) || std::ptr::eq(rt, &STATEFULSETS) {
        required(rt, name, obj, "spec.selector")?;
        required(rt, name, obj, "spec.template")?;
    } else if std::ptr::eq(rt, &JOBS) {
        required(rt, name, obj, "spec.template.spec.containers")?;
    } else if std::ptr::eq(rt, &LH_VOLUMES) {
        match obj.get("spec") {
            Some(Value::Object(_)) => {}
            _ => return Err(ApiError::invalid(rt, name, "spec", "Required value")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resources::CONFIGMAPS;
    use serde_json::json;

    #[test]
    fn pod_without_containers_is_invalid() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {}});
        let err = validate(&PODS, &pod).err().map(|e| (e.code, e.message));
        assert_eq!(
            err,
            Some((
                422,
                "Pod \"p\" is invalid: spec.containers: Required value".to_string()
            ))
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(validate(&CONFIGMAPS, &json!({"metadata": {"name": "a.b-c"}})).is_ok());
        assert!(validate(&CONFIGMAPS, &json!({"metadata": {"name": "Abc"}})).is_err());
        assert!(validate(&NAMESPACES, &json!({"metadata": {"name": "a.b"}})).is_err());
        assert!(validate(&CONFIGMAPS, &json!({"metadata": {}})).is_err());
    }

    #[test]
    fn pvc_needs_storage_request() {
        let pvc = json!({"metadata": {"name": "d"}, "spec": {"accessModes": ["ReadWriteOnce"]}});
        let e = validate(&PVCS, &pvc).err().map(|e| e.message);
        assert_eq!(
            e.as_deref(),
            Some("PersistentVolumeClaim \"d\" is invalid: spec.resources.requests.storage: Required value")
        );
    }
}
