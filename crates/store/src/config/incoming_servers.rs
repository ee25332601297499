//! Incoming servers, the IMAP and POP3 mailboxes polled for mail ([`IncomingServer`],
//! [`IncomingServerInput`], the polling [`Interval`]), their write-only password and their methods
//! on [`Tx`].

use super::{check_oauth, optional, port, required, secret_update, valid_env_name, valid_host};
use crate::oauth::{OAuthColumn, oauth_column_text};
use crate::{StoreError, Tx, now_ms, on};
use postern_model::{
    Encryption, FetchAuth, FetchProtocol, IncomingServerId, OAuthSettings, Secret,
};
use serde::{Deserialize, Serialize};

/// An IMAP or POP3 mailbox polled for mail. The password is never part of this view.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct IncomingServer {
    /// Id.
    #[sqlx(try_from = "i64")]
    pub id: IncomingServerId,
    /// Unique name.
    pub name: String,
    /// `imap` or `pop3`.
    #[sqlx(try_from = "String")]
    pub protocol: FetchProtocol,
    /// Host.
    pub host: String,
    /// TCP port.
    pub port: i64,
    /// Transport security.
    #[sqlx(try_from = "String")]
    pub encryption: Encryption,
    /// Login.
    pub username: String,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// True when a password is stored.
    pub has_password: bool,
    /// Fallback model of fetched mail.
    pub model: Option<String>,
    /// Seconds between polls.
    pub interval_seconds: i64,
    /// Order of polling (lowest first).
    pub priority: i64,
    /// Keep the original as an attachment of the message.
    pub keep_original: bool,
    /// Keep attachments (false strips them).
    pub attachments: bool,
    /// Archived servers are not polled.
    pub active: bool,
    /// Last successful poll (epoch ms).
    pub last_success_at: Option<i64>,
    /// Last error.
    pub last_error: Option<String>,
    /// Failed polls since the last success.
    pub error_count: i64,
    /// Creation time (epoch ms).
    pub created_at: i64,
    /// How Postern logs in.
    #[sqlx(try_from = "String")]
    pub auth: FetchAuth,
    /// At most this many messages per poll.
    pub max_messages: i64,
    /// Last poll, successful or not (epoch ms).
    pub last_poll_at: Option<i64>,
    /// Time of the last error (epoch ms).
    pub last_error_at: Option<i64>,
    /// Start of the failures that go on (epoch ms).
    pub first_error_at: Option<i64>,
    /// Set when the server was disabled for failing too long (epoch ms); a successful manual
    /// fetch clears it.
    pub disabled_at: Option<i64>,
    /// Messages that failed and wait for the next poll.
    pub failing_messages: i64,
    /// OAuth settings (`auth = "oauth"`); the client secret is never shown.
    #[sqlx(try_from = "Option<String>")]
    pub oauth: OAuthColumn,
    /// `connected` or `failed` once Connect ran (`None`: never connected).
    pub oauth_state: Option<String>,
    /// Why the grant failed (the provider's reason): reconnect the server.
    pub oauth_error: Option<String>,
}

impl IncomingServer {
    /// The input that would produce this row; the password is left out (unchanged).
    pub fn to_input(&self) -> IncomingServerInput {
        IncomingServerInput {
            name: self.name.clone(),
            protocol: Some(self.protocol),
            host: self.host.clone(),
            port: Some(self.port),
            encryption: Some(self.encryption),
            username: self.username.clone(),
            password: None,
            password_env: self.password_env.clone(),
            model: self.model.clone(),
            interval: Some(Interval::Seconds(self.interval_seconds)),
            priority: Some(self.priority),
            keep_original: Some(self.keep_original),
            attachments: Some(self.attachments),
            active: Some(self.active),
            auth: Some(self.auth),
            max_messages: Some(self.max_messages),
            oauth: self.oauth.0.clone(),
        }
    }
}

/// A polling interval: seconds, or a string with a unit (`30s`, `5m`, `1h`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Interval {
    /// A number of seconds.
    Seconds(i64),
    /// `<n>s`, `<n>m`, `<n>h` or `<n>d`.
    Text(String),
}

impl Interval {
    /// The interval in seconds, at least 10.
    pub fn seconds(&self) -> Result<i64, String> {
        let secs = match self {
            Interval::Seconds(s) => *s,
            Interval::Text(t) => parse_duration_secs(t)
                .ok_or_else(|| format!("`{t}` is not a duration such as `30s`, `5m` or `1h`"))?,
        };
        if secs < 10 {
            return Err(format!("{secs}s is too short: at least 10s"));
        }
        Ok(secs)
    }
}

