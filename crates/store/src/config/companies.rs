//! Companies ([`Company`], [`CompanyInput`]) and their methods on [`Tx`].

use super::{ConfigTable, valid_email};
use crate::{StoreError, Tx, now_ms, on};
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

const COMPANY_SELECT: &str = "SELECT c.id, c.name, c.email, d.name AS alias_domain, c.alias_domain_id, c.created_at \
     FROM companies c LEFT JOIN alias_domains d ON d.id = c.alias_domain_id";

const COMPANIE_BY_NAME: &str = "SELECT id FROM companies WHERE name = $1";

impl Tx {
    /// The company named `name`, if any.
    pub async fn find_company(&mut self, name: &str) -> Result<Option<CompanyId>, StoreError> {
        self.find_id(COMPANIE_BY_NAME, name).await
    }

    /// The gateway's own company: the first one (lowest id).
    pub async fn first_company(&mut self) -> Result<Option<Company>, StoreError> {
        let id: Option<i64> = on!(self, |c| sqlx::query_scalar(
            "SELECT MIN(id) FROM companies"
        )
        .fetch_one(c)
        .await)?;
        match id {
            Some(id) => Ok(Some(self.get::<Company>(CompanyId(id)).await?)),
            None => Ok(None),
        }
    }

    async fn prepare_company(
        &mut self,
        input: &CompanyInput,
        id: Option<CompanyId>,
    ) -> Result<(String, Option<String>, Option<AliasDomainId>), StoreError> {
        let name = self
            .unique_name(COMPANIE_BY_NAME, "company", &input.name, id)
            .await?;
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
}

/// Deleting a company leaves its records and partners, without company.
impl ConfigTable for Company {
    type Input = CompanyInput;
    type Id = CompanyId;
    const WHAT: &str = "company";
    const DELETE: &str = "DELETE FROM companies WHERE id = $1";
    const SELECT: &str = COMPANY_SELECT;
    const KEY: &str = "c.id";

    fn id(&self) -> CompanyId {
        self.id
    }

    async fn existing(tx: &mut Tx, input: &CompanyInput) -> Result<Option<CompanyId>, StoreError> {
        tx.find_company(&input.name).await
    }

    /// Without `alias_domain`, the company gets the first alias domain.
    async fn insert(tx: &mut Tx, input: &CompanyInput) -> Result<CompanyId, StoreError> {
        let (name, email, domain) = tx.prepare_company(input, None).await?;
        let id: i64 = on!(tx, |c| sqlx::query_scalar(
            "INSERT INTO companies (name, email, alias_domain_id, created_at) VALUES ($1, $2, $3, $4) RETURNING id"
        )
        .bind(&name)
        .bind(&email)
        .bind(domain)
        .bind(now_ms())
        .fetch_one(c)
        .await)
        .map_err(|e| StoreError::from_write(e, "company"))?;
        Ok(CompanyId(id))
    }

    async fn replace(tx: &mut Tx, before: &Self, input: &CompanyInput) -> Result<(), StoreError> {
        let (name, email, domain) = tx.prepare_company(input, Some(before.id)).await?;
        on!(tx, |c| sqlx::query(
            "UPDATE companies SET name = $1, email = $2, alias_domain_id = $3 WHERE id = $4"
        )
        .bind(&name)
        .bind(&email)
        .bind(domain)
        .bind(before.id.get())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| StoreError::from_write(e, "company"))?;
        Ok(())
    }
}
