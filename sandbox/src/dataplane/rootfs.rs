//! The busybox root filesystem pod commands run in, built once per sandbox.
//!
//! Why a real busybox rootfs rather than running host tools: the sentinel's commands
//! (`sha256sum -c`, `cat > /data/x`, `sh -c`) must behave exactly as in the `busybox` image a
//! real cluster runs, including absolute paths like `/data/...` that only exist inside the pod.
//! The rootfs holds Debian's static busybox at `/bin/busybox`, one symlink per applet at the
//! path `busybox --list-full` gives, `/tmp`, empty `/dev/{null,zero,random,urandom}` files
//! (bind-mounted over from the host at exec time, so no `mknod` is needed), and a minimal
//! `/etc/passwd` and `/etc/group`.

use std::path::{Path, PathBuf};

use super::error::ExecError;

/// Device files bind-mounted from the host into every pod command's namespace.
pub const DEVICES: [&str; 4] = ["null", "zero", "random", "urandom"];

/// The default busybox binary: Debian's `busybox-static` package.
pub const DEFAULT_BUSYBOX: &str = "/bin/busybox";

/// Environment variable naming another host busybox binary (a non-Debian machine, or a test
/// proving that a missing busybox is reported as a setup error).
pub const BUSYBOX_ENV: &str = "DR_SANDBOX_BUSYBOX";

/// The host busybox the sandbox uses: `$DR_SANDBOX_BUSYBOX`, else [`DEFAULT_BUSYBOX`].
pub fn busybox_path() -> PathBuf {
    std::env::var_os(BUSYBOX_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_BUSYBOX))
}

/// A built busybox root filesystem.
#[derive(Debug, Clone)]
pub struct Rootfs {
    dir: PathBuf,
}

impl Rootfs {
    /// Builds (or refreshes) a rootfs in `dir` from the host binary `busybox`. Idempotent:
    /// existing entries are kept.
    ///
    /// # Errors
    /// [`ExecError::Rootfs`] when busybox is missing, cannot list its applets, or a file of the
    /// rootfs cannot be written.
    pub fn build(dir: &Path, busybox: &Path) -> Result<Rootfs, ExecError> {
        let fail = |what: String| ExecError::Rootfs {
            dir: dir.to_path_buf(),
            message: what,
        };
        if !busybox.is_file() {
            return Err(fail(format!(
                "busybox binary {} not found (install Debian package busybox-static)",
                busybox.display()
            )));
        }
        let listing = std::process::Command::new(busybox)
            .arg("--list-full")
            .output()
            .map_err(|e| fail(format!("running {} --list-full: {e}", busybox.display())))?;
        if !listing.status.success() {
            return Err(fail(format!(
                "{} --list-full exited with {}",
                busybox.display(),
                listing.status
            )));
        }
        let io =
            |what: &str, p: &Path, e: std::io::Error| fail(format!("{what} {}: {e}", p.display()));
        for sub in [
            "bin", "sbin", "usr/bin", "usr/sbin", "etc", "dev", "root", "proc",
        ] {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).map_err(|e| io("creating", &p, e))?;
        }
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|e| io("creating", &tmp, e))?;
        set_mode(&tmp, 0o1777).map_err(|e| io("chmod", &tmp, e))?;

        let target = dir.join("bin/busybox");
        // Copy, not hard-link: the rootfs must not change if the host package is upgraded.
        if !target.exists() {
            std::fs::copy(busybox, &target).map_err(|e| io("copying busybox to", &target, e))?;
        }
        for applet in String::from_utf8_lossy(&listing.stdout).lines() {
            let rel = applet.trim().trim_start_matches('/');
            if rel.is_empty() || rel == "bin/busybox" {
                continue;
            }
            let link = dir.join(rel);
            if link.symlink_metadata().is_ok() {
                continue;
            }
            if let Some(parent) = link.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io("creating", parent, e))?;
            }
            std::os::unix::fs::symlink("/bin/busybox", &link)
                .map_err(|e| io("linking applet", &link, e))?;
        }
        for dev in DEVICES {
            let p = dir.join("dev").join(dev);
            if !p.exists() {
                std::fs::write(&p, b"").map_err(|e| io("creating", &p, e))?;
            }
        }
        let files = [
            (
                "etc/passwd",
                "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
            ),
            ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
            ("etc/hostname", "sandbox\n"),
        ];
        for (rel, text) in files {
            let p = dir.join(rel);
            std::fs::write(&p, text).map_err(|e| io("writing", &p, e))?;
        }
        Ok(Rootfs {
            dir: dir.to_path_buf(),
        })
    }

    /// The rootfs directory (what pod commands see as `/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn set_mode(p: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
}
