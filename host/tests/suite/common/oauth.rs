//! The OAuth2 side of the connection tests: a resource server that checks
//! the emulator's tokens, and an authorization run through the service.

use cardhost::connections::Connections;
use cardhost::store::ConnectionState;
use cardhost_emulators::oauth::{self, ClientConfig, GrantType, OAuthServer, OAuthState};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

pub const CLIENT_ID: &str = "cardhost-cli";
pub const CLIENT_SECRET: &str = "cli-secret-5up3r-s3cr3t";

/// A resource server accepting tokens of the OAuth2 emulator. With `hang`
/// set, a request with a valid token never gets an answer.
pub struct Resource {
    pub url: String,
    pub hang: Arc<AtomicBool>,
    pub hanging: Arc<AtomicUsize>,
}

pub async fn resource_server(state: OAuthState) -> Resource {
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::get;
    let hang = Arc::new(AtomicBool::new(false));
    let hanging = Arc::new(AtomicUsize::new(0));
    let (h, hc) = (hang.clone(), hanging.clone());
    let app = axum::Router::new().route(
        "/me",
        get(move |headers: HeaderMap| {
            let (state, hang, hanging) = (state.clone(), h.clone(), hc.clone());
            async move {
                let token = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .unwrap_or_default()
                    .to_string();
                let Some(info) = state.validate(&token) else {
                    return (
                        StatusCode::UNAUTHORIZED,
                        axum::Json(json!({"error": "invalid_token"})),
                    );
                };
                if hang.load(Ordering::SeqCst) {
                    hanging.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(3_600)).await;
                }
                (
                    StatusCode::OK,
                    axum::Json(
                        // Echoes the token it was sent, as a debugging endpoint
                        // might: the host must keep it from the card.
                        json!({"client_id": info.client_id, "scope": info.scopes.join(" "), "seen_token": token}),
                    ),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Resource { url, hang, hanging }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Authorizes `name` through the service: the provider's redirect is read
/// instead of followed, and its code handed to the service as the callback
/// would.
pub async fn authorize(conns: &Connections, name: &str, redirect: &str) {
    let start = conns.begin_authorization(name, redirect).await.unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = client.get(&start.url).send().await.unwrap();
    assert_eq!(answer.status(), 302, "the emulator approves at once");
    let location = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    let param = |k: &str| {
        location
            .query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    assert_eq!(param("state"), start.state);
    let record = conns
        .complete_authorization(&param("state"), &param("code"))
        .await
        .unwrap();
    assert_eq!(record.state, ConnectionState::Ready);
}

/// The OAuth2 emulator as the connection tests use it (Keycloak-like:
/// rotating refresh tokens, a spent one revokes the family), with the test
/// client allowed every grant and redirecting to `redirect`.
pub async fn provider(realm: &str, redirect: &str) -> OAuthServer {
    oauth::start(
        oauth::Config::keycloak(realm).client(
            ClientConfig::authorization_code(CLIENT_ID, CLIENT_SECRET, redirect)
                .grant_types(&[
                    GrantType::AuthorizationCode,
                    GrantType::RefreshToken,
                    GrantType::ClientCredentials,
                ])
                .scopes(&["read:me"]),
        ),
    )
    .await
    .unwrap()
}

/// A configuration in `dir` that loads only the `oauth-app` test connector
/// (`dir/cardhost.toml`, the component in `dir/connectors`).
pub fn oauth_app_config(dir: &std::path::Path) {
    let connectors = dir.join("connectors");
    std::fs::create_dir_all(&connectors).unwrap();
    std::fs::copy(
        cardhost_e2e::guests::OAUTH_APP,
        connectors.join("oauth_app.wasm"),
    )
    .unwrap();
    let cache = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache");
    std::fs::write(
        dir.join("cardhost.toml"),
        format!(
            "builtin_connectors = false\nconnectors_dir = {:?}\ncache_dir = {:?}\n",
            connectors.display().to_string(),
            cache.display().to_string()
        ),
    )
    .unwrap();
}

/// The `oauth-app` connection fields that point at `oauth` and `resource`.
pub fn oauth_app_fields(oauth: &OAuthServer, resource: &Resource) -> serde_json::Value {
    json!({
        "base_url": resource.url,
        "token_url": oauth.token_url(),
        "authorize_url": oauth.authorize_url(),
        "revocation_url": oauth.revocation_url(),
        "scope": "read:me",
    })
}
