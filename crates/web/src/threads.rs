//! The read side of the API: records, their threads and followers, messages with their
//! notifications, attachments, the outbox and the failures (red envelopes).

use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::openapi::{Binary, PageBody, object_schema};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use postern_model::{AttachmentId, MailId, MessageId, PartnerId, RawMessageId, RecordId};
use postern_store::{PageRequest, RecordFilter};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

object_schema!(
    /// A record.
    RecordBody,
    "Record",
    "A record: `id`, `model`, `name`, `email_from`, `email_cc`, `company_id`, `values` (an \
     object), `message_bounce`, `created_at`"
);
object_schema!(
    /// What `POST /records` takes.
    NewRecordBody,
    "NewRecord",
    "A record opened by the application: `model` and `name` (required), `email_from`, \
     `email_cc`, `company_id`, `values` (an object), `follower_partner_ids` (a list of ids); \
     no other field"
);
object_schema!(
    /// A message with its notifications and attachments.
    MessageBody,
    "Message",
    "A message of a thread, with its notifications and its attachments (each with the `url` \
     of its content); `GET /messages/{id}` adds the inbound payload of a message that came by \
     mail: `message`, `record`, `envelope` (`mail_from`, `rcpt_to`, `source`), `from`, `to`, \
     `cc` (`{name, email}`), `text`, `html`, `stripped_text`, `via`, `alias`, `mailbox_hash`, \
     `auth`"
);
object_schema!(
    /// A mail of the outbox.
    MailBody,
    "Mail",
    "A mail of the outbox: its state (`outgoing`, `sent`, `exception`, `cancel`), addresses, \
     subject, `attempts` and error (`failure_type`, `failure_reason`), `next_try_at` (RFC 3339: \
     when the runner tries it next, while `outgoing`) and `waiting_reason` (why it waits until \
     then when a send limit of its server holds it back, e.g. `send limit of server `relay`: \
     100 mails per hour reached`; null otherwise)"
);
object_schema!(
    /// A follower of a record.
    FollowerBody,
    "Follower",
    "A partner who follows a record: `partner_id`, `name`, `email`, `subtypes` (a list)"
);
object_schema!(
    /// A raw inbound message's metadata.
    RawMessageInfoBody,
    "RawMessageInfo",
    "A raw inbound message: `id`, `received_at`, `source`, `envelope_sender`, \
     `header_message_id`, `size`, `status`, `error`"
);

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

pub(crate) fn page_json<T>(page: postern_store::Page<T>, f: impl Fn(&T) -> Value) -> Json<Value> {
    let items: Vec<Value> = page.items.iter().map(f).collect();
    Json(json!({"items": items, "next_cursor": page.next_cursor}))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct RecordQuery {
    /// Only records of this model.
    model: Option<String>,
    /// Only records of this name.
    name: Option<String>,
    /// Only records of this customer's address (normalized as stored).
    email_from: Option<String>,
    /// At most this many items, 1 to 1000 (default 100).
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// List records
///
/// Optionally of one model, by name or by the customer's address.
#[utoipa::path(
    get,
    path = "/records",
    tag = "records",
    params(RecordQuery),
    responses((status = 200, description = "A page", body = PageBody<RecordBody>))
)]
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

/// Get a record
#[utoipa::path(
    get,
    path = "/records/{id}",
    tag = "records",
    params(("id" = i64, Path, description = "Record id")),
    responses(
        (status = 200, description = "The record", body = RecordBody),
        (status = 404, description = "No such record", body = ErrorBody),
    )
)]
async fn get_record(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    let mut tx = s.store.read().await?;
    let r = tx.get_record(RecordId(id)).await?;
    Ok(Json(dated(serde_json::to_value(r)?)))
}

/// Create a record
///
/// A record opened by the application (not by a mail).
#[utoipa::path(
    post,
    path = "/records",
    tag = "records",
    request_body = NewRecordBody,
    responses(
        (status = 201, description = "The record", body = RecordBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    )
)]
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

/// What `PATCH /records/{id}` takes.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RecordPatch {
    /// The new name.
    name: Option<String>,
    /// Merged key by key into the record's values (`null` removes a key).
    values: Option<Value>,
}

