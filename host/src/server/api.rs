//! The `/v1` HTTP API.

use super::{AppState, keys, triggers};
use crate::connections::{ConnectionError, CreateConnection, callback_page, card_access};
use crate::store::{ApiKeyRecord, HistoryFilter, Role, StoreError};
use crate::{Secret, wit};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use cardhost_runtime::invoke::{CardFailure, ErrorKind, InvokeError};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub(super) type St = State<Arc<AppState>>;

/// An error answer: `{"error": {"code", "message", ...}}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Value,
    retry_after: Option<u64>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Value::Null,
            retry_after: None,
        }
    }

    fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub(super) fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": {"code": self.code, "message": self.message}});
        if let Value::Object(extra) = self.details {
            body["error"]
                .as_object_mut()
                .expect("error is an object")
                .extend(extra);
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED && self.code == "unauthenticated" {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"cardhost\""),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) | StoreError::NoSubscription(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not-found", e.to_string())
            }
            StoreError::Conflict(_) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            other => {
                tracing::error!("store: {other}");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "store",
                    other.to_string(),
                )
            }
        }
    }
}

impl From<crate::subscriptions::HookError> for ApiError {
    fn from(e: crate::subscriptions::HookError) -> Self {
        use crate::subscriptions::HookError as H;
        let message = e.to_string();
        match e {
            H::NotFound => ApiError::new(StatusCode::NOT_FOUND, "not-found", message),
            H::Unverified(_) => ApiError::new(StatusCode::UNAUTHORIZED, "unverified", message),
            H::Unavailable(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
                    .retry_after(30)
            }
            H::Rejected(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "rejected", message),
        }
    }
}

impl From<ConnectionError> for ApiError {
    fn from(e: ConnectionError) -> Self {
        match e {
            ConnectionError::Invocation(f) => invocation_error(&f),
            ConnectionError::UnknownConnector(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown-connector", e.to_string())
            }
            ConnectionError::InvalidFields { ref violations, .. } => {
                let details = json!({"violations": violations
                    .iter()
                    .map(|v| json!({"pointer": v.pointer, "message": v.message}))
                    .collect::<Vec<_>>()});
                ApiError::new(StatusCode::BAD_REQUEST, "invalid-fields", e.to_string())
                    .details(details)
            }
            ConnectionError::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, "invalid", m),
            ConnectionError::NotReady { ref state, .. } => {
                let details = json!({"state": state});
                ApiError::new(StatusCode::CONFLICT, "connection-not-ready", e.to_string())
                    .details(details)
            }
            ConnectionError::Authorization(m) | ConnectionError::UnexpectedCallback(m) => {
                ApiError::new(StatusCode::BAD_REQUEST, "authorization-failed", m)
            }
            ConnectionError::SecretsRequired {
                ref moved,
                ref secrets,
                ..
            } => {
                let details = json!({"moved": moved, "secrets_required": secrets});
                ApiError::new(StatusCode::BAD_REQUEST, "secrets-required", e.to_string())
                    .details(details)
            }
            ConnectionError::Store(s) => s.into(),
        }
    }
}

