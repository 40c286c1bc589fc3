//! The token endpoint (client credentials, authorization code with PKCE,
//! refresh with rotation) and the revocation endpoint (RFC 7009).

use super::protocol::{
    OAuthError, Params, authenticate, grant_scopes, no_store, parse_form, parse_scope,
    presented_client,
};
use super::state::{
    AccessToken, Inner, OAuthState, RefreshToken, Settings, lock, random_token, revoke_token,
    seconds_ceil, usual_error,
};
use super::{ClientConfig, GrantType, TokenRequestRecord};
use crate::faults::Fault;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Instant;

pub(super) async fn token_endpoint(
    State(state): State<OAuthState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Best-effort look at the request for the log, before any validation.
    let loose = Params::parse(&body).unwrap_or_default();
    let mut record = TokenRequestRecord {
        grant_type: loose.get("grant_type").map(str::to_string),
        client_id: None,
        auth_method: None,
        scope: loose.get("scope").map(str::to_string),
        status: 200,
        error: None,
    };
    if let Ok(Some(p)) = presented_client(&headers, &loose) {
        record.client_id = Some(p.client_id);
        record.auth_method = Some(p.method);
    } else if let Some(id) = loose.get("client_id") {
        record.client_id = Some(id.to_string());
    }

    // Injected slowness, then an injected failure (each queue gives every
    // token request its next entry).
    if let Some(delay) = state.token_delays.take() {
        delay.wait().await;
    }
    let fault = state.token_faults.take();
    if let Some(fault) = &fault {
        fault.wait().await;
    }

    let mut inner = lock(&state.inner);
    let injected = fault.as_ref().and_then(|fault| {
        let response = fault.respond(injected_error)?;
        record.status = response.status().as_u16();
        record.error = Some(injected_code(fault, response.status()));
        Some(response)
    });
    let response = match injected {
        Some(response) => response,
        None => match handle_token(&state.settings, &mut inner, &headers, &body) {
            Ok(body) => (StatusCode::OK, no_store(), axum::Json(body)).into_response(),
            Err(err) => {
                record.status = err.status.as_u16();
                record.error = Some(err.error.clone());
                err.into_response()
            }
        },
    };
    inner.token_requests.push(record);
    response
}

/// The OAuth2 error code of an injected failure.
fn injected_code(fault: &Fault, status: StatusCode) -> String {
    fault
        .code
        .clone()
        .unwrap_or_else(|| usual_error(status.as_u16()).into())
}

/// An injected failure as an RFC 6749 error answer.
fn injected_error(fault: &Fault, status: StatusCode) -> Response {
    let description = fault.message.as_deref().unwrap_or("injected failure");
    let mut response =
        OAuthError::new(status, &injected_code(fault, status), description).into_response();
    if let Some((name, value)) = fault.retry_after_header() {
        response.headers_mut().insert(name, value);
    }
    response
}

pub(super) fn handle_token(
    settings: &Settings,
    inner: &mut Inner,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, OAuthError> {
    let params = parse_form(headers, body)?;
    let presented = presented_client(headers, &params)?;
    let client = authenticate(inner, presented.as_ref())?;
    let grant_name = params.require("grant_type")?;
    let grant = GrantType::parse(grant_name).ok_or_else(|| {
        OAuthError::bad_request(
            "unsupported_grant_type",
            format!("grant type `{grant_name}` is not supported"),
        )
    })?;
    if !client.grant_types.contains(&grant) {
        return Err(OAuthError::bad_request(
            "unauthorized_client",
            format!(
                "client `{}` may not use the {} grant",
                client.client_id,
                grant.as_str()
            ),
        ));
    }
    match grant {
        GrantType::ClientCredentials => {
            let scopes = grant_scopes(
                parse_scope(params.get("scope"))?,
                &client.scopes,
                &client.default_scopes,
            )?;
            Ok(issue(settings, inner, &client, scopes, grant, None))
        }
        GrantType::AuthorizationCode => redeem_code(settings, inner, &client, &params),
        GrantType::RefreshToken => refresh(settings, inner, &client, &params),
    }
}

/// Issues an access token, and a refresh token when `family` is given and
/// the client may refresh.
pub(super) fn issue(
    settings: &Settings,
    inner: &mut Inner,
    client: &ClientConfig,
    scopes: Vec<String>,
    grant: GrantType,
    family: Option<u64>,
) -> Value {
    let access = random_token();
    let order = inner.order();
    inner.access_tokens.insert(
        access.clone(),
        AccessToken {
            client_id: client.client_id.clone(),
            scopes: scopes.clone(),
            grant,
            family,
            expires_at: Instant::now() + settings.access_token_lifetime,
            revoked: false,
            order,
        },
    );
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": seconds_ceil(settings.access_token_lifetime),
    });
    if !scopes.is_empty() {
        body["scope"] = Value::String(scopes.join(" "));
    }
    if let Some(family) = family
        && client.grant_types.contains(&GrantType::RefreshToken)
    {
        let refresh = new_refresh_token(settings, inner, client, scopes, grant, family);
        body["refresh_token"] = Value::String(refresh);
        if let Some(lifetime) = settings.refresh_token_lifetime {
            body["refresh_expires_in"] = json!(seconds_ceil(lifetime));
        }
    }
    body
}

pub(super) fn new_refresh_token(
    settings: &Settings,
    inner: &mut Inner,
    client: &ClientConfig,
    scopes: Vec<String>,
    grant: GrantType,
    family: u64,
) -> String {
    let value = random_token();
    let order = inner.order();
    inner.refresh_tokens.insert(
        value.clone(),
        RefreshToken {
            client_id: client.client_id.clone(),
            scopes,
            grant,
            family,
            expires_at: settings.refresh_token_lifetime.map(|l| Instant::now() + l),
            spent: false,
            revoked: false,
            order,
        },
    );
    value
}

