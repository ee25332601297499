//! The pages about mail: records by model and a record's thread as chatter (messages,
//! attachments, who was notified, the red envelope of a failed notification, the box to post,
//! the followers); the failures; the outbox with retry and cancel; route explain; the raw
//! messages with their source; the dashboard's counts.

use super::auth::Session;
use super::forms::CsrfForm;
use super::pages::{ListQuery, Row, not_found, rows};
use super::{Nav, Ui, cell, query_value, render, see_other};
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::Value;
use std::collections::HashMap;

/// The routes; a message to explain may be as large as a message the gateway takes.
pub(crate) fn routes(max_message_size: usize) -> Router<Ui> {
    let explain = get(explain_page)
        .post(explain)
        .layer(axum::extract::DefaultBodyLimit::max(
            max_message_size + 64 * 1024,
        ));
    Router::new()
        .route("/records", get(records))
        .route("/records/{id}", get(record))
        .route("/records/{id}/messages", post(post_message))
        .route("/records/{id}/followers", post(add_follower))
        .route(
            "/records/{id}/followers/{partner}/remove",
            post(remove_follower),
        )
        .route("/attachments/{id}", get(attachment))
        .route("/failures", get(failures))
        .route("/outbox", get(outbox))
        .route("/outbox/{id}/{action}", post(outbox_action))
        .route("/explain", explain)
        .route("/explain/outgoing", post(explain_outgoing))
        .route("/raw-messages", get(raw_messages))
        .route("/raw-messages/{id}", get(raw_message))
        .route("/raw-messages/{id}/retry", post(retry_raw))
}

#[derive(Template)]
#[template(path = "ui/records.html")]
struct RecordsPage {
    nav: Nav,
    models: Vec<String>,
    model: String,
    q: String,
    rows: Vec<Row>,
    next: String,
}

#[derive(serde::Deserialize, Default)]
struct RecordsQuery {
    #[serde(default)]
    model: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    cursor: String,
}

async fn records(
    State(ui): State<Ui>,
    session: Session,
    Query(q): Query<RecordsQuery>,
) -> Response {
    let models = ui.api(Method::GET, "/models?limit=1000", None).await;
    let models = models.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| cell(&m["name"]))
        .collect();
    let mut path = format!("/records?limit=50&cursor={}", query_value(&q.cursor));
    if !q.model.is_empty() {
        path += &format!("&model={}", query_value(&q.model));
    }
    let search = q.q.trim();
    if !search.is_empty() {
        let key = if search.contains('@') {
            "email_from"
        } else {
            "name"
        };
        path += &format!("&{key}={}", query_value(search));
    }
    let answer = ui.api(Method::GET, &path, None).await;
    let page = RecordsPage {
        nav: session.nav(&ui).await,
        models,
        model: q.model,
        q: q.q,
        rows: rows(&answer.body, RECORD_COLUMNS, "").0,
        next: cell(&answer.body["next_cursor"]),
    };
    render(&page)
}

const RECORD_COLUMNS: &[(&str, &str)] = &[
    ("name", "Name"),
    ("model", "Model"),
    ("email_from", "From"),
    ("message_bounce", "Bounces"),
    ("created_at", "Created"),
];

/// One message of a thread as the chatter shows it.
struct Chat {
    id: String,
    date: String,
    from: String,
    subject: String,
    kind: String,
    body: String,
    attachments: Vec<(String, String, bool)>,
    notified: Vec<Notified>,
}

/// One notification of a message: to whom, and its state (a red envelope when it failed).
struct Notified {
    name: String,
    status: String,
    failed: bool,
    failure: String,
}

