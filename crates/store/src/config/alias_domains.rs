//! Alias domains: the mail domains with their bounce, catchall and default-from local parts
//! ([`AliasDomain`], [`AliasDomainInput`]), their checks and their methods on [`Tx`].

use super::{ConfigTable, optional, required, sanitized_alias, unique};
use crate::{StoreError, Tx, now_ms, on};
use postern_model::AliasDomainId;
use postern_model::address::{is_dot_atom, sanitize_alias_name};
use serde::{Deserialize, Serialize};

/// A mail domain with its bounce, catchall and default-from local parts.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct AliasDomain {
    /// Id.
    #[sqlx(try_from = "i64")]
    pub id: AliasDomainId,
    /// The domain, lower-case dot-atom (`example.com`).
    pub name: String,
    /// Local part of the bounce address (Return-Path of everything sent).
    pub bounce_alias: String,
    /// Local part of the catchall address (Reply-To of records without alias).
    pub catchall_alias: String,
    /// Local part, or full address, of the default From.
    pub default_from: String,
    /// Order among domains (lowest first).
    pub sequence: i64,
    /// Whether mail from this domain goes out with a VERP return path
    /// (`bounce+<token>@domain`); off for relays that refuse a `+` in MAIL FROM.
    pub verp: bool,
    /// Creation time (epoch ms).
    pub created_at: i64,
}

impl AliasDomain {
    /// `bounce@domain`.
    pub fn bounce_email(&self) -> String {
        format!("{}@{}", self.bounce_alias, self.name)
    }
    /// `catchall@domain`.
    pub fn catchall_email(&self) -> String {
        format!("{}@{}", self.catchall_alias, self.name)
    }
    /// `default_from` when it is a full address, else `default_from@domain`.
    pub fn default_from_email(&self) -> String {
        if self.default_from.contains('@') {
            self.default_from.clone()
        } else {
            format!("{}@{}", self.default_from, self.name)
        }
    }
    /// The input that would produce this row (the base of a PATCH).
    pub fn to_input(&self) -> AliasDomainInput {
        AliasDomainInput {
            name: self.name.clone(),
            bounce_alias: Some(self.bounce_alias.clone()),
            catchall_alias: Some(self.catchall_alias.clone()),
            default_from: Some(self.default_from.clone()),
            sequence: Some(self.sequence),
            verp: Some(self.verp),
        }
    }
}

/// What is given to create or change an alias domain.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasDomainInput {
    /// The domain.
    pub name: String,
    /// Default `bounce`.
    #[serde(default)]
    pub bounce_alias: Option<String>,
    /// Default `catchall`.
    #[serde(default)]
    pub catchall_alias: Option<String>,
    /// Default `notifications`; may be a full address.
    #[serde(default)]
    pub default_from: Option<String>,
    /// Default 10.
    #[serde(default)]
    pub sequence: Option<i64>,
    /// VERP return paths (`bounce+<token>@domain`), default true.
    #[serde(default)]
    pub verp: Option<bool>,
}

struct AliasDomainRow {
    name: String,
    bounce_alias: String,
    catchall_alias: String,
    default_from: String,
    sequence: i64,
    verp: bool,
}

fn prepare_alias_domain(input: &AliasDomainInput) -> Result<AliasDomainRow, StoreError> {
    let name = required("name", &input.name)?.to_lowercase();
    if !is_dot_atom(&name) || !name.contains('.') && name != "localhost" {
        return Err(StoreError::invalid(
            "name",
            format!("`{name}` is not a domain name (dot-atom, no spaces, commas or accents)"),
        ));
    }
    let bounce_alias = sanitized_alias(
        "bounce_alias",
        input.bounce_alias.as_deref().unwrap_or("bounce"),
    )?;
    let catchall_alias = sanitized_alias(
        "catchall_alias",
        input.catchall_alias.as_deref().unwrap_or("catchall"),
    )?;
    if bounce_alias == catchall_alias {
        return Err(StoreError::invalid(
            "catchall_alias",
            format!(
                "`{catchall_alias}` is also the bounce alias: bounces and replies must not share an address"
            ),
        ));
    }
    let raw_from = input.default_from.as_deref().unwrap_or("notifications");
    let default_from = sanitize_alias_name(raw_from, true).ok_or_else(|| {
        StoreError::invalid(
            "default_from",
            format!("`{raw_from}` is empty once sanitised"),
        )
    })?;
    Ok(AliasDomainRow {
        name,
        bounce_alias,
        catchall_alias,
        default_from,
        sequence: input.sequence.unwrap_or(10),
        verp: input.verp.unwrap_or(true),
    })
}

const ALIAS_DOMAIN_SELECT: &str = "SELECT id, name, bounce_alias, catchall_alias, default_from, sequence, verp, created_at FROM alias_domains";

impl Tx {
    /// Every alias domain by (sequence, id).
    pub async fn alias_domains(&mut self) -> Result<Vec<AliasDomain>, StoreError> {
        let sql = format!("{ALIAS_DOMAIN_SELECT} ORDER BY sequence, id");
        Ok(on!(self, |c| sqlx::query_as::<_, AliasDomain>(
            sqlx::AssertSqlSafe(sql)
        )
        .fetch_all(c)
        .await)?)
    }

