//! Aliases ([`Alias`], [`AliasInput`]): the addresses that create records or post on one, their
//! checks against their domain and their methods on [`Tx`].

use super::{ConfigTable, Json, optional, sanitized_alias};
use crate::{StoreError, Tx, now_ms, on};
use postern_model::address::sanitize_alias_name;
use postern_model::{AliasContact, AliasDomainId, AliasId, AliasStatus, ModelId, RecordId};
use serde::{Deserialize, Serialize};

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
    pub alias_domain_id: Option<AliasDomainId>,
    /// Model records are created in.
    pub model: String,
    /// Values given to every record created (JSON object).
    #[sqlx(try_from = "String")]
    pub defaults: Json,
    /// Every message is posted on this record instead of creating one.
    pub force_thread_id: Option<RecordId>,
    /// Model of the owner record.
    pub parent_model: Option<String>,
    /// The owner record.
    pub parent_thread_id: Option<RecordId>,
    /// Who may write.
    #[sqlx(try_from = "String")]
    pub contact: AliasContact,
    /// Also match the local part on any domain.
    pub incoming_local: bool,
    /// Refuse mail whose From sender authentication does not trust (DMARC fails): over SMTP
    /// `550 5.7.26` in the session, and nothing is mailed back.
    pub refuse_untrusted: bool,
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
            refuse_untrusted: Some(self.refuse_untrusted),
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
    pub force_thread_id: Option<RecordId>,
    /// Model of the owner record.
    #[serde(default)]
    pub parent_model: Option<String>,
    /// The owner record.
    #[serde(default)]
    pub parent_thread_id: Option<RecordId>,
    /// Default `everyone`.
    #[serde(default)]
    pub contact: Option<AliasContact>,
    /// Default false.
    #[serde(default)]
    pub incoming_local: Option<bool>,
    /// Refuse mail whose From is not trusted (sender authentication). Default false.
    #[serde(default)]
    pub refuse_untrusted: Option<bool>,
    /// HTML sent to refused senders.
    #[serde(default)]
    pub bounced_content: Option<String>,
}

struct AliasRow {
    alias_name: String,
    alias_domain_id: Option<AliasDomainId>,
    model_id: ModelId,
    defaults: Json,
    force_thread_id: Option<RecordId>,
    parent_model_id: Option<ModelId>,
    parent_thread_id: Option<RecordId>,
    contact: AliasContact,
    incoming_local: bool,
    refuse_untrusted: bool,
    bounced_content: Option<String>,
}

const ALIAS_SELECT: &str = "SELECT a.id, a.alias_name, d.name AS alias_domain, a.alias_domain_id, m.name AS model, \
     a.defaults, a.force_thread_id, pm.name AS parent_model, a.parent_thread_id, a.contact, a.incoming_local, \
     a.refuse_untrusted, a.bounced_content, a.status, a.created_at \
     FROM aliases a JOIN models m ON m.id = a.model_id \
     LEFT JOIN alias_domains d ON d.id = a.alias_domain_id LEFT JOIN models pm ON pm.id = a.parent_model_id";

impl Tx {
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
            let domain = self.get::<crate::AliasDomain>(domain_id).await?;
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
        let model_id = self.ensure_model("model", &input.model).await?;
        let parent_model_id = match optional(&input.parent_model) {
            Some(m) => Some(self.ensure_model("parent_model", &m).await?),
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
            refuse_untrusted: input.refuse_untrusted.unwrap_or(false),
            bounced_content: optional(&input.bounced_content),
        })
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
}

impl ConfigTable for Alias {
    type Input = AliasInput;
    type Id = AliasId;
    const WHAT: &str = "alias";
    const DELETE: &str = "DELETE FROM aliases WHERE id = $1";
    const SELECT: &str = ALIAS_SELECT;
    const KEY: &str = "a.id";

    fn id(&self) -> AliasId {
        self.id
    }

    /// The alias with the same name and domain.
    async fn existing(tx: &mut Tx, input: &AliasInput) -> Result<Option<AliasId>, StoreError> {
        tx.find_alias(&input.alias_name, input.alias_domain.as_deref())
            .await
    }

    async fn insert(tx: &mut Tx, input: &AliasInput) -> Result<AliasId, StoreError> {
        let r = tx.prepare_alias(input, None).await?;
        let id: i64 = on!(tx, |c| sqlx::query_scalar(
            "INSERT INTO aliases (alias_name, alias_domain_id, model_id, defaults, force_thread_id, parent_model_id, \
             parent_thread_id, contact, incoming_local, bounced_content, status, created_at, refuse_untrusted) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'not_tested', $11, $12) RETURNING id"
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
        .bind(r.refuse_untrusted)
        .fetch_one(c)
        .await)
        .map_err(|e| StoreError::from_write(e, "alias"))?;
        Ok(AliasId(id))
    }

    /// The status goes back to `not_tested` when the model, defaults or contact policy change
    /// (behaviour reference §1.3).
    async fn replace(tx: &mut Tx, before: &Self, input: &AliasInput) -> Result<(), StoreError> {
        let r = tx.prepare_alias(input, Some(before.id)).await?;
        let retest = before.model != input.model.trim()
            || before.defaults != r.defaults
            || before.contact != r.contact;
        let status = if retest {
            AliasStatus::NotTested
        } else {
            before.status
        };
        on!(tx, |c| sqlx::query(
            "UPDATE aliases SET alias_name = $1, alias_domain_id = $2, model_id = $3, defaults = $4, \
             force_thread_id = $5, parent_model_id = $6, parent_thread_id = $7, contact = $8, incoming_local = $9, \
             bounced_content = $10, status = $11, refuse_untrusted = $12 WHERE id = $13"
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
        .bind(r.refuse_untrusted)
        .bind(before.id.get())
        .execute(c)
        .await.map(|r| r.rows_affected()))
        .map_err(|e| StoreError::from_write(e, "alias"))?;
        Ok(())
    }
}
