//! OAuth grants of incoming and outgoing servers (`auth = "oauth"`): the `oauth` settings column
//! of both server tables ([`OAuthColumn`]), the grant that Connect made (`oauth_grants`), the
//! lease that lets one node at a time refresh it, and the authorization requests under way
//! (`oauth_requests`: `state` → PKCE verifier and redirect URI, each taken once).
//!
//! What it trusts: the tokens it is given are already sealed by `postern-oauth` (this module
//! never sees a token in clear, and has no key). The client secret of the settings is stored as
//! passwords are (write-only: views carry only `has_client_secret`).
//!
//! How it fails: a grant refused by the provider is kept with `state = 'failed'` and the
//! provider's reason (`fail_oauth_grant`), which also emits `outgoing_server.failed` for an
//! outgoing server (an incoming server's poll emits `incoming_server.failed` with the same text).

use crate::{StoreError, Tx, now_ms, on};
use postern_model::{IncomingServerId, OAuthSettings, OutgoingServerId, Secret};
use serde::{Serialize, Serializer};

/// The start of the `waiting_reason` of a mail held back because its server's grant failed:
/// such mails wait (not an attempt, never failed for it) until the server is connected again.
pub const OAUTH_WAITING: &str = "waiting for its outgoing server to be connected again (OAuth): ";

/// The `oauth` column of a server: its settings, the client secret included (never serialised).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OAuthColumn(pub Option<OAuthSettings>);

impl TryFrom<Option<String>> for OAuthColumn {
    type Error = String;

    fn try_from(v: Option<String>) -> Result<Self, String> {
        let Some(text) = v else {
            return Ok(OAuthColumn(None));
        };
        let mut value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("oauth column: {e}"))?;
        let secret = value
            .as_object_mut()
            .and_then(|o| o.remove("client_secret"))
            .and_then(|v| v.as_str().map(Secret::new));
        let mut s: OAuthSettings =
            serde_json::from_value(value).map_err(|e| format!("oauth column: {e}"))?;
        s.has_client_secret = secret.is_some();
        s.client_secret = secret;
        Ok(OAuthColumn(Some(s)))
    }
}

impl Serialize for OAuthColumn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// The column's text for `new` settings: a client secret given replaces the old one, an empty
/// one clears it, none keeps `old`'s.
pub(crate) fn oauth_column_text(
    new: &Option<OAuthSettings>,
    old: &OAuthColumn,
) -> Result<Option<String>, StoreError> {
    let Some(s) = new else {
        return Ok(None);
    };
    if s.client_id.trim().is_empty() {
        return Err(StoreError::invalid("oauth.client_id", "is required"));
    }
    let kept = old.0.as_ref().and_then(|o| o.client_secret.clone());
    let secret = match &s.client_secret {
        None => kept,
        Some(v) if v.expose().is_empty() => None,
        Some(v) => Some(v.clone()),
    };
    let mut value = serde_json::to_value(s).map_err(|e| StoreError::invalid("oauth", e))?;
    if let Some(o) = value.as_object_mut() {
        o.remove("has_client_secret");
        if let Some(secret) = secret {
            o.insert("client_secret".into(), secret.expose().into());
        }
    }
    Ok(Some(value.to_string()))
}

/// The server a grant belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OAuthServer {
    /// An IMAP or POP3 mailbox.
    Incoming(IncomingServerId),
    /// An SMTP relay.
    Outgoing(OutgoingServerId),
}

impl OAuthServer {
    /// The server's id.
    pub fn id(self) -> i64 {
        match self {
            OAuthServer::Incoming(i) => i.get(),
            OAuthServer::Outgoing(i) => i.get(),
        }
    }

    /// `incoming-servers` or `outgoing-servers`: the API's and the UI's path segment.
    pub fn kind(self) -> &'static str {
        match self {
            OAuthServer::Incoming(_) => "incoming-servers",
            OAuthServer::Outgoing(_) => "outgoing-servers",
        }
    }

    /// `incoming server` or `outgoing server`.
    pub fn what(self) -> &'static str {
        match self {
            OAuthServer::Incoming(_) => "incoming server",
            OAuthServer::Outgoing(_) => "outgoing server",
        }
    }

    fn table(self) -> &'static str {
        match self {
            OAuthServer::Incoming(_) => "incoming_servers",
            OAuthServer::Outgoing(_) => "outgoing_servers",
        }
    }

    fn column(self) -> &'static str {
        match self {
            OAuthServer::Incoming(_) => "incoming_server_id",
            OAuthServer::Outgoing(_) => "outgoing_server_id",
        }
    }

    fn of(incoming: Option<i64>, outgoing: Option<i64>) -> Option<OAuthServer> {
        match (incoming, outgoing) {
            (Some(i), _) => Some(OAuthServer::Incoming(IncomingServerId(i))),
            (None, Some(o)) => Some(OAuthServer::Outgoing(OutgoingServerId(o))),
            (None, None) => None,
        }
    }
}

