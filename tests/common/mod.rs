//! Shared helpers for the integration tests: a fresh sandbox per test and a drill against it
//! driven through the library, with the real `dr-harness` binary as hook and orchestrator.

#![allow(dead_code)]

use std::path::PathBuf;

use dr_harness::config::{Profile, Scenario};
use dr_harness::drill::{run_drill, DrillRequest};
use dr_harness::engine::events::{DrillEvent, EventSink};
use dr_harness::engine::record::{RunRecord, StepRecord, StepStatus};
use dr_harness::redact::Redactor;
use dr_harness::target::StaticKeys;
use dr_sandbox::{Sandbox, SandboxOptions, Timing};
use tokio_util::sync::CancellationToken;

/// The `dr-harness` binary built for these tests.
pub fn harness_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dr-harness"))
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The team's shared folder: `$DR_SHARED_DIR`, else `<repo>/../shared`.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("DR_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared"))
}

/// Longhorn's own CRDs of `version` from the shared folder, if present (loud when not; a
/// failure under `CI=true`).
pub fn longhorn_crds(version: dr_sandbox::LonghornVersion) -> Option<PathBuf> {
    let p = shared_dir().join(format!("longhorn-crds/crds-{version}.yaml"));
    if p.is_file() {
        return Some(p);
    }
    missing(&format!(
        "{} not found (set DR_SHARED_DIR): Longhorn objects NOT validated by Longhorn's CRDs",
        p.display()
    ));
    None
}

/// Waits up to 30 s, polling every 50 ms, until `holds` is true: a test's precondition, not
/// its verdict. Panics naming `what` when it never holds.
pub async fn until(what: &str, mut holds: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !holds() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The string at JSON pointer `pointer` (e.g. `/status/state`) of object `namespace/name` of
/// `resource` in the sandbox's store, if it has one.
pub fn store_str(
    sb: &TestSandbox,
    resource: &dr_sandbox::api::resources::ResourceType,
    namespace: Option<&str>,
    name: &str,
    pointer: &str,
) -> Option<String> {
    sb.sandbox
        .store()
        .get(resource, namespace, name)?
        .pointer(pointer)?
        .as_str()
        .map(str::to_string)
}

/// Says loudly that `what` cannot be checked; panics under `CI=true`.
pub fn missing(what: &str) {
    let msg = format!("!!! {what}");
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
    eprintln!("{msg}");
}

/// A sandbox in a temporary folder, with the fast timing.
pub struct TestSandbox {
    pub sandbox: Sandbox,
    pub dir: tempfile::TempDir,
}

impl TestSandbox {
    pub async fn start() -> TestSandbox {
        Self::start_with(|_| {}).await
    }

    /// A sandbox imitating Longhorn release `version`.
    /// A sandbox imitating `version`, its API server validating Longhorn objects by that
    /// release's real CRDs (`../shared/longhorn-crds/crds-<version>.yaml`) — so every object
    /// the harness and the orchestrator write must pass Longhorn's own schemas. Without the
    /// file the sandbox keeps its built-in rules and this says so loudly; under `CI=true` it
    /// is a failure.
    pub async fn start_version(version: dr_sandbox::LonghornVersion) -> TestSandbox {
        let crds = longhorn_crds(version);
        Self::start_with(|o| {
            o.longhorn_version = version;
            o.longhorn_crds = crds;
        })
        .await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut SandboxOptions)) -> TestSandbox {
        let dir = tempfile::Builder::new()
            .prefix("drh-test-")
            .tempdir()
            .expect("tempdir");
        let mut opts = SandboxOptions::new(dir.path());
        opts.timing = Timing::fast();
        opts.harness_bin = Some(harness_bin());
        tweak(&mut opts);
        let sandbox = Sandbox::start(opts).await.expect("sandbox starts");
        dr_harness::cli::sandbox::wait_bootstrapped(&sandbox, std::time::Duration::from_secs(60))
            .await
            .expect("sandbox bootstraps");
        TestSandbox { sandbox, dir }
    }

    /// The harness's own connection to this sandbox, through its kubeconfig file (the one
    /// `dr_harness::cluster::connect` path every drill takes).
    pub async fn connect(&self) -> dr_harness::cluster::Connection {
        let source = dr_harness::cluster::KubeconfigSource::File {
            path: self.sandbox.kubeconfig_path(),
            context: None,
        };
        dr_harness::cluster::connect(&source, std::time::Duration::from_secs(30))
            .await
            .expect("connect to the sandbox")
    }

    /// The built-in sandbox profile, its hooks running the real `dr-harness` binary.
    pub fn profile(&self) -> Profile {
        let mut p = Profile::builtin_sandbox(self.dir.path());
        for hook in [p.hooks.destroy.as_mut(), p.hooks.rebuild.as_mut()]
            .into_iter()
            .flatten()
        {
            if let Some(argv) = hook.argv.as_mut() {
                argv[0] = harness_bin().display().to_string();
            }
        }
        p
    }

    /// Every object under `dr-harness/` in the sandbox's bucket (the run state kept beside the
    /// backups), as (`s3://<key>`, its text) pairs.
    pub async fn run_state_texts(&self) -> Vec<(String, String)> {
        let client = self.sandbox.s3().client();
        let bucket = self.sandbox.s3().bucket();
        let listed = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix("dr-harness/")
            .send()
            .await
            .unwrap();
        let mut texts = Vec::new();
        for o in listed.contents() {
            let key = o.key().unwrap().to_string();
            let body = client
                .get_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .unwrap()
                .body
                .collect()
                .await
                .unwrap();
            texts.push((
                format!("s3://{key}"),
                String::from_utf8_lossy(&body.into_bytes()).into_owned(),
            ));
        }
        texts
    }

    pub fn keys(&self) -> StaticKeys {
        StaticKeys {
            access_key: self.sandbox.s3().access_key().to_string(),
            secret_key: self.sandbox.s3().secret_key().to_string(),
        }
    }
}