/// The HTTP answer for a failed invocation.
fn invocation_error(f: &InvokeError) -> ApiError {
    use StatusCode as S;
    let message = f.to_string();
    let base = json!({"invocation": f.id, "class": f.class(), "journal": f.journal});
    let e = match &f.kind {
        ErrorKind::InvalidInput { violations, .. } => {
            ApiError::new(S::BAD_REQUEST, "invalid-input", message).details(json!({
                "violations": violations
                    .iter()
                    .map(|v| json!({"pointer": v.pointer, "message": v.message}))
                    .collect::<Vec<_>>()
            }))
        }
        ErrorKind::UnknownConnector
        | ErrorKind::UnknownCard { .. }
        | ErrorKind::UnknownTrigger { .. } => ApiError::new(S::NOT_FOUND, "not-found", message),
        ErrorKind::Connection { .. } => ApiError::new(S::CONFLICT, "connection", message),
        ErrorKind::Denied { kind, .. } => {
            ApiError::new(S::FORBIDDEN, "denied", message).details(json!({"kind": kind}))
        }
        ErrorKind::Card(failure) => match failure {
            CardFailure::InvalidInput { .. } => {
                ApiError::new(S::BAD_REQUEST, "invalid-input", message)
            }
            CardFailure::Unauthorized { .. } => {
                ApiError::new(S::UNAUTHORIZED, "upstream-unauthorized", message)
            }
            CardFailure::Forbidden { .. } => {
                ApiError::new(S::FORBIDDEN, "upstream-forbidden", message)
            }
            CardFailure::NotFound { .. } => ApiError::new(S::NOT_FOUND, "not-found", message),
            CardFailure::RateLimited {
                retry_after_seconds,
                ..
            } => ApiError::new(S::TOO_MANY_REQUESTS, "rate-limited", message)
                .retry_after(u64::from(retry_after_seconds.unwrap_or(1))),
            CardFailure::Upstream { status, .. } => {
                ApiError::new(S::BAD_GATEWAY, "upstream", message)
                    .details(json!({"upstream_status": status}))
            }
            CardFailure::Internal { .. } => {
                ApiError::new(S::INTERNAL_SERVER_ERROR, "connector", message)
            }
        },
        ErrorKind::DeadlineExceeded { .. } => {
            ApiError::new(S::GATEWAY_TIMEOUT, "deadline-exceeded", message)
        }
        ErrorKind::Saturated { .. } => {
            ApiError::new(S::SERVICE_UNAVAILABLE, "saturated", message).retry_after(1)
        }
        ErrorKind::LimitExceeded { limit, .. } => {
            ApiError::new(S::INTERNAL_SERVER_ERROR, "limit-exceeded", message)
                .details(json!({"limit": limit}))
        }
        ErrorKind::InvalidOutput { .. }
        | ErrorKind::OutputTooLarge { .. }
        | ErrorKind::MemoryLimit { .. }
        | ErrorKind::Trap { .. }
        | ErrorKind::Host { .. } => ApiError::new(S::INTERNAL_SERVER_ERROR, "host", message),
    };
    let mut details = base;
    if let Value::Object(extra) = e.details.clone() {
        details.as_object_mut().expect("object").extend(extra);
    }
    ApiError { details, ..e }
}

/// The caller, identified by its API key.
pub(crate) struct Caller(ApiKeyRecord);

impl Caller {
    pub(super) fn require(&self, role: Role, what: &str) -> Result<(), ApiError> {
        if self.0.role >= role {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "key `{}` has role `{}`; {what} needs `{role}`",
                    self.0.id, self.0.role
                ),
            ))
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .or_else(|| parts.headers.get("x-api-key").and_then(|v| v.to_str().ok()))
            .map(str::to_string);
        let Some(presented) = presented else {
            // A console session: the key it stands for, and for a change
            // its CSRF token and this server's origin.
            if let Some((record, session)) =
                super::console::session_of(state, &parts.headers).await?
            {
                if super::console::is_change(&parts.method) {
                    super::console::check_change(&parts.headers, &session)?;
                }
                return Ok(Caller(record));
            }
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "an API key is required: send `Authorization: Bearer <key>` (create one with `cardhost keys create`)",
            ));
        };
        match keys::verify(state.store.as_ref(), presented.trim()).await? {
            Some(record) => Ok(Caller(record)),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "the API key is not valid or was revoked",
            )),
        }
    }
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.config.max_body_bytes;
    Router::new()
        .route("/", get(super::console::index))
        .route("/console/", get(super::console::index))
        .route(
            "/console/session",
            get(super::console::show)
                .post(super::console::sign_in)
                .delete(super::console::sign_out),
        )
        .route("/console/{file}", get(super::console::asset))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/v1/connectors", get(list_connectors))
        .route("/v1/connectors/{id}", get(show_connector))
        .route(
            "/v1/connections",
            get(list_connections).post(create_connection),
        )
        .route(
            "/v1/connections/{id}",
            get(show_connection).delete(delete_connection),
        )
        .route("/v1/connections/{id}/cards", get(connection_cards))
        .route("/v1/connections/{id}/cards/{action}", post(invoke))
        .route("/v1/connections/{id}/fields", put(update_fields))
        .route("/v1/connections/{id}/secrets/{name}", put(replace_secret))
        .route("/v1/connections/{id}/grant", put(grant))
        .route("/v1/connections/{id}/test", post(test_connection))
        .route("/v1/connections/{id}/authorize", post(authorize))
        .route("/v1/connections/{id}/approve", post(approve))
        .route("/v1/oauth/start", get(oauth_start))
        .route("/v1/oauth/callback", get(oauth_callback))
        .route("/v1/invocations", get(history))
        .route("/v1/admin/reload", post(reload))
        .route(
            "/v1/connections/{id}/triggers",
            get(triggers::connection_triggers),
        )
        .route(
            "/v1/subscriptions",
            get(triggers::list_subscriptions).post(triggers::create_subscription),
        )
        .route(
            "/v1/subscriptions/{id}",
            get(triggers::show_subscription).delete(triggers::delete_subscription),
        )
        .route("/v1/subscriptions/{id}/pause", post(triggers::pause))
        .route("/v1/subscriptions/{id}/resume", post(triggers::resume))
        .route("/v1/subscriptions/{id}/events", get(triggers::events))
        .route(
            "/v1/subscriptions/{id}/redeliver",
            post(triggers::redeliver),
        )
        .route(
            "/v1/subscriptions/{id}/dead-letters",
            get(triggers::dead_letters),
        )
        .route("/v1/hooks/{id}", post(triggers::hook))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(traced))
        .with_state(state)
}

