//! The outbound side of the API: posting a message on a record (`POST /records/{id}/messages`,
//! which notifies the followers), sending one email (`POST /mail`), what became of each of its
//! recipients (`GET /mail/{id}/recipients`), and the connection test of an outgoing server
//! (`POST /outgoing-servers/{id}/test`), the DNS check of an alias domain (`GET
//! /alias-domains/{id}/dns`). Validation and storage are the delivery shell's; this module maps
//! JSON in and out.

use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::openapi::{PageBody, object_schema};
use crate::threads::{MailBody, MessageBody, mail_json, message_json};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use postern_gateway::post::{self, FileInput, MailInput, PostInput};
use postern_model::{AliasDomainId, MailId, OutgoingServerId, PartnerId, RecordId};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

object_schema!(
    /// The answer of a connection test.
    TestResultBody,
    "ServerTestResult",
    "`ok` (the server would take mail from `test_from`), `message`, `test_from`, `warnings` \
     (a list), `max_size` (the server's SIZE limit, or null), `steps` (each step in order: \
     `step`, `ok`, `answer`; the last one failed when `ok` is false)"
);

object_schema!(
    /// The DNS check of an alias domain.
    DnsReportBody,
    "DnsReport",
    "`domain` and `checks`, in the order MX, SPF, DKIM (one per stored key), DMARC, MTA-STS, \
     TLS-RPT; each `{record, name, required, status, found, publish, detail}`: `record` one of \
     `mx`, `spf`, `dkim`, `dmarc`, `mta_sts`, `tls_rpt`; `status` one of `present`, `missing`, \
     `wrong`, `unknown` (DNS did not answer); `found` the records found; `publish` the zone-file \
     line to publish when something must change, else null; `required` false for advice"
);

object_schema!(
    /// What became of one recipient of a mail.
    RecipientBody,
    "MailRecipient",
    "`address`, `partner_id` (or null), `status` (`ready`, `retry`, `sent`, `exception`), \
     `reply` (the server's reply, or why it was not sent)"
);

/// An attachment given inline.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = File)]
#[serde(deny_unknown_fields)]
struct FileJson {
    /// The file name (one line).
    filename: String,
    /// Default `application/octet-stream`.
    #[serde(default)]
    mimetype: Option<String>,
    /// The content, base64.
    content: String,
}

fn files(list: Vec<FileJson>) -> Result<Vec<FileInput>, ApiError> {
    list.into_iter()
        .map(|f| {
            let content = base64::engine::general_purpose::STANDARD
                .decode(f.content.trim())
                .map_err(|e| {
                    invalid(&format!(
                        "attachments: `{}` is not base64 ({e})",
                        f.filename
                    ))
                })?;
            Ok(FileInput {
                mimetype: f
                    .mimetype
                    .unwrap_or_else(|| "application/octet-stream".into()),
                filename: postern_model::safe_filename(&f.filename),
                content,
            })
        })
        .collect()
}

fn invalid(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
}

/// Refuses a line break (CR or LF) in a field that ends up in a header (subject, names,
/// addresses, header names and values, file names): it would add a header of its own, e.g. an
/// address holding `\r\nBcc: x@y` a hidden recipient. 400, before anything is written.
fn one_line<'a>(fields: impl IntoIterator<Item = (String, &'a str)>) -> Result<(), ApiError> {
    for (field, value) in fields {
        if value.contains(['\r', '\n']) {
            return Err(ApiError::bad_request(format!(
                "{field}: must not contain a line break (CR or LF)"
            )));
        }
    }
    Ok(())
}

/// A message posted on a record.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = NewMessage)]
#[serde(deny_unknown_fields)]
struct PostJson {
    /// Subject (one line); the record's name when absent.
    #[serde(default)]
    subject: Option<String>,
    /// HTML body.
    #[serde(default)]
    body_html: Option<String>,
    /// Text body (escaped into HTML when no HTML is given).
    #[serde(default)]
    body_text: Option<String>,
    /// `comment` (default; followers of `comment` notified) or `note` (internal users only).
    #[serde(default)]
    subtype: Option<String>,
    /// The author, a partner.
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    author_partner_id: Option<PartnerId>,
    /// Partners notified besides the followers.
    #[serde(default)]
    #[schema(value_type = Vec<i64>)]
    partner_ids: Vec<PartnerId>,
    /// Attachments.
    #[serde(default)]
    attachments: Vec<FileJson>,
}

