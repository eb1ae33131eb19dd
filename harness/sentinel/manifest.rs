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

/// The result of checking a manifest's text against digests already computed, as
/// `sha256sum -c` would report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    /// One line per manifest line, in `sha256sum -c` words: `<name>: OK`, `<name>: FAILED`,
    /// `<name>: FAILED open or read` (a file that was not hashed), or
    /// `improperly formatted line: <line>`.
    pub lines: Vec<String>,
    /// True when every line is OK and there is at least one.
    pub ok: bool,
}

/// Checks `manifest_text` (`sha256sum` format) against `digests` (`(sha256, name)` pairs, e.g.
/// from [`parse`] of `sha256sum` output over the same files), without reading the files again:
/// what `sha256sum -c` says, for the price of the manifest's few bytes instead of a second pass
/// over all the data. Stricter than `sha256sum -c` in two ways, both failures: a line that is not
/// `<64 hex>  <name>`, and a name whose digest was not computed (it is not among the files the
/// caller hashed). A manifest with no lines fails, as `sha256sum -c` does.
pub fn check(manifest_text: &str, digests: &[(String, String)]) -> CheckOutcome {
    let (entries, bad) = parse(manifest_text);
    let mut lines = Vec::new();
    for (sha256, name) in &entries {
        let computed = digests.iter().find(|(_, n)| n == name).map(|(h, _)| h);
        lines.push(match computed {
            Some(h) if h == sha256 => format!("{name}: OK"),
            Some(_) => format!("{name}: FAILED"),
            None => format!("{name}: FAILED open or read"),
        });
    }
    let ok = !entries.is_empty() && bad.is_empty() && lines.iter().all(|l| l.ends_with(": OK"));
    lines.extend(
        bad.iter()
            .map(|l| format!("improperly formatted line: {l}")),
    );
    CheckOutcome { lines, ok }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_reports_like_sha256sum_c_without_rehashing() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let digests = vec![
            (a.clone(), "one.bin".to_string()),
            (b.clone(), "two.bin".to_string()),
        ];
        let good = format!("{a}  one.bin\n{b}  two.bin\n");
        assert_eq!(
            check(&good, &digests),
            CheckOutcome {
                lines: vec!["one.bin: OK".into(), "two.bin: OK".into()],
                ok: true
            }
        );
        // A corrupted digest, a name never hashed, a torn line: each fails, each is named.
        let bad = format!("{b}  one.bin\n{a}  three.bin\n{b}  two.bin\n{}\n", &a[..20]);
        let got = check(&bad, &digests);
        assert!(!got.ok);
        assert_eq!(
            got.lines,
            vec![
                "one.bin: FAILED".to_string(),
                "three.bin: FAILED open or read".to_string(),
                "two.bin: OK".to_string(),
                format!("improperly formatted line: {}", &a[..20]),
            ]
        );
        assert!(!check("", &digests).ok, "an empty manifest proves nothing");
    }

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
