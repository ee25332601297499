//! The group committer's own SQLite connection: SQLite called directly on the committer's thread
//! (with `rusqlite`), instead of through sqlx's connection worker.
//!
//! Why: sqlx gives each SQLite connection a thread of its own and hands every statement to it and
//! every result back: two context switches per statement. Accepting a message runs a dozen
//! statements, and on the 2-core virtual machines Postern is measured on a context switch costs
//! more than the statement: perf showed a third of `serve`'s CPU in `finish_task_switch` while
//! SMTP clients sent mail. The committer runs its batches on a thread of its own anyway
//! (`writer`), so it may as well block on SQLite there: no hand-off at all.
//!
//! How, without writing every statement twice: this module mirrors the small part of sqlx's query
//! API that the store uses (`query`, `query_scalar`, `query_as`, `bind`, `execute`, `fetch_*`,
//! `Row::try_get`), and the [`on!`](crate::on) macro compiles each statement's body a third time with
//! `sqlx` naming this module. The statements, their order and their transactions are the same on
//! both connections; the conformance suite runs on both (`Backend::Sqlite` with and without the
//! direct writer). sqlx's `FromRow` derives become the [`FromDirectRow`] impls of `direct_rows`.
//!
//! The connection is a second connection to the same file (WAL, `synchronous=FULL`, foreign keys,
//! the same busy timeout); SQLite serialises it with sqlx's writer by its write lock
//! (`BEGIN IMMEDIATE`).
//!
//! Kept only while the benchmark justifies it: re-measured on 2026-12-04 against sqlx in the same
//! run (`POSTERN_SQLITE_DIRECT=0 scripts/bench-smtp.sh`, BENCHMARKS.md), the SMTP listener
//! accepts 1.6–2.3× as many messages per second with it (1 KiB: 2,539 vs 1,088 msg/s).

use rusqlite::types::{Value, ValueRef};
use std::marker::PhantomData;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use sqlx::Error;

/// Mirror of `sqlx::AssertSqlSafe`: SQL built at run time from trusted pieces.
pub struct AssertSqlSafe<T>(pub T);

/// SQL text, static or built.
pub trait IntoSql {
    /// The text.
    fn into_sql(self) -> SqlText;
}

/// SQL text.
pub enum SqlText {
    /// Written in the source.
    Static(&'static str),
    /// Built at run time.
    Owned(String),
}

impl SqlText {
    fn as_str(&self) -> &str {
        match self {
            SqlText::Static(s) => s,
            SqlText::Owned(s) => s,
        }
    }
}

impl IntoSql for &'static str {
    fn into_sql(self) -> SqlText {
        SqlText::Static(self)
    }
}

impl IntoSql for AssertSqlSafe<String> {
    fn into_sql(self) -> SqlText {
        SqlText::Owned(self.0)
    }
}

impl IntoSql for AssertSqlSafe<&str> {
    fn into_sql(self) -> SqlText {
        SqlText::Owned(self.0.to_owned())
    }
}

/// A value that can be bound to a `$N` parameter, encoded as sqlx encodes it for SQLite.
pub trait IntoValue {
    /// The SQLite value.
    fn into_value(self) -> Value;
}

macro_rules! int_values {
    ($($t:ty),*) => {$(
        impl IntoValue for $t {
            fn into_value(self) -> Value {
                Value::Integer(self as i64)
            }
        }
        impl IntoValue for &$t {
            fn into_value(self) -> Value {
                Value::Integer(*self as i64)
            }
        }
    )*};
}
int_values!(i64, i32, i16, u8, u16, u32);

