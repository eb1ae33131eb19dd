//! Server-side apply records `metadata.managedFields` (the manager's `Apply` entry, FieldsV1),
//! as kube-apiserver does; a repeated identical apply is still a no-op.

#[path = "api_support.rs"]
mod support;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use support::Env;

#[tokio::test]
async fn server_side_apply_records_the_managers_fields() {
    let env = Env::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(env.client().await, "default");
    let cfg = json!({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": "c", "labels": {"app": "x"}}, "data": {"k": "v"}});
    let pp = PatchParams::apply("dr-harness");
    let first = cms
        .patch("c", &pp, &Patch::Apply(&cfg))
        .await
        .expect("apply creates");
    let mf = first.metadata.managed_fields.clone().unwrap_or_default();
    assert_eq!(mf.len(), 1, "{mf:?}");
    assert_eq!(mf[0].manager.as_deref(), Some("dr-harness"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));
    assert_eq!(mf[0].fields_type.as_deref(), Some("FieldsV1"));
    assert_eq!(
        mf[0].fields_v1.as_ref().map(|f| f.0.clone()),
        Some(json!({"f:data": {"f:k": {}}, "f:metadata": {"f:labels": {"f:app": {}}}}))
    );
    let again = cms
        .patch("c", &pp, &Patch::Apply(&cfg))
        .await
        .expect("re-apply");
    assert_eq!(
        again.metadata.resource_version,
        first.metadata.resource_version
    );
    let cfg2 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"z": "1"}});
    let other = PatchParams::apply("someone-else");
    let out = cms
        .patch("c", &other, &Patch::Apply(&cfg2))
        .await
        .expect("second manager");
    let managers: Vec<String> = out
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| e.manager)
        .collect();
    assert_eq!(managers, ["dr-harness", "someone-else"]);
}
