//! Who may call: bearer token, injected throttles, rate limit, read-only
//! mode and scope, in that order.

use super::errors::{ScimError, ServedClient, answer};
use super::routes::Answer;
use super::state::{ScimState, lock};
use super::{RateLimit, ResponseStyle};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

/// Who is calling, and the answer style at the time.
pub(super) struct Caller {
    pub(super) client_id: String,
    pub(super) style: ResponseStyle,
}

impl Caller {
    pub(super) fn ok(
        &self,
        status: StatusCode,
        body: Value,
        headers: Vec<(HeaderName, HeaderValue)>,
    ) -> Response {
        let mut response = answer(&self.style, status, body, headers);
        response
            .extensions_mut()
            .insert(ServedClient(self.client_id.clone()));
        response
    }

    pub(super) fn fail(&self, err: ScimError) -> Response {
        err.for_client(&self.client_id).render(&self.style)
    }

    pub(super) fn answer(&self, result: Answer) -> Response {
        match result {
            Ok((status, body, headers)) => self.ok(status, body, headers),
            Err(err) => self.fail(err),
        }
    }
}

/// Authentication, injected throttles, rate limit, read-only mode and scope,
/// in that order.
pub(super) async fn admit(
    state: &ScimState,
    headers: &HeaderMap,
    write: bool,
) -> Result<Caller, Box<Response>> {
    let style = lock(&state.inner).style;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let Some(token) = token else {
        return Err(ScimError::new(
            StatusCode::UNAUTHORIZED,
            None,
            "Authorization failure. The authorization header is missing or not a bearer token.",
        )
        .header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"scim\""),
        )
        .render(&style)
        .into());
    };
    let Some(info) = (state.validator)(token) else {
        return Err(ScimError::new(
            StatusCode::UNAUTHORIZED,
            None,
            "Authorization failure. The access token is invalid or has expired.",
        )
        .header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"scim\", error=\"invalid_token\""),
        )
        .render(&style)
        .into());
    };
    let client_id = info.client_id;
    let throttled = state
        .throttles
        .next_answer(|fault, status| {
            let mut err = too_many_requests(fault.retry_after.unwrap_or(1), None);
            err.status = status;
            if let Some(message) = &fault.message {
                err.detail.clone_from(message);
            }
            err.for_client(&client_id).render(&style)
        })
        .await;
    if let Some(response) = throttled {
        return Err(response.into());
    }
    let mut inner = lock(&state.inner);
    if let Some(limit) = inner.rate_limit {
        let hit = inner
            .windows
            .hit(client_id.clone(), limit.requests, limit.window);
        if hit.over {
            return Err(too_many_requests(hit.retry_after(), Some(limit))
                .for_client(&client_id)
                .render(&style)
                .into());
        }
    }
    if write && !inner.writes_enabled {
        return Err(ScimError::new(
            StatusCode::NOT_IMPLEMENTED,
            None,
            "This service provider is read-only: users cannot be created, changed or deleted.",
        )
        .for_client(&client_id)
        .render(&style)
        .into());
    }
    let needed: &[&str] = if write {
        &[&state.read_scope, &state.write_scope]
    } else {
        &[&state.read_scope]
    };
    if let Some(missing) = needed.iter().find(|s| !info.scopes.iter().any(|g| g == *s)) {
        let challenge =
            format!("Bearer realm=\"scim\", error=\"insufficient_scope\", scope=\"{missing}\"");
        let mut err = ScimError::new(
            StatusCode::FORBIDDEN,
            None,
            format!("The access token lacks the scope `{missing}` this request needs."),
        )
        .for_client(&client_id);
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            err = err.header(header::WWW_AUTHENTICATE, value);
        }
        return Err(err.render(&style).into());
    }
    Ok(Caller { client_id, style })
}

pub(super) fn too_many_requests(retry_after: u32, limit: Option<RateLimit>) -> ScimError {
    let detail = match limit {
        Some(l) => format!(
            "Too many requests: the limit is {} requests per {} seconds. Retry after {retry_after} seconds.",
            l.requests,
            l.window.as_secs()
        ),
        None => format!("Too many requests. Retry after {retry_after} seconds."),
    };
    ScimError::new(StatusCode::TOO_MANY_REQUESTS, None, detail)
        .header(header::RETRY_AFTER, HeaderValue::from(retry_after))
}
