//! The configuration pages: one generic list, form and item page for every resource of the
//! API's `resources` module (alias domains, companies, models, aliases, partners, outgoing and
//! incoming servers, webhooks), each described by a [`Spec`]; their buttons (Test Connection,
//! Fetch now); the dashboard (the params are in `params`).

use super::auth::Session;
use super::forms::{CsrfForm, Field, FieldErrors, Kind, Shown, shown, to_json};
use super::{Nav, Ui, cell, query_value, render, see_other};
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

/// A resource of the configuration as the UI shows it.
pub(crate) struct Spec {
    /// Its path, in the UI and below `/api/v1`.
    pub(crate) kind: &'static str,
    pub(crate) title: &'static str,
    /// "alias domain".
    pub(crate) one: &'static str,
    /// What it is, in a sentence.
    pub(crate) intro: &'static str,
    pub(crate) fields: &'static [Field],
    /// The list's columns: the item's JSON key and its heading.
    pub(crate) columns: &'static [(&'static str, &'static str)],
    /// Buttons of an item: the API action below the item's path and its label.
    pub(crate) actions: &'static [(&'static str, &'static str)],
}

const fn f(name: &'static str, label: &'static str, kind: Kind, help: &'static str) -> Field {
    Field {
        name,
        label,
        kind,
        help,
    }
}

const SERVER_KIND: Kind = Kind::Select(&["", "relay", "mx"]);

const ENCRYPTION: Kind = Kind::Select(&[
    "",
    "none",
    "starttls",
    "ssl",
    "starttls_strict",
    "ssl_strict",
]);

