//! The block-checking pipeline shared by deep ([`crate::deep`]) and incremental
//! ([`crate::incremental`]) verification: download, decompression, checksum and (for deep
//! verification) the image write of many blocks, overlapped.
//!
//! Two bounded stages run at once:
//! 1. **download**: `concurrency` block GETs in flight, each a spawned task so its body keeps
//!    streaming while the stage after it is busy (an unpolled future would stall its HTTP
//!    body). A finished download gives its GET slot to the next block at once and waits for a
//!    check worker without one: up to [`check_workers`] finished blocks wait, so the GETs in
//!    flight never drop below `concurrency` while checks run (with the slot held until the
//!    hand-over, the bench's block pass lost a fifth of its speed to idle slots);
//! 2. **check**: up to [`check_workers`] blocks (the cores, at most `concurrency`) decompressed,
//!    hashed and written, each on a thread of its own ([`on_own_thread`]), never on an async
//!    worker thread, so the CPU work of one block overlaps the downloads of the next ones.
//!
//! Memory is bounded: `concurrency + check_workers` stored blocks in the download stage plus
//! `check_workers` × (stored + plaintext block) in the check stage. Those buffers are reused
//! from block to block through two pools, which never hold more buffers than were in use at
//! once: a fresh 2 MiB allocation is returned to the kernel when freed, so each new one pays
//! its page faults and zeroing again — on the 2-core bench machine more than lz4 decoding the
//! block. Nothing waits for the disk: the image is scratch space read back through the page
//! cache by the same host (the file pass), so it is never fsync'd; its writeback starts as
//! each block is written ([`write_block`]).
//!
//! The check is Longhorn's: the plaintext's SHA-512, hex, first 64 characters, must equal the
//! block's name (longhorn/longhorn-engine@v1.9.1:vendor/github.com/longhorn/backupstore/
//! util/util.go `GetChecksum`, `DecompressAndVerify`), and it must be exactly one block size
//! long (`deltablock.go` `restoreBlockToFile`).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