/// The ids of `postern_model` bind and decode as their integer (as their `sqlx::Type` does).
macro_rules! id_values {
    ($($t:ident),*) => {$(
        impl IntoValue for postern_model::$t {
            fn into_value(self) -> Value {
                Value::Integer(self.get())
            }
        }
        impl IntoValue for &postern_model::$t {
            fn into_value(self) -> Value {
                Value::Integer(self.get())
            }
        }
        impl FromValue for postern_model::$t {
            fn from_value(v: ValueRef<'_>) -> Option<Self> {
                i64::from_value(v).map(Self)
            }
        }
    )*};
}
id_values!(
    AliasDomainId,
    CompanyId,
    ModelId,
    AliasId,
    PartnerId,
    RecordId,
    MessageId,
    AttachmentId,
    NotificationId,
    MailId,
    OutgoingServerId,
    IncomingServerId,
    WebhookId,
    WebhookDeliveryId,
    RawMessageId,
    SuppressionId,
    DkimKeyId
);

impl IntoValue for bool {
    fn into_value(self) -> Value {
        Value::Integer(self as i64)
    }
}
impl IntoValue for &bool {
    fn into_value(self) -> Value {
        Value::Integer(*self as i64)
    }
}
impl IntoValue for f64 {
    fn into_value(self) -> Value {
        Value::Real(self)
    }
}
impl IntoValue for &str {
    fn into_value(self) -> Value {
        Value::Text(self.to_owned())
    }
}
impl IntoValue for String {
    fn into_value(self) -> Value {
        Value::Text(self)
    }
}
impl IntoValue for &String {
    fn into_value(self) -> Value {
        Value::Text(self.clone())
    }
}
impl IntoValue for &&str {
    fn into_value(self) -> Value {
        Value::Text((*self).to_owned())
    }
}
impl IntoValue for &[u8] {
    fn into_value(self) -> Value {
        Value::Blob(self.to_vec())
    }
}
impl IntoValue for Vec<u8> {
    fn into_value(self) -> Value {
        Value::Blob(self)
    }
}
impl IntoValue for &Vec<u8> {
    fn into_value(self) -> Value {
        Value::Blob(self.clone())
    }
}
impl<T: IntoValue> IntoValue for Option<T> {
    fn into_value(self) -> Value {
        self.map_or(Value::Null, IntoValue::into_value)
    }
}
impl<'a, T> IntoValue for &'a Option<T>
where
    &'a T: IntoValue,
{
    fn into_value(self) -> Value {
        self.as_ref().map_or(Value::Null, IntoValue::into_value)
    }
}

