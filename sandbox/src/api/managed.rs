//! `metadata.managedFields` for server-side apply: each apply records (or replaces) the
//! manager's `Apply` entry with the fields its configuration sets, in the `FieldsV1` format
//! (`f:<field>` for object fields, `k:{"name":…}` for items of lists keyed by `name`, `.` for
//! the item itself; sources: sigs.k8s.io/structured-merge-diff `fieldpath/serialize.go`,
//! k8s.io/apimachinery `pkg/apis/meta/v1/types.go` `ManagedFieldsEntry`).
//!
//! Simplified: only `Apply` entries are recorded (plain creates, updates and patches add no
//! `Update` entry), ownership is not used to remove fields a manager stops applying, and
//! conflicts between managers are never reported.

use serde_json::{json, Map, Value};

/// The `FieldsV1` set of an applied configuration (the resource root: `apiVersion`, `kind`,
/// `metadata.name`, `metadata.namespace` are identity, not fields).
pub fn fields_v1(applied: &Value) -> Value {
    let mut out = Map::new();
    if let Value::Object(m) = applied {
        for (k, v) in m {
            if matches!(k.as_str(), "apiVersion" | "kind") {
                continue;
            }
            if k == "metadata" {
                let mut meta = Map::new();
                if let Value::Object(mm) = v {
                    for (mk, mv) in mm {
                        if !matches!(mk.as_str(), "name" | "namespace" | "managedFields") {
                            meta.insert(format!("f:{mk}"), fields_of(mv));
                        }
                    }
                }
                if !meta.is_empty() {
                    out.insert("f:metadata".into(), Value::Object(meta));
                }
                continue;
            }
            out.insert(format!("f:{k}"), fields_of(v));
        }
    }
    Value::Object(out)
}

fn fields_of(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, c)| (format!("f:{k}"), fields_of(c)))
                .collect(),
        ),
        Value::Array(items)
            if items
                .iter()
                .all(|i| i.get("name").is_some_and(Value::is_string))
                && !items.is_empty() =>
        {
            let mut out = Map::new();
            for item in items {
                let key = json!({"name": item["name"]}).to_string();
                let mut f = match fields_of(item) {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                f.insert(".".into(), json!({}));
                out.insert(format!("k:{key}"), Value::Object(f));
            }
            Value::Object(out)
        }
        // Scalars and atomic lists are leaves.
        _ => json!({}),
    }
}

/// Records `manager`'s `Apply` of `applied` in `obj.metadata.managedFields` (replacing its
/// previous `Apply` entry unless that claims the same fields).
pub fn record_apply(obj: &mut Value, manager: &str, applied: &Value, now: &str) {
    let api_version = obj.get("apiVersion").cloned().unwrap_or_else(|| json!(""));
    let entry = json!({
        "manager": manager,
        "operation": "Apply",
        "apiVersion": api_version,
        "time": now,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields_v1(applied),
    });
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let list = meta.entry("managedFields").or_insert_with(|| json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    if let Some(entries) = list.as_array_mut() {
        let mine = |e: &Value| e["manager"] == manager && e["operation"] == "Apply";
        // An apply that claims the same fields keeps its entry: a no-op apply stays a no-op
        // (no new resourceVersion, no watch event).
        if entries
            .iter()
            .any(|e| mine(e) && e["fieldsV1"] == entry["fieldsV1"])
        {
            return;
        }
        entries.retain(|e| !mine(e));
        entries.push(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_of_an_applied_config() {
        let applied = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x", "namespace": "d", "labels": {"a": "b"}},
            "data": {"k": "v"},
            "spec": {"containers": [{"name": "c", "image": "i"}], "args": ["x"]}});
        assert_eq!(
            fields_v1(&applied),
            json!({"f:metadata": {"f:labels": {"f:a": {}}}, "f:data": {"f:k": {}},
                   "f:spec": {"f:args": {}, "f:containers": {"k:{\"name\":\"c\"}": {".": {}, "f:name": {}, "f:image": {}}}}})
        );
    }

    #[test]
    fn reapply_replaces_the_managers_entry() {
        let mut obj = json!({"apiVersion": "v1", "metadata": {"name": "x"}});
        record_apply(&mut obj, "m", &json!({"data": {"a": "1"}}), "t1");
        record_apply(&mut obj, "other", &json!({"data": {"b": "1"}}), "t1");
        record_apply(&mut obj, "m", &json!({"data": {"c": "1"}}), "t2");
        let entries = obj["metadata"]["managedFields"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1]["manager"], "m");
        assert_eq!(entries[1]["fieldsV1"], json!({"f:data": {"f:c": {}}}));
        assert_eq!(entries[1]["time"], "t2");
    }
}
