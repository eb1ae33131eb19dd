//! Which Longhorn release a cluster runs, and the rules that differ between releases.
//!
//! The harness reads the version once at preflight ([`detect`]), records it in the run record
//! (`DrillFacts::longhorn_version` in the engine) and asks this module, never a scattered
//! comparison, what the release does. Each rule names the upstream source it follows.

use std::fmt;
use std::str::FromStr;

use k8s_openapi::api::apps::v1::DaemonSet;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, Client};

/// A Longhorn release `major.minor.patch`; pre-release and hotfix suffixes (`-rc1`,
/// `-hotfix-1`) are ignored, so `v1.10.1-hotfix-1` follows the rules of 1.10.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LonghornVersion {
    /// Major release number (1 for every supported release).
    pub major: u32,
    /// Minor release number: most rules differ by it (1.7, 1.8, …).
    pub minor: u32,
    /// Patch release number (a few rules start at a patch, e.g. 1.7.2).
    pub patch: u32,
}

/// How Longhorn names the BackupVolume of a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupVolumeNaming {
    /// 1.7: the volume's name (longhorn-manager@v1.7.1:controller/backup_target_controller.go).
    VolumeName,
    /// 1.8: `<volume>-<8 random hex>`, found by the label `backup-volume` and `spec.volumeName`
    /// (longhorn-manager@v1.8.2:types/types.go `GetBackupVolumeNameFromVolumeName`: `util.RandomID()`).
    RandomSuffix,
    /// 1.9 and later: `<volume>-` + the first 8 hex digits of SHA-256 of
    /// `"<volume>-<BackupTarget name>"` (longhorn-manager@v1.9.1/v1.10.1:types/types.go
    /// `GetBackupVolumeNameFromVolumeName`), found the same way as on 1.8.
    TargetHash,
}

impl BackupVolumeNaming {
    /// The BackupVolume name Longhorn gives `volume` on the BackupTarget named `target`
    /// (normally `default`); None on 1.8, whose suffix is random.
    pub fn expected_name(self, volume: &str, target: &str) -> Option<String> {
        use sha2::{Digest, Sha256};
        match self {
            BackupVolumeNaming::VolumeName => Some(volume.to_string()),
            BackupVolumeNaming::RandomSuffix => None,
            BackupVolumeNaming::TargetHash => {
                let digest = Sha256::digest(format!("{volume}-{target}").trim().as_bytes());
                Some(format!("{volume}-{}", &hex::encode(digest)[..8]))
            }
        }
    }
}

/// A version string that is not `[v]major.minor.patch[-suffix]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Longhorn version: {0:?} (expected e.g. v1.9.1)")]
pub struct BadVersion(pub String);

impl LonghornVersion {
    /// `major.minor.patch`.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        LonghornVersion {
            major,
            minor,
            patch,
        }
    }

    /// Whether the Backup webhook refuses a Backup without the label `backup-volume`.
    ///
    /// True before 1.10: longhorn-manager@v1.7.1/v1.9.1:webhook/resources/backup/mutator.go
    /// answers "cannot find the backup volume label for backup …"; from
    /// longhorn-manager@v1.10.1:webhook/resources/backup/mutator.go it derives the volume from
    /// `spec.snapshotName` when the label is absent. The harness sets the label on every version.
    pub fn backup_requires_volume_label(self) -> bool {
        self < LonghornVersion::new(1, 10, 0)
    }

    /// Whether deleting a Backup object that carries `longhorn.io/delete-custom-resource-only`
    /// leaves its data on the backup target.
    ///
    /// The label exists from 1.7.2 (longhorn-manager@v1.7.2:datastore/longhorn.go
    /// `IsLabelLonghornDeleteCustomResourceOnlyExisting`, which checks the key's presence, any
    /// value); longhorn-manager@v1.7.1 has no such label, so there deleting a Backup object
    /// deletes the backup from the target.
    pub fn has_cr_only_delete(self) -> bool {
        self >= LonghornVersion::new(1, 7, 2)
    }

    /// How BackupVolumes are named.
    pub fn backup_volume_naming(self) -> BackupVolumeNaming {
        if self < LonghornVersion::new(1, 8, 0) {
            BackupVolumeNaming::VolumeName
        } else if self < LonghornVersion::new(1, 9, 0) {
            BackupVolumeNaming::RandomSuffix
        } else {
            BackupVolumeNaming::TargetHash
        }
    }

    /// Reads the tag of a container image such as `longhornio/longhorn-manager:v1.9.1` or
    /// `registry:5000/longhornio/longhorn-manager:v1.9.1@sha256:…`.
    ///
    /// # Errors
    /// [`BadVersion`] when the image has no tag or the tag is not a version.
    pub fn from_image(image: &str) -> Result<Self, BadVersion> {
        let without_digest = image.split('@').next().unwrap_or(image);
        let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
        match last.split_once(':') {
            Some((_, tag)) => tag.parse(),
            None => Err(BadVersion(image.to_string())),
        }
    }
}