/// Every resource with pages.
pub(crate) const SPECS: &[Spec] = &[
    Spec {
        kind: "alias-domains",
        title: "Alias domains",
        one: "alias domain",
        intro: "A mail domain with its bounce and catchall addresses and the default From.",
        fields: &[
            f("name", "Domain", Kind::Text, "e.g. example.com"),
            f(
                "bounce_alias",
                "Bounce alias",
                Kind::Text,
                "default: bounce",
            ),
            f(
                "catchall_alias",
                "Catchall alias",
                Kind::Text,
                "default: catchall",
            ),
            f(
                "default_from",
                "Default from",
                Kind::Text,
                "a local part or a full address; default: notifications",
            ),
            f(
                "sequence",
                "Sequence",
                Kind::Number,
                "lowest first; default 10",
            ),
            f(
                "verp",
                "VERP return path",
                Kind::Bool(true),
                "bounce+<token>@: a bounce names its mail and recipient; off for relays that refuse +",
            ),
        ],
        columns: &[
            ("name", "Domain"),
            ("catchall_email", "Catchall"),
            ("bounce_email", "Bounce"),
            ("default_from_email", "Default from"),
            ("sequence", "Sequence"),
        ],
        actions: &[("dns", "Check DNS"), ("dkim-keys", "Make a DKIM key")],
    },
    Spec {
        kind: "companies",
        title: "Companies",
        one: "company",
        intro: "A company owns an alias domain; the first one is the gateway's own.",
        fields: &[
            f("name", "Name", Kind::Text, ""),
            f("email", "Email", Kind::Text, ""),
            f(
                "alias_domain",
                "Alias domain",
                Kind::Text,
                "default: the alias domain of lowest sequence",
            ),
        ],
        columns: &[
            ("name", "Name"),
            ("email", "Email"),
            ("alias_domain", "Alias domain"),
        ],
        actions: &[],
    },
    Spec {
        kind: "aliases",
        title: "Aliases",
        one: "alias",
        intro: "Mail to an alias creates a record of its model (or posts on a forced record).",
        fields: &[
            f(
                "alias_name",
                "Alias name",
                Kind::Text,
                "the local part, e.g. sales",
            ),
            f(
                "alias_domain",
                "Alias domain",
                Kind::Text,
                "e.g. localhost; empty: any domain",
            ),
            f("model", "Model", Kind::Text, "e.g. crm.lead"),
            f(
                "contact",
                "Who may write",
                Kind::Select(&["", "everyone", "partners", "followers"]),
                "default: everyone",
            ),
            f(
                "defaults",
                "Defaults",
                Kind::Json,
                "values of new records, a JSON object",
            ),
            f(
                "force_thread_id",
                "Forced record",
                Kind::Number,
                "post every mail on this record",
            ),
            f(
                "incoming_local",
                "Match on the local part alone",
                Kind::Bool(false),
                "",
            ),
            f(
                "bounced_content",
                "Refusal text",
                Kind::Area,
                "sent back to refused senders",
            ),
            f(
                "refuse_untrusted",
                "Refuse untrusted senders",
                Kind::Bool(false),
                "a From that fails DMARC is refused (550 5.7.26 over SMTP)",
            ),
        ],
        columns: &[
            ("alias_full_name", "Alias"),
            ("model", "Model"),
            ("contact", "Contact"),
            ("status", "Status"),
        ],
        actions: &[],
    },
    Spec {
        kind: "models",
        title: "Models",
        one: "model",
        intro: "Kinds of records; declared on first use or here.",
        fields: &[
            f("name", "Name", Kind::Text, "e.g. helpdesk.ticket"),
            f("description", "Description", Kind::Text, ""),
        ],
        columns: &[("name", "Name"), ("description", "Description")],
        actions: &[],
    },
    Spec {
        kind: "partners",
        title: "Partners",
        one: "partner",
        intro: "Contacts; users are internal partners notified by email or in the inbox.",
        fields: &[
            f("name", "Name", Kind::Text, ""),
            f("email", "Email", Kind::Text, ""),
            f("user", "Internal user", Kind::Bool(false), ""),
            f(
                "notification",
                "Notification",
                Kind::Select(&["", "email", "inbox"]),
                "for users",
            ),
            f("company", "Company", Kind::Text, ""),
            f("active", "Active", Kind::Bool(true), ""),
        ],
        columns: &[
            ("name", "Name"),
            ("email", "Email"),
            ("user", "User"),
            ("message_bounce", "Bounces"),
            ("active", "Active"),
        ],
        actions: &[],
    },
    Spec {
        kind: "outgoing-servers",
        title: "Outgoing servers",
        one: "outgoing server",
        intro: "SMTP relays, or direct delivery to the recipients' MX hosts (kind mx); a mail goes through the first by sequence whose from-filter matches its From.",
        fields: &[
            f("name", "Name", Kind::Text, ""),
            f(
                "kind",
                "Kind",
                SERVER_KIND,
                "relay (default), or mx: direct delivery to each recipient domain's MX hosts (port 25 outward is often blocked)",
            ),
            f("host", "Host", Kind::Text, "a relay's; not used by mx"),
            f("port", "Port", Kind::Number, "default 25 (465 for ssl)"),
            f("encryption", "Encryption", ENCRYPTION, "default none"),
            f("username", "Username", Kind::Text, ""),
            f(
                "password",
                "Password",
                Kind::Secret,
                "write-only; empty keeps it",
            ),
            f(
                "password_env",
                "Password from variable",
                Kind::Text,
                "name of an environment variable",
            ),
            f(
                "from_filter",
                "From filter",
                Kind::Text,
                "a domain or an address",
            ),
            f(
                "sequence",
                "Sequence",
                Kind::Number,
                "lowest first; default 10",
            ),
            f("active", "Active", Kind::Bool(true), ""),
            f(
                "connections_per_domain",
                "Connections per domain",
                Kind::Number,
                "mx: open at once to one destination domain; default 2",
            ),
            f(
                "limit_per_second",
                "Limit per second",
                Kind::Number,
                "mails over a limit wait; empty: no limit",
            ),
            f("limit_per_hour", "Limit per hour", Kind::Number, ""),
            f("limit_per_day", "Limit per day", Kind::Number, ""),
        ],
        columns: &[
            ("name", "Name"),
            ("kind", "Kind"),
            ("host", "Host"),
            ("port", "Port"),
            ("encryption", "Encryption"),
            ("from_filter", "From filter"),
            ("sequence", "Sequence"),
            ("active", "Active"),
        ],
        actions: &[("test", "Test Connection"), ("connect", "Connect")],
    },
    Spec {
        kind: "incoming-servers",
        title: "Incoming servers",
        one: "incoming server",
        intro: "IMAP and POP3 mailboxes polled for mail.",
        fields: &[
            f("name", "Name", Kind::Text, ""),
            f(
                "protocol",
                "Protocol",
                Kind::Select(&["", "imap", "pop3"]),
                "default imap",
            ),
            f("host", "Host", Kind::Text, ""),
            f(
                "port",
                "Port",
                Kind::Number,
                "default by protocol and encryption",
            ),
            f("encryption", "Encryption", ENCRYPTION, "default ssl"),
            f("username", "Username", Kind::Text, ""),
            f(
                "password",
                "Password",
                Kind::Secret,
                "write-only; empty keeps it",
            ),
            f("password_env", "Password from variable", Kind::Text, ""),
            f(
                "model",
                "Model",
                Kind::Text,
                "records for mail no alias or thread claims",
            ),
            f("interval", "Interval", Kind::Text, "e.g. 5m"),
            f("active", "Active", Kind::Bool(true), ""),
        ],
        columns: &[
            ("name", "Name"),
            ("protocol", "Protocol"),
            ("host", "Host"),
            ("active", "Active"),
            ("last_success_at", "Last success"),
            ("last_error", "Last error"),
        ],
        actions: &[("fetch", "Fetch now"), ("connect", "Connect")],
    },
    Spec {
        kind: "webhooks",
        title: "Webhooks",
        one: "webhook",
        intro: "Endpoints told of events, signed (Standard Webhooks) and retried for a day.",
        fields: &[
            f("name", "Name", Kind::Text, ""),
            f("url", "URL", Kind::Text, "http or https"),
            f(
                "events",
                "Events",
                Kind::List,
                "comma-separated, e.g. record.created, message.received",
            ),
            f("description", "Description", Kind::Text, ""),
            f(
                "secret",
                "Secret",
                Kind::Secret,
                "empty: one is generated (shown once)",
            ),
            f("active", "Active", Kind::Bool(true), ""),
        ],
        columns: &[
            ("name", "Name"),
            ("url", "URL"),
            ("events", "Events"),
            ("active", "Active"),
        ],
        actions: &[],
    },
];

