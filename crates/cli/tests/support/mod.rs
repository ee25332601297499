//! The load of the chaos, fault and node tests (`chaos.rs`, `faults.rs`, `nodes.rs`), and what
//! it saw acknowledged: SMTP senders (mail-send, a real client), mail queued through
//! `POST /api/v1/mail`, messages delivered into a mailbox of the private Dovecot, and a
//! webhook receiver (axum). Afterwards, [`Ledger::check`] compares what was acknowledged with
//! what the store, the SMTP sink and the receiver hold.
//!
//! The nodes a load talks to can change while it runs (a node killed and started again gets
//! new ports): the load reads them from [`Nodes`] before each try.
#![allow(dead_code)] // each test binary uses a part

pub mod ledger;
pub mod node;

use axum::http::HeaderMap;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

pub use ledger::Ledger;

/// The addresses of the running nodes: SMTP (`host:port`) and HTTP base URL.
#[derive(Default)]
pub struct Nodes {
    list: RwLock<Vec<(String, String)>>,
    turn: AtomicUsize,
}

impl Nodes {
    /// Node `i` is now at `smtp` and `base` (a new node when `i` is the count).
    pub fn set(&self, i: usize, smtp: &str, base: &str) {
        let mut list = self.list.write().unwrap();
        let node = (smtp.to_owned(), base.to_owned());
        if i < list.len() {
            list[i] = node;
        } else {
            list.push(node);
        }
    }

    /// The next node, in turn: (SMTP address, HTTP base).
    pub fn next(&self) -> (String, String) {
        let list = self.list.read().unwrap();
        let i = self.turn.fetch_add(1, Ordering::Relaxed) % list.len();
        list[i].clone()
    }
}

/// A load running against [`Nodes`] until [`Load::stop`].
pub struct Load {
    /// Where it sends.
    pub nodes: Arc<Nodes>,
    /// What was acknowledged.
    pub ledger: Arc<Ledger>,
    stopping: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// The API token of the nodes these tests start.
pub const TOKEN: &str = "chaos-test-token-0123456789";

impl Load {
    /// Starts `senders` SMTP senders and one API client queueing mail, and, with `maildir`,
    /// a feeder delivering a message into it every 20 ms.
    pub fn start(nodes: Arc<Nodes>, senders: usize, maildir: Option<PathBuf>) -> Load {
        let ledger = Arc::new(Ledger::default());
        let stopping = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for i in 0..senders {
            let (n, l, s) = (nodes.clone(), ledger.clone(), stopping.clone());
            tasks.push(tokio::spawn(smtp_sender(n, l, s, i)));
        }
        let (n, l, s) = (nodes.clone(), ledger.clone(), stopping.clone());
        tasks.push(tokio::spawn(mail_queuer(n, l, s)));
        if let Some(dir) = maildir {
            let (l, s) = (ledger.clone(), stopping.clone());
            tasks.push(tokio::spawn(maildir_feeder(dir, l, s)));
        }
        Load {
            nodes,
            ledger,
            stopping,
            tasks,
        }
    }

