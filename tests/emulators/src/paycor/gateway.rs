//! The router, the API gateway in front of it (subscription keys, rate
//! limits, injected faults, the request log) and the authentication of each
//! call's bearer token against the app's Data Access rights.

use super::errors::{ApiError, ServedApp, rate_limit_message};
use super::render::with_casing;
use super::routes::{
    get_department, get_employee, get_employee_person, get_legal_entity, get_person,
    list_departments, list_employees, put_employee,
};
use super::state::{Inner, PaycorState, lock};
use super::{
    AUTHORIZE_PATH, Casing, INVALID_KEY_MESSAGE, MISSING_KEY_MESSAGE, RequestRecord, Right,
    TOKEN_PATH,
};
use crate::oauth;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use std::collections::BTreeSet;

pub(super) fn router(state: PaycorState) -> Router {
    let api = Router::new()
        .route("/v1/legalentities/{le}", get(get_legal_entity))
        .route("/v1/legalentities/{le}/employees", get(list_employees))
        .route("/v1/legalentities/{le}/departments", get(list_departments))
        .route(
            "/v1/legalentities/{le}/departments/{department}",
            get(get_department),
        )
        .route("/v1/employees/{id}", get(get_employee).put(put_employee))
        .route("/v1/employees/{id}/person", get(get_employee_person))
        .route("/v1/tenants/{tenant}/persons/{person}", get(get_person))
        .fallback(|| async {
            ApiError::gateway(StatusCode::NOT_FOUND, "Resource not found")
                .render(Casing::Camel, String::new())
        })
        .layer(middleware::from_fn_with_state(state.clone(), gateway))
        .with_state(state.clone());
    let identity = oauth::router(state.oauth.clone())
        .layer(middleware::from_fn_with_state(state, identity_gateway));
    api.merge(identity)
}

pub(super) fn subscription_key(request: &Request) -> Option<String> {
    if let Some(v) = request
        .headers()
        .get("ocp-apim-subscription-key")
        .and_then(|v| v.to_str().ok())
    {
        return Some(v.to_string());
    }
    let query = request.uri().query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case("subscription-key"))
        .map(|(_, v)| v.into_owned())
}

pub(super) fn record(request: &Request, key: Option<String>) -> RequestRecord {
    RequestRecord {
        method: request.method().to_string(),
        host: request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string),
        path: request.uri().path().to_string(),
        query: request.uri().query().map(str::to_string),
        subscription_key: key,
        client_id: None,
        status: 0,
    }
}

/// The API gateway in front of the API: subscription key, then injected
/// throttles, the rate limit and injected failures; logs every call.
pub(super) async fn gateway(
    State(state): State<PaycorState>,
    request: Request,
    next: Next,
) -> Response {
    let key = subscription_key(&request);
    let mut log = record(&request, key.clone());
    let response = match refuse(&state, key.as_deref()).await {
        Some(response) => response,
        None => next.run(request).await,
    };
    log.client_id = response
        .extensions()
        .get::<ServedApp>()
        .map(|a| a.0.clone());
    log.status = response.status().as_u16();
    lock(&state.inner).requests.push(log);
    response
}

/// The gateway's answer when it refuses an API call, `None` when the call
/// may go on to its endpoint.
async fn refuse(state: &PaycorState, key: Option<&str>) -> Option<Response> {
    let known = {
        let inner = lock(&state.inner);
        key.is_some_and(|k| inner.keys.contains(k))
    };
    let Some(key) = key.filter(|_| known) else {
        let message = if key.is_none() {
            MISSING_KEY_MESSAGE
        } else {
            INVALID_KEY_MESSAGE
        };
        return Some(render(
            state,
            ApiError::gateway(StatusCode::UNAUTHORIZED, message),
        ));
    };
    let throttled = state
        .throttles
        .next_answer(|fault, status| {
            let seconds = fault.retry_after.unwrap_or(1);
            let err = ApiError::Gateway {
                status,
                message: fault
                    .message
                    .clone()
                    .unwrap_or_else(|| rate_limit_message(seconds)),
                retry_after: Some(seconds),
            };
            render(state, err)
        })
        .await;
    if throttled.is_some() {
        return throttled;
    }
    let limited = {
        let mut inner = lock(&state.inner);
        inner.rate_limit.and_then(|limit| {
            let hit = inner
                .windows
                .hit(key.to_string(), limit.calls, limit.window);
            hit.over.then(|| ApiError::rate_limited(hit.retry_after()))
        })
    };
    if let Some(err) = limited {
        return Some(render(state, err));
    }
    state
        .faults
        .next_answer(|fault, status| {
            let mut response = render(
                state,
                ApiError::Paycor {
                    status,
                    title: "Internal Server Error",
                    detail: fault
                        .message
                        .clone()
                        .unwrap_or_else(|| "An unexpected error occurred.".into()),
                    source: None,
                },
            );
            if let Some((name, value)) = fault.retry_after_header() {
                response.headers_mut().insert(name, value);
            }
            response
        })
        .await
}

