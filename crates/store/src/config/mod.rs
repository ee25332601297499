//! The configuration tables: alias domains, companies, models, aliases, partners, outgoing and
//! incoming servers, webhooks and params. Each has a stored view (`Alias`), an input
//! (`AliasInput`, what the config file and the API give), its `list_*`, `get_*` and `find_*`
//! reads on [`Tx`], and a [`ConfigTable`] impl that gives it the generic `create`, `update`,
//! `delete` and `upsert`. Inputs name their references (`alias_domain = "example.com"`), as the
//! config file does; the store resolves them and answers with a clear error when they dangle.
//!
//! The rules of the behaviour reference (§1.1, §1.3) are enforced here, before writing, so that a
//! broken input is refused with the field at fault and nothing is half-written.
//!
//! One file a table; this one holds what they share: [`Change`], [`Json`], [`ConfigTable`] and
//! its verbs, the field checks (`required`, `optional`, `valid_email`, `port`, ...) and the two
//! statements most tables run alike (a row's id by name, the `DELETE` of a row by id).

use crate::{StoreError, Tx, on};
use postern_model::address::{email_normalize, is_dot_atom, sanitize_alias_name};
use postern_model::{OAuthProvider, OAuthSettings, Secret};
use serde::{Deserialize, Serialize};

/// What an upsert did: `postern apply` reports it per item, and a second apply of the same file
/// reports only `Unchanged`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// The row did not exist.
    Created,
    /// The row existed and some value changed.
    Updated,
    /// The row existed with the same values.
    Unchanged,
}

/// A JSON value stored as text (alias defaults, record values, lists).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Json(pub serde_json::Value);

impl TryFrom<String> for Json {
    type Error = serde_json::Error;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        serde_json::from_str(&s).map(Json)
    }
}

impl Json {
    fn text(&self) -> String {
        self.0.to_string()
    }
}

/// A row that every backend reads: sqlx's SQLite and PostgreSQL rows, and the direct
/// connection's.
pub trait StoredRow:
    for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
    + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
    + crate::direct::FromDirectRow
    + Send
    + Unpin
{
}

impl<T> StoredRow for T where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + crate::direct::FromDirectRow
        + Send
        + Unpin
{
}

/// One table of the configuration: what its rows need that the others' do not. The verbs are
/// written once, as the generic [`Tx::create`], [`Tx::update`], [`Tx::delete`] and
/// [`Tx::upsert`]: `tx.create::<Alias>(&input)`, `tx.upsert::<Partner>(&input)`.
pub trait ConfigTable: StoredRow + Sized + PartialEq + Send + Sync {
    /// What the config file and the API give.
    type Input: Sync;
    /// The row's id.
    type Id: Copy + Send + From<i64> + Into<i64>;
    /// What a row is called in errors (`"alias domain"`).
    const WHAT: &'static str;
    /// The `DELETE` of a row by id (`$1`).
    const DELETE: &'static str;
    /// The `SELECT ... FROM` of its rows, without `WHERE`.
    const SELECT: &'static str;
    /// The id column in [`Self::SELECT`] (`"a.id"`).
    const KEY: &'static str;

    /// The row's id.
    fn id(&self) -> Self::Id;
    /// Reads one row (not found: [`StoreError::NotFound`]).
    fn get(tx: &mut Tx, id: Self::Id) -> impl Future<Output = Result<Self, StoreError>> + Send {
        tx.get_row(id)
    }
    /// The row that an upsert of `input` updates (same name), if any.
    fn existing(
        tx: &mut Tx,
        input: &Self::Input,
    ) -> impl Future<Output = Result<Option<Self::Id>, StoreError>> + Send;
    /// Checks `input` and inserts it.
    fn insert(
        tx: &mut Tx,
        input: &Self::Input,
    ) -> impl Future<Output = Result<Self::Id, StoreError>> + Send;
    /// Checks `input` and writes it over `before`.
    fn replace(
        tx: &mut Tx,
        before: &Self,
        input: &Self::Input,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The row just inserted, as `create` answers it (a generated secret is shown this once).
    fn created(
        tx: &mut Tx,
        id: Self::Id,
        _input: &Self::Input,
    ) -> impl Future<Output = Result<Self, StoreError>> + Send {
        Self::get(tx, id)
    }
    /// Deletes `row`, or refuses while something still uses it.
    fn remove(tx: &mut Tx, row: &Self) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            tx.delete_row(Self::DELETE, row.id().into(), Self::WHAT)
                .await
        }
    }
    /// Whether `input` changes the row's write-only secret (invisible in the row itself), so
    /// that an upsert that changes only the secret still reports [`Change::Updated`].
    fn secret_changed(
        _tx: &mut Tx,
        _id: Self::Id,
        _input: &Self::Input,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async { Ok(false) }
    }
}

