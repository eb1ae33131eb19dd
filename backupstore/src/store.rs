//! S3 I/O over Longhorn's backupstore layout: typed access to cfgs and blocks, listings, and
//! plain object helpers for the harness's own files stored beside the backups.
//!
//! Every S3 failure becomes a [`StoreError`] carrying bucket and key (or prefix), so a drill
//! report can say exactly which object could not be read. "Not found" is not an error: `get_*`
//! return `Ok(None)` so callers decide whether absence is a failure.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

use crate::cfg::{BackupCfg, CfgError, VolumeCfg};
use crate::layout::{self, validate_name, NameError};
use crate::target::BackupTargetUrl;

/// Errors of S3 access to a backupstore. Messages never include credentials.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A volume or backup name breaks Longhorn's name rule.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A cfg object could not be parsed or serialized (the error names the key).
    #[error(transparent)]
    Cfg(#[from] CfgError),
    /// GetObject failed for a reason other than "not found".
    #[error("get s3://{bucket}/{key} failed: {message}")]
    Get {
        /// Bucket.
        bucket: String,
        /// Object key.
        key: String,
        /// The SDK error with its sources.
        message: String,
    },
    /// Reading a GetObject body failed midway.
    #[error("reading body of s3://{bucket}/{key} failed: {message}")]
    ReadBody {
        /// Bucket.
        bucket: String,
        /// Object key.
        key: String,
        /// The stream error.
        message: String,
    },
    /// PutObject failed.
    #[error("put s3://{bucket}/{key} failed: {message}")]
    Put {
        /// Bucket.
        bucket: String,
        /// Object key.
        key: String,
        /// The SDK error with its sources.
        message: String,
    },
    /// HeadObject failed for a reason other than "not found".
    #[error("head s3://{bucket}/{key} failed: {message}")]
    Head {
        /// Bucket.
        bucket: String,
        /// Object key.
        key: String,
        /// The SDK error with its sources.
        message: String,
    },
    /// DeleteObject failed.
    #[error("delete s3://{bucket}/{key} failed: {message}")]
    Delete {
        /// Bucket.
        bucket: String,
        /// Object key.
        key: String,
        /// The SDK error with its sources.
        message: String,
    },
    /// ListObjectsV2 failed (possibly after some pages were read).
    #[error("list s3://{bucket}/{prefix} failed: {message}")]
    List {
        /// Bucket.
        bucket: String,
        /// Listed prefix.
        prefix: String,
        /// The SDK error with its sources.
        message: String,
    },
}

/// An ETag without its quotes (and weak marker): servers quote it in one answer and not in
/// another (s3s-fs: GetObject vs ListObjectsV2), and only the value identifies the object.
pub fn normalize_etag(etag: &str) -> String {
    etag.trim_start_matches("W/").trim_matches('"').to_string()
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// Full key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// The object's ETag as the listing gives it, without quotes ([`normalize_etag`]); `None`
    /// when the server sent none.
    pub etag: Option<String>,
}

/// One block object of a volume's block store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedBlock {
    /// SHA-512/64 hex of the uncompressed block (the file name without `.blk`).
    pub checksum: String,
    /// Compressed size in bytes.
    pub size: u64,
    /// The object's ETag from the listing (changes whenever the object is rewritten).
    pub etag: Option<String>,
}

/// A backupstore in one bucket under one key root (`<prefix>backupstore/`).
///
/// Cheap to clone: the SDK client is reference counted.
#[derive(Debug, Clone)]
pub struct BackupStore {
    client: Client,
    bucket: String,
    root: String,
}

fn sdk_message<E, R>(err: &SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    DisplayErrorContext(err).to_string()
}

fn http_status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

