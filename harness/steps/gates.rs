//! `gates`: a recovery that must follow an order (seed storage-and-recovery-order.md: Longhorn
//! volumes restored → Vault unsealed → secrets synced → the app scaled up last). Each gate is a
//! readiness probe — a Kubernetes status condition or field, an HTTP answer, or a command on
//! the harness host — and all gates are probed together every `poll_interval`.
//!
//! The step records when each gate first became ready as the phase `gate-<name>` (seconds from
//! the start of the step), fails when a gate is not ready within its timeout, and fails on an
//! **order violation**: gate k ready while some earlier gate j is not — the app started before its
//! secrets, say. Both are named. Probes of one round run concurrently, so before calling a
//! violation the earlier gates are probed once more: a gate that opened between two probes of the
//! same round is in order, not a violation.

use std::time::{Duration, Instant};

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::Api;
use serde_json::Value;

use crate::cluster::Connection;
use crate::config::scenario::{GateCheck, GateProbe, GatesStep, ObjectRef, ReadinessGate};
use crate::config::values::format_duration;
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};

/// Time one HTTP probe may take.
const HTTP_PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Time one command probe may take.
const COMMAND_PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Kept back from the step's own timeout so the step fails with its own message first.
const STEP_MARGIN: Duration = Duration::from_secs(2);

/// One probe's answer: ready or not, and what was seen (for messages).
#[derive(Debug, Clone)]
struct Seen {
    ready: bool,
    what: String,
}

/// Runs `gates`: probes every gate of `spec` each `poll_interval` until all are ready, recording
/// phase `gate-<name>` (seconds from the step's start); `budget` bounds the whole step. Reads and
/// writes no [`DrillFacts`](crate::engine::facts::DrillFacts).
///
/// # Errors
/// A [`StepFailure`] when a gate is not ready within its timeout, or on an order violation (a later
/// gate ready while an earlier one is not).
pub async fn run(ctx: &mut DrillContext, spec: &GatesStep, budget: Duration) -> StepResult {
    validate(spec)?;
    let conn = ctx.conn().await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(HTTP_PROBE_TIMEOUT)
        .build()
        .map_err(|e| {
            StepFailure::new(format!(
                "could not build the HTTP client for the gates: {e}"
            ))
        })?;
    let gates = &spec.gates;
    let default_timeout = budget.saturating_sub(STEP_MARGIN);
    let order = gates
        .iter()
        .map(|g| g.name.as_str())
        .collect::<Vec<_>>()
        .join(" → ");
    ctx.say(format!(
        "waiting for {} gates in order: {order}",
        gates.len()
    ));
    let started = Instant::now();
    let mut ready_at: Vec<Option<Duration>> = vec![None; gates.len()];
    let mut last: Vec<String> = vec!["not probed yet".to_string(); gates.len()];
    loop {
        let pending: Vec<usize> = (0..gates.len())
            .filter(|i| ready_at[*i].is_none())
            .collect();
        let answers = probe_all(&conn, &http, gates, &pending).await;
        let now = started.elapsed();
        for (i, seen) in pending.iter().zip(answers) {
            last[*i] = seen.what;
            if seen.ready {
                ready_at[*i] = Some(now);
            }
        }
        if let Some((early, late)) = violation(&ready_at) {
            // Re-probe the earlier gates still closed: one that opened during this round is in order.
            let closed: Vec<usize> = (0..late).filter(|j| ready_at[*j].is_none()).collect();
            let again = probe_all(&conn, &http, gates, &closed).await;
            for (j, seen) in closed.iter().zip(again) {
                last[*j] = seen.what;
                if seen.ready {
                    ready_at[*j] = Some(now);
                }
            }
            if violation(&ready_at).is_some() {
                record(ctx, gates, &ready_at, &last);
                return Err(StepFailure::new(format!(
                    "order violation: gate `{}` (#{}) became ready after {:.1}s while the earlier gate `{}` (#{}) is not ready ({}); the declared recovery order is {order} — the later component started before what it depends on",
                    gates[late].name,
                    late + 1,
                    ready_at[late].unwrap_or_default().as_secs_f64(),
                    gates[early].name,
                    early + 1,
                    last[early]
                )));
            }
        }
        for (i, g) in gates.iter().enumerate() {
            if let Some(at) = ready_at[i] {
                ctx.phase(&format!("gate-{}", g.name), at);
            }
        }
        if ready_at.iter().all(Option::is_some) {
            record(ctx, gates, &ready_at, &last);
            return Ok(());
        }
        let elapsed = started.elapsed();
        let expired = (0..gates.len()).find(|i| {
            ready_at[*i].is_none() && elapsed >= gates[*i].timeout.unwrap_or(default_timeout)
        });
        if let Some(i) = expired {
            record(ctx, gates, &ready_at, &last);
            let opened: Vec<String> = (0..gates.len())
                .filter_map(|j| {
                    ready_at[j].map(|t| format!("{} at {:.1}s", gates[j].name, t.as_secs_f64()))
                })
                .collect();
            return Err(StepFailure::new(format!(
                "gate `{}` (#{}) was not ready within {}; last seen: {}; gates ready: {}; look at {}",
                gates[i].name,
                i + 1,
                format_duration(gates[i].timeout.unwrap_or(default_timeout)),
                last[i],
                if opened.is_empty() { "none".to_string() } else { opened.join(", ") },
                where_to_look(&gates[i].probe)
            )));
        }
        if ctx.cancel.is_cancelled() {
            return Err(StepFailure::new("interrupted while waiting for the gates"));
        }
        tokio::time::sleep(spec.poll_interval).await;
    }
}