/// Runs a request in a `request` span (method, route, status): the root of
/// an invocation's trace, or a child of the caller's when its
/// `traceparent` names one. Health probes are not traced.
async fn traced(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use tracing::Instrument as _;
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    if matches!(route.as_str(), "/healthz" | "/readyz") {
        return next.run(request).await;
    }
    let method = request.method().as_str().to_string();
    let span = tracing::info_span!(
        "request",
        otel.kind = "server",
        otel.name = %format_args!("{method} {route}"),
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    crate::telemetry::continue_trace(&span, request.headers());
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    // i64: OpenTelemetry keeps it an integer (a u64 would become text).
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
    response
}

async fn readyz(State(st): St) -> Response {
    if st.shutting_down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    if let Err(e) = st.store.ping().await {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("store: {e}")).into_response();
    }
    (StatusCode::OK, "ready").into_response()
}

async fn metrics(State(st): St, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Role::Reader, "reading metrics")?;
    Ok((
        [(header::CONTENT_TYPE, super::metrics::CONTENT_TYPE)],
        st.metrics.render(),
    )
        .into_response())
}

async fn openapi(caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Reader, "reading the API document")?;
    Ok(Json(super::openapi::document()))
}

fn load_errors(registry: &crate::Registry) -> Vec<Value> {
    registry
        .errors()
        .iter()
        .map(|e| json!({"origin": e.origin, "reason": e.reason}))
        .collect()
}

async fn list_connectors(State(st): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Reader, "reading the catalog")?;
    let registry = st.conns.host().registry();
    let connectors: Vec<Value> = registry
        .connectors()
        .map(|c| {
            let m = &c.manifest.raw;
            json!({"id": m.id, "name": m.name, "version": m.version, "description": m.description,
                   "cards": c.catalog.len(), "source": c.source.to_string()})
        })
        .collect();
    Ok(Json(
        json!({"connectors": connectors, "load_errors": load_errors(&registry)}),
    ))
}

async fn show_connector(
    State(st): St,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Reader, "reading the catalog")?;
    let registry = st.conns.host().registry();
    let c = registry.get(&id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown-connector",
            format!("no connector `{id}` is loaded"),
        )
    })?;
    let m = &c.manifest.raw;
    let auth: Vec<Value> = m
        .auth_methods
        .iter()
        .map(|a| {
            let kind = match &a.scheme {
                wit::AuthScheme::None => "none",
                wit::AuthScheme::Bearer(_) => "bearer",
                wit::AuthScheme::Basic(_) => "basic",
                wit::AuthScheme::ApiKey(_) => "api-key",
                wit::AuthScheme::Oauth2ClientCredentials(_) => "oauth2-client-credentials",
                wit::AuthScheme::Oauth2AuthorizationCode(_) => "oauth2-authorization-code",
            };
            json!({"id": a.id, "title": a.title, "kind": kind,
                   "secrets": a.secrets.iter().map(|s| json!({"name": s.name, "title": s.title, "description": s.description, "optional": s.optional})).collect::<Vec<_>>(),
                   "destinations": cardhost_runtime::credentials::destinations::describe(&c.manifest, a)})
        })
        .collect();
    let permissions: Vec<Value> = m
        .permissions
        .iter()
        .map(|p| {
            json!({"id": p.id, "title": p.title, "description": p.description,
                   "granted_by_default": p.granted_by_default,
                   "rules": p.rules.iter().map(|r| json!({"access": r.access.iter().map(access_name).collect::<Vec<_>>(), "path": r.path})).collect::<Vec<_>>()})
        })
        .collect();
    Ok(Json(json!({
        "id": m.id, "name": m.name, "version": m.version, "description": m.description,
        "connection_schema": c.manifest.connection_schema,
        "auth_methods": auth,
        "permissions": permissions,
        "cards": c.catalog.entries(c.manifest.id()),
        "triggers": c.manifest.triggers.iter().map(|t| crate::subscriptions::trigger_entry(t)).collect::<Vec<_>>(),
    })))
}

