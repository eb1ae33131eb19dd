//! The resource types the sandbox API server knows: one static [`ResourceType`] per kind.
//!
//! The table drives everything that depends on a type's shape: URL routing (`plural`, `group`,
//! `version`), discovery documents (`shortNames`, `categories`, `singularName`), whether a type is
//! namespaced and whether it has a `/status` subresource. Names, short names and scopes follow the
//! Kubernetes v1.33 API and the Longhorn v1.8 CRDs (`longhorn.io/v1beta2`); Flux's Kustomization
//! follows `kustomize.toolkit.fluxcd.io/v1`.

/// One Kubernetes resource type as served by the sandbox.
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// API group; `""` is the core (legacy `/api/v1`) group.
    pub group: &'static str,
    /// API version within the group, e.g. `"v1"` or `"v1beta2"`.
    pub version: &'static str,
    /// Object kind, e.g. `"Pod"`.
    pub kind: &'static str,
    /// Kind of a list of these objects, e.g. `"PodList"`.
    pub list_kind: &'static str,
    /// URL path segment, e.g. `"pods"`.
    pub plural: &'static str,
    /// Lower-case singular name, e.g. `"pod"` (kubectl resolves it through discovery).
    pub singular: &'static str,
    /// kubectl short names, e.g. `["po"]`.
    pub short_names: &'static [&'static str],
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Whether the type has a `/status` subresource (main-resource writes then ignore `.status`).
    pub has_status: bool,
    /// Discovery categories, e.g. `["all"]` so that `kubectl get all` includes the type.
    pub categories: &'static [&'static str],
}

