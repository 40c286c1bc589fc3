//! # cardhost
//!
//! A connector runtime on the WebAssembly component model. The host loads
//! connectors (components built with `cardhost-sdk`), validates every card
//! input and output against the card's JSON Schemas, and brokers every
//! outbound request and every secret: a connector never sees a credential and
//! reaches nothing the host did not allow.
//!
//! How the parts fit:
//! - [`engine`]: the one wasmtime engine, epoch deadlines, the component cache.
//! - [`registry`]: loads and validates connectors ([`manifest`]).
//! - [`invoke`]: runs a card in a fresh instance under memory and time limits.
//! - [`broker`]: allow-list, permissions, SSRF guard, credentials, retries, caps.
//! - [`credentials`]: secrets and OAuth2 tokens.
//!
//! [`Cardhost`] ties them together.

mod bindings;
pub mod broker;
pub mod cli;
pub mod config;
pub mod connections;
pub mod credentials;
pub mod engine;
pub mod executor;
pub mod invoke;
pub mod manifest;
pub mod registry;
pub mod server;
pub mod store;

pub use bindings::types as wit;
pub use bindings::{WIT_PACKAGE, WIT_VERSION};
pub use config::{Limits, NetworkPolicy, Route, RuntimeConfig};
pub use credentials::{ConnectionCredentials, Secret};
pub use invoke::{CUSTOM_API_ACTION, CardFailure, FailedInvocation, Invocation, InvokeError};
pub use registry::{LoadError, LoadedConnector, Registry, Source};

use crate::broker::allow::AllowList;
use crate::broker::{Broker, Journal, RequestScope};
use crate::credentials::oauth2::{ClientAuthMethod, Grant, OAuthClient};
use crate::credentials::{TokenManager, TokenSet, TokenSink};
use crate::invoke::{CallLimits, GuestState};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;
use wasmtime::component::Linker;

/// A connection as an invocation needs it: which connector, its fields, what
/// it was granted and its credentials.
#[derive(Debug, Clone)]
pub struct Connection {
    /// Stable id, if stored.
    pub id: Option<String>,
    /// Connector id.
    pub connector: String,
    /// Non-secret fields.
    pub fields: Value,
    /// Granted permission ids.
    pub granted: Vec<String>,
    /// Credentials, if the connector authenticates.
    pub credentials: Option<Arc<ConnectionCredentials>>,
}

/// The first-party connectors compiled into this binary.
pub fn builtin_connectors() -> Vec<(Source, Vec<u8>)> {
    builtins::ALL
        .iter()
        .map(|(name, bytes)| (Source::Builtin((*name).to_string()), bytes.to_vec()))
        .collect()
}

mod builtins {
    include!(concat!(env!("OUT_DIR"), "/builtins.rs"));
}

/// The runtime: engine, registry and broker.
pub struct Cardhost {
    runtime: engine::Runtime,
    executor: Arc<executor::GuestExecutor>,
    linker: Linker<GuestState>,
    broker: Arc<Broker>,
    config: RuntimeConfig,
    registry: RwLock<Arc<Registry>>,
}

impl std::fmt::Debug for Cardhost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cardhost")
            .field("runtime", &self.runtime)
            .finish_non_exhaustive()
    }
}

impl Cardhost {
    /// Starts a runtime and loads the configured connectors.
    pub async fn new(config: RuntimeConfig) -> anyhow::Result<Self> {
        let host = Self::empty(config)?;
        host.reload().await;
        Ok(host)
    }

    /// A runtime with no connectors loaded yet.
    pub fn empty(config: RuntimeConfig) -> anyhow::Result<Self> {
        config.limits.check().map_err(|e| anyhow::anyhow!(e))?;
        let runtime = engine::Runtime::new(&config.limits, config.cache_dir.clone())?;
        let executor = Arc::new(
            executor::GuestExecutor::new(config.limits.guest_threads)
                .map_err(|e| anyhow::anyhow!("cannot start the guest threads: {e}"))?,
        );
        let linker = invoke::linker(runtime.engine())?;
        let broker = Arc::new(Broker::new(config.network.clone(), config.limits.clone())?);
        Ok(Self {
            runtime,
            executor,
            linker,
            broker,
            config,
            registry: RwLock::new(Arc::new(Registry::default())),
        })
    }

