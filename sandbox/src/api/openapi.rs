//! OpenAPI schemas for `kubectl explain`: `components.schemas` of the `/openapi/v3/<gv>`
//! documents, and a schema-less `/openapi/v2`.
//!
//! Built-in kinds: the schemas are generated from k8s-openapi's `JsonSchema` implementations
//! (the Kubernetes v1.33 OpenAPI definitions, descriptions included) with OpenAPI 3 settings,
//! each named as kube-apiserver names it (`io.k8s.api.core.v1.Pod`) and the top-level kinds
//! marked with `x-kubernetes-group-version-kind`, which kubectl's explain template looks for
//! (kubernetes/kubectl@v0.32.4 `pkg/explain/v2/templates/plaintext.tmpl`). Longhorn kinds get
//! their CRD's `openAPIV3Schema`: the real one with `--longhorn-crds`, else the built-in
//! preserve-unknown-fields schema ([`super::crd::builtin`]), so `explain` then shows no fields.
//!
//! Limits, on purpose: the schemas carry no `x-kubernetes-patch-strategy`/`-merge-key` and
//! the PATCH operations declare no request body, so `kubectl apply` keeps computing
//! strategic merge patches from its compiled-in types (kubernetes/kubectl@v0.32.4
//! `pkg/cmd/apply/patcher.go`: OpenAPI V3 is used only when the PATCH operation accepts
//! `application/strategic-merge-patch+json`). `/openapi/v2` is a valid Swagger 2.0 document with
//! no paths or definitions, served as JSON only (client-go asks for protobuf; a 406 makes it
//! fall back the way it does on servers without v2) — the schemas live in v3.

use std::collections::HashMap;
use std::sync::LazyLock;

use k8s_openapi::api::{apps, batch, core, rbac, storage};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

use super::crd::CrdSet;
use super::resources::{self, ResourceType};

/// Adds `T`'s schema and every schema it references to the generator; returns its name.
fn add<T: JsonSchema>(generator: &mut SchemaGenerator) -> String {
    let _ = generator.subschema_for::<T>();
    T::schema_name().into_owned()
}

