//! Alias domains: the mail domains with their bounce, catchall and default-from local parts
//! ([`AliasDomain`], [`AliasDomainInput`]), their checks and their methods on [`Tx`].

use super::{Change, optional, required, sanitized_alias};
use crate::{PageRequest, StoreError, Tx, now_ms, on};
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
}

struct AliasDomainRow {
    name: String,
    bounce_alias: String,
    catchall_alias: String,
    default_from: String,
    sequence: i64,
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
    })
}

impl Tx {
    /// Alias domains by id (the API's order; [`Tx::alias_domains`] gives them by sequence).
    pub async fn list_alias_domains(
        &mut self,
        page: PageRequest,
    ) -> Result<crate::Page<AliasDomain>, StoreError> {
        let rows = on!(self, |c| sqlx::query_as::<_, AliasDomain>(
            "SELECT id, name, bounce_alias, catchall_alias, default_from, sequence, created_at \
             FROM alias_domains WHERE id > $1 ORDER BY id LIMIT $2"
        )
        .bind(page.after)
        .bind(page.limit)
        .fetch_all(c)
        .await)?;
        Ok(page.page(rows, |d| d.id.get()))
    }

    /// Every alias domain by (sequence, id).
    pub async fn alias_domains(&mut self) -> Result<Vec<AliasDomain>, StoreError> {
        Ok(on!(self, |c| sqlx::query_as::<_, AliasDomain>(
            "SELECT id, name, bounce_alias, catchall_alias, default_from, sequence, created_at \
             FROM alias_domains ORDER BY sequence, id"
        )
        .fetch_all(c)
        .await)?)
    }

    /// One alias domain.
    pub async fn get_alias_domain(&mut self, id: AliasDomainId) -> Result<AliasDomain, StoreError> {
        on!(self, |c| sqlx::query_as::<_, AliasDomain>(
            "SELECT id, name, bounce_alias, catchall_alias, default_from, sequence, created_at \
             FROM alias_domains WHERE id = $1"
        )
        .bind(id.get())
        .fetch_optional(c)
        .await)?
        .ok_or_else(|| StoreError::not_found("alias domain", id))
    }

    /// The alias domain named `name` (case-insensitive), if any.
    pub async fn find_alias_domain(
        &mut self,
        name: &str,
    ) -> Result<Option<AliasDomainId>, StoreError> {
        let id = self
            .find_id(
                "SELECT id FROM alias_domains WHERE name = $1",
                &name.trim().to_lowercase(),
            )
            .await?;
        Ok(id.map(AliasDomainId))
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
        if let Some(other) = self.find_alias_domain(&row.name).await?
            && Some(other) != id
        {
            return Err(StoreError::Conflict(format!(
                "alias domain `{}` already exists",
                row.name
            )));
        }
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

    /// Creates an alias domain. The first one ever created is given to every company that has
    /// none (behaviour reference §1.1). Aliases without domain stay so: in Postern an alias
    /// without domain is a deliberate configuration (it matches on the local part only).
    pub async fn create_alias_domain(
        &mut self,
        input: &AliasDomainInput,
    ) -> Result<AliasDomain, StoreError> {
        let row = prepare_alias_domain(input)?;
        self.check_alias_domain(&row, None).await?;
        let id: i64 = on!(self, |c| sqlx::query_scalar(
            "INSERT INTO alias_domains (name, bounce_alias, catchall_alias, default_from, sequence, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"
        )
        .bind(&row.name)
        .bind(&row.bounce_alias)
        .bind(&row.catchall_alias)
        .bind(&row.default_from)
        .bind(row.sequence)
        .bind(now_ms())
        .fetch_one(c)
        .await)
        .map_err(|e| StoreError::from_write(e, "alias domain"))?;
        let count: i64 = on!(self, |c| sqlx::query_scalar(
            "SELECT COUNT(*) FROM alias_domains"
        )
        .fetch_one(c)
        .await)?;
        if count == 1 {
            on!(self, |c| sqlx::query(
                "UPDATE companies SET alias_domain_id = $1 WHERE alias_domain_id IS NULL"
            )
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        }
        self.get_alias_domain(AliasDomainId(id)).await
    }

    /// Replaces the values of an alias domain.
    pub async fn update_alias_domain(
        &mut self,
        id: AliasDomainId,
        input: &AliasDomainInput,
    ) -> Result<AliasDomain, StoreError> {
        self.get_alias_domain(id).await?;
        let row = prepare_alias_domain(input)?;
        self.check_alias_domain(&row, Some(id)).await?;
        on!(self, |c| sqlx::query(
            "UPDATE alias_domains SET name = $1, bounce_alias = $2, catchall_alias = $3, default_from = $4, \
             sequence = $5 WHERE id = $6"
        )
        .bind(&row.name)
        .bind(&row.bounce_alias)
        .bind(&row.catchall_alias)
        .bind(&row.default_from)
        .bind(row.sequence)
        .bind(id.get())
        .execute(c)
        .await.map(|r| r.rows_affected()))
        .map_err(|e| StoreError::from_write(e, "alias domain"))?;
        self.get_alias_domain(id).await
    }

    /// Deletes an alias domain; refused while aliases use it. Companies using it lose it.
    pub async fn delete_alias_domain(&mut self, id: AliasDomainId) -> Result<(), StoreError> {
        self.get_alias_domain(id).await?;
        let used: i64 = on!(self, |c| sqlx::query_scalar(
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
        self.delete_row(
            "DELETE FROM alias_domains WHERE id = $1",
            id.get(),
            "alias domain",
        )
        .await
    }

    /// Creates or updates the alias domain of the same name.
    pub async fn upsert_alias_domain(
        &mut self,
        input: &AliasDomainInput,
    ) -> Result<(AliasDomain, Change), StoreError> {
        let existing = self.find_alias_domain(&input.name).await?;
        upsert!(
            self,
            existing,
            input,
            create_alias_domain,
            update_alias_domain,
            get_alias_domain
        )
    }
}
