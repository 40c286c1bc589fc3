//! `/v1/…/triggers`, `/v1/subscriptions` and their event feeds.

use super::api::{ApiError, Caller, St, parse_json, query_of};
use crate::store::{Role, Target};
use crate::subscriptions::{CreateSubscription, HookError, MAX_FEED_PAGE};
use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

pub(super) async fn connection_triggers(
    axum::extract::State(st): St,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Reader, "reading the catalog")?;
    let triggers = st.subs.triggers(&id).await?;
    Ok(Json(json!({"connection": id, "triggers": triggers})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateBody {
    connection: String,
    trigger: String,
    interval_seconds: Option<u32>,
    #[serde(default = "feed")]
    target: Target,
}

fn feed() -> Target {
    Target::Feed
}

pub(super) async fn create_subscription(
    axum::extract::State(st): St,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Admin, "creating subscriptions")?;
    let body: CreateBody = parse_json(&body)?;
    let view = st
        .subs
        .create(CreateSubscription {
            connection: body.connection,
            trigger: body.trigger,
            interval_seconds: body.interval_seconds,
            target: body.target,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(json!(view))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    connection: Option<String>,
}

pub(super) async fn list_subscriptions(
    axum::extract::State(st): St,
    caller: Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Reader, "reading subscriptions")?;
    let q = query_of(query)?;
    let subs = st.subs.list(q.connection.as_deref()).await?;
    Ok(Json(json!({"subscriptions": subs})))
}

pub(super) async fn show_subscription(
    axum::extract::State(st): St,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Reader, "reading subscriptions")?;
    Ok(Json(json!(st.subs.show(&id).await?)))
}

pub(super) async fn delete_subscription(
    axum::extract::State(st): St,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin, "deleting subscriptions")?;
    st.subs.delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn pause(
    axum::extract::State(st): St,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin, "pausing subscriptions")?;
    Ok(Json(json!(st.subs.pause(&id).await?)))
}

pub(super) async fn resume(
    axum::extract::State(st): St,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin, "resuming subscriptions")?;
    Ok(Json(json!(st.subs.resume(&id).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventsQuery {
    after: Option<String>,
    limit: Option<u32>,
}

pub(super) async fn events(
    axum::extract::State(st): St,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Reader, "reading events")?;
    let q = query_of(query)?;
    let page = st
        .subs
        .events(
            &id,
            q.after.as_deref(),
            q.limit.unwrap_or(100).min(MAX_FEED_PAGE),
        )
        .await?;
    Ok(Json(json!(page)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RedeliverBody {
    from_seq: Option<i64>,
}

pub(super) async fn redeliver(
    axum::extract::State(st): St,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin, "redelivering events")?;
    let body: RedeliverBody = if body.iter().all(u8::is_ascii_whitespace) {
        RedeliverBody::default()
    } else {
        parse_json(&body)?
    };
    let pending = st.subs.redeliver(&id, body.from_seq).await?;
    Ok(Json(json!({"subscription": id, "pending": pending})))
}

pub(super) async fn dead_letters(
    axum::extract::State(st): St,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Reader, "reading dead letters")?;
    let dead = st.subs.dead_letters(&id).await?;
    Ok(Json(json!({"subscription": id, "dead_letters": dead})))
}

/// `POST /v1/hooks/{id}`: a vendor's webhook delivery. No API key: the
/// delivery is verified as the trigger declares (its token or signature)
/// before the connector sees a byte, and an unverified one is answered 401
/// and dropped. A 2xx tells the vendor the events are stored.
pub(super) async fn hook(
    axum::extract::State(st): St,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let headers: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    match st.subs.receive(&id, headers, body.to_vec()).await {
        Ok(stored) => Ok(Json(json!({"stored": stored}))),
        Err(e) => {
            if matches!(e, HookError::Unverified(_)) {
                st.metrics.rejected("unverified-hook");
            }
            Err(e.into())
        }
    }
}
