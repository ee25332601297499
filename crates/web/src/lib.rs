//! The HTTP side of Postern: the JSON API of DESIGN.md (`/api/v1/...`, bearer token), `/healthz`,
//! the webhook sender ([`sender`]: events of the store's queue, signed, retried) and the admin
//! UI (module `ui`, at `/`).
//!
//! It owns HTTP concerns only: authentication, JSON in and out, status codes, pagination
//! parameters. What is valid and what is stored is the store's business; this crate maps the
//! store's answers to statuses (`Invalid` → 422, `Conflict` → 409, `NotFound` → 404, a database
//! that fails → 503) and never returns a secret (servers' passwords are write-only fields).
//!
//! Every route is declared once, with its OpenAPI operation: `GET /api/v1/openapi.json` serves
//! the document (see the `openapi` module for how a route is added).
//!
//! [`run`] takes a bound listener and a shutdown future, so tests bind `127.0.0.1:0`.
#![warn(missing_docs)]

mod deliveries;
mod dkim;
mod error;
mod fetch;
mod ingest;
mod oauth;
mod openapi;
mod outbound;
mod payload;
mod resources;
pub mod sender;
mod suppressions;
mod threads;
mod ui;
mod unsubscribe;

pub use error::ApiError;
pub use threads::mail_json;
pub(crate) use threads::rfc3339;
pub use ui::{AdminPassword, ensure_admin, hash_password};

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use error::ErrorBody;
use postern_gateway::Gateway;
use postern_model::Secret;
use postern_store::Store;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The inbound gateway (`/ingest`, `/route/explain`).
    pub gateway: Gateway,
    token: Arc<Secret>,
    max_message_size: usize,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// The DNS servers of the DNS check (`[server] dns`).
    dns: Arc<postern_auth::DnsSettings>,
    /// The body limit and the rate of requests per token (`[limits]`).
    limits: ApiLimits,
    /// The requests of each token, against `limits.requests_per_second`.
    rate: Arc<TokenRate>,
    /// Connect and access tokens of the `oauth` servers (`None`: no secret key).
    oauth: Option<postern_oauth::OAuth>,
}

/// What one API client may ask: the largest JSON body, and requests per second per token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    /// The largest body of a request other than `/ingest` (that one takes `max_message_size`);
    /// over it: 413.
    pub max_body: usize,
    /// Requests per second per token, with a burst of as many at once; over it: 429 with
    /// `Retry-After`. The admin UI's own calls are not counted (its pages are behind a session).
    pub requests_per_second: u32,
}

impl Default for ApiLimits {
    fn default() -> ApiLimits {
        ApiLimits {
            max_body: MAX_JSON_BODY,
            requests_per_second: 500,
        }
    }
}

/// The request rate of each token (a keyed GCRA limiter).
struct TokenRate(governor::DefaultKeyedRateLimiter<String>);

impl TokenRate {
    fn new(per_second: u32) -> TokenRate {
        let n = std::num::NonZeroU32::new(per_second.max(1)).expect("at least 1");
        TokenRate(governor::RateLimiter::keyed(governor::Quota::per_second(n)))
    }

