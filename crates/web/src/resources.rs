//! The configuration part of the API: list, create, read, patch and delete of alias domains,
//! companies, models, aliases, partners, outgoing and incoming servers and webhooks, and the
//! params. Every resource goes through the same five generic handlers; what differs is named
//! by its [`Resource`] impl, and `crud!` declares its five routes with their OpenAPI operations.
//!
//! PATCH replaces the top-level fields it gives in the resource's current input (a shallow
//! merge): fields not given keep their value, `null` gives a field its default (and leaves a
//! write-only secret unchanged; `""` clears one), an object such as `defaults` is replaced whole,
//! an unknown field is refused.

use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::openapi::PageBody;
use crate::threads::dated;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use postern_store::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A table of the configuration that the API exposes with the same five verbs: the store's
/// [`ConfigTable`] (list, create, read, update, delete), and the JSON of an item.
pub(crate) trait Resource:
    ConfigTable<Input: DeserializeOwned + Serialize + Send + Sync> + Serialize + 'static
{
    fn to_input(&self) -> Self::Input;

    /// The JSON answered for one item (the row, plus computed fields for some).
    fn view(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

macro_rules! resource {
    ($ty:ident) => {
        impl Resource for $ty {
            fn to_input(&self) -> <$ty as ConfigTable>::Input {
                <$ty>::to_input(self)
            }
            resource!(@view $ty);
        }
    };
    (@view AliasDomain) => {
        fn view(&self) -> Value {
            let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
            v["bounce_email"] = self.bounce_email().into();
            v["catchall_email"] = self.catchall_email().into();
            v["default_from_email"] = self.default_from_email().into();
            v
        }
    };
    (@view Alias) => {
        fn view(&self) -> Value {
            let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
            v["alias_full_name"] = self.full_name().into();
            v
        }
    };
    (@view $other:ty) => {};
}

resource!(AliasDomain);
resource!(Company);
resource!(Model);
resource!(Alias);
resource!(Partner);
resource!(OutgoingServer);
resource!(IncomingServer);
resource!(Webhook);

/// `?limit=&cursor=` of list endpoints.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// At most this many items, 1 to 1000 (default 100).
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

async fn list<R: Resource>(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let mut tx = s.store.read().await?;
    let page = tx.list::<R>(page).await?;
    let items: Vec<Value> = page.items.iter().map(|i| dated(i.view())).collect();
    Ok(Json(
        serde_json::json!({"items": items, "next_cursor": page.next_cursor}),
    ))
}

async fn create<R: Resource>(
    State(s): State<AppState>,
    ApiJson(input): ApiJson<R::Input>,
) -> Result<Response, ApiError> {
    let mut tx = s.store.begin().await?;
    let item: R = tx.create(&input).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(dated(item.view()))).into_response())
}

async fn read<R: Resource>(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    let mut tx = s.store.read().await?;
    Ok(Json(dated(R::get(&mut tx, id.into()).await?.view())))
}

async fn patch<R: Resource>(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    let Value::Object(fields) = patch else {
        return Err(ApiError::bad_request(
            "a PATCH body must be a JSON object of the fields to change",
        ));
    };
    let mut tx = s.store.begin().await?;
    let current = R::get(&mut tx, id.into()).await?;
    let mut merged = serde_json::to_value(current.to_input())?;
    for (k, v) in fields {
        merged[k] = v;
    }
    let input: R::Input = serde_json::from_value(merged)?;
    let item: R = tx.update(id.into(), &input).await?;
    tx.commit().await?;
    Ok(Json(dated(item.view())))
}