/// The [`ConfigTable`] of a table whose `write_*` method both inserts (`None`) and updates
/// (`Some(id)`): `config_table!(Row, Input, Id, "what", "table", SELECT, "key", write_row,
/// |tx, input| <the id of the row of the same name>)`, then optionally `secret "column" field`,
/// then `{ overrides }`.
macro_rules! config_table {
    ($row:ty, $input:ty, $id:ty, $what:literal, $table:literal, $select:expr, $key:literal, $write:ident,
     |$tx:ident, $in:ident| $existing:expr $(, secret $column:literal $field:ident)? $(, { $($extra:tt)* })?) => {
        impl $crate::config::ConfigTable for $row {
            type Input = $input;
            type Id = $id;
            const WHAT: &str = $what;
            const DELETE: &str = concat!("DELETE FROM ", $table, " WHERE id = $1");
            const SELECT: &str = $select;
            const KEY: &str = $key;

            fn id(&self) -> $id {
                self.id
            }

            async fn existing($tx: &mut Tx, $in: &$input) -> Result<Option<$id>, StoreError> {
                $existing
            }

            async fn insert(tx: &mut Tx, input: &$input) -> Result<$id, StoreError> {
                tx.$write(input, None).await
            }

            async fn replace(tx: &mut Tx, before: &Self, input: &$input) -> Result<(), StoreError> {
                tx.$write(input, Some(before.id)).await.map(drop)
            }

            $(
            async fn secret_changed(tx: &mut Tx, id: $id, input: &$input) -> Result<bool, StoreError> {
                let sql = concat!("SELECT ", $column, " FROM ", $table, " WHERE id = $1");
                tx.secret_differs(sql, id.get(), &input.$field).await
            }
            )?

            $($($extra)*)?
        }
    };
}

impl Tx {
    /// Creates a row of a configuration table.
    pub async fn create<T: ConfigTable>(&mut self, input: &T::Input) -> Result<T, StoreError> {
        let id = T::insert(self, input).await?;
        T::created(self, id, input).await
    }

    /// Replaces the values of a row of a configuration table (a write-only secret only when the
    /// input carries one).
    pub async fn update<T: ConfigTable>(
        &mut self,
        id: T::Id,
        input: &T::Input,
    ) -> Result<T, StoreError> {
        let before = T::get(self, id).await?;
        T::replace(self, &before, input).await?;
        T::get(self, id).await
    }

    /// Deletes a row of a configuration table.
    pub async fn delete<T: ConfigTable>(&mut self, id: T::Id) -> Result<(), StoreError> {
        let row = T::get(self, id).await?;
        T::remove(self, &row).await
    }

    /// Creates the row of `input`, or updates the one of the same name, and says which.
    pub async fn upsert<T: ConfigTable>(
        &mut self,
        input: &T::Input,
    ) -> Result<(T, Change), StoreError> {
        let Some(id) = T::existing(self, input).await? else {
            return Ok((self.create(input).await?, Change::Created));
        };
        let before = T::get(self, id).await?;
        let secret_changed = T::secret_changed(self, id, input).await?;
        T::replace(self, &before, input).await?;
        let after = T::get(self, id).await?;
        let change = if before == after && !secret_changed {
            Change::Unchanged
        } else {
            Change::Updated
        };
        Ok((after, change))
    }