impl FromStr for LonghornVersion {
    type Err = BadVersion;

    fn from_str(s: &str) -> Result<Self, BadVersion> {
        let bad = || BadVersion(s.to_string());
        let trimmed = s.trim();
        let core = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let core = core.split(['-', '+']).next().unwrap_or(core);
        let mut parts = core.split('.');
        let mut next = || -> Result<u32, BadVersion> {
            parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())
        };
        let v = LonghornVersion::new(next()?, next()?, next()?);
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(v)
    }
}

impl fmt::Display for LonghornVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What [`detect`] found and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    /// None when neither source gave a version.
    pub version: Option<LonghornVersion>,
    /// Where it came from, or why it is unknown, for the step's output.
    pub source: String,
}

/// Name of Longhorn's read-only Setting holding the running release, e.g. `v1.9.1`
/// (longhorn-manager@v1.7.1..v1.10.1:types/setting.go `SettingNameCurrentLonghornVersion`; the
/// value sits in the Setting's top-level `value`, k8s/pkg/apis/longhorn/v1beta2/setting.go).
pub const SETTING_CURRENT_VERSION: &str = "current-longhorn-version";
/// The DaemonSet whose image tag is the fallback source.
pub const MANAGER_DAEMONSET: &str = "longhorn-manager";

/// Reads the running Longhorn version: the Setting [`SETTING_CURRENT_VERSION`] in `ns`, else the
/// image tag of the `longhorn-manager` container of the DaemonSet [`MANAGER_DAEMONSET`].
///
/// # Errors
/// API errors other than "not found" and "forbidden" (those move on to the next source, and
/// with no source left the version is unknown).
pub async fn detect(client: &Client, ns: &str) -> Result<Detected, kube::Error> {
    let gvk = GroupVersionKind::gvk("longhorn.io", "v1beta2", "Setting");
    let settings: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk(&gvk));
    let mut why = Vec::new();
    match settings.get_opt(SETTING_CURRENT_VERSION).await {
        Ok(Some(s)) => {
            let value = s.data.get("value").and_then(|v| v.as_str()).unwrap_or("");
            match value.parse::<LonghornVersion>() {
                Ok(v) => {
                    return Ok(Detected {
                        version: Some(v),
                        source: format!("Setting {ns}/{SETTING_CURRENT_VERSION} = {value}"),
                    })
                }
                Err(e) => why.push(format!("Setting {SETTING_CURRENT_VERSION}: {e}")),
            }
        }
        Ok(None) => why.push(format!("no Setting {SETTING_CURRENT_VERSION}")),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            why.push("no longhorn.io Setting resource".to_string())
        }
        Err(kube::Error::Api(s)) if s.code == 403 => why.push(format!(
            "not allowed to read Setting {ns}/{SETTING_CURRENT_VERSION} ({})",
            s.message
        )),
        Err(e) => return Err(e),
    }
    let daemonsets: Api<DaemonSet> = Api::namespaced(client.clone(), ns);
    let ds = match daemonsets.get_opt(MANAGER_DAEMONSET).await {
        Ok(ds) => ds,
        // Not knowing is allowed (the version-dependent steps take the safe side).
        Err(kube::Error::Api(s)) if s.code == 403 => {
            why.push(format!(
                "not allowed to read DaemonSet {ns}/{MANAGER_DAEMONSET} ({})",
                s.message
            ));
            return Ok(Detected {
                version: None,
                source: why.join("; "),
            });
        }
        Err(e) => return Err(e),
    };
    match ds {
        Some(ds) => {
            let image = manager_image(&ds);
            match image.as_deref().map(LonghornVersion::from_image) {
                Some(Ok(v)) => {
                    return Ok(Detected {
                        version: Some(v),
                        source: format!(
                            "{}; image of DaemonSet {ns}/{MANAGER_DAEMONSET}: {}",
                            why.join("; "),
                            image.unwrap_or_default()
                        ),
                    })
                }
                Some(Err(e)) => why.push(e.to_string()),
                None => why.push(format!("DaemonSet {MANAGER_DAEMONSET} has no containers")),
            }
        }
        None => why.push(format!("no DaemonSet {ns}/{MANAGER_DAEMONSET}")),
    }
    Ok(Detected {
        version: None,
        source: why.join("; "),
    })
}

