//! The DKIM keys of an alias domain in the API, as `postern dkim generate` makes them:
//! `GET /alias-domains/{id}/dkim-keys` lists them with the TXT record each needs, `POST` makes a
//! new one (a rotation: two keys live at once, a third retires the oldest). The private key is
//! written to the store and never shown.

use crate::AppState;
use crate::error::{ApiError, ApiPath, ErrorBody};
use crate::openapi::object_schema;
use crate::threads::dated;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use postern_auth::keys;
use postern_model::{AliasDomainId, DkimAlgorithm};
use postern_store::{DkimKey, NewDkimKey};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

object_schema!(
    /// A DKIM key of an alias domain, without its private half.
    DkimKeyBody,
    "DkimKey",
    "`id`, `selector`, `algorithm` (`rsa2048` or `ed25519`), `created_at`, `key_file` (the file \
     of a key of the configuration, else null), and the record to \
     publish: `name` (`SELECTOR._domainkey.DOMAIN`), `txt` (its text) and `zone_line` (both, as \
     a zone file writes them). A new key also carries `retired`: the selectors it retired."
);

object_schema!(
    /// What is given to make a key.
    DkimKeyInputBody,
    "DkimKeyInput",
    "`selector` (default `postern` and the year and month, e.g. `postern202612`), `algorithm` \
     (`rsa2048`, the default, or `ed25519`). The body may be empty."
);

/// A key to make: every field may be left out.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct KeyInput {
    selector: Option<String>,
    algorithm: Option<DkimAlgorithm>,
}

fn key_json(domain: &str, k: &DkimKey) -> Value {
    let txt = keys::txt_record(k.algorithm, &k.public_key);
    dated(json!({
        "id": k.id,
        "selector": k.selector,
        "algorithm": k.algorithm,
        "created_at": k.created_at,
        "key_file": k.key_file,
        "name": keys::record_name(&k.selector, domain),
        "zone_line": keys::zone_line(&k.selector, domain, &txt),
        "txt": txt,
    }))
}

/// List the DKIM keys of an alias domain
///
/// Newest first, each with the TXT record to publish. Mail whose From is in the domain is
/// signed with every key listed.
#[utoipa::path(get, path = "/alias-domains/{id}/dkim-keys", tag = "alias domains",
    operation_id = "list_dkim_keys",
    params(("id" = i64, Path, description = "Alias domain id")),
    responses((status = 200, description = "`{items}`", body = DkimKeyBody),
        (status = 404, description = "No such alias domain", body = ErrorBody)))]
async fn list(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    let mut tx = s.store.read().await?;
    let domain = tx
        .get::<postern_store::AliasDomain>(AliasDomainId(id))
        .await?;
    let items: Vec<Value> = tx
        .dkim_keys(AliasDomainId(id))
        .await?
        .iter()
        .map(|k| key_json(&domain.name, k))
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// Make a DKIM key for an alias domain
///
/// As `postern dkim generate`: the key is stored, its TXT record answered, and mail whose From
/// is in the domain is signed with it from then on. Two keys live at once: a third retires the
/// oldest (named in `retired`).
#[utoipa::path(post, path = "/alias-domains/{id}/dkim-keys", tag = "alias domains",
    operation_id = "create_dkim_key",
    params(("id" = i64, Path, description = "Alias domain id")),
    request_body = DkimKeyInputBody,
    responses((status = 201, description = "The key and its record", body = DkimKeyBody),
        (status = 404, description = "No such alias domain", body = ErrorBody),
        (status = 409, description = "The domain has a key with that selector", body = ErrorBody),
        (status = 422, description = "Not a selector", body = ErrorBody)))]
async fn create(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let input: KeyInput = match body.iter().all(u8::is_ascii_whitespace) {
        true => KeyInput::default(),
        false => serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string())
        })?,
    };
    let selector = input.selector.unwrap_or_else(keys::this_months_selector);
    if !keys::valid_selector(&selector) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!(
                "selector: `{selector}` is not a selector: letters, digits, `-` and `_`, labels \
                 separated by dots"
            ),
        ));
    }
    let key = keys::generate(input.algorithm.unwrap_or_default()).map_err(|e| {
        tracing::error!(error = %e, "DKIM key generation");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the key could not be made; see the server's log",
        )
    })?;
    let new = NewDkimKey {
        selector,
        algorithm: key.algorithm,
        private_key: key.private_key,
        public_key: key.public_key,
        key_file: None,
    };
    let mut tx = s.store.begin().await?;
    let domain = tx
        .get::<postern_store::AliasDomain>(AliasDomainId(id))
        .await?;
    let (added, retired) = tx.add_dkim_key(AliasDomainId(id), &new).await?;
    tx.commit().await?;
    let mut body = key_json(&domain.name, &added);
    body["retired"] = retired.iter().map(|k| k.selector.clone()).collect();
    Ok((StatusCode::CREATED, Json(body)))
}

/// The routes, relative to `/api/v1`.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create))
}
