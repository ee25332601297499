//! Forms of the admin UI: the CSRF check every POST passes ([`CsrfForm`]), the fields a form
//! shows ([`Field`]), the JSON body a form becomes for the API ([`to_json`]), and the errors shown
//! next to each field ([`FieldErrors`], from the API's `field: message` errors).

use super::auth::Session;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

/// The fields of a urlencoded body, in order.
pub(crate) fn parse(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The first value of `name`.
pub(crate) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A form posted by a signed-in user whose `csrf` field is the session's token; anything else
/// is refused with 403.
pub(crate) struct CsrfForm {
    pub(crate) session: Session,
    pub(crate) fields: Vec<(String, String)>,
}

impl CsrfForm {
    /// The first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        field(&self.fields, name)
    }
}

impl<S: Send + Sync> FromRequest<S> for CsrfForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let session = req
            .extensions()
            .get::<Session>()
            .cloned()
            .ok_or_else(|| super::see_other("/login"))?;
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let fields = parse(&body);
        let given = field(&fields, "csrf").unwrap_or_default();
        if !crate::constant_time_eq(given.as_bytes(), session.csrf.as_bytes()) {
            return Err(csrf_refused());
        }
        Ok(CsrfForm { session, fields })
    }
}

/// The answer to a form without its session's CSRF token.
pub(crate) fn csrf_refused() -> Response {
    tracing::warn!("admin UI: a form without its CSRF token was refused");
    (
        StatusCode::FORBIDDEN,
        "This form has no valid CSRF token (reload the page and send it again).",
    )
        .into_response()
}

/// Errors of a form, by field (`""`: the form as a whole).
#[derive(Default)]
pub(crate) struct FieldErrors(Vec<(String, String)>);

impl FieldErrors {
    pub(crate) fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push((field.to_owned(), message.into()));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The error of `name`, empty when none (used by the templates).
    pub(crate) fn of(&self, name: &str) -> String {
        self.0
            .iter()
            .filter(|(f, _)| f == name)
            .map(|(_, m)| m.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// An error of the API, put next to its field when its message names one of `names`
    /// (`alias_name: ...`), else on the form.
    pub(crate) fn api(&mut self, message: &str, names: &[&str]) {
        let named = message.split_once(": ").and_then(|(f, rest)| {
            let base = f.split(['.', '[']).next().unwrap_or(f);
            names
                .contains(&base)
                .then(|| (base.to_owned(), rest.to_owned()))
        });
        match named {
            Some((f, rest)) => self.add(&f, rest),
            None => self.add("", message),
        }
    }
}

/// How a form field is shown and turned into JSON.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    Text,
    /// An integer.
    Number,
    /// A checkbox, and whether it is ticked on a new item.
    Bool(bool),
    /// One of these values.
    Select(&'static [&'static str]),
    /// A JSON object in a text area.
    Json,
    /// Write-only: empty means "unchanged".
    Secret,
    /// Comma-separated values: a JSON list of strings.
    List,
    /// A text area.
    Area,
}

/// One field of a form.
pub(crate) struct Field {
    pub(crate) name: &'static str,
    pub(crate) label: &'static str,
    pub(crate) kind: Kind,
    pub(crate) help: &'static str,
}

/// A field as a template shows it, with its current value and error.
pub(crate) struct Shown {
    pub(crate) name: &'static str,
    pub(crate) label: &'static str,
    pub(crate) help: &'static str,
    pub(crate) input: &'static str,
    pub(crate) value: String,
    pub(crate) checked: bool,
    pub(crate) options: Vec<(&'static str, bool)>,
    pub(crate) error: String,
}

/// The fields of a form, with the values of `item` (a JSON object) and `errors`.
pub(crate) fn shown(fields: &[Field], item: &Value, errors: &FieldErrors) -> Vec<Shown> {
    fields
        .iter()
        .map(|f| {
            let v = &item[f.name];
            let value = match (f.kind, v) {
                (Kind::Secret, _) => String::new(),
                (Kind::Json, Value::Object(_)) => v.to_string(),
                (Kind::Json, _) => String::new(),
                _ => super::cell(v),
            };
            let checked = match (f.kind, v) {
                (_, Value::Bool(b)) => *b,
                (Kind::Bool(default), Value::Null) => default,
                _ => false,
            };
            let input = match f.kind {
                Kind::Text | Kind::List => "text",
                Kind::Number => "number",
                Kind::Bool(_) => "checkbox",
                Kind::Select(_) => "select",
                Kind::Json | Kind::Area => "textarea",
                Kind::Secret => "password",
            };
            let options = match f.kind {
                Kind::Select(opts) => opts.iter().map(|o| (*o, value == *o)).collect(),
                _ => Vec::new(),
            };
            Shown {
                name: f.name,
                label: f.label,
                help: f.help,
                input,
                value,
                checked,
                options,
                error: errors.of(f.name),
            }
        })
        .collect()
}

/// The JSON object a form gives the API: empty fields are left out on create and `null` on
/// change (their default), except secrets (left out: unchanged); numbers and JSON that do not
/// parse are errors of their field.
pub(crate) fn to_json(
    fields: &[Field],
    form: &CsrfForm,
    change: bool,
) -> Result<Value, FieldErrors> {
    let mut out = Map::new();
    let mut errors = FieldErrors::default();
    for f in fields {
        let raw = form.get(f.name).unwrap_or_default().trim();
        let value = match f.kind {
            Kind::Bool(_) => Value::Bool(raw == "on" || raw == "true"),
            _ if raw.is_empty() && (f.kind == Kind::Secret || !change) => continue,
            _ if raw.is_empty() => Value::Null,
            Kind::Number => match raw.parse::<i64>() {
                Ok(n) => n.into(),
                Err(_) => {
                    errors.add(f.name, format!("`{raw}` is not a whole number"));
                    continue;
                }
            },
            Kind::Json => match serde_json::from_str::<Value>(raw) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    errors.add(f.name, "must be a JSON object, e.g. {\"team\": \"direct\"}");
                    continue;
                }
            },
            Kind::List => raw
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
            _ => Value::String(raw.to_owned()),
        };
        out.insert(f.name.to_owned(), value);
    }
    if errors.is_empty() {
        Ok(Value::Object(out))
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_go_next_to_their_field() {
        let mut e = FieldErrors::default();
        e.api("alias_name: `catchall@x` is the catchall", &["alias_name"]);
        e.api("defaults.team: bad", &["defaults"]);
        e.api("something else went wrong", &["alias_name"]);
        assert_eq!(e.of("alias_name"), "`catchall@x` is the catchall");
        assert_eq!(e.of("defaults"), "bad");
        assert_eq!(e.of(""), "something else went wrong");
    }
}