    /// `Ok`, or how long until the token may ask again.
    fn check(&self, token: &str) -> Result<(), std::time::Duration> {
        use governor::clock::{Clock, DefaultClock};
        self.0
            .check_key(&token.to_owned())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// Marks a request the admin UI makes to the API in process (not counted by the rate limit).
#[derive(Clone, Copy)]
pub(crate) struct InProcess;

impl AppState {
    /// State for a server whose API accepts `token` as bearer token and ingests through
    /// `gateway` — the one the mail listeners use, so that a process has one group committer;
    /// `/ingest` takes messages up to `max_message_size`.
    pub fn new(gateway: Gateway, token: Secret, max_message_size: usize) -> AppState {
        AppState {
            store: gateway.store().clone(),
            gateway,
            token: Arc::new(token),
            max_message_size,
            metrics: None,
            dns: Arc::default(),
            limits: ApiLimits::default(),
            rate: Arc::new(TokenRate::new(ApiLimits::default().requests_per_second)),
            oauth: None,
        }
    }

    /// Connect (`/{incoming,outgoing}-servers/{id}/connect`, `/oauth/callback`) and the access
    /// tokens of Fetch now, with `oauth`.
    pub fn with_oauth(mut self, oauth: Option<postern_oauth::OAuth>) -> Self {
        self.oauth = oauth;
        self
    }

    /// Applies these limits (`[limits]` of the configuration file).
    pub fn with_limits(mut self, limits: ApiLimits) -> Self {
        self.rate = Arc::new(TokenRate::new(limits.requests_per_second));
        self.limits = limits;
        self
    }

    /// Asks these DNS servers for the DNS check (default: those of `/etc/resolv.conf`).
    pub fn with_dns(mut self, dns: postern_auth::DnsSettings) -> Self {
        self.dns = Arc::new(dns);
        self
    }

    /// Serves `/metrics` from the process's Prometheus recorder (see [`install_metrics`]).
    pub fn with_metrics(mut self, handle: metrics_exporter_prometheus::PrometheusHandle) -> Self {
        self.metrics = Some(handle);
        self
    }
}

/// Installs the process's metrics recorder (once, at start; `None` when one is installed
/// already) and gives the handle `/metrics` renders. The accept latency is a histogram with
/// buckets from 1 ms to 10 s; the committer's batch size from 1 to 512 messages.
pub fn install_metrics() -> Option<metrics_exporter_prometheus::PrometheusHandle> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("postern_accept_seconds".into()),
            &[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ],
        )
        .ok()?
        .set_buckets_for_metric(
            Matcher::Full("postern_commit_batch_size".into()),
            &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
        )
        .ok()?;
    let handle = builder.install_recorder().ok()?;
    describe_metrics();
    Some(handle)
}

/// The HELP lines of `/metrics`.
fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "postern_messages_accepted_total",
        "Messages through accept, by way in (smtp, lmtp, pipe, http, imap, pop3) and outcome"
    );
    describe_counter!(
        "postern_refusals_total",
        "Messages refused (no route, catchall, contact policy, invalid alias, rate limit)"
    );
    describe_histogram!(
        "postern_accept_seconds",
        "Time from a complete message to its durable answer"
    );
    describe_histogram!(
        "postern_commit_batch_size",
        "Messages per group commit (SQLite)"
    );
    describe_counter!(
        "postern_mails_total",
        "Outgoing mails tried, by result: sent, deferred, failed"
    );
    describe_gauge!("postern_outbox_mails", "Mails in the outbox, by state");
    describe_counter!(
        "postern_webhook_deliveries_total",
        "Webhook tries, by result: delivered, retry, failed, disabled"
    );
    describe_histogram!("postern_webhook_seconds", "Time an endpoint took to answer");
    describe_gauge!(
        "postern_webhook_queue",
        "Webhook deliveries waiting (pending, active endpoints)"
    );
    describe_gauge!(
        "postern_webhook_queue_age_seconds",
        "Age of the oldest webhook delivery waiting"
    );
    describe_counter!(
        "postern_fetch_polls_total",
        "Polls of incoming servers, by server and result"
    );
    describe_counter!(
        "postern_fetch_messages_total",
        "Messages fetched from incoming servers"
    );
    describe_counter!(
        "postern_oauth_refreshes_total",
        "OAuth access token refreshes, by server and result: ok, failed (the provider refused: \
         the server waits for Connect), unavailable"
    );
    describe_counter!(
        "postern_oauth_connects_total",
        "OAuth grants made by Connect, by server"
    );
}

