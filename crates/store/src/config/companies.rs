//! Companies ([`Company`], [`CompanyInput`]) and their methods on [`Tx`].

use super::{Change, required, valid_email};
use crate::{PageRequest, StoreError, Tx, now_ms, on};
use postern_model::{AliasDomainId, CompanyId};
use serde::{Deserialize, Serialize};

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
    pub alias_domain_id: Option<AliasDomainId>,
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
        let id = self
            .find_id("SELECT id FROM companies WHERE name = $1", name.trim())
            .await?;
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

    async fn prepare_company(
        &mut self,
        input: &CompanyInput,
        id: Option<CompanyId>,
    ) -> Result<(String, Option<String>, Option<AliasDomainId>), StoreError> {
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
                self.alias_domains().await?.first().map(|d| d.id)
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
        self.delete_row("DELETE FROM companies WHERE id = $1", id.get(), "company")
            .await
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
