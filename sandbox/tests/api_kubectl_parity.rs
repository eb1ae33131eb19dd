//! The real `kubectl` against the sandbox API server for what users type by hand (issue 11
//! item 7): kube-apiserver's table columns for the built-in kinds, Longhorn CRDs listed and
//! printed without `--longhorn-crds`, `explain` from /openapi/v3, `get --raw` through the
//! kubeconfig's default (HTTPS) context and its plain-HTTP `-basic` context, `scale` of Deployments and StatefulSets, `auth can-i`, `auth whoami`, and
//! `apply --dry-run=server` of the kinds an ops-cluster deployment uses.
//! A missing kubectl fails under `CI=true` and is skipped (loudly) elsewhere.

#[path = "api_support.rs"]
mod support;

use dr_sandbox::api::resources::{
    CLUSTERROLES, CONFIGMAPS, CRONJOBS, DEPLOYMENTS, EVENTS, JOBS, NODES, PODS, PVCS, PVS,
    ROLEBINDINGS, ROLES, SERVICEACCOUNTS, STATEFULSETS,
};
use serde_json::json;
use support::{Env, Kubectl};

/// The header line with runs of spaces collapsed to one.
fn header(out: &str) -> String {
    out.lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The row starting with `name`, split on runs of 2+ spaces (kubectl's column gap).
fn row(out: &str, name: &str) -> Vec<String> {
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn seed(env: &Env) {
    let s = &env.store;
    env.ensure_ns("app");
    s.create(&NODES, None, json!({
        "metadata": {"name": "node-1", "labels": {"node-role.kubernetes.io/control-plane": "true"}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
                   "nodeInfo": {"kubeletVersion": "v1.33.0+sandbox"}}
    })).expect("node");
    s.create(&PODS, Some("app"), json!({
        "metadata": {"name": "web-0"},
        "spec": {"nodeName": "node-1", "containers": [{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}]},
        "status": {"phase": "Pending", "podIPs": [{"ip": "10.42.1.7"}], "containerStatuses": [
            {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
            {"name": "b", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]}
    })).expect("pod");
    s.create(&EVENTS, Some("app"), json!({
        "metadata": {"name": "claim.1"}, "type": "Warning", "reason": "VolumeMismatch",
        "message": "Cannot bind to requested volume", "count": 1,
        "involvedObject": {"kind": "PersistentVolumeClaim", "name": "claim", "namespace": "app"},
        "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z",
        "source": {"component": "persistentvolume-controller"}
    })).expect("event");
    s.create(
        &PVS,
        None,
        json!({
            "metadata": {"name": "pv-1"},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "longhorn",
                     "claimRef": {"namespace": "app", "name": "claim"}},
            "status": {"phase": "Bound"}
        }),
    )
    .expect("pv");
    s.create(&PVCS, Some("app"), json!({
        "metadata": {"name": "claim"},
        "spec": {"volumeName": "pv-1", "storageClassName": "longhorn", "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}
    })).expect("pvc");
    s.create(&DEPLOYMENTS, Some("app"), json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
        "status": {"replicas": 2, "readyReplicas": 1, "updatedReplicas": 2, "availableReplicas": 1}
    })).expect("deployment");
    s.create(&JOBS, Some("app"), json!({
        "metadata": {"name": "once"},
        "spec": {"completions": 1, "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}},
        "status": {"succeeded": 1, "startTime": "2026-01-01T00:00:00Z", "completionTime": "2026-01-01T00:00:42Z",
                   "conditions": [{"type": "Complete", "status": "True"}]}
    })).expect("job");
    s.create(&CRONJOBS, Some("app"), json!({
        "metadata": {"name": "nightly"},
        "spec": {"schedule": "0 2 * * *", "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}}
    })).expect("cronjob");
}

#[tokio::test]
async fn kubectl_get_prints_kube_apiserver_columns() {
    let env = Env::start().await;
    let Some(k) = Kubectl::new(&env) else { return };
    seed(&env);

    let nodes = k.ok(&["get", "nodes"]).await;
    assert_eq!(header(&nodes), "NAME STATUS ROLES AGE VERSION");
    let n = row(&nodes, "node-1");
    assert_eq!(
        (n[1].as_str(), n[2].as_str(), n[4].as_str()),
        ("Ready", "control-plane", "v1.33.0+sandbox"),
        "{nodes}"
    );

    let pods = k.ok(&["get", "pods", "-n", "app", "-o", "wide"]).await;
    assert_eq!(
        header(&pods),
        "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES"
    );
    let p = row(&pods, "web-0");
    assert_eq!(&p[1..4], ["1/2", "ContainerCreating", "0"], "{pods}");
    assert_eq!(
        &p[5..],
        ["10.42.1.7", "node-1", "<none>", "<none>"],
        "{pods}"
    );

    let events = k.ok(&["get", "events", "-n", "app"]).await;
    assert_eq!(header(&events), "LAST SEEN TYPE REASON OBJECT MESSAGE");
    assert!(
        events.contains("Warning")
            && events.contains("VolumeMismatch")
            && events.contains("persistentvolumeclaim/claim")
            && events.contains("Cannot bind to requested volume"),
        "{events}"
    );

    let pvcs = k.ok(&["get", "pvc", "-n", "app"]).await;
    assert_eq!(
        header(&pvcs),
        "NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE"
    );
    assert_eq!(
        &row(&pvcs, "claim")[1..7],
        ["Bound", "pv-1", "1Gi", "RWO", "longhorn", "<unset>"]
    );

    let pvs = k.ok(&["get", "pv"]).await;
    assert_eq!(
        header(&pvs),
        "NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS VOLUMEATTRIBUTESCLASS REASON AGE"
    );
    assert!(
        row(&pvs, "pv-1").contains(&"app/claim".to_string()),
        "{pvs}"
    );

    let ns = k.ok(&["get", "ns"]).await;
    assert_eq!(header(&ns), "NAME STATUS AGE");

    let deploys = k.ok(&["get", "deploy", "-n", "app"]).await;
    assert_eq!(header(&deploys), "NAME READY UP-TO-DATE AVAILABLE AGE");
    assert_eq!(&row(&deploys, "web")[1..4], ["1/2", "2", "1"]);

    let jobs = k.ok(&["get", "jobs", "-n", "app"]).await;
    assert_eq!(header(&jobs), "NAME STATUS COMPLETIONS DURATION AGE");
    assert_eq!(&row(&jobs, "once")[1..4], ["Complete", "1/1", "42s"]);

    let cronjobs = k.ok(&["get", "cronjobs", "-n", "app"]).await;
    assert_eq!(
        header(&cronjobs),
        "NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE"
    );
    assert_eq!(
        &row(&cronjobs, "nightly")[1..6],
        ["0 2 * * *", "<none>", "<unset>", "0", "<none>"]
    );

    // RBAC: roles have no printer upstream (the default convertor's Name / Created At),
    // bindings print their role and, wide, their subjects by kind.
    env.store
        .create(
            &CLUSTERROLES,
            None,
            json!({
                "metadata": {"name": "reader"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
            }),
        )
        .expect("clusterrole");
    env.store
        .create(&ROLEBINDINGS, Some("app"), json!({
            "metadata": {"name": "read"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "reader"},
            "subjects": [
                {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
                {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "ops"},
                {"kind": "ServiceAccount", "name": "robot", "namespace": "app"}]
        }))
        .expect("rolebinding");
    let roles = k.ok(&["get", "clusterrole", "reader"]).await;
    assert_eq!(header(&roles), "NAME CREATED AT");
    let created = &row(&roles, "reader")[1];
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok() && created.ends_with('Z'),
        "{roles}"
    );
    let bindings = k
        .ok(&["get", "rolebinding", "-n", "app", "-o", "wide"])
        .await;
    assert_eq!(
        header(&bindings),
        "NAME ROLE AGE USERS GROUPS SERVICEACCOUNTS"
    );
    let b = row(&bindings, "read");
    assert_eq!(b[1], "ClusterRole/reader", "{bindings}");
    assert_eq!(&b[3..], ["alice", "ops", "app/robot"], "{bindings}");
}

#[tokio::test]
async fn kubectl_lists_and_prints_longhorn_crds_without_a_manifest() {
    let env = Env::start().await;
    let Some(k) = Kubectl::new(&env) else { return };
    env.ensure_ns("longhorn-system");
    env.store
        .create(
            &dr_sandbox::api::resources::LH_VOLUMES,
            Some("longhorn-system"),
            json!({"metadata": {"name": "vol-1"}, "spec": {"size": "1073741824", "dataEngine": "v1"},
                   "status": {"state": "attached", "robustness": "healthy", "currentNodeID": "node-1"}}),
        )
        .expect("volume");
    let crds = k.ok(&["get", "crd"]).await;
    assert_eq!(header(&crds), "NAME CREATED AT");
    for name in [
        "volumes.longhorn.io",
        "backups.longhorn.io",
        "backupvolumes.longhorn.io",
    ] {
        assert!(crds.contains(name), "{name} missing:\n{crds}");
    }
    let vols = k
        .ok(&["get", "volumes.longhorn.io", "-n", "longhorn-system"])
        .await;
    assert_eq!(
        header(&vols),
        "NAME DATA ENGINE STATE ROBUSTNESS SCHEDULED SIZE NODE AGE"
    );
    let v = row(&vols, "vol-1");
    assert_eq!(&v[1..4], ["v1", "attached", "healthy"], "{vols}");
}

#[tokio::test]
async fn kubectl_explain_and_raw_openapi() {
    let env = Env::start().await;
    let Some(k) = Kubectl::new(&env) else { return };
    let pod = k.ok(&["explain", "pod"]).await;
    assert!(
        pod.contains("KIND:       Pod") && pod.contains("VERSION:    v1"),
        "{pod}"
    );
    assert!(pod.contains("Pod is a collection of containers"), "{pod}");
    let spec = k.ok(&["explain", "pvc.spec"]).await;
    assert!(
        spec.contains("FIELD: spec <PersistentVolumeClaimSpec>"),
        "{spec}"
    );
    assert!(spec.contains("storageClassName"), "{spec}");
    let vol = k.ok(&["explain", "volumes.longhorn.io"]).await;
    assert!(
        vol.contains("GROUP:      longhorn.io") && vol.contains("KIND:       Volume"),
        "{vol}"
    );

    // The default context (HTTPS, bearer token) serves --raw, which replaces the URL's path.
    let v2 = k.ok(&["get", "--raw", "/openapi/v2"]).await;
    let v2: serde_json::Value = serde_json::from_str(&v2).expect("openapi v2 is JSON");
    assert_eq!(v2["swagger"], "2.0");
    // The -basic context (plain HTTP, token as URL user info) still works for older callers.
    let nss = k
        .ok(&[
            "--context",
            "sandbox-basic",
            "get",
            "--raw",
            "/api/v1/namespaces",
        ])
        .await;
    assert!(nss.contains("\"NamespaceList\""), "{nss}");
    // Plain HTTP without user info: client-go sends no credentials, refused with a hint.
    let plain = env.server.url();
    let (ok, _, err) = k
        .run(&[
            "--context",
            "sandbox-basic",
            "--server",
            &plain,
            "get",
            "--raw",
            "/api/v1/namespaces",
        ])
        .await;
    assert!(
        !ok && err.contains("Unauthorized") && err.contains("default context"),
        "{err}"
    );
}

#[tokio::test]
async fn kubectl_scale_and_auth() {
    let env = Env::start().await;
    let Some(k) = Kubectl::new(&env) else { return };
    seed(&env);
    let out = k
        .ok(&["-n", "app", "scale", "deploy", "web", "--replicas=0"])
        .await;
    assert!(out.contains("deployment.apps/web scaled"), "{out}");
    let d = env.store.get(&DEPLOYMENTS, Some("app"), "web");
    assert_eq!(d.map(|d| d["spec"]["replicas"].clone()), Some(json!(0)));
    let (ok, _, err) = k
        .run(&["-n", "app", "scale", "deploy", "nope", "--replicas=1"])
        .await;
    assert!(!ok && err.contains("not found"), "{err}");

    // StatefulSets have the scale subresource too (kube-apiserver's statefulset ScaleREST).
    env.store
        .create(&STATEFULSETS, Some("app"), json!({
            "metadata": {"name": "db"},
            "spec": {"replicas": 1, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                     "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
            "status": {"replicas": 1, "readyReplicas": 1}
        }))
        .expect("statefulset");
    let out = k
        .ok(&["-n", "app", "scale", "statefulset", "db", "--replicas=3"])
        .await;
    assert!(out.contains("statefulset.apps/db scaled"), "{out}");
    let sts = env.store.get(&STATEFULSETS, Some("app"), "db");
    assert_eq!(sts.map(|s| s["spec"]["replicas"].clone()), Some(json!(3)));
    let (ok, _, err) = k
        .run(&["-n", "app", "scale", "sts", "db", "--replicas=-1"])
        .await;
    assert!(!ok && err.contains("replicas"), "{err}");
    let get = k.ok(&["-n", "app", "get", "sts"]).await;
    assert_eq!(header(&get), "NAME READY AGE", "{get}");
    assert_eq!(
        row(&get, "db").get(1).map(String::as_str),
        Some("1/3"),
        "{get}"
    );

    let can = k.ok(&["auth", "can-i", "*", "*"]).await;
    assert_eq!(can.trim(), "yes");
    let who = k.ok(&["auth", "whoami"]).await;
    assert!(
        who.contains("sandbox-admin") && who.contains("system:masters"),
        "{who}"
    );
}

#[tokio::test]
async fn kubectl_apply_server_dry_run_of_ops_manifests_stores_nothing() {
    let env = Env::start().await;
    let Some(k) = Kubectl::new(&env) else { return };
    env.ensure_ns("dr-ops");
    let dir = tempfile::tempdir().expect("dir");
    let manifests = [
        ("sa.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: dr-harness, namespace: dr-ops}\n"),
        ("role.yaml", "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: dr-harness, namespace: dr-ops}\nrules:\n- apiGroups: [longhorn.io]\n  resources: [backups, backupvolumes]\n  verbs: [get, list, watch]\n"),
        ("binding.yaml", "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: dr-harness, namespace: dr-ops}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: dr-harness}\nsubjects:\n- {kind: ServiceAccount, name: dr-harness, namespace: dr-ops}\n"),
        ("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dr-profile, namespace: dr-ops}\ndata: {profile.toml: \"x = 1\"}\n"),
        ("secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: s3, namespace: dr-ops}\ntype: Opaque\nstringData: {AWS_ACCESS_KEY_ID: k}\n"),
        ("cronjob.yaml", "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: verify, namespace: dr-ops}\nspec:\n  schedule: \"0 2 * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          serviceAccountName: dr-harness\n          containers:\n          - {name: verify, image: dr-harness, args: [verify-backup, --all-volumes]}\n"),
        ("job.yaml", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: shard, namespace: dr-ops}\nspec:\n  completionMode: Indexed\n  completions: 2\n  parallelism: 2\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - {name: verify, image: dr-harness, args: [verify-backup, --shard, \"$(JOB_COMPLETION_INDEX)/2\"]}\n"),
    ];
    for (file, text) in manifests {
        std::fs::write(dir.path().join(file), text).expect("write manifest");
    }
    let path = dir.path().to_string_lossy().into_owned();
    let out = k.ok(&["apply", "--dry-run=server", "-f", &path]).await;
    for shown in [
        "serviceaccount/dr-harness created (server dry run)",
        "role.rbac.authorization.k8s.io/dr-harness created (server dry run)",
        "rolebinding.rbac.authorization.k8s.io/dr-harness created (server dry run)",
        "configmap/dr-profile created (server dry run)",
        "secret/s3 created (server dry run)",
        "cronjob.batch/verify created (server dry run)",
        "job.batch/shard created (server dry run)",
    ] {
        assert!(out.contains(shown), "{shown} missing:\n{out}");
    }
    assert!(env.store.list(&SERVICEACCOUNTS, Some("dr-ops")).is_empty());
    assert!(env.store.list(&ROLES, Some("dr-ops")).is_empty());
    assert!(env.store.list(&CONFIGMAPS, Some("dr-ops")).is_empty());
    assert!(env.store.list(&CRONJOBS, Some("dr-ops")).is_empty());
    assert!(env.store.list(&JOBS, Some("dr-ops")).is_empty());
}
