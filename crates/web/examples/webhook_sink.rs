//! A webhook receiver for benchmarks (`scripts/bench-webhooks.sh`): answers every `POST` with
//! 204 at once and counts them; `GET /stats` gives `{"count", "first_ms", "last_ms"}` (Unix
//! milliseconds of the first and last POST), the distinct `webhook-id`s in `ids`;
//! `POST /reset` starts counting again.
//!
//!     cargo run --release -p postern-web --example webhook_sink -- 127.0.0.1:8099

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Stats {
    count: u64,
    ids: HashSet<String>,
    first_ms: u128,
    last_ms: u128,
}

type Shared = Arc<Mutex<Stats>>;

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

async fn receive(
    State(s): State<Shared>,
    headers: HeaderMap,
    _body: axum::body::Bytes,
) -> StatusCode {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut s = s.lock().unwrap();
    let now = now_ms();
    if s.count == 0 {
        s.first_ms = now;
    }
    s.count += 1;
    s.last_ms = now;
    s.ids.insert(id);
    StatusCode::NO_CONTENT
}

async fn reset(State(s): State<Shared>) -> StatusCode {
    *s.lock().unwrap() = Stats::default();
    StatusCode::NO_CONTENT
}

async fn stats(State(s): State<Shared>) -> String {
    let s = s.lock().unwrap();
    format!(
        "{{\"count\": {}, \"ids\": {}, \"first_ms\": {}, \"last_ms\": {}}}",
        s.count,
        s.ids.len(),
        s.first_ms,
        s.last_ms
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8099".into());
    let shared = Shared::default();
    let app = axum::Router::new()
        .route("/hook", post(receive))
        .route("/stats", get(stats))
        .route("/reset", post(reset))
        .with_state(shared);
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("listening {}", listener.local_addr().unwrap());
    axum::serve(listener, app).await.expect("serve");
}
