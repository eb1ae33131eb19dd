//! Key layout of Longhorn's backupstore and the checksum that names volumes' hash folders and
//! blocks.
//!
//! Every key this crate reads or writes is built here, so that the sandbox (which writes backups)
//! and the harness (which proves them) can never disagree on where an object lives.
//! Source: longhorn/backupstore `deltablock.go` (`getVolumePath`, `getBlockFilePath`,
//! `getBackupConfigPath`), `lock.go`, `util/util.go GetChecksum` and `ValidateName`.

/// Number of hex characters Longhorn keeps of the SHA-512 digest
/// (`util/util.go PreservedChecksumLength`).
pub const CHECKSUM_LEN: usize = 64;

/// Name rejected by Longhorn's name rule `^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid name {name:?}: must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")]
pub struct NameError {
    /// The rejected name.
    pub name: String,
}

/// Checks a volume or backup name against Longhorn's rule `^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`
/// (at least two characters).
///
/// Source: longhorn/backupstore `util/util.go ValidateName`.
///
/// # Errors
/// [`NameError`] naming the rejected name.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest: Vec<char> = chars.collect();
    let rest_ok = !rest.is_empty()
        && rest
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(NameError {
            name: name.to_string(),
        })
    }
}

/// Longhorn's checksum: SHA-512 of `data`, lowercase hex, truncated to 64 characters.
///
/// Used both for block names (over the uncompressed block) and for a volume's hash folders (over
/// the volume name). Source: longhorn/longhorn-engine@v1.9.1:vendor/github.com/longhorn/
/// backupstore/util/util.go `GetChecksum` (`sha512.Sum512`, hex, first 64 characters). The
/// digest is aws-lc's (the hot loop of deep verification; faster than the sha2 crate here).
pub fn checksum(data: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, data);
    let mut hex = hex::encode(digest.as_ref());
    hex.truncate(CHECKSUM_LEN);
    hex
}

