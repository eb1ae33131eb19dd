//! Longhorn's real CRDs in the sandbox API server (`--longhorn-crds`): the schemas of every
//! supported Longhorn version, from `../shared/longhorn-crds/crds-v<ver>.yaml` (Longhorn's
//! own CRDs; never copied into the repo), validate Longhorn objects as kube-apiserver v1.32
//! does — finding 9 of issue 13 — and print Longhorn kinds with the CRDs' columns. Raw HTTP
//! here (to see status codes, causes and Warning headers); `kubectl` tests further down.
//!
//! Without the shared data the tests say so loudly and pass, unless `CI=true`.

mod shared_data;
#[path = "api_support.rs"]
mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dr_sandbox::api::crd::CrdSet;
use dr_sandbox::api::resources::{self, LH_BACKUPTARGETS, LH_VOLUMES};
use serde_json::{json, Value};
use support::{Env, TOKEN};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Every supported Longhorn version.
const VERSIONS: [&str; 5] = ["1.7.1", "1.7.3", "1.8.2", "1.9.1", "1.10.1"];
const NS: &str = "longhorn-system";

/// The CRD manifest of `version`, or `None` (loudly; a failure under `CI=true`).
fn crds_file(version: &str) -> Option<PathBuf> {
    shared_data::longhorn_crds(version, "CRD tests")
}

fn load(version: &str) -> Option<Arc<CrdSet>> {
    let p = crds_file(version)?;
    Some(Arc::new(
        CrdSet::load(&p).expect("Longhorn's CRD manifest loads"),
    ))
}

async fn env_with(version: &str) -> Option<Env> {
    let set = load(version)?;
    let env = Env::start().await;
    env.ensure_ns(NS);
    env.store.set_crds(Some(set));
    Some(env)
}

/// One raw HTTP answer.
struct Answer {
    code: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Answer {
    fn warnings(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("warning"))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Sends one request over a fresh connection (Connection: close) and parses the answer.
async fn call(env: &Env, method: &str, path: &str, ctype: &str, body: &Value) -> Answer {
    let payload = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let mut s = tokio::net::TcpStream::connect(env.server.addr())
        .await
        .expect("connect");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: {ctype}\r\nAccept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    );
    s.write_all(req.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut raw))
        .await
        .expect("answer in time")
        .expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("http answer");
    let mut lines = head.lines();
    let code = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Answer {
        code,
        headers,
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

async fn post(env: &Env, plural: &str, query: &str, obj: Value) -> Answer {
    let path = format!("/apis/longhorn.io/v1beta2/namespaces/{NS}/{plural}{query}");
    call(env, "POST", &path, "application/json", &obj).await
}

fn volume(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "longhorn.io/v1beta2", "kind": "Volume",
           "metadata": {"name": name, "namespace": NS}, "spec": spec})
}

fn good_spec() -> Value {
    json!({"size": "1073741824", "numberOfReplicas": 3, "accessMode": "rwo", "frontend": "blockdev"})
}

fn with(mut spec: Value, key: &str, v: Value) -> Value {
    spec[key] = v;
    spec
}

fn cause(a: &Answer) -> (String, String, String) {
    let c = &a.body["details"]["causes"][0];
    let s = |k: &str| c[k].as_str().unwrap_or("").to_string();
    (s("field"), s("reason"), s("message"))
}

#[tokio::test]
async fn every_version_has_a_schema_for_each_longhorn_kind_the_sandbox_serves() {
    for v in VERSIONS {
        let Some(set) = load(v) else { return };
        for rt in resources::all()
            .iter()
            .filter(|rt| rt.group == "longhorn.io")
        {
            let crd = set.for_type(rt);
            assert!(crd.is_some(), "{v}: no served CRD schema for {}", rt.plural);
            assert_eq!(crd.map(|c| c.kind.as_str()), Some(rt.kind), "{v}");
        }
        assert!(set.crds().len() >= 20, "{v}: {} CRDs", set.crds().len());
    }
}