    fn call_limits(&self) -> CallLimits {
        CallLimits::from_limits(&self.config.limits)
    }

    /// Where guest code runs.
    pub fn executor(&self) -> &executor::GuestExecutor {
        &self.executor
    }

    /// The configuration.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// The engine runtime.
    pub fn runtime(&self) -> &engine::Runtime {
        &self.runtime
    }

    /// The broker.
    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Loads components from these sources into a fresh registry.
    pub async fn load_sources(&self, sources: Vec<(Source, Vec<u8>)>) -> Registry {
        Registry::load(
            &self.runtime,
            &self.executor,
            &self.linker,
            &self.broker,
            self.call_limits(),
            sources,
        )
        .await
    }

    /// Reloads built-ins and the connectors directory. In-flight invocations
    /// keep the registry they started with.
    pub async fn reload(&self) -> Arc<Registry> {
        let mut sources = Vec::new();
        if self.config.builtin_connectors {
            sources.extend(builtin_connectors());
        }
        let mut dir_error = None;
        if let Some(dir) = &self.config.connectors_dir {
            match registry::read_dir(dir) {
                Ok(found) => sources.extend(found),
                Err(e) => dir_error = Some(e),
            }
        }
        let mut registry = self.load_sources(sources).await;
        if let Some(e) = dir_error {
            registry.push_error(e);
        }
        let registry = Arc::new(registry);
        *self.registry.write().unwrap_or_else(|e| e.into_inner()) = registry.clone();
        registry
    }

    /// Replaces the registry (used by tests and the `validate` command).
    pub fn set_registry(&self, registry: Registry) {
        *self.registry.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(registry);
    }

    /// The current registry.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Permissions a new connection of `connector` gets unless told otherwise.
    pub fn default_grant(loaded: &LoadedConnector) -> Vec<String> {
        loaded
            .manifest
            .raw
            .permissions
            .iter()
            .filter(|p| p.granted_by_default)
            .map(|p| p.id.clone())
            .collect()
    }

    /// Builds credentials for a connection of `loaded` from its auth method,
    /// secrets and stored tokens. OAuth2 methods get a token manager that
    /// saves through `sink`.
    pub fn credentials(
        &self,
        loaded: &LoadedConnector,
        method_id: Option<&str>,
        fields: &Value,
        secrets: BTreeMap<String, Secret>,
        tokens: TokenSet,
        sink: Option<Arc<dyn TokenSink>>,
    ) -> Result<ConnectionCredentials, String> {
        let method = find_auth_method(loaded, method_id)?;
        for s in &method.secrets {
            if !s.optional && !secrets.contains_key(&s.name) {
                return Err(format!("secret `{}` ({}) is required", s.name, s.title));
            }
        }
        let env = loaded
            .manifest
            .environment_for(fields)
            .map_err(|e| e.message)?;
        let oauth = match &method.scheme {
            wit::AuthScheme::Oauth2ClientCredentials(o) => Some((o, Grant::ClientCredentials)),
            wit::AuthScheme::Oauth2AuthorizationCode(ac) => Some((&ac.oauth2, Grant::RefreshToken)),
            _ => None,
        };
        let tokens = match oauth {
            Some((o, grant)) => {
                let client = oauth_client(o, fields, &env.vars, &secrets)?;
                Some(Arc::new(TokenManager::new(client, grant, tokens, sink)))
            }
            None => None,
        };
        Ok(ConnectionCredentials::new(method.clone(), secrets, tokens))
    }

