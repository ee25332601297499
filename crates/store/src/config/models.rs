//! Models, the kinds of record ([`Model`], [`ModelInput`]), declared on first use, and their
//! methods on [`Tx`].

use super::{ConfigTable, optional, required, unique};
use crate::{StoreError, Tx, now_ms, on};
use postern_model::ModelId;
use serde::{Deserialize, Serialize};

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

const MODEL_SELECT: &str = "SELECT id, name, description, created_at FROM models";

impl Tx {
    /// The model named `name`, if any.
    pub async fn find_model(&mut self, name: &str) -> Result<Option<ModelId>, StoreError> {
        self.find_id("SELECT id FROM models WHERE name = $1", name)
            .await
    }

    /// The model named `name`, declared now if it does not exist yet ("declared on first use").
    pub async fn ensure_model(&mut self, field: &str, name: &str) -> Result<ModelId, StoreError> {
        let name = valid_model_name(field, name)?;
        match self.find_model(&name).await? {
            Some(id) => Ok(id),
            None => {
                let input = ModelInput {
                    name,
                    description: None,
                };
                Model::insert(self, &input).await
            }
        }
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
}

impl ConfigTable for Model {
    type Input = ModelInput;
    type Id = ModelId;
    const WHAT: &str = "model";
    const DELETE: &str = "DELETE FROM models WHERE id = $1";
    const SELECT: &str = MODEL_SELECT;
    const KEY: &str = "id";

    fn id(&self) -> ModelId {
        self.id
    }

    async fn existing(tx: &mut Tx, input: &ModelInput) -> Result<Option<ModelId>, StoreError> {
        tx.find_model(&input.name).await
    }

    async fn insert(tx: &mut Tx, input: &ModelInput) -> Result<ModelId, StoreError> {
        let name = valid_model_name("name", &input.name)?;
        unique(tx.find_model(&name).await?, None, "model", &name)?;
        let id: i64 = on!(tx, |c| {
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
        Ok(ModelId(id))
    }

    /// Changes a model's description; its name cannot change while records or aliases use it.
    async fn replace(tx: &mut Tx, before: &Self, input: &ModelInput) -> Result<(), StoreError> {
        let name = valid_model_name("name", &input.name)?;
        if name != before.name {
            unique(tx.find_model(&name).await?, None, "model", &name)?;
            tx.check_model_unused(before.id).await?;
        }
        on!(tx, |c| sqlx::query(
            "UPDATE models SET name = $1, description = $2 WHERE id = $3"
        )
        .bind(&name)
        .bind(optional(&input.description))
        .bind(before.id.get())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| StoreError::from_write(e, "model"))?;
        Ok(())
    }

    /// Refused while aliases, records or incoming servers use the model.
    async fn remove(tx: &mut Tx, row: &Self) -> Result<(), StoreError> {
        tx.check_model_unused(row.id).await?;
        tx.delete_row(Self::DELETE, row.id.get(), Self::WHAT).await
    }
}
