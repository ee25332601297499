//! The store conformance suite: every test runs three times, on SQLite (a temporary file) through
//! sqlx, on SQLite through the group committer's direct connection, and on PostgreSQL (a fresh
//! database on the server named by `POSTERN_TEST_DATABASE_URL`, which `scripts/test.sh`
//! starts), each a `postern_testkit::TestDb`. A PostgreSQL that cannot be reached fails the
//! tests: it is never skipped.

use postern_model::{
    AliasContact, AliasStatus, DeliveryState, Encryption, FetchProtocol, MailId, MailState,
    MailStream, MessageId, MessageType, NotificationStatus, NotificationType, PartnerId, RawStatus,
    RecipientStatus, RecordId, Secret, WebhookId,
};
use postern_store::*;
use postern_testkit::db::comment;

/// Declares one test per backend: `name::sqlite`, `name::sqlite_direct` and `name::postgres`.
/// `concurrent` tests (two transactions open at once) have no `sqlite_direct`: the direct
/// connection runs one transaction at a time by design (its only user is the group committer).
macro_rules! conformance {
    ($name:ident, |$store:ident| $body:block) => {
        conformance!(@mod $name, |$store| $body, {
            /// SQLite through the group committer's direct connection.
            #[tokio::test]
            async fn sqlite_direct() {
                let db = postern_testkit::TestDb::sqlite().await;
                let store = db
                    .store
                    .clone()
                    .with_direct_writes_for_tests()
                    .expect("direct connection");
                run(store).await;
                db.finish().await;
            }
        });
    };
    (concurrent $name:ident, |$store:ident| $body:block) => {
        conformance!(@mod $name, |$store| $body, {});
    };
    (@mod $name:ident, |$store:ident| $body:block, { $($direct:item)* }) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($store: Store) $body

            #[tokio::test]
            async fn sqlite() {
                let db = postern_testkit::TestDb::sqlite().await;
                run(db.store.clone()).await;
                db.finish().await;
            }

            $($direct)*

            #[tokio::test]
            async fn postgres() {
                let db = postern_testkit::TestDb::postgres().await;
                run(db.store.clone()).await;
                db.finish().await;
            }
        }
    };
}

fn domain(name: &str) -> AliasDomainInput {
    AliasDomainInput {
        name: name.into(),
        ..Default::default()
    }
}

fn alias(name: &str, domain: Option<&str>, model: &str) -> AliasInput {
    AliasInput {
        alias_name: name.into(),
        alias_domain: domain.map(Into::into),
        model: model.into(),
        ..Default::default()
    }
}

fn is_invalid(e: &StoreError, field: &str) -> bool {
    matches!(e, StoreError::Invalid { field: f, .. } if f == field)
}

conformance!(alias_domain_defaults, |store| {
    let mut tx = store.begin().await.unwrap();
    let d = tx
        .create::<AliasDomain>(&domain("Example.COM"))
        .await
        .unwrap();
    assert_eq!(d.name, "example.com", "domain names are kept lower-case");
    assert_eq!(
        (
            d.bounce_alias.as_str(),
            d.catchall_alias.as_str(),
            d.default_from.as_str(),
            d.sequence
        ),
        ("bounce", "catchall", "notifications", 10)
    );
    assert_eq!(d.bounce_email(), "bounce@example.com");
    assert_eq!(d.catchall_email(), "catchall@example.com");
    assert_eq!(d.default_from_email(), "notifications@example.com");
    tx.commit().await.unwrap();
});

fn dkim(selector: &str) -> NewDkimKey {
    NewDkimKey {
        selector: selector.into(),
        algorithm: postern_model::DkimAlgorithm::Ed25519,
        private_key: Secret::new(format!("private-{selector}")),
        public_key: format!("public-{selector}"),
        key_file: None,
    }
}

conformance!(dkim_keys_rotate_two_at_a_time, |store| {
    let mut tx = store.begin().await.unwrap();
    let d = tx
        .create::<AliasDomain>(&domain("example.com"))
        .await
        .unwrap();
    let other = tx
        .create::<AliasDomain>(&domain("other.example"))
        .await
        .unwrap();
    let (first, retired) = tx.add_dkim_key(d.id, &dkim("s1")).await.unwrap();
    assert!(retired.is_empty());
    assert_eq!(
        (first.selector.as_str(), first.public_key.as_str()),
        ("s1", "public-s1")
    );
    let err = tx.add_dkim_key(d.id, &dkim("s1")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    tx.add_dkim_key(d.id, &dkim("s2")).await.unwrap();
    tx.add_dkim_key(other.id, &dkim("s1")).await.unwrap();
    let selectors = |keys: Vec<DkimKey>| keys.into_iter().map(|k| k.selector).collect::<Vec<_>>();
    assert_eq!(selectors(tx.dkim_keys(d.id).await.unwrap()), ["s2", "s1"]);
    // A third key retires the oldest: two live at once.
    let (_, retired) = tx.add_dkim_key(d.id, &dkim("s3")).await.unwrap();
    assert_eq!(selectors(retired), ["s1"]);
    assert_eq!(selectors(tx.dkim_keys(d.id).await.unwrap()), ["s3", "s2"]);
    tx.commit().await.unwrap();
    let mut tx = store.read().await.unwrap();
    let signing: Vec<(String, String, String)> = tx
        .dkim_signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.domain, k.selector, k.private_key.expose().to_owned()))
        .collect();
    let expected = [
        ("example.com", "s3", "private-s3"),
        ("example.com", "s2", "private-s2"),
        ("other.example", "s1", "private-s1"),
    ]
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
    assert_eq!(signing, expected);
    // The view shown to users has no private half.
    let shown = serde_json::to_string(&tx.dkim_keys(d.id).await.unwrap()).unwrap();
    assert!(!shown.contains("private"), "{shown}");
});

