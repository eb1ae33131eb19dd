//! Block compression as Longhorn does it: `none`, `gzip` or `lz4` (frame format), with the
//! restore-side fallback that detects the real algorithm from the magic bytes.
//!
//! The fallback matters for a DR harness: backups written before a compression-method change (or
//! by a buggy uploader) declare one method and contain another; Longhorn still restores them, so
//! verification must too. Source: longhorn/backupstore `util/util.go CompressData`,
//! `DecompressAndVerifyWithFallback`.

use std::io::{Read, Write};

/// Magic bytes of a gzip member (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Magic number of an LZ4 frame, `0x184D2204` little-endian (LZ4 frame format spec).
const LZ4_MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];

/// Compression method of a backup's blocks, as written in `backup_<name>.cfg` and `volume.cfg`
/// (`CompressionMethod`). Serialized as `"none"`, `"gzip"`, `"lz4"`; reading accepts the Go
/// `json:",string"` double encoding (`"\"lz4\""`) and treats an empty string as `gzip`, the
/// legacy default (Longhorn v1.7+ `backupCompressionMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CompressionMethod {
    /// Blocks stored raw.
    None,
    /// gzip (Longhorn's default before lz4, and the meaning of an empty method).
    #[default]
    Gzip,
    /// LZ4 frame format.
    Lz4,
}

impl CompressionMethod {
    /// The name Longhorn writes: `"none"`, `"gzip"` or `"lz4"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Lz4 => "lz4",
        }
    }

    /// Parses a method name; `""` means gzip. Surrounding JSON quotes (the `json:",string"`
    /// encoding) are removed first.
    ///
    /// # Errors
    /// [`CompressError::UnknownMethod`] for any other name.
    pub fn parse(s: &str) -> Result<Self, CompressError> {
        let inner = s
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .unwrap_or(s);
        match inner {
            "" | "gzip" => Ok(Self::Gzip),
            "lz4" => Ok(Self::Lz4),
            "none" => Ok(Self::None),
            other => Err(CompressError::UnknownMethod {
                method: other.to_string(),
            }),
        }
    }
}

impl std::fmt::Display for CompressionMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for CompressionMethod {
    type Err = CompressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for CompressionMethod {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for CompressionMethod {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Option::<String>::deserialize(d)?.unwrap_or_default();
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Errors of block compression and decompression.
#[derive(Debug, thiserror::Error)]
pub enum CompressError {
    /// A method name Longhorn does not know.
    #[error("unknown compression method {method:?} (expected none, gzip or lz4)")]
    UnknownMethod {
        /// The name found.
        method: String,
    },
    /// Compressing failed (only I/O into memory, so practically never).
    #[error("{method} compression failed: {source}")]
    Compress {
        /// The method used.
        method: CompressionMethod,
        /// The encoder's error.
        #[source]
        source: std::io::Error,
    },
    /// The data matches neither the declared method nor the fallback.
    #[error(
        "block declared {declared} has neither gzip nor lz4 magic bytes (first bytes: {magic})"
    )]
    UnknownFormat {
        /// The method the cfg declared.
        declared: CompressionMethod,
        /// Hex of the first (up to four) bytes.
        magic: String,
    },
    /// Decoding failed after the method was chosen from the magic bytes.
    #[error("{used} decompression failed (declared {declared}, magic bytes {magic}): {source}")]
    Decompress {
        /// The method the cfg declared.
        declared: CompressionMethod,
        /// The method actually tried (may differ after the fallback).
        used: CompressionMethod,
        /// Hex of the first (up to four) bytes.
        magic: String,
        /// The decoder's error.
        #[source]
        source: std::io::Error,
    },
    /// The data decompresses to more than the caller's limit (a block can never exceed the
    /// block size).
    #[error("{used} data decompresses to more than {max_len} bytes (declared {declared})")]
    TooLarge {
        /// The method the cfg declared.
        declared: CompressionMethod,
        /// The method used.
        used: CompressionMethod,
        /// The limit in bytes.
        max_len: usize,
    },
}

/// Compresses one block with `method`.
///
/// # Errors
/// [`CompressError::Compress`] if the encoder fails.
pub fn compress(method: CompressionMethod, data: &[u8]) -> Result<Vec<u8>, CompressError> {
    let wrap = |source| CompressError::Compress { method, source };
    match method {
        CompressionMethod::None => Ok(data.to_vec()),
        CompressionMethod::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(data.len() / 2),
                flate2::Compression::default(),
            );
            enc.write_all(data).map_err(wrap)?;
            enc.finish().map_err(wrap)
        }
        CompressionMethod::Lz4 => {
            let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(data.len() / 2));
            enc.write_all(data).map_err(wrap)?;
            enc.finish().map_err(|e| wrap(std::io::Error::other(e)))
        }
    }
}