pub(super) fn spec(kind: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.kind == kind)
}

fn names(spec: &Spec) -> Vec<&'static str> {
    spec.fields.iter().map(|f| f.name).collect()
}

/// The pages of every resource at their own paths (a `/{kind}` route would also catch the
/// API's unknown paths, which must answer the API's 404).
pub(crate) fn routes() -> Router<Ui> {
    let mut r = Router::new()
        .route("/", get(dashboard))
        .route(
            "/params",
            get(super::params::params).post(super::params::set_param),
        )
        .route(
            "/webhooks/{id}/deliveries/{delivery}/retry",
            post(retry_delivery),
        )
        .route("/oauth/callback", get(super::oauth::callback));
    for s in SPECS {
        let k = s.kind;
        r = r
            .route(&format!("/{k}"), get(list).post(create))
            .route(&format!("/{k}/{{id}}"), get(item).post(update))
            .route(&format!("/{k}/{{id}}/delete"), post(delete))
            .route(&format!("/{k}/{{id}}/{{action}}"), post(action));
    }
    r
}

/// The resource of a request's path (its first segment).
struct KindOf(&'static Spec);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for KindOf {
    type Rejection = StatusCode;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, StatusCode> {
        let first = parts.uri.path().trim_start_matches('/').split('/').next();
        first
            .and_then(spec)
            .map(KindOf)
            .ok_or(StatusCode::NOT_FOUND)
    }
}