    fn scope_for(
        &self,
        loaded: &LoadedConnector,
        card: &str,
        card_permissions: &[String],
        connection: Option<&Connection>,
    ) -> Result<RequestScope, InvokeError> {
        let connector = loaded.manifest.id().to_string();
        let (environment, allow) = match connection {
            Some(c) => {
                let env = loaded.manifest.environment_for(&c.fields).map_err(|e| {
                    InvokeError::Connection {
                        connector: connector.clone(),
                        message: e.message,
                    }
                })?;
                let allow = AllowList::new(env.allowed.clone());
                (Some(env), allow)
            }
            None => (None, AllowList::default()),
        };
        let granted: &[String] = connection.map(|c| c.granted.as_slice()).unwrap_or(&[]);
        let declared: Vec<_> = card_permissions
            .iter()
            .filter_map(|p| loaded.manifest.permissions.get(p).cloned())
            .collect();
        let usable = declared
            .iter()
            .filter(|p| granted.contains(&p.id))
            .cloned()
            .collect();
        let credentials = connection.and_then(|c| c.credentials.clone());
        let redactor = credentials
            .as_ref()
            .map(|c| c.redactor())
            .unwrap_or_default();
        Ok(RequestScope {
            connector,
            connection: connection.and_then(|c| c.id.clone()),
            card: card.to_string(),
            environment,
            allow,
            usable,
            declared,
            credentials,
            deadline: tokio::time::Instant::now() + self.config.limits.deadline(),
            network: true,
            journal: std::sync::Mutex::new(Journal::default()),
            redactor: std::sync::Mutex::new(redactor),
            attempts: Default::default(),
            max_denials: self.config.limits.max_denials_per_invocation,
            max_message_bytes: self.config.limits.max_message_bytes,
        })
    }