/// A column value decoded as sqlx decodes it from SQLite.
pub trait FromValue: Sized {
    /// Decodes; `None` when the value has another type.
    fn from_value(v: ValueRef<'_>) -> Option<Self>;
}

impl FromValue for i64 {
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        match v {
            ValueRef::Integer(i) => Some(i),
            _ => None,
        }
    }
}
impl FromValue for i32 {
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        i64::from_value(v).and_then(|i| i32::try_from(i).ok())
    }
}
impl FromValue for bool {
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        i64::from_value(v).map(|i| i != 0)
    }
}
impl FromValue for f64 {
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        match v {
            ValueRef::Real(f) => Some(f),
            ValueRef::Integer(i) => Some(i as f64),
            _ => None,
        }
    }
}
impl FromValue for String {
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        match v {
            ValueRef::Text(t) => String::from_utf8(t.to_vec()).ok(),
            _ => None,
        }
    }
}
impl FromValue for Vec<u8> {
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        match v {
            ValueRef::Blob(b) | ValueRef::Text(b) => Some(b.to_vec()),
            ValueRef::Null => None,
            _ => None,
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        match v {
            ValueRef::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// A row read from the direct connection.
pub struct Row {
    columns: Arc<Vec<String>>,
    values: Vec<Value>,
}

/// A column by position or by name.
pub trait ColumnIndex {
    /// The position in `row`.
    fn index(&self, row: &Row) -> Option<usize>;
    /// For errors.
    fn describe(&self) -> String;
}

impl ColumnIndex for usize {
    fn index(&self, row: &Row) -> Option<usize> {
        (*self < row.values.len()).then_some(*self)
    }
    fn describe(&self) -> String {
        self.to_string()
    }
}

impl ColumnIndex for &str {
    fn index(&self, row: &Row) -> Option<usize> {
        row.columns.iter().position(|c| c == self)
    }
    fn describe(&self) -> String {
        (*self).to_owned()
    }
}

impl Row {
    /// The value of a column (sqlx's `Row::try_get`).
    pub fn try_get<T: FromValue, I: ColumnIndex>(&self, index: I) -> Result<T, Error> {
        let i = index
            .index(self)
            .ok_or_else(|| Error::ColumnNotFound(index.describe()))?;
        let v: ValueRef<'_> = (&self.values[i]).into();
        T::from_value(v).ok_or_else(|| Error::ColumnDecode {
            index: index.describe(),
            source: format!("unexpected {:?}", v.data_type()).into(),
        })
    }

    /// A column decoded as `S` then converted (`#[sqlx(try_from = "S")]`).
    pub(crate) fn try_get_from<S, T>(&self, index: &str) -> Result<T, Error>
    where
        S: FromValue,
        T: TryFrom<S>,
        T::Error: std::fmt::Display,
    {
        let s: S = self.try_get(index)?;
        T::try_from(s).map_err(|e| Error::ColumnDecode {
            index: index.to_owned(),
            source: e.to_string().into(),
        })
    }
}

/// What `execute` returns.
pub struct Done {
    rows: u64,
}

impl Done {
    /// Rows changed.
    pub fn rows_affected(&self) -> u64 {
        self.rows
    }
}

/// A row type (sqlx's `FromRow`).
pub trait FromDirectRow: Sized {
    /// Decodes the row.
    fn from_row(row: &Row) -> Result<Self, Error>;
}

macro_rules! tuple_rows {
    ($(($($t:ident $i:tt),+)),*) => {$(
        impl<$($t: FromValue),+> FromDirectRow for ($($t,)+) {
            fn from_row(row: &Row) -> Result<Self, Error> {
                Ok(($(row.try_get::<$t, usize>($i)?,)+))
            }
        }
    )*};
}
tuple_rows!(
    (A 0),
    (A 0, B 1),
    (A 0, B 1, C 2),
    (A 0, B 1, C 2, D 3),
    (A 0, B 1, C 2, D 3, E 4),
    (A 0, B 1, C 2, D 3, E 4, F 5),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8)
);

/// The marker that `query_scalar::<_, T>` and `query_as::<_, T>` infer for their database.
pub struct Direct;

/// A statement with its arguments (sqlx's `Query`, `QueryScalar`, `QueryAs`); `K` says how its
/// rows are read.
pub struct Query<DB, K> {
    sql: SqlText,
    args: Vec<Value>,
    _kind: PhantomData<(DB, K)>,
}

/// Rows as they are (`query`; only `execute` is used).
pub struct Rows;
/// The first column, decoded as `O` (`query_scalar`).
pub struct Scalar<O>(PhantomData<O>);
/// Rows decoded as `O` (`query_as`).
pub struct As<O>(PhantomData<O>);

fn new_query<DB, K>(sql: impl IntoSql) -> Query<DB, K> {
    Query {
        sql: sql.into_sql(),
        args: Vec::new(),
        _kind: PhantomData,
    }
}

/// `sqlx::query`.
pub fn query(sql: impl IntoSql) -> Query<Direct, Rows> {
    new_query(sql)
}

/// `sqlx::query_scalar`.
pub fn query_scalar<DB, O>(sql: impl IntoSql) -> Query<DB, Scalar<O>> {
    new_query(sql)
}

/// `sqlx::query_as`.
pub fn query_as<DB, O>(sql: impl IntoSql) -> Query<DB, As<O>> {
    new_query(sql)
}

impl<K> Query<Direct, K> {
    /// Binds the next `$N`.
    pub fn bind<V: IntoValue>(mut self, value: V) -> Self {
        self.args.push(value.into_value());
        self
    }

    /// Runs the statement; the number of rows it changed.
    pub async fn execute(self, conn: &mut DirectConn) -> Result<Done, Error> {
        conn.run(self.sql.as_str(), &self.args, |_| Ok(()))?;
        Ok(Done {
            rows: conn.conn.changes(),
        })
    }

    fn rows<T>(
        self,
        conn: &mut DirectConn,
        first_only: bool,
        decode: impl Fn(Row) -> Result<T, Error>,
    ) -> Result<Vec<T>, Error> {
        let mut out = Vec::new();
        conn.run(self.sql.as_str(), &self.args, |row| {
            if !first_only || out.is_empty() {
                out.push(decode(row)?);
            }
            Ok(())
        })?;
        Ok(out)
    }
}

/// `fetch_all`, `fetch_optional`, `fetch_one` for one kind of query.
macro_rules! fetchers {
    ($kind:ty, $out:ty, $decode:expr $(, $g:ident: $bound:path)?) => {
        // All three, as sqlx has them, whichever a statement uses.
        #[allow(dead_code)]
        impl$(<$g: $bound>)? Query<Direct, $kind> {
            /// Every row.
            pub async fn fetch_all(self, conn: &mut DirectConn) -> Result<Vec<$out>, Error> {
                self.rows(conn, false, $decode)
            }

            /// The first row, if any.
            pub async fn fetch_optional(
                self,
                conn: &mut DirectConn,
            ) -> Result<Option<$out>, Error> {
                Ok(self.rows(conn, true, $decode)?.pop())
            }

            /// The first row; `RowNotFound` when there is none.
            pub async fn fetch_one(self, conn: &mut DirectConn) -> Result<$out, Error> {
                self.rows(conn, true, $decode)?.pop().ok_or(Error::RowNotFound)
            }
        }
    };
}
fetchers!(Scalar<O>, O, |r: Row| r.try_get(0usize), O: FromValue);
fetchers!(As<O>, O, |r: Row| O::from_row(&r), O: FromDirectRow);

/// The direct connection, owned by a transaction while one runs.
pub struct DirectConn {
    conn: rusqlite::Connection,
}

impl DirectConn {
    /// Opens `path` as sqlx opens the store's writer: WAL, `synchronous=FULL`, foreign keys,
    /// a 10 s busy timeout.
    pub(crate) fn open(path: &Path) -> Result<DirectConn, Error> {
        let conn = rusqlite::Connection::open(path).map_err(db_error)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(db_error)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )
        .map_err(db_error)?;
        conn.set_prepared_statement_cache_capacity(256);
        Ok(DirectConn { conn })
    }

    /// Runs a statement, giving each row to `each`.
    fn run(
        &mut self,
        sql: &str,
        args: &[Value],
        mut each: impl FnMut(Row) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(db_error)?;
        for (i, value) in args.iter().enumerate() {
            // The store writes `$1`, `$2`... (the subset both backends share).
            let name = format!("${}", i + 1);
            if let Some(index) = stmt.parameter_index(&name).map_err(db_error)? {
                stmt.raw_bind_parameter(index, value).map_err(db_error)?;
            }
        }
        let columns: Arc<Vec<String>> =
            Arc::new(stmt.column_names().into_iter().map(str::to_owned).collect());
        let width = columns.len();
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next().map_err(db_error)? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(row.get::<_, Value>(i).map_err(db_error)?);
            }
            each(Row {
                columns: columns.clone(),
                values,
            })?;
        }
        Ok(())
    }

    pub(crate) fn exec(&mut self, sql: &str) -> Result<(), Error> {
        self.conn.execute_batch(sql).map_err(db_error)
    }
}

