//! Outgoing servers, the SMTP relays Postern sends through, or direct delivery to the
//! recipients' MX hosts (kind `mx`) ([`OutgoingServer`], [`OutgoingServerInput`]), their
//! write-only password, their send limits and their methods on [`Tx`].

use super::{check_oauth, optional, port, secret_update, valid_env_name, valid_host};
use crate::oauth::{OAuthColumn, oauth_column_text};
use crate::{StoreError, Tx, now_ms, on};
use postern_model::address::{email_normalize, is_dot_atom};
use postern_model::{Encryption, OAuthSettings, OutgoingServerId, Secret, ServerKind};
use serde::{Deserialize, Serialize};

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
    /// `relay` or `mx` (direct delivery).
    #[sqlx(try_from = "String")]
    pub kind: ServerKind,
    /// Direct delivery: connections open at once to one destination domain (per node).
    pub connections_per_domain: i64,
    /// Mails sent in any second, at most (`None`: no limit).
    pub limit_per_second: Option<i64>,
    /// Mails sent in any hour, at most.
    pub limit_per_hour: Option<i64>,
    /// Mails sent in any day (24 hours), at most.
    pub limit_per_day: Option<i64>,
    /// Creation time (epoch ms).
    pub created_at: i64,
    /// `password` (PLAIN/LOGIN), `xoauth2` (the password is an access token) or `oauth`
    /// (Postern gets and refreshes the access token from the grant that Connect made).
    pub auth: String,
    /// OAuth settings (`auth = "oauth"`); the client secret is never shown.
    #[sqlx(try_from = "Option<String>")]
    pub oauth: OAuthColumn,
    /// `connected` or `failed` once Connect ran (`None`: never connected).
    pub oauth_state: Option<String>,
    /// Why the grant failed (the provider's reason): reconnect the server.
    pub oauth_error: Option<String>,
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
            kind: Some(self.kind),
            connections_per_domain: Some(self.connections_per_domain),
            limit_per_second: self.limit_per_second,
            limit_per_hour: self.limit_per_hour,
            limit_per_day: self.limit_per_day,
            auth: Some(self.auth.clone()),
            oauth: self.oauth.0.clone(),
        }
    }
}

/// What is given to create or change an outgoing server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutgoingServerInput {
    /// Unique name.
    pub name: String,
    /// Host (a relay's; not used by an `mx` server, which may leave it out).
    #[serde(default)]
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
    /// `relay` (default) or `mx`: direct delivery to each recipient domain's MX hosts on
    /// `port` (default 25), STARTTLS when offered (`encryption` `none`) or required
    /// (`starttls`, `starttls_strict`); no login.
    #[serde(default)]
    pub kind: Option<ServerKind>,
    /// Direct delivery: connections open at once to one destination domain, 1 to 100
    /// (default 2).
    #[serde(default)]
    pub connections_per_domain: Option<i64>,
    /// At most this many mails in any second (a mail over a limit waits; default: no limit).
    #[serde(default)]
    pub limit_per_second: Option<i64>,
    /// At most this many mails in any hour.
    #[serde(default)]
    pub limit_per_hour: Option<i64>,
    /// At most this many mails in any day (24 hours).
    #[serde(default)]
    pub limit_per_day: Option<i64>,
    /// `password` (default), `xoauth2` or `oauth` (with `oauth` settings).
    #[serde(default)]
    pub auth: Option<String>,
    /// With `auth = "oauth"`: the provider and client (docs/oauth.md).
    #[serde(default)]
    pub oauth: Option<OAuthSettings>,
}

/// A send limit: none, or at least 1.
fn limit(field: &str, value: Option<i64>) -> Result<Option<i64>, StoreError> {
    match value {
        Some(n) if n < 1 => Err(StoreError::invalid(
            field,
            format!("{n}: a limit is at least 1 (leave it out for no limit)"),
        )),
        v => Ok(v),
    }
}

/// Direct delivery's connections to one domain: 1 to 100 (default 2).
fn connections_per_domain(input: &OutgoingServerInput) -> Result<i64, StoreError> {
    let per_domain = input.connections_per_domain.unwrap_or(2);
    if !(1..=100).contains(&per_domain) {
        return Err(StoreError::invalid(
            "connections_per_domain",
            format!("{per_domain}: expected 1 to 100"),
        ));
    }
    Ok(per_domain)
}

