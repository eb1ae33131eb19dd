//! Value syntaxes shared by profiles and scenarios: durations and byte sizes.
//!
//! Durations are humantime strings restricted to compact tokens (`"45m"`, `"90s"`,
//! `"1h 30m"`): humantime alone would also take `"45 mins"`, and a drill timeout is the last
//! place for a spelling the reader has to guess at. Sizes take IEC (`KiB`, `MiB`, `GiB`) and SI
//! (`KB`, `MB`, `GB`) units so sentinel files can be sized to cross Longhorn's 2 MiB block
//! boundaries on purpose.

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use regex::Regex;
use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;

/// Hint appended to every duration error.
pub const DURATION_HINT: &str =
    "write numbers with a unit and no space between them (ms, s, m, h, d), e.g. \"45m\", \"90s\", \"1h 30m\"";

/// Hint appended to every size error.
pub const SIZE_HINT: &str =
    "write a whole number with an optional unit: B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024), e.g. \"3MiB\"";

fn duration_token() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^(?:[0-9]+(?:ms|s|m|h|d))+$").unwrap_or_else(|e| panic!("static regex: {e}"))
    })
}

fn size_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^([0-9]+)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$")
            .unwrap_or_else(|e| panic!("static regex: {e}"))
    })
}

/// Parses a duration such as `"45m"`, `"90s"`, `"1h 30m"`, `"1h30m"` or `"500ms"`.
///
/// # Errors
/// A message naming the rejected text (the caller adds the key and location), for anything
/// else: `"45 mins"`, `"forever"`, `""`, `"10"` (no unit).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let tokens_ok = !trimmed.is_empty()
        && trimmed
            .split_whitespace()
            .all(|token| duration_token().is_match(token));
    if !tokens_ok {
        return Err(format!("invalid duration `{text}`"));
    }
    humantime::parse_duration(trimmed).map_err(|e| format!("invalid duration `{text}`: {e}"))
}

/// Formats a duration the way [`parse_duration`] reads it back: compact tokens from days down
/// to milliseconds, largest first, zero parts left out (`"1h 30m"`, `"2d 3h"`, `"1s 500ms"`,
/// `"0s"`). A sub-millisecond rest is written as `us`/`ns` tokens, which only messages show
/// (durations read from configuration are whole milliseconds).
///
/// Written here rather than with `humantime::format_duration`, which spells days `days` and
/// rounds long spans into months and years: `"3days"` is not a duration [`parse_duration`]
/// accepts, so a serialized scenario would not load again.
pub fn format_duration(d: Duration) -> String {
    const UNITS: [(&str, u128); 5] = [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let mut rest_ms = d.as_millis();
    let mut parts: Vec<String> = Vec::new();
    for (unit, ms) in UNITS {
        let n = rest_ms / ms;
        rest_ms %= ms;
        if n > 0 {
            parts.push(format!("{n}{unit}"));
        }
    }
    let sub_ms = d.subsec_nanos() % 1_000_000;
    for (unit, n) in [("us", sub_ms / 1_000), ("ns", sub_ms % 1_000)] {
        if n > 0 {
            parts.push(format!("{n}{unit}"));
        }
    }
    if parts.is_empty() {
        "0s".to_string()
    } else {
        parts.join(" ")
    }
}

/// Parses a byte size: `"3MiB"`, `"5000KiB"`, `"1KiB"`, `"2MB"`, `"512B"`, `"512"`.
///
/// # Errors
/// A message naming the rejected text for an unknown unit, a fraction or an overflow.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let caps = size_re()
        .captures(text.trim())
        .ok_or_else(|| format!("invalid size `{text}`"))?;
    let number: u64 = caps[1]
        .parse()
        .map_err(|_| format!("invalid size `{text}`: number too large"))?;
    let factor: u64 = match caps.get(2).map(|m| m.as_str()) {
        None | Some("B") => 1,
        Some("KB") => 1_000,
        Some("MB") => 1_000_000,
        Some("GB") => 1_000_000_000,
        Some("TB") => 1_000_000_000_000,
        Some("KiB") => 1 << 10,
        Some("MiB") => 1 << 20,
        Some("GiB") => 1 << 30,
        Some("TiB") => 1 << 40,
        Some(other) => return Err(format!("invalid size `{text}`: unknown unit `{other}`")),
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("invalid size `{text}`: too large"))
}

/// Formats a byte count in the largest exact IEC unit (`3MiB`, `5000KiB`, `17B`).
pub(crate) fn format_size(bytes: u64) -> String {
    for (unit, factor) in [
        ("TiB", 1u64 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ] {
        if bytes >= factor && bytes.is_multiple_of(factor) {
            return format!("{}{unit}", bytes / factor);
        }
    }
    format!("{bytes}B")
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration string such as \"45m\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_duration(v).map_err(E::custom)
    }
}

/// serde `with` module for a required [`Duration`] written as a string.
pub mod duration {
    use super::*;

    /// # Errors
    /// A serde error for a non-string or a string [`parse_duration`] rejects.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_str(DurationVisitor)
    }

    /// # Errors
    /// Only the serializer's own errors.
    pub fn serialize<S: Serializer>(v: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*v))
    }
}

/// serde `with` module for an optional [`Duration`] written as a string.
pub mod opt_duration {
    use super::*;

    /// # Errors
    /// A serde error for a non-string or a string [`parse_duration`] rejects.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        d.deserialize_str(DurationVisitor).map(Some)
    }

    /// # Errors
    /// Only the serializer's own errors.
    pub fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.serialize_str(&format_duration(*d)),
            None => s.serialize_none(),
        }
    }
}