    /// The alias domain named `name` (case-insensitive), if any.
    pub async fn find_alias_domain(
        &mut self,
        name: &str,
    ) -> Result<Option<AliasDomainId>, StoreError> {
        let name = name.to_lowercase();
        self.find_id("SELECT id FROM alias_domains WHERE name = $1", &name)
            .await
    }

    /// The id of the alias domain named `name` (none when `name` is empty); an unknown name is an
    /// error on `field`.
    pub(super) async fn resolve_alias_domain(
        &mut self,
        field: &str,
        name: &Option<String>,
    ) -> Result<Option<AliasDomainId>, StoreError> {
        match optional(name) {
            None => Ok(None),
            Some(n) => match self.find_alias_domain(&n).await? {
                Some(id) => Ok(Some(id)),
                None => Err(StoreError::invalid(
                    field,
                    format!("no alias domain named `{n}`"),
                )),
            },
        }
    }

    async fn check_alias_domain(
        &mut self,
        row: &AliasDomainRow,
        id: Option<AliasDomainId>,
    ) -> Result<(), StoreError> {
        unique(
            self.find_alias_domain(&row.name).await?,
            id,
            "alias domain",
            &row.name,
        )?;
        let Some(id) = id else { return Ok(()) };
        for (field, local) in [
            ("bounce_alias", &row.bounce_alias),
            ("catchall_alias", &row.catchall_alias),
        ] {
            let clash: Option<i64> = on!(self, |c| sqlx::query_scalar(
                "SELECT id FROM aliases WHERE alias_domain_id = $1 AND alias_name = $2"
            )
            .bind(id.get())
            .bind(local)
            .fetch_optional(c)
            .await)?;
            if clash.is_some() {
                return Err(StoreError::invalid(
                    field,
                    format!("`{local}@{}` is already used by an alias", row.name),
                ));
            }
        }
        Ok(())
    }
}

impl ConfigTable for AliasDomain {
    type Input = AliasDomainInput;
    type Id = AliasDomainId;
    const WHAT: &str = "alias domain";
    const DELETE: &str = "DELETE FROM alias_domains WHERE id = $1";
    const SELECT: &str = ALIAS_DOMAIN_SELECT;
    const KEY: &str = "id";

    fn id(&self) -> AliasDomainId {
        self.id
    }

    async fn existing(
        tx: &mut Tx,
        input: &AliasDomainInput,
    ) -> Result<Option<AliasDomainId>, StoreError> {
        tx.find_alias_domain(&input.name).await
    }

    /// The first alias domain ever created is given to every company that has none (behaviour
    /// reference §1.1). Aliases without domain stay so: in Postern an alias without domain is a
    /// deliberate configuration (it matches on the local part only).
    async fn insert(tx: &mut Tx, input: &AliasDomainInput) -> Result<AliasDomainId, StoreError> {
        let row = prepare_alias_domain(input)?;
        tx.check_alias_domain(&row, None).await?;
        let id: i64 = on!(tx, |c| sqlx::query_scalar(
            "INSERT INTO alias_domains (name, bounce_alias, catchall_alias, default_from, sequence, created_at, verp) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"
        )
        .bind(&row.name)
        .bind(&row.bounce_alias)
        .bind(&row.catchall_alias)
        .bind(&row.default_from)
        .bind(row.sequence)
        .bind(now_ms())
        .bind(row.verp)
        .fetch_one(c)
        .await)
        .map_err(|e| StoreError::from_write(e, "alias domain"))?;
        let count: i64 = on!(tx, |c| sqlx::query_scalar(
            "SELECT COUNT(*) FROM alias_domains"
        )
        .fetch_one(c)
        .await)?;
        if count == 1 {
            on!(tx, |c| sqlx::query(
                "UPDATE companies SET alias_domain_id = $1 WHERE alias_domain_id IS NULL"
            )
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        }
        Ok(AliasDomainId(id))
    }

    async fn replace(
        tx: &mut Tx,
        before: &Self,
        input: &AliasDomainInput,
    ) -> Result<(), StoreError> {
        let row = prepare_alias_domain(input)?;
        tx.check_alias_domain(&row, Some(before.id)).await?;
        on!(tx, |c| sqlx::query(
            "UPDATE alias_domains SET name = $1, bounce_alias = $2, catchall_alias = $3, default_from = $4, \
             sequence = $5, verp = $7 WHERE id = $6"
        )
        .bind(&row.name)
        .bind(&row.bounce_alias)
        .bind(&row.catchall_alias)
        .bind(&row.default_from)
        .bind(row.sequence)
        .bind(before.id.get())
        .bind(row.verp)
        .execute(c)
        .await.map(|r| r.rows_affected()))
        .map_err(|e| StoreError::from_write(e, "alias domain"))?;
        Ok(())
    }

    /// Refused while aliases use it. Companies using it lose it.
    async fn remove(tx: &mut Tx, row: &Self) -> Result<(), StoreError> {
        let id = row.id;
        let used: i64 = on!(tx, |c| sqlx::query_scalar(
            "SELECT COUNT(*) FROM aliases WHERE alias_domain_id = $1"
        )
        .bind(id.get())
        .fetch_one(c)
        .await)?;
        if used > 0 {
            return Err(StoreError::Conflict(format!(
                "alias domain {id} is used by {used} alias(es): move or delete them first"
            )));
        }
        tx.delete_row(Self::DELETE, id.get(), Self::WHAT).await
    }
}
