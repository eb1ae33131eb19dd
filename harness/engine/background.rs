//! Tasks a step leaves running across later steps, as the runner sees them.

use futures::future::BoxFuture;

use super::facts::DrillFacts;

/// A task a step leaves running across later steps (the sentinel ticker, between `start-ticks`
/// and the disaster). The runner stops whatever is still running when the drill ends.
pub trait Background: Send + Sync {
    /// Stops the task (waiting a bounded time for it to end) and records what it measured into
    /// `facts`.
    fn stop<'a>(self: Box<Self>, facts: &'a mut DrillFacts) -> BoxFuture<'a, ()>;
}