async fn delete<R: Resource>(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    let mut tx = s.store.begin().await?;
    tx.delete::<R>(id.into()).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The description of every PATCH of the configuration.
const PATCH_DOC: &str = "The fields given replace those of the current input (a shallow merge): \
    fields not given keep their value, `null` gives a field its default (and leaves a write-only \
    secret unchanged; `\"\"` clears one), an object such as `defaults` is replaced whole, an \
    unknown field is refused.";

/// Declares module `$m`: the five routes of resource `$ty` at `$path` and `$path/{id}` (list,
/// create, read, patch, delete), each an annotated handler calling the generic one, in its
/// `routes()`; and the schemas `$name` (`$item` describes it) and `$name` + `Input`. `$one` is
/// "an alias domain", `$many` "alias domains" (also the tag).
macro_rules! crud {
    ($m:ident, $ty:ty, $path:literal, $name:literal, $one:literal, $many:literal, $item:expr) => {
        mod $m {
            use super::*;
            use utoipa_axum::routes;

            crate::openapi::object_schema!(Item, $name, $item);
            crate::openapi::object_schema!(
                Input,
                concat!($name, "Input"),
                concat!(
                    "What is given to create ",
                    $one,
                    " (for PATCH: the fields to change). Write-only secrets are given here ",
                    "and never answered. Unknown fields are refused."
                )
            );
            crud_collection!($m, $ty, $path, $one, $many);
            crud_item!($m, $ty, concat!($path, "/{id}"), $one, $many);

            pub(super) fn routes() -> OpenApiRouter<AppState> {
                OpenApiRouter::new()
                    .routes(routes!(list, create))
                    .routes(routes!(read, patch, delete))
            }
        }
    };
}

/// `list` and `create` of `crud!`.
macro_rules! crud_collection {
    ($m:ident, $ty:ty, $path:expr, $one:literal, $many:literal) => {
        #[utoipa::path(get, path = $path, tag = $many, params(ListQuery),
            operation_id = concat!("list_", stringify!($m)), summary = concat!("List ", $many),
            responses((status = 200, description = "A page", body = PageBody<Item>)))]
        pub(super) async fn list(
            s: State<AppState>,
            q: ApiQuery<ListQuery>,
        ) -> Result<Json<Value>, ApiError> {
            super::list::<$ty>(s, q).await
        }

        #[utoipa::path(post, path = $path, tag = $many, request_body = Input,
            operation_id = concat!("create_", stringify!($m)),
            summary = concat!("Create ", $one),
            responses((status = 201, description = "Created", body = Item),
                (status = 409, description = "Conflicts with another (a unique name)",
                    body = ErrorBody),
                (status = 422, description = "A field is invalid", body = ErrorBody)))]
        pub(super) async fn create(
            s: State<AppState>,
            b: ApiJson<<$ty as ConfigTable>::Input>,
        ) -> Result<Response, ApiError> {
            super::create::<$ty>(s, b).await
        }
    };
}

/// `read`, `patch` and `delete` of `crud!`.
macro_rules! crud_item {
    ($m:ident, $ty:ty, $path:expr, $one:literal, $many:literal) => {
        #[utoipa::path(get, path = $path, tag = $many,
                    params(("id" = i64, Path, description = "Id")),
                    operation_id = concat!("get_", stringify!($m)), summary = concat!("Get ", $one),
                    responses((status = 200, description = "Found", body = Item),
                        (status = 404, description = "No such id", body = ErrorBody)))]
        pub(super) async fn read(
            s: State<AppState>,
            id: ApiPath<i64>,
        ) -> Result<Json<Value>, ApiError> {
            super::read::<$ty>(s, id).await
        }

        #[utoipa::path(patch, path = $path, tag = $many,
                    params(("id" = i64, Path, description = "Id")), request_body = Input,
                    operation_id = concat!("patch_", stringify!($m)),
                    summary = concat!("Change ", $one), description = PATCH_DOC,
                    responses((status = 200, description = "Changed", body = Item),
                        (status = 404, description = "No such id", body = ErrorBody),
                        (status = 409, description = "Conflicts with another (a unique name)",
                            body = ErrorBody),
                        (status = 422, description = "A field is invalid", body = ErrorBody)))]
        pub(super) async fn patch(
            s: State<AppState>,
            id: ApiPath<i64>,
            b: ApiJson<Value>,
        ) -> Result<Json<Value>, ApiError> {
            super::patch::<$ty>(s, id, b).await
        }

        #[utoipa::path(delete, path = $path, tag = $many,
                    params(("id" = i64, Path, description = "Id")),
                    operation_id = concat!("delete_", stringify!($m)),
                    summary = concat!("Delete ", $one),
                    responses((status = 204, description = "Deleted"),
                        (status = 404, description = "No such id", body = ErrorBody),
                        (status = 409, description = "Still used by others", body = ErrorBody)))]
        pub(super) async fn delete(
            s: State<AppState>,
            id: ApiPath<i64>,
        ) -> Result<StatusCode, ApiError> {
            super::delete::<$ty>(s, id).await
        }
    };
}