/// Decompresses one block declared as `declared`, returning at most `max_len` bytes.
///
/// Longhorn's fallback: when the magic bytes show the other algorithm (lz4 data declared gzip or
/// the reverse), that algorithm is used. `none` returns the data unchanged.
///
/// # Errors
/// [`CompressError::UnknownFormat`] when the magic bytes match neither algorithm,
/// [`CompressError::Decompress`] when decoding fails, [`CompressError::TooLarge`] when the output
/// would exceed `max_len` bytes.
pub fn decompress(
    declared: CompressionMethod,
    data: &[u8],
    max_len: usize,
) -> Result<Vec<u8>, CompressError> {
    let mut out = Vec::new();
    decompress_into(declared, data, max_len, &mut out)?;
    Ok(out)
}

/// [`decompress`] into `out` (cleared first; on success it holds exactly the plaintext), so a
/// caller checking block after block reuses one buffer: a fresh 2 MiB buffer per block costs
/// its page faults and zeroing again each time, more than lz4 decoding incompressible data.
///
/// # Errors
/// As [`decompress`]; `out`'s contents are unspecified after an error.
pub fn decompress_into(
    declared: CompressionMethod,
    data: &[u8],
    max_len: usize,
    out: &mut Vec<u8>,
) -> Result<(), CompressError> {
    let magic = hex::encode(&data[..data.len().min(4)]);
    let used = match declared {
        CompressionMethod::None => CompressionMethod::None,
        CompressionMethod::Gzip | CompressionMethod::Lz4 => {
            if data.starts_with(&GZIP_MAGIC) {
                CompressionMethod::Gzip
            } else if data.starts_with(&LZ4_MAGIC) {
                CompressionMethod::Lz4
            } else {
                return Err(CompressError::UnknownFormat { declared, magic });
            }
        }
    };
    if used != declared {
        tracing::debug!(%declared, %used, "block magic bytes differ from the declared compression");
    }
    let limit = (max_len as u64).saturating_add(1);
    out.clear();
    out.reserve(max_len.min(16 << 20));
    let read = match used {
        CompressionMethod::None => {
            out.extend_from_slice(data);
            Ok(data.len())
        }
        CompressionMethod::Gzip => flate2::read::GzDecoder::new(data)
            .take(limit)
            .read_to_end(out),
        CompressionMethod::Lz4 => lz4_flex::frame::FrameDecoder::new(data)
            .take(limit)
            .read_to_end(out),
    };
    read.map_err(|source| CompressError::Decompress {
        declared,
        used,
        magic,
        source,
    })?;
    if out.len() > max_len {
        return Err(CompressError::TooLarge {
            declared,
            used,
            max_len,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        (0..100_000u32)
            .map(|i| (i % 251) as u8 ^ (i / 7) as u8)
            .collect()
    }

    #[test]
    fn decompress_into_reuses_the_buffer_and_matches_decompress() {
        let data = sample();
        let mut buf = vec![0xAAu8; 3 * data.len()];
        for m in [
            CompressionMethod::None,
            CompressionMethod::Gzip,
            CompressionMethod::Lz4,
        ] {
            let c = compress(m, &data).expect("compress");
            decompress_into(m, &c, data.len(), &mut buf).expect("decompress_into");
            assert_eq!(
                buf, data,
                "{m}: leftovers of an earlier, longer content must be gone"
            );
            assert_eq!(buf, decompress(m, &c, data.len()).expect("decompress"));
        }
        let lz4 = compress(CompressionMethod::Lz4, &data).expect("lz4");
        assert!(matches!(
            decompress_into(CompressionMethod::Lz4, &lz4, data.len() - 1, &mut buf),
            Err(CompressError::TooLarge { .. })
        ));
    }

    #[test]
    fn round_trips_every_method() {
        let data = sample();
        for m in [
            CompressionMethod::None,
            CompressionMethod::Gzip,
            CompressionMethod::Lz4,
        ] {
            let c = compress(m, &data).expect("compress");
            assert_eq!(
                decompress(m, &c, data.len()).expect("decompress"),
                data,
                "{m}"
            );
        }
    }

    #[test]
    fn magic_bytes_are_the_real_formats() {
        let data = sample();
        assert!(compress(CompressionMethod::Gzip, &data)
            .expect("gzip")
            .starts_with(&GZIP_MAGIC));
        assert!(compress(CompressionMethod::Lz4, &data)
            .expect("lz4")
            .starts_with(&LZ4_MAGIC));
    }

    #[test]
    fn falls_back_to_the_other_algorithm() {
        let data = sample();
        let lz4 = compress(CompressionMethod::Lz4, &data).expect("lz4");
        assert_eq!(
            decompress(CompressionMethod::Gzip, &lz4, data.len()).expect("fallback to lz4"),
            data
        );
        let gz = compress(CompressionMethod::Gzip, &data).expect("gzip");
        assert_eq!(
            decompress(CompressionMethod::Lz4, &gz, data.len()).expect("fallback to gzip"),
            data
        );
    }

    #[test]
    fn garbage_names_declared_method_and_magic() {
        let err = decompress(CompressionMethod::Lz4, b"garbage!", 100).expect_err("garbage");
        let msg = err.to_string();
        assert!(msg.contains("lz4"), "{msg}");
        assert!(msg.contains(&hex::encode(b"garb")), "{msg}");
    }

    #[test]
    fn truncated_stream_is_a_decompress_error() {
        let data = sample();
        let gz = compress(CompressionMethod::Gzip, &data).expect("gzip");
        let err = decompress(CompressionMethod::Gzip, &gz[..gz.len() / 2], data.len())
            .expect_err("truncated");
        assert!(matches!(err, CompressError::Decompress { .. }), "{err}");
    }

    #[test]
    fn output_larger_than_limit_is_rejected() {
        let data = sample();
        let lz4 = compress(CompressionMethod::Lz4, &data).expect("lz4");
        let err = decompress(CompressionMethod::Lz4, &lz4, data.len() - 1).expect_err("too large");
        assert!(matches!(err, CompressError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn method_names_and_legacy_default() {
        assert_eq!(
            CompressionMethod::parse("").expect("empty"),
            CompressionMethod::Gzip
        );
        assert_eq!(
            CompressionMethod::parse("lz4").expect("lz4"),
            CompressionMethod::Lz4
        );
        assert_eq!(
            CompressionMethod::parse("\"none\"").expect("quoted"),
            CompressionMethod::None
        );
        assert!(CompressionMethod::parse("zstd").is_err());
        let json = serde_json::to_string(&CompressionMethod::Lz4).expect("ser");
        assert_eq!(json, "\"lz4\"");
        let m: CompressionMethod =
            serde_json::from_str("\"\\\"gzip\\\"\"").expect("double encoded");
        assert_eq!(m, CompressionMethod::Gzip);
        let m: CompressionMethod = serde_json::from_str("null").expect("null");
        assert_eq!(m, CompressionMethod::Gzip);
    }
}
