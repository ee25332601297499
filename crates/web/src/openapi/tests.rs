//! The document against the router that `router()` builds: every route that answers is in the
//! document with its method, and every operation of the document is answered; and what the
//! document says of security, parameters, bodies and schemas.

use crate::{ApiLimits, AppState, router};
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use postern_model::Secret;
use serde_json::Value;
use std::collections::BTreeSet;
use tower::ServiceExt;

const TOKEN: &str = "openapi-test-token";

/// The methods asked of every path (HEAD, OPTIONS and TRACE are not used by the API; axum answers
/// HEAD for every GET).
const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// A (method, path) pair: `("GET", "/api/v1/records/{id}")`.
type Operation = (String, String);

struct App {
    router: Router,
    _dir: tempfile::TempDir,
}

/// The application on an empty SQLite database: the requests of the checks find nothing, or
/// are refused before the store (no body), so they change nothing that matters.
async fn app() -> App {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/openapi.db", dir.path().display());
    let store = postern_store::Store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let gateway = postern_gateway::Gateway::new(store, "openapi.test");
    // Every method of every path is tried at once: no rate limit in the way.
    let state = AppState::new(gateway, Secret::new(TOKEN), 1 << 20).with_limits(ApiLimits {
        requests_per_second: 1_000_000,
        ..ApiLimits::default()
    });
    App {
        router: router(state),
        _dir: dir,
    }
}

/// The paths of the router. axum cannot list its routes, but a router's `Debug` shows each path
/// as `RouteId(N): "/path"`, the routes' before `fallback_router`, the fallbacks' after. Panics
/// if known paths are not found that way: axum's `Debug` changed, and this must be redone.
fn router_paths(router: &Router) -> BTreeSet<String> {
    let text = format!("{router:?}");
    let routes = text.split("fallback_router").next().unwrap_or_default();
    let mut paths = BTreeSet::new();
    for piece in routes.split("RouteId(").skip(1) {
        let Some((id, rest)) = piece.split_once("): \"") else {
            continue;
        };
        if id.chars().all(|c| c.is_ascii_digit())
            && let Some((path, _)) = rest.split_once('"')
            && !is_ui(path)
        {
            paths.insert(path.to_owned());
        }
    }
    for known in ["/healthz", "/api/v1/records/{id}", "/api/v1/openapi.json"] {
        assert!(
            paths.contains(known),
            "{known} not found in the router's Debug output (did axum change it?): {paths:?}"
        );
    }
    paths
}

/// A page of the admin UI (HTML for a browser with a session, not part of the API's document):
/// everything but `/api/`, `/healthz` and `/metrics`.
fn is_ui(path: &str) -> bool {
    !(path.starts_with("/api/") || path == "/healthz" || path == "/metrics")
}

/// `path` with each `{parameter}` replaced by `1`.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some((before, after)) = rest.split_once('{') {
        out.push_str(before);
        out.push('1');
        rest = after.split_once('}').map_or("", |(_, a)| a);
    }
    out + rest
}

/// Whether a route answers `method path` (with the token, no body): not 405, and not the
/// router's own 404 (`no such endpoint`; a handler's 404 names what it did not find).
async fn answers(router: &Router, method: &Method, path: &str) -> bool {
    let request = Request::builder()
        .method(method.clone())
        .uri(concrete(path))
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let json: Value = serde_json::from_slice(&body).unwrap_or_default();
    match status {
        StatusCode::METHOD_NOT_ALLOWED => false,
        StatusCode::NOT_FOUND => json["error"]["message"] != "no such endpoint",
        _ => true,
    }
}

/// Every (method, path) that the router answers.
async fn routed(router: &Router) -> BTreeSet<Operation> {
    let mut routed = BTreeSet::new();
    for path in router_paths(router) {
        for method in &METHODS {
            if answers(router, method, &path).await {
                routed.insert((method.to_string(), path.clone()));
            }
        }
    }
    routed
}

/// The document that the router serves, fetched without a token.
async fn served_document(router: &Router) -> Value {
    let request = Request::get("/api/v1/openapi.json")
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/json",
        "the document's content type"
    );
    let body = axum::body::to_bytes(response.into_body(), 16 << 20)
        .await
        .unwrap();
    serde_json::from_slice(&body).unwrap()
}

/// The fields of an OpenAPI path item that are operations.
const OPERATIONS: [&str; 9] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace", "query",
];