/// Finding 9: what a real API server answers 422 to, for every version.
#[tokio::test]
async fn finding_9_rejections_are_422_with_the_apiservers_causes() {
    for v in VERSIONS {
        let Some(env) = env_with(v).await else { return };
        let a = post(
            &env,
            "volumes",
            "",
            volume("num", with(good_spec(), "size", json!(1024))),
        )
        .await;
        assert_eq!(a.code, 422, "{v}: size as a number: {}", a.body);
        assert_eq!(a.body["reason"], "Invalid");
        assert_eq!(
            a.body["message"],
            r#"Volume.longhorn.io "num" is invalid: spec.size: Invalid value: "integer": spec.size in body must be of type string: "integer""#,
            "{v}"
        );
        assert_eq!(
            cause(&a),
            (
                "spec.size".into(),
                "FieldValueTypeInvalid".into(),
                r#"Invalid value: "integer": spec.size in body must be of type string: "integer""#
                    .into()
            )
        );
        assert_eq!(a.body["details"]["group"], "longhorn.io");
        assert_eq!(a.body["details"]["kind"], "Volume");

        let a = post(
            &env,
            "volumes",
            "",
            volume("rep", with(good_spec(), "numberOfReplicas", json!("3"))),
        )
        .await;
        assert_eq!(a.code, 422, "{v}: numberOfReplicas as a string");
        assert_eq!(
            cause(&a),
            (
                "spec.numberOfReplicas".into(),
                "FieldValueTypeInvalid".into(),
                r#"Invalid value: "string": spec.numberOfReplicas in body must be of type integer: "string""#.into()
            )
        );

        let a = post(
            &env,
            "volumes",
            "",
            volume("am", with(good_spec(), "accessMode", json!("RWO"))),
        )
        .await;
        assert_eq!(a.code, 422, "{v}: accessMode RWO");
        assert_eq!(
            cause(&a),
            (
                "spec.accessMode".into(),
                "FieldValueNotSupported".into(),
                r#"Unsupported value: "RWO": supported values: "rwo", "rwx""#.into()
            )
        );

        let bt = json!({"apiVersion": "longhorn.io/v1beta2", "kind": "BackupTarget",
            "metadata": {"name": "default", "namespace": NS},
            "spec": {"backupTargetURL": "s3://b@us-east-1/", "pollInterval": "5m0s",
                     "syncRequestedAt": "right now"}});
        let a = post(&env, "backuptargets", "", bt).await;
        assert_eq!(a.code, 422, "{v}: invalid syncRequestedAt");
        assert_eq!(
            cause(&a),
            (
                "spec.syncRequestedAt".into(),
                "FieldValueTypeInvalid".into(),
                r#"Invalid value: "right now": spec.syncRequestedAt in body must be of type date-time: "right now""#.into()
            )
        );
        // Two errors at once are aggregated as the API server does.
        let bad = with(
            with(good_spec(), "size", json!(1)),
            "accessMode",
            json!("x"),
        );
        let a = post(&env, "volumes", "", volume("two", bad)).await;
        assert_eq!(
            a.body["details"]["causes"].as_array().map(Vec::len),
            Some(2)
        );
        assert!(
            a.body["message"]
                .as_str()
                .is_some_and(|m| m.contains("is invalid: [spec.")),
            "{}",
            a.body["message"]
        );
        // Nothing of the refused objects was stored; a valid one is.
        assert!(env.store.list(&LH_VOLUMES, Some(NS)).is_empty());
        let a = post(&env, "volumes", "", volume("ok", good_spec())).await;
        assert_eq!(a.code, 201, "{v}: a valid Volume: {}", a.body);
    }
}