/// What every item of the configuration has, besides its input's fields.
macro_rules! item_doc {
    ($what:literal) => {
        concat!(
            $what,
            ": `id`, the fields of its input (a write-only secret as `has_password` or ",
            "`has_secret`), `created_at` (RFC 3339)"
        )
    };
    ($what:literal, $more:literal) => {
        concat!(item_doc!($what), ", ", $more)
    };
}

crud!(
    alias_domains,
    AliasDomain,
    "/alias-domains",
    "AliasDomain",
    "an alias domain",
    "alias domains",
    item_doc!(
        "An alias domain",
        "and the computed `bounce_email`, `catchall_email`, `default_from_email`"
    )
);
crud!(
    companies,
    Company,
    "/companies",
    "Company",
    "a company",
    "companies",
    item_doc!("A company", "and `alias_domain_id`")
);
crud!(
    models,
    Model,
    "/models",
    "Model",
    "a model",
    "models",
    item_doc!("A model")
);
crud!(
    aliases,
    Alias,
    "/aliases",
    "Alias",
    "an alias",
    "aliases",
    item_doc!(
        "An alias",
        "`alias_domain_id`, and the computed `alias_full_name`"
    )
);
crud!(
    partners,
    Partner,
    "/partners",
    "Partner",
    "a partner",
    "partners",
    item_doc!("A partner", "`email_normalized`, `message_bounce`")
);
crud!(
    outgoing_servers,
    OutgoingServer,
    "/outgoing-servers",
    "OutgoingServer",
    "an outgoing server",
    "outgoing servers",
    item_doc!(
        "An outgoing server",
        "among them `kind` (`relay`, the default, or `mx`: direct delivery to each recipient \
         domain's MX hosts on `port`, default 25, STARTTLS when offered or required by \
         `encryption`, no login), `connections_per_domain` (mx: connections open at once to \
         one destination domain, default 2), `limit_per_second`, `limit_per_hour`, \
         `limit_per_day` (send limits in sliding windows: mail over a limit waits, with the \
         mail's `waiting_reason` and `next_try_at`; null: no limit), `auth` (`password`, \
         `xoauth2`, `oauth`), `oauth` (with `auth = \"oauth\"`: `provider`, `tenant`, `issuer`, \
         `client_id`, write-only `client_secret`, `client_secret_env`, `scopes`; shown with \
         `has_client_secret`), `oauth_state` (`connected`, `failed`, null before Connect) and \
         `oauth_error` (the provider's reason; the server's mail waits until it is connected \
         again: `POST /outgoing-servers/{id}/connect`)"
    )
);
crud!(
    incoming_servers,
    IncomingServer,
    "/incoming-servers",
    "IncomingServer",
    "an incoming server",
    "incoming servers",
    item_doc!(
        "An incoming server",
        "and its polling state (`last_poll_at`, `last_success_at`, `last_error`, \
         `error_count`, `disabled_at`, ...); with `auth = \"oauth\"`, its `oauth` settings \
         (`provider`, `tenant`, `issuer`, `client_id`, write-only `client_secret`, \
         `client_secret_env`, `scopes`; shown with `has_client_secret`), `oauth_state` \
         (`connected`, `failed`, null before Connect: `POST /incoming-servers/{id}/connect`) \
         and `oauth_error` (the provider's reason)"
    )
);
crud!(
    webhooks,
    Webhook,
    "/webhooks",
    "Webhook",
    "a webhook",
    "webhooks",
    item_doc!(
        "A webhook",
        "`events` from `record.created`, `message.received`, `message.posted`, `mail.sent`, \
         `mail.failed`, `notification.bounced`, `incoming_server.failed`, \
         `outgoing_server.failed` (an OAuth grant refused: the server's mail waits), \
         `raw_message.unprocessable`; none: all"
    )
);

