//! Names and URLs the simulated controllers generate, spelled as the real ones spell them.
//!
//! Pod names follow the ReplicaSet scheme (`<deployment>-<pod-template-hash>-<5 chars>`), random
//! suffixes use Kubernetes' `rand.String` alphabet (apimachinery `util/rand`: consonants and
//! digits without vowels or look-alikes), BackupVolume names follow Longhorn 1.7 (the volume name)
//! or 1.8+ (`<volume>-<8 hex>`), and backup URLs follow longhorn-manager's
//! `backupstore.EncodeBackupURL` (`s3://bucket@region/?backup=<name>&volume=<vol>`, query keys
//! sorted).

use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Kubernetes `util/rand` alphabet, used for generated name suffixes.
const K8S_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Which Longhorn release's naming the simulated Longhorn follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LonghornNaming {
    /// Longhorn 1.7: BackupVolume name = volume name, no `backup-volume`/`backup-target` labels
    /// on BackupVolumes, no `backupTargetName` fields.
    #[serde(rename = "v1.7")]
    V1_7,
    /// Longhorn 1.8+: BackupVolume name `<volume>-<8 hex>`, labels `backup-volume`,
    /// `backup-target`, `spec.volumeName`, `spec.backupTargetName`.
    #[default]
    #[serde(rename = "v1.8")]
    V1_8,
}

impl std::str::FromStr for LonghornNaming {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().trim_start_matches('v') {
            "1.7" => Ok(Self::V1_7),
            "1.8" | "1.9" | "1.10" => Ok(Self::V1_8),
            other => Err(format!(
                "unknown longhorn naming {other:?}: expected v1.7 or v1.8"
            )),
        }
    }
}

/// `n` random characters of the Kubernetes name-suffix alphabet.
pub fn k8s_suffix(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| K8S_ALPHABET[rng.random_range(0..K8S_ALPHABET.len())] as char)
        .collect()
}

/// `n` random lowercase hex characters.
pub fn hex_suffix(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// A stable `pod-template-hash` for a pod template (10 characters of the k8s alphabet derived
/// from a SHA-256 of the template JSON), so pods of an unchanged template share a hash.
pub fn pod_template_hash(template: &serde_json::Value) -> String {
    let digest = Sha256::digest(template.to_string().as_bytes());
    digest
        .iter()
        .take(10)
        .map(|b| K8S_ALPHABET[*b as usize % K8S_ALPHABET.len()] as char)
        .collect()
}

/// A pod name for a Deployment replica: `<deployment>-<hash>-<5 chars>`.
pub fn deployment_pod_name(deployment: &str, template_hash: &str) -> String {
    format!("{deployment}-{template_hash}-{}", k8s_suffix(5))
}

/// A pod name for a Job attempt: `<job>-<5 chars>` (the Job controller's `generateName`).
pub fn job_pod_name(job: &str) -> String {
    format!("{job}-{}", k8s_suffix(5))
}

/// The BackupVolume object name for a volume under `naming`.
pub fn backup_volume_name(volume: &str, naming: LonghornNaming) -> String {
    match naming {
        LonghornNaming::V1_7 => volume.to_string(),
        LonghornNaming::V1_8 => format!("{volume}-{}", hex_suffix(8)),
    }
}

/// A new backup name as Longhorn's API generates it: `backup-<16 hex>`.
pub fn new_backup_name() -> String {
    format!("backup-{}", hex_suffix(16))
}

/// The backup target URL `s3://<bucket>@<region>/` (longhorn-facts.md §5; trailing `/` required).
pub fn backup_target_url(bucket: &str, region: &str) -> String {
    format!("s3://{bucket}@{region}/")
}

/// The URL of one backup: `<target>?backup=<name>&volume=<vol>`, query keys sorted
/// (longhorn-manager `backupstore.EncodeBackupURL`).
pub fn backup_url(target_url: &str, backup: &str, volume: &str) -> String {
    format!("{target_url}?backup={backup}&volume={volume}")
}

/// The parts of a backup URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupUrl {
    /// The backup target URL, `s3://bucket@region/[prefix/]`.
    pub target: String,
    /// `backup` query value: the backup name.
    pub backup: String,
    /// `volume` query value: the backup volume (original volume) name.
    pub volume: String,
}

/// Splits `s3://bucket@region/?backup=B&volume=V` (keys in any order).
///
/// # Errors
/// A message naming what is missing when there is no query or no `backup`/`volume` key.
pub fn parse_backup_url(url: &str) -> Result<BackupUrl, String> {
    let (target, query) = url
        .split_once('?')
        .ok_or_else(|| format!("backup url {url:?} has no query"))?;
    let mut backup = None;
    let mut volume = None;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("backup", v)) if !v.is_empty() => backup = Some(v.to_string()),
            Some(("volume", v)) if !v.is_empty() => volume = Some(v.to_string()),
            _ => {}
        }
    }
    Ok(BackupUrl {
        target: target.to_string(),
        backup: backup.ok_or_else(|| format!("backup url {url:?} lacks backup="))?,
        volume: volume.ok_or_else(|| format!("backup url {url:?} lacks volume="))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_url_round_trips_with_sorted_keys() {
        let target = backup_target_url("bkt", "us-east-1");
        assert_eq!(target, "s3://bkt@us-east-1/");
        let url = backup_url(&target, "backup-0123456789abcdef", "dr-exercise-data");
        assert_eq!(
            url,
            "s3://bkt@us-east-1/?backup=backup-0123456789abcdef&volume=dr-exercise-data"
        );
        let parsed = parse_backup_url(&url).expect("parses");
        assert_eq!(parsed.backup, "backup-0123456789abcdef");
        assert_eq!(parsed.volume, "dr-exercise-data");
        assert_eq!(parsed.target, target);
        assert!(parse_backup_url("s3://bkt@us-east-1/").is_err());
        assert!(parse_backup_url("s3://bkt@us-east-1/?volume=v").is_err());
    }

    #[test]
    fn backup_volume_names_follow_the_release() {
        assert_eq!(backup_volume_name("vol", LonghornNaming::V1_7), "vol");
        let v18 = backup_volume_name("vol", LonghornNaming::V1_8);
        let suffix = v18.strip_prefix("vol-").expect("prefixed by the volume");
        assert_eq!(suffix.len(), 8);
        assert!(suffix
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        let b = new_backup_name();
        assert_eq!(b.len(), "backup-".len() + 16);
    }

    #[test]
    fn pod_names_share_the_template_hash() {
        let t = serde_json::json!({"spec": {"containers": [{"name": "c"}]}});
        let h = pod_template_hash(&t);
        assert_eq!(h, pod_template_hash(&t));
        assert_eq!(h.len(), 10);
        let a = deployment_pod_name("web", &h);
        assert!(a.starts_with(&format!("web-{h}-")));
        assert_eq!(a.len(), "web-".len() + 10 + 1 + 5);
        assert!("v1.7".parse::<LonghornNaming>() == Ok(LonghornNaming::V1_7));
        assert!("1.9".parse::<LonghornNaming>() == Ok(LonghornNaming::V1_8));
    }
}
