//! Deterministic sentinel content: the bytes a drill writes, re-derivable from the run id alone.
//!
//! Every 4 KiB record starts with a header naming the run id, the file and the record's byte
//! offset, followed by filler from a counter-seeded generator. So a digest mismatch can be
//! explained: a header naming another run id is stale data from an older backup; a header with
//! the wrong offset is misplaced data. The filler is not compressible, like real data, so backups
//! move real bytes. Content is produced lazily in chunks and never held whole in memory.

use sha2::{Digest, Sha256};

/// Bytes per self-describing record.
pub const RECORD_BYTES: u64 = 4096;
/// Bytes per chunk handed to writers (a multiple of [`RECORD_BYTES`]).
pub const CHUNK_BYTES: u64 = 256 * 1024;

/// One sentinel file: its name inside the sentinel directory and its size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelFile {
    /// File name inside the sentinel directory (no slashes).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
}

/// The header that opens the record at `offset` of `file` for `run_id`.
pub fn record_header(run_id: &str, file: &str, offset: u64) -> String {
    format!("dr-harness sentinel run={run_id} file={file} offset={offset}\n")
}

/// Parses a record header back into `(run_id, file, offset)`; None when `bytes` does not start
/// with one.
pub fn parse_record_header(bytes: &[u8]) -> Option<(String, String, u64)> {
    let end = bytes.iter().position(|&b| b == b'\n')?;
    let line = std::str::from_utf8(&bytes[..end]).ok()?;
    let rest = line.strip_prefix("dr-harness sentinel ")?;
    let mut run = None;
    let mut file = None;
    let mut offset = None;
    for part in rest.split(' ') {
        match part.split_once('=') {
            Some(("run", v)) => run = Some(v.to_string()),
            Some(("file", v)) => file = Some(v.to_string()),
            Some(("offset", v)) => offset = v.parse().ok(),
            _ => {}
        }
    }
    Some((run?, file?, offset?))
}

/// Fills `out` (whose first byte is at `offset` of the file) with the file's content.
///
/// Whole records are generated in place, straight into `out`; only a record cut by the start or
/// end of `out` goes through a scratch buffer. (The first version built every record in a fresh
/// `Vec` and copied it: the generator was then a large share of `write-sentinel`'s time.)
fn fill(run_id: &str, file: &str, offset: u64, out: &mut [u8]) {
    const RECORD: usize = RECORD_BYTES as usize;
    let mut scratch = [0u8; RECORD];
    let mut pos = 0usize;
    while pos < out.len() {
        let abs = offset + pos as u64;
        let record_start = abs - abs % RECORD_BYTES;
        let within = (abs - record_start) as usize;
        let n = (RECORD - within).min(out.len() - pos);
        let header = record_header(run_id, file, record_start);
        if header.len() >= RECORD {
            // Absurdly long names: the record is the header alone, as it always was.
            let record = record_bytes(run_id, file, record_start);
            let n = (record.len() - within).min(out.len() - pos);
            out[pos..pos + n].copy_from_slice(&record[within..within + n]);
            pos += n;
            continue;
        }
        if n == RECORD {
            write_record(&header, &mut out[pos..pos + n]);
        } else {
            write_record(&header, &mut scratch);
            out[pos..pos + n].copy_from_slice(&scratch[within..within + n]);
        }
        pos += n;
    }
}

/// Writes one whole record (`record.len() == RECORD_BYTES`, `header` shorter) into `record`.
fn write_record(header: &str, record: &mut [u8]) {
    let (head, filler) = record.split_at_mut(header.len());
    head.copy_from_slice(header.as_bytes());
    let mut next = splitmix(header.as_bytes());
    for word in filler.chunks_mut(8) {
        let len = word.len();
        word.copy_from_slice(&next().to_le_bytes()[..len]);
    }
}

/// SplitMix64 seeded from the SHA-256 of the record's header: cheap, deterministic,
/// incompressible enough.
fn splitmix(header: &[u8]) -> impl FnMut() -> u64 {
    let seed = Sha256::digest(header);
    let mut state = u64::from_le_bytes(seed[..8].try_into().unwrap_or([0; 8]));
    move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// One record built the simple way (header, then filler up to [`RECORD_BYTES`]); only for
/// headers that fill a record on their own.
fn record_bytes(run_id: &str, file: &str, record_start: u64) -> Vec<u8> {
    let mut record = Vec::with_capacity(RECORD_BYTES as usize);
    record.extend_from_slice(record_header(run_id, file, record_start).as_bytes());
    let mut next = splitmix(&record);
    while record.len() < RECORD_BYTES as usize {
        let take = (RECORD_BYTES as usize - record.len()).min(8);
        record.extend_from_slice(&next().to_le_bytes()[..take]);
    }
    record
}

/// Lazily produces a sentinel file's bytes in chunks of at most [`CHUNK_BYTES`].
pub struct ContentStream {
    run_id: String,
    file: String,
    size: u64,
    offset: u64,
}

impl ContentStream {
    /// A stream of `file`'s bytes for `run_id`, from offset 0; nothing is generated until it
    /// is iterated.
    pub fn new(run_id: &str, file: &SentinelFile) -> Self {
        ContentStream {
            run_id: run_id.to_string(),
            file: file.name.clone(),
            size: file.size,
            offset: 0,
        }
    }
}

impl Iterator for ContentStream {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        if self.offset >= self.size {
            return None;
        }
        let n = (self.size - self.offset).min(CHUNK_BYTES) as usize;
        let mut chunk = vec![0u8; n];
        fill(&self.run_id, &self.file, self.offset, &mut chunk);
        self.offset += n as u64;
        Some(chunk)
    }
}

