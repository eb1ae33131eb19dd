//! Jobs: a pod that runs its container command to completion.
//!
//! The Job controller creates one pod at a time (`<job>-<5 chars>`, labels `job-name`,
//! `batch.kubernetes.io/job-name`, `controller-uid`), the pod is scheduled and started like any
//! other (volumes must be usable), then its first container's `command` + `args` run to
//! completion in the data-plane runtime (busybox, or the `dr-harness` binary for images named
//! `dr-harness`). The pod ends `Succeeded`/`Failed` with a terminated containerStatus and its
//! logs kept; the Job counts `succeeded`/`failed` and gets condition `Complete` or, once failures
//! exceed `spec.backoffLimit` (default 6), `Failed` (`BackoffLimitExceeded`).
//! Simplification: a failed attempt is always a new pod (as `restartPolicy: Never`), and
//! `parallelism`/`completions` above 1 are not simulated (see FIDELITY.md).
//! Fault `orchestrator-skipped`: the restore-orchestrator Job's pod exits 0 without running.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

use super::context::{Controller, Ctx};
use super::naming::job_pod_name;
use super::object::{condition, name, namespace, now_rfc3339, set_condition, str_at, uid};
use super::pods::{
    attach_volumes, claim_volumes, container_statuses, ensure_scheduled, is_job_pod, running_status,
};
use super::workloads::{owned_pods, pod_from_template};
use crate::api::resources::{JOBS, LH_VOLUMES, NODES, PODS, PVCS};
use crate::api::ResourceType;
use crate::faults::Fault;

/// Whether a Job has finished (condition `Complete` or `Failed` is True).
pub fn job_finished(job: &Value) -> bool {
    condition(job, "Complete") == Some(true) || condition(job, "Failed") == Some(true)
}

/// Whether a pod runs the restore orchestrator (the project's `dr-harness` image).
pub fn is_orchestrator_pod(pod: &Value) -> bool {
    str_at(pod, "/spec/containers/0/image").is_some_and(|i| i.contains("dr-harness"))
        || super::object::label(pod, "app.kubernetes.io/name") == Some("restore-orchestrator")
}

/// Reconciles Jobs and runs their pods.
#[derive(Default)]
pub struct JobController {
    startable_since: HashMap<String, Instant>,
    running: HashSet<String>,
}

impl Controller for JobController {
    fn name(&self) -> &'static str {
        "jobs"
    }

    fn watches(&self) -> &'static [&'static ResourceType] {
        static W: [&ResourceType; 5] = [&JOBS, &PODS, &NODES, &PVCS, &LH_VOLUMES];
        &W
    }

    fn reconcile(&mut self, ctx: &Arc<Ctx>) {
        let store = &ctx.store;
        for job in store.list(&JOBS, None) {
            if job.pointer("/spec/selector").is_none_or(Value::is_null) {
                // The API server defaults a Job's selector to its controller-uid label
                // (manualSelector unset); kubectl finds a Job's pods (`logs job/x`) through it.
                let job_uid = uid(&job).to_string();
                let _ = store.modify(&JOBS, namespace(&job), name(&job), |o| {
                    o["spec"]["selector"] =
                        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": job_uid}});
                });
            }
            if job_finished(&job) {
                continue;
            }
            let ns = namespace(&job).unwrap_or("default").to_string();
            let job_name = name(&job).to_string();
            let pods = owned_pods(store, Some(&ns), uid(&job));
            let phase = |p: &Value| str_at(p, "/status/phase").unwrap_or("").to_string();
            let succeeded = pods.iter().filter(|p| phase(p) == "Succeeded").count();
            let failed = pods.iter().filter(|p| phase(p) == "Failed").count();
            let active = pods.len() - succeeded - failed;
            let backoff = job
                .pointer("/spec/backoffLimit")
                .and_then(Value::as_u64)
                .unwrap_or(6) as usize;
            let now = now_rfc3339();
            let _ = store.modify(&JOBS, Some(&ns), &job_name, |o| {
                let st = super::object::obj_mut(o, "status");
                st.entry("startTime").or_insert_with(|| json!(now));
                st.insert("active".into(), json!(active));
                st.insert("succeeded".into(), json!(succeeded));
                st.insert("failed".into(), json!(failed));
                st.insert("ready".into(), json!(0));
                if succeeded >= 1 {
                    st.insert("active".into(), json!(0));
                    st.insert("completionTime".into(), json!(now));
                    set_condition(
                        o,
                        "SuccessCriteriaMet",
                        true,
                        "CompletionsReached",
                        "Reached expected number of succeeded pods",
                    );
                    set_condition(
                        o,
                        "Complete",
                        true,
                        "CompletionsReached",
                        "Reached expected number of succeeded pods",
                    );
                } else if failed > backoff {
                    set_condition(
                        o,
                        "FailureTarget",
                        true,
                        "BackoffLimitExceeded",
                        "Job has reached the specified backoff limit",
                    );
                    set_condition(
                        o,
                        "Failed",
                        true,
                        "BackoffLimitExceeded",
                        "Job has reached the specified backoff limit",
                    );
                }
            });
            if succeeded >= 1 {
                super::events::record(
                    store,
                    &JOBS,
                    &job,
                    "job-controller",
                    super::events::EventKind::Normal,
                    "Completed",
                    "Job completed",
                );
            } else if failed > backoff {
                super::events::record(
                    store,
                    &JOBS,
                    &job,
                    "job-controller",
                    super::events::EventKind::Warning,
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                );
            } else if active == 0 {
                let pod_name = job_pod_name(&job_name);
                let job_uid = uid(&job).to_string();
                let extra = [
                    ("job-name", job_name.as_str()),
                    ("batch.kubernetes.io/job-name", job_name.as_str()),
                    ("controller-uid", job_uid.as_str()),
                    ("batch.kubernetes.io/controller-uid", job_uid.as_str()),
                ];
                let mut pod = pod_from_template(&job, "batch/v1", "Job", &pod_name, &extra, None);
                pod["spec"]["restartPolicy"] = json!("Never");
                if let Err(e) = store.create(&PODS, Some(&ns), pod) {
                    tracing::debug!(job = %job_name, error = %e, "job pod not created");
                } else {
                    let msg = format!("Created pod: {pod_name}");
                    super::events::record(
                        store,
                        &JOBS,
                        &job,
                        "job-controller",
                        super::events::EventKind::Normal,
                        "SuccessfulCreate",
                        &msg,
                    );
                }
            }
        }
        self.start_pods(ctx);
    }
}

