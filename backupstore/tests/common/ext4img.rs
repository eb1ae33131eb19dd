//! Real ext4 volume images for deep-verification tests: a sentinel tree written like the drill
//! writes it (files, a nested folder, a 5 MiB file, `RUN_ID`, and `MANIFEST.sha256` made by the
//! real `sha256sum`), turned into an image by `mke2fs -d`.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{pattern, MI};

/// Run id written into `RUN_ID`.
pub const RUN_ID: &str = "6f1c1a52-3c1e-4b8e-9a51-0d2b8f3e7c11";
/// Files of the sentinel tree relative to `dr-harness/`, in manifest order.
pub const FILES: [&str; 5] = [
    "RUN_ID",
    "ticks/tick-0001.txt",
    "ticks/tick-0002.txt",
    "data/nested/deep/blob.bin",
    "data/big-5mib.bin",
];
/// First bytes of the 5 MiB file's content: unique in the image, used to find its block.
pub const BIG_SEED: u64 = 0xB16;

/// `mke2fs` if installed (it lives in /sbin on Debian, often not on a user's PATH).
pub fn mke2fs() -> Option<PathBuf> {
    ["mke2fs", "/usr/sbin/mke2fs", "/sbin/mke2fs"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| {
            Command::new(p)
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// `Some(mke2fs)` or a printed skip reason; tests return early on `None`.
pub fn mke2fs_or_skip(test: &str) -> Option<PathBuf> {
    let found = mke2fs();
    if found.is_none() {
        eprintln!("SKIPPED {test}: mke2fs (e2fsprogs) is not installed; apt-get install e2fsprogs");
    }
    found
}

/// SHA-256 hex of a local file computed by coreutils' `sha256sum`, independent of the crate.
pub fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("run sha256sum");
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8(out.stdout).expect("utf8")[..64].to_string()
}

/// Writes the sentinel tree under `root/dr-harness/` with its manifest.
pub fn write_sentinel_tree(root: &Path) {
    let base = root.join("dr-harness");
    std::fs::create_dir_all(base.join("ticks")).expect("mkdir");
    std::fs::create_dir_all(base.join("data/nested/deep")).expect("mkdir");
    std::fs::write(base.join("RUN_ID"), format!("{RUN_ID}\n")).expect("write");
    std::fs::write(
        base.join("ticks/tick-0001.txt"),
        "tick 1 2025-01-01T00:00:00Z\n",
    )
    .expect("w");
    std::fs::write(
        base.join("ticks/tick-0002.txt"),
        "tick 2 2025-01-01T00:00:10Z\n",
    )
    .expect("w");
    std::fs::write(base.join("data/nested/deep/blob.bin"), pattern(7, 300_000)).expect("w");
    std::fs::write(
        base.join("data/big-5mib.bin"),
        pattern(BIG_SEED, (5 * MI) as usize),
    )
    .expect("w");
    write_manifest(root);
}

/// (Re)writes `dr-harness/MANIFEST.sha256` with `sha256sum` run inside `dr-harness/`, as the
/// drill does in the pod.
pub fn write_manifest(root: &Path) {
    let base = root.join("dr-harness");
    let out = Command::new("sha256sum")
        .args(FILES)
        .current_dir(&base)
        .output()
        .expect("run sha256sum");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(base.join("MANIFEST.sha256"), out.stdout).expect("write manifest");
}

/// Builds a `size_mib` MiB ext4 image of `root` at `img` with `mke2fs -q -t ext4 -F -d`.
pub fn build_image(mke2fs: &Path, root: &Path, img: &Path, size_mib: u64) {
    let out = Command::new(mke2fs)
        .args(["-q", "-t", "ext4", "-F", "-d"])
        .arg(root)
        .arg(img)
        .arg(format!("{size_mib}M"))
        .output()
        .expect("run mke2fs");
    assert!(
        out.status.success(),
        "mke2fs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Byte offset of the first occurrence of `needle` in the file at `path` (a small test image,
/// read whole).
pub fn find_in_file(path: &Path, needle: &[u8]) -> Option<u64> {
    let data = std::fs::read(path).expect("read image");
    data.windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p as u64)
}
