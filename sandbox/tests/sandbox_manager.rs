//! The simulated longhorn-manager behind the API server's service proxy: `snapshotRevert` is
//! refused while a workload uses the volume, reverts the data once it does not, and the
//! `revert-not-applied` fault answers 200 without reverting.

mod sandbox_support;

use dr_sandbox::Fault;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::Client;

use sandbox_support::*;

const VOL: &str = "dr-exercise-data";

async fn revert(client: &Client, vol: &str, snap: &str) -> Result<String, kube::Error> {
    let path = format!("/api/v1/namespaces/{LH_NS}/services/longhorn-backend:9500/proxy/v1/volumes/{vol}?action=snapshotRevert");
    let req = axum::http::Request::post(path)
        .header("content-type", "application/json")
        .body(serde_json::json!({"name": snap}).to_string().into_bytes())
        .expect("request");
    client.request_text(req).await
}

fn file_in_volume(sandbox: &dr_sandbox::Sandbox) -> String {
    std::fs::read_to_string(sandbox.data_plane().volume_dir(VOL).join("f")).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_revert_through_the_service_proxy() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    let pod = sentinel_pod(&client).await;
    assert!(exec(&client, &pod, "echo A > /data/f && sync").await.1);
    snapshot(&client, VOL, "snap-a").await;
    assert!(exec(&client, &pod, "echo B > /data/f && sync").await.1);

    // In use by a Running pod: refused in Longhorn's words.
    match revert(&client, VOL, "snap-a").await {
        Err(kube::Error::Api(s)) => assert!(s.message.contains("with frontend enabled"), "{s:?}"),
        other => panic!("a revert of an attached volume must be refused: {other:?}"),
    }
    assert_eq!(file_in_volume(&sandbox).trim(), "B");

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "dr-exercise");
    let patch = serde_json::json!({"spec": {"replicas": 0}});
    deployments
        .patch(
            "dr-exercise",
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .expect("scaled down");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "dr-exercise");
    eventually("the sentinel pods to be gone", || {
        let pods = pods.clone();
        async move {
            let list = pods
                .list(&ListParams::default().labels("app=dr-exercise"))
                .await
                .ok()?;
            list.items.is_empty().then_some(())
        }
    })
    .await;

    // The fault: 200, data untouched.
    sandbox.faults().set(Fault::RevertNotApplied);
    let answer = revert(&client, VOL, "snap-a")
        .await
        .expect("200 under the fault");
    assert!(answer.contains(VOL), "{answer}");
    assert_eq!(
        file_in_volume(&sandbox).trim(),
        "B",
        "revert-not-applied must leave the data"
    );

    // Without it: the data is the snapshot's.
    sandbox.faults().clear();
    revert(&client, VOL, "snap-a")
        .await
        .expect("revert accepted");
    assert_eq!(file_in_volume(&sandbox).trim(), "A");

    // Unknown snapshots and volumes are refused.
    assert!(revert(&client, VOL, "no-such-snap").await.is_err());
    assert!(
        matches!(revert(&client, "no-such-vol", "snap-a").await, Err(kube::Error::Api(s)) if s.code == 404)
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_needs_the_service_object() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    let req = axum::http::Request::get(format!(
        "/api/v1/namespaces/{LH_NS}/services/no-such-svc:80/proxy/"
    ))
    .body(Vec::new())
    .expect("request");
    match client.request_text(req).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 404, "{s:?}"),
        other => panic!("expected 404: {other:?}"),
    }
    sandbox.shutdown().await;
}