impl JobController {
    fn start_pods(&mut self, ctx: &Arc<Ctx>) {
        let store = &ctx.store;
        let pods: Vec<Value> = store
            .list(&PODS, None)
            .into_iter()
            .filter(is_job_pod)
            .collect();
        for pod in &pods {
            let id = uid(pod).to_string();
            if str_at(pod, "/status/phase") != Some("Pending") || self.running.contains(&id) {
                continue;
            }
            let Some(node) = ensure_scheduled(store, pod) else {
                continue;
            };
            let ns = namespace(pod).unwrap_or("default").to_string();
            let Ok(volumes) = claim_volumes(store, &ns, pod) else {
                self.startable_since.remove(&id);
                continue;
            };
            let since = *self
                .startable_since
                .entry(id.clone())
                .or_insert_with(Instant::now);
            if since.elapsed() < ctx.timing.pod_start {
                continue;
            }
            attach_volumes(store, &volumes, &node, pod);
            let status = running_status(pod, &node, store);
            let Ok(running) = store.modify(&PODS, Some(&ns), name(pod), |p| p["status"] = status)
            else {
                continue;
            };
            self.running.insert(id);
            let task_ctx = ctx.clone();
            ctx.spawn(async move { run_pod(task_ctx, running).await });
        }
        let live: HashSet<&str> = pods.iter().map(uid).collect();
        self.running.retain(|u| live.contains(u.as_str()));
        self.startable_since
            .retain(|u, _| live.contains(u.as_str()));
    }
}

/// The command line of a pod's first container (`command` followed by `args`).
pub fn container_command(pod: &Value) -> Vec<String> {
    let strings = |p: &str| -> Vec<String> {
        pod.pointer(p)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut cmd = strings("/spec/containers/0/command");
    cmd.extend(strings("/spec/containers/0/args"));
    cmd
}

async fn run_pod(ctx: Arc<Ctx>, pod: Value) {
    let ns = namespace(&pod).unwrap_or("default").to_string();
    let pod_name = name(&pod).to_string();
    let started = now_rfc3339();
    let (exit, note) =
        if is_orchestrator_pod(&pod) && ctx.faults.is_set(Fault::OrchestratorSkipped.name()) {
            (
                0,
                Some("restore orchestrator did nothing (sandbox fault orchestrator-skipped)\n"),
            )
        } else if is_orchestrator_pod(&pod) && ctx.harness_bin.is_none() {
            (
            0,
            Some(
                "no dr-harness binary configured for this sandbox: restore orchestrator not run\n",
            ),
        )
        } else {
            let command = container_command(&pod);
            // start failures come back as exit 128 with the reason in the pod log
            (ctx.runtime.run_to_completion(&pod, command).await.0, None)
        };
    if let Some(text) = note {
        ctx.runtime.append_log(&ns, &pod_name, text);
    }
    let finished = now_rfc3339();
    let (phase, reason) = if exit == 0 {
        ("Succeeded", "Completed")
    } else {
        ("Failed", "Error")
    };
    let containers = container_statuses(
        &pod,
        |_| json!({"terminated": {"exitCode": exit, "reason": reason, "startedAt": started, "finishedAt": finished}}),
        false,
    );
    let _ = ctx.store.modify(&PODS, Some(&ns), &pod_name, |p| {
        p["status"]["phase"] = json!(phase);
        p["status"]["containerStatuses"] = containers;
        set_condition(p, "Ready", false, "PodCompleted", "");
        set_condition(p, "ContainersReady", false, "PodCompleted", "");
    });
}
