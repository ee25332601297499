//! The configuration tables: alias domains, companies, models, aliases, partners, outgoing and
//! incoming servers, webhooks and params. Each has a stored view (`Alias`), an input
//! (`AliasInput`, what the config file and the API give) and `list/get/create/update/delete/upsert`
//! methods on [`Tx`]. Inputs name their references (`alias_domain = "example.com"`), as the
//! config file does; the store resolves them and answers with a clear error when they dangle.
//!
//! The rules of the behaviour reference (§1.1, §1.3) are enforced here, before writing, so that a
//! broken input is refused with the field at fault and nothing is half-written.

use crate::{PageRequest, StoreError, Tx, now_ms, on};
use postern_model::address::{
    email_normalize, email_normalize_first, email_split, is_dot_atom, sanitize_alias_name,
    sanitize_catchall_domain_allowed,
};
use postern_model::{
    AliasContact, AliasDomainId, AliasId, AliasStatus, CompanyId, Encryption, FetchAuth,
    FetchProtocol, IncomingServerId, ModelId, NotificationPreference, OutgoingServerId, PartnerId,
    Secret, WebhookId,
};
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

/// Runs an upsert: update the row found by `existing`, or create it, and say which. With a
/// `$secret` table and column, a changed secret (invisible in the view) also counts as a change.
macro_rules! upsert {
    ($tx:expr, $existing:expr, $input:expr, $create:ident, $update:ident, $get:ident) => {
        upsert!(
            $tx,
            $existing,
            $input,
            $create,
            $update,
            $get,
            None::<(&'static str, &Option<Secret>)>
        )
    };
    ($tx:expr, $existing:expr, $input:expr, $create:ident, $update:ident, $get:ident, $secret:expr) => {{
        match $existing {
            None => Ok(($tx.$create($input).await?, Change::Created)),
            Some(id) => {
                let before = $tx.$get(id).await?;
                let secret_changed = match $secret {
                    Some((query, given)) => {
                        let old: Option<String> = on!($tx, |c| sqlx::query_scalar(query)
                            .bind(id.get())
                            .fetch_one(c)
                            .await)?;
                        secret_update(given, old.clone()) != old
                    }
                    None => false,
                };
                let after = $tx.$update(id, $input).await?;
                let change = if before == after && !secret_changed {
                    Change::Unchanged
                } else {
                    Change::Updated
                };
                Ok((after, change))
            }
        }
    }};
}

fn required(field: &str, value: &str) -> Result<String, StoreError> {
    let v = value.trim();
    if v.is_empty() {
        Err(StoreError::invalid(field, "is required"))
    } else {
        Ok(v.to_owned())
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
    match optional(value) {
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

// ---------------------------------------------------------------------------------------------
// Alias domains

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
        let id: Option<i64> = on!(self, |c| sqlx::query_scalar(
            "SELECT id FROM alias_domains WHERE name = $1"
        )
        .bind(name.trim().to_lowercase())
        .fetch_optional(c)
        .await)?;
        Ok(id.map(AliasDomainId))
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
        on!(self, |c| sqlx::query(
            "DELETE FROM alias_domains WHERE id = $1"
        )
        .bind(id.get())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| StoreError::from_write(e, "alias domain"))?;
        Ok(())
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

// ---------------------------------------------------------------------------------------------
// Companies

/// A company: owns an alias domain, whose addresses the mail of its records uses.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Company {
    /// Id.
    #[sqlx(try_from = "i64")]
    pub id: CompanyId,
    /// Unique name.
    pub name: String,
    /// Contact address of the company.
    pub email: Option<String>,
    /// Name of its alias domain.
    pub alias_domain: Option<String>,
    /// Id of its alias domain.
    pub alias_domain_id: Option<i64>,
    /// Creation time (epoch ms).
    pub created_at: i64,
}

impl Company {
    /// The input that would produce this row.
    pub fn to_input(&self) -> CompanyInput {
        CompanyInput {
            name: self.name.clone(),
            email: self.email.clone(),
            // `""` says "no alias domain" explicitly; `None` would mean "the default one".
            alias_domain: Some(self.alias_domain.clone().unwrap_or_default()),
        }
    }
}

/// What is given to create or change a company.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyInput {
    /// Unique name.
    pub name: String,
    /// Contact address.
    #[serde(default)]
    pub email: Option<String>,
    /// Name of its alias domain; absent or `null`: the first by sequence; `""`: none.
    #[serde(default)]
    pub alias_domain: Option<String>,
}

impl Tx {
    /// Companies by id.
    pub async fn list_companies(
        &mut self,
        page: PageRequest,
    ) -> Result<crate::Page<Company>, StoreError> {
        let rows = on!(self, |c| {
            sqlx::query_as::<_, Company>(
            "SELECT c.id, c.name, c.email, d.name AS alias_domain, c.alias_domain_id, c.created_at \
             FROM companies c LEFT JOIN alias_domains d ON d.id = c.alias_domain_id \
             WHERE c.id > $1 ORDER BY c.id LIMIT $2"
        )
        .bind(page.after)
        .bind(page.limit)
        .fetch_all(c)
        .await
        })?;
        Ok(page.page(rows, |r| r.id.get()))
    }

    /// One company.
    pub async fn get_company(&mut self, id: CompanyId) -> Result<Company, StoreError> {
        on!(self, |c| sqlx::query_as::<_, Company>(
            "SELECT c.id, c.name, c.email, d.name AS alias_domain, c.alias_domain_id, c.created_at \
             FROM companies c LEFT JOIN alias_domains d ON d.id = c.alias_domain_id WHERE c.id = $1"
        )
        .bind(id.get())
        .fetch_optional(c)
        .await)?
        .ok_or_else(|| StoreError::not_found("company", id))
    }

    /// The company named `name`, if any.
    pub async fn find_company(&mut self, name: &str) -> Result<Option<CompanyId>, StoreError> {
        let id: Option<i64> = on!(self, |c| sqlx::query_scalar(
            "SELECT id FROM companies WHERE name = $1"
        )
        .bind(name.trim())
        .fetch_optional(c)
        .await)?;
        Ok(id.map(CompanyId))
    }

    /// The gateway's own company: the first one (lowest id).
    pub async fn first_company(&mut self) -> Result<Option<Company>, StoreError> {
        let id: Option<i64> = on!(self, |c| sqlx::query_scalar(
            "SELECT MIN(id) FROM companies"
        )
        .fetch_one(c)
        .await)?;
        match id {
            Some(id) => Ok(Some(self.get_company(CompanyId(id)).await?)),
            None => Ok(None),
        }
    }

    async fn resolve_alias_domain(
        &mut self,
        field: &str,
        name: &Option<String>,
    ) -> Result<Option<i64>, StoreError> {
        match optional(name) {
            None => Ok(None),
            Some(n) => match self.find_alias_domain(&n).await? {
                Some(id) => Ok(Some(id.get())),
                None => Err(StoreError::invalid(
                    field,
                    format!("no alias domain named `{n}`"),
                )),
            },
        }
    }

    async fn prepare_company(
        &mut self,
        input: &CompanyInput,
        id: Option<CompanyId>,
    ) -> Result<(String, Option<String>, Option<i64>), StoreError> {
        let name = required("name", &input.name)?;
        if let Some(other) = self.find_company(&name).await?
            && Some(other) != id
        {
            return Err(StoreError::Conflict(format!(
                "company `{name}` already exists"
            )));
        }
        let email = valid_email("email", &input.email)?;
        let domain = match self
            .resolve_alias_domain("alias_domain", &input.alias_domain)
            .await?
        {
            Some(d) => Some(d),
            None if input.alias_domain.is_none() => {
                self.alias_domains().await?.first().map(|d| d.id.get())
            }
            None => None,
        };
        Ok((name, email, domain))
    }

    /// Creates a company; without `alias_domain` it gets the first alias domain.
    pub async fn create_company(&mut self, input: &CompanyInput) -> Result<Company, StoreError> {
        let (name, email, domain) = self.prepare_company(input, None).await?;
        let id: i64 = on!(self, |c| sqlx::query_scalar(
            "INSERT INTO companies (name, email, alias_domain_id, created_at) VALUES ($1, $2, $3, $4) RETURNING id"
        )
        .bind(&name)
        .bind(&email)
        .bind(domain)
        .bind(now_ms())
        .fetch_one(c)
        .await)
        .map_err(|e| StoreError::from_write(e, "company"))?;
        self.get_company(CompanyId(id)).await
    }

    /// Replaces the values of a company.
    pub async fn update_company(
        &mut self,
        id: CompanyId,
        input: &CompanyInput,
    ) -> Result<Company, StoreError> {
        self.get_company(id).await?;
        let (name, email, domain) = self.prepare_company(input, Some(id)).await?;
        on!(self, |c| sqlx::query(
            "UPDATE companies SET name = $1, email = $2, alias_domain_id = $3 WHERE id = $4"
        )
        .bind(&name)
        .bind(&email)
        .bind(domain)
        .bind(id.get())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| StoreError::from_write(e, "company"))?;
        self.get_company(id).await
    }

    /// Deletes a company (its records and partners keep existing, without company).
    pub async fn delete_company(&mut self, id: CompanyId) -> Result<(), StoreError> {
        self.get_company(id).await?;
        on!(self, |c| sqlx::query("DELETE FROM companies WHERE id = $1")
            .bind(id.get())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StoreError::from_write(e, "company"))?;
        Ok(())
    }

    /// Creates or updates the company of the same name.
    pub async fn upsert_company(
        &mut self,
        input: &CompanyInput,
    ) -> Result<(Company, Change), StoreError> {
        let existing = self.find_company(&input.name).await?;
        upsert!(
            self,
            existing,
            input,
            create_company,
            update_company,
            get_company
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Models

/// A kind of record (`crm.lead`).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Model {
    /// Id.
    #[sqlx(try_from = "i64")]
    pub id: ModelId,
    /// Technical name, e.g. `helpdesk.ticket`.
    pub name: String,
    /// What it is, for humans.
    pub description: Option<String>,
    /// Creation time (epoch ms).
    pub created_at: i64,
}

impl Model {
    /// The input that would produce this row.
    pub fn to_input(&self) -> ModelInput {
        ModelInput {
            name: self.name.clone(),
            description: self.description.clone(),
        }
    }
}

/// What is given to declare a model.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelInput {
    /// Technical name: lower-case words separated by dots or underscores.
    pub name: String,
    /// What it is.
    #[serde(default)]
    pub description: Option<String>,
}

fn valid_model_name(field: &str, name: &str) -> Result<String, StoreError> {
    let name = required(field, name)?;
    let ok = name.len() <= 128
        && name.split('.').all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        });
    if ok {
        Ok(name)
    } else {
        Err(StoreError::invalid(
            field,
            format!(
                "`{name}` is not a model name (lower-case words separated by dots, e.g. `crm.lead`)"
            ),
        ))
    }
}

impl Tx {
    /// Models by id.
    pub async fn list_models(
        &mut self,
        page: PageRequest,
    ) -> Result<crate::Page<Model>, StoreError> {
        let rows = on!(self, |c| {
            sqlx::query_as::<_, Model>(
            "SELECT id, name, description, created_at FROM models WHERE id > $1 ORDER BY id LIMIT $2"
        )
        .bind(page.after)
        .bind(page.limit)
        .fetch_all(c)
        .await
        })?;
        Ok(page.page(rows, |r| r.id.get()))
    }

    /// One model.
    pub async fn get_model(&mut self, id: ModelId) -> Result<Model, StoreError> {
        on!(self, |c| sqlx::query_as::<_, Model>(
            "SELECT id, name, description, created_at FROM models WHERE id = $1"
        )
        .bind(id.get())
        .fetch_optional(c)
        .await)?
        .ok_or_else(|| StoreError::not_found("model", id))
    }

    /// The model named `name`, if any.
    pub async fn find_model(&mut self, name: &str) -> Result<Option<ModelId>, StoreError> {
        let id: Option<i64> = on!(self, |c| sqlx::query_scalar(
            "SELECT id FROM models WHERE name = $1"
        )
        .bind(name.trim())
        .fetch_optional(c)
        .await)?;
        Ok(id.map(ModelId))
    }

    /// The model named `name`, declared now if it does not exist yet ("declared on first use").
    pub async fn ensure_model(&mut self, field: &str, name: &str) -> Result<ModelId, StoreError> {
        let name = valid_model_name(field, name)?;
        match self.find_model(&name).await? {
            Some(id) => Ok(id),
            None => Ok(self
                .create_model(&ModelInput {
                    name,
                    description: None,
                })
                .await?
                .id),
        }
    }

    /// Declares a model.
    pub async fn create_model(&mut self, input: &ModelInput) -> Result<Model, StoreError> {
        let name = valid_model_name("name", &input.name)?;
        if self.find_model(&name).await?.is_some() {
            return Err(StoreError::Conflict(format!(
                "model `{name}` already exists"
            )));
        }
        let id: i64 = on!(self, |c| {
            sqlx::query_scalar(
            "INSERT INTO models (name, description, created_at) VALUES ($1, $2, $3) RETURNING id"
        )
        .bind(&name)
        .bind(optional(&input.description))
        .bind(now_ms())
        .fetch_one(c)
        .await
        })
        .map_err(|e| StoreError::from_write(e, "model"))?;
        self.get_model(ModelId(id)).await
    }

    /// Changes a model's description; its name cannot change while records or aliases use it.
    pub async fn update_model(
        &mut self,
        id: ModelId,
        input: &ModelInput,
    ) -> Result<Model, StoreError> {
        let current = self.get_model(id).await?;
        let name = valid_model_name("name", &input.name)?;
        if name != current.name {
            if self.find_model(&name).await?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "model `{name}` already exists"
                )));
            }
            self.check_model_unused(id).await?;
        }
        on!(self, |c| sqlx::query(
            "UPDATE models SET name = $1, description = $2 WHERE id = $3"
        )
        .bind(&name)
        .bind(optional(&input.description))
        .bind(id.get())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| StoreError::from_write(e, "model"))?;
        self.get_model(id).await
    }

    async fn check_model_unused(&mut self, id: ModelId) -> Result<(), StoreError> {
        let used: i64 = on!(self, |c| sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM aliases WHERE model_id = $1 OR parent_model_id = $1) \
             + (SELECT COUNT(*) FROM records WHERE model_id = $1) \
             + (SELECT COUNT(*) FROM incoming_servers WHERE model_id = $1)"
        )
        .bind(id.get())
        .fetch_one(c)
        .await)?;
        if used > 0 {
            return Err(StoreError::Conflict(format!(
                "model {id} is used by aliases, records or incoming servers"
            )));
        }
        Ok(())
    }

    /// Deletes a model that nothing uses.
    pub async fn delete_model(&mut self, id: ModelId) -> Result<(), StoreError> {
        self.get_model(id).await?;
        self.check_model_unused(id).await?;
        on!(self, |c| sqlx::query("DELETE FROM models WHERE id = $1")
            .bind(id.get())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StoreError::from_write(e, "model"))?;
        Ok(())
    }

    /// Creates or updates the model of the same name.
    pub async fn upsert_model(
        &mut self,
        input: &ModelInput,
    ) -> Result<(Model, Change), StoreError> {
        let existing = self.find_model(&input.name).await?;
        upsert!(self, existing, input, create_model, update_model, get_model)
    }
}