/// A row of a list: the item's id and its cells.
pub(crate) struct Row {
    pub(crate) id: String,
    pub(crate) cells: Vec<String>,
}

#[derive(Template)]
#[template(path = "ui/resource.html")]
struct ListPage {
    nav: Nav,
    spec: &'static Spec,
    rows: Vec<Row>,
    q: String,
    next: String,
    form: Vec<Shown>,
    form_error: String,
    created: String,
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct ListQuery {
    #[serde(default)]
    pub(crate) q: String,
    #[serde(default)]
    pub(crate) cursor: String,
}

/// Items of the API's page `answer` whose cells contain `q` (case-insensitive), and the cursor
/// of the next page.
pub(crate) fn rows(answer: &Value, columns: &[(&str, &str)], q: &str) -> (Vec<Row>, String) {
    let q = q.trim().to_lowercase();
    let rows = answer["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| Row {
            id: cell(&item["id"]),
            cells: columns.iter().map(|(k, _)| cell(&item[*k])).collect(),
        })
        .filter(|r| q.is_empty() || r.cells.iter().any(|c| c.to_lowercase().contains(&q)))
        .collect();
    (rows, cell(&answer["next_cursor"]))
}

async fn list(
    State(ui): State<Ui>,
    session: Session,
    KindOf(spec): KindOf,
    Query(q): Query<ListQuery>,
) -> Response {
    list_page(
        &ui,
        &session,
        spec,
        &q,
        &Value::Null,
        FieldErrors::default(),
        "",
    )
    .await
}

async fn list_page(
    ui: &Ui,
    session: &Session,
    spec: &'static Spec,
    q: &ListQuery,
    values: &Value,
    errors: FieldErrors,
    created: &str,
) -> Response {
    let path = format!("/{}?limit=100&cursor={}", spec.kind, query_value(&q.cursor));
    let answer = ui.api(Method::GET, &path, None).await;
    let (rows, next) = rows(&answer.body, spec.columns, &q.q);
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = ListPage {
        nav: session.nav(ui).await,
        spec,
        rows,
        q: q.q.clone(),
        next,
        form: shown(spec.fields, values, &errors),
        form_error: errors.of(""),
        created: created.to_owned(),
    };
    (status, render(&page)).into_response()
}

async fn create(State(ui): State<Ui>, KindOf(spec): KindOf, form: CsrfForm) -> Response {
    let kind = spec.kind;
    let q = ListQuery::default();
    let body = match to_json(spec.fields, &form, false) {
        Ok(b) => b,
        Err(errors) => {
            let values = echo(spec, &form);
            return list_page(&ui, &form.session, spec, &q, &values, errors, "").await;
        }
    };
    let answer = ui.api(Method::POST, &format!("/{kind}"), Some(&body)).await;
    match answer.error() {
        None => {
            // A generated webhook secret is shown once, here.
            let created = match answer.body["secret"].as_str() {
                Some(s) => format!("Created. Its secret (shown once): {s}"),
                None => format!("Created {} {}.", spec.one, cell(&answer.body["id"])),
            };
            list_page(
                &ui,
                &form.session,
                spec,
                &q,
                &Value::Null,
                FieldErrors::default(),
                &created,
            )
            .await
        }
        Some(message) => {
            let mut errors = FieldErrors::default();
            errors.api(&message, &names(spec));
            let values = echo(spec, &form);
            list_page(&ui, &form.session, spec, &q, &values, errors, "").await
        }
    }
}

