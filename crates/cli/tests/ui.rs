//! The admin UI over HTTP, as a browser without JavaScript uses it: every page redirects to
//! `/login` without a session; signing in (CSRF token, wrong password, rate limit per IP, the
//! cookie's attributes); forms refused without their CSRF token; an alias created through its
//! form (and the API's error shown next to the field); a mail sent with swaks seen on the
//! records page; the password changed; signing out. Against a real `postern serve` on SQLite.

use postern_testkit::Serve;
use postern_testkit::clients::swaks_with;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_postern");
const TOKEN: &str = "test-token-0123456789";
const PASSWORD: &str = "first-password-42";

/// Every page of the UI (ids that may not exist: the redirect comes first).
const PAGES: &[&str] = &[
    "/",
    "/records",
    "/records/1",
    "/alias-domains",
    "/alias-domains/1",
    "/companies",
    "/companies/1",
    "/models",
    "/aliases",
    "/aliases/1",
    "/partners",
    "/outgoing-servers",
    "/outgoing-servers/1",
    "/incoming-servers",
    "/webhooks",
    "/params",
    "/failures",
    "/outbox",
    "/explain",
    "/raw-messages",
    "/raw-messages/1",
    "/attachments/1",
    "/password",
];

/// Forms of the UI (POST).
const FORMS: &[&str] = &[
    "/logout",
    "/password",
    "/aliases",
    "/aliases/1",
    "/aliases/1/delete",
    "/outgoing-servers/1/test",
    "/incoming-servers/1/fetch",
    "/params",
    "/records/1/messages",
    "/records/1/followers",
    "/records/1/followers/1/remove",
    "/outbox/1/retry",
    "/explain",
    "/explain/outgoing",
    "/raw-messages/1/retry",
    "/webhooks/1/deliveries/1/retry",
];