/// An error in the configured casing, with a fresh correlation id.
fn render(state: &PaycorState, err: ApiError) -> Response {
    let (casing, correlation) = {
        let mut inner = lock(&state.inner);
        (inner.casing, inner.new_guid(7))
    };
    err.render(casing, correlation)
}

/// The gateway in front of the OAuth2 server: the token endpoint needs the
/// subscription key (APIM answers without it); the consent page refuses a
/// missing or unknown `subscription-key` when so configured.
pub(super) async fn identity_gateway(
    State(state): State<PaycorState>,
    request: Request,
    next: Next,
) -> Response {
    let key = subscription_key(&request);
    let mut log = record(&request, key.clone());
    let path = request.uri().path().to_string();
    let refused = {
        let inner = lock(&state.inner);
        let known = key.as_ref().is_some_and(|k| inner.keys.contains(k));
        if path == TOKEN_PATH && !known {
            let message = if key.is_none() {
                MISSING_KEY_MESSAGE
            } else {
                INVALID_KEY_MESSAGE
            };
            Some(
                ApiError::gateway(StatusCode::UNAUTHORIZED, message)
                    .render(Casing::Camel, String::new()),
            )
        } else if path == AUTHORIZE_PATH
            && request.method() == axum::http::Method::GET
            && inner.authorize_requires_key
            && !known
        {
            let page = format!(
                "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>App activation failed</title></head>\n<body><h1>App activation failed</h1><p>The subscription-key parameter is {}.</p></body></html>\n",
                if key.is_none() {
                    "missing"
                } else {
                    "not valid"
                }
            );
            Some(
                (
                    StatusCode::BAD_REQUEST,
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    page,
                )
                    .into_response(),
            )
        } else {
            None
        }
    };
    let response = match refused {
        Some(r) => r,
        None => next.run(request).await,
    };
    log.status = response.status().as_u16();
    lock(&state.inner).requests.push(log);
    response
}

/// Who is calling: the app, its rights and activations.
pub(super) struct Caller {
    pub(super) client_id: String,
    pub(super) rights: BTreeSet<Right>,
    pub(super) legal_entities: Vec<i64>,
}

impl Caller {
    pub(super) fn require(&self, inner: &mut Inner, right: Right) -> Result<(), ApiError> {
        if self.rights.contains(&right) {
            Ok(())
        } else {
            inner.refusals.push(right.title().to_string());
            Err(ApiError::Forbidden)
        }
    }

    pub(super) fn activated(&self, inner: &mut Inner, legal_entity: i64) -> Result<(), ApiError> {
        if self.legal_entities.contains(&legal_entity) {
            Ok(())
        } else {
            inner
                .refusals
                .push(format!("activation for legal entity {legal_entity}"));
            Err(ApiError::Forbidden)
        }
    }
}

pub(super) fn admit(
    state: &PaycorState,
    inner: &Inner,
    headers: &HeaderMap,
) -> Result<Caller, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or(ApiError::Unauthorized)?;
    let info = state.oauth.validate(token).ok_or(ApiError::Unauthorized)?;
    let (rights, legal_entities) = match inner.apps.get(&info.client_id) {
        Some(app) => (
            app.scopes
                .iter()
                .filter(|s| info.scopes.contains(&s.id))
                .flat_map(|s| s.rights.iter().copied())
                .collect(),
            app.legal_entities.clone(),
        ),
        None => (BTreeSet::new(), Vec::new()),
    };
    Ok(Caller {
        client_id: info.client_id,
        rights,
        legal_entities,
    })
}

/// Authenticates, runs `handler` with the state locked and renders its
/// answer in the configured casing.
pub(super) fn handle(
    state: &PaycorState,
    headers: &HeaderMap,
    handler: impl FnOnce(&mut Inner, &Caller) -> Result<(StatusCode, Value), ApiError>,
) -> Response {
    let mut inner = lock(&state.inner);
    let caller = admit(state, &inner, headers);
    let (result, client) = match caller {
        Ok(caller) => (handler(&mut inner, &caller), Some(caller.client_id)),
        Err(e) => (Err(e), None),
    };
    let casing = inner.casing;
    let mut response = match result {
        Ok((status, body)) => (status, axum::Json(with_casing(body, casing))).into_response(),
        Err(err) => {
            let correlation = inner.new_guid(7);
            err.render(casing, correlation)
        }
    };
    if let Some(client) = client {
        response.extensions_mut().insert(ServedApp(client));
    }
    response
}
