//! Small accessors and builders over Kubernetes objects held as `serde_json::Value`.
//!
//! The store keeps objects untyped (JSON as the API serves it), so controllers read and write
//! fields by path. These helpers keep that code short and uniform: metadata accessors,
//! condition upserts with Kubernetes' `lastTransitionTime` semantics (changed only when `status`
//! changes), owner references, timestamps in RFC 3339 UTC, and resource quantities in bytes.

use serde_json::{json, Map, Value};

/// `metadata.name`, or `""`.
pub fn name(obj: &Value) -> &str {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.namespace`, if any.
pub fn namespace(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/namespace").and_then(Value::as_str)
}

/// `metadata.uid`, or `""`.
pub fn uid(obj: &Value) -> &str {
    obj.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// A string at a JSON pointer (`/spec/volumeName`), if present and a string.
pub fn str_at<'a>(obj: &'a Value, pointer: &str) -> Option<&'a str> {
    obj.pointer(pointer).and_then(Value::as_str)
}

/// `metadata.labels` as a map (empty if none).
pub fn labels(obj: &Value) -> Map<String, Value> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// A label value.
pub fn label<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/labels")
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
}

/// Ensures `obj[key]` is an object and returns it mutably (replacing a non-object value).
pub fn obj_mut<'a>(obj: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !obj.is_object() {
        *obj = json!({});
    }
    let map = obj.as_object_mut().expect("just made an object");
    let entry = map.entry(key.to_string()).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry.as_object_mut().expect("just made an object")
}

/// Sets one label, creating `metadata.labels` as needed.
pub fn set_label(obj: &mut Value, key: &str, value: &str) {
    let meta = obj_mut(obj, "metadata");
    let labels = meta.entry("labels").or_insert_with(|| json!({}));
    if !labels.is_object() {
        *labels = json!({});
    }
    if let Some(l) = labels.as_object_mut() {
        l.insert(key.to_string(), Value::String(value.to_string()));
    }
}

/// Now as RFC 3339 UTC with second precision (`2026-01-02T03:04:05Z`), as Kubernetes writes
/// `metav1.Time`.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Parses an RFC 3339 timestamp.
pub fn parse_time(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// Upserts condition `type_` in `status.conditions`. `lastTransitionTime` changes only when
/// `status` changes (Kubernetes condition semantics); reason/message always take the new values.
/// Returns whether anything changed.
pub fn set_condition(
    obj: &mut Value,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
) -> bool {
    set_condition_str(
        obj,
        type_,
        if status { "True" } else { "False" },
        reason,
        message,
    )
}

/// Like [`set_condition`] with the status spelled out (`"True"`, `"False"`, `"Unknown"`).
pub fn set_condition_str(
    obj: &mut Value,
    type_: &str,
    status_text: &str,
    reason: &str,
    message: &str,
) -> bool {
    let st = obj_mut(obj, "status");
    let conditions = st.entry("conditions").or_insert_with(|| json!([]));
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let list = conditions.as_array_mut().expect("just made an array");
    let now = now_rfc3339();
    if let Some(c) = list
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
    {
        let same = c.get("status").and_then(Value::as_str) == Some(status_text)
            && c.get("reason").and_then(Value::as_str) == Some(reason)
            && c.get("message").and_then(Value::as_str) == Some(message);
        if same {
            return false;
        }
        if c.get("status").and_then(Value::as_str) != Some(status_text) {
            c["lastTransitionTime"] = json!(now);
        }
        c["status"] = json!(status_text);
        c["reason"] = json!(reason);
        c["message"] = json!(message);
        return true;
    }
    list.push(json!({
        "type": type_, "status": status_text, "reason": reason, "message": message,
        "lastTransitionTime": now, "lastProbeTime": null,
    }));
    true
}

/// Condition `type_`'s status as a bool (`None` when absent).
pub fn condition(obj: &Value, type_: &str) -> Option<bool> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
        .map(|c| c.get("status").and_then(Value::as_str) == Some("True"))
}

/// An ownerReference pointing at `owner` (controller: true, blockOwnerDeletion: true).
pub fn owner_reference(owner: &Value, api_version: &str, kind: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": name(owner),
        "uid": uid(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Whether `obj` has an ownerReference with `owner_uid`.
pub fn is_owned_by(obj: &Value, owner_uid: &str) -> bool {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r.get("uid").and_then(Value::as_str) == Some(owner_uid))
        })
}

/// Whether every `matchLabels` pair of `selector` is in `labels` (matchExpressions are not
/// evaluated: the sandbox's workloads select by labels only).
pub fn selector_matches(selector: &Value, labels: &Map<String, Value>) -> bool {
    selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .map(|want| want.iter().all(|(k, v)| labels.get(k) == Some(v)))
        .unwrap_or(true)
}

/// Parses a Kubernetes resource quantity (`1Gi`, `512Mi`, `10G`, `1073741824`, `1e9`) into bytes.
///
/// # Errors
/// A message with the offending text for an unknown suffix or a malformed number.
pub fn parse_quantity(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let split = s
        .find(|c: char| {
            !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-' || c == 'e' || c == 'E')
        })
        .unwrap_or(s.len());
    // "1e9" has an exponent, "1E" would be exa: only treat e/E as exponent if digits follow
    let (num, suffix) = if s[..split].ends_with(['e', 'E']) {
        (&s[..split - 1], &s[split - 1..])
    } else {
        (&s[..split], &s[split..])
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("malformed quantity {text:?}"))?;
    let factor: f64 = match suffix {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "m" => 1e-3,
        other => return Err(format!("unknown quantity suffix {other:?} in {text:?}")),
    };
    let bytes = value * factor;
    if !bytes.is_finite() || bytes < 0.0 {
        return Err(format!("invalid quantity {text:?}"));
    }
    Ok(bytes.ceil() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_in_bytes() {
        assert_eq!(parse_quantity("1Gi"), Ok(1 << 30));
        assert_eq!(parse_quantity("512Mi"), Ok(512 << 20));
        assert_eq!(parse_quantity("10G"), Ok(10_000_000_000));
        assert_eq!(parse_quantity("1073741824"), Ok(1 << 30));
        assert_eq!(parse_quantity("1e3"), Ok(1000));
        assert_eq!(parse_quantity("2E"), Ok(2_000_000_000_000_000_000));
        assert!(parse_quantity("1Zi").is_err());
        assert!(parse_quantity("Gi").is_err());
    }

    #[test]
    fn conditions_keep_transition_time_when_status_is_unchanged() {
        let mut obj = json!({"metadata": {"name": "x"}});
        assert!(set_condition(
            &mut obj, "Ready", false, "Waiting", "not yet"
        ));
        assert_eq!(condition(&obj, "Ready"), Some(false));
        obj["status"]["conditions"][0]["lastTransitionTime"] = json!("2000-01-01T00:00:00Z");
        assert!(set_condition(
            &mut obj,
            "Ready",
            false,
            "Waiting",
            "still not"
        ));
        assert_eq!(
            obj["status"]["conditions"][0]["lastTransitionTime"],
            "2000-01-01T00:00:00Z"
        );
        assert!(!set_condition(
            &mut obj,
            "Ready",
            false,
            "Waiting",
            "still not"
        ));
        assert!(set_condition(&mut obj, "Ready", true, "Done", "ok"));
        assert_ne!(
            obj["status"]["conditions"][0]["lastTransitionTime"],
            "2000-01-01T00:00:00Z"
        );
        assert_eq!(condition(&obj, "Ready"), Some(true));
        assert_eq!(condition(&obj, "Other"), None);
    }

    #[test]
    fn labels_owners_and_selectors() {
        let owner = json!({"metadata": {"name": "d", "uid": "u1"}});
        let mut pod = json!({"metadata": {"name": "p", "ownerReferences": [owner_reference(&owner, "apps/v1", "Deployment")]}});
        assert!(is_owned_by(&pod, "u1"));
        assert!(!is_owned_by(&pod, "u2"));
        set_label(&mut pod, "app", "web");
        assert_eq!(label(&pod, "app"), Some("web"));
        let sel = json!({"matchLabels": {"app": "web"}});
        assert!(selector_matches(&sel, &labels(&pod)));
        assert!(!selector_matches(
            &json!({"matchLabels": {"app": "db"}}),
            &labels(&pod)
        ));
    }
}