#[derive(Template)]
#[template(path = "ui/record.html")]
struct RecordPage {
    nav: Nav,
    id: i64,
    name: String,
    facts: Vec<(&'static str, String)>,
    chats: Vec<Chat>,
    next: String,
    followers: Vec<(String, String, String)>,
    partners: Vec<(String, String)>,
    error: String,
}

async fn record(
    State(ui): State<Ui>,
    session: Session,
    Path(id): Path<i64>,
    Query(q): Query<ListQuery>,
) -> Response {
    record_page(&ui, &session, id, &q.cursor, String::new()).await
}

async fn record_page(ui: &Ui, session: &Session, id: i64, cursor: &str, error: String) -> Response {
    let record = ui.api(Method::GET, &format!("/records/{id}"), None).await;
    if record.status == StatusCode::NOT_FOUND {
        return not_found(ui, session).await;
    }
    let path = format!(
        "/records/{id}/messages?limit=50&cursor={}",
        query_value(cursor)
    );
    let messages = ui.api(Method::GET, &path, None).await;
    let followers = ui
        .api(Method::GET, &format!("/records/{id}/followers"), None)
        .await;
    let all = ui.api(Method::GET, "/partners?limit=200", None).await;
    let partners: Vec<(String, String)> = all.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (cell(&p["id"]), partner_label(p)))
        .collect();
    let names = notified_names(ui, &messages.body, &partners).await;
    let chats = messages.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| chat(m, &names))
        .collect();
    let followers = followers.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                cell(&f["partner_id"]),
                partner_label(f),
                cell(&f["subtypes"]),
            )
        })
        .collect();
    let page = RecordPage {
        nav: session.nav(ui).await,
        id,
        name: cell(&record.body["name"]),
        facts: [
            "model",
            "email_from",
            "email_cc",
            "message_bounce",
            "created_at",
            "values",
        ]
        .into_iter()
        .map(|k| (k, cell(&record.body[k])))
        .collect(),
        chats,
        next: cell(&messages.body["next_cursor"]),
        followers,
        partners,
        error,
    };
    render(&page)
}

/// The names of the partners notified of the messages of `page`: from `known`, else asked of
/// the API one by one (a page holds a few).
async fn notified_names(
    ui: &Ui,
    page: &Value,
    known: &[(String, String)],
) -> HashMap<String, String> {
    let mut names: HashMap<String, String> = known.iter().cloned().collect();
    let ids: std::collections::BTreeSet<String> = page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["notifications"].as_array().cloned().unwrap_or_default())
        .map(|n| cell(&n["partner_id"]))
        .filter(|id| !names.contains_key(id))
        .collect();
    for id in ids {
        let p = ui.api(Method::GET, &format!("/partners/{id}"), None).await;
        if p.status.is_success() {
            names.insert(id, partner_label(&p.body));
        }
    }
    names
}

fn partner_label(p: &Value) -> String {
    match p["email"].as_str() {
        Some(e) => format!("{} <{e}>", cell(&p["name"])),
        None => cell(&p["name"]),
    }
}

fn chat(m: &Value, names: &HashMap<String, String>) -> Chat {
    let body = postern_mime::sanitize_html(m["body_html"].as_str().unwrap_or_default())
        .replace("/api/v1/attachments/", "/attachments/");
    let attachments = m["attachments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let image = a["mimetype"].as_str().unwrap_or("").starts_with("image/");
            (cell(&a["id"]), cell(&a["filename"]), image)
        })
        .collect();
    let notified = m["notifications"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            let status = cell(&n["status"]);
            let pid = cell(&n["partner_id"]);
            Notified {
                name: names.get(&pid).cloned().unwrap_or(pid),
                failed: status == "bounce" || status == "exception",
                failure: [cell(&n["failure_type"]), cell(&n["failure_reason"])]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(": "),
                status,
            }
        })
        .collect();
    Chat {
        id: cell(&m["id"]),
        date: cell(&m["date"]),
        from: cell(&m["email_from"]),
        subject: cell(&m["subject"]),
        kind: format!("{} {}", cell(&m["message_type"]), cell(&m["subtype"])),
        body,
        attachments,
        notified,
    }
}

async fn post_message(State(ui): State<Ui>, Path(id): Path<i64>, form: CsrfForm) -> Response {
    let mut body = serde_json::json!({
        "body_text": form.get("body").unwrap_or_default(),
        "subtype": if form.get("subtype") == Some("note") { "note" } else { "comment" },
    });
    if let Some(s) = form.get("subject").filter(|s| !s.trim().is_empty()) {
        body["subject"] = s.trim().into();
    }
    let path = format!("/records/{id}/messages");
    on_record(&ui, &form, id, Method::POST, &path, Some(&body)).await
}

async fn add_follower(State(ui): State<Ui>, Path(id): Path<i64>, form: CsrfForm) -> Response {
    let partner: i64 = form
        .get("partner_id")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let body = serde_json::json!({ "partner_id": partner });
    let path = format!("/records/{id}/followers");
    on_record(&ui, &form, id, Method::POST, &path, Some(&body)).await
}

