//! Reads files inside a restored ext4 volume image, without mounting it and without loading the
//! image into memory, to prove that the data a drill wrote survived the backup.
//!
//! A Longhorn volume used by a PVC with `fsType: ext4` is an ext4 filesystem on the raw block
//! device, so the image [`restore_image`](crate::restore::restore_image) reassembles is that
//! filesystem. The `ext4-view` crate parses it through [`PreadSource`], which serves each of its
//! reads with one positioned read (`pread`) of the image file: memory stays at ext4-view's fixed
//! block cache plus one [`READ_CHUNK`] buffer, whatever the image size.
//!
//! The drill writes `/dr-harness/MANIFEST.sha256` (the `sha256sum` format: `<64 hex>  <name>`,
//! names relative to the manifest's directory) and `/dr-harness/RUN_ID` into the volume root;
//! [`Ext4Image::verify_manifest`] checks every file the manifest lists. Volumes without a
//! manifest are checked against a user-given list with [`Ext4Image::verify_paths`].
//!
//! Everything here is synchronous and `!Send` (ext4-view shares state through `Rc`): async
//! callers run it inside `tokio::task::spawn_blocking`.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Where the drill writes the sentinel manifest inside the volume (`sha256sum` format).
pub const DEFAULT_MANIFEST_PATH: &str = "/dr-harness/MANIFEST.sha256";
/// Name of the file beside the manifest that holds the drill's run id (UUID v4).
pub const RUN_ID_FILE: &str = "RUN_ID";
/// Bytes read from a file per step while hashing it.
pub const READ_CHUNK: usize = 1 << 20;
/// Largest manifest (or `RUN_ID`) read into memory, in bytes: a manifest lists file names and
/// digests, so anything larger is not one.
pub const MAX_MANIFEST_BYTES: u64 = 16 << 20;

/// Errors reading an ext4 image. Every variant names the image, and the path inside it when one
/// is involved.
#[derive(Debug, thiserror::Error)]
pub enum Ext4Error {
    /// The image file could not be opened.
    #[error("cannot open image {image}: {source}")]
    Open {
        /// Image path on the local disk.
        image: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The image does not hold an ext4 (or ext2/3) filesystem ext4-view can read.
    #[error("image {image} is not a readable ext4 filesystem: {source}")]
    Load {
        /// Image path on the local disk.
        image: PathBuf,
        /// ext4-view's error (corrupt superblock, incompatible feature, I/O).
        #[source]
        source: ext4_view::Ext4Error,
    },
    /// The path does not exist inside the image.
    #[error("{path} not found in image {image}")]
    NotFound {
        /// Image path on the local disk.
        image: PathBuf,
        /// Absolute path inside the image.
        path: String,
    },
    /// The path exists but is not a regular file (a directory, device, …).
    #[error("{path} in image {image} is not a regular file")]
    NotAFile {
        /// Image path on the local disk.
        image: PathBuf,
        /// Absolute path inside the image.
        path: String,
    },
    /// The path is not absolute or not valid for ext4.
    #[error("invalid path {path:?} for image {image}: paths must be absolute")]
    InvalidPath {
        /// Image path on the local disk.
        image: PathBuf,
        /// The rejected path.
        path: String,
    },
    /// Reading a file or directory failed (corrupt metadata, I/O error under it).
    #[error("cannot read {path} in image {image}: {source}")]
    Read {
        /// Image path on the local disk.
        image: PathBuf,
        /// Absolute path inside the image.
        path: String,
        /// ext4-view's error.
        #[source]
        source: ext4_view::Ext4Error,
    },
    /// A file that must be small (manifest, `RUN_ID`) is larger than [`MAX_MANIFEST_BYTES`].
    #[error("{path} in image {image} is {size} bytes, more than the {limit} bytes allowed")]
    TooLarge {
        /// Image path on the local disk.
        image: PathBuf,
        /// Absolute path inside the image.
        path: String,
        /// File size in bytes.
        size: u64,
        /// Limit in bytes.
        limit: u64,
    },
    /// The manifest is not UTF-8.
    #[error("manifest {path} in image {image} is not utf-8")]
    ManifestNotUtf8 {
        /// Image path on the local disk.
        image: PathBuf,
        /// Absolute path of the manifest inside the image.
        path: String,
    },
}

/// An [`ext4_view::Ext4Read`] source serving every read with one positioned read of the image
/// file, so the image is never loaded into memory and no seek position is shared.
#[derive(Debug)]
pub struct PreadSource {
    file: std::fs::File,
}

impl PreadSource {
    /// Wraps an open image file.
    pub fn new(file: std::fs::File) -> Self {
        Self { file }
    }
}

impl ext4_view::Ext4Read for PreadSource {
    fn read(
        &mut self,
        start_byte: u64,
        dst: &mut [u8],
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        self.file.read_exact_at(dst, start_byte)?;
        Ok(())
    }
}

/// What kind of object a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Device, fifo or socket.
    Special,
}

