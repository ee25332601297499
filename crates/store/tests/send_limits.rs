//! Outgoing servers of kind `mx` and send limits, on SQLite and PostgreSQL: what an mx server may
//! not have (a TLS-at-once port, a login), limits of at least 1, and reservations made at once
//! by several "nodes" (transactions) that never grant more than the limit between them.

use postern_model::{Encryption, Secret, ServerKind};
use postern_store::*;

fn server(name: &str) -> OutgoingServerInput {
    OutgoingServerInput {
        name: name.into(),
        host: "127.0.0.1".into(),
        ..Default::default()
    }
}

fn invalid_field(r: Result<OutgoingServer, StoreError>) -> String {
    match r {
        Err(StoreError::Invalid { field, .. }) => field,
        other => panic!("expected an invalid field, got {other:?}"),
    }
}

async fn kinds_and_limits_are_checked(store: Store) {
    let mut tx = store.begin().await.unwrap();
    let mx = OutgoingServerInput {
        name: "direct".into(),
        host: String::new(),
        kind: Some(ServerKind::Mx),
        connections_per_domain: Some(3),
        ..Default::default()
    };
    let made: OutgoingServer = tx.create(&mx).await.unwrap();
    assert_eq!(
        (made.kind, made.host.as_str(), made.port),
        (ServerKind::Mx, "", 25)
    );
    assert_eq!(made.connections_per_domain, 3);
    for (input, field) in [
        (
            OutgoingServerInput {
                encryption: Some(Encryption::Ssl),
                name: "x1".into(),
                ..mx.clone()
            },
            "encryption",
        ),
        (
            OutgoingServerInput {
                username: Some("u".into()),
                password: Some(Secret::new("p")),
                name: "x2".into(),
                ..mx.clone()
            },
            "username",
        ),
        (
            OutgoingServerInput {
                connections_per_domain: Some(0),
                name: "x3".into(),
                ..mx.clone()
            },
            "connections_per_domain",
        ),
        (
            OutgoingServerInput {
                limit_per_hour: Some(0),
                ..server("x4")
            },
            "limit_per_hour",
        ),
        (
            OutgoingServerInput {
                host: String::new(),
                ..server("x5")
            },
            "host",
        ),
    ] {
        assert_eq!(invalid_field(tx.create(&input).await), field);
    }
    let relay: OutgoingServer = tx.create(&server("relay")).await.unwrap();
    assert_eq!((relay.kind, relay.limit_per_day), (ServerKind::Relay, None));
    tx.commit().await.unwrap();
}

/// Four nodes ask for 3 sends each at once through a server allowing 5 an hour: 5 in all.
async fn reservations_hold_across_transactions(store: Store) {
    let mut tx = store.begin().await.unwrap();
    let s: OutgoingServer = tx
        .create(&OutgoingServerInput {
            limit_per_hour: Some(5),
            ..server("limited")
        })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let limits = SendLimits {
        per_hour: Some(5),
        ..Default::default()
    };
    let now = now_ms();
    let nodes: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut tx = store.begin().await.unwrap();
                let g = tx
                    .reserve_sends((s.id, "limited"), &limits, 3, now)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                g
            })
        })
        .collect();
    let mut granted = 0;
    let mut waits = Vec::new();
    for n in nodes {
        let g = n.await.unwrap();
        granted += g.granted;
        waits.extend(g.wait);
    }
    assert_eq!(granted, 5);
    assert_eq!(waits.len(), 3, "every node but the first waits: {waits:?}");
    for (until, reason) in waits {
        assert_eq!(until, now + 3_600_000);
        assert_eq!(
            reason,
            "send limit of server `limited`: 5 mails per hour reached"
        );
    }
    // An hour later the window is empty again.
    let mut tx = store.begin().await.unwrap();
    let g = tx
        .reserve_sends((s.id, "limited"), &limits, 3, now + 3_600_000)
        .await
        .unwrap();
    assert_eq!((g.granted, g.wait), (3, None));
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn kinds_and_limits_sqlite() {
    let db = postern_testkit::TestDb::sqlite().await;
    kinds_and_limits_are_checked(db.store.clone()).await;
    db.finish().await;
}

#[tokio::test]
async fn kinds_and_limits_postgres() {
    let db = postern_testkit::TestDb::postgres().await;
    kinds_and_limits_are_checked(db.store.clone()).await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reservations_sqlite() {
    let db = postern_testkit::TestDb::sqlite().await;
    reservations_hold_across_transactions(db.store.clone()).await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reservations_postgres() {
    let db = postern_testkit::TestDb::postgres().await;
    reservations_hold_across_transactions(db.store.clone()).await;
    db.finish().await;
}