/// A PVC `name` in `namespace` of the `longhorn` StorageClass, asking for `storage` (e.g. `8Gi`).
pub fn pvc_manifest(
    namespace: &str,
    name: &str,
    storage: &str,
) -> k8s_openapi::api::core::v1::PersistentVolumeClaim {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "storageClassName": "longhorn",
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": storage}},
        },
    }))
    .expect("PVC manifest")
}

/// A Pod `claim` in `namespace` whose container `c` (busybox, sleeping) mounts PVC `claim` at
/// `/data`.
pub fn pod_manifest(namespace: &str, claim: &str) -> k8s_openapi::api::core::v1::Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": claim, "namespace": namespace},
        "spec": {
            "containers": [{
                "name": "c",
                "image": "busybox:1.36",
                "command": ["sh", "-c", "sleep 3600"],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            }],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
        },
    }))
    .expect("Pod manifest")
}

/// Creates namespace `namespace`, a PVC `name` ([`pvc_manifest`], 8 GiB) and a Pod `name`
/// ([`pod_manifest`]) and waits until the Pod runs; returns the Longhorn volume the PVC is
/// bound to.
pub async fn start_pod(client: &kube::Client, namespace: &str, name: &str) -> String {
    use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, Pod};
    use kube::api::{Api, PostParams};
    let ns: Api<Namespace> = Api::all(client.clone());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(serde_json::json!({"metadata": {"name": namespace}})).unwrap(),
    )
    .await
    .expect("namespace created");
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    pvcs.create(
        &PostParams::default(),
        &pvc_manifest(namespace, name, "8Gi"),
    )
    .await
    .expect("PVC created");
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    pods.create(&PostParams::default(), &pod_manifest(namespace, name))
        .await
        .expect("Pod created");
    let phase = |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref())
            .and_then(|s| s.phase.clone())
            .unwrap_or_default()
    };
    dr_harness::cluster::wait::wait_for(
        pods,
        name,
        "the test pod to run",
        std::time::Duration::from_secs(120),
        &dr_harness::cluster::RetryStats::default(),
        |p| phase(p) == "Running",
        |p| format!("phase {}", phase(p)),
    )
    .await
    .expect("the test pod runs");
    let pvc = pvcs.get(name).await.expect("PVC read");
    pvc.spec
        .and_then(|s| s.volume_name)
        .expect("the PVC is bound to a volume")
}

/// Writes `body` to `path` in the target container (`cat > path` through exec) and asserts
/// that it worked.
pub async fn put_file(
    pods: &kube::Api<k8s_openapi::api::core::v1::Pod>,
    target: &dr_harness::cluster::exec::ExecTarget,
    path: &str,
    body: String,
) {
    let put = dr_harness::cluster::exec::exec(
        pods,
        target,
        &["sh", "-c", &format!("cat > {path}")],
        Some(std::iter::once(body.into_bytes())),
        None,
    )
    .await
    .expect("file written through exec");
    assert_eq!(put.exit_code, 0, "cat > {path}: {}", put.stderr);
}