/// Prometheus metrics
///
/// Prometheus text, without a token (DESIGN.md), with the outbox by state read at each scrape.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", body = String,
            content_type = "text/plain"),
        (status = 404, description = "Metrics are not enabled in this process", body = ErrorBody),
    )
)]
async fn metrics_text(State(state): State<AppState>) -> Response {
    let Some(handle) = &state.metrics else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "metrics are not enabled in this process",
        )
        .into_response();
    };
    if let Ok(mut tx) = state.store.read().await
        && let Ok(counts) = tx.mail_counts().await
    {
        for (state, n) in counts {
            metrics::gauge!("postern_outbox_mails", "state" => state).set(n as f64);
        }
        if let Ok((waiting, age_ms)) = tx.webhook_queue(postern_store::now_ms()).await {
            metrics::gauge!("postern_webhook_queue").set(waiting as f64);
            metrics::gauge!("postern_webhook_queue_age_seconds").set(age_ms as f64 / 1000.0);
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}

/// The largest JSON body the configuration API accepts.
const MAX_JSON_BODY: usize = 1024 * 1024;

/// The whole HTTP application: the API, and the admin UI at `/` (a client of the API, in
/// process; its answers are HTML, so the API's JSON error layer does not wrap them).
pub fn router(state: AppState) -> Router {
    let (router, api) = routes(&state).split_for_parts();
    let document = openapi::Document::new(&openapi::finish(api));
    let api = router
        .merge(unsubscribe::routes())
        .layer(Extension(document))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .layer(middleware::map_response(error::json_errors))
        .with_state(state.clone());
    api.clone().merge(ui::routes(state, api))
}

/// Every route, with its OpenAPI operation.
fn routes(state: &AppState) -> OpenApiRouter<AppState> {
    let messages = ingest::routes().layer(DefaultBodyLimit::max(state.max_message_size));
    let mut api = resources::routes()
        .merge(threads::routes())
        .merge(fetch::routes())
        .merge(outbound::routes())
        .merge(deliveries::routes())
        .merge(suppressions::routes())
        .merge(dkim::routes())
        .merge(oauth::routes())
        .layer(DefaultBodyLimit::max(state.limits.max_body))
        .merge(messages);
    // The token guards the routes declared so far (a layer wraps the routes it is given), and
    // the document says so; `/openapi.json`, declared after, is public.
    openapi::require_bearer(api.get_openapi_mut());
    let api = api
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .routes(routes!(openapi::openapi_json));
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(metrics_text))
        .nest("/api/v1", api)
}

/// Serves `router(state)` on `listener` until `shutdown` completes, then finishes the requests
/// in flight.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer's address: the admin UI limits sign-in attempts per IP.
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Health check
///
/// Whether the process runs and its database answers. No token.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    responses(
        (status = 200, description = "`{\"status\": \"ok\"}`", body = Object),
        (status = 503, description = "`{\"status\": \"unavailable\", \"reason\": \"database\"}`",
            body = Object),
    )
)]
async fn healthz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => {
            error::DATABASE.ok();
            (
                StatusCode::OK,
                axum::Json(serde_json::json!({"status": "ok"})),
            )
                .into_response()
        }
        Err(e) => {
            error::DATABASE.failed(&e);
            tracing::info!(error = %e, "health check: database does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "unavailable", "reason": "database"})),
            )
                .into_response()
        }
    }
}

/// Refuses every request without `Authorization: Bearer <token>`.
async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(t) if constant_time_eq(t.as_bytes(), state.token.expose().as_bytes()) => {
            let in_process = request.extensions().get::<InProcess>().is_some();
            match state.rate.check(t) {
                Err(wait) if !in_process => too_many_requests(wait),
                _ => next.run(request).await,
            }
        }
        _ => {
            let mut r = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or wrong bearer token (Authorization: Bearer <token>)",
            )
            .into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            r
        }
    }
}

/// 429 with the seconds to wait (at least 1) in `Retry-After`.
fn too_many_requests(wait: std::time::Duration) -> Response {
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    tracing::warn!(retry_after = seconds, "API rate limit of the token reached");
    let mut r = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("more than the requests per second allowed for this token ([limits] api_requests_per_second); retry in {seconds} s"),
    )
    .into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    r
}

/// Compares in constant time (the `subtle` crate: no early exit, no branch on the bytes), so
/// that the time taken does not tell how much of a guess matched. Only the length may show,
/// and every token of a kind has the same length.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
