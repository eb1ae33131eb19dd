//! Watches through `kube`: runtime watcher (list+watch and streaming lists), resourceVersion
//! replay, 410 after history loss, bookmarks, `await_condition` on a field selector, and the
//! injected watch drop.

#[path = "api_support.rs"]
mod support;

use std::time::Duration;

use dr_sandbox::api::resources::PODS;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::{wait::await_condition, wait::conditions::is_pod_running, watcher};
use serde_json::json;
use support::Env;

const LIMIT: Duration = Duration::from_secs(20);

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"n": "0"}})).expect("cm")
}

async fn watcher_sees(streaming: bool) {
    let env = Env::start().await;
    let api: Api<ConfigMap> = Api::namespaced(env.client().await, "default");
    api.create(&PostParams::default(), &cm("before"))
        .await
        .expect("create");
    let cfg = if streaming {
        watcher::Config::default().streaming_lists()
    } else {
        watcher::Config::default()
    };
    let mut stream = watcher(api.clone(), cfg).boxed();
    let mut init_done = false;
    // Drive until the initial state is complete, then change things and expect to see them.
    let seen_initial = tokio::time::timeout(LIMIT, async {
        let mut names = Vec::new();
        while let Some(ev) = stream.try_next().await.expect("watch event") {
            match ev {
                watcher::Event::InitApply(o) => names.extend(o.metadata.name),
                watcher::Event::InitDone => {
                    init_done = true;
                    break;
                }
                _ => {}
            }
        }
        names
    })
    .await
    .expect("initial list in time");
    assert!(init_done);
    assert_eq!(seen_initial, vec!["before"]);
    api.create(&PostParams::default(), &cm("after"))
        .await
        .expect("create");
    api.patch(
        "before",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"n": "1"}})),
    )
    .await
    .expect("patch");
    let changes = tokio::time::timeout(LIMIT, async {
        let mut got = Vec::new();
        while got.len() < 2 {
            if let Some(watcher::Event::Apply(o)) = stream.try_next().await.expect("event") {
                let n = o
                    .data
                    .as_ref()
                    .and_then(|d| d.get("n"))
                    .cloned()
                    .unwrap_or_default();
                got.push((o.metadata.name.unwrap_or_default(), n));
            }
        }
        got
    })
    .await
    .expect("live events in time");
    assert_eq!(
        changes,
        vec![
            ("after".to_string(), "0".to_string()),
            ("before".to_string(), "1".to_string())
        ]
    );
}

#[tokio::test]
async fn runtime_watcher_sees_created_and_modified() {
    watcher_sees(false).await;
}

#[tokio::test]
async fn streaming_list_watcher_sees_created_and_modified() {
    watcher_sees(true).await;
}

#[tokio::test]
async fn watch_replays_from_resource_version_and_sends_bookmarks() {
    let env = Env::start().await;
    let api: Api<ConfigMap> = Api::namespaced(env.client().await, "default");
    let a = api
        .create(&PostParams::default(), &cm("a"))
        .await
        .expect("create");
    let rv = a.metadata.resource_version.clone().unwrap_or_default();
    api.create(&PostParams::default(), &cm("b"))
        .await
        .expect("create");
    api.delete("a", &Default::default()).await.expect("delete");
    let mut s = api
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .expect("watch")
        .boxed();
    let mut kinds = Vec::new();
    let mut bookmark_rv = None;
    tokio::time::timeout(LIMIT, async {
        while let Some(ev) = s.try_next().await.expect("event") {
            match ev {
                WatchEvent::Added(o) => {
                    kinds.push(format!("added {}", o.metadata.name.unwrap_or_default()))
                }
                WatchEvent::Deleted(o) => {
                    kinds.push(format!("deleted {}", o.metadata.name.unwrap_or_default()))
                }
                WatchEvent::Bookmark(b) => {
                    bookmark_rv = Some(b.metadata.resource_version);
                    break;
                }
                other => kinds.push(format!("{other:?}")),
            }
        }
    })
    .await
    .expect("bookmark in time");
    assert_eq!(kinds, vec!["added b", "deleted a"]);
    let bookmark_rv: u64 = bookmark_rv.and_then(|r| r.parse().ok()).unwrap_or(0);
    assert!(bookmark_rv >= env.store.resource_version());
}

#[tokio::test]
async fn watch_from_lost_history_is_410() {
    let env = Env::start().await;
    let api: Api<ConfigMap> = Api::namespaced(env.client().await, "default");
    let a = api
        .create(&PostParams::default(), &cm("a"))
        .await
        .expect("create");
    let rv = a.metadata.resource_version.clone().unwrap_or_default();
    env.store.reset();
    env.ensure_ns("default");
    let mut s = api
        .watch(&WatchParams::default(), &rv)
        .await
        .expect("watch")
        .boxed();
    let first = tokio::time::timeout(LIMIT, s.try_next())
        .await
        .expect("in time")
        .expect("event");
    match first {
        Some(WatchEvent::Error(status)) => assert_eq!(status.code, 410),
        other => panic!("expected a 410 error event, got {other:?}"),
    }
}

