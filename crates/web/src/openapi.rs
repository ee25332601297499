//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the HTTP API, generated from the code
//! by utoipa.
//!
//! # One declaration per route
//!
//! The router is built with utoipa-axum's [`OpenApiRouter`]: `.routes(routes!(handler))` routes
//! `handler` at the path and method of its `#[utoipa::path(...)]` annotation and adds that
//! operation to the document, so the router and the document come from the same declarations.
//! The configuration resources' handlers are generic (`list::<R>`, ...) and cannot carry an
//! annotation: `crud!` in `resources.rs` declares five annotated handlers per resource that call
//! them.
//!
//! What every route under the token has in common is added here, by [`require_bearer`], to the
//! operations of the part of the router that `lib.rs` puts behind the token: the `bearer`
//! security requirement, and the error answers 401 and 503 (and 400 for a request with
//! parameters or a body, 413 for a body, 415 for a JSON body) unless the annotation gives them.
//! [`finish`] adds the title, the `bearer` security scheme and the `Error` schema.
//!
//! # Adding a route
//!
//! 1. Annotate the handler, next to it:
//!    ```text
//!    /// Summary line (the operation's summary; the next paragraphs are its description).
//!    #[utoipa::path(post, path = "/webhook-deliveries/{id}/retry", tag = "webhooks",
//!        params(("id" = i64, Path, description = "Delivery id")),
//!        responses((status = 200, description = "...", body = Object),
//!                  (status = 404, description = "No such delivery", body = ErrorBody)))]
//!    async fn retry_delivery(...) -> ... { ... }
//!    ```
//!    The path is relative to where the module's router is nested (`/api/v1` for the API).
//!    Path parameters are declared in `params`; a query is a `#[derive(IntoParams)]` struct
//!    (`params(ListQuery)`), a JSON body a `#[derive(ToSchema)]` struct (`request_body = T`).
//! 2. Register it in the module's `routes()`: `.routes(routes!(retry_delivery))`. One `routes!`
//!    per path: the handlers of one path may share one, those of different paths must not
//!    (utoipa-axum routes every handler of a `routes!` at each of its paths).
//!
//! Never `.route(...)` (axum's, undocumented): the test of this module lists the paths of the
//! router that `router()` builds, asks each for every method, and fails if a route that answers
//! is missing from the document, or if the document names one that the router does not answer.
//!
//! # Public
//!
//! The document needs no token, like `/healthz` and `/metrics`: it describes the API and holds no
//! secret (no token, no configuration, no data), and clients and tools read it before they have
//! a token to present.

use crate::error::ErrorBody;
use axum::Extension;
use axum::body::Bytes;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Components, ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa::{PartialSchema, ToSchema};

/// The name of the security scheme of the token.
const BEARER: &str = "bearer";

/// The document as served, serialized once when the router is built.
#[derive(Clone)]
pub(crate) struct Document(Bytes);

impl Document {
    /// Serializes `api`.
    pub(crate) fn new(api: &OpenApi) -> Document {
        Document(Bytes::from(serde_json::to_vec(api).unwrap_or_default()))
    }
}

/// The OpenAPI document of this API
///
/// OpenAPI 3.1, JSON. Public: no token is needed (it holds no secret).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
pub(crate) async fn openapi_json(Extension(document): Extension<Document>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document.0.clone(),
    )
        .into_response()
}

/// A page of a list: `items`, and `next_cursor` to ask for the next page (`?cursor=`), `null`
/// on the last. Lists that are never long (params, followers, a mail's recipients) are one
/// page with `next_cursor` `null`.
#[derive(ToSchema)]
#[schema(as = Page)]
#[allow(dead_code)] // a schema only: handlers build the JSON.
pub(crate) struct PageBody<T> {
    /// The items.
    items: Vec<T>,
    /// Opaque; `null` on the last page.
    next_cursor: Option<String>,
}

/// Bytes, as they are (a raw message, an attachment's content).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)] // a schema only: handlers take and give the bytes.
pub(crate) struct Binary(Vec<u8>);

