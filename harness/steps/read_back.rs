//! Reading the sentinel files back out of the pod: `cat` streams each file through exec and the
//! harness hashes the bytes as they arrive, so no file is ever whole in memory.
//!
//! The harness hashes rather than the pod's `sha256sum` for two reasons. The digest compared
//! with the manifest is then computed by our code, not by whatever tool the sentinel image
//! carries (the pod needs only `sh` and `cat`, which the writes need too). And it runs at the
//! exec stream's speed, not at that of the image's hashing tool: on the CI machine busybox's
//! `sha256sum` bounded the in-pod hash below coreutils' speed, while the read-back runs faster
//! than coreutils on the same file (issue 10, item 4; `benches/sentinel_throughput.rs` measures
//! each, BENCHMARKS.md has the numbers). The bytes cross the API server once more, as they did
//! on the way in (`write-sentinel` streams them through exec stdin).

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use sha2::{Digest, Sha256};

use crate::cluster::exec::{self, ExecTarget};
use crate::cluster::ClusterError;
use crate::sentinel::manifest::{self, CheckOutcome};
use crate::sentinel::MANIFEST_FILE;

/// What the sentinel files in a directory read back as: see [`hash_through_exec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBack {
    /// `(sha256, name)` of each file `cat` could read, in the order asked (missing files are
    /// absent), as `sha256sum` prints them.
    pub digests: Vec<(String, String)>,
    /// The in-volume `MANIFEST.sha256` checked against those digests.
    pub in_volume: CheckOutcome,
}

/// SHA-256 (lowercase hex) of each of `names` in `dir`, in that order, as the pod reads them:
/// one `cat` per file through exec, hashed on arrival. A file `cat` cannot read (missing,
/// unreadable, a directory) has no entry, as `sha256sum` prints none for it.
///
/// # Errors
/// [`ClusterError`] when an exec cannot run or its stream breaks.
pub async fn file_digests(
    pods: &Api<Pod>,
    target: &ExecTarget,
    dir: &str,
    names: &[String],
) -> Result<Vec<(String, String)>, ClusterError> {
    let mut digests = Vec::new();
    for name in names {
        let mut hasher = Sha256::new();
        let mut on_chunk = |chunk: &[u8]| hasher.update(chunk);
        let out = exec::exec::<std::iter::Empty<Vec<u8>>>(
            pods,
            target,
            &["cat", &format!("{dir}/{name}")],
            None,
            Some(&mut on_chunk),
        )
        .await?;
        if out.exit_code == 0 {
            digests.push((hex::encode(hasher.finalize()), name.clone()));
        }
    }
    Ok(digests)
}

/// [`file_digests`] of `names` in `dir`, then the in-volume manifest (`dir/MANIFEST.sha256`)
/// read and checked against those digests by [`manifest::check`]: what `sha256sum FILES` and
/// `sha256sum -c` in the pod would say, for one pass over the data.
///
/// # Errors
/// [`ClusterError`] when an exec cannot run; a command that runs but fails is an answer (a
/// missing digest, a manifest that does not check), not an error.
pub async fn hash_through_exec(
    pods: &Api<Pod>,
    target: &ExecTarget,
    dir: &str,
    names: &[String],
) -> Result<ReadBack, ClusterError> {
    let digests = file_digests(pods, target, dir, names).await?;
    let m = exec::run(pods, target, &["cat", &format!("{dir}/{MANIFEST_FILE}")]).await?;
    let in_volume = if m.exit_code == 0 {
        manifest::check(&String::from_utf8_lossy(&m.stdout), &digests)
    } else {
        CheckOutcome {
            lines: vec![format!(
                "{MANIFEST_FILE}: not readable ({})",
                m.stderr.trim()
            )],
            ok: false,
        }
    };
    Ok(ReadBack { digests, in_volume })
}