#[tokio::test]
async fn await_condition_on_field_selector() {
    let env = Env::start().await;
    let api: Api<Pod> = Api::namespaced(env.client().await, "default");
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "waiter"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})).expect("pod");
    api.create(&PostParams::default(), &pod)
        .await
        .expect("create");
    let wait = tokio::spawn(await_condition(api.clone(), "waiter", is_pod_running()));
    // A controller (here: the test) moves the pod to Running through the store.
    tokio::time::sleep(Duration::from_millis(200)).await;
    env.store
        .modify(&PODS, Some("default"), "waiter", |p| {
            p["status"]["phase"] = json!("Running")
        })
        .expect("modify");
    let got = tokio::time::timeout(LIMIT, wait)
        .await
        .expect("condition in time")
        .expect("join")
        .expect("await");
    assert_eq!(
        got.and_then(|p| p.status).and_then(|s| s.phase).as_deref(),
        Some("Running")
    );
    assert!(env.server.request_log().iter().any(|r| r
        .path_and_query
        .contains("fieldSelector=metadata.name%3Dwaiter")
        && r.path_and_query.contains("watch=true")));
}

#[tokio::test]
async fn drop_watches_closes_open_streams() {
    let env = Env::start().await;
    let api: Api<ConfigMap> = Api::namespaced(env.client().await, "default");
    let mut s = api
        .watch(&WatchParams::default().timeout(60), "0")
        .await
        .expect("watch")
        .boxed();
    env.faults.drop_watches_for(Duration::from_secs(2));
    let ended = tokio::time::timeout(LIMIT, async {
        loop {
            match s.next().await {
                None | Some(Err(_)) => return true,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("stream closes in time");
    assert!(ended);
    let e = api.watch(&WatchParams::default(), "0").await;
    let refused = match e {
        Err(kube::Error::Api(s)) => s.code == 503,
        Err(_) => false,
        Ok(st) => matches!(st.boxed().next().await, Some(Err(_)) | None),
    };
    assert!(refused, "new watches are refused during the drop window");
    env.faults.clear();
    assert!(api
        .watch(&WatchParams::default().timeout(1), "0")
        .await
        .is_ok());
}

#[tokio::test]
async fn watch_filters_by_namespace_and_labels() {
    let env = Env::start().await;
    env.ensure_ns("other");
    let client = env.client().await;
    let here: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let there: Api<ConfigMap> = Api::namespaced(client, "other");
    let rv = env.store.resource_version().to_string();
    let mut s = here
        .watch(
            &WatchParams::default().labels("app=sentinel").timeout(10),
            &rv,
        )
        .await
        .expect("watch")
        .boxed();
    let labelled = |n: &str, app: &str| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": n, "labels": {"app": app}}}))
            .expect("cm")
    };
    there
        .create(&PostParams::default(), &labelled("elsewhere", "sentinel"))
        .await
        .expect("create");
    here.create(&PostParams::default(), &labelled("unlabelled", "other"))
        .await
        .expect("create");
    here.create(&PostParams::default(), &labelled("wanted", "sentinel"))
        .await
        .expect("create");
    let first = tokio::time::timeout(LIMIT, async {
        loop {
            match s.try_next().await.expect("event") {
                Some(WatchEvent::Added(o)) => return o.metadata.name,
                Some(WatchEvent::Bookmark(_)) => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await
    .expect("event in time");
    assert_eq!(first.as_deref(), Some("wanted"));
}

#[tokio::test]
async fn objects_entering_and_leaving_a_selector_are_added_and_deleted() {
    let env = Env::start().await;
    let api: Api<ConfigMap> = Api::namespaced(env.client().await, "default");
    let labelled = |n: &str, app: &str| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": n, "labels": {"app": app}}}))
            .expect("cm")
    };
    api.create(&PostParams::default(), &labelled("leaver", "sentinel"))
        .await
        .expect("create");
    api.create(&PostParams::default(), &labelled("joiner", "other"))
        .await
        .expect("create");
    let rv = env.store.resource_version().to_string();
    let relabel = |app: &str| Patch::Merge(json!({"metadata": {"labels": {"app": app}}}));
    // One change before the watch starts (replayed from history), one after (live).
    api.patch("leaver", &PatchParams::default(), &relabel("other"))
        .await
        .expect("patch");
    let mut s = api
        .watch(
            &WatchParams::default().labels("app=sentinel").timeout(10),
            &rv,
        )
        .await
        .expect("watch")
        .boxed();
    api.patch("joiner", &PatchParams::default(), &relabel("sentinel"))
        .await
        .expect("patch");
    api.patch(
        "joiner",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "v"}})),
    )
    .await
    .expect("patch");
    let seen = tokio::time::timeout(LIMIT, async {
        let mut seen = Vec::new();
        while seen.len() < 3 {
            match s.try_next().await.expect("event") {
                Some(WatchEvent::Added(o)) => {
                    seen.push(format!("added {}", o.metadata.name.unwrap_or_default()))
                }
                Some(WatchEvent::Modified(o)) => {
                    seen.push(format!("modified {}", o.metadata.name.unwrap_or_default()))
                }
                Some(WatchEvent::Deleted(o)) => {
                    seen.push(format!("deleted {}", o.metadata.name.unwrap_or_default()))
                }
                Some(WatchEvent::Bookmark(_)) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        seen
    })
    .await
    .expect("events in time");
    assert_eq!(
        seen,
        vec!["deleted leaver", "added joiner", "modified joiner"]
    );
}
