//! The end of a message: its trace fields, sender authentication, the gateway's decision and
//! the reply (one per recipient on LMTP).

use super::*;

impl Session<'_> {
    /// Hands the complete message to the gateway and answers with what it says.
    pub(super) async fn deliver(&mut self, out: &mut Vec<u8>) {
        // A message's data arrived: the commands before it did their work.
        self.commands = 0;
        let tx = std::mem::take(&mut self.tx);
        let id = queue_id();
        let mail_from = tx.mail_from.unwrap_or_default();
        let mut rcpt_to: Vec<String> = Vec::with_capacity(tx.rcpt_to.len());
        for r in &tx.rcpt_to {
            if !rcpt_to.contains(r) {
                rcpt_to.push(r.clone());
            }
        }
        let headers = self.stamp(&mail_from, &rcpt_to, tx.smtputf8, &id);
        // Within the budget of bytes being processed: large messages one after the other.
        let _permit = self
            .shared
            .budget
            .reserve(headers.len() + tx.spool.len())
            .await;
        let raw = match tx.spool.into_bytes(headers.as_bytes()).await {
            Ok(raw) => raw,
            Err(e) => {
                // a full disk (the spool's last write): said once per outage
                SPOOLING.failed(&e);
                tracing::info!(error = %e, "cannot read the message's data back from its spool");
                let reply = Reply::new(
                    451,
                    (4, 3, 0),
                    "temporary failure reading the data, try again later",
                );
                message_reply(&reply, self.config.lmtp, tx.rcpt_to.len(), out);
                return;
            }
        };
        let (raw, verdict) = self.authenticate(raw, &mail_from).await;
        let received = Received {
            envelope: Envelope {
                mail_from: Some(mail_from),
                rcpt_to,
                model: None,
                from_untrusted: verdict.as_ref().is_some_and(|v| v.untrusted_from.is_some()),
                auth_note: verdict.map(|v| v.note),
                dsn: tx.dsn,
            },
            source: if self.config.lmtp {
                Source::Lmtp
            } else {
                Source::Smtp
            },
            peer: Some(self.peer.text.clone()),
            helo: self.helo.clone(),
            tls: self.tls,
            refuse_in_session: self.config.refuse_in_session,
            ..Default::default()
        };
        let size = raw.len();
        let span = tracing::info_span!("message", id = %id);
        let result = self
            .shared
            .gateway
            .accept_owned(raw, &received)
            .instrument(span.clone())
            .await;
        let reply = reply::delivery(&result, self.config.refuse_in_session, &id);
        span.in_scope(|| match &result {
            Ok(o) => tracing::info!(
                size,
                rcpts = tx.rcpt_to.len(),
                outcome = ?o.outcome,
                reply = reply.code,
                "message received"
            ),
            // a store that fails is said once by the gateway; each message's fate at info
            Err(e @ AcceptError::Temporary(_)) => {
                tracing::info!(size, error = %e, reply = reply.code, "message not accepted")
            }
            Err(e) => tracing::warn!(size, error = %e, reply = reply.code, "message not accepted"),
        });
        message_reply(&reply, self.config.lmtp, tx.rcpt_to.len(), out);
    }

    /// Sender authentication, when on (SMTP only): the verdict, and the message with our
    /// `Authentication-Results:` on top.
    async fn authenticate(
        &self,
        raw: Vec<u8>,
        mail_from: &str,
    ) -> (Vec<u8>, Option<postern_auth::verify::Verdict>) {
        let (Some(verifier), Some(ip), false) =
            (&self.config.sender_auth, self.peer.ip, self.config.lmtp)
        else {
            return (raw, None);
        };
        let verdict = verifier
            .verify(&postern_auth::verify::Inbound {
                raw: &raw,
                ip,
                helo: self.helo.as_deref().unwrap_or(""),
                mail_from,
                hostname: &self.config.hostname,
            })
            .await;
        tracing::info!(note = %verdict.note, "sender authentication");
        // Fields that claim our name come from the sender (RFC 8601 §5): they go.
        let raw = postern_mime::without_auth_results(&raw, &self.config.hostname).unwrap_or(raw);
        let raw = [verdict.header.as_bytes(), &raw].concat();
        (raw, Some(verdict))
    }

    /// What goes on top of what the client sent: `Return-Path:` and `Received:`.
    fn stamp(&self, mail_from: &str, rcpt_to: &[String], smtputf8: bool, id: &str) -> String {
        let unix_time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        trace::headers(&trace::Trace {
            mail_from,
            rcpt_to,
            helo: self.helo.as_deref().unwrap_or(""),
            peer_ip: self.peer.ip,
            hostname: &self.config.hostname,
            protocol: trace::protocol(self.config.lmtp, self.esmtp, self.tls, smtputf8),
            id,
            unix_time,
        })
    }
}