// ---------------------------------------------------------------------------------------------
// Aliases

/// An alias: mail to `alias_name@alias_domain` creates records in `model` (or posts on
/// `force_thread_id`).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Alias {
    /// Id.
    #[sqlx(try_from = "i64")]
    pub id: AliasId,
    /// Local part, sanitised.
    pub alias_name: String,
    /// Domain name; `None` for an alias without domain (matches by local part only).
    pub alias_domain: Option<String>,
    /// Id of the domain.
    pub alias_domain_id: Option<i64>,
    /// Model records are created in.
    pub model: String,
    /// Values given to every record created (JSON object).
    #[sqlx(try_from = "String")]
    pub defaults: Json,
    /// Every message is posted on this record instead of creating one.
    pub force_thread_id: Option<i64>,
    /// Model of the owner record.
    pub parent_model: Option<String>,
    /// The owner record.
    pub parent_thread_id: Option<i64>,
    /// Who may write.
    #[sqlx(try_from = "String")]
    pub contact: AliasContact,
    /// Also match the local part on any domain.
    pub incoming_local: bool,
    /// HTML sent to refused senders.
    pub bounced_content: Option<String>,
    /// Whether it has been seen to work.
    #[sqlx(try_from = "String")]
    pub status: AliasStatus,
    /// Creation time (epoch ms).
    pub created_at: i64,
}

