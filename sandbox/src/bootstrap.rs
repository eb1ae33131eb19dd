//! Bootstrapping a (re)built sandbox cluster in the order a real rebuild follows.
//!
//! Order (seed dr-exercise-plan "Backup-Aware Bootstrap", issue #2): API ready → system
//! namespaces, `coredns`, the drill-target marker and `flux-system/cluster-config` → three nodes
//! registering and turning Ready → Longhorn (namespace, `longhorn-manager` DaemonSet,
//! `longhorn-driver-deployer` Deployment, Settings, StorageClass `longhorn`, credential Secret
//! `longhorn-backup-credentials`) Available → BackupTarget `default` → `available: true` → first
//! sync of S3 (BackupVolume/Backup objects) → Flux Kustomizations `longhorn`,
//! `longhorn-restore-orchestrator` (dependsOn longhorn) and `dr-exercise` (dependsOn the
//! orchestrator), after which the Kustomization, PVC and pod controllers bring up the sentinel.
//! Each gate records a core Event (`reason` = the gate) on the object it waited for.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::api::resources::{
    CONFIGMAPS, DAEMONSETS, DEPLOYMENTS, FLUX_KUSTOMIZATIONS, LH_BACKUPTARGETS, LH_RECURRINGJOBS,
    LH_SETTINGS, NAMESPACES, NODES, SECRETS, STORAGECLASSES,
};
use crate::api::{ApiError, ResourceType, Store};
use crate::controllers::events::{record, EventKind};
use crate::controllers::nodes::{is_ready, node_manifest, NODE_NAMES};
use crate::controllers::object::{condition, str_at};
use crate::controllers::workloads::{daemonset_ready, deployment_available};
use crate::controllers::Ctx;
use crate::faults::Fault;
use crate::names::{
    BACKUP_TARGET as DEFAULT_BACKUP_TARGET, CLUSTER_NAME, DNS_DEPLOYMENT, FLUX_NAMESPACE,
    LONGHORN_KUSTOMIZATION, LONGHORN_NAMESPACE, ORCHESTRATOR_KUSTOMIZATION, SENTINEL_KUSTOMIZATION,
    STORAGE_CLASS,
};

// Kept at their old paths for callers (tests); spelled once in `crate::names`.
pub use crate::names::{CREDENTIAL_SECRET, DRILL_TARGET_MARKER};
/// The Kustomization path under which the Longhorn "HelmRelease" lives (no manifests: the
/// bootstrap installs Longhorn itself; the Kustomization only reports its health).
pub const LONGHORN_PATH: &str = "./infrastructure/longhorn";
/// The Kustomization path of the restore orchestrator manifests.
pub const ORCHESTRATOR_PATH: &str = "./fixtures/restore-orchestrator";
/// The Kustomization path of the sentinel workload manifests.
pub const SENTINEL_PATH: &str = "./fixtures/sentinel";

/// What the bootstrap needs beyond the controllers' context.
#[derive(Clone)]
pub struct BootstrapOptions {
    /// Whether to create the drill-target marker ConfigMap.
    pub drill_target_marker: bool,
    /// S3 access key for the credential Secret.
    pub access_key: String,
    /// S3 secret key for the credential Secret.
    pub secret_key: String,
    /// S3 endpoint URL for the credential Secret's `AWS_ENDPOINTS`.
    pub endpoint: String,
}