/// SHA-256 (lowercase hex) of a sentinel file's content, computed by streaming it.
pub fn expected_sha256(run_id: &str, file: &SentinelFile) -> String {
    let mut hasher = Sha256::new();
    for chunk in ContentStream::new(run_id, file) {
        hasher.update(&chunk);
    }
    hex::encode(hasher.finalize())
}

/// Compares `actual` (bytes starting at `offset` of the file) with the expected content and
/// returns the absolute offset of the first differing byte.
pub fn first_difference(run_id: &str, file: &str, offset: u64, actual: &[u8]) -> Option<u64> {
    let mut expected = vec![0u8; actual.len()];
    fill(run_id, file, offset, &mut expected);
    expected
        .iter()
        .zip(actual)
        .position(|(a, b)| a != b)
        .map(|i| offset + i as u64)
}

/// Default sentinel files for `sizes` (bytes): `sentinel-1.bin`, `sentinel-2.bin`, …
pub fn files_for_sizes(sizes: &[u64]) -> Vec<SentinelFile> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| SentinelFile {
            name: format!("sentinel-{}.bin", i + 1),
            size,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(size: u64) -> SentinelFile {
        SentinelFile {
            name: "sentinel-1.bin".into(),
            size,
        }
    }

    #[test]
    fn content_is_deterministic_and_run_specific() {
        let a: Vec<u8> = ContentStream::new("run-a", &file(10_000))
            .flatten()
            .collect();
        let again: Vec<u8> = ContentStream::new("run-a", &file(10_000))
            .flatten()
            .collect();
        let b: Vec<u8> = ContentStream::new("run-b", &file(10_000))
            .flatten()
            .collect();
        assert_eq!(a.len(), 10_000);
        assert_eq!(a, again);
        assert_ne!(a, b);
    }

    #[test]
    fn every_record_names_run_and_offset() {
        let data: Vec<u8> = ContentStream::new("run-a", &file(3 * RECORD_BYTES + 10))
            .flatten()
            .collect();
        for (i, rec) in data.chunks(RECORD_BYTES as usize).take(3).enumerate() {
            let (run, f, off) = parse_record_header(rec).expect("header");
            assert_eq!(run, "run-a");
            assert_eq!(f, "sentinel-1.bin");
            assert_eq!(off, i as u64 * RECORD_BYTES);
        }
    }

    #[test]
    fn chunking_does_not_change_content() {
        // A size that is not a multiple of a chunk or a record.
        let f = file(CHUNK_BYTES * 2 + 1234);
        let streamed: Vec<u8> = ContentStream::new("r", &f).flatten().collect();
        let mut direct = vec![0u8; f.size as usize];
        fill("r", &f.name, 0, &mut direct);
        assert_eq!(streamed, direct);
        assert_eq!(
            expected_sha256("r", &f),
            hex::encode(Sha256::digest(&direct))
        );
    }

    /// The content is a contract with every backup already taken: a drill resumed or verified
    /// later re-derives it from the run id, so its bytes must never change. Pinned digests were
    /// computed by the first implementation (one record at a time through a `Vec`).
    #[test]
    fn content_bytes_are_pinned() {
        let pinned = [
            (
                1u64,
                "18ac3e7343f016890c510e93f935261169d9e3f565436429830faf0934f4f8e4",
            ),
            (
                RECORD_BYTES + 7,
                "7a360e772962c7517483555892343b5ac1592ff42cbd1c741bb26eee82c9f469",
            ),
            (
                CHUNK_BYTES * 3 + 12_345,
                "9e64ba9d0e82bfbbc2a03cba85d44b82fb4b505e0e5d6b1df0b11e8002caa171",
            ),
        ];
        for (size, digest) in pinned {
            let f = SentinelFile {
                name: "sentinel-2.bin".into(),
                size,
            };
            assert_eq!(
                expected_sha256("run-20260101-abcdef", &f),
                digest,
                "size {size}"
            );
        }
    }

    #[test]
    fn first_difference_finds_a_flipped_byte() {
        let f = file(9000);
        let mut data: Vec<u8> = ContentStream::new("r", &f).flatten().collect();
        assert_eq!(first_difference("r", &f.name, 0, &data), None);
        data[5000] ^= 0x01;
        assert_eq!(first_difference("r", &f.name, 0, &data), Some(5000));
        assert_eq!(
            first_difference("r", &f.name, 4096, &data[4096..]),
            Some(5000)
        );
    }
}
