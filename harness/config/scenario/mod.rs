//! Drill scenarios (being split into one file per job; see the following commit).

mod options;

pub use options::*;
