//! The ledger of incremental deep verification: which block objects of one volume were
//! downloaded, decompressed and checked, when, and which stored object (size and ETag) that was.
//!
//! Longhorn names every block by the SHA-512/64 of its plaintext and never rewrites a block in
//! place (longhorn/longhorn-engine@v1.9.1:vendor/github.com/longhorn/backupstore/deltablock.go
//! `backupBlock`: a block whose key exists is skipped, unless the backup is full — `isFullBackup`,
//! parameter `backup-mode` = `full`, vendor/github.com/longhorn/go-common-libs/backup/types.go
//! `LonghornBackupParameterBackupMode`, `LonghornBackupModeFull` — which uploads the same
//! content again under the same key), so a block proven once stays proven while its
//! object is unchanged. "Unchanged" is the object's ETag and size: any PUT to the key gives a
//! new object whose ETag the next listing shows.
//!
//! # Why a tampered ledger cannot cause a false pass
//! Two independent rules, both applied to every entry:
//! 1. **Signature.** The ledger is signed with HMAC-SHA256 under a key only the verifier holds
//!    (from the profile's environment, never stored beside the backups). A ledger whose
//!    signature does not verify, that names another volume, or that does not parse is rejected
//!    whole: the run is a full pass and writes a fresh ledger. Without the key nobody can forge
//!    an entry for a block that was never verified.
//! 2. **Cross-check with the live listing.** An entry skips its block only when the block's
//!    current ETag *and* stored size equal the entry's. A rewritten or replaced object (the
//!    usual way a block goes bad: a partial upload, a wrong PUT, a restored bucket copy) is
//!    downloaded again even under a valid signature.
//!
//! Cross-checking alone would not be enough: whoever can write the bucket can corrupt a block
//! and put the new ETag into an unsigned ledger. Signing alone would not be enough either: a
//! signed ledger says nothing about an object rewritten after it was checked. What neither
//! catches (bit rot under an unchanged ETag) is what the scrub and the periodic full pass are
//! for (see [`incremental`](crate::incremental)). So a modified ledger can make a run download
//! more, never less.
//!
//! The ledger is one JSON object, written whole: an S3 PUT replaces an object atomically, and a
//! local file is written beside its target and renamed over it. Shards own disjoint volumes,
//! so one volume's ledger has one writer; two runs racing on it lose work (last writer wins),
//! never correctness, because every entry is re-checked as above.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};

use crate::store::{BackupStore, StoreError};

type HmacSha256 = hmac::Hmac<sha2_011::Sha256>;

/// Schema version written into every ledger; another version is rejected (full pass).
pub const LEDGER_SCHEMA: u32 = 1;
/// Shortest accepted signing key, in bytes.
pub const MIN_KEY_BYTES: usize = 16;

/// Errors reading or writing a ledger (a ledger that is present but untrustworthy is not an
/// error: [`LedgerLoad::Rejected`]).
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The signing key is shorter than [`MIN_KEY_BYTES`].
    #[error(
        "the ledger signing key is {len} bytes; use at least {MIN_KEY_BYTES} random bytes \
         (e.g. `openssl rand -hex 32`)"
    )]
    WeakKey {
        /// Key length in bytes.
        len: usize,
    },
    /// S3 failed (the error names bucket and key).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A local ledger file could not be read or written.
    #[error("ledger file {path}: {source}")]
    Io {
        /// The local path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// One verified block object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerEntry {
    /// Stored (compressed) size in bytes of the object that was checked.
    pub size: u64,
    /// ETag of exactly the object version that was downloaded and checked.
    pub etag: String,
    /// When it was checked.
    pub verified_at: DateTime<Utc>,
}

/// The signed content of a ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ledger {
    /// [`LEDGER_SCHEMA`].
    pub schema: u32,
    /// Volume name as the backup target knows it.
    pub volume: String,
    /// When the last full pass (every block of a backup downloaded) finished; the next run
    /// after `full_every` is a full pass again.
    pub full_pass_at: DateTime<Utc>,
    /// When the ledger was last written.
    pub updated_at: DateTime<Utc>,
    /// Block checksum (the object's content address) → what was verified.
    pub blocks: BTreeMap<String, LedgerEntry>,
}

