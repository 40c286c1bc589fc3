//! The OAuth2 server emulator against a real HTTP client: every grant, PKCE,
//! refresh rotation and reuse detection, both client authentication methods,
//! scopes, expiry, revocation and the test hooks.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use cardhost_emulators::oauth::{
    self, ClientAuthMethod, ClientConfig, Config, GrantType, OAuthServer, TokenKind,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn config() -> Config {
    Config::keycloak("test")
        .client(ClientConfig::new("svc-reader", "s3cret").scopes(&["employees", "departments"]))
        .client(
            ClientConfig::new("basic-only", "b4sic")
                .auth_methods(&[ClientAuthMethod::ClientSecretBasic]),
        )
        .client(
            ClientConfig::authorization_code("web-app", "w3b secret:+&", REDIRECT)
                .scopes(&["profile", "offline_access"]),
        )
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// Posts a form, optionally with HTTP Basic credentials encoded per RFC 6749 §2.3.1.
async fn post_form(
    url: &str,
    basic: Option<(&str, &str)>,
    pairs: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = client()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(pairs));
    if let Some((id, secret)) = basic {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let credential = STANDARD.encode(format!("{}:{}", enc(id), enc(secret)));
        req = req.header("authorization", format!("Basic {credential}"));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, headers, body)
}