async fn remove_follower(
    State(ui): State<Ui>,
    Path((id, partner)): Path<(i64, i64)>,
    form: CsrfForm,
) -> Response {
    let path = format!("/records/{id}/followers?partner_id={partner}");
    on_record(&ui, &form, id, Method::DELETE, &path, None).await
}

/// A change of record `id` through the API: back to the record's page, with the API's error
/// when it refused.
async fn on_record(
    ui: &Ui,
    form: &CsrfForm,
    id: i64,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Response {
    match ui.api(method, path, body).await.error() {
        None => see_other(&format!("/records/{id}")),
        Some(e) => record_page(ui, &form.session, id, "", e).await,
    }
}

/// An attachment, for a signed-in browser (the API wants its token).
async fn attachment(State(ui): State<Ui>, _: Session, Path(id): Path<i64>) -> Response {
    let mut r = ui
        .api_response(Method::GET, &format!("/attachments/{id}"), None)
        .await;
    // Shown as a download unless it is an image (never as a page of this site).
    let inline = r
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("image/") && !t.contains("svg"));
    if !inline && let Ok(v) = "attachment".parse() {
        r.headers_mut()
            .insert(axum::http::header::CONTENT_DISPOSITION, v);
    }
    r
}

#[derive(Template)]
#[template(path = "ui/failures.html")]
struct FailuresPage {
    nav: Nav,
    chats: Vec<(String, Chat)>,
    next: String,
}

async fn failures(State(ui): State<Ui>, session: Session, Query(q): Query<ListQuery>) -> Response {
    let path = format!("/failures?limit=50&cursor={}", query_value(&q.cursor));
    let answer = ui.api(Method::GET, &path, None).await;
    let names = HashMap::new();
    let chats = answer.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| (cell(&m["record_id"]), chat(m, &names)))
        .collect();
    let page = FailuresPage {
        nav: session.nav(&ui).await,
        chats,
        next: cell(&answer.body["next_cursor"]),
    };
    render(&page)
}

#[derive(Template)]
#[template(path = "ui/outbox.html")]
struct OutboxPage {
    nav: Nav,
    state: String,
    rows: Vec<Row>,
    next: String,
    error: String,
}

#[derive(serde::Deserialize, Default)]
struct OutboxQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    cursor: String,
}

async fn outbox(State(ui): State<Ui>, session: Session, Query(q): Query<OutboxQuery>) -> Response {
    outbox_page(&ui, &session, q, String::new()).await
}

async fn outbox_page(ui: &Ui, session: &Session, q: OutboxQuery, error: String) -> Response {
    let mut path = format!("/mail?limit=50&cursor={}", query_value(&q.cursor));
    if !q.state.is_empty() {
        path += &format!("&state={}", query_value(&q.state));
    }
    let answer = ui.api(Method::GET, &path, None).await;
    let columns = &[
        ("state", ""),
        ("to", ""),
        ("subject", ""),
        ("server", ""),
        ("next_try_at", ""),
        ("attempts", ""),
        ("failure_reason", ""),
        ("waiting_reason", ""),
    ];
    let page = OutboxPage {
        nav: session.nav(ui).await,
        state: q.state,
        rows: rows(&answer.body, columns, "").0,
        next: cell(&answer.body["next_cursor"]),
        error: answer.error().unwrap_or(error),
    };
    render(&page)
}

async fn outbox_action(
    State(ui): State<Ui>,
    Path((id, action)): Path<(i64, String)>,
    form: CsrfForm,
) -> Response {
    if action != "retry" && action != "cancel" {
        return not_found(&ui, &form.session).await;
    }
    let answer = ui
        .api(Method::POST, &format!("/mail/{id}/{action}"), None)
        .await;
    match answer.error() {
        None => see_other("/outbox"),
        Some(e) => outbox_page(&ui, &form.session, OutboxQuery::default(), e).await,
    }
}