/// A browser without JavaScript: no redirects followed, its cookies kept.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn new(base: &str) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_owned(),
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Sends, keeps the cookies set; the status, the Set-Cookie lines, the Location and the body.
    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let resp = req
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let set: Vec<String> = resp
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for line in &set {
            let (pair, _) = line.split_once(';').unwrap_or((line, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let location = resp
            .headers()
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        Page {
            status,
            set,
            location,
            body: resp.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let req = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(req).await
    }

    /// Signs in with `password`: the page answered to the form's POST.
    async fn login(&mut self, password: &str) -> Page {
        let form = self.get("/login").await;
        let csrf = input_value(&form.body, "csrf");
        self.post(
            "/login",
            &[
                ("csrf", &csrf),
                ("next", "/"),
                ("login", "admin"),
                ("password", password),
            ],
        )
        .await
    }
}

struct Page {
    status: StatusCode,
    set: Vec<String>,
    location: Option<String>,
    body: String,
}

/// The value of the first `<input name="NAME" value="...">` of a page.
fn input_value(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no input {name} in {html}"));
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// The number that follows `prefix` (its first occurrence) in `html`.
fn id_after(html: &str, prefix: &str) -> String {
    let at = html
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} in {html}"))
        + prefix.len();
    html[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect()
}

fn redirects_to_login(p: &Page) -> bool {
    p.status == StatusCode::SEE_OTHER
        && p.location
            .as_deref()
            .is_some_and(|l| l.starts_with("/login"))
}

#[tokio::test]
async fn every_page_and_form_redirects_to_login_without_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = Serve::start(BIN, dir.path(), TOKEN, &[], &[]);
    assert!(
        server
            .banner
            .iter()
            .any(|l| l.contains("browser") && l.contains(&format!("{}/ ", server.base))),
        "the banner says where to point a browser: {:?}",
        server.banner
    );
    let admin = server
        .banner
        .iter()
        .find(|l| l.trim_start().starts_with("admin "))
        .unwrap();
    assert!(admin.contains("password") && admin.contains("generated"));
    let mut b = Browser::new(&server.base);
    for page in PAGES {
        let p = b.get(page).await;
        assert!(redirects_to_login(&p), "GET {page}: {}", p.status);
    }
    for form in FORMS {
        let p = b.post(form, &[("csrf", "x")]).await;
        assert!(redirects_to_login(&p), "POST {form}: {}", p.status);
    }
    // A forged cookie is no session.
    b.cookies.insert("postern_session".into(), "00".repeat(32));
    assert!(redirects_to_login(&b.get("/").await));
    // What stays public: the sign-in form, the static files, /healthz; the API wants its token.
    assert_eq!(b.get("/login").await.status, StatusCode::OK);
    let js = b.get("/static/htmx.min.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.body.contains("htmx"));
    assert_eq!(b.get("/static/style.css").await.status, StatusCode::OK);
    assert_eq!(b.get("/healthz").await.status, StatusCode::OK);
    assert_eq!(
        b.get("/api/v1/aliases").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn sign_in_forms_and_a_mail_that_becomes_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let server = Serve::start(
        BIN,
        dir.path(),
        TOKEN,
        &[("POSTERN_ADMIN_PASSWORD", PASSWORD)],
        &[],
    );
    let mut b = Browser::new(&server.base);
    // A sign-in form without its token, and a wrong password, are refused.
    let p = b
        .post("/login", &[("login", "admin"), ("password", PASSWORD)])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(
        b.login("not-the-password").await.status,
        StatusCode::UNAUTHORIZED
    );
    let p = b.login(PASSWORD).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let cookie = p
        .set
        .iter()
        .find(|c| c.starts_with("postern_session="))
        .unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let home = b.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("Dashboard"));
    let csp = b
        .http
        .get(format!("{}/", b.base))
        .header(COOKIE, b.cookie_header())
        .send()
        .await
        .unwrap();
    let policy = csp.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"));
    // With a session but no token, the API still answers 401.
    assert_eq!(
        b.get("/api/v1/aliases").await.status,
        StatusCode::UNAUTHORIZED
    );
    let csrf = input_value(&home.body, "csrf");
    forms_need_their_token(&mut b, &csrf).await;
    alias_and_record(&mut b, &server, &csrf).await;
    password_change(&mut b, &csrf).await;
    // Signing out ends the session.
    let csrf = input_value(&b.get("/").await.body, "csrf");
    let p = b.post("/logout", &[("csrf", &csrf)]).await;
    assert!(redirects_to_login(&p));
    assert!(redirects_to_login(&b.get("/").await));
    // Sign-in attempts are limited per address: 10 at once, then 429.
    let statuses: Vec<StatusCode> = {
        let mut v = Vec::new();
        for _ in 0..12 {
            v.push(b.login("wrong-again").await.status);
        }
        v
    };
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

/// A form without the session's CSRF token, or with another one, is refused with 403.
async fn forms_need_their_token(b: &mut Browser, csrf: &str) {
    let fields = [("alias_name", "nocsrf"), ("model", "crm.lead")];
    assert_eq!(
        b.post("/aliases", &fields).await.status,
        StatusCode::FORBIDDEN
    );
    let wrong = [
        ("csrf", "0123"),
        ("alias_name", "nocsrf"),
        ("model", "crm.lead"),
    ];
    assert_eq!(
        b.post("/aliases", &wrong).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(b.post("/logout", &[]).await.status, StatusCode::FORBIDDEN);
    let list = b.get("/aliases?q=nocsrf").await;
    assert!(!list.body.contains("nocsrf@"), "nothing was created");
    assert!(!csrf.is_empty());
}

/// An alias through its form (first refused: the API's error next to the field), a mail to it
/// with swaks, its record and message on the records pages.
async fn alias_and_record(b: &mut Browser, server: &Serve, csrf: &str) {
    let bad = [
        ("csrf", csrf),
        ("alias_name", "catchall"),
        ("alias_domain", "localhost"),
        ("model", "helpdesk.ticket"),
    ];
    let p = b.post("/aliases", &bad).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("id=\"error-alias_name\""), "{}", p.body);
    assert!(p.body.contains("catchall address"));
    let good = [
        ("csrf", csrf),
        ("alias_name", "support"),
        ("alias_domain", "localhost"),
        ("model", "helpdesk.ticket"),
        ("contact", "everyone"),
    ];
    let p = b.post("/aliases", &good).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("support@localhost"));
    let hook = [
        ("csrf", csrf),
        ("name", "app"),
        ("url", "http://127.0.0.1:9/hook"),
        ("events", "record.created"),
        ("active", "on"),
    ];
    let p = b.post("/webhooks", &hook).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(
        p.body.contains("whsec_"),
        "the secret is shown once: {}",
        p.body
    );
    let out = swaks_with(&[
        "--server",
        &server.smtp,
        "--from",
        "carl@example.org",
        "--to",
        "support@localhost",
        "--header",
        "Subject: Printer on fire",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let records = loop {
        let p = b.get("/records?model=helpdesk.ticket").await;
        if p.body.contains("Printer on fire") || Instant::now() > deadline {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(records.body.contains("Printer on fire"), "{}", records.body);
    let id = id_after(&records.body, "href=\"/records/");
    let record = b.get(&format!("/records/{id}")).await;
    assert_eq!(record.status, StatusCode::OK, "{}", record.body);
    assert!(record.body.contains("carl@example.org"), "{}", record.body);
    webhook_delivery_retried(b, csrf).await;
    unclaimed_mail_with_its_link(b, server).await;
    // A note posted from the chatter appears in the thread.
    let note = [
        ("csrf", csrf),
        ("body", "Called the customer back."),
        ("subtype", "note"),
    ];
    let p = b.post(&format!("/records/{id}/messages"), &note).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let record = b.get(&format!("/records/{id}")).await;
    assert!(record.body.contains("Called the customer back."));
}

/// The record made a `record.created` delivery to the webhook (whose endpoint does not answer);
/// the webhook's page lists it, and Retry makes it due again.
async fn webhook_delivery_retried(b: &mut Browser, csrf: &str) {
    let list = b.get("/webhooks").await;
    let id = id_after(&list.body, "href=\"/webhooks/");
    let page = b.get(&format!("/webhooks/{id}")).await;
    assert!(page.body.contains("record.created"), "{}", page.body);
    let retry = format!("/webhooks/{id}/deliveries/");
    let delivery = id_after(&page.body, &retry);
    let p = b
        .post(&format!("{retry}{delivery}/retry"), &[("csrf", csrf)])
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("The delivery is due again."), "{}", p.body);
}

/// A provider's confirmation mail sent to the bounce address is neither a reply nor a bounce:
/// it is listed as `unclaimed`, and its source shows its link, clickable.
async fn unclaimed_mail_with_its_link(b: &mut Browser, server: &Serve) {
    let out = swaks_with(&[
        "--server",
        &server.smtp,
        "--from",
        "forwarding-noreply@provider.example",
        "--to",
        "bounce@localhost",
        "--header",
        "Subject: Confirm your forwarding address",
        "--body",
        "Click https://provider.example/confirm?code=123 to confirm.",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let list = b.get("/raw-messages?status=unclaimed").await;
    let link = "href=\"/raw-messages/";
    let id = id_after(&list.body, link);
    let raw = b.get(&format!("/raw-messages/{id}")).await;
    assert!(
        raw.body
            .contains("<a href=\"https://provider.example/confirm?code=123\""),
        "{}",
        raw.body
    );
    // The mail that became a record is not unclaimed.
    assert_eq!(list.body.matches(link).count(), 1, "{}", list.body);
    // Retry takes it through the gateway again (a new raw message; this one is `retried`).
    let csrf = input_value(&raw.body, "csrf");
    let p = b
        .post(&format!("/raw-messages/{id}/retry"), &[("csrf", &csrf)])
        .await;
    assert!(
        p.body.contains("taken again: bounce_processed"),
        "{}",
        p.body
    );
    let retried = b.get("/raw-messages?status=retried").await;
    assert!(retried.body.contains(&format!("/raw-messages/{id}\"")));
}

/// The password page: a wrong current password is refused next to its field; then the new
/// one signs in and the old one no longer does.
async fn password_change(b: &mut Browser, csrf: &str) {
    let new = "second-password-42";
    let wrong = [
        ("csrf", csrf),
        ("current", "nope"),
        ("new", new),
        ("confirm", new),
    ];
    let p = b.post("/password", &wrong).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("is not your password"));
    let right = [
        ("csrf", csrf),
        ("current", PASSWORD),
        ("new", new),
        ("confirm", new),
    ];
    let p = b.post("/password", &right).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("The password is changed"));
    let mut other = Browser::new(&b.base);
    assert_eq!(other.login(PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(other.login(new).await.status, StatusCode::SEE_OTHER);
}

/// An alias domain's page: a DKIM key made with its button shows its TXT record among the
/// records to publish; Check DNS asks the (loopback) DNS and says what is missing, with the
/// record to publish.
#[tokio::test]
async fn alias_domain_page_makes_a_dkim_key_and_checks_dns() {
    use postern_testkit::dns::{DnsServer, Zone};
    let dns = DnsServer::start(&[Zone::new(
        "mail.example",
        "@ IN MX 10 mx.mail.example.\nmx IN A 127.0.0.1\n@ IN TXT \"v=spf1 -all\"\n",
    )]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("postern.toml");
    std::fs::write(&config, format!("[server]\n{}\n", dns.config_line())).unwrap();
    let config = config.to_str().unwrap().to_owned();
    let data = dir.path().join("data");
    let server = Serve::start(
        BIN,
        &data,
        TOKEN,
        &[("POSTERN_ADMIN_PASSWORD", PASSWORD)],
        &["--config", &config],
    );
    let mut b = Browser::new(&server.base);
    assert_eq!(b.login(PASSWORD).await.status, StatusCode::SEE_OTHER);
    let csrf = input_value(&b.get("/").await.body, "csrf");
    let p = b
        .post(
            "/alias-domains",
            &[("csrf", &csrf), ("name", "mail.example"), ("verp", "on")],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let list = b.get("/alias-domains?q=mail.example").await;
    let id = id_after(&list.body, "href=\"/alias-domains/");
    let page = b.get(&format!("/alias-domains/{id}")).await;
    assert!(page.body.contains("_dmarc.mail.example."), "{}", page.body);
    assert!(
        !page.body.contains("_domainkey"),
        "no key yet: {}",
        page.body
    );
    let made = b
        .post(
            &format!("/alias-domains/{id}/dkim-keys"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    assert!(
        made.body.contains("made: publish its TXT record"),
        "{}",
        made.body
    );
    let selector = made.body.split("DKIM key `").nth(1).unwrap();
    let selector = &selector[..selector.find('`').unwrap()];
    assert!(
        made.body
            .contains(&format!("{selector}._domainkey.mail.example.")),
        "{}",
        made.body
    );
    assert!(made.body.contains("v=DKIM1; k=rsa; p="), "{}", made.body);
    assert!(
        !made.body.contains("PRIVATE"),
        "the private key stays in the store"
    );
    let checked = b
        .post(&format!("/alias-domains/{id}/dns"), &[("csrf", &csrf)])
        .await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.body);
    assert!(
        checked
            .body
            .contains("Some required records are missing or wrong."),
        "{}",
        checked.body
    );
    let dkim_line = checked
        .body
        .lines()
        .find(|l| l.contains(&format!("dkim {selector}._domainkey.mail.example")))
        .unwrap_or_else(|| panic!("{}", checked.body));
    assert!(dkim_line.contains("missing"), "{dkim_line}");
    assert!(dkim_line.contains("publish:"), "{dkim_line}");
    assert!(
        checked.body.contains("mx mail.example") && checked.body.contains("present"),
        "{}",
        checked.body
    );
}