/// The direct writer of a store: one connection, lent to one transaction at a time.
#[derive(Clone)]
pub struct DirectWriter {
    slot: Arc<Mutex<Slot>>,
    path: Arc<std::path::PathBuf>,
    turn: crate::WriteTurn,
    /// Dropped with the last clone: the checkpointer then checkpoints once more and stops.
    _checkpointer: Arc<std::sync::mpsc::Sender<()>>,
}

/// Where the direct connection is.
enum Slot {
    /// Waiting for the next transaction.
    Idle(DirectConn),
    /// Lent to a transaction.
    Lent,
    /// Closed because it could not be brought out of a transaction; the next `begin` opens a
    /// new one.
    Closed,
}

/// The WAL pages past which the committer's own commits checkpoint anyway (a backstop: the
/// checkpointer thread normally keeps the WAL far below it).
const AUTOCHECKPOINT: &str = "PRAGMA wal_autocheckpoint = 20000";
/// How often the checkpointer thread runs (100 ms measured the same).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(20);

impl DirectWriter {
    /// The direct writer on `conn`, with a checkpointer thread on a connection of its own to
    /// `path`.
    ///
    /// Why a checkpointer: with SQLite's automatic checkpoints, the commit that takes the WAL
    /// past 1,000 pages copies them into the database file itself, and the committer is the one
    /// serial step of accepting mail — perf showed `walCheckpoint` at a quarter of `serve`'s CPU
    /// with 100 KiB messages, all of it on the committer's thread. A `PASSIVE` checkpoint from
    /// another connection copies the same pages on another CPU, without blocking the committer
    /// nor any reader.
    pub(crate) fn new(
        mut conn: DirectConn,
        path: &Path,
        turn: crate::WriteTurn,
    ) -> Result<DirectWriter, Error> {
        conn.exec(AUTOCHECKPOINT)?;
        let checkpoints = DirectConn::open(path)?;
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("postern-sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpoints, rx))
            .map_err(Error::Io)?;
        Ok(DirectWriter {
            slot: Arc::new(Mutex::new(Slot::Idle(conn))),
            path: Arc::new(path.to_owned()),
            turn,
            _checkpointer: Arc::new(tx),
        })
    }

    /// Begins a read-write transaction (`BEGIN IMMEDIATE`) on the direct connection, in this
    /// process's turn (see `WriteTurn`).
    pub async fn begin(&self) -> Result<crate::Tx, crate::StoreError> {
        let turn = self.turn.clone().lock_owned().await;
        let slot = std::mem::replace(
            &mut *self.slot.lock().map_err(|_| {
                crate::StoreError::Unavailable("the direct writer is poisoned".into())
            })?,
            Slot::Lent,
        );
        let conn = match slot {
            Slot::Idle(conn) => conn,
            Slot::Lent => {
                return Err(crate::StoreError::Unavailable(
                    "the direct writer is in use by another transaction".into(),
                ));
            }
            Slot::Closed => match DirectConn::open(&self.path)
                .and_then(|mut c| c.exec(AUTOCHECKPOINT).map(|()| c))
            {
                Ok(conn) => {
                    tracing::info!("direct SQLite connection reopened");
                    conn
                }
                Err(e) => {
                    *self.slot.lock().map_err(|_| {
                        crate::StoreError::Unavailable("the direct writer is poisoned".into())
                    })? = Slot::Closed;
                    return Err(e.into());
                }
            },
        };
        // The transaction holds the connection before `BEGIN`, so that a `BEGIN` that fails
        // (the lock still taken after the busy timeout) gives it back to the writer on drop.
        let mut tx = DirectTx {
            conn: Some(conn),
            home: self.slot.clone(),
        };
        tx.conn().exec("BEGIN IMMEDIATE")?;
        Ok(crate::Tx {
            inner: crate::TxInner::Direct(tx),
            _turn: Some(turn),
            subscriptions: None,
        })
    }
}

fn checkpoint_loop(mut conn: DirectConn, stop: std::sync::mpsc::Receiver<()>) {
    // a full disk fails every checkpoint until there is room again: said once
    let outage = crate::Outage::new("the WAL checkpoint");
    loop {
        let stopping = matches!(
            stop.recv_timeout(CHECKPOINT_EVERY),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
        );
        match conn.exec("PRAGMA wal_checkpoint(PASSIVE)") {
            Ok(()) => outage.ok(),
            Err(e) => {
                outage.failed(&e);
            }
        }
        if stopping {
            return;
        }
    }
}

/// A transaction on the direct connection; dropped unfinished, it rolls back and gives the
/// connection back.
pub struct DirectTx {
    conn: Option<DirectConn>,
    home: Arc<Mutex<Slot>>,
}

impl DirectTx {
    /// The connection (for the statements of [`on!`](crate::on)).
    pub fn conn(&mut self) -> &mut DirectConn {
        self.conn
            .as_mut()
            .expect("a direct transaction holds its connection until it ends")
    }

