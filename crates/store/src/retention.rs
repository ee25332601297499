//! Retention: what Postern forgets, and when. Each kind of row that only grows has a param
//! giving the days it is kept (`0` keeps it for ever):
//!
//! | param | default | what goes |
//! |---|---|---|
//! | `postern.retention.raw_days` | 30 | the bytes of raw originals that were processed, ignored or retried (the row, its outcome and the messages stay) |
//! | `postern.retention.mail_days` | 30 | sent and cancelled mails, with their recipients (notifications stay) |
//! | `postern.retention.fetch_failure_days` | 30 | fetch failures last seen that long ago |
//! | `postern.retention.unprocessable_days` | 90 | raw messages that failed or were unprocessable, whole |
//!
//! Webhook deliveries have their own (`POSTERN_WEBHOOK_RETENTION_DAYS`, the sender's hourly
//! purge). Records and their threads are kept until the application deletes them
//! ([`Tx::delete_record`]). [`Tx::prune`] removes at most a batch of one kind per call, so
//! that the writer is never held for long: the caller loops, one transaction per batch.

use crate::{StoreError, Tx, on};
use postern_model::RecordId;
use serde::Serialize;

/// What retention removes, one kind at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PruneKind {
    /// The bytes of processed raw originals.
    RawContent,
    /// Sent and cancelled mails.
    Mails,
    /// Old fetch failures.
    FetchFailures,
    /// Failed and unprocessable raw messages.
    Unprocessable,
}

impl PruneKind {
    /// Every kind, in the order pruning takes them.
    pub const ALL: [PruneKind; 4] = [
        PruneKind::RawContent,
        PruneKind::Mails,
        PruneKind::FetchFailures,
        PruneKind::Unprocessable,
    ];

    /// Its param.
    pub fn param(self) -> &'static str {
        match self {
            PruneKind::RawContent => "postern.retention.raw_days",
            PruneKind::Mails => "postern.retention.mail_days",
            PruneKind::FetchFailures => "postern.retention.fetch_failure_days",
            PruneKind::Unprocessable => "postern.retention.unprocessable_days",
        }
    }

    /// Its default, in days.
    pub fn default_days(self) -> i64 {
        match self {
            PruneKind::Unprocessable => 90,
            _ => 30,
        }
    }

    /// Its name, as printed (`raw_content`).
    pub fn name(self) -> &'static str {
        match self {
            PruneKind::RawContent => "raw_content",
            PruneKind::Mails => "mails",
            PruneKind::FetchFailures => "fetch_failures",
            PruneKind::Unprocessable => "unprocessable",
        }
    }

    /// The rows due (`$1`: the cutoff, epoch ms), as `SELECT id ...`; fetch failures, keyed
    /// by two columns, by their rowid-free key in [`Tx::prune`].
    fn due(self) -> &'static str {
        match self {
            PruneKind::RawContent => {
                "SELECT id FROM raw_messages WHERE received_at < $1 \
                 AND status IN ('processed', 'ignored', 'retried') \
                 AND (content_encoding IS NULL OR content_encoding <> 'pruned')"
            }
            PruneKind::Mails => {
                "SELECT id FROM mails WHERE state IN ('sent', 'cancel') \
                 AND COALESCE(sent_at, created_at) < $1"
            }
            PruneKind::FetchFailures => {
                "SELECT server_id FROM fetch_failures WHERE last_failed_at < $1"
            }
            PruneKind::Unprocessable => {
                "SELECT id FROM raw_messages WHERE received_at < $1 \
                 AND status IN ('failed', 'unprocessable')"
            }
        }
    }
}

/// The encoding of a raw original whose bytes retention removed.
pub const PRUNED: &str = "pruned";

impl Tx {
    /// The cutoff of `kind` (epoch ms) by its param at `now_ms`; `None` when it is kept for
    /// ever (`0`).
    pub async fn prune_cutoff(
        &mut self,
        kind: PruneKind,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let days = match self.get_param(kind.param()).await? {
            Some(v) => v.trim().parse::<i64>().unwrap_or(kind.default_days()),
            None => kind.default_days(),
        };
        Ok((days > 0).then(|| now_ms - days * 86_400_000))
    }

