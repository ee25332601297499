//! Databases for one test, on SQLite or on the PostgreSQL server of the tests
//! (`POSTERN_TEST_DATABASE_URL`, started by `scripts/test.sh`): an empty one for the binary
//! ([`database`]), a migrated store ([`TestDb`]), and the fixtures and reads that the test
//! crates share ([`seed`], [`records`], [`raw_messages`], [`comment`]).
//!
//! A PostgreSQL server that does not answer fails the test: it is never skipped.

use postern_store::{
    Alias, AliasDomain, AliasDomainInput, AliasInput, NewMessage, PageRequest, RawMessageInfo,
    Record, RecordFilter, Store,
};
use std::path::{Path, PathBuf};

/// The PostgreSQL server of the tests (`POSTERN_TEST_DATABASE_URL`, else the local default).
pub fn postgres_admin_url() -> String {
    std::env::var("POSTERN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The admin connection, or a panic that says where PostgreSQL was looked for.
async fn admin() -> (String, Store) {
    let url = postgres_admin_url();
    let store = Store::open(&url).await.unwrap_or_else(|e| {
        panic!("PostgreSQL at {url} does not answer ({e}); run the tests with scripts/test.sh")
    });
    (url, store)
}

/// A new, empty database on the PostgreSQL server of the tests; its URL.
pub async fn new_postgres_database() -> String {
    let name = crate::unique("postern_test");
    let (url, admin) = admin().await;
    admin
        .create_database_for_tests(&name)
        .await
        .expect("create the test database");
    admin.close().await;
    let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
    format!("{base}/{name}")
}

/// The URL of a fresh, empty database: `postern.db` in `dir`, or a new database on the
/// PostgreSQL server of the tests (drop it with [`drop_database`]).
pub async fn database(dir: &Path, postgres: bool) -> String {
    if postgres {
        new_postgres_database().await
    } else {
        format!("sqlite://{}/postern.db", dir.display())
    }
}

/// Drops the PostgreSQL database of `url` (made by [`database`]); nothing for SQLite, whose
/// file goes with its temporary directory. A failed test skips this and leaves its database
/// behind, for a look (the private cluster of scripts/test.sh goes away anyway).
pub async fn drop_database(url: &str) {
    if url.starts_with("sqlite:") {
        return;
    }
    let name = url
        .rsplit_once('/')
        .map(|(_, n)| n)
        .expect("a database URL");
    let (_, admin) = admin().await;
    admin
        .drop_database_for_tests(name)
        .await
        .expect("drop the test database");
    admin.close().await;
}

/// A migrated database that lives as long as the test: SQLite (`test.db` in a temporary
/// directory) or a fresh PostgreSQL database. End it with [`TestDb::finish`].
pub struct TestDb {
    /// The open store.
    pub store: Store,
    /// Its URL.
    pub url: String,
    dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// On SQLite.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}/test.db", dir.path().display());
        TestDb::open(url, Some(dir)).await
    }

    /// On a fresh PostgreSQL database.
    pub async fn postgres() -> TestDb {
        TestDb::open(new_postgres_database().await, None).await
    }

    /// On PostgreSQL when `postgres`, else on SQLite.
    pub async fn new(postgres: bool) -> TestDb {
        if postgres {
            TestDb::postgres().await
        } else {
            TestDb::sqlite().await
        }
    }

    async fn open(url: String, dir: Option<tempfile::TempDir>) -> TestDb {
        let store = Store::open(&url).await.expect("open the test database");
        store.migrate().await.expect("migrate the test database");
        TestDb { store, url, dir }
    }

    /// The SQLite file (`None` on PostgreSQL).
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.path().join("test.db"))
    }

    /// Closes the store and drops the PostgreSQL database.
    pub async fn finish(self) {
        self.store.close().await;
        drop_database(&self.url).await;
    }
}

/// Creates the alias domain `domain` (the defaults otherwise) and its `aliases`, each
/// `(alias_name, model)`, in one transaction; the domain.
pub async fn seed(store: &Store, domain: &str, aliases: &[(&str, &str)]) -> AliasDomain {
    let mut tx = store.begin().await.unwrap();
    let created = tx
        .create::<AliasDomain>(&AliasDomainInput {
            name: domain.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    for (name, model) in aliases {
        tx.create::<Alias>(&AliasInput {
            alias_name: (*name).into(),
            alias_domain: Some(domain.into()),
            model: (*model).into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    created
}

/// Every record, oldest first.
pub async fn records(store: &Store) -> Vec<Record> {
    let mut tx = store.read().await.unwrap();
    tx.list_records(&RecordFilter::default(), PageRequest::all())
        .await
        .unwrap()
        .items
}

/// The names of every record, oldest first.
pub async fn record_names(store: &Store) -> Vec<String> {
    records(store).await.into_iter().map(|r| r.name).collect()
}

/// The raw messages stored (of `status`, or all), newest first, each with its content.
pub async fn raw_messages(store: &Store, status: Option<&str>) -> Vec<(RawMessageInfo, Vec<u8>)> {
    let mut tx = store.read().await.unwrap();
    let infos = tx
        .list_raw_messages(status, PageRequest::all())
        .await
        .unwrap()
        .items;
    let mut out = Vec::new();
    for info in infos {
        let content = tx.raw_message_content(info.id).await.unwrap();
        out.push((info, content));
    }
    out
}

/// A comment `message_id` on `record` with `body_html`, dated 1, without author, sender,
/// subject or parent: what a test changes it from with `..comment(...)`.
pub fn comment<'a>(
    message_id: &'a str,
    record: Option<postern_model::RecordId>,
    body_html: &'a str,
) -> NewMessage<'a> {
    NewMessage {
        message_id,
        record_id: record,
        parent_id: None,
        subtype: "comment",
        message_type: postern_model::MessageType::Comment,
        author_partner_id: None,
        email_from: None,
        subject: None,
        body_html,
        date: 1,
        incoming_email_to: None,
        incoming_email_cc: None,
        raw_message_id: None,
    }
}
