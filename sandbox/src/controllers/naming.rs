//! Names and URLs the simulated controllers generate, spelled as the real ones spell them.
//!
//! Pod names follow the ReplicaSet scheme (`<deployment>-<pod-template-hash>-<5 chars>`), random
//! suffixes use Kubernetes' `rand.String` alphabet (apimachinery `pkg/util/rand`: consonants and
//! digits without vowels or look-alikes), BackupVolume names follow the release's rule
//! ([`BackupVolumeNaming`]), and backup URLs follow longhorn-manager's
//! `backupstore.EncodeBackupURL` (`s3://bucket@region/?backup=<name>&volume=<vol>`, query keys
//! sorted).

use rand::Rng;
use sha2::{Digest, Sha256};

use super::version::{BackupVolumeNaming, LonghornVersion};

/// Kubernetes `util/rand` alphabet, used for generated name suffixes.
const K8S_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

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

/// The BackupVolume object name a backup target sync gives remote volume `volume` of the
/// BackupTarget named `target` under `version` (sources in [`BackupVolumeNaming`]).
pub fn backup_volume_name(volume: &str, target: &str, version: LonghornVersion) -> String {
    match version.backup_volume_naming() {
        BackupVolumeNaming::VolumeName => volume.to_string(),
        BackupVolumeNaming::RandomSuffix => format!("{volume}-{}", hex_suffix(8)),
        BackupVolumeNaming::TargetHash => {
            let input = format!("{volume}-{target}");
            let digest = Sha256::digest(input.trim().as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("{volume}-{}", &hex[..8])
        }
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

/// The URL of one backup: `<target>?backup=<name>&volume=<vol>`, query keys sorted, as
/// Longhorn builds it ([`dr_backupstore::encode_backup_url`], after longhorn-engine@v1.9.1
/// vendor/github.com/longhorn/backupstore/backupstore.go `EncodeBackupURL`). Parse one with
/// [`dr_backupstore::decode_backup_url`].
pub fn backup_url(target_url: &str, backup: &str, volume: &str) -> String {
    dr_backupstore::encode_backup_url(target_url, backup, volume)
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
        let parsed = dr_backupstore::BackupUrl::parse(&url).expect("parses");
        assert_eq!(parsed.backup, "backup-0123456789abcdef");
        assert_eq!(parsed.volume, "dr-exercise-data");
        assert_eq!(parsed.target.to_url(), target);
    }

    #[test]
    fn backup_volume_names_follow_the_release() {
        use LonghornVersion::*;
        assert_eq!(backup_volume_name("vol", "default", V1_7_1), "vol");
        assert_eq!(backup_volume_name("vol", "default", V1_7_3), "vol");
        let v18 = backup_volume_name("vol", "default", V1_8_2);
        let suffix = v18.strip_prefix("vol-").expect("prefixed by the volume");
        assert_eq!(suffix.len(), 8);
        assert!(suffix
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        // 1.9+: sha256("vol-default") = c4eb6c05..., computed independently with sha256sum
        let v19 = backup_volume_name("vol", "default", V1_9_1);
        assert_eq!(v19, "vol-c4eb6c05");
        assert_eq!(v19, backup_volume_name("vol", "default", V1_10_1));
        assert_eq!(v19, backup_volume_name("vol", "default", V1_9_1), "stable");
        assert_ne!(v19, backup_volume_name("vol", "other", V1_9_1));
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
    }
}
