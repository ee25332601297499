//! `POST /api/v1/ingest` and `POST /api/v1/route/explain`: a raw RFC 822 message as the body,
//! `?rcpt=` (repeatable), `&sender=`, `&model=`. The answer is the outcome JSON whatever the
//! status: 200 stored or ignored (including refusals whose mail was queued), 422 no route,
//! 400 not an e-mail message (kept raw), 503 temporary failure (retry).

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::openapi::Binary;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use postern_gateway::{AcceptError, AcceptOutcome, Received};
use postern_gateway::{Envelope, Outcome};
use postern_model::Source;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

crate::openapi::object_schema!(
    /// What the gateway did with a message (or would do, for `/route/explain`).
    OutcomeBody,
    "AcceptOutcome",
    "What the gateway did with the message: `outcome` (`routed`, `duplicate`, `loop_ignored`, \
     `bounce_processed`, `catchall_refused`, `alias_refused`, `alias_invalid`, `rate_limited`, \
     `no_route`) and what it did for each recipient; see docs/ingest.md"
);

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

/// Ingest one message
///
/// As if it had come by SMTP to the `rcpt` addresses: routed, then stored (a record, a message on
/// its thread), ignored or refused. The answer is the outcome whatever the status.
#[utoipa::path(
    post,
    path = "/ingest",
    tag = "ingest",
    params(EnvelopeParams),
    request_body(content = Binary, content_type = "message/rfc822",
        description = "The message, raw (RFC 5322)"),
    responses(
        (status = 200, description = "Stored or ignored (or refused, with its mail queued)",
            body = OutcomeBody),
        (status = 400, description = "Not an e-mail message (kept raw), or a bad parameter",
            body = ErrorBody),
        (status = 422, description = "No route for any recipient", body = OutcomeBody),
        (status = 503, description = "Temporary failure; retry", body = ErrorBody),
    )
)]
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

/// Retry a raw message
///
/// Takes a stored raw message again through the gateway, with its envelope and way in, as a
/// new raw message (the outcome is that of `/ingest`); the old one gets the status `retried`
/// unless the message is still unparseable. For messages that failed or were given up.
#[utoipa::path(
    post,
    path = "/raw-messages/{id}/retry",
    tag = "raw messages",
    params(("id" = i64, Path, description = "Raw message id")),
    responses(
        (status = 200, description = "Stored or deliberately ignored", body = OutcomeBody),
        (status = 400, description = "Still not an e-mail message", body = ErrorBody),
        (status = 404, description = "No such raw message", body = ErrorBody),
        (status = 422, description = "No route for any recipient", body = OutcomeBody),
        (status = 503, description = "Temporary failure; retry", body = ErrorBody),
    )
)]
async fn retry_raw(
    State(s): State<AppState>,
    crate::error::ApiPath(id): crate::error::ApiPath<i64>,
) -> Result<Response, ApiError> {
    let id = postern_model::RawMessageId(id);
    let mut tx = s.store.read().await?;
    let (source, sender, rcpts) = tx.raw_message_envelope(id).await?;
    let raw = tx.raw_message_content(id).await?;
    drop(tx);
    let received = Received {
        envelope: Envelope {
            mail_from: sender,
            rcpt_to: rcpts,
            ..Default::default()
        },
        source: source.parse().unwrap_or(Source::Http),
        ..Default::default()
    };
    let result = s.gateway.accept_owned(raw, &received).await;
    if result.is_ok() {
        let mut tx = s.store.begin().await?;
        tx.set_raw_message_status(id, postern_model::RawStatus::Retried)
            .await?;
        tx.commit().await?;
    }
    Ok(answer(result))
}

/// Explain the routing of a message
///
/// What `/ingest` would do with it, without storing anything.
#[utoipa::path(
    post,
    path = "/route/explain",
    tag = "ingest",
    params(EnvelopeParams),
    request_body(content = Binary, content_type = "message/rfc822",
        description = "The message, raw (RFC 5322)"),
    responses(
        (status = 200, description = "What would be done, `no_route` included", body = OutcomeBody),
        (status = 400, description = "Not an e-mail message, or a bad parameter",
            body = ErrorBody),
        (status = 503, description = "Temporary failure; retry", body = ErrorBody),
    )
)]
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

/// The envelope of `/ingest` and `/route/explain` (read by [`envelope`]).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // a schema only.
struct EnvelopeParams {
    /// A recipient, counted as a `Delivered-To` recipient (repeat for each, at most 1000).
    rcpt: Option<Vec<String>>,
    /// The envelope sender (`MAIL FROM`).
    sender: Option<String>,
    /// The model of the records it creates, instead of the alias's.
    model: Option<String>,
}

/// Routes taking raw messages, relative to `/api/v1`.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ingest))
        .routes(routes!(explain))
        .routes(routes!(retry_raw))
}
