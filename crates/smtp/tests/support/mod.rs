//! The listener under test, shared by the test crates of this directory: `postern_smtp::run`
//! on a free port of 127.0.0.1, on a fresh SQLite store seeded with the alias domain
//! `example.com` and the aliases `sales@` (crm.lead) and `support@` (helpdesk.ticket).

use postern_gateway::Gateway;
use postern_smtp::SmtpConfig;
use postern_store::{RawMessageInfo, Store};
use postern_testkit::TestDb;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// The longest wait for a reply or a shutdown.
pub const WAIT: Duration = Duration::from_secs(10);

/// Settings for tests: the defaults (25 MiB limit), STARTTLS off unless a test turns it on
/// (no certificate to make).
pub fn config() -> SmtpConfig {
    SmtpConfig {
        hostname: "mx.example.com".into(),
        tls: None,
        ..Default::default()
    }
}

/// A fresh SQLite store with the alias domain and the aliases above.
pub async fn seeded_store() -> TestDb {
    let db = TestDb::sqlite().await;
    let aliases = [("sales", "crm.lead"), ("support", "helpdesk.ticket")];
    postern_testkit::db::seed(&db.store, "example.com", &aliases).await;
    db
}

/// A listener on a fresh store, stopped (gracefully) by `stop`.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its store.
    pub store: Store,
    /// The shutdown signal (taken by `stop`, or by a test that waits in between).
    pub stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), postern_smtp::SmtpError>>>,
    _db: TestDb,
}

impl Server {
    /// Starts a listener with `config`.
    pub async fn start(config: SmtpConfig) -> Server {
        let db = seeded_store().await;
        let store = db.store.clone();
        let gateway = Gateway::new(store.clone(), "mx.example.com");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(postern_smtp::run(listener, config, gateway, async move {
            let _ = stopped.await;
        }));
        Server {
            addr,
            store,
            stop: Some(stop),
            task: Some(task),
            _db: db,
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Stops the listener and waits until every session has ended.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            timeout(WAIT, task)
                .await
                .expect("run returns after shutdown")
                .unwrap()
                .unwrap();
        }
    }

    /// The names of the records, oldest first.
    pub async fn record_names(&self) -> Vec<String> {
        postern_testkit::db::record_names(&self.store).await
    }

    /// The raw messages stored, newest first, with their bytes.
    pub async fn raw_messages(&self) -> Vec<(RawMessageInfo, Vec<u8>)> {
        postern_testkit::db::raw_messages(&self.store, None).await
    }
}
