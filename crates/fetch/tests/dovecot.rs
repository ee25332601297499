//! The fetcher against a real Dovecot (IMAP and POP3, plain, STARTTLS and implicit TLS), started
//! by `scripts/test.sh` in a temporary directory with its own users and maildirs; it exports
//! `POSTERN_TEST_IMAP`, `POSTERN_TEST_IMAPS`, `POSTERN_TEST_POP3`, `POSTERN_TEST_POP3S`,
//! `POSTERN_TEST_MAILDIRS`, `POSTERN_TEST_DOVECOT_CA`. Without them these tests fail (never
//! skip): run them through `scripts/test.sh -p postern-fetch`.
//!
//! Every test runs on SQLite and on PostgreSQL (a fresh database on the server of
//! `POSTERN_TEST_DATABASE_URL`), each with its own Dovecot user, so they run in parallel.
//! Messages are delivered by writing them into the user's maildir (`new/`), as an MDA does.

use postern_fetch::{FetchError, Fetcher, RunReport, TlsSettings};
use postern_gateway::{Gateway, Received};
use postern_model::{Encryption, FetchAuth, FetchProtocol, IncomingServerId, Secret, Source};
use postern_store::*;
use postern_testkit::db::seed;
use postern_testkit::{TestDb, dovecot};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// One test's world: a store, a gateway, a fetcher trusting Dovecot's certificate, a Dovecot user.
struct World {
    db: TestDb,
    store: Store,
    gateway: Gateway,
    fetcher: Fetcher,
    user: String,
}

impl World {
    async fn new(backend: Backend, user: &str) -> World {
        let db = TestDb::new(backend == Backend::Postgres).await;
        let store = db.store.clone();
        seed(&store, "example.com", &[("sales", "crm.lead")]).await;
        let gateway = Gateway::new(store.clone(), "postern.test");
        let ca = PathBuf::from(dovecot::ca_file());
        let fetcher = Fetcher::new(gateway.clone(), TlsSettings::with_ca_file(&ca).unwrap());
        let world = World {
            db,
            store,
            gateway,
            fetcher,
            user: user.to_owned(),
        };
        world.empty_mailbox();
        world
    }

    async fn finish(self) {
        self.db.finish().await;
    }

    fn maildir(&self) -> PathBuf {
        PathBuf::from(dovecot::env("POSTERN_TEST_MAILDIRS"))
            .join(&self.user)
            .join("Maildir")
    }

    /// Leftovers of an earlier run of the same test are removed.
    fn empty_mailbox(&self) {
        dovecot::maildir(&self.user);
    }

    /// Delivers a message into the maildir (tmp/, then renamed into new/, as an MDA does).
    fn deliver(&self, subject: &str, to: &str) -> String {
        let n = postern_testkit::next();
        let mid = format!(
            "<fetch-{}-{n}-{}@test.example.org>",
            std::process::id(),
            self.user
        );
        let raw = format!(
            "From: Client <client@example.org>\r\nTo: {to}\r\nSubject: {subject}\r\n\
             Message-ID: {mid}\r\nDate: Thu, 03 Dec 2026 10:00:0{} +0000\r\n\r\nHello about {subject}.\r\n",
            n % 10
        );
        self.deliver_raw(raw.as_bytes());
        mid
    }

    fn deliver_raw(&self, raw: &[u8]) {
        dovecot::deliver(&self.maildir(), raw);
        // distinct arrival order for "oldest first"
        std::thread::sleep(Duration::from_millis(5));
    }

    /// Messages in the maildir, seen or not.
    fn count(&self) -> usize {
        dovecot::count(&self.maildir())
    }

    /// (messages not yet seen, messages seen) in the maildir.
    fn mailbox(&self) -> (usize, usize) {
        dovecot::mailbox(&self.maildir())
    }

