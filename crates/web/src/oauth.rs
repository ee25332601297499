//! Connect, the API side (issue 19): `POST /api/v1/incoming-servers/{id}/connect` and
//! `/outgoing-servers/{id}/connect` answer `{"authorization_url"}`, the provider's page where
//! the mailbox's owner grants access (PKCE and `state` remembered by postern-oauth);
//! `POST /api/v1/oauth/callback` with `{"state", "code"}` (what the provider sent back to
//! `/oauth/callback`) completes it: the grant is stored, sealed, and the server is connected.
//!
//! The admin UI's Connect button and callback page are clients of these routes; `postern oauth
//! connect` calls postern-oauth directly. No answer carries a token or the client secret.
//!
//! Statuses: 200; 400 the server does not use OAuth, or the state is unknown or expired, or the
//! provider refused the code (`oauth_refused`); 404 no such server; 502 the provider did not
//! answer (`oauth_unavailable`); 503 this node has no secret key (`oauth_not_configured`).

use crate::AppState;
use crate::error::{ApiError, ApiPath, ErrorBody};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use postern_model::{IncomingServerId, OutgoingServerId};
use postern_oauth::{OAuth, OAuthError, OAuthServer};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(connect_incoming))
        .routes(routes!(connect_outgoing))
        .routes(routes!(callback))
}

crate::openapi::object_schema!(
    /// Where to send the mailbox's owner.
    Authorization,
    "OAuthAuthorization",
    "`authorization_url`: the provider's page where access is granted; it comes back to \
     Postern's `/oauth/callback`"
);

crate::openapi::object_schema!(
    /// What came back to the callback.
    CallbackBody,
    "OAuthCallback",
    "`state` and `code`, as the provider sent them to `/oauth/callback`"
);

crate::openapi::object_schema!(
    /// The server connected.
    ConnectedBody,
    "OAuthConnected",
    "`server`: `{kind, id, name}` of the server now connected; `oauth_state`: `connected`"
);

fn oauth(s: &AppState) -> Result<&OAuth, ApiError> {
    s.oauth.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "oauth_not_configured",
            "OAuth is not set up on this node: it has no secret key (POSTERN_SECRET_KEY or \
             DATA_DIR/secret.key)",
        )
    })
}

fn api_error(e: OAuthError) -> ApiError {
    let text = e.to_string();
    match e {
        OAuthError::Store(e) => e.into(),
        OAuthError::Provider(_) | OAuthError::Busy => {
            ApiError::new(StatusCode::BAD_GATEWAY, "oauth_unavailable", text)
        }
        OAuthError::Request(_) => ApiError::new(StatusCode::BAD_REQUEST, "oauth_refused", text),
        _ => ApiError::new(StatusCode::BAD_REQUEST, "invalid", text),
    }
}

async fn begin(s: &AppState, server: OAuthServer) -> Result<Json<Value>, ApiError> {
    let url = oauth(s)?.begin(server).await.map_err(api_error)?;
    Ok(Json(json!({"authorization_url": url})))
}

/// Connect an incoming server
///
/// Starts the authorization-code flow (PKCE, `state`) with the server's OAuth provider.
#[utoipa::path(
    post,
    path = "/incoming-servers/{id}/connect",
    tag = "incoming servers",
    params(("id" = i64, Path, description = "Incoming server id")),
    responses(
        (status = 200, description = "The provider's page", body = Authorization),
        (status = 400, description = "The server does not log in with OAuth", body = ErrorBody),
        (status = 404, description = "No such incoming server", body = ErrorBody),
        (status = 502, description = "The provider did not answer", body = ErrorBody),
        (status = 503, description = "No secret key on this node", body = ErrorBody),
    )
)]
async fn connect_incoming(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    begin(&s, OAuthServer::Incoming(IncomingServerId(id))).await
}

/// Connect an outgoing server
///
/// Starts the authorization-code flow (PKCE, `state`) with the server's OAuth provider.
#[utoipa::path(
    post,
    path = "/outgoing-servers/{id}/connect",
    tag = "outgoing servers",
    params(("id" = i64, Path, description = "Outgoing server id")),
    responses(
        (status = 200, description = "The provider's page", body = Authorization),
        (status = 400, description = "The server does not log in with OAuth", body = ErrorBody),
        (status = 404, description = "No such outgoing server", body = ErrorBody),
        (status = 502, description = "The provider did not answer", body = ErrorBody),
        (status = 503, description = "No secret key on this node", body = ErrorBody),
    )
)]
async fn connect_outgoing(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    begin(&s, OAuthServer::Outgoing(OutgoingServerId(id))).await
}

#[derive(serde::Deserialize)]
struct Callback {
    state: String,
    code: String,
}

/// Complete Connect
///
/// Exchanges the code for the grant (with the PKCE verifier of its `state`, taken once).
#[utoipa::path(
    post,
    path = "/oauth/callback",
    tag = "oauth",
    request_body = CallbackBody,
    responses(
        (status = 200, description = "The server is connected", body = ConnectedBody),
        (status = 400, description = "Unknown or expired state, or the code was refused",
            body = ErrorBody),
        (status = 502, description = "The provider did not answer", body = ErrorBody),
        (status = 503, description = "No secret key on this node", body = ErrorBody),
    )
)]
async fn callback(
    State(s): State<AppState>,
    crate::error::ApiJson(body): crate::error::ApiJson<Callback>,
) -> Result<Json<Value>, ApiError> {
    let done = oauth(&s)?
        .complete(&body.state, &body.code)
        .await
        .map_err(api_error)?;
    Ok(Json(json!({
        "server": {"kind": done.server.kind(), "id": done.server.id(), "name": done.name},
        "oauth_state": "connected",
    })))
}