/// Names unique and at least one gate.
fn validate(spec: &GatesStep) -> StepResult {
    if spec.gates.is_empty() {
        return Err(StepFailure::new(
            "the gates step declares no gates; add [[steps.gates]] tables",
        ));
    }
    for (i, g) in spec.gates.iter().enumerate() {
        if spec.gates[..i].iter().any(|h| h.name == g.name) {
            return Err(StepFailure::new(format!(
                "gate name `{}` is used twice; give each gate its own name",
                g.name
            )));
        }
    }
    Ok(())
}

/// The first pair (earlier closed gate, later open gate), if any.
fn violation(ready_at: &[Option<Duration>]) -> Option<(usize, usize)> {
    let late = (0..ready_at.len())
        .find(|k| ready_at[*k].is_some() && ready_at[..*k].iter().any(Option::is_none))?;
    let early = ready_at[..late].iter().position(Option::is_none)?;
    Some((early, late))
}

/// One check per gate: ready, and when.
fn record(
    ctx: &mut DrillContext,
    gates: &[ReadinessGate],
    ready_at: &[Option<Duration>],
    last: &[String],
) {
    for (i, g) in gates.iter().enumerate() {
        let found = match ready_at[i] {
            Some(t) => format!("ready after {:.1}s: {}", t.as_secs_f64(), last[i]),
            None => format!("not ready: {}", last[i]),
        };
        ctx.check(
            &format!("gate {}", g.name),
            ready_at[i].is_some(),
            format!("gate #{} ready, in order", i + 1),
            found,
        );
    }
}

/// Probes the gates at `which` concurrently; answers in the same order.
async fn probe_all(
    conn: &Connection,
    http: &reqwest::Client,
    gates: &[ReadinessGate],
    which: &[usize],
) -> Vec<Seen> {
    futures::future::join_all(which.iter().map(|i| probe(conn, http, &gates[*i].probe))).await
}

async fn probe(conn: &Connection, http: &reqwest::Client, p: &GateProbe) -> Seen {
    match p {
        GateProbe::Condition { object, check } => probe_object(conn, object, check).await,
        GateProbe::Http {
            url,
            expect_status,
            expect_body_contains,
        } => probe_http(http, url, *expect_status, expect_body_contains.as_deref()).await,
        GateProbe::Command { argv } => probe_command(argv).await,
    }
}

/// `apps/v1` → (`apps`, `v1`); `v1` → (``, `v1`).
fn group_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

