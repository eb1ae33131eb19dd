//! CRUD, errors, selectors, pagination, patches, status subresource and cascade through the
//! real `kube` client against the sandbox API server.

#[path = "api_support.rs"]
mod support;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use serde_json::json;
use support::Env;

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "data": {"k": "v"}
    }))
    .expect("configmap")
}

fn api_err(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn lh_volume_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("longhorn.io", "v1beta2", "Volume"),
        "volumes",
    )
}

#[tokio::test]
async fn configmap_typed_crud_round_trips() {
    let env = Env::start().await;
    let api: Api<ConfigMap> = Api::namespaced(env.client().await, "default");
    let created = api
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .expect("create");
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    let mut got = api.get("a").await.expect("get");
    assert_eq!(
        got.data
            .as_ref()
            .and_then(|d| d.get("k"))
            .map(String::as_str),
        Some("v")
    );
    got.data = Some([("k".to_string(), "w".to_string())].into());
    let replaced = api
        .replace("a", &PostParams::default(), &got)
        .await
        .expect("replace");
    assert_ne!(
        replaced.metadata.resource_version,
        created.metadata.resource_version
    );
    let list = api.list(&ListParams::default()).await.expect("list");
    assert_eq!(list.items.len(), 1);
    assert!(list
        .metadata
        .resource_version
        .is_some_and(|rv| !rv.is_empty()));
    api.delete("a", &DeleteParams::default())
        .await
        .expect("delete");
    assert!(api.get_opt("a").await.expect("get_opt").is_none());
}

#[tokio::test]
async fn errors_carry_reason_and_code() {
    let env = Env::start().await;
    let client = env.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    assert_eq!(
        api_err(cms.get("missing").await.expect_err("404")),
        (404, "NotFound".into())
    );
    cms.create(&PostParams::default(), &cm("dup", json!({})))
        .await
        .expect("create");
    let e = cms
        .create(&PostParams::default(), &cm("dup", json!({})))
        .await
        .expect_err("409");
    assert_eq!(api_err(e), (409, "AlreadyExists".into()));
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let bad: Pod =
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": []}}))
            .expect("pod");
    let e = pods
        .create(&PostParams::default(), &bad)
        .await
        .expect_err("422");
    assert_eq!(api_err(e), (422, "Invalid".into()));
    let elsewhere: Api<ConfigMap> = Api::namespaced(client, "no-such-ns");
    let e = elsewhere
        .create(&PostParams::default(), &cm("x", json!({})))
        .await
        .expect_err("ns 404");
    assert_eq!(api_err(e), (404, "NotFound".into()));
}

#[tokio::test]
async fn stale_resource_version_is_a_conflict() {
    let env = Env::start().await;
    let api: Api<ConfigMap> = Api::namespaced(env.client().await, "default");
    let first = api
        .create(&PostParams::default(), &cm("c", json!({})))
        .await
        .expect("create");
    let mut a = first.clone();
    a.data = Some([("k".to_string(), "1".to_string())].into());
    api.replace("c", &PostParams::default(), &a)
        .await
        .expect("first writer wins");
    let mut b = first;
    b.data = Some([("k".to_string(), "2".to_string())].into());
    let e = api
        .replace("c", &PostParams::default(), &b)
        .await
        .expect_err("stale");
    assert_eq!(api_err(e), (409, "Conflict".into()));
}

#[tokio::test]
async fn pods_and_namespaces_typed() {
    let env = Env::start().await;
    let client = env.client().await;
    let nss: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "drill"}})).expect("ns");
    let ns = nss
        .create(&PostParams::default(), &ns)
        .await
        .expect("create ns");
    assert_eq!(ns.status.and_then(|s| s.phase).as_deref(), Some("Active"));
    let pods: Api<Pod> = Api::namespaced(client.clone(), "drill");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"generateName": "sentinel-"},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]}
    }))
    .expect("pod");
    let created = pods
        .create(&PostParams::default(), &pod)
        .await
        .expect("create pod");
    let name = created.metadata.name.clone().unwrap_or_default();
    assert!(
        name.starts_with("sentinel-") && name.len() == "sentinel-".len() + 5,
        "{name}"
    );
    assert_eq!(created.metadata.namespace.as_deref(), Some("drill"));
    nss.delete("drill", &DeleteParams::default())
        .await
        .expect("delete ns");
    assert!(
        pods.get_opt(&name).await.expect("get").is_none(),
        "namespace deletion removes its pods"
    );
}

