//! The sentinel manifest in `sha256sum` format (`<64 hex>  <name>` per line), so the same file
//! is checked by `sha256sum -c` inside the pod and by the harness outside the cluster.

use std::fmt::Write as _;

/// One line of the manifest (serialized as `{sha256, name, size}` in the run record's facts).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ManifestEntry {
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// File name relative to the sentinel directory.
    pub name: String,
    /// Size in bytes (not part of the sha256sum format; kept in run.json).
    pub size: u64,
}

/// Renders entries in `sha256sum` text format.
pub fn render(entries: &[ManifestEntry]) -> String {
    let mut out = String::new();
    for e in entries {
        let _ = writeln!(out, "{}  {}", e.sha256, e.name);
    }
    out
}

/// Parses `sha256sum` output/manifest text into `(sha256, name)` pairs; lines that are not of
/// that form are returned in the second vector so callers can report them.
pub fn parse(text: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        // Binary-mode lines use " *name"; text mode "  name".
        let parsed = line
            .split_once("  ")
            .or_else(|| line.split_once(" *"))
            .filter(|(h, _)| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        match parsed {
            Some((h, n)) => ok.push((h.to_ascii_lowercase(), n.trim().to_string())),
            None => bad.push(line.to_string()),
        }
    }
    (ok, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binary_mode() {
        let e = vec![ManifestEntry {
            sha256: "a".repeat(64),
            name: "sentinel-1.bin".into(),
            size: 1,
        }];
        let text = render(&e);
        assert_eq!(text, format!("{}  sentinel-1.bin\n", "a".repeat(64)));
        let (ok, bad) = parse(&format!("{text}{} *x.bin\ngarbage\n", "B".repeat(64)));
        assert_eq!(
            ok,
            vec![
                ("a".repeat(64), "sentinel-1.bin".into()),
                ("b".repeat(64), "x.bin".into())
            ]
        );
        assert_eq!(bad, vec!["garbage".to_string()]);
    }
}
