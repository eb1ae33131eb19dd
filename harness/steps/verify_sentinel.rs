//! `verify-sentinel`: the restored data, byte for byte. The RTO clock stops here and the RPO is
//! measured from the newest surviving tick.
//!
//! The files are read back through exec and hashed by the harness ([`super::read_back`]); the
//! digests are compared with the manifest kept outside the cluster (the copy in the volume could
//! be stale too). A mismatching file is streamed back again and compared with the content
//! re-derived from the run id, to report the first bad offset and whose data sits there
//! (another run's = stale backup restored; another offset = misplaced).

use std::time::Duration;

use chrono::Utc;

use super::pod::sentinel_target;
use super::read_back::{hash_through_exec, ReadBack};
use super::write::manifest_of;
use crate::cluster::exec::{self, ExecTarget};
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};
use crate::sentinel::content::{first_difference, parse_record_header, RECORD_BYTES};
use crate::sentinel::ticks::last_tick;
use crate::sentinel::{DIR_NAME, MANIFEST_FILE, RUN_ID_FILE, TICKS_FILE};

/// Runs `verify-sentinel`: hashes the restored files as the pod reads them back, compares them
/// with the kept manifest (`facts.manifest`), then records the RTO and the RPO from `facts.disaster_at`,
/// `first_tick_ms` and `snapshot_at_ms` (Unix milliseconds) and the newest surviving tick.
///
/// # Errors
/// A [`StepFailure`] when no manifest is kept, the pod cannot be reached, or a file is missing or
/// differs (first bad offset and whose data it is).
pub async fn run(ctx: &mut DrillContext) -> StepResult {
    let expected = manifest_of(ctx).ok_or_else(|| {
        StepFailure::new(
            "no sentinel manifest recorded; write-sentinel must run before verify-sentinel",
        )
    })?;
    let (pods, target) = sentinel_target(ctx, Duration::from_secs(600)).await?;
    let dir = format!(
        "{}/{}",
        ctx.scenario.sentinel.mount_path.trim_end_matches('/'),
        DIR_NAME
    );
    let run_id = ctx.record.run_id.clone();

    // Which run wrote the data?
    let rid = exec::run(&pods, &target, &["cat", &format!("{dir}/{RUN_ID_FILE}")]).await?;
    let found_run = String::from_utf8_lossy(&rid.stdout).trim().to_string();
    if !ctx.check(
        "run-id",
        found_run == run_id,
        run_id.clone(),
        if rid.exit_code == 0 {
            found_run.clone()
        } else {
            "no RUN_ID file".into()
        },
    ) {
        return Err(StepFailure::new(if rid.exit_code != 0 {
            format!("the restored volume holds no sentinel data ({dir}/{RUN_ID_FILE} is missing): the volume is empty or was not restored from this drill's backup")
        } else {
            format!("the restored volume holds data of drill {found_run}, not of this drill {run_id}: an older backup was restored")
        }));
    }

    // Digests of what the pod reads back, compared with the manifest kept outside the cluster.
    let names: Vec<String> = expected.iter().map(|e| e.name.clone()).collect();
    let ReadBack {
        digests: actual,
        in_volume,
    } = hash_through_exec(&pods, &target, &dir, &names).await?;
    let mut problems = Vec::new();
    let mut verified = 0u64;
    for e in &expected {
        let got = actual
            .iter()
            .find(|(_, n)| *n == e.name)
            .map(|(h, _)| h.clone());
        let ok = got.as_deref() == Some(e.sha256.as_str());
        ctx.check(
            &format!("sha256:{}", e.name),
            ok,
            e.sha256.clone(),
            got.clone().unwrap_or_else(|| "missing".into()),
        );
        if ok {
            verified += e.size;
            continue;
        }
        match got {
            None => problems.push(format!("{} is missing from the restored volume", e.name)),
            Some(_) => {
                let detail =
                    locate_difference(&pods, &target, &dir, &run_id, &e.name, e.size).await;
                problems.push(format!(
                    "{}: sha256 differs from the manifest kept outside the cluster; {detail}",
                    e.name
                ));
            }
        }
    }
    // The in-volume manifest must agree as well (a second, independent check, as `sha256sum -c`
    // would make; see [`hash_through_exec`]).
    ctx.check(
        "sha256sum-c",
        in_volume.ok,
        "the in-volume MANIFEST.sha256 agrees with the files' digests (sha256sum -c)",
        in_volume.lines.join("\n"),
    );
    if !in_volume.ok && problems.is_empty() {
        // The files match the manifest kept outside the cluster, so the copy inside is what broke.
        problems.push(format!(
            "the files match the manifest kept outside the cluster, but {dir}/{MANIFEST_FILE} inside the volume does not (sha256sum -c: {}): the restored manifest file itself is corrupted",
            in_volume.lines.join("; ")
        ));
    }
    ctx.record.verified_bytes = verified;
    if !problems.is_empty() {
        return Err(StepFailure::new(format!(
            "the restored sentinel data is not what was backed up: {}",
            problems.join("; ")
        )));
    }

    // RTO: disaster → data verified.
    if let Some(disaster) = ctx.marks.get("disaster").copied() {
        let rto = disaster.elapsed();
        ctx.record.rto_seconds = Some(rto.as_secs_f64());
        if let Some(rebuilt) = ctx.marks.get("rebuild-done").copied() {
            ctx.phase(
                "data-verified",
                rebuilt.elapsed().saturating_sub(sum_after_rebuild(ctx)),
            );
        }
    } else if let Some(at) = ctx.record.facts.disaster_at {
        // Resumed in another process: only the wall clock spans the gap.
        ctx.record.rto_seconds = Some((Utc::now() - at).num_milliseconds() as f64 / 1000.0);
    }

    // RPO: disaster time minus the newest tick that survived.
    measure_rpo(ctx, &pods, &target, &dir, &run_id).await
}