/// Change a record
///
/// `name`, and `values` merged key by key (`null` removes a key).
#[utoipa::path(
    patch,
    path = "/records/{id}",
    tag = "records",
    params(("id" = i64, Path, description = "Record id")),
    request_body = RecordPatch,
    responses(
        (status = 200, description = "The record", body = RecordBody),
        (status = 404, description = "No such record", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    )
)]
async fn patch_record(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<RecordPatch>,
) -> Result<Json<Value>, ApiError> {
    let mut tx = s.store.begin().await?;
    let r = tx
        .update_record(RecordId(id), patch.name.as_deref(), patch.values.as_ref())
        .await?;
    tx.commit().await?;
    Ok(Json(dated(serde_json::to_value(r)?)))
}

/// Delete a record
///
/// With its thread: its messages, their attachments and notifications, its followers, and the
/// raw originals that no message of another record holds. Mails already queued or sent for its
/// messages stay in the outbox. This is how an application lets Postern forget what it no
/// longer needs (retention keeps records until then).
#[utoipa::path(
    delete,
    path = "/records/{id}",
    tag = "records",
    params(("id" = i64, Path, description = "Record id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such record", body = ErrorBody),
    )
)]
async fn delete_record(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::http::StatusCode, ApiError> {
    let mut tx = s.store.begin().await?;
    tx.delete_record(RecordId(id)).await?;
    tx.commit().await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    /// At most this many items, 1 to 1000 (default 100).
    pub(crate) limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
}

/// List a record's messages
///
/// Its thread, oldest first, with the notifications of each message.
#[utoipa::path(
    get,
    path = "/records/{id}/messages",
    tag = "records",
    params(("id" = i64, Path, description = "Record id"), PageQuery),
    responses(
        (status = 200, description = "A page", body = PageBody<MessageBody>),
        (status = 404, description = "No such record", body = ErrorBody),
    )
)]
async fn record_messages(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let mut tx = s.store.read().await?;
    Ok(page_json(
        tx.record_messages(RecordId(id), page).await?,
        message_json,
    ))
}

/// Get a message
#[utoipa::path(
    get,
    path = "/messages/{id}",
    tag = "messages",
    params(("id" = i64, Path, description = "Message id")),
    responses(
        (status = 200, description = "The message", body = MessageBody),
        (status = 404, description = "No such message", body = ErrorBody),
    )
)]
async fn get_message(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    let mut tx = s.store.read().await?;
    let message = tx.get_message(MessageId(id)).await?;
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

/// List the failures
///
/// The messages with a notification that could not be delivered (red envelopes).
#[utoipa::path(
    get,
    path = "/failures",
    tag = "messages",
    params(PageQuery),
    responses((status = 200, description = "A page", body = PageBody<MessageBody>))
)]
async fn failures(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let mut tx = s.store.read().await?;
    Ok(page_json(tx.failures(page).await?, message_json))
}

/// List a record's followers
#[utoipa::path(
    get,
    path = "/records/{id}/followers",
    tag = "records",
    params(("id" = i64, Path, description = "Record id")),
    responses(
        (status = 200, description = "The followers, one page", body = PageBody<FollowerBody>),
        (status = 404, description = "No such record", body = ErrorBody),
    )
)]
async fn list_followers(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    let mut tx = s.store.read().await?;
    let items = tx.list_followers(RecordId(id)).await?;
    Ok(Json(json!({"items": items, "next_cursor": null})))
}

/// A partner who follows a record.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct FollowerInput {
    /// The partner.
    partner_id: i64,
    /// The subtypes followed: `comment` (the default), `note`. Following again replaces them.
    #[serde(default)]
    subtypes: Option<Vec<String>>,
}

/// Add a follower
///
/// Or change the subtypes that a follower follows.
#[utoipa::path(
    post,
    path = "/records/{id}/followers",
    tag = "records",
    params(("id" = i64, Path, description = "Record id")),
    request_body = FollowerInput,
    responses(
        (status = 201, description = "The record's followers, one page",
            body = PageBody<FollowerBody>),
        (status = 404, description = "No such record or partner", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    )
)]
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
    tx.set_follower(RecordId(id), PartnerId(input.partner_id), &subtypes)
        .await?;
    let items = tx.list_followers(RecordId(id)).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"items": items, "next_cursor": null})),
    )
        .into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PartnerQuery {
    /// The follower to remove.
    partner_id: i64,
}