impl ResourceType {
    /// The `apiVersion` objects of this type carry: `"v1"` for core, `"group/version"` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `plural` for core types, `plural.group` otherwise: how the real API server names a
    /// resource in error messages (e.g. `volumes.longhorn.io "x" not found`).
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

/// Declares one static [`ResourceType`] in a compact, table-like form.
macro_rules! resource {
    ($(#[$doc:meta])* $name:ident, $group:expr, $version:expr, $kind:expr, $plural:expr,
     $singular:expr, [$($short:expr),*], namespaced = $ns:expr, status = $st:expr,
     categories = [$($cat:expr),*]) => {
        $(#[$doc])*
        pub static $name: ResourceType = ResourceType {
            group: $group,
            version: $version,
            kind: $kind,
            list_kind: concat!($kind, "List"),
            plural: $plural,
            singular: $singular,
            short_names: &[$($short),*],
            namespaced: $ns,
            has_status: $st,
            categories: &[$($cat),*],
        };
    };
}

resource!(/// Core `v1` Namespace.
    NAMESPACES, "", "v1", "Namespace", "namespaces", "namespace", ["ns"],
    namespaced = false, status = true, categories = []);
resource!(/// Core `v1` Node.
    NODES, "", "v1", "Node", "nodes", "node", ["no"],
    namespaced = false, status = true, categories = []);
resource!(/// Core `v1` Pod.
    PODS, "", "v1", "Pod", "pods", "pod", ["po"],
    namespaced = true, status = true, categories = ["all"]);
resource!(/// Core `v1` PersistentVolumeClaim.
    PVCS, "", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim",
    ["pvc"], namespaced = true, status = true, categories = []);
resource!(/// Core `v1` PersistentVolume.
    PVS, "", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", ["pv"],
    namespaced = false, status = true, categories = []);
resource!(/// Core `v1` ConfigMap.
    CONFIGMAPS, "", "v1", "ConfigMap", "configmaps", "configmap", ["cm"],
    namespaced = true, status = false, categories = []);
resource!(/// Core `v1` Secret.
    SECRETS, "", "v1", "Secret", "secrets", "secret", [],
    namespaced = true, status = false, categories = []);
resource!(/// Core `v1` Event.
    EVENTS, "", "v1", "Event", "events", "event", ["ev"],
    namespaced = true, status = false, categories = []);
resource!(/// Core `v1` ServiceAccount.
    SERVICEACCOUNTS, "", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", ["sa"],
    namespaced = true, status = false, categories = []);
resource!(/// Core `v1` Service.
    SERVICES, "", "v1", "Service", "services", "service", ["svc"],
    namespaced = true, status = true, categories = ["all"]);
resource!(/// `apps/v1` Deployment.
    DEPLOYMENTS, "apps", "v1", "Deployment", "deployments", "deployment", ["deploy"],
    namespaced = true, status = true, categories = ["all"]);
resource!(/// `apps/v1` StatefulSet.
    STATEFULSETS, "apps", "v1", "StatefulSet", "statefulsets", "statefulset", ["sts"],
    namespaced = true, status = true, categories = ["all"]);
resource!(/// `apps/v1` DaemonSet.
    DAEMONSETS, "apps", "v1", "DaemonSet", "daemonsets", "daemonset", ["ds"],
    namespaced = true, status = true, categories = ["all"]);
resource!(/// `batch/v1` Job.
    JOBS, "batch", "v1", "Job", "jobs", "job", [],
    namespaced = true, status = true, categories = ["all"]);
resource!(/// `batch/v1` CronJob (stored and served; the sandbox runs no CronJob controller).
    CRONJOBS, "batch", "v1", "CronJob", "cronjobs", "cronjob", ["cj"],
    namespaced = true, status = true, categories = ["all"]);
resource!(/// `rbac.authorization.k8s.io/v1` Role.
    ROLES, "rbac.authorization.k8s.io", "v1", "Role", "roles", "role", [],
    namespaced = true, status = false, categories = []);
resource!(/// `rbac.authorization.k8s.io/v1` RoleBinding.
    ROLEBINDINGS, "rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings",
    "rolebinding", [], namespaced = true, status = false, categories = []);
resource!(/// `rbac.authorization.k8s.io/v1` ClusterRole.
    CLUSTERROLES, "rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles",
    "clusterrole", [], namespaced = false, status = false, categories = []);
resource!(/// `rbac.authorization.k8s.io/v1` ClusterRoleBinding.
    CLUSTERROLEBINDINGS, "rbac.authorization.k8s.io", "v1", "ClusterRoleBinding",
    "clusterrolebindings", "clusterrolebinding", [], namespaced = false, status = false,
    categories = []);
resource!(/// `storage.k8s.io/v1` StorageClass.
    STORAGECLASSES, "storage.k8s.io", "v1", "StorageClass", "storageclasses", "storageclass",
    ["sc"], namespaced = false, status = false, categories = []);
resource!(/// `apiextensions.k8s.io/v1` CustomResourceDefinition.
    CRDS, "apiextensions.k8s.io", "v1", "CustomResourceDefinition",
    "customresourcedefinitions", "customresourcedefinition", ["crd", "crds"],
    namespaced = false, status = true, categories = ["api-extensions"]);
resource!(/// Longhorn `Volume` (Longhorn v1.8 CRD, short name `lhv`).
    LH_VOLUMES, "longhorn.io", "v1beta2", "Volume", "volumes", "volume", ["lhv"],
    namespaced = true, status = true, categories = ["longhorn"]);
resource!(/// Longhorn `Snapshot` (Longhorn v1.8 CRD, short name `lhsnap`).
    LH_SNAPSHOTS, "longhorn.io", "v1beta2", "Snapshot", "snapshots", "snapshot", ["lhsnap"],
    namespaced = true, status = true, categories = ["longhorn"]);
resource!(/// Longhorn `Backup` (Longhorn v1.8 CRD, short name `lhb`).
    LH_BACKUPS, "longhorn.io", "v1beta2", "Backup", "backups", "backup", ["lhb"],
    namespaced = true, status = true, categories = ["longhorn"]);
resource!(/// Longhorn `BackupVolume` (Longhorn v1.8 CRD, short name `lhbv`).
    LH_BACKUPVOLUMES, "longhorn.io", "v1beta2", "BackupVolume", "backupvolumes", "backupvolume",
    ["lhbv"], namespaced = true, status = true, categories = ["longhorn"]);
resource!(/// Longhorn `BackupTarget` (Longhorn v1.8 CRD, short name `lhbt`).
    LH_BACKUPTARGETS, "longhorn.io", "v1beta2", "BackupTarget", "backuptargets", "backuptarget",
    ["lhbt"], namespaced = true, status = true, categories = ["longhorn"]);
resource!(/// Longhorn `RecurringJob` (Longhorn v1.8 CRD, short name `lhrj`).
    LH_RECURRINGJOBS, "longhorn.io", "v1beta2", "RecurringJob", "recurringjobs", "recurringjob",
    ["lhrj"], namespaced = true, status = true, categories = ["longhorn"]);
resource!(/// Longhorn `SystemBackup` (Longhorn v1.8 CRD, short name `lhsb`).
    LH_SYSTEMBACKUPS, "longhorn.io", "v1beta2", "SystemBackup", "systembackups", "systembackup",
    ["lhsb"], namespaced = true, status = true, categories = ["longhorn"]);
resource!(/// Longhorn `SystemRestore` (Longhorn v1.8 CRD, short name `lhsr`).
    LH_SYSTEMRESTORES, "longhorn.io", "v1beta2", "SystemRestore", "systemrestores",
    "systemrestore", ["lhsr"], namespaced = true, status = true, categories = ["longhorn"]);
resource!(/// Longhorn `Setting` (Longhorn v1.8 CRD, short name `lhs`; the value sits in top-level `value`).
    LH_SETTINGS, "longhorn.io", "v1beta2", "Setting", "settings", "setting", ["lhs"],
    namespaced = true, status = true, categories = ["longhorn"]);
resource!(/// Longhorn `Node` (Longhorn v1.8 CRD, short name `lhn`).
    LH_NODES, "longhorn.io", "v1beta2", "Node", "nodes", "node", ["lhn"],
    namespaced = true, status = true, categories = ["longhorn"]);
resource!(/// Longhorn `EngineImage` (Longhorn v1.8 CRD, short name `lhei`).
    LH_ENGINEIMAGES, "longhorn.io", "v1beta2", "EngineImage", "engineimages", "engineimage",
    ["lhei"], namespaced = true, status = true, categories = ["longhorn"]);
resource!(/// Flux `Kustomization` (`kustomize.toolkit.fluxcd.io/v1`, short name `ks`).
    FLUX_KUSTOMIZATIONS, "kustomize.toolkit.fluxcd.io", "v1", "Kustomization", "kustomizations",
    "kustomization", ["ks"], namespaced = true, status = true, categories = []);

static ALL: [&ResourceType; 33] = [
    &NAMESPACES,
    &NODES,
    &PODS,
    &PVCS,
    &PVS,
    &CONFIGMAPS,
    &SECRETS,
    &EVENTS,
    &SERVICEACCOUNTS,
    &SERVICES,
    &DEPLOYMENTS,
    &STATEFULSETS,
    &DAEMONSETS,
    &JOBS,
    &CRONJOBS,
    &ROLES,
    &ROLEBINDINGS,
    &CLUSTERROLES,
    &CLUSTERROLEBINDINGS,
    &STORAGECLASSES,
    &CRDS,
    &LH_VOLUMES,
    &LH_SNAPSHOTS,
    &LH_BACKUPS,
    &LH_BACKUPVOLUMES,
    &LH_BACKUPTARGETS,
    &LH_RECURRINGJOBS,
    &LH_SYSTEMBACKUPS,
    &LH_SYSTEMRESTORES,
    &LH_SETTINGS,
    &LH_NODES,
    &LH_ENGINEIMAGES,
    &FLUX_KUSTOMIZATIONS,
];

/// Every resource type the sandbox serves, in discovery order (core first).
pub fn all() -> &'static [&'static ResourceType] {
    &ALL
}

/// Whether the type serves the `scale` subresource (`autoscaling/v1 Scale`): Deployments and
/// StatefulSets, as kube-apiserver (kubernetes@v1.32: `pkg/registry/apps/deployment/storage`
/// and `pkg/registry/apps/statefulset/storage`, `ScaleREST`). ReplicaSets are not served.
pub fn has_scale(rt: &ResourceType) -> bool {
    std::ptr::eq(rt, &DEPLOYMENTS) || std::ptr::eq(rt, &STATEFULSETS)
}

/// The type served at `/api[s]/{group}/{version}/{plural}`; `None` if unknown (→ 404).
pub fn lookup(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    ALL.iter()
        .copied()
        .find(|rt| rt.group == group && rt.version == version && rt.plural == plural)
}

/// The type of an object with this `apiVersion` and `kind`; `None` if unknown.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    ALL.iter()
        .copied()
        .find(|rt| rt.kind == kind && rt.api_version() == api_version)
}

/// The distinct `(group, version)` pairs served, in discovery order.
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    for rt in ALL.iter() {
        if !out.contains(&(rt.group, rt.version)) {
            out.push((rt.group, rt.version));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_distinguishes_core_and_longhorn_nodes() {
        let core = lookup("", "v1", "nodes").map(|rt| rt.kind);
        let lh = lookup("longhorn.io", "v1beta2", "nodes").map(|rt| rt.namespaced);
        assert_eq!(core, Some("Node"));
        assert_eq!(lh, Some(true));
    }

    #[test]
    fn by_kind_uses_full_api_version() {
        assert_eq!(by_kind("longhorn.io/v1beta2", "Volume"), Some(&LH_VOLUMES));
        assert_eq!(by_kind("v1", "Volume"), None);
        assert_eq!(PVCS.list_kind, "PersistentVolumeClaimList");
    }

    #[test]
    fn plurals_are_unique_per_group_version() {
        for (i, a) in ALL.iter().enumerate() {
            for b in ALL.iter().skip(i + 1) {
                assert!(
                    !(a.group == b.group && a.version == b.version && a.plural == b.plural),
                    "duplicate {}",
                    a.plural
                );
            }
        }
    }
}