/// RPO = disaster time − the newest surviving tick. Without ticks in the restored data, the
/// snapshot time bounds what the backup can hold; but if ticks were written before the snapshot
/// and none survived, data the backup should hold was lost.
async fn measure_rpo(
    ctx: &mut DrillContext,
    pods: &kube::Api<k8s_openapi::api::core::v1::Pod>,
    target: &ExecTarget,
    dir: &str,
    run_id: &str,
) -> StepResult {
    let disaster_ms = ctx.record.facts.disaster_at.map(|d| d.timestamp_millis());
    let Some(disaster_ms) = disaster_ms else {
        return Ok(()); // no disaster in this scenario: nothing to measure
    };
    let ticks = exec::run(pods, target, &["cat", &format!("{dir}/{TICKS_FILE}")]).await?;
    let log = if ticks.exit_code == 0 {
        String::from_utf8_lossy(&ticks.stdout).into_owned()
    } else {
        String::new()
    };
    let snapshot_ms: Option<i64> = ctx.record.facts.snapshot_at_ms;
    let first_tick_ms: Option<i64> = ctx.record.facts.first_tick_ms;
    match last_tick(&log, run_id) {
        Some(tick) => {
            let rpo = (disaster_ms - tick.unix_millis).max(0) as f64 / 1000.0;
            ctx.record.rpo_seconds = Some(rpo);
            ctx.check(
                "rpo-measured",
                true,
                "a tick of this drill survived the restore",
                format!("tick {} → RPO {rpo:.1}s", tick.sequence),
            );
            Ok(())
        }
        None if first_tick_ms.zip(snapshot_ms).is_some_and(|(t, s)| t < s) => {
            ctx.check(
                "rpo-measured",
                false,
                "a tick written before the snapshot survived the restore",
                "no tick of this drill",
            );
            Err(StepFailure::new(
                "no tick of this drill survived the restore, although ticks were written before the backup's snapshot: data the backup should hold was lost",
            ))
        }
        None => {
            if let Some(s) = snapshot_ms {
                let rpo = (disaster_ms - s).max(0) as f64 / 1000.0;
                ctx.record.rpo_seconds = Some(rpo);
                ctx.check(
                    "rpo-measured",
                    true,
                    "RPO bounded by the snapshot time (no ticks before it)",
                    format!("RPO {rpo:.1}s"),
                );
            }
            Ok(())
        }
    }
}

/// Phases after the rebuild already recorded, so `data-verified` counts only its own time.
fn sum_after_rebuild(ctx: &DrillContext) -> Duration {
    let skip = ["destroy", "rebuild", "data-verified"];
    Duration::from_secs_f64(
        ctx.record
            .phases
            .iter()
            .filter(|p| !skip.contains(&p.phase.as_str()))
            .map(|p| p.seconds)
            .sum(),
    )
}

