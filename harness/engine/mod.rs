//! The drill engine: runs a scenario's steps in order, times them, emits events, keeps the record.

pub mod context;
pub mod events;
pub mod failure;
pub mod record;
pub mod runner;
