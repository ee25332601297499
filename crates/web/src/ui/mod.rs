//! The admin UI at `/`: server-rendered pages (askama), htmx for live refresh only, so every
//! page works without JavaScript.
//!
//! The UI is a client of the JSON API, in process: every read and every change goes through
//! the API's own router ([`Ui::api`]) with the API token, so validation, errors and what is
//! stored are the API's, never a second copy of them; a page only turns the JSON into HTML and a
//! form into JSON. An API error whose message starts with `field: ` is shown next to that field.
//!
//! Every page but `/login` and `/static/` needs a session (module `auth`): without one it
//! answers a redirect to `/login`; every POST needs the session's CSRF token (`csrf` field).

mod auth;
mod forms;
mod oauth;
mod pages;
mod params;
mod records;

pub use auth::{AdminPassword, ensure_admin, hash_password};

use crate::AppState;
use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::Arc;

/// What the UI's handlers share: the application's state and the API router they call.
#[derive(Clone)]
pub(crate) struct Ui {
    pub(crate) app: AppState,
    api: Router,
    limiter: Arc<auth::LoginLimiter>,
}

/// An answer of the API: its status and its JSON body (`Null` when it had none).
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
}

impl Answer {
    /// The API's error message, when it answered one.
    pub(crate) fn error(&self) -> Option<String> {
        if self.status.is_success() {
            return None;
        }
        Some(
            self.body["error"]["message"]
                .as_str()
                .unwrap_or("the request failed")
                .to_owned(),
        )
    }
}

impl Ui {
    /// Calls the API (`path` below `/api/v1`) with the API token, as any client would.
    pub(crate) async fn api(&self, method: Method, path: &str, body: Option<&Value>) -> Answer {
        self.api_raw(
            method,
            path,
            body.map(|b| (b.to_string(), "application/json")),
        )
        .await
    }

    /// [`Ui::api`] with a body of another type (a raw message for `/route/explain`).
    pub(crate) async fn api_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<(String, &'static str)>,
    ) -> Answer {
        let response = self.api_response(method, path, body).await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024)
            .await
            .unwrap_or_default();
        Answer {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// The API's response itself (an attachment, a raw message).
    pub(crate) async fn api_response(
        &self,
        method: Method,
        path: &str,
        body: Option<(String, &'static str)>,
    ) -> Response {
        use tower::ServiceExt;
        let mut request = Request::builder()
            .method(method)
            .uri(format!("/api/v1{path}"))
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", self.app.token.expose()),
            );
        let body = match body {
            Some((text, kind)) => {
                request = request.header(header::CONTENT_TYPE, kind);
                Body::from(text)
            }
            None => Body::empty(),
        };
        let request = request
            .extension(crate::InProcess)
            .body(body)
            .expect("a request to the API");
        match self.api.clone().oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        }
    }
}

/// The navigation bar of every page: who is signed in, the red-envelope count, the CSRF token
/// of the sign-out form.
pub(crate) struct Nav {
    pub(crate) login: String,
    pub(crate) csrf: String,
    pub(crate) failures: String,
}

/// The UI's routes (the API's router is given: the UI calls it).
pub(crate) fn routes(app: AppState, api: Router) -> Router {
    let max = app.max_message_size;
    let ui = Ui {
        app,
        api,
        limiter: Arc::new(auth::LoginLimiter::new()),
    };
    let private = pages::routes()
        .merge(records::routes(max))
        .merge(auth::private_routes())
        .layer(axum::middleware::from_fn_with_state(
            ui.clone(),
            auth::require_session,
        ));
    auth::public_routes()
        .route("/static/{file}", axum::routing::get(static_file))
        .merge(private)
        .with_state(ui)
}

/// The files under `/static/`, compiled into the binary (nothing is fetched at build or run
/// time): htmx, its licence, the style sheet.
async fn static_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, kind): (&'static [u8], &str) = match file.as_str() {
        "htmx.min.js" => (
            include_bytes!("../../static/htmx.min.js"),
            "text/javascript",
        ),
        "htmx.LICENSE.txt" => (
            include_bytes!("../../static/htmx.LICENSE.txt"),
            "text/plain; charset=utf-8",
        ),
        "style.css" => (include_bytes!("../../static/style.css"), "text/css"),
        _ => return (StatusCode::NOT_FOUND, "no such file").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// What a page may load: its own scripts and styles only (htmx, the style sheet), the inline
/// styles of mail bodies, images of this site (a mail's remote images — trackers — are not
/// loaded); never framed, forms posted here only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; \
    form-action 'self'; base-uri 'none'";

/// Renders a template, or answers 500 (logged) when it cannot.
pub(crate) fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
                (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page of the admin UI could not be rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// A redirect after a POST (303: the browser GETs `to`).
pub(crate) fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

/// A JSON value as one line of text for a table cell.
pub(crate) fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// Escapes `text` for a URL query value.
pub(crate) fn query_value(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