async fn probe_object(conn: &Connection, o: &ObjectRef, check: &GateCheck) -> Seen {
    let (group, version) = group_version(&o.api_version);
    // The plural is derived from the kind as kube does; good for every kind a recovery gates on.
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, &o.kind));
    let api: Api<DynamicObject> = match &o.namespace {
        Some(ns) => Api::namespaced_with(conn.client.clone(), ns, &ar),
        None => Api::all_with(conn.client.clone(), &ar),
    };
    let id = format!(
        "{} {}{}",
        o.kind,
        o.namespace
            .as_ref()
            .map(|n| format!("{n}/"))
            .unwrap_or_default(),
        o.name
    );
    let obj = match api.get_opt(&o.name).await {
        Ok(Some(obj)) => obj,
        Ok(None) => {
            return Seen {
                ready: false,
                what: format!("{id} does not exist"),
            }
        }
        Err(e) => {
            return Seen {
                ready: false,
                what: format!("{id} not read: {e}"),
            }
        }
    };
    let value = serde_json::to_value(&obj).unwrap_or(Value::Null);
    match check {
        GateCheck::ConditionType(t) => {
            let cond = value
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| {
                    cs.iter()
                        .find(|c| c.get("type").and_then(Value::as_str) == Some(t.as_str()))
                });
            match cond {
                None => Seen {
                    ready: false,
                    what: format!("{id} has no condition {t}"),
                },
                Some(c) => {
                    let status = c.get("status").and_then(Value::as_str).unwrap_or("");
                    let reason = c.get("reason").and_then(Value::as_str).unwrap_or("");
                    Seen {
                        ready: status == "True",
                        what: format!(
                            "{id} condition {t}={status}{}",
                            if reason.is_empty() {
                                String::new()
                            } else {
                                format!(" ({reason})")
                            }
                        ),
                    }
                }
            }
        }
        GateCheck::Field { path, equals } => {
            let pointer = format!("/{}", path.replace('.', "/"));
            let found = match value.pointer(&pointer) {
                None | Some(Value::Null) => "absent".to_string(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            Seen {
                ready: &found == equals,
                what: format!("{id} {path}={found}"),
            }
        }
    }
}

async fn probe_http(
    http: &reqwest::Client,
    url: &str,
    status: Option<u16>,
    body_contains: Option<&str>,
) -> Seen {
    let resp = match http.get(url).send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return Seen {
                ready: false,
                what: format!("{url} did not answer in time"),
            }
        }
        Err(e) => {
            return Seen {
                ready: false,
                what: format!("{url} did not answer: {e}"),
            }
        }
    };
    let code = resp.status();
    let status_ok = match status {
        Some(want) => code.as_u16() == want,
        None => code.is_success(),
    };
    let Some(needle) = body_contains else {
        return Seen {
            ready: status_ok,
            what: format!("{url} answered HTTP {}", code.as_u16()),
        };
    };
    let body = resp.text().await.unwrap_or_default();
    let found = body.contains(needle);
    Seen {
        ready: status_ok && found,
        what: format!(
            "{url} answered HTTP {} {} {needle:?}",
            code.as_u16(),
            if found { "with" } else { "without" }
        ),
    }
}

async fn probe_command(argv: &[String]) -> Seen {
    let shown = argv.join(" ");
    let Some((program, args)) = argv.split_first() else {
        return Seen {
            ready: false,
            what: "empty command".into(),
        };
    };
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(COMMAND_PROBE_TIMEOUT, child).await {
        Err(_) => Seen {
            ready: false,
            what: format!(
                "`{shown}` did not finish within {}",
                format_duration(COMMAND_PROBE_TIMEOUT)
            ),
        },
        Ok(Err(e)) => Seen {
            ready: false,
            what: format!("`{shown}` could not start: {e}"),
        },
        Ok(Ok(out)) => {
            let code = out
                .status
                .code()
                .map(|c| c.to_string())
                .unwrap_or_else(|| "a signal".into());
            let err = String::from_utf8_lossy(&out.stderr);
            let tail = err.trim().lines().last().unwrap_or("").to_string();
            Seen {
                ready: out.status.success(),
                what: if tail.is_empty() {
                    format!("`{shown}` exited with {code}")
                } else {
                    format!("`{shown}` exited with {code}: {tail}")
                },
            }
        }
    }
}

/// Where to look when a gate does not open.
fn where_to_look(p: &GateProbe) -> String {
    match p {
        GateProbe::Condition { object, .. } => format!(
            "`kubectl get {}{} {} -o yaml` and its events",
            object.kind.to_lowercase(),
            object
                .namespace
                .as_ref()
                .map(|n| format!(" -n {n}"))
                .unwrap_or_default(),
            object.name
        ),
        GateProbe::Http { url, .. } => format!("the service behind {url}"),
        GateProbe::Command { argv } => format!("the output of `{}`", argv.join(" ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_are_later_gates_open_before_earlier_ones() {
        let s = |x: u64| Some(Duration::from_secs(x));
        assert_eq!(violation(&[s(1), s(2), None]), None);
        assert_eq!(violation(&[s(1), None, s(3)]), Some((1, 2)));
        assert_eq!(violation(&[None, s(1)]), Some((0, 1)));
        assert_eq!(violation(&[None, None]), None);
    }

    #[test]
    fn api_versions_split_into_group_and_version() {
        assert_eq!(group_version("apps/v1"), ("apps", "v1"));
        assert_eq!(group_version("v1"), ("", "v1"));
        assert_eq!(
            group_version("longhorn.io/v1beta2"),
            ("longhorn.io", "v1beta2")
        );
    }
}