    /// Runs `card` of `connector` with `input`, on `connection` if given.
    pub async fn invoke(
        &self,
        connector: &str,
        card: &str,
        input: &Value,
        connection: Option<&Connection>,
    ) -> Result<Invocation, FailedInvocation> {
        let started = Instant::now();
        let id = invoke::new_invocation_id();
        let registry = self.registry();
        let fail =
            |error: InvokeError, journal: Journal, logs: invoke::GuestOutput| FailedInvocation {
                id: id.clone(),
                error,
                logs,
                journal,
                duration_ms: started.elapsed().as_millis() as u64,
            };
        let Some(loaded) = registry.get(connector).cloned() else {
            return Err(fail(
                InvokeError::UnknownConnector {
                    connector: connector.into(),
                },
                Journal::default(),
                Default::default(),
            ));
        };
        if let Some(c) = connection
            && c.connector != connector
        {
            return Err(fail(
                InvokeError::Connection {
                    connector: connector.into(),
                    message: format!("the connection belongs to connector `{}`", c.connector),
                },
                Journal::default(),
                Default::default(),
            ));
        }
        // Serialised once: its size is checked here, and the text is what
        // crosses into the guest.
        let input_text = input.to_string();
        let input_size = input_text.len();
        if input_size > self.config.limits.max_input_bytes {
            return Err(fail(
                InvokeError::InvalidInput {
                    connector: connector.into(),
                    card: card.into(),
                    violations: vec![manifest::SchemaViolation {
                        pointer: String::new(),
                        message: format!(
                            "input is {input_size} bytes, over the {}-byte limit",
                            self.config.limits.max_input_bytes
                        ),
                    }],
                },
                Journal::default(),
                Default::default(),
            ));
        }

        if card == CUSTOM_API_ACTION {
            let all: Vec<String> = loaded.manifest.permissions.keys().cloned().collect();
            let scope = self
                .scope_for(&loaded, card, &all, connection)
                .map_err(|e| fail(e, Journal::default(), Default::default()))?;
            let violations = manifest::violations(invoke::custom_api_action_validator(), input);
            if !violations.is_empty() {
                return Err(fail(
                    InvokeError::InvalidInput {
                        connector: connector.into(),
                        card: card.into(),
                        violations,
                    },
                    Journal::default(),
                    Default::default(),
                ));
            }
            let result = invoke::custom_api_action(&self.broker, &scope, input).await;
            let journal = scope.journal.lock().map(|j| j.clone()).unwrap_or_default();
            return match result {
                Ok(output) => Ok(Invocation {
                    id: id.clone(),
                    connector: connector.into(),
                    connector_version: loaded.manifest.raw.version.clone(),
                    card: card.into(),
                    connection: connection.and_then(|c| c.id.clone()),
                    output,
                    logs: Default::default(),
                    journal,
                    duration_ms: started.elapsed().as_millis() as u64,
                }),
                Err(e) => Err(fail(e, journal, Default::default())),
            };
        }

        let Some(spec) = loaded.manifest.cards.get(card).cloned() else {
            return Err(fail(
                InvokeError::UnknownCard {
                    connector: connector.into(),
                    card: card.into(),
                },
                Journal::default(),
                Default::default(),
            ));
        };
        let violations = spec.check_input(input);
        if !violations.is_empty() {
            return Err(fail(
                InvokeError::InvalidInput {
                    connector: connector.into(),
                    card: card.into(),
                    violations,
                },
                Journal::default(),
                Default::default(),
            ));
        }
        let scope = Arc::new(
            self.scope_for(&loaded, card, &spec.card.permissions, connection)
                .map_err(|e| fail(e, Journal::default(), Default::default()))?,
        );
        let empty = Value::Object(Default::default());
        let fields = connection.map(|c| &c.fields).unwrap_or(&empty);
        let ctx = invoke::guest_context(
            &id,
            connection.and_then(|c| c.id.as_deref()),
            fields,
            &scope,
        );
        let card_id = card.to_string();
        let call = invoke::run(
            self.runtime.engine(),
            &self.executor,
            &loaded.pre,
            scope.clone(),
            self.broker.clone(),
            self.call_limits(),
            move |world, store| {
                Box::pin(async move {
                    world
                        .cardhost_connector_connector()
                        .call_invoke(store, &card_id, &input_text, &ctx)
                        .await
                })
            },
        )
        .await;
        let journal = scope.journal.lock().map(|j| j.clone()).unwrap_or_default();
        let logs = call.output;
        let text = match call
            .result
            .and_then(|r| invoke::card_result(r, &loaded, &scope))
        {
            Ok(text) => text,
            Err(e) => {
                let e = invoke::prefer_host_cause(e, &scope, self.config.limits.deadline_ms);
                return Err(fail(e, journal, logs));
            }
        };
        if text.len() > self.config.limits.max_output_bytes {
            return Err(fail(
                InvokeError::OutputTooLarge {
                    connector: connector.into(),
                    card: card.into(),
                    size: text.len(),
                    limit: self.config.limits.max_output_bytes,
                },
                journal,
                logs,
            ));
        }
        // A last line: whatever the guest learnt, no secret leaves in its output.
        let text = match scope
            .redactor
            .lock()
            .ok()
            .and_then(|r| r.redact_bytes(text.as_bytes()))
        {
            Some(scrubbed) => String::from_utf8_lossy(&scrubbed).into_owned(),
            None => text,
        };
        let output: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                return Err(fail(
                    InvokeError::InvalidOutput {
                        connector: connector.into(),
                        card: card.into(),
                        violations: vec![manifest::SchemaViolation {
                            pointer: String::new(),
                            message: format!("not JSON: {e}"),
                        }],
                    },
                    journal,
                    logs,
                ));
            }
        };
        let violations = spec.check_output(&output);
        if !violations.is_empty() {
            return Err(fail(
                InvokeError::InvalidOutput {
                    connector: connector.into(),
                    card: card.into(),
                    violations,
                },
                journal,
                logs,
            ));
        }
        Ok(Invocation {
            id: id.clone(),
            connector: connector.into(),
            connector_version: loaded.manifest.raw.version.clone(),
            card: card.into(),
            connection: connection.and_then(|c| c.id.clone()),
            output,
            logs,
            journal,
            duration_ms: started.elapsed().as_millis() as u64,
        })
    }

    /// Runs the connector's `test-connection` for `connection`, with every
    /// permission the connection was granted.
    pub async fn test_connection(
        &self,
        connection: &Connection,
    ) -> Result<wit::ConnectionReport, FailedInvocation> {
        let started = Instant::now();
        let id = invoke::new_invocation_id();
        let registry = self.registry();
        let fail =
            |error: InvokeError, journal: Journal, logs: invoke::GuestOutput| FailedInvocation {
                id: id.clone(),
                error,
                logs,
                journal,
                duration_ms: started.elapsed().as_millis() as u64,
            };
        let Some(loaded) = registry.get(&connection.connector).cloned() else {
            return Err(fail(
                InvokeError::UnknownConnector {
                    connector: connection.connector.clone(),
                },
                Journal::default(),
                Default::default(),
            ));
        };
        let all: Vec<String> = loaded.manifest.permissions.keys().cloned().collect();
        let scope = Arc::new(
            self.scope_for(&loaded, "test-connection", &all, Some(connection))
                .map_err(|e| fail(e, Journal::default(), Default::default()))?,
        );
        let ctx = invoke::guest_context(&id, connection.id.as_deref(), &connection.fields, &scope);
        let call = invoke::run(
            self.runtime.engine(),
            &self.executor,
            &loaded.pre,
            scope.clone(),
            self.broker.clone(),
            self.call_limits(),
            move |world, store| {
                Box::pin(async move {
                    world
                        .cardhost_connector_connector()
                        .call_test_connection(store, &ctx)
                        .await
                })
            },
        )
        .await;
        let journal = scope.journal.lock().map(|j| j.clone()).unwrap_or_default();
        match call.result {
            Ok(mut report) => {
                let max_checks = self.config.limits.max_report_checks;
                let dropped = report.checks.len().saturating_sub(max_checks);
                report.checks.truncate(max_checks);
                report.summary = scope.guest_text(&report.summary);
                if dropped > 0 {
                    report
                        .summary
                        .push_str(&format!(" (and {dropped} more checks)"));
                }
                for check in &mut report.checks {
                    check.name = scope.guest_text(&check.name);
                    check.detail = scope.guest_text(&check.detail);
                }
                Ok(report)
            }
            Err(e) => Err(fail(e, journal, call.output)),
        }
    }

    /// Instantiates `connector` in a fresh store under the invocation limits
    /// and drops the instance without calling it: what every invocation pays
    /// before the card runs. Used by the benchmark to time instantiation
    /// alone, and to check a connector still instantiates.
    pub async fn instantiate(&self, connector: &str) -> Result<(), InvokeError> {
        let registry = self.registry();
        let loaded = registry
            .get(connector)
            .ok_or_else(|| InvokeError::UnknownConnector {
                connector: connector.into(),
            })?;
        let scope = Arc::new(self.scope_for(loaded, "instantiate", &[], None)?);
        invoke::run(
            self.runtime.engine(),
            &self.executor,
            &loaded.pre,
            scope,
            self.broker.clone(),
            self.call_limits(),
            |_, _| Box::pin(async { Ok(()) }),
        )
        .await
        .result
    }
}

