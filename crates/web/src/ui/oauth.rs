//! The end of Connect in the admin UI: `/oauth/callback`, where the provider sends the browser
//! back with a code (or why not). Behind the session, as every page; the code goes to the API
//! (`POST /api/v1/oauth/callback`), which checks the `state` and keeps the grant.

use super::forms::FieldErrors;
use super::pages::{item_page, spec};
use super::{Nav, Ui, render};
use crate::ui::auth::Session;
use askama::Template;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(Template)]
#[template(path = "ui/oauth.html")]
pub(super) struct OAuthPage {
    pub(super) nav: Nav,
    pub(super) message: String,
    /// The provider's page (Connect started), a link: the UI's `form-action 'self'` keeps a
    /// form's answer from redirecting to another site.
    pub(super) link: Option<String>,
}

/// What the provider sent back to `/oauth/callback` (a code, or why not).
#[derive(serde::Deserialize)]
pub(super) struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The end of Connect: the provider's answer goes to the API, which keeps the grant; the
/// server's page says it is connected. Behind the session, as every page.
pub(super) async fn callback(
    State(ui): State<Ui>,
    session: Session,
    axum::extract::Query(q): axum::extract::Query<CallbackQuery>,
) -> Response {
    let answer = match (&q.state, &q.code, &q.error) {
        (Some(state), Some(code), None) => {
            let body = serde_json::json!({"state": state, "code": code});
            ui.api(Method::POST, "/oauth/callback", Some(&body)).await
        }
        _ => {
            let why = [q.error.as_deref(), q.error_description.as_deref()]
                .into_iter()
                .flatten()
                .map(|t| t.chars().filter(|c| !c.is_control()).take(300).collect())
                .collect::<Vec<String>>()
                .join(": ");
            let message = format!("The provider did not grant access ({why}).");
            let page = OAuthPage {
                nav: session.nav(&ui).await,
                message,
                link: None,
            };
            return (StatusCode::BAD_REQUEST, render(&page)).into_response();
        }
    };
    let kind = answer.body["server"]["kind"].as_str().and_then(spec);
    match (answer.error(), kind, answer.body["server"]["id"].as_i64()) {
        (None, Some(spec), Some(id)) => {
            let notice = "Connected: Postern logs in with OAuth and refreshes the token itself.";
            item_page(
                &ui,
                &session,
                spec,
                id,
                None,
                FieldErrors::default(),
                notice,
                None,
            )
            .await
        }
        (error, _, _) => {
            let message = error.unwrap_or_else(|| "Connect failed.".into());
            let page = OAuthPage {
                nav: session.nav(&ui).await,
                message,
                link: None,
            };
            (answer.status, render(&page)).into_response()
        }
    }
}
