//! The webhook deliveries of the API: `GET /webhooks/{id}/deliveries` (every try, with its
//! status and answer) and `POST /webhook-deliveries/{id}/retry` (replays one, same event and
//! `webhook-id`).

use crate::AppState;
use crate::error::{ApiError, ApiPath, ApiQuery, ErrorBody};
use crate::openapi::{PageBody, object_schema};
use crate::threads::{PageQuery, dated, page_json};
use axum::Json;
use axum::extract::State;
use postern_model::{WebhookDeliveryId, WebhookId};
use postern_store::{PageRequest, WebhookDelivery};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

object_schema!(
    /// A webhook delivery.
    DeliveryBody,
    "WebhookDelivery",
    "One event for one endpoint: `id`, `webhook_id`, `event_id` (the `webhook-id` header), \
     `event_type`, `state` (`pending`, `delivered`, `failed`), `attempts`, `next_try_at`, \
     `last_status`, `last_error`, `created_at`, `delivered_at`, and `tries` (each \
     `attempted_at`, `duration_ms`, `status`, `response` (at most 4 KiB), `error`)"
);

/// A delivery with its times in RFC 3339, the tries' too.
fn delivery_json(d: &WebhookDelivery) -> Value {
    let mut v = dated(serde_json::to_value(d).unwrap_or(Value::Null));
    if let Some(tries) = v.get_mut("tries").and_then(Value::as_array_mut) {
        for t in tries {
            *t = dated(t.take());
        }
    }
    v
}

/// List a webhook's deliveries
///
/// Newest first, each with every try, its status and the endpoint's answer.
#[utoipa::path(
    get,
    path = "/webhooks/{id}/deliveries",
    tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id"), PageQuery),
    responses(
        (status = 200, description = "A page", body = PageBody<DeliveryBody>),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
async fn list(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let mut tx = s.store.read().await?;
    Ok(page_json(
        tx.webhook_deliveries(WebhookId(id), page).await?,
        delivery_json,
    ))
}

/// Replay a delivery
///
/// Due now, whatever its state: the same event under the same `webhook-id`.
#[utoipa::path(
    post,
    path = "/webhook-deliveries/{id}/retry",
    tag = "webhooks",
    params(("id" = i64, Path, description = "Delivery id")),
    responses(
        (status = 202, description = "The delivery, pending", body = DeliveryBody),
        (status = 404, description = "No such delivery", body = ErrorBody),
    )
)]
async fn retry(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let mut tx = s.store.begin().await?;
    let d = tx.retry_webhook_delivery(WebhookDeliveryId(id)).await?;
    tx.commit().await?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(delivery_json(&d))))
}

/// The routes, relative to `/api/v1`.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(retry))
}
