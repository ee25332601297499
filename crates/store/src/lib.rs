//! The store: every table of Postern, on SQLite (the embedded default, WAL) or PostgreSQL (for
//! several nodes), behind one API.
//!
//! This is the only crate that holds SQL. Both backends run the same statements (written in the
//! common subset: `$1` placeholders, `RETURNING`, `ON CONFLICT`), dispatched by the [`on!`]
//! macro; the schema is written once per dialect in `migrations/{sqlite,postgres}` and the one
//! conformance suite (`tests/conformance.rs`) runs against both.
//!
//! Every operation is a method of [`Tx`], a transaction: a caller that must change several
//! things atomically (the gateway's `accept`) opens one with [`Store::begin`], calls what it
//! needs and commits. Validation that protects the data (alias names unique per domain, an alias
//! never named like its domain's bounce or catchall address, dot-atom domain names, sanitised
//! parameters) lives here, so that every way in (config file, HTTP API) gets the same answers.
//!
//! SQLite runs with one writer connection (writers are serialised anyway; one connection avoids
//! `SQLITE_BUSY` between our own tasks) and a pool of readers, `synchronous=FULL` so that a
//! commit is durable before anything is acknowledged. The gateway's group committer writes
//! through a second, direct connection of its own ([`DirectWriter`], module `direct`): the same
//! statements, without sqlx's thread hand-off per statement; SQLite's write lock serialises the
//! two (`BEGIN IMMEDIATE`, 10 s busy timeout).
#![warn(missing_docs)]

mod admin;
mod batch;
mod chunks;
mod config;
mod direct;
mod direct_rows;
mod error;
mod events;
mod fetch;
mod inbound;
mod new_rows;
mod oauth;
mod outage;
mod outbox;
mod read;
mod retention;
mod send_limits;
mod suppressions;
mod writer;

pub use admin::{Activity, AdminSession, AdminUser};
pub use chunks::{PACK_MAX, Packed, Packing, pack};
pub use config::*;
pub use direct::DirectWriter;
pub use error::StoreError;
pub use events::{
    DeliveryTry, DueDelivery, MAX_RESPONSE_KEPT, NextStep, WebhookAttempt, WebhookDelivery,
};
pub use fetch::*;
pub use inbound::*;
pub use new_rows::*;
pub use oauth::*;
pub use outage::Outage;
pub use outbox::*;
pub use read::*;
pub use retention::{PRUNED, PruneKind};
pub use send_limits::*;
pub use suppressions::*;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Postgres, Sqlite, Transaction};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Runs `$body` with `$c` bound to the connection of the transaction, whatever its backend.
/// The body is compiled once per backend, so it may only use what both support.
macro_rules! on {
    ($tx:expr, |$c:ident| $body:expr) => {
        match &mut $tx.inner {
            $crate::TxInner::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::TxInner::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::TxInner::Direct(t) => {
                // The same statements, on the committer's own connection (see `direct`).
                #[allow(unused_imports)]
                use $crate::direct as sqlx;
                let $c = t.conn();
                $body
            }
        }
    };
}
pub(crate) use on;

/// Which database a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

#[derive(Clone)]
enum Pools {
    Sqlite {
        write: SqlitePool,
        read: SqlitePool,
        path: std::path::PathBuf,
        turn: WriteTurn,
        /// Tests only: `begin` runs on this direct connection (see `with_direct_writes_for_tests`).
        direct: Option<DirectWriter>,
    },
    Postgres(PgPool),
}

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pools: Pools,
}

/// A transaction. Dropped without [`Tx::commit`], it rolls back.
pub struct Tx {
    pub(crate) inner: TxInner,
    /// SQLite, read-write: this process's turn to write (see [`WriteTurn`]), held until the
    /// transaction ends.
    pub(crate) _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    /// The active webhooks, once an event has been emitted in this transaction.
    pub(crate) subscriptions: Option<Vec<events::Subscription>>,
}

