//! Parsing of Longhorn backup target URLs (`s3://bucket@region/prefix/`) and backup URLs
//! (`s3://bucket@region/?backup=backup-xxx&volume=vol`).
//!
//! The harness receives both forms from users and from Longhorn objects
//! (`BackupTarget.spec.backupTargetURL`, `Backup.status.url`); everything else in this crate works
//! on the parsed bucket, region and key root, so the rules of the URL live here alone.

use crate::layout::{validate_name, NameError};

/// Why a backup target or backup URL could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    /// The URL does not start with `s3://`.
    #[error("backup target {url:?} is not an s3:// url")]
    WrongScheme {
        /// The URL as given.
        url: String,
    },
    /// Kept for callers' exhaustive matches; no longer produced: Longhorn accepts
    /// `s3://bucket/path` and then takes the region from `AWS_REGION`.
    #[error("backup target {url:?} has no @region after the bucket name")]
    MissingRegion {
        /// The URL as given.
        url: String,
    },
    /// The bucket, or a region given with `@`, is empty.
    #[error("backup target {url:?} has an empty bucket or region")]
    EmptyBucketOrRegion {
        /// The URL as given.
        url: String,
    },
    /// The URL has no path at all (`s3://bucket@region`): Longhorn refuses it ("invalid URL.
    /// Must be either s3://bucket@region/path/, or s3://bucket/path").
    #[error("backup target {url:?} has no path: write at least s3://bucket@region/")]
    MissingPath {
        /// The URL as given.
        url: String,
    },
    /// A target URL carries a query or fragment.
    #[error("backup target {url:?} must not carry a query or fragment")]
    MissingTrailingSlash {
        /// The URL as given.
        url: String,
    },
    /// A backup URL lacks the `volume` or `backup` query parameter.
    #[error("backup url {url:?} has no {param:?} query parameter")]
    MissingQueryParam {
        /// The URL as given.
        url: String,
        /// The missing parameter name.
        param: &'static str,
    },
    /// A name in a backup URL does not match Longhorn's name rule.
    #[error("backup url {url:?}: {source}")]
    InvalidName {
        /// The URL as given.
        url: String,
        /// The rejected name.
        #[source]
        source: NameError,
    },
}

/// A parsed S3 backup target, e.g. `s3://backups@us-east-1/cluster-a/`.
///
/// Longhorn's rules (longhorn/longhorn-engine@v1.9.1:vendor/github.com/longhorn/backupstore/
/// s3/s3.go `initFunc`, `updatePath`; s3/s3_service.go `newService`): the URL is parsed by Go's
/// `url.Parse` (percent-escapes decoded); `bucket@region` names both, a bare `bucket` leaves the
/// region to `AWS_REGION`; the path must be non-empty, its leading `/`s are dropped, and every
/// key is `filepath.Join(path, key)` — cleaned, so `a//b/./c`, `a/b` and `a/b/` are one prefix.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BackupTargetUrl {
    /// S3 bucket name.
    pub bucket: String,
    /// S3 region (the part after `@`); empty when the URL names none (Longhorn then uses the
    /// `AWS_REGION` environment variable).
    pub region: String,
    /// Key prefix: the cleaned path (as Go's `filepath.Clean`) without a leading `/`, ending in
    /// `/` when non-empty (e.g. `"cluster-a/"`), or `""`.
    pub prefix: String,
}

impl BackupTargetUrl {
    /// Parses `s3://bucket@region/`, `s3://bucket@region/some/prefix[/]` or
    /// `s3://bucket/prefix` (no region).
    ///
    /// # Errors
    /// [`TargetError::WrongScheme`], [`TargetError::EmptyBucketOrRegion`],
    /// [`TargetError::MissingPath`] or, for a query or fragment,
    /// [`TargetError::MissingTrailingSlash`].
    pub fn parse(url: &str) -> Result<Self, TargetError> {
        let (target, query) = split_query(url);
        if query.is_some() || target.contains('#') {
            // A target URL never carries a query; treat it as a malformed path.
            return Err(TargetError::MissingTrailingSlash {
                url: url.to_string(),
            });
        }
        Self::parse_target(target, url)
    }

