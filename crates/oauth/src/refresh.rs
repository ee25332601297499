//! Access tokens: the stored one while more than the margin of it is left, else a refresh
//! under the grant's lease (one node at a time; the others wait for its result), its rotated
//! refresh token committed before the new access token is handed out.

use crate::connect::TokenAnswer;
use crate::http::{self, HttpError};
use crate::{OAuth, OAuthError, provider};
use postern_model::Secret;
use postern_store::{OAuthGrant, OAuthServer, SealedTokens, now_ms};
use std::time::Duration;

/// How long a node may hold a grant's refresh lease.
const LEASE_MS: i64 = 60_000;
/// How many times a node waits for another's refresh before it gives up (half a second each).
const WAITS: usize = 40;

impl OAuth {
    /// A valid access token of `server`, refreshed first when it expires within the margin.
    pub async fn access_token(&self, server: OAuthServer) -> Result<Secret, OAuthError> {
        for _ in 0..WAITS {
            let grant = self.grant(server).await?;
            if let Some(token) = self.fresh(server, &grant)? {
                return Ok(token);
            }
            let mut tx = self.store().begin().await?;
            let leased = tx
                .take_oauth_lease(server, &self.inner.owner, now_ms() + LEASE_MS)
                .await?;
            tx.commit().await?;
            if !leased {
                // another node refreshes: its result is read at the next turn
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            let result = self.refresh_leased(server).await;
            let mut tx = self.store().begin().await?;
            tx.release_oauth_lease(server, &self.inner.owner).await?;
            tx.commit().await?;
            return result;
        }
        Err(OAuthError::Busy)
    }

    /// The access token was refused (an authentication failure): the next
    /// [`OAuth::access_token`] refreshes it.
    pub async fn expire(&self, server: OAuthServer) -> Result<(), OAuthError> {
        let mut tx = self.store().begin().await?;
        tx.expire_oauth_access_token(server).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn grant(&self, server: OAuthServer) -> Result<OAuthGrant, OAuthError> {
        let mut tx = self.store().read().await?;
        let grant = tx.oauth_grant(server).await?;
        tx.rollback().await?;
        let grant = grant.ok_or_else(|| {
            OAuthError::NotConnected(format!(
                "the {} is not connected to its OAuth provider: use Connect in the admin UI, \
                 or `postern oauth connect`",
                server.what()
            ))
        })?;
        if grant.state == "failed" {
            return Err(OAuthError::Failed(failed_text(
                grant.error.as_deref().unwrap_or("refused"),
            )));
        }
        Ok(grant)
    }

    /// The stored access token, when more than the margin of its life is left.
    fn fresh(&self, server: OAuthServer, grant: &OAuthGrant) -> Result<Option<Secret>, OAuthError> {
        let margin = self.margin.as_millis() as i64;
        match (&grant.access_token, grant.expires_at) {
            (Some(sealed), Some(at)) if at - now_ms() > margin => {
                Ok(Some(self.open(server, "access_token", sealed)?))
            }
            _ => Ok(None),
        }
    }

    /// The refresh itself, under the lease: read again (another node may just have refreshed),
    /// ask the provider, keep what it answered.
    async fn refresh_leased(&self, server: OAuthServer) -> Result<Secret, OAuthError> {
        let grant = self.grant(server).await?;
        if let Some(token) = self.fresh(server, &grant)? {
            return Ok(token);
        }
        let target = self.target(server).await?;
        let sealed = grant.refresh_token.as_deref().ok_or_else(|| {
            OAuthError::NotConnected("the grant has no refresh token: connect again".into())
        })?;
        let refresh = self.open(server, "refresh_token", sealed)?;
        let settings = target.settings.as_ref().expect("checked by target()");
        let endpoints = provider::endpoints(&self.inner.http, settings, server).await?;
        let secret = Self::client_secret(&target)?;
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.expose()),
            ("client_id", settings.client_id.as_str()),
        ];
        if let Some(s) = &secret {
            form.push(("client_secret", s.expose()));
        }
        let count = |result: &'static str| {
            metrics::counter!("postern_oauth_refreshes_total", "server" => target.name.clone(), "result" => result)
                .increment(1);
        };
        match http::post_form::<TokenAnswer>(&self.inner.http, &endpoints.token, &form).await {
            Ok(answer) => {
                let tokens = SealedTokens {
                    refresh_token: answer
                        .refresh_token
                        .as_deref()
                        .map(|r| self.seal(server, "refresh_token", r)),
                    access_token: self.seal(server, "access_token", &answer.access_token),
                    expires_at: answer.expires_at(now_ms()),
                };
                // committed before the token is used: a rotated refresh token is never lost
                let mut tx = self.store().begin().await?;
                tx.save_oauth_tokens(server, &tokens).await?;
                tx.commit().await?;
                count("ok");
                tracing::info!(server = %target.name, rotated = answer.refresh_token.is_some(), "OAuth access token refreshed");
                Ok(Secret::new(answer.access_token))
            }
            Err(e @ HttpError::Refused { .. }) => {
                let reason = format!("the provider refused the refresh: {e}");
                let mut tx = self.store().begin().await?;
                tx.fail_oauth_grant(server, &reason).await?;
                tx.commit().await?;
                count("failed");
                tracing::error!(server = %target.name, reason = %reason, "OAuth grant failed: connect the server again");
                Err(OAuthError::Failed(failed_text(&reason)))
            }
            Err(HttpError::Unavailable(e)) => {
                count("unavailable");
                Err(OAuthError::Provider(e))
            }
        }
    }
}

fn failed_text(reason: &str) -> String {
    format!("OAuth grant failed ({reason}): connect the server again")
}
