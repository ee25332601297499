//! Models, the kinds of record ([`Model`], [`ModelInput`]), declared on first use, and their
//! methods on [`Tx`].

use super::{Change, optional, required};
use crate::{PageRequest, StoreError, Tx, now_ms, on};
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
        let id = self
            .find_id("SELECT id FROM models WHERE name = $1", name.trim())
            .await?;
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
        self.delete_row("DELETE FROM models WHERE id = $1", id.get(), "model")
            .await
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
