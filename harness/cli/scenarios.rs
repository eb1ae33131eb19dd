//! Finding scenarios by name: `./scenarios/<name>.toml` first (the user's own), then the
//! scenarios built into the binary, so an installed `dr-harness run health` works from any
//! folder. A path (anything ending in `.toml` or with a `/`) is always read from disk.

use std::path::{Path, PathBuf};

use crate::config::{ConfigError, Scenario};

/// Every scenario shipped in `scenarios/`, compiled in as `(name, TOML text)`. A unit test
/// fails when a file in `scenarios/` is missing here.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "full-rebuild",
        include_str!("../../scenarios/full-rebuild.toml"),
    ),
    (
        "system-restore",
        include_str!("../../scenarios/system-restore.toml"),
    ),
    (
        "volume-restore",
        include_str!("../../scenarios/volume-restore.toml"),
    ),
    (
        "snapshot-revert",
        include_str!("../../scenarios/snapshot-revert.toml"),
    ),
    (
        "system-backup",
        include_str!("../../scenarios/system-backup.toml"),
    ),
    (
        "backup-freshness",
        include_str!("../../scenarios/backup-freshness.toml"),
    ),
    ("health", include_str!("../../scenarios/health.toml")),
    (
        "recovery-order",
        include_str!("../../scenarios/recovery-order.toml"),
    ),
];

/// The default scenario of `dr-harness run`.
pub const DEFAULT: &str = "full-rebuild";

/// Loads a scenario given as a file path or a name.
///
/// # Errors
/// [`ConfigError`] from parsing, or a not-found error listing the known names.
pub fn resolve(arg: &str) -> Result<Scenario, ConfigError> {
    let as_path = Path::new(arg);
    if arg.ends_with(".toml") || as_path.components().count() > 1 {
        return Scenario::load(as_path);
    }
    let local = PathBuf::from("scenarios").join(format!("{arg}.toml"));
    if local.is_file() {
        return Scenario::load(&local);
    }
    match BUILTIN.iter().find(|(name, _)| *name == arg) {
        Some((name, text)) => {
            Scenario::from_str(text, &format!("(built-in) scenarios/{name}.toml"))
        }
        None => Err(ConfigError::Read {
            path: local,
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "no such file, and no built-in scenario named `{arg}` (built in: {})",
                    BUILTIN
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_file_is_built_in_and_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("scenarios/ is readable")
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".toml").map(str::to_string)
            })
            .collect();
        files.sort();
        let mut built: Vec<String> = BUILTIN.iter().map(|(n, _)| n.to_string()).collect();
        built.sort();
        assert_eq!(files, built, "add new scenario files to BUILTIN");
        for (name, text) in BUILTIN {
            let s = Scenario::from_str(text, name).expect("built-in scenario parses");
            assert_eq!(&s.name, name, "a built-in scenario's name matches its file");
        }
    }
}
