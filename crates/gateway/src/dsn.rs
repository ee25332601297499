//! "Delivered" reports (RFC 3464) for the recipients whose `NOTIFY` asked for `SUCCESS`
//! (RFC 3461 §6.2: the final delivery MTA issues one when it delivers). Postern is the final
//! destination of mail to its aliases: once the message is stored, the report is queued in the
//! same transaction, from `MAILER-DAEMON` at the bounce address, to the envelope sender, with
//! a null Return-Path so that nothing ever answers it.
//!
//! Failures are not reported this way: Postern refuses in the session what it cannot take
//! (the client's MTA then writes the failure report), and the ways in that cannot refuse have
//! no DSN parameters.

use crate::lookups::Setup;
use postern_compose::build::DELIVERY_STATUS;
use postern_mime::ParsedMessage;
use postern_model::address::{formataddr, xtext};
use postern_routing::Envelope;
use postern_store::{MailCause, MailContent, StoreError, Tx};

/// Queues the "delivered" report the envelope asks for, if it asks for one.
pub(crate) async fn report_delivered(
    tx: &mut Tx,
    hostname: &str,
    msg: &ParsedMessage,
    mid: &str,
    envelope: &Envelope,
    setup: &Setup<'_>,
) -> Result<(), StoreError> {
    let to = envelope.mail_from.as_deref().unwrap_or_default();
    if envelope.dsn.success.is_empty() || to.is_empty() {
        return Ok(());
    }
    let (_, bounce) = crate::apply::gateway_sender(setup, hostname)?;
    let now = postern_store::now_ms();
    let subject = msg.subject.as_deref().unwrap_or_default();
    let mut headers = serde_json::Map::new();
    headers.insert("In-Reply-To".into(), mid.into());
    headers.insert("References".into(), mid.into());
    headers.insert(
        DELIVERY_STATUS.into(),
        status_fields(hostname, envelope, now).into(),
    );
    let rcpts: Vec<&str> = envelope
        .dsn
        .success
        .iter()
        .map(|(r, _)| r.as_str())
        .collect();
    let content = MailContent {
        rfc_message_id: format!("<{}.dsn@{hostname}>", postern_store::random_hex(12)),
        email_from: formataddr("MAILER-DAEMON", &bounce),
        email_to: vec![to.to_owned()],
        subject: format!("Delivered: {subject}").trim_end().to_owned(),
        body_text: Some(format!(
            "Your message {mid} was delivered to:\r\n\r\n    {}\r\n\r\nThis report was asked \
             for (NOTIFY=SUCCESS); nothing needs to be done.\r\n",
            rcpts.join("\r\n    ")
        )),
        headers,
        ..Default::default()
    };
    let cause = MailCause::GatewayReply {
        kind: "delivery_status".into(),
    };
    tx.enqueue(&cause, content).await?;
    Ok(())
}

/// The `message/delivery-status` fields: the per-message fields, then one group per
/// recipient (RFC 3464 §2.2, §2.3).
fn status_fields(hostname: &str, envelope: &Envelope, now_ms: i64) -> String {
    let date = chrono::DateTime::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .to_rfc2822();
    let mut out = format!("Reporting-MTA: dns; {hostname}\r\n");
    if let Some(id) = &envelope.dsn.env_id {
        out.push_str(&format!("Original-Envelope-Id: {}\r\n", xtext(id)));
    }
    out.push_str(&format!("Arrival-Date: {date}\r\n"));
    for (rcpt, orcpt) in &envelope.dsn.success {
        out.push_str("\r\n");
        if let Some(o) = orcpt {
            let addr = o.strip_prefix("rfc822;").unwrap_or(o);
            out.push_str(&format!("Original-Recipient: rfc822;{}\r\n", xtext(addr)));
        }
        out.push_str(&format!(
            "Final-Recipient: rfc822;{}\r\nAction: delivered\r\nStatus: 2.0.0\r\n",
            xtext(rcpt)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_routing::DsnRequest;

    #[test]
    fn the_fields_of_a_delivered_report() {
        let envelope = Envelope {
            mail_from: Some("sender@example.org".into()),
            dsn: DsnRequest {
                env_id: Some("QQ 42".into()),
                success: vec![
                    (
                        "sales@example.com".into(),
                        Some("rfc822;Sales+x@Example.com".into()),
                    ),
                    ("vip@example.com".into(), None),
                ],
            },
            ..Default::default()
        };
        let f = status_fields("mx.example.com", &envelope, 1_764_000_000_000);
        assert!(f.starts_with("Reporting-MTA: dns; mx.example.com\r\nOriginal-Envelope-Id: QQ+2042\r\nArrival-Date: "), "{f}");
        assert!(f.contains("\r\n\r\nOriginal-Recipient: rfc822;Sales+2Bx@Example.com\r\nFinal-Recipient: rfc822;sales@example.com\r\nAction: delivered\r\nStatus: 2.0.0\r\n"), "{f}");
        assert!(f.ends_with("\r\n\r\nFinal-Recipient: rfc822;vip@example.com\r\nAction: delivered\r\nStatus: 2.0.0\r\n"), "{f}");
    }
}
