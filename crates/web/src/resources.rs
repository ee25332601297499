//! The configuration part of the API: list, create, read, patch and delete of alias domains,
//! companies, models, aliases, partners, outgoing and incoming servers and webhooks, and the
//! params. Every resource goes through the same five generic handlers; what differs is named
//! by its [`Resource`] impl.
//!
//! PATCH replaces the top-level fields it gives in the resource's current input (a shallow
//! merge): fields not given keep their value, `null` gives a field its default (and leaves a
//! write-only secret unchanged; `""` clears one), an object such as `defaults` is replaced whole,
//! an unknown field is refused.

use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::threads::dated;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use postern_store::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::future::Future;

/// A table of the configuration that the API exposes with the same five verbs.
pub(crate) trait Resource: Serialize + Send + Sized + 'static {
    type Input: DeserializeOwned + Serialize + Send + Sync;
    type Id: From<i64> + Copy + Send;

    fn list(
        tx: &mut Tx,
        page: PageRequest,
    ) -> impl Future<Output = Result<Page<Self>, StoreError>> + Send;
    fn get(tx: &mut Tx, id: Self::Id) -> impl Future<Output = Result<Self, StoreError>> + Send;
    fn create(
        tx: &mut Tx,
        input: &Self::Input,
    ) -> impl Future<Output = Result<Self, StoreError>> + Send;
    fn update(
        tx: &mut Tx,
        id: Self::Id,
        input: &Self::Input,
    ) -> impl Future<Output = Result<Self, StoreError>> + Send;
    fn delete(tx: &mut Tx, id: Self::Id) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn to_input(&self) -> Self::Input;

    /// The JSON answered for one item (the row, plus computed fields for some).
    fn view(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

macro_rules! resource {
    ($ty:ident, $input:ty, $id:ty, $list:ident, $get:ident, $create:ident, $update:ident, $delete:ident) => {
        impl Resource for $ty {
            type Input = $input;
            type Id = $id;
            async fn list(tx: &mut Tx, page: PageRequest) -> Result<Page<Self>, StoreError> {
                tx.$list(page).await
            }
            async fn get(tx: &mut Tx, id: $id) -> Result<Self, StoreError> {
                tx.$get(id).await
            }
            async fn create(tx: &mut Tx, input: &$input) -> Result<Self, StoreError> {
                tx.$create(input).await
            }
            async fn update(tx: &mut Tx, id: $id, input: &$input) -> Result<Self, StoreError> {
                tx.$update(id, input).await
            }
            async fn delete(tx: &mut Tx, id: $id) -> Result<(), StoreError> {
                tx.$delete(id).await
            }
            fn to_input(&self) -> $input {
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

use postern_model::*;

resource!(
    AliasDomain,
    AliasDomainInput,
    AliasDomainId,
    list_alias_domains,
    get_alias_domain,
    create_alias_domain,
    update_alias_domain,
    delete_alias_domain
);
resource!(
    Company,
    CompanyInput,
    CompanyId,
    list_companies,
    get_company,
    create_company,
    update_company,
    delete_company
);
resource!(
    Model,
    ModelInput,
    ModelId,
    list_models,
    get_model,
    create_model,
    update_model,
    delete_model
);
resource!(
    Alias,
    AliasInput,
    AliasId,
    list_aliases,
    get_alias,
    create_alias,
    update_alias,
    delete_alias
);
resource!(
    Partner,
    PartnerInput,
    PartnerId,
    list_partners,
    get_partner,
    create_partner,
    update_partner,
    delete_partner
);
resource!(
    OutgoingServer,
    OutgoingServerInput,
    OutgoingServerId,
    list_outgoing_servers,
    get_outgoing_server,
    create_outgoing_server,
    update_outgoing_server,
    delete_outgoing_server
);
resource!(
    IncomingServer,
    IncomingServerInput,
    IncomingServerId,
    list_incoming_servers,
    get_incoming_server,
    create_incoming_server,
    update_incoming_server,
    delete_incoming_server
);
resource!(
    Webhook,
    WebhookInput,
    WebhookId,
    list_webhooks,
    get_webhook,
    create_webhook,
    update_webhook,
    delete_webhook
);

/// `?limit=&cursor=` of list endpoints.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn list<R: Resource>(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let mut tx = s.store.read().await?;
    let page = R::list(&mut tx, page).await?;
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
    let item = R::create(&mut tx, &input).await?;
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
    let item = R::update(&mut tx, id.into(), &input).await?;
    tx.commit().await?;
    Ok(Json(dated(item.view())))
}

async fn delete<R: Resource>(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    let mut tx = s.store.begin().await?;
    R::delete(&mut tx, id.into()).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

fn crud<R: Resource>(router: Router<AppState>, path: &str) -> Router<AppState> {
    router.route(path, get(list::<R>).post(create::<R>)).route(
        &format!("{path}/{{id}}"),
        get(read::<R>).patch(patch::<R>).delete(delete::<R>),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamValue {
    value: Value,
}

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

async fn list_params(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let mut tx = s.store.read().await?;
    let items = tx.list_params().await?;
    Ok(Json(
        serde_json::json!({"items": items, "next_cursor": null}),
    ))
}

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
pub(crate) fn routes() -> Router<AppState> {
    let r = Router::new();
    let r = crud::<AliasDomain>(r, "/alias-domains");
    let r = crud::<Company>(r, "/companies");
    let r = crud::<Model>(r, "/models");
    let r = crud::<Alias>(r, "/aliases");
    let r = crud::<Partner>(r, "/partners");
    let r = crud::<OutgoingServer>(r, "/outgoing-servers");
    let r = crud::<IncomingServer>(r, "/incoming-servers");
    let r = crud::<Webhook>(r, "/webhooks");
    r.route("/params", get(list_params)).route(
        "/params/{key}",
        get(get_param).put(put_param).delete(delete_param),
    )
}
