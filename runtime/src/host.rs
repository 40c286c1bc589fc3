//! [`Cardhost`]: the engine, the registry and the broker tied together, and
//! what a connection needs from them (its credentials and, per invocation,
//! its request scope). Running a card is in [`invoke`](crate::invoke).

use crate::bindings::types as wit;
use crate::broker::{Broker, Journal, RequestScope};
use crate::config::RuntimeConfig;
use crate::credentials::oauth2::{ClientAuthMethod, Grant, OAuthClient};
use crate::credentials::{self, ConnectionCredentials, Secret, TokenManager, TokenSet, TokenSink};
use crate::error::ErrorKind;
use crate::guest::{self, CallLimits, GuestState};
use crate::manifest;
use crate::net::allow::AllowList;
use crate::registry::{self, LoadedConnector, Registry, Source};
use crate::{engine, executor};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, RwLock};
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
    /// What invocations work out from the fields, kept after the first
    /// (start with `Default::default()`).
    pub resolved: Resolved,
}

/// The environment a connection's fields select, resolved on its first
/// invocation and reused by the next — while the fields and the connector's
/// component are the ones it was resolved from, so a changed copy of the
/// connection or a reloaded connector never uses a stale one.
#[derive(Debug, Clone, Default)]
pub struct Resolved(OnceLock<ResolvedFor>);

#[derive(Debug, Clone)]
struct ResolvedFor {
    component: String,
    fields: Value,
    environment: Arc<manifest::ResolvedEnvironment>,
}

impl Connection {
    /// The environment its fields select in `loaded`.
    pub(crate) fn environment(
        &self,
        loaded: &LoadedConnector,
    ) -> Result<Arc<manifest::ResolvedEnvironment>, manifest::TemplateError> {
        if let Some(r) = self.resolved.0.get()
            && r.component == loaded.sha256
            && r.fields == self.fields
        {
            return Ok(r.environment.clone());
        }
        let environment = Arc::new(loaded.manifest.environment_for(&self.fields)?);
        let _ = self.resolved.0.set(ResolvedFor {
            component: loaded.sha256.clone(),
            fields: self.fields.clone(),
            environment: environment.clone(),
        });
        Ok(environment)
    }
}

/// The runtime: engine, registry and broker.
pub struct Cardhost {
    pub(crate) runtime: engine::Runtime,
    pub(crate) executor: Arc<executor::GuestExecutor>,
    linker: Linker<GuestState>,
    pub(crate) broker: Arc<Broker>,
    pub(crate) config: RuntimeConfig,
    registry: RwLock<Arc<Registry>>,
    builtins: Vec<(Source, Vec<u8>)>,
}

impl std::fmt::Debug for Cardhost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cardhost")
            .field("runtime", &self.runtime)
            .finish_non_exhaustive()
    }
}

impl Cardhost {
    /// Starts a runtime and loads the connectors directory of `config`.
    pub async fn new(config: RuntimeConfig) -> anyhow::Result<Self> {
        Self::with_builtins(config, Vec::new()).await
    }

    /// Starts a runtime that also loads `builtins` (when
    /// [`RuntimeConfig::builtin_connectors`] is on) at every reload: the
    /// components an embedder ships, such as the `cardhost` binary's
    /// first-party connectors.
    pub async fn with_builtins(
        config: RuntimeConfig,
        builtins: Vec<(Source, Vec<u8>)>,
    ) -> anyhow::Result<Self> {
        let mut host = Self::empty(config)?;
        host.builtins = builtins;
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
        let linker = guest::linker(runtime.engine())?;
        let broker = Arc::new(Broker::new(config.network.clone(), config.limits.clone())?);
        Ok(Self {
            runtime,
            executor,
            linker,
            broker,
            config,
            registry: RwLock::new(Arc::new(Registry::default())),
            builtins: Vec::new(),
        })
    }

    pub(crate) fn call_limits(&self) -> CallLimits {
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
            sources.extend(self.builtins.iter().cloned());
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
                let client = oauth_client(o, fields, &env, &secrets)?;
                Some(Arc::new(TokenManager::new(client, grant, tokens, sink)))
            }
            None => None,
        };
        Ok(ConnectionCredentials::new(
            method.clone(),
            secrets,
            tokens,
            fields,
            &env.vars,
        ))
    }

    pub(crate) fn scope_for(
        &self,
        loaded: &LoadedConnector,
        card: &str,
        card_permissions: &[String],
        connection: Option<&Connection>,
    ) -> Result<RequestScope, ErrorKind> {
        let connector = loaded.manifest.id().to_string();
        let (environment, allow) = match connection {
            Some(c) => {
                let env = c
                    .environment(loaded)
                    .map_err(|e| ErrorKind::Connection { message: e.message })?;
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
        // Read before the redactor is built: a token renewed in between is
        // then learnt at the next request.
        let redacted_generation = credentials.as_ref().map_or(0, |c| c.token_generation());
        let redactor = credentials
            .as_ref()
            .map(|c| c.redactor())
            .unwrap_or_default();
        Ok(RequestScope {
            client_key: RequestScope::client_key_for(
                &connector,
                connection.and_then(|c| c.id.as_deref()),
            ),
            connector,
            connection: connection.and_then(|c| c.id.clone()),
            card: card.to_string(),
            environment,
            allow,
            usable,
            declared,
            credentials,
            default_headers: loaded.manifest.default_headers.clone(),
            deadline: tokio::time::Instant::now() + self.config.limits.deadline(),
            network: true,
            journal: std::sync::Mutex::new(Journal::default()),
            redactor: std::sync::Mutex::new(redactor),
            attempts: Default::default(),
            redacted_generation: redacted_generation.into(),
            max_denials: self.config.limits.max_denials_per_invocation,
            max_message_bytes: self.config.limits.max_message_bytes,
        })
    }
}

/// The auth method `id` of `loaded`, or its first when `id` is `None`.
pub fn find_auth_method<'a>(
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

/// The OAuth2 client of an auth method, its templates rendered with the
/// connection's fields, environment and secrets.
pub fn oauth_client(
    o: &wit::Oauth2,
    fields: &Value,
    env: &manifest::ResolvedEnvironment,
    secrets: &BTreeMap<String, Secret>,
) -> Result<OAuthClient, String> {
    let env_vars = &env.vars;
    let secret = |name: &str| secrets.get(name).map(|s| s.expose().to_string());
    let token_url = manifest::render_secret_template(&o.token_url, fields, env_vars, &secret)?;
    let token_url =
        url::Url::parse(&token_url).map_err(|e| format!("token URL is not a URL: {e}"))?;
    env.check_auth_endpoint("token URL", &token_url)?;
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
