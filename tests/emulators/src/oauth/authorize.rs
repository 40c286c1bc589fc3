//! The authorization endpoint with its consent page, and the RFC 8414
//! metadata document.

use super::GrantType;
use super::protocol::{Params, grant_scopes, parse_form, parse_scope};
use super::state::{AuthCode, Inner, OAuthState, Settings, lock, random_token};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Instant;

/// A validated authorization request.
pub(super) struct AuthorizeRequest {
    pub(super) client_id: String,
    pub(super) redirect_uri: String,
    pub(super) redirect_uri_param: Option<String>,
    pub(super) scopes: Vec<String>,
    pub(super) state: Option<String>,
    pub(super) challenge: Option<String>,
}

/// Why an authorization request failed: some errors may not be sent to the
/// redirect URI (an unknown client or redirect URI could be an attacker's).
pub(super) enum AuthorizeError {
    /// Shown to the user as a page.
    Page(String),
    /// Sent to the (validated) redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
}

pub(super) fn check_authorize(
    settings: &Settings,
    inner: &Inner,
    params: &Params,
) -> Result<AuthorizeRequest, AuthorizeError> {
    let client_id = params
        .get("client_id")
        .ok_or_else(|| AuthorizeError::Page("client_id is missing".into()))?;
    let client = inner
        .clients
        .get(client_id)
        .ok_or_else(|| AuthorizeError::Page(format!("unknown client `{client_id}`")))?;
    let redirect_uri_param = params.get("redirect_uri").map(str::to_string);
    let redirect_uri = match &redirect_uri_param {
        Some(uri) if client.redirect_uris.contains(uri) => uri.clone(),
        Some(uri) => {
            return Err(AuthorizeError::Page(format!(
                "redirect_uri `{uri}` is not registered for client `{client_id}`"
            )));
        }
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => {
            return Err(AuthorizeError::Page(
                "redirect_uri is required: the client has no single registered redirect URI".into(),
            ));
        }
    };
    let state = params.get("state").map(str::to_string);
    let fail = |error: &'static str, description: String| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error,
        description,
    };
    match params.get("response_type") {
        Some("code") => {}
        Some(other) => {
            return Err(fail(
                "unsupported_response_type",
                format!("response_type `{other}` is not supported; use `code`"),
            ));
        }
        None => {
            return Err(fail("invalid_request", "response_type is missing".into()));
        }
    }
    if !client.grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(fail(
            "unauthorized_client",
            format!("client `{client_id}` may not use the authorization_code grant"),
        ));
    }
    let scopes = grant_scopes(
        parse_scope(params.get("scope")).map_err(|e| fail("invalid_scope", e.description))?,
        &client.scopes,
        &client.default_scopes,
    )
    .map_err(|e| fail("invalid_scope", e.description))?;
    let challenge = match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (None, _) if settings.require_pkce => {
            return Err(fail(
                "invalid_request",
                "code_challenge is required (PKCE with S256)".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(fail(
                "invalid_request",
                "code_challenge_method given without code_challenge".into(),
            ));
        }
        (None, None) => None,
        (Some(challenge), Some("S256")) => {
            let well_formed = challenge.len() == 43
                && challenge
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !well_formed {
                return Err(fail(
                    "invalid_request",
                    "code_challenge must be a base64url SHA-256 digest (43 characters)".into(),
                ));
            }
            Some(challenge.to_string())
        }
        // RFC 7636 §4.3: a missing method means `plain`.
        (Some(_), method) => {
            return Err(fail(
                "invalid_request",
                format!(
                    "code_challenge_method `{}` is not allowed; use S256",
                    method.unwrap_or("plain")
                ),
            ));
        }
    };
    Ok(AuthorizeRequest {
        client_id: client_id.to_string(),
        redirect_uri,
        redirect_uri_param,
        scopes,
        state,
        challenge,
    })
}

pub(super) fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    let location = match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (k, v) in pairs {
                    query.append_pair(k, v);
                }
            }
            url.to_string()
        }
        Err(_) => {
            return error_page(&format!("redirect URI `{redirect_uri}` is not a URL"));
        }
    };
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, "no-store".into()),
        ],
    )
        .into_response()
}

