//! Reads of many rows at once, for the webhook sender: the records and the messages (with
//! their partners, attachments, notifications and origin) of a round of events, a statement per
//! table instead of a statement per event (on SQLite each statement is a hand-off to the
//! connection's thread: per event, that cost more than the event).

use crate::chunks::Owner;
use crate::read::{MESSAGE_SELECT, RECORD_SELECT};
use crate::{AttachmentInfo, Message, MessageOrigin, Notification, Record, StoreError, Tx, on};
use postern_model::{MessageId, PartnerId, RawMessageId, RecordId};
use std::collections::HashMap;

/// `1,2,3` — integers only, safe to format into a statement.
fn id_list<I: Copy + Into<i64>>(ids: &[I]) -> String {
    ids.iter()
        .map(|&i| i.into().to_string())
        .collect::<Vec<_>>()
        .join(",")
}

impl Tx {
    /// The records of `ids` that exist, by id.
    pub async fn records_by_ids(
        &mut self,
        ids: &[RecordId],
    ) -> Result<HashMap<RecordId, Record>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!("{RECORD_SELECT} WHERE r.id IN ({})", id_list(ids));
        let rows: Vec<Record> = on!(self, |c| sqlx::query_as::<_, Record>(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .fetch_all(c)
        .await)?;
        Ok(rows.into_iter().map(|r| (r.id, r)).collect())
    }

    /// The messages of `ids` that exist, with partners, attachments and notifications, by id.
    pub async fn messages_by_ids(
        &mut self,
        ids: &[MessageId],
    ) -> Result<HashMap<MessageId, Message>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let list = id_list(ids);
        let sql = format!("{MESSAGE_SELECT} WHERE id IN ({list})");
        let rows: Vec<Message> = on!(self, |c| sqlx::query_as::<_, Message>(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .fetch_all(c)
        .await)?;
        let mut out: HashMap<MessageId, Message> = rows
            .into_iter()
            .map(|mut m| {
                m.notifications = Some(vec![]);
                (m.id, m)
            })
            .collect();
        let sql = format!(
            "SELECT message_id, partner_id FROM message_partners WHERE message_id IN ({list}) \
             ORDER BY message_id, partner_id"
        );
        let partners: Vec<(MessageId, PartnerId)> =
            on!(self, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .fetch_all(c)
                .await)?;
        for (m, p) in partners {
            out.entry(m).and_modify(|x| x.partner_ids.push(p));
        }
        let sql = format!(
            "SELECT id, message_id, filename, mimetype, size, content_id FROM attachments \
             WHERE message_id IN ({list}) ORDER BY id"
        );
        let files: Vec<AttachmentInfo> = on!(self, |c| sqlx::query_as::<_, AttachmentInfo>(
            sqlx::AssertSqlSafe(sql.clone())
        )
        .fetch_all(c)
        .await)?;
        for f in files {
            if let Some(m) = f.message_id.and_then(|m| out.get_mut(&m)) {
                m.attachments.push(f);
            }
        }
        let sql = format!(
            "SELECT message_id, partner_id, notification_type, status, failure_type, failure_reason, \
             mail_id, bounce_reason, bounce_hard FROM notifications WHERE message_id IN ({list}) \
             ORDER BY message_id, partner_id"
        );
        let notes: Vec<Notification> = on!(self, |c| sqlx::query_as::<_, Notification>(
            sqlx::AssertSqlSafe(sql.clone())
        )
        .fetch_all(c)
        .await)?;
        for n in notes {
            if let Some(list) = out
                .get_mut(&n.message_id)
                .and_then(|m| m.notifications.as_mut())
            {
                list.push(n);
            }
        }
        Ok(out)
    }

    /// Where the messages of `ids` that came by mail came from, with their raw message's bytes,
    /// by message id.
    pub async fn origins_by_message_ids(
        &mut self,
        ids: &[MessageId],
    ) -> Result<HashMap<MessageId, (MessageOrigin, Vec<u8>)>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        // message, raw id, source, envelope sender, recipients (JSON), outcome (JSON), content
        // head, size, encoding
        type Row = (
            MessageId,
            RawMessageId,
            String,
            Option<String>,
            String,
            Option<String>,
            Vec<u8>,
            i64,
            Option<String>,
        );
        let sql = format!(
            "SELECT m.id, r.id, r.source, r.envelope_sender, r.envelope_rcpts, r.outcome, r.content, r.size, \
             r.content_encoding FROM messages m JOIN raw_messages r ON r.id = m.raw_message_id \
             WHERE m.id IN ({})",
            id_list(ids)
        );
        let rows: Vec<Row> = on!(self, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_all(c)
            .await)?;
        let mut out = HashMap::with_capacity(rows.len());
        for (message, raw, source, mail_from, rcpts, outcome, head, size, encoding) in rows {
            let content = match encoding.as_deref() {
                None => {
                    let mut content = head;
                    if (content.len() as i64) < size {
                        self.append_chunks(Owner::RawMessage, raw.get(), &mut content)
                            .await?;
                    }
                    content
                }
                Some("lz4") => crate::chunks::unpack(&head, size)?,
                Some(other) => {
                    return Err(StoreError::Corrupt(format!(
                        "raw message {raw}: unknown content encoding {other:?}"
                    )));
                }
            };
            let origin = MessageOrigin::new(raw, source, mail_from, &rcpts, outcome.as_deref());
            out.insert(message, (origin, content));
        }
        Ok(out)
    }
}