/// Runs the authorize step and returns the redirect's query pairs.
async fn authorize(server: &OAuthServer, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let c = challenge(VERIFIER);
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", "web-app"),
        ("redirect_uri", REDIRECT),
        ("scope", "profile offline_access"),
        ("state", "xyz-123"),
        ("code_challenge", c.as_str()),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        pairs.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            pairs.push((k, v));
        }
    }
    let url = format!("{}?{}", server.authorize_url(), form(&pairs));
    let resp = client().get(url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 302, "authorize should redirect");
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(REDIRECT), "{location}");
    url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn redeem(server: &OAuthServer, code: &str, verifier: &str) -> (u16, Value) {
    let (status, _, body) = post_form(
        &server.token_url(),
        Some(("web-app", "w3b secret:+&")),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    (status, body)
}

#[tokio::test]
async fn client_credentials_with_post_and_basic_auth() {
    let server = oauth::start(config()).await.unwrap();
    assert!(
        server
            .token_url()
            .ends_with("/auth/realms/test/protocol/openid-connect/token")
    );

    let (status, headers, body) = post_form(
        &server.token_url(),
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "svc-reader"),
            ("client_secret", "s3cret"),
            ("scope", "employees"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "employees");
    assert_eq!(body["expires_in"], 300);
    assert!(body.get("refresh_token").is_none());
    let token = body["access_token"].as_str().unwrap();
    let info = server.validator()(token).expect("token should validate");
    assert_eq!(info.client_id, "svc-reader");
    assert_eq!(info.scopes, vec!["employees".to_string()]);

    // Basic auth, no scope asked: the default (all allowed) scopes.
    let (status, _, body) = post_form(
        &server.token_url(),
        Some(("svc-reader", "s3cret")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "employees departments");

    let state = server.state();
    assert_eq!(state.token_request_count(GrantType::ClientCredentials), 2);
    let methods: Vec<_> = state
        .token_requests()
        .iter()
        .map(|r| r.auth_method)
        .collect();
    assert_eq!(
        methods,
        vec![
            Some(ClientAuthMethod::ClientSecretPost),
            Some(ClientAuthMethod::ClientSecretBasic)
        ]
    );
}

#[tokio::test]
async fn client_authentication_failures_are_invalid_client() {
    let server = oauth::start(config()).await.unwrap();
    let url = server.token_url();
    let grant = ("grant_type", "client_credentials");

    let (status, headers, body) = post_form(&url, Some(("svc-reader", "wrong")), &[grant]).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert!(headers.contains_key("www-authenticate"));

    let (status, _, body) = post_form(
        &url,
        None,
        &[
            grant,
            ("client_id", "svc-reader"),
            ("client_secret", "nope"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    let (status, _, body) = post_form(&url, None, &[grant, ("client_id", "svc-reader")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    let (status, _, body) = post_form(
        &url,
        None,
        &[grant, ("client_id", "ghost"), ("client_secret", "x")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    // A client registered for Basic only may not put its secret in the body.
    let (status, _, body) = post_form(
        &url,
        None,
        &[
            grant,
            ("client_id", "basic-only"),
            ("client_secret", "b4sic"),
        ],
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("client_secret_post")
    );
    let (status, _, _) = post_form(&url, Some(("basic-only", "b4sic")), &[grant]).await;
    assert_eq!(status, 200);

    // Both methods at once is a malformed request.
    let (status, _, body) = post_form(
        &url,
        Some(("svc-reader", "s3cret")),
        &[grant, ("client_secret", "s3cret")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn scopes_and_grant_types_are_enforced() {
    let server = oauth::start(config()).await.unwrap();
    let url = server.token_url();
    let auth = Some(("svc-reader", "s3cret"));

    let (status, _, body) = post_form(
        &url,
        auth,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "employees payroll"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("payroll")
    );

    let (status, _, body) = post_form(&url, auth, &[("grant_type", "password")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );

    let (status, _, body) = post_form(
        &url,
        auth,
        &[("grant_type", "authorization_code"), ("code", "x")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );

    let (status, _, body) = post_form(&url, auth, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );

    // JSON bodies are not what RFC 6749 specifies.
    let resp = client()
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"grant_type":"client_credentials"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
}

#[tokio::test]
async fn authorization_code_with_pkce_and_state() {
    let server = oauth::start(config()).await.unwrap();
    let redirect = authorize(&server, &[]).await;
    assert_eq!(param(&redirect, "state"), Some("xyz-123"));
    let code = param(&redirect, "code").unwrap().to_string();

    let (status, body) = redeem(&server, &code, VERIFIER).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "profile offline_access");
    let access = body["access_token"].as_str().unwrap().to_string();
    assert!(body["refresh_token"].is_string());
    assert!(server.validator()(&access).is_some());

    // Single use: a second redemption fails and revokes what the first got.
    let (status, body) = redeem(&server, &code, VERIFIER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(server.validator()(&access).is_none());
    assert_eq!(
        server
            .state()
            .token_request_count(GrantType::AuthorizationCode),
        2
    );
}

#[tokio::test]
async fn pkce_mismatch_plain_and_missing_challenge_are_refused() {
    let server = oauth::start(config()).await.unwrap();

    let redirect = authorize(&server, &[]).await;
    let code = param(&redirect, "code").unwrap();
    let wrong = "x".repeat(43);
    let (status, body) = redeem(&server, code, &wrong).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("code_challenge")
    );
    // The code is spent by the failed attempt.
    let (status, _) = redeem(&server, code, VERIFIER).await;
    assert_eq!(status, 400);

    let redirect = authorize(
        &server,
        &[
            ("code_challenge", VERIFIER),
            ("code_challenge_method", "plain"),
        ],
    )
    .await;
    assert_eq!(param(&redirect, "error"), Some("invalid_request"));
    assert_eq!(param(&redirect, "state"), Some("xyz-123"));
    assert!(param(&redirect, "code").is_none());

    let redirect = authorize(&server, &[("code_challenge_method", "")]).await;
    assert_eq!(param(&redirect, "error"), Some("invalid_request"));

    let redirect = authorize(
        &server,
        &[("code_challenge", ""), ("code_challenge_method", "")],
    )
    .await;
    assert_eq!(param(&redirect, "error"), Some("invalid_request"));
    assert!(
        param(&redirect, "error_description")
            .unwrap()
            .contains("PKCE")
    );
}

#[tokio::test]
async fn redirect_uri_is_checked_at_both_endpoints() {
    let server = oauth::start(config()).await.unwrap();
    // An unregistered redirect URI is never redirected to.
    let url = format!(
        "{}?{}",
        server.authorize_url(),
        form(&[
            ("response_type", "code"),
            ("client_id", "web-app"),
            ("redirect_uri", "https://evil.example/cb"),
            ("code_challenge", &challenge(VERIFIER)),
            ("code_challenge_method", "S256"),
        ])
    );
    let resp = client().get(url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert!(resp.headers().get("location").is_none());

    let redirect = authorize(&server, &[]).await;
    let code = param(&redirect, "code").unwrap();
    let (status, _, body) = post_form(
        &server.token_url(),
        Some(("web-app", "w3b secret:+&")),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", "http://127.0.0.1:9/other"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let redirect = authorize(&server, &[("scope", "admin")]).await;
    assert_eq!(param(&redirect, "error"), Some("invalid_scope"));
}

#[tokio::test]
async fn refresh_rotation_spends_tokens_and_reuse_revokes_the_family() {
    let server = oauth::start(config()).await.unwrap();
    let redirect = authorize(&server, &[]).await;
    let (_, body) = redeem(&server, param(&redirect, "code").unwrap(), VERIFIER).await;
    let first_refresh = body["refresh_token"].as_str().unwrap().to_string();

    let refresh = |token: String, scope: Option<&'static str>| {
        let url = server.token_url();
        async move {
            let mut pairs = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", token.as_str()),
            ];
            if let Some(scope) = scope {
                pairs.push(("scope", scope));
            }
            let (status, _, body) =
                post_form(&url, Some(("web-app", "w3b secret:+&")), &pairs).await;
            (status, body)
        }
    };

    // Narrowing is allowed; widening is not.
    let (status, body) = refresh(first_refresh.clone(), Some("profile")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "profile");
    let second_refresh = body["refresh_token"].as_str().unwrap().to_string();
    let second_access = body["access_token"].as_str().unwrap().to_string();
    assert_ne!(second_refresh, first_refresh);
    let (status, body) = refresh(second_refresh.clone(), Some("profile email")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );

    // The spent token is refused and takes the live family down with it.
    let (status, body) = refresh(first_refresh, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(server.validator()(&second_access).is_none());
    let (status, body) = refresh(second_refresh, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        server.state().token_request_count(GrantType::RefreshToken),
        4
    );
}

#[tokio::test]
async fn without_rotation_the_refresh_token_is_reused() {
    let mut cfg = config();
    cfg.rotate_refresh_tokens = false;
    let server = oauth::start(cfg).await.unwrap();
    let redirect = authorize(&server, &[]).await;
    let (_, body) = redeem(&server, param(&redirect, "code").unwrap(), VERIFIER).await;
    let refresh = body["refresh_token"].as_str().unwrap().to_string();
    for _ in 0..2 {
        let (status, _, body) = post_form(
            &server.token_url(),
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("client_id", "web-app"),
                ("client_secret", "w3b secret:+&"),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("refresh_token").is_none());
    }
}

#[tokio::test]
async fn reuse_without_family_revocation_only_refuses_the_spent_token() {
    let mut cfg = config();
    cfg.revoke_family_on_refresh_reuse = false;
    let server = oauth::start(cfg).await.unwrap();
    let redirect = authorize(&server, &[]).await;
    let (_, body) = redeem(&server, param(&redirect, "code").unwrap(), VERIFIER).await;
    let first = body["refresh_token"].as_str().unwrap().to_string();
    let auth = Some(("web-app", "w3b secret:+&"));
    let (_, _, body) = post_form(
        &server.token_url(),
        auth,
        &[("grant_type", "refresh_token"), ("refresh_token", &first)],
    )
    .await;
    let second = body["refresh_token"].as_str().unwrap().to_string();
    let (status, _, _) = post_form(
        &server.token_url(),
        auth,
        &[("grant_type", "refresh_token"), ("refresh_token", &first)],
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, _) = post_form(
        &server.token_url(),
        auth,
        &[("grant_type", "refresh_token"), ("refresh_token", &second)],
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn tokens_expire_after_their_lifetime() {
    let server = oauth::start(config().access_token_lifetime(Duration::from_secs(1)))
        .await
        .unwrap();
    let (_, _, body) = post_form(
        &server.token_url(),
        Some(("svc-reader", "s3cret")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(body["expires_in"], 1);
    let token = body["access_token"].as_str().unwrap().to_string();
    let validate = server.validator();
    assert!(validate(&token).is_some());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(validate(&token).is_none());
    assert!(!server.state().issued_tokens()[0].active);
}

#[tokio::test]
async fn expire_hooks_end_tokens_at_once() {
    let server = oauth::start(config()).await.unwrap();
    let redirect = authorize(&server, &[]).await;
    let (_, body) = redeem(&server, param(&redirect, "code").unwrap(), VERIFIER).await;
    let access = body["access_token"].as_str().unwrap().to_string();
    let refresh = body["refresh_token"].as_str().unwrap().to_string();
    let state = server.state();

    state.expire_access_tokens();
    assert!(state.validate(&access).is_none());
    let auth = Some(("web-app", "w3b secret:+&"));
    let (status, _, body) = post_form(
        &server.token_url(),
        auth,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(status, 200, "refresh tokens survive expire_access_tokens");
    let refresh = body["refresh_token"].as_str().unwrap().to_string();

    state.expire_all_tokens();
    let (status, _, body) = post_form(
        &server.token_url(),
        auth,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let kinds: Vec<_> = state.issued_tokens().iter().map(|t| t.kind).collect();
    assert_eq!(
        kinds,
        vec![
            TokenKind::Access,
            TokenKind::Refresh,
            TokenKind::Access,
            TokenKind::Refresh
        ]
    );
    assert!(state.issued_tokens().iter().all(|t| !t.active));
}

#[tokio::test]
async fn revocation_follows_rfc7009() {
    let server = oauth::start(config()).await.unwrap();
    let redirect = authorize(&server, &[]).await;
    let (_, body) = redeem(&server, param(&redirect, "code").unwrap(), VERIFIER).await;
    let access = body["access_token"].as_str().unwrap().to_string();
    let refresh = body["refresh_token"].as_str().unwrap().to_string();
    let url = server.revocation_url();

    // Unknown tokens are fine; another client's token is not its to revoke.
    let (status, _, _) = post_form(
        &url,
        Some(("web-app", "w3b secret:+&")),
        &[("token", "nope")],
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, body) =
        post_form(&url, Some(("svc-reader", "s3cret")), &[("token", &refresh)]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let (status, _, _) = post_form(&url, Some(("svc-reader", "bad")), &[("token", &refresh)]).await;
    assert_eq!(status, 401);

    let (status, _, _) = post_form(
        &url,
        Some(("web-app", "w3b secret:+&")),
        &[("token", &refresh), ("token_type_hint", "refresh_token")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        server.validator()(&access).is_none(),
        "the family goes with it"
    );
    assert_eq!(server.state().revocation_count(), 4);
}

#[tokio::test]
async fn consent_page_when_auto_approve_is_off() {
    let mut cfg = config();
    cfg.auto_approve = false;
    let server = oauth::start(cfg).await.unwrap();
    let c = challenge(VERIFIER);
    let query = [
        ("response_type", "code"),
        ("client_id", "web-app"),
        ("redirect_uri", REDIRECT),
        ("state", "s<1>"),
        ("code_challenge", c.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let resp = client()
        .get(format!("{}?{}", server.authorize_url(), form(&query)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let page = resp.text().await.unwrap();
    assert!(page.contains("<form method=\"post\""));
    assert!(page.contains("value=\"approve\""));
    assert!(page.contains("s&lt;1&gt;"), "state is escaped: {page}");

    let mut approve = query.to_vec();
    approve.push(("decision", "approve"));
    let resp = client()
        .post(server.authorize_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&approve))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    let location = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let pairs: Vec<(String, String)> = location.query_pairs().into_owned().collect();
    assert_eq!(param(&pairs, "state"), Some("s<1>"));
    let (status, _) = redeem(&server, param(&pairs, "code").unwrap(), VERIFIER).await;
    assert_eq!(status, 200);

    let mut deny = query.to_vec();
    deny.push(("decision", "deny"));
    let resp = client()
        .post(server.authorize_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&deny))
        .send()
        .await
        .unwrap();
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(location.contains("error=access_denied"), "{location}");
    assert_eq!(server.state().authorization_count(), 3);
}

#[tokio::test]
async fn injected_failures_and_delays() {
    let server = oauth::start(config()).await.unwrap();
    let state = server.state();
    let auth = Some(("svc-reader", "s3cret"));
    let grant = [("grant_type", "client_credentials")];

    state.fail_next_token_requests(1, 503);
    let (status, _, body) = post_form(&server.token_url(), auth, &grant).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("temporarily_unavailable"))
    );
    state.fail_next_token_requests_with(1, 400, "invalid_grant");
    let (status, _, body) = post_form(&server.token_url(), auth, &grant).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _, _) = post_form(&server.token_url(), auth, &grant).await;
    assert_eq!(status, 200, "only the next N calls fail");

    state.delay_next_token_requests(1, Duration::from_millis(300));
    let started = Instant::now();
    let (status, _, _) = post_form(&server.token_url(), auth, &grant).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = Instant::now();
    post_form(&server.token_url(), auth, &grant).await;
    assert!(started.elapsed() < Duration::from_millis(300));

    let records = state.token_requests();
    assert_eq!(records.len(), 5);
    assert_eq!(records[0].status, 503);
    assert_eq!(records[0].client_id.as_deref(), Some("svc-reader"));
    assert_eq!(state.token_request_count(GrantType::ClientCredentials), 5);
}

#[tokio::test]
async fn removed_clients_lose_their_tokens() {
    let server = oauth::start(config()).await.unwrap();
    let (_, _, body) = post_form(
        &server.token_url(),
        Some(("svc-reader", "s3cret")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    let token = body["access_token"].as_str().unwrap().to_string();
    let state = server.state();
    assert!(state.remove_client("svc-reader"));
    assert!(state.validate(&token).is_none());
    state.add_client(ClientConfig::new("svc-reader", "new-secret"));
    let (status, _, _) = post_form(
        &server.token_url(),
        Some(("svc-reader", "s3cret")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 401, "the old secret died with the client");
}

#[tokio::test]
async fn fourth_style_paths() {
    let server =
        oauth::start(Config::fourth().client(ClientConfig::new("partner", "pw").scopes(&["scim"])))
            .await
            .unwrap();
    assert_eq!(
        server.token_url(),
        format!("{}/oauth/connect/token", server.url())
    );
    let (status, _, body) = post_form(
        &server.token_url(),
        Some(("partner", "pw")),
        &[("grant_type", "client_credentials"), ("scope", "scim")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let meta: Value = client()
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            server.url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["token_endpoint"], server.token_url());
    assert_eq!(
        meta["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
}
