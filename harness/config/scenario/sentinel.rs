//! `[sentinel]`: where the drill's sentinel workload lives and the shape of the data it writes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::values;

/// `[sentinel]`: the workload and data the drill writes and verifies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentinelSpec {
    /// Default `dr-exercise`.
    #[serde(default = "d_namespace")]
    pub namespace: String,
    /// Well-known PVC name the restore orchestrator restores; default `dr-exercise-data`.
    #[serde(default = "d_pvc")]
    pub pvc: String,
    /// Default `dr-exercise`.
    #[serde(default = "d_deployment")]
    pub deployment: String,
    /// Default `sentinel`.
    #[serde(default = "d_container")]
    pub container: String,
    /// Default `/data`.
    #[serde(default = "d_mount_path")]
    pub mount_path: String,
    /// Sentinel file sizes in bytes; default 3 MiB, 5000 KiB, 1 KiB (crossing Longhorn's 2 MiB
    /// block boundaries at different offsets).
    #[serde(default = "d_file_sizes", with = "values::sizes")]
    pub file_sizes: Vec<u64>,
    /// Interval of the RPO tick writer; default 1 s.
    #[serde(default = "d_tick_interval", with = "values::duration")]
    pub tick_interval: Duration,
}

fn d_namespace() -> String {
    "dr-exercise".into()
}
fn d_pvc() -> String {
    "dr-exercise-data".into()
}
fn d_deployment() -> String {
    "dr-exercise".into()
}
fn d_container() -> String {
    "sentinel".into()
}
fn d_mount_path() -> String {
    "/data".into()
}
fn d_file_sizes() -> Vec<u64> {
    vec![3 << 20, 5000 << 10, 1 << 10]
}
fn d_tick_interval() -> Duration {
    Duration::from_secs(1)
}

impl Default for SentinelSpec {
    fn default() -> Self {
        SentinelSpec {
            namespace: d_namespace(),
            pvc: d_pvc(),
            deployment: d_deployment(),
            container: d_container(),
            mount_path: d_mount_path(),
            file_sizes: d_file_sizes(),
            tick_interval: d_tick_interval(),
        }
    }
}