/// The order in which this process's writers take SQLite's write lock: first come, first
/// served. The gateway's committer and the other writers (API, delivery runner) use two
/// connections; without a queue of our own they would meet at SQLite's lock, which has none —
/// the loser polls, sleeping up to 100 ms between tries, and a busy committer, which begins its
/// next batch as soon as it commits, could keep the others waiting for seconds.
pub(crate) type WriteTurn = std::sync::Arc<tokio::sync::Mutex<()>>;

pub(crate) enum TxInner {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
    /// SQLite through the direct connection of the group committer.
    Direct(direct::DirectTx),
}

impl Store {
    /// Opens the database at `url`: `sqlite://PATH` (the file is created if missing) or
    /// `postgres://...`. Does not migrate; call [`Store::migrate`].
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        if url.starts_with("sqlite:") {
            Self::open_sqlite(url).await
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Self::open_postgres(url).await
        } else {
            Err(StoreError::Config(format!(
                "unsupported database URL `{}`: expected sqlite://PATH or postgres://...",
                redact_url(url)
            )))
        }
    }

    async fn open_sqlite(url: &str) -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("bad SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        // The WAL is checkpointed by SQLite itself, in the commit that crosses 1,000 pages. A
        // task of its own checkpointing every half second instead was tried and measured
        // slower (accept: 711 against 1,000–1,065 msg/s with one caller, same machine, same
        // hour): its checkpoints and fsyncs of the database file competed with the writer.
        let path = options.get_filename().to_owned();
        // Incremental vacuum (retention gives freed pages back): it takes effect on a new
        // database, whose first connection is this one; an older database keeps its mode
        // until a `VACUUM` (docs/operations: retention).
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                options
                    .clone()
                    .auto_vacuum(sqlx::sqlite::SqliteAutoVacuum::Incremental),
            )
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Store {
            pools: Pools::Sqlite {
                write,
                read,
                path,
                turn: WriteTurn::default(),
                direct: None,
            },
        })
    }

    async fn open_postgres(url: &str) -> Result<Store, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("bad PostgreSQL URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Store {
            pools: Pools::Postgres(pool),
        })
    }

    /// The backend this store runs on.
    pub fn backend(&self) -> Backend {
        match self.pools {
            Pools::Sqlite { .. } => Backend::Sqlite,
            Pools::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs `future` where the direct writer may block: on SQLite, on a thread of its own (see
    /// the `writer` module; the gateway's group committer runs there); on PostgreSQL, as a task
    /// of the current runtime.
    pub fn spawn_next_to_writer<F>(&self, future: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        match &self.pools {
            Pools::Sqlite { .. } => writer::spawn("postern-sqlite-writer", future),
            Pools::Postgres(_) => {
                tokio::spawn(future);
            }
        }
    }

    /// A connection of its own to the embedded database, for a writer that runs many
    /// statements in a row on a thread where it may block (the gateway's group committer; see
    /// the `direct` module). `None` on PostgreSQL, or when `POSTERN_SQLITE_DIRECT=0`.
    pub fn direct_writer(&self) -> Result<Option<DirectWriter>, StoreError> {
        match &self.pools {
            Pools::Sqlite { path, turn, .. }
                if std::env::var("POSTERN_SQLITE_DIRECT").map_or(true, |v| v != "0") =>
            {
                Ok(Some(DirectWriter::new(
                    direct::DirectConn::open(path)?,
                    path,
                    turn.clone(),
                )?))
            }
            _ => Ok(None),
        }
    }

    /// Tests only: the read-write transactions of the store returned run on a direct connection
    /// (the group committer's, see the `direct` module) — one at a time, blocking the caller's
    /// thread — so that the conformance suite checks every statement through it too.
    #[doc(hidden)]
    pub fn with_direct_writes_for_tests(mut self) -> Result<Store, StoreError> {
        let writer = self.direct_writer()?;
        if let Pools::Sqlite { direct, .. } = &mut self.pools {
            *direct = writer;
        }
        Ok(self)
    }

    /// Creates or upgrades the schema. Safe to run on every start and from several nodes.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pools {
            Pools::Sqlite { write, .. } => sqlx::migrate!("./migrations/sqlite").run(write).await?,
            Pools::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Begins a read-write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so that a transaction that reads then writes never fails to upgrade.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let inner = match &self.pools {
            Pools::Sqlite {
                direct: Some(d), ..
            } => return d.begin().await,
            Pools::Sqlite { write, turn, .. } => {
                let turn = turn.clone().lock_owned().await;
                let inner = TxInner::Sqlite(write.begin_with("BEGIN IMMEDIATE").await?);
                return Ok(Tx {
                    inner,
                    _turn: Some(turn),
                    subscriptions: None,
                });
            }
            Pools::Postgres(pool) => TxInner::Postgres(pool.begin().await?),
        };
        Ok(Tx {
            inner,
            _turn: None,
            subscriptions: None,
        })
    }

    /// Begins a transaction for reading only (on SQLite, on a reader connection that never
    /// waits for the writer).
    pub async fn read(&self) -> Result<Tx, StoreError> {
        let inner = match &self.pools {
            Pools::Sqlite { read, .. } => TxInner::Sqlite(read.begin().await?),
            Pools::Postgres(pool) => TxInner::Postgres(pool.begin().await?),
        };
        Ok(Tx {
            inner,
            _turn: None,
            subscriptions: None,
        })
    }

    /// Checks that the database answers (for `/healthz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut tx = self.read().await?;
        on!(tx, |c| sqlx::query("SELECT 1")
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Creates a PostgreSQL database named `name` (letters, digits, `_`) on this server; used by
    /// tests and by operators preparing a server. SQLite creates its file on open instead.
    pub async fn create_database_for_tests(&self, name: &str) -> Result<(), StoreError> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(StoreError::invalid("name", "letters, digits and `_` only"));
        }
        match &self.pools {
            Pools::Postgres(pool) => {
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(pool)
                    .await?;
                Ok(())
            }
            Pools::Sqlite { .. } => Err(StoreError::Config("not a PostgreSQL server".into())),
        }
    }

    /// Drops a database created by [`Store::create_database_for_tests`] (and its connections).
    pub async fn drop_database_for_tests(&self, name: &str) -> Result<(), StoreError> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(StoreError::invalid("name", "letters, digits and `_` only"));
        }
        if let Pools::Postgres(pool) = &self.pools {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
            )))
            .execute(pool)
            .await?;
        }
        Ok(())
    }

    /// Closes every connection; waits for those in use.
    pub async fn close(&self) {
        match &self.pools {
            Pools::Sqlite { write, read, .. } => {
                read.close().await;
                write.close().await;
            }
            Pools::Postgres(pool) => pool.close().await,
        }
    }
}