/// Runs the bootstrap to its end (the sentinel's Kustomization created). Returns early when the
/// cluster is destroyed meanwhile.
///
/// # Errors
/// The first store error of creating the cluster's objects.
pub async fn run(ctx: Arc<Ctx>, opts: BootstrapOptions) -> Result<(), ApiError> {
    let store = ctx.store.clone();
    let t = ctx.timing.clone();
    for ns in [
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        LONGHORN_NAMESPACE,
        FLUX_NAMESPACE,
    ] {
        store.ensure_namespace(ns)?;
    }
    let kube_system = store
        .get(&NAMESPACES, None, "kube-system")
        .unwrap_or(Value::Null);
    record(
        &store,
        &NAMESPACES,
        &kube_system,
        "sandbox-bootstrap",
        EventKind::Normal,
        "ApiServerReady",
        "API server is serving",
    );
    create(&store, &DEPLOYMENTS, coredns())?;
    if opts.drill_target_marker && !ctx.faults.is_set(Fault::NoDrillTargetMarker.name()) {
        create(
            &store,
            &CONFIGMAPS,
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": DRILL_TARGET_MARKER.1, "namespace": DRILL_TARGET_MARKER.0,
                             "labels": {"app.kubernetes.io/part-of": "dr-harness"}},
                "data": {"cluster": CLUSTER_NAME},
            }),
        )?;
    }
    create(
        &store,
        &CONFIGMAPS,
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cluster-config", "namespace": FLUX_NAMESPACE},
            "data": {"skip_backup_restore": "false"},
        }),
    )?;

    for (i, node) in NODE_NAMES.iter().enumerate() {
        create(&store, &NODES, node_manifest(node, i + 1))?;
    }
    let nodes_ready = wait(&ctx, || {
        let nodes = store.list(&NODES, None);
        !nodes.is_empty()
            && nodes.iter().all(|n| {
                is_ready(n)
                    || ctx
                        .faults
                        .node_not_ready(crate::controllers::object::name(n))
            })
    })
    .await;
    if !nodes_ready {
        return Ok(());
    }
    record(
        &store,
        &NAMESPACES,
        &kube_system,
        "sandbox-bootstrap",
        EventKind::Normal,
        "NodesReady",
        &format!("{} nodes are Ready", NODE_NAMES.len()),
    );

    install_longhorn(&ctx, &opts)?;
    let longhorn_up = wait(&ctx, || {
        let ds = store.get(&DAEMONSETS, Some(LONGHORN_NAMESPACE), "longhorn-manager");
        let dep = store.get(
            &DEPLOYMENTS,
            Some(LONGHORN_NAMESPACE),
            "longhorn-driver-deployer",
        );
        ds.is_some_and(|d| daemonset_ready(&d)) && dep.is_some_and(|d| deployment_available(&d))
    })
    .await;
    if !longhorn_up || !ctx.sleep(t.longhorn_ready).await {
        return Ok(());
    }
    let manager = store
        .get(&DAEMONSETS, Some(LONGHORN_NAMESPACE), "longhorn-manager")
        .unwrap_or(Value::Null);
    record(
        &store,
        &DAEMONSETS,
        &manager,
        "sandbox-bootstrap",
        EventKind::Normal,
        "LonghornReady",
        "Longhorn manager and CSI driver are Available",
    );

    create(
        &store,
        &LH_BACKUPTARGETS,
        json!({
            "apiVersion": "longhorn.io/v1beta2", "kind": "BackupTarget",
            "metadata": {"name": DEFAULT_BACKUP_TARGET, "namespace": LONGHORN_NAMESPACE},
            "spec": {
                "backupTargetURL": ctx.target.url,
                "credentialSecret": CREDENTIAL_SECRET,
                "pollInterval": "300s",
                "syncRequestedAt": null,
            },
            // before the first sync: Go's nil slice and zero metav1.Time marshal as null
            // (longhorn-manager@v1.9.1:k8s/pkg/apis/longhorn/v1beta2/backuptarget.go)
            "status": {"ownerID": "", "available": false, "conditions": null, "lastSyncedAt": null},
        }),
    )?;
    let available = wait(&ctx, || {
        store
            .get(
                &LH_BACKUPTARGETS,
                Some(LONGHORN_NAMESPACE),
                DEFAULT_BACKUP_TARGET,
            )
            .is_some_and(|bt| {
                crate::controllers::backup_target::is_available(&bt)
                    && str_at(&bt, "/status/lastSyncedAt").is_some()
            })
    })
    .await;
    if !available {
        return Ok(());
    }
    let bt = store
        .get(
            &LH_BACKUPTARGETS,
            Some(LONGHORN_NAMESPACE),
            DEFAULT_BACKUP_TARGET,
        )
        .unwrap_or(Value::Null);
    record(
        &store,
        &LH_BACKUPTARGETS,
        &bt,
        "sandbox-bootstrap",
        EventKind::Normal,
        "BackupTargetSynced",
        &format!("backup target {} is available and synced", ctx.target.url),
    );

    for ks in kustomizations() {
        create(&store, &FLUX_KUSTOMIZATIONS, ks)?;
    }
    let sentinel_ready = wait(&ctx, || {
        store
            .get(
                &FLUX_KUSTOMIZATIONS,
                Some(FLUX_NAMESPACE),
                SENTINEL_KUSTOMIZATION,
            )
            .is_some_and(|k| condition(&k, "Ready") == Some(true))
    })
    .await;
    if sentinel_ready {
        let ks = store
            .get(
                &FLUX_KUSTOMIZATIONS,
                Some(FLUX_NAMESPACE),
                SENTINEL_KUSTOMIZATION,
            )
            .unwrap_or(Value::Null);
        record(
            &store,
            &FLUX_KUSTOMIZATIONS,
            &ks,
            "sandbox-bootstrap",
            EventKind::Normal,
            "BootstrapComplete",
            "all Kustomizations are Ready",
        );
    }
    Ok(())
}

