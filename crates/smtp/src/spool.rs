//! The data of one message while it arrives, and the memory budget of the messages being
//! processed.
//!
//! A session keeps at most [`SPILL`] bytes of a message in memory; past that, what it has is
//! appended to an unlinked temporary file (nothing to clean up after a crash), so that ten
//! sessions sending 25 MB messages hold a few hundred kilobytes, not 250 MB. The spool is not
//! durable and needs no fsync: nothing is acknowledged before `accept` has committed the
//! message to the store.
//!
//! Once complete, a message is read back whole (the parser needs it in one piece) — but only
//! within the [`Budget`]: the bytes of messages being processed at once are bounded, so large
//! messages are processed one after the other while small ones go through side by side.

use std::io;
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes of a message a session keeps in memory before it spills them to its file.
pub(crate) const SPILL: usize = 256 * 1024;

/// One message's data: the receivers append to [`Spool::buf`]; [`Spool::spill`] moves it to the
/// file when it has grown past [`SPILL`].
#[derive(Default)]
pub(crate) struct Spool {
    /// Bytes not written to the file yet.
    buf: Vec<u8>,
    /// Leading bytes of `buf` that are not part of the message (the CRLF a DATA receiver is
    /// primed with); dropped before anything is written or handed over.
    skip: usize,
    file: Option<tokio::fs::File>,
    /// Bytes in the file.
    spilled: usize,
}

impl Spool {
    /// A spool whose first `skip` bytes (appended by the caller right away) are not data.
    pub(crate) fn primed(buf: Vec<u8>, skip: usize) -> Spool {
        Spool {
            buf,
            skip,
            ..Spool::default()
        }
    }

    /// Where the receivers append.
    pub(crate) fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// The message's size so far.
    pub(crate) fn len(&self) -> usize {
        self.spilled + self.buf.len().saturating_sub(self.skip)
    }

    /// Writes what is in memory to the file (made in `dir` on first use) when it is over
    /// [`SPILL`].
    pub(crate) async fn spill(&mut self, dir: &Path) -> io::Result<()> {
        if self.buf.len() < SPILL + self.skip {
            return Ok(());
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let file = tempfile::tempfile_in(dir)?;
                self.file.insert(tokio::fs::File::from_std(file))
            }
        };
        file.write_all(&self.buf[self.skip..]).await?;
        self.spilled += self.buf.len() - self.skip;
        self.buf.clear();
        self.skip = 0;
        Ok(())
    }

    /// The whole message after `prefix`, in one buffer of exactly that size.
    pub(crate) async fn into_bytes(mut self, prefix: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(prefix.len() + self.len());
        out.extend_from_slice(prefix);
        if let Some(mut file) = self.file.take() {
            file.flush().await?;
            file.rewind().await?;
            (&mut file)
                .take(self.spilled as u64)
                .read_to_end(&mut out)
                .await?;
            if out.len() != prefix.len() + self.spilled {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the spool file is shorter than what was written to it",
                ));
            }
        }
        out.extend_from_slice(&self.buf[self.skip.min(self.buf.len())..]);
        Ok(out)
    }
}

/// The bytes of messages being processed at once, in KiB permits. A message takes as many as
/// it has KiB (at most the whole budget, so that one larger than it still goes, alone).
#[derive(Clone)]
pub(crate) struct Budget {
    permits: Arc<Semaphore>,
    total: u32,
}

impl Budget {
    pub(crate) fn new(bytes: usize) -> Budget {
        let total = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, Semaphore::MAX_PERMITS as u32);
        Budget {
            permits: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// Waits until a message of `size` bytes fits.
    pub(crate) async fn reserve(&self, size: usize) -> OwnedSemaphorePermit {
        let want = u32::try_from(size.div_ceil(1024).max(1))
            .unwrap_or(u32::MAX)
            .min(self.total);
        self.permits
            .clone()
            .acquire_many_owned(want)
            .await
            .expect("the budget's semaphore is never closed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_spilled_message_comes_back_whole_after_its_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::primed(b"\r\n".to_vec(), 2);
        let mut expected = Vec::new();
        for i in 0..3000u32 {
            let line = format!("line {i} {}\r\n", "x".repeat((i % 300) as usize));
            spool.buf().extend_from_slice(line.as_bytes());
            expected.extend_from_slice(line.as_bytes());
            spool.spill(dir.path()).await.unwrap();
        }
        assert!(spool.spilled > 0, "the test must make the spool spill");
        assert_eq!(spool.len(), expected.len());
        let bytes = spool.into_bytes(b"Received: x\r\n").await.unwrap();
        assert_eq!(&bytes[..13], b"Received: x\r\n");
        assert_eq!(&bytes[13..], &expected[..]);
        // Unlinked: nothing is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_small_message_stays_in_memory_without_its_primer() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::primed(b"\r\nSubject: hi\r\n\r\nbody\r\n".to_vec(), 2);
        spool.spill(dir.path()).await.unwrap();
        assert!(spool.file.is_none());
        assert_eq!(spool.len(), 21);
        assert_eq!(
            spool.into_bytes(b"").await.unwrap(),
            b"Subject: hi\r\n\r\nbody\r\n"
        );
    }

    #[tokio::test]
    async fn the_budget_lets_small_messages_through_together_and_large_ones_alone() {
        let budget = Budget::new(64 * 1024);
        let a = budget.reserve(1000).await;
        let b = budget.reserve(2000).await;
        // Larger than the whole budget: waits for the others, then goes alone.
        let big = budget.clone();
        let waiter = tokio::spawn(async move { big.reserve(100 * 1024).await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop((a, b));
        let permit = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("the large message gets the budget once the small ones are done")
            .unwrap();
        assert_eq!(permit.num_permits(), 64);
    }
}