pub(super) fn redeem_code(
    settings: &Settings,
    inner: &mut Inner,
    client: &ClientConfig,
    params: &Params,
) -> Result<Value, OAuthError> {
    let code_value = params.require("code")?;
    let Some(code) = inner.codes.get_mut(code_value) else {
        return Err(OAuthError::invalid_grant("unknown authorization code"));
    };
    if code.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if code.used {
        let family = code.family;
        inner.revoke_family(family);
        return Err(OAuthError::invalid_grant(
            "the authorization code was already used; tokens issued for it are revoked",
        ));
    }
    // Spent on the first redemption attempt, successful or not, so a wrong
    // verifier cannot be retried against the same code.
    code.used = true;
    if Instant::now() >= code.expires_at {
        return Err(OAuthError::invalid_grant("the authorization code expired"));
    }
    if let Some(expected) = &code.redirect_uri_param
        && params.get("redirect_uri") != Some(expected.as_str())
    {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the one in the authorization request",
        ));
    }
    match (&code.challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            if !valid_verifier(verifier) {
                return Err(OAuthError::invalid_grant(
                    "code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]",
                ));
            }
            if &s256(verifier) != challenge {
                return Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ));
            }
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier is required: the authorization request used PKCE",
            ));
        }
        (None, Some(_)) => {
            return Err(OAuthError::bad_request(
                "invalid_request",
                "code_verifier given but the authorization request had no code_challenge",
            ));
        }
        (None, None) => {}
    }
    let scopes = code.scopes.clone();
    let family = code.family;
    Ok(issue(
        settings,
        inner,
        client,
        scopes,
        GrantType::AuthorizationCode,
        Some(family),
    ))
}

pub(super) fn refresh(
    settings: &Settings,
    inner: &mut Inner,
    client: &ClientConfig,
    params: &Params,
) -> Result<Value, OAuthError> {
    let value = params.require("refresh_token")?;
    let Some(token) = inner.refresh_tokens.get(value) else {
        return Err(OAuthError::invalid_grant("unknown refresh token"));
    };
    if token.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if token.revoked {
        return Err(OAuthError::invalid_grant("the refresh token was revoked"));
    }
    if token.spent {
        let family = token.family;
        if settings.revoke_family_on_refresh_reuse {
            inner.revoke_family(family);
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; every token of this grant is revoked",
            ));
        }
        return Err(OAuthError::invalid_grant(
            "the refresh token was already used",
        ));
    }
    if token.expires_at.is_some_and(|e| Instant::now() >= e) {
        return Err(OAuthError::invalid_grant("the refresh token expired"));
    }
    let original = token.scopes.clone();
    let family = token.family;
    let grant = token.grant;
    // RFC 6749 §6: a refresh may narrow the scope, never widen it.
    let scopes = grant_scopes(parse_scope(params.get("scope"))?, &original, &original)?;

    let access = random_token();
    let order = inner.order();
    inner.access_tokens.insert(
        access.clone(),
        AccessToken {
            client_id: client.client_id.clone(),
            scopes: scopes.clone(),
            grant: GrantType::RefreshToken,
            family: Some(family),
            expires_at: Instant::now() + settings.access_token_lifetime,
            revoked: false,
            order,
        },
    );
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": seconds_ceil(settings.access_token_lifetime),
    });
    if !scopes.is_empty() {
        body["scope"] = Value::String(scopes.join(" "));
    }
    if settings.rotate_refresh_tokens {
        if let Some(old) = inner.refresh_tokens.get_mut(value) {
            old.spent = true;
        }
        // The new refresh token keeps the original grant's scopes, so a
        // narrowed refresh does not shrink later ones.
        let next = new_refresh_token(settings, inner, client, original, grant, family);
        body["refresh_token"] = Value::String(next);
        if let Some(lifetime) = settings.refresh_token_lifetime {
            body["refresh_expires_in"] = json!(seconds_ceil(lifetime));
        }
    }
    Ok(body)
}

/// The S256 `code_challenge` of a PKCE `code_verifier` (RFC 7636 §4.2), for
/// tests that drive the authorization endpoint themselves.
pub fn pkce_challenge(verifier: &str) -> String {
    s256(verifier)
}

/// BASE64URL(SHA256(verifier)), RFC 7636 §4.2.
pub(super) fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// RFC 7636 §4.1: 43–128 unreserved characters.
pub(super) fn valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

pub(super) async fn revocation_endpoint(
    State(state): State<OAuthState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = lock(&state.inner);
    inner.revocation_requests += 1;
    match handle_revocation(&mut inner, &headers, &body) {
        Ok(()) => (StatusCode::OK, no_store()).into_response(),
        Err(err) => err.into_response(),
    }
}

pub(super) fn handle_revocation(
    inner: &mut Inner,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), OAuthError> {
    let params = parse_form(headers, body)?;
    let presented = presented_client(headers, &params)?;
    let client = authenticate(inner, presented.as_ref())?;
    let token = params.require("token")?;
    let owner = inner
        .refresh_tokens
        .get(token)
        .map(|t| t.client_id.clone())
        .or_else(|| inner.access_tokens.get(token).map(|t| t.client_id.clone()));
    match owner {
        // RFC 7009 §2.2: an unknown or already invalid token is not an error.
        None => Ok(()),
        Some(owner) if owner != client.client_id => Err(OAuthError::bad_request(
            "unauthorized_client",
            "the token was issued to another client",
        )),
        Some(_) => {
            revoke_token(inner, token);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc7636_appendix_b() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