/// The stored form: the ledger and its signature.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    ledger: Ledger,
    /// Lowercase hex HMAC-SHA256 of the ledger's canonical JSON (fields in declaration order,
    /// blocks sorted by checksum).
    hmac_sha256: String,
}

/// Where a volume's ledger lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerLocation {
    /// An object in the backup target's bucket, normally [`ledger_key`].
    S3 {
        /// Object key.
        key: String,
    },
    /// A local file (for runners with a persistent disk, or a target that must stay
    /// read-only).
    Local(PathBuf),
}

impl std::fmt::Display for LedgerLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LedgerLocation::S3 { key } => write!(f, "s3 key {key}"),
            LedgerLocation::Local(p) => write!(f, "{}", p.display()),
        }
    }
}

/// What loading a ledger found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerLoad {
    /// No ledger yet (first run): a full pass.
    Absent,
    /// A ledger whose signature verified, for this volume.
    Trusted(Ledger),
    /// A ledger that is present but not trusted, and why: a full pass.
    Rejected(String),
}

/// Key of a volume's ledger beside the backups: `<prefix>dr-harness/verified/<volume>.json`,
/// where `store_root` is the store's `<prefix>backupstore/`.
pub fn ledger_key(store_root: &str, volume: &str) -> String {
    let prefix = store_root
        .strip_suffix("backupstore/")
        .unwrap_or(store_root);
    format!("{prefix}dr-harness/verified/{volume}.json")
}

/// Checks that `key` is usable for signing.
///
/// # Errors
/// [`LedgerError::WeakKey`] when it is shorter than [`MIN_KEY_BYTES`].
pub fn check_key(key: &[u8]) -> Result<(), LedgerError> {
    if key.len() < MIN_KEY_BYTES {
        return Err(LedgerError::WeakKey { len: key.len() });
    }
    Ok(())
}

fn mac(key: &[u8], ledger: &Ledger) -> HmacSha256 {
    // HMAC takes keys of any length; check_key enforces a useful one before we get here.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("hmac accepts any key");
    // serde_json writes struct fields in declaration order and BTreeMap keys sorted, so the
    // bytes of one ledger value are always the same.
    mac.update(&serde_json::to_vec(ledger).expect("a ledger serializes"));
    mac
}

impl Ledger {
    /// An empty ledger for `volume` whose full pass is `now`.
    pub fn new(volume: &str, now: DateTime<Utc>) -> Self {
        Self {
            schema: LEDGER_SCHEMA,
            volume: volume.to_string(),
            full_pass_at: now,
            updated_at: now,
            blocks: BTreeMap::new(),
        }
    }

    /// The signed JSON form.
    ///
    /// # Errors
    /// [`LedgerError::WeakKey`].
    pub fn to_signed_json(&self, key: &[u8]) -> Result<Vec<u8>, LedgerError> {
        check_key(key)?;
        let sig = hex::encode(mac(key, self).finalize().into_bytes());
        let env = Envelope {
            ledger: self.clone(),
            hmac_sha256: sig,
        };
        Ok(serde_json::to_vec_pretty(&env).expect("a ledger serializes"))
    }

    /// Parses and checks a stored ledger of `volume`; never fails: anything untrustworthy is
    /// [`LedgerLoad::Rejected`] with the reason.
    pub fn from_signed_json(bytes: &[u8], key: &[u8], volume: &str) -> LedgerLoad {
        let env: Envelope = match serde_json::from_slice(bytes) {
            Ok(e) => e,
            Err(e) => return LedgerLoad::Rejected(format!("not a ledger: {e}")),
        };
        let Ok(sig) = hex::decode(&env.hmac_sha256) else {
            return LedgerLoad::Rejected("signature is not hex".into());
        };
        // verify_slice compares in constant time.
        if mac(key, &env.ledger).verify_slice(&sig).is_err() {
            return LedgerLoad::Rejected(
                "signature does not verify (modified, or signed with another key)".into(),
            );
        }
        if env.ledger.schema != LEDGER_SCHEMA {
            return LedgerLoad::Rejected(format!(
                "schema {} is not {LEDGER_SCHEMA}",
                env.ledger.schema
            ));
        }
        if env.ledger.volume != volume {
            return LedgerLoad::Rejected(format!(
                "it is the ledger of volume {}, not {volume}",
                env.ledger.volume
            ));
        }
        LedgerLoad::Trusted(env.ledger)
    }
}

