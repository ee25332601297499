//! Page render times of the admin UI on a large SQLite store (BENCHMARKS.md, "Admin UI"):
//! 100,000 records and 1,000,000 messages (10 a record), 100,000 mails waiting, 1,000 failed
//! notifications and 200,000 raw messages all received today (the worst case for the
//! dashboard's counts), then each page asked 20 times through
//! the whole HTTP application (session check, the API called in process, the template), without
//! a socket. Prints the median and the slowest time of each page.
//!
//!     cargo run --release -p postern-web --example ui_bench -- [DB_FILE]
//!
//! DB_FILE (default `ui-bench.db` in the working directory) is filled on the first run only, so
//! that later runs measure at once.

use axum::body::Body;
use axum::http::{Request, header};
use postern_model::{MessageType, NotificationStatus, NotificationType, PartnerId};
use postern_store::*;
use sha2::Digest;
use std::time::{Duration, Instant};
use tower::ServiceExt;

const RECORDS: usize = 100_000;
const MESSAGES_PER_RECORD: usize = 10;
const MAILS: usize = 100_000;
const FAILED: usize = 1_000;
const RAW: usize = 200_000;
/// Rows written per transaction while filling.
const BATCH: usize = 5_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let file = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ui-bench.db".into());
    let fresh = !std::path::Path::new(&file).exists();
    let store = Store::open(&format!("sqlite://{file}")).await?;
    store.migrate().await?;
    if fresh {
        let started = Instant::now();
        fill(&store).await?;
        println!("filled {file} in {:.0?}", started.elapsed());
    }
    let gateway = postern_gateway::Gateway::new(store.clone(), "bench.example");
    let state = postern_web::AppState::new(gateway, postern_model::Secret::new("bench"), 1 << 20);
    let app = postern_web::router(state);
    let cookie = session(&store).await?;
    let record = {
        let mut tx = store.read().await?;
        let page = tx
            .list_records(&RecordFilter::default(), PageRequest::parse(Some(1), None)?)
            .await?;
        page.items[0].id
    };
    let pages = [
        "/".to_owned(),
        "/records".into(),
        "/records?model=crm.lead".into(),
        "/records?q=Lead%2099999".into(),
        format!("/records/{record}"),
        "/failures".into(),
        "/outbox".into(),
        "/outbox?state=exception".into(),
        "/raw-messages".into(),
        "/raw-messages?status=unclaimed".into(),
        "/aliases".into(),
        "/partners".into(),
        "/alias-domains".into(),
        "/params".into(),
        "/explain".into(),
    ];
    println!("| page | median | slowest |\n|---|---|---|");
    for page in pages {
        let mut times = Vec::new();
        for _ in 0..21 {
            let request = Request::get(&page)
                .header(header::COOKIE, &cookie)
                .body(Body::empty())?;
            let started = Instant::now();
            let response = app.clone().oneshot(request).await?;
            let status = response.status();
            axum::body::to_bytes(response.into_body(), 64 << 20).await?;
            times.push(started.elapsed());
            assert!(status.is_success(), "{page}: {status}");
        }
        times.remove(0); // the first warms the caches
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "| `{page}` | {:.1} ms | {:.1} ms |",
            ms(times[times.len() / 2]),
            ms(times[times.len() - 1])
        );
    }
    store.close().await;
    Ok(())
}

/// A session of the user `admin`, as its cookie.
async fn session(store: &Store) -> Result<String, StoreError> {
    let _ = postern_web::ensure_admin(store, Some("bench-password")).await?;
    let token = random_hex(32);
    let hash: String = sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut tx = store.begin().await?;
    let user = tx.admin_user("admin").await?.expect("the admin user");
    tx.create_admin_session(&hash, user.id, "csrf", now_ms() + 3_600_000)
        .await?;
    tx.commit().await?;
    Ok(format!("postern_session={token}"))
}

async fn fill(store: &Store) -> Result<(), StoreError> {
    let partner = {
        let mut tx = store.begin().await?;
        tx.create::<postern_store::AliasDomain>(&AliasDomainInput {
            name: "bench.example".into(),
            ..Default::default()
        })
        .await?;
        let p = tx
            .create::<postern_store::Partner>(&PartnerInput {
                name: "Carl".into(),
                email: Some("carl@example.org".into()),
                ..Default::default()
            })
            .await?;
        tx.commit().await?;
        p.id
    };
    let now = now_ms();
    for start in (0..RECORDS).step_by(BATCH / MESSAGES_PER_RECORD) {
        let mut tx = store.begin().await?;
        for r in start..(start + BATCH / MESSAGES_PER_RECORD).min(RECORDS) {
            fill_record(&mut tx, r, partner, now).await?;
        }
        tx.commit().await?;
    }
    fill_mails_and_raw(store).await
}

/// Record `r` with its messages; the first `FAILED` records' last message has a bounced
/// notification.
async fn fill_record(
    tx: &mut Tx,
    r: usize,
    partner: PartnerId,
    now: i64,
) -> Result<(), StoreError> {
    let name = format!("Lead {r}");
    let record = tx
        .insert_record(&NewRecordRow {
            model: if r.is_multiple_of(2) {
                "crm.lead"
            } else {
                "helpdesk.ticket"
            },
            name: &name,
            email_from: Some("carl@example.org"),
            values_json: "{}",
            ..Default::default()
        })
        .await?;
    for m in 0..MESSAGES_PER_RECORD {
        let id = format!("<bench-{r}-{m}@example.org>");
        let message = tx
            .insert_message(&NewMessage {
                message_id: &id,
                record_id: Some(record),
                parent_id: None,
                subtype: "comment",
                message_type: MessageType::Email,
                author_partner_id: None,
                email_from: Some("carl@example.org"),
                subject: Some(&name),
                body_html: "<p>Hello, the printer is on fire again.</p>",
                date: now - (RECORDS - r) as i64 * 1000,
                incoming_email_to: None,
                incoming_email_cc: None,
                raw_message_id: None,
            })
            .await?;
        if r < FAILED && m == MESSAGES_PER_RECORD - 1 {
            tx.insert_notification(&NewNotification {
                message_id: message,
                partner_id: partner,
                notification_type: NotificationType::Email,
                status: NotificationStatus::Bounce,
                mail_id: None,
            })
            .await?;
        }
    }
    Ok(())
}

async fn fill_mails_and_raw(store: &Store) -> Result<(), StoreError> {
    for start in (0..MAILS).step_by(BATCH) {
        let mut tx = store.begin().await?;
        for i in start..(start + BATCH).min(MAILS) {
            tx.insert_mail(&NewMail {
                rfc_message_id: format!("<mail-{i}@bench.example>"),
                email_from: "notifications@bench.example".into(),
                email_to: vec!["carl@example.org".into()],
                headers: serde_json::json!({}),
                ..Default::default()
            })
            .await?;
        }
        tx.commit().await?;
    }
    for start in (0..RAW).step_by(BATCH) {
        let mut tx = store.begin().await?;
        for i in start..(start + BATCH).min(RAW) {
            let content = format!("Subject: raw {i}\r\n\r\nx\r\n");
            tx.insert_raw_message(&NewRawMessage {
                source: "smtp",
                envelope_sender: None,
                envelope_rcpts: "[]".into(),
                peer: None,
                helo: None,
                tls: false,
                header_message_id: None,
                content: content.as_bytes(),
                packing: Packing::Later,
                status: postern_model::RawStatus::Processed,
                error: None,
                outcome: None,
            })
            .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}
