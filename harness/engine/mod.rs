//! The drill engine: runs a scenario's steps in order, times them, emits events, keeps the record.
//!
//! It knows no step kinds: the steps come through a [`library::StepLibrary`], and what steps hand
//! each other is the typed [`facts::DrillFacts`]. Run-state persistence (run.json, locally and
//! beside the backups) is [`persist`].

pub mod background;
pub mod context;
pub mod events;
pub mod facts;
pub mod failure;
pub mod library;
pub mod persist;
pub mod record;
pub mod redaction;
pub mod runner;
#[cfg(test)]
mod tests;
