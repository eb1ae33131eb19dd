//! What the API server's decoder does to a custom resource before validation: unknown fields
//! are pruned (and reported), non-nullable `null`s without a default are dropped, and defaults
//! are filled in.
//!
//! Sources (k8s.io/apiextensions-apiserver v0.32.13):
//! - `pkg/apiserver/schema/pruning/algorithm.go`: pruning; the resource root keeps `apiVersion`,
//!   `kind`, `metadata`; `x-kubernetes-preserve-unknown-fields` keeps unknown fields but still
//!   prunes below declared properties; unknown paths are sorted.
//! - `pkg/apiserver/schema/options.go`: path syntax `spec.a[0].b`.
//! - `pkg/apiserver/schema/defaulting/prunenulls.go`: `PruneNonNullableNullsWithoutDefaults`
//!   (object properties only; `null` array items stay and fail validation).
//! - `pkg/apiserver/schema/defaulting/algorithm.go`: defaults of missing object properties.

use serde_json::Value;

use super::schema::Schema;

const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// Prunes `obj` (a whole resource) by `root`; returns the pruned paths, sorted
/// (`["spec.foo", "status.bar[0].baz"]`).
pub fn prune_unknown(obj: &mut Value, root: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    prune(obj, Some(root), "", true, &mut out);
    out.sort();
    out
}

fn prune(x: &mut Value, s: Option<&Schema>, path: &str, embedded: bool, out: &mut Vec<String>) {
    if let Some(s) = s {
        if s.preserve_unknown {
            skip_prune(x, s, path, embedded || s.embedded_resource, out);
            return;
        }
    }
    match x {
        Value::Object(map) => {
            let Some(s) = s else {
                for k in map.keys() {
                    out.push(join(path, k));
                }
                map.clear();
                return;
            };
            let embedded = embedded || s.embedded_resource;
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                if embedded && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                match s.field(&k) {
                    Some(child) => {
                        if let Some(v) = map.get_mut(&k) {
                            prune(v, Some(child), &join(path, &k), false, out);
                        }
                    }
                    None => {
                        out.push(join(path, &k));
                        map.remove(&k);
                    }
                }
            }
        }
        Value::Array(items) => {
            let item_schema = s.and_then(|s| s.items.as_deref());
            for (i, v) in items.iter_mut().enumerate() {
                prune(v, item_schema, &format!("{path}[{i}]"), false, out);
            }
        }
        _ => {}
    }
}

fn skip_prune(x: &mut Value, s: &Schema, path: &str, embedded: bool, out: &mut Vec<String>) {
    match x {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if embedded && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                if let Some(child) = s.field(k) {
                    prune(v, Some(child), &join(path, k), false, out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = s.items.as_deref() {
                for (i, v) in items.iter_mut().enumerate() {
                    skip_prune(v, item_schema, &format!("{path}[{i}]"), false, out);
                }
            }
        }
        _ => {}
    }
}

/// Drops object properties whose value is `null` where the schema is neither `nullable` nor
/// has a `default`, at every depth.
pub fn drop_non_nullable_nulls(x: &mut Value, s: Option<&Schema>) {
    match x {
        Value::Object(map) => {
            map.retain(|k, v| {
                let child = s.and_then(|s| s.field(k));
                !(v.is_null() && child.is_some_and(|c| !c.nullable && c.default.is_none()))
            });
            for (k, v) in map.iter_mut() {
                drop_non_nullable_nulls(v, s.and_then(|s| s.field(k)));
            }
        }
        Value::Array(items) => {
            for v in items {
                drop_non_nullable_nulls(v, s.and_then(|s| s.items.as_deref()));
            }
        }
        _ => {}
    }
}

/// Fills missing (or non-nullable `null`) object properties that have a `default`, at every
/// depth below objects that exist.
pub fn apply_defaults(x: &mut Value, s: &Schema) {
    match x {
        Value::Object(map) => {
            for (k, child) in &s.properties {
                if let Some(d) = &child.default {
                    let missing = match map.get(k) {
                        None => true,
                        Some(Value::Null) => !child.nullable,
                        Some(_) => false,
                    };
                    if missing {
                        map.insert(k.clone(), d.clone());
                    }
                }
            }
            for (k, v) in map.iter_mut() {
                if let Some(child) = s.field(k) {
                    apply_defaults(v, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = s.items.as_deref() {
                for v in items {
                    apply_defaults(v, item);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Schema {
        Schema::parse(&json!({
            "type": "object",
            "properties": {
                "metadata": {"type": "object"},
                "spec": {"type": "object", "properties": {
                    "size": {"type": "string"},
                    "engine": {"type": "string", "default": "v1"},
                    "list": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                }},
                "status": {"type": "object", "properties": {
                    "when": {"type": "string", "nullable": true},
                    "other": {"type": "string"},
                }},
            }
        }))
    }

    #[test]
    fn unknown_fields_are_pruned_with_paths() {
        let mut o = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n", "labels": {"a": "b"}},
            "spec": {"size": "1", "foo": 1, "list": [{"a": "x", "b": 2}], "free": {"any": {"thing": 1}}},
            "bar": true});
        let pruned = prune_unknown(&mut o, &schema());
        assert_eq!(pruned, vec!["bar", "spec.foo", "spec.list[0].b"]);
        assert_eq!(o["spec"]["free"]["any"]["thing"], 1);
        assert_eq!(o["metadata"]["labels"]["a"], "b");
        assert!(o.get("bar").is_none());
    }

    #[test]
    fn nulls_and_defaults() {
        let s = schema();
        let mut o = json!({"spec": {"size": null}, "status": {"when": null, "other": null}});
        drop_non_nullable_nulls(&mut o, Some(&s));
        apply_defaults(&mut o, &s);
        assert_eq!(
            o,
            json!({"spec": {"engine": "v1"}, "status": {"when": null}})
        );
    }
}