/// Post a message on a record
///
/// Stored on the record's thread; its followers (and `partner_ids`) are notified by mail.
#[utoipa::path(
    post,
    path = "/records/{id}/messages",
    tag = "records",
    params(("id" = i64, Path, description = "Record id")),
    request_body = PostJson,
    responses(
        (status = 201, description = "The message, with its notifications", body = MessageBody),
        (status = 404, description = "No such record or partner", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    )
)]
async fn post_message(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<PostJson>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let subject = body
        .subject
        .iter()
        .map(|v| ("subject".to_owned(), v.as_str()));
    let names = body
        .attachments
        .iter()
        .enumerate()
        .map(|(i, f)| (format!("attachments[{i}].filename"), f.filename.as_str()));
    one_line(subject.chain(names))?;
    let input = PostInput {
        subject: body.subject,
        body_html: body.body_html,
        body_text: body.body_text,
        subtype: body.subtype,
        author_partner_id: body.author_partner_id,
        partner_ids: body.partner_ids,
        attachments: files(body.attachments)?,
    };
    let message = post::post_message(&s.store, s.gateway.hostname(), RecordId(id), &input).await?;
    let mut tx = s.store.read().await?;
    Ok((
        StatusCode::CREATED,
        Json(message_json(&tx.get_message(message).await?)),
    ))
}

/// One email to send.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = NewMail)]
#[serde(deny_unknown_fields)]
struct MailJson {
    /// From (the default From of the alias domain when absent).
    #[serde(default)]
    from: Option<String>,
    /// Recipients.
    #[serde(default)]
    to: Vec<String>,
    /// Cc.
    #[serde(default)]
    cc: Vec<String>,
    /// Subject (one line).
    #[serde(default)]
    subject: String,
    /// HTML body.
    #[serde(default)]
    body_html: Option<String>,
    /// Plain-text body.
    #[serde(default)]
    body_text: Option<String>,
    /// `transactional` (default) or `mass`.
    #[serde(default)]
    stream: Option<String>,
    /// The record the mail is about.
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    record_id: Option<RecordId>,
    /// Attachments.
    #[serde(default)]
    attachments: Vec<FileJson>,
    /// More headers (names and values on one line each).
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Not before this time (RFC 3339; a naive time is UTC).
    #[serde(default)]
    scheduled_date: Option<String>,
}

/// Send one email
///
/// Queued in the outbox; the delivery runner sends it.
#[utoipa::path(
    post,
    path = "/mail",
    tag = "mail",
    request_body = MailJson,
    responses(
        (status = 201, description = "The queued mail", body = MailBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    )
)]
async fn send_mail(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<MailJson>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut fields: Vec<(String, &str)> = vec![("subject".into(), body.subject.as_str())];
    fields.extend(body.from.iter().map(|f| ("from".to_owned(), f.as_str())));
    for (name, items) in [("to", &body.to), ("cc", &body.cc)] {
        fields.extend(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("{name}[{i}]"), v.as_str())),
        );
    }
    for (k, v) in &body.headers {
        fields.push((format!("headers.{k}"), k.as_str()));
        fields.push((format!("headers.{k}"), v.as_str()));
    }
    for (i, f) in body.attachments.iter().enumerate() {
        fields.push((format!("attachments[{i}].filename"), f.filename.as_str()));
    }
    one_line(fields)?;
    let scheduled_date = match body.scheduled_date.as_deref() {
        None | Some("") => None,
        Some(d) => Some(parse_rfc3339(d).ok_or_else(|| {
            invalid(&format!(
                "scheduled_date: `{d}` is not an RFC 3339 date (2026-12-01T09:00:00Z)"
            ))
        })?),
    };
    let input = MailInput {
        from: body.from,
        to: body.to,
        cc: body.cc,
        subject: body.subject,
        body_html: body.body_html,
        body_text: body.body_text,
        stream: body.stream,
        record_id: body.record_id,
        attachments: files(body.attachments)?,
        headers: body.headers.into_iter().collect(),
        scheduled_date,
    };
    let id = post::queue_mail(&s.store, s.gateway.hostname(), &input).await?;
    let mut tx = s.store.read().await?;
    Ok((
        StatusCode::CREATED,
        Json(mail_json(&tx.get_mail(id).await?)),
    ))
}