/// One entry of [`Ext4Image::list_dir`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DirEntryInfo {
    /// File name (lossy UTF-8).
    pub name: String,
    /// Absolute path inside the image.
    pub path: String,
    /// Kind of object.
    pub kind: EntryKind,
    /// Size in bytes (`i_size` of the inode).
    pub size: u64,
}

/// Result of checking one file against its expected SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FileStatus {
    /// The content hashes to the expected digest.
    Ok {
        /// Size in bytes.
        size: u64,
    },
    /// The file does not exist in the image.
    Missing,
    /// The content hashes to another digest.
    Mismatch {
        /// Size in bytes of the content found.
        size: u64,
        /// SHA-256 hex of the content found.
        found: String,
    },
    /// The file exists but could not be read (not a regular file, corrupt metadata).
    Unreadable {
        /// Why, naming the path.
        message: String,
    },
}

/// One file checked by [`Ext4Image::verify_manifest`] or [`Ext4Image::verify_paths`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileCheck {
    /// Absolute path inside the image.
    pub path: String,
    /// Expected SHA-256, lowercase hex.
    pub expected: String,
    /// What was found.
    #[serde(flatten)]
    pub status: FileStatus,
}

impl FileCheck {
    /// Whether the file is intact.
    pub fn is_ok(&self) -> bool {
        matches!(self.status, FileStatus::Ok { .. })
    }

    /// A human message for a file that is not intact, naming the path and both digests; `None`
    /// when it is intact.
    pub fn problem(&self) -> Option<String> {
        match &self.status {
            FileStatus::Ok { .. } => None,
            FileStatus::Missing => Some(format!(
                "file {} is missing (expected sha256 {})",
                self.path, self.expected
            )),
            FileStatus::Mismatch { size, found } => Some(format!(
                "file {} has sha256 {found} ({size} bytes), expected {}",
                self.path, self.expected
            )),
            FileStatus::Unreadable { message } => {
                Some(format!("file {} cannot be read: {message}", self.path))
            }
        }
    }
}

/// Findings of [`Ext4Image::verify_manifest`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ManifestReport {
    /// Absolute path of the manifest inside the image.
    pub manifest: String,
    /// Content of `RUN_ID` beside the manifest (trimmed), when present.
    pub run_id: Option<String>,
    /// One entry per manifest line, in manifest order.
    pub files: Vec<FileCheck>,
    /// `(line number from 1, line)` of lines that are not `<64 hex>  <name>`.
    pub malformed_lines: Vec<(usize, String)>,
}

impl ManifestReport {
    /// Human messages, one per problem, naming paths and digests. A manifest listing no file is
    /// a problem: it proves nothing.
    pub fn problems(&self) -> Vec<String> {
        let mut p: Vec<String> = self.files.iter().filter_map(FileCheck::problem).collect();
        for (n, line) in &self.malformed_lines {
            p.push(format!(
                "manifest {} line {n} is not `<sha256>  <name>`: {line:?}",
                self.manifest
            ));
        }
        if self.files.is_empty() {
            p.push(format!("manifest {} lists no file", self.manifest));
        }
        p
    }

    /// Whether [`problems`](Self::problems) is empty.
    pub fn is_ok(&self) -> bool {
        self.problems().is_empty()
    }

    /// Plaintext bytes of the files that matched.
    pub fn bytes_ok(&self) -> u64 {
        self.files
            .iter()
            .map(|f| match f.status {
                FileStatus::Ok { size } => size,
                _ => 0,
            })
            .sum()
    }
}

/// An ext4 filesystem image opened read-only.
pub struct Ext4Image {
    image: PathBuf,
    fs: ext4_view::Ext4,
}

