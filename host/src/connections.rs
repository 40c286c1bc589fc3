//! Stored connections: create, open, test, authorize, invoke, delete.
//!
//! [`Connections`] joins the runtime ([`Cardhost`]) and a [`Store`]. It is
//! the one place the CLI and the server go through, so both validate the
//! same way and record the same history.
//!
//! An opened connection is kept live (with its OAuth token manager) until
//! the stored record changes, so concurrent invocations on one connection
//! share one token manager and refresh once.

use crate::store::{
    ConnectionRecord, ConnectionState, InvocationRecord, NewConnection, PendingAuthorization,
    SecretInfo, Store, StoreError, now_ms, now_secs,
};
use crate::{Cardhost, Connection, wit};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use cardhost_runtime::broker::Journal;
use cardhost_runtime::catalog::Runner;
use cardhost_runtime::credentials::{ConnectionCredentials, Secret, TokenSet, TokenSink};
use cardhost_runtime::invoke::{Invocation, InvokeError};
use cardhost_runtime::manifest::{self, SchemaViolation, with_defaults};
use cardhost_runtime::registry::LoadedConnector;
use cardhost_runtime::text::suggestion;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// How long an authorization flow may wait for its callback.
pub const AUTHORIZATION_TTL_SECS: i64 = 600;

/// Card name under which connection tests are recorded in history.
pub const AUTHPING: &str = "_authping";

/// Why a connection operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The card or connection test ran and failed (it is in the history).
    #[error("{0}")]
    Invocation(Box<InvokeError>),
    /// No such connector is loaded.
    #[error("no connector `{0}` is loaded")]
    UnknownConnector(String),
    /// The connection fields do not match the connector's schema.
    #[error("invalid connection fields for `{connector}`: {}", list(violations))]
    InvalidFields {
        /// Connector id.
        connector: String,
        /// Each problem with its JSON pointer.
        violations: Vec<SchemaViolation>,
    },
    /// Something else in the request is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The connection exists but cannot be used now.
    #[error("connection `{name}` is {state}: {message}")]
    NotReady {
        /// Connection name.
        name: String,
        /// Its state.
        state: ConnectionState,
        /// Why.
        message: String,
    },
    /// The authorization flow failed.
    #[error("authorization failed: {0}")]
    Authorization(String),
    /// A request reached the OAuth2 callback that no pending authorization
    /// expects (unknown, used or expired `state`, or no `code` and `state`):
    /// forged or stale, not the provider's answer to a flow in progress.
    #[error("authorization failed: {0}")]
    UnexpectedCallback(String),
    /// A change of fields would send secrets to a new destination, and
    /// they were not given again with it.
    #[error(
        "changing these fields moves {} of `{name}`: give {} again in the same request",
        moved.join(" and "),
        secrets.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
    )]
    SecretsRequired {
        /// Connection name.
        name: String,
        /// What moved, in words.
        moved: Vec<&'static str>,
        /// The secrets to give again.
        secrets: Vec<String>,
    },
    /// The store failed or has no such connection.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn list(violations: &[SchemaViolation]) -> String {
    violations
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// One line of the invocation history, as [`Connections`] records it.
struct Entry<'a> {
    id: &'a str,
    duration_ms: u64,
    journal: &'a Journal,
    /// `ok` or the error class.
    outcome: &'static str,
    error: Option<String>,
}

impl<'a> Entry<'a> {
    fn ok(id: &'a str, duration_ms: u64, journal: &'a Journal) -> Self {
        Self {
            id,
            duration_ms,
            journal,
            outcome: "ok",
            error: None,
        }
    }

    fn failed(f: &'a InvokeError, outcome: &'static str, error: String) -> Self {
        Self {
            id: &f.id,
            duration_ms: f.duration_ms,
            journal: &f.journal,
            outcome,
            error: Some(error),
        }
    }
}

/// A request to create a connection.
#[derive(Debug, Clone, Default)]
pub struct CreateConnection {
    /// Connector id.
    pub connector: String,
    /// Unique name.
    pub name: String,
    /// Non-secret fields (schema defaults are filled in).
    pub fields: Value,
    /// Secrets by name.
    pub secrets: BTreeMap<String, Secret>,
    /// Permissions to grant; `None` grants the connector's defaults.
    pub grant: Option<Vec<String>>,
    /// Auth method id; `None` picks the connector's first.
    pub auth_method: Option<String>,
}

/// A connection as listed: its record and which secrets are set.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionView {
    /// The stored record.
    #[serde(flatten)]
    pub record: ConnectionRecord,
    /// Secrets set, never their values.
    pub secrets: Vec<SecretInfo>,
}

/// The start of an authorization-code flow.
#[derive(Debug, Clone, Serialize)]
pub struct AuthorizationStart {
    /// Where to send the user.
    pub url: String,
    /// The `state` the callback must carry.
    pub state: String,
}

/// What deleting a connection did.
#[derive(Debug, Clone, Serialize)]
pub struct Deleted {
    /// The deleted connection.
    pub id: String,
    /// Whether a token was revoked at the provider (`None`: nothing to revoke
    /// or no revocation endpoint).
    pub revoked: Option<bool>,
    /// Why revocation failed, if it did (the connection is deleted anyway).
    pub revocation_error: Option<String>,
}

/// Whether a connection may use a card, and what it lacks if not.
#[derive(Debug, Clone, Serialize)]
pub struct CardAccess {
    /// Card id.
    pub card: String,
    /// Card title.
    pub title: String,
    /// Whether every permission the card declares is granted.
    pub usable: bool,
    /// Declared permissions the connection was not granted.
    pub missing: Vec<String>,
}