/// A permission rule's access as the catalog names it.
fn access_name(a: &wit::Access) -> &'static str {
    match a {
        wit::Access::Read => "read",
        wit::Access::Write => "write",
    }
}

async fn list_connections(State(st): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Reader, "listing connections")?;
    Ok(Json(json!({"connections": st.conns.list().await?})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    connector: String,
    name: String,
    #[serde(default)]
    fields: Value,
    #[serde(default)]
    secrets: BTreeMap<String, String>,
    grant: Option<Vec<String>>,
    auth_method: Option<String>,
}

/// A query string, or a 400 naming what is wrong with it.
pub(super) fn query_of<T>(
    query: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid-query", e.body_text()))
}

pub(super) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-json",
            format!("the request body is not valid: {e}"),
        )
    })
}

async fn create_connection(
    State(st): St,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin, "creating connections")?;
    let body: CreateBody = parse_json(&body)?;
    let record = st
        .conns
        .create(CreateConnection {
            connector: body.connector,
            name: body.name,
            fields: body.fields,
            secrets: body
                .secrets
                .into_iter()
                .map(|(k, v)| (k, Secret::new(v)))
                .collect(),
            grant: body.grant,
            auth_method: body.auth_method,
        })
        .await?;
    let view = st.conns.show(&record.id).await?;
    Ok((StatusCode::CREATED, Json(json!(view))).into_response())
}

async fn show_connection(
    State(st): St,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Reader, "reading connections")?;
    let view = st.conns.show(&id).await?;
    let cards = st.conns.cards(&id).await?;
    let mut out = json!(view);
    out["cards"] = json!(cards);
    let pending = st.conns.pending_approval(&id).await?;
    if !pending.is_empty() {
        out["pending_approval"] = json!(pending);
    }
    Ok(Json(out))
}

async fn approve(
    State(st): St,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin, "approving connector changes")?;
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct Body {
        /// Secrets given again, when the change moves where they go.
        #[serde(default)]
        secrets: BTreeMap<String, String>,
    }
    let body: Body = if body.iter().all(u8::is_ascii_whitespace) {
        Body::default()
    } else {
        parse_json(&body)?
    };
    let secrets = body
        .secrets
        .into_iter()
        .map(|(k, v)| (k, Secret::new(v)))
        .collect();
    Ok(Json(json!(st.conns.approve(&id, secrets).await?)))
}

async fn connection_cards(
    State(st): St,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Reader, "reading the catalog")?;
    let record = st.conns.show(&id).await?.record;
    let registry = st.conns.host().registry();
    let loaded = registry.get(&record.connector).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown-connector",
            format!("no connector `{}` is loaded", record.connector),
        )
    })?;
    let access = card_access(loaded, &record.granted);
    let cards: Vec<Value> = loaded
        .catalog
        .entries(loaded.manifest.id())
        .into_iter()
        .map(|mut c| {
            if let Some(a) = access.iter().find(|a| c["id"] == a.card.as_str()) {
                c["usable"] = json!(a.usable);
                c["missing_permissions"] = json!(a.missing);
            }
            c
        })
        .collect();
    Ok(Json(json!({"connection": record.id, "cards": cards})))
}

async fn delete_connection(
    State(st): St,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin, "deleting connections")?;
    // Its subscriptions go with it: their webhooks with the vendor first.
    if let Err(e) = st.subs.unregister_connection(&id).await {
        tracing::debug!(connection = %id, "before deleting: {e}");
    }
    Ok(Json(json!(st.conns.delete(&id).await?)))
}

async fn update_fields(
    State(st): St,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin, "changing connections")?;
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        fields: Value,
        /// Secrets given with the change (needed when it moves where they go).
        #[serde(default)]
        secrets: BTreeMap<String, String>,
    }
    let body: Body = parse_json(&body)?;
    let secrets = body
        .secrets
        .into_iter()
        .map(|(k, v)| (k, Secret::new(v)))
        .collect();
    Ok(Json(json!(
        st.conns.update_fields(&id, &body.fields, secrets).await?
    )))
}