/// The built-in kinds' schema names, by (group, version, kind), and every definition.
struct BuiltIn {
    roots: HashMap<(&'static str, &'static str, &'static str), String>,
    definitions: Map<String, Value>,
}

static BUILT_IN: LazyLock<BuiltIn> = LazyLock::new(|| {
    let mut g = SchemaSettings::openapi3().into_generator();
    let mut roots = HashMap::new();
    let mut root = |gvk: (&'static str, &'static str, &'static str), name: String| {
        roots.insert(gvk, name);
    };
    root(("", "v1", "Namespace"), add::<core::v1::Namespace>(&mut g));
    root(("", "v1", "Node"), add::<core::v1::Node>(&mut g));
    root(("", "v1", "Pod"), add::<core::v1::Pod>(&mut g));
    root(
        ("", "v1", "PersistentVolumeClaim"),
        add::<core::v1::PersistentVolumeClaim>(&mut g),
    );
    root(
        ("", "v1", "PersistentVolume"),
        add::<core::v1::PersistentVolume>(&mut g),
    );
    root(("", "v1", "ConfigMap"), add::<core::v1::ConfigMap>(&mut g));
    root(("", "v1", "Secret"), add::<core::v1::Secret>(&mut g));
    root(("", "v1", "Event"), add::<core::v1::Event>(&mut g));
    root(
        ("", "v1", "ServiceAccount"),
        add::<core::v1::ServiceAccount>(&mut g),
    );
    root(("", "v1", "Service"), add::<core::v1::Service>(&mut g));
    root(
        ("apps", "v1", "Deployment"),
        add::<apps::v1::Deployment>(&mut g),
    );
    root(
        ("apps", "v1", "StatefulSet"),
        add::<apps::v1::StatefulSet>(&mut g),
    );
    root(
        ("apps", "v1", "DaemonSet"),
        add::<apps::v1::DaemonSet>(&mut g),
    );
    root(("batch", "v1", "Job"), add::<batch::v1::Job>(&mut g));
    root(
        ("batch", "v1", "CronJob"),
        add::<batch::v1::CronJob>(&mut g),
    );
    let rbac_g = "rbac.authorization.k8s.io";
    root((rbac_g, "v1", "Role"), add::<rbac::v1::Role>(&mut g));
    root(
        (rbac_g, "v1", "RoleBinding"),
        add::<rbac::v1::RoleBinding>(&mut g),
    );
    root(
        (rbac_g, "v1", "ClusterRole"),
        add::<rbac::v1::ClusterRole>(&mut g),
    );
    root(
        (rbac_g, "v1", "ClusterRoleBinding"),
        add::<rbac::v1::ClusterRoleBinding>(&mut g),
    );
    root(
        ("storage.k8s.io", "v1", "StorageClass"),
        add::<storage::v1::StorageClass>(&mut g),
    );
    root(
        ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
        add::<apiext::CustomResourceDefinition>(&mut g),
    );
    let definitions = g.take_definitions(true);
    BuiltIn { roots, definitions }
});

fn gvk_ext(group: &str, version: &str, kind: &str) -> Value {
    json!([{"group": group, "version": version, "kind": kind}])
}

/// `components.schemas` of the `/openapi/v3` document of `group/version`: every definition the
/// group's built-in kinds reference, plus the Longhorn kinds' CRD schemas (`crds`, else the
/// built-in set). Empty for groups with neither.
pub fn schemas(group: &str, version: &str, crds: Option<&CrdSet>) -> Map<String, Value> {
    let types: Vec<&ResourceType> = resources::all()
        .iter()
        .copied()
        .filter(|rt| rt.group == group && rt.version == version)
        .collect();
    let built_in = &*BUILT_IN;
    let mut out = Map::new();
    let has_builtin = types.iter().any(|rt| {
        built_in
            .roots
            .contains_key(&(rt.group, rt.version, rt.kind))
    });
    if has_builtin {
        // References cross groups (ObjectMeta, PodTemplateSpec): ship every definition, as
        // kube-apiserver's per-group documents ship what they reference.
        out = built_in.definitions.clone();
        for rt in &types {
            if let Some(name) = built_in.roots.get(&(rt.group, rt.version, rt.kind)) {
                if let Some(Value::Object(s)) = out.get_mut(name) {
                    s.insert(
                        "x-kubernetes-group-version-kind".into(),
                        gvk_ext(rt.group, rt.version, rt.kind),
                    );
                }
            }
        }
    }
    let set = crds.unwrap_or_else(|| super::crd::builtin::builtin());
    for rt in &types {
        let Some(crd) = set.for_type(rt) else {
            continue;
        };
        let versions = crd
            .object
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let Some(schema) = versions
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(rt.version))
            .and_then(|v| v.pointer("/schema/openAPIV3Schema"))
        else {
            continue;
        };
        let mut schema = schema.clone();
        schema["x-kubernetes-group-version-kind"] = gvk_ext(rt.group, rt.version, rt.kind);
        // kube-apiserver names CR schemas by reversed group and kind.
        let reversed: Vec<&str> = rt.group.split('.').rev().collect();
        out.insert(
            format!("{}.{}.{}", reversed.join("."), rt.version, rt.kind),
            schema,
        );
    }
    out
}

/// `/openapi/v2` as JSON: Swagger 2.0 with no paths or definitions (see the module docs).
pub fn v2_document() -> Value {
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0-sandbox",
                 "description": "dr-sandbox: schemas are served at /openapi/v3 only"},
        "paths": {},
        "definitions": {},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_schemas_carry_gvk_and_descriptions() {
        let s = schemas("", "v1", None);
        let pod = s.get("io.k8s.api.core.v1.Pod");
        assert_eq!(
            pod.and_then(|p| p.pointer("/x-kubernetes-group-version-kind/0/kind")),
            Some(&json!("Pod"))
        );
        // A `$ref` with a sibling description is wrapped in `allOf`, as kube-apiserver's
        // v3 documents do.
        let spec_ref = pod
            .and_then(|p| p.pointer("/properties/spec/allOf/0/$ref"))
            .and_then(Value::as_str);
        assert_eq!(
            spec_ref,
            Some("#/components/schemas/io.k8s.api.core.v1.PodSpec")
        );
        assert!(s.contains_key("io.k8s.api.core.v1.PersistentVolumeClaimSpec"));
    }

    #[test]
    fn longhorn_schemas_come_from_crds() {
        let s = schemas("longhorn.io", "v1beta2", None);
        assert!(
            s.contains_key("io.longhorn.v1beta2.Volume"),
            "{:?}",
            s.keys()
        );
    }
}
