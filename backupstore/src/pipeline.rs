//! The block-checking pipeline shared by deep ([`crate::deep`]) and incremental
//! ([`crate::incremental`]) verification: download, decompression, checksum and (for deep
//! verification) the image write of many blocks, overlapped.
//!
//! Two bounded stages run at once:
//! 1. **download**: up to `concurrency` block GETs, each a spawned task so its body keeps
//!    streaming while the stage after it is busy (an unpolled future would stall its HTTP
//!    body); finished downloads wait in this stage, so it also bounds the stored bytes held;
//! 2. **check**: up to [`check_workers`] blocks (the cores, at most `concurrency`) decompressed,
//!    hashed and written on the blocking pool, never on an async worker thread, so the CPU work
//!    of one block overlaps the downloads of the next ones.
//!
//! Memory is bounded: `concurrency` stored blocks plus `check_workers` × (stored + plaintext
//! block). Those buffers are reused from block to block through two pools, which never hold
//! more buffers than were in use at once: a fresh 2 MiB allocation is returned to the kernel when freed, so
//! each new one pays its page faults and zeroing again — on the 2-core bench machine more than
//! lz4 decoding the block. Nothing waits for the disk: the image is scratch space read back through the page
//! cache by the same host (the file pass), so it is never fsync'd.
//!
//! The check is Longhorn's: the plaintext's SHA-512, hex, first 64 characters, must equal the
//! block's name (longhorn/longhorn-engine@v1.9.1:vendor/github.com/longhorn/backupstore/
//! util/util.go `GetChecksum`, `DecompressAndVerify`), and it must be exactly one block size
//! long (`deltablock.go` `restoreBlockToFile`).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::{self, Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinError, JoinHandle};

use crate::compress::{decompress_into, CompressionMethod};
use crate::deep::BlockFault;
use crate::layout::checksum;
use crate::store::{BackupStore, StoreError};

/// One distinct block to check: its checksum (= its name), every volume offset that uses it
/// (the image is written at each), and a caller's tag carried through to the [`Outcome`].
pub(crate) struct Job<T> {
    /// 64 lowercase hex characters (already validated by the caller).
    pub checksum: String,
    /// Byte offsets in the volume, each a multiple of the block size and inside the volume.
    pub offsets: Vec<u64>,
    /// Anything the caller needs back (why the block is checked).
    pub tag: T,
}

/// What became of one [`Job`].
pub(crate) struct Outcome<T> {
    /// The job, returned.
    pub job: Job<T>,
    /// Stored (compressed) bytes downloaded; 0 when the download failed.
    pub downloaded: u64,
    /// ETag of exactly the version downloaded, when the server sent one.
    pub etag: Option<String>,
    /// Plaintext length (= block size) when the block verified, or why it did not.
    pub verdict: Result<u64, BlockFault>,
}

/// How [`check_blocks`] runs.
pub(crate) struct Settings {
    /// Compression the cfg declares (Longhorn's magic-byte fallback applies).
    pub compression: CompressionMethod,
    /// Block size in bytes.
    pub block_size: u64,
    /// Downloads in flight or waiting for a check worker (at least 1).
    pub concurrency: usize,
    /// A bound shared with other volumes: each download holds one permit from before its
    /// request until its bytes are handed to a check worker.
    pub limiter: Option<Arc<Semaphore>>,
    /// Where verified plaintext is written at each of its offsets; `None` writes nothing.
    pub image: Option<Arc<File>>,
}

/// Blocks decompressed and hashed at once: the cores (CPU-bound work gains nothing from more
/// threads than cores), at most `concurrency`, at least 1.
pub(crate) fn check_workers(concurrency: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    cores.min(concurrency).max(1)
}

/// Decompresses `stored` (declared `compression`, with the fallback) into `plain` and checks it
/// against Longhorn's rules for block `expected`: the SHA-512/64 of the plaintext is the name,
/// and the plaintext is exactly `block_size` bytes.
///
/// # Errors
/// The [`BlockFault`] found: `Decompress`, `ChecksumMismatch` or `WrongLength`.
pub(crate) fn check_block(
    compression: CompressionMethod,
    stored: &[u8],
    expected: &str,
    block_size: u64,
    plain: &mut Vec<u8>,
) -> Result<(), BlockFault> {
    let max_len = usize::try_from(block_size).unwrap_or(usize::MAX);
    decompress_into(compression, stored, max_len, plain).map_err(|e| BlockFault::Decompress {
        message: e.to_string(),
    })?;
    let actual = checksum(plain);
    if actual != expected {
        return Err(BlockFault::ChecksumMismatch { actual });
    }
    if plain.len() as u64 != block_size {
        return Err(BlockFault::WrongLength {
            len: plain.len() as u64,
            block_size,
        });
    }
    Ok(())
}

