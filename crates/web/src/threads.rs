//! The read side of the API: records, their threads and followers, messages with their
//! notifications, attachments, the outbox and the failures (red envelopes).

use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use postern_store::{PageRequest, RecordFilter};
use serde::Deserialize;
use serde_json::{Value, json};

/// Formats epoch milliseconds as RFC 3339 UTC (`2026-11-22T03:15:56.123Z`).
pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Replaces every epoch-millisecond field of an object that is a time — `date`, or a name ending
/// in `_at` or `_date` (`created_at`, `last_error_at`, `scheduled_date`, ...) — by its RFC 3339
/// string: times in the API are RFC 3339 everywhere (DESIGN.md).
pub(crate) fn dated(mut v: Value) -> Value {
    if let Some(fields) = v.as_object_mut() {
        for (key, value) in fields.iter_mut() {
            if (key == "date" || key.ends_with("_at") || key.ends_with("_date"))
                && let Some(ms) = value.as_i64()
            {
                *value = Value::String(rfc3339(ms));
            }
        }
    }
    v
}

pub(crate) fn message_json(m: &postern_store::Message) -> Value {
    let mut v = dated(serde_json::to_value(m).unwrap_or(Value::Null));
    if let Some(list) = v.get_mut("attachments").and_then(Value::as_array_mut) {
        for a in list {
            let id = a["id"].as_i64().unwrap_or(0);
            a["url"] = Value::String(format!("/api/v1/attachments/{id}"));
        }
    }
    v
}

fn page_json<T>(page: postern_store::Page<T>, f: impl Fn(&T) -> Value) -> Json<Value> {
    let items: Vec<Value> = page.items.iter().map(f).collect();
    Json(json!({"items": items, "next_cursor": page.next_cursor}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordQuery {
    model: Option<String>,
    name: Option<String>,
    email_from: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn list_records(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<RecordQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let filter = RecordFilter {
        model: q.model,
        name: q.name,
        email_from: q
            .email_from
            .map(|e| postern_model::address::email_normalize(&e).unwrap_or(e)),
    };
    let mut tx = s.store.read().await?;
    let records = tx.list_records(&filter, page).await?;
    Ok(page_json(records, |r| {
        dated(serde_json::to_value(r).unwrap_or(Value::Null))
    }))
}

async fn get_record(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    let mut tx = s.store.read().await?;
    let r = tx.get_record(id).await?;
    Ok(Json(dated(serde_json::to_value(r)?)))
}

/// `POST /records`: a record opened by the application (201 with the record).
async fn create_record(
    State(s): State<AppState>,
    ApiJson(input): ApiJson<postern_store::NewRecord>,
) -> Result<Response, ApiError> {
    let mut tx = s.store.begin().await?;
    let id = tx.create_record(&input).await?;
    let r = tx.get_record(id).await?;
    tx.commit().await?;
    let body = dated(serde_json::to_value(r)?);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordPatch {
    name: Option<String>,
    values: Option<Value>,
}

/// `PATCH /records/{id}`: `name`, and `values` merged key by key (`null` removes a key).
async fn patch_record(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<RecordPatch>,
) -> Result<Json<Value>, ApiError> {
    let mut tx = s.store.begin().await?;
    let r = tx
        .update_record(id, patch.name.as_deref(), patch.values.as_ref())
        .await?;
    tx.commit().await?;
    Ok(Json(dated(serde_json::to_value(r)?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn record_messages(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let mut tx = s.store.read().await?;
    Ok(page_json(tx.record_messages(id, page).await?, message_json))
}

async fn get_message(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    let mut tx = s.store.read().await?;
    let message = tx.get_message(id).await?;
    // The message's fields and notifications, and the inbound payload beside them.
    let mut v = message_json(&message);
    let payload = crate::payload::inbound_payload(&mut tx, &message).await?;
    if let (Some(fields), Value::Object(extra)) = (v.as_object_mut(), payload) {
        for (k, x) in extra {
            fields.entry(k).or_insert(x);
        }
    }
    Ok(Json(v))
}

async fn failures(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let mut tx = s.store.read().await?;
    Ok(page_json(tx.failures(page).await?, message_json))
}

async fn list_followers(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    let mut tx = s.store.read().await?;
    let items = tx.list_followers(id).await?;
    Ok(Json(json!({"items": items, "next_cursor": null})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FollowerInput {
    partner_id: i64,
    #[serde(default)]
    subtypes: Option<Vec<String>>,
}

async fn add_follower(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<FollowerInput>,
) -> Result<Response, ApiError> {
    let subtypes = input.subtypes.unwrap_or_else(|| {
        postern_model::DEFAULT_SUBTYPES
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    });
    let mut tx = s.store.begin().await?;
    tx.set_follower(id, input.partner_id, &subtypes).await?;
    let items = tx.list_followers(id).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"items": items, "next_cursor": null})),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartnerQuery {
    partner_id: i64,
}

async fn remove_follower(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<PartnerQuery>,
) -> Result<StatusCode, ApiError> {
    let mut tx = s.store.begin().await?;
    tx.remove_follower(id, q.partner_id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn attachment(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let mut tx = s.store.read().await?;
    let (info, content) = tx.attachment_content(id).await?;
    // Served as a download, never rendered in the API's origin.
    let disposition = format!(
        "attachment; filename=\"{}\"",
        info.filename.replace(['"', '\\', '\r', '\n'], "_")
    );
    let mut r = content.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        info.mimetype
            .parse()
            .unwrap_or(header::HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(v) = disposition.parse() {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    Ok(r)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MailQuery {
    state: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// A mail as the API shows it (times in RFC 3339); also `postern queue list --json`.
pub fn mail_json(m: &postern_store::Mail) -> Value {
    dated(serde_json::to_value(m).unwrap_or(Value::Null))
}

async fn list_mail(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<MailQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    if let Some(st) = &q.state {
        st.parse::<postern_model::MailState>().map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!("state: {e}"),
            )
        })?;
    }
    let mut tx = s.store.read().await?;
    Ok(page_json(
        tx.list_mails(q.state.as_deref(), page).await?,
        mail_json,
    ))
}

async fn get_mail(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    let mut tx = s.store.read().await?;
    Ok(Json(mail_json(&tx.get_mail(id).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuery {
    status: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn list_raw(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<RawQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let mut tx = s.store.read().await?;
    let rows = tx.list_raw_messages(q.status.as_deref(), page).await?;
    Ok(page_json(rows, |r| {
        dated(serde_json::to_value(r).unwrap_or(Value::Null))
    }))
}

async fn raw_content(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let mut tx = s.store.read().await?;
    let bytes = tx.raw_message_content(id).await?;
    let mut r = bytes.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("message/rfc822"),
    );
    Ok(r)
}

/// Routes of the read side, relative to `/api/v1`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/records", get(list_records).post(create_record))
        .route("/records/{id}", get(get_record).patch(patch_record))
        .route("/records/{id}/messages", get(record_messages))
        .route(
            "/records/{id}/followers",
            get(list_followers)
                .post(add_follower)
                .delete(remove_follower),
        )
        .route("/messages/{id}", get(get_message))
        .route("/attachments/{id}", get(attachment))
        .route("/failures", get(failures))
        .route("/mail", get(list_mail))
        .route("/mail/{id}", get(get_mail))
        .route("/raw-messages", get(list_raw))
        .route("/raw-messages/{id}/content", get(raw_content))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_058_156_123), "2026-11-19T03:15:56.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
