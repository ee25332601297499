//! The suppression list of the API: `GET /suppressions` (`?address=` to look one up), `POST
//! /suppressions` (add), `GET` and `DELETE /suppressions/{id}`. A hard bounce, repeated soft
//! bounces or a complaint add addresses by themselves (see the store's `suppressions`).

use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::openapi::{PageBody, object_schema};
use crate::threads::{dated, page_json};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use postern_model::SuppressionId;
use postern_store::{PageRequest, Suppression, SuppressionInput};
use serde::Deserialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

object_schema!(
    /// A suppressed address.
    SuppressionBody,
    "Suppression",
    "An address Postern does not send to: `id`, `address` (normalised), `scope` (`all`, or \
     `mass`: transactional mail still goes), `cause` (`hard_bounce`, `soft_bounces`, \
     `complaint`, `unsubscribe`, `manual`), `detail`, `created_at`"
);

object_schema!(
    /// What is given to suppress an address.
    SuppressionInputBody,
    "SuppressionInput",
    "`address` (required), `scope` (`all`, the default, or `mass`), `cause` (default `manual`), \
     `detail` (a note). Unknown fields are refused."
);

/// `?address=&limit=&cursor=` of the list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Only this address's suppressions.
    address: Option<String>,
    /// At most this many items, 1 to 1000 (default 100).
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

fn json(s: &Suppression) -> Value {
    dated(serde_json::to_value(s).unwrap_or(Value::Null))
}

/// List the suppressed addresses
#[utoipa::path(get, path = "/suppressions", tag = "suppressions", params(ListQuery),
    operation_id = "list_suppressions",
    responses((status = 200, description = "A page, by id", body = PageBody<SuppressionBody>)))]
async fn list(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let mut tx = s.store.read().await?;
    let found = tx.list_suppressions(q.address.as_deref(), page).await?;
    Ok(page_json(found, json))
}

/// Suppress an address
///
/// An address already suppressed for that scope keeps its first cause (answered 200).
#[utoipa::path(post, path = "/suppressions", tag = "suppressions",
    operation_id = "create_suppression",
    request_body = SuppressionInputBody,
    responses((status = 201, description = "Suppressed", body = SuppressionBody),
        (status = 422, description = "Not an address", body = ErrorBody)))]
async fn create(
    State(s): State<AppState>,
    ApiJson(input): ApiJson<SuppressionInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut tx = s.store.begin().await?;
    let row = tx.suppress(&input).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(json(&row))))
}

/// Get a suppression
#[utoipa::path(get, path = "/suppressions/{id}", tag = "suppressions",
    operation_id = "get_suppression",
    params(("id" = i64, Path, description = "Id")),
    responses((status = 200, description = "The suppression", body = SuppressionBody),
        (status = 404, description = "No such suppression", body = ErrorBody)))]
async fn read(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    let mut tx = s.store.read().await?;
    Ok(Json(json(&tx.get_suppression(SuppressionId(id)).await?)))
}

/// Remove a suppression
///
/// Mail goes to the address again.
#[utoipa::path(delete, path = "/suppressions/{id}", tag = "suppressions",
    operation_id = "delete_suppression",
    params(("id" = i64, Path, description = "Id")),
    responses((status = 204, description = "Removed"),
        (status = 404, description = "No such suppression", body = ErrorBody)))]
async fn delete(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    let mut tx = s.store.begin().await?;
    tx.delete_suppression(SuppressionId(id)).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The routes, relative to `/api/v1`.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, delete))
}