impl std::fmt::Debug for Ext4Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ext4Image")
            .field("image", &self.image)
            .finish_non_exhaustive()
    }
}

impl Ext4Image {
    /// Opens `image` read-only and reads its superblock, group descriptors and journal.
    ///
    /// # Errors
    /// [`Ext4Error::Open`] when the file cannot be opened, [`Ext4Error::Load`] when it holds no
    /// readable ext4 filesystem.
    pub fn open(image: &Path) -> Result<Self, Ext4Error> {
        let file = std::fs::File::open(image).map_err(|source| Ext4Error::Open {
            image: image.to_path_buf(),
            source,
        })?;
        let fs = ext4_view::Ext4::load(Box::new(PreadSource::new(file))).map_err(|source| {
            Ext4Error::Load {
                image: image.to_path_buf(),
                source,
            }
        })?;
        Ok(Self {
            image: image.to_path_buf(),
            fs,
        })
    }

    /// Opens a filesystem served by any [`ext4_view::Ext4Read`] source, e.g. a
    /// [`RemoteImage`](crate::remote::RemoteImage) reading blocks from S3 on demand. `label`
    /// names the image in every error (a path or a description such as `s3://bucket/vol`).
    ///
    /// # Errors
    /// [`Ext4Error::Load`] when the source holds no readable ext4 filesystem.
    pub fn from_reader(
        label: impl Into<PathBuf>,
        reader: Box<dyn ext4_view::Ext4Read>,
    ) -> Result<Self, Ext4Error> {
        let image = label.into();
        let fs = ext4_view::Ext4::load(reader).map_err(|source| Ext4Error::Load {
            image: image.clone(),
            source,
        })?;
        Ok(Self { image, fs })
    }

    /// The image file this filesystem is read from.
    pub fn image(&self) -> &Path {
        &self.image
    }

    /// Maps ext4-view's error for `path` to ours, keeping "not found" and "not a file" apart
    /// because a report treats them differently from corruption.
    fn path_err(&self, path: &str, source: ext4_view::Ext4Error) -> Ext4Error {
        let image = self.image.clone();
        let path = path.to_string();
        match source {
            ext4_view::Ext4Error::NotFound => Ext4Error::NotFound { image, path },
            ext4_view::Ext4Error::IsADirectory | ext4_view::Ext4Error::IsASpecialFile => {
                Ext4Error::NotAFile { image, path }
            }
            ext4_view::Ext4Error::NotAbsolute | ext4_view::Ext4Error::MalformedPath => {
                Ext4Error::InvalidPath { image, path }
            }
            source => Ext4Error::Read {
                image,
                path,
                source,
            },
        }
    }