/// The auth method `id` of `loaded`, or its first when `id` is `None`.
pub(crate) fn find_auth_method<'a>(
    loaded: &'a LoadedConnector,
    id: Option<&str>,
) -> Result<&'a wit::AuthMethod, String> {
    let methods = &loaded.manifest.raw.auth_methods;
    match id {
        Some(id) => methods.iter().find(|m| m.id == id).ok_or_else(|| {
            format!(
                "connector `{}` has no auth method `{id}` (it has: {})",
                loaded.manifest.id(),
                methods
                    .iter()
                    .map(|m| m.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }),
        None => methods.first().ok_or_else(|| {
            format!(
                "connector `{}` declares no auth method",
                loaded.manifest.id()
            )
        }),
    }
}

pub(crate) fn oauth_client(
    o: &wit::Oauth2,
    fields: &Value,
    env_vars: &[(String, String)],
    secrets: &BTreeMap<String, Secret>,
) -> Result<OAuthClient, String> {
    let secret = |name: &str| secrets.get(name).map(|s| s.expose().to_string());
    let token_url = manifest::render_secret_template(&o.token_url, fields, env_vars, &secret)?;
    let token_url =
        url::Url::parse(&token_url).map_err(|e| format!("token URL is not a URL: {e}"))?;
    let client_id = credentials::secret_or_field(secrets, fields, &o.client_id_secret)
        .ok_or_else(|| format!("client id `{}` is not set", o.client_id_secret))?;
    let client_secret = secret(&o.client_secret_secret)
        .ok_or_else(|| format!("client secret `{}` is not set", o.client_secret_secret))?;
    let scopes = o
        .scopes
        .iter()
        .map(|s| manifest::render_secret_template(s, fields, env_vars, &secret))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(OAuthClient {
        token_url,
        client_id,
        client_secret,
        scopes,
        auth: match o.client_auth {
            wit::ClientAuth::ClientSecretPost => ClientAuthMethod::ClientSecretPost,
            wit::ClientAuth::ClientSecretBasic => ClientAuthMethod::ClientSecretBasic,
        },
    })
}