/// Streams a file back and compares it with the content re-derived from the run id; says where
/// the first difference is and whose data sits there.
async fn locate_difference(
    pods: &kube::Api<k8s_openapi::api::core::v1::Pod>,
    target: &ExecTarget,
    dir: &str,
    run_id: &str,
    name: &str,
    size: u64,
) -> String {
    let mut scan = DiffScan::new(run_id, name);
    let path = format!("{dir}/{name}");
    let mut on_chunk = |chunk: &[u8]| scan.feed(chunk);
    let result = exec::exec::<std::iter::Empty<Vec<u8>>>(
        pods,
        target,
        &["cat", &path],
        None,
        Some(&mut on_chunk),
    )
    .await;
    match (result, scan.first) {
        (Err(e), _) => format!("could not read it back: {e}"),
        (Ok(_), Some(at)) => format!(
            "first differing byte at offset {at} (record at {}); {}",
            at - at % RECORD_BYTES,
            scan.explain()
        ),
        (Ok(_), None) if scan.offset != size => format!("it is {} bytes long instead of {size}", scan.offset),
        (Ok(_), None) => "its bytes read back equal the expected content (the digest differed while reading: unstable storage?)".to_string(),
    }
}

/// Finds the first byte that differs from the expected content, keeping the record around it.
struct DiffScan {
    run_id: String,
    file: String,
    offset: u64,
    first: Option<u64>,
    /// Bytes from the start of the record holding the first difference (up to 256).
    record: Vec<u8>,
    /// The last record's worth of bytes before the current chunk, so a record that started in
    /// an earlier chunk can still be read.
    tail: Vec<u8>,
}

impl DiffScan {
    fn new(run_id: &str, file: &str) -> Self {
        DiffScan {
            run_id: run_id.into(),
            file: file.into(),
            offset: 0,
            first: None,
            record: Vec::new(),
            tail: Vec::new(),
        }
    }

    fn feed(&mut self, chunk: &[u8]) {
        let window_start = self.offset - self.tail.len() as u64;
        if self.first.is_none() {
            self.first = first_difference(&self.run_id, &self.file, self.offset, chunk);
            if let Some(at) = self.first {
                let record_start = at - at % RECORD_BYTES;
                let mut window = std::mem::take(&mut self.tail);
                window.extend_from_slice(chunk);
                let from = (record_start - window_start) as usize;
                self.record = window[from..window.len().min(from + 256)].to_vec();
            }
        } else if self.record.len() < 256 {
            let need = 256 - self.record.len();
            self.record
                .extend_from_slice(&chunk[..chunk.len().min(need)]);
        }
        if self.first.is_none() {
            self.tail.extend_from_slice(chunk);
            let excess = self.tail.len().saturating_sub(RECORD_BYTES as usize);
            self.tail.drain(..excess);
        }
        self.offset += chunk.len() as u64;
    }

    fn explain(&self) -> String {
        let record_start = self.first.map(|a| a - a % RECORD_BYTES).unwrap_or(0);
        match parse_record_header(&self.record) {
            Some((r, f, o)) if r != self.run_id => format!("the bytes there were written by drill {r} (file {f}, offset {o}): stale data from an older backup"),
            Some((_, f, o)) if f != self.file || o != record_start => format!("the bytes there belong to {f} at offset {o}: misplaced data"),
            Some(_) => "the record header is intact but bytes after it are corrupted".to_string(),
            None => "the bytes there are not sentinel data at all".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sentinel::content::{ContentStream, SentinelFile};

    fn data(run: &str, size: u64) -> Vec<u8> {
        ContentStream::new(
            run,
            &SentinelFile {
                name: "f".into(),
                size,
            },
        )
        .flatten()
        .collect()
    }

    #[test]
    fn diff_scan_finds_flipped_byte_across_chunks() {
        let mut d = data("r", 20_000);
        d[9000] ^= 0xff;
        let mut scan = DiffScan::new("r", "f");
        for c in d.chunks(777) {
            scan.feed(c);
        }
        assert_eq!(scan.first, Some(9000));
        assert!(scan.explain().contains("corrupted"), "{}", scan.explain());
    }

    #[test]
    fn diff_scan_recognises_stale_data() {
        let d = data("older-run", 10_000);
        let mut scan = DiffScan::new("r", "f");
        for c in d.chunks(1000) {
            scan.feed(c);
        }
        assert!(scan.first.is_some());
        assert!(scan.explain().contains("older-run"), "{}", scan.explain());
    }
}
