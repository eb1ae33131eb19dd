//! Helpers shared by the data-plane tests: file-tree fingerprints and test data.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use sha2::{Digest, Sha256};

pub const MIB: u64 = 1024 * 1024;

/// Every entry under `dir`: relative path → (kind, mode bits, sha256 of content or link target).
pub fn tree(dir: &Path) -> BTreeMap<String, (char, u32, String)> {
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (char, u32, String)>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let entry = entry.expect("entry");
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .expect("prefix")
            .to_string_lossy()
            .into_owned();
        let meta = std::fs::symlink_metadata(&path).expect("meta");
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).expect("link");
            out.insert(rel, ('l', 0, target.to_string_lossy().into_owned()));
        } else if meta.is_dir() {
            out.insert(rel, ('d', mode, String::new()));
            walk(root, &path, out);
        } else {
            let data = std::fs::read(&path).expect("read");
            out.insert(rel, ('f', mode, hex::encode(Sha256::digest(&data))));
        }
    }
}

pub fn pseudo_random(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Files with nested dirs, a 3 MiB file (spans two 2 MiB backup blocks), modes and a symlink.
pub fn populate(dir: &Path, seed: u32) {
    std::fs::create_dir_all(dir.join("a/b/c")).expect("dirs");
    std::fs::write(dir.join("a/b/c/deep.txt"), format!("deep {seed}\n")).expect("deep");
    std::fs::write(dir.join("big.bin"), pseudo_random(3 * MIB as usize, seed)).expect("big");
    std::fs::write(dir.join("empty"), b"").expect("empty");
    let secret = dir.join("a/secret");
    std::fs::write(&secret, b"0640 file").expect("secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    std::os::unix::fs::symlink("a/b/c/deep.txt", dir.join("link")).expect("symlink");
}