    /// Size in bytes and SHA-256 (lowercase hex) of the regular file at absolute `path`,
    /// streamed in [`READ_CHUNK`] pieces (symlinks are followed).
    ///
    /// # Errors
    /// [`Ext4Error::NotFound`], [`Ext4Error::NotAFile`], [`Ext4Error::InvalidPath`], or
    /// [`Ext4Error::Read`] naming the path.
    pub fn read_file_digest(&self, path: &str) -> Result<(u64, String), Ext4Error> {
        let mut file = self.fs.open(path).map_err(|e| self.path_err(path, e))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; READ_CHUNK];
        let mut size = 0u64;
        loop {
            // read_bytes stops at each filesystem block; fill the chunk before hashing.
            let mut filled = 0;
            while filled < buf.len() {
                let n = file
                    .read_bytes(&mut buf[filled..])
                    .map_err(|e| self.path_err(path, e))?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                break;
            }
            hasher.update(&buf[..filled]);
            size += filled as u64;
        }
        Ok((size, hex::encode(hasher.finalize())))
    }

    /// Reads a small file (at most [`MAX_MANIFEST_BYTES`]) whole.
    ///
    /// # Errors
    /// As [`read_file_digest`](Self::read_file_digest), and [`Ext4Error::TooLarge`].
    pub fn read_small_file(&self, path: &str) -> Result<Vec<u8>, Ext4Error> {
        let meta = self.fs.metadata(path).map_err(|e| self.path_err(path, e))?;
        if meta.is_dir() {
            return Err(Ext4Error::NotAFile {
                image: self.image.clone(),
                path: path.to_string(),
            });
        }
        if meta.len() > MAX_MANIFEST_BYTES {
            return Err(Ext4Error::TooLarge {
                image: self.image.clone(),
                path: path.to_string(),
                size: meta.len(),
                limit: MAX_MANIFEST_BYTES,
            });
        }
        self.fs.read(path).map_err(|e| self.path_err(path, e))
    }

    /// Entries of the directory at absolute `path`, sorted by name, without `.` and `..`.
    ///
    /// # Errors
    /// [`Ext4Error::NotFound`], [`Ext4Error::InvalidPath`], or [`Ext4Error::Read`] (also when
    /// `path` is not a directory), naming the path.
    pub fn list_dir(&self, path: &str) -> Result<Vec<DirEntryInfo>, Ext4Error> {
        let entries = self.fs.read_dir(path).map_err(|e| self.path_err(path, e))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.path_err(path, e))?;
            let name = entry.file_name().display().to_string();
            if name == "." || name == ".." {
                continue;
            }
            let child = join(path, &name);
            let meta = entry.metadata().map_err(|e| self.path_err(&child, e))?;
            let ft = meta.file_type();
            let kind = if ft.is_regular_file() {
                EntryKind::File
            } else if ft.is_dir() {
                EntryKind::Dir
            } else if ft.is_symlink() {
                EntryKind::Symlink
            } else {
                EntryKind::Special
            };
            out.push(DirEntryInfo {
                name,
                path: child,
                kind,
                size: meta.len(),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Checks one file against `expected` (SHA-256 hex, any case): never fails, every outcome
    /// is a [`FileStatus`].
    pub fn check_file(&self, path: &str, expected: &str) -> FileCheck {
        let expected = expected.to_ascii_lowercase();
        let status = match self.read_file_digest(path) {
            Ok((size, found)) if found == expected => FileStatus::Ok { size },
            Ok((size, found)) => FileStatus::Mismatch { size, found },
            Err(Ext4Error::NotFound { .. }) => FileStatus::Missing,
            Err(e) => FileStatus::Unreadable {
                message: e.to_string(),
            },
        };
        FileCheck {
            path: path.to_string(),
            expected,
            status,
        }
    }

    /// Checks each `(absolute path, expected SHA-256 hex)`, in order.
    pub fn verify_paths(&self, expected: &[(String, String)]) -> Vec<FileCheck> {
        expected
            .iter()
            .map(|(path, sha)| self.check_file(path, sha))
            .collect()
    }

    /// Reads the `sha256sum`-format manifest at absolute `manifest_path` and checks every file it
    /// lists (names relative to the manifest's directory; absolute names as given). Also reads
    /// `RUN_ID` beside it when present.
    ///
    /// # Errors
    /// When the manifest itself cannot be read: [`Ext4Error::NotFound`],
    /// [`Ext4Error::NotAFile`], [`Ext4Error::TooLarge`], [`Ext4Error::ManifestNotUtf8`],
    /// [`Ext4Error::Read`]. Problems with listed files are findings in the report.
    pub fn verify_manifest(&self, manifest_path: &str) -> Result<ManifestReport, Ext4Error> {
        let bytes = self.read_small_file(manifest_path)?;
        let text = String::from_utf8(bytes).map_err(|_| Ext4Error::ManifestNotUtf8 {
            image: self.image.clone(),
            path: manifest_path.to_string(),
        })?;
        let dir = parent_dir(manifest_path);
        let mut files = Vec::new();
        let mut malformed_lines = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match parse_manifest_line(line) {
                Some((sha, name)) => {
                    let path = if name.starts_with('/') {
                        name
                    } else {
                        join(dir, name.trim_start_matches("./"))
                    };
                    files.push(self.check_file(&path, &sha));
                }
                None => malformed_lines.push((i + 1, line.to_string())),
            }
        }
        let run_id = self
            .read_small_file(&join(dir, RUN_ID_FILE))
            .ok()
            .map(|b| String::from_utf8_lossy(&b).trim().to_string());
        Ok(ManifestReport {
            manifest: manifest_path.to_string(),
            run_id,
            files,
            malformed_lines,
        })
    }
}