use futures::stream::{self, Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::task::AbortOnDropHandle;

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

/// Blocks of one volume decompressed and hashed at once: the cores (CPU-bound work gains
/// nothing from more threads than cores), at most `concurrency`, at least 1.
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
    // GETs in flight; finished downloads waiting for a check worker hold none.
    let gets = Arc::new(Semaphore::new(concurrency));
    stream::iter(jobs)
        .map(move |job| {
            let store = store.clone();
            let vol = Arc::clone(&vol);
            let limiter = limiter.clone();
            let buffers = buffers.clone();
            let gets = Arc::clone(&gets);
            // Aborted when dropped: a verification that stops early (an image write failed,
            // the caller gave up) leaves no download running.
            AbortOnDropHandle::new(tokio::spawn(async move {
                let permit = match limiter {
                    Some(l) => Some(l.acquire_owned().await.expect("limiter never closed")),
                    None => None,
                };
                let get = gets.acquire_owned().await.expect("never closed");
                let got = store
                    .get_block_tagged_into(&vol, &job.checksum, buffers.take())
                    .await;
                drop(get);
                Fetched { job, got, permit }
            }))
        })
        .buffer_unordered(concurrency + workers)
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
                let checked = on_own_thread(move || {
                    let mut plain = plains.take();
                    let checked =
                        check_block(compression, &stored, &expected, block_size, &mut plain);
                    returns.give(stored);
                    let written = match checked {
                        Err(f) => Ok(Err(f)),
                        Ok(()) => image
                            .iter()
                            .flat_map(|file| offsets.iter().map(move |off| (file, *off)))
                            .try_for_each(|(file, off)| write_block(file, &plain, off))
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

/// Writes one verified block into the image at `offset` and starts its writeback at once
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`, which does not wait for the disk). The image
/// can be far larger than the kernel's dirty-page limit; left alone, its dirty pages pile up
/// until the kernel throttles the writers and flushes them in bursts, on the cores the
/// downloads need. Written back as they come, they stay clean in the page cache for the file
/// pass. Paired on the bench machine (4 GiB, 3 rounds alternating): block pass 0.81× → 0.82×
/// a plain GET, rounds 0.84/0.61/0.81 → 0.82/0.73/0.91, within this machine's noise; kept for
/// the bound on dirty pages, which the noise does not touch. Writeback that cannot start (not
/// supported by the filesystem) is not an error: the write itself succeeded.
fn write_block(file: &File, plain: &[u8], offset: u64) -> std::io::Result<()> {
    file.write_all_at(plain, offset)?;
    let (Ok(off), Ok(len)) = (i64::try_from(offset), i64::try_from(plain.len())) else {
        return Ok(());
    };
    // SAFETY: the fd is open for as long as `file` is borrowed; the call reads no memory of
    // ours.
    let _ =
        unsafe { libc::sync_file_range(file.as_raw_fd(), off, len, libc::SYNC_FILE_RANGE_WRITE) };
    Ok(())
}

/// Runs `work` on a new thread and waits for it without blocking the async runtime; `Err`
/// when the thread could not start or `work` panicked.
///
/// Not tokio's blocking pool, and not a pool of our own: the blocking pool also runs every
/// `tokio::fs` call of the process (the bench's in-process S3 server reads each object through
/// it 4 KiB at a time), and a thread started per block is placed by the kernel on the idlest
/// core. On the 2-core bench machine, in one run alternating the variants (7 rounds of a
/// 256 MiB volume, `deep_verify` bench), the block pass ran at a median 0.79× a plain GET on
/// threads of its own and at 0.57× on the blocking pool; in other runs a fixed pool of
/// `cores` threads (rayon's, or std threads on a channel) gave 0.67–0.84× and 0.68–0.70×.
/// Starting a thread costs tens of microseconds, against milliseconds of work per block.
async fn on_own_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("dr-block-check".to_string())
        .spawn(move || {
            // The receiver is gone only when the caller stopped waiting for this block.
            let _ = tx.send(work());
        })
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    // A panic drops the sender: the block is reported, the verification goes on.
    rx.await.map_err(|_| "the thread panicked".to_string())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A minimal S3 endpoint: answers every GET with the block named by the key's last path
    /// segment (`<checksum>.blk`) after `delay`, and records the most GETs it held at once.
    async fn slow_block_server(
        blocks: HashMap<String, Vec<u8>>,
        delay: Duration,
    ) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let blocks = Arc::new(blocks);
        let (now, max) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let max_seen = Arc::clone(&max);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (blocks, now, max) = (Arc::clone(&blocks), Arc::clone(&now), Arc::clone(&max));
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    // One request after another on a kept-alive connection (GETs have no body).
                    while socket.read_exact(&mut byte).await.is_ok() {
                        head.push(byte[0]);
                        if !head.ends_with(b"\r\n\r\n") {
                            continue;
                        }
                        let line = String::from_utf8_lossy(&head)
                            .lines()
                            .next()
                            .unwrap_or("")
                            .to_string();
                        head.clear();
                        let path = line
                            .split(' ')
                            .nth(1)
                            .unwrap_or("")
                            .split('?')
                            .next()
                            .unwrap_or("");
                        let name = path
                            .rsplit('/')
                            .next()
                            .unwrap_or("")
                            .trim_end_matches(".blk");
                        let held = now.fetch_add(1, Ordering::SeqCst) + 1;
                        max.fetch_max(held, Ordering::SeqCst);
                        tokio::time::sleep(delay).await;
                        now.fetch_sub(1, Ordering::SeqCst);
                        let body = blocks.get(name).cloned().unwrap_or_default();
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: \"e\"\r\n\r\n",
                            body.len()
                        );
                        if socket.write_all(head.as_bytes()).await.is_err()
                            || socket.write_all(&body).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        (endpoint, max_seen)
    }

    #[tokio::test]
    async fn never_more_gets_in_flight_than_the_concurrency_and_every_slot_used() {
        const BLOCK: u64 = 4096;
        let plain: Vec<Vec<u8>> = (0..12u8).map(|i| vec![i; BLOCK as usize]).collect();
        let blocks: HashMap<String, Vec<u8>> =
            plain.iter().map(|p| (checksum(p), p.clone())).collect();
        let (endpoint, max) = slow_block_server(blocks.clone(), Duration::from_millis(40)).await;
        let client =
            crate::client::s3_client(Some(&endpoint), "us-east-1", true, Some(("a", "b"))).await;
        let store = BackupStore::new(client, "bucket", "backupstore/");
        let jobs = blocks
            .keys()
            .enumerate()
            .map(|(i, cs)| Job {
                checksum: cs.clone(),
                offsets: vec![i as u64 * BLOCK],
                tag: (),
            })
            .collect();
        let settings = Settings {
            compression: CompressionMethod::None,
            block_size: BLOCK,
            concurrency: 3,
            limiter: None,
            image: None,
        };
        let outcomes: Vec<_> = check_blocks(&store, "pvc-1", settings, jobs)
            .collect()
            .await;
        assert_eq!(outcomes.len(), 12);
        for o in outcomes {
            let o = o.expect("no image to write");
            assert_eq!(o.verdict.as_ref().ok(), Some(&BLOCK), "{}", o.job.checksum);
        }
        assert_eq!(
            max.load(Ordering::SeqCst),
            3,
            "GETs held at once by the server"
        );
    }

    #[tokio::test]
    async fn a_panicking_check_is_an_error_not_a_hang() {
        assert_eq!(on_own_thread(|| 6 * 7).await, Ok(42));
        let err = on_own_thread(|| -> u8 { panic!("bad block") })
            .await
            .unwrap_err();
        assert_eq!(err, "the thread panicked");
    }
}