    async fn server(
        &self,
        protocol: FetchProtocol,
        encryption: Encryption,
        auth: FetchAuth,
        adjust: impl FnOnce(&mut IncomingServerInput),
    ) -> IncomingServerId {
        let var = match (protocol, encryption) {
            (FetchProtocol::Imap, Encryption::Ssl | Encryption::SslStrict) => "POSTERN_TEST_IMAPS",
            (FetchProtocol::Imap, _) => "POSTERN_TEST_IMAP",
            (FetchProtocol::Pop3, Encryption::Ssl | Encryption::SslStrict) => "POSTERN_TEST_POP3S",
            (FetchProtocol::Pop3, _) => "POSTERN_TEST_POP3",
        };
        let (host, port) = dovecot::endpoint(var);
        let secret = match auth {
            FetchAuth::Xoauth2 => format!("token-{}", self.user),
            _ => "secret".to_owned(),
        };
        let mut input = IncomingServerInput {
            name: format!("box-{}", self.user),
            protocol: Some(protocol),
            // strict TLS checks the name: the certificate is for localhost and 127.0.0.1
            host: if encryption == Encryption::None {
                host
            } else {
                "localhost".into()
            },
            port: Some(port.into()),
            encryption: Some(encryption),
            username: self.user.clone(),
            password: Some(Secret::new(secret)),
            model: Some("helpdesk.ticket".into()),
            auth: Some(auth),
            ..Default::default()
        };
        adjust(&mut input);
        let mut tx = self.store.begin().await.unwrap();
        let s = tx.create::<IncomingServer>(&input).await.unwrap();
        tx.commit().await.unwrap();
        s.id
    }

    /// Delivers one message and checks that a poll fetches and stores it.
    async fn fetches_one(&self, id: IncomingServerId, subject: &str) {
        self.deliver(subject, "sales@example.com");
        let r = self.fetch(id).await;
        assert_eq!(
            (r.fetched, r.accepted, r.error.clone()),
            (1, 1, None),
            "{r:?}"
        );
    }

    async fn fetch(&self, id: IncomingServerId) -> RunReport {
        self.fetcher.fetch_now(id).await.expect("poll ran")
    }

    async fn state(&self, id: IncomingServerId) -> IncomingServer {
        let mut tx = self.store.read().await.unwrap();
        tx.get::<postern_store::IncomingServer>(id).await.unwrap()
    }

    async fn records(&self) -> Vec<Record> {
        let mut tx = self.store.read().await.unwrap();
        tx.list_records(&RecordFilter::default(), PageRequest::all())
            .await
            .unwrap()
            .items
    }

    async fn raw_messages(&self, status: &str) -> Vec<RawMessageInfo> {
        let mut tx = self.store.read().await.unwrap();
        tx.list_raw_messages(Some(status), PageRequest::all())
            .await
            .unwrap()
            .items
    }

    /// Runs SQL on the test database directly (a trigger, a date moved back).
    async fn sql(&self, statements: &[&str]) {
        use sqlx::Connection;
        let url = &self.db.url;
        if url.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
            for s in statements {
                sqlx::raw_sql(sqlx::AssertSqlSafe(*s))
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
        } else {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            for s in statements {
                sqlx::raw_sql(sqlx::AssertSqlSafe(*s))
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
        }
    }
}

/// Declares `name::sqlite` and `name::postgres`, each with its own Dovecot user.
macro_rules! fetch_test {
    ($name:ident, $sqlite_user:literal, $pg_user:literal, |$w:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($w: &World) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let w = World::new(Backend::Sqlite, $sqlite_user).await;
                run(&w).await;
                w.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let w = World::new(Backend::Postgres, $pg_user).await;
                run(&w).await;
                w.finish().await;
            }
        }
    };
}

fn names(records: &[Record]) -> Vec<(String, String)> {
    let mut v: Vec<_> = records
        .iter()
        .map(|r| (r.model.clone(), r.name.clone()))
        .collect();
    v.sort();
    v
}

fetch_test!(
    imap_fetches_routes_and_marks_seen,
    "fetch01",
    "fetch02",
    |w| {
        let id = w
            .server(
                FetchProtocol::Imap,
                Encryption::None,
                FetchAuth::Login,
                |_| {},
            )
            .await;
        w.deliver("New lead", "sales@example.com");
        w.deliver("Printer broken", "someone@elsewhere.example");
        assert_eq!(w.mailbox(), (2, 0));
        let r = w.fetch(id).await;
        assert_eq!(
            (r.fetched, r.accepted, r.failed, r.error.clone()),
            (2, 2, 0, None),
            "{r:?}"
        );
        assert_eq!(
            names(&w.records().await),
            vec![
                ("crm.lead".to_owned(), "New lead".to_owned()),
                ("helpdesk.ticket".to_owned(), "Printer broken".to_owned())
            ],
            "the alias routes one, the server's model is the fallback of the other"
        );
        assert_eq!(w.mailbox(), (0, 2), "both marked \\Seen");
        let s = w.state(id).await;
        assert!(s.last_success_at.is_some() && s.last_error.is_none() && s.error_count == 0);
        let again = w.fetch(id).await;
        assert_eq!(again.fetched, 0, "seen messages are not fetched again");
        assert_eq!(w.records().await.len(), 2);
    }
);

