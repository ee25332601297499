//! The params page: each param the gateway reads, with its meaning, its default and the value
//! set, and a form to set one (through the API's `PUT /params/{key}`, whose checks answer).

use super::auth::Session;
use super::forms::CsrfForm;
use super::{Nav, Ui, cell, query_value, render};
use askama::Template;
use axum::extract::State;
use axum::http::Method;
use axum::response::Response;

#[derive(Template)]
#[template(path = "ui/params.html")]
struct ParamsPage {
    nav: Nav,
    params: Vec<ParamRow>,
    error: String,
    notice: String,
}

struct ParamRow {
    key: &'static str,
    meaning: &'static str,
    default: &'static str,
    value: String,
}

/// The params the gateway reads, their meaning and default (DESIGN.md, docs/configuration.md).
const PARAMS: &[(&str, &str, &str)] = &[
    (
        "mail.gateway.loop.minutes",
        "the window of the per-sender rate limit, in minutes",
        "120",
    ),
    (
        "mail.gateway.loop.threshold",
        "records one sender may create in that window",
        "20",
    ),
    (
        "mail.catchall.domain.allowed",
        "domains whose mail to the catchall is accepted (comma-separated)",
        "(any)",
    ),
    (
        "mail.default.from_filter",
        "the from-filter of servers without one: mail whose From is outside it is sent from the default From",
        "(none)",
    ),
    (
        "postern.fetch.max_failures",
        "tries of one fetched message before it is kept as unprocessable",
        "3",
    ),
    (
        "postern.fetch.disable_after_hours",
        "hours of failures in a row before an incoming server is disabled",
        "120",
    ),
    (
        "postern.bounce.soft_limit",
        "soft bounces of an address within the window that suppress it",
        "5",
    ),
    (
        "postern.bounce.soft_window_days",
        "the window of those soft bounces, in days",
        "7",
    ),
    (
        "postern.retention.raw_days",
        "days the bytes of a processed raw original are kept (0: for ever)",
        "30",
    ),
    (
        "postern.retention.mail_days",
        "days a sent or cancelled mail stays in the outbox (0: for ever)",
        "30",
    ),
    (
        "postern.retention.fetch_failure_days",
        "days a fetch failure is remembered (0: for ever)",
        "30",
    ),
    (
        "postern.retention.unprocessable_days",
        "days a failed or unprocessable raw message is kept (0: for ever)",
        "90",
    ),
    (
        "postern.subject_token",
        "notifications end their subject with a signed [#ref], which threads replies that lost every header",
        "false",
    ),
];

pub(crate) async fn params(State(ui): State<Ui>, session: Session) -> Response {
    params_page(&ui, &session, String::new(), String::new()).await
}

async fn params_page(ui: &Ui, session: &Session, error: String, notice: String) -> Response {
    let answer = ui.api(Method::GET, "/params", None).await;
    let set = answer.body["items"].as_array().cloned().unwrap_or_default();
    let value = |key: &str| {
        set.iter()
            .find(|p| p["key"] == key)
            .map(|p| cell(&p["value"]))
            .unwrap_or_default()
    };
    let page = ParamsPage {
        nav: session.nav(ui).await,
        params: PARAMS
            .iter()
            .map(|(key, meaning, default)| ParamRow {
                key,
                meaning,
                default,
                value: value(key),
            })
            .collect(),
        error,
        notice,
    };
    render(&page)
}

pub(crate) async fn set_param(State(ui): State<Ui>, form: CsrfForm) -> Response {
    let key = form.get("key").unwrap_or_default();
    let value = form.get("value").unwrap_or_default();
    let body = serde_json::json!({ "value": value });
    let answer = ui
        .api(
            Method::PUT,
            &format!("/params/{}", query_value(key)),
            Some(&body),
        )
        .await;
    match answer.error() {
        None => params_page(&ui, &form.session, String::new(), format!("{key} saved.")).await,
        Some(m) => params_page(&ui, &form.session, m, String::new()).await,
    }
}