impl Alias {
    /// `name@domain`, or the name alone for an alias without domain.
    pub fn full_name(&self) -> String {
        match &self.alias_domain {
            Some(d) => format!("{}@{d}", self.alias_name),
            None => self.alias_name.clone(),
        }
    }

    /// The input that would produce this row.
    pub fn to_input(&self) -> AliasInput {
        AliasInput {
            alias_name: self.alias_name.clone(),
            alias_domain: self.alias_domain.clone(),
            model: self.model.clone(),
            defaults: Some(self.defaults.0.clone()),
            force_thread_id: self.force_thread_id,
            parent_model: self.parent_model.clone(),
            parent_thread_id: self.parent_thread_id,
            contact: Some(self.contact),
            incoming_local: Some(self.incoming_local),
            bounced_content: self.bounced_content.clone(),
        }
    }
}

/// What is given to create or change an alias.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasInput {
    /// Local part (sanitised: lower-cased, accents removed, spaces become `-`).
    pub alias_name: String,
    /// Domain name; omitted: an alias without domain.
    #[serde(default)]
    pub alias_domain: Option<String>,
    /// Model records are created in (declared on first use).
    pub model: String,
    /// Values of created records: a JSON object / TOML table.
    #[serde(default)]
    pub defaults: Option<serde_json::Value>,
    /// Post every message on this record.
    #[serde(default)]
    pub force_thread_id: Option<i64>,
    /// Model of the owner record.
    #[serde(default)]
    pub parent_model: Option<String>,
    /// The owner record.
    #[serde(default)]
    pub parent_thread_id: Option<i64>,
    /// Default `everyone`.
    #[serde(default)]
    pub contact: Option<AliasContact>,
    /// Default false.
    #[serde(default)]
    pub incoming_local: Option<bool>,
    /// HTML sent to refused senders.
    #[serde(default)]
    pub bounced_content: Option<String>,
}

struct AliasRow {
    alias_name: String,
    alias_domain_id: Option<i64>,
    model_id: i64,
    defaults: Json,
    force_thread_id: Option<i64>,
    parent_model_id: Option<i64>,
    parent_thread_id: Option<i64>,
    contact: AliasContact,
    incoming_local: bool,
    bounced_content: Option<String>,
}

const ALIAS_SELECT: &str = "SELECT a.id, a.alias_name, d.name AS alias_domain, a.alias_domain_id, m.name AS model, \
     a.defaults, a.force_thread_id, pm.name AS parent_model, a.parent_thread_id, a.contact, a.incoming_local, \
     a.bounced_content, a.status, a.created_at \
     FROM aliases a JOIN models m ON m.id = a.model_id \
     LEFT JOIN alias_domains d ON d.id = a.alias_domain_id LEFT JOIN models pm ON pm.id = a.parent_model_id";

impl Tx {
    /// Aliases by id.
    pub async fn list_aliases(
        &mut self,
        page: PageRequest,
    ) -> Result<crate::Page<Alias>, StoreError> {
        let rows = on!(self, |c| sqlx::query_as::<_, Alias>(sqlx::AssertSqlSafe(
            format!("{ALIAS_SELECT} WHERE a.id > $1 ORDER BY a.id LIMIT $2")
        ))
        .bind(page.after)
        .bind(page.limit)
        .fetch_all(c)
        .await)?;
        Ok(page.page(rows, |r| r.id.get()))
    }

    /// One alias.
    pub async fn get_alias(&mut self, id: AliasId) -> Result<Alias, StoreError> {
        on!(self, |c| sqlx::query_as::<_, Alias>(sqlx::AssertSqlSafe(
            format!("{ALIAS_SELECT} WHERE a.id = $1")
        ))
        .bind(id.get())
        .fetch_optional(c)
        .await)?
        .ok_or_else(|| StoreError::not_found("alias", id))
    }

    /// The alias `name` on domain `domain` (None: the alias without domain).
    pub async fn find_alias(
        &mut self,
        name: &str,
        domain: Option<&str>,
    ) -> Result<Option<AliasId>, StoreError> {
        let name = sanitize_alias_name(name, false).unwrap_or_default();
        let domain_id = match domain.map(str::trim).filter(|d| !d.is_empty()) {
            None => 0,
            Some(d) => match self.find_alias_domain(d).await? {
                Some(id) => id.get(),
                None => return Ok(None),
            },
        };
        let id: Option<i64> = on!(self, |c| sqlx::query_scalar(
            "SELECT id FROM aliases WHERE alias_name = $1 AND COALESCE(alias_domain_id, 0) = $2"
        )
        .bind(&name)
        .bind(domain_id)
        .fetch_optional(c)
        .await)?;
        Ok(id.map(AliasId))
    }

    async fn prepare_alias(
        &mut self,
        input: &AliasInput,
        id: Option<AliasId>,
    ) -> Result<AliasRow, StoreError> {
        let alias_name = sanitized_alias("alias_name", &input.alias_name)?;
        let alias_domain_id = self
            .resolve_alias_domain("alias_domain", &input.alias_domain)
            .await?;
        if let Some(domain_id) = alias_domain_id {
            let domain = self.get_alias_domain(AliasDomainId(domain_id)).await?;
            if alias_name == domain.bounce_alias || alias_name == domain.catchall_alias {
                let which = if alias_name == domain.bounce_alias {
                    "bounce"
                } else {
                    "catchall"
                };
                return Err(StoreError::invalid(
                    "alias_name",
                    format!(
                        "`{alias_name}@{}` is the {which} address of its alias domain",
                        domain.name
                    ),
                ));
            }
        }
        if let Some(other) = self
            .find_alias(&alias_name, input.alias_domain.as_deref())
            .await?
            && Some(other) != id
        {
            return Err(StoreError::Conflict(format!(
                "alias `{alias_name}` already exists on {}",
                optional(&input.alias_domain)
                    .map_or("no domain".to_owned(), |d| format!("domain `{d}`"))
            )));
        }
        let defaults = match &input.defaults {
            None | Some(serde_json::Value::Null) => serde_json::Value::Object(Default::default()),
            Some(v @ serde_json::Value::Object(_)) => v.clone(),
            Some(_) => {
                return Err(StoreError::invalid(
                    "defaults",
                    "must be a table/object of field values",
                ));
            }
        };
        let model_id = self.ensure_model("model", &input.model).await?.get();
        let parent_model_id = match optional(&input.parent_model) {
            Some(m) => Some(self.ensure_model("parent_model", &m).await?.get()),
            None => None,
        };
        if let Some(rid) = input.force_thread_id {
            let exists: Option<i64> = on!(self, |c| sqlx::query_scalar(
                "SELECT id FROM records WHERE id = $1"
            )
            .bind(rid)
            .fetch_optional(c)
            .await)?;
            if exists.is_none() {
                return Err(StoreError::invalid(
                    "force_thread_id",
                    format!("no record {rid}"),
                ));
            }
        }
        Ok(AliasRow {
            alias_name,
            alias_domain_id,
            model_id,
            defaults: Json(defaults),
            force_thread_id: input.force_thread_id,
            parent_model_id,
            parent_thread_id: input.parent_thread_id,
            contact: input.contact.unwrap_or_default(),
            incoming_local: input.incoming_local.unwrap_or(false),
            bounced_content: optional(&input.bounced_content),
        })
    }

    /// Creates an alias.
    pub async fn create_alias(&mut self, input: &AliasInput) -> Result<Alias, StoreError> {
        let r = self.prepare_alias(input, None).await?;
        let id: i64 = on!(self, |c| sqlx::query_scalar(
            "INSERT INTO aliases (alias_name, alias_domain_id, model_id, defaults, force_thread_id, parent_model_id, \
             parent_thread_id, contact, incoming_local, bounced_content, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'not_tested', $11) RETURNING id"
        )
        .bind(&r.alias_name)
        .bind(r.alias_domain_id)
        .bind(r.model_id)
        .bind(r.defaults.text())
        .bind(r.force_thread_id)
        .bind(r.parent_model_id)
        .bind(r.parent_thread_id)
        .bind(r.contact.as_str())
        .bind(r.incoming_local)
        .bind(&r.bounced_content)
        .bind(now_ms())
        .fetch_one(c)
        .await)
        .map_err(|e| StoreError::from_write(e, "alias"))?;
        self.get_alias(AliasId(id)).await
    }