    /// Whether `given` changes the secret that `sql` (`SELECT <secret> ... WHERE id = $1`)
    /// reads from row `id` ([`ConfigTable::secret_changed`] of the tables with one).
    async fn secret_differs(
        &mut self,
        sql: &'static str,
        id: i64,
        given: &Option<Secret>,
    ) -> Result<bool, StoreError> {
        let old: Option<String> = on!(self, |c| sqlx::query_scalar(sql)
            .bind(id)
            .fetch_one(c)
            .await)?;
        Ok(secret_update(given, old.clone()) != old)
    }
}

pub(crate) use config_table;

mod alias_domains;
mod aliases;
mod companies;
mod dkim_keys;
mod incoming_servers;
mod models;
mod outgoing_servers;
mod params;
mod partners;
mod webhooks;

pub use alias_domains::{AliasDomain, AliasDomainInput};
pub use aliases::{Alias, AliasInput};
pub use companies::{Company, CompanyInput};
pub use dkim_keys::{DKIM_KEYS_KEPT, DkimKey, DkimSigningKey, NewDkimKey};
pub use incoming_servers::{IncomingServer, IncomingServerInput, Interval, parse_duration_secs};
pub use models::{Model, ModelInput};
pub use outgoing_servers::{OutgoingServer, OutgoingServerInput};
pub use params::{PARAM_SUBJECT_TOKEN, Param, sanitize_param};
pub use partners::{Partner, PartnerInput};
pub use webhooks::{WEBHOOK_EVENTS, Webhook, WebhookInput};

/// A required one-line text: names, hosts, user names and URLs end up in headers, banners and
/// logs, where a line break (CR or LF) would start a line of its own.
fn required(field: &str, value: &str) -> Result<String, StoreError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(StoreError::invalid(field, "is required"));
    }
    crate::read::no_line_break(field, v)?;
    Ok(v.to_owned())
}

/// Refuses (409) a name that `found`, another row than `own`, already has.
fn unique<I: PartialEq>(
    found: Option<I>,
    own: Option<I>,
    what: &str,
    name: &str,
) -> Result<(), StoreError> {
    match found {
        Some(other) if Some(&other) != own.as_ref() => Err(StoreError::Conflict(format!(
            "{what} `{name}` already exists"
        ))),
        _ => Ok(()),
    }
}