/// serde `with` module for a list of byte sizes written as strings (or bare integers).
pub mod sizes {
    use super::*;
    use serde::ser::SerializeSeq;

    struct SizeVisitor;

    impl Visitor<'_> for SizeVisitor {
        type Value = u64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a size such as \"3MiB\"")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            parse_size(v).map_err(E::custom)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom(format!("invalid size `{v}`: negative")))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
    }

    struct Size(u64);

    impl<'de> serde::Deserialize<'de> for Size {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(SizeVisitor).map(Size)
        }
    }

    /// # Errors
    /// A serde error naming the first size [`parse_size`] rejects.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
        let v: Vec<Size> = serde::Deserialize::deserialize(d)?;
        Ok(v.into_iter().map(|s| s.0).collect())
    }

    /// # Errors
    /// Only the serializer's own errors.
    pub fn serialize<S: Serializer>(v: &[u64], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(&format_size(*b))?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_compact_humantime() {
        assert_eq!(parse_duration("45m"), Ok(Duration::from_secs(45 * 60)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn durations_reject_spelled_out_or_unitless() {
        for bad in ["45 mins", "forever", "", "10", "1.5h", "-5m", "5 m"] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(err.contains(&format!("`{bad}`")), "{err}");
        }
    }

    #[test]
    fn durations_round_trip_through_format() {
        let d = Duration::from_secs(5400);
        assert_eq!(parse_duration(&format_duration(d)), Ok(d));
    }

    #[test]
    fn duration_edge_cases() {
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(
            parse_duration(" 5m "),
            Ok(Duration::from_secs(300)),
            "trimmed"
        );
        assert_eq!(parse_duration("1h  30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1s500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(
            parse_duration("90m"),
            Ok(Duration::from_secs(5400)),
            "no carry needed"
        );
        // Units humantime knows but the compact syntax leaves out, wrong case, bare units.
        for bad in ["1w", "5min", "5M", "5H", "ms", "m5", "5m,", "1h-30m", "5us"] {
            let err = parse_duration(bad).expect_err(bad);
            assert_eq!(err, format!("invalid duration `{bad}`"));
        }
        let huge = "99999999999999999999d";
        let err = parse_duration(huge).expect_err(huge);
        assert!(
            err.starts_with(&format!("invalid duration `{huge}`: ")),
            "{err}"
        );
    }

    /// Regression: humantime formats days as `3days` (and long spans in months), which
    /// [`parse_duration`] rejects, so a serialized `full_every = "3d"` did not load again.
    #[test]
    fn every_formatted_duration_parses_back() {
        for d in [
            Duration::ZERO,
            Duration::from_millis(1),
            Duration::from_millis(1500),
            Duration::from_secs(59),
            Duration::from_secs(3600),
            Duration::from_secs(86_400),
            Duration::from_secs(3 * 86_400 + 3661),
            Duration::from_secs(40 * 86_400),
            Duration::from_secs(400 * 86_400),
        ] {
            let text = format_duration(d);
            assert_eq!(parse_duration(&text), Ok(d), "{d:?} formatted as {text:?}");
        }
        assert_eq!(
            format_duration(Duration::from_secs(2 * 86_400 + 3 * 3600)),
            "2d 3h"
        );
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_micros(1_250)), "1ms 250us");
    }

    #[test]
    fn size_edge_cases() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("0B"), Ok(0));
        assert_eq!(parse_size(" 3MiB "), Ok(3 << 20), "trimmed");
        assert_eq!(parse_size("3 MiB"), Ok(3 << 20));
        assert_eq!(parse_size("1TiB"), Ok(1 << 40));
        assert_eq!(parse_size("1TB"), Ok(1_000_000_000_000));
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            parse_size("18446744073709551616"),
            Err("invalid size `18446744073709551616`: number too large".into())
        );
        assert_eq!(
            parse_size("16777216TiB"),
            Err("invalid size `16777216TiB`: too large".into()),
            "2^24 TiB = 2^64 bytes overflows"
        );
        for bad in ["3mib", "3Mi", "-1", "1e3", "", "MiB", "3 MiB B"] {
            assert_eq!(
                parse_size(bad),
                Err(format!("invalid size `{bad}`")),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_formatted_size_parses_back() {
        for b in [
            0,
            1,
            1023,
            1024,
            3 << 20,
            5000 << 10,
            (1 << 40) + 1,
            u64::MAX,
        ] {
            assert_eq!(parse_size(&format_size(b)), Ok(b), "{b}");
        }
        assert_eq!(format_size(0), "0B");
        assert_eq!(format_size(1 << 40), "1TiB");
        assert_eq!(
            format_size(1_000_000),
            "1000000B",
            "SI sizes are written in bytes"
        );
    }

    #[test]
    fn sizes_parse_iec_and_si() {
        assert_eq!(parse_size("3MiB"), Ok(3 * 1024 * 1024));
        assert_eq!(parse_size("5000KiB"), Ok(5000 * 1024));
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("7 B"), Ok(7));
        assert!(parse_size("3 mebibytes").is_err());
        assert!(parse_size("1.5MiB").is_err());
        assert!(parse_size("99999999999999999999").is_err());
    }

    #[test]
    fn sizes_format_in_exact_units() {
        assert_eq!(format_size(3 << 20), "3MiB");
        assert_eq!(format_size(5000 * 1024), "5000KiB");
        assert_eq!(format_size(17), "17B");
    }
}
