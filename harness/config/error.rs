//! Configuration errors: every one names the file, the line and column, and how to fix it.
//!
//! A drill that runs with a misspelt `allow_destroy` or a timeout nobody meant is worse than
//! one that does not start, so each error points at the exact key and says what would be valid.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong reading a profile, a scenario or the sandbox's state file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file, as the caller named it.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The text is not valid TOML, does not fit the schema, or fails a rule (e.g. `argv` with a
    /// preset). `line` and `column` are 1-based and point at the offending key or value.
    #[error("{file}:{line}:{column}: {message}{}", hint_suffix(hint))]
    Invalid {
        /// Path or origin name as given by the caller.
        file: String,
        /// 1-based line of the offending key or value.
        line: usize,
        /// 1-based column (in characters) on that line.
        column: usize,
        /// What is wrong, naming the key and the table (`unknown key `x` in [safety]`).
        message: String,
        /// How to fix it (`expected one of allow_destroy, marker`).
        hint: Option<String>,
    },
    /// The sandbox state file (`<state>/sandbox.json`) is missing or malformed: the sandbox was
    /// probably not started.
    #[error("{}: {message}; is the sandbox running with this state directory?", path.display())]
    SandboxState {
        /// The state file's path.
        path: PathBuf,
        /// What is wrong with it (missing, or the JSON error).
        message: String,
    },
    /// A scenario directory could not be listed.
    #[error("{}: cannot list scenarios: {source}", dir.display())]
    ListDir {
        /// The directory listed.
        dir: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

fn hint_suffix(hint: &Option<String>) -> String {
    match hint {
        Some(h) => format!("; {h}"),
        None => String::new(),
    }
}

impl ConfigError {
    /// `(line, column)` for [`ConfigError::Invalid`], 1-based; `None` for other variants.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            ConfigError::Invalid { line, column, .. } => Some((*line, *column)),
            _ => None,
        }
    }
}
