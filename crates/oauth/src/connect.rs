//! Connect: the authorization-code flow with PKCE. [`OAuth::begin`] remembers a random `state`
//! with its sealed PKCE verifier and answers the provider's URL; [`OAuth::complete`] takes the
//! request of the `state` that came back (once, within 15 minutes), exchanges the code with the
//! verifier and keeps the grant, sealed.

use crate::http::{self, HttpError};
use crate::{OAuth, OAuthError, provider};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use postern_model::Secret;
use postern_store::{OAuthRequest, OAuthServer, OAuthTarget, SealedTokens, now_ms};

/// How long a Connect may take, from the URL to the callback.
pub const REQUEST_MAX_AGE_MS: i64 = 15 * 60 * 1000;

/// The token endpoint's answer. Not `Debug`: it holds tokens.
#[derive(serde::Deserialize)]
pub(crate) struct TokenAnswer {
    pub(crate) access_token: String,
    #[serde(default)]
    pub(crate) refresh_token: Option<String>,
    #[serde(default)]
    pub(crate) expires_in: Option<i64>,
}

impl TokenAnswer {
    /// When the access token expires (an hour when the provider does not say).
    pub(crate) fn expires_at(&self, now: i64) -> i64 {
        now + self.expires_in.unwrap_or(3600).clamp(1, 365 * 86400) * 1000
    }
}

/// A random URL-safe string of `n` bytes.
fn random(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    crate::key::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The S256 challenge of a PKCE verifier (RFC 7636 4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// What a completed Connect connected.
#[derive(Debug, Clone)]
pub struct Connected {
    /// The server.
    pub server: OAuthServer,
    /// Its name.
    pub name: String,
}

impl OAuth {
    /// The server's settings, for an `oauth` server only.
    pub(crate) async fn target(&self, server: OAuthServer) -> Result<OAuthTarget, OAuthError> {
        let mut tx = self.store().read().await?;
        let target = tx.oauth_target(server).await?;
        tx.rollback().await?;
        if target.auth != "oauth" || target.settings.is_none() {
            return Err(OAuthError::Config(format!(
                "{} `{}` does not log in with OAuth (`auth = \"oauth\"` and an `oauth` table)",
                server.what(),
                target.name
            )));
        }
        Ok(target)
    }

    /// The client secret of a target (from its variable, or stored).
    pub(crate) fn client_secret(target: &OAuthTarget) -> Result<Option<Secret>, OAuthError> {
        let settings = target.settings.as_ref().expect("checked by target()");
        settings
            .client_secret(|v| std::env::var(v).ok())
            .map_err(OAuthError::Config)
    }

    /// Starts Connect for `server`: the URL to send its owner to.
    pub async fn begin(&self, server: OAuthServer) -> Result<String, OAuthError> {
        let target = self.target(server).await?;
        let settings = target.settings.as_ref().expect("checked by target()");
        let endpoints = provider::endpoints(&self.inner.http, settings, server).await?;
        let state = random(32);
        let verifier = random(32);
        let mut url = url::Url::parse(&endpoints.authorization).map_err(|e| {
            OAuthError::Config(format!("the authorization endpoint is not a URL: {e}"))
        })?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &settings.client_id)
                .append_pair("redirect_uri", self.redirect_uri())
                .append_pair("scope", &endpoints.scopes.join(" "))
                .append_pair("state", &state)
                .append_pair("code_challenge", &pkce_challenge(&verifier))
                .append_pair("code_challenge_method", "S256");
            for (k, v) in &endpoints.extra {
                q.append_pair(k, v);
            }
            if target.username.contains('@') {
                q.append_pair("login_hint", &target.username);
            }
        }
        let request = OAuthRequest {
            server,
            verifier: self
                .inner
                .key
                .seal(&verifier, &format!("oauth_requests/{state}")),
            redirect_uri: self.redirect_uri().to_owned(),
        };
        let mut tx = self.store().begin().await?;
        tx.insert_oauth_request(&state, &request, REQUEST_MAX_AGE_MS)
            .await?;
        tx.commit().await?;
        tracing::info!(server = %target.name, "OAuth Connect started");
        Ok(url.into())
    }

    /// Completes Connect with what the provider sent back to the callback.
    pub async fn complete(&self, state: &str, code: &str) -> Result<Connected, OAuthError> {
        let mut tx = self.store().begin().await?;
        let request = tx.take_oauth_request(state, REQUEST_MAX_AGE_MS).await?;
        tx.commit().await?;
        let request = request.ok_or_else(|| {
            OAuthError::Request(
                "this answer does not belong to a Connect under way (unknown or expired state): \
                 start Connect again"
                    .into(),
            )
        })?;
        let server = request.server;
        let verifier = self
            .inner
            .key
            .open(&request.verifier, &format!("oauth_requests/{state}"))?;
        let target = self.target(server).await?;
        let settings = target.settings.as_ref().expect("checked by target()");
        let endpoints = provider::endpoints(&self.inner.http, settings, server).await?;
        let secret = Self::client_secret(&target)?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", request.redirect_uri.as_str()),
            ("client_id", settings.client_id.as_str()),
            ("code_verifier", verifier.expose()),
        ];
        if let Some(s) = &secret {
            form.push(("client_secret", s.expose()));
        }
        let answer: TokenAnswer = http::post_form(&self.inner.http, &endpoints.token, &form)
            .await
            .map_err(|e| match e {
                HttpError::Refused { .. } => {
                    OAuthError::Request(format!("the provider refused the code: {e}"))
                }
                HttpError::Unavailable(e) => OAuthError::Provider(e),
            })?;
        let Some(refresh) = answer.refresh_token.as_deref() else {
            return Err(OAuthError::Request(
                "the provider gave no refresh token: Postern needs offline access (see \
                 docs/oauth.md for the scopes)"
                    .into(),
            ));
        };
        let tokens = SealedTokens {
            refresh_token: Some(self.seal(server, "refresh_token", refresh)),
            access_token: self.seal(server, "access_token", &answer.access_token),
            expires_at: answer.expires_at(now_ms()),
        };
        let mut tx = self.store().begin().await?;
        tx.connect_oauth_grant(server, &tokens).await?;
        tx.commit().await?;
        tracing::info!(server = %target.name, "OAuth grant connected");
        metrics::counter!("postern_oauth_connects_total", "server" => target.name.clone())
            .increment(1);
        Ok(Connected {
            server,
            name: target.name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_as_in_rfc_7636() {
        // RFC 7636, appendix B
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(random(32).len(), 43);
        assert_ne!(random(32), random(32));
    }
}