async fn replace_secret(
    State(st): St,
    caller: Caller,
    Path((id, name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin, "replacing secrets")?;
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        value: String,
    }
    let body: Body = parse_json(&body)?;
    st.conns
        .set_secret(&id, &name, &Secret::new(body.value))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn grant(
    State(st): St,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin, "granting permissions")?;
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        permissions: Vec<String>,
    }
    let body: Body = parse_json(&body)?;
    Ok(Json(json!(st.conns.grant(&id, &body.permissions).await?)))
}

async fn test_connection(
    State(st): St,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Invoker, "testing connections")?;
    let record = st.conns.show(&id).await?.record;
    // A test runs the connector like an invocation: it takes a slot too.
    let _slots = admit(&st, &record.id).await?;
    match st.conns.test(&record.id).await {
        Ok(report) => Ok(Json(json!(report))),
        Err(e) => Err(e.into()),
    }
}

async fn authorize(
    State(st): St,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin, "authorizing connections")?;
    let redirect = format!("{}/v1/oauth/callback", st.public_url);
    let start = st.conns.begin_authorization(&id, &redirect).await?;
    // The browser opens cardhost first, which binds the flow to it with a
    // cookie and sends it on to the provider.
    let mut url = url::Url::parse(&format!("{}/v1/oauth/start", st.public_url))
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "host", e.to_string()))?;
    url.query_pairs_mut().append_pair("state", &start.state);
    Ok(Json(
        json!({"authorize_url": url.as_str(), "state": start.state, "redirect_uri": redirect}),
    ))
}

/// Too many requests at the unauthenticated OAuth endpoints: the answer
/// when the window is full.
fn oauth_rate_limited(st: &AppState) -> Option<Response> {
    if st.oauth_limiter.admit() {
        return None;
    }
    st.metrics.rejected("rate-limited");
    Some(
        (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "1")],
            Html("<h1>Too many requests</h1><p>Try again in a moment.</p>".to_string()),
        )
            .into_response(),
    )
}

async fn oauth_start(State(st): St, Query(q): Query<BTreeMap<String, String>>) -> Response {
    if let Some(limited) = oauth_rate_limited(&st) {
        return limited;
    }
    let Some(state) = q.get("state") else {
        return (
            StatusCode::BAD_REQUEST,
            Html("<h1>No state</h1>".to_string()),
        )
            .into_response();
    };
    match st.conns.browser_start(state).await {
        Ok((provider, binding)) => {
            let secure = if st.public_url.starts_with("https://") {
                "; Secure"
            } else {
                ""
            };
            let cookie = format!(
                "{}={binding}; Path=/v1/oauth; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
                crate::connections::binding_cookie_name(state),
                crate::connections::AUTHORIZATION_TTL_SECS
            );
            (
                StatusCode::FOUND,
                [
                    (header::LOCATION, provider.to_string()),
                    (header::SET_COOKIE, cookie),
                    (header::CACHE_CONTROL, "no-store".to_string()),
                ],
            )
                .into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, Html(callback_page(&Err(e)))).into_response(),
    }
}

async fn oauth_callback(
    State(st): St,
    headers: axum::http::HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Some(limited) = oauth_rate_limited(&st) {
        return limited;
    }
    let name = q
        .get("state")
        .map(|s| crate::connections::binding_cookie_name(s))
        .unwrap_or_default();
    let binding = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .unwrap_or_default();
    let result = st.conns.complete_callback(&q, Some(&binding)).await;
    let status = if result.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Html(callback_page(&result)),
    )
        .into_response()
}

