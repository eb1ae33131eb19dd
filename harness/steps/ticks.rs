//! `start-ticks`: append a tick to the sentinel volume every `tick_interval` until the disaster.
//!
//! Ticks written after the backup's snapshot are lost by design; the newest tick that survives
//! the restore dates the restored data, and the RPO is the disaster time minus that tick. The
//! ticker runs in the background across steps; the destroy step stops it and records the last
//! tick written. Failed tick writes are counted, not fatal (the cluster is about to go away).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::facts;
use super::pod::{sentinel_target, sh_quote};
use crate::cluster::exec::{self, ExecTarget};
use crate::cluster::RetryStats;
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};
use crate::sentinel::ticks::{render, Tick};
use crate::sentinel::{DIR_NAME, TICKS_FILE};

/// The background tick writer.
pub struct Ticker {
    stop: CancellationToken,
    task: JoinHandle<()>,
    last: Arc<Mutex<Option<Tick>>>,
}

impl Ticker {
    /// Stops the writer and returns the newest tick known written.
    pub async fn stop(self) -> Option<Tick> {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        self.last.lock().ok().and_then(|l| *l)
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

pub async fn start(ctx: &mut DrillContext) -> StepResult {
    if let Some(old) = ctx.ticker.take() {
        old.stop().await;
    }
    let (pods, target) = sentinel_target(ctx, Duration::from_secs(10)).await?;
    let writer = TickWriter {
        pods,
        target,
        path: format!(
            "{}/{}/{}",
            ctx.scenario.sentinel.mount_path.trim_end_matches('/'),
            DIR_NAME,
            TICKS_FILE
        ),
        run_id: ctx.record.run_id.clone(),
    };
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
    ctx.set_fact(facts::LAST_TICK_WRITTEN_MS, first.unix_millis);
    ctx.set_fact(facts::FIRST_TICK_MS, first.unix_millis);
    let last = Arc::new(Mutex::new(Some(first)));
    let stop = CancellationToken::new();
    let interval = ctx.scenario.sentinel.tick_interval;
    let stats: RetryStats = ctx.stats.clone();
    let task = {
        let last = last.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut sequence = 1;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(interval) => {}
                }
                sequence += 1;
                let write = tokio::select! {
                    _ = stop.cancelled() => break,
                    w = writer.write(sequence) => w,
                };
                match write {
                    Ok(t) => {
                        if let Ok(mut l) = last.lock() {
                            *l = Some(t);
                        }
                    }
                    Err(_) => stats.count("tick-write-failed"),
                }
            }
        })
    };
    ctx.ticker = Some(Ticker { stop, task, last });
    Ok(())
}

/// Stops the ticker (if running) and records the newest tick written before the disaster.
pub async fn stop(ctx: &mut DrillContext) {
    if let Some(t) = ctx.ticker.take() {
        if let Some(last) = t.stop().await {
            ctx.set_fact(facts::LAST_TICK_WRITTEN_MS, last.unix_millis);
            ctx.set_fact("ticks.last_written_seq", last.sequence);
        }
    }
}
