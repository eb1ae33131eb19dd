//! Storage-object-in-use protection as a real cluster does it: new PVCs and PVs get the
//! `kubernetes.io/pvc-protection` / `pv-protection` finalizers, a DELETE only marks them
//! (`deletionTimestamp`) while a pod uses the claim or the volume is bound, and they go once
//! that ends (kubernetes@v1.32.0 `pkg/controller/volume/{pvcprotection,pvprotection}`).

mod sandbox_support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::api::{Api, DeleteParams};
use sandbox_support::*;

const NS: &str = "dr-exercise";
const CLAIM: &str = "dr-exercise-data";

fn finalizers(meta: &kube::api::ObjectMeta) -> Vec<String> {
    meta.finalizers.clone().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_in_use_and_its_bound_volume_stay_until_released() {
    let (_dir, sandbox) = start(|_| {}).await;
    let client = client(&sandbox).await;
    sentinel_pod(&client).await;
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), NS);
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let pvc = eventually("the sentinel claim to be bound", || {
        let pvcs = pvcs.clone();
        async move {
            let c = pvcs.get(CLAIM).await.ok()?;
            (c.status.as_ref()?.phase.as_deref() == Some("Bound")).then_some(c)
        }
    })
    .await;
    assert_eq!(
        finalizers(&pvc.metadata),
        vec!["kubernetes.io/pvc-protection"]
    );
    let pv_name = pvc
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.clone())
        .expect("bound PV");
    let pv = pvs.get(&pv_name).await.expect("the bound PV");
    assert_eq!(
        finalizers(&pv.metadata),
        vec!["kubernetes.io/pv-protection"]
    );

    // Deleting the bound PV and the claim in use only marks them.
    pvs.delete(&pv_name, &DeleteParams::default())
        .await
        .expect("PV delete accepted");
    pvcs.delete(CLAIM, &DeleteParams::default())
        .await
        .expect("PVC delete accepted");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let pvc = pvcs.get(CLAIM).await.expect("a claim in use stays");
    assert!(
        pvc.metadata.deletion_timestamp.is_some(),
        "{:?}",
        pvc.metadata
    );
    let pv = pvs.get(&pv_name).await.expect("a bound PV stays");
    assert!(
        pv.metadata.deletion_timestamp.is_some(),
        "{:?}",
        pv.metadata
    );
    // An update cannot take the mark away.
    let mut edited = pvc.clone();
    edited.metadata.deletion_timestamp = None;
    edited.metadata.managed_fields = None;
    let after = pvcs
        .replace(CLAIM, &Default::default(), &edited)
        .await
        .expect("update of a terminating claim");
    assert!(after.metadata.deletion_timestamp.is_some());

    // Once no pod uses the claim, both go.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    deployments
        .delete("dr-exercise", &DeleteParams::default())
        .await
        .expect("deployment deleted");
    eventually("the claim to go once no pod uses it", || {
        let pvcs = pvcs.clone();
        async move { pvcs.get_opt(CLAIM).await.ok()?.is_none().then_some(()) }
    })
    .await;
    eventually("the PV to go once it is no longer bound", || {
        let pvs = pvs.clone();
        let n = pv_name.clone();
        async move { pvs.get_opt(&n).await.ok()?.is_none().then_some(()) }
    })
    .await;
    sandbox.shutdown().await;
}
