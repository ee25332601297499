//! Send limits in the runner: of the mails prepared for a server that has limits (per second,
//! hour, day), as many as the store grants go now, transactional ones first (the batch is in
//! that order); the others are held back in the same transaction — outgoing, due when the
//! limit allows, with the reason in `waiting_reason` — and are not an attempt.
//!
//! Why after preparing and not in the claim: the server of a mail is chosen by compose (its
//! From, the filters) once the mail is read; the reservation locks the server's row on
//! PostgreSQL, so the limit holds across nodes all the same (postern-store's `send_limits`).

use crate::DeliveryError;
use crate::prepare::Prepared;
use postern_model::MailId;
use postern_store::{DeliveryServer, SendLimits, Store};

/// The limits of a server, if it has any.
fn limits_of(s: &DeliveryServer) -> Option<SendLimits> {
    let l = SendLimits {
        per_second: s.limit_per_second,
        per_hour: s.limit_per_hour,
        per_day: s.limit_per_day,
    };
    (!l.is_none()).then_some(l)
}

/// The mails of `ready` that may go now; those over a limit are deferred in the store.
pub(crate) async fn hold_back(
    store: &Store,
    ready: Vec<Prepared>,
    servers: &[DeliveryServer],
    now: i64,
) -> Result<Vec<Prepared>, DeliveryError> {
    let limited: Vec<(&DeliveryServer, SendLimits)> = servers
        .iter()
        .filter_map(|s| limits_of(s).map(|l| (s, l)))
        .filter(|(s, _)| ready.iter().any(|p| p.server_id == s.id))
        .collect();
    if limited.is_empty() {
        return Ok(ready);
    }
    let mut tx = store.begin().await?;
    let mut held: Vec<MailId> = Vec::new();
    let mut kept = ready;
    for (server, limits) in limited {
        let (mine, others): (Vec<Prepared>, Vec<Prepared>) =
            kept.into_iter().partition(|p| p.server_id == server.id);
        let grant = tx
            .reserve_sends((server.id, &server.name), &limits, mine.len(), now)
            .await?;
        let mut mine = mine;
        let over = mine.split_off(grant.granted.min(mine.len()));
        if let (Some((until, reason)), false) = (&grant.wait, over.is_empty()) {
            let ids: Vec<MailId> = over.iter().map(|p| p.mail_id).collect();
            tx.defer_mails(&ids, *until, reason).await?;
            tracing::info!(server = %server.name, mails = ids.len(), until, reason = %reason, "mails wait for a send limit");
            held.extend(ids);
        }
        kept = others;
        kept.extend(mine);
    }
    tx.commit().await?;
    metrics::counter!("postern_mails_total", "result" => "waiting").increment(held.len() as u64);
    // Transactional mail first again, as claimed.
    kept.sort_by_key(|p| (p.mass, p.mail_id));
    Ok(kept)
}