impl BackupStore {
    /// A store in `bucket` whose keys start with `root` (normally [`BackupTargetUrl::root`]).
    pub fn new(client: Client, bucket: impl Into<String>, root: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            root: root.into(),
        }
    }

    /// A store for a parsed backup target.
    pub fn for_target(client: Client, target: &BackupTargetUrl) -> Self {
        Self::new(client, target.bucket.clone(), target.root())
    }

    /// The S3 client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key root, e.g. `"backupstore/"`.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// Key of a volume's `volume.cfg` (see [`layout::volume_cfg_key`]).
    pub fn volume_cfg_key(&self, vol: &str) -> String {
        layout::volume_cfg_key(&self.root, vol)
    }

    /// Key of a backup's cfg (see [`layout::backup_cfg_key`]).
    pub fn backup_cfg_key(&self, vol: &str, backup: &str) -> String {
        layout::backup_cfg_key(&self.root, vol, backup)
    }

    /// Key of a block (see [`layout::block_key`]).
    pub fn block_key(&self, vol: &str, checksum: &str) -> String {
        layout::block_key(&self.root, vol, checksum)
    }

    // ---- plain objects -------------------------------------------------------------------

    /// Reads a whole object; `Ok(None)` when it does not exist.
    ///
    /// # Errors
    /// [`StoreError::Get`] or [`StoreError::ReadBody`] with bucket and key.
    pub async fn get_object(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.get_object_tagged(key).await?.map(|(bytes, _)| bytes))
    }

    /// Reads a whole object and the ETag of exactly the version read (so a ledger never pairs
    /// content checked now with the ETag of an object rewritten since it was listed);
    /// `Ok(None)` when it does not exist.
    ///
    /// # Errors
    /// [`StoreError::Get`] or [`StoreError::ReadBody`] with bucket and key.
    pub async fn get_object_tagged(
        &self,
        key: &str,
    ) -> Result<Option<(Vec<u8>, Option<String>)>, StoreError> {
        self.get_object_tagged_into(key, Vec::new()).await
    }

    /// [`BackupStore::get_object_tagged`] into `buf` (cleared first), so that a caller fetching
    /// object after object reuses one allocation (a fresh 2 MiB buffer per block costs its page
    /// faults again each time).
    ///
    /// # Errors
    /// As [`BackupStore::get_object_tagged`].
    pub async fn get_object_tagged_into(
        &self,
        key: &str,
        mut buf: Vec<u8>,
    ) -> Result<Option<(Vec<u8>, Option<String>)>, StoreError> {
        let resp = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        let out = match resp {
            Ok(out) => out,
            Err(err) => {
                let missing = err.as_service_error().is_some_and(|e| e.is_no_such_key())
                    || http_status(&err) == Some(404);
                if missing {
                    return Ok(None);
                }
                return Err(StoreError::Get {
                    bucket: self.bucket.clone(),
                    key: key.to_string(),
                    message: sdk_message(&err),
                });
            }
        };
        let etag = out.e_tag().map(normalize_etag);
        // Chunks are appended to one buffer of the announced length: a single copy per object
        // (collecting then converting copied a 2 MiB block twice).
        let len = out
            .content_length()
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or(0);
        buf.clear();
        buf.reserve(len);
        let mut body = out.body;
        while let Some(chunk) = body.try_next().await.map_err(|e| StoreError::ReadBody {
            bucket: self.bucket.clone(),
            key: key.to_string(),
            message: DisplayErrorContext(&e).to_string(),
        })? {
            buf.extend_from_slice(&chunk);
        }
        Ok(Some((buf, etag)))
    }

    /// Writes (or overwrites) an object.
    ///
    /// # Errors
    /// [`StoreError::Put`] with bucket and key.
    pub async fn put_object(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map(|_| ())
            .map_err(|err| StoreError::Put {
                bucket: self.bucket.clone(),
                key: key.to_string(),
                message: sdk_message(&err),
            })
    }

    /// Writes an object only if no object exists at `key` (`If-None-Match: *`); `Ok(false)` when
    /// the server answered 412 because the key exists.
    ///
    /// Atomic on AWS S3 and moto; s3s-fs checks non-atomically (see sandbox-notes.md).
    ///
    /// # Errors
    /// [`StoreError::Put`] for any other failure.
    pub async fn put_bytes_if_absent(&self, key: &str, bytes: Vec<u8>) -> Result<bool, StoreError> {
        let resp = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .if_none_match("*")
            .body(ByteStream::from(bytes))
            .send()
            .await;
        match resp {
            Ok(_) => Ok(true),
            Err(err) if http_status(&err) == Some(412) => Ok(false),
            Err(err) => Err(StoreError::Put {
                bucket: self.bucket.clone(),
                key: key.to_string(),
                message: sdk_message(&err),
            }),
        }
    }

    /// Size in bytes of an object, `Ok(None)` when it does not exist (HeadObject).
    ///
    /// # Errors
    /// [`StoreError::Head`] with bucket and key.
    pub async fn head(&self, key: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.head_tagged(key).await?.map(|(size, _)| size))
    }

    /// Size in bytes and ETag ([`normalize_etag`]) of an object, `Ok(None)` when it does not
    /// exist (HeadObject). For servers whose listings carry no ETag (s3s-fs).
    ///
    /// # Errors
    /// [`StoreError::Head`] with bucket and key.
    pub async fn head_tagged(
        &self,
        key: &str,
    ) -> Result<Option<(u64, Option<String>)>, StoreError> {
        let resp = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        match resp {
            Ok(out) => Ok(Some((
                out.content_length()
                    .and_then(|l| u64::try_from(l).ok())
                    .unwrap_or(0),
                out.e_tag().map(normalize_etag),
            ))),
            Err(err)
                if err.as_service_error().is_some_and(|e| e.is_not_found())
                    || http_status(&err) == Some(404) =>
            {
                Ok(None)
            }
            Err(err) => Err(StoreError::Head {
                bucket: self.bucket.clone(),
                key: key.to_string(),
                message: sdk_message(&err),
            }),
        }
    }

    /// Deletes an object (succeeds if it does not exist, as S3 does).
    ///
    /// # Errors
    /// [`StoreError::Delete`] with bucket and key.
    pub async fn delete_object(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| StoreError::Delete {
                bucket: self.bucket.clone(),
                key: key.to_string(),
                message: sdk_message(&err),
            })
    }

    /// Lists every object under `prefix` (all pages of ListObjectsV2).
    ///
    /// # Errors
    /// [`StoreError::List`] with bucket and prefix.
    pub async fn list_objects(&self, prefix: &str) -> Result<Vec<ListedObject>, StoreError> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| StoreError::List {
                bucket: self.bucket.clone(),
                prefix: prefix.to_string(),
                message: sdk_message(&err),
            })?;
            for obj in page.contents() {
                if let Some(key) = obj.key() {
                    out.push(ListedObject {
                        key: key.to_string(),
                        size: obj.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                        etag: obj.e_tag().map(normalize_etag),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Lists the "folders" directly under `prefix` (ListObjectsV2 with delimiter `/`), as full
    /// prefixes ending in `/`.
    ///
    /// # Errors
    /// [`StoreError::List`] with bucket and prefix.
    pub async fn list_prefixes(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .delimiter("/")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| StoreError::List {
                bucket: self.bucket.clone(),
                prefix: prefix.to_string(),
                message: sdk_message(&err),
            })?;
            out.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(str::to_string)),
            );
        }
        Ok(out)
    }

    // ---- cfgs ----------------------------------------------------------------------------

    /// Reads a volume's `volume.cfg`; `Ok(None)` when the volume has no folder in the store.
    ///
    /// # Errors
    /// [`StoreError::Name`], S3 errors, or [`StoreError::Cfg`] naming the key when unparsable.
    pub async fn get_volume_cfg(&self, vol: &str) -> Result<Option<VolumeCfg>, StoreError> {
        validate_name(vol)?;
        let key = self.volume_cfg_key(vol);
        match self.get_object(&key).await? {
            Some(bytes) => Ok(Some(VolumeCfg::from_json(&key, &bytes)?)),
            None => Ok(None),
        }
    }

    /// Writes `volume.cfg` for `cfg.name`.
    ///
    /// # Errors
    /// [`StoreError::Name`] or [`StoreError::Put`].
    pub async fn put_volume_cfg(&self, cfg: &VolumeCfg) -> Result<(), StoreError> {
        validate_name(&cfg.name)?;
        let key = self.volume_cfg_key(&cfg.name);
        let bytes = cfg.to_json(&key)?;
        self.put_object(&key, bytes).await
    }

    /// Reads `backup_<backup>.cfg` of `vol`; `Ok(None)` when it does not exist.
    ///
    /// # Errors
    /// [`StoreError::Name`], S3 errors, or [`StoreError::Cfg`] naming the key when unparsable.
    pub async fn get_backup_cfg(
        &self,
        vol: &str,
        backup: &str,
    ) -> Result<Option<BackupCfg>, StoreError> {
        validate_name(vol)?;
        validate_name(backup)?;
        let key = self.backup_cfg_key(vol, backup);
        match self.get_object(&key).await? {
            Some(bytes) => Ok(Some(BackupCfg::from_json(&key, &bytes)?)),
            None => Ok(None),
        }
    }

    /// Writes `backup_<cfg.name>.cfg` under `cfg.volume_name`.
    ///
    /// # Errors
    /// [`StoreError::Name`] or [`StoreError::Put`].
    pub async fn put_backup_cfg(&self, cfg: &BackupCfg) -> Result<(), StoreError> {
        validate_name(&cfg.volume_name)?;
        validate_name(&cfg.name)?;
        let key = self.backup_cfg_key(&cfg.volume_name, &cfg.name);
        let bytes = cfg.to_json(&key)?;
        self.put_object(&key, bytes).await
    }

    /// Names of all volumes with a folder in the store, sorted (walks `volumes/<h1>/<h2>/`).
    ///
    /// # Errors
    /// [`StoreError::List`].
    pub async fn list_volumes(&self) -> Result<Vec<String>, StoreError> {
        let mut names = Vec::new();
        for h1 in self.list_prefixes(&layout::volumes_dir(&self.root)).await? {
            for h2 in self.list_prefixes(&h1).await? {
                for vol_dir in self.list_prefixes(&h2).await? {
                    let name = vol_dir
                        .trim_end_matches('/')
                        .rsplit('/')
                        .next()
                        .unwrap_or("");
                    if validate_name(name).is_ok() {
                        names.push(name.to_string());
                    }
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// Names of all backups of `vol` (from `backup_<name>.cfg` keys), sorted.
    ///
    /// # Errors
    /// [`StoreError::Name`] or [`StoreError::List`].
    pub async fn list_backups(&self, vol: &str) -> Result<Vec<String>, StoreError> {
        validate_name(vol)?;
        let prefix = layout::backups_dir(&self.root, vol);
        let mut names: Vec<String> = self
            .list_objects(&prefix)
            .await?
            .iter()
            .filter_map(|o| layout::backup_name_from_key(&o.key).map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }

    // ---- blocks --------------------------------------------------------------------------

    /// Whether block `checksum` of `vol` exists (HeadObject).
    ///
    /// # Errors
    /// [`StoreError::Head`].
    pub async fn block_exists(&self, vol: &str, checksum: &str) -> Result<bool, StoreError> {
        Ok(self.head(&self.block_key(vol, checksum)).await?.is_some())
    }

    /// Reads a block's stored (compressed) bytes; `Ok(None)` when missing.
    ///
    /// # Errors
    /// [`StoreError::Get`] or [`StoreError::ReadBody`].
    pub async fn get_block(
        &self,
        vol: &str,
        checksum: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.get_object(&self.block_key(vol, checksum)).await
    }

    /// Reads a block's stored bytes and the ETag of the version read; `Ok(None)` when missing.
    ///
    /// # Errors
    /// [`StoreError::Get`] or [`StoreError::ReadBody`].
    pub async fn get_block_tagged(
        &self,
        vol: &str,
        checksum: &str,
    ) -> Result<Option<(Vec<u8>, Option<String>)>, StoreError> {
        self.get_object_tagged(&self.block_key(vol, checksum)).await
    }

    /// [`BackupStore::get_block_tagged`] into `buf` (see
    /// [`BackupStore::get_object_tagged_into`]).
    ///
    /// # Errors
    /// As [`BackupStore::get_block_tagged`].
    pub async fn get_block_tagged_into(
        &self,
        vol: &str,
        checksum: &str,
        buf: Vec<u8>,
    ) -> Result<Option<(Vec<u8>, Option<String>)>, StoreError> {
        self.get_object_tagged_into(&self.block_key(vol, checksum), buf)
            .await
    }

    /// Writes a block's stored (compressed) bytes.
    ///
    /// # Errors
    /// [`StoreError::Put`].
    pub async fn put_block(
        &self,
        vol: &str,
        checksum: &str,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        self.put_object(&self.block_key(vol, checksum), bytes).await
    }

    /// Every block object of `vol` (all pages of the `blocks/` listing); keys that are not
    /// `<64 hex>.blk` are skipped.
    ///
    /// # Errors
    /// [`StoreError::Name`] or [`StoreError::List`].
    pub async fn list_blocks(&self, vol: &str) -> Result<Vec<ListedBlock>, StoreError> {
        validate_name(vol)?;
        let prefix = layout::blocks_dir(&self.root, vol);
        Ok(self
            .list_objects(&prefix)
            .await?
            .into_iter()
            .filter_map(|o| {
                layout::block_checksum_from_key(&o.key).map(|c| ListedBlock {
                    checksum: c.to_string(),
                    size: o.size,
                    etag: o.etag.clone(),
                })
            })
            .collect())
    }
}