fetch_test!(
    imap_starttls_strict_sasl_plain_oldest_first_and_max_messages,
    "fetch03",
    "fetch04",
    |w| {
        let id = w
            .server(
                FetchProtocol::Imap,
                Encryption::StarttlsStrict,
                FetchAuth::Plain,
                |i| i.max_messages = Some(2),
            )
            .await;
        for s in ["first", "second", "third"] {
            w.deliver(s, "sales@example.com");
        }
        let r = w.fetch(id).await;
        assert_eq!(
            (r.fetched, r.accepted, r.error.clone()),
            (2, 2, None),
            "{r:?}"
        );
        assert_eq!(
            names(&w.records().await)
                .into_iter()
                .map(|(_, n)| n)
                .collect::<Vec<_>>(),
            vec!["first", "second"],
            "oldest first, at most max_messages"
        );
        assert_eq!(w.mailbox(), (1, 2));
        let r = w.fetch(id).await;
        assert_eq!((r.fetched, r.accepted), (1, 1));
        assert_eq!(w.mailbox(), (0, 3));
    }
);

fetch_test!(
    imaps_strict_xoauth2_and_lax_tls,
    "fetch05",
    "fetch06",
    |w| {
        let id = w
            .server(
                FetchProtocol::Imap,
                Encryption::SslStrict,
                FetchAuth::Xoauth2,
                |_| {},
            )
            .await;
        w.deliver("over oauth", "sales@example.com");
        let r = w.fetch(id).await;
        assert_eq!(
            (r.fetched, r.accepted, r.error.clone()),
            (1, 1, None),
            "{r:?}"
        );
        // without Dovecot's certificate among the roots, strict TLS refuses and `ssl` does not check
        let system = Fetcher::new(w.gateway.clone(), TlsSettings::system());
        w.deliver("lax tls", "sales@example.com");
        let r = system.fetch_now(id).await.unwrap();
        let err = r.error.clone().unwrap_or_default();
        assert!(err.starts_with("TLS failed"), "{r:?}");
        assert_eq!(w.state(id).await.error_count, 1);
        let mut tx = w.store.begin().await.unwrap();
        let mut input = w.state(id).await.to_input();
        input.encryption = Some(Encryption::Ssl);
        tx.update::<IncomingServer>(id, &input).await.unwrap();
        tx.commit().await.unwrap();
        let r = system.fetch_now(id).await.unwrap();
        assert_eq!((r.accepted, r.error.clone()), (1, None), "{r:?}");
        assert_eq!(
            w.state(id).await.error_count,
            0,
            "a success clears the error count"
        );
        // the other lax variants: IMAP STARTTLS, POP3 over TLS and STLS
        for (protocol, encryption) in [
            (FetchProtocol::Imap, Encryption::Starttls),
            (FetchProtocol::Pop3, Encryption::Ssl),
            (FetchProtocol::Pop3, Encryption::Starttls),
        ] {
            let id = w
                .server(protocol, encryption, FetchAuth::Login, |i| {
                    i.name = format!("{protocol}-{encryption}")
                })
                .await;
            w.deliver("lax", "sales@example.com");
            let r = system.fetch_now(id).await.unwrap();
            assert_eq!((r.accepted, r.error.clone()), (1, None), "{r:?}");
        }
    }
);

fetch_test!(
    pop3_deletes_only_what_was_stored,
    "fetch07",
    "fetch08",
    |w| {
        let id = w
            .server(
                FetchProtocol::Pop3,
                Encryption::None,
                FetchAuth::Login,
                |_| {},
            )
            .await;
        w.deliver("pop one", "sales@example.com");
        w.deliver("pop two", "nobody@elsewhere.example");
        let r = w.fetch(id).await;
        assert_eq!(
            (r.fetched, r.accepted, r.error.clone()),
            (2, 2, None),
            "{r:?}"
        );
        assert_eq!(w.mailbox(), (0, 0), "deleted after commit");
        assert_eq!(
            names(&w.records().await),
            vec![
                ("crm.lead".to_owned(), "pop one".to_owned()),
                ("helpdesk.ticket".to_owned(), "pop two".to_owned())
            ]
        );
    }
);