/// What Postern logs in as, and with which client: everything a token request needs.
#[derive(Debug, Clone)]
pub struct OAuthTarget {
    /// The server.
    pub server: OAuthServer,
    /// Its name.
    pub name: String,
    /// The mailbox's login (the XOAUTH2 `user`).
    pub username: String,
    /// `oauth`, `xoauth2`, ...: only `oauth` servers have grants that Postern refreshes.
    pub auth: String,
    /// The settings (`None`: the server has no `oauth` table).
    pub settings: Option<OAuthSettings>,
}

/// The grant of a server, its tokens sealed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OAuthGrant {
    /// `connected` or `failed`.
    pub state: String,
    /// Sealed refresh token.
    pub refresh_token: Option<String>,
    /// Sealed access token.
    pub access_token: Option<String>,
    /// When the access token expires (epoch ms).
    pub expires_at: Option<i64>,
    /// The provider's reason, when failed.
    pub error: Option<String>,
    /// Who holds the refresh lease, until when.
    pub lease_owner: Option<String>,
    /// The lease's end (epoch ms).
    pub lease_until: Option<i64>,
}

/// Tokens to keep after a token request, sealed.
#[derive(Debug, Clone)]
pub struct SealedTokens {
    /// The new refresh token (`None`: the provider kept the old one).
    pub refresh_token: Option<String>,
    /// The access token.
    pub access_token: String,
    /// Its expiry (epoch ms).
    pub expires_at: i64,
}

/// An authorization request under way.
#[derive(Debug, Clone)]
pub struct OAuthRequest {
    /// The server to connect.
    pub server: OAuthServer,
    /// The sealed PKCE verifier.
    pub verifier: String,
    /// The redirect URI the request was made with (the token request repeats it).
    pub redirect_uri: String,
}

type TargetRow = (String, Option<String>, String, Option<String>);

impl Tx {
    /// The server's name, login and OAuth settings.
    pub async fn oauth_target(&mut self, server: OAuthServer) -> Result<OAuthTarget, StoreError> {
        let sql = format!(
            "SELECT name, username, auth, oauth FROM {} WHERE id = $1",
            server.table()
        );
        let row: Option<TargetRow> = on!(self, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(server.id())
            .fetch_optional(c)
            .await)?;
        let (name, username, auth, oauth) =
            row.ok_or_else(|| StoreError::not_found(server.what(), server.id()))?;
        let settings = OAuthColumn::try_from(oauth)
            .map_err(|e| StoreError::invalid("oauth", e))?
            .0;
        Ok(OAuthTarget {
            server,
            name,
            username: username.unwrap_or_default(),
            auth,
            settings,
        })
    }