    /// Replaces the values of an alias. Its status goes back to `not_tested` when its model,
    /// defaults or contact policy change (behaviour reference §1.3).
    pub async fn update_alias(
        &mut self,
        id: AliasId,
        input: &AliasInput,
    ) -> Result<Alias, StoreError> {
        let before = self.get_alias(id).await?;
        let r = self.prepare_alias(input, Some(id)).await?;
        let retest = before.model != input.model.trim()
            || before.defaults != r.defaults
            || before.contact != r.contact;
        let status = if retest {
            AliasStatus::NotTested
        } else {
            before.status
        };
        on!(self, |c| sqlx::query(
            "UPDATE aliases SET alias_name = $1, alias_domain_id = $2, model_id = $3, defaults = $4, \
             force_thread_id = $5, parent_model_id = $6, parent_thread_id = $7, contact = $8, incoming_local = $9, \
             bounced_content = $10, status = $11 WHERE id = $12"
        )
        .bind(&r.alias_name)
        .bind(r.alias_domain_id)
        .bind(r.model_id)
        .bind(r.defaults.text())
        .bind(r.force_thread_id)
        .bind(r.parent_model_id)
        .bind(r.parent_thread_id)
        .bind(r.contact.as_str())
        .bind(r.incoming_local)
        .bind(&r.bounced_content)
        .bind(status.as_str())
        .bind(id.get())
        .execute(c)
        .await.map(|r| r.rows_affected()))
        .map_err(|e| StoreError::from_write(e, "alias"))?;
        self.get_alias(id).await
    }

    /// Sets the status of an alias (the gateway does, after routing through it).
    pub async fn set_alias_status(
        &mut self,
        id: AliasId,
        status: AliasStatus,
    ) -> Result<(), StoreError> {
        on!(self, |c| sqlx::query(
            "UPDATE aliases SET status = $1 WHERE id = $2"
        )
        .bind(status.as_str())
        .bind(id.get())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Deletes an alias.
    pub async fn delete_alias(&mut self, id: AliasId) -> Result<(), StoreError> {
        self.get_alias(id).await?;
        on!(self, |c| sqlx::query("DELETE FROM aliases WHERE id = $1")
            .bind(id.get())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StoreError::from_write(e, "alias"))?;
        Ok(())
    }

    /// Creates or updates the alias with the same name and domain.
    pub async fn upsert_alias(
        &mut self,
        input: &AliasInput,
    ) -> Result<(Alias, Change), StoreError> {
        let existing = self
            .find_alias(&input.alias_name, input.alias_domain.as_deref())
            .await?;
        upsert!(self, existing, input, create_alias, update_alias, get_alias)
    }
}

// ---------------------------------------------------------------------------------------------
// Partners

/// A contact; a user when `user` is true.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Partner {
    /// Id.
    #[sqlx(try_from = "i64")]
    pub id: PartnerId,
    /// Display name.
    pub name: String,
    /// E-mail as given (may be formatted).
    pub email: Option<String>,
    /// Normalised e-mail, used for matching.
    pub email_normalized: Option<String>,
    /// Internal user.
    #[sqlx(rename = "is_user")]
    pub user: bool,
    /// How a user is notified.
    #[sqlx(try_from = "String")]
    pub notification: NotificationPreference,
    /// Archived partners are never matched as authors.
    pub active: bool,
    /// Company name.
    pub company: Option<String>,
    /// Bounces received for this address.
    pub message_bounce: i64,
    /// Creation time (epoch ms).
    pub created_at: i64,
}

impl Partner {
    /// The input that would produce this row.
    pub fn to_input(&self) -> PartnerInput {
        PartnerInput {
            name: self.name.clone(),
            email: self.email.clone(),
            user: Some(self.user),
            notification: Some(self.notification),
            active: Some(self.active),
            company: self.company.clone(),
        }
    }
}

/// What is given to create or change a partner.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerInput {
    /// Display name.
    pub name: String,
    /// E-mail address.
    #[serde(default)]
    pub email: Option<String>,
    /// Internal user (default false).
    #[serde(default)]
    pub user: Option<bool>,
    /// `email` (default) or `inbox`.
    #[serde(default)]
    pub notification: Option<NotificationPreference>,
    /// Default true.
    #[serde(default)]
    pub active: Option<bool>,
    /// Company name.
    #[serde(default)]
    pub company: Option<String>,
}

const PARTNER_SELECT: &str = "SELECT p.id, p.name, p.email, p.email_normalized, p.is_user, p.notification, p.active, \
     c.name AS company, p.message_bounce, p.created_at FROM partners p LEFT JOIN companies c ON c.id = p.company_id";

impl Tx {
    /// Partners by id.
    pub async fn list_partners(
        &mut self,
        page: PageRequest,
    ) -> Result<crate::Page<Partner>, StoreError> {
        let rows = on!(self, |c| sqlx::query_as::<_, Partner>(sqlx::AssertSqlSafe(
            format!("{PARTNER_SELECT} WHERE p.id > $1 ORDER BY p.id LIMIT $2")
        ))
        .bind(page.after)
        .bind(page.limit)
        .fetch_all(c)
        .await)?;
        Ok(page.page(rows, |r| r.id.get()))
    }

    /// One partner.
    pub async fn get_partner(&mut self, id: PartnerId) -> Result<Partner, StoreError> {
        on!(self, |c| sqlx::query_as::<_, Partner>(sqlx::AssertSqlSafe(
            format!("{PARTNER_SELECT} WHERE p.id = $1")
        ))
        .bind(id.get())
        .fetch_optional(c)
        .await)?
        .ok_or_else(|| StoreError::not_found("partner", id))
    }

    /// The key `apply` upserts partners by: the normalised e-mail when there is one, else the
    /// name among partners without e-mail.
    pub async fn find_partner(
        &mut self,
        input: &PartnerInput,
    ) -> Result<Option<PartnerId>, StoreError> {
        let id: Option<i64> = match optional(&input.email).and_then(|e| email_normalize_first(&e)) {
            Some(norm) => on!(self, |c| sqlx::query_scalar(
                "SELECT MIN(id) FROM partners WHERE email_normalized = $1"
            )
            .bind(norm)
            .fetch_one(c)
            .await)?,
            None => on!(self, |c| sqlx::query_scalar(
                "SELECT MIN(id) FROM partners WHERE email_normalized IS NULL AND name = $1"
            )
            .bind(input.name.trim())
            .fetch_one(c)
            .await)?,
        };
        Ok(id.map(PartnerId))
    }

    async fn write_partner(
        &mut self,
        input: &PartnerInput,
        id: Option<PartnerId>,
    ) -> Result<PartnerId, StoreError> {
        let name = required("name", &input.name)?;
        // Several addresses are allowed (`"A" <a@x>, b@x`), as in the reference: the partner is
        // found by the first one, and mail to it goes to all of them.
        let email = match optional(&input.email) {
            None => None,
            Some(v) if !email_split(&v).is_empty() => Some(v),
            Some(v) => {
                return Err(StoreError::invalid(
                    "email",
                    format!("`{v}` holds no e-mail address"),
                ));
            }
        };
        let normalized = email.as_deref().and_then(email_normalize_first);
        let company_id = match optional(&input.company) {
            None => None,
            Some(n) => Some(
                self.find_company(&n)
                    .await?
                    .ok_or_else(|| {
                        StoreError::invalid("company", format!("no company named `{n}`"))
                    })?
                    .get(),
            ),
        };
        let user = input.user.unwrap_or(false);
        let notification = input.notification.unwrap_or_default().as_str();
        let active = input.active.unwrap_or(true);
        let result = match id {
            None => on!(self, |c| {
                sqlx::query_scalar(
                "INSERT INTO partners (name, email, email_normalized, is_user, notification, active, company_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id"
            )
            .bind(&name)
            .bind(&email)
            .bind(&normalized)
            .bind(user)
            .bind(notification)
            .bind(active)
            .bind(company_id)
            .bind(now_ms())
            .fetch_one(c)
            .await
            }),
            Some(id) => on!(self, |c| {
                sqlx::query_scalar(
                "UPDATE partners SET name = $1, email = $2, email_normalized = $3, is_user = $4, notification = $5, \
                 active = $6, company_id = $7 WHERE id = $8 RETURNING id"
            )
            .bind(&name)
            .bind(&email)
            .bind(&normalized)
            .bind(user)
            .bind(notification)
            .bind(active)
            .bind(company_id)
            .bind(id.get())
            .fetch_one(c)
            .await
            }),
        };
        result
            .map(PartnerId)
            .map_err(|e| StoreError::from_write(e, "partner"))
    }

