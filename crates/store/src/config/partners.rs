//! Partners, the contacts and users ([`Partner`], [`PartnerInput`]), and their methods on [`Tx`].

use super::{optional, required};
use crate::{StoreError, Tx, now_ms, on};
use postern_model::address::{email_normalize_first, email_split};
use postern_model::{NotificationPreference, PartnerId};
use serde::{Deserialize, Serialize};

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
        let email = optional(&input.email);
        if let Some(v) = &email {
            crate::read::no_line_break("email", v)?;
        }
        let email = match email {
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
}

// An upsert finds the partner with the same e-mail (or name, without e-mail). Deleting a partner
// deletes their follower subscriptions and notifications.
super::config_table!(
    Partner,
    PartnerInput,
    PartnerId,
    "partner",
    "partners",
    PARTNER_SELECT,
    "p.id",
    write_partner,
    |tx, input| tx.find_partner(input).await
);