/// The image of the container named `longhorn-manager`, else the first container's.
fn manager_image(ds: &DaemonSet) -> Option<String> {
    let containers = &ds.spec.as_ref()?.template.spec.as_ref()?.containers;
    containers
        .iter()
        .find(|c| c.name == MANAGER_DAEMONSET)
        .or_else(|| containers.first())
        .and_then(|c| c.image.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> LonghornVersion {
        s.parse().unwrap()
    }

    #[test]
    fn parses_tags_and_images() {
        assert_eq!(v("v1.9.1"), LonghornVersion::new(1, 9, 1));
        assert_eq!(v("1.10.1-hotfix-1"), LonghornVersion::new(1, 10, 1));
        assert_eq!(v("v1.7.3-rc2"), LonghornVersion::new(1, 7, 3));
        assert!("v1.9".parse::<LonghornVersion>().is_err());
        assert!("master-head".parse::<LonghornVersion>().is_err());
        assert!("1.9.1.2".parse::<LonghornVersion>().is_err());
        assert_eq!(
            LonghornVersion::from_image("longhornio/longhorn-manager:v1.8.1").unwrap(),
            LonghornVersion::new(1, 8, 1)
        );
        assert_eq!(
            LonghornVersion::from_image(
                "reg.local:5000/longhornio/longhorn-manager:v1.10.1@sha256:ab"
            )
            .unwrap(),
            LonghornVersion::new(1, 10, 1)
        );
        assert!(LonghornVersion::from_image("reg.local:5000/longhorn-manager").is_err());
        assert_eq!(v("v1.10.1").to_string(), "1.10.1");
    }

    #[test]
    fn versions_order_numerically() {
        assert!(v("1.10.0") > v("1.9.9"));
        assert!(v("1.7.10") > v("1.7.2"));
    }

    #[test]
    fn backup_label_rule_follows_the_webhook() {
        for old in ["1.7.1", "1.7.3", "1.8.2", "1.9.1"] {
            assert!(v(old).backup_requires_volume_label(), "{old}");
        }
        assert!(!v("1.10.1").backup_requires_volume_label());
    }

    #[test]
    fn cr_only_delete_exists_from_1_7_2() {
        assert!(!v("1.7.0").has_cr_only_delete());
        assert!(!v("1.7.1").has_cr_only_delete());
        for ok in ["1.7.2", "1.7.3", "1.8.2", "1.9.1", "1.10.1"] {
            assert!(v(ok).has_cr_only_delete(), "{ok}");
        }
    }

    #[test]
    fn backup_volume_naming_changes_at_1_8() {
        assert_eq!(
            v("1.7.3").backup_volume_naming(),
            BackupVolumeNaming::VolumeName
        );
        assert_eq!(
            v("1.8.2").backup_volume_naming(),
            BackupVolumeNaming::RandomSuffix
        );
        assert_eq!(
            v("1.9.1").backup_volume_naming(),
            BackupVolumeNaming::TargetHash
        );
        assert_eq!(
            v("1.7.1")
                .backup_volume_naming()
                .expected_name("vol", "default"),
            Some("vol".to_string())
        );
        assert_eq!(
            v("1.8.2")
                .backup_volume_naming()
                .expected_name("vol", "default"),
            None
        );
        // The digest below comes from sha256sum, not from the code under test.
        let name = v("1.10.1")
            .backup_volume_naming()
            .expected_name("vol", "default")
            .unwrap();
        assert_eq!(name, format!("vol-{}", &SHA256_VOL_DEFAULT[..8]));
    }

    /// `printf 'vol-default' | sha256sum`
    const SHA256_VOL_DEFAULT: &str =
        "c4eb6c054b35f0955b653b162d16b73321ff0038d465360e47824c23f9cb2b9b";
}