#[tokio::test]
async fn longhorn_volume_as_dynamic_object() {
    let env = Env::start().await;
    env.ensure_ns("longhorn-system");
    let ar = lh_volume_resource();
    let api: Api<DynamicObject> = Api::namespaced_with(env.client().await, "longhorn-system", &ar);
    let vol = DynamicObject::new("vol-a", &ar)
        .data(json!({"spec": {"size": "1073741824", "numberOfReplicas": 1}}));
    let created = api
        .create(&PostParams::default(), &vol)
        .await
        .expect("create volume");
    assert_eq!(created.metadata.generation, Some(1));
    let no_spec = DynamicObject::new("vol-b", &ar);
    let e = api
        .create(&PostParams::default(), &no_spec)
        .await
        .expect_err("volume without spec");
    assert_eq!(api_err(e), (422, "Invalid".into()));
    // Status subresource: a main-resource patch ignores status, /status changes only status.
    let p = api
        .patch(
            "vol-a",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": "2147483648"}, "status": {"state": "attached"}})),
        )
        .await
        .expect("patch main");
    assert_eq!(p.data.pointer("/status/state"), None);
    assert_eq!(p.metadata.generation, Some(2));
    let s = api
        .patch_status(
            "vol-a",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": "1"}, "status": {"state": "detached"}})),
        )
        .await
        .expect("patch status");
    assert_eq!(
        s.data.pointer("/status/state").and_then(|v| v.as_str()),
        Some("detached")
    );
    assert_eq!(
        s.data.pointer("/spec/size").and_then(|v| v.as_str()),
        Some("2147483648")
    );
    assert_eq!(s.metadata.generation, Some(2));
    let mut put = s.clone();
    put.data["status"] = json!({"state": "faulted"});
    let r = api
        .replace("vol-a", &PostParams::default(), &put)
        .await
        .expect("put main");
    assert_eq!(
        r.data.pointer("/status/state").and_then(|v| v.as_str()),
        Some("detached")
    );
}

#[tokio::test]
async fn label_and_field_selectors_filter_lists() {
    let env = Env::start().await;
    let api: Api<ConfigMap> = Api::namespaced(env.client().await, "default");
    for (n, tier) in [("a", "web"), ("b", "db"), ("c", "cache")] {
        api.create(
            &PostParams::default(),
            &cm(n, json!({"tier": tier, "app": "x"})),
        )
        .await
        .expect("create");
    }
    api.create(&PostParams::default(), &cm("d", json!({})))
        .await
        .expect("create");
    let names = |l: kube::core::ObjectList<ConfigMap>| -> Vec<String> {
        l.items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect()
    };
    let l = api
        .list(&ListParams::default().labels("tier in (web,db)"))
        .await
        .expect("in");
    assert_eq!(names(l), vec!["a", "b"]);
    let l = api
        .list(&ListParams::default().labels("tier!=web,app"))
        .await
        .expect("!=");
    assert_eq!(names(l), vec!["b", "c"]);
    let l = api
        .list(&ListParams::default().labels("!tier"))
        .await
        .expect("!key");
    assert_eq!(names(l), vec!["d"]);
    let l = api
        .list(&ListParams::default().fields("metadata.name=c"))
        .await
        .expect("field");
    assert_eq!(names(l), vec!["c"]);
    let e = api
        .list(&ListParams::default().fields("data.k=v"))
        .await
        .expect_err("unsupported field");
    assert_eq!(api_err(e).0, 400);
}

