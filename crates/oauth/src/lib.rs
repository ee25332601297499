//! postern-oauth — OAuth 2 for the mailboxes (IMAP, POP3) and relays (SMTP) that no longer take
//! a password (Gmail, Microsoft 365): Connect once, and the access token is refreshed for ever,
//! or the server is put in an error state that says why.
//!
//! Actors: the admin (Connect in the UI, or `postern oauth connect`), the provider (Google,
//! Microsoft, any OIDC issuer: [`provider`]), the fetcher and the delivery runner (they ask
//! [`OAuth::access_token`] before they log in, and [`OAuth::expire`] when the token is refused),
//! the store (grants, leases, requests under way; never a token in clear) and the key that
//! seals the tokens ([`key`]).
//!
//! The rules:
//! - Connect is the authorization-code flow with PKCE (S256) and a random `state`, each taken
//!   once and for 15 minutes; the redirect URI is always Postern's own callback (given at
//!   construction, never taken from a request).
//! - The refresh token and the access token are sealed (AES-256-GCM) before they are stored.
//! - The access token is refreshed when less than the margin (60 s) of it is left, and at once
//!   after it was refused; by one node at a time (a lease on the grant's row); a rotated refresh
//!   token is committed before the new access token is used.
//! - A refresh the provider refuses (revoked, expired, consent withdrawn) fails the grant with
//!   the provider's reason, counts in `postern_oauth_refreshes_total{result="failed"}` and stays
//!   failed until someone connects again; a provider that does not answer is a temporary error.
//! - Nothing secret is logged or put in an error: tokens, verifiers and the client secret are
//!   [`Secret`]s or sealed strings, and provider errors are reduced to their code and text.
#![warn(missing_docs)]

pub mod connect;
mod http;
pub mod key;
pub mod provider;
mod refresh;

pub use connect::Connected;
pub use key::{KEY_ENV, KEY_FILE, KeyError, SecretKey};
pub use postern_store::OAuthServer;

use postern_model::Secret;
use postern_store::{Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// The path of the callback under Postern's HTTP server.
pub const CALLBACK_PATH: &str = "/oauth/callback";

/// Why a token could not be had, or a Connect not made.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The server was never connected.
    #[error("{0}")]
    NotConnected(String),
    /// The grant failed (refused by the provider): a person must connect the server again.
    #[error("{0}")]
    Failed(String),
    /// The provider could not be reached or answered nonsense: try again later.
    #[error("the OAuth provider is unavailable: {0}")]
    Provider(String),
    /// The server's OAuth settings cannot work (no settings, no client secret, ...).
    #[error("OAuth settings: {0}")]
    Config(String),
    /// The callback does not match a request under way (unknown or expired `state`), or the
    /// provider refused the code.
    #[error("OAuth: {0}")]
    Request(String),
    /// Another node refreshes the grant and has not finished.
    #[error("the OAuth grant is being refreshed by another node")]
    Busy,
    /// The secret key failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OAuthError {
    /// True when only a person can mend it (connect again, fix the settings): the server's
    /// work waits, it is not retried as a passing fault.
    pub fn needs_reconnect(&self) -> bool {
        matches!(
            self,
            OAuthError::NotConnected(_) | OAuthError::Failed(_) | OAuthError::Config(_)
        )
    }
}

/// The OAuth side of Postern: Connect, tokens. Cheap to clone.
#[derive(Clone)]
pub struct OAuth {
    inner: Arc<Inner>,
    margin: Duration,
}

struct Inner {
    store: Store,
    key: SecretKey,
    http: reqwest::Client,
    redirect_uri: String,
    owner: String,
}

impl std::fmt::Debug for OAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth")
            .field("redirect_uri", &self.inner.redirect_uri)
            .finish_non_exhaustive()
    }
}

impl OAuth {
    /// OAuth on `store`, sealing with `key`, the callback at `public_url` + [`CALLBACK_PATH`].
    pub fn new(store: Store, key: SecretKey, public_url: &str) -> OAuth {
        let owner = postern_store::lease_owner();
        OAuth {
            inner: Arc::new(Inner {
                store,
                key,
                http: http::client(),
                redirect_uri: format!("{}{CALLBACK_PATH}", public_url.trim_end_matches('/')),
                owner,
            }),
            margin: Duration::from_secs(60),
        }
    }

    /// Refresh when less than `margin` of the access token's life is left (default 60 s).
    pub fn with_margin(self, margin: Duration) -> OAuth {
        OAuth { margin, ..self }
    }

    /// The redirect URI registered with the provider (`PUBLIC_URL/oauth/callback`).
    pub fn redirect_uri(&self) -> &str {
        &self.inner.redirect_uri
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    fn what(server: OAuthServer, column: &str) -> String {
        format!("{}/{}/{column}", server.kind(), server.id())
    }

    fn seal(&self, server: OAuthServer, column: &str, value: &str) -> String {
        self.inner.key.seal(value, &Self::what(server, column))
    }

    fn open(&self, server: OAuthServer, column: &str, sealed: &str) -> Result<Secret, KeyError> {
        self.inner.key.open(sealed, &Self::what(server, column))
    }
}
