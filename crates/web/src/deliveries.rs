//! The webhook deliveries of the API: `GET /webhooks/{id}/deliveries` (every try, with its
//! status and answer) and `POST /webhook-deliveries/{id}/retry` (replays one, same event and
//! `webhook-id`).

use crate::AppState;
use crate::error::{ApiError, ApiPath, ApiQuery};
use crate::threads::dated;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use postern_model::WebhookId;
use postern_store::{PageRequest, WebhookDelivery};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    limit: Option<i64>,
    cursor: Option<String>,
}

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

/// `GET /webhooks/{id}/deliveries`: newest first.
async fn list(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let mut tx = s.store.read().await?;
    let page = tx.webhook_deliveries(WebhookId(id), page).await?;
    let items: Vec<Value> = page.items.iter().map(delivery_json).collect();
    Ok(Json(
        json!({"items": items, "next_cursor": page.next_cursor}),
    ))
}

/// `POST /webhook-deliveries/{id}/retry`: due now (202 with the delivery).
async fn retry(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let mut tx = s.store.begin().await?;
    let d = tx.retry_webhook_delivery(id).await?;
    tx.commit().await?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(delivery_json(&d))))
}

/// The routes, relative to `/api/v1`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks/{id}/deliveries", get(list))
        .route("/webhook-deliveries/{id}/retry", post(retry))
}
