//! Signing in to the admin UI: the `admin` user (made at first start, [`ensure_admin`]), its
//! argon2 password, sessions, CSRF tokens and the per-IP limit on sign-in attempts.
//!
//! A session is a random token in the `postern_session` cookie (`HttpOnly`, `SameSite=Strict`,
//! `Secure` when the request came over TLS, i.e. `X-Forwarded-Proto: https` from the proxy that
//! ends TLS); the store keeps its SHA-256 only, with the session's CSRF token and its expiry
//! (12 hours). Every form carries the CSRF token; the sign-in form, before any session, a token
//! that must match a cookie of its own (double submit). Passwords are never logged.

use super::{Nav, Ui, render, see_other};
use crate::ui::forms::{CsrfForm, FieldErrors, field};
use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use postern_store::{AdminSession, Store, StoreError};
use sha2::Digest;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;

/// The one user of the UI.
pub(crate) const ADMIN: &str = "admin";
/// How long a session lasts.
const SESSION_MS: i64 = 12 * 3600 * 1000;
/// The session cookie.
const SESSION_COOKIE: &str = "postern_session";
/// The cookie of the sign-in form's CSRF token.
const LOGIN_COOKIE: &str = "postern_login";
/// The shortest password the UI accepts.
const MIN_PASSWORD: usize = 10;

/// Where the admin password came from at this start, for `serve`'s banner.
pub enum AdminPassword {
    /// The user existed already: its password is the one set before.
    Existing,
    /// Made from `POSTERN_ADMIN_PASSWORD`.
    FromEnv,
    /// Generated now; shown once, never stored in clear.
    Generated(String),
}

/// Creates the user `admin` if it does not exist, with `POSTERN_ADMIN_PASSWORD` (`env_password`)
/// when given, else a generated password that the caller prints once.
pub async fn ensure_admin(
    store: &Store,
    env_password: Option<&str>,
) -> Result<AdminPassword, StoreError> {
    let mut tx = store.begin().await?;
    if tx.admin_user(ADMIN).await?.is_some() {
        return Ok(AdminPassword::Existing);
    }
    let (password, source) = match env_password.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => (p.to_owned(), AdminPassword::FromEnv),
        None => {
            let p = postern_store::random_hex(10);
            (p.clone(), AdminPassword::Generated(p))
        }
    };
    let hash =
        hash_password(&password).map_err(|e| StoreError::invalid("POSTERN_ADMIN_PASSWORD", e))?;
    tx.create_admin_user(ADMIN, &hash).await?;
    tx.commit().await?;
    Ok(source)
}

/// The argon2id hash (PHC string) of `password`, with a random salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether `password` matches `hash` (in a blocking thread: argon2 takes tens of ms on purpose).
async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::PasswordVerifier;
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

/// The signed-in session of a request (set by [`require_session`]).
#[derive(Clone)]
pub(crate) struct Session {
    token_hash: String,
    pub(crate) user_id: i64,
    pub(crate) login: String,
    pub(crate) csrf: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or_else(|| see_other("/login"))
    }
}

impl Session {
    /// The navigation bar for this session, with the count of red envelopes.
    pub(crate) async fn nav(&self, ui: &Ui) -> Nav {
        let n = match ui.app.store.read().await {
            Ok(mut tx) => tx.failure_count(100).await.unwrap_or(0),
            Err(_) => 0,
        };
        Nav {
            login: self.login.clone(),
            csrf: self.csrf.clone(),
            failures: match n {
                0 => String::new(),
                100 => "99+".into(),
                n => n.to_string(),
            },
        }
    }
}

/// SHA-256 of a session token, as the store keeps it.
fn token_hash(token: &str) -> String {
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The value of cookie `name` in the request's headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// Lets a request through with its [`Session`], or redirects to `/login` (keeping where it
/// was going when it was a page).
pub(crate) async fn require_session(
    State(ui): State<Ui>,
    mut request: Request,
    next: Next,
) -> Response {
    match session_of(&ui.app.store, request.headers()).await {
        Ok(Some(session)) => {
            request.extensions_mut().insert(session);
            next.run(request).await
        }
        Ok(None) => {
            let to = match request.method() {
                &axum::http::Method::GET if request.uri().path() != "/" => format!(
                    "/login?next={}",
                    super::query_value(&request.uri().to_string())
                ),
                _ => "/login".to_owned(),
            };
            see_other(&to)
        }
        Err(e) => {
            tracing::error!(error = %e, "admin UI: the session could not be read");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is not available",
            )
                .into_response()
        }
    }
}