#[tokio::test]
async fn unknown_fields_warn_by_default_fail_under_strict_and_vanish_under_ignore() {
    let Some(env) = env_with("1.9.1").await else {
        return;
    };
    let spec = with(good_spec(), "foo", json!("bar"));
    // Default (no fieldValidation) = Warn: pruned, one Warning header per field.
    let a = post(&env, "volumes", "", volume("warn", spec.clone())).await;
    assert_eq!(a.code, 201, "{}", a.body);
    assert_eq!(a.warnings(), vec![r#"299 - "unknown field \"spec.foo\"""#]);
    assert!(a.body["spec"].get("foo").is_none());
    let stored = env
        .store
        .get(&LH_VOLUMES, Some(NS), "warn")
        .expect("stored");
    assert!(stored["spec"].get("foo").is_none());
    assert_eq!(stored["spec"]["size"], "1073741824");

    let a = post(
        &env,
        "volumes",
        "?fieldValidation=Strict",
        volume("strict", spec.clone()),
    )
    .await;
    assert_eq!(a.code, 400);
    assert_eq!(a.body["reason"], "BadRequest");
    assert_eq!(
        a.body["message"],
        r#"Volume in version "v1beta2" cannot be handled as a Volume: strict decoding error: unknown field "spec.foo""#
    );
    assert!(env.store.get(&LH_VOLUMES, Some(NS), "strict").is_none());

    let a = post(
        &env,
        "volumes",
        "?fieldValidation=Ignore",
        volume("ignore", spec),
    )
    .await;
    assert_eq!(a.code, 201);
    assert!(a.warnings().is_empty());
    assert!(a.body["spec"].get("foo").is_none());

    // Patches: merge patch with an unknown field.
    let path = format!("/apis/longhorn.io/v1beta2/namespaces/{NS}/volumes/warn");
    let p = json!({"spec": {"bar": 1}});
    let a = call(&env, "PATCH", &path, "application/merge-patch+json", &p).await;
    assert_eq!(a.code, 200, "{}", a.body);
    assert_eq!(a.warnings(), vec![r#"299 - "unknown field \"spec.bar\"""#]);
    let strict = format!("{path}?fieldValidation=Strict");
    let a = call(&env, "PATCH", &strict, "application/merge-patch+json", &p).await;
    assert_eq!(a.code, 422, "{}", a.body);
    assert_eq!(cause(&a).0, "patch");
    assert!(cause(&a)
        .2
        .ends_with(r#"strict decoding error: unknown field "spec.bar""#));
    // A type error in a patch is a 422 on the patched object.
    let p = json!({"spec": {"numberOfReplicas": "three"}});
    let a = call(&env, "PATCH", &path, "application/merge-patch+json", &p).await;
    assert_eq!(a.code, 422);
    assert_eq!(cause(&a).0, "spec.numberOfReplicas");
    // Server-side apply is validated too.
    let ssa = format!("{path}?fieldManager=t");
    let p = json!({"apiVersion": "longhorn.io/v1beta2", "kind": "Volume",
                   "metadata": {"name": "warn"}, "spec": {"accessMode": "RWX"}});
    let a = call(&env, "PATCH", &ssa, "application/apply-patch+yaml", &p).await;
    assert_eq!(a.code, 422, "{}", a.body);
    assert_eq!(cause(&a).1, "FieldValueNotSupported");
}

#[tokio::test]
async fn status_writes_are_validated_and_nullable_nulls_accepted() {
    let Some(env) = env_with("1.9.1").await else {
        return;
    };
    let bv = json!({"apiVersion": "longhorn.io/v1beta2", "kind": "BackupVolume",
        "metadata": {"name": "bv", "namespace": NS, "labels": {"backup-volume": "v"}},
        "spec": {"syncRequestedAt": null}});
    let a = post(&env, "backupvolumes", "", bv).await;
    assert_eq!(a.code, 201, "{}", a.body);
    let path = format!("/apis/longhorn.io/v1beta2/namespaces/{NS}/backupvolumes/bv/status");
    // `lastSyncedAt` is nullable in Longhorn's CRD: null before the first sync is valid.
    let p = json!({"status": {"lastSyncedAt": null, "size": "0"}});
    let a = call(&env, "PATCH", &path, "application/merge-patch+json", &p).await;
    assert_eq!(a.code, 200, "{}", a.body);
    let p = json!({"status": {"lastSyncedAt": "not a time"}});
    let a = call(&env, "PATCH", &path, "application/merge-patch+json", &p).await;
    assert_eq!(a.code, 422, "{}", a.body);
    assert_eq!(cause(&a).0, "status.lastSyncedAt");
    let p = json!({"status": {"lastSyncedAt": "2026-12-01T10:00:00Z"}});
    let a = call(&env, "PATCH", &path, "application/merge-patch+json", &p).await;
    assert_eq!(a.code, 200, "{}", a.body);
}

#[tokio::test]
async fn errors_a_controller_left_do_not_block_unrelated_client_updates() {
    // Ratcheting: a stored value that breaks the schema (written by the simulated Longhorn)
    // does not make a client's label change fail; it is recorded as a violation instead.
    let Some(env) = env_with("1.9.1").await else {
        return;
    };
    env.store
        .create(
            &LH_VOLUMES,
            Some(NS),
            volume("ctl", with(good_spec(), "size", json!(5))),
        )
        .expect("controller write");
    let v = env.store.schema_violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        v[0].starts_with(
            "Volume longhorn-system/ctl: Volume.longhorn.io \"ctl\" is invalid: spec.size"
        ),
        "{v:?}"
    );
    let path = format!("/apis/longhorn.io/v1beta2/namespaces/{NS}/volumes/ctl");
    let p = json!({"metadata": {"labels": {"a": "b"}}});
    let a = call(&env, "PATCH", &path, "application/merge-patch+json", &p).await;
    assert_eq!(a.code, 200, "{}", a.body);
}

#[tokio::test]
async fn crds_are_listed_and_tables_use_their_printer_columns() {
    let Some(env) = env_with("1.9.1").await else {
        return;
    };
    let a = call(
        &env,
        "GET",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        "application/json",
        &Value::Null,
    )
    .await;
    let names: Vec<&str> = a.body["items"]
        .as_array()
        .map(|i| {
            i.iter()
                .filter_map(|c| c["metadata"]["name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert!(names.contains(&"volumes.longhorn.io"), "{names:?}");
    assert!(names.contains(&"backuptargets.longhorn.io"), "{names:?}");
    let one = call(
        &env,
        "GET",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/volumes.longhorn.io",
        "application/json",
        &Value::Null,
    )
    .await;
    assert_eq!(one.code, 200);
    assert_eq!(one.body["spec"]["names"]["shortNames"], json!(["lhv"]));

    let mut vol = volume("tbl", good_spec());
    vol["status"] = json!({"state": "attached", "robustness": "healthy"});
    env.store
        .create(&LH_VOLUMES, Some(NS), vol)
        .expect("volume");
    let mut s = tokio::net::TcpStream::connect(env.server.addr())
        .await
        .expect("connect");
    let req = format!("GET /apis/longhorn.io/v1beta2/namespaces/{NS}/volumes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nAccept: application/json;as=Table;v=v1;g=meta.k8s.io\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("send");
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.expect("read");
    let body: Value = serde_json::from_str(raw.split_once("\r\n\r\n").map(|x| x.1).unwrap_or(""))
        .expect("table json");
    let cols: Vec<&str> = body["columnDefinitions"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    // Longhorn 1.9.1's Volume columns (deploy/longhorn.yaml, additionalPrinterColumns).
    let set = load("1.9.1").expect("loaded above");
    let want: Vec<&str> = std::iter::once("Name")
        .chain(
            set.for_type(&LH_VOLUMES)
                .expect("volumes")
                .columns
                .iter()
                .map(|c| c.name.as_str()),
        )
        .collect();
    assert_eq!(cols, want);
    assert!(
        cols.contains(&"State") && cols.contains(&"Robustness"),
        "{cols:?}"
    );
    let state_at = cols
        .iter()
        .position(|c| *c == "State")
        .expect("State column");
    assert_eq!(body["rows"][0]["cells"][state_at], "attached");
    let age_at = cols.iter().position(|c| *c == "Age").expect("Age column");
    assert!(body["rows"][0]["cells"][age_at]
        .as_str()
        .is_some_and(|a| a.ends_with('s')));
}

#[tokio::test]
async fn without_crds_the_built_in_rules_apply() {
    // Documents the fallback: no schema, so a numeric size is stored as given.
    let env = Env::start().await;
    env.ensure_ns(NS);
    let a = post(
        &env,
        "volumes",
        "",
        volume("num", with(good_spec(), "size", json!(1024))),
    )
    .await;
    assert_eq!(a.code, 201);
    let a = post(
        &env,
        "backuptargets",
        "",
        json!({"metadata": {"name": "x"}, "spec": {"foo": 1}}),
    )
    .await;
    assert_eq!(a.code, 201);
    assert!(a.warnings().is_empty());
    assert!(env.store.get(&LH_BACKUPTARGETS, Some(NS), "x").is_some());
    let a = call(
        &env,
        "GET",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        "application/json",
        &Value::Null,
    )
    .await;
    // The built-in, synthesized CRDs are listed (crd::builtin); their schema claims nothing.
    let items = a.body["items"].as_array().cloned().unwrap_or_default();
    let vol = items
        .iter()
        .find(|c| c["metadata"]["name"] == "volumes.longhorn.io");
    assert_eq!(
        vol.map(|c| c["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()),
        Some(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}))
    );
}
