//! The background tick writer: appends a [`Tick`] every interval until stopped, remembering the
//! newest one known written.
//!
//! It does no I/O itself: the caller hands it the function that writes one tick (an exec into
//! the sentinel pod, in a drill), so it sits beside the tick format and needs no cluster.
//! A failed write is reported to `on_error` and the ticker goes on: the cluster is about to go
//! away, and the ticks that did land are what the RPO is measured from.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::ticks::Tick;

/// How long [`Ticker::stop`] waits for a write in flight to end.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// A running tick writer (see the module docs).
pub struct Ticker {
    stop: CancellationToken,
    task: JoinHandle<()>,
    last: Arc<Mutex<Option<Tick>>>,
}

impl Ticker {
    /// Starts writing ticks `first.sequence + 1, + 2, …` every `interval` (the first tick was
    /// written by the caller, so a measurement never starts empty). `write(sequence)` writes
    /// one tick and returns it (its wall-clock time is the writer's) or why it failed; errors go
    /// to `on_error`. Must be called inside a tokio runtime.
    pub fn spawn<W, F, E>(first: Tick, interval: Duration, write: W, on_error: E) -> Ticker
    where
        W: Fn(u64) -> F + Send + 'static,
        F: Future<Output = Result<Tick, String>> + Send,
        E: Fn(String) + Send + 'static,
    {
        let last = Arc::new(Mutex::new(Some(first)));
        let stop = CancellationToken::new();
        let task = {
            let last = last.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut sequence = first.sequence;
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(interval) => {}
                    }
                    sequence += 1;
                    let written = tokio::select! {
                        _ = stop.cancelled() => break,
                        w = write(sequence) => w,
                    };
                    match written {
                        Ok(t) => *last.lock().unwrap_or_else(|e| e.into_inner()) = Some(t),
                        Err(e) => on_error(e),
                    }
                }
            })
        };
        Ticker { stop, task, last }
    }

    /// Stops the writer (a write in flight is abandoned after [`STOP_GRACE`]) and returns the
    /// newest tick known written.
    pub async fn stop(self) -> Option<Tick> {
        self.stop.cancel();
        let _ = tokio::time::timeout(STOP_GRACE, self.task).await;
        *self.last.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[tokio::test(start_paused = true)]
    async fn ticks_follow_the_first_and_failures_do_not_stop_the_ticker() {
        let failures = Arc::new(AtomicU64::new(0));
        let first = Tick {
            unix_millis: 1_000,
            sequence: 1,
        };
        let f = failures.clone();
        let ticker = Ticker::spawn(
            first,
            Duration::from_secs(1),
            |sequence| async move {
                // Every third write fails.
                if sequence % 3 == 0 {
                    Err("exec failed".to_string())
                } else {
                    Ok(Tick {
                        unix_millis: 1_000 + sequence as i64,
                        sequence,
                    })
                }
            },
            move |_| {
                f.fetch_add(1, Ordering::Relaxed);
            },
        );
        tokio::time::sleep(Duration::from_millis(4_500)).await;
        let last = ticker.stop().await.expect("a tick");
        // Sequences 2..=5 were attempted; 3 failed; 5 is the newest written.
        assert_eq!(last.sequence, 5);
        assert_eq!(failures.load(Ordering::Relaxed), 1);
    }
}