/// Reads the ledger of `volume` at `loc`.
///
/// # Errors
/// [`LedgerError::Store`] when S3 fails (other than "not found"); [`LedgerError::Io`] when a
/// local file exists but cannot be read; [`LedgerError::WeakKey`].
pub async fn load(
    store: &BackupStore,
    loc: &LedgerLocation,
    key: &[u8],
    volume: &str,
) -> Result<LedgerLoad, LedgerError> {
    check_key(key)?;
    let bytes = match loc {
        LedgerLocation::S3 { key } => store.get_object(key).await?,
        LedgerLocation::Local(path) => match std::fs::read(path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(LedgerError::Io {
                    path: path.clone(),
                    source,
                })
            }
        },
    };
    Ok(match bytes {
        None => LedgerLoad::Absent,
        Some(b) => Ledger::from_signed_json(&b, key, volume),
    })
}

/// Writes `ledger` to `loc` atomically (one whole-object PUT; a local temp file renamed over
/// the target).
///
/// # Errors
/// [`LedgerError::Store`], [`LedgerError::Io`], [`LedgerError::WeakKey`].
pub async fn save(
    store: &BackupStore,
    loc: &LedgerLocation,
    key: &[u8],
    ledger: &Ledger,
) -> Result<(), LedgerError> {
    let bytes = ledger.to_signed_json(key)?;
    match loc {
        LedgerLocation::S3 { key } => Ok(store.put_object(key, bytes).await?),
        LedgerLocation::Local(path) => write_local(path, &bytes),
    }
}

fn write_local(path: &Path, bytes: &[u8]) -> Result<(), LedgerError> {
    let io = |source| LedgerError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn sample() -> Ledger {
        let now = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut l = Ledger::new("vol-a", now);
        l.blocks.insert(
            "ab".repeat(32),
            LedgerEntry {
                size: 1234,
                etag: "\"e1\"".into(),
                verified_at: now,
            },
        );
        l
    }

    #[test]
    fn signed_ledger_round_trips() {
        let l = sample();
        let bytes = l.to_signed_json(KEY).unwrap();
        assert_eq!(
            Ledger::from_signed_json(&bytes, KEY, "vol-a"),
            LedgerLoad::Trusted(l)
        );
    }

    #[test]
    fn edited_entry_breaks_the_signature() {
        let bytes = sample().to_signed_json(KEY).unwrap();
        let edited = String::from_utf8(bytes).unwrap().replace("e1", "e2");
        match Ledger::from_signed_json(edited.as_bytes(), KEY, "vol-a") {
            LedgerLoad::Rejected(why) => assert!(why.contains("signature"), "{why}"),
            other => panic!("edited ledger accepted: {other:?}"),
        }
    }

    #[test]
    fn other_key_other_volume_and_garbage_are_rejected() {
        let bytes = sample().to_signed_json(KEY).unwrap();
        assert!(matches!(
            Ledger::from_signed_json(&bytes, b"another key of 16+ bytes", "vol-a"),
            LedgerLoad::Rejected(_)
        ));
        match Ledger::from_signed_json(&bytes, KEY, "vol-b") {
            LedgerLoad::Rejected(why) => assert!(why.contains("vol-a"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Ledger::from_signed_json(b"{}", KEY, "vol-a"),
            LedgerLoad::Rejected(_)
        ));
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(matches!(
            sample().to_signed_json(b"short"),
            Err(LedgerError::WeakKey { len: 5 })
        ));
    }

    #[test]
    fn ledger_key_sits_beside_the_backupstore() {
        assert_eq!(
            ledger_key("backupstore/", "pgdata"),
            "dr-harness/verified/pgdata.json"
        );
        assert_eq!(
            ledger_key("team/x/backupstore/", "pgdata"),
            "team/x/dr-harness/verified/pgdata.json"
        );
    }
}
