//! One-click unsubscribe (RFC 8058): `POST /unsubscribe/{token}` with
//! `List-Unsubscribe=One-Click`, the link of a mass mail's `List-Unsubscribe` header. Public:
//! the signed token is the authority. The recipient it names gets no more mass mail;
//! transactional mail still goes. `GET` only shows a button (a mail scanner that follows links
//! must not unsubscribe anyone).

use crate::AppState;
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

/// The routes, at the root (no token: the link's own signature is checked).
pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/unsubscribe/{token}", get(page).post(one_click))
}

fn valid_shape(token: &str) -> bool {
    token.len() <= 40 && postern_model::token::id_of(token).is_some()
}

async fn page(Path(token): Path<String>) -> Response {
    if !valid_shape(&token) {
        return (StatusCode::NOT_FOUND, "no such link\n").into_response();
    }
    let body = format!(
        "<!doctype html><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
         <title>Unsubscribe</title><form method=post action=\"/unsubscribe/{token}\">\
         <input type=hidden name=List-Unsubscribe value=One-Click>\
         <p>Stop receiving these mailings?</p><button>Unsubscribe</button></form>"
    );
    ([(header::CACHE_CONTROL, "no-store")], Html(body)).into_response()
}

async fn one_click(
    State(s): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    if !valid_shape(&token) {
        return Ok((StatusCode::NOT_FOUND, "no such link\n").into_response());
    }
    let mut tx = s.store.begin().await?;
    let done = tx.unsubscribe(&token).await?;
    tx.commit().await?;
    Ok(match done {
        Some(row) => {
            tracing::info!(address = %row.address, "one-click unsubscribe");
            (
                StatusCode::OK,
                "You are unsubscribed from these mailings.\n",
            )
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such link\n").into_response(),
    })
}