    /// How many rows of `kind` are due at `cutoff`.
    pub async fn prune_due(&mut self, kind: PruneKind, cutoff: i64) -> Result<i64, StoreError> {
        let sql = format!("SELECT COUNT(*) FROM ({}) due", kind.due());
        Ok(on!(self, |c| sqlx::query_scalar(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(cutoff)
        .fetch_one(c)
        .await)?)
    }

    /// Removes at most `limit` rows of `kind` due at `cutoff`; how many.
    pub async fn prune(
        &mut self,
        kind: PruneKind,
        cutoff: i64,
        limit: i64,
    ) -> Result<u64, StoreError> {
        let batch = format!("{} ORDER BY 1 LIMIT $2", kind.due());
        let statements: Vec<String> = match kind {
            PruneKind::RawContent => vec![
                format!("DELETE FROM raw_message_chunks WHERE raw_message_id IN ({batch})"),
                format!(
                    "UPDATE raw_messages SET content = $3, content_encoding = '{PRUNED}' \
                     WHERE id IN ({batch})"
                ),
            ],
            PruneKind::Mails => vec![format!("DELETE FROM mails WHERE id IN ({batch})")],
            // Few rows, keyed by two columns: by the cutoff alone.
            PruneKind::FetchFailures => {
                vec!["DELETE FROM fetch_failures WHERE last_failed_at < $1 AND $2 > 0".into()]
            }
            PruneKind::Unprocessable => {
                vec![format!("DELETE FROM raw_messages WHERE id IN ({batch})")]
            }
        };
        let mut affected = 0;
        for sql in &statements {
            let needs_empty = sql.contains("$3");
            affected = on!(self, |c| {
                let q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(cutoff)
                    .bind(limit);
                let q = match needs_empty {
                    true => q.bind(Vec::<u8>::new()),
                    false => q,
                };
                q.execute(c).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(affected)
    }

    /// Deletes a record with its thread: its messages, their attachments, notifications and
    /// partners, its followers, and the raw originals that no message of another record
    /// holds. Mails that notified its messages stay (their message is unset).
    pub async fn delete_record(&mut self, id: RecordId) -> Result<(), StoreError> {
        self.get_record(id).await?;
        on!(self, |c| sqlx::query(
            "DELETE FROM raw_messages WHERE id IN \
             (SELECT raw_message_id FROM messages WHERE record_id = $1) \
             AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.raw_message_id = raw_messages.id \
             AND (m.record_id IS NULL OR m.record_id <> $1))"
        )
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        on!(self, |c| sqlx::query("DELETE FROM records WHERE id = $1")
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }
}

/// Rows removed (or due, in a dry run) of each kind, by one pass of [`Store::prune_all`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// Kind, and how many.
    pub removed: Vec<(PruneKind, u64)>,
    /// Pages given back to the file system (SQLite with incremental vacuum).
    pub vacuumed_pages: u64,
}

impl PruneReport {
    /// Rows in all.
    pub fn total(&self) -> u64 {
        self.removed.iter().map(|(_, n)| n).sum()
    }
}

impl crate::Store {
    /// One pass of retention at `now_ms`: every kind in batches of `batch` rows, one
    /// transaction each, so that the writer is never held for long; then, on SQLite, the freed
    /// pages are given back (incremental vacuum, on databases created with it). With `dry_run`,
    /// only counts what is due.
    pub async fn prune_all(
        &self,
        now_ms: i64,
        batch: i64,
        dry_run: bool,
    ) -> Result<PruneReport, StoreError> {
        let mut report = PruneReport::default();
        for kind in PruneKind::ALL {
            let mut tx = self.read().await?;
            let cutoff = tx.prune_cutoff(kind, now_ms).await?;
            let due = match cutoff {
                Some(c) if dry_run => tx.prune_due(kind, c).await? as u64,
                _ => 0,
            };
            tx.rollback().await?;
            let (Some(cutoff), false) = (cutoff, dry_run) else {
                report.removed.push((kind, due));
                continue;
            };
            let mut removed = 0;
            loop {
                let mut tx = self.begin().await?;
                let n = tx.prune(kind, cutoff, batch).await?;
                tx.commit().await?;
                removed += n;
                if n < batch as u64 || kind == PruneKind::FetchFailures {
                    break;
                }
                tokio::task::yield_now().await;
            }
            report.removed.push((kind, removed));
        }
        if !dry_run && report.total() > 0 {
            report.vacuumed_pages = self.incremental_vacuum().await?;
        }
        Ok(report)
    }

    /// SQLite: gives the free pages back to the file system when the database was created
    /// with `auto_vacuum = INCREMENTAL` (every database Postern creates); how many.
    async fn incremental_vacuum(&self) -> Result<u64, StoreError> {
        if self.backend() != crate::Backend::Sqlite {
            return Ok(0);
        }
        let mut tx = self.begin().await?;
        let (mode, free): (i64, i64) = on!(tx, |c| {
            let mode: i64 = sqlx::query_scalar("PRAGMA auto_vacuum")
                .fetch_one(&mut *c)
                .await?;
            let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
                .fetch_one(&mut *c)
                .await?;
            Ok::<_, sqlx::Error>((mode, free))
        })?;
        if mode != 2 || free == 0 {
            tx.rollback().await?;
            return Ok(0);
        }
        on!(tx, |c| sqlx::query("PRAGMA incremental_vacuum")
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        tx.commit().await?;
        Ok(free as u64)
    }
}
