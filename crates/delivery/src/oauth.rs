//! Outgoing servers with `auth = "oauth"` in the runner: before a batch is sent, each such
//! server with mails gets a fresh access token (postern-oauth refreshes it when it must). A
//! server whose grant failed keeps its mails: they wait, outgoing and not attempted, with the
//! reason in `waiting_reason`, until a person connects the server again (which makes them due
//! at once). A provider that does not answer is a passing fault: the mails are retried.

use crate::DeliveryError;
use crate::prepare::Prepared;
use postern_model::{MailId, OutgoingServerId, Secret};
use postern_oauth::{OAuth, OAuthError, OAuthServer};
use postern_store::{DeliveryServer, OAUTH_WAITING, Store, now_ms};
use std::collections::HashMap;

/// How long mails held back for a failed grant wait before the grant is looked at again
/// (connecting the server makes them due at once).
const RECHECK_MS: i64 = 10 * 60 * 1000;

/// The access token of each `oauth` server of `ready` (or why there is none); the mails of a
/// server whose grant failed are deferred and taken out of `ready`.
pub(crate) async fn tokens(
    store: &Store,
    oauth: Option<&OAuth>,
    servers: &[DeliveryServer],
    ready: &mut Vec<Prepared>,
) -> Result<HashMap<OutgoingServerId, Result<Secret, String>>, DeliveryError> {
    let mut tokens = HashMap::new();
    let used: Vec<&DeliveryServer> = servers
        .iter()
        .filter(|s| s.auth == "oauth" && ready.iter().any(|p| p.server_id == s.id))
        .collect();
    for s in used {
        let got = match oauth {
            Some(o) => o.access_token(OAuthServer::Outgoing(s.id)).await,
            None => Err(OAuthError::Config(
                "OAuth is not set up on this node (no secret key)".into(),
            )),
        };
        match got {
            Ok(token) => {
                tokens.insert(s.id, Ok(token));
            }
            Err(e) if e.needs_reconnect() => {
                let ids: Vec<MailId> = ready
                    .iter()
                    .filter(|p| p.server_id == s.id)
                    .map(|p| p.mail_id)
                    .collect();
                let reason = format!("{OAUTH_WAITING}{e}");
                let mut tx = store.begin().await?;
                tx.defer_mails(&ids, now_ms() + RECHECK_MS, &reason).await?;
                tx.commit().await?;
                tracing::warn!(server = %s.name, mails = ids.len(), error = %e, "mails wait until the server is connected again");
                metrics::counter!("postern_mails_total", "result" => "waiting")
                    .increment(ids.len() as u64);
                ready.retain(|p| p.server_id != s.id);
            }
            Err(e) => {
                tokens.insert(s.id, Err(e.to_string()));
            }
        }
    }
    Ok(tokens)
}

/// The access token of an `oauth` server was refused (SMTP AUTH): the next batch refreshes it.
pub(crate) async fn refused(oauth: Option<&OAuth>, server: OutgoingServerId) {
    if let Some(o) = oauth
        && let Err(e) = o.expire(OAuthServer::Outgoing(server)).await
    {
        tracing::warn!(server_id = server.get(), error = %e, "could not mark the access token expired");
    }
}
