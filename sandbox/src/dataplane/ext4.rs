//! Volume directories ⇄ ext4 block-device images, with e2fsprogs.
//!
//! Why images at all: Longhorn backs up a *block device*, block by block. Capturing a volume's
//! files as a real ext4 image (`mke2fs -d`) makes the sandbox's backups byte-for-byte the kind
//! of data Longhorn uploads (2 MiB blocks of a filesystem, sparse zero runs), so the backupstore
//! code is exercised as in production. Reading an image back uses `debugfs rdump`, which needs
//! neither loop devices nor mount privileges.
//!
//! Everything here is blocking (subprocesses, file trees): call from `spawn_blocking`.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::DataPlaneError;

/// Directories searched for e2fsprogs in addition to `PATH` (sbin is often not on a user PATH).
const SBIN_DIRS: [&str; 4] = ["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin"];

/// The e2fsprogs executables, located once.
#[derive(Debug, Clone)]
pub struct E2fsTools {
    mke2fs: PathBuf,
    debugfs: PathBuf,
}

impl E2fsTools {
    /// Finds `mke2fs` and `debugfs` on `PATH` or in the sbin directories.
    ///
    /// # Errors
    /// [`DataPlaneError::ToolMissing`] naming the tool and the Debian package (e2fsprogs).
    pub fn locate() -> Result<E2fsTools, DataPlaneError> {
        Ok(E2fsTools {
            mke2fs: find_tool("mke2fs")?,
            debugfs: find_tool("debugfs")?,
        })
    }

    /// Writes an ext4 image of `size_bytes` at `image` holding the files of `data_dir`:
    /// `mke2fs -q -t ext4 -F -d <data_dir> -U <uuid> -E root_owner=0:0,hash_seed=<uuid> <image>`.
    /// The image is a sparse file. A stable `uuid` per volume keeps filesystem metadata equal
    /// between snapshots, so incremental backups upload only changed blocks (a real volume's
    /// filesystem UUID does not change either).
    ///
    /// # Errors
    /// [`DataPlaneError::Io`] creating the file; [`DataPlaneError::Tool`] when mke2fs fails
    /// (e.g. the files do not fit in `size_bytes`).
    pub fn make_image(
        &self,
        data_dir: &Path,
        image: &Path,
        size_bytes: u64,
        uuid: &str,
    ) -> Result<(), DataPlaneError> {
        let file = std::fs::File::create(image)
            .map_err(|e| DataPlaneError::io("creating image", image, e))?;
        file.set_len(size_bytes)
            .map_err(|e| DataPlaneError::io("sizing image", image, e))?;
        drop(file);
        let out = Command::new(&self.mke2fs)
            .args(["-q", "-t", "ext4", "-F", "-d"])
            .arg(data_dir)
            .args(["-U", uuid, "-E"])
            .arg(format!("root_owner=0:0,hash_seed={uuid}"))
            .arg(image)
            .output()
            .map_err(|e| DataPlaneError::io("running mke2fs for", image, e))?;
        if !out.status.success() {
            // A half-written image must not pass for a snapshot.
            let _ = std::fs::remove_file(image);
            return Err(DataPlaneError::Tool {
                tool: "mke2fs",
                image: image.to_path_buf(),
                message: format!(
                    "{}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            });
        }
        Ok(())
    }

    /// Replaces the contents of `dest_dir` with the files of the ext4 image: dumps the tree with
    /// `debugfs -R "rdump / <tmp>"` into a fresh sibling directory (modes kept), removes the
    /// top-level `lost+found`, then swaps it in place of `dest_dir` by rename.
    ///
    /// # Errors
    /// [`DataPlaneError::Io`] on file operations; [`DataPlaneError::Tool`] when debugfs reports
    /// an error (it exits 0 even then, so its stderr is checked).
    pub fn extract(&self, image: &Path, dest_dir: &Path) -> Result<(), DataPlaneError> {
        let parent = dest_dir.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| DataPlaneError::io("creating", parent, e))?;
        let staging = tempfile::Builder::new()
            .prefix(".extract-")
            .tempdir_in(parent)
            .map_err(|e| DataPlaneError::io("creating staging dir in", parent, e))?;
        let out = Command::new(&self.debugfs)
            .arg("-R")
            .arg(format!("rdump / {}", staging.path().display()))
            .arg(image)
            .output()
            .map_err(|e| DataPlaneError::io("running debugfs for", image, e))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let problems: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with("debugfs "))
            .collect();
        if !out.status.success() || !problems.is_empty() {
            return Err(DataPlaneError::Tool {
                tool: "debugfs",
                image: image.to_path_buf(),
                message: format!("{}: {}", out.status, problems.join("; ")),
            });
        }
        let lost = staging.path().join("lost+found");
        if lost.exists() {
            std::fs::remove_dir_all(&lost).map_err(|e| DataPlaneError::io("removing", &lost, e))?;
        }
        replace_dir(staging.keep(), dest_dir)
    }
}

/// Moves `new_dir` to `dest_dir`, removing what was there. The old tree is first renamed aside
/// so `dest_dir` is never half-populated.
///
/// # Errors
/// [`DataPlaneError`] naming the path when a rename or a removal fails.
pub(crate) fn replace_dir(new_dir: PathBuf, dest_dir: &Path) -> Result<(), DataPlaneError> {
    let old = dest_dir.with_extension("old-replaced");
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| DataPlaneError::io("removing", &old, e))?;
    }
    let had_old = dest_dir.exists();
    if had_old {
        std::fs::rename(dest_dir, &old).map_err(|e| DataPlaneError::io("renaming", dest_dir, e))?;
    }
    std::fs::rename(&new_dir, dest_dir).map_err(|e| DataPlaneError::io("renaming", &new_dir, e))?;
    if had_old {
        std::fs::remove_dir_all(&old).map_err(|e| DataPlaneError::io("removing", &old, e))?;
    }
    Ok(())
}

fn find_tool(name: &'static str) -> Result<PathBuf, DataPlaneError> {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(SBIN_DIRS.iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(DataPlaneError::ToolMissing {
            tool: name,
            package: "e2fsprogs",
        })
}

/// A filesystem UUID derived from a volume name (SHA-256, first 16 bytes, version-4 layout),
/// stable for the volume's life.
pub fn volume_uuid(volume: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut b: [u8; 16] = [0; 16];
    b.copy_from_slice(&Sha256::digest(volume.as_bytes())[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(b).hyphenated().to_string()
}