/// Every file below `dir`, recursively, appended to `out`.
pub fn all_files(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            all_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Collects events (for assertions on what a drill reported while running).
#[derive(Default)]
pub struct Events(pub Vec<DrillEvent>);

impl EventSink for Events {
    fn on_event(&mut self, event: &DrillEvent) {
        self.0.push(event.clone());
    }
}

/// Loads a scenario from `scenarios/`.
pub fn scenario(name: &str) -> Scenario {
    Scenario::load(&repo().join("scenarios").join(format!("{name}.toml"))).expect("scenario loads")
}

/// Runs `scenario` against the test sandbox with `--allow-destroy`.
pub async fn drill(sb: &TestSandbox, scenario: Scenario, out: &std::path::Path) -> RunRecord {
    drill_with(
        sb,
        sb.profile(),
        scenario,
        out,
        true,
        CancellationToken::new(),
    )
    .await
}

pub async fn drill_with(
    sb: &TestSandbox,
    profile: Profile,
    scenario: Scenario,
    out: &std::path::Path,
    allow_destroy: bool,
    cancel: CancellationToken,
) -> RunRecord {
    let req = DrillRequest {
        profile,
        scenario,
        allow_destroy,
        out_dir: out.to_path_buf(),
        s3_keys: Some(sb.keys()),
        resume: None,
        redactor: Redactor::new(),
        cancel,
    };
    let mut events = Events::default();
    run_drill(req, &mut events).await
}

/// The step of `record` named `name`.
pub fn step<'a>(record: &'a RunRecord, name: &str) -> &'a StepRecord {
    record
        .steps
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no step {name} in {:#?}", record.steps))
}

/// Asserts that the drill failed first at `name`, with a message containing `needle`.
pub fn assert_failed_at(record: &RunRecord, name: &str, needle: &str) {
    let failing = record
        .failing_step()
        .unwrap_or_else(|| panic!("drill did not fail: {:#?}", record.steps));
    assert_eq!(failing.name, name, "failed at the wrong step: {failing:#?}");
    assert!(
        matches!(failing.status, StepStatus::Failed | StepStatus::TimedOut),
        "{failing:#?}"
    );
    let msg = failing.message.clone().unwrap_or_default();
    assert!(
        msg.contains(needle),
        "message of {name} should mention {needle:?}: {msg}"
    );
}

/// Writes a profile TOML for the test sandbox — the way a user would describe a real cluster —
/// with `extra_hook_env` added to both hooks (names listed in `secret_env`). Credentials come
/// from the environment (`AWS_*`), which the caller must set for the drill's process.
pub fn write_profile(
    sb: &TestSandbox,
    dir: &std::path::Path,
    hook_env: &[(&str, &str)],
) -> PathBuf {
    let state = sb.dir.path().display().to_string();
    let bin = harness_bin().display().to_string();
    let env = hook_env
        .iter()
        .map(|(k, v)| format!("{k} = \"{v}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let secret_env = hook_env
        .iter()
        .map(|(k, _)| format!("\"{k}\""))
        .collect::<Vec<_>>()
        .join(", ");
    // The hook prints every secret it was given: the harness must redact them.
    let echo = hook_env
        .iter()
        .map(|(k, _)| format!("echo {k}=${k};"))
        .collect::<String>();
    let hook = |verb: &str| {
        format!(
            "preset = \"command\"\nargv = [\"sh\", \"-c\", \"{echo} exec {bin} sandbox {verb} --state {state}\"]\ntimeout = \"5m\"\nenv = {{ {env} }}\nsecret_env = [{secret_env}]\n"
        )
    };
    let text = format!(
        r#"name = "sandbox-file"
description = "the test sandbox, described as a real cluster"
[kubeconfig]
path = "{state}/kubeconfig"
[backup_target]
url = "{url}"
endpoint = "{endpoint}"
path_style = true
credentials = "env"
[safety]
allow_destroy = true
[hooks.destroy]
{destroy}
[hooks.rebuild]
{rebuild}
[expect]
nodes = 3
system_pods = ["coredns"]
kustomizations = ["longhorn", "longhorn-restore-orchestrator", "dr-exercise"]
orchestrator_job = "longhorn-system/longhorn-restore-orchestrator"
"#,
        url = sb.sandbox.backup_target_url(),
        endpoint = sb.sandbox.s3().endpoint(),
        destroy = hook("destroy"),
        rebuild = hook("apply"),
    );
    let path = dir.join("sandbox-file.toml");
    std::fs::write(&path, text).expect("profile written");
    path
}
