//! The web console: `cardhost serve` serves its pages at `/` and
//! `/console/…`, embedded in the binary (no CDN, nothing fetched at run
//! time), under a Content-Security-Policy that allows only the console's
//! own scripts and styles.
//!
//! Signing in exchanges an API key (typed into a password field) for a
//! session: `POST /console/session` checks the key as the API does and sets
//! an HttpOnly, SameSite=Strict cookie (Secure when the public URL is
//! https) holding a random token; the store keeps only its SHA-256, the key
//! it stands for and its expiry ([`SESSION_TTL`]), so every node behind a
//! load balancer knows it. Each API request with the cookie acts as that
//! key — same role, and a revoked key ends its sessions at once — and every
//! change (any method but GET and HEAD) must also bring the session's CSRF
//! token in [`CSRF_HEADER`] and, when the browser sends an `Origin`, come
//! from this server's own origin. `DELETE /console/session` signs out.

use super::AppState;
use super::api::{ApiError, St};
use crate::store::{ApiKeyRecord, ConsoleSession, now_ms, rfc3339};
use axum::Json;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// The cookie that carries a console session's token.
pub const SESSION_COOKIE: &str = "cardhost_session";
/// The header every change made with a session cookie must carry.
pub const CSRF_HEADER: &str = "x-cardhost-csrf";
/// How long a console session lasts after signing in.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// What the console's pages may load and do.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
    base-uri 'none'; frame-ancestors 'none'";

/// One embedded file of the console.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! assets {
    ($($name:literal => $type:literal),* $(,)?) => {
        &[$(Asset {
            name: $name,
            content_type: $type,
            body: include_str!(concat!("../../console/", $name)),
        }),*]
    };
}

const ASSETS: &[Asset] = assets![
    "index.html" => "text/html; charset=utf-8",
    "console.css" => "text/css; charset=utf-8",
    "app.js" => "text/javascript; charset=utf-8",
    "api.js" => "text/javascript; charset=utf-8",
    "forms.js" => "text/javascript; charset=utf-8",
    "catalog.js" => "text/javascript; charset=utf-8",
    "connections.js" => "text/javascript; charset=utf-8",
    "runner.js" => "text/javascript; charset=utf-8",
    "history.js" => "text/javascript; charset=utf-8",
    "triggers.js" => "text/javascript; charset=utf-8",
];

fn asset_response(asset: &Asset) -> Response {
    let mut response = (StatusCode::OK, asset.body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    secure_headers(h);
    response
}

/// The headers every console answer carries.
fn secure_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

/// `GET /` and `GET /console/`: the console's page.
pub(super) async fn index() -> Response {
    asset_response(&ASSETS[0])
}

/// `GET /console/{file}`: one of its scripts or its stylesheet.
pub(super) async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == file) {
        Some(a) => asset_response(a),
        None => (StatusCode::NOT_FOUND, "no such console file").into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SignIn {
    key: String,
}

fn session_json(key: &ApiKeyRecord, session: &ConsoleSession) -> serde_json::Value {
    json!({
        "key_id": key.id,
        "key_name": key.name,
        "role": key.role,
        "csrf": session.csrf,
        "expires_at": rfc3339(session.expires_at_ms / 1000),
    })
}

fn unauthenticated(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
}

/// The SHA-256 (hex) a session token is stored under.
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The session token in a request's cookies, if any.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE && !value.is_empty()).then(|| value.to_string())
        })
}

/// Whether a request came from this server's own pages: no `Origin` (not
/// a browser's cross-site request), or one naming the host it was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    url::Url::parse(origin).is_ok_and(|o| {
        let authority = match (o.host_str(), o.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => return false,
        };
        authority.eq_ignore_ascii_case(host)
    })
}

fn cookie(st: &AppState, token: &str, max_age: u64) -> HeaderValue {
    let secure = if st.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("a cookie of hex and fixed text is a header value")
}