impl Tx {
    /// Whether it runs on PostgreSQL.
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self.inner, TxInner::Postgres(_))
    }

    /// Commits the transaction: when this returns `Ok`, the changes are durable.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Sqlite(t) => t.commit().await?,
            TxInner::Postgres(t) => t.commit().await?,
            TxInner::Direct(t) => t.commit()?,
        }
        Ok(())
    }

    /// Marks a point the transaction can roll back to without losing what came before (group
    /// commit runs several messages in one transaction, one savepoint each).
    pub async fn savepoint(&mut self) -> Result<(), StoreError> {
        on!(self, |c| sqlx::query("SAVEPOINT postern_item")
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Keeps what was done since [`Tx::savepoint`].
    pub async fn release_savepoint(&mut self) -> Result<(), StoreError> {
        on!(self, |c| sqlx::query("RELEASE SAVEPOINT postern_item")
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Undoes what was done since [`Tx::savepoint`], and forgets the savepoint.
    pub async fn rollback_to_savepoint(&mut self) -> Result<(), StoreError> {
        on!(self, |c| sqlx::query("ROLLBACK TO SAVEPOINT postern_item")
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        self.release_savepoint().await
    }

    /// Rolls the transaction back (dropping it does the same, later).
    pub async fn rollback(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Sqlite(t) => t.rollback().await?,
            TxInner::Postgres(t) => t.rollback().await?,
            TxInner::Direct(t) => t.rollback()?,
        }
        Ok(())
    }
}

/// The current time as Unix epoch milliseconds, the unit of every time column.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `bytes` random bytes from the system, as lower-case hex: the one source of the random parts of
/// tokens, Message-IDs, queue ids and node names. It fails loudly: without randomness (a system
/// without `getrandom(2)` or `/dev/urandom`) it panics, where a silent fallback would give
/// all-zero tokens and colliding ids.
pub fn random_hex(bytes: usize) -> String {
    random_bytes(bytes)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// The name a process holds leases under (`HOSTNAME-pid-random`): the fetcher's on incoming
/// servers, OAuth's on grants.
pub fn lease_owner() -> String {
    format!(
        "{}-{}-{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "node".into()),
        std::process::id(),
        random_hex(4)
    )
}

/// `n` random bytes from the system; panics without randomness (see [`random_hex`]).
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    if let Err(e) = getrandom::fill(&mut b) {
        panic!("the system gives no random bytes ({e}): Postern cannot make tokens or ids");
    }
    b
}

/// A random number in [0, 1) from [`random_hex`]'s source (retry jitter).
pub fn random_unit() -> f64 {
    let n = u32::from_str_radix(&random_hex(4), 16).unwrap_or(0);
    f64::from(n) / (f64::from(u32::MAX) + 1.0)
}

/// A database URL with its password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// One page of a list: the items and the cursor of the next page, if any.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Page<T> {
    /// The items of this page, by ascending id.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Where a list starts and how long it is.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// Items with an id greater than this one.
    pub after: i64,
    /// At most this many items (1 to 1000).
    pub limit: i64,
}

impl PageRequest {
    /// The largest page a caller may ask for.
    pub const MAX_LIMIT: i64 = 1000;

    /// Builds a page request from the API's `limit` and opaque `cursor`.
    pub fn parse(limit: Option<i64>, cursor: Option<&str>) -> Result<PageRequest, StoreError> {
        let limit = limit.unwrap_or(100);
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            return Err(StoreError::invalid(
                "limit",
                format!("must be between 1 and {}", Self::MAX_LIMIT),
            ));
        }
        let after = match cursor {
            None | Some("") => 0,
            Some(c) => c
                .parse::<i64>()
                .map_err(|_| StoreError::invalid("cursor", "not a cursor returned by this API"))?,
        };
        Ok(PageRequest { after, limit })
    }

    /// The first page of everything (for internal callers).
    pub fn all() -> PageRequest {
        PageRequest {
            after: 0,
            limit: i64::MAX,
        }
    }

    pub(crate) fn page<T, I: Into<i64>>(self, items: Vec<T>, id: impl Fn(&T) -> I) -> Page<T> {
        let next_cursor = match items.last() {
            Some(last) if items.len() as i64 == self.limit => Some(id(last).into().to_string()),
            _ => None,
        };
        Page { items, next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_hex_is_hex_of_the_length_asked_and_never_repeats() {
        let a = random_hex(12);
        assert_eq!(a.len(), 24);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, random_hex(12));
        assert_ne!(random_hex(8), "0".repeat(16));
        let u = random_unit();
        assert!((0.0..1.0).contains(&u));
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("sqlite://./x.db"), "sqlite://./x.db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn page_request_bounds() {
        assert!(PageRequest::parse(Some(0), None).is_err());
        assert!(PageRequest::parse(Some(1001), None).is_err());
        assert!(PageRequest::parse(None, Some("abc")).is_err());
        let p = PageRequest::parse(Some(2), Some("7")).unwrap();
        assert_eq!((p.after, p.limit), (7, 2));
    }
}
