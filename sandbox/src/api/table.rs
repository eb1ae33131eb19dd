//! Server-side printing: `meta.k8s.io/v1 Table` responses for kubectl's human-readable `get`
//! (it asks with `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`).
//!
//! Columns are NAME, a few per-type columns read from the object, and AGE; rows carry the
//! object's metadata as `PartialObjectMetadata` (kubectl reads the namespace from it for `-A`).

use serde_json::{json, Value};

use super::crd::CrdSet;
use super::resources::ResourceType;

/// Whether an `Accept` header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept.contains("as=Table")
}

/// Whether an `Accept` header asks for metadata only (`as=PartialObjectMetadata[List]`, kube's
/// `list_metadata`/`metadata_watcher`).
pub fn wants_metadata(accept: &str) -> bool {
    accept.contains("as=PartialObjectMetadata")
}

/// An object reduced to `meta.k8s.io/v1 PartialObjectMetadata`.
pub fn to_partial(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// Age like kubectl prints it (`45s`, `12m`, `3h`, `5d`) from an RFC 3339 timestamp.
pub fn human_age(created: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(created) else {
        return "<unknown>".into();
    };
    let secs = (now - t.with_timezone(&chrono::Utc)).num_seconds().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn cell(v: Option<&Value>) -> Value {
    match v {
        None => json!("<none>"),
        Some(Value::String(s)) => json!(s),
        Some(other) => json!(other.to_string()),
    }
}

/// The Table for `items` of type `rt` at list resourceVersion `rv`. A Longhorn kind gets its
/// CRD's `additionalPrinterColumns` (see [`super::crd::columns`]): the loaded CRDs' when
/// `crds` is given, else the built-in ones ([`super::crd::builtin`]); built-in kinds
/// kube-apiserver's printers, or its default convertor's `Name`/`Created At` for kinds without
/// one (`customresourcedefinitions`, roles; [`super::printers`]).
pub fn to_table(rt: &ResourceType, crds: Option<&CrdSet>, items: &[Value], rv: &str) -> Value {
    let now = chrono::Utc::now();
    let set = crds.unwrap_or_else(|| super::crd::builtin::builtin());
    let crd = set.for_type(rt);
    let (cols, rows): (Vec<Value>, Vec<Vec<Value>>) = if let Some(crd) = crd {
        let mut cols = vec![super::printers::name_def()];
        cols.extend(crd.columns.iter().map(|c| c.definition()));
        let rows = items
            .iter()
            .map(|o| {
                let mut cells = vec![cell(o.pointer("/metadata/name"))];
                cells.extend(crd.columns.iter().map(|c| c.cell(o, now)));
                cells
            })
            .collect();
        (cols, rows)
    } else {
        let cols = super::printers::columns(rt);
        let rows = items
            .iter()
            .map(|o| super::printers::cells(rt, o, now))
            .collect();
        (cols, rows)
    };
    let rows: Vec<Value> = items
        .iter()
        .zip(rows)
        .map(|(o, cells)| {
            json!({
                "cells": cells,
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o.get("metadata").cloned().unwrap_or_else(|| json!({})),
                },
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": cols,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_round_like_kubectl() {
        let now = chrono::Utc::now();
        let t = |s: i64| (now - chrono::Duration::seconds(s)).to_rfc3339();
        assert_eq!(human_age(&t(5), now), "5s");
        assert_eq!(human_age(&t(600), now), "10m");
        assert_eq!(human_age(&t(3 * 3600), now), "3h");
        assert_eq!(human_age(&t(3 * 86_400), now), "3d");
    }

    #[test]
    fn pod_table_has_status_column() {
        let pod = json!({"metadata": {"name": "p", "creationTimestamp": "2020-01-01T00:00:00Z"}, "status": {"phase": "Running"}});
        let t = to_table(&super::super::resources::PODS, None, &[pod], "7");
        assert_eq!(t["rows"][0]["cells"][0], "p");
        assert_eq!(t["rows"][0]["cells"][2], "Running");
        assert_eq!(t["columnDefinitions"][1]["name"], "Ready");
        assert_eq!(t["columnDefinitions"][2]["name"], "Status");
    }
}