async fn session_of(store: &Store, headers: &HeaderMap) -> Result<Option<Session>, StoreError> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = token_hash(&token);
    let mut tx = store.read().await?;
    let found: Option<AdminSession> = tx.admin_session(&hash, postern_store::now_ms()).await?;
    Ok(found.map(|s| Session {
        token_hash: hash,
        user_id: s.user_id,
        login: s.login,
        csrf: s.csrf,
    }))
}

/// The attributes of the UI's cookies: `Secure` when the request came over TLS.
fn cookie_attributes(headers: &HeaderMap, max_age: i64) -> String {
    let tls = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let secure = if tls { "; Secure" } else { "" };
    format!("Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

/// At most 5 sign-in attempts a minute per IP address (10 at once), whatever their result.
pub(crate) struct LoginLimiter(governor::DefaultKeyedRateLimiter<IpAddr>);

impl LoginLimiter {
    pub(crate) fn new() -> LoginLimiter {
        let quota = governor::Quota::per_minute(NonZeroU32::new(5).expect("5 > 0"))
            .allow_burst(NonZeroU32::new(10).expect("10 > 0"));
        LoginLimiter(governor::RateLimiter::keyed(quota))
    }

    fn allows(&self, ip: IpAddr) -> bool {
        if self.0.len() > 100_000 {
            self.0.retain_recent();
        }
        self.0.check_key(&ip).is_ok()
    }
}

/// `/login`, `/logout`.
pub(crate) fn public_routes() -> Router<Ui> {
    Router::new().route("/login", get(login_page).post(login))
}

/// `/logout`, `/password` (signed in).
pub(crate) fn private_routes() -> Router<Ui> {
    Router::new()
        .route("/logout", post(logout))
        .route("/password", get(password_page).post(change_password))
}

#[derive(Template)]
#[template(path = "ui/login.html")]
struct LoginPage {
    csrf: String,
    next: String,
    error: String,
}

#[derive(serde::Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Only a path of this site (never `//host`, which a browser reads as another site).
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.to_owned(),
        _ => "/".to_owned(),
    }
}

async fn login_page(
    State(ui): State<Ui>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<NextQuery>,
) -> Response {
    if let Ok(Some(_)) = session_of(&ui.app.store, &headers).await {
        return see_other(&local_path(q.next.as_deref()));
    }
    login_form(&headers, local_path(q.next.as_deref()), "", StatusCode::OK)
}

