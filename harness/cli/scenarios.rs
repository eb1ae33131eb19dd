//! Finding scenarios by name: `./scenarios/<name>.toml` first (the user's own), then the
//! scenarios built into the binary, so `dr-harness run` works from any folder.

use std::path::{Path, PathBuf};

use crate::config::{ConfigError, Scenario};

/// Scenarios shipped in `scenarios/`, compiled in.
pub const BUILTIN: &[(&str, &str)] = &[(
    "full-rebuild",
    include_str!("../../scenarios/full-rebuild.toml"),
)];

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
