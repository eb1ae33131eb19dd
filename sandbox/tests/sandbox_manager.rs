//! The simulated longhorn-manager behind the API server's service proxy: `snapshotRevert` is
//! refused while a workload uses the volume and while the volume is plainly detached, is
//! accepted once the volume is attached in maintenance mode (`attach` with `disableFrontend`),
//! and `detach` detaches it again; the `revert-not-applied` fault answers 200 without reverting.

mod sandbox_support;

use dr_sandbox::Fault;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::Client;

use sandbox_support::*;

const VOL: &str = "dr-exercise-data";

async fn volume_action(
    client: &Client,
    vol: &str,
    action: &str,
    body: serde_json::Value,
) -> Result<String, kube::Error> {
    let path = format!("/api/v1/namespaces/{LH_NS}/services/longhorn-backend:9500/proxy/v1/volumes/{vol}?action={action}");
    let req = axum::http::Request::post(path)
        .header("content-type", "application/json")
        .body(body.to_string().into_bytes())
        .expect("request");
    client.request_text(req).await
}

async fn revert(client: &Client, vol: &str, snap: &str) -> Result<String, kube::Error> {
    volume_action(
        client,
        vol,
        "snapshotRevert",
        serde_json::json!({"name": snap}),
    )
    .await
}

/// Maintenance-mode attach as the harness sends it (Longhorn 1.5+ `AttachInput`).
async fn attach(client: &Client, vol: &str, node: &str) -> Result<String, kube::Error> {
    let body = serde_json::json!({"hostId": node, "disableFrontend": true, "attachedBy": "test",
        "attacherType": "longhorn-api", "attachmentID": "test-revert"});
    volume_action(client, vol, "attach", body).await
}

async fn volume_json(client: &Client, vol: &str) -> serde_json::Value {
    let v = longhorn(client, "Volume").get(vol).await.expect("volume");
    serde_json::to_value(&v).expect("json")
}

fn refused_with(answer: Result<String, kube::Error>, words: &str) {
    match answer {
        Err(kube::Error::Api(s)) => assert!(s.message.contains(words), "{s:?}"),
        other => panic!("expected a refusal containing {words:?}: {other:?}"),
    }
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

    // Detached, frontend not disabled: Longhorn refuses as well.
    eventually("the volume to detach", || {
        let client = client.clone();
        async move {
            let v = volume_json(&client, VOL).await;
            (v["status"]["state"] == "detached").then_some(())
        }
    })
    .await;
    refused_with(
        revert(&client, VOL, "snap-a").await,
        "with frontend enabled",
    );
    assert_eq!(file_in_volume(&sandbox).trim(), "B");

    // Attach on an unknown node is refused in Longhorn's wrapping.
    refused_with(
        attach(&client, VOL, "no-such-node").await,
        &format!("unable to attach volume {VOL} to no-such-node"),
    );

    // Maintenance mode: attached, frontend disabled, and it stays attached with no workload.
    let node = sandbox_node(&client).await;
    let answer = attach(&client, VOL, &node).await.expect("attach accepted");
    assert!(answer.contains("\"disableFrontend\":true"), "{answer}");
    let v = volume_json(&client, VOL).await;
    assert_eq!(v["status"]["state"], "attached", "{v}");
    assert_eq!(v["status"]["currentNodeID"], node.as_str(), "{v}");
    assert_eq!(v["status"]["frontendDisabled"], true, "{v}");
    assert_eq!(v["spec"]["disableFrontend"], true, "{v}");

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
    let v = volume_json(&client, VOL).await;
    assert_eq!(
        v["status"]["state"], "attached",
        "a maintenance attachment outlives the controller's reconcile: {v}"
    );

    // Unknown snapshots and volumes are refused.
    assert!(revert(&client, VOL, "no-such-snap").await.is_err());
    assert!(
        matches!(revert(&client, "no-such-vol", "snap-a").await, Err(kube::Error::Api(s)) if s.code == 404)
    );

    // Detach ends maintenance mode; a revert is refused again.
    volume_action(
        &client,
        VOL,
        "detach",
        serde_json::json!({"attachmentID": "test-revert", "hostId": node}),
    )
    .await
    .expect("detach accepted");
    let v = volume_json(&client, VOL).await;
    assert_eq!(v["status"]["state"], "detached", "{v}");
    assert_eq!(v["status"]["currentNodeID"], "", "{v}");
    assert_eq!(v["spec"]["disableFrontend"], false, "{v}");
    assert_eq!(v["status"]["frontendDisabled"], false, "{v}");
    refused_with(
        revert(&client, VOL, "snap-a").await,
        "with frontend enabled",
    );
    sandbox.shutdown().await;
}

/// A Ready node's name.
async fn sandbox_node(client: &Client) -> String {
    let nodes: Api<Node> = Api::all(client.clone());
    let list = nodes.list(&ListParams::default()).await.expect("nodes");
    list.items
        .iter()
        .find(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .and_then(|n| n.metadata.name.clone())
        .expect("a Ready node")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_attach_while_in_use_keeps_the_frontend() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    let pod = sentinel_pod(&client).await;
    assert!(exec(&client, &pod, "echo A > /data/f && sync").await.1);
    snapshot(&client, VOL, "snap-a").await;
    let node = sandbox_node(&client).await;
    // Longhorn 1.5+ takes the ticket, but the workload's attachment keeps the frontend enabled.
    attach(&client, VOL, &node).await.expect("ticket accepted");
    let v = volume_json(&client, VOL).await;
    assert_ne!(v["spec"]["disableFrontend"], true, "{v}");
    refused_with(
        revert(&client, VOL, "snap-a").await,
        "with frontend enabled",
    );
    volume_action(&client, VOL, "detach", serde_json::json!({}))
        .await
        .expect("detach without a body, as Longhorn's UI sends it");
    let v = volume_json(&client, VOL).await;
    assert_eq!(
        v["status"]["state"], "attached",
        "the pod still uses it: {v}"
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