async fn invoke(
    State(st): St,
    caller: Caller,
    Path((id, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    caller.require(Role::Invoker, "invoking cards")?;
    let card = action.strip_suffix(":invoke").ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no action `{action}`: invoke a card with POST …/cards/{{card}}:invoke"),
        )
    })?;
    let input: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        parse_json(&body)?
    };
    // The record only (served from memory while the store is unchanged):
    // nothing on this path reads the store's file.
    let record = st.conns.store().connection(&id).await?;
    // An unknown card is a 404 before it can name a metric or a history
    // row: card names in either come only from the catalog.
    let registry = st.conns.host().registry();
    let known = registry
        .get(&record.connector)
        .is_some_and(|loaded| loaded.catalog.get(card).is_some());
    if !known {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown-card",
            format!(
                "connector `{}` has no card `{}`",
                record.connector,
                cardhost_runtime::text::truncate(card, 128)
            ),
        ));
    }
    drop(registry);
    let _slots = admit(&st, &record.id).await?;
    let _in_flight = st.metrics.in_flight();
    let started = std::time::Instant::now();
    let result = st.conns.invoke(&record.id, card, &input).await;
    let seconds = started.elapsed().as_secs_f64();
    let (journal, outcome) = match &result {
        Ok(inv) => (Some(&inv.journal), "ok"),
        Err(ConnectionError::Invocation(f)) => (Some(&f.journal), f.class()),
        Err(_) => (None, "connection"),
    };
    let requests = journal.map_or(0, |j| u64::from(j.upstream_requests()));
    let retries = journal.map_or(0, |j| u64::from(j.retries()));
    let refreshes = journal.map_or(0, |j| u64::from(j.refreshes));
    st.metrics.invocation(
        &record.connector,
        card,
        outcome,
        seconds,
        requests,
        retries,
        refreshes,
    );
    match result {
        Ok(inv) => {
            tracing::info!(invocation_id = %inv.id, connector = %record.connector, card, connection = %record.id, duration_ms = inv.duration_ms, "invocation ok");
            Ok(Json(json!({
                "invocation": inv.id,
                "output": inv.output,
                "duration_ms": inv.duration_ms,
                "upstream_requests": requests,
                "journal": inv.journal,
            }))
            .into_response())
        }
        Err(ConnectionError::Invocation(f)) => {
            tracing::info!(invocation_id = %f.id, connector = %record.connector, card, connection = %record.id, outcome, "invocation failed");
            Err(invocation_error(&f))
        }
        Err(e) => Err(e.into()),
    }
}

/// Takes a server-wide and a per-connection slot, or answers 503.
/// Takes a slot on the connection and one server-wide, waiting up to
/// `admission_wait_ms` for them together; `saturated` (503) after that.
async fn admit(
    st: &AppState,
    connection: &str,
) -> Result<
    (
        tokio::sync::OwnedSemaphorePermit,
        tokio::sync::OwnedSemaphorePermit,
    ),
    ApiError,
> {
    let saturated = |scope: &str| {
        st.metrics.rejected("saturated");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "saturated",
            format!("{scope} is running as many invocations as it allows; retry shortly"),
        )
        .retry_after(1)
    };
    let wait = std::time::Duration::from_millis(st.config.admission_wait_ms);
    let deadline = tokio::time::Instant::now() + wait;
    let take = |slots: Arc<tokio::sync::Semaphore>, scope: &'static str| async move {
        // A closed semaphore never happens; treat it as full.
        match slots.clone().try_acquire_owned() {
            Ok(permit) => Ok(permit),
            Err(_) => tokio::time::timeout_at(deadline, slots.acquire_owned())
                .await
                .ok()
                .and_then(Result::ok)
                .ok_or(scope),
        }
    };
    // The connection's slot first, so invocations queued on one busy
    // connection do not hold server-wide slots while they wait.
    let connection = take(st.connection_slots(connection), "this connection")
        .await
        .map_err(saturated)?;
    let global = take(st.global.clone(), "the server")
        .await
        .map_err(saturated)?;
    Ok((global, connection))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    connection: Option<String>,
    connector: Option<String>,
    card: Option<String>,
    outcome: Option<String>,
    since_ms: Option<i64>,
    limit: Option<u32>,
}

async fn history(
    State(st): St,
    caller: Caller,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Reader, "reading history")?;
    let q = query_of(query)?;
    let connection_id = match q.connection {
        Some(c) => Some(st.store.connection(&c).await?.id),
        None => None,
    };
    let records = st
        .store
        .history(&HistoryFilter {
            connection_id,
            connector: q.connector,
            card: q.card,
            outcome: q.outcome,
            since_ms: q.since_ms,
            limit: Some(q.limit.unwrap_or(50).min(1_000)),
        })
        .await?;
    Ok(Json(json!({"invocations": records})))
}

async fn reload(State(st): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin, "reloading connectors")?;
    let registry = st.conns.host().reload().await;
    st.metrics.reloaded();
    let connectors: Vec<Value> = registry
        .connectors()
        .map(|c| json!({"id": c.manifest.id(), "version": c.manifest.raw.version}))
        .collect();
    Ok(Json(
        json!({"connectors": connectors, "load_errors": load_errors(&registry)}),
    ))
}