/// Polls `done` every controller tick until it holds (`true`) or the cluster goes away
/// (`false`).
async fn wait(ctx: &Ctx, mut done: impl FnMut() -> bool) -> bool {
    loop {
        if done() {
            return true;
        }
        if !ctx.sleep(ctx.timing.controller_tick).await {
            return false;
        }
    }
}

fn create(store: &Store, rt: &'static ResourceType, obj: Value) -> Result<(), ApiError> {
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(str::to_string);
    match store.create(rt, ns.as_deref(), obj) {
        Ok(_) => Ok(()),
        Err(e) if e.reason == "AlreadyExists" => Ok(()),
        Err(e) => Err(e),
    }
}

fn coredns() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": DNS_DEPLOYMENT, "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
            "template": {
                "metadata": {"labels": {"k8s-app": "kube-dns"}},
                "spec": {"containers": [{"name": "coredns", "image": "rancher/mirrored-coredns-coredns:1.12.0",
                                          "args": ["-conf", "/etc/coredns/Corefile"]}]},
            },
        },
    })
}

fn install_longhorn(ctx: &Ctx, opts: &BootstrapOptions) -> Result<(), ApiError> {
    let store = &ctx.store;
    let labels = json!({"app.kubernetes.io/name": "longhorn", "app.kubernetes.io/instance": "longhorn", "app.kubernetes.io/version": ctx.version.to_string()});
    create(
        store,
        &STORAGECLASSES,
        json!({
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}, "labels": labels},
            "provisioner": "driver.longhorn.io",
            "allowVolumeExpansion": true,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
            "parameters": {"numberOfReplicas": "3", "staleReplicaTimeout": "30", "fsType": "ext4", "dataLocality": "disabled"},
        }),
    )?;
    let data = json!({
        "AWS_ACCESS_KEY_ID": base64(&opts.access_key),
        "AWS_SECRET_ACCESS_KEY": base64(&opts.secret_key),
        "AWS_ENDPOINTS": base64(&opts.endpoint),
        "VIRTUAL_HOSTED_STYLE": base64("false"),
    });
    create(
        store,
        &SECRETS,
        json!({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": CREDENTIAL_SECRET, "namespace": LONGHORN_NAMESPACE},
            "data": data,
        }),
    )?;
    // longhorn-manager's REST API, reached through the API server's service proxy (revert).
    create(
        store,
        &crate::api::resources::SERVICES,
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": crate::controllers::manager::MANAGER_SERVICE, "namespace": LONGHORN_NAMESPACE, "labels": labels},
            "spec": {
                "type": "ClusterIP",
                "selector": {"app": "longhorn-manager"},
                "ports": [{"name": "manager", "port": crate::controllers::manager::MANAGER_PORT, "targetPort": "manager", "protocol": "TCP"}],
            },
        }),
    )?;
    let version = ctx.version;
    // `current-longhorn-version` carries the running release as `v1.9.1`
    // (longhorn-manager@v1.9.1:types/setting.go `SettingNameCurrentLonghornVersion`); the
    // harness reads the version from it on a real cluster
    let mut settings: Vec<(&str, String)> = vec![
        ("current-longhorn-version", version.to_string()),
        ("default-replica-count", "3".into()),
        ("backup-compression-method", "lz4".into()),
        ("storage-over-provisioning-percentage", "100".into()),
    ];
    if version.supports_backup_block_size() {
        // MiB, choices 2 and 16 (longhorn-manager@v1.10.1:types/setting.go)
        settings.push(("default-backup-block-size", "2".into()));
    }
    if !version.multiple_backup_targets() {
        // 1.7 configures the target by Settings; 1.8+ by the BackupTarget object alone
        settings.push(("backup-target", ctx.target.url.clone()));
        settings.push(("backup-target-credential-secret", CREDENTIAL_SECRET.into()));
        settings.push(("backupstore-poll-interval", "300".into()));
    }
    for (name, value) in settings {
        create(
            store,
            &LH_SETTINGS,
            json!({
                "apiVersion": "longhorn.io/v1beta2", "kind": "Setting",
                "metadata": {"name": name, "namespace": LONGHORN_NAMESPACE},
                "value": value,
                "status": {"applied": true},
            }),
        )?;
    }
    // The platform's recurring backup job (seed longhorn-minio-backup-restore): volumes opt in by
    // the group label `recurring-job-group.longhorn.io/backup-daily: enabled`. Stored, not run
    // on a schedule (see FIDELITY.md).
    create(
        store,
        &LH_RECURRINGJOBS,
        json!({
            "apiVersion": "longhorn.io/v1beta2", "kind": "RecurringJob",
            "metadata": {"name": "backup-daily", "namespace": LONGHORN_NAMESPACE, "labels": labels},
            "spec": {"name": "backup-daily", "task": "backup", "cron": "0 2 * * *", "groups": ["backup-daily"],
                     "retain": 7, "concurrency": 2, "labels": {}},
        }),
    )?;
    let workload = |kind: &str, name: &str, image: &str| {
        let mut obj = json!({
            "apiVersion": "apps/v1", "kind": kind,
            "metadata": {"name": name, "namespace": LONGHORN_NAMESPACE, "labels": labels},
            "spec": {
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"serviceAccountName": "longhorn-service-account",
                             "containers": [{"name": name, "image": image}]},
                },
            },
        });
        if kind == "Deployment" {
            obj["spec"]["replicas"] = json!(1);
        }
        obj
    };
    create(
        store,
        &DAEMONSETS,
        workload("DaemonSet", "longhorn-manager", &version.manager_image()),
    )?;
    create(
        store,
        &DEPLOYMENTS,
        workload(
            "Deployment",
            "longhorn-driver-deployer",
            &version.manager_image(),
        ),
    )?;
    create(
        store,
        &DEPLOYMENTS,
        workload("Deployment", "longhorn-ui", &version.ui_image()),
    )?;
    Ok(())
}