/// A JSON object schema with a description and no list of its fields: the schema of the
/// bodies that are the store's types, serialized (times made RFC 3339) or reshaped by the
/// handler. Their fields are described in DESIGN.md and `docs/`.
pub(crate) fn object(description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
        .into()
}

/// Declares an empty enum named `$ty` whose schema, named `$name` in the document, is
/// [`object`]`($description)`: for `body = $ty` in annotations.
macro_rules! object_schema {
    ($(#[$meta:meta])* $ty:ident, $name:expr, $description:expr) => {
        $(#[$meta])*
        pub(crate) enum $ty {}
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::openapi::object($description)
            }
        }
        impl utoipa::ToSchema for $ty {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed($name)
            }
        }
    };
}
pub(crate) use object_schema;

/// The operations of a path item.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// Marks every operation of `api` as needing the bearer token and gives it the error answers
/// that the API's common parts make (unless its annotation gives them): 401 (the token), 503
/// (the database), 400 (a malformed id, query or JSON body), 413 and 415 (bodies), 429 (the
/// token's request rate). For the part
/// of the router behind `require_token`.
pub(crate) fn require_bearer(api: &mut OpenApi) {
    let bearer = SecurityRequirement::new(BEARER, Vec::<String>::new());
    for item in api.paths.paths.values_mut() {
        for op in operations(item) {
            op.security = Some(vec![bearer.clone()]);
            let body_types: Vec<String> = match &op.request_body {
                Some(RefOr::T(body)) => body.content.keys().cloned().collect(),
                _ => Vec::new(),
            };
            let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let mut add = |status: &str, description: &str, when: bool| {
                if when {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error_response(description));
                }
            };
            let json = body_types.iter().any(|t| t == "application/json");
            add(
                "400",
                "Malformed request: a bad id, query parameter or JSON body",
                has_params || json,
            );
            add(
                "401",
                "Missing or wrong bearer token (with `WWW-Authenticate: Bearer`)",
                true,
            );
            add(
                "413",
                "The body is larger than allowed",
                !body_types.is_empty(),
            );
            add(
                "415",
                "The body is not `Content-Type: application/json`",
                json,
            );
            add(
                "429",
                "More requests a second than `[limits] api_requests_per_second` allowed for \
                 this token (with `Retry-After`)",
                true,
            );
            add("503", "The database is not available; retry later", true);
        }
    }
}

/// An error answer: `description`, with the `Error` schema.
pub(crate) fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(ErrorBody::name())))
        .build();
    ResponseBuilder::new()
        .description(description)
        .content("application/json", content)
        .build()
        .into()
}

/// Completes the document that the router's declarations made: title, version and description,
/// the `bearer` security scheme, the `Error` schema that [`require_bearer`]'s answers name.
pub(crate) fn finish(mut api: OpenApi) -> OpenApi {
    api.info.title = "Postern HTTP API".to_owned();
    api.info.version = env!("CARGO_PKG_VERSION").to_owned();
    api.info.description = Some(
        "The API of a Postern gateway. Every path under `/api/v1` needs \
         `Authorization: Bearer TOKEN` except `/api/v1/openapi.json`; `/healthz` and `/metrics` \
         need none. Errors answer `{\"error\": {\"code\", \"message\"}}`. Times are RFC 3339."
            .to_owned(),
    );
    // `OpenApiRouter::new()` starts from utoipa-axum's own package: its license and author.
    api.info.license = None;
    api.info.contact = None;
    let components = api.components.get_or_insert_with(Components::default);
    let mut scheme = Http::new(HttpAuthScheme::Bearer);
    scheme.description = Some(
        "The API token: `Authorization: Bearer TOKEN` (`POSTERN_API_TOKEN`, or generated in \
         the data directory's `api-token`)."
            .to_owned(),
    );
    components
        .security_schemes
        .insert(BEARER.to_owned(), RefOr::T(SecurityScheme::Http(scheme)));
    components
        .schemas
        .insert(ErrorBody::name().into_owned(), ErrorBody::schema());
    let mut detail = Vec::new();
    <ErrorBody as ToSchema>::schemas(&mut detail);
    components.schemas.extend(detail);
    api
}

#[cfg(test)]
mod tests;
