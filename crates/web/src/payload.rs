//! The `data` of webhook events, and the inbound payload (DESIGN.md, "Webhooks and events").
//!
//! The inbound payload is what an application needs of a message that came by mail, in one
//! object: the message, its record, the envelope, `from`/`to`/`cc` as name and address, the
//! subject, the plain text and the HTML, `stripped_text` (the reply without its quoted history
//! and signature), the attachments with their URLs, `via` and `alias` (how it was routed) and
//! `mailbox_hash` (the `+tag` of a plus-addressed recipient). It is built from what the store
//! keeps (the message, its raw message and the routing outcome), so the same email gives the
//! same payload whichever way it came in, and `GET /api/v1/messages/{id}` shows it too.

use crate::threads::{dated, message_json};
use postern_model::address::email_split_tuples;
use postern_model::{MailId, MessageId, RecordId};
use postern_store::{DueDelivery, Message, MessageOrigin, Record, StoreError, Tx};
use serde_json::{Value, json};

/// The inbound payload of `message` (the `message.received` data). A message posted through
/// the API has no envelope, raw texts or route: those fields are null.
pub(crate) async fn inbound_payload(tx: &mut Tx, message: &Message) -> Result<Value, StoreError> {
    let record = match message.record_id {
        Some(id) => Some(tx.get_record(id).await?),
        None => None,
    };
    let origins = tx.origins_by_message_ids(&[message.id]).await?;
    Ok(inbound_value(
        message,
        record.as_ref(),
        origins.get(&message.id),
    ))
}

/// The inbound payload from its rows: the message, its record, and where it came from with
/// the raw message's bytes.
fn inbound_value(
    message: &Message,
    record: Option<&Record>,
    origin: Option<&(MessageOrigin, Vec<u8>)>,
) -> Value {
    let model = record.map(|r| r.model.as_str());
    let mut m = message_json(message);
    let attachments = m
        .as_object_mut()
        .and_then(|fields| {
            fields.remove("notifications");
            fields.remove("attachments")
        })
        .unwrap_or(Value::Array(vec![]));
    let raw = origin.map(|(_, content)| content.as_slice());
    let texts = raw.map(postern_mime::texts).unwrap_or_default();
    let parsed = raw.and_then(|r| postern_mime::parse(r).ok());
    let origin = origin.map(|(o, _)| o);
    let route = origin.and_then(|o| route_of(&o.outcome, message.record_id, model));
    let alias = route.and_then(|r| r["alias"].as_str()).map(str::to_owned);
    let mailbox_hash = match (&alias, origin, &parsed) {
        (Some(alias), Some(o), Some(p)) => {
            mailbox_hash(alias, o.rcpt_to.iter().chain(&p.recipient_addresses))
        }
        _ => None,
    };
    let html = texts.html.as_ref().map(|_| message.body_html.to_string());
    json!({
        "message": m,
        "record": record.cloned().map(record_json),
        "envelope": origin.map(envelope),
        "from": parsed.as_ref().and_then(|p| p.email_from.as_deref()).and_then(|f| people(f).into_iter().next()),
        "to": parsed.as_ref().map(|p| everyone(&p.to)).unwrap_or_default(),
        "cc": parsed.as_ref().map(|p| everyone(&p.cc)).unwrap_or_default(),
        "subject": message.subject,
        "text": texts.text,
        "html": html,
        "stripped_text": texts.text.as_deref().map(postern_mime::stripped_text),
        "attachments": attachments,
        "via": route.and_then(|r| r["via"].as_str()),
        "alias": alias,
        "mailbox_hash": mailbox_hash,
        "auth": origin.map(|o| o.outcome["auth"].clone()).unwrap_or(Value::Null),
    })
}