pub(super) fn error_redirect(err: AuthorizeError) -> Response {
    match err {
        AuthorizeError::Page(message) => error_page(&message),
        AuthorizeError::Redirect {
            redirect_uri,
            state,
            error,
            description,
        } => {
            let mut pairs = vec![
                ("error", error),
                ("error_description", description.as_str()),
            ];
            if let Some(state) = &state {
                pairs.push(("state", state));
            }
            redirect_with(&redirect_uri, &pairs)
        }
    }
}

pub(super) fn grant_code(
    settings: &Settings,
    inner: &mut Inner,
    request: &AuthorizeRequest,
) -> Response {
    let code = random_token();
    let family = inner.family();
    inner.codes.insert(
        code.clone(),
        AuthCode {
            client_id: request.client_id.clone(),
            redirect_uri_param: request.redirect_uri_param.clone(),
            scopes: request.scopes.clone(),
            challenge: request.challenge.clone(),
            expires_at: Instant::now() + settings.code_lifetime,
            used: false,
            family,
        },
    );
    let mut pairs = vec![("code", code.as_str())];
    if let Some(state) = &request.state {
        pairs.push(("state", state));
    }
    redirect_with(&request.redirect_uri, &pairs)
}

pub(super) async fn authorize_get(
    State(state): State<OAuthState>,
    RawQuery(query): RawQuery,
) -> Response {
    let mut inner = lock(&state.inner);
    inner.authorization_requests += 1;
    let params = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return error_page(&e.description),
    };
    let request = match check_authorize(&state.settings, &inner, &params) {
        Ok(r) => r,
        Err(e) => return error_redirect(e),
    };
    if inner.auto_approve {
        return grant_code(&state.settings, &mut inner, &request);
    }
    consent_page(&state.settings.authorize_path, &params, &request)
}

pub(super) async fn authorize_post(
    State(state): State<OAuthState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = lock(&state.inner);
    inner.authorization_requests += 1;
    let params = match parse_form(&headers, &body) {
        Ok(p) => p,
        Err(e) => return error_page(&e.description),
    };
    let request = match check_authorize(&state.settings, &inner, &params) {
        Ok(r) => r,
        Err(e) => return error_redirect(e),
    };
    match params.get("decision") {
        Some("approve") => grant_code(&state.settings, &mut inner, &request),
        Some("deny") => error_redirect(AuthorizeError::Redirect {
            redirect_uri: request.redirect_uri,
            state: request.state,
            error: "access_denied",
            description: "the user denied the request".into(),
        }),
        _ => error_page("decision must be `approve` or `deny`"),
    }
}

pub(super) fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head>\n<body>\n<h1>{}</h1>\n{}\n</body></html>\n",
        html_escape(title),
        html_escape(title),
        body
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        page,
    )
        .into_response()
}

pub(super) fn error_page(message: &str) -> Response {
    html(
        StatusCode::BAD_REQUEST,
        "Authorization failed",
        &format!("<p>{}</p>", html_escape(message)),
    )
}

pub(super) fn consent_page(action: &str, params: &Params, request: &AuthorizeRequest) -> Response {
    let hidden: String = params
        .0
        .iter()
        .filter(|(k, _)| k.as_str() != "decision")
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                html_escape(k),
                html_escape(v)
            )
        })
        .collect();
    let scopes = if request.scopes.is_empty() {
        "no particular scope".to_string()
    } else {
        request.scopes.join(", ")
    };
    let body = format!(
        "<p>Application <strong>{}</strong> asks for access: {}.</p>\n<form method=\"post\" action=\"{}\">\n{}<button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button>\n<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\n</form>",
        html_escape(&request.client_id),
        html_escape(&scopes),
        html_escape(action),
        hidden
    );
    html(StatusCode::OK, "Authorize access", &body)
}

pub(super) async fn metadata(State(state): State<OAuthState>, headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let origin = format!("http://{host}");
    let s = &state.settings;
    axum::Json(json!({
        "issuer": origin,
        "authorization_endpoint": format!("{origin}{}", s.authorize_path),
        "token_endpoint": format!("{origin}{}", s.token_path),
        "revocation_endpoint": format!("{origin}{}", s.revocation_path),
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }))
    .into_response()
}
