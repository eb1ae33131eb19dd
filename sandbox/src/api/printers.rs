//! kube-apiserver's table printers for the built-in kinds the sandbox serves: the columns and
//! cells `kubectl get` shows, following kubernetes@v1.32 `pkg/printers/internalversion/printers.go`
//! (`AddHandlers` and the `print<Kind>` functions). As in the API server, every column is
//! sent, wide ones (`priority: 1`) included; kubectl hides those without `-o wide`.
//!
//! Ages and durations use apimachinery's `HumanDuration` ([`human_duration`]). Kinds without
//! a printer upstream (Role, ClusterRole, CustomResourceDefinition) get the API server's default
//! table convertor: Name and Created At, an RFC 3339 UTC time (kubernetes/apiserver@v0.32.13:
//! pkg/registry/rest/table.go `defaultTableConvertor`; apiextensions-apiserver@v0.32.13:
//! pkg/registry/customresourcedefinition/etcd.go). Cells the sandbox never fills (pod IPs,
//! node addresses) print what the upstream printer prints for an empty field.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::crd::columns::human_duration;
use super::resources::{self, ResourceType};

/// One column definition: `(name, type, priority, description)`.
type ColDef = (&'static str, &'static str, i64, &'static str);

/// A printer: its columns (after NAME) and the function computing a row's cells (after NAME).
type Printer = (&'static [ColDef], fn(&Value, DateTime<Utc>) -> Vec<Value>);

/// `metav1.ObjectMeta`'s swagger doc of `creationTimestamp` (both the Age and the Created At
/// columns carry it).
const CREATION_TIMESTAMP_DOC: &str =
    "CreationTimestamp is a timestamp representing the server time when this object was created.";

const AGE: ColDef = ("Age", "string", 0, CREATION_TIMESTAMP_DOC);

/// The default table convertor's second column (kubernetes/apiserver@v0.32.13:
/// pkg/registry/rest/table.go).
const CREATED_AT: ColDef = ("Created At", "date", 0, CREATION_TIMESTAMP_DOC);

/// `roleBindingsColumnDefinitions` and `clusterRoleBindingsColumnDefinitions` (the same
/// columns; descriptions from rbac/v1beta1 `RoleBinding`'s `roleRef`).
const ROLEBINDING_COLS: &[ColDef] = &[
    ("Role", "string", 0, "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error."),
    AGE,
    ("Users", "string", 1, "Users in the roleBinding"),
    ("Groups", "string", 1, "Groups in the roleBinding"),
    ("ServiceAccounts", "string", 1, "ServiceAccounts in the roleBinding"),
];

const POD_COLS: &[ColDef] = &[
    ("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic."),
    ("Status", "string", 0, "The aggregate status of the containers in this pod."),
    ("Restarts", "string", 0, "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
    AGE,
    ("IP", "string", 1, "podIP address allocated to the pod."),
    ("Node", "string", 1, "NodeName indicates in which node this pod is scheduled."),
    ("Nominated Node", "string", 1, "nominatedNodeName is set only when this pod preempts other pods on the node."),
    ("Readiness Gates", "string", 1, "If specified, all readiness gates will be evaluated for pod readiness."),
];

const NODE_COLS: &[ColDef] = &[
    ("Status", "string", 0, "The status of the node"),
    ("Roles", "string", 0, "The roles of the node"),
    AGE,
    ("Version", "string", 0, "Kubelet Version reported by the node."),
    ("Internal-IP", "string", 1, "List of addresses reachable to the node."),
    ("External-IP", "string", 1, "List of addresses reachable to the node."),
    ("OS-Image", "string", 1, "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
    ("Kernel-Version", "string", 1, "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
    ("Container-Runtime", "string", 1, "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2)."),
];

/// Events start with LAST SEEN, not NAME: see [`columns`].
const EVENT_COLS: &[ColDef] = &[
    ("Last Seen", "string", 0, "The time at which the most recent occurrence of this event was recorded."),
    ("Type", "string", 0, "Type of this event (Normal, Warning), new types could be added in the future"),
    ("Reason", "string", 0, "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
    ("Object", "string", 0, "The object that this event is about."),
    ("Subobject", "string", 1, "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement."),
    ("Source", "string", 1, "The component reporting this event. Should be a short machine understandable string."),
    ("Message", "string", 0, "A human-readable description of the status of this operation."),
    ("First Seen", "string", 1, "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)"),
    ("Count", "string", 1, "The number of times this event has occurred."),
    ("Name", "string", 1, "Name must be unique within a namespace."),
];

const NAMESPACE_COLS: &[ColDef] = &[("Status", "string", 0, "The status of the namespace"), AGE];

const PV_COLS: &[ColDef] = &[
    ("Capacity", "string", 0, "capacity is the description of the persistent volume's resources and capacity."),
    ("Access Modes", "string", 0, "accessModes contains all ways the volume can be mounted."),
    ("Reclaim Policy", "string", 0, "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim."),
    ("Status", "string", 0, "phase indicates if a volume is available, bound to a claim, or released by a claim."),
    ("Claim", "string", 0, "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim."),
    ("StorageClass", "string", 0, "StorageClass of the pv"),
    ("VolumeAttributesClass", "string", 0, "VolumeAttributesClass of the pv"),
    ("Reason", "string", 0, "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI."),
    AGE,
    ("VolumeMode", "string", 1, "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state."),
];

const PVC_COLS: &[ColDef] = &[
    (
        "Status",
        "string",
        0,
        "phase represents the current phase of PersistentVolumeClaim.",
    ),
    (
        "Volume",
        "string",
        0,
        "volumeName is the binding reference to the PersistentVolume backing this claim.",
    ),
    (
        "Capacity",
        "string",
        0,
        "capacity represents the actual resources of the underlying volume.",
    ),
    (
        "Access Modes",
        "string",
        0,
        "accessModes contains the actual access modes the volume backing the PVC has.",
    ),
    ("StorageClass", "string", 0, "StorageClass of the pvc"),
    (
        "VolumeAttributesClass",
        "string",
        0,
        "VolumeAttributesClass of the pvc",
    ),
    AGE,
    (
        "VolumeMode",
        "string",
        1,
        "volumeMode defines what type of volume is required by the claim.",
    ),
];

const TEMPLATE_WIDE: [ColDef; 3] = [
    (
        "Containers",
        "string",
        1,
        "Names of each container in the template.",
    ),
    (
        "Images",
        "string",
        1,
        "Images referenced by each container in the template.",
    ),
    ("Selector", "string", 1, "Label selector for pods."),
];

const DEPLOYMENT_COLS: &[ColDef] = &[
    ("Ready", "string", 0, "Number of the pod with ready state"),
    ("Up-to-date", "string", 0, "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
    ("Available", "string", 0, "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
    AGE,
    TEMPLATE_WIDE[0],
    TEMPLATE_WIDE[1],
    TEMPLATE_WIDE[2],
];

const STATEFULSET_COLS: &[ColDef] = &[
    ("Ready", "string", 0, "Number of the pod with ready state"),
    AGE,
    TEMPLATE_WIDE[0],
    TEMPLATE_WIDE[1],
];

const DAEMONSET_COLS: &[ColDef] = &[
    ("Desired", "integer", 0, "The total number of nodes that should be running the daemon pod."),
    ("Current", "integer", 0, "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod."),
    ("Ready", "integer", 0, "numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition."),
    ("Up-to-date", "integer", 0, "The total number of nodes that are running updated daemon pod"),
    ("Available", "integer", 0, "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available."),
    ("Node Selector", "string", 0, "NodeSelector is a selector which must be true for the pod to fit on a node."),
    AGE,
    TEMPLATE_WIDE[0],
    TEMPLATE_WIDE[1],
    TEMPLATE_WIDE[2],
];

const JOB_COLS: &[ColDef] = &[
    ("Status", "string", 0, "Status of the job."),
    (
        "Completions",
        "string",
        0,
        "The number of pods which reached phase Succeeded.",
    ),
    (
        "Duration",
        "string",
        0,
        "Time required to complete the job.",
    ),
    AGE,
    TEMPLATE_WIDE[0],
    TEMPLATE_WIDE[1],
    TEMPLATE_WIDE[2],
];

const CRONJOB_COLS: &[ColDef] = &[
    ("Schedule", "string", 0, "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
    ("Timezone", "string", 0, "The time zone name for the given schedule."),
    ("Suspend", "boolean", 0, "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions."),
    ("Active", "integer", 0, "A list of pointers to currently running jobs."),
    ("Last Schedule", "string", 0, "Information when was the last time the job was successfully scheduled."),
    AGE,
    TEMPLATE_WIDE[0],
    TEMPLATE_WIDE[1],
    TEMPLATE_WIDE[2],
];

const CONFIGMAP_COLS: &[ColDef] = &[
    ("Data", "string", 0, "Data contains the configuration data."),
    AGE,
];

const SECRET_COLS: &[ColDef] = &[
    (
        "Type",
        "string",
        0,
        "Used to facilitate programmatic handling of secret data.",
    ),
    ("Data", "string", 0, "Data contains the secret data."),
    AGE,
];

const SERVICEACCOUNT_COLS: &[ColDef] = &[
    ("Secrets", "string", 0, "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use."),
    AGE,
];

const STORAGECLASS_COLS: &[ColDef] = &[
    ("Provisioner", "string", 0, "provisioner indicates the type of the provisioner."),
    ("ReclaimPolicy", "string", 0, "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class."),
    ("VolumeBindingMode", "string", 0, "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound."),
    ("AllowVolumeExpansion", "string", 0, "allowVolumeExpansion shows whether the storage class allow volume expand."),
    AGE,
];

const SERVICE_COLS: &[ColDef] = &[
    ("Type", "string", 0, "type determines how the Service is exposed."),
    ("Cluster-IP", "string", 0, "clusterIP is the IP address of the service and is usually assigned randomly."),
    ("External-IP", "string", 0, "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
    ("Port(s)", "string", 0, "The list of ports that are exposed by this service."),
    AGE,
    ("Selector", "string", 1, "Route service traffic to pods with label keys and values matching this selector."),
];

/// The printer for a built-in kind, `None` for kinds printed as NAME/AGE.
fn printer(rt: &ResourceType) -> Option<Printer> {
    let is = |other: &ResourceType| std::ptr::eq(rt, other);
    Some(if is(&resources::PODS) {
        (POD_COLS, pod_cells)
    } else if is(&resources::NODES) {
        (NODE_COLS, node_cells)
    } else if is(&resources::EVENTS) {
        (EVENT_COLS, event_cells)
    } else if is(&resources::NAMESPACES) {
        (NAMESPACE_COLS, namespace_cells)
    } else if is(&resources::PVS) {
        (PV_COLS, pv_cells)
    } else if is(&resources::PVCS) {
        (PVC_COLS, pvc_cells)
    } else if is(&resources::DEPLOYMENTS) {
        (DEPLOYMENT_COLS, deployment_cells)
    } else if is(&resources::STATEFULSETS) {
        (STATEFULSET_COLS, statefulset_cells)
    } else if is(&resources::DAEMONSETS) {
        (DAEMONSET_COLS, daemonset_cells)
    } else if is(&resources::JOBS) {
        (JOB_COLS, job_cells)
    } else if is(&resources::CRONJOBS) {
        (CRONJOB_COLS, cronjob_cells)
    } else if is(&resources::CONFIGMAPS) {
        (CONFIGMAP_COLS, configmap_cells)
    } else if is(&resources::SECRETS) {
        (SECRET_COLS, secret_cells)
    } else if is(&resources::SERVICEACCOUNTS) {
        (SERVICEACCOUNT_COLS, serviceaccount_cells)
    } else if is(&resources::STORAGECLASSES) {
        (STORAGECLASS_COLS, storageclass_cells)
    } else if is(&resources::SERVICES) {
        (SERVICE_COLS, service_cells)
    } else if is(&resources::ROLEBINDINGS) || is(&resources::CLUSTERROLEBINDINGS) {
        (ROLEBINDING_COLS, rolebinding_cells)
    } else {
        return None;
    })
}

/// The Name column every table starts with (events: a wide one at the end).
pub(super) fn name_def() -> Value {
    json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0})
}

/// The column definitions of `rt`'s table (NAME first, except for events whose NAME is a wide
/// column at the end, as upstream).
pub fn columns(rt: &ResourceType) -> Vec<Value> {
    let Some((cols, _)) = printer(rt) else {
        return vec![name_def(), column(&CREATED_AT)];
    };
    let mut out = Vec::new();
    if !std::ptr::eq(rt, &resources::EVENTS) {
        out.push(name_def());
    }
    out.extend(cols.iter().map(column));
    out
}

fn column(c: &ColDef) -> Value {
    let format = if c.0 == "Name" { "name" } else { "" };
    json!({"name": c.0, "type": c.1, "format": format, "description": c.3, "priority": c.2})
}

/// The cells of `obj`'s row, in [`columns`] order; `now` for ages.
pub fn cells(rt: &ResourceType, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut name = json!(s(obj, "/metadata/name"));
    // printStorageClass marks the default class in the NAME cell.
    if std::ptr::eq(rt, &resources::STORAGECLASSES) && is_default_class(obj) {
        name = json!(format!("{} (default)", s(obj, "/metadata/name")));
    }
    match printer(rt) {
        None => vec![name, json!(created_at(obj))],
        Some((_, f)) if std::ptr::eq(rt, &resources::EVENTS) => f(obj, now),
        Some((_, f)) => {
            let mut out = vec![name];
            out.extend(f(obj, now));
            out
        }
    }
}

fn s<'a>(obj: &'a Value, ptr: &str) -> &'a str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn n(obj: &Value, ptr: &str) -> i64 {
    obj.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn arr<'a>(obj: &'a Value, ptr: &str) -> &'a [Value] {
    obj.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn or<'a>(v: &'a str, default: &'a str) -> &'a str {
    if v.is_empty() {
        default
    } else {
        v
    }
}

fn parse_time(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `translateTimestampSince`: `<unknown>` for a missing time.
fn since(t: &str, now: DateTime<Utc>) -> String {
    parse_time(t).map_or_else(|| "<unknown>".into(), |t| human_duration(now - t))
}

fn age(obj: &Value, now: DateTime<Utc>) -> String {
    since(s(obj, "/metadata/creationTimestamp"), now)
}

/// The default table convertor's cell: `creationTimestamp` in UTC, RFC 3339, whole seconds.
fn created_at(obj: &Value) -> String {
    // Go formats the zero time for a missing timestamp.
    parse_time(s(obj, "/metadata/creationTimestamp")).map_or_else(
        || "0001-01-01T00:00:00Z".to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// `printRoleBinding` / `printClusterRoleBinding` (kubernetes@v1.32:pkg/printers/
/// internalversion/printers.go): `<kind>/<name>` of the role, the age, then the subjects by
/// kind (`rbac.SubjectsStrings`, pkg/apis/rbac/helpers.go: users and groups by name, service
/// accounts as `namespace/name`), each list joined with ", ".
fn rolebinding_cells(b: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let role = format!("{}/{}", s(b, "/roleRef/kind"), s(b, "/roleRef/name"));
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for subject in arr(b, "/subjects") {
        let name = s(subject, "/name");
        match s(subject, "/kind") {
            "ServiceAccount" => sas.push(format!("{}/{name}", s(subject, "/namespace"))),
            "User" => users.push(name.to_string()),
            "Group" => groups.push(name.to_string()),
            _ => {}
        }
    }
    vec![
        json!(role),
        json!(age(b, now)),
        json!(users.join(", ")),
        json!(groups.join(", ")),
        json!(sas.join(", ")),
    ]
}

fn deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

/// `printPod`: READY ready/total, STATUS the reason logic (phase, `status.reason`, then the
/// containers' waiting/terminated reasons, last container first), RESTARTS with the last
/// restart's age, AGE; wide IP, NODE, NOMINATED NODE, READINESS GATES. Init containers are
/// only counted (the sandbox runs none).
fn pod_cells(pod: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let total = arr(pod, "/spec/containers").len();
    let phase = s(pod, "/status/phase");
    let mut reason = or(s(pod, "/status/reason"), phase).to_string();
    let mut ready = 0;
    let mut restarts = 0;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut has_running = false;
    for c in arr(pod, "/status/containerStatuses").iter().rev() {
        restarts += n(c, "/restartCount");
        if let Some(t) = parse_time(s(c, "/lastState/terminated/finishedAt")) {
            last_restart = Some(last_restart.map_or(t, |l| l.max(t)));
        }
        let waiting = s(c, "/state/waiting/reason");
        let terminated = c.pointer("/state/terminated");
        if !waiting.is_empty() {
            reason = waiting.to_string();
        } else if let Some(t) = terminated {
            let r = s(t, "/reason");
            reason = if !r.is_empty() {
                r.to_string()
            } else if n(t, "/signal") != 0 {
                format!("Signal:{}", n(t, "/signal"))
            } else {
                format!("ExitCode:{}", n(t, "/exitCode"))
            };
        } else if c.get("ready").and_then(Value::as_bool) == Some(true)
            && c.pointer("/state/running").is_some()
        {
            has_running = true;
            ready += 1;
        }
    }
    if reason == "Completed" && has_running {
        let pod_ready = arr(pod, "/status/conditions")
            .iter()
            .any(|c| s(c, "/type") == "Ready" && s(c, "/status") == "True");
        reason = if pod_ready { "Running" } else { "NotReady" }.into();
    }
    if deleting(pod) && !matches!(phase, "Succeeded" | "Failed") {
        reason = "Terminating".into();
    }
    let restarts = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", human_duration(now - t)),
        _ => restarts.to_string(),
    };
    let gates = arr(pod, "/spec/readinessGates");
    let gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conds = arr(pod, "/status/conditions");
        let ok = gates
            .iter()
            .filter(|g| {
                conds
                    .iter()
                    .any(|c| s(c, "/type") == s(g, "/conditionType") && s(c, "/status") == "True")
            })
            .count();
        format!("{ok}/{}", gates.len())
    };
    vec![
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts),
        json!(age(pod, now)),
        json!(or(s(pod, "/status/podIPs/0/ip"), "<none>")),
        json!(or(s(pod, "/spec/nodeName"), "<none>")),
        json!(or(s(pod, "/status/nominatedNodeName"), "<none>")),
        json!(gates),
    ]
}

/// `printNode`: STATUS from the `Ready` condition (`Ready`/`NotReady`/`Unknown`, plus
/// `SchedulingDisabled`), ROLES from `node-role.kubernetes.io/<role>` and `kubernetes.io/role`
/// labels, VERSION the kubelet's.
fn node_cells(node: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let ready = arr(node, "/status/conditions")
        .iter()
        .find(|c| s(c, "/type") == "Ready")
        .map(|c| {
            if s(c, "/status") == "True" {
                "Ready"
            } else {
                "NotReady"
            }
        });
    let mut status = vec![ready.unwrap_or("Unknown")];
    if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled");
    }
    let mut roles: Vec<String> = node
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| {
                    if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                        (!role.is_empty()).then(|| role.to_string())
                    } else if k == "kubernetes.io/role" {
                        v.as_str().filter(|r| !r.is_empty()).map(str::to_string)
                    } else {
                        None
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    roles.dedup();
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    };
    let address = |kind: &str| {
        arr(node, "/status/addresses")
            .iter()
            .find(|a| s(a, "/type") == kind)
            .map_or("<none>", |a| s(a, "/address"))
            .to_string()
    };
    vec![
        json!(status.join(",")),
        json!(roles),
        json!(age(node, now)),
        json!(s(node, "/status/nodeInfo/kubeletVersion")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(or(s(node, "/status/nodeInfo/osImage"), "<unknown>")),
        json!(or(s(node, "/status/nodeInfo/kernelVersion"), "<unknown>")),
        json!(or(
            s(node, "/status/nodeInfo/containerRuntimeVersion"),
            "<unknown>"
        )),
    ]
}

/// `printEvent`: LAST SEEN (`lastTimestamp`, else the first), TYPE, REASON, OBJECT
/// `kind/name` in lower case, MESSAGE trimmed; wide SUBOBJECT, SOURCE, FIRST SEEN (`eventTime`
/// when `firstTimestamp` is unset), COUNT (1 when unset), NAME.
fn event_cells(ev: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let first = match s(ev, "/firstTimestamp") {
        "" => since(s(ev, "/eventTime"), now),
        t => since(t, now),
    };
    let mut last = match s(ev, "/lastTimestamp") {
        "" => first.clone(),
        t => since(t, now),
    };
    let mut count = n(ev, "/count");
    if let Some(series) = ev.get("series").filter(|v| v.is_object()) {
        last = since(s(series, "/lastObservedTime"), now);
        count = n(series, "/count");
    } else if count == 0 {
        count = 1;
    }
    let kind = s(ev, "/involvedObject/kind").to_lowercase();
    let target = match s(ev, "/involvedObject/name") {
        "" => kind,
        name => format!("{kind}/{name}"),
    };
    let component = s(ev, "/source/component");
    let source = if component.is_empty() {
        let ctrl = s(ev, "/reportingController");
        match s(ev, "/reportingInstance") {
            "" => ctrl.to_string(),
            inst => format!("{ctrl}, {inst}"),
        }
    } else {
        match s(ev, "/source/host") {
            "" => component.to_string(),
            host => format!("{component}, {host}"),
        }
    };
    vec![
        json!(last),
        json!(s(ev, "/type")),
        json!(s(ev, "/reason")),
        json!(target),
        json!(s(ev, "/involvedObject/fieldPath")),
        json!(source),
        json!(s(ev, "/message").trim()),
        json!(first),
        json!(count),
        json!(s(ev, "/metadata/name")),
    ]
}

fn namespace_cells(ns: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![json!(s(ns, "/status/phase")), json!(age(ns, now))]
}

/// `GetAccessModesAsString`: RWO, ROX, RWX, RWOP in that order, comma-joined.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(m, _)| has(m))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

fn phase_or_terminating(obj: &Value) -> &str {
    if deleting(obj) {
        "Terminating"
    } else {
        s(obj, "/status/phase")
    }
}

/// `printPersistentVolume`: CLAIM `namespace/name`, VOLUMEATTRIBUTESCLASS `<unset>` when none.
fn pv_cells(pv: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let claim = match s(pv, "/spec/claimRef/name") {
        "" => String::new(),
        name => format!("{}/{name}", s(pv, "/spec/claimRef/namespace")),
    };
    vec![
        json!(s(pv, "/spec/capacity/storage")),
        json!(access_modes(arr(pv, "/spec/accessModes"))),
        json!(s(pv, "/spec/persistentVolumeReclaimPolicy")),
        json!(phase_or_terminating(pv)),
        json!(claim),
        json!(s(pv, "/spec/storageClassName")),
        json!(or(s(pv, "/spec/volumeAttributesClassName"), "<unset>")),
        json!(s(pv, "/status/reason")),
        json!(age(pv, now)),
        json!(or(s(pv, "/spec/volumeMode"), "<unset>")),
    ]
}

/// `printPersistentVolumeClaim`: CAPACITY and ACCESS MODES from the status, only once the claim
/// names a volume.
fn pvc_cells(pvc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let volume = s(pvc, "/spec/volumeName");
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            s(pvc, "/status/capacity/storage").to_string(),
            access_modes(arr(pvc, "/status/accessModes")),
        )
    };
    vec![
        json!(phase_or_terminating(pvc)),
        json!(volume),
        json!(capacity),
        json!(modes),
        json!(s(pvc, "/spec/storageClassName")),
        json!(or(s(pvc, "/spec/volumeAttributesClassName"), "<unset>")),
        json!(age(pvc, now)),
        json!(or(s(pvc, "/spec/volumeMode"), "<unset>")),
    ]
}

/// `layoutContainerCells`: container names and images, comma-joined.
fn containers(obj: &Value, template: &str) -> (String, String) {
    let list = arr(obj, template);
    let names: Vec<&str> = list.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = list.iter().map(|c| s(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// `metav1.FormatLabelSelector`: `k=v,k2=v2` of `matchLabels` (expressions as `k in (a,b)`),
/// `<none>` when empty.
fn selector(obj: &Value, ptr: &str) -> String {
    let Some(sel) = obj.pointer(ptr) else {
        return "<none>".into();
    };
    let mut parts: Vec<String> = sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let values: Vec<&str> = arr(e, "/values").iter().filter_map(Value::as_str).collect();
        let key = s(e, "/key");
        parts.push(match s(e, "/operator") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            _ => format!("!{key}"),
        });
    }
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.join(",")
    }
}

fn template_wide(obj: &Value, containers_ptr: &str, selector_ptr: &str) -> [Value; 3] {
    let (names, images) = containers(obj, containers_ptr);
    [
        json!(names),
        json!(images),
        json!(selector(obj, selector_ptr)),
    ]
}

/// `printDeployment`: READY `ready/desired`, UP-TO-DATE, AVAILABLE.
fn deployment_cells(d: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let desired = d
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let mut out = vec![
        json!(format!("{}/{desired}", n(d, "/status/readyReplicas"))),
        json!(n(d, "/status/updatedReplicas")),
        json!(n(d, "/status/availableReplicas")),
        json!(age(d, now)),
    ];
    out.extend(template_wide(
        d,
        "/spec/template/spec/containers",
        "/spec/selector",
    ));
    out
}

/// `printStatefulSet`: READY `ready/desired`, AGE; wide: CONTAINERS, IMAGES (no selector).
fn statefulset_cells(s: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let desired = s
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let [names, images, _selector] =
        template_wide(s, "/spec/template/spec/containers", "/spec/selector");
    vec![
        json!(format!("{}/{desired}", n(s, "/status/readyReplicas"))),
        json!(age(s, now)),
        names,
        images,
    ]
}

fn daemonset_cells(d: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let node_selector = d
        .pointer("/spec/template/spec/nodeSelector")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
        .map_or_else(
            || "<none>".to_string(),
            |m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(",")
            },
        );
    let mut out = vec![
        json!(n(d, "/status/desiredNumberScheduled")),
        json!(n(d, "/status/currentNumberScheduled")),
        json!(n(d, "/status/numberReady")),
        json!(n(d, "/status/updatedNumberScheduled")),
        json!(n(d, "/status/numberAvailable")),
        json!(node_selector),
        json!(age(d, now)),
    ];
    out.extend(template_wide(
        d,
        "/spec/template/spec/containers",
        "/spec/selector",
    ));
    out
}

fn condition_true(obj: &Value, kind: &str) -> bool {
    arr(obj, "/status/conditions")
        .iter()
        .find(|c| s(c, "/type") == kind)
        .is_some_and(|c| s(c, "/status") == "True")
}

/// `printJob`: STATUS (Complete, Failed, Terminating, Suspended, FailureTarget, else Running),
/// COMPLETIONS `succeeded/completions` (`/1`, or `/1 of P` with parallelism > 1, when unset),
/// DURATION start→completion (or →now).
fn job_cells(j: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let succeeded = n(j, "/status/succeeded");
    let completions = match j.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(c) => format!("{succeeded}/{c}"),
        None => match n(j, "/spec/parallelism") {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let duration = match (
        parse_time(s(j, "/status/startTime")),
        parse_time(s(j, "/status/completionTime")),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now - start),
        (Some(start), Some(end)) => human_duration(end - start),
    };
    let status = if condition_true(j, "Complete") {
        "Complete"
    } else if condition_true(j, "Failed") {
        "Failed"
    } else if deleting(j) {
        "Terminating"
    } else if condition_true(j, "Suspended") {
        "Suspended"
    } else if condition_true(j, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let mut out = vec![
        json!(status),
        json!(completions),
        json!(duration),
        json!(age(j, now)),
    ];
    out.extend(template_wide(
        j,
        "/spec/template/spec/containers",
        "/spec/selector",
    ));
    out
}

/// `printCronJob`: SCHEDULE, TIMEZONE (`<none>`), SUSPEND (`printBoolPtr`: `<unset>` when
/// absent), ACTIVE count, LAST SCHEDULE (`<none>`).
fn cronjob_cells(c: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let suspend = match c.pointer("/spec/suspend").and_then(Value::as_bool) {
        Some(b) => b.to_string(),
        None => "<unset>".into(),
    };
    let last = match s(c, "/status/lastScheduleTime") {
        "" => "<none>".to_string(),
        t => since(t, now),
    };
    let mut out = vec![
        json!(s(c, "/spec/schedule")),
        json!(or(s(c, "/spec/timeZone"), "<none>")),
        json!(suspend),
        json!(arr(c, "/status/active").len()),
        json!(last),
        json!(age(c, now)),
    ];
    out.extend(template_wide(
        c,
        "/spec/jobTemplate/spec/template/spec/containers",
        "/spec/jobTemplate/spec/selector",
    ));
    out
}

fn keys(obj: &Value, ptr: &str) -> usize {
    obj.pointer(ptr)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len())
}

/// `printConfigMap`: DATA = keys of `data` plus `binaryData`.
fn configmap_cells(cm: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(keys(cm, "/data") + keys(cm, "/binaryData")),
        json!(age(cm, now)),
    ]
}

/// `printSecret`: TYPE, DATA = keys of `data` (kube-apiserver folds `stringData` into `data`
/// on write; the sandbox stores both, so keys of either count once).
fn secret_cells(sec: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut names: Vec<&String> = Vec::new();
    for ptr in ["/data", "/stringData"] {
        if let Some(m) = sec.pointer(ptr).and_then(Value::as_object) {
            names.extend(m.keys());
        }
    }
    names.sort();
    names.dedup();
    vec![
        json!(or(s(sec, "/type"), "Opaque")),
        json!(names.len()),
        json!(age(sec, now)),
    ]
}

fn serviceaccount_cells(sa: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![json!(arr(sa, "/secrets").len()), json!(age(sa, now))]
}

/// `storageclass.kubernetes.io/is-default-class` (or the beta key) is `"true"`.
fn is_default_class(sc: &Value) -> bool {
    let ann = |k: &str| {
        sc.pointer("/metadata/annotations")
            .and_then(|a| a.get(k))
            .and_then(Value::as_str)
            == Some("true")
    };
    ann("storageclass.kubernetes.io/is-default-class")
        || ann("storageclass.beta.kubernetes.io/is-default-class")
}

/// `printStorageClass`: defaults `Delete`, `Immediate`, `false` for unset fields.
fn storageclass_cells(sc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let expand = sc
        .get("allowVolumeExpansion")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    vec![
        json!(s(sc, "/provisioner")),
        json!(or(s(sc, "/reclaimPolicy"), "Delete")),
        json!(or(s(sc, "/volumeBindingMode"), "Immediate")),
        json!(expand.to_string()),
        json!(age(sc, now)),
    ]
}

/// `printService`: TYPE, CLUSTER-IP (`<none>`), EXTERNAL-IP (`<none>` for ClusterIP and
/// NodePort without external IPs, `<pending>` for a LoadBalancer without ingress), PORT(S)
/// `port[:nodePort]/protocol`; wide SELECTOR.
fn service_cells(svc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let kind = or(s(svc, "/spec/type"), "ClusterIP");
    let external: Vec<&str> = arr(svc, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let ingress: Vec<&str> = arr(svc, "/status/loadBalancer/ingress")
        .iter()
        .map(|i| or(s(i, "/ip"), s(i, "/hostname")))
        .filter(|a| !a.is_empty())
        .collect();
    let external_ip = match kind {
        "ExternalName" => s(svc, "/spec/externalName").to_string(),
        "LoadBalancer" => {
            let all: Vec<&str> = ingress.iter().chain(external.iter()).copied().collect();
            if all.is_empty() {
                "<pending>".into()
            } else {
                all.join(",")
            }
        }
        _ if external.is_empty() => "<none>".into(),
        _ => external.join(","),
    };
    let ports: Vec<String> = arr(svc, "/spec/ports")
        .iter()
        .map(|p| {
            let proto = or(s(p, "/protocol"), "TCP");
            match n(p, "/nodePort") {
                0 => format!("{}/{proto}", n(p, "/port")),
                np => format!("{}:{np}/{proto}", n(p, "/port")),
            }
        })
        .collect();
    let selector = svc
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
        .map_or_else(
            || "<none>".to_string(),
            |m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(",")
            },
        );
    let cluster_ip = or(
        s(svc, "/spec/clusterIPs/0"),
        or(s(svc, "/spec/clusterIP"), "<none>"),
    );
    vec![
        json!(kind),
        json!(cluster_ip),
        json!(external_ip),
        json!(if ports.is_empty() {
            "<none>".to_string()
        } else {
            ports.join(",")
        }),
        json!(age(svc, now)),
        json!(selector),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(now: DateTime<Utc>, secs_ago: i64) -> String {
        (now - chrono::Duration::seconds(secs_ago)).to_rfc3339()
    }

    #[test]
    fn pod_ready_status_restarts() {
        let now = Utc::now();
        let pod = json!({
            "metadata": {"name": "p", "creationTimestamp": ts(now, 30)},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "node-1"},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}},
                 "lastState": {"terminated": {"finishedAt": ts(now, 300)}}},
                {"name": "b", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}
            ]}
        });
        let c = cells(&resources::PODS, &pod, now);
        assert_eq!(c[0], "p");
        assert_eq!(c[1], "1/2");
        assert_eq!(c[2], "ContainerCreating");
        assert_eq!(c[3], "2 (5m ago)");
        assert_eq!(c[5], "<none>");
        assert_eq!(c[6], "node-1");
        assert_eq!(columns(&resources::PODS).len(), c.len());
    }

    #[test]
    fn node_status_and_roles() {
        let now = Utc::now();
        let node = json!({
            "metadata": {"name": "n", "labels": {"node-role.kubernetes.io/control-plane": "true"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "False"}],
                       "nodeInfo": {"kubeletVersion": "v1.33.0"}}
        });
        let c = cells(&resources::NODES, &node, now);
        assert_eq!(c[1], "NotReady,SchedulingDisabled");
        assert_eq!(c[2], "control-plane");
        assert_eq!(c[4], "v1.33.0");
        let bare = cells(&resources::NODES, &json!({"metadata": {"name": "m"}}), now);
        assert_eq!(bare[1], "Unknown");
        assert_eq!(bare[2], "<none>");
    }

    #[test]
    fn event_object_and_count() {
        let now = Utc::now();
        let ev = json!({"metadata": {"name": "e1"}, "type": "Warning", "reason": "VolumeMismatch",
            "message": " no ", "involvedObject": {"kind": "PersistentVolumeClaim", "name": "c"},
            "firstTimestamp": ts(now, 10), "source": {"component": "persistentvolume-controller"}});
        let c = cells(&resources::EVENTS, &ev, now);
        let cols = columns(&resources::EVENTS);
        assert_eq!(cols[0]["name"], "Last Seen");
        assert_eq!(c.len(), cols.len());
        assert_eq!(c[0], "10s");
        assert_eq!(c[3], "persistentvolumeclaim/c");
        assert_eq!(c[5], "persistentvolume-controller");
        assert_eq!(c[6], "no");
        assert_eq!(c[8], 1);
    }

    #[test]
    fn pvc_shows_capacity_once_bound() {
        let now = Utc::now();
        let pending = json!({"metadata": {"name": "c"}, "spec": {"storageClassName": "longhorn"},
            "status": {"phase": "Pending"}});
        let c = cells(&resources::PVCS, &pending, now);
        assert_eq!(
            (c[1].clone(), c[3].clone(), c[6].clone()),
            (json!("Pending"), json!(""), json!("<unset>"))
        );
        let bound = json!({"metadata": {"name": "c"}, "spec": {"volumeName": "pv-1", "storageClassName": "longhorn"},
            "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"]}});
        let c = cells(&resources::PVCS, &bound, now);
        assert_eq!(c[3], "1Gi");
        assert_eq!(c[4], "RWO,RWX");
    }

    #[test]
    fn job_status_completions_duration() {
        let now = Utc::now();
        let job = json!({"metadata": {"name": "j"}, "spec": {"completions": 1},
            "status": {"succeeded": 1, "startTime": ts(now, 100), "completionTime": ts(now, 40),
                       "conditions": [{"type": "Complete", "status": "True"}]}});
        let c = cells(&resources::JOBS, &job, now);
        assert_eq!(c[1], "Complete");
        assert_eq!(c[2], "1/1");
        assert_eq!(c[3], "60s");
    }

    #[test]
    fn configmaps_secrets_storageclasses() {
        let now = Utc::now();
        let cm = json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
        assert_eq!(cells(&resources::CONFIGMAPS, &cm, now)[1], 2);
        let sec = json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "MQ=="}, "stringData": {"a": "1", "b": "2"}});
        assert_eq!(cells(&resources::SECRETS, &sec, now)[2], 2);
        let sc = json!({"metadata": {"name": "longhorn", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "driver.longhorn.io", "allowVolumeExpansion": true});
        let c = cells(&resources::STORAGECLASSES, &sc, now);
        assert_eq!(c[0], "longhorn (default)");
        assert_eq!(
            (c[2].clone(), c[3].clone(), c[4].clone()),
            (json!("Delete"), json!("Immediate"), json!("true"))
        );
        let svc = json!({"metadata": {"name": "b"}, "spec": {"clusterIP": "10.43.0.5", "ports": [{"port": 9500, "protocol": "TCP"}]}});
        let c = cells(&resources::SERVICES, &svc, now);
        assert_eq!(
            &c[1..5],
            [
                json!("ClusterIP"),
                json!("10.43.0.5"),
                json!("<none>"),
                json!("9500/TCP")
            ]
        );
    }

    #[test]
    fn kinds_without_printer_get_the_default_convertors_name_and_created_at() {
        for rt in [
            &resources::ROLES,
            &resources::CLUSTERROLES,
            &resources::CRDS,
        ] {
            let cols = columns(rt);
            assert_eq!(cols.len(), 2, "{}", rt.kind);
            assert_eq!(
                (&cols[0]["name"], &cols[1]["name"]),
                (&json!("Name"), &json!("Created At"))
            );
            assert_eq!(cols[1]["type"], "date");
        }
        let role = json!({"metadata": {"name": "r", "creationTimestamp": "2026-01-02T03:04:05Z"}});
        assert_eq!(
            cells(&resources::ROLES, &role, Utc::now()),
            vec![json!("r"), json!("2026-01-02T03:04:05Z")]
        );
        // Go's zero time for a missing timestamp.
        let bare = json!({"metadata": {"name": "r"}});
        assert_eq!(
            cells(&resources::ROLES, &bare, Utc::now())[1],
            "0001-01-01T00:00:00Z"
        );
    }
}