/// The cards of `loaded`, in catalog order, and whether a connection
/// granted `granted` may use each. The host's Custom API Action is usable
/// with any grant: each of its requests is checked against the grant.
pub fn card_access(loaded: &LoadedConnector, granted: &[String]) -> Vec<CardAccess> {
    loaded
        .catalog
        .iter()
        .map(|card| {
            let spec = &card.spec.card;
            let (usable, missing) = match card.runner {
                Runner::CustomApiAction => (!granted.is_empty(), Vec::new()),
                Runner::Guest => {
                    let missing: Vec<String> = spec
                        .permissions
                        .iter()
                        .filter(|p| !granted.contains(p))
                        .cloned()
                        .collect();
                    (missing.is_empty(), missing)
                }
            };
            CardAccess {
                card: spec.id.clone(),
                title: spec.title.clone(),
                usable,
                missing,
            }
        })
        .collect()
}

/// Connections of one store, served by one runtime.
pub struct Connections {
    host: Arc<Cardhost>,
    store: Arc<dyn Store>,
    live: Mutex<HashMap<String, LiveConnection>>,
}

struct LiveConnection {
    revision: i64,
    connector_version: String,
    connection: Arc<Connection>,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections").finish_non_exhaustive()
    }
}

/// Saves a connection's tokens to the store, and marks it when the
/// provider refuses its grant.
struct StoreSink {
    store: Arc<dyn Store>,
    id: String,
}

#[async_trait::async_trait]
impl TokenSink for StoreSink {
    async fn save(&self, tokens: &TokenSet) -> Result<(), String> {
        self.store
            .save_tokens(&self.id, tokens)
            .await
            .map_err(|e| e.to_string())
    }

    async fn needs_reauthorization(&self, reason: &str) {
        if let Err(e) = self
            .store
            .set_state(
                &self.id,
                ConnectionState::NeedsReauthorization,
                Some(reason),
            )
            .await
        {
            tracing::error!(connection = %self.id, "cannot mark the connection for reauthorization: {e}");
        }
    }

    async fn load(&self) -> Option<TokenSet> {
        self.store.tokens(&self.id).await.ok()
    }

    async fn take_lease(&self, holder: &str, ttl: std::time::Duration) -> Result<bool, String> {
        self.store
            .take_refresh_lease(&self.id, holder, ttl.as_millis() as i64)
            .await
            .map_err(|e| e.to_string())
    }

    async fn release_lease(&self, holder: &str) {
        if let Err(e) = self.store.release_refresh_lease(&self.id, holder).await {
            tracing::warn!(connection = %self.id, "cannot release the refresh lease (it expires on its own): {e}");
        }
    }
}

fn auth_method<'a>(
    loaded: &'a LoadedConnector,
    id: Option<&str>,
) -> Result<&'a wit::AuthMethod, ConnectionError> {
    cardhost_runtime::host::find_auth_method(loaded, id).map_err(ConnectionError::Invalid)
}

fn check_name(name: &str) -> Result<(), ConnectionError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with("conn_")
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ConnectionError::Invalid(format!(
            "connection name `{name}` is not valid: use 1 to 100 letters, digits, spaces, `-`, `_` or `.`, not starting with `conn_`"
        )))
    }
}

/// A secret name the auth method does not declare, with the names it does
/// and the closest one.
fn unknown_secret(method: &wit::AuthMethod, connector: &str, name: &str) -> ConnectionError {
    let names = || method.secrets.iter().map(|s| s.name.as_str());
    ConnectionError::Invalid(format!(
        "auth method `{}` of `{connector}` has no secret `{name}` (it has: {}){}",
        method.id,
        names().collect::<Vec<_>>().join(", "),
        suggestion(name, names())
    ))
}

/// Refuses secrets `method` does not have, or empty or malformed values.
fn check_given_secrets(
    method: &wit::AuthMethod,
    connector: &str,
    secrets: &BTreeMap<String, Secret>,
) -> Result<(), ConnectionError> {
    for (name, value) in secrets {
        if !method.secrets.iter().any(|s| &s.name == name) {
            return Err(unknown_secret(method, connector, name));
        }
        check_secret_value(name, value)?;
    }
    Ok(())
}

/// Refuses a change that moves secrets which were not given again with it.
fn require_moved_secrets(
    connection: &str,
    moved: &cardhost_runtime::credentials::destinations::Move,
    given: &BTreeMap<String, Secret>,
) -> Result<(), ConnectionError> {
    let missing: Vec<String> = moved
        .secrets
        .iter()
        .filter(|name| !given.contains_key(*name))
        .cloned()
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ConnectionError::SecretsRequired {
        name: connection.to_string(),
        moved: moved.moved.clone(),
        secrets: missing,
    })
}

fn check_secret_value(name: &str, value: &Secret) -> Result<(), ConnectionError> {
    let v = value.expose();
    if v.is_empty() {
        return Err(ConnectionError::Invalid(format!(
            "secret `{name}` is empty"
        )));
    }
    if v.chars().any(char::is_control) {
        return Err(ConnectionError::Invalid(format!(
            "secret `{name}` contains a control character (a pasted newline?)"
        )));
    }
    Ok(())
}

fn check_grant(loaded: &LoadedConnector, grant: &[String]) -> Result<(), ConnectionError> {
    for id in grant {
        if !loaded.manifest.permissions.contains_key(id) {
            let mut known: Vec<&str> = loaded
                .manifest
                .permissions
                .keys()
                .map(String::as_str)
                .collect();
            known.sort_unstable();
            return Err(ConnectionError::Invalid(format!(
                "connector `{}` has no permission `{id}` (it has: {}){}",
                loaded.manifest.id(),
                known.join(", "),
                suggestion(id, known.iter().copied())
            )));
        }
    }
    Ok(())
}

fn is_authorization_code(method: &wit::AuthMethod) -> bool {
    matches!(method.scheme, wit::AuthScheme::Oauth2AuthorizationCode(_))
}

