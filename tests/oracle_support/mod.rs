//! Helpers of `tests/longhorn_oracle.rs`: the test vectors written by real Longhorn code
//! (`../shared/longhorn-vectors/`, read in place, never copied into the repo), the two S3
//! servers they are loaded into (the sandbox's s3s-fs server and an independent moto server),
//! and streaming SHA-256.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use dr_backupstore::{s3_client, BackupCfg, BackupStore};
use sha2::{Digest, Sha256};

/// Says loudly that part of the oracle cannot run; fails the test under `CI=true`.
pub fn missing(what: &str) {
    let msg = format!(
        "\n\n======== LONGHORN ORACLE NOT RUN ========\n{what}\n\
         (set DR_SHARED_DIR to the shared folder; under CI=true this is a failure)\n\
         =========================================\n"
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}");
    }
    eprintln!("{msg}");
}

/// The vectors folder: `$DR_SHARED_DIR/longhorn-vectors` or `<repo>/../shared/longhorn-vectors`.
pub fn vectors_dir() -> PathBuf {
    crate::common::shared_dir().join("longhorn-vectors")
}

/// The vectors, or `None` after a loud message when they are absent.
pub fn vectors() -> Option<Vectors> {
    let dir = vectors_dir();
    for need in ["target/backupstore", "inspect", "inflight", "images.tar.gz"] {
        if !dir.join(need).exists() {
            missing(&format!(
                "Longhorn test vectors not found: {} is missing",
                dir.join(need).display()
            ));
            return None;
        }
    }
    Some(Vectors { dir })
}

/// One backup in the vectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorBackup {
    pub volume: String,
    pub backup: String,
    /// Key of its cfg, relative to the bucket.
    pub cfg_key: String,
}

/// The vectors folder.
pub struct Vectors {
    pub dir: PathBuf,
}