/// The sign-in form with its CSRF token, and its cookie: the browser's token when it has one
/// (another tab, or the browser's own request for `/favicon.ico`, must not invalidate the form
/// on screen), else a new one.
fn login_form(headers: &HeaderMap, next: String, error: &str, status: StatusCode) -> Response {
    let csrf = cookie(headers, LOGIN_COOKIE)
        .filter(|c| c.len() == 32 && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| postern_store::random_hex(16));
    let set = format!(
        "{LOGIN_COOKIE}={csrf}; {}",
        cookie_attributes(headers, 3600)
    );
    let page = LoginPage {
        csrf,
        next,
        error: error.to_owned(),
    };
    let mut response = render(&page);
    *response.status_mut() = status;
    if let Ok(v) = set.parse() {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

async fn login(
    State(ui): State<Ui>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let fields = super::forms::parse(&body);
    let next = local_path(field(&fields, "next"));
    let ip = peer.map_or(IpAddr::from([127, 0, 0, 1]), |p| p.0.0.ip());
    if !ui.limiter.allows(ip) {
        tracing::warn!(%ip, "admin UI: too many sign-in attempts");
        let msg = "Too many sign-in attempts from your address; wait a minute.";
        return login_form(&headers, next, msg, StatusCode::TOO_MANY_REQUESTS);
    }
    let expected = cookie(&headers, LOGIN_COOKIE);
    let given = field(&fields, "csrf");
    if expected.is_none() || expected.as_deref() != given {
        let msg = "The form had expired; sign in again.";
        return login_form(&headers, next, msg, StatusCode::FORBIDDEN);
    }
    let (user, password) = (
        field(&fields, "login").unwrap_or_default(),
        field(&fields, "password").unwrap_or_default(),
    );
    match open_session(&ui.app.store, user, password).await {
        Ok(Some(token)) => {
            let set = format!(
                "{SESSION_COOKIE}={token}; {}",
                cookie_attributes(&headers, SESSION_MS / 1000)
            );
            let mut r = see_other(&next);
            if let Ok(v) = set.parse() {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            tracing::info!(%ip, user, "admin UI: signed in");
            r
        }
        Ok(None) => {
            tracing::info!(%ip, "admin UI: wrong user or password");
            let msg = "Wrong user or password.";
            login_form(&headers, next, msg, StatusCode::UNAUTHORIZED)
        }
        Err(e) => {
            tracing::error!(error = %e, "admin UI: sign-in failed");
            let msg = "The database is not available; try again.";
            login_form(&headers, next, msg, StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}

/// A new session's token when `login` and `password` are right.
async fn open_session(
    store: &Store,
    login: &str,
    password: &str,
) -> Result<Option<String>, StoreError> {
    let user = store.read().await?.admin_user(login).await?;
    let Some(user) = user else {
        // The same work as a right user, so that the time taken does not tell who exists.
        let _ = verify_password(password.to_owned(), DUMMY_HASH.to_owned()).await;
        return Ok(None);
    };
    if !verify_password(password.to_owned(), user.password_hash).await {
        return Ok(None);
    }
    let token = postern_store::random_hex(32);
    let csrf = postern_store::random_hex(16);
    let mut tx = store.begin().await?;
    let expires = postern_store::now_ms() + SESSION_MS;
    tx.create_admin_session(&token_hash(&token), user.id, &csrf, expires)
        .await?;
    tx.commit().await?;
    Ok(Some(token))
}

/// An argon2id hash of nothing anyone types, for unknown users.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
    Y3Y+4Xm1qKQ9d2t0b3dXQ0RzVnZ0b2V4cGxhaW5lZGhlcmU";

async fn logout(State(ui): State<Ui>, headers: HeaderMap, form: CsrfForm) -> Response {
    if let Ok(mut tx) = ui.app.store.begin().await
        && tx
            .delete_admin_session(&form.session.token_hash)
            .await
            .is_ok()
    {
        let _ = tx.commit().await;
    }
    let mut r = see_other("/login");
    let gone = format!("{SESSION_COOKIE}=; {}", cookie_attributes(&headers, 0));
    if let Ok(v) = gone.parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

#[derive(Template)]
#[template(path = "ui/password.html")]
struct PasswordPage {
    nav: Nav,
    errors: FieldErrors,
    done: bool,
}

async fn password_page(State(ui): State<Ui>, session: Session) -> Response {
    let page = PasswordPage {
        nav: session.nav(&ui).await,
        errors: FieldErrors::default(),
        done: false,
    };
    render(&page)
}

async fn change_password(State(ui): State<Ui>, form: CsrfForm) -> Response {
    let session = form.session.clone();
    let mut errors = FieldErrors::default();
    let current = form.get("current").unwrap_or_default();
    let new = form.get("new").unwrap_or_default();
    if new.chars().count() < MIN_PASSWORD {
        errors.add("new", format!("at least {MIN_PASSWORD} characters"));
    } else if form.get("confirm") != Some(new) {
        errors.add("confirm", "is not the same as the new password");
    }
    let store = &ui.app.store;
    let user = match store.read().await {
        Ok(mut tx) => tx.admin_user(&session.login).await.ok().flatten(),
        Err(_) => None,
    };
    let right = match user {
        Some(u) => verify_password(current.to_owned(), u.password_hash).await,
        None => false,
    };
    if !right {
        errors.add("current", "is not your password");
    }
    let mut done = false;
    if errors.is_empty() {
        match set_password(store, &session, new).await {
            Ok(()) => done = true,
            Err(e) => errors.add("new", e),
        }
    }
    let status = if done {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = PasswordPage {
        nav: session.nav(&ui).await,
        errors,
        done,
    };
    (status, render(&page)).into_response()
}

/// Stores the hash of `new` for the session's user, ending its other sessions.
async fn set_password(store: &Store, session: &Session, new: &str) -> Result<(), String> {
    let hash = hash_password(new)?;
    let fail = |e: StoreError| e.to_string();
    let mut tx = store.begin().await.map_err(fail)?;
    tx.set_admin_password(session.user_id, &hash, &session.token_hash)
        .await
        .map_err(fail)?;
    tx.commit().await.map_err(fail)?;
    tracing::info!(user = session.login, "admin UI: password changed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert!(rt.block_on(verify_password("correct horse".into(), h.clone())));
        assert!(!rt.block_on(verify_password("wrong".into(), h)));
        assert!(!rt.block_on(verify_password("x".into(), DUMMY_HASH.into())));
    }

    #[test]
    fn next_is_a_local_path() {
        assert_eq!(local_path(Some("/records?model=a")), "/records?model=a");
        assert_eq!(local_path(Some("//evil.example")), "/");
        assert_eq!(local_path(Some("https://evil.example")), "/");
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn login_attempts_are_limited_per_ip() {
        let l = LoginLimiter::new();
        let a = IpAddr::from([10, 0, 0, 1]);
        let allowed = (0..20).filter(|_| l.allows(a)).count();
        assert_eq!(allowed, 10);
        assert!(l.allows(IpAddr::from([10, 0, 0, 2])), "another address");
    }
}
