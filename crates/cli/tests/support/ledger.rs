//! What a load saw acknowledged, and the check of it against what the store (through the
//! API), the SMTP sink and the webhook receiver hold.

use super::Receiver;
use postern_testkit::Serve;
use postern_testkit::sink::Sink;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// What the load was told.
#[derive(Default)]
pub struct Ledger {
    /// Ids of the SMTP messages answered `250`.
    pub acked: Mutex<Vec<String>>,
    /// Ids (Subjects) of the mails `POST /api/v1/mail` answered `201` to.
    pub queued: Mutex<Vec<String>>,
    /// Ids of the messages delivered into the mailbox.
    pub fed: Mutex<Vec<String>>,
    /// Tries that were not acknowledged (refused, cut, no answer), by first words.
    pub refusals: Mutex<HashMap<String, usize>>,
}

/// The figures of a run, printed by the tests and kept in RELIABILITY.md.
#[derive(Debug, Default)]
pub struct Figures {
    /// SMTP messages acknowledged (250).
    pub acked: usize,
    /// Mails queued by the API (201).
    pub queued: usize,
    /// Messages delivered into the polled mailbox.
    pub fed: usize,
    /// Records in the store.
    pub records: usize,
    /// Acknowledged or fetched messages not stored.
    pub lost: usize,
    /// Messages stored more than once.
    pub duplicated: usize,
    /// Queued mails that never reached the sink.
    pub undelivered: usize,
    /// Deliveries to the sink beyond the first of each mail.
    pub resent: usize,
    /// Webhook events expected (one per record and per sent mail).
    pub events: usize,
    /// Events that never reached the receiver.
    pub events_missing: usize,
    /// Webhook requests beyond the first of each event.
    pub events_resent: usize,
    /// Tries not acknowledged, all kinds.
    pub refused: usize,
}

impl Ledger {
    /// Counts a try that was not acknowledged.
    pub fn refused(&self, why: &str) {
        let key: String = why.split_whitespace().take(4).collect::<Vec<_>>().join(" ");
        *self.refusals.lock().unwrap().entry(key).or_insert(0) += 1;
    }

    /// Compares what was acknowledged with the records of `node`'s API, the `sink` and the
    /// webhook `receiver` (record.created and mail.sent subscribed; no events expected
    /// without one); the figures.
    pub async fn check(&self, node: &Serve, sink: &Sink, receiver: Option<&Receiver>) -> Figures {
        let records = all(node, "/api/v1/records?limit=500").await;
        let mut stored: HashMap<String, usize> = HashMap::new();
        for r in &records {
            *stored
                .entry(r["name"].as_str().unwrap_or_default().to_owned())
                .or_insert(0) += 1;
        }
        let acked = self.acked.lock().unwrap().clone();
        let fed = self.fed.lock().unwrap().clone();
        let queued = self.queued.lock().unwrap().clone();
        let lost = acked
            .iter()
            .chain(&fed)
            .filter(|id| !stored.contains_key(*id))
            .count();
        let duplicated = stored.values().filter(|n| **n > 1).count();
        let mut delivered: HashMap<String, usize> = HashMap::new();
        for m in sink.messages() {
            let subject = header(&m.data, "Subject");
            *delivered.entry(subject).or_insert(0) += 1;
        }
        let undelivered = queued
            .iter()
            .filter(|id| !delivered.contains_key(*id))
            .count();
        let resent = queued
            .iter()
            .filter_map(|id| delivered.get(id))
            .map(|n| n - 1)
            .sum();
        let (counts, bodies) = receiver.map(Receiver::events).unwrap_or_default();
        let mails = match receiver {
            Some(_) => all(node, "/api/v1/mail?state=sent&limit=500").await,
            None => Vec::new(),
        };
        let records_expected = if receiver.is_some() {
            &records[..]
        } else {
            &[]
        };
        let expected: HashSet<(String, i64)> = records_expected
            .iter()
            .map(|r| ("record.created".to_owned(), r["id"].as_i64().unwrap()))
            .chain(
                mails
                    .iter()
                    .map(|m| ("mail.sent".to_owned(), m["id"].as_i64().unwrap())),
            )
            .collect();
        let seen: HashSet<(String, i64)> = bodies.iter().filter_map(event_subject).collect();
        Figures {
            acked: acked.len(),
            queued: queued.len(),
            fed: fed.len(),
            records: records.len(),
            lost,
            duplicated,
            undelivered,
            resent,
            events: expected.len(),
            events_missing: expected.difference(&seen).count(),
            events_resent: counts.values().map(|n| n - 1).sum(),
            refused: self.refusals.lock().unwrap().values().sum(),
        }
    }
}

/// (type, id of the record or mail) of a webhook body.
fn event_subject(body: &Value) -> Option<(String, i64)> {
    let kind = body["type"].as_str()?;
    let id = match kind {
        "record.created" => body["data"]["record"]["id"].as_i64()?,
        "mail.sent" => body["data"]["mail"]["id"].as_i64()?,
        _ => return None,
    };
    Some((kind.to_owned(), id))
}

/// The unfolded value of the first header `name` of `raw` ("" when absent).
pub fn header(raw: &str, name: &str) -> String {
    let head = raw.split("\r\n\r\n").next().unwrap_or_default();
    let prefix = format!("{}:", name.to_ascii_lowercase());
    for line in head.split("\r\n") {
        if line.to_ascii_lowercase().starts_with(&prefix) {
            return line[prefix.len()..].trim().to_owned();
        }
    }
    String::new()
}

/// Every item of a listing, page after page.
pub async fn all(node: &Serve, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_owned(),
        };
        let (status, body) = node.get(&page).await;
        assert_eq!(status, 200, "{page}: {body}");
        items.extend(body["items"].as_array().unwrap().iter().cloned());
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return items,
        }
    }
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SMTP acknowledged {}, API queued {}, mailbox fed {}, records {}; lost {}, duplicated {}; \
             mails undelivered {}, re-sent {}; events {}, missing {}, re-sent {}; tries refused {}",
            self.acked,
            self.queued,
            self.fed,
            self.records,
            self.lost,
            self.duplicated,
            self.undelivered,
            self.resent,
            self.events,
            self.events_missing,
            self.events_resent,
            self.refused
        )
    }
}