fetch_test!(pop3s_strict_and_stls_xoauth2, "fetch09", "fetch10", |w| {
    let a = w
        .server(
            FetchProtocol::Pop3,
            Encryption::SslStrict,
            FetchAuth::Plain,
            |i| i.name = "pop3s".into(),
        )
        .await;
    w.fetches_one(a, "over pop3s").await;
    let b = w
        .server(
            FetchProtocol::Pop3,
            Encryption::StarttlsStrict,
            FetchAuth::Xoauth2,
            |i| i.name = "pop3-stls".into(),
        )
        .await;
    w.fetches_one(b, "over stls").await;
    assert_eq!(w.mailbox(), (0, 0));
});

/// A mailbox with a poison message then a healthy one; a message fails after 2 failures.
async fn poisoned_mailbox(w: &World, protocol: FetchProtocol) -> IncomingServerId {
    poison_trigger(w).await;
    let mut tx = w.store.begin().await.unwrap();
    tx.set_param(PARAM_MAX_FAILURES, "2").await.unwrap();
    tx.commit().await.unwrap();
    let id = w
        .server(protocol, Encryption::None, FetchAuth::Login, |_| {})
        .await;
    w.deliver("poison", "sales@example.com");
    w.deliver("healthy", "sales@example.com");
    id
}

/// Makes the store fail on any message whose subject is `poison` (a real database error).
async fn poison_trigger(w: &World) {
    if w.db.url.starts_with("sqlite:") {
        w.sql(&[
            "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.subject = 'poison' \
                 BEGIN SELECT RAISE(ABORT, 'poisoned by the test'); END;",
        ])
        .await;
    } else {
        w.sql(&[
            "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN \
             IF NEW.subject = 'poison' THEN RAISE EXCEPTION 'poisoned by the test'; END IF; \
             RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER poison BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION poison()",
        ])
        .await;
    }
}

fetch_test!(
    imap_poison_message_is_given_up_and_never_blocks,
    "fetch11",
    "fetch12",
    |w| {
        let id = poisoned_mailbox(w, FetchProtocol::Imap).await;
        let r = w.fetch(id).await;
        assert_eq!(
            (r.fetched, r.accepted, r.failed, r.unprocessable),
            (2, 1, 1, 0),
            "{r:?}"
        );
        assert_eq!(r.error, None, "a failing message is not a failing server");
        assert_eq!(w.mailbox(), (1, 1), "the poison message is left unseen");
        assert_eq!(w.state(id).await.failing_messages, 1);
        let r = w.fetch(id).await;
        assert_eq!((r.fetched, r.failed, r.unprocessable), (1, 0, 1), "{r:?}");
        assert_eq!(w.mailbox(), (0, 2), "given up: acknowledged");
        let kept = w.raw_messages("unprocessable").await;
        assert_eq!(kept.len(), 1, "{kept:?}");
        let err = kept[0].error.clone().unwrap_or_default();
        assert!(
            err.contains("given up after 2 failures") && err.contains("poisoned"),
            "{err}"
        );
        assert_eq!(kept[0].source, "imap");
        assert_eq!(w.state(id).await.failing_messages, 0);
        assert_eq!(
            names(&w.records().await).len(),
            1,
            "only the healthy message made a record"
        );
    }
);

fetch_test!(pop3_poison_message_is_given_up, "fetch13", "fetch14", |w| {
    let id = poisoned_mailbox(w, FetchProtocol::Pop3).await;
    let r = w.fetch(id).await;
    assert_eq!((r.accepted, r.failed), (1, 1), "{r:?}");
    assert_eq!(w.count(), 1, "the poison message is not deleted");
    let r = w.fetch(id).await;
    assert_eq!((r.fetched, r.unprocessable), (1, 1), "{r:?}");
    assert_eq!(w.count(), 0);
    assert_eq!(w.raw_messages("unprocessable").await.len(), 1);
});

