//! Gate detection lag: from the sandbox's own timestamp of a state change to the moment the
//! harness's real wait (`cluster::wait::wait_for`, the watch-based wait every drill step uses)
//! returns having seen it. Prints one markdown table (p50/p99/max in ms per kind of gate).
//!
//! Gates: a PVC becoming `Bound` (the persistentvolume controller of the sandbox binds it), then
//! its Longhorn Volume becoming `attached` once a Pod mounts it — the two waits the deploy and
//! rebuild steps make. The sandbox stamps each change just before it commits it
//! (`dr_sandbox::transitions`); the harness side is stamped when `wait_for` returns. Both run in
//! this process, so one monotonic clock serves both. Nothing is asserted: benches measure.
//!
//! The two kinds differ in what they include: a PVC binds within a controller tick of its
//! creation, often while the wait's watch is still being opened (list, then watch), so its lag
//! includes that set-up, as a step's first wait does; a Volume attaches only after the Pod's start
//! delay, when the watch is long open, so its lag is the steady-state delivery of one change.
//!
//! `DR_BENCH_GATES` (default 50) sets the number of PVC/Pod pairs, so twice as many gates.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dr_harness::cluster::{wait, RetryStats};
use dr_harness::longhorn::crd::Volume;
use dr_sandbox::transitions::{self, change, Transition};
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, Pod};
use kube::api::{Api, PostParams};
use serde_json::json;

const NAMESPACE: &str = "gate-lag";
/// Gates waited for at the same time (a drill waits for a handful at once, not hundreds).
const CONCURRENT: usize = 5;
const WAIT: Duration = Duration::from_secs(120);

fn main() {
    let pairs: usize = std::env::var("DR_BENCH_GATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run(pairs));
}

async fn run(pairs: usize) {
    let sb = common::TestSandbox::start().await;
    let conn = sb.connect().await;
    let client = conn.client.clone();
    let ns: Api<Namespace> = Api::all(client.clone());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": NAMESPACE}})).unwrap(),
    )
    .await
    .expect("namespace created");

    transitions::start_recording();
    let mut observed: Vec<(&'static str, String, Instant)> = Vec::new();
    let indexes: Vec<usize> = (0..pairs).collect();
    for batch in indexes.chunks(CONCURRENT) {
        let done = futures::future::join_all(batch.iter().map(|&i| gate_pair(&client, i))).await;
        for pair in done {
            observed.extend(pair);
        }
    }
    let recorded = transitions::stop_recording();
    sb.sandbox.shutdown().await;

    let lags = match_lags(&observed, &recorded);
    println!(
        "| Gate (sandbox change → harness `wait_for` returns) | gates | p50 ms | p99 ms | max ms |"
    );
    println!("|---|---|---|---|---|");
    let mut all = Vec::new();
    for (kind, label) in [
        (change::PVC_BOUND, "PVC `Bound`"),
        (change::VOLUME_ATTACHED, "Longhorn Volume `attached`"),
    ] {
        let mut ms: Vec<f64> = lags
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, l)| *l)
            .collect();
        all.extend_from_slice(&ms);
        print_row(label, &mut ms);
    }
    print_row("all gates", &mut all);
    let unmatched = observed.len() - lags.len();
    if unmatched > 0 {
        println!("\n{unmatched} observed gates had no sandbox timestamp (left out).");
    }
}

/// One PVC: wait for it to be Bound (created after the wait started), then one Pod mounting
/// it: wait for its Longhorn Volume to be attached. Returns (change, object name, observed at).
async fn gate_pair(client: &kube::Client, i: usize) -> Vec<(&'static str, String, Instant)> {
    let stats = RetryStats::default();
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), NAMESPACE);
    let name = format!("lag-{i}");
    let what = format!("PVC {name} to be Bound");
    let bound = wait::wait_for(
        pvcs.clone(),
        &name,
        &what,
        WAIT,
        &stats,
        |p: Option<&PersistentVolumeClaim>| phase(p) == "Bound",
        |p| format!("phase {}", phase(p)),
    );
    let create = async {
        // The wait is polled first (join! polls in order), so its watch is underway.
        tokio::task::yield_now().await;
        pvcs.create(
            &PostParams::default(),
            &common::pvc_manifest(NAMESPACE, &name, "16Mi"),
        )
        .await
        .expect("PVC created");
    };
    let (bound, ()) = tokio::join!(bound, create);
    let bound_at = Instant::now();
    let pvc = bound.expect("PVC bound").expect("PVC exists");
    let volume = pvc
        .spec
        .and_then(|s| s.volume_name)
        .expect("a bound PVC names its volume");

    let volumes: Api<Volume> = Api::namespaced(client.clone(), "longhorn-system");
    let what = format!("Volume {volume} to be attached");
    let attached = wait::wait_for(
        volumes,
        &volume,
        &what,
        WAIT,
        &stats,
        |v: Option<&Volume>| state(v) == "attached",
        |v| format!("state {}", state(v)),
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let start = async {
        tokio::task::yield_now().await;
        pods.create(
            &PostParams::default(),
            &common::pod_manifest(NAMESPACE, &name),
        )
        .await
        .expect("Pod created");
    };
    let (attached, ()) = tokio::join!(attached, start);
    let attached_at = Instant::now();
    attached.expect("volume attached");
    vec![
        (change::PVC_BOUND, name, bound_at),
        (change::VOLUME_ATTACHED, volume, attached_at),
    ]
}

/// Lag in ms of each observed gate from the sandbox's first record of that change to that
/// object. A negative lag would mean a clock error: it is kept, so it shows.
fn match_lags(
    observed: &[(&'static str, String, Instant)],
    recorded: &[Transition],
) -> Vec<(&'static str, f64)> {
    let mut first: HashMap<(&str, &str), Instant> = HashMap::new();
    for t in recorded {
        first.entry((t.change, t.name.as_str())).or_insert(t.at);
    }
    observed
        .iter()
        .filter_map(|(kind, name, at)| {
            let changed = first.get(&(*kind, name.as_str()))?;
            let ms = if at >= changed {
                at.duration_since(*changed).as_secs_f64() * 1000.0
            } else {
                -(changed.duration_since(*at).as_secs_f64() * 1000.0)
            };
            Some((*kind, ms))
        })
        .collect()
}

fn print_row(label: &str, ms: &mut [f64]) {
    ms.sort_by(f64::total_cmp);
    if ms.is_empty() {
        println!("| {label} | 0 | – | – | – |");
        return;
    }
    println!(
        "| {label} | {} | {:.1} | {:.1} | {:.1} |",
        ms.len(),
        percentile(ms, 50.0),
        percentile(ms, 99.0),
        ms[ms.len() - 1]
    );
}

/// Nearest-rank percentile of sorted `ms`.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn phase(p: Option<&PersistentVolumeClaim>) -> String {
    p.and_then(|p| p.status.as_ref())
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "absent".into())
}

fn state(v: Option<&Volume>) -> String {
    v.and_then(|v| v.status.as_ref())
        .map(|s| s.state.clone())
        .unwrap_or_else(|| "absent".into())
}
