//! Discovery documents: `/version`, `/api`, `/apis`, `/api/v1`, `/apis/{group}/{version}` and a
//! minimal OpenAPI v3 index, all generated from the [`super::resources`] table.
//!
//! Aggregated discovery (`Accept: ...;as=APIGroupDiscoveryList`, kubectl 1.30+) is answered with
//! the plain documents and `Content-Type: application/json`; client-go sees the content type and
//! falls back to the legacy per-group requests. OpenAPI v2 is a schema-less document and
//! OpenAPI v3 carries the schemas `kubectl explain` reads ([`super::openapi`]); every PATCH
//! operation carries its
//! `x-kubernetes-group-version-kind` and a `fieldValidation` query parameter, so kubectl's
//! query-param verifier (k8s.io/cli-runtime `pkg/resource/query_param_verifier_v3.go`) lets the
//! server validate instead of fetching schemas. PATCH operations
//! declare no request body so that `kubectl apply` computes strategic patches from its
//! built-in types instead of OpenAPI.

use serde_json::{json, Value};

use super::crd::CrdSet;
use super::resources::{self, ResourceType};

/// The version the sandbox claims to be (gitVersion `v1.33.0-sandbox`).
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-sandbox",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-04-23T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `/api`: the core group's versions.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_json(group: &str, version: &str) -> Value {
    let gv = format!("{group}/{version}");
    json!({
        "name": group,
        "versions": [{"groupVersion": gv, "version": version}],
        "preferredVersion": {"groupVersion": gv, "version": version},
    })
}

/// The stored types' group/versions plus the create-only review groups ([`super::reviews`]).
fn served_group_versions() -> Vec<(&'static str, &'static str)> {
    let mut gvs = resources::group_versions();
    gvs.push(super::reviews::AUTHENTICATION_GV);
    gvs.push(super::reviews::AUTHORIZATION_GV);
    gvs
}

/// `/apis`: every named group (one version each).
pub fn api_group_list() -> Value {
    let groups: Vec<Value> = served_group_versions()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, v)| group_json(g, v))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/{group}`, `None` for an unknown group.
pub fn api_group(group: &str) -> Option<Value> {
    let (g, v) = served_group_versions()
        .into_iter()
        .find(|(g, _)| *g == group && !g.is_empty())?;
    let mut doc = group_json(g, v);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn resource_entry(rt: &ResourceType) -> Value {
    let mut r = json!({
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": VERBS,
    });
    if !rt.short_names.is_empty() {
        r["shortNames"] = json!(rt.short_names);
    }
    if !rt.categories.is_empty() {
        r["categories"] = json!(rt.categories);
    }
    r
}

fn sub_entry(rt: &ResourceType, sub: &str, kind: &str, verbs: &[&str]) -> Value {
    json!({
        "name": format!("{}/{}", rt.plural, sub),
        "singularName": "",
        "namespaced": rt.namespaced,
        "kind": kind,
        "verbs": verbs,
    })
}

/// `/api/v1` or `/apis/{group}/{version}`: the APIResourceList with `*/status`, `pods/exec`
/// and `pods/log` subresources; `None` for an unknown group/version.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let types: Vec<&ResourceType> = resources::all()
        .iter()
        .copied()
        .filter(|rt| rt.group == group && rt.version == version)
        .collect();
    if let Some(list) = super::reviews::resources(group, version) {
        return Some(json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": format!("{group}/{version}"),
            "resources": list,
        }));
    }
    if types.is_empty() {
        return None;
    }
    let mut list = Vec::new();
    for rt in &types {
        list.push(resource_entry(rt));
        if rt.has_status {
            list.push(sub_entry(
                rt,
                "status",
                rt.kind,
                &["get", "patch", "update"],
            ));
        }
        if resources::has_scale(rt) {
            // The scale subresource names its own kind (autoscaling/v1 Scale); client-go's
            // scale client finds it here (k8s.io/client-go `scale/util.go`).
            let mut e = sub_entry(rt, "scale", "Scale", &["get", "patch", "update"]);
            e["group"] = json!("autoscaling");
            e["version"] = json!("v1");
            list.push(e);
        }
        if std::ptr::eq(*rt, &resources::PODS) {
            list.push(sub_entry(rt, "exec", "PodExecOptions", &["create", "get"]));
            list.push(sub_entry(rt, "log", "Pod", &["get"]));
        }
    }
    let gv = types[0].api_version();
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": list,
    }))
}

/// URL prefix of a group/version: `api/v1` or `apis/{group}/{version}` (no leading slash).
fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: the index of per-group-version documents.
pub fn openapi_v3_index() -> Value {
    let mut paths = serde_json::Map::new();
    for (g, v) in resources::group_versions() {
        let p = gv_path(g, v);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash=sandbox")}),
        );
    }
    json!({"paths": paths})
}

/// `/openapi/v3/api/v1` or `/openapi/v3/apis/{g}/{v}`: PATCH operations per kind (see module
/// docs); `None` for an unknown group/version.
pub fn openapi_v3_group(group: &str, version: &str, crds: Option<&CrdSet>) -> Option<Value> {
    let mut paths = serde_json::Map::new();
    for rt in resources::all()
        .iter()
        .filter(|rt| rt.group == group && rt.version == version)
    {
        let base = gv_path(group, version);
        let path = if rt.namespaced {
            format!("/{base}/namespaces/{{namespace}}/{}/{{name}}", rt.plural)
        } else {
            format!("/{base}/{}/{{name}}", rt.plural)
        };
        paths.insert(
            path,
            json!({
                "patch": {
                    "operationId": format!("patch{}", rt.kind),
                    "x-kubernetes-action": "patch",
                    "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": rt.kind},
                    "parameters": [
                        {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
                        {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                        {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                        {"name": "force", "in": "query", "schema": {"type": "boolean"}}
                    ],
                    "responses": {"200": {"description": "OK"}}
                }
            }),
        );
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0-sandbox"},
        "paths": paths,
        "components": {"schemas": super::openapi::schemas(group, version, crds)},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_list_has_pod_subresources() {
        let l = resource_list("", "v1").unwrap_or_default();
        let names: Vec<&str> = l["resources"]
            .as_array()
            .map(|a| a.iter().filter_map(|r| r["name"].as_str()).collect())
            .unwrap_or_default();
        for n in ["pods", "pods/exec", "pods/log", "pods/status", "configmaps"] {
            assert!(names.contains(&n), "{n} missing");
        }
        assert!(!names.contains(&"configmaps/status"));
    }

    #[test]
    fn groups_exclude_core_and_include_longhorn() {
        let g = api_group_list();
        let names: Vec<&str> = g["groups"]
            .as_array()
            .map(|a| a.iter().filter_map(|r| r["name"].as_str()).collect())
            .unwrap_or_default();
        assert!(names.contains(&"longhorn.io"));
        assert!(!names.contains(&""));
        assert!(openapi_v3_group("longhorn.io", "v1beta2", None).is_some());
    }
}