/// What an `mx` server may not have: a TLS-at-once port or a login (MX hosts take mail on port
/// 25 with STARTTLS, from anyone). Its host is not used.
fn check_kind(input: &OutgoingServerInput, kind: ServerKind) -> Result<String, StoreError> {
    if kind == ServerKind::Relay {
        return valid_host(&input.host);
    }
    if matches!(
        input.encryption,
        Some(Encryption::Ssl | Encryption::SslStrict)
    ) {
        return Err(StoreError::invalid(
            "encryption",
            "an mx server speaks STARTTLS: `none` (STARTTLS when offered), `starttls` or \
             `starttls_strict` (required)",
        ));
    }
    if optional(&input.username).is_some() || input.password.is_some() {
        return Err(StoreError::invalid(
            "username",
            "an mx server does not log in (MX hosts take mail from anyone)",
        ));
    }
    if input.host.trim().is_empty() {
        Ok(String::new())
    } else {
        valid_host(&input.host)
    }
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

const OUTGOING_SELECT: &str = "SELECT s.id, s.name, s.host, s.port, s.encryption, s.username, s.password_env, \
     (s.password IS NOT NULL) AS has_password, s.from_filter, s.sequence, s.active, s.kind, s.connections_per_domain, \
     s.limit_per_second, s.limit_per_hour, s.limit_per_day, s.created_at, s.auth, s.oauth, \
     g.state AS oauth_state, g.error AS oauth_error \
     FROM outgoing_servers s LEFT JOIN oauth_grants g ON g.outgoing_server_id = s.id";

const OUTGOING_SERVER_BY_NAME: &str = "SELECT id FROM outgoing_servers WHERE name = $1";

impl Tx {
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

    /// How the server logs in (`auth`; left out, the stored one is kept: `postern server auth`
    /// sets it too), and the text of its `oauth` column (a client secret not given is kept).
    async fn outgoing_auth(
        &mut self,
        input: &OutgoingServerInput,
        id: Option<OutgoingServerId>,
    ) -> Result<(String, Option<String>), StoreError> {
        let (old_auth, old_oauth): (Option<String>, Option<String>) = match id {
            Some(id) => on!(self, |c| sqlx::query_as(
                "SELECT auth, oauth FROM outgoing_servers WHERE id = $1"
            )
            .bind(id.get())
            .fetch_one(c)
            .await)?,
            None => (None, None),
        };
        let auth = input
            .auth
            .clone()
            .or(old_auth)
            .unwrap_or_else(|| "password".into());
        if !matches!(auth.as_str(), "password" | "xoauth2" | "oauth") {
            return Err(StoreError::invalid(
                "auth",
                format!("`{auth}`: expected `password`, `xoauth2` or `oauth`"),
            ));
        }
        check_oauth(auth == "oauth", &input.oauth)?;
        let old_oauth = OAuthColumn::try_from(old_oauth).unwrap_or_default();
        Ok((auth, oauth_column_text(&input.oauth, &old_oauth)?))
    }

    /// The outgoing server named `name`, if any.
    pub async fn find_outgoing_server(
        &mut self,
        name: &str,
    ) -> Result<Option<OutgoingServerId>, StoreError> {
        self.find_id(OUTGOING_SERVER_BY_NAME, name).await
    }

    async fn write_outgoing_server(
        &mut self,
        input: &OutgoingServerInput,
        id: Option<OutgoingServerId>,
    ) -> Result<OutgoingServerId, StoreError> {
        let name = self
            .unique_name(OUTGOING_SERVER_BY_NAME, "outgoing server", &input.name, id)
            .await?;
        let kind = input.kind.unwrap_or_default();
        let host = check_kind(input, kind)?;
        let per_domain = connections_per_domain(input)?;
        let limits = [
            limit("limit_per_second", input.limit_per_second)?,
            limit("limit_per_hour", input.limit_per_hour)?,
            limit("limit_per_day", input.limit_per_day)?,
        ];
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
        let (auth, oauth) = self.outgoing_auth(input, id).await?;
        let q = match id {
            None => {
                "INSERT INTO outgoing_servers (name, host, port, encryption, username, password, password_env, \
                     from_filter, sequence, active, created_at, kind, connections_per_domain, limit_per_second, \
                     limit_per_hour, limit_per_day, auth, oauth) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $13, $14, $15, $16, $17, $18, $19) \
                     RETURNING id"
            }
            Some(_) => {
                "UPDATE outgoing_servers SET name = $1, host = $2, port = $3, encryption = $4, username = $5, \
                        password = $6, password_env = $7, from_filter = $8, sequence = $9, active = $10, kind = $13, \
                        connections_per_domain = $14, limit_per_second = $15, limit_per_hour = $16, limit_per_day = $17, \
                        auth = $18, oauth = $19 WHERE id = $12 AND $11 = $11 RETURNING id"
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
            .bind(kind.as_str())
            .bind(per_domain)
            .bind(limits[0])
            .bind(limits[1])
            .bind(limits[2])
            .bind(&auth)
            .bind(&oauth)
            .fetch_one(c)
            .await)
        .map_err(|e| StoreError::from_write(e, "outgoing server"))?;
        if input.active.unwrap_or(true) {
            self.wake_mails_waiting_for_a_server().await?;
        }
        Ok(OutgoingServerId(new_id))
    }
}

// The password is write-only: an update without one keeps it.
super::config_table!(
    OutgoingServer,
    OutgoingServerInput,
    OutgoingServerId,
    "outgoing server",
    "outgoing_servers",
    OUTGOING_SELECT,
    "s.id",
    write_outgoing_server,
    |tx, input| tx.find_outgoing_server(&input.name).await,
    secret "password" password
);