fn pkce_pair() -> (String, String) {
    let verifier = B64URL.encode(rand::random::<[u8; 48]>());
    let challenge = pkce_challenge(&verifier);
    (verifier, challenge)
}

/// The S256 challenge of a PKCE verifier.
fn pkce_challenge(verifier: &str) -> String {
    B64URL.encode(Sha256::digest(verifier.as_bytes()))
}

impl Connections {
    /// Connections of `store`, run by `host`.
    pub fn new(host: Arc<Cardhost>, store: Arc<dyn Store>) -> Self {
        Self {
            host,
            store,
            live: Mutex::new(HashMap::new()),
        }
    }

    /// The runtime.
    pub fn host(&self) -> &Arc<Cardhost> {
        &self.host
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn loaded(&self, connector: &str) -> Result<Arc<LoadedConnector>, ConnectionError> {
        self.host
            .registry()
            .get(connector)
            .cloned()
            .ok_or_else(|| ConnectionError::UnknownConnector(connector.to_string()))
    }

    fn forget(&self, id: &str) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// Validates and stores a new connection. Connections using the
    /// authorization-code grant start as needing authorization.
    pub async fn create(&self, req: CreateConnection) -> Result<ConnectionRecord, ConnectionError> {
        check_name(&req.name)?;
        let loaded = self.loaded(&req.connector)?;
        let fields = with_defaults(&loaded.manifest.connection_schema, &req.fields).into_owned();
        loaded
            .manifest
            .check_connection_fields(&fields)
            .map_err(|violations| ConnectionError::InvalidFields {
                connector: req.connector.clone(),
                violations,
            })?;
        let method = auth_method(&loaded, req.auth_method.as_deref())?;
        cardhost_runtime::credentials::destinations::destinations(
            &loaded.manifest,
            method,
            &fields,
        )
        .check(self.host.config().network.allow_http)
        .map_err(ConnectionError::Invalid)?;
        for (name, value) in &req.secrets {
            if !method.secrets.iter().any(|s| &s.name == name) {
                return Err(unknown_secret(method, &req.connector, name));
            }
            check_secret_value(name, value)?;
        }
        let missing: Vec<String> = method
            .secrets
            .iter()
            .filter(|s| !s.optional && !req.secrets.contains_key(&s.name))
            // A client id may be a connection field instead of a secret.
            .filter(|s| {
                cardhost_runtime::credentials::secret_or_field(&req.secrets, &fields, &s.name)
                    .is_none()
            })
            .map(|s| format!("`{}` ({})", s.name, s.title))
            .collect();
        if !missing.is_empty() {
            return Err(ConnectionError::Invalid(format!(
                "missing secret{} for `{}`: {}",
                if missing.len() == 1 { "" } else { "s" },
                req.connector,
                missing.join(", ")
            )));
        }
        let granted = match req.grant {
            Some(g) => {
                check_grant(&loaded, &g)?;
                g
            }
            None => Cardhost::default_grant(&loaded),
        };
        let (state, state_message) = if is_authorization_code(method) {
            (
                ConnectionState::NeedsReauthorization,
                Some("not authorized yet: run the authorization flow".to_string()),
            )
        } else {
            (ConnectionState::Ready, None)
        };
        let pin =
            cardhost_runtime::credentials::destinations::pin(&loaded.manifest, method, &fields);
        let record = self
            .store
            .create_connection(NewConnection {
                name: req.name,
                connector: req.connector,
                connector_version: loaded.manifest.raw.version.clone(),
                auth_method: Some(method.id.clone()),
                fields,
                granted,
                state,
                state_message,
                secrets: req.secrets,
            })
            .await?;
        self.store
            .set_credential_pin(&record.id, &pin, None)
            .await?;
        Ok(record)
    }

    /// What moving a connection's credential destinations from `before`
    /// to `after` does, once the new ones obey the URL rules and every
    /// secret the move sends somewhere new is among `given`.
    fn checked_move(
        &self,
        connection: &str,
        method: &wit::AuthMethod,
        before: &cardhost_runtime::credentials::destinations::Destinations,
        after: &cardhost_runtime::credentials::destinations::Destinations,
        given: &BTreeMap<String, Secret>,
    ) -> Result<cardhost_runtime::credentials::destinations::Move, ConnectionError> {
        after
            .check(self.host.config().network.allow_http)
            .map_err(ConnectionError::Invalid)?;
        let moved =
            cardhost_runtime::credentials::destinations::moved_secrets(method, before, after);
        require_moved_secrets(connection, &moved, given)?;
        Ok(moved)
    }

    /// Checks that the loaded connector still sends `record`'s credentials
    /// where the connection was approved to: the credential-relevant parts
    /// of its manifest match the pin. A connection made before pinning is
    /// pinned now. A mismatch puts the connection in `needs-approval`,
    /// with the differences, and refuses it.
    async fn check_pin(
        &self,
        record: &ConnectionRecord,
        loaded: &LoadedConnector,
        method: &wit::AuthMethod,
    ) -> Result<(), ConnectionError> {
        use cardhost_runtime::credentials::destinations::{diff, pin, pin_holds};
        let current = pin(&loaded.manifest, method, &record.fields);
        let Some(pinned) = self.store.credential_pin(&record.id).await? else {
            self.store
                .set_credential_pin(&record.id, &current, None)
                .await?;
            return Ok(());
        };
        if pin_holds(&pinned, &current) {
            if pinned.digest != current.digest {
                // Pinned by an older host, in an older layout: the same
                // destinations, now written the current way.
                self.store
                    .set_credential_pin(&record.id, &current, None)
                    .await?;
            }
            return Ok(());
        }
        let changes = diff(&pinned.parts, &current.parts);
        let message = format!(
            "connector `{}` {} changed where this connection's credentials go ({}): an admin must \
             approve it (`cardhost connections approve {}` or POST /v1/connections/{}/approve)",
            record.connector,
            loaded.manifest.raw.version,
            cardhost_runtime::text::truncate(&changes.join("; "), 2048),
            record.name,
            record.id
        );
        self.forget(&record.id);
        if record.state != ConnectionState::NeedsApproval {
            self.store
                .set_state(&record.id, ConnectionState::NeedsApproval, Some(&message))
                .await?;
            tracing::warn!(connection = %record.id, connector = %record.connector, "credential destinations changed; connection needs approval");
        }
        Err(ConnectionError::NotReady {
            name: record.name.clone(),
            state: ConnectionState::NeedsApproval,
            message,
        })
    }

    /// What approving the connector's current credential parts for a
    /// connection would change, one line each (empty: nothing to approve).
    pub async fn pending_approval(&self, id_or_name: &str) -> Result<Vec<String>, ConnectionError> {
        use cardhost_runtime::credentials::destinations::{diff, pin, pin_holds};
        let record = self.store.connection(id_or_name).await?;
        let loaded = self.loaded(&record.connector)?;
        let method = auth_method(&loaded, record.auth_method.as_deref())?;
        let current = pin(&loaded.manifest, method, &record.fields);
        Ok(match self.store.credential_pin(&record.id).await? {
            Some(pinned) if !pin_holds(&pinned, &current) => diff(&pinned.parts, &current.parts),
            _ => Vec::new(),
        })
    }

    /// Approves the loaded connector's credential parts for a connection
    /// in `needs-approval`. When the change moves where a secret goes, that
    /// secret must be given again in `secrets` (and OAuth2 tokens are
    /// forgotten), as when fields move it.
    pub async fn approve(
        &self,
        id_or_name: &str,
        secrets: BTreeMap<String, Secret>,
    ) -> Result<ConnectionRecord, ConnectionError> {
        use cardhost_runtime::credentials::destinations::{
            Destinations, destinations, pin, pin_holds,
        };
        let record = self.store.connection(id_or_name).await?;
        let loaded = self.loaded(&record.connector)?;
        let method = auth_method(&loaded, record.auth_method.as_deref())?;
        let current = pin(&loaded.manifest, method, &record.fields);
        let pinned = self.store.credential_pin(&record.id).await?;
        if pinned.as_ref().is_some_and(|p| pin_holds(p, &current))
            && record.state != ConnectionState::NeedsApproval
        {
            return Err(ConnectionError::Invalid(format!(
                "connection `{}` has nothing to approve",
                record.name
            )));
        }
        check_given_secrets(method, &record.connector, &secrets)?;
        let before: Destinations = pinned
            .as_ref()
            .and_then(|p| serde_json::from_value(p.parts["destinations"].clone()).ok())
            .unwrap_or_default();
        let after = destinations(&loaded.manifest, method, &record.fields);
        let moved = self.checked_move(&record.name, method, &before, &after, &secrets)?;
        self.forget(&record.id);
        let reauthorize =
            moved.tokens && matches!(method.scheme, wit::AuthScheme::Oauth2AuthorizationCode(_));
        let state = reauthorize.then_some((
            ConnectionState::NeedsReauthorization,
            "the approved change moved the token endpoint: authorize the connection again",
        ));
        self.store
            .set_credential_pin(
                &record.id,
                &current,
                Some(&crate::store::FieldsChange {
                    fields: &record.fields,
                    version: &loaded.manifest.raw.version,
                    secrets: &secrets,
                    clear_tokens: moved.tokens,
                    state,
                }),
            )
            .await?;
        self.forget(&record.id);
        Ok(self.store.connection(&record.id).await?)
    }

    /// All connections with their secret names.
    pub async fn list(&self) -> Result<Vec<ConnectionView>, ConnectionError> {
        let mut views = Vec::new();
        for record in self.store.list_connections().await? {
            let secrets = self.store.secret_info(&record.id).await?;
            views.push(ConnectionView { record, secrets });
        }
        Ok(views)
    }

    /// One connection with its secret names.
    pub async fn show(&self, id_or_name: &str) -> Result<ConnectionView, ConnectionError> {
        let record = self.store.connection(id_or_name).await?;
        let secrets = self.store.secret_info(&record.id).await?;
        Ok(ConnectionView { record, secrets })
    }

    /// Which cards a connection may use.
    pub async fn cards(&self, id_or_name: &str) -> Result<Vec<CardAccess>, ConnectionError> {
        let record = self.store.connection(id_or_name).await?;
        let loaded = self.loaded(&record.connector)?;
        Ok(card_access(&loaded, &record.granted))
    }

    /// Replaces a connection's fields, validated like at creation. A change
    /// that moves where its secrets go (the API origin, token, authorization
    /// or revocation URL) forgets its OAuth2 tokens and needs every secret
    /// that would go to the new place given again in `secrets`, in the same
    /// change; otherwise nothing changes and the error names them.
    pub async fn update_fields(
        &self,
        id_or_name: &str,
        fields: &Value,
        secrets: BTreeMap<String, Secret>,
    ) -> Result<ConnectionRecord, ConnectionError> {
        use cardhost_runtime::credentials::destinations::destinations;
        let record = self.store.connection(id_or_name).await?;
        let loaded = self.loaded(&record.connector)?;
        let fields = with_defaults(&loaded.manifest.connection_schema, fields).into_owned();
        loaded
            .manifest
            .check_connection_fields(&fields)
            .map_err(|violations| ConnectionError::InvalidFields {
                connector: record.connector.clone(),
                violations,
            })?;
        let method = auth_method(&loaded, record.auth_method.as_deref())?;
        // A connector change waiting for approval is approved first, on
        // its own: a change of fields must not approve it on the side.
        self.check_pin(&record, &loaded, method).await?;
        check_given_secrets(method, &record.connector, &secrets)?;
        let before = destinations(&loaded.manifest, method, &record.fields);
        let after = destinations(&loaded.manifest, method, &fields);
        let moved = self.checked_move(&record.name, method, &before, &after, &secrets)?;
        // Forget the live credentials first: nothing cached may go to the
        // new destination.
        self.forget(&record.id);
        let state = if moved.tokens
            && matches!(method.scheme, wit::AuthScheme::Oauth2AuthorizationCode(_))
        {
            Some((
                ConnectionState::NeedsReauthorization,
                format!(
                    "{} changed: authorize the connection again",
                    moved.moved.join(" and ")
                ),
            ))
        } else {
            None
        };
        self.store
            .replace_fields(
                &record.id,
                &crate::store::FieldsChange {
                    fields: &fields,
                    version: &loaded.manifest.raw.version,
                    secrets: &secrets,
                    clear_tokens: moved.tokens,
                    state: state.as_ref().map(|(s, m)| (*s, m.as_str())),
                },
            )
            .await?;
        self.store
            .set_credential_pin(
                &record.id,
                &cardhost_runtime::credentials::destinations::pin(
                    &loaded.manifest,
                    method,
                    &fields,
                ),
                None,
            )
            .await?;
        self.forget(&record.id);
        Ok(self.store.connection(&record.id).await?)
    }

    /// Replaces one secret (e.g. a rotated API key or client secret).
    pub async fn set_secret(
        &self,
        id_or_name: &str,
        name: &str,
        value: &Secret,
    ) -> Result<(), ConnectionError> {
        let record = self.store.connection(id_or_name).await?;
        let loaded = self.loaded(&record.connector)?;
        let method = auth_method(&loaded, record.auth_method.as_deref())?;
        if !method.secrets.iter().any(|s| s.name == name) {
            return Err(unknown_secret(method, &record.connector, name));
        }
        check_secret_value(name, value)?;
        self.store.set_secret(&record.id, name, value).await?;
        self.forget(&record.id);
        // A new client secret may be just what a refused client needed.
        self.retry_client_credentials(&record.id).await?;
        Ok(())
    }

    /// A client-credentials connection that was refused (`invalid_grant`)
    /// has no consent to redo: it is made ready again for the next try (a
    /// test, or after a new secret), which marks it again if it still fails.
    async fn retry_client_credentials(&self, id_or_name: &str) -> Result<(), ConnectionError> {
        let record = self.store.connection(id_or_name).await?;
        if record.state != ConnectionState::NeedsReauthorization {
            return Ok(());
        }
        let loaded = self.loaded(&record.connector)?;
        let method = auth_method(&loaded, record.auth_method.as_deref())?;
        if matches!(method.scheme, wit::AuthScheme::Oauth2ClientCredentials(_)) {
            self.store
                .set_state(&record.id, ConnectionState::Ready, None)
                .await?;
            self.forget(&record.id);
        }
        Ok(())
    }

    /// Replaces what a connection is granted.
    pub async fn grant(
        &self,
        id_or_name: &str,
        granted: &[String],
    ) -> Result<ConnectionRecord, ConnectionError> {
        let record = self.store.connection(id_or_name).await?;
        let loaded = self.loaded(&record.connector)?;
        check_grant(&loaded, granted)?;
        self.store.set_grant(&record.id, granted).await?;
        self.forget(&record.id);
        Ok(self.store.connection(&record.id).await?)
    }

    /// Deletes a connection, first revoking its token at the provider when
    /// the connector declares a revocation endpoint.
    pub async fn delete(&self, id_or_name: &str) -> Result<Deleted, ConnectionError> {
        let record = self.store.connection(id_or_name).await?;
        let mut deleted = Deleted {
            id: record.id.clone(),
            revoked: None,
            revocation_error: None,
        };
        if let Ok(loaded) = self.loaded(&record.connector)
            && let Ok(method) = auth_method(&loaded, record.auth_method.as_deref())
        {
            let oauth = match &method.scheme {
                wit::AuthScheme::Oauth2ClientCredentials(o) => Some(o),
                wit::AuthScheme::Oauth2AuthorizationCode(ac) => Some(&ac.oauth2),
                _ => None,
            };
            if let Some(template) = oauth.and_then(|o| o.revocation_url.as_ref()) {
                match self.revoke(&record, &loaded, template).await {
                    Ok(revoked) => deleted.revoked = Some(revoked),
                    Err(e) => {
                        deleted.revoked = Some(false);
                        deleted.revocation_error = Some(e);
                    }
                }
            }
        }
        self.store.delete_connection(&record.id).await?;
        self.forget(&record.id);
        Ok(deleted)
    }

    async fn revoke(
        &self,
        record: &ConnectionRecord,
        loaded: &LoadedConnector,
        template: &str,
    ) -> Result<bool, String> {
        let secrets = self
            .store
            .secrets(&record.id)
            .await
            .map_err(|e| e.to_string())?;
        let tokens = self
            .store
            .tokens(&record.id)
            .await
            .map_err(|e| e.to_string())?;
        if tokens.access_token.is_none() && tokens.refresh_token.is_none() {
            return Ok(false);
        }
        let env = loaded
            .manifest
            .environment_for(&record.fields)
            .map_err(|e| e.message)?;
        // Tokens go only where the connection was approved to send them.
        let method =
            auth_method(loaded, record.auth_method.as_deref()).map_err(|e| e.to_string())?;
        let current = cardhost_runtime::credentials::destinations::pin(
            &loaded.manifest,
            method,
            &record.fields,
        );
        if let Some(pinned) = self
            .store
            .credential_pin(&record.id)
            .await
            .map_err(|e| e.to_string())?
            && !cardhost_runtime::credentials::destinations::pin_holds(&pinned, &current)
        {
            return Err(format!(
                "not revoked: connector `{}` {} changed where this connection's credentials go, and the change was not approved",
                record.connector, loaded.manifest.raw.version
            ));
        }
        let lookup = |n: &str| secrets.get(n).map(|s| s.expose().to_string());
        let url = manifest::render_secret_template(template, &record.fields, &env.vars, &lookup)?;
        let url = url::Url::parse(&url).map_err(|e| format!("revocation URL: {e}"))?;
        cardhost_runtime::net::transport::check_host_url(
            &url,
            self.host.config().network.allow_http,
        )
        .map_err(|e| format!("the revocation URL: {e}"))?;
        env.check_auth_endpoint("revocation URL", &url)?;
        let credentials = self.host.credentials(
            loaded,
            record.auth_method.as_deref(),
            &record.fields,
            secrets,
            tokens,
            None,
        )?;
        let Some(manager) = credentials.tokens() else {
            return Ok(false);
        };
        manager.revoke(self.host.broker().transport(), &url).await
    }

    /// Opens a ready connection for invocation, reusing the live one while
    /// the stored record is unchanged.
    pub async fn open(&self, id_or_name: &str) -> Result<Arc<Connection>, ConnectionError> {
        let record = self.store.connection(id_or_name).await?;
        if record.state != ConnectionState::Ready {
            self.forget(&record.id);
            return Err(ConnectionError::NotReady {
                name: record.name,
                state: record.state,
                message: record
                    .state_message
                    .unwrap_or_else(|| "no reason recorded".into()),
            });
        }
        let loaded = self.loaded(&record.connector)?;
        // Keyed by the component, not its declared version: a reloaded
        // component is checked against the pin again.
        let version = loaded.sha256.clone();
        {
            let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(l) = live.get(&record.id)
                && l.revision == record.revision
                && l.connector_version == version
            {
                return Ok(l.connection.clone());
            }
        }
        let method = auth_method(&loaded, record.auth_method.as_deref())?;
        self.check_pin(&record, &loaded, method).await?;
        let credentials = self.credentials(&record, &loaded).await?;
        let connection = Arc::new(Connection {
            id: Some(record.id.clone()),
            connector: record.connector.clone(),
            fields: record.fields.clone(),
            granted: record.granted.clone(),
            credentials: Some(Arc::new(credentials)),
            resolved: Default::default(),
        });
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        // A concurrent open may have won: keep one manager per connection.
        if let Some(l) = live.get(&record.id)
            && l.revision == record.revision
            && l.connector_version == version
        {
            return Ok(l.connection.clone());
        }
        live.insert(
            record.id.clone(),
            LiveConnection {
                revision: record.revision,
                connector_version: version,
                connection: connection.clone(),
            },
        );
        Ok(connection)
    }

    async fn credentials(
        &self,
        record: &ConnectionRecord,
        loaded: &LoadedConnector,
    ) -> Result<ConnectionCredentials, ConnectionError> {
        let secrets = self.store.secrets(&record.id).await?;
        let tokens = self.store.tokens(&record.id).await?;
        let sink: Arc<dyn TokenSink> = Arc::new(StoreSink {
            store: self.store.clone(),
            id: record.id.clone(),
        });
        self.host
            .credentials(
                loaded,
                record.auth_method.as_deref(),
                &record.fields,
                secrets,
                tokens,
                Some(sink),
            )
            .map_err(ConnectionError::Invalid)
    }

    /// Runs `card` on a stored connection and records it in the history.
    pub async fn invoke(
        &self,
        id_or_name: &str,
        card: &str,
        input: &Value,
    ) -> Result<Invocation, ConnectionError> {
        let connection = self.open(id_or_name).await?;
        let started_at_ms = now_ms();
        let result = self
            .host
            .invoke(&connection.connector, card, input, Some(&connection))
            .await;
        let entry = match &result {
            Ok(inv) => Entry::ok(&inv.id, inv.duration_ms, &inv.journal),
            Err(f) => Entry::failed(f, f.class(), f.to_string()),
        };
        self.record(&connection, card, started_at_ms, entry).await;
        result.map_err(ConnectionError::Invocation)
    }

    /// Records a trigger's poll in the history, under the card name
    /// `trigger:{id}`, like an invocation.
    pub(crate) async fn record_trigger_call(
        &self,
        connection: &Connection,
        trigger: &str,
        started_at_ms: i64,
        result: &Result<impl AsTriggerRecord, Box<InvokeError>>,
    ) {
        let entry = match result {
            Ok(call) => {
                let call = call.as_record();
                Entry::ok(call.id, call.duration_ms, call.journal)
            }
            Err(f) => Entry::failed(f, f.class(), f.to_string()),
        };
        self.record(
            connection,
            &format!("trigger:{trigger}"),
            started_at_ms,
            entry,
        )
        .await;
    }

    async fn record(
        &self,
        connection: &Connection,
        card: &str,
        started_at_ms: i64,
        entry: Entry<'_>,
    ) {
        let Entry {
            id,
            duration_ms,
            journal,
            outcome,
            error,
        } = entry;
        // The connection's redactor is built once per set of secrets; only
        // a failure has text to scrub.
        let error = error.map(|e| match &connection.credentials {
            Some(c) => c.redactor().redact(&e),
            None => e,
        });
        let record = InvocationRecord {
            id: id.to_string(),
            connection_id: connection.id.clone(),
            connector: connection.connector.clone(),
            card: card.to_string(),
            started_at_ms,
            duration_ms,
            outcome: outcome.to_string(),
            error,
            upstream_requests: journal.upstream_requests(),
            retries: journal.retries(),
        };
        if let Err(e) = self.store.record_invocation(&record).await {
            tracing::error!(invocation = %record.id, "cannot record the invocation: {e}");
        }
    }

    /// Runs the connector's connection test (`_authping`) and records it.
    /// A connection needing authorization is reported, not tested.
    pub async fn test(&self, id_or_name: &str) -> Result<wit::ConnectionReport, ConnectionError> {
        self.retry_client_credentials(id_or_name).await?;
        let connection = self.open(id_or_name).await?;
        let started_at_ms = now_ms();
        let started = std::time::Instant::now();
        let result = self.host.test_connection(&connection).await;
        let id = cardhost_runtime::invoke::new_invocation_id();
        let took = started.elapsed().as_millis() as u64;
        let none = Journal::default();
        let entry = match &result {
            Ok(report) if report.ok => Entry::ok(&id, took, &none),
            Ok(report) => Entry {
                id: &id,
                duration_ms: took,
                journal: &none,
                outcome: "connection",
                error: Some(format!(
                    "connection cannot be used with {}: {}",
                    connection.connector, report.summary
                )),
            },
            Err(f) => Entry::failed(
                f,
                "host",
                format!(
                    "host error running {}/{AUTHPING}: {f}",
                    connection.connector
                ),
            ),
        };
        self.record(&connection, AUTHPING, started_at_ms, entry)
            .await;
        result.map_err(ConnectionError::Invocation)
    }

    /// Starts the authorization-code flow for a connection: returns the URL
    /// to send the user to. The flow completes in
    /// [`Connections::complete_authorization`] when the provider redirects
    /// to `redirect_uri` with the code and `state`.
    pub async fn begin_authorization(
        &self,
        id_or_name: &str,
        redirect_uri: &str,
    ) -> Result<AuthorizationStart, ConnectionError> {
        let record = self.store.connection(id_or_name).await?;
        let (verifier, _) = pkce_pair();
        let state = B64URL.encode(rand::random::<[u8; 24]>());
        let url = self
            .provider_authorize_url(&record, &state, &verifier, redirect_uri)
            .await?;
        self.store
            .put_pending_authorization(&PendingAuthorization {
                state: state.clone(),
                connection_id: record.id.clone(),
                verifier: Secret::new(verifier),
                redirect_uri: redirect_uri.to_string(),
                created_at: now_secs(),
            })
            .await?;
        Ok(AuthorizationStart {
            url: url.to_string(),
            state,
        })
    }

    /// The provider's authorization URL for a flow (`state`, PKCE
    /// `verifier`, `redirect_uri`): built the same way whenever asked, so
    /// the server can send a browser there without storing the URL (it may
    /// carry a secret, such as Paycor's subscription key).
    async fn provider_authorize_url(
        &self,
        record: &ConnectionRecord,
        state: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<url::Url, ConnectionError> {
        let loaded = self.loaded(&record.connector)?;
        let method = auth_method(&loaded, record.auth_method.as_deref())?;
        let wit::AuthScheme::Oauth2AuthorizationCode(ac) = &method.scheme else {
            return Err(ConnectionError::Invalid(format!(
                "connection `{}` uses auth method `{}`, which has no authorization flow",
                record.name, method.id
            )));
        };
        // The flow sends the client secret to the token URL: only to one
        // the connection was approved for.
        self.check_pin(record, &loaded, method).await?;
        let secrets = self.store.secrets(&record.id).await?;
        let env = loaded
            .manifest
            .environment_for(&record.fields)
            .map_err(|e| ConnectionError::Invalid(e.message))?;
        let lookup = |n: &str| secrets.get(n).map(|s| s.expose().to_string());
        let client =
            cardhost_runtime::host::oauth_client(&ac.oauth2, &record.fields, &env, &secrets)
                .map_err(ConnectionError::Invalid)?;
        let authorize =
            manifest::render_secret_template(&ac.authorize_url, &record.fields, &env.vars, &lookup)
                .map_err(ConnectionError::Invalid)?;
        // The rendered URL may hold a secret: errors describe it, never show it.
        let mut url = url::Url::parse(&authorize).map_err(|e| {
            ConnectionError::Invalid(format!("the authorize URL is not a URL: {e}"))
        })?;
        cardhost_runtime::net::transport::check_host_url(
            &url,
            self.host.config().network.allow_http,
        )
        .map_err(|e| ConnectionError::Invalid(format!("the authorize URL: {e}")))?;
        env.check_auth_endpoint("authorization URL", &url)
            .map_err(ConnectionError::Invalid)?;
        let challenge = pkce_challenge(verifier);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &client.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("state", state)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
            if !client.scopes.is_empty() {
                q.append_pair("scope", &client.scopes.join(" "));
            }
            for (k, v) in &ac.authorize_params {
                let v = manifest::render_secret_template(v, &record.fields, &env.vars, &lookup)
                    .map_err(ConnectionError::Invalid)?;
                q.append_pair(k, &v);
            }
        }
        Ok(url)
    }

    /// For a flow started in the server: the provider URL to send the
    /// browser to, and the value that binds the flow to that browser (set
    /// as a cookie; the callback must bring it back). Nothing is used up.
    pub async fn browser_start(&self, state: &str) -> Result<(url::Url, String), ConnectionError> {
        let pending = self
            .store
            .pending_authorization(state, AUTHORIZATION_TTL_SECS)
            .await?
            .ok_or_else(|| {
                ConnectionError::UnexpectedCallback(
                    "unknown, used or expired `state`: start the authorization again".into(),
                )
            })?;
        let record = self.store.connection(&pending.connection_id).await?;
        let url = self
            .provider_authorize_url(
                &record,
                state,
                pending.verifier.expose(),
                &pending.redirect_uri,
            )
            .await?;
        Ok((url, browser_binding(&pending)))
    }

    /// Completes an authorization flow from the provider's callback: checks
    /// `state` (single use, 10 minutes), exchanges the code with its PKCE
    /// verifier, saves the tokens and marks the connection ready.
    pub async fn complete_authorization(
        &self,
        state: &str,
        code: &str,
    ) -> Result<ConnectionRecord, ConnectionError> {
        let pending = self
            .store
            .take_pending_authorization(state, AUTHORIZATION_TTL_SECS)
            .await?
            .ok_or_else(|| {
                ConnectionError::UnexpectedCallback(
                    "unknown, used or expired `state`: start the authorization again".into(),
                )
            })?;
        let record = self.store.connection(&pending.connection_id).await?;
        let loaded = self.loaded(&record.connector)?;
        let credentials = self.credentials(&record, &loaded).await?;
        let manager = credentials.tokens().ok_or_else(|| {
            ConnectionError::Invalid(format!("connection `{}` does not use OAuth2", record.name))
        })?;
        manager
            .exchange_code(
                self.host.broker().transport(),
                code,
                pending.verifier.expose(),
                &pending.redirect_uri,
            )
            .await
            .map_err(|e| ConnectionError::Authorization(e.to_string()))?;
        self.store
            .set_state(&record.id, ConnectionState::Ready, None)
            .await?;
        self.forget(&record.id);
        Ok(self.store.connection(&record.id).await?)
    }
}

impl Connections {
    /// Handles the query of a request to an OAuth2 redirect URI: the
    /// provider's refusal, or the `code` and `state` that complete a pending
    /// authorization.
    pub async fn complete_callback(
        &self,
        params: &BTreeMap<String, String>,
        binding: Option<&str>,
    ) -> Result<ConnectionRecord, ConnectionError> {
        // A flow the server started is finished only by the browser that
        // started it; a callback without its binding uses nothing up.
        if let (Some(presented), Some(state)) = (binding, params.get("state")) {
            let expected = self
                .store
                .pending_authorization(state, AUTHORIZATION_TTL_SECS)
                .await?
                .map(|p| browser_binding(&p));
            if let Some(expected) = expected
                && !constant_time_eq(expected.as_bytes(), presented.as_bytes())
            {
                return Err(ConnectionError::UnexpectedCallback(
                    "this callback did not come from the browser that started the authorization"
                        .into(),
                ));
            }
        }
        if let Some(error) = params.get("error") {
            return Err(ConnectionError::Authorization(format!(
                "the provider refused: {error} {}",
                params
                    .get("error_description")
                    .map(String::as_str)
                    .unwrap_or_default()
            )));
        }
        match (params.get("code"), params.get("state")) {
            (Some(code), Some(state)) => self.complete_authorization(state, code).await,
            _ => Err(ConnectionError::UnexpectedCallback(
                "the callback has no `code` and `state`".into(),
            )),
        }
    }
}

/// What binds a server-started flow to the browser that opened it: derived
/// from the flow's secret PKCE verifier, so any node of the server can check
/// it and no one without the verifier can forge it.
fn browser_binding(pending: &PendingAuthorization) -> String {
    let digest = Sha256::digest(
        format!(
            "cardhost-oauth-browser\0{}\0{}",
            pending.verifier.expose(),
            pending.state
        )
        .as_bytes(),
    );
    hex::encode(&digest[..16])
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The cookie that carries a flow's browser binding.
pub fn binding_cookie_name(state: &str) -> String {
    let safe: String = state
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(16)
        .collect();
    format!("cardhost_oauth_{safe}")
}

/// The page a browser shows after an OAuth2 callback.
pub fn callback_page(result: &Result<ConnectionRecord, ConnectionError>) -> String {
    match result {
        Ok(record) => format!(
            "<h1>Connected</h1><p>cardhost connection <b>{}</b> is authorized. You can close this tab.</p>\
             <p><a href=\"/#/connections\">Back to the console</a></p>",
            html_escape(&record.name)
        ),
        Err(e) => format!(
            "<h1>Authorization failed</h1><p>{}</p><p><a href=\"/#/connections\">Back to the console</a></p>",
            html_escape(&e.to_string())
        ),
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// What history records of a trigger call that succeeded.
pub(crate) struct TriggerRecord<'a> {
    /// Invocation id.
    pub id: &'a str,
    /// Wall time.
    pub duration_ms: u64,
    /// Upstream requests.
    pub journal: &'a cardhost_runtime::broker::Journal,
}

/// A trigger call's answer that history can record.
pub(crate) trait AsTriggerRecord {
    /// What history records of it.
    fn as_record(&self) -> TriggerRecord<'_>;
}

impl AsTriggerRecord for cardhost_runtime::Poll {
    fn as_record(&self) -> TriggerRecord<'_> {
        TriggerRecord {
            id: &self.id,
            duration_ms: self.duration_ms,
            journal: &self.journal,
        }
    }
}

impl<T> AsTriggerRecord for cardhost_runtime::TriggerCall<T> {
    fn as_record(&self) -> TriggerRecord<'_> {
        TriggerRecord {
            id: &self.id,
            duration_ms: self.duration_ms,
            journal: &self.journal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_secret_values_are_checked() {
        assert!(check_name("Paycor production").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("conn_123").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_secret_value("token", &Secret::new("abc")).is_ok());
        let err = check_secret_value("token", &Secret::new("abc\n")).unwrap_err();
        assert!(err.to_string().contains("control character"), "{err}");
    }

    #[test]
    fn callback_pages_escape_what_they_show() {
        let page = callback_page(&Err(ConnectionError::Authorization(
            "the provider refused: <script>".into(),
        )));
        assert!(page.starts_with("<h1>Authorization failed</h1>"));
        assert!(page.contains("&lt;script&gt;") && !page.contains("<script>"));
    }

    #[test]
    fn pkce_challenge_is_the_s256_of_the_verifier() {
        let (verifier, challenge) = pkce_pair();
        assert!(verifier.len() >= 43 && verifier.len() <= 128);
        assert_eq!(
            challenge,
            B64URL.encode(Sha256::digest(verifier.as_bytes()))
        );
    }
}