/// Every (method, path) of `document`, whatever the method.
fn documented(document: &Value) -> BTreeSet<Operation> {
    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (key, _) in item.as_object().unwrap() {
            if OPERATIONS.contains(&key.as_str()) {
                documented.insert((key.to_uppercase(), path.clone()));
            }
        }
    }
    documented
}

/// What the router answers that the document lacks, and what the document names that the router
/// does not answer.
async fn differences(router: &Router) -> (Vec<Operation>, Vec<Operation>) {
    let routed = routed(router).await;
    let documented = documented(&served_document(router).await);
    (
        routed.difference(&documented).cloned().collect(),
        documented.difference(&routed).cloned().collect(),
    )
}

#[tokio::test]
async fn every_route_is_documented_and_every_operation_answered() {
    let app = app().await;
    let (undocumented, unrouted) = differences(&app.router).await;
    assert!(
        undocumented.is_empty(),
        "routes missing from the document (declare them with #[utoipa::path] and routes!, see \
         openapi.rs): {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "operations of the document that the router does not answer: {unrouted:?}"
    );
    let count = documented(&served_document(&app.router).await).len();
    assert!(count >= 60, "only {count} operations");
}

#[tokio::test]
async fn a_route_added_without_its_declaration_is_found() {
    let app = app().await;
    let router = app
        .router
        .clone()
        .route("/api/v1/extra/{id}", axum::routing::get(|| async { "" }))
        .route("/healthz", axum::routing::post(|| async { "" }));
    let (undocumented, unrouted) = differences(&router).await;
    let expected = [("GET", "/api/v1/extra/{id}"), ("POST", "/healthz")];
    let expected: Vec<Operation> = expected
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(undocumented, expected);
    assert!(unrouted.is_empty());
}

#[tokio::test]
async fn the_document_describes_security_parameters_and_bodies() {
    let app = app().await;
    let document = served_document(&app.router).await;
    assert_eq!(document["openapi"], "3.1.0");
    let bearer = &document["components"]["securitySchemes"]["bearer"];
    assert_eq!(
        (&bearer["type"], &bearer["scheme"]),
        (&"http".into(), &"bearer".into())
    );
    let mut operation_ids = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let name = format!("{method} {path}");
            check_security(&name, path, op);
            check_path_parameters(&name, path, op);
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{name}: no success answer"
            );
            let id = op["operationId"].as_str().unwrap().to_owned();
            assert!(operation_ids.insert(id), "{name}: operationId used twice");
        }
    }
    let ingest = &document["paths"]["/api/v1/ingest"]["post"]["requestBody"]["content"];
    assert!(ingest.get("message/rfc822").is_some(), "{ingest}");
    let mail = &document["paths"]["/api/v1/mail"]["post"]["requestBody"]["content"];
    assert!(mail.get("application/json").is_some(), "{mail}");
    check_references(&document, &document);
}

/// The API under the token needs the bearer scheme and says it answers 401; the rest needs none.
fn check_security(name: &str, path: &str, op: &Value) {
    let public = !path.starts_with("/api/v1/") || path == "/api/v1/openapi.json";
    if public {
        assert!(op.get("security").is_none(), "{name}: needs no token");
    } else {
        assert_eq!(
            op["security"],
            serde_json::json!([{"bearer": []}]),
            "{name}: needs the token"
        );
        let error = &op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"];
        assert_eq!(error, "#/components/schemas/Error", "{name}: 401");
    }
}

/// Each `{parameter}` of the path is a required path parameter of the operation.
fn check_path_parameters(name: &str, path: &str, op: &Value) {
    let declared: BTreeSet<&str> = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["in"] == "path" && p["required"] == true)
        .filter_map(|p| p["name"].as_str())
        .collect();
    let in_path: BTreeSet<&str> = path
        .split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(p, _)| p))
        .collect();
    assert_eq!(declared, in_path, "{name}: path parameters");
}

/// Every `$ref` of `value` names a schema of the document's components.
fn check_references(document: &Value, value: &Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
                assert!(
                    document["components"]["schemas"].get(name).is_some(),
                    "{r} is not in the components"
                );
            }
            map.values().for_each(|v| check_references(document, v));
        }
        Value::Array(list) => list.iter().for_each(|v| check_references(document, v)),
        _ => {}
    }
}

#[tokio::test]
async fn the_api_still_needs_the_token() {
    let app = app().await;
    let request = Request::get("/api/v1/records").body(Body::empty()).unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
