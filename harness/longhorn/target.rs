//! Comparing backup target URLs the way Longhorn reads them.
//!
//! Longhorn accepts `s3://bucket@region/path/` and `s3://bucket/path` (region then from the
//! credential secret), with or without a trailing slash; the path is trimmed of leading `/` and
//! keys are joined under it with Go's `filepath.Join`, so `a//b/` and `a/b` name the same place
//! (longhorn-engine@v1.9.1:vendor/github.com/longhorn/backupstore/s3/s3.go `initFunc`,
//! s3/s3_service.go `newService`). Two URLs point at the same backups when bucket and cleaned
//! path agree and, when both name one, the region agrees.

/// A backup target URL reduced to what decides where the backups are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetLocation {
    /// `s3`, `nfs`, `azblob`, `cifs` …
    pub scheme: String,
    /// Bucket (S3) or host.
    pub bucket: String,
    /// Region after `@`, when given.
    pub region: Option<String>,
    /// Path cleaned like Go's `filepath.Clean` without the leading and trailing `/`; `""` for
    /// the bucket root.
    pub path: String,
}

impl TargetLocation {
    /// Parses `scheme://[bucket@]host[/path]`.
    ///
    /// # Errors
    /// A message naming the URL when it has no `scheme://` or no bucket.
    pub fn parse(url: &str) -> Result<Self, String> {
        let (scheme, rest) = url
            .trim()
            .split_once("://")
            .ok_or_else(|| format!("backup target URL {url:?} has no scheme://"))?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (bucket, region) = match authority.split_once('@') {
            Some((b, r)) => (b, Some(r.to_string()).filter(|r| !r.is_empty())),
            None => (authority, None),
        };
        if bucket.is_empty() {
            return Err(format!("backup target URL {url:?} names no bucket"));
        }
        Ok(TargetLocation {
            scheme: scheme.to_ascii_lowercase(),
            bucket: bucket.to_string(),
            region,
            path: clean_path(path),
        })
    }

    /// Whether `self` and `other` name the same backups (see the module docs).
    pub fn same_place(&self, other: &TargetLocation) -> bool {
        self.scheme == other.scheme
            && self.bucket == other.bucket
            && self.path == other.path
            && match (&self.region, &other.region) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// `a//b/./c/` → `a/b/c`; `..` pops a component (as `filepath.Clean` does).
fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(u: &str) -> TargetLocation {
        TargetLocation::parse(u).unwrap()
    }

    #[test]
    fn forms_longhorn_accepts_compare_equal() {
        let canonical = loc("s3://backups@us-east-1/cluster-a/");
        for same in [
            "s3://backups@us-east-1/cluster-a",
            "s3://backups/cluster-a/",
            "s3://backups@us-east-1//cluster-a//",
            "S3://backups@us-east-1/cluster-a/./",
        ] {
            assert!(canonical.same_place(&loc(same)), "{same}");
        }
        assert!(loc("s3://backups@us-east-1/").same_place(&loc("s3://backups")));
    }

    #[test]
    fn different_places_differ() {
        let canonical = loc("s3://backups@us-east-1/cluster-a/");
        for other in [
            "s3://backups@us-east-1/cluster-b/",
            "s3://backups@us-east-1/",
            "s3://other@us-east-1/cluster-a/",
            "s3://backups@eu-west-1/cluster-a/",
            "nfs://backups@us-east-1/cluster-a/",
        ] {
            assert!(!canonical.same_place(&loc(other)), "{other}");
        }
    }

    #[test]
    fn malformed_urls_are_errors() {
        assert!(TargetLocation::parse("backups/cluster-a").is_err());
        assert!(TargetLocation::parse("s3://@us-east-1/").is_err());
    }
}