#[tokio::test]
async fn pod_field_selectors_on_phase_and_node() {
    let env = Env::start().await;
    env.running_pod("default", "run");
    let api: Api<Pod> = Api::namespaced(env.client().await, "default");
    let pending: Pod = serde_json::from_value(json!({"metadata": {"name": "pend"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})).expect("pod");
    api.create(&PostParams::default(), &pending)
        .await
        .expect("create");
    let l = api
        .list(&ListParams::default().fields("status.phase=Running"))
        .await
        .expect("list");
    assert_eq!(
        l.items
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect::<Vec<_>>(),
        vec!["run"]
    );
    let l = api
        .list(&ListParams::default().fields("spec.nodeName=node-1"))
        .await
        .expect("list");
    assert_eq!(l.items.len(), 1);
}

#[tokio::test]
async fn pagination_limit_two_over_five() {
    let env = Env::start().await;
    let api: Api<ConfigMap> = Api::namespaced(env.client().await, "default");
    for i in 0..5 {
        api.create(&PostParams::default(), &cm(&format!("cm-{i}"), json!({})))
            .await
            .expect("create");
    }
    let mut seen = Vec::new();
    let mut lp = ListParams::default().limit(2);
    let mut pages = 0;
    loop {
        let page = api.list(&lp).await.expect("page");
        pages += 1;
        assert!(page.items.len() <= 2);
        seen.extend(page.items.into_iter().filter_map(|c| c.metadata.name));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => lp = ListParams::default().limit(2).continue_token(&c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, (0..5).map(|i| format!("cm-{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn merge_json_and_apply_patches() {
    let env = Env::start().await;
    let api: Api<ConfigMap> = Api::namespaced(env.client().await, "default");
    api.create(&PostParams::default(), &cm("p", json!({})))
        .await
        .expect("create");
    let m = api
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": null, "m": "1"}})),
        )
        .await
        .expect("merge");
    assert_eq!(m.data, Some([("m".to_string(), "1".to_string())].into()));
    let jp: json_patch::Patch =
        serde_json::from_value(json!([{"op": "add", "path": "/data/j", "value": "2"}]))
            .expect("patch");
    let j = api
        .patch("p", &PatchParams::default(), &Patch::Json::<()>(jp))
        .await
        .expect("json patch");
    assert_eq!(
        j.data.as_ref().and_then(|d| d.get("j")).map(String::as_str),
        Some("2")
    );
    let apply = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p"}, "data": {"a": "3"}});
    let a = api
        .patch(
            "p",
            &PatchParams::apply("drill").force(),
            &Patch::Apply(&apply),
        )
        .await
        .expect("apply");
    assert_eq!(
        a.data.as_ref().and_then(|d| d.get("a")).map(String::as_str),
        Some("3")
    );
    assert_eq!(
        a.data.as_ref().and_then(|d| d.get("m")).map(String::as_str),
        Some("1")
    );
    // Server-side apply creates absent objects.
    let fresh = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fresh"}, "data": {"x": "y"}});
    let f = api
        .patch("fresh", &PatchParams::apply("drill"), &Patch::Apply(&fresh))
        .await
        .expect("apply create");
    assert!(f.metadata.uid.is_some());
    // ... and require a field manager.
    let e = api
        .patch("fresh", &PatchParams::default(), &Patch::Apply(&fresh))
        .await
        .expect_err("no manager");
    assert_eq!(api_err(e).0, 400);
}

#[tokio::test]
async fn owner_references_cascade_and_orphan() {
    let env = Env::start().await;
    let api: Api<ConfigMap> = Api::namespaced(env.client().await, "default");
    let owner = api
        .create(&PostParams::default(), &cm("owner", json!({})))
        .await
        .expect("owner");
    let uid = owner.metadata.uid.clone().unwrap_or_default();
    for n in ["dep-1", "dep-2"] {
        let mut d = cm(n, json!({}));
        d.metadata.owner_references = Some(vec![serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid
        }))
        .expect("owner ref")]);
        api.create(&PostParams::default(), &d)
            .await
            .expect("dependent");
    }
    api.delete("owner", &DeleteParams::background())
        .await
        .expect("delete owner");
    assert!(api.get_opt("dep-1").await.expect("get").is_none());
    assert!(api.get_opt("dep-2").await.expect("get").is_none());
    // Orphan keeps dependents.
    let owner = api
        .create(&PostParams::default(), &cm("owner2", json!({})))
        .await
        .expect("owner");
    let mut d = cm("kept", json!({}));
    d.metadata.owner_references = Some(vec![serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap", "name": "owner2", "uid": owner.metadata.uid
    }))
    .expect("owner ref")]);
    api.create(&PostParams::default(), &d)
        .await
        .expect("dependent");
    api.delete("owner2", &DeleteParams::orphan())
        .await
        .expect("delete orphan");
    assert!(api.get_opt("kept").await.expect("get").is_some());
}

#[tokio::test]
async fn dry_run_and_delete_collection() {
    let env = Env::start().await;
    let api: Api<ConfigMap> = Api::namespaced(env.client().await, "default");
    let dry = api
        .create(
            &PostParams {
                dry_run: true,
                field_manager: None,
            },
            &cm("dry", json!({})),
        )
        .await
        .expect("dry create");
    assert_eq!(dry.metadata.name.as_deref(), Some("dry"));
    assert!(
        api.get_opt("dry").await.expect("get").is_none(),
        "dryRun=All must not persist"
    );
    for (n, l) in [("x1", "drop"), ("x2", "drop"), ("x3", "keep")] {
        api.create(&PostParams::default(), &cm(n, json!({"fate": l})))
            .await
            .expect("create");
    }
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("fate=drop"),
    )
    .await
    .expect("delete collection");
    let left: Vec<String> = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(left, vec!["x3"]);
}