#[derive(Template)]
#[template(path = "ui/explain.html")]
struct ExplainPage {
    nav: Nav,
    message: String,
    rcpt: String,
    outcome: String,
    routes: Vec<String>,
    trace: Vec<String>,
    error: String,
    from: String,
    outgoing: Vec<(&'static str, String)>,
}

impl ExplainPage {
    fn empty(nav: Nav) -> ExplainPage {
        ExplainPage {
            nav,
            message: String::new(),
            rcpt: String::new(),
            outcome: String::new(),
            routes: Vec::new(),
            trace: Vec::new(),
            error: String::new(),
            from: String::new(),
            outgoing: Vec::new(),
        }
    }
}

async fn explain_page(State(ui): State<Ui>, session: Session) -> Response {
    render(&ExplainPage::empty(session.nav(&ui).await))
}

/// An outgoing mail from the form's `from`: which server and From it would use, and why.
async fn explain_outgoing(State(ui): State<Ui>, form: CsrfForm) -> Response {
    let from = form.get("from").unwrap_or_default().trim().to_owned();
    let stream = form.get("stream").unwrap_or("transactional");
    let body = serde_json::json!({ "from": from, "stream": stream });
    let answer = ui.api(Method::POST, "/mail/explain", Some(&body)).await;
    let mut page = ExplainPage::empty(form.session.nav(&ui).await);
    page.outgoing = match answer.error() {
        Some(e) => vec![("error", e)],
        None => ["server", "why", "header_from", "mail_from", "error"]
            .into_iter()
            .map(|k| (k, cell(&answer.body[k])))
            .filter(|(_, v)| !v.is_empty())
            .collect(),
    };
    page.from = from;
    render(&page)
}

/// Route explain of a pasted or uploaded message (a multipart form: `csrf`, `rcpt`, `message`,
/// `file`): the API's decision and trace; nothing is stored.
async fn explain(
    State(ui): State<Ui>,
    session: Session,
    mut form: axum::extract::Multipart,
) -> Response {
    let (mut fields, mut file) = (Vec::new(), Vec::new());
    while let Ok(Some(part)) = form.next_field().await {
        let name = part.name().unwrap_or_default().to_owned();
        let Ok(bytes) = part.bytes().await else {
            break;
        };
        match name.as_str() {
            "file" => file = bytes.to_vec(),
            _ => fields.push((name, String::from_utf8_lossy(&bytes).into_owned())),
        }
    }
    let given = super::forms::field(&fields, "csrf").unwrap_or_default();
    if !crate::constant_time_eq(given.as_bytes(), session.csrf.as_bytes()) {
        return super::forms::csrf_refused();
    }
    let pasted = super::forms::field(&fields, "message").unwrap_or_default();
    let message = match file.is_empty() {
        true => pasted.replace("\r\n", "\n").replace('\n', "\r\n"),
        false => String::from_utf8_lossy(&file).into_owned(),
    };
    let rcpt = super::forms::field(&fields, "rcpt")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let mut path = "/route/explain".to_owned();
    let rcpts: Vec<&str> = rcpt.split([',', ' ']).filter(|r| !r.is_empty()).collect();
    for (i, r) in rcpts.iter().enumerate() {
        path += if i == 0 { "?" } else { "&" };
        path += &format!("rcpt={}", query_value(r));
    }
    let answer = ui
        .api_raw(
            Method::POST,
            &path,
            Some((message.clone(), "message/rfc822")),
        )
        .await;
    let lines = |key: &str| -> Vec<String> {
        answer.body[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(cell)
            .collect()
    };
    let error = match answer.body["outcome"].is_string() {
        true => String::new(),
        false => answer.error().unwrap_or_default(),
    };
    let mut page = ExplainPage::empty(session.nav(&ui).await);
    page.outcome = cell(&answer.body["outcome"]);
    page.routes = answer.body["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(Value::to_string)
        .collect();
    page.trace = lines("trace");
    page.message = message.replace("\r\n", "\n");
    page.rcpt = rcpt;
    page.error = error;
    render(&page)
}

#[derive(Template)]
#[template(path = "ui/raw.html")]
struct RawPage {
    nav: Nav,
    status: String,
    rows: Vec<Row>,
    next: String,
}

#[derive(serde::Deserialize, Default)]
struct RawQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    cursor: String,
}

async fn raw_messages(
    State(ui): State<Ui>,
    session: Session,
    Query(q): Query<RawQuery>,
) -> Response {
    let mut path = format!("/raw-messages?limit=50&cursor={}", query_value(&q.cursor));
    if !q.status.is_empty() {
        path += &format!("&status={}", query_value(&q.status));
    }
    let answer = ui.api(Method::GET, &path, None).await;
    let columns = &[
        ("received_at", ""),
        ("source", ""),
        ("envelope_sender", ""),
        ("header_message_id", ""),
        ("status", ""),
        ("error", ""),
    ];
    let page = RawPage {
        nav: session.nav(&ui).await,
        status: q.status,
        rows: rows(&answer.body, columns, "").0,
        next: cell(&answer.body["next_cursor"]),
    };
    render(&page)
}

#[derive(Template)]
#[template(path = "ui/raw_one.html")]
struct RawOne {
    nav: Nav,
    id: i64,
    pieces: Vec<(String, bool)>,
    outcome: String,
    trace: Vec<String>,
}

/// A raw message's source, its links clickable (a provider's "confirm this forwarding
/// address" mail).
async fn raw_message(State(ui): State<Ui>, session: Session, Path(id): Path<i64>) -> Response {
    raw_page(&ui, &session, id, String::new(), Vec::new()).await
}

/// Retry: the raw message taken again through the gateway (the API's); its outcome and trace.
async fn retry_raw(State(ui): State<Ui>, Path(id): Path<i64>, form: CsrfForm) -> Response {
    let path = format!("/raw-messages/{id}/retry");
    let answer = ui.api(Method::POST, &path, None).await;
    let outcome = match answer.body["outcome"].as_str() {
        Some(o) => format!("taken again: {o}"),
        None => answer.error().unwrap_or_default(),
    };
    let trace = answer.body["trace"]
        .as_array()
        .into_iter()
        .flatten()
        .map(cell)
        .collect();
    raw_page(&ui, &form.session, id, outcome, trace).await
}

async fn raw_page(
    ui: &Ui,
    session: &Session,
    id: i64,
    outcome: String,
    trace: Vec<String>,
) -> Response {
    let r = ui
        .api_response(Method::GET, &format!("/raw-messages/{id}/content"), None)
        .await;
    if r.status() == StatusCode::NOT_FOUND {
        return not_found(ui, session).await;
    }
    let bytes = axum::body::to_bytes(r.into_body(), 64 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let page = RawOne {
        nav: session.nav(ui).await,
        id,
        pieces: links(&String::from_utf8_lossy(&bytes)),
        outcome,
        trace,
    };
    render(&page)
}

/// `text` cut into pieces, each an `http(s)://` link (`true`) or not.
fn links(text: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest
        .find("http://")
        .into_iter()
        .chain(rest.find("https://"))
        .min()
    {
        let end = rest[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '<' | '>' | '\''))
            .map_or(rest.len(), |e| start + e);
        out.push((rest[..start].to_owned(), false));
        out.push((rest[start..end].to_owned(), true));
        rest = &rest[end..];
    }
    out.push((rest.to_owned(), false));
    out
}

/// The dashboard's figures: mail in and out over the last hour and day, the queue's age, the
/// outbox by state, the raw messages that failed.
pub(crate) async fn dashboard_counts(ui: &Ui) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let now = postern_store::now_ms();
    if let Ok(mut tx) = ui.app.store.read().await {
        if let Ok(a) = tx.activity(now).await {
            out.push((
                "received in the last hour".into(),
                a.received_hour.to_string(),
            ));
            out.push(("received today (24 h)".into(), a.received_day.to_string()));
            out.push(("sent in the last hour".into(), a.sent_hour.to_string()));
            out.push(("sent today (24 h)".into(), a.sent_day.to_string()));
            let age = a.oldest_outgoing_at.map_or("none".into(), |t| {
                format!("{} min", (now - t).max(0) / 60_000)
            });
            out.push(("oldest mail waiting".into(), age));
        }
        if let Ok(counts) = tx.mail_counts().await {
            for (state, n) in counts {
                out.push((format!("mails {state}"), n.to_string()));
            }
        }
    }
    let failed = ui
        .api(Method::GET, "/raw-messages?status=failed&limit=100", None)
        .await;
    let n = failed.body["items"].as_array().map_or(0, Vec::len);
    out.push(("raw messages failed".into(), n.to_string()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_found() {
        let p = links("Click https://x.example/confirm?a=1 now\n<http://y.example>");
        let found: Vec<&str> = p
            .iter()
            .filter(|(_, l)| *l)
            .map(|(t, _)| t.as_str())
            .collect();
        assert_eq!(found, ["https://x.example/confirm?a=1", "http://y.example"]);
        let whole: String = p.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            whole,
            "Click https://x.example/confirm?a=1 now\n<http://y.example>"
        );
    }
}