    /// Commits (`COMMIT`: durable when it returns, `synchronous=FULL`).
    pub(crate) fn commit(mut self) -> Result<(), Error> {
        self.conn().exec("COMMIT")
    }

    /// Rolls back.
    pub(crate) fn rollback(mut self) -> Result<(), Error> {
        self.conn().exec("ROLLBACK")
    }
}

impl Drop for DirectTx {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            if !conn.conn.is_autocommit()
                && let Err(e) = conn.exec("ROLLBACK")
            {
                tracing::error!(error = %e, "ROLLBACK failed on the direct SQLite connection");
            }
            // A connection still in a transaction would make every later `BEGIN` fail: it is
            // closed instead (SQLite rolls back on close) and the next `begin` opens another.
            let next = if conn.conn.is_autocommit() {
                Slot::Idle(conn)
            } else {
                Slot::Closed
            };
            if let Ok(mut slot) = self.home.lock() {
                *slot = next;
            }
        }
    }
}

/// A database error of the direct connection, classified as sqlx classifies SQLite's.
#[derive(Debug)]
struct DirectDbError {
    message: String,
    code: Option<i32>,
}

impl std::fmt::Display for DirectDbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DirectDbError {}

impl sqlx::error::DatabaseError for DirectDbError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.code.map(|c| c.to_string().into())
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        use rusqlite::ffi;
        match self.code {
            Some(ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => {
                sqlx::error::ErrorKind::UniqueViolation
            }
            Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => sqlx::error::ErrorKind::ForeignKeyViolation,
            Some(ffi::SQLITE_CONSTRAINT_NOTNULL) => sqlx::error::ErrorKind::NotNullViolation,
            Some(ffi::SQLITE_CONSTRAINT_CHECK) => sqlx::error::ErrorKind::CheckViolation,
            _ => sqlx::error::ErrorKind::Other,
        }
    }
}

fn db_error(e: rusqlite::Error) -> Error {
    match e {
        rusqlite::Error::SqliteFailure(f, message) => Error::Database(Box::new(DirectDbError {
            message: message.unwrap_or_else(|| f.to_string()),
            code: Some(f.extended_code),
        })),
        e => Error::Database(Box::new(DirectDbError {
            message: e.to_string(),
            code: None,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection closed because it was stuck in a transaction is replaced at the next
    /// `begin`.
    #[tokio::test]
    async fn a_closed_connection_is_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = DirectConn::open(&path).unwrap();
        let writer = DirectWriter::new(conn, &path, crate::WriteTurn::default()).unwrap();
        *writer.slot.lock().unwrap() = Slot::Closed;
        let tx = writer.begin().await.unwrap();
        tx.commit().await.unwrap();
        assert!(matches!(*writer.slot.lock().unwrap(), Slot::Idle(_)));
        let _tx = writer.begin().await.unwrap();
        assert!(matches!(*writer.slot.lock().unwrap(), Slot::Lent));
    }
}