/// Whether `s` has the shape of a block checksum: 64 lowercase hex characters.
pub fn is_checksum(s: &str) -> bool {
    s.len() == CHECKSUM_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Folder holding all volumes: `<root>volumes/`.
pub fn volumes_dir(root: &str) -> String {
    format!("{root}volumes/")
}

/// Folder of one volume: `<root>volumes/<h1>/<h2>/<vol>/` where `h1`, `h2` are the first two
/// pairs of hex characters of `checksum(vol)`. `testvol` → `volumes/df/b5/testvol/`.
pub fn volume_dir(root: &str, vol: &str) -> String {
    let c = checksum(vol.as_bytes());
    format!("{root}volumes/{}/{}/{vol}/", &c[0..2], &c[2..4])
}

/// `volume.cfg` of a volume.
pub fn volume_cfg_key(root: &str, vol: &str) -> String {
    format!("{}volume.cfg", volume_dir(root, vol))
}

/// Folder of a volume's backup cfgs: `…/<vol>/backups/`.
pub fn backups_dir(root: &str, vol: &str) -> String {
    format!("{}backups/", volume_dir(root, vol))
}

/// Backup cfg key: `…/<vol>/backups/backup_<backup>.cfg`.
pub fn backup_cfg_key(root: &str, vol: &str, backup: &str) -> String {
    format!("{}backup_{backup}.cfg", backups_dir(root, vol))
}

/// Extracts the backup name from a key or file name ending in `backup_<name>.cfg`.
pub fn backup_name_from_key(key: &str) -> Option<&str> {
    let file = key.rsplit('/').next()?;
    let name = file.strip_prefix("backup_")?.strip_suffix(".cfg")?;
    validate_name(name).ok().map(|()| name)
}

/// Folder of a volume's deduplicated blocks: `…/<vol>/blocks/`.
pub fn blocks_dir(root: &str, vol: &str) -> String {
    format!("{}blocks/", volume_dir(root, vol))
}

/// Block key: `…/<vol>/blocks/<c1>/<c2>/<checksum>.blk`, `c1`/`c2` from the block checksum.
///
/// A checksum shorter than four characters (never produced by [`checksum`]) is used as is for the
/// folders it has, so that verification can still name the key a corrupt cfg points at.
pub fn block_key(root: &str, vol: &str, block_checksum: &str) -> String {
    let c1 = block_checksum.get(0..2).unwrap_or(block_checksum);
    let c2 = block_checksum.get(2..4).unwrap_or("");
    format!("{}{c1}/{c2}/{block_checksum}.blk", blocks_dir(root, vol))
}

/// Extracts the checksum from a block key ending in `<checksum>.blk`.
pub fn block_checksum_from_key(key: &str) -> Option<&str> {
    let file = key.rsplit('/').next()?;
    let cs = file.strip_suffix(".blk")?;
    is_checksum(cs).then_some(cs)
}

/// Folder of a volume's lock files: `…/<vol>/locks/`.
pub fn locks_dir(root: &str, vol: &str) -> String {
    format!("{}locks/", volume_dir(root, vol))
}

/// Lock key: `…/<vol>/locks/lock-<id>.lck` (`id` is 16 hex characters in Longhorn).
pub fn lock_key(root: &str, vol: &str, id: &str) -> String {
    format!("{}lock-{id}.lck", locks_dir(root, vol))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha512};

    #[test]
    fn checksum_is_sha512_hex_truncated_to_64() {
        let c = checksum(b"testvol");
        assert_eq!(c.len(), 64);
        assert!(is_checksum(&c));
        // Independent computation: the full SHA-512 hex starts with the truncated checksum.
        let full = hex::encode(Sha512::digest(b"testvol"));
        assert_eq!(full.len(), 128);
        assert!(full.starts_with(&c));
    }

    #[test]
    fn worked_example_testvol() {
        assert_eq!(
            volume_dir("backupstore/", "testvol"),
            "backupstore/volumes/df/b5/testvol/"
        );
        assert_eq!(
            volume_cfg_key("p/backupstore/", "testvol"),
            "p/backupstore/volumes/df/b5/testvol/volume.cfg"
        );
        assert_eq!(
            backup_cfg_key("backupstore/", "testvol", "backup-1"),
            "backupstore/volumes/df/b5/testvol/backups/backup_backup-1.cfg"
        );
        assert_eq!(
            lock_key("backupstore/", "testvol", "0123456789abcdef"),
            "backupstore/volumes/df/b5/testvol/locks/lock-0123456789abcdef.lck"
        );
    }

    #[test]
    fn block_key_uses_checksum_folders() {
        let cs = checksum(b"block");
        let key = block_key("backupstore/", "testvol", &cs);
        assert_eq!(
            key,
            format!(
                "backupstore/volumes/df/b5/testvol/blocks/{}/{}/{cs}.blk",
                &cs[0..2],
                &cs[2..4]
            )
        );
        assert_eq!(block_checksum_from_key(&key), Some(cs.as_str()));
        assert_eq!(block_checksum_from_key("x/blocks/ab/cd/zz.blk"), None);
    }

    #[test]
    fn backup_names_round_trip_through_keys() {
        let key = backup_cfg_key("backupstore/", "v1", "backup-0123456789abcdef");
        assert_eq!(backup_name_from_key(&key), Some("backup-0123456789abcdef"));
        assert_eq!(backup_name_from_key("x/backups/other.cfg"), None);
        assert_eq!(backup_name_from_key("x/backups/backup_.cfg"), None);
    }

    #[test]
    fn name_rule() {
        for ok in [
            "testvol",
            "pvc-1234",
            "a.b_c-d",
            "0x",
            "backup-0123456789abcdef",
        ] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "-abc", ".abc", "_abc", "a/b", "a b", "vol\u{e9}"] {
            assert_eq!(
                validate_name(bad),
                Err(NameError {
                    name: bad.to_string()
                }),
                "{bad}"
            );
        }
    }
}
