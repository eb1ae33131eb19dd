//! Test helpers: an in-process s3s-fs S3 server on 127.0.0.1 with a random port, and
//! deterministic volume images with zero holes and repeated blocks.

#![allow(dead_code)]

pub mod ext4img;

use std::path::Path;

use aws_sdk_s3::Client;
use dr_backupstore::{s3_client, BackupStore};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

pub const MI: u64 = 1 << 20;
pub const BUCKET: &str = "backups";
pub const ACCESS_KEY: &str = "test-access-key";
pub const SECRET_KEY: &str = "test-secret-key";

/// An S3 client for the server at `endpoint` (path-style, the test keys).
pub async fn client_at(endpoint: &str) -> Client {
    s3_client(
        Some(endpoint),
        "us-east-1",
        true,
        Some((ACCESS_KEY, SECRET_KEY)),
    )
    .await
}

/// A store at the root (`backupstore/`) of [`BUCKET`] on the server at `endpoint`.
pub async fn store_at(endpoint: &str) -> BackupStore {
    BackupStore::new(client_at(endpoint).await, BUCKET, "backupstore/")
}

/// A running S3 server; stops when dropped.
pub struct TestS3 {
    pub endpoint: String,
    pub client: Client,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestS3 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestS3 {
    /// Starts s3s-fs over a fresh temporary folder and creates [`BUCKET`].
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = s3s_fs::FileSystem::new(dir.path()).expect("s3s-fs");
        let service = {
            let mut b = S3ServiceBuilder::new(fs);
            b.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            b.build()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let conn = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        let endpoint = format!("http://{addr}");
        let client = client_at(&endpoint).await;
        client
            .create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .expect("create bucket");
        Self {
            endpoint,
            client,
            _dir: dir,
            task,
        }
    }

    /// A store at the bucket root (`backupstore/`).
    pub fn store(&self) -> BackupStore {
        BackupStore::new(self.client.clone(), BUCKET, "backupstore/")
    }

    /// The file s3s-fs keeps object `key` of [`BUCKET`] in. Rewriting it in place (same length)
    /// keeps the object's recorded ETag: bit rot the ETag cannot show.
    pub fn object_path(&self, key: &str) -> std::path::PathBuf {
        self._dir.path().join(BUCKET).join(key)
    }

    /// Every key in the bucket, sorted.
    pub async fn all_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .store()
            .list_objects("")
            .await
            .expect("list")
            .into_iter()
            .map(|o| o.key)
            .collect();
        keys.sort();
        keys
    }
}

/// Deterministic pseudo-random, moderately compressible bytes.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Low-entropy bytes every other 64-byte run keep the data compressible.
            if (i / 64) % 2 == 0 {
                (x & 0x0f) as u8
            } else {
                x as u8
            }
        })
        .collect()
}

/// The 7 MiB test image with 2 MiB blocks:
/// block 0 = pattern(1), block 1 = zeros (a hole once written by [`write_image`]), block 2 =
/// copy of block 0 (deduplicated), block 3 = 1 MiB partial block, pattern(2) with its first
/// 4 KiB zero (backed up zero-padded to a full 2 MiB block, as Longhorn's blocks always are).
pub fn seven_mib_image() -> Vec<u8> {
    let b0 = pattern(1, (2 * MI) as usize);
    let mut img = Vec::with_capacity((7 * MI) as usize);
    img.extend_from_slice(&b0);
    img.extend(std::iter::repeat_n(0u8, (2 * MI) as usize));
    img.extend_from_slice(&b0);
    let mut tail = pattern(2, MI as usize);
    tail[..4096].fill(0);
    img.extend_from_slice(&tail);
    img
}

/// Writes `data` as a **sparse** file: 4 KiB pages of zeros are left as holes, as a replica's
/// snapshot file leaves never-written ranges (the writer backs up allocated extents only).
pub fn write_image(path: &Path, data: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::create(path).expect("create image");
    f.set_len(data.len() as u64).expect("set image length");
    for (i, page) in data.chunks(4096).enumerate() {
        if page.iter().any(|&b| b != 0) {
            f.write_all_at(page, (i * 4096) as u64)
                .expect("write image");
        }
    }
}

/// Writes `data` fully allocated (zeros written out, no holes).
pub fn write_image_allocated(path: &Path, data: &[u8]) {
    std::fs::write(path, data).expect("write image");
}

/// `data` zero-padded to a multiple of `block` bytes (what a restore of it gives back).
pub fn padded(data: &[u8], block: u64) -> Vec<u8> {
    let mut v = data.to_vec();
    v.resize(
        (data.len() as u64).div_ceil(block) as usize * block as usize,
        0,
    );
    v
}

/// SHA-512 hex truncated to 64, computed independently of the crate.
pub fn sha512_64(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha512::digest(data))[..64].to_string()
}