/// List a mail's recipients
///
/// What became of each recipient of a mail (after its first attempt).
#[utoipa::path(
    get,
    path = "/mail/{id}/recipients",
    tag = "mail",
    params(("id" = i64, Path, description = "Mail id")),
    responses(
        (status = 200, description = "The recipients, one page", body = PageBody<RecipientBody>),
        (status = 404, description = "No such mail", body = ErrorBody),
    )
)]
async fn mail_recipients(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    let mut tx = s.store.read().await?;
    tx.get_mail(MailId(id)).await?;
    let items: Vec<Value> = tx
        .mail_recipients(MailId(id))
        .await?
        .into_iter()
        .map(|r| {
            serde_json::json!({"address": r.address, "partner_id": r.partner_id, "status": r.status, "reply": r.reply})
        })
        .collect();
    Ok(Json(
        serde_json::json!({"items": items, "next_cursor": null}),
    ))
}

/// Test an outgoing server
///
/// Connects, TLS, AUTH, `MAIL FROM` the test sender, `RCPT TO` its domain's postmaster,
/// `DATA`; nothing is sent.
#[utoipa::path(
    post,
    path = "/outgoing-servers/{id}/test",
    tag = "outgoing servers",
    params(("id" = i64, Path, description = "Outgoing server id")),
    responses(
        (status = 200, description = "What the test found (`ok` false when the server refused)",
            body = TestResultBody),
        (status = 404, description = "No such outgoing server", body = ErrorBody),
    )
)]
async fn test_server(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    let r = postern_delivery::test_server(
        &s.store,
        OutgoingServerId(id),
        (s.gateway.hostname(), Duration::from_secs(30)),
        (&s.dns, s.oauth.as_ref()),
    )
    .await?;
    Ok(Json(serde_json::to_value(r).unwrap_or(Value::Null)))
}

/// Check the DNS records of an alias domain
///
/// Which records are present, missing or wrong, each with the record to publish: MX, SPF
/// (allowing the active outgoing servers that send for the domain), the DKIM record of each
/// stored key, DMARC; MTA-STS and TLS-RPT as advice. Asks the DNS servers of `[server] dns`.
#[utoipa::path(
    get,
    path = "/alias-domains/{id}/dns",
    tag = "alias domains",
    params(("id" = i64, Path, description = "Alias domain id")),
    responses(
        (status = 200, description = "The report (also when records are missing)",
            body = DnsReportBody),
        (status = 404, description = "No such alias domain", body = ErrorBody),
    )
)]
async fn check_dns(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    let report =
        postern_delivery::check_dns(&s.store, AliasDomainId(id), &s.dns, s.gateway.hostname())
            .await
            .map_err(delivery_error)?;
    Ok(Json(serde_json::to_value(report)?))
}

/// `2026-12-01T09:00:00Z`, `2026-12-01T10:00:00.5+01:00`, `2026-12-01 09:00:00` (naive = UTC,
/// as the reference reads `scheduled_date`) → epoch milliseconds.
pub(crate) fn parse_rfc3339(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(t) {
        return Some(d.timestamp_millis());
    }
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d",
    ]
    .iter()
    .find_map(|f| {
        chrono::NaiveDateTime::parse_from_str(t, f)
            .ok()
            .or_else(|| {
                chrono::NaiveDate::parse_from_str(t, f)
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            })
    })
    .map(|d| d.and_utc().timestamp_millis())
}

/// Retry a mail
///
/// Queues a failed (or cancelled) mail again, due now (`postern queue retry ID`).
#[utoipa::path(
    post,
    path = "/mail/{id}/retry",
    tag = "mail",
    params(("id" = i64, Path, description = "Mail id")),
    responses(
        (status = 200, description = "The mail, queued again", body = MailBody),
        (status = 404, description = "No such mail", body = ErrorBody),
        (status = 409, description = "The mail was sent already", body = ErrorBody),
    )
)]
async fn retry_mail(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    change_mail(&s, MailId(id), true).await
}

