//! `POST /api/v1/ingest` and `POST /api/v1/route/explain`: a raw RFC 822 message as the body,
//! `?rcpt=` (repeatable), `&sender=`, `&model=`. The answer is the outcome JSON whatever the
//! status: 200 stored or ignored (including refusals whose mail was queued), 422 no route,
//! 400 not an e-mail message (kept raw), 503 temporary failure (retry).

use crate::AppState;
use crate::error::ApiError;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use postern_gateway::{AcceptError, AcceptOutcome, Received};
use postern_gateway::{Envelope, Outcome};
use postern_model::Source;

fn envelope(query: Option<&str>) -> Result<Envelope, ApiError> {
    let mut env = Envelope::default();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "rcpt" => env.rcpt_to.push(v.into_owned()),
            "sender" => env.mail_from = Some(v.into_owned()),
            "model" => env.model = Some(v.into_owned()),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter `{other}` (rcpt, sender, model)"
                )));
            }
        }
    }
    if env.rcpt_to.len() > 1000 {
        return Err(ApiError::bad_request("at most 1000 rcpt"));
    }
    Ok(env)
}

fn answer(result: Result<AcceptOutcome, AcceptError>) -> Response {
    match result {
        Ok(outcome) => {
            let status = if outcome.outcome == Outcome::NoRoute {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            (status, Json(outcome)).into_response()
        }
        Err(e @ AcceptError::Unparseable { .. }) => {
            ApiError::new(StatusCode::BAD_REQUEST, "unparseable", e.to_string()).into_response()
        }
        Err(AcceptError::Temporary(e)) => {
            tracing::error!(error = %e, "ingest failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "temporary failure; retry later",
            )
            .into_response()
        }
    }
}

async fn ingest(
    State(s): State<AppState>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let received = Received {
        envelope: envelope(q.as_deref())?,
        source: Source::Http,
        ..Default::default()
    };
    Ok(answer(s.gateway.accept_owned(body.into(), &received).await))
}

async fn explain(
    State(s): State<AppState>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let received = Received {
        envelope: envelope(q.as_deref())?,
        source: Source::Http,
        ..Default::default()
    };
    Ok(match s.gateway.explain(&body, &received).await {
        Ok(outcome) => (StatusCode::OK, Json(outcome)).into_response(),
        other => answer(other),
    })
}

/// Routes taking raw messages, relative to `/api/v1`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ingest", post(ingest))
        .route("/route/explain", post(explain))
}