/// What the user typed, to show again with the errors.
fn echo(spec: &Spec, form: &CsrfForm) -> Value {
    let mut v = serde_json::Map::new();
    for f in spec.fields {
        let raw = form.get(f.name).unwrap_or_default();
        let value = match f.kind {
            Kind::Bool(_) => Value::Bool(raw == "on"),
            _ => Value::String(raw.to_owned()),
        };
        v.insert(f.name.to_owned(), value);
    }
    Value::Object(v)
}

#[derive(Template)]
#[template(path = "ui/item.html")]
struct ItemPage {
    nav: Nav,
    spec: &'static Spec,
    id: i64,
    title: String,
    form: Vec<Shown>,
    form_error: String,
    notice: String,
    facts: Vec<(String, String)>,
    dns: Vec<(String, String, String)>,
    result: Option<ActionResult>,
    deliveries: Vec<Row>,
}

/// What a button (Test Connection, Fetch now) answered.
pub(crate) struct ActionResult {
    pub(crate) ok: bool,
    pub(crate) message: String,
    pub(crate) steps: Vec<(String, String)>,
}

async fn item(
    State(ui): State<Ui>,
    session: Session,
    KindOf(spec): KindOf,
    Path(id): Path<i64>,
) -> Response {
    item_page(
        &ui,
        &session,
        spec,
        id,
        None,
        FieldErrors::default(),
        "",
        None,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn item_page(
    ui: &Ui,
    session: &Session,
    spec: &'static Spec,
    id: i64,
    typed: Option<Value>,
    errors: FieldErrors,
    notice: &str,
    result: Option<ActionResult>,
) -> Response {
    let answer = ui
        .api(Method::GET, &format!("/{}/{id}", spec.kind), None)
        .await;
    if answer.status == StatusCode::NOT_FOUND {
        return not_found(ui, session).await;
    }
    let item = answer.body;
    let shown_fields: Vec<&str> = names(spec);
    let facts = match &item {
        Value::Object(m) => m
            .iter()
            .filter(|(k, _)| !shown_fields.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), cell(v)))
            .collect(),
        _ => Vec::new(),
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = ItemPage {
        nav: session.nav(ui).await,
        spec,
        id,
        title: cell(&item["name"]).max(cell(&item["alias_full_name"])),
        form: shown(spec.fields, typed.as_ref().unwrap_or(&item), &errors),
        form_error: errors.of(""),
        notice: notice.to_owned(),
        facts,
        dns: dns_records(ui, spec, id, &item).await,
        result,
        deliveries: deliveries(ui, spec, id).await,
    };
    (status, render(&page)).into_response()
}

/// A webhook's last deliveries (none for other resources).
async fn deliveries(ui: &Ui, spec: &Spec, id: i64) -> Vec<Row> {
    if spec.kind != "webhooks" {
        return Vec::new();
    }
    let path = format!("/webhooks/{id}/deliveries?limit=50");
    let answer = ui.api(Method::GET, &path, None).await;
    let columns = [
        ("created_at", ""),
        ("event_type", ""),
        ("state", ""),
        ("attempts", ""),
        ("last_status", ""),
        ("last_error", ""),
        ("next_try_at", ""),
    ];
    rows(&answer.body, &columns, "").0
}

/// Retry of a webhook delivery: due now, the same event (the API's replay).
async fn retry_delivery(
    State(ui): State<Ui>,
    Path((id, delivery)): Path<(i64, i64)>,
    form: CsrfForm,
) -> Response {
    let path = format!("/webhook-deliveries/{delivery}/retry");
    let answer = ui.api(Method::POST, &path, None).await;
    let spec = spec("webhooks").expect("the webhooks spec");
    let mut errors = FieldErrors::default();
    let notice = match answer.error() {
        None => "The delivery is due again.",
        Some(e) => {
            errors.add("", e);
            ""
        }
    };
    item_page(&ui, &form.session, spec, id, None, errors, notice, None).await
}

/// The DNS records to publish for an alias domain: SPF (DKIM once Postern signs).
/// The records an alias domain publishes: SPF, the TXT record of each DKIM key, DMARC (what
/// `Check DNS` finds is the check's own answer).
async fn dns_records(ui: &Ui, spec: &Spec, id: i64, item: &Value) -> Vec<(String, String, String)> {
    if spec.kind != "alias-domains" {
        return Vec::new();
    }
    let name = cell(&item["name"]);
    let mut records = vec![(
        format!("{name}."),
        "TXT".into(),
        "\"v=spf1 mx a ~all\" — add `include:` for each relay of your outgoing servers".into(),
    )];
    let keys = ui
        .api(Method::GET, &format!("/alias-domains/{id}/dkim-keys"), None)
        .await;
    for k in keys.body["items"].as_array().into_iter().flatten() {
        records.push((
            format!("{}.", cell(&k["name"])),
            "TXT".into(),
            cell(&k["txt"]),
        ));
    }
    records.push((
        format!("_dmarc.{name}."),
        "TXT".into(),
        "\"v=DMARC1; p=none\" — then quarantine or reject once reports are clean".into(),
    ));
    records
}

async fn update(
    State(ui): State<Ui>,
    KindOf(spec): KindOf,
    Path(id): Path<i64>,
    form: CsrfForm,
) -> Response {
    let kind = spec.kind;
    let body = match to_json(spec.fields, &form, true) {
        Ok(b) => b,
        Err(errors) => {
            let typed = Some(echo(spec, &form));
            return item_page(&ui, &form.session, spec, id, typed, errors, "", None).await;
        }
    };
    let answer = ui
        .api(Method::PATCH, &format!("/{kind}/{id}"), Some(&body))
        .await;
    let mut errors = FieldErrors::default();
    match answer.error() {
        None => item_page(&ui, &form.session, spec, id, None, errors, "Saved.", None).await,
        Some(message) => {
            errors.api(&message, &names(spec));
            let typed = Some(echo(spec, &form));
            item_page(&ui, &form.session, spec, id, typed, errors, "", None).await
        }
    }
}

async fn delete(
    State(ui): State<Ui>,
    KindOf(spec): KindOf,
    Path(id): Path<i64>,
    form: CsrfForm,
) -> Response {
    let kind = spec.kind;
    let answer = ui.api(Method::DELETE, &format!("/{kind}/{id}"), None).await;
    match answer.error() {
        None => see_other(&format!("/{kind}")),
        Some(message) => {
            let mut errors = FieldErrors::default();
            errors.add("", message);
            item_page(&ui, &form.session, spec, id, None, errors, "", None).await
        }
    }
}

/// Test Connection, Fetch now: the API's answer on the item's page.
async fn action(
    State(ui): State<Ui>,
    KindOf(spec): KindOf,
    Path((id, name)): Path<(i64, String)>,
    form: CsrfForm,
) -> Response {
    let kind = spec.kind;
    if !spec.actions.iter().any(|(a, _)| *a == name) {
        return not_found(&ui, &form.session).await;
    }
    let result = match name.as_str() {
        "dns" => {
            let answer = ui
                .api(Method::GET, &format!("/{kind}/{id}/dns"), None)
                .await;
            dns_result(&answer.body, answer.status)
        }
        _ => {
            let answer = ui
                .api(Method::POST, &format!("/{kind}/{id}/{name}"), None)
                .await;
            // Connect: on to the provider's page
            if let (true, Some(url)) = (
                answer.status.is_success(),
                answer.body["authorization_url"].as_str(),
            ) {
                let page = super::oauth::OAuthPage {
                    nav: form.session.nav(&ui).await,
                    message: String::new(),
                    link: Some(url.to_owned()),
                };
                return render(&page);
            }
            let mut result = action_result(&answer.body, answer.status);
            if let Some(selector) = answer.body["selector"].as_str() {
                result.message = format!(
                    "DKIM key `{selector}` made: publish its TXT record (below). Mail from the \
                     domain is signed with it from now on."
                );
                for r in answer.body["retired"].as_array().into_iter().flatten() {
                    let text = format!("`{}`: remove its record in a few days", cell(r));
                    result.steps.push(("retired".into(), text));
                }
            }
            result
        }
    };
    let errors = FieldErrors::default();
    item_page(&ui, &form.session, spec, id, None, errors, "", Some(result)).await
}

/// The answer of Check DNS: each record's verdict, and what to publish when it must change.
fn dns_result(body: &Value, status: StatusCode) -> ActionResult {
    let Some(checks) = body["checks"].as_array() else {
        return action_result(body, status);
    };
    let steps = checks
        .iter()
        .map(|c| {
            let mut answer = format!("{}: {}", cell(&c["status"]), cell(&c["detail"]));
            if let Some(p) = c["publish"].as_str() {
                answer.push_str(&format!(" — publish: {p}"));
            }
            (
                format!("{} {}", cell(&c["record"]), cell(&c["name"])),
                answer,
            )
        })
        .collect();
    let failed = checks.iter().any(|c| {
        c["required"].as_bool() == Some(true)
            && matches!(c["status"].as_str(), Some("missing" | "wrong"))
    });
    ActionResult {
        ok: !failed,
        message: match failed {
            true => "Some required records are missing or wrong.".into(),
            false => "The required records are published.".into(),
        },
        steps,
    }
}

/// The answer of Test Connection (`ok`, `message`, `steps`, `warnings`) or Fetch now (a report,
/// or an error with its report).
fn action_result(body: &Value, status: StatusCode) -> ActionResult {
    let mut steps: Vec<(String, String)> = body["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| (cell(&s["step"]), cell(&s["answer"])))
        .collect();
    for w in body["warnings"].as_array().into_iter().flatten() {
        steps.push(("warning".into(), cell(w)));
    }
    let report = if body["report"].is_object() {
        &body["report"]
    } else {
        body
    };
    for key in ["fetched", "stored", "duplicates", "failed", "unprocessable"] {
        if !report[key].is_null() {
            steps.push((key.into(), cell(&report[key])));
        }
    }
    let message = match (body["message"].as_str(), body["error"]["message"].as_str()) {
        (Some(m), _) | (None, Some(m)) => m.to_owned(),
        _ if status.is_success() => "Done.".to_owned(),
        _ => format!("Failed ({status})."),
    };
    let ok = status.is_success() && body["ok"].as_bool().unwrap_or(true);
    ActionResult { ok, message, steps }
}

#[derive(Template)]
#[template(path = "ui/dashboard.html")]
struct Dashboard {
    nav: Nav,
    counts: Vec<(String, String)>,
    outgoing: Vec<Row>,
    incoming: Vec<Row>,
}

async fn dashboard(State(ui): State<Ui>, session: Session) -> Response {
    let counts = super::records::dashboard_counts(&ui).await;
    let out = ui
        .api(Method::GET, "/outgoing-servers?limit=100", None)
        .await;
    let inc = ui
        .api(Method::GET, "/incoming-servers?limit=100", None)
        .await;
    let page = Dashboard {
        nav: session.nav(&ui).await,
        counts,
        outgoing: rows(&out.body, &[("name", ""), ("host", ""), ("active", "")], "").0,
        incoming: rows(
            &inc.body,
            &[("name", ""), ("last_success_at", ""), ("last_error", "")],
            "",
        )
        .0,
    };
    render(&page)
}

#[derive(Template)]
#[template(path = "ui/not_found.html")]
struct NotFound {
    nav: Nav,
}

pub(crate) async fn not_found(ui: &Ui, session: &Session) -> Response {
    let page = NotFound {
        nav: session.nav(ui).await,
    };
    (StatusCode::NOT_FOUND, render(&page)).into_response()
}
