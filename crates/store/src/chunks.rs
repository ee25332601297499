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
    fn the_head_is_at_most_one_chunk() {
        assert_eq!(split_head(b"abc"), (&b"abc"[..], &b""[..]));
        let big = vec![7u8; CHUNK * 2 + 5];
        let (head, rest) = split_head(&big);
        assert_eq!((head.len(), rest.len()), (CHUNK, CHUNK + 5));
        assert_eq!(rest.chunks(CHUNK).count(), 2);
    }
}
