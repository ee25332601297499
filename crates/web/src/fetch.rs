//! `POST /api/v1/incoming-servers/{id}/fetch`: polls one incoming server now, whatever its
//! interval and state (a success enables a server that was disabled for failing too long), and
//! answers what the poll did: `{"server_id", "server", "fetched", "accepted", "duplicates",
//! "failed", "unprocessable", "error", "disabled"}`.
//!
//! Statuses: 200 the poll reached the mailbox; 502 it did not (the body is the error shape
//! with the report beside it, `{"error": {...}, "report": {...}}`; the error is also kept on the
//! server); 409 another poll of the server is running (this node or another); 404 no such server.

use crate::AppState;
use crate::error::{ApiError, ApiPath, ErrorBody, ErrorDetail};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use postern_fetch::{FetchError, Fetcher, TlsSettings};
use postern_model::IncomingServerId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(fetch_now))
}

crate::openapi::object_schema!(
    /// What a poll did.
    Report,
    "FetchReport",
    "What a poll did: `server_id`, `server`, `fetched`, `accepted`, `duplicates`, `failed`, \
     `unprocessable`, `error` (null when the mailbox was reached), `disabled`"
);

/// The 502 answer: the error shape, with the poll's report beside it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema only: the handler builds the JSON.
struct FetchFailed {
    error: ErrorDetail,
    /// The poll's report; absent when it ended without one (the error alone).
    report: Option<Report>,
}

/// Poll an incoming server now
///
/// Whatever its interval and state: a success enables a server that was disabled for failing
/// too long. The error of a poll that fails is also kept on the server.
#[utoipa::path(
    post,
    path = "/incoming-servers/{id}/fetch",
    tag = "incoming servers",
    params(("id" = i64, Path, description = "Incoming server id")),
    responses(
        (status = 200, description = "The poll reached the mailbox", body = Report),
        (status = 404, description = "No such incoming server", body = ErrorBody),
        (status = 409, description = "Another poll of the server is running (`busy`)",
            body = ErrorBody),
        (status = 502, description = "The poll did not reach the mailbox (`fetch_failed`), \
            or could not start",
            body = FetchFailed),
    )
)]
async fn fetch_now(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let fetcher = Fetcher::new(s.gateway.clone(), TlsSettings::system())
        .with_max_message_size(s.max_message_size as u64)
        .with_oauth(s.oauth.clone());
    match fetcher.fetch_now(IncomingServerId(id)).await {
        Ok(report) => match &report.error {
            None => Ok((StatusCode::OK, Json(report)).into_response()),
            Some(e) => {
                let body = serde_json::json!({
                    "error": {"code": "fetch_failed", "message": e},
                    "report": report,
                });
                Ok((StatusCode::BAD_GATEWAY, Json(body)).into_response())
            }
        },
        Err(e @ FetchError::Busy(_)) => {
            Err(ApiError::new(StatusCode::CONFLICT, "busy", e.to_string()))
        }
        Err(FetchError::Store(e)) => Err(e.into()),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "fetch_failed",
            e.to_string(),
        )),
    }
}