fetch_test!(
    crash_between_commit_and_acknowledgement_makes_no_duplicate,
    "fetch15",
    "fetch16",
    |w| {
        for protocol in [FetchProtocol::Imap, FetchProtocol::Pop3] {
            w.empty_mailbox();
            let id = w
                .server(protocol, Encryption::None, FetchAuth::Login, |i| {
                    i.name = format!("crash-{protocol}")
                })
                .await;
            let subject = format!("stored before the crash ({protocol})");
            let mid = w.deliver(&subject, "sales@example.com");
            // The state a crash leaves after `accept` committed and before `\Seen`/`DELE`: the
            // message is stored, and still unseen in the mailbox.
            let raw = std::fs::read_dir(w.maildir().join("new"))
                .unwrap()
                .map(|e| std::fs::read(e.unwrap().path()).unwrap())
                .next()
                .unwrap();
            let received = Received {
                source: Source::Imap,
                ..Default::default()
            };
            w.gateway.accept(&raw, &received).await.unwrap();
            let before = w.records().await.len();
            let r = w.fetch(id).await;
            assert_eq!(
                (r.fetched, r.accepted, r.duplicates),
                (1, 0, 1),
                "{mid}: {r:?}"
            );
            assert_eq!(w.records().await.len(), before, "no duplicate record");
            let acknowledged = match protocol {
                FetchProtocol::Imap => (0, 1),
                FetchProtocol::Pop3 => (0, 0),
            };
            assert_eq!(w.mailbox(), acknowledged, "the duplicate is acknowledged");
            let mut tx = w.store.begin().await.unwrap();
            tx.delete::<IncomingServer>(id).await.unwrap();
            tx.commit().await.unwrap();
        }
    }
);

fetch_test!(
    wrong_password_is_a_clear_error_then_disables_the_server,
    "fetch17",
    "fetch18",
    |w| {
        let id = w
            .server(
                FetchProtocol::Imap,
                Encryption::StarttlsStrict,
                FetchAuth::Login,
                |i| i.password = Some(Secret::new("wrong")),
            )
            .await;
        w.deliver("waiting", "sales@example.com");
        let r = w.fetch(id).await;
        let err = r.error.clone().unwrap_or_default();
        assert!(
            err.starts_with("login failed") && err.contains("AUTHENTICATIONFAILED"),
            "{r:?}"
        );
        assert!(
            !err.contains("wrong"),
            "the password is never in an error: {err}"
        );
        let s = w.state(id).await;
        assert_eq!(
            (s.error_count, s.last_error.as_deref()),
            (1, Some(err.as_str()))
        );
        assert!(s.last_error_at.is_some() && s.first_error_at.is_some() && s.disabled_at.is_none());
        assert_eq!(w.mailbox(), (1, 0), "nothing fetched");
        // failures that began six days ago: the next one disables the server (default: 5 days)
        let six_days_ago = now_ms() - 6 * 24 * 3_600_000;
        w.sql(&[&format!(
            "UPDATE incoming_servers SET first_error_at = {six_days_ago} WHERE id = {}",
            id.get()
        )])
        .await;
        let pop = w
            .server(
                FetchProtocol::Pop3,
                Encryption::None,
                FetchAuth::Login,
                |i| {
                    i.name = "pop-wrong".into();
                    i.password = Some(Secret::new("wrong"))
                },
            )
            .await;
        let r = w.fetch(pop).await;
        assert!(
            r.error
                .clone()
                .unwrap_or_default()
                .contains("Authentication failed"),
            "{r:?}"
        );
        let r = w.fetch(id).await;
        assert!(r.disabled, "{r:?}");
        let s = w.state(id).await;
        assert!(s.disabled_at.is_some());
        assert!(
            s.last_error
                .clone()
                .unwrap_or_default()
                .starts_with("disabled after failing for 144 hours"),
            "{s:?}"
        );
        let mut tx = w.store.read().await.unwrap();
        assert!(
            tx.due_incoming_servers(now_ms() + 86_400_000)
                .await
                .unwrap()
                .iter()
                .all(|d| *d != id),
            "a disabled server is not polled on schedule"
        );
        drop(tx);
        // the right password and a manual fetch enable it again
        let mut input = s.to_input();
        input.password = Some(Secret::new("secret"));
        let mut tx = w.store.begin().await.unwrap();
        tx.update::<IncomingServer>(id, &input).await.unwrap();
        tx.commit().await.unwrap();
        let r = w.fetch(id).await;
        assert_eq!((r.accepted, r.error.clone()), (1, None), "{r:?}");
        let s = w.state(id).await;
        assert!(s.disabled_at.is_none() && s.error_count == 0 && s.last_error.is_none());
    }
);