/// Parses one `sha256sum` line: `<64 hex>  <name>` (text mode) or `<64 hex> *<name>` (binary
/// mode); a leading `\` marks a name with `\\`/`\n` escapes (GNU coreutils).
fn parse_manifest_line(line: &str) -> Option<(String, String)> {
    let (escaped, line) = match line.strip_prefix('\\') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let sha = line.get(..64)?;
    if !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let rest = line.get(64..)?;
    let name = rest
        .strip_prefix("  ")
        .or_else(|| rest.strip_prefix(" *"))?;
    if name.is_empty() {
        return None;
    }
    let name = if escaped {
        unescape(name)
    } else {
        name.to_string()
    };
    Some((sha.to_ascii_lowercase(), name))
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The directory part of an absolute path (`/a/b` → `/a`, `/a` → `/`).
fn parent_dir(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// `dir` + `/` + `name` without doubling the slash at the root.
fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Size and SHA-256 of the file at `path` inside `image`. See [`Ext4Image::read_file_digest`].
///
/// # Errors
/// As [`Ext4Image::open`] and [`Ext4Image::read_file_digest`].
pub fn read_file_digest(image: &Path, path: &str) -> Result<(u64, String), Ext4Error> {
    Ext4Image::open(image)?.read_file_digest(path)
}

/// Entries of the directory at `path` inside `image`. See [`Ext4Image::list_dir`].
///
/// # Errors
/// As [`Ext4Image::open`] and [`Ext4Image::list_dir`].
pub fn list_dir(image: &Path, path: &str) -> Result<Vec<DirEntryInfo>, Ext4Error> {
    Ext4Image::open(image)?.list_dir(path)
}

/// Checks the manifest at `manifest_path` inside `image`. See [`Ext4Image::verify_manifest`].
///
/// # Errors
/// As [`Ext4Image::open`] and [`Ext4Image::verify_manifest`].
pub fn verify_manifest(image: &Path, manifest_path: &str) -> Result<ManifestReport, Ext4Error> {
    Ext4Image::open(image)?.verify_manifest(manifest_path)
}

/// Checks `(path, expected SHA-256)` pairs inside `image`. See [`Ext4Image::verify_paths`].
///
/// # Errors
/// As [`Ext4Image::open`]; per-file problems are findings.
pub fn verify_paths(
    image: &Path,
    expected: &[(String, String)],
) -> Result<Vec<FileCheck>, Ext4Error> {
    Ok(Ext4Image::open(image)?.verify_paths(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_text_binary_and_escaped_lines() {
        assert_eq!(
            parse_manifest_line(&format!("{SHA}  data/a.txt")),
            Some((SHA.to_string(), "data/a.txt".to_string()))
        );
        assert_eq!(
            parse_manifest_line(&format!("{}  b", SHA.to_uppercase())),
            Some((SHA.to_string(), "b".to_string()))
        );
        assert_eq!(
            parse_manifest_line(&format!("{SHA} *bin")),
            Some((SHA.to_string(), "bin".to_string()))
        );
        assert_eq!(
            parse_manifest_line(&format!("\\{SHA}  a\\nb\\\\c")),
            Some((SHA.to_string(), "a\nb\\c".to_string()))
        );
    }

    #[test]
    fn rejects_malformed_lines() {
        for bad in [
            "hello".to_string(),
            format!("{}  x", &SHA[..63]),
            format!("{SHA} x"),
            format!("{SHA}  "),
            format!("{}g  x", &SHA[..63]),
        ] {
            assert_eq!(parse_manifest_line(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn joins_relative_to_the_manifest_directory() {
        assert_eq!(parent_dir("/dr-harness/MANIFEST.sha256"), "/dr-harness");
        assert_eq!(parent_dir("/MANIFEST"), "/");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/dr-harness", "sub/a"), "/dr-harness/sub/a");
    }

    #[test]
    fn manifest_without_files_is_a_problem() {
        let r = ManifestReport {
            manifest: "/m".into(),
            run_id: None,
            files: vec![],
            malformed_lines: vec![(3, "x".into())],
        };
        let p = r.problems();
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p.iter().any(|m| m.contains("line 3")));
        assert!(!r.is_ok());
    }

    #[test]
    fn a_non_ext4_image_is_a_load_error_naming_the_image() {
        let dir = tempfile::tempdir().expect("tempdir");
        let img = dir.path().join("zeros.img");
        std::fs::write(&img, vec![0u8; 8192]).expect("write");
        let err = Ext4Image::open(&img).expect_err("not ext4");
        assert!(matches!(err, Ext4Error::Load { .. }), "{err}");
        assert!(err.to_string().contains("zeros.img"), "{err}");
    }
}