conformance!(alias_refuse_untrusted_round_trip, |store| {
    let mut tx = store.begin().await.unwrap();
    tx.create::<AliasDomain>(&domain("example.com"))
        .await
        .unwrap();
    let plain = tx
        .create::<Alias>(&alias("sales", Some("example.com"), "crm.lead"))
        .await
        .unwrap();
    assert!(!plain.refuse_untrusted, "off by default");
    let strict = AliasInput {
        refuse_untrusted: Some(true),
        ..alias("strict", Some("example.com"), "crm.lead")
    };
    let created = tx.create::<Alias>(&strict).await.unwrap();
    assert!(created.refuse_untrusted);
    assert_eq!(created.to_input().refuse_untrusted, Some(true));
    let routing = tx
        .aliases_for_routing(
            &["strict@example.com".into(), "sales@example.com".into()],
            &[],
        )
        .await
        .unwrap();
    let flags: Vec<(String, bool)> = routing
        .iter()
        .map(|a| (a.alias_name.clone(), a.refuse_untrusted))
        .collect();
    assert!(flags.contains(&("strict".into(), true)), "{flags:?}");
    assert!(flags.contains(&("sales".into(), false)), "{flags:?}");
    let relaxed = AliasInput {
        refuse_untrusted: Some(false),
        ..strict
    };
    assert!(
        !tx.update::<Alias>(created.id, &relaxed)
            .await
            .unwrap()
            .refuse_untrusted
    );
    tx.commit().await.unwrap();
});

conformance!(alias_domain_name_must_be_dot_atom, |store| {
    let mut tx = store.begin().await.unwrap();
    for bad in ["", "exa mple.com", "a,b.com", "éxample.com", "example..com"] {
        let err = tx.create::<AliasDomain>(&domain(bad)).await.unwrap_err();
        assert!(is_invalid(&err, "name"), "{bad:?} gave {err}");
    }
});

conformance!(alias_domain_aliases_are_sanitised, |store| {
    let mut tx = store.begin().await.unwrap();
    let d = tx
        .create::<AliasDomain>(&AliasDomainInput {
            name: "valid.complete.com".into(),
            bounce_alias: Some("bounce@wrong.complete.com".into()),
            catchall_alias: Some("Bouncâïde 😊".into()),
            default_from: Some("notifications@valid.complete.com".into()),
            sequence: None,
            verp: None,
        })
        .await
        .unwrap();
    assert_eq!(d.bounce_alias, "bounce");
    assert_eq!(d.catchall_alias, "bouncaide-");
    assert_eq!(d.default_from, "notifications@valid.complete.com");
    assert_eq!(d.default_from_email(), "notifications@valid.complete.com");
});