#[tokio::test]
async fn missing_token_is_unauthorized_and_requests_are_logged() {
    let env = Env::start().await;
    let mut config = kube::Config::new(env.server.url().parse().expect("url"));
    config.default_retry = false;
    let anon = kube::Client::try_from(config).expect("client");
    let api: Api<ConfigMap> = Api::namespaced(anon, "default");
    assert_eq!(
        api_err(api.list(&ListParams::default()).await.expect_err("401")).0,
        401
    );
    let authed: Api<ConfigMap> = Api::namespaced(env.client().await, "default");
    authed.list(&ListParams::default()).await.expect("list");
    assert!(env.server.mutating_requests().is_empty());
    authed
        .create(&PostParams::default(), &cm("m", json!({})))
        .await
        .expect("create");
    let muts = env.server.mutating_requests();
    assert_eq!(muts.len(), 1);
    assert_eq!((muts[0].method.as_str(), muts[0].status), ("POST", 201));
    assert!(env.server.request_log().iter().any(|r| r.status == 401));
}

#[tokio::test]
async fn metadata_only_lists_and_gets() {
    let env = Env::start().await;
    let api: Api<ConfigMap> = Api::namespaced(env.client().await, "default");
    api.create(&PostParams::default(), &cm("meta", json!({"k": "v"})))
        .await
        .expect("create");
    let l = api
        .list_metadata(&ListParams::default())
        .await
        .expect("list_metadata");
    assert_eq!(l.items.len(), 1);
    assert_eq!(
        l.items[0]
            .metadata
            .labels
            .as_ref()
            .and_then(|m| m.get("k"))
            .map(String::as_str),
        Some("v")
    );
    let one = api.get_metadata("meta").await.expect("get_metadata");
    assert_eq!(one.metadata.name.as_deref(), Some("meta"));
}

#[tokio::test]
async fn admission_hooks_mutate_and_deny_http_writes_only() {
    let env = Env::start().await;
    env.store.add_admission(std::sync::Arc::new(
        |rt: &'static dr_sandbox::api::ResourceType,
         op: dr_sandbox::api::Operation,
         obj: &mut serde_json::Value,
         _old: Option<&serde_json::Value>| {
            if rt.kind != "ConfigMap" {
                return Ok(());
            }
            if obj.pointer("/data/forbidden").is_some() {
                return Err(dr_sandbox::api::ApiError::forbidden(
                    "admission webhook \"validator.test\" denied the request: forbidden key",
                ));
            }
            if op == dr_sandbox::api::Operation::Create {
                obj["metadata"]["labels"]["admitted"] = json!("true");
            }
            Ok(())
        },
    ));
    let api: Api<ConfigMap> = Api::namespaced(env.client().await, "default");
    let c = api
        .create(&PostParams::default(), &cm("ok", json!({})))
        .await
        .expect("create");
    assert_eq!(
        c.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("admitted"))
            .map(String::as_str),
        Some("true")
    );
    let e = api
        .patch(
            "ok",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"forbidden": "1"}})),
        )
        .await
        .expect_err("denied");
    assert_eq!(api_err(e), (403, "Forbidden".into()));
    // Controllers writing through the store bypass admission.
    env.store
        .modify(
            &dr_sandbox::api::resources::CONFIGMAPS,
            Some("default"),
            "ok",
            |o| o["data"] = json!({"forbidden": "1"}),
        )
        .expect("controller write");
}

#[tokio::test]
async fn wrong_token_in_path_prefix_is_unauthorized() {
    let env = Env::start().await;
    let url = format!("{}/sandbox-auth/not-the-token", env.server.url());
    let mut config = kube::Config::new(url.parse().expect("url"));
    config.default_retry = false;
    let api: Api<ConfigMap> =
        Api::namespaced(kube::Client::try_from(config).expect("client"), "default");
    assert_eq!(
        api_err(api.list(&ListParams::default()).await.expect_err("401")).0,
        401
    );
    let good = format!("{}/sandbox-auth/{}", env.server.url(), support::TOKEN);
    let mut config = kube::Config::new(good.parse().expect("url"));
    config.default_retry = false;
    let api: Api<ConfigMap> =
        Api::namespaced(kube::Client::try_from(config).expect("client"), "default");
    api.list(&ListParams::default())
        .await
        .expect("prefix authenticates");
    let logged = env.server.request_log();
    assert!(
        logged
            .iter()
            .all(|r| !r.path_and_query.contains(support::TOKEN)),
        "the token is not logged"
    );
}