    /// Creates a partner.
    pub async fn create_partner(&mut self, input: &PartnerInput) -> Result<Partner, StoreError> {
        let id = self.write_partner(input, None).await?;
        self.get_partner(id).await
    }

    /// Replaces the values of a partner.
    pub async fn update_partner(
        &mut self,
        id: PartnerId,
        input: &PartnerInput,
    ) -> Result<Partner, StoreError> {
        self.get_partner(id).await?;
        self.write_partner(input, Some(id)).await?;
        self.get_partner(id).await
    }

    /// Deletes a partner (their follower subscriptions and notifications go with them).
    pub async fn delete_partner(&mut self, id: PartnerId) -> Result<(), StoreError> {
        self.get_partner(id).await?;
        on!(self, |c| sqlx::query("DELETE FROM partners WHERE id = $1")
            .bind(id.get())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StoreError::from_write(e, "partner"))?;
        Ok(())
    }

    /// Creates or updates the partner with the same e-mail (or name, without e-mail).
    pub async fn upsert_partner(
        &mut self,
        input: &PartnerInput,
    ) -> Result<(Partner, Change), StoreError> {
        let existing = self.find_partner(input).await?;
        upsert!(
            self,
            existing,
            input,
            create_partner,
            update_partner,
            get_partner
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Outgoing servers

/// An SMTP relay Postern sends through. The password is never part of this view.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct OutgoingServer {
    /// Id.
    #[sqlx(try_from = "i64")]
    pub id: OutgoingServerId,
    /// Unique name.
    pub name: String,
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: i64,
    /// Transport security.
    #[sqlx(try_from = "String")]
    pub encryption: Encryption,
    /// AUTH user name.
    pub username: Option<String>,
    /// Name of the environment variable holding the password.
    pub password_env: Option<String>,
    /// True when a password is stored (its value is never shown).
    pub has_password: bool,
    /// Addresses or domains this server may send as (comma separated).
    pub from_filter: Option<String>,
    /// Priority: lowest first.
    pub sequence: i64,
    /// Archived servers are not used.
    pub active: bool,
    /// Creation time (epoch ms).
    pub created_at: i64,
}

impl OutgoingServer {
    /// The input that would produce this row; the password is left out (unchanged).
    pub fn to_input(&self) -> OutgoingServerInput {
        OutgoingServerInput {
            name: self.name.clone(),
            host: self.host.clone(),
            port: Some(self.port),
            encryption: Some(self.encryption),
            username: self.username.clone(),
            password: None,
            password_env: self.password_env.clone(),
            from_filter: self.from_filter.clone(),
            sequence: Some(self.sequence),
            active: Some(self.active),
        }
    }
}

/// What is given to create or change an outgoing server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutgoingServerInput {
    /// Unique name.
    pub name: String,
    /// Host.
    pub host: String,
    /// Default 465 for `ssl`/`ssl_strict`, else 25 (as Odoo; 587 is the usual submission port).
    #[serde(default)]
    pub port: Option<i64>,
    /// Default `none`.
    #[serde(default)]
    pub encryption: Option<Encryption>,
    /// AUTH user name.
    #[serde(default)]
    pub username: Option<String>,
    /// Write-only: stored, never returned. An empty string clears it.
    #[serde(default, skip_serializing)]
    pub password: Option<Secret>,
    /// Environment variable holding the password (preferred to `password`).
    #[serde(default)]
    pub password_env: Option<String>,
    /// Comma-separated addresses or domains.
    #[serde(default)]
    pub from_filter: Option<String>,
    /// Default 10.
    #[serde(default)]
    pub sequence: Option<i64>,
    /// Default true.
    #[serde(default)]
    pub active: Option<bool>,
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

fn normalize_from_filter(value: &Option<String>) -> Result<Option<String>, StoreError> {
    let Some(v) = optional(value) else {
        return Ok(None);
    };
    let parts: Vec<String> = v
        .split(',')
        .map(|p| p.trim().to_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    for p in &parts {
        let domain = p.rsplit('@').next().unwrap_or(p);
        if !is_dot_atom(domain) || (p.contains('@') && email_normalize(p).is_none()) {
            return Err(StoreError::invalid(
                "from_filter",
                format!("`{p}` is neither a domain nor an e-mail address"),
            ));
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join(",")))
}

const OUTGOING_SELECT: &str = "SELECT id, name, host, port, encryption, username, password_env, \
     (password IS NOT NULL) AS has_password, from_filter, sequence, active, created_at FROM outgoing_servers";

impl Tx {
    /// Outgoing servers by id.
    pub async fn list_outgoing_servers(
        &mut self,
        page: PageRequest,
    ) -> Result<crate::Page<OutgoingServer>, StoreError> {
        let rows = on!(self, |c| sqlx::query_as::<_, OutgoingServer>(
            sqlx::AssertSqlSafe(format!(
                "{OUTGOING_SELECT} WHERE id > $1 ORDER BY id LIMIT $2"
            ))
        )
        .bind(page.after)
        .bind(page.limit)
        .fetch_all(c)
        .await)?;
        Ok(page.page(rows, |r| r.id.get()))
    }

    /// One outgoing server.
    pub async fn get_outgoing_server(
        &mut self,
        id: OutgoingServerId,
    ) -> Result<OutgoingServer, StoreError> {
        on!(self, |c| sqlx::query_as::<_, OutgoingServer>(
            sqlx::AssertSqlSafe(format!("{OUTGOING_SELECT} WHERE id = $1"))
        )
        .bind(id.get())
        .fetch_optional(c)
        .await)?
        .ok_or_else(|| StoreError::not_found("outgoing server", id))
    }

    /// The password stored for a server (for the SMTP client only; never for display).
    pub async fn outgoing_server_password(
        &mut self,
        id: OutgoingServerId,
    ) -> Result<Option<Secret>, StoreError> {
        let p: Option<Option<String>> = on!(self, |c| sqlx::query_scalar(
            "SELECT password FROM outgoing_servers WHERE id = $1"
        )
        .bind(id.get())
        .fetch_optional(c)
        .await)?;
        Ok(p.flatten().map(Secret::new))
    }

    /// The outgoing server named `name`, if any.
    pub async fn find_outgoing_server(
        &mut self,
        name: &str,
    ) -> Result<Option<OutgoingServerId>, StoreError> {
        let id: Option<i64> = on!(self, |c| sqlx::query_scalar(
            "SELECT id FROM outgoing_servers WHERE name = $1"
        )
        .bind(name.trim())
        .fetch_optional(c)
        .await)?;
        Ok(id.map(OutgoingServerId))
    }

    async fn write_outgoing_server(
        &mut self,
        input: &OutgoingServerInput,
        id: Option<OutgoingServerId>,
    ) -> Result<OutgoingServerId, StoreError> {
        let name = required("name", &input.name)?;
        if let Some(other) = self.find_outgoing_server(&name).await?
            && Some(other) != id
        {
            return Err(StoreError::Conflict(format!(
                "outgoing server `{name}` already exists"
            )));
        }
        let host = valid_host(&input.host)?;
        let encryption = input.encryption.unwrap_or_default();
        let default_port = if matches!(encryption, Encryption::Ssl | Encryption::SslStrict) {
            465
        } else {
            25
        };
        let port = port("port", input.port, default_port)?;
        let password_env = valid_env_name("password_env", &input.password_env)?;
        let from_filter = normalize_from_filter(&input.from_filter)?;
        let old = match id {
            Some(id) => self
                .outgoing_server_password(id)
                .await?
                .map(|s| s.expose().to_owned()),
            None => None,
        };
        let password = secret_update(&input.password, old);
        let q = match id {
            None => {
                "INSERT INTO outgoing_servers (name, host, port, encryption, username, password, password_env, \
                     from_filter, sequence, active, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id"
            }
            Some(_) => {
                "UPDATE outgoing_servers SET name = $1, host = $2, port = $3, encryption = $4, username = $5, \
                        password = $6, password_env = $7, from_filter = $8, sequence = $9, active = $10 \
                        WHERE id = $12 AND $11 = $11 RETURNING id"
            }
        };
        let new_id: i64 = on!(self, |c| sqlx::query_scalar(q)
            .bind(&name)
            .bind(&host)
            .bind(port)
            .bind(encryption.as_str())
            .bind(optional(&input.username))
            .bind(&password)
            .bind(&password_env)
            .bind(&from_filter)
            .bind(input.sequence.unwrap_or(10))
            .bind(input.active.unwrap_or(true))
            .bind(now_ms())
            .bind(id.map(|i| i.get()).unwrap_or(0))
            .fetch_one(c)
            .await)
        .map_err(|e| StoreError::from_write(e, "outgoing server"))?;
        Ok(OutgoingServerId(new_id))
    }

    /// Creates an outgoing server.
    pub async fn create_outgoing_server(
        &mut self,
        input: &OutgoingServerInput,
    ) -> Result<OutgoingServer, StoreError> {
        let id = self.write_outgoing_server(input, None).await?;
        self.get_outgoing_server(id).await
    }

    /// Replaces the values of an outgoing server (the password only when one is given).
    pub async fn update_outgoing_server(
        &mut self,
        id: OutgoingServerId,
        input: &OutgoingServerInput,
    ) -> Result<OutgoingServer, StoreError> {
        self.get_outgoing_server(id).await?;
        self.write_outgoing_server(input, Some(id)).await?;
        self.get_outgoing_server(id).await
    }

    /// Deletes an outgoing server.
    pub async fn delete_outgoing_server(&mut self, id: OutgoingServerId) -> Result<(), StoreError> {
        self.get_outgoing_server(id).await?;
        on!(self, |c| sqlx::query(
            "DELETE FROM outgoing_servers WHERE id = $1"
        )
        .bind(id.get())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| StoreError::from_write(e, "outgoing server"))?;
        Ok(())
    }

    /// Creates or updates the outgoing server of the same name.
    pub async fn upsert_outgoing_server(
        &mut self,
        input: &OutgoingServerInput,
    ) -> Result<(OutgoingServer, Change), StoreError> {
        let existing = self.find_outgoing_server(&input.name).await?;
        upsert!(
            self,
            existing,
            input,
            create_outgoing_server,
            update_outgoing_server,
            get_outgoing_server,
            Some((
                "SELECT password FROM outgoing_servers WHERE id = $1",
                &input.password
            ))
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Incoming servers

/// An IMAP or POP3 mailbox polled for mail. The password is never part of this view.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct IncomingServer {
    /// Id.
    #[sqlx(try_from = "i64")]
    pub id: IncomingServerId,
    /// Unique name.
    pub name: String,
    /// `imap` or `pop3`.
    #[sqlx(try_from = "String")]
    pub protocol: FetchProtocol,
    /// Host.
    pub host: String,
    /// TCP port.
    pub port: i64,
    /// Transport security.
    #[sqlx(try_from = "String")]
    pub encryption: Encryption,
    /// Login.
    pub username: String,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// True when a password is stored.
    pub has_password: bool,
    /// Fallback model of fetched mail.
    pub model: Option<String>,
    /// Seconds between polls.
    pub interval_seconds: i64,
    /// Order of polling (lowest first).
    pub priority: i64,
    /// Keep the original as an attachment of the message.
    pub keep_original: bool,
    /// Keep attachments (false strips them).
    pub attachments: bool,
    /// Archived servers are not polled.
    pub active: bool,
    /// Last successful poll (epoch ms).
    pub last_success_at: Option<i64>,
    /// Last error.
    pub last_error: Option<String>,
    /// Failed polls since the last success.
    pub error_count: i64,
    /// Creation time (epoch ms).
    pub created_at: i64,
    /// How Postern logs in.
    #[sqlx(try_from = "String")]
    pub auth: FetchAuth,
    /// At most this many messages per poll.
    pub max_messages: i64,
    /// Last poll, successful or not (epoch ms).
    pub last_poll_at: Option<i64>,
    /// Time of the last error (epoch ms).
    pub last_error_at: Option<i64>,
    /// Start of the failures that go on (epoch ms).
    pub first_error_at: Option<i64>,
    /// Set when the server was disabled for failing too long (epoch ms); a successful manual
    /// fetch clears it.
    pub disabled_at: Option<i64>,
    /// Messages that failed and wait for the next poll.
    pub failing_messages: i64,
}

impl IncomingServer {
    /// The input that would produce this row; the password is left out (unchanged).
    pub fn to_input(&self) -> IncomingServerInput {
        IncomingServerInput {
            name: self.name.clone(),
            protocol: Some(self.protocol),
            host: self.host.clone(),
            port: Some(self.port),
            encryption: Some(self.encryption),
            username: self.username.clone(),
            password: None,
            password_env: self.password_env.clone(),
            model: self.model.clone(),
            interval: Some(Interval::Seconds(self.interval_seconds)),
            priority: Some(self.priority),
            keep_original: Some(self.keep_original),
            attachments: Some(self.attachments),
            active: Some(self.active),
            auth: Some(self.auth),
            max_messages: Some(self.max_messages),
        }
    }
}

/// A polling interval: seconds, or a string with a unit (`30s`, `5m`, `1h`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Interval {
    /// A number of seconds.
    Seconds(i64),
    /// `<n>s`, `<n>m`, `<n>h` or `<n>d`.
    Text(String),
}

impl Interval {
    /// The interval in seconds, at least 10.
    pub fn seconds(&self) -> Result<i64, String> {
        let secs = match self {
            Interval::Seconds(s) => *s,
            Interval::Text(t) => parse_duration_secs(t)
                .ok_or_else(|| format!("`{t}` is not a duration such as `30s`, `5m` or `1h`"))?,
        };
        if secs < 10 {
            return Err(format!("{secs}s is too short: at least 10s"));
        }
        Ok(secs)
    }
}

/// Parses `30s`, `5m`, `2h`, `1d` or a bare number of seconds.
pub fn parse_duration_secs(text: &str) -> Option<i64> {
    let t = text.trim();
    let (num, mult) = match t.char_indices().last()? {
        (i, 's') => (&t[..i], 1),
        (i, 'm') => (&t[..i], 60),
        (i, 'h') => (&t[..i], 3600),
        (i, 'd') => (&t[..i], 86400),
        _ => (t, 1),
    };
    num.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .and_then(|n| n.checked_mul(mult))
}

/// What is given to create or change an incoming server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncomingServerInput {
    /// Unique name.
    pub name: String,
    /// Default `imap`.
    #[serde(default)]
    pub protocol: Option<FetchProtocol>,
    /// Host.
    pub host: String,
    /// Default 993/143 (IMAP), 995/110 (POP3) with/without implicit TLS.
    #[serde(default)]
    pub port: Option<i64>,
    /// Default `ssl_strict`.
    #[serde(default)]
    pub encryption: Option<Encryption>,
    /// Login.
    pub username: String,
    /// Write-only password. An empty string clears it.
    #[serde(default, skip_serializing)]
    pub password: Option<Secret>,
    /// Environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Fallback model.
    #[serde(default)]
    pub model: Option<String>,
    /// Default 5 minutes.
    #[serde(default)]
    pub interval: Option<Interval>,
    /// Default 5.
    #[serde(default)]
    pub priority: Option<i64>,
    /// Default false.
    #[serde(default)]
    pub keep_original: Option<bool>,
    /// Default true.
    #[serde(default)]
    pub attachments: Option<bool>,
    /// Default true.
    #[serde(default)]
    pub active: Option<bool>,
    /// Default `login`; `xoauth2` takes the access token from `password` or `password_env`.
    #[serde(default)]
    pub auth: Option<FetchAuth>,
    /// Messages per poll, default 50.
    #[serde(default)]
    pub max_messages: Option<i64>,
}

const INCOMING_SELECT: &str = "SELECT s.id, s.name, s.protocol, s.host, s.port, s.encryption, s.username, s.password_env, \
     (s.password IS NOT NULL) AS has_password, m.name AS model, s.interval_seconds, s.priority, s.keep_original, \
     s.attachments, s.active, s.last_success_at, s.last_error, s.error_count, s.created_at, \
     s.auth, s.max_messages, s.last_poll_at, s.last_error_at, s.first_error_at, s.disabled_at, \
     (SELECT COUNT(*) FROM fetch_failures f WHERE f.server_id = s.id) AS failing_messages \
     FROM incoming_servers s LEFT JOIN models m ON m.id = s.model_id";

impl Tx {
    /// Incoming servers by id.
    pub async fn list_incoming_servers(
        &mut self,
        page: PageRequest,
    ) -> Result<crate::Page<IncomingServer>, StoreError> {
        let rows = on!(self, |c| sqlx::query_as::<_, IncomingServer>(
            sqlx::AssertSqlSafe(format!(
                "{INCOMING_SELECT} WHERE s.id > $1 ORDER BY s.id LIMIT $2"
            ))
        )
        .bind(page.after)
        .bind(page.limit)
        .fetch_all(c)
        .await)?;
        Ok(page.page(rows, |r| r.id.get()))
    }

    /// One incoming server.
    pub async fn get_incoming_server(
        &mut self,
        id: IncomingServerId,
    ) -> Result<IncomingServer, StoreError> {
        on!(self, |c| sqlx::query_as::<_, IncomingServer>(
            sqlx::AssertSqlSafe(format!("{INCOMING_SELECT} WHERE s.id = $1"))
        )
        .bind(id.get())
        .fetch_optional(c)
        .await)?
        .ok_or_else(|| StoreError::not_found("incoming server", id))
    }

    /// The incoming server named `name`, if any.
    pub async fn find_incoming_server(
        &mut self,
        name: &str,
    ) -> Result<Option<IncomingServerId>, StoreError> {
        let id: Option<i64> = on!(self, |c| sqlx::query_scalar(
            "SELECT id FROM incoming_servers WHERE name = $1"
        )
        .bind(name.trim())
        .fetch_optional(c)
        .await)?;
        Ok(id.map(IncomingServerId))
    }

    async fn write_incoming_server(
        &mut self,
        input: &IncomingServerInput,
        id: Option<IncomingServerId>,
    ) -> Result<IncomingServerId, StoreError> {
        let name = required("name", &input.name)?;
        if let Some(other) = self.find_incoming_server(&name).await?
            && Some(other) != id
        {
            return Err(StoreError::Conflict(format!(
                "incoming server `{name}` already exists"
            )));
        }
        let host = valid_host(&input.host)?;
        let protocol = input.protocol.unwrap_or_default();
        let encryption = input.encryption.unwrap_or(Encryption::SslStrict);
        let implicit_tls = matches!(encryption, Encryption::Ssl | Encryption::SslStrict);
        let default_port = match (protocol, implicit_tls) {
            (FetchProtocol::Imap, true) => 993,
            (FetchProtocol::Imap, false) => 143,
            (FetchProtocol::Pop3, true) => 995,
            (FetchProtocol::Pop3, false) => 110,
        };
        let port = port("port", input.port, default_port)?;
        let username = required("username", &input.username)?;
        let password_env = valid_env_name("password_env", &input.password_env)?;
        let interval = match &input.interval {
            None => 300,
            Some(i) => i
                .seconds()
                .map_err(|m| StoreError::invalid("interval", m))?,
        };
        let max_messages = input.max_messages.unwrap_or(50);
        if !(1..=10_000).contains(&max_messages) {
            return Err(StoreError::invalid(
                "max_messages",
                "must be between 1 and 10000",
            ));
        }
        let model_id = match optional(&input.model) {
            Some(m) => Some(self.ensure_model("model", &m).await?.get()),
            None => None,
        };
        let old: Option<String> = match id {
            Some(id) => on!(self, |c| sqlx::query_scalar(
                "SELECT password FROM incoming_servers WHERE id = $1"
            )
            .bind(id.get())
            .fetch_one(c)
            .await)?,
            None => None,
        };
        let password = secret_update(&input.password, old);
        let q = match id {
            None => {
                "INSERT INTO incoming_servers (name, protocol, host, port, encryption, username, password, password_env, \
                     model_id, interval_seconds, priority, keep_original, attachments, active, created_at, auth, max_messages) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $17, $18) RETURNING id"
            }
            Some(_) => {
                "UPDATE incoming_servers SET name = $1, protocol = $2, host = $3, port = $4, encryption = $5, \
                        username = $6, password = $7, password_env = $8, model_id = $9, interval_seconds = $10, \
                        priority = $11, keep_original = $12, attachments = $13, active = $14, \
                        auth = $17, max_messages = $18 WHERE id = $16 AND $15 = $15 RETURNING id"
            }
        };
        let new_id: i64 = on!(self, |c| sqlx::query_scalar(q)
            .bind(&name)
            .bind(protocol.as_str())
            .bind(&host)
            .bind(port)
            .bind(encryption.as_str())
            .bind(&username)
            .bind(&password)
            .bind(&password_env)
            .bind(model_id)
            .bind(interval)
            .bind(input.priority.unwrap_or(5))
            .bind(input.keep_original.unwrap_or(false))
            .bind(input.attachments.unwrap_or(true))
            .bind(input.active.unwrap_or(true))
            .bind(now_ms())
            .bind(id.map(|i| i.get()).unwrap_or(0))
            .bind(input.auth.unwrap_or_default().as_str())
            .bind(max_messages)
            .fetch_one(c)
            .await)
        .map_err(|e| StoreError::from_write(e, "incoming server"))?;
        Ok(IncomingServerId(new_id))
    }

    /// Creates an incoming server.
    pub async fn create_incoming_server(
        &mut self,
        input: &IncomingServerInput,
    ) -> Result<IncomingServer, StoreError> {
        let id = self.write_incoming_server(input, None).await?;
        self.get_incoming_server(id).await
    }

    /// Replaces the values of an incoming server (the password only when one is given).
    pub async fn update_incoming_server(
        &mut self,
        id: IncomingServerId,
        input: &IncomingServerInput,
    ) -> Result<IncomingServer, StoreError> {
        self.get_incoming_server(id).await?;
        self.write_incoming_server(input, Some(id)).await?;
        self.get_incoming_server(id).await
    }

    /// Deletes an incoming server.
    pub async fn delete_incoming_server(&mut self, id: IncomingServerId) -> Result<(), StoreError> {
        self.get_incoming_server(id).await?;
        on!(self, |c| sqlx::query(
            "DELETE FROM incoming_servers WHERE id = $1"
        )
        .bind(id.get())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| StoreError::from_write(e, "incoming server"))?;
        Ok(())
    }

    /// Creates or updates the incoming server of the same name.
    pub async fn upsert_incoming_server(
        &mut self,
        input: &IncomingServerInput,
    ) -> Result<(IncomingServer, Change), StoreError> {
        let existing = self.find_incoming_server(&input.name).await?;
        upsert!(
            self,
            existing,
            input,
            create_incoming_server,
            update_incoming_server,
            get_incoming_server,
            Some((
                "SELECT password FROM incoming_servers WHERE id = $1",
                &input.password
            ))
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Webhooks

/// The events a webhook may subscribe to.
pub const WEBHOOK_EVENTS: &[&str] = &[
    "record.created",
    "message.created",
    "mail.sent",
    "mail.failed",
    "bounce.received",
];

/// An HTTP endpoint called on events. The signing secret is never part of this view.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Webhook {
    /// Id.
    #[sqlx(try_from = "i64")]
    pub id: WebhookId,
    /// Unique name.
    pub name: String,
    /// `http://` or `https://` URL.
    pub url: String,
    /// Subscribed events.
    #[sqlx(try_from = "String")]
    pub events: Json,
    /// True when a signing secret is stored.
    pub has_secret: bool,
    /// Inactive webhooks are not called.
    pub active: bool,
    /// Creation time (epoch ms).
    pub created_at: i64,
}

impl Webhook {
    /// The input that would produce this row; the secret is left out (unchanged).
    pub fn to_input(&self) -> WebhookInput {
        WebhookInput {
            name: self.name.clone(),
            url: self.url.clone(),
            events: serde_json::from_value(self.events.0.clone()).unwrap_or_default(),
            secret: None,
            active: Some(self.active),
        }
    }
}

/// What is given to create or change a webhook.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// Unique name.
    pub name: String,
    /// Target URL.
    pub url: String,
    /// Events, from [`WEBHOOK_EVENTS`].
    #[serde(default)]
    pub events: Vec<String>,
    /// Write-only HMAC key. An empty string clears it.
    #[serde(default, skip_serializing)]
    pub secret: Option<Secret>,
    /// Default true.
    #[serde(default)]
    pub active: Option<bool>,
}

const WEBHOOK_SELECT: &str = "SELECT id, name, url, events, (secret IS NOT NULL) AS has_secret, active, created_at FROM webhooks";

impl Tx {
    /// Webhooks by id.
    pub async fn list_webhooks(
        &mut self,
        page: PageRequest,
    ) -> Result<crate::Page<Webhook>, StoreError> {
        let rows = on!(self, |c| sqlx::query_as::<_, Webhook>(sqlx::AssertSqlSafe(
            format!("{WEBHOOK_SELECT} WHERE id > $1 ORDER BY id LIMIT $2")
        ))
        .bind(page.after)
        .bind(page.limit)
        .fetch_all(c)
        .await)?;
        Ok(page.page(rows, |r| r.id.get()))
    }

    /// One webhook.
    pub async fn get_webhook(&mut self, id: WebhookId) -> Result<Webhook, StoreError> {
        on!(self, |c| sqlx::query_as::<_, Webhook>(sqlx::AssertSqlSafe(
            format!("{WEBHOOK_SELECT} WHERE id = $1")
        ))
        .bind(id.get())
        .fetch_optional(c)
        .await)?
        .ok_or_else(|| StoreError::not_found("webhook", id))
    }

    /// The webhook named `name`, if any.
    pub async fn find_webhook(&mut self, name: &str) -> Result<Option<WebhookId>, StoreError> {
        let id: Option<i64> = on!(self, |c| sqlx::query_scalar(
            "SELECT id FROM webhooks WHERE name = $1"
        )
        .bind(name.trim())
        .fetch_optional(c)
        .await)?;
        Ok(id.map(WebhookId))
    }

    async fn write_webhook(
        &mut self,
        input: &WebhookInput,
        id: Option<WebhookId>,
    ) -> Result<WebhookId, StoreError> {
        let name = required("name", &input.name)?;
        if let Some(other) = self.find_webhook(&name).await?
            && Some(other) != id
        {
            return Err(StoreError::Conflict(format!(
                "webhook `{name}` already exists"
            )));
        }
        let url = required("url", &input.url)?;
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url.contains(char::is_whitespace)
        {
            return Err(StoreError::invalid(
                "url",
                format!("`{url}` is not an http:// or https:// URL"),
            ));
        }
        for (i, e) in input.events.iter().enumerate() {
            if !WEBHOOK_EVENTS.contains(&e.as_str()) {
                return Err(StoreError::invalid(
                    format!("events[{i}]"),
                    format!(
                        "unknown event `{e}`, expected one of: {}",
                        WEBHOOK_EVENTS.join(", ")
                    ),
                ));
            }
        }
        let events = serde_json::to_string(&input.events).unwrap_or_else(|_| "[]".into());
        let old: Option<String> = match id {
            Some(id) => on!(self, |c| sqlx::query_scalar(
                "SELECT secret FROM webhooks WHERE id = $1"
            )
            .bind(id.get())
            .fetch_one(c)
            .await)?,
            None => None,
        };
        let secret = secret_update(&input.secret, old);
        let q = match id {
            None => {
                "INSERT INTO webhooks (name, url, events, secret, active, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"
            }
            Some(_) => {
                "UPDATE webhooks SET name = $1, url = $2, events = $3, secret = $4, active = $5 WHERE id = $7 AND $6 = $6 RETURNING id"
            }
        };
        let new_id: i64 = on!(self, |c| sqlx::query_scalar(q)
            .bind(&name)
            .bind(&url)
            .bind(&events)
            .bind(&secret)
            .bind(input.active.unwrap_or(true))
            .bind(now_ms())
            .bind(id.map(|i| i.get()).unwrap_or(0))
            .fetch_one(c)
            .await)
        .map_err(|e| StoreError::from_write(e, "webhook"))?;
        Ok(WebhookId(new_id))
    }

    /// Creates a webhook.
    pub async fn create_webhook(&mut self, input: &WebhookInput) -> Result<Webhook, StoreError> {
        let id = self.write_webhook(input, None).await?;
        self.get_webhook(id).await
    }

    /// Replaces the values of a webhook (the secret only when one is given).
    pub async fn update_webhook(
        &mut self,
        id: WebhookId,
        input: &WebhookInput,
    ) -> Result<Webhook, StoreError> {
        self.get_webhook(id).await?;
        self.write_webhook(input, Some(id)).await?;
        self.get_webhook(id).await
    }

    /// Deletes a webhook.
    pub async fn delete_webhook(&mut self, id: WebhookId) -> Result<(), StoreError> {
        self.get_webhook(id).await?;
        on!(self, |c| sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id.get())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StoreError::from_write(e, "webhook"))?;
        Ok(())
    }

    /// Creates or updates the webhook of the same name.
    pub async fn upsert_webhook(
        &mut self,
        input: &WebhookInput,
    ) -> Result<(Webhook, Change), StoreError> {
        let existing = self.find_webhook(&input.name).await?;
        upsert!(
            self,
            existing,
            input,
            create_webhook,
            update_webhook,
            get_webhook,
            Some(("SELECT secret FROM webhooks WHERE id = $1", &input.secret))
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Params

/// Parameters whose value must be an integer of at least 1 (a loop window or threshold of 0
/// would refuse everything or nothing).
const POSITIVE_PARAMS: &[&str] = &[
    "mail.gateway.loop.minutes",
    "mail.gateway.loop.threshold",
    crate::fetch::PARAM_MAX_FAILURES,
    crate::fetch::PARAM_DISABLE_AFTER_HOURS,
];

/// Parameters whose value must be a non-negative integer.
const INTEGER_PARAMS: &[&str] = &[
    "mail.gateway.loop.minutes",
    "mail.gateway.loop.threshold",
    "mail.mail.queue.batch.size",
    "mail.session.batch.size",
    "mail.batch_size",
    "mail.mail.force.send.limit",
    "base.default_max_email_size",
    crate::fetch::PARAM_MAX_FAILURES,
    crate::fetch::PARAM_DISABLE_AFTER_HOURS,
];

/// Checks and normalises a parameter value as the reference does on write. `Ok(None)` means
/// "unset the parameter".
pub fn sanitize_param(key: &str, value: &str) -> Result<Option<String>, StoreError> {
    let key = key.trim();
    if key.is_empty() || key.len() > 200 || key.contains(char::is_whitespace) {
        return Err(StoreError::invalid(
            "key",
            format!("`{key}` is not a parameter name"),
        ));
    }
    if key == "mail.catchall.domain.allowed" {
        return sanitize_catchall_domain_allowed(value).map_err(|e| StoreError::invalid(key, e));
    }
    if INTEGER_PARAMS.contains(&key) {
        let v = value.trim();
        if v.is_empty() {
            return Ok(None);
        }
        let min = if POSITIVE_PARAMS.contains(&key) { 1 } else { 0 };
        return match v.parse::<i64>() {
            Ok(n) if n >= min => Ok(Some(n.to_string())),
            _ if min == 1 => Err(StoreError::invalid(
                key,
                format!("`{v}` is not a positive integer"),
            )),
            _ => Err(StoreError::invalid(
                key,
                format!("`{v}` is not a non-negative integer"),
            )),
        };
    }
    // An empty value unsets the parameter.
    Ok((!value.is_empty()).then(|| value.to_owned()))
}

/// A system parameter.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Param {
    /// Key, e.g. `mail.gateway.loop.minutes`.
    pub key: String,
    /// Value as text.
    pub value: String,
}

impl Tx {
    /// The value of a parameter, if set.
    pub async fn get_param(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(on!(self, |c| sqlx::query_scalar(
            "SELECT value FROM params WHERE key = $1"
        )
        .bind(key)
        .fetch_optional(c)
        .await)?)
    }

    /// Every parameter, by key.
    pub async fn list_params(&mut self) -> Result<Vec<Param>, StoreError> {
        Ok(on!(self, |c| sqlx::query_as::<_, Param>(
            "SELECT key, value FROM params ORDER BY key"
        )
        .fetch_all(c)
        .await)?)
    }

    /// Sets (or, when the sanitised value is empty, unsets) a parameter; returns the stored value.
    pub async fn set_param(
        &mut self,
        key: &str,
        value: &str,
    ) -> Result<(Option<String>, Change), StoreError> {
        let stored = sanitize_param(key, value)?;
        let key = key.trim();
        let before = self.get_param(key).await?;
        if before == stored {
            return Ok((stored, Change::Unchanged));
        }
        match &stored {
            Some(v) => on!(self, |c| {
                sqlx::query(
                "INSERT INTO params (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            )
            .bind(key)
            .bind(v)
            .execute(c)
            .await.map(|r| r.rows_affected())
            })?,
            None => on!(self, |c| sqlx::query("DELETE FROM params WHERE key = $1")
                .bind(key)
                .execute(c)
                .await
                .map(|r| r.rows_affected()))?,
        };
        let change = if before.is_none() {
            Change::Created
        } else {
            Change::Updated
        };
        Ok((stored, change))
    }
}