    fn parse_target(target: &str, url: &str) -> Result<Self, TargetError> {
        let rest =
            strip_prefix_ignore_case(target, "s3://").ok_or_else(|| TargetError::WrongScheme {
                url: url.to_string(),
            })?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        // Go's url.Parse: userinfo ends at the last '@'; Longhorn reads it as the bucket.
        let (bucket, region) = match host.rsplit_once('@') {
            Some((bucket, region)) => {
                if region.is_empty() {
                    return Err(TargetError::EmptyBucketOrRegion {
                        url: url.to_string(),
                    });
                }
                (percent_decode_path(bucket), percent_decode_path(region))
            }
            None => (percent_decode_path(host), String::new()),
        };
        if bucket.is_empty() {
            return Err(TargetError::EmptyBucketOrRegion {
                url: url.to_string(),
            });
        }
        if path.is_empty() {
            return Err(TargetError::MissingPath {
                url: url.to_string(),
            });
        }
        let cleaned = go_clean(percent_decode_path(path).trim_start_matches('/'));
        let prefix = if cleaned.is_empty() {
            String::new()
        } else {
            format!("{cleaned}/")
        };
        Ok(Self {
            bucket,
            region,
            prefix,
        })
    }

    /// The key root under which Longhorn writes everything: `"<prefix>backupstore/"`.
    ///
    /// Source: longhorn/backupstore `s3/s3.go updatePath` (`backupstoreBase = "backupstore"`).
    pub fn root(&self) -> String {
        format!("{}backupstore/", self.prefix)
    }

    /// The URL in Longhorn's canonical form, `s3://bucket@region/prefix/` (`s3://bucket/prefix/`
    /// without a region).
    pub fn to_url(&self) -> String {
        if self.region.is_empty() {
            format!("s3://{}/{}", self.bucket, self.prefix)
        } else {
            format!("s3://{}@{}/{}", self.bucket, self.region, self.prefix)
        }
    }
}

impl std::fmt::Display for BackupTargetUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_url())
    }
}

/// The backup and volume a backup URL names, whatever its target's scheme (`s3://`, `nfs://`,
/// `cifs://`, `azblob://`, `vfs://`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupNames {
    /// Backup name (`backup-<16hex>` for API-created backups).
    pub backup: String,
    /// Volume name (the backup volume's original volume).
    pub volume: String,
}

/// Decodes the names in a backup URL as Longhorn does, for any target scheme.
///
/// Longhorn's rules (longhorn/longhorn-engine@v1.9.1:vendor/github.com/longhorn/backupstore/
/// backupstore.go `DecodeBackupURL`, unchanged in v1.7.1 and v1.10.1): Go's `url.Parse`, then
/// `u.Query()` — the query ends at `#`, pairs split on `&`, keys and values percent-decoded
/// with `+` as a space, a pair with a bad escape or a `;` in its key is dropped, and the first
/// value of a key wins; `volume` must match `util.ValidateName`, and so must `backup`.
///
/// One deviation, on purpose: Longhorn accepts a URL without `backup` (a backup *volume*'s
/// URL); every caller here needs a backup, so its absence is an error.
///
/// # Errors
/// [`TargetError::MissingQueryParam`] when `backup` or `volume` is absent or empty,
/// [`TargetError::InvalidName`] when one breaks Longhorn's name rule.
pub fn decode_backup_url(url: &str) -> Result<BackupNames, TargetError> {
    let without_fragment = url.split_once('#').map_or(url, |(u, _)| u);
    let (_, query) = split_query(without_fragment);
    let mut backup = None;
    let mut volume = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key.contains(';') {
            continue;
        }
        let (Some(key), Some(value)) = (query_unescape(key), query_unescape(value)) else {
            continue;
        };
        let slot = match key.as_str() {
            "backup" => &mut backup,
            "volume" => &mut volume,
            _ => continue,
        };
        slot.get_or_insert(value);
    }
    let param_missing = |param| TargetError::MissingQueryParam {
        url: url.to_string(),
        param,
    };
    let backup = backup
        .filter(|b| !b.is_empty())
        .ok_or_else(|| param_missing("backup"))?;
    let volume = volume
        .filter(|v| !v.is_empty())
        .ok_or_else(|| param_missing("volume"))?;
    for name in [&volume, &backup] {
        validate_name(name).map_err(|source| TargetError::InvalidName {
            url: url.to_string(),
            source,
        })?;
    }
    Ok(BackupNames { backup, volume })
}

