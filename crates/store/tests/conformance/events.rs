//! The webhook event queue on every backend: events written in the transaction of their
//! change and only for subscribers, claims with a lease, tries, retries, 410.

use super::*;

async fn webhook(tx: &mut Tx, name: &str, events: &[&str]) -> Webhook {
    tx.create::<Webhook>(&WebhookInput {
        name: name.into(),
        url: format!("http://127.0.0.1:9/{name}"),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn record(tx: &mut Tx) -> RecordId {
    tx.insert_record(&NewRecordRow {
        model: "crm.lead",
        name: "Lead",
        values_json: "{}",
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn claim(store: &Store, owner: &str) -> Vec<DueDelivery> {
    let mut tx = store.begin().await.unwrap();
    let due = tx
        .claim_due_deliveries(owner, now_ms() + 1, 60_000, 100)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    due
}

fn attempt(d: &DueDelivery, status: Option<u16>, next: NextStep) -> DeliveryTry {
    DeliveryTry {
        delivery_id: d.id,
        webhook_id: d.webhook_id,
        attempted_at: now_ms(),
        duration_ms: 3,
        status,
        response: Some("x".repeat(10_000)),
        error: status.is_none().then(|| "connection refused".to_owned()),
        next,
        body: Some(format!("{{\"try\":{}}}", d.attempts + 1)),
    }
}

conformance!(events_are_written_for_subscribers_only, |store| {
    let mut tx = store.begin().await.unwrap();
    record(&mut tx).await;
    tx.commit().await.unwrap();
    assert!(claim(&store, "a").await.is_empty(), "no webhook, no event");

    let mut tx = store.begin().await.unwrap();
    let w = webhook(&mut tx, "crm", &["record.created"]).await;
    let all = webhook(&mut tx, "all", &[]).await;
    assert!(
        w.secret.as_deref().is_some_and(|s| s.starts_with("whsec_")),
        "a secret is generated on create and shown once: {:?}",
        w.secret
    );
    assert!(
        tx.get::<postern_store::Webhook>(w.id)
            .await
            .unwrap()
            .secret
            .is_none()
    );
    let r = record(&mut tx).await;
    tx.insert_message(&comment("<posted@test>", Some(r), "<p>hi</p>"))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let due = claim(&store, "a").await;
    let mut seen: Vec<(WebhookId, &str)> = due
        .iter()
        .map(|d| (d.webhook_id, d.event_type.as_str()))
        .collect();
    seen.sort();
    let mut expected = vec![
        (w.id, "record.created"),
        (all.id, "record.created"),
        (all.id, "message.posted"),
    ];
    expected.sort();
    assert_eq!(seen, expected);
    let created: Vec<&DueDelivery> = due
        .iter()
        .filter(|d| d.event_type == "record.created")
        .collect();
    assert_eq!(
        created[0].event_key, created[1].event_key,
        "one event, one webhook-id for every endpoint"
    );
    assert!(created[0].event_key.starts_with("evt_"));
    assert_eq!(created[0].subject_id, Some(r.get()));
    assert_eq!(created[0].url, "http://127.0.0.1:9/crm");
    assert!(
        claim(&store, "b").await.is_empty(),
        "claimed deliveries are held by their lease"
    );
});

conformance!(a_rolled_back_change_leaves_no_event, |store| {
    let mut tx = store.begin().await.unwrap();
    webhook(&mut tx, "crm", &["record.created"]).await;
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    record(&mut tx).await;
    tx.rollback().await.unwrap();
    assert!(claim(&store, "a").await.is_empty());
});

conformance!(tries_retries_and_gone_endpoints, |store| {
    let mut tx = store.begin().await.unwrap();
    let w = webhook(&mut tx, "crm", &["record.created"]).await;
    record(&mut tx).await;
    tx.commit().await.unwrap();
    let due = claim(&store, "a").await;
    assert_eq!(due.len(), 1);
    let d = &due[0];

    // A 500, retried at once: the body sent is frozen.
    let mut tx = store.begin().await.unwrap();
    tx.record_delivery_tries(&[attempt(d, Some(500), NextStep::RetryAt(now_ms()))])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let again = claim(&store, "b").await;
    assert_eq!(again.len(), 1, "a retry is due again, its lease released");
    assert_eq!(again[0].payload.as_deref(), Some("{\"try\":1}"));
    assert_eq!(again[0].attempts, 1);
    assert_eq!(again[0].event_key, d.event_key);
    // A second failure keeps the first body.
    let mut tx = store.begin().await.unwrap();
    tx.record_delivery_tries(&[attempt(&again[0], None, NextStep::RetryAt(now_ms()))])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let again = claim(&store, "b").await;
    assert_eq!(again[0].payload.as_deref(), Some("{\"try\":1}"));
    assert_eq!(again[0].attempts, 2);

    let mut tx = store.begin().await.unwrap();
    tx.record_delivery_tries(&[attempt(&again[0], Some(200), NextStep::Delivered)])
        .await
        .unwrap();
    let page = tx
        .webhook_deliveries(w.id, PageRequest::all())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let shown = &page.items[0];
    assert_eq!(shown.state, DeliveryState::Delivered);
    assert_eq!(shown.attempts, 3);
    assert_eq!(shown.last_status, Some(200));
    assert_eq!(shown.event_id, d.event_key);
    let statuses: Vec<Option<i64>> = shown.tries.iter().map(|t| t.status).collect();
    assert_eq!(statuses, vec![Some(500), None, Some(200)]);
    assert_eq!(shown.tries[1].error.as_deref(), Some("connection refused"));
    assert!(
        shown
            .tries
            .iter()
            .all(|t| t.response.as_ref().unwrap().len() == MAX_RESPONSE_KEPT)
    );
    assert!(claim(&store, "a").await.is_empty(), "delivered is done");

    // A replay: the same event, due now.
    let mut tx = store.begin().await.unwrap();
    let replay = tx.retry_webhook_delivery(shown.id).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(replay.state, DeliveryState::Pending);
    let due = claim(&store, "a").await;
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].event_key, d.event_key);

    // 410 Gone: the delivery fails and the endpoint is disabled; its other events wait.
    let mut tx = store.begin().await.unwrap();
    tx.record_delivery_tries(&[attempt(&due[0], Some(410), NextStep::Disable)])
        .await
        .unwrap();
    record(&mut tx).await;
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(!tx.get::<postern_store::Webhook>(w.id).await.unwrap().active);
    let d = tx.get_webhook_delivery(shown.id).await.unwrap();
    assert_eq!(d.state, DeliveryState::Failed);
    assert!(d.last_error.unwrap().contains("410"));
    tx.commit().await.unwrap();
    assert!(
        claim(&store, "a").await.is_empty(),
        "a disabled endpoint is not called"
    );
});

conformance!(concurrent webhook_claims_are_disjoint, |store| {
    let mut tx = store.begin().await.unwrap();
    webhook(&mut tx, "crm", &["record.created"]).await;
    for _ in 0..6 {
        record(&mut tx).await;
    }
    tx.commit().await.unwrap();
    let now = now_ms() + 1;
    let (a, b) = tokio::join!(
        async {
            let mut tx = store.begin().await.unwrap();
            let v = tx.claim_due_deliveries("a", now, 60_000, 3).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            tx.commit().await.unwrap();
            v
        },
        async {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let mut tx = store.begin().await.unwrap();
            let v = tx.claim_due_deliveries("b", now, 60_000, 10).await.unwrap();
            tx.commit().await.unwrap();
            v
        }
    );
    assert_eq!(a.len(), 3);
    assert_eq!(b.len(), 3);
    assert!(a.iter().all(|x| b.iter().all(|y| x.id != y.id)));
});

conformance!(done_deliveries_are_purged_with_their_tries, |store| {
    let mut tx = store.begin().await.unwrap();
    let w = webhook(&mut tx, "crm", &["record.created"]).await;
    record(&mut tx).await;
    record(&mut tx).await;
    tx.commit().await.unwrap();
    let due = claim(&store, "a").await;
    assert_eq!(due.len(), 2);
    let mut tx = store.begin().await.unwrap();
    // One delivered, one still pending (retried later).
    tx.record_delivery_tries(&[
        attempt(&due[0], Some(200), NextStep::Delivered),
        attempt(&due[1], Some(500), NextStep::RetryAt(now_ms() + 3_600_000)),
    ])
    .await
    .unwrap();
    assert_eq!(
        tx.purge_webhook_deliveries(now_ms() - 60_000)
            .await
            .unwrap(),
        0,
        "too recent"
    );
    assert_eq!(
        tx.purge_webhook_deliveries(now_ms() + 60_000)
            .await
            .unwrap(),
        1
    );
    let left = tx
        .webhook_deliveries(w.id, PageRequest::all())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(left.items.len(), 1, "the pending one is kept");
    assert_eq!(left.items[0].state, DeliveryState::Pending);
    assert_eq!(left.items[0].tries.len(), 1);
});