/// Remove a follower
#[utoipa::path(
    delete,
    path = "/records/{id}/followers",
    tag = "records",
    params(("id" = i64, Path, description = "Record id"), PartnerQuery),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such record or follower", body = ErrorBody),
    )
)]
async fn remove_follower(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<PartnerQuery>,
) -> Result<StatusCode, ApiError> {
    let mut tx = s.store.begin().await?;
    tx.remove_follower(RecordId(id), PartnerId(q.partner_id))
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Download an attachment
///
/// Its content, with its MIME type, as a download (`Content-Disposition: attachment`).
#[utoipa::path(
    get,
    path = "/attachments/{id}",
    tag = "messages",
    params(("id" = i64, Path, description = "Attachment id")),
    responses(
        (status = 200, description = "The content, with the attachment's MIME type",
            body = Binary, content_type = "application/octet-stream"),
        (status = 404, description = "No such attachment", body = ErrorBody),
    )
)]
async fn attachment(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let mut tx = s.store.read().await?;
    let (info, content) = tx.attachment_content(AttachmentId(id)).await?;
    let mut r = content.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        info.mimetype
            .parse()
            .unwrap_or(header::HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        content_disposition(&info.filename),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    Ok(r)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct MailQuery {
    /// Only mails in this state: `outgoing`, `sent`, `exception`, `cancel`.
    state: Option<String>,
    /// At most this many items, 1 to 1000 (default 100).
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A mail as the API shows it (times in RFC 3339); also `postern queue list --json`.
pub fn mail_json(m: &postern_store::Mail) -> Value {
    dated(serde_json::to_value(m).unwrap_or(Value::Null))
}

/// List the outbox
#[utoipa::path(
    get,
    path = "/mail",
    tag = "mail",
    params(MailQuery),
    responses(
        (status = 200, description = "A page", body = PageBody<MailBody>),
        (status = 422, description = "Not a mail state", body = ErrorBody),
    )
)]
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

/// Get a mail
#[utoipa::path(
    get,
    path = "/mail/{id}",
    tag = "mail",
    params(("id" = i64, Path, description = "Mail id")),
    responses(
        (status = 200, description = "The mail", body = MailBody),
        (status = 404, description = "No such mail", body = ErrorBody),
    )
)]
async fn get_mail(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    let mut tx = s.store.read().await?;
    Ok(Json(mail_json(&tx.get_mail(MailId(id)).await?)))
}

/// `attachment; filename="..."; filename*=UTF-8''...` of a stored name: always a download,
/// never rendered in the API's origin (whatever the attachment's type, `text/html` included),
/// and always a valid header, whatever bytes the name holds: the plain `filename` is the name
/// without path and with `_` for what is not printable ASCII (RFC 6266 §4.3), `filename*` the
/// whole name (RFC 8187).
fn content_disposition(stored: &str) -> header::HeaderValue {
    let name = postern_model::safe_filename(stored);
    let ascii: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' && c != '%' => c,
            _ => '_',
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => {
                encoded.push(b as char)
            }
            _ => encoded.push_str(&format!("%{b:02X}")),
        }
    }
    let value = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    header::HeaderValue::from_str(&value).unwrap_or(header::HeaderValue::from_static("attachment"))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct RawQuery {
    /// Only raw messages in this status (`failed`: those that could not be parsed or applied;
    /// `unclaimed`: mail to the bounce or catchall address that was neither a reply nor a bounce).
    status: Option<String>,
    /// At most this many items, 1 to 1000 (default 100).
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// List the raw inbound messages
///
/// Newest first, as received, before parsing.
#[utoipa::path(
    get,
    path = "/raw-messages",
    tag = "raw messages",
    params(RawQuery),
    responses((status = 200, description = "A page", body = PageBody<RawMessageInfoBody>))
)]
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

/// Download a raw inbound message
#[utoipa::path(
    get,
    path = "/raw-messages/{id}/content",
    tag = "raw messages",
    params(("id" = i64, Path, description = "Raw message id")),
    responses(
        (status = 200, description = "The message as received", body = Binary,
            content_type = "message/rfc822"),
        (status = 404, description = "No such raw message", body = ErrorBody),
        (status = 410, description = "Its bytes were removed by retention \
            (`postern.retention.raw_days`)", body = ErrorBody),
    )
)]
async fn raw_content(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let mut tx = s.store.read().await?;
    let bytes = tx.raw_message_content(RawMessageId(id)).await?;
    let mut r = bytes.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("message/rfc822"),
    );
    Ok(r)
}

/// Routes of the read side, relative to `/api/v1`.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_records, create_record))
        .routes(routes!(get_record, patch_record, delete_record))
        .routes(routes!(record_messages))
        .routes(routes!(list_followers, add_follower, remove_follower))
        .routes(routes!(get_message))
        .routes(routes!(attachment))
        .routes(routes!(failures))
        .routes(routes!(list_mail))
        .routes(routes!(get_mail))
        .routes(routes!(list_raw))
        .routes(routes!(raw_content))
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