fetch_test!(one_poller_at_a_time, "fetch19", "fetch20", |w| {
    let id = w
        .server(
            FetchProtocol::Imap,
            Encryption::None,
            FetchAuth::Login,
            |_| {},
        )
        .await;
    let mut tx = w.store.begin().await.unwrap();
    assert!(
        tx.take_fetch_lease(id, "other-node", now_ms() + 60_000)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    w.deliver("while leased", "sales@example.com");
    match w.fetcher.fetch_now(id).await {
        Err(FetchError::Busy(name)) => assert_eq!(name, format!("box-{}", w.user)),
        other => panic!("expected Busy, got {other:?}"),
    }
    assert_eq!(w.mailbox(), (1, 0));
    let mut tx = w.store.begin().await.unwrap();
    tx.release_fetch_lease(id, "other-node").await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(w.fetch(id).await.accepted, 1);
});

/// The scheduler of `serve`, checking every 200 ms.
struct Scheduler {
    cancel: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Scheduler {
    fn start(w: &World) -> Scheduler {
        let cancel = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(postern_fetch::schedule::run(
            w.fetcher.clone(),
            Duration::from_millis(200),
            cancel.clone(),
        ));
        Scheduler { cancel, task }
    }

    async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the scheduler stops when cancelled")
            .unwrap();
    }
}

fetch_test!(
    idle_delivers_a_new_message_within_seconds,
    "fetch21",
    "fetch22",
    |w| {
        // an interval of an hour: only IDLE can bring the second message in seconds
        let id = w
            .server(
                FetchProtocol::Imap,
                Encryption::SslStrict,
                FetchAuth::Login,
                |i| i.interval = Some(Interval::Text("1h".into())),
            )
            .await;
        w.deliver("before the watch", "sales@example.com");
        let scheduler = Scheduler::start(w);
        let wait_for = |n: usize, limit: Duration| async move {
            let start = Instant::now();
            while start.elapsed() < limit {
                if w.records().await.len() >= n {
                    return Some(start.elapsed());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            None
        };
        wait_for(1, Duration::from_secs(20))
            .await
            .expect("first poll");
        postern_testkit::dovecot::wait_until_idle(&w.user).await;
        w.deliver("during the watch", "sales@example.com");
        let took = wait_for(2, Duration::from_secs(10))
            .await
            .expect("IDLE brought the new message within 10 s");
        assert!(took < Duration::from_secs(10), "{took:?}");
        // \Seen is set just after the commit that made the record
        let start = Instant::now();
        while w.mailbox() != (0, 2) && start.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(w.mailbox(), (0, 2));
        assert_eq!(w.state(id).await.error_count, 0);
        scheduler.stop().await;
    }
);

fn with_attachment(subject: &str) -> Vec<u8> {
    format!(
        "From: client@example.org\r\nTo: sales@example.com\r\nSubject: {subject}\r\n\
         Message-ID: <att-{subject}-{}@test.example.org>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
         See the file.\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; \
         filename=\"quote.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n",
        std::process::id()
    )
    .into_bytes()
}

/// The attachment names of the one message of the record named `name`.
async fn attachment_names(w: &World, name: &str) -> Vec<String> {
    let records = w.records().await;
    let record = records.iter().find(|r| r.name == name).expect("record");
    let mut tx = w.store.read().await.unwrap();
    let thread = tx
        .record_messages(record.id, PageRequest::all())
        .await
        .unwrap();
    let mut names: Vec<String> = thread.items[0]
        .attachments
        .iter()
        .map(|a| a.filename.clone())
        .collect();
    names.sort();
    names
}

fetch_test!(
    keep_original_and_attachments_options,
    "fetch23",
    "fetch24",
    |w| {
        let id = w
            .server(
                FetchProtocol::Imap,
                Encryption::None,
                FetchAuth::Login,
                |_| {},
            )
            .await;
        w.deliver_raw(&with_attachment("defaults"));
        assert_eq!(w.fetch(id).await.accepted, 1);
        assert_eq!(attachment_names(w, "defaults").await, ["quote.pdf"]);
        let mut input = w.state(id).await.to_input();
        input.keep_original = Some(true);
        input.attachments = Some(false);
        let mut tx = w.store.begin().await.unwrap();
        tx.update::<IncomingServer>(id, &input).await.unwrap();
        tx.commit().await.unwrap();
        w.deliver_raw(&with_attachment("stripped"));
        assert_eq!(w.fetch(id).await.accepted, 1);
        assert_eq!(
            attachment_names(w, "stripped").await,
            ["original_email.eml"],
            "attachments stripped, the original kept"
        );
    }
);

fetch_test!(
    an_idle_watch_wakes_up_every_interval_despite_keepalives,
    "fetch25",
    "fetch26",
    |w| {
        // Dovecot (scripts/test.sh) sends a keepalive every second in IDLE
        let id = w
            .server(
                FetchProtocol::Imap,
                Encryption::None,
                FetchAuth::Login,
                |i| i.interval = Some(Interval::Text("10s".into())),
            )
            .await;
        let scheduler = Scheduler::start(w);
        // Two wake-ups take 20 s after the first poll; the first poll itself may wait for a
        // loaded machine (the whole suite runs in parallel): 25 s from the first poll seen,
        // 60 s in all.
        let start = Instant::now();
        let mut first_seen = None;
        let mut polls = Vec::new();
        while start.elapsed() < Duration::from_secs(60)
            && first_seen.is_none_or(|t: Instant| t.elapsed() < Duration::from_secs(25))
            && polls.len() < 3
        {
            if let Some(at) = w.state(id).await.last_poll_at
                && polls.last() != Some(&at)
            {
                polls.push(at);
                first_seen.get_or_insert_with(Instant::now);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        scheduler.stop().await;
        assert_eq!(polls.len(), 3, "the first poll and two wake-ups: {polls:?}");
        let gap = polls[2] - polls[1];
        assert!(
            (9_000..=13_000).contains(&gap),
            "woken every 10 s: {polls:?}"
        );
        let mut tx = w.store.begin().await.unwrap();
        assert!(
            tx.take_fetch_lease(id, "another-node", now_ms() + 1000)
                .await
                .unwrap(),
            "the lease is given back when the scheduler stops"
        );
        tx.commit().await.unwrap();
    }
);

fetch_test!(
    messages_over_the_size_limit_stay_in_the_mailbox,
    "fetch37",
    "fetch38",
    |w| {
        let ca = PathBuf::from(dovecot::ca_file());
        let fetcher = Fetcher::new(w.gateway.clone(), TlsSettings::with_ca_file(&ca).unwrap())
            .with_max_message_size(4096);
        w.deliver("Small enough", "sales@example.com");
        let mut big = format!(
            "From: Client <client@example.org>\r\nTo: sales@example.com\r\nSubject: Too big\r\n\
             Message-ID: <too-big-{}-{}@test.example.org>\r\n\r\n",
            std::process::id(),
            w.user
        );
        big.push_str(&"a line of a message over the limit\r\n".repeat(200));
        w.deliver_raw(big.as_bytes());

        // IMAP: the small one is fetched and marked; the big one is not downloaded, stays unseen.
        let imap = w
            .server(
                FetchProtocol::Imap,
                Encryption::None,
                FetchAuth::Login,
                |_| {},
            )
            .await;
        let r = fetcher.fetch_now(imap).await.unwrap();
        assert_eq!(
            (
                r.fetched,
                r.accepted,
                r.too_large,
                r.failed,
                r.error.clone()
            ),
            (1, 1, 1, 0, None),
            "{r:?}"
        );
        assert_eq!(w.mailbox(), (1, 1));
        let r = fetcher.fetch_now(imap).await.unwrap();
        assert_eq!(
            (r.fetched, r.too_large),
            (0, 1),
            "counted again, never lost"
        );

        // POP3: the small one again is a duplicate (deleted), the big one stays.
        let pop3 = w
            .server(
                FetchProtocol::Pop3,
                Encryption::None,
                FetchAuth::Login,
                |i| {
                    i.name = format!("pop3-{}", w.user);
                },
            )
            .await;
        let r = fetcher.fetch_now(pop3).await.unwrap();
        assert_eq!(
            (r.fetched, r.duplicates, r.too_large, r.error.clone()),
            (1, 1, 1, None),
            "{r:?}"
        );
        assert_eq!(w.mailbox().0 + w.mailbox().1, 1, "only the big one is left");
        let names: Vec<String> = w.records().await.into_iter().map(|r| r.name).collect();
        assert_eq!(names, vec!["Small enough"]);

        // Without the limit, it is fetched.
        let r = w.fetch(pop3).await;
        assert_eq!((r.fetched, r.accepted, r.too_large), (1, 1, 0), "{r:?}");
    }
);