    /// The grant of `server`, if it was ever connected.
    pub async fn oauth_grant(
        &mut self,
        server: OAuthServer,
    ) -> Result<Option<OAuthGrant>, StoreError> {
        let sql = format!(
            "SELECT state, refresh_token, access_token, expires_at, error, lease_owner, lease_until \
             FROM oauth_grants WHERE {} = $1",
            server.column()
        );
        Ok(on!(self, |c| sqlx::query_as::<_, OAuthGrant>(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(server.id())
        .fetch_optional(c)
        .await)?)
    }

    /// A new grant (Connect): replaces the old one, whatever its state.
    pub async fn connect_oauth_grant(
        &mut self,
        server: OAuthServer,
        tokens: &SealedTokens,
    ) -> Result<(), StoreError> {
        let column = server.column();
        let delete = format!("DELETE FROM oauth_grants WHERE {column} = $1");
        on!(self, |c| sqlx::query(sqlx::AssertSqlSafe(delete))
            .bind(server.id())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        let insert = format!(
            "INSERT INTO oauth_grants ({column}, state, refresh_token, access_token, expires_at, \
             connected_at, refreshed_at) VALUES ($1, 'connected', $2, $3, $4, $5, $5)"
        );
        on!(self, |c| sqlx::query(sqlx::AssertSqlSafe(insert))
            .bind(server.id())
            .bind(&tokens.refresh_token)
            .bind(&tokens.access_token)
            .bind(tokens.expires_at)
            .bind(now_ms())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        if let OAuthServer::Outgoing(_) = server {
            self.wake_mails_waiting_for_oauth().await?;
        }
        Ok(())
    }

    /// Makes the mails held back for a failed grant ([`OAUTH_WAITING`]) due now: a server was
    /// connected again.
    pub async fn wake_mails_waiting_for_oauth(&mut self) -> Result<u64, StoreError> {
        let now = now_ms();
        let pattern = format!("{OAUTH_WAITING}%");
        Ok(on!(self, |c| sqlx::query(
            "UPDATE mails SET next_try_at = $1 WHERE state = 'outgoing' AND waiting_reason LIKE $2 \
             AND next_try_at > $1"
        )
        .bind(now)
        .bind(&pattern)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?)
    }

    /// The tokens of a refresh: a rotated refresh token replaces the old one (kept otherwise).
    pub async fn save_oauth_tokens(
        &mut self,
        server: OAuthServer,
        tokens: &SealedTokens,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE oauth_grants SET refresh_token = COALESCE($1, refresh_token), access_token = $2, \
             expires_at = $3, refreshed_at = $4, state = 'connected', error = NULL, error_at = NULL \
             WHERE {} = $5",
            server.column()
        );
        on!(self, |c| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&tokens.refresh_token)
            .bind(&tokens.access_token)
            .bind(tokens.expires_at)
            .bind(now_ms())
            .bind(server.id())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The access token is refused (a 401, an AUTH failure): the next use refreshes it.
    pub async fn expire_oauth_access_token(
        &mut self,
        server: OAuthServer,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE oauth_grants SET access_token = NULL, expires_at = 0 WHERE {} = $1",
            server.column()
        );
        on!(self, |c| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(server.id())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The provider refused a refresh: the grant is failed with `error` (its tokens dropped)
    /// until someone connects the server again. Emits `outgoing_server.failed` for an outgoing
    /// server (an incoming server's poll reports its own failure).
    pub async fn fail_oauth_grant(
        &mut self,
        server: OAuthServer,
        error: &str,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE oauth_grants SET state = 'failed', error = $1, error_at = $2, \
             access_token = NULL, refresh_token = NULL, expires_at = NULL WHERE {} = $3",
            server.column()
        );
        on!(self, |c| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(error)
            .bind(now_ms())
            .bind(server.id())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        if let OAuthServer::Outgoing(id) = server {
            let data = serde_json::json!({"error": error, "oauth": true});
            self.emit("outgoing_server.failed", Some(id.get()), Some(data))
                .await?;
        }
        Ok(())
    }

    /// Takes (or renews) the refresh lease of a grant for `owner` until `until`: true when held.
    pub async fn take_oauth_lease(
        &mut self,
        server: OAuthServer,
        owner: &str,
        until: i64,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE oauth_grants SET lease_owner = $1, lease_until = $2 WHERE {} = $3 \
             AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until IS NULL OR lease_until < $4)",
            server.column()
        );
        let n = on!(self, |c| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(until)
            .bind(server.id())
            .bind(now_ms())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Gives the refresh lease back (when `owner` still holds it).
    pub async fn release_oauth_lease(
        &mut self,
        server: OAuthServer,
        owner: &str,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE oauth_grants SET lease_owner = NULL, lease_until = NULL \
             WHERE {} = $1 AND lease_owner = $2",
            server.column()
        );
        on!(self, |c| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(server.id())
            .bind(owner)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Remembers an authorization request under way (and forgets those older than `max_age_ms`).
    pub async fn insert_oauth_request(
        &mut self,
        state: &str,
        request: &OAuthRequest,
        max_age_ms: i64,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        on!(self, |c| sqlx::query(
            "DELETE FROM oauth_requests WHERE created_at < $1"
        )
        .bind(now - max_age_ms)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        let sql = format!(
            "INSERT INTO oauth_requests (state, {}, verifier, redirect_uri, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
            request.server.column()
        );
        on!(self, |c| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(state)
            .bind(request.server.id())
            .bind(&request.verifier)
            .bind(&request.redirect_uri)
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Takes the request of `state` (once: it is deleted), if it is younger than `max_age_ms`.
    pub async fn take_oauth_request(
        &mut self,
        state: &str,
        max_age_ms: i64,
    ) -> Result<Option<OAuthRequest>, StoreError> {
        type Row = (Option<i64>, Option<i64>, String, String, i64);
        let row: Option<Row> = on!(self, |c| sqlx::query_as(
            "DELETE FROM oauth_requests WHERE state = $1 \
             RETURNING incoming_server_id, outgoing_server_id, verifier, redirect_uri, created_at"
        )
        .bind(state)
        .fetch_optional(c)
        .await)?;
        Ok(row.and_then(|(i, o, verifier, redirect_uri, at)| {
            let server = OAuthServer::of(i, o)?;
            (now_ms() - at <= max_age_ms).then_some(OAuthRequest {
                server,
                verifier,
                redirect_uri,
            })
        }))
    }
}

impl Tx {
    /// How many servers, incoming and outgoing, log in with `auth = "oauth"`.
    pub async fn count_oauth_servers(&mut self) -> Result<i64, StoreError> {
        Ok(on!(self, |c| sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM incoming_servers WHERE auth = 'oauth') + \
             (SELECT COUNT(*) FROM outgoing_servers WHERE auth = 'oauth')"
        )
        .fetch_one(c)
        .await)?)
    }
}
