//! `wait-ready`: after the rebuild, wait gate by gate for the recovered cluster, timing each gate
//! as a phase of the RTO: API ready → nodes Ready → system pods → Flux Kustomizations → Longhorn
//! and its BackupTarget → the sentinel's BackupVolume discovered → the restore orchestrator Job
//! done → the sentinel volume restored → the sentinel workload available.
//!
//! Every gate is watch-based (noticed within a fraction of a second) and recovers from dropped
//! watches; the kubeconfig is re-read until the new API answers.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams, LogParams};
use kube::runtime::watcher;
use kube::Api;

use super::deploy::wait_available;
use super::restore_watch;
use crate::cluster::progress::Progress;
use crate::cluster::{self, wait};
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};
use crate::longhorn::restore::restore_failed;
use crate::longhorn::{self, BackupTarget, BackupVolume, Volume};

/// Runs `wait-ready`: waits gate by gate (API, nodes, system pods, Flux, Longhorn, BackupVolume,
/// orchestrator Job, `facts.volume` restored, sentinel Available), each a phase; `budget` bounds
/// the whole step.
///
/// # Errors
/// A [`StepFailure`] naming the gate that was not reached in time, with its object status and Job
/// logs as diagnostics.
pub async fn run(ctx: &mut DrillContext, budget: Duration) -> StepResult {
    let deadline = Instant::now() + budget.saturating_sub(Duration::from_secs(2));
    let left = || deadline.saturating_duration_since(Instant::now());

    // API ready: re-read the kubeconfig until the new cluster answers /readyz.
    let gate = Instant::now();
    let mut progress = Progress::start(
        "the rebuilt cluster's API to answer /readyz",
        deadline.saturating_duration_since(gate),
    );
    let conn = loop {
        ctx.forget_connection();
        if let Ok(conn) = ctx.conn().await {
            let req = http::Request::get("/readyz")
                .body(Vec::new())
                .map_err(|e| StepFailure::new(e.to_string()))?;
            match conn.client.request_text(req).await {
                Ok(text) if text.trim() == "ok" => break conn,
                Ok(text) => progress.observe(&format!("/readyz answers {:?}", text.trim())),
                Err(e) => progress.observe(&format!("/readyz: {e}")),
            }
        } else {
            progress.observe("no kubeconfig for the new cluster yet");
        }
        if left().is_zero() {
            progress.finish("timed out");
            return Err(StepFailure::new(
                "the rebuilt cluster's API never answered /readyz with ok; check the rebuild hook's output and the kubeconfig source",
            ));
        }
        ctx.stats.count("api-not-ready-yet");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    progress.finish("/readyz answers ok");
    ctx.phase("api-ready", gate.elapsed());
    ctx.check(
        "api-ready",
        true,
        "/readyz answers ok",
        conn.api_server.clone(),
    );

    // From here on, a restore of the sentinel volume that Longhorn gave up on ends the wait at
    // once, whichever gate is being awaited: with the orchestrator's Job failed, its Flux
    // Kustomization's health check never passes either, and no later gate can.
    let volume: Option<String> = ctx.record.facts.volume.clone();
    let ns = ctx.profile.expect.longhorn_namespace.clone();
    let client = conn.client.clone();
    let job = ctx.profile.expect.orchestrator_job.clone();
    let gates = Box::pin(gates(ctx, conn.clone(), deadline));
    let Some(volume) = volume else {
        return gates.await;
    };
    tokio::select! {
        res = gates => res,
        why = restore_watch::until_failed(&client, &ns, &volume) => {
            let logs = match job.as_deref().map(|j| j.split_once('/').unwrap_or((ns.as_str(), j))) {
                Some((job_ns, job_name)) => job_logs(&conn, job_ns, job_name).await,
                None => Vec::new(),
            };
            Err(StepFailure::new(why)
                .diagnostic(format!(
                    "kubectl -n {ns} get volumes.longhorn.io {volume} -o yaml; kubectl -n {ns} get events --field-selector involvedObject.name={volume}"
                ))
                .with_diagnostics(logs))
        }
    }
}

/// The gates after the API answers, in order; each phase timed.
async fn gates(ctx: &mut DrillContext, conn: cluster::Connection, deadline: Instant) -> StepResult {
    let left = || deadline.saturating_duration_since(Instant::now());
    // Nodes.
    if let Some(expected) = ctx.profile.expect.nodes {
        let gate = Instant::now();
        let nodes: Api<Node> = Api::all(conn.client.clone());
        wait::wait_for_set(
            nodes,
            watcher::Config::default(),
            &format!("{expected} Ready nodes"),
            left(),
            &ctx.stats,
            |ns: &[Node]| ready_nodes(ns) >= expected as usize,
            describe_nodes,
        )
        .await?;
        ctx.phase("nodes-ready", gate.elapsed());
        ctx.check("nodes-ready", true, format!("{expected} nodes Ready"), "ok");
    }

    // System pods.
    let system_pods = ctx.profile.expect.system_pods.clone();
    if !system_pods.is_empty() {
        let gate = Instant::now();
        let pods: Api<Pod> = Api::namespaced(conn.client.clone(), "kube-system");
        let wanted = system_pods.clone();
        wait::wait_for_set(
            pods,
            watcher::Config::default(),
            &format!(
                "system pods {} Running in kube-system",
                system_pods.join(", ")
            ),
            left(),
            &ctx.stats,
            move |ps: &[Pod]| {
                wanted
                    .iter()
                    .all(|w| ps.iter().any(|p| running_with_prefix(p, w)))
            },
            |ps| {
                format!(
                    "{} pods, running: {}",
                    ps.len(),
                    ps.iter().filter(|p| running_with_prefix(p, "")).count()
                )
            },
        )
        .await?;
        ctx.phase("system-pods", gate.elapsed());
    }

    // Flux Kustomizations, in the order the profile lists them.
    let gvk = GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization");
    let ar = ApiResource::from_gvk(&gvk);
    for name in ctx.profile.expect.kustomizations.clone() {
        let gate = Instant::now();
        let api: Api<DynamicObject> = Api::namespaced_with(conn.client.clone(), "flux-system", &ar);
        wait::wait_for(
            api,
            &name,
            &format!("Flux Kustomization flux-system/{name} Ready"),
            left(),
            &ctx.stats,
            |k: Option<&DynamicObject>| condition_true(k, "Ready"),
            |k| describe_condition(k, "Ready"),
        )
        .await?;
        ctx.phase(&format!("kustomization-{name}"), gate.elapsed());
    }

    // Longhorn and its backup target.
    let ns = ctx.profile.expect.longhorn_namespace.clone();
    let gate = Instant::now();
    let targets: Api<BackupTarget> = Api::namespaced(conn.client.clone(), &ns);
    wait::wait_for(
        targets.clone(),
        "default",
        "Longhorn's BackupTarget `default` available",
        left(),
        &ctx.stats,
        |t: Option<&BackupTarget>| {
            t.and_then(|t| t.status.as_ref())
                .is_some_and(|s| s.available)
        },
        |t| match t {
            None => "no BackupTarget yet (Longhorn not installed yet?)".into(),
            Some(t) => format!(
                "available={}",
                t.status.as_ref().is_some_and(|s| s.available)
            ),
        },
    )
    .await?;
    ctx.phase("longhorn-ready", gate.elapsed());

    // The sentinel's BackupVolume, discovered from the backup target.
    let volume: Option<String> = ctx.record.facts.volume.clone();
    if let Some(volume) = volume.clone() {
        let gate = Instant::now();
        let bvs: Api<BackupVolume> = Api::namespaced(conn.client.clone(), &ns);
        let v = volume.clone();
        let what = format!("the BackupVolume of {volume} to be discovered from the backup target");
        let discovered = wait::wait_for_set(
            bvs.clone(),
            watcher::Config::default(),
            &what,
            left(),
            &ctx.stats,
            move |set: &[BackupVolume]| set.iter().any(|bv| backup_volume_of(bv, &v)),
            |set| {
                format!(
                    "{} BackupVolumes: {}",
                    set.len(),
                    set.iter()
                        .filter_map(|b| b.metadata.name.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        );
        tokio::select! {
            res = discovered => {
                res.map_err(|e| StepFailure::new(format!(
                    "{e}. Longhorn discovers backups only when it polls the backup target (pollInterval, default 300 s; force it with spec.syncRequestedAt on the BackupTarget) — check the BackupTarget's credential secret"
                )))?;
            }
            why = synced_without(&targets, &bvs, &volume) => {
                return Err(StepFailure::new(why));
            }
        }
        ctx.phase("backupvolume-discovered", gate.elapsed());
    }

    // The restore orchestrator Job.
    if let Some(job_ref) = ctx.profile.expect.orchestrator_job.clone() {
        let (job_ns, job_name) = job_ref
            .split_once('/')
            .unwrap_or((ns.as_str(), job_ref.as_str()));
        let (job_ns, job_name) = (job_ns.to_string(), job_name.to_string());
        let gate = Instant::now();
        let jobs: Api<Job> = Api::namespaced(conn.client.clone(), &job_ns);
        let what = format!("restore orchestrator Job {job_ns}/{job_name} to finish");
        let job_done = wait::wait_for(
            jobs,
            &job_name,
            &what,
            left(),
            &ctx.stats,
            |j: Option<&Job>| job_finished(j).is_some(),
            |j| match j {
                None => {
                    "the Job does not exist (is the orchestrator part of the bootstrap?)".into()
                }
                Some(j) => format!(
                    "active={}, failed={}",
                    j.status.as_ref().and_then(|s| s.active).unwrap_or(0),
                    j.status.as_ref().and_then(|s| s.failed).unwrap_or(0)
                ),
            },
        );
        // The orchestrator's Job may retry (backoffLimit): the volume's own failure, watched by
        // `run` beside every gate, is the verdict, at once.
        let job = job_done.await?;
        if job_finished(job.as_ref()) == Some(false) {
            let logs = job_logs(&conn, &job_ns, &job_name).await;
            let cause = match &volume {
                Some(v) => restore_watch::failure_of(&conn.client, &ns, v).await,
                None => None,
            };
            let last_line = last_error_line(&logs);
            let msg = match (cause, last_line) {
                (Some(cause), _) => format!(
                    "the restore orchestrator Job {job_ns}/{job_name} failed: {cause}"
                ),
                (None, Some(line)) => format!(
                    "the restore orchestrator Job {job_ns}/{job_name} failed: {line}"
                ),
                (None, None) => format!(
                    "the restore orchestrator Job {job_ns}/{job_name} failed (its pods left no error line; see the logs below)"
                ),
            };
            return Err(StepFailure::new(msg).with_diagnostics(logs));
        }
        ctx.phase("orchestrator-done", gate.elapsed());
    }

    // The sentinel volume restored (whatever it was restored from: verify-restore judges that).
    if let Some(volume) = volume {
        let gate = Instant::now();
        let volumes: Api<Volume> = Api::namespaced(conn.client.clone(), &ns);
        let restored = wait::wait_for(
            volumes,
            &volume,
            &format!("Longhorn volume {volume} to exist and finish restoring"),
            left(),
            &ctx.stats,
            |v: Option<&Volume>| {
                v.and_then(|v| v.status.as_ref()).is_some_and(|s| {
                    (!s.restore_required && !s.state.is_empty() && s.state != "creating")
                        || restore_failed(s).is_some()
                })
            },
            |v| match v.and_then(|v| v.status.as_ref()) {
                None => "absent".into(),
                Some(s) => format!(
                    "state {}, restoreRequired {}, robustness {}",
                    s.state, s.restore_required, s.robustness
                ),
            },
        )
        .await?;
        if let Some(v) = &restored {
            if let Some(why) = restore_watch::describe(&conn.client, &ns, v).await {
                return Err(StepFailure::new(why).diagnostic(format!(
                    "kubectl -n {ns} get volumes.longhorn.io {volume} -o yaml; kubectl -n {ns} get events --field-selector involvedObject.name={volume}"
                )));
            }
        }
        ctx.phase("volume-restored", gate.elapsed());
    }

    // The sentinel workload.
    let gate = Instant::now();
    let s = ctx.scenario.sentinel.clone();
    let deployments: Api<Deployment> = Api::namespaced(conn.client.clone(), &s.namespace);
    wait_available(ctx, &deployments, &s.deployment, left()).await?;
    ctx.phase("workload-available", gate.elapsed());
    let _ = longhorn::NAMESPACE;
    Ok(())
}

/// How many syncs of the backup target must pass without the volume's BackupVolume before the
/// wait gives up early (the first may have started before the wait did).
const SYNCS_WITHOUT_DISCOVERY: u32 = 2;

/// Resolves, with the reason, once Longhorn has synced the backup target
/// [`SYNCS_WITHOUT_DISCOVERY`] times after this call and still lists no BackupVolume of
/// `volume`; pends otherwise. Longhorn creates the BackupVolume objects of every volume it
/// finds on the target *before* it records the sync's `status.lastSyncedAt`
/// (longhorn-manager@v1.9.1:controller/backup_target_controller.go: `syncBackupVolume` runs,
/// then the deferred status update sets `LastSyncedAt`), so a completed sync without it means
/// the sync did not find the volume — polling longer will not help.
async fn synced_without(
    targets: &Api<BackupTarget>,
    bvs: &Api<BackupVolume>,
    volume: &str,
) -> String {
    let synced_at = |t: Option<BackupTarget>| {
        t.and_then(|t| t.status)
            .map(|s| s.last_synced_at)
            .unwrap_or_default()
    };
    let mut last = synced_at(targets.get_opt("default").await.ok().flatten());
    let mut syncs = Vec::new();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = synced_at(targets.get_opt("default").await.ok().flatten());
        if now.is_empty() || now == last {
            continue;
        }
        last = now.clone();
        syncs.push(now);
        if syncs.len() < SYNCS_WITHOUT_DISCOVERY as usize {
            continue;
        }
        // A fresh list, not the watch's view: the objects precede the sync's timestamp.
        let Ok(list) = bvs.list(&ListParams::default()).await else {
            continue;
        };
        if list.items.iter().any(|bv| backup_volume_of(bv, volume)) {
            // found: the watch-based wait will see it too
            std::future::pending::<()>().await;
        }
        let names: Vec<String> = list
            .items
            .iter()
            .filter_map(|b| b.metadata.name.clone())
            .collect();
        return format!(
            "Longhorn synced the backup target {} times after the rebuild (lastSyncedAt {}) and found no BackupVolume of {volume} (it lists {}: {}), although the backup was proven in S3 before the destroy. Longhorn does not see the backup: check the BackupTarget's URL and credential secret in the rebuilt cluster against the profile's backup target",
            syncs.len(),
            syncs.join(", "),
            list.items.len(),
            if names.is_empty() { "none".to_string() } else { names.join(", ") }
        );
    }
}

/// The nodes' readiness, naming each NotReady node with its `Ready` condition's reason and
/// message (what the kubelet or node controller says).
fn describe_nodes(nodes: &[Node]) -> String {
    let mut text = format!("{} of {} nodes Ready", ready_nodes(nodes), nodes.len());
    let not_ready: Vec<String> = nodes
        .iter()
        .filter_map(|n| {
            let cond = n
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
            match cond {
                Some(c) if c.status == "True" => None,
                Some(c) => Some(format!(
                    "{} Ready={} ({}: {})",
                    n.metadata.name.clone().unwrap_or_default(),
                    c.status,
                    c.reason.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default()
                )),
                None => Some(format!(
                    "{} (no Ready condition)",
                    n.metadata.name.clone().unwrap_or_default()
                )),
            }
        })
        .collect();
    if !not_ready.is_empty() {
        text.push_str(&format!("; NotReady: {}", not_ready.join(", ")));
    }
    text
}

/// The last line of the orchestrator's logs that reports an error (its final word on failure).
fn last_error_line(logs: &[String]) -> Option<String> {
    logs.iter()
        .flat_map(|block| block.lines())
        .rfind(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("error") || l.contains("could not") || l.contains("failed")
        })
        .map(|l| l.trim().to_string())
}

fn ready_nodes(nodes: &[Node]) -> usize {
    nodes
        .iter()
        .filter(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .count()
}

fn running_with_prefix(p: &Pod, prefix: &str) -> bool {
    p.metadata
        .name
        .as_deref()
        .is_some_and(|n| n.starts_with(prefix))
        && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

fn condition_true(obj: Option<&DynamicObject>, type_: &str) -> bool {
    obj.and_then(|o| o.data["status"]["conditions"].as_array().cloned())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == type_ && c["status"] == "True")
        })
}

fn describe_condition(obj: Option<&DynamicObject>, type_: &str) -> String {
    match obj {
        None => "absent".into(),
        Some(o) => o.data["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == type_).cloned())
            .map(|c| format!("{}={} ({})", type_, c["status"], c["message"]))
            .unwrap_or_else(|| format!("no {type_} condition yet")),
    }
}

/// Whether a BackupVolume belongs to `volume` under either Longhorn naming.
pub fn backup_volume_of(bv: &BackupVolume, volume: &str) -> bool {
    bv.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(longhorn::LABEL_BACKUP_VOLUME))
        .map(String::as_str)
        == Some(volume)
        || bv.spec.volume_name.as_deref() == Some(volume)
        || bv.metadata.name.as_deref() == Some(volume)
}

/// Some(true) when the Job completed, Some(false) when it failed, None while it runs.
pub fn job_finished(job: Option<&Job>) -> Option<bool> {
    let conds = job?.status.as_ref()?.conditions.as_ref()?;
    if conds
        .iter()
        .any(|c| c.type_ == "Complete" && c.status == "True")
    {
        Some(true)
    } else if conds
        .iter()
        .any(|c| c.type_ == "Failed" && c.status == "True")
    {
        Some(false)
    } else {
        None
    }
}

/// The last lines of the logs of a Job's pods, for a failure's diagnostics.
pub async fn job_logs(conn: &cluster::Connection, ns: &str, job: &str) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(conn.client.clone(), ns);
    let Ok(list) = pods
        .list(&ListParams::default().labels(&format!("job-name={job}")))
        .await
    else {
        return vec![format!("could not list the pods of Job {ns}/{job}")];
    };
    let mut out = Vec::new();
    for p in list.items {
        let name = p.metadata.name.unwrap_or_default();
        let params = LogParams {
            tail_lines: Some(20),
            ..Default::default()
        };
        match pods.logs(&name, &params).await {
            Ok(text) => out.push(format!("logs of pod {ns}/{name}:\n{text}")),
            Err(e) => out.push(format!("logs of pod {ns}/{name} unavailable: {e}")),
        }
    }
    out
}
