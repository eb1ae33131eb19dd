//! Injected API faults: the outage window answers 503 ServiceUnavailable (health endpoints
//! included) and ends on its own.

#[path = "api_support.rs"]
mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use support::Env;

#[tokio::test]
async fn unavailable_window_answers_503_then_recovers() {
    let env = Env::start().await;
    let client = env.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.list(&ListParams::default())
        .await
        .expect("healthy before");
    env.faults.unavailable_for(Duration::from_millis(600));
    match api.list(&ListParams::default()).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 503);
            assert_eq!(s.reason, "ServiceUnavailable");
        }
        other => panic!("expected 503, got {other:?}"),
    }
    let readyz = client
        .request_text(
            axum::http::Request::get("/readyz")
                .body(Vec::new())
                .expect("request"),
        )
        .await;
    assert!(readyz.is_err(), "readyz must fail during the outage");
    tokio::time::sleep(Duration::from_millis(700)).await;
    api.list(&ListParams::default())
        .await
        .expect("healthy after the window");
    let ok = client
        .request_text(
            axum::http::Request::get("/readyz")
                .body(Vec::new())
                .expect("request"),
        )
        .await
        .expect("readyz");
    assert_eq!(ok, "ok");
}

#[tokio::test]
async fn clear_ends_the_outage() {
    let env = Env::start().await;
    let api: Api<ConfigMap> = Api::namespaced(env.client().await, "default");
    env.faults.unavailable_for(Duration::from_secs(60));
    assert!(api.list(&ListParams::default()).await.is_err());
    env.faults.clear();
    api.list(&ListParams::default())
        .await
        .expect("healthy after clear");
    assert!(env.server.request_log().iter().any(|r| r.status == 503));
}

#[tokio::test]
async fn shutdown_closes_watches_and_frees_the_port() {
    use futures::StreamExt;
    use kube::api::WatchParams;
    let env = Env::start().await;
    let api: Api<ConfigMap> = Api::namespaced(env.client().await, "default");
    let mut watch = api
        .watch(&WatchParams::default().timeout(60), "0")
        .await
        .expect("watch")
        .boxed();
    let addr = env.server.addr();
    let tls = env.server.tls();
    let support::Env {
        store,
        server,
        faults,
        runtime,
    } = env;
    tokio::time::timeout(Duration::from_secs(10), server.shutdown())
        .await
        .expect("shutdown in time");
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match watch.next().await {
                None | Some(Err(_)) => return true,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("watch ends after shutdown");
    assert!(ended);
    // A new server can take over the same address (the sandbox's destroy/apply cycle).
    let again = dr_sandbox::api::ApiServer::start(
        store,
        dr_sandbox::api::ApiServerOptions {
            bind: addr,
            token: support::TOKEN.into(),
            runtime,
            faults,
            cluster_name: "sandbox".into(),
            // the same CA and certificate, so the client's kubeconfig stays valid
            tls: Some(tls),
        },
    )
    .await
    .expect("rebind the same address");
    assert_eq!(again.addr(), addr);
    api.list(&ListParams::default())
        .await
        .expect("clients reconnect");
}
