//! `start-ticks`: append a tick to the sentinel volume every `tick_interval` until the disaster.
//!
//! Ticks written after the backup's snapshot are lost by design; the newest tick that survives
//! the restore dates the restored data, and the RPO is the disaster time minus that tick. The
//! ticker ([`Ticker`], beside the tick format in `sentinel/`) runs in the background across
//! steps as the context's [`Background`] task; the destroy step stops it and records the last
//! tick written. Failed tick writes are counted, not fatal (the cluster is about to go away).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;

use super::pod::{sentinel_target, sh_quote};
use crate::cluster::exec::{self, ExecTarget};
use crate::cluster::RetryStats;
use crate::engine::context::DrillContext;
use crate::engine::facts::DrillFacts;
use crate::engine::failure::{StepFailure, StepResult};
use crate::engine::library::Background;
use crate::sentinel::ticker::Ticker;
use crate::sentinel::ticks::{render, Tick};
use crate::sentinel::{DIR_NAME, TICKS_FILE};

/// The running ticker, as the drill's background task: stopping it records the newest tick
/// written (`last_tick_written_ms`, `last_tick_written_seq`).
impl Background for Ticker {
    fn stop<'a>(self: Box<Self>, facts: &'a mut DrillFacts) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Some(last) = Ticker::stop(*self).await {
                facts.last_tick_written_ms = Some(last.unix_millis);
                facts.last_tick_written_seq = Some(last.sequence);
            }
        })
    }
}

struct TickWriter {
    pods: Api<Pod>,
    target: ExecTarget,
    path: String,
    run_id: String,
}

impl TickWriter {
    async fn write(&self, sequence: u64) -> Result<Tick, String> {
        let tick = Tick {
            unix_millis: Utc::now().timestamp_millis(),
            sequence,
        };
        let line = render(tick, &self.run_id);
        let script = format!(
            "printf %s {} >> {} && sync",
            sh_quote(&line),
            sh_quote(&self.path)
        );
        let out = exec::run(&self.pods, &self.target, &["sh", "-c", &script])
            .await
            .map_err(|e| e.to_string())?;
        if out.exit_code == 0 {
            Ok(tick)
        } else {
            Err(out.stderr)
        }
    }
}

/// Runs `start-ticks`: writes tick 1 to the sentinel volume's ticks file at once, then leaves a
/// [`Ticker`] appending one every `sentinel.tick_interval` as `ctx.background` (an earlier one is
/// stopped first). Writes `facts.first_tick_ms` and `facts.last_tick_written_ms` (Unix
/// milliseconds); later failed writes only count `tick-write-failed`.
///
/// # Errors
/// A [`StepFailure`] when no sentinel pod is ready within 10 s or the first tick cannot be written.
pub async fn start(ctx: &mut DrillContext) -> StepResult {
    if let Some(old) = ctx.background.take() {
        old.stop(&mut DrillFacts::default()).await;
    }
    let (pods, target) = sentinel_target(ctx, Duration::from_secs(10)).await?;
    let writer = Arc::new(TickWriter {
        pods,
        target,
        path: format!(
            "{}/{}/{}",
            ctx.scenario.sentinel.mount_path.trim_end_matches('/'),
            DIR_NAME,
            TICKS_FILE
        ),
        run_id: ctx.record.run_id.clone(),
    });
    // The first tick is written synchronously so the measurement never starts empty.
    let first = writer.write(1).await.map_err(|e| {
        StepFailure::new(format!(
            "could not write the first tick to {}: {e}",
            writer.path
        ))
    })?;
    ctx.check(
        "first-tick",
        true,
        "a tick appended to the sentinel volume",
        format!("tick 1 at {}", first.unix_millis),
    );
    ctx.record.facts.last_tick_written_ms = Some(first.unix_millis);
    ctx.record.facts.first_tick_ms = Some(first.unix_millis);
    let stats: RetryStats = ctx.stats.clone();
    let ticker = Ticker::spawn(
        first,
        ctx.scenario.sentinel.tick_interval,
        move |sequence| {
            let writer = writer.clone();
            async move { writer.write(sequence).await }
        },
        move |_| stats.count("tick-write-failed"),
    );
    ctx.background = Some(Box::new(ticker));
    Ok(())
}

/// Stops the ticker (if running) and records the newest tick written before the disaster.
pub async fn stop(ctx: &mut DrillContext) {
    if let Some(task) = ctx.background.take() {
        task.stop(&mut ctx.record.facts).await;
    }
}
