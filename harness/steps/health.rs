//! `health`: the seed's health-check script as a read-only step — the API answers `/readyz`,
//! the expected number of nodes is Ready, the system pods run, every Longhorn volume is healthy,
//! and the health URLs answer.
//!
//! All checks are evaluated together so one run names every problem at once (a degraded volume
//! and a NotReady node are often the same incident). With `wait`, the whole set is re-evaluated
//! until it passes or the wait is over, so the step also serves as the last phase of a
//! destructive scenario, where the rebuilt cluster is still settling; the verdict is always
//! that of the last evaluation. A passing evaluation is never taken at its word: the step
//! passes only when every check kept passing over the `settle` window (default 3 s), so a
//! volume that turns degraded a moment after the first read is still caught.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::ListParams;
use kube::Api;

use crate::cluster::progress::Progress;
use crate::cluster::{retry, Connection, RetryStats};
use crate::config::scenario::HealthStep;
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};
use crate::longhorn::Volume;

/// Pause between two evaluations while waiting for the cluster to settle.
const RECHECK_EVERY: Duration = Duration::from_millis(500);

/// What the step checks, with the profile's `[expect]` defaults filled in.
#[derive(Debug, Clone)]
struct Plan {
    nodes: Option<u32>,
    system_pods: Vec<String>,
    optional_system_pods: Vec<String>,
    urls: Vec<String>,
    url_timeout: Duration,
    longhorn_namespace: Option<String>,
}

/// The verdict of one check in one evaluation.
#[derive(Debug, Clone)]
struct Finding {
    name: String,
    passed: bool,
    expected: String,
    found: String,
}

impl Finding {
    fn new(
        name: impl Into<String>,
        passed: bool,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        Finding {
            name: name.into(),
            passed,
            expected: expected.into(),
            found: found.into(),
        }
    }
}