/// The URL of backup `backup` of volume `volume` in the target `target_url`, as Longhorn builds
/// it: the target's query (if any) plus `backup` and `volume`, keys sorted, values escaped as
/// Go's `url.QueryEscape` (longhorn/longhorn-engine@v1.9.1:vendor/github.com/longhorn/
/// backupstore/backupstore.go `EncodeBackupURL`), e.g.
/// `s3://bkt@us-east-1/?backup=backup-0123456789abcdef&volume=vol`.
pub fn encode_backup_url(target_url: &str, backup: &str, volume: &str) -> String {
    let (base, query) = split_query(target_url);
    let mut pairs: Vec<(String, String)> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((query_unescape(k)?, query_unescape(v)?))
        })
        .collect();
    pairs.push(("volume".into(), volume.into()));
    pairs.push(("backup".into(), backup.into()));
    // Go's Values.Encode: keys sorted, the values of one key in insertion order.
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
        .collect();
    format!("{base}?{}", query.join("&"))
}

/// A parsed S3 backup URL as found in `Backup.status.url`: the target and the names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupUrl {
    /// The backup target the backup lives in.
    pub target: BackupTargetUrl,
    /// Backup name (`backup-<16hex>` for API-created backups).
    pub backup: String,
    /// Volume name.
    pub volume: String,
}

impl BackupUrl {
    /// Parses `s3://bucket@region/[prefix/]?backup=<name>&volume=<vol>` (query keys in any
    /// order): the target as [`BackupTargetUrl::parse`], the names as [`decode_backup_url`].
    ///
    /// # Errors
    /// Any [`BackupTargetUrl::parse`] error for the part before `?` (so
    /// [`TargetError::WrongScheme`] for a non-S3 target), or any [`decode_backup_url`] error.
    pub fn parse(url: &str) -> Result<Self, TargetError> {
        let without_fragment = url.split_once('#').map_or(url, |(u, _)| u);
        let (target, _) = split_query(without_fragment);
        let target = BackupTargetUrl::parse_target(target, url)?;
        let BackupNames { backup, volume } = decode_backup_url(url)?;
        Ok(Self {
            target,
            backup,
            volume,
        })
    }

    /// The URL in Longhorn's form ([`encode_backup_url`] of the canonical target URL).
    pub fn to_url(&self) -> String {
        encode_backup_url(&self.target.to_url(), &self.backup, &self.volume)
    }
}

