//! `check`: the app-data step, usable in any scenario — run a command in an application pod and
//! compare its output with an expectation (exact text, regex, or a numeric comparison), e.g. the
//! seed's PostgreSQL test `SELECT COUNT(*) FROM test_data` equals 1000 before the backup and
//! after the restore.
//!
//! The command runs over the exec subresource without a shell (argv as written); its stdout is
//! trimmed of surrounding whitespace before the comparison, since `psql -tA` and `wc -l` end
//! their answers with a newline.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;

use crate::cluster::exec::{self, ExecTarget};
use crate::cluster::retry;
use crate::config::scenario::{CheckStep, Expectation, PodTarget};
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};

/// How long the command may run; a database count that takes longer is itself a finding.
const EXEC_TIMEOUT: Duration = Duration::from_secs(120);
/// Output quoted in messages is cut to this many characters.
const QUOTE_MAX: usize = 300;

/// Runs the `check` step: execs `spec`'s argv in the application pod and compares its trimmed
/// stdout with the expectation. Reads and writes no
/// [`DrillFacts`](crate::engine::facts::DrillFacts).
///
/// # Errors
/// A [`StepFailure`] when no pod matches, the exec fails, the expectation's regex is invalid, or
/// the output does not match (quoted, up to 300 characters).
pub async fn run(ctx: &mut DrillContext, spec: &CheckStep) -> StepResult {
    let conn = ctx.conn().await?;
    let pods: Api<Pod> = Api::namespaced(conn.client.clone(), &spec.namespace);
    let (selector, what) = match &spec.target {
        PodTarget::Selector(s) => (s.clone(), format!("pods `{s}` in {}", spec.namespace)),
        PodTarget::Deployment(d) => {
            let deployments: Api<Deployment> =
                Api::namespaced(conn.client.clone(), &spec.namespace);
            let dep = retry::with_retry(&ctx.stats, "api", || deployments.get_opt(d))
                .await?
                .ok_or_else(|| {
                    StepFailure::new(format!(
                        "the deployment {}/{d} the check runs in does not exist",
                        spec.namespace
                    ))
                })?;
            let sel = super::pod::selector_of(&dep);
            (sel, format!("deployment {}/{d}", spec.namespace))
        }
    };
    let what = format!("{what} to run the check in");
    let pod = super::pod::ready_pod(ctx, &pods, &selector, &what).await?;
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let container = spec
        .container
        .clone()
        .or_else(|| {
            pod.spec
                .as_ref()
                .and_then(|s| s.containers.first())
                .map(|c| c.name.clone())
        })
        .unwrap_or_default();
    let target = ExecTarget {
        namespace: spec.namespace.clone(),
        pod: pod_name.clone(),
        container,
        timeout: EXEC_TIMEOUT,
    };
    let argv: Vec<&str> = spec.command.iter().map(String::as_str).collect();
    let shown = spec.command.join(" ");
    ctx.say(format!(
        "running `{shown}` in {}/{pod_name}",
        spec.namespace
    ));
    let out = exec::run(&pods, &target, &argv).await?;
    if out.exit_code != 0 {
        return Err(StepFailure::new(format!(
            "`{shown}` in {}/{pod_name} exited with {}: {}",
            spec.namespace,
            out.exit_code,
            quote(out.stderr.trim())
        )));
    }
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (passed, expected) = judge(&spec.expect, &stdout)?;
    if ctx.check("app-data", passed, expected.clone(), quote(&stdout)) {
        Ok(())
    } else {
        Err(StepFailure::new(format!(
            "`{shown}` in {}/{pod_name} printed {:?}, expected {expected}; the application's data differs from what the scenario expects",
            spec.namespace,
            quote(&stdout)
        )))
    }
}

/// Whether `stdout` meets `expect`, and the expectation in words.
///
/// # Errors
/// A [`StepFailure`] when a numeric comparison meets output that is not a number.
fn judge(expect: &Expectation, stdout: &str) -> Result<(bool, String), StepFailure> {
    Ok(match expect {
        Expectation::Equals(want) => (stdout == want.trim(), format!("output equal to {want:?}")),
        Expectation::Regex(pattern) => {
            // Validated when the scenario was loaded.
            let re = regex::Regex::new(pattern)
                .map_err(|e| StepFailure::new(format!("invalid regex {pattern:?}: {e}")))?;
            (re.is_match(stdout), format!("output matching /{pattern}/"))
        }
        Expectation::Compare(c) => {
            let expected = format!("a number {} {}", c.op.as_str(), c.value);
            let found: f64 = stdout.parse().map_err(|_| {
                StepFailure::new(format!(
                    "expected {expected} but the command printed {:?}, which is not a number",
                    quote(stdout)
                ))
            })?;
            (c.op.holds(found, c.value), expected)
        }
    })
}

fn quote(s: &str) -> String {
    if s.chars().count() <= QUOTE_MAX {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(QUOTE_MAX).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::scenario::{CompareOp, Comparison};

    #[test]
    fn expectations() {
        let eq = Expectation::Equals("1000".into());
        assert!(judge(&eq, "1000").unwrap().0);
        assert!(!judge(&eq, "999").unwrap().0);
        let re = Expectation::Regex("^[0-9]+ rows$".into());
        assert!(judge(&re, "12 rows").unwrap().0);
        assert!(!judge(&re, "rows").unwrap().0);
        let ge = Expectation::Compare(Comparison {
            op: CompareOp::Ge,
            value: 1000.0,
        });
        assert!(judge(&ge, "1000").unwrap().0);
        assert!(!judge(&ge, "999").unwrap().0);
        assert!(judge(&ge, "many").is_err());
    }
}