/// What `PUT /params/{key}` takes.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ParamValue {
    /// A string, number or boolean (stored as text); `null` clears the param.
    value: Value,
}

crate::openapi::object_schema!(
    /// A param.
    ParamBody,
    "Param",
    "A param: `key`, `value` (text)"
);

fn param_text(v: &Value) -> Result<String, ApiError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok(String::new()),
        _ => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "value: must be a string, number or boolean",
        )),
    }
}

/// List the params
#[utoipa::path(get, path = "/params", tag = "params",
    responses((status = 200, description = "Every param, one page", body = PageBody<ParamBody>)))]
async fn list_params(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let mut tx = s.store.read().await?;
    let items = tx.list_params().await?;
    Ok(Json(
        serde_json::json!({"items": items, "next_cursor": null}),
    ))
}

/// Get a param
#[utoipa::path(get, path = "/params/{key}", tag = "params",
    params(("key" = String, Path, description = "The param's key")),
    responses((status = 200, description = "Found", body = ParamBody),
        (status = 404, description = "No such param", body = ErrorBody)))]
async fn get_param(
    State(s): State<AppState>,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let mut tx = s.store.read().await?;
    match tx.get_param(&key).await? {
        Some(value) => Ok(Json(serde_json::json!({"key": key, "value": value}))),
        None => Err(StoreError::not_found("param", key).into()),
    }
}

/// Set a param
#[utoipa::path(put, path = "/params/{key}", tag = "params",
    params(("key" = String, Path, description = "The param's key")), request_body = ParamValue,
    responses((status = 200, description = "Set", body = ParamBody),
        (status = 422, description = "Not a string, number or boolean, or refused for this key",
            body = ErrorBody)))]
async fn put_param(
    State(s): State<AppState>,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<ParamValue>,
) -> Result<Json<Value>, ApiError> {
    let text = param_text(&body.value)?;
    let mut tx = s.store.begin().await?;
    let (value, _) = tx.set_param(&key, &text).await?;
    tx.commit().await?;
    Ok(Json(serde_json::json!({"key": key, "value": value})))
}

/// Clear a param
#[utoipa::path(delete, path = "/params/{key}", tag = "params",
    params(("key" = String, Path, description = "The param's key")),
    responses((status = 204, description = "Cleared"),
        (status = 404, description = "No such param", body = ErrorBody)))]
async fn delete_param(
    State(s): State<AppState>,
    ApiPath(key): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let mut tx = s.store.begin().await?;
    if tx.get_param(&key).await?.is_none() {
        return Err(StoreError::not_found("param", key).into());
    }
    tx.set_param(&key, "").await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every route of the configuration API, relative to `/api/v1`.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(alias_domains::routes())
        .merge(companies::routes())
        .merge(models::routes())
        .merge(aliases::routes())
        .merge(partners::routes())
        .merge(outgoing_servers::routes())
        .merge(incoming_servers::routes())
        .merge(webhooks::routes())
        .routes(routes!(list_params))
        .routes(routes!(get_param, put_param, delete_param))
}