fn optional(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn valid_email(field: &str, value: &Option<String>) -> Result<Option<String>, StoreError> {
    let value = optional(value);
    if let Some(v) = &value {
        crate::read::no_line_break(field, v)?;
    }
    match value {
        None => Ok(None),
        Some(v) if email_normalize(&v).is_some() => Ok(Some(v)),
        Some(v) => Err(StoreError::invalid(
            field,
            format!("`{v}` is not a single e-mail address"),
        )),
    }
}

fn sanitized_alias(field: &str, value: &str) -> Result<String, StoreError> {
    let name = sanitize_alias_name(value, false)
        .ok_or_else(|| StoreError::invalid(field, format!("`{value}` is empty once sanitised")))?;
    if !is_dot_atom(&name) {
        return Err(StoreError::invalid(
            field,
            format!("`{name}` (from `{value}`) is not a valid local part (dot-atom)"),
        ));
    }
    Ok(name)
}

fn port(field: &str, value: Option<i64>, default: i64) -> Result<i64, StoreError> {
    match value {
        None => Ok(default),
        Some(p) if (1..=65535).contains(&p) => Ok(p),
        Some(p) => Err(StoreError::invalid(
            field,
            format!("{p} is not a TCP port (1-65535)"),
        )),
    }
}

/// Replaces a stored secret only when the input carries one; an empty string clears it.
fn secret_update(new: &Option<Secret>, old: Option<String>) -> Option<String> {
    match new {
        None => old,
        Some(s) if s.expose().is_empty() => None,
        Some(s) => Some(s.expose().to_owned()),
    }
}

/// `auth = "oauth"` needs its `oauth` settings, and they must say which provider: a
/// `generic` one its issuer URL.
fn check_oauth(is_oauth: bool, oauth: &Option<OAuthSettings>) -> Result<(), StoreError> {
    let Some(s) = oauth else {
        return match is_oauth {
            true => Err(StoreError::invalid(
                "oauth",
                "`auth = \"oauth\"` needs an `oauth` table (provider, client_id, ...)",
            )),
            false => Ok(()),
        };
    };
    valid_env_name("oauth.client_secret_env", &s.client_secret_env)?;
    match (s.provider, optional(&s.issuer)) {
        (OAuthProvider::Generic, None) => Err(StoreError::invalid(
            "oauth.issuer",
            "a generic provider needs its issuer URL",
        )),
        (_, Some(i)) if !(i.starts_with("https://") || i.starts_with("http://")) => Err(
            StoreError::invalid("oauth.issuer", format!("`{i}` is not an http(s) URL")),
        ),
        _ => Ok(()),
    }
}

fn valid_env_name(field: &str, value: &Option<String>) -> Result<Option<String>, StoreError> {
    match optional(value) {
        None => Ok(None),
        Some(v)
            if v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !v.starts_with(|c: char| c.is_ascii_digit()) =>
        {
            Ok(Some(v))
        }
        Some(v) => Err(StoreError::invalid(
            field,
            format!("`{v}` is not an environment variable name"),
        )),
    }
}

fn valid_host(value: &str) -> Result<String, StoreError> {
    let host = required("host", value)?;
    if host
        .chars()
        .any(|c| c.is_whitespace() || c == '/' || c == '@')
    {
        return Err(StoreError::invalid(
            "host",
            format!("`{host}` is not a host name or address"),
        ));
    }
    Ok(host)
}

impl Tx {
    /// A page of the rows of a configuration table, by id.
    pub async fn list<T: ConfigTable>(
        &mut self,
        page: crate::PageRequest,
    ) -> Result<crate::Page<T>, StoreError> {
        let (select, key) = (T::SELECT, T::KEY);
        let sql = format!("{select} WHERE {key} > $1 ORDER BY {key} LIMIT $2");
        let rows = on!(self, |c| sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql))
            .bind(page.after)
            .bind(page.limit)
            .fetch_all(c)
            .await)?;
        Ok(page.page(rows, |r| r.id().into()))
    }

    /// One row of a configuration table.
    pub async fn get<T: ConfigTable>(&mut self, id: T::Id) -> Result<T, StoreError> {
        T::get(self, id).await
    }

    /// [`ConfigTable::get`]'s default: [`ConfigTable::SELECT`] by id.
    async fn get_row<T: ConfigTable>(&mut self, id: T::Id) -> Result<T, StoreError> {
        let id: i64 = id.into();
        let sql = format!("{} WHERE {} = $1", T::SELECT, T::KEY);
        on!(self, |c| sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(c)
            .await)?
        .ok_or_else(|| StoreError::not_found(T::WHAT, id))
    }

    /// Runs `sql`, the `SELECT id` of the row of one table whose unique name is `name`.
    async fn find_id<I: From<i64>>(
        &mut self,
        sql: &'static str,
        name: &str,
    ) -> Result<Option<I>, StoreError> {
        let id: Option<i64> = on!(self, |c| sqlx::query_scalar(sql)
            .bind(name.trim())
            .fetch_optional(c)
            .await)?;
        Ok(id.map(I::from))
    }

    /// The required `name` of a row of the table that `find` (its `SELECT id ... WHERE name = $1`)
    /// reads, refused (409) when another row than `own` has it.
    async fn unique_name<I: From<i64> + PartialEq>(
        &mut self,
        find: &'static str,
        what: &str,
        name: &str,
        own: Option<I>,
    ) -> Result<String, StoreError> {
        let name = required("name", name)?;
        unique(self.find_id(find, &name).await?, own, what, &name)?;
        Ok(name)
    }

    /// Runs `sql`, the `DELETE` of the row `id` of one table; a failure is reported as a write
    /// of `what` (the `delete_*` methods, once they have checked that the row exists).
    async fn delete_row(
        &mut self,
        sql: &'static str,
        id: i64,
        what: &str,
    ) -> Result<(), StoreError> {
        on!(self, |c| sqlx::query(sql)
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StoreError::from_write(e, what))?;
        Ok(())
    }
}