/// The bodies (`{"type", "timestamp", "data"}`) of a round of deliveries: the frozen one, or
/// built from the stored rows — the records and messages of the round read a table at a time.
pub(crate) async fn event_bodies(
    tx: &mut Tx,
    claimed: &[DueDelivery],
) -> Result<Vec<String>, StoreError> {
    let subjects = |kind: &str| -> Vec<i64> {
        claimed
            .iter()
            .filter(|d| d.payload.is_none() && d.event_type == kind)
            .filter_map(|d| d.subject_id)
            .collect()
    };
    let received: Vec<MessageId> = subjects("message.received")
        .into_iter()
        .map(MessageId)
        .collect();
    let messages = tx.messages_by_ids(&received).await?;
    let origins = tx.origins_by_message_ids(&received).await?;
    let mut record_ids: Vec<RecordId> = subjects("record.created")
        .into_iter()
        .map(RecordId)
        .collect();
    record_ids.extend(messages.values().filter_map(|m| m.record_id));
    record_ids.sort_unstable();
    record_ids.dedup();
    let records = tx.records_by_ids(&record_ids).await?;
    let mut bodies = Vec::with_capacity(claimed.len());
    for d in claimed {
        if let Some(p) = &d.payload {
            bodies.push(p.clone());
            continue;
        }
        let subject = d.subject_id.unwrap_or(0);
        let data = match d.event_type.as_str() {
            "message.received" => messages.get(&MessageId(subject)).map(|m| {
                let record = m.record_id.and_then(|r| records.get(&r));
                inbound_value(m, record, origins.get(&MessageId(subject)))
            }),
            "record.created" => records
                .get(&RecordId(subject))
                .map(|r| json!({"record": record_json(r.clone())})),
            _ => Some(event_data(tx, d).await?),
        };
        // Deleted since: the event still says what it was about.
        let data = data.unwrap_or_else(|| json!({"id": subject, "deleted": true}));
        bodies.push(
            json!({
                "type": d.event_type,
                "timestamp": crate::rfc3339(d.created_at),
                "data": data,
            })
            .to_string(),
        );
    }
    Ok(bodies)
}

fn record_json(r: Record) -> Value {
    dated(serde_json::to_value(r).unwrap_or_default())
}

fn envelope(o: &MessageOrigin) -> Value {
    json!({"mail_from": o.mail_from, "rcpt_to": o.rcpt_to, "source": o.source})
}

/// The route of the outcome that found `record`, else the one that created a record of
/// `model`, else the first.
fn route_of<'a>(
    outcome: &'a Value,
    record: Option<RecordId>,
    model: Option<&str>,
) -> Option<&'a Value> {
    let routes = outcome["routes"].as_array()?;
    routes
        .iter()
        .find(|r| record.is_some() && r["record_id"].as_i64() == record.map(RecordId::get))
        .or_else(|| {
            routes.iter().find(|r| {
                model.is_some() && r["model"].as_str() == model && r["action"] == "create"
            })
        })
        .or_else(|| routes.first())
}

/// `{name, email}` of every address of `text`.
fn people(text: &str) -> Vec<Value> {
    email_split_tuples(text)
        .into_iter()
        .map(|(name, email)| json!({"name": name, "email": email}))
        .collect()
}

fn everyone(fields: &[String]) -> Vec<Value> {
    fields.iter().flat_map(|f| people(f)).collect()
}

/// The `+tag` of the first of `addresses` that is `alias` plus-addressed
/// (`sales+1234@example.com` for the alias `sales@example.com` gives `1234`).
fn mailbox_hash<'a>(alias: &str, addresses: impl Iterator<Item = &'a String>) -> Option<String> {
    let alias = alias.to_lowercase();
    let (alias_local, alias_domain) = match alias.rsplit_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (alias.as_str(), None),
    };
    addresses.into_iter().find_map(|a| {
        let a = a.to_lowercase();
        let (local, domain) = a.rsplit_once('@')?;
        let (base, tag) = local.split_once('+')?;
        (base == alias_local && alias_domain.is_none_or(|d| d == domain) && !tag.is_empty())
            .then(|| tag.to_owned())
    })
}

