//! The router and the gate every request passes: tenant, injected faults,
//! token, injected throttles, rate limits and rights.

use super::crews::{create_crew, delete_crew, list_crews, read_crew, update_crew};
use super::errors::ApiError;
use super::lists::{
    list_groups_handler, list_plain, list_templates_handler, list_users, read_plain, read_user,
};
use super::state::{Inner, SmartHrState, lock};
use super::webhooks::{
    create_webhook, delete_webhook, list_webhooks, read_webhook, update_webhook,
};
use super::{Access, RequestRecord, Resource};
use crate::faults::Fault;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::time::Instant;

pub(super) fn router(state: SmartHrState) -> Router {
    // A known path with a method SmartHR does not offer there is a 404 with
    // SmartHR's body, not axum's bare 405.
    let not_found = || async { ApiError::not_found() };
    let api = Router::new()
        .route(
            "/crews",
            get(list_crews).post(create_crew).fallback(not_found),
        )
        .route(
            "/crews/{id}",
            get(read_crew)
                .patch(update_crew)
                .delete(delete_crew)
                .fallback(not_found),
        )
        .route(
            "/webhooks",
            get(list_webhooks).post(create_webhook).fallback(not_found),
        )
        .route(
            "/webhooks/{id}",
            get(read_webhook)
                .patch(update_webhook)
                .delete(delete_webhook)
                .fallback(not_found),
        )
        .route("/users", get(list_users).fallback(not_found))
        .route("/users/{id}", get(read_user).fallback(not_found))
        .route(
            "/crew_custom_field_templates",
            get(list_templates_handler).fallback(not_found),
        )
        .route(
            "/crew_custom_field_template_groups",
            get(list_groups_handler).fallback(not_found),
        )
        .route("/{resource}", get(list_plain).fallback(not_found))
        .route("/{resource}/{id}", get(read_plain).fallback(not_found))
        .fallback(not_found);
    Router::new()
        .nest("/api/v1", api)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}

/// The request's host name without port, lowercased.
pub(super) fn host_name(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    Some(name.to_ascii_lowercase())
}

pub(super) fn is_loopback_name(name: &str) -> bool {
    name == "localhost" || name.parse::<std::net::IpAddr>().is_ok()
}

/// What a request under `/api/v1` touches: the resource and the access.
pub(super) fn classify(method: &Method, path: &str) -> Option<(Resource, Access)> {
    let rest = path.strip_prefix("/api/v1/")?;
    let segment = rest.split('/').next()?;
    let resource = Resource::from_segment(segment)?;
    let access = if method == Method::GET || method == Method::HEAD {
        Access::Read
    } else {
        Access::Write
    };
    Some((resource, access))
}

pub(super) fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// The `x-rate-limit-*` headers: limit, remaining and seconds to reset.
pub(super) fn rate_headers(
    limit: u32,
    remaining: u32,
    reset: u64,
) -> Vec<(HeaderName, HeaderValue)> {
    vec![
        (
            HeaderName::from_static("x-rate-limit-limit"),
            HeaderValue::from(limit),
        ),
        (
            HeaderName::from_static("x-rate-limit-remaining"),
            HeaderValue::from(remaining),
        ),
        (
            HeaderName::from_static("x-rate-limit-reset"),
            HeaderValue::from(reset),
        ),
    ]
}

/// Counts a request against the token's limits. Returns the headers to send
/// and, when a limit is exceeded, the 429 to answer instead.
pub(super) fn count_request(
    inner: &mut Inner,
    token: &str,
) -> (Vec<(HeaderName, HeaderValue)>, bool) {
    let now = Instant::now();
    let mut headers = Vec::new();
    let mut exceeded = false;
    for (index, limit) in inner.rate_limits.clone().iter().enumerate() {
        let hit = inner.windows.hit_at(
            (token.to_string(), index),
            limit.requests,
            limit.window,
            now,
        );
        if index == 0 || hit.over {
            headers = rate_headers(
                limit.requests,
                limit.requests.saturating_sub(hit.used),
                hit.reset_seconds(),
            );
        }
        if hit.over {
            exceeded = true;
            break;
        }
    }
    (headers, exceeded)
}

/// An injected fault as SmartHR answers: its error body for the status
/// and, with a retry delay, the `x-rate-limit-*` headers of a spent limit.
fn injected(state: &SmartHrState, fault: &Fault, status: StatusCode) -> Response {
    let mut err = ApiError::for_status(status.as_u16());
    if let Some(message) = &fault.message {
        err.message.clone_from(message);
    }
    if let Some(reset) = fault.retry_after {
        let limit = lock(&state.inner)
            .rate_limits
            .first()
            .map_or(5000, |l| l.requests);
        err.headers = rate_headers(limit, 0, u64::from(reset));
    }
    err.into_response()
}

/// Every request passes here: tenant, injected failures, token, injected
/// throttles, rate limits and rights, in that order; then the handler; then
/// the log.
pub(super) async fn gate(
    State(state): State<SmartHrState>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    let (response, token) = admit_and_run(&state, request, next).await;
    lock(&state.inner).requests.push(RequestRecord {
        method: method.to_string(),
        path,
        query,
        host,
        token,
        status: response.status().as_u16(),
    });
    response
}

pub(super) async fn admit_and_run(
    state: &SmartHrState,
    request: Request,
    next: Next,
) -> (Response, Option<String>) {
    let headers = request.headers().clone();
    let name = host_name(&headers).unwrap_or_default();
    if name != *state.host && !is_loopback_name(&name) {
        let tenant = name.split('.').next().unwrap_or_default().to_string();
        return (
            ApiError::new(4, format!("Tenant `{tenant}` not found")).into_response(),
            None,
        );
    }
    let failed = state
        .faults
        .next_answer(|fault, status| injected(state, fault, status))
        .await;
    if let Some(response) = failed {
        return (response, None);
    }
    let Some((resource, access)) = classify(request.method(), request.uri().path()) else {
        // Unknown paths are 404 whoever asks.
        return (next.run(request).await, None);
    };
    let token = bearer(&headers).unwrap_or_default();
    let found = lock(&state.inner).tokens.get(&token).cloned();
    let Some(found) = found else {
        return (ApiError::new(2, "Unauthorized token").into_response(), None);
    };
    let throttled = state
        .throttles
        .next_answer(|fault, status| injected(state, fault, status))
        .await;
    if let Some(response) = throttled {
        return (response, Some(found.name));
    }
    let (rate, exceeded) = count_request(&mut lock(&state.inner), &token);
    let allowed = found.allows(resource, access);
    let mut response = if exceeded {
        ApiError::new(6, "Too many requests").into_response()
    } else if !allowed {
        let verb = match access {
            Access::Read => "read",
            Access::Write => "write",
        };
        ApiError::new(
            3,
            format!(
                "Forbidden: the access token may not {verb} {}",
                resource.segment()
            ),
        )
        .into_response()
    } else {
        next.run(request).await
    };
    response.headers_mut().extend(rate);
    (response, Some(found.name))
}