/// Runs `health`: evaluates API `/readyz`, node count, system pods, Longhorn volume robustness and
/// the health URLs together, re-evaluating with `spec.wait` and requiring `settle` (default 3 s) of
/// passing. Reads and writes no [`DrillFacts`](crate::engine::facts::DrillFacts).
///
/// # Errors
/// A [`StepFailure`] listing every failing check of the last evaluation.
pub async fn run(ctx: &mut DrillContext, spec: &HealthStep) -> StepResult {
    let expect = &ctx.profile.expect;
    let plan = Plan {
        nodes: spec.nodes.or(expect.nodes),
        system_pods: spec
            .system_pods
            .clone()
            .unwrap_or_else(|| expect.system_pods.clone()),
        optional_system_pods: spec.optional_system_pods.clone(),
        urls: spec
            .urls
            .clone()
            .unwrap_or_else(|| expect.health_urls.clone()),
        url_timeout: spec.url_timeout,
        longhorn_namespace: spec
            .longhorn_volumes
            .then(|| expect.longhorn_namespace.clone()),
    };
    let conn = ctx.conn().await?;
    let http = http_client(plan.url_timeout)?;
    let deadline = Instant::now() + spec.wait.unwrap_or_default();
    let mut rounds = 0u32;
    let mut healthy_since: Option<Instant> = None;
    let mut progress = Progress::start(
        "the cluster to be healthy and stay so",
        spec.wait.unwrap_or_default() + spec.settle,
    );
    let findings = loop {
        rounds += 1;
        let findings = evaluate(&conn, &http, &plan, &ctx.stats).await;
        let healthy = findings.iter().all(|f| f.passed);
        progress.observe(&summary(&findings));
        if ctx.cancel.is_cancelled() {
            break findings;
        }
        if healthy {
            // Passing only once the good state has held for the whole settle window.
            let since = *healthy_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= spec.settle {
                break findings;
            }
        } else {
            healthy_since = None;
            if Instant::now() >= deadline {
                break findings;
            }
        }
        tokio::time::sleep(RECHECK_EVERY).await;
    };
    progress.finish(&summary(&findings));
    if rounds > 1 {
        ctx.say(format!(
            "health evaluated {rounds} times while the cluster settled"
        ));
    }
    let mut problems = Vec::new();
    for f in &findings {
        if !ctx.check(&f.name, f.passed, f.expected.clone(), f.found.clone()) {
            problems.push(format!(
                "{}: expected {}, found {}",
                f.name, f.expected, f.found
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let waited = match spec.wait {
        Some(w) => format!(
            " (still so after waiting {})",
            crate::config::values::format_duration(w)
        ),
        None => String::new(),
    };
    Err(StepFailure::new(format!(
        "the cluster at {} is not healthy{waited}: {}. Look at `kubectl get nodes`, `kubectl -n kube-system get pods` and `kubectl -n {} get volumes.longhorn.io`",
        conn.api_server,
        problems.join("; "),
        ctx.profile.expect.longhorn_namespace
    )))
}

/// The failing checks of one evaluation, short (for progress events).
fn summary(findings: &[Finding]) -> String {
    let failing: Vec<&str> = findings
        .iter()
        .filter(|f| !f.passed)
        .map(|f| f.name.as_str())
        .collect();
    if failing.is_empty() {
        format!("all {} checks pass", findings.len())
    } else {
        format!("failing: {}", failing.join(", "))
    }
}

/// A client for the health URLs: no redirects (a 3xx counts as an answer), `timeout` per request.
fn http_client(timeout: Duration) -> Result<reqwest::Client, StepFailure> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .build()
        .map_err(|e| {
            StepFailure::new(format!(
                "could not build the HTTP client for the health URLs: {e}"
            ))
        })
}

/// One evaluation of every check of `plan`.
async fn evaluate(
    conn: &Connection,
    http: &reqwest::Client,
    plan: &Plan,
    stats: &RetryStats,
) -> Vec<Finding> {
    let mut out = vec![readyz(conn).await];
    if let Some(expected) = plan.nodes {
        out.push(nodes(conn, expected, stats).await);
    }
    if !plan.system_pods.is_empty() || !plan.optional_system_pods.is_empty() {
        out.extend(system_pods(conn, &plan.system_pods, &plan.optional_system_pods, stats).await);
    }
    if let Some(ns) = &plan.longhorn_namespace {
        out.push(longhorn_volumes(conn, ns, stats).await);
    }
    let probes = plan.urls.iter().map(|u| url(http, u, plan.url_timeout));
    out.extend(futures::future::join_all(probes).await);
    out
}

/// `/readyz` answers `ok` (Kubernetes API health endpoint).
async fn readyz(conn: &Connection) -> Finding {
    let found = match http::Request::get("/readyz").body(Vec::new()) {
        Err(e) => format!("request not built: {e}"),
        Ok(req) => match conn.client.request_text(req).await {
            Ok(text) => text.trim().to_string(),
            Err(e) => format!("error: {e}"),
        },
    };
    Finding::new(
        "api-readyz",
        found == "ok",
        format!("{}/readyz answers ok", conn.api_server),
        found,
    )
}

/// Node `Ready` condition (`status.conditions[type=Ready].status == "True"`).
fn node_ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// At least `expected` nodes Ready; the NotReady ones are named.
async fn nodes(conn: &Connection, expected: u32, stats: &RetryStats) -> Finding {
    let api: Api<Node> = Api::all(conn.client.clone());
    let want = format!("{expected} nodes Ready");
    let lp_all = ListParams::default();
    match retry::with_retry(stats, "api", || api.list(&lp_all)).await {
        Err(e) => Finding::new("nodes-ready", false, want, format!("nodes not listed: {e}")),
        Ok(list) => {
            let ready = list.items.iter().filter(|n| node_ready(n)).count();
            let not_ready: Vec<String> = list
                .items
                .iter()
                .filter(|n| !node_ready(n))
                .filter_map(|n| n.metadata.name.clone())
                .collect();
            let mut found = format!("{ready} of {} nodes Ready", list.items.len());
            if !not_ready.is_empty() {
                found.push_str(&format!("; NotReady: {}", not_ready.join(", ")));
            }
            Finding::new("nodes-ready", ready >= expected as usize, want, found)
        }
    }
}

fn pod_name(p: &Pod) -> String {
    p.metadata.name.clone().unwrap_or_default()
}

fn pod_phase(p: &Pod) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Unknown".into())
}

/// Every `kube-system` pod named with a required prefix is Running (and there is at least one);
/// pods with an optional prefix are checked only when present.
async fn system_pods(
    conn: &Connection,
    required: &[String],
    optional: &[String],
    stats: &RetryStats,
) -> Vec<Finding> {
    let api: Api<Pod> = Api::namespaced(conn.client.clone(), "kube-system");
    let lp_all = ListParams::default();
    let pods = match retry::with_retry(stats, "api", || api.list(&lp_all)).await {
        Ok(list) => list.items,
        Err(e) => {
            return vec![Finding::new(
                "system-pods",
                false,
                "kube-system pods listed",
                format!("not listed: {e}"),
            )];
        }
    };
    let mut out = Vec::new();
    let prefixes = required
        .iter()
        .map(|p| (p, true))
        .chain(optional.iter().map(|p| (p, false)));
    for (prefix, must_exist) in prefixes {
        let matching: Vec<&Pod> = pods
            .iter()
            .filter(|p| pod_name(p).starts_with(prefix.as_str()))
            .collect();
        if matching.is_empty() && !must_exist {
            continue;
        }
        let bad: Vec<String> = matching
            .iter()
            .filter(|p| pod_phase(p) != "Running" || p.metadata.deletion_timestamp.is_some())
            .map(|p| format!("{} {}", pod_name(p), pod_phase(p)))
            .collect();
        let found = if matching.is_empty() {
            "no such pod".to_string()
        } else if bad.is_empty() {
            format!("{} Running", matching.len())
        } else {
            format!("not Running: {}", bad.join(", "))
        };
        out.push(Finding::new(
            format!("system-pod-{prefix}"),
            !matching.is_empty() && bad.is_empty(),
            format!("kube-system pods {prefix}* Running"),
            found,
        ));
    }
    out
}

/// Every Longhorn volume healthy. Longhorn reports `unknown` for a detached volume (no replica
/// is running), so only `degraded`, `faulted`, or `unknown` while attached count against it
/// (longhorn-manager v1beta2 `VolumeRobustness`).
async fn longhorn_volumes(conn: &Connection, ns: &str, stats: &RetryStats) -> Finding {
    let api: Api<Volume> = Api::namespaced(conn.client.clone(), ns);
    let want = format!("every Longhorn volume in {ns} healthy");
    let lp_all = ListParams::default();
    match retry::with_retry(stats, "api", || api.list(&lp_all)).await {
        Err(e) => Finding::new(
            "longhorn-volumes-healthy",
            false,
            want,
            format!("volumes not listed: {e}"),
        ),
        Ok(list) => {
            let unhealthy: Vec<String> = list
                .items
                .iter()
                .filter_map(|v| {
                    let st = v.status.clone().unwrap_or_default();
                    let bad = !crate::longhorn::robustness_ok(&st.state, &st.robustness)
                        && !st.robustness.is_empty();
                    bad.then(|| {
                        format!(
                            "{} ({})",
                            v.metadata.name.clone().unwrap_or_default(),
                            st.robustness
                        )
                    })
                })
                .collect();
            let found = if unhealthy.is_empty() {
                format!("{} volumes, none degraded or faulted", list.items.len())
            } else {
                format!("not healthy: {}", unhealthy.join(", "))
            };
            Finding::new(
                "longhorn-volumes-healthy",
                unhealthy.is_empty(),
                want,
                found,
            )
        }
    }
}

/// `url` answers 2xx or 3xx within `timeout`.
async fn url(http: &reqwest::Client, url: &str, timeout: Duration) -> Finding {
    let want = format!(
        "{url} answers 2xx/3xx within {}",
        crate::config::values::format_duration(timeout)
    );
    let name = format!("health-url {url}");
    match http.get(url).send().await {
        Ok(resp) => {
            let status = resp.status();
            let ok = status.is_success() || status.is_redirection();
            Finding::new(name, ok, want, format!("HTTP {}", status.as_u16()))
        }
        Err(e) if e.is_timeout() => {
            Finding::new(name, false, want, "no answer in time".to_string())
        }
        Err(e) => Finding::new(name, false, want, format!("no answer: {e}")),
    }
}
