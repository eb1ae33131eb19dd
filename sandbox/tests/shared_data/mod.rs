//! The team's shared data (`../shared/`: Longhorn's CRDs, test vectors) for the sandbox tests.
//! It stays there; the repo never copies it. Missing data is said loudly and fails under
//! `CI=true`.

#![allow(dead_code)]

use std::path::PathBuf;

/// `$DR_SHARED_DIR`, else `<repo>/../shared`.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("DR_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

/// Says loudly that `what` cannot be checked; panics under `CI=true`.
pub fn missing(what: &str) {
    let msg = format!("!!! {what}");
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
    eprintln!("{msg}");
}

/// Longhorn's CRD manifest of `version` (e.g. `1.9.1`), or `None` after [`missing`] saying
/// which tests (`skipped`) do not run.
pub fn longhorn_crds(version: &str, skipped: &str) -> Option<PathBuf> {
    let p = shared_dir().join(format!("longhorn-crds/crds-v{version}.yaml"));
    if p.is_file() {
        return Some(p);
    }
    missing(&format!(
        "{} not found (set DR_SHARED_DIR): {skipped} NOT run",
        p.display()
    ));
    None
}