/// `POST /console/session`: signs in with an API key.
pub(super) async fn sign_in(
    axum::extract::State(st): St,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    if !st.sign_in_limiter.admit() {
        st.metrics.rejected("rate-limited");
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "too many sign-in attempts; wait a second and try again",
        )
        .retry_after(1));
    }
    if !same_origin(&headers) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross-origin",
            "sign in from the console's own page",
        ));
    }
    let SignIn { key } = super::api::parse_json(&body)?;
    let Some(record) = super::keys::verify(st.store.as_ref(), key.trim()).await? else {
        return Err(unauthenticated(
            "that API key is not valid or was revoked; check it and try again",
        ));
    };
    let token = hex::encode(rand::random::<[u8; 32]>());
    let now = now_ms();
    let session = ConsoleSession {
        token_hash: token_hash(&token),
        key_id: record.id.clone(),
        csrf: hex::encode(rand::random::<[u8; 16]>()),
        created_at_ms: now,
        expires_at_ms: now + SESSION_TTL.as_millis() as i64,
    };
    st.store.create_console_session(&session).await?;
    tracing::info!(key = %record.id, "console sign-in");
    let mut response = Json(session_json(&record, &session)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        cookie(&st, &token, SESSION_TTL.as_secs()),
    );
    secure_headers(response.headers_mut());
    Ok(response)
}

/// `GET /console/session`: the signed-in session (its CSRF token again,
/// for a reloaded page).
pub(super) async fn show(
    axum::extract::State(st): St,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (key, session) = session_of(&st, &headers)
        .await?
        .ok_or_else(|| unauthenticated("not signed in"))?;
    let mut response = Json(session_json(&key, &session)).into_response();
    secure_headers(response.headers_mut());
    Ok(response)
}

/// `DELETE /console/session`: signs out.
pub(super) async fn sign_out(
    axum::extract::State(st): St,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some((_, session)) = session_of(&st, &headers).await? {
        check_change(&headers, &session)?;
        st.store.delete_console_session(&session.token_hash).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie(&st, "", 0));
    Ok(response)
}

/// The live session and its key named by a request's cookie: none without
/// a cookie; an error for one that ended (expired, signed out, its key
/// revoked).
pub(super) async fn session_of(
    st: &Arc<AppState>,
    headers: &HeaderMap,
) -> Result<Option<(ApiKeyRecord, ConsoleSession)>, ApiError> {
    let Some(token) = cookie_token(headers) else {
        return Ok(None);
    };
    let ended = || unauthenticated("your console session ended; sign in again");
    let session = st
        .store
        .console_session(&token_hash(&token))
        .await?
        .filter(|s| s.expires_at_ms > now_ms())
        .ok_or_else(ended)?;
    let key = st
        .store
        .api_key(&session.key_id)
        .await?
        .filter(|k| k.revoked_at.is_none())
        .ok_or_else(ended)?;
    Ok(Some((key, session)))
}

/// Refuses a change made with a session cookie that lacks the session's
/// CSRF token or comes from another origin.
pub(super) fn check_change(headers: &HeaderMap, session: &ConsoleSession) -> Result<(), ApiError> {
    let presented = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token_ok: bool = presented.as_bytes().ct_eq(session.csrf.as_bytes()).into();
    if !token_ok || !same_origin(headers) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            format!(
                "a change made from the console must carry the session's `{CSRF_HEADER}` header \
                 and come from this server's page"
            ),
        ));
    }
    Ok(())
}

/// Whether `method` changes something (and so needs the CSRF token).
pub(super) fn is_change(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let h = headers(&[("cookie", "a=1; cardhost_session=abc; b=2")]);
        assert_eq!(cookie_token(&h).as_deref(), Some("abc"));
        let h = headers(&[("cookie", "a=1"), ("cookie", "cardhost_session=def")]);
        assert_eq!(cookie_token(&h).as_deref(), Some("def"));
        assert_eq!(
            cookie_token(&headers(&[("cookie", "cardhost_session=")])),
            None
        );
        assert_eq!(
            cookie_token(&headers(&[("cookie", "xcardhost_session=1")])),
            None
        );
    }

    #[test]
    fn only_this_servers_origin_may_change_things() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8080")])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "null")
        ])));
        assert!(same_origin(&headers(&[
            ("host", "cardhost.example"),
            ("origin", "https://cardhost.example")
        ])));
    }

    #[test]
    fn every_console_file_is_embedded_once() {
        let mut names: Vec<_> = ASSETS.iter().map(|a| a.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ASSETS.len());
        assert_eq!(ASSETS[0].name, "index.html");
        for a in ASSETS {
            assert!(!a.body.is_empty(), "{}", a.name);
        }
    }
}
