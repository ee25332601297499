//! Large contents — raw messages and attachments — stored in pieces of [`CHUNK`] bytes: the
//! first in the owner's row, the others in a chunk table (`raw_message_chunks`,
//! `attachment_chunks`).
//!
//! Why: a database driver copies a bound value, and SQLite copies it again and builds the row
//! in memory, so one 25 MB blob costs some 75 MB for the time of its `INSERT`. In pieces, a
//! statement holds a megabyte or two whatever the size of the message, which is what lets the
//! SMTP listener bound its memory (issue 4: under 150 MB while ten sessions send 25 MB).

use crate::{StoreError, Tx, on};

/// Bytes per piece.
pub(crate) const CHUNK: usize = 1 << 20;

/// The largest raw original stored compressed: one piece, so that packing holds at most a
/// megabyte more in memory (the SMTP listener's budget, issue 4) and a packed original is
/// read back in one row.
pub const PACK_MAX: usize = CHUNK;

/// How a raw original is handed to [`Tx::insert_raw_message`](crate::Tx::insert_raw_message).
///
/// On SQLite a raw original of at most [`PACK_MAX`] bytes is stored as an LZ4 block when that
/// saves an eighth or more (`raw_messages.content_encoding = 'lz4'`): raw originals are half of
/// what an inbound message writes, they are read rarely (download, reprocessing), and text and
/// HTML mail shrinks to a third or less. PostgreSQL compresses large values itself (TOAST), so
/// there they are stored as received. Packing is CPU work: the group committer is handed
/// messages packed beforehand, by the tasks that received them, in parallel.
#[derive(Debug, Clone, Copy, Default)]
pub enum Packing<'a> {
    /// Not tried: the store packs it itself if it should.
    #[default]
    Later,
    /// Tried: store it as received.
    AsReceived,
    /// The content packed by [`pack`].
    Lz4(&'a Packed),
}

/// An LZ4 block of a raw original; only [`pack`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed(Vec<u8>);

impl Packed {
    /// The block's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The LZ4 block of `content` when it is worth storing instead (see [`Packing`]).
pub fn pack(content: &[u8]) -> Option<Packed> {
    if content.len() > PACK_MAX || content.len() < 256 {
        return None;
    }
    let packed = lz4_flex::block::compress(content);
    (packed.len() <= content.len() - content.len() / 8).then_some(Packed(packed))
}

/// The content of an LZ4 block that [`pack`] made of `size` bytes.
pub(crate) fn unpack(packed: &[u8], size: i64) -> Result<Vec<u8>, StoreError> {
    let size = usize::try_from(size)
        .ok()
        .filter(|s| *s <= PACK_MAX)
        .ok_or_else(|| StoreError::Corrupt(format!("raw message: packed size {size}")))?;
    let content = lz4_flex::block::decompress(packed, size)
        .map_err(|e| StoreError::Corrupt(format!("raw message: {e}")))?;
    if content.len() != size {
        return Err(StoreError::Corrupt(format!(
            "raw message: {} bytes unpacked, {size} expected",
            content.len()
        )));
    }
    Ok(content)
}

/// Whose content.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Owner {
    RawMessage,
    Attachment,
}

impl Owner {
    fn table(self) -> &'static str {
        match self {
            Owner::RawMessage => "raw_message_chunks",
            Owner::Attachment => "attachment_chunks",
        }
    }

    fn column(self) -> &'static str {
        match self {
            Owner::RawMessage => "raw_message_id",
            Owner::Attachment => "attachment_id",
        }
    }
}

/// The piece stored in the owner's row, and the rest.
pub(crate) fn split_head(content: &[u8]) -> (&[u8], &[u8]) {
    content.split_at(content.len().min(CHUNK))
}

impl Tx {
    /// Stores `rest` (what follows the head in the owner's row) in pieces numbered from 1.
    pub(crate) async fn insert_chunks(
        &mut self,
        owner: Owner,
        id: i64,
        rest: &[u8],
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO {} ({}, seq, data) VALUES ($1, $2, $3)",
            owner.table(),
            owner.column()
        );
        for (seq, piece) in rest.chunks(CHUNK).enumerate() {
            let seq = seq as i64 + 1;
            on!(self, |c| sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id)
                .bind(seq)
                .bind(piece)
                .execute(c)
                .await
                .map(|_| ()))?;
        }
        Ok(())
    }

    /// Appends the pieces after the head to `out`, one at a time (a piece is never held twice).
    pub(crate) async fn append_chunks(
        &mut self,
        owner: Owner,
        id: i64,
        out: &mut Vec<u8>,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "SELECT data FROM {} WHERE {} = $1 AND seq = $2",
            owner.table(),
            owner.column()
        );
        for seq in 1.. {
            let piece: Option<Vec<u8>> = on!(self, |c| sqlx::query_scalar(sqlx::AssertSqlSafe(
                sql.clone()
            ))
            .bind(id)
            .bind(seq as i64)
            .fetch_optional(c)
            .await)?;
            match piece {
                Some(piece) => out.extend_from_slice(&piece),
                None => break,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_gives_back_the_content() {
        let text = "Bonjour,\r\nla commande 42 est partie.\r\n".repeat(200);
        let packed = pack(text.as_bytes()).expect("text is worth packing");
        let packed = packed.as_bytes();
        assert!(packed.len() < text.len() / 4);
        assert_eq!(unpack(packed, text.len() as i64).unwrap(), text.as_bytes());
        assert!(unpack(packed, text.len() as i64 + 1).is_err());
        assert!(unpack(&packed[..packed.len() / 2], text.len() as i64).is_err());
    }

    #[test]
    fn what_does_not_shrink_is_not_packed() {
        // Bytes without repeats (an xorshift sequence), too small, too large.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert_eq!(pack(&noise), None);
        assert_eq!(pack(b"short"), None);
        assert_eq!(pack(&vec![b'a'; PACK_MAX + 1]), None);
        assert!(pack(&vec![b'a'; PACK_MAX]).is_some());
    }

    #[test]
    fn the_head_is_at_most_one_chunk() {
        assert_eq!(split_head(b"abc"), (&b"abc"[..], &b""[..]));
        let big = vec![7u8; CHUNK * 2 + 5];
        let (head, rest) = split_head(&big);
        assert_eq!((head.len(), rest.len()), (CHUNK, CHUNK + 5));
        assert_eq!(rest.chunks(CHUNK).count(), 2);
    }
}