impl Vectors {
    /// Every file under `target/` as `(key, path)`, key = path relative to `target/`.
    pub fn target_files(&self) -> Vec<(String, PathBuf)> {
        let root = self.dir.join("target");
        let mut out = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("read vectors dir") {
                let path = entry.expect("dir entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let key = path
                        .strip_prefix(&root)
                        .expect("under target")
                        .to_string_lossy()
                        .into_owned();
                    out.push((key, path));
                }
            }
        }
        out.sort();
        out
    }

    /// Files of one volume only (`…/<vol>/…`).
    pub fn volume_files(&self, vol: &str) -> Vec<(String, PathBuf)> {
        let needle = format!("/{vol}/");
        self.target_files()
            .into_iter()
            .filter(|(k, _)| k.contains(&needle))
            .collect()
    }

    /// Every backup cfg in the target.
    pub fn backups(&self) -> Vec<VectorBackup> {
        let mut out: Vec<VectorBackup> = self
            .target_files()
            .into_iter()
            .filter_map(|(key, _)| {
                let parts: Vec<&str> = key.split('/').collect();
                // backupstore/volumes/XX/YY/<vol>/backups/backup_<name>.cfg
                match parts.as_slice() {
                    ["backupstore", "volumes", _, _, vol, "backups", file] => {
                        let name = file.strip_prefix("backup_")?.strip_suffix(".cfg")?;
                        Some(VectorBackup {
                            volume: vol.to_string(),
                            backup: name.to_string(),
                            cfg_key: key.clone(),
                        })
                    }
                    _ => None,
                }
            })
            .collect();
        out.sort_by(|a, b| (&a.volume, &a.backup).cmp(&(&b.volume, &b.backup)));
        out
    }

    /// Raw bytes of a target file by key.
    pub fn read(&self, key: &str) -> Vec<u8> {
        std::fs::read(self.dir.join("target").join(key)).expect("read vector file")
    }

    /// The key of a volume's `volume.cfg`.
    pub fn volume_cfg_key(&self, vol: &str) -> String {
        self.target_files()
            .into_iter()
            .map(|(k, _)| k)
            .find(|k| k.ends_with(&format!("/{vol}/volume.cfg")))
            .unwrap_or_else(|| panic!("no volume.cfg for {vol} in the vectors"))
    }

    /// The parsed backup cfg of a vector backup.
    pub fn backup_cfg(&self, vol: &str, backup: &str) -> BackupCfg {
        let b = self
            .backups()
            .into_iter()
            .find(|b| b.volume == vol && b.backup == backup)
            .unwrap_or_else(|| panic!("no backup {vol}/{backup} in the vectors"));
        BackupCfg::from_json(&b.cfg_key, &self.read(&b.cfg_key)).expect("vector cfg parses")
    }

    /// `inspect/restored-image-sha256.txt`: `(sha256, volume, backup, bytes)`.
    pub fn restored_sha(&self) -> Vec<(String, String, String, u64)> {
        let text = std::fs::read_to_string(self.dir.join("inspect/restored-image-sha256.txt"))
            .expect("restored-image-sha256.txt");
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                assert_eq!(f.len(), 4, "bad line {l:?}");
                (
                    f[0].to_string(),
                    f[1].to_string(),
                    f[2].to_string(),
                    f[3].parse().expect("bytes"),
                )
            })
            .collect()
    }

    /// The SHA-256 Longhorn's restore gave for `vol/backup`: listed, or (for backups the list
    /// leaves out) that of a listed backup of identical block map.
    pub fn expected_sha(&self, vol: &str, backup: &str) -> (String, u64) {
        let listed = self.restored_sha();
        if let Some((sha, _, _, bytes)) = listed.iter().find(|(_, v, b, _)| v == vol && b == backup)
        {
            return (sha.clone(), *bytes);
        }
        let blocks = self.backup_cfg(vol, backup).blocks;
        listed
            .iter()
            .find(|(_, v, b, _)| self.backup_cfg(v, b).blocks == blocks)
            .map(|(sha, _, _, bytes)| (sha.clone(), *bytes))
            .unwrap_or_else(|| panic!("no restored-image SHA-256 for {vol}/{backup}"))
    }

    /// The extracted snapshot images, read-only: extracted once per build into
    /// `CARGO_TARGET_TMPDIR`, keyed by the archive's size and mtime, and shared by every test
    /// process (each used to extract its own copy into /tmp and leave it there).
    pub fn images(&self) -> &'static Path {
        static DIR: OnceLock<PathBuf> = OnceLock::new();
        DIR.get_or_init(|| {
            let tarball = self.dir.join("images.tar.gz");
            let meta = std::fs::metadata(&tarball).expect("images.tar.gz");
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
            let dir = root.join(format!("oracle-images-{}-{mtime}", meta.len()));
            if dir.is_dir() {
                return dir;
            }
            // Extract beside it, then rename into place: of racing processes one wins and the
            // others remove their copy, so a reader never sees a half-extracted folder.
            let tmp = tempfile::Builder::new()
                .prefix(".oracle-images-")
                .tempdir_in(root)
                .expect("tempdir")
                .keep();
            // GNU tar restores the holes of a sparse archive member.
            let status = Command::new("tar")
                .arg("-xzf")
                .arg(&tarball)
                .arg("-C")
                .arg(&tmp)
                .status()
                .expect("run tar");
            assert!(status.success(), "tar -xzf images.tar.gz failed: {status}");
            if let Err(e) = std::fs::rename(&tmp, &dir) {
                let _ = std::fs::remove_dir_all(&tmp);
                assert!(dir.is_dir(), "moving the images to {}: {e}", dir.display());
            }
            dir
        })
    }

    /// The image (`<name>.raw`) and its file checks (`<name>.manifest`, paths made absolute)
    /// whose SHA-256 is `sha`.
    pub fn image_for_sha(&self, sha: &str) -> (PathBuf, Vec<(String, String)>) {
        for name in ["vol-sparse.b1", "vol-sparse.b2", "vol-big.b1"] {
            let raw = self.images().join(format!("{name}.raw"));
            if image_sha(&raw) == sha {
                let manifest =
                    std::fs::read_to_string(self.images().join(format!("{name}.manifest")))
                        .expect("manifest");
                let checks = manifest
                    .lines()
                    .filter_map(|l| l.split_once("  "))
                    .map(|(sum, path)| (format!("/{}", path.trim()), sum.to_string()))
                    .collect();
                return (raw, checks);
            }
        }
        panic!("no image in images.tar.gz has SHA-256 {sha}");
    }

    /// An inflight file's observed versions (`inflight/<file>`: key → versions).
    pub fn inflight(&self, file: &str) -> Vec<(String, Vec<String>)> {
        let text = std::fs::read_to_string(self.dir.join("inflight").join(file)).expect(file);
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&text).expect("inflight json");
        map.into_iter()
            .map(|(k, v)| {
                let versions = v
                    .as_array()
                    .expect("versions")
                    .iter()
                    .map(|s| s.as_str().expect("version text").to_string())
                    .collect();
                (k, versions)
            })
            .collect()
    }
}