fn split_query(url: &str) -> (&str, Option<&str>) {
    match url.split_once('?') {
        Some((t, q)) => (t, Some(q)),
        None => (url, None),
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Go's `filepath.Clean` for a relative path: empty and `.` segments dropped, `..` pops a
/// segment (kept at the start, as Go keeps a leading `..`); `""` for the empty result (Go's
/// `"."`, which `filepath.Join` then drops).
fn go_clean(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    out.join("/")
}

/// Go's `url.QueryUnescape`: `%XX` decoded, `+` is a space; `None` for a malformed escape
/// (Go then drops the whole pair) or bytes that are not UTF-8.
fn query_unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Go's `url.QueryEscape`: unreserved bytes (`A-Za-z0-9-_.~`) kept, a space as `+`, every
/// other byte as `%XX` (upper-case hex).
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Decodes `%XX` escapes of a URL path or host (Go's `url.Parse`: `+` stays `+` there).
fn percent_decode_path(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_target_without_prefix() {
        let t = BackupTargetUrl::parse("s3://backups@us-east-1/").expect("valid");
        assert_eq!(t.bucket, "backups");
        assert_eq!(t.region, "us-east-1");
        assert_eq!(t.prefix, "");
        assert_eq!(t.root(), "backupstore/");
        assert_eq!(t.to_url(), "s3://backups@us-east-1/");
    }

    #[test]
    fn parses_target_with_prefix() {
        let t = BackupTargetUrl::parse("s3://b@eu-central-1/mypath/sub/").expect("valid");
        assert_eq!(t.prefix, "mypath/sub/");
        assert_eq!(t.root(), "mypath/sub/backupstore/");
    }

    #[test]
    fn accepts_what_longhorn_accepts() {
        // Longhorn: s3://bucket@region/path/ or s3://bucket/path (region from AWS_REGION);
        // keys are filepath.Join(path, key), so a missing trailing slash changes nothing.
        let t = BackupTargetUrl::parse("s3://bucket/prefix").expect("no region");
        assert_eq!((t.bucket.as_str(), t.region.as_str()), ("bucket", ""));
        assert_eq!(t.root(), "prefix/backupstore/");
        assert_eq!(t.to_url(), "s3://bucket/prefix/");
        let t = BackupTargetUrl::parse("s3://bucket@us-east-1/prefix").expect("no slash");
        assert_eq!(t.prefix, "prefix/");
        assert_eq!(t.root(), "prefix/backupstore/");
        let t = BackupTargetUrl::parse("s3://bucket/").expect("no region, no prefix");
        assert_eq!(t.root(), "backupstore/");
    }

    #[test]
    fn joins_keys_like_filepath_join() {
        for (url, root) in [
            ("s3://b@r//a//b/./c/", "a/b/c/backupstore/"),
            ("s3://b@r/a/b/../c", "a/c/backupstore/"),
            ("s3://b@r/./", "backupstore/"),
            ("s3://b@r///", "backupstore/"),
            ("s3://b@r/x/..", "backupstore/"),
        ] {
            assert_eq!(
                BackupTargetUrl::parse(url).expect(url).root(),
                root,
                "{url}"
            );
        }
    }

    #[test]
    fn percent_decodes_like_go_url_parse() {
        let t =
            BackupTargetUrl::parse("s3://my%2Dbucket@us%2Deast-1/a%20b/c%2Bd+e/").expect("escaped");
        assert_eq!(t.bucket, "my-bucket");
        assert_eq!(t.region, "us-east-1");
        // In a path `+` is literal and %20 a space (Go's url.Parse).
        assert_eq!(t.prefix, "a b/c+d+e/");
        assert!(
            BackupTargetUrl::parse("S3://b@r/").is_ok(),
            "scheme is case-insensitive"
        );
    }

    #[test]
    fn rejects_bad_targets() {
        assert!(matches!(
            BackupTargetUrl::parse("s3://bucket@us-east-1"),
            Err(TargetError::MissingPath { .. })
        ));
        assert!(matches!(
            BackupTargetUrl::parse("s3://bucket@/"),
            Err(TargetError::EmptyBucketOrRegion { .. })
        ));
        assert!(matches!(
            BackupTargetUrl::parse("s3://bucket@us-east-1/p/?x=1"),
            Err(TargetError::MissingTrailingSlash { .. })
        ));
        assert!(matches!(
            BackupTargetUrl::parse("nfs://server:/export/"),
            Err(TargetError::WrongScheme { .. })
        ));
        assert!(matches!(
            BackupTargetUrl::parse("s3://@us-east-1/"),
            Err(TargetError::EmptyBucketOrRegion { .. })
        ));
        let msg = BackupTargetUrl::parse("s3://bucket")
            .expect_err("no path")
            .to_string();
        assert!(msg.contains("no path"), "{msg}");
    }

    #[test]
    fn parses_backup_url() {
        let u = BackupUrl::parse("s3://b@us-east-1/?backup=backup-0123456789abcdef&volume=pvc-1")
            .expect("valid");
        assert_eq!(u.backup, "backup-0123456789abcdef");
        assert_eq!(u.volume, "pvc-1");
        assert_eq!(u.target.root(), "backupstore/");
        let u = BackupUrl::parse("s3://b@us-east-1/p/?volume=v1&backup=bk1").expect("valid");
        assert_eq!(u.target.prefix, "p/");
        assert_eq!((u.backup.as_str(), u.volume.as_str()), ("bk1", "v1"));
    }

    #[test]
    fn rejects_bad_backup_urls() {
        assert!(matches!(
            BackupUrl::parse("s3://b@us-east-1/?volume=v1"),
            Err(TargetError::MissingQueryParam {
                param: "backup",
                ..
            })
        ));
        assert!(matches!(
            BackupUrl::parse("s3://b@us-east-1/?backup=b1&volume=-bad"),
            Err(TargetError::InvalidName { .. })
        ));
        assert!(matches!(
            BackupUrl::parse("s3://b@us-east-1/?backup=b1&volume=a%2Fb"),
            Err(TargetError::InvalidName { .. })
        ));
    }

    #[test]
    fn decodes_percent_encoded_names() {
        // `.` escaped as %2E and `-` as %2D: Go's url.Query decodes both (the old harness
        // lookup compared the raw `pvc%2D1` and reported a mismatch).
        let u = BackupUrl::parse(
            "s3://b@us-east-1/?backup=backup%2D0123456789abcdef&volume=pvc%2D1%2Edata",
        )
        .expect("escaped names");
        assert_eq!(u.backup, "backup-0123456789abcdef");
        assert_eq!(u.volume, "pvc-1.data");
        // Keys are decoded too, and the first of two values wins (url.Values.Get).
        let n = decode_backup_url("s3://b@r/?%62ackup=bk1&volume=v1&volume=v2").expect("valid");
        assert_eq!((n.backup.as_str(), n.volume.as_str()), ("bk1", "v1"));
        // A pair with a malformed escape is dropped, as Go's ParseQuery drops it.
        let e = decode_backup_url("s3://b@r/?backup=bk%zz&volume=v1").expect_err("bad escape");
        assert_eq!(
            e,
            TargetError::MissingQueryParam {
                url: "s3://b@r/?backup=bk%zz&volume=v1".into(),
                param: "backup"
            }
        );
        // `+` is a space in a query value, and a space breaks the name rule.
        assert!(matches!(
            decode_backup_url("s3://b@r/?backup=b+1&volume=v1"),
            Err(TargetError::InvalidName { .. })
        ));
        // The query ends at a fragment.
        let n = decode_backup_url("s3://b@r/?backup=bk1&volume=v1#frag").expect("fragment");
        assert_eq!(n.volume, "v1");
    }

    #[test]
    fn names_what_is_missing() {
        for (url, param) in [
            ("s3://b@us-east-1/", "backup"),
            ("s3://b@us-east-1/?", "backup"),
            ("s3://b@us-east-1/?volume=v1", "backup"),
            ("s3://b@us-east-1/?backup=&volume=v1", "backup"),
            ("s3://b@us-east-1/?backup=bk1", "volume"),
            ("s3://b@us-east-1/?backup=bk1&volume=", "volume"),
        ] {
            let err = BackupUrl::parse(url).expect_err(url);
            assert_eq!(
                err,
                TargetError::MissingQueryParam {
                    url: url.into(),
                    param
                },
                "{url}"
            );
            assert!(
                err.to_string().contains(&format!("no \"{param}\"")),
                "{err}"
            );
        }
    }

    #[test]
    fn a_backup_url_of_another_scheme_is_not_an_s3_backup() {
        let url = "nfs://server:/export/?backup=bk1&volume=v1";
        assert!(matches!(
            BackupUrl::parse(url),
            Err(TargetError::WrongScheme { .. })
        ));
        // Longhorn's names still decode, whatever the scheme.
        let n = decode_backup_url(url).expect("names of an nfs backup");
        assert_eq!((n.backup.as_str(), n.volume.as_str()), ("bk1", "v1"));
    }

    #[test]
    fn encodes_like_longhorn() {
        let url = encode_backup_url("s3://bkt@us-east-1/", "backup-0123456789abcdef", "vol-1");
        assert_eq!(
            url,
            "s3://bkt@us-east-1/?backup=backup-0123456789abcdef&volume=vol-1"
        );
        let u = BackupUrl::parse(&url).expect("round trip");
        assert_eq!(u.to_url(), url);
        // A query the target already has is kept, keys sorted (url.Values.Encode).
        assert_eq!(
            encode_backup_url("s3://b@r/p/?x=a b", "bk1", "v1"),
            "s3://b@r/p/?backup=bk1&volume=v1&x=a+b"
        );
    }

    /// `inspect/*.backup.json` of the shared Longhorn vectors: `InspectBackup` answers written by
    /// Longhorn's own backupstore package (v1.9.1), each with the backup's URL as Longhorn
    /// encoded it (`vfs:///…/?backup=b1&volume=vol-sparse`).
    #[test]
    fn decodes_urls_longhorn_produced() {
        let dir = std::env::var_os("DR_SHARED_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
            })
            .join("longhorn-vectors/inspect");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            let msg = format!(
                "!!! {} is missing: Longhorn's own backup URLs are not checked",
                dir.display()
            );
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
            eprintln!("{msg}");
            return;
        };
        let mut seen = 0;
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if !path.to_string_lossy().ends_with(".backup.json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("readable vector");
            let v: serde_json::Value = serde_json::from_str(&text).expect("json vector");
            let url = v["URL"].as_str().expect("URL");
            let names =
                decode_backup_url(url).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(names.backup, v["Name"].as_str().expect("Name"), "{url}");
            assert_eq!(
                names.volume,
                v["VolumeName"].as_str().expect("VolumeName"),
                "{url}"
            );
            // Longhorn's encoding sorts the keys: ours gives the same URL back.
            let target = url.split_once('?').expect("a query").0;
            assert_eq!(encode_backup_url(target, &names.backup, &names.volume), url);
            seen += 1;
        }
        assert!(seen > 0, "no *.backup.json in {}", dir.display());
    }
}