/// The `data` of an event other than `record.created` and `message.received` (which
/// [`event_bodies`] builds a round at a time), from what the store holds now.
async fn event_data(tx: &mut Tx, d: &DueDelivery) -> Result<Value, StoreError> {
    let extra: Value = d
        .data
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null);
    let Some(subject) = d.subject_id else {
        return Ok(extra);
    };
    let found = match d.event_type.as_str() {
        "message.posted" | "notification.bounced" => match tx.get_message(MessageId(subject)).await
        {
            Ok(m) => message_data(tx, &m, extra.clone()).await,
            Err(e) => Err(e),
        },
        "mail.sent" | "mail.failed" => tx
            .get_mail(MailId(subject))
            .await
            .map(|m| json!({"mail": crate::threads::mail_json(&m)})),
        "incoming_server.failed" => tx
            .get::<postern_store::IncomingServer>(postern_model::IncomingServerId(subject))
            .await
            .map(|s| {
                merge(
                    json!({"incoming_server": {"id": s.id, "name": s.name}}),
                    &extra,
                )
            }),
        "outgoing_server.failed" => tx
            .get::<postern_store::OutgoingServer>(postern_model::OutgoingServerId(subject))
            .await
            .map(|s| {
                merge(
                    json!({"outgoing_server": {"id": s.id, "name": s.name}}),
                    &extra,
                )
            }),
        "raw_message.unprocessable" => Ok(merge(json!({"raw_message_id": subject}), &extra)),
        _ => Ok(extra.clone()),
    };
    match found {
        Ok(v) => Ok(v),
        // Deleted since: the event still says what it was about.
        Err(StoreError::NotFound { .. }) => {
            Ok(merge(json!({"id": subject, "deleted": true}), &extra))
        }
        Err(e) => Err(e),
    }
}

async fn message_data(tx: &mut Tx, m: &Message, extra: Value) -> Result<Value, StoreError> {
    let record = match m.record_id {
        Some(id) => Some(record_json(tx.get_record(id).await?)),
        None => None,
    };
    Ok(merge(
        json!({"message": message_json(m), "record": record}),
        &extra,
    ))
}

fn merge(mut base: Value, extra: &Value) -> Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_hash_of_a_plus_addressed_alias() {
        let rcpts = ["sales+1234@example.com".to_owned()];
        assert_eq!(
            mailbox_hash("sales@example.com", rcpts.iter()).as_deref(),
            Some("1234")
        );
        assert_eq!(mailbox_hash("sales", rcpts.iter()).as_deref(), Some("1234"));
        assert_eq!(mailbox_hash("sales@other.com", rcpts.iter()), None);
        assert_eq!(mailbox_hash("support@example.com", rcpts.iter()), None);
        let plain = ["sales@example.com".to_owned()];
        assert_eq!(mailbox_hash("sales@example.com", plain.iter()), None);
    }

    #[test]
    fn people_have_names_and_addresses() {
        assert_eq!(
            people("\"Eva E\" <eva@example.com>"),
            vec![json!({"name": "Eva E", "email": "eva@example.com"})]
        );
    }

    #[test]
    fn the_route_of_the_record() {
        let outcome = json!({"routes": [
            {"record_id": 1, "alias": "a@x", "via": "alias"},
            {"record_id": 2, "alias": "b@x", "via": "reply"}]});
        assert_eq!(
            route_of(&outcome, Some(RecordId(2)), None).unwrap()["alias"],
            "b@x"
        );
        assert_eq!(route_of(&outcome, None, None).unwrap()["alias"], "a@x");
        let created = json!({"routes": [
            {"record_id": null, "model": "crm.lead", "action": "create", "alias": "a@x"},
            {"record_id": null, "model": "helpdesk.ticket", "action": "create", "alias": "b@x"}]});
        assert_eq!(
            route_of(&created, Some(RecordId(9)), Some("helpdesk.ticket")).unwrap()["alias"],
            "b@x"
        );
    }
}