fn kustomizations() -> Vec<Value> {
    let ks = |name: &str, path: &str, depends: Option<&str>, extra: Value| {
        let mut obj = json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": FLUX_NAMESPACE},
            "spec": {
                "interval": "10m",
                "path": path,
                "prune": true,
                "wait": true,
                "timeout": "15m",
                "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
            },
        });
        if let Some(dep) = depends {
            obj["spec"]["dependsOn"] = json!([{"name": dep}]);
        }
        if let (Some(spec), Some(extra)) = (obj["spec"].as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                spec.insert(k.clone(), v.clone());
            }
        }
        obj
    };
    vec![
        ks(
            LONGHORN_KUSTOMIZATION,
            LONGHORN_PATH,
            None,
            json!({"healthChecks": [
                {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "longhorn-manager", "namespace": LONGHORN_NAMESPACE},
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": "longhorn-driver-deployer", "namespace": LONGHORN_NAMESPACE},
                {"apiVersion": "longhorn.io/v1beta2", "kind": "BackupTarget", "name": DEFAULT_BACKUP_TARGET, "namespace": LONGHORN_NAMESPACE},
            ]}),
        ),
        ks(
            ORCHESTRATOR_KUSTOMIZATION,
            ORCHESTRATOR_PATH,
            Some(LONGHORN_KUSTOMIZATION),
            json!({}),
        ),
        ks(
            SENTINEL_KUSTOMIZATION,
            SENTINEL_PATH,
            Some(ORCHESTRATOR_KUSTOMIZATION),
            json!({}),
        ),
    ]
}

/// Standard base64 with padding (Secret `data` values).
pub fn base64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// How long a sandbox bootstrap may take at most under `timing` before callers should give up
/// (used by `Sandbox::wait_ready`): generous multiples of every step.
pub fn expected_bootstrap(timing: &crate::timing::Timing) -> Duration {
    let steps = timing.cluster_create
        + timing.node_ready
        + timing.longhorn_ready
        + timing.backup_target_poll
        + timing.kustomization_step * 3
        + timing.pod_start * 4
        + timing.volume_create
        + timing.volume_attach
        + timing.restore_step * 2;
    steps * 5 + Duration::from_secs(30)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64(""), "");
        assert_eq!(base64("f"), "Zg==");
        assert_eq!(base64("fo"), "Zm8=");
        assert_eq!(base64("foo"), "Zm9v");
        assert_eq!(base64("foobar"), "Zm9vYmFy");
    }

    #[test]
    fn kustomizations_chain_longhorn_orchestrator_sentinel() {
        let ks = kustomizations();
        let names: Vec<&str> = ks.iter().map(crate::controllers::object::name).collect();
        assert_eq!(names, crate::names::KUSTOMIZATIONS);
        assert_eq!(ks[1]["spec"]["dependsOn"][0]["name"], names[0]);
        assert_eq!(ks[2]["spec"]["dependsOn"][0]["name"], names[1]);
        assert!(ks[0]["spec"]["healthChecks"]
            .as_array()
            .is_some_and(|h| h.len() == 3));
    }
}