/// Cancel a mail
///
/// A mail not sent yet is not sent (`postern queue cancel ID`).
#[utoipa::path(
    post,
    path = "/mail/{id}/cancel",
    tag = "mail",
    params(("id" = i64, Path, description = "Mail id")),
    responses(
        (status = 200, description = "The mail, cancelled", body = MailBody),
        (status = 404, description = "No such mail", body = ErrorBody),
        (status = 409, description = "The mail was sent already", body = ErrorBody),
    )
)]
async fn cancel_mail(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    change_mail(&s, MailId(id), false).await
}

async fn change_mail(s: &AppState, id: MailId, retry: bool) -> Result<Json<Value>, ApiError> {
    let mut tx = s.store.begin().await?;
    if retry {
        tx.retry_mail(id).await?;
    } else {
        tx.cancel_mail(id).await?;
    }
    let mail = tx.get_mail(id).await?;
    tx.commit().await?;
    Ok(Json(mail_json(&mail)))
}

/// What `POST /mail/explain` takes.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ExplainMail {
    /// The From of the mail.
    from: String,
    /// `transactional` (default) or `mass`.
    #[serde(default)]
    stream: Option<String>,
}

object_schema!(
    /// Which server and From an outgoing mail would use.
    OutgoingBody,
    "OutgoingExplained",
    "`server` (its name, or null), `why`, `header_from`, `mail_from` (the envelope sender), \
     `error` (why it could not be sent, or null)"
);

/// Explain an outgoing mail
///
/// Which outgoing server and which From (header and envelope) a mail from `from` would go out
/// with now, and why; nothing is queued.
#[utoipa::path(
    post,
    path = "/mail/explain",
    tag = "mail",
    request_body = ExplainMail,
    responses(
        (status = 200, description = "The choice", body = OutgoingBody),
        (status = 422, description = "Not a stream", body = ErrorBody),
    )
)]
async fn explain_mail(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<ExplainMail>,
) -> Result<Json<Value>, ApiError> {
    one_line([("from".to_owned(), body.from.as_str())])?;
    let stream = match body.stream.as_deref() {
        None | Some("") => postern_model::MailStream::Transactional,
        Some(t) => t.parse().map_err(|e| invalid(&format!("stream: {e}")))?,
    };
    let e = postern_delivery::explain_outgoing(&s.store, &body.from, stream)
        .await
        .map_err(delivery_error)?;
    Ok(Json(serde_json::to_value(e)?))
}

/// The API's answer to a failure of the delivery side (the store, or the DNS resolver).
fn delivery_error(e: postern_delivery::DeliveryError) -> ApiError {
    match e {
        postern_delivery::DeliveryError::Store(e) => ApiError::from(e),
        postern_delivery::DeliveryError::Auth(e) => {
            tracing::error!(error = %e, "DNS resolver");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the DNS resolver cannot be used; see the server's log",
            )
        }
    }
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(explain_mail))
        .routes(routes!(retry_mail))
        .routes(routes!(cancel_mail))
        .routes(routes!(post_message))
        .routes(routes!(send_mail))
        .routes(routes!(mail_recipients))
        .routes(routes!(test_server))
        .routes(routes!(check_dns))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threads::rfc3339;

    #[test]
    fn scheduled_dates() {
        for (text, back) in [
            ("2026-12-01T09:00:00Z", "2026-12-01T09:00:00.000Z"),
            ("2026-12-01T10:00:00.5+01:00", "2026-12-01T09:00:00.500Z"),
            ("2026-12-01 09:00:00", "2026-12-01T09:00:00.000Z"),
            ("2024-02-29T23:59:59-00:30", "2024-03-01T00:29:59.000Z"),
        ] {
            assert_eq!(rfc3339(parse_rfc3339(text).unwrap()), back, "{text}");
        }
        assert!(parse_rfc3339("tomorrow").is_none());
        assert!(parse_rfc3339("2026-13-01").is_none());
    }
}