conformance!(first_alias_domain_goes_to_companies_without_one, |store| {
    let mut tx = store.begin().await.unwrap();
    let c = tx
        .create::<Company>(&CompanyInput {
            name: "Acme".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(c.alias_domain, None);
    tx.create::<AliasDomain>(&domain("acme.test"))
        .await
        .unwrap();
    let c = tx.get::<postern_store::Company>(c.id).await.unwrap();
    assert_eq!(c.alias_domain.as_deref(), Some("acme.test"));
    // A company created later gets the first domain by sequence.
    tx.create::<AliasDomain>(&AliasDomainInput {
        name: "first.test".into(),
        sequence: Some(1),
        ..Default::default()
    })
    .await
    .unwrap();
    let c2 = tx
        .create::<Company>(&CompanyInput {
            name: "Beta".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(c2.alias_domain.as_deref(), Some("first.test"));
    assert_eq!(tx.first_company().await.unwrap().unwrap().name, "Acme");
});

conformance!(alias_name_unique_per_domain, |store| {
    let mut tx = store.begin().await.unwrap();
    tx.create::<AliasDomain>(&domain("d1.test")).await.unwrap();
    tx.create::<AliasDomain>(&domain("d2.test")).await.unwrap();
    tx.create::<Alias>(&alias("sales", Some("d1.test"), "crm.lead"))
        .await
        .unwrap();
    let err = tx
        .create::<Alias>(&alias("Sales", Some("d1.test"), "crm.lead"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    // Same name on another domain, and without domain, is fine; twice without domain is not.
    tx.create::<Alias>(&alias("sales", Some("d2.test"), "crm.lead"))
        .await
        .unwrap();
    tx.create::<Alias>(&alias("sales", None, "crm.lead"))
        .await
        .unwrap();
    let err = tx
        .create::<Alias>(&alias("sales", None, "crm.lead"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    tx.commit().await.unwrap();
});

conformance!(
    alias_may_not_take_bounce_or_catchall_of_its_domain,
    |store| {
        let mut tx = store.begin().await.unwrap();
        tx.create::<AliasDomain>(&domain("d1.test")).await.unwrap();
        tx.create::<AliasDomain>(&AliasDomainInput {
            name: "d2.test".into(),
            bounce_alias: Some("bounce.c2".into()),
            catchall_alias: Some("catchall.c2".into()),
            ..Default::default()
        })
        .await
        .unwrap();
        for name in ["catchall", "bounce", "CatchAll"] {
            let err = tx
                .create::<Alias>(&alias(name, Some("d1.test"), "crm.lead"))
                .await
                .unwrap_err();
            assert!(is_invalid(&err, "alias_name"), "{name}: {err}");
        }
        // d2's bounce/catchall names are fine on d1.
        tx.create::<Alias>(&alias("bounce.c2", Some("d1.test"), "crm.lead"))
            .await
            .unwrap();
        // And a domain may not be changed so that its bounce address becomes an existing alias.
        tx.create::<Alias>(&alias("returns", Some("d2.test"), "crm.lead"))
            .await
            .unwrap();
        let d2 = tx.find_alias_domain("d2.test").await.unwrap().unwrap();
        let mut input = tx
            .get::<postern_store::AliasDomain>(d2)
            .await
            .unwrap()
            .to_input();
        input.bounce_alias = Some("returns".into());
        let err = tx.update::<AliasDomain>(d2, &input).await.unwrap_err();
        assert!(is_invalid(&err, "bounce_alias"), "{err}");
    }
);

conformance!(
    alias_name_sanitised_and_model_declared_on_first_use,
    |store| {
        let mut tx = store.begin().await.unwrap();
        tx.create::<AliasDomain>(&domain("d1.test")).await.unwrap();
        let a = tx
            .create::<Alias>(&alias(
                "Hélène Prôvâïder",
                Some("d1.test"),
                "helpdesk.ticket",
            ))
            .await
            .unwrap();
        assert_eq!(a.alias_name, "helene-provaider");
        assert_eq!(a.full_name(), "helene-provaider@d1.test");
        assert_eq!(a.contact, AliasContact::Everyone);
        assert_eq!(a.status, AliasStatus::NotTested);
        assert!(tx.find_model("helpdesk.ticket").await.unwrap().is_some());
        let err = tx
            .create::<Alias>(&alias("x", Some("nowhere.test"), "crm.lead"))
            .await
            .unwrap_err();
        assert!(is_invalid(&err, "alias_domain"), "{err}");
        let err = tx
            .create::<Alias>(&alias("y", Some("d1.test"), "Not A Model"))
            .await
            .unwrap_err();
        assert!(is_invalid(&err, "model"), "{err}");
    }
);

conformance!(alias_status_reset_when_routing_settings_change, |store| {
    let mut tx = store.begin().await.unwrap();
    tx.create::<AliasDomain>(&domain("d1.test")).await.unwrap();
    let a = tx
        .create::<Alias>(&alias("sales", Some("d1.test"), "crm.lead"))
        .await
        .unwrap();
    tx.set_alias_status(a.id, AliasStatus::Valid).await.unwrap();
    let mut input = a.to_input();
    input.bounced_content = Some("<p>Sorry</p>".into());
    assert_eq!(
        tx.update::<Alias>(a.id, &input).await.unwrap().status,
        AliasStatus::Valid
    );
    input.contact = Some(AliasContact::Partners);
    assert_eq!(
        tx.update::<Alias>(a.id, &input).await.unwrap().status,
        AliasStatus::NotTested
    );
});

conformance!(upsert_is_idempotent, |store| {
    let mut tx = store.begin().await.unwrap();
    let (_, c) = tx.upsert::<AliasDomain>(&domain("d1.test")).await.unwrap();
    assert_eq!(c, Change::Created);
    let (_, c) = tx.upsert::<AliasDomain>(&domain("d1.test")).await.unwrap();
    assert_eq!(c, Change::Unchanged);
    let mut a = alias("sales", Some("d1.test"), "crm.lead");
    a.defaults = Some(serde_json::json!({"team": "direct"}));
    assert_eq!(tx.upsert::<Alias>(&a).await.unwrap().1, Change::Created);
    assert_eq!(tx.upsert::<Alias>(&a).await.unwrap().1, Change::Unchanged);
    a.defaults = Some(serde_json::json!({"team": "indirect"}));
    let (row, c) = tx.upsert::<Alias>(&a).await.unwrap();
    assert_eq!(c, Change::Updated);
    assert_eq!(row.defaults.0["team"], "indirect");
    let p = PartnerInput {
        name: "Eva Employee".into(),
        email: Some("Eva@Example.com".into()),
        user: Some(true),
        ..Default::default()
    };
    assert_eq!(tx.upsert::<Partner>(&p).await.unwrap().1, Change::Created);
    let (row, c) = tx.upsert::<Partner>(&p).await.unwrap();
    assert_eq!(c, Change::Unchanged);
    assert_eq!(row.email_normalized.as_deref(), Some("eva@example.com"));
    tx.commit().await.unwrap();
});

conformance!(server_passwords_are_write_only, |store| {
    let mut tx = store.begin().await.unwrap();
    let input = OutgoingServerInput {
        name: "relay".into(),
        host: "127.0.0.1".into(),
        port: Some(2526),
        password: Some(Secret::new("s3cret")),
        ..Default::default()
    };
    let s = tx.create::<OutgoingServer>(&input).await.unwrap();
    assert!(s.has_password);
    assert_eq!(s.encryption, Encryption::None);
    let json = serde_json::to_string(&s).unwrap();
    assert!(!json.contains("s3cret"), "{json}");
    // Updating without a password keeps it; an empty one clears it.
    let s = tx
        .update::<OutgoingServer>(s.id, &s.to_input())
        .await
        .unwrap();
    assert_eq!(
        tx.outgoing_server_password(s.id)
            .await
            .unwrap()
            .unwrap()
            .expose(),
        "s3cret"
    );
    let mut cleared = s.to_input();
    cleared.password = Some(Secret::new(""));
    assert!(
        !tx.update::<OutgoingServer>(s.id, &cleared)
            .await
            .unwrap()
            .has_password
    );
    let ssl = OutgoingServerInput {
        name: "ssl".into(),
        host: "smtp.example.com".into(),
        encryption: Some(Encryption::SslStrict),
        ..Default::default()
    };
    assert_eq!(tx.create::<OutgoingServer>(&ssl).await.unwrap().port, 465);
    let dup = tx.create::<OutgoingServer>(&ssl).await.unwrap_err();
    assert!(matches!(dup, StoreError::Conflict(_)), "{dup}");
});

conformance!(incoming_server_defaults, |store| {
    let mut tx = store.begin().await.unwrap();
    let s = tx
        .create::<IncomingServer>(&IncomingServerInput {
            name: "support".into(),
            host: "imap.example.com".into(),
            username: "support@example.com".into(),
            password_env: Some("SUPPORT_IMAP_PASSWORD".into()),
            model: Some("helpdesk.ticket".into()),
            interval: Some(Interval::Text("5m".into())),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(s.protocol, FetchProtocol::Imap);
    assert_eq!((s.port, s.encryption), (993, Encryption::SslStrict));
    assert_eq!(s.interval_seconds, 300);
    assert_eq!(s.priority, 5);
    assert!(s.attachments && !s.keep_original && !s.has_password);
    let err = tx
        .create::<IncomingServer>(&IncomingServerInput {
            name: "pop".into(),
            protocol: Some(FetchProtocol::Pop3),
            host: "pop.example.com".into(),
            username: "u".into(),
            interval: Some(Interval::Text("soon".into())),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(is_invalid(&err, "interval"), "{err}");
});

conformance!(params_are_sanitised_on_write, |store| {
    let mut tx = store.begin().await.unwrap();
    let key = "mail.catchall.domain.allowed";
    for bad in [",", ",,", ", ,"] {
        assert!(tx.set_param(key, bad).await.is_err(), "{bad:?}");
    }
    let (v, _) = tx.set_param(key, "hello.COM, BONJOUR.com").await.unwrap();
    assert_eq!(v.as_deref(), Some("hello.com,bonjour.com"));
    assert_eq!(
        tx.get_param(key).await.unwrap().as_deref(),
        Some("hello.com,bonjour.com")
    );
    tx.set_param(key, "hello.com,,").await.unwrap();
    assert_eq!(
        tx.get_param(key).await.unwrap().as_deref(),
        Some("hello.com")
    );
    tx.set_param(key, "").await.unwrap();
    assert_eq!(tx.get_param(key).await.unwrap(), None);
    assert!(
        tx.set_param("mail.gateway.loop.minutes", "soon")
            .await
            .is_err()
    );
    assert_eq!(
        tx.set_param("mail.gateway.loop.minutes", "120")
            .await
            .unwrap()
            .1,
        Change::Created
    );
    assert_eq!(
        tx.set_param("mail.gateway.loop.minutes", "120")
            .await
            .unwrap()
            .1,
        Change::Unchanged
    );
});

conformance!(rollback_leaves_nothing, |store| {
    let mut tx = store.begin().await.unwrap();
    tx.create::<AliasDomain>(&domain("gone.test"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let mut tx = store.read().await.unwrap();
    assert!(tx.find_alias_domain("gone.test").await.unwrap().is_none());
});

conformance!(pages_follow_cursors, |store| {
    let mut tx = store.begin().await.unwrap();
    for i in 0..5 {
        tx.create::<Model>(&ModelInput {
            name: format!("m.n{i}"),
            description: None,
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let mut tx = store.read().await.unwrap();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let req = PageRequest::parse(Some(2), cursor.as_deref()).unwrap();
        let page = tx.list::<postern_store::Model>(req).await.unwrap();
        seen.extend(page.items.iter().map(|m| m.name.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, ["m.n0", "m.n1", "m.n2", "m.n3", "m.n4"]);
});

conformance!(delete_refused_while_in_use, |store| {
    let mut tx = store.begin().await.unwrap();
    let d = tx.create::<AliasDomain>(&domain("d1.test")).await.unwrap();
    let a = tx
        .create::<Alias>(&alias("sales", Some("d1.test"), "crm.lead"))
        .await
        .unwrap();
    assert!(matches!(
        tx.delete::<AliasDomain>(d.id).await.unwrap_err(),
        StoreError::Conflict(_)
    ));
    let model = tx.find_model("crm.lead").await.unwrap().unwrap();
    assert!(matches!(
        tx.delete::<Model>(model).await.unwrap_err(),
        StoreError::Conflict(_)
    ));
    tx.delete::<Alias>(a.id).await.unwrap();
    tx.delete::<AliasDomain>(d.id).await.unwrap();
    tx.delete::<Model>(model).await.unwrap();
    assert!(matches!(
        tx.get::<postern_store::AliasDomain>(d.id)
            .await
            .unwrap_err(),
        StoreError::NotFound { .. }
    ));
});

conformance!(webhooks_validate_events_and_hide_secret, |store| {
    let mut tx = store.begin().await.unwrap();
    let w = tx
        .create::<Webhook>(&WebhookInput {
            name: "crm".into(),
            url: "https://crm.example.com/hook".into(),
            events: vec!["record.created".into()],
            secret: Some(Secret::new("k")),
            active: None,
            description: None,
        })
        .await
        .unwrap();
    assert!(w.has_secret && w.active);
    let err = tx
        .create::<Webhook>(&WebhookInput {
            name: "bad".into(),
            url: "ftp://x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(is_invalid(&err, "url"), "{err}");
    let err = tx
        .create::<Webhook>(&WebhookInput {
            name: "bad".into(),
            url: "http://x.test/".into(),
            events: vec!["record.exploded".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(is_invalid(&err, "events[0]"), "{err}");
    // Every event type of the contract (DESIGN.md) is accepted.
    let all = [
        "record.created",
        "message.received",
        "message.posted",
        "mail.sent",
        "mail.failed",
        "notification.bounced",
        "incoming_server.failed",
        "outgoing_server.failed",
        "raw_message.unprocessable",
    ];
    tx.create::<Webhook>(&WebhookInput {
        name: "all".into(),
        url: "http://x.test/all".into(),
        events: all.iter().map(|e| (*e).to_owned()).collect(),
        ..Default::default()
    })
    .await
    .unwrap();
});

conformance!(changing_only_a_secret_is_an_update, |store| {
    let mut tx = store.begin().await.unwrap();
    let mut input = OutgoingServerInput {
        name: "relay".into(),
        host: "127.0.0.1".into(),
        password: Some(Secret::new("one")),
        ..Default::default()
    };
    assert_eq!(
        tx.upsert::<OutgoingServer>(&input).await.unwrap().1,
        Change::Created
    );
    assert_eq!(
        tx.upsert::<OutgoingServer>(&input).await.unwrap().1,
        Change::Unchanged
    );
    input.password = Some(Secret::new("two"));
    assert_eq!(
        tx.upsert::<OutgoingServer>(&input).await.unwrap().1,
        Change::Updated
    );
    input.password = None;
    assert_eq!(
        tx.upsert::<OutgoingServer>(&input).await.unwrap().1,
        Change::Unchanged
    );
});

conformance!(loop_params_must_be_positive, |store| {
    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.set_param("mail.gateway.loop.threshold", "0")
            .await
            .is_err()
    );
    assert!(
        tx.set_param("mail.mail.queue.batch.size", "0")
            .await
            .is_ok()
    );
    tx.set_param("custom.key", "x").await.unwrap();
    tx.set_param("custom.key", "").await.unwrap();
    assert_eq!(
        tx.get_param("custom.key").await.unwrap(),
        None,
        "an empty value unsets"
    );
});

conformance!(large_raw_messages_come_back_whole, |store| {
    // Around the size of a piece (1 MiB): empty, one byte short, exact, one over, several.
    let mib = 1 << 20;
    for size in [0, mib - 1, mib, mib + 1, 5 * mib / 2] {
        let content: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
        let mut tx = store.begin().await.unwrap();
        let id = tx
            .insert_raw_message(&NewRawMessage {
                source: "smtp",
                envelope_sender: None,
                envelope_rcpts: "[]".into(),
                peer: None,
                helo: None,
                tls: false,
                header_message_id: None,
                content: &content,
                packing: Packing::Later,
                status: RawStatus::Processed,
                error: None,
                outcome: None,
            })
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut tx = store.read().await.unwrap();
        let back = tx.raw_message_content(id).await.unwrap();
        assert_eq!(back.len(), size, "size {size}");
        assert!(back == content, "content of size {size}");
        let info = tx
            .list_raw_messages(None, PageRequest::all())
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|i| i.id == id)
            .unwrap();
        assert_eq!(info.size, size as i64);
    }
});

conformance!(raw_messages_come_back_whole_however_packed, |store| {
    // Text (packs well on SQLite), bytes that do not shrink, and each way of handing them over.
    let text = "Subject: hello\r\n\r\nLa commande 42 est partie.\r\n".repeat(500);
    let mut x = 7u64;
    let noise: Vec<u8> = (0..50_000)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect();
    for content in [text.as_bytes(), &noise[..]] {
        let packed = postern_store::pack(content);
        let packings = [
            Packing::Later,
            Packing::AsReceived,
            packed.as_ref().map_or(Packing::AsReceived, Packing::Lz4),
        ];
        for packing in packings {
            let mut tx = store.begin().await.unwrap();
            let id = tx
                .insert_raw_message(&NewRawMessage {
                    source: "smtp",
                    envelope_rcpts: "[]".into(),
                    content,
                    packing,
                    status: RawStatus::Processed,
                    ..Default::default()
                })
                .await
                .unwrap();
            tx.commit().await.unwrap();
            let mut tx = store.read().await.unwrap();
            let back = tx.raw_message_content(id).await.unwrap();
            assert!(back == content, "{packing:?}, {} bytes", content.len());
        }
    }
});

conformance!(fetch_leases_state_and_message_failures, |store| {
    let mut tx = store.begin().await.unwrap();
    let s = tx
        .create::<IncomingServer>(&IncomingServerInput {
            name: "box".into(),
            host: "imap.example.com".into(),
            username: "u".into(),
            password: Some(Secret::new("pw")),
            auth: Some(postern_model::FetchAuth::Xoauth2),
            max_messages: Some(7),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (s.auth, s.max_messages),
        (postern_model::FetchAuth::Xoauth2, 7)
    );
    let target = tx.fetch_target(s.id).await.unwrap();
    assert_eq!(target.password.0.unwrap().expose(), "pw");
    assert!(
        tx.create::<IncomingServer>(&IncomingServerInput {
            name: "zero".into(),
            host: "h".into(),
            username: "u".into(),
            max_messages: Some(0),
            ..Default::default()
        })
        .await
        .is_err()
    );
    // due at once; a lease keeps other owners off until it expires
    let now = now_ms();
    assert_eq!(tx.due_incoming_servers(now).await.unwrap(), vec![s.id]);
    assert!(tx.take_fetch_lease(s.id, "a", now + 60_000).await.unwrap());
    assert!(!tx.take_fetch_lease(s.id, "b", now + 60_000).await.unwrap());
    assert!(
        tx.take_fetch_lease(s.id, "a", now + 90_000).await.unwrap(),
        "renewed"
    );
    assert!(tx.due_incoming_servers(now).await.unwrap().is_empty());
    tx.release_fetch_lease(s.id, "b").await.unwrap(); // not b's: nothing happens
    assert!(!tx.take_fetch_lease(s.id, "b", now + 60_000).await.unwrap());
    tx.release_fetch_lease(s.id, "a").await.unwrap();
    assert!(tx.take_fetch_lease(s.id, "b", now - 1).await.unwrap());
    assert!(
        tx.take_fetch_lease(s.id, "a", now + 60_000).await.unwrap(),
        "expired"
    );
    tx.release_fetch_lease(s.id, "a").await.unwrap();
    // a poll that never ended (its node died, in an IDLE watch): due as soon as its lease has
    // run out, whatever the interval since its last poll
    tx.record_fetch_success(s.id, now).await.unwrap();
    let polled = tx.due_incoming_servers(now + 1).await.unwrap();
    assert!(polled.is_empty(), "polled a moment ago");
    assert!(
        tx.take_fetch_lease(s.id, "dead", now + 1_000)
            .await
            .unwrap()
    );
    let held = tx.due_incoming_servers(now + 500).await.unwrap();
    assert!(held.is_empty(), "its lease holds");
    let abandoned = tx.due_incoming_servers(now + 1_001).await.unwrap();
    assert_eq!(abandoned, vec![s.id], "abandoned: taken over at once");
    tx.release_fetch_lease(s.id, "dead").await.unwrap();
    // errors count, last, and disable once they last too long
    let hour = 3_600_000;
    assert!(
        !tx.record_fetch_error(s.id, now, "refused", 5 * hour)
            .await
            .unwrap()
    );
    assert!(
        !tx.record_fetch_error(s.id, now + hour, "refused again", 5 * hour)
            .await
            .unwrap()
    );
    let v = tx.get::<postern_store::IncomingServer>(s.id).await.unwrap();
    assert_eq!(
        (v.error_count, v.last_error.as_deref()),
        (2, Some("refused again"))
    );
    assert_eq!(
        (v.first_error_at, v.last_error_at),
        (Some(now), Some(now + hour))
    );
    assert!(
        tx.due_incoming_servers(now + 2 * hour)
            .await
            .unwrap()
            .contains(&s.id)
    );
    assert!(
        tx.record_fetch_error(s.id, now + 6 * hour, "still", 5 * hour)
            .await
            .unwrap()
    );
    let v = tx.get::<postern_store::IncomingServer>(s.id).await.unwrap();
    assert_eq!(v.disabled_at, Some(now + 6 * hour));
    assert_eq!(
        v.last_error.as_deref(),
        Some("disabled after failing for 6 hours; last error: still")
    );
    assert!(
        tx.due_incoming_servers(now + 9 * hour)
            .await
            .unwrap()
            .is_empty()
    );
    tx.record_fetch_success(s.id, now + 7 * hour).await.unwrap();
    let v = tx.get::<postern_store::IncomingServer>(s.id).await.unwrap();
    assert_eq!(
        (v.error_count, v.disabled_at, v.last_error),
        (0, None, None)
    );
    assert_eq!(v.last_success_at, Some(now + 7 * hour));
    // failures of one message
    assert_eq!(
        tx.count_message_failure(s.id, "imap:1:5", "e1")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        tx.count_message_failure(s.id, "imap:1:5", "e2")
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        tx.count_message_failure(s.id, "imap:1:6", "e")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        tx.get::<postern_store::IncomingServer>(s.id)
            .await
            .unwrap()
            .failing_messages,
        2
    );
    tx.clear_message_failures(s.id, "imap:1:5").await.unwrap();
    assert_eq!(
        tx.failing_message_keys(s.id).await.unwrap(),
        vec!["imap:1:6".to_owned()]
    );
    // params
    assert_eq!(
        tx.fetch_params().await.unwrap().max_failures,
        DEFAULT_MAX_FAILURES
    );
    tx.set_param(PARAM_MAX_FAILURES, "5").await.unwrap();
    tx.set_param(PARAM_DISABLE_AFTER_HOURS, "1").await.unwrap();
    assert!(tx.set_param(PARAM_MAX_FAILURES, "0").await.is_err());
    let p = tx.fetch_params().await.unwrap();
    assert_eq!((p.max_failures, p.disable_after_ms), (5, hour));
    // deleting the server deletes its failures
    tx.delete::<IncomingServer>(s.id).await.unwrap();
    tx.commit().await.unwrap();
});

// ---------------------------------------------------------------------------------------------
// The outbox (delivery, issue 5)

/// A record, a message on it, a partner, and a mail carrying the partner's notification.
async fn outbox_fixture(tx: &mut Tx, n: usize) -> (MessageId, Vec<(MailId, PartnerId)>) {
    let record = tx
        .insert_record(&NewRecordRow {
            model: "crm.lead",
            name: "Lead",
            values_json: "{}",
            ..Default::default()
        })
        .await
        .unwrap();
    let message = tx
        .insert_message(&NewMessage {
            email_from: Some("a@example.com"),
            subject: Some("Hi"),
            ..comment("<m1@test>", Some(record), "<p>hi</p>")
        })
        .await
        .unwrap();
    let mut out = Vec::new();
    for i in 0..n {
        let email = format!("p{i}@example.com");
        let partner = tx
            .create::<Partner>(&PartnerInput {
                name: format!("P{i}"),
                email: Some(email.clone()),
                ..Default::default()
            })
            .await
            .unwrap();
        let mail = tx
            .insert_mail(&NewMail {
                stream: if i == 0 {
                    MailStream::Mass
                } else {
                    MailStream::Transactional
                },
                kind: Some("notification".into()),
                message_id: Some(message),
                record_id: Some(record),
                rfc_message_id: "<m1@test>".into(),
                email_from: "a@example.com".into(),
                email_to: vec![email],
                headers: serde_json::json!({}),
                ..Default::default()
            })
            .await
            .unwrap();
        tx.insert_notification(&NewNotification {
            message_id: message,
            partner_id: partner.id,
            notification_type: NotificationType::Email,
            status: NotificationStatus::Ready,
            mail_id: Some(mail),
        })
        .await
        .unwrap();
        out.push((mail, partner.id));
    }
    (message, out)
}

async fn notification_of(store: &Store, message: MessageId, partner: PartnerId) -> Notification {
    let mut tx = store.read().await.unwrap();
    let m = tx.get_message(message).await.unwrap();
    m.notifications
        .unwrap_or_default()
        .into_iter()
        .find(|n| n.partner_id == partner)
        .unwrap()
}

conformance!(outbox_claim_lease_results_retry_cancel, |store| {
    let mut tx = store.begin().await.unwrap();
    let (message, mails) = outbox_fixture(&mut tx, 4).await;
    tx.commit().await.unwrap();
    let now = now_ms();

    // Transactional first; the mass mail (the first created) last.
    let mut tx = store.begin().await.unwrap();
    let claimed = tx.claim_due_mails("node-a", now, 60_000, 10).await.unwrap();
    tx.commit().await.unwrap();
    let ids: Vec<MailId> = claimed.iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![mails[1].0, mails[2].0, mails[3].0, mails[0].0]);

    // Leased: nobody else gets them until the lease expires (a crashed runner).
    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.claim_due_mails("node-b", now, 60_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = tx
        .claim_due_mails("node-b", now + 61_000, 60_000, 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 4, "an expired lease is claimed again");
    let rcpt = |mail_id: MailId, address: &str, status: &str| MailRecipient {
        mail_id,
        address: address.into(),
        partner_id: None,
        status: status.parse().unwrap(),
        reply: Some(format!("{status} reply")),
    };
    tx.record_mail_results(&[
        MailResult {
            mail_id: mails[1].0,
            state: AttemptState::Sent,
            failure_type: None,
            failure_reason: None,
            server_id: None,
            recipients: vec![rcpt(mails[1].0, "p1@example.com", "sent")],
        },
        MailResult {
            mail_id: mails[2].0,
            state: AttemptState::Sent,
            failure_type: Some("mail_email_invalid".into()),
            failure_reason: None,
            server_id: None,
            recipients: vec![
                rcpt(mails[2].0, "other@example.com", "sent"),
                rcpt(mails[2].0, "P2@example.com", "exception"),
            ],
        },
        MailResult {
            mail_id: mails[3].0,
            state: AttemptState::Exception,
            failure_type: Some("mail_smtp".into()),
            failure_reason: Some("connection refused".into()),
            server_id: None,
            recipients: vec![],
        },
        MailResult {
            mail_id: mails[0].0,
            state: AttemptState::Retry(now + 5_000),
            failure_type: None,
            failure_reason: Some("421 try later".into()),
            server_id: None,
            recipients: vec![rcpt(mails[0].0, "p0@example.com", "retry")],
        },
    ])
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let n1 = notification_of(&store, message, mails[1].1).await;
    assert_eq!((n1.status.as_str(), n1.failure_type), ("sent", None));
    let n2 = notification_of(&store, message, mails[2].1).await;
    assert_eq!(
        (
            n2.status.as_str(),
            n2.failure_type.as_deref(),
            n2.failure_reason.as_deref()
        ),
        (
            "exception",
            Some("mail_email_invalid"),
            Some("exception reply")
        ),
        "the refused recipient's notification only"
    );
    let n3 = notification_of(&store, message, mails[3].1).await;
    assert_eq!(
        (n3.status.as_str(), n3.failure_type.as_deref()),
        ("exception", Some("mail_smtp"))
    );
    let n0 = notification_of(&store, message, mails[0].1).await;
    assert_eq!(
        n0.status,
        NotificationStatus::Ready,
        "a retried mail leaves its notification ready"
    );

    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.claim_due_mails("n", now + 1_000, 60_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let due = tx
        .claim_due_mails("n", now + 6_000, 60_000, 10)
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|m| (m.id, m.attempts)).collect::<Vec<_>>(),
        vec![(mails[0].0, 1)]
    );
    assert_eq!(
        tx.mail_recipients(mails[0].0).await.unwrap()[0].status,
        RecipientStatus::Retry
    );
    assert!(tx.next_due_time().await.unwrap().is_some());

    // Operator: retry the failed one, cancel the retried one; a sent mail stays sent.
    tx.retry_mail(mails[3].0).await.unwrap();
    tx.cancel_mail(mails[0].0).await.unwrap();
    assert!(matches!(
        tx.retry_mail(mails[1].0).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        tx.cancel_mail(MailId(999_999)).await,
        Err(StoreError::NotFound { .. })
    ));
    tx.commit().await.unwrap();
    assert_eq!(
        notification_of(&store, message, mails[3].1).await.status,
        NotificationStatus::Ready
    );
    assert_eq!(
        notification_of(&store, message, mails[0].1).await.status,
        NotificationStatus::Canceled
    );
    let mut tx = store.read().await.unwrap();
    assert_eq!(
        tx.get_mail(mails[3].0).await.unwrap().state,
        MailState::Outgoing
    );
    assert_eq!(
        tx.get_mail(mails[0].0).await.unwrap().state,
        MailState::Cancel
    );
    let counts = tx.mail_counts().await.unwrap();
    assert!(counts.contains(&("sent".to_owned(), 2)), "{counts:?}");
});

conformance!(concurrent outbox_concurrent_claims_are_disjoint, |store| {
    let mut tx = store.begin().await.unwrap();
    outbox_fixture(&mut tx, 6).await;
    tx.commit().await.unwrap();
    let now = now_ms();
    // Two runners claiming at once: the second claims once the first has, and on PostgreSQL
    // while the first's transaction is still open (the first commits only after it); on
    // SQLite the second's transaction waits for the first's commit.
    let postgres = store.backend() == postern_store::Backend::Postgres;
    let (a_claimed, a_has_claimed) = tokio::sync::oneshot::channel();
    let (b_claimed, b_has_claimed) = tokio::sync::oneshot::channel::<()>();
    let (a, b) = tokio::join!(
        async {
            let mut tx = store.begin().await.unwrap();
            let v = tx.claim_due_mails("a", now, 60_000, 3).await.unwrap();
            a_claimed.send(()).unwrap();
            if postgres {
                b_has_claimed.await.unwrap();
            }
            tx.commit().await.unwrap();
            v
        },
        async {
            a_has_claimed.await.unwrap();
            let mut tx = store.begin().await.unwrap();
            let v = tx.claim_due_mails("b", now, 60_000, 10).await.unwrap();
            let _ = b_claimed.send(());
            tx.commit().await.unwrap();
            v
        }
    );
    assert_eq!(a.len(), 3);
    assert_eq!(
        b.len(),
        3,
        "the second claim gets the rest, not the first's mails"
    );
    assert!(a.iter().all(|x| b.iter().all(|y| x.id != y.id)));
});

conformance!(outbox_servers_and_auth, |store| {
    let mut tx = store.begin().await.unwrap();
    let s = tx
        .create::<OutgoingServer>(&OutgoingServerInput {
            name: "relay".into(),
            host: "127.0.0.1".into(),
            password: Some(Secret::new("s3cret")),
            ..Default::default()
        })
        .await
        .unwrap();
    tx.set_outgoing_server_auth(s.id, "xoauth2").await.unwrap();
    assert!(tx.set_outgoing_server_auth(s.id, "magic").await.is_err());
    let servers = tx.delivery_servers(false).await.unwrap();
    assert_eq!(servers.len(), 1);
    assert_eq!(servers[0].auth, "xoauth2");
    assert_eq!(
        servers[0].password.0.as_ref().map(|p| p.expose()),
        Some("s3cret")
    );
    tx.commit().await.unwrap();
});

conformance!(
    a_second_message_with_the_same_message_id_is_a_typed_duplicate,
    |store| {
        let message = |id: &'static str| NewMessage {
            message_type: MessageType::Email,
            email_from: Some("a@example.com"),
            subject: Some("Hi"),
            ..comment(id, None, "<p>hi</p>")
        };
        let mut tx = store.begin().await.unwrap();
        tx.insert_message(&message("<same@test>")).await.unwrap();
        tx.commit().await.unwrap();
        // What the gateway sees when another writer stored the same message first.
        let mut tx = store.begin().await.unwrap();
        let err = tx
            .insert_message(&message("<same@test>"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::DuplicateMessage(_)), "{err:?}");
        assert!(!err.is_temporary());
        tx.rollback().await.unwrap();
    }
);

#[path = "conformance/events.rs"]
mod events;
#[path = "conformance/oauth.rs"]
mod oauth;

conformance!(admin_users_and_sessions, |store| {
    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.create_admin_user("admin", "$argon2id$one")
            .await
            .unwrap()
    );
    assert!(
        !tx.create_admin_user("admin", "$argon2id$two")
            .await
            .unwrap(),
        "an existing user keeps its password"
    );
    let user = tx.admin_user("admin").await.unwrap().unwrap();
    assert_eq!(user.password_hash, "$argon2id$one");
    assert!(tx.admin_user("nobody").await.unwrap().is_none());
    let now = now_ms();
    tx.create_admin_session("h1", user.id, "csrf1", now + 60_000)
        .await
        .unwrap();
    tx.create_admin_session("h2", user.id, "csrf2", now + 60_000)
        .await
        .unwrap();
    tx.create_admin_session("old", user.id, "csrf0", now - 1)
        .await
        .unwrap();
    let s = tx.admin_session("h1", now).await.unwrap().unwrap();
    assert_eq!((s.login.as_str(), s.csrf.as_str()), ("admin", "csrf1"));
    assert!(
        tx.admin_session("old", now).await.unwrap().is_none(),
        "expired"
    );
    assert!(
        tx.admin_session("h1", now + 60_000)
            .await
            .unwrap()
            .is_none(),
        "expired at its time"
    );
    // A new password ends the other sessions, keeps this one.
    tx.set_admin_password(user.id, "$argon2id$new", "h1")
        .await
        .unwrap();
    assert!(tx.admin_session("h1", now).await.unwrap().is_some());
    assert!(tx.admin_session("h2", now).await.unwrap().is_none());
    assert_eq!(
        tx.admin_user("admin").await.unwrap().unwrap().password_hash,
        "$argon2id$new"
    );
    tx.delete_admin_session("h1").await.unwrap();
    assert!(
        tx.admin_session("h1", now).await.unwrap().is_none(),
        "signed out"
    );
    tx.commit().await.unwrap();
});

conformance!(dashboard_activity, |store| {
    let now = now_ms();
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.activity(now).await.unwrap(), Activity::default());
    assert_eq!(tx.failure_count(100).await.unwrap(), 0);
    let (message, mails) = outbox_fixture(&mut tx, 2).await;
    let partner = tx
        .create::<Partner>(&PartnerInput {
            name: "Bounced".into(),
            email: Some("bounced@example.com".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    tx.insert_notification(&NewNotification {
        message_id: message,
        partner_id: partner.id,
        notification_type: NotificationType::Email,
        status: NotificationStatus::Bounce,
        mail_id: None,
    })
    .await
    .unwrap();
    assert_eq!(tx.failure_count(100).await.unwrap(), 1, "one message");
    assert_eq!(mails.len(), 2);
    let a = tx.activity(now_ms()).await.unwrap();
    assert!(
        a.oldest_outgoing_at.is_some_and(|t| t >= now - 1000),
        "{a:?}"
    );
    assert_eq!((a.sent_hour, a.sent_day), (0, 0));
    tx.commit().await.unwrap();
});

conformance!(unclaimed_raw_messages, |store| {
    let mut tx = store.begin().await.unwrap();
    let outcomes = [
        r#"{"outcome":"bounce_processed","routes":[],"sent":[],"bounce":null}"#,
        r#"{"outcome":"bounce_processed","routes":[],"sent":[],"bounce":{"recipients":[],"original_message_ids":[],"message_id":null,"partner_ids":[]}}"#,
        r#"{"outcome":"bounce_processed","routes":[],"sent":[],"bounce":{"recipients":[],"original_message_ids":["<a@b>"],"message_id":7,"partner_ids":[3]}}"#,
        r#"{"outcome":"catchall_refused","routes":[],"sent":[],"bounce":null}"#,
        r#"{"outcome":"duplicate","routes":[],"sent":[],"bounce":null}"#,
    ];
    let mut ids = Vec::new();
    for outcome in outcomes {
        let id = tx
            .insert_raw_message(&NewRawMessage {
                source: "smtp",
                envelope_sender: None,
                envelope_rcpts: "[]".into(),
                peer: None,
                helo: None,
                tls: false,
                header_message_id: None,
                content: b"Subject: x\r\n\r\nx\r\n",
                packing: Packing::Later,
                status: RawStatus::Processed,
                error: None,
                outcome: Some(outcome.to_owned()),
            })
            .await
            .unwrap();
        ids.push(id);
    }
    let page = tx
        .list_raw_messages(Some("unclaimed"), PageRequest::all())
        .await
        .unwrap();
    let found: Vec<_> = page.items.iter().map(|r| r.id).collect();
    assert_eq!(
        found,
        [ids[3], ids[1], ids[0]],
        "newest first; not the pinned bounce"
    );
    tx.commit().await.unwrap();
});
