//! Group commit on SQLite: many concurrent callers, every one answered after its message is
//! committed, with the right outcome; concurrent copies of one message stored once. And the
//! recipient check of `RCPT`, which the listener calls for every message.

use postern_gateway::{Gateway, Received};
use postern_routing::Outcome;
use postern_store::{AliasDomain, PageRequest, RecordFilter, Store};
use postern_testkit::TestDb;
use postern_testkit::db::{raw_messages, seed};

fn mail(i: usize) -> Vec<u8> {
    format!(
        "From: sender{i}@customer.test\r\nTo: sales@example.com\r\nSubject: Message {i}\r\n\
         Message-ID: <m{i}@customer.test>\r\n\r\nHello {i}\r\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_are_all_committed_once() {
    let db = TestDb::sqlite().await;
    let store = db.store.clone();
    seed(&store, "example.com", &[("sales", "crm.lead")]).await;
    let gateway = Gateway::new(store.clone(), "postern.test");
    let mut tasks = Vec::new();
    // 120 callers: 100 distinct messages and 20 second copies of the first 20, all at once.
    for i in (0..100).chain(0..20) {
        let g = gateway.clone();
        tasks.push(tokio::spawn(async move {
            g.accept(&mail(i), &Received::default()).await
        }));
    }
    let mut routed = 0;
    let mut duplicates = 0;
    for t in tasks {
        match t.await.unwrap().unwrap().outcome {
            Outcome::Routed => routed += 1,
            Outcome::Duplicate => duplicates += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((routed, duplicates), (100, 20));
    // Every answered message is durable: a fresh connection sees them all.
    store.close().await;
    let again = Store::open(&db.url).await.unwrap();
    let mut tx = again.read().await.unwrap();
    let filter = RecordFilter {
        model: Some("crm.lead".into()),
        ..Default::default()
    };
    assert_eq!(
        tx.list_records(&filter, PageRequest::all())
            .await
            .unwrap()
            .items
            .len(),
        100
    );
}

/// The committer stores the raw original packed by the caller's task (an LZ4 block) when it
/// shrinks, and it comes back byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_originals_are_stored_packed_and_come_back_whole() {
    let db = TestDb::sqlite().await;
    let store = db.store.clone();
    seed(&store, "example.com", &[]).await;
    let gateway = Gateway::new(store.clone(), "postern.test");
    let mut raw = mail(1);
    raw.extend(
        "Quoted history of the thread, line after line.\r\n"
            .repeat(400)
            .bytes(),
    );
    gateway.accept(&raw, &Received::default()).await.unwrap();
    let kept = raw_messages(&store, None).await;
    assert_eq!(kept.len(), 1);
    assert!(kept[0].1 == raw);
    let file = rusqlite::Connection::open(db.sqlite_file().unwrap()).unwrap();
    let (encoding, stored): (Option<String>, i64) = file
        .query_row(
            "SELECT content_encoding, length(content) FROM raw_messages",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(encoding.as_deref(), Some("lz4"));
    assert!(stored < raw.len() as i64 / 10, "{stored} of {}", raw.len());
}

/// `RCPT` answers: a domain added is accepted at once (a refusal always reads the database
/// again), a domain removed is refused once its cached positive answer (1 s) has expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipient_domains_follow_the_configuration() {
    let db = TestDb::sqlite().await;
    let store = db.store.clone();
    let gateway = Gateway::new(store.clone(), "postern.test");
    assert!(!gateway.accepts_recipient("a@example.com").await.unwrap());
    let domain = seed(&store, "example.com", &[]).await;
    assert!(gateway.accepts_recipient("a@example.com").await.unwrap());
    assert!(gateway.accepts_recipient("B@Example.COM").await.unwrap());
    assert!(!gateway.accepts_recipient("a@elsewhere.test").await.unwrap());
    let mut tx = store.begin().await.unwrap();
    tx.delete::<AliasDomain>(domain.id).await.unwrap();
    tx.commit().await.unwrap();
    // The cache of recipients lives a second: the deleted domain is refused soon after.
    postern_testkit::eventually(5, "the cache forgets the domain", || async {
        (!gateway.accepts_recipient("a@example.com").await.unwrap()).then_some(())
    })
    .await;
}