/// SHA-256 of an image file, memoised by path (images are hashed more than once).
pub fn image_sha(path: &Path) -> String {
    static CACHE: OnceLock<std::sync::Mutex<Vec<(PathBuf, String)>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some((_, s)) = cache.lock().expect("cache").iter().find(|(p, _)| p == path) {
        return s.clone();
    }
    let s = sha256_file(path);
    cache
        .lock()
        .expect("cache")
        .push((path.to_path_buf(), s.clone()));
    s
}

/// Streaming SHA-256 of a file (1 MiB at a time: images are never held in memory).
pub fn sha256_file(path: &Path) -> String {
    let mut f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).expect("read image");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex::encode(h.finalize())
}

/// Uploads `files` into `bucket` under their keys.
pub async fn load(client: &aws_sdk_s3::Client, bucket: &str, files: &[(String, PathBuf)]) {
    for (key, path) in files {
        client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(std::fs::read(path).expect("read vector")))
            .send()
            .await
            .unwrap_or_else(|e| panic!("load {key} into {bucket}: {e:?}"));
    }
}

/// Creates `bucket`.
pub async fn create_bucket(client: &aws_sdk_s3::Client, bucket: &str) {
    client
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create bucket {bucket}: {e:?}"));
}

/// The backupstore of a bucket loaded from the vectors (`s3://bucket@us-east-1/`).
pub fn store(client: &aws_sdk_s3::Client, bucket: &str) -> BackupStore {
    BackupStore::new(client.clone(), bucket, "backupstore/")
}

/// The sandbox's S3 server (s3s-fs behind dr-sandbox's fixes) over a fresh folder.
pub struct SandboxS3 {
    pub server: dr_sandbox::s3::S3Server,
    _dir: tempfile::TempDir,
}

impl SandboxS3 {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = dr_sandbox::s3::S3Server::start(&dir.path().join("s3"), "oracle")
            .await
            .expect("start sandbox s3");
        Self { server, _dir: dir }
    }

    pub fn client(&self) -> aws_sdk_s3::Client {
        self.server.client()
    }
}

/// An independent S3 server: `moto_server` (Python `moto[server]`) on a free loopback port.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Only the process this test started.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts moto, or says loudly why not (`None`).
    pub async fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = match Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                missing(&format!(
                    "moto_server cannot be started ({e}): install it with pip install 'moto[server]'"
                ));
                return None;
            }
        };
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on port {port} within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Some(moto)
    }

    pub async fn client(&self) -> aws_sdk_s3::Client {
        s3_client(
            Some(&self.endpoint),
            "us-east-1",
            true,
            Some(("testing", "testing")),
        )
        .await
    }
}

/// Replaces the value of each `"Field":"…"` (a JSON string without escapes) with `"~"`, so two
/// cfgs can be compared byte for byte apart from those fields (times, compressed sizes).
pub fn mask(json: &str, fields: &[&str]) -> String {
    let mut out = json.to_string();
    for field in fields {
        let pat = format!("\"{field}\":\"");
        let mut from = 0;
        while let Some(i) = out[from..].find(&pat) {
            let start = from + i + pat.len();
            let end = start + out[start..].find('"').expect("closing quote");
            out.replace_range(start..end, "~");
            from = start + 2;
        }
    }
    out
}