/// Parses `30s`, `5m`, `2h`, `1d` or a bare number of seconds.
pub fn parse_duration_secs(text: &str) -> Option<i64> {
    let t = text.trim();
    let (num, mult) = match t.char_indices().last()? {
        (i, 's') => (&t[..i], 1),
        (i, 'm') => (&t[..i], 60),
        (i, 'h') => (&t[..i], 3600),
        (i, 'd') => (&t[..i], 86400),
        _ => (t, 1),
    };
    num.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .and_then(|n| n.checked_mul(mult))
}

/// What is given to create or change an incoming server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncomingServerInput {
    /// Unique name.
    pub name: String,
    /// Default `imap`.
    #[serde(default)]
    pub protocol: Option<FetchProtocol>,
    /// Host.
    pub host: String,
    /// Default 993/143 (IMAP), 995/110 (POP3) with/without implicit TLS.
    #[serde(default)]
    pub port: Option<i64>,
    /// Default `ssl_strict`.
    #[serde(default)]
    pub encryption: Option<Encryption>,
    /// Login.
    pub username: String,
    /// Write-only password. An empty string clears it.
    #[serde(default, skip_serializing)]
    pub password: Option<Secret>,
    /// Environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Fallback model.
    #[serde(default)]
    pub model: Option<String>,
    /// Default 5 minutes.
    #[serde(default)]
    pub interval: Option<Interval>,
    /// Default 5.
    #[serde(default)]
    pub priority: Option<i64>,
    /// Default false.
    #[serde(default)]
    pub keep_original: Option<bool>,
    /// Default true.
    #[serde(default)]
    pub attachments: Option<bool>,
    /// Default true.
    #[serde(default)]
    pub active: Option<bool>,
    /// Default `login`; `xoauth2` takes the access token from `password` or `password_env`;
    /// `oauth` gets it from the grant that Connect made (`oauth` settings).
    #[serde(default)]
    pub auth: Option<FetchAuth>,
    /// Messages per poll, default 50.
    #[serde(default)]
    pub max_messages: Option<i64>,
    /// With `auth = "oauth"`: the provider and client (docs/oauth.md).
    #[serde(default)]
    pub oauth: Option<OAuthSettings>,
}

/// The checked values of an incoming server, as written (the password apart).
struct IncomingServerRow {
    name: String,
    protocol: FetchProtocol,
    host: String,
    port: i64,
    encryption: Encryption,
    username: String,
    password_env: Option<String>,
    model_id: Option<i64>,
    interval: i64,
    max_messages: i64,
    auth: FetchAuth,
}

const INCOMING_SELECT: &str = "SELECT s.id, s.name, s.protocol, s.host, s.port, s.encryption, s.username, s.password_env, \
     (s.password IS NOT NULL) AS has_password, m.name AS model, s.interval_seconds, s.priority, s.keep_original, \
     s.attachments, s.active, s.last_success_at, s.last_error, s.error_count, s.created_at, \
     s.auth, s.max_messages, s.last_poll_at, s.last_error_at, s.first_error_at, s.disabled_at, \
     (SELECT COUNT(*) FROM fetch_failures f WHERE f.server_id = s.id) AS failing_messages, \
     s.oauth, g.state AS oauth_state, g.error AS oauth_error \
     FROM incoming_servers s LEFT JOIN models m ON m.id = s.model_id \
     LEFT JOIN oauth_grants g ON g.incoming_server_id = s.id";

const INCOMING_SERVER_BY_NAME: &str = "SELECT id FROM incoming_servers WHERE name = $1";

impl Tx {
    /// The incoming server named `name`, if any.
    pub async fn find_incoming_server(
        &mut self,
        name: &str,
    ) -> Result<Option<IncomingServerId>, StoreError> {
        self.find_id(INCOMING_SERVER_BY_NAME, name).await
    }

