//! The provider's HTTP endpoints: discovery (GET) and the token endpoint (POST form), with a
//! timeout and a cap on the size of every answer (a provider's answer is a few kilobytes; more
//! is refused, never buffered).
//!
//! Errors never carry a token or the client secret: the token endpoint's error is reduced to
//! the provider's `error` code and `error_description` (shortened), which name the reason
//! (`invalid_grant: grant request is invalid`).

use serde::de::DeserializeOwned;
use std::time::Duration;

/// The largest answer read from a provider.
pub const MAX_ANSWER: usize = 64 * 1024;
/// The longest a request may take.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// What a request to the provider gave, when not what was wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HttpError {
    /// The provider refused the request (an OAuth error answer, status 400/401): it will refuse
    /// it again. `error` is the provider's code, `description` its text.
    Refused { error: String, description: String },
    /// No answer, a 5xx, or an answer that is not what it should be: try again later.
    Unavailable(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Refused { error, description } if description.is_empty() => {
                f.write_str(error)
            }
            HttpError::Refused { error, description } => write!(f, "{error}: {description}"),
            HttpError::Unavailable(e) => f.write_str(e),
        }
    }
}

/// The HTTP client of the OAuth requests.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Postern/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("an HTTP client")
}

/// GET `url` as JSON.
pub(crate) async fn get_json<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, HttpError> {
    let response = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| HttpError::Unavailable(describe(&e)))?;
    let status = response.status();
    let body = bounded(response).await?;
    if !status.is_success() {
        return Err(HttpError::Unavailable(format!("{url} answered {status}")));
    }
    serde_json::from_slice(&body)
        .map_err(|e| HttpError::Unavailable(format!("{url} answered unexpected JSON: {e}")))
}

/// POSTs the form to the token endpoint; its JSON answer, or the provider's error.
pub(crate) async fn post_form<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> Result<T, HttpError> {
    let response = http
        .post(url)
        .header("accept", "application/json")
        .form(form)
        .send()
        .await
        .map_err(|e| HttpError::Unavailable(describe(&e)))?;
    let status = response.status();
    let body = bounded(response).await?;
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|_| {
            HttpError::Unavailable(format!("the token endpoint answered {status} without JSON"))
        });
    }
    let error: Option<ErrorAnswer> = serde_json::from_slice(&body).ok();
    match (status.as_u16(), error) {
        (400 | 401, Some(e)) => Err(HttpError::Refused {
            error: short(&e.error, 64),
            description: short(e.error_description.as_deref().unwrap_or(""), 300),
        }),
        _ => Err(HttpError::Unavailable(format!(
            "the token endpoint answered {status}"
        ))),
    }
}

#[derive(serde::Deserialize)]
struct ErrorAnswer {
    error: String,
    error_description: Option<String>,
}

/// The body, refused past [`MAX_ANSWER`].
async fn bounded(mut response: reqwest::Response) -> Result<Vec<u8>, HttpError> {
    if response.content_length().unwrap_or(0) > MAX_ANSWER as u64 {
        return Err(HttpError::Unavailable(format!(
            "the provider's answer is larger than {MAX_ANSWER} bytes"
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| HttpError::Unavailable(describe(&e)))?
    {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(HttpError::Unavailable(format!(
                "the provider's answer is larger than {MAX_ANSWER} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A transport error without its URL's query (none of ours has a secret there, but a
/// provider's redirect might).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    match e.url() {
        Some(u) => format!(
            "the request to {}://{}{}{} {what}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default(),
            u.path()
        ),
        None => format!("the request {what}"),
    }
}

/// At most `max` characters of a provider's text, control characters removed.
pub(crate) fn short(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}
