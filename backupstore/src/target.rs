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
    /// The host part lacks `@region` (Longhorn requires `s3://bucket@region/`).
    #[error("backup target {url:?} has no @region after the bucket name")]
    MissingRegion {
        /// The URL as given.
        url: String,
    },
    /// The bucket or region is empty.
    #[error("backup target {url:?} has an empty bucket or region")]
    EmptyBucketOrRegion {
        /// The URL as given.
        url: String,
    },
    /// The path does not end with `/` (Longhorn requires the trailing slash).
    #[error("backup target {url:?} must end with '/'")]
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
/// Source: longhorn/backupstore `s3/s3.go` (`parseURL`, `updatePath`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BackupTargetUrl {
    /// S3 bucket name.
    pub bucket: String,
    /// S3 region (the part after `@`).
    pub region: String,
    /// Key prefix without a leading `/`, ending in `/` when non-empty (e.g. `"cluster-a/"`), or `""`.
    pub prefix: String,
}

impl BackupTargetUrl {
    /// Parses `s3://bucket@region/` or `s3://bucket@region/some/prefix/`.
    ///
    /// # Errors
    /// [`TargetError::WrongScheme`], [`TargetError::MissingRegion`],
    /// [`TargetError::EmptyBucketOrRegion`] or [`TargetError::MissingTrailingSlash`].
    pub fn parse(url: &str) -> Result<Self, TargetError> {
        let (target, query) = split_query(url);
        if query.is_some() {
            // A target URL never carries a query; treat it as a malformed path.
            return Err(TargetError::MissingTrailingSlash {
                url: url.to_string(),
            });
        }
        Self::parse_target(target, url)
    }

    fn parse_target(target: &str, url: &str) -> Result<Self, TargetError> {
        let rest = target
            .strip_prefix("s3://")
            .ok_or_else(|| TargetError::WrongScheme {
                url: url.to_string(),
            })?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (bucket, region) = host
            .split_once('@')
            .ok_or_else(|| TargetError::MissingRegion {
                url: url.to_string(),
            })?;
        if bucket.is_empty() || region.is_empty() {
            return Err(TargetError::EmptyBucketOrRegion {
                url: url.to_string(),
            });
        }
        if !path.ends_with('/') {
            return Err(TargetError::MissingTrailingSlash {
                url: url.to_string(),
            });
        }
        let prefix = path.trim_start_matches('/');
        Ok(Self {
            bucket: bucket.to_string(),
            region: region.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// The key root under which Longhorn writes everything: `"<prefix>backupstore/"`.
    ///
    /// Source: longhorn/backupstore `s3/s3.go updatePath` (`backupstoreBase = "backupstore"`).
    pub fn root(&self) -> String {
        format!("{}backupstore/", self.prefix)
    }

    /// The URL in Longhorn's canonical form, `s3://bucket@region/prefix/`.
    pub fn to_url(&self) -> String {
        format!("s3://{}@{}/{}", self.bucket, self.region, self.prefix)
    }
}

impl std::fmt::Display for BackupTargetUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_url())
    }
}

/// A parsed backup URL as found in `Backup.status.url`.
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
    /// Parses `s3://bucket@region/[prefix/]?backup=<name>&volume=<vol>` (query keys in any order).
    ///
    /// Source: longhorn/backupstore `backupstore.go DecodeConfigURL`.
    ///
    /// # Errors
    /// Any [`BackupTargetUrl::parse`] error for the part before `?`,
    /// [`TargetError::MissingQueryParam`] or [`TargetError::InvalidName`].
    pub fn parse(url: &str) -> Result<Self, TargetError> {
        let (target, query) = split_query(url);
        let target = BackupTargetUrl::parse_target(target, url)?;
        let mut backup = None;
        let mut volume = None;
        for pair in query.unwrap_or("").split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value);
            match key {
                "backup" => backup = Some(value),
                "volume" => volume = Some(value),
                _ => {}
            }
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
        for name in [&backup, &volume] {
            validate_name(name).map_err(|source| TargetError::InvalidName {
                url: url.to_string(),
                source,
            })?;
        }
        Ok(Self {
            target,
            backup,
            volume,
        })
    }
}

fn split_query(url: &str) -> (&str, Option<&str>) {
    match url.split_once('?') {
        Some((t, q)) => (t, Some(q)),
        None => (url, None),
    }
}

/// Decodes `%XX` escapes and `+`, as Go's `url.Values.Encode` may produce them.
fn percent_decode(s: &str) -> String {
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
    fn rejects_bad_targets() {
        assert!(matches!(
            BackupTargetUrl::parse("s3://bucket/"),
            Err(TargetError::MissingRegion { .. })
        ));
        assert!(matches!(
            BackupTargetUrl::parse("s3://bucket@us-east-1"),
            Err(TargetError::MissingTrailingSlash { .. })
        ));
        assert!(matches!(
            BackupTargetUrl::parse("s3://bucket@us-east-1/prefix"),
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
        let msg = BackupTargetUrl::parse("s3://bucket/")
            .expect_err("no region")
            .to_string();
        assert!(msg.contains("@region"), "{msg}");
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
}