    /// Checks an input (the name unique among the other servers) and declares its model; the
    /// password is `write_incoming_server`'s.
    async fn prepare_incoming_server(
        &mut self,
        input: &IncomingServerInput,
        id: Option<IncomingServerId>,
    ) -> Result<IncomingServerRow, StoreError> {
        let name = self
            .unique_name(INCOMING_SERVER_BY_NAME, "incoming server", &input.name, id)
            .await?;
        let host = valid_host(&input.host)?;
        let protocol = input.protocol.unwrap_or_default();
        let encryption = input.encryption.unwrap_or(Encryption::SslStrict);
        let implicit_tls = matches!(encryption, Encryption::Ssl | Encryption::SslStrict);
        let default_port = match (protocol, implicit_tls) {
            (FetchProtocol::Imap, true) => 993,
            (FetchProtocol::Imap, false) => 143,
            (FetchProtocol::Pop3, true) => 995,
            (FetchProtocol::Pop3, false) => 110,
        };
        let port = port("port", input.port, default_port)?;
        let username = required("username", &input.username)?;
        let password_env = valid_env_name("password_env", &input.password_env)?;
        let interval = match &input.interval {
            None => 300,
            Some(i) => i
                .seconds()
                .map_err(|m| StoreError::invalid("interval", m))?,
        };
        let max_messages = input.max_messages.unwrap_or(50);
        if !(1..=10_000).contains(&max_messages) {
            return Err(StoreError::invalid(
                "max_messages",
                "must be between 1 and 10000",
            ));
        }
        let model_id = match optional(&input.model) {
            Some(m) => Some(self.ensure_model("model", &m).await?.get()),
            None => None,
        };
        let auth = input.auth.unwrap_or_default();
        check_oauth(auth == FetchAuth::Oauth, &input.oauth)?;
        Ok(IncomingServerRow {
            auth,
            name,
            protocol,
            host,
            port,
            encryption,
            username,
            password_env,
            model_id,
            interval,
            max_messages,
        })
    }

    async fn write_incoming_server(
        &mut self,
        input: &IncomingServerInput,
        id: Option<IncomingServerId>,
    ) -> Result<IncomingServerId, StoreError> {
        let r = self.prepare_incoming_server(input, id).await?;
        let (old, old_oauth): (Option<String>, Option<String>) = match id {
            Some(id) => on!(self, |c| sqlx::query_as(
                "SELECT password, oauth FROM incoming_servers WHERE id = $1"
            )
            .bind(id.get())
            .fetch_one(c)
            .await)?,
            None => (None, None),
        };
        let password = secret_update(&input.password, old);
        let old_oauth = OAuthColumn::try_from(old_oauth).unwrap_or_default();
        let oauth = oauth_column_text(&input.oauth, &old_oauth)?;
        let q = match id {
            None => {
                "INSERT INTO incoming_servers (name, protocol, host, port, encryption, username, password, password_env, \
                     model_id, interval_seconds, priority, keep_original, attachments, active, created_at, auth, max_messages, oauth) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $17, $18, $19) RETURNING id"
            }
            Some(_) => {
                "UPDATE incoming_servers SET name = $1, protocol = $2, host = $3, port = $4, encryption = $5, \
                        username = $6, password = $7, password_env = $8, model_id = $9, interval_seconds = $10, \
                        priority = $11, keep_original = $12, attachments = $13, active = $14, \
                        auth = $17, max_messages = $18, oauth = $19 WHERE id = $16 AND $15 = $15 RETURNING id"
            }
        };
        let new_id: i64 = on!(self, |c| sqlx::query_scalar(q)
            .bind(&r.name)
            .bind(r.protocol.as_str())
            .bind(&r.host)
            .bind(r.port)
            .bind(r.encryption.as_str())
            .bind(&r.username)
            .bind(&password)
            .bind(&r.password_env)
            .bind(r.model_id)
            .bind(r.interval)
            .bind(input.priority.unwrap_or(5))
            .bind(input.keep_original.unwrap_or(false))
            .bind(input.attachments.unwrap_or(true))
            .bind(input.active.unwrap_or(true))
            .bind(now_ms())
            .bind(id.map(|i| i.get()).unwrap_or(0))
            .bind(r.auth.as_str())
            .bind(r.max_messages)
            .bind(&oauth)
            .fetch_one(c)
            .await)
        .map_err(|e| StoreError::from_write(e, "incoming server"))?;
        Ok(IncomingServerId(new_id))
    }
}

// The password is write-only: an update without one keeps it.
super::config_table!(
    IncomingServer,
    IncomingServerInput,
    IncomingServerId,
    "incoming server",
    "incoming_servers",
    INCOMING_SELECT,
    "s.id",
    write_incoming_server,
    |tx, input| tx.find_incoming_server(&input.name).await,
    secret "password" password
);
