//! `POST /api/v1/incoming-servers/{id}/fetch`: polls one incoming server now, whatever its
//! interval and state (a success enables a server that was disabled for failing too long), and
//! answers what the poll did: `{"server_id", "server", "fetched", "accepted", "duplicates",
//! "failed", "unprocessable", "error", "disabled"}`.
//!
//! Statuses: 200 the poll reached the mailbox; 502 it did not (the body is the error shape
//! with the report beside it, `{"error": {...}, "report": {...}}`; the error is also kept on the
//! server); 409 another poll of the server is running (this node or another); 404 no such server.

use crate::AppState;
use crate::error::{ApiError, ApiPath};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use postern_fetch::{FetchError, Fetcher, TlsSettings};
use postern_model::IncomingServerId;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/incoming-servers/{id}/fetch", post(fetch_now))
}

async fn fetch_now(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let fetcher = Fetcher::new(s.gateway.clone(), TlsSettings::system())
        .with_max_message_size(s.max_message_size as u64);
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