/// Spare buffers (stored bytes, or plaintext), handed back once a block is checked.
#[derive(Clone, Default)]
struct Buffers(Arc<Mutex<Vec<Vec<u8>>>>);

impl Buffers {
    fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default()
    }

    fn give(&self, buf: Vec<u8>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(buf);
    }
}

/// A download's result: the stored bytes and the ETag of the version read, `None` when the
/// object is missing.
type Got = Result<Option<(Vec<u8>, Option<String>)>, StoreError>;

/// A finished download, still holding its limiter permit.
struct Fetched<T> {
    job: Job<T>,
    got: Got,
    permit: Option<OwnedSemaphorePermit>,
}

/// Checks every job of `jobs` (blocks of volume `vol`) through the two-stage pipeline of the
/// module docs; outcomes arrive in completion order, one per job.
///
/// A missing object, a failed download, a decompression failure, a checksum mismatch and a
/// wrong length are [`Outcome::verdict`]s, not errors: the caller reports them and goes on. A
/// check worker that panicked is reported as that block's `Fetch` fault.
///
/// # Errors
/// An item is `Err` only when the image cannot be written (the caller stops: the file pass
/// would read a wrong image).
pub(crate) fn check_blocks<T: Send + 'static>(
    store: &BackupStore,
    vol: &str,
    settings: Settings,
    jobs: Vec<Job<T>>,
) -> impl Stream<Item = std::io::Result<Outcome<T>>> + Send {
    let concurrency = settings.concurrency.max(1);
    let workers = check_workers(concurrency);
    let store = store.clone();
    let vol: Arc<str> = Arc::from(vol);
    let buffers = Buffers::default();
    let returns = buffers.clone();
    let plains = Buffers::default();
    let Settings {
        compression,
        block_size,
        limiter,
        image,
        ..
    } = settings;
    stream::iter(jobs)
        .map(move |job| {
            let store = store.clone();
            let vol = Arc::clone(&vol);
            let limiter = limiter.clone();
            let buffers = buffers.clone();
            AbortOnDrop(tokio::spawn(async move {
                let permit = match limiter {
                    Some(l) => Some(l.acquire_owned().await.expect("limiter never closed")),
                    None => None,
                };
                let got = store
                    .get_block_tagged_into(&vol, &job.checksum, buffers.take())
                    .await;
                Fetched { job, got, permit }
            }))
        })
        .buffer_unordered(concurrency)
        .map(move |joined| {
            let image = image.clone();
            let returns = returns.clone();
            let plains = plains.clone();
            async move {
                let fetched = match joined {
                    Ok(f) => f,
                    // A download task only ends without a result when it panicked.
                    Err(e) => return Err(std::io::Error::other(format!("download task: {e}"))),
                };
                let Fetched { job, got, permit } = fetched;
                let (stored, etag) = match got {
                    Ok(Some(x)) => x,
                    Ok(None) => return Ok(fault(job, BlockFault::Missing)),
                    Err(e) => {
                        let message = e.to_string();
                        return Ok(fault(job, BlockFault::Fetch { message }));
                    }
                };
                // Handed to a check worker: the shared bound now counts the next download.
                drop(permit);
                let downloaded = stored.len() as u64;
                let expected = job.checksum.clone();
                let offsets = job.offsets.clone();
                let checked = tokio::task::spawn_blocking(move || {
                    let mut plain = plains.take();
                    let checked =
                        check_block(compression, &stored, &expected, block_size, &mut plain);
                    returns.give(stored);
                    let written = match checked {
                        Err(f) => Ok(Err(f)),
                        Ok(()) => image
                            .iter()
                            .flat_map(|file| offsets.iter().map(move |off| (file, *off)))
                            .try_for_each(|(file, off)| file.write_all_at(&plain, off))
                            .map(|()| Ok(plain.len() as u64)),
                    };
                    plains.give(plain);
                    written
                })
                .await;
                let verdict = match checked {
                    Ok(Ok(v)) => v,
                    Ok(Err(io)) => return Err(io),
                    Err(e) => Err(BlockFault::Fetch {
                        message: format!("check worker failed: {e}"),
                    }),
                };
                Ok(Outcome {
                    job,
                    downloaded,
                    etag,
                    verdict,
                })
            }
        })
        .buffer_unordered(workers)
}

/// A spawned download that is aborted when dropped, so a verification that stops early (an
/// image write failed, the caller gave up) leaves no download running. (tokio-util's
/// `AbortOnDropHandle` does this too, but adding its `rt` feature here would rebuild the whole
/// HTTP stack for a ten-line type.)
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, JoinError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// The outcome of a block that was not downloaded.
fn fault<T>(job: Job<T>, fault: BlockFault) -> Outcome<T> {
    Outcome {
        job,
        downloaded: 0,
        etag: None,
        verdict: Err(fault),
    }
}