    /// Stops every sender and waits for them (a message being sent is finished or given up).
    pub async fn stop(self) -> Arc<Ledger> {
        self.stopping.store(true, Ordering::SeqCst);
        for t in self.tasks {
            t.await.unwrap();
        }
        self.ledger
    }
}

/// A message from a sender of its own (the per-sender rate limit stays out of the way), to
/// `sales@example.com`, whose Subject and Message-ID carry `id`.
pub fn message(id: &str) -> String {
    format!(
        "From: Client <{id}@customer.example>\r\nTo: sales@example.com\r\nSubject: {id}\r\n\
         Message-ID: <{id}@customer.example>\r\nDate: Fri, 4 Dec 2026 10:00:00 +0000\r\n\r\n\
         Chaos test message {id}.\r\n"
    )
}

/// Sends `message(id)` to `addr` over SMTP with mail-send; `Ok` when the server said 250.
pub async fn send_smtp(addr: &str, id: &str) -> Result<(), mail_send::Error> {
    send_raw(addr, id, &message(id)).await
}

/// Sends `raw` from `{id}@customer.example` to `sales@example.com` at `addr` (`host:port`).
pub async fn send_raw(addr: &str, id: &str, raw: &str) -> Result<(), mail_send::Error> {
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    // mail-send's builder makes a TLS connector (unused here): rustls needs its provider
    let _ = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut client = mail_send::SmtpClientBuilder::new(host.to_owned(), port.parse().unwrap())
        .expect("a client")
        .implicit_tls(false)
        .timeout(Duration::from_secs(30))
        .connect_plain()
        .await?;
    let from = format!("{id}@customer.example");
    let msg = mail_send::smtp::message::Message::new(
        from.as_str(),
        ["sales@example.com"],
        raw.as_bytes(),
    );
    client.send(msg).await?;
    let _ = client.quit().await;
    Ok(())
}

/// A refused try in a word: the reply code and enhanced status (`451 4.3.0`), or the error.
pub fn reply_code(e: &mail_send::Error) -> String {
    match e {
        mail_send::Error::UnexpectedReply(r) => {
            format!("{} {}.{}.{}", r.code, r.esc[0], r.esc[1], r.esc[2])
        }
        e => e.to_string(),
    }
}

/// Sends messages one after the other; a message not acknowledged is sent again (same
/// Message-ID) until it is, or until the load stops.
async fn smtp_sender(nodes: Arc<Nodes>, ledger: Arc<Ledger>, stop: Arc<AtomicBool>, i: usize) {
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        let id = format!("smtp-{i}-{n}");
        n += 1;
        loop {
            let (smtp, _) = nodes.next();
            match send_smtp(&smtp, &id).await {
                Ok(()) => {
                    ledger.acked.lock().unwrap().push(id.clone());
                    break;
                }
                Err(e) => ledger.refused(&reply_code(&e)),
            }
            if stop.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Queues a mail by the API (`POST /api/v1/mail`), one after the other; the Subject is its id.
async fn mail_queuer(nodes: Arc<Nodes>, ledger: Arc<Ledger>, stop: Arc<AtomicBool>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        let id = format!("mail-{n}");
        let (_, base) = nodes.next();
        let sent = http
            .post(format!("{base}/api/v1/mail"))
            .bearer_auth(TOKEN)
            .json(&json!({"to": [format!("{id}@customer.example")], "subject": id, "body_text": "Hello"}))
            .send()
            .await;
        match sent {
            Ok(r) if r.status() == 201 => {
                ledger.queued.lock().unwrap().push(id);
                n += 1;
            }
            Ok(r) => ledger.refused(&format!("POST /mail: {}", r.status())),
            Err(e) => ledger.refused(&format!("POST /mail: {e}")),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Delivers `fetch-N` into the maildir every 20 ms, as an MDA would.
async fn maildir_feeder(dir: PathBuf, ledger: Arc<Ledger>, stop: Arc<AtomicBool>) {
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        let id = format!("fetch-{n}");
        postern_testkit::dovecot::deliver(&dir, message(&id));
        ledger.fed.lock().unwrap().push(id);
        n += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A webhook receiver on a loopback port that answers 200 to everything, or never answers
/// while `hang` is set; it keeps every body by its `webhook-id`.
#[derive(Clone, Default)]
pub struct Receiver {
    /// (webhook-id, body) of every POST, in order.
    pub got: Arc<Mutex<Vec<(String, Value)>>>,
    /// Requests are held (never answered) while this is set.
    pub hang: Arc<AtomicBool>,
}

impl Receiver {
    /// Starts it; the receiver and its URL.
    pub async fn start() -> (Receiver, String) {
        let r = Receiver::default();
        let state = r.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let r = state.clone();
                async move { r.receive(&headers, &body).await }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, url)
    }

    async fn receive(&self, headers: &HeaderMap, body: &str) -> axum::http::StatusCode {
        while self.hang.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let id = headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = serde_json::from_str(body).unwrap_or(Value::Null);
        self.got.lock().unwrap().push((id, body));
        axum::http::StatusCode::OK
    }

    /// Per event id, how many times it came; and the bodies, one per event id.
    pub fn events(&self) -> (HashMap<String, usize>, Vec<Value>) {
        let mut counts = HashMap::new();
        let mut bodies = Vec::new();
        for (id, body) in self.got.lock().unwrap().iter() {
            let n = counts.entry(id.clone()).or_insert(0);
            if *n == 0 {
                bodies.push(body.clone());
            }
            *n += 1;
        }
        (counts, bodies)
    }
}
