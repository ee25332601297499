//! The errors of the store, classified the way callers need: is it the caller's fault (invalid
//! value, conflict, not found: 4xx, a permanent answer) or the database's (temporary: retry)?

use std::fmt;

/// An error of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A value breaks a rule; `field` names it (`alias_name`, `name`, ...).
    #[error("{field}: {message}")]
    Invalid {
        /// The field at fault.
        field: String,
        /// What is wrong with it, for a human.
        message: String,
    },
    /// The change clashes with existing data (a duplicate name, a row still in use).
    #[error("{0}")]
    Conflict(String),
    /// A message with this Message-ID is stored already: another writer stored the same message
    /// at the same moment (the unique index caught what the duplicate check could not see).
    #[error("message: a message with this Message-ID is stored already ({0})")]
    DuplicateMessage(String),
    /// No such row.
    #[error("{what} {id} not found")]
    NotFound {
        /// What was looked for (`alias`, `company`...).
        what: &'static str,
        /// Its id or name.
        id: String,
    },
    /// The data was there, and retention removed it (the bytes of an old raw original).
    #[error("{0}")]
    Gone(String),
    /// The database URL or options are wrong.
    #[error("database configuration: {0}")]
    Config(String),
    /// Stored data could not be read back (a bug or a hand-edited database).
    #[error("corrupt data in {0}")]
    Corrupt(String),
    /// The database failed for a batch this work was part of (the original error was logged).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database failed or did not answer.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be migrated.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// An `Invalid` error for `field`.
    pub fn invalid(field: impl Into<String>, message: impl fmt::Display) -> StoreError {
        StoreError::Invalid {
            field: field.into(),
            message: message.to_string(),
        }
    }

    /// A `NotFound` error.
    pub fn not_found(what: &'static str, id: impl fmt::Display) -> StoreError {
        StoreError::NotFound {
            what,
            id: id.to_string(),
        }
    }

    /// True when retrying later may succeed (the database failed, not the request). Anything
    /// not known to be the caller's fault is temporary.
    pub fn is_temporary(&self) -> bool {
        match self {
            StoreError::Database(e) => !is_constraint_violation(e),
            StoreError::Migrate(_) | StoreError::Unavailable(_) => true,
            _ => false,
        }
    }

    /// Turns a unique or foreign-key violation that slipped past the checks into a `Conflict`,
    /// so that a race between two writers answers like the check would have.
    pub(crate) fn from_write(e: sqlx::Error, what: &str) -> StoreError {
        if is_constraint_violation(&e) {
            let detail = e
                .as_database_error()
                .map(|d| d.message().to_owned())
                .unwrap_or_default();
            match (
                what,
                e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation()),
            ) {
                ("message", true) => StoreError::DuplicateMessage(detail),
                _ => StoreError::Conflict(format!("{what}: {detail}")),
            }
        } else {
            StoreError::Database(e)
        }
    }
}

fn is_constraint_violation(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| {
        d.is_unique_violation() || d.is_foreign_key_violation() || d.is_check_violation()
    })
}
