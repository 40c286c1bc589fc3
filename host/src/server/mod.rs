//! `cardhost serve`: the runtime as an HTTP service.
//!
//! The web console at `/` (see [`console`]) signs in with an API key and
//! then uses the same API with a session cookie.
//!
//! JSON API under `/v1` (catalog, connections, OAuth2 callback, card
//! invocation, history), `/openapi.json`, `/healthz`, `/readyz` and
//! Prometheus `/metrics`. Every endpoint but health and the OAuth2 callback
//! (which the provider's redirect reaches without a key; its `state` is the
//! credential) and vendors' webhook deliveries to `/v1/hooks/{subscription}`
//! (verified by the subscription's token instead) needs an API key with a
//! fitting role.

mod api;
pub mod console;
pub mod keys;
mod listen;
pub mod metrics;
mod openapi;
mod triggers;

use crate::config::ServerConfig;
use crate::connections::Connections;
use crate::store::Store;
use crate::subscriptions::Subscriptions;
use metrics::Metrics;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

pub use openapi::document as openapi_document;

/// Shared by every request.
pub(crate) struct AppState {
    conns: Arc<Connections>,
    subs: Arc<Subscriptions>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    config: ServerConfig,
    public_url: String,
    global: Arc<Semaphore>,
    per_connection: Mutex<HashMap<String, Arc<Semaphore>>>,
    shutting_down: AtomicBool,
    /// Paces the unauthenticated OAuth endpoints.
    oauth_limiter: WindowLimiter,
    /// Paces console sign-ins, apart from OAuth: a flood of sign-ins must
    /// not hold up the OAuth callbacks of people connecting accounts.
    sign_in_limiter: WindowLimiter,
}

/// At most `limit` requests per second, server-wide.
pub(crate) struct WindowLimiter {
    limit: u32,
    window: Mutex<(std::time::Instant, u32)>,
}

impl WindowLimiter {
    fn new(limit: u32) -> Self {
        Self {
            limit,
            window: Mutex::new((std::time::Instant::now(), 0)),
        }
    }

    /// Whether one more request fits in the current second.
    pub(crate) fn admit(&self) -> bool {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        if w.0.elapsed() >= Duration::from_secs(1) {
            *w = (std::time::Instant::now(), 0);
        }
        w.1 += 1;
        w.1 <= self.limit
    }
}

/// Requests per second the OAuth start and callback endpoints take.
pub const OAUTH_REQUESTS_PER_SECOND: u32 = 20;

/// Console sign-in attempts per second, server-wide.
pub const SIGN_IN_ATTEMPTS_PER_SECOND: u32 = 10;

impl AppState {
    fn connection_slots(&self, id: &str) -> Arc<Semaphore> {
        self.per_connection
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.config.max_concurrent_per_connection)))
            .clone()
    }
}

/// A running server.
pub struct RunningServer {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
    state: Arc<AppState>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl RunningServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The metrics it serves.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.state.metrics
    }

    /// Starts a graceful shutdown: no new connections; in-flight requests
    /// get up to the configured grace to finish.
    pub fn shutdown(&self) {
        self.state.shutting_down.store(true, Ordering::SeqCst);
        let _ = self.shutdown.send(true);
    }

    /// Waits for the server to stop.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await?
    }
}

/// Starts serving `conns` (and `store`'s keys) on `config.listen`.
pub async fn start(
    conns: Arc<Connections>,
    store: Arc<dyn Store>,
    config: ServerConfig,
) -> anyhow::Result<RunningServer> {
    let instances = conns.host().config().limits.max_concurrent_instances as usize;
    anyhow::ensure!(
        config.max_concurrent_invocations <= instances,
        "server.max_concurrent_invocations ({}) is above limits.max_concurrent_instances \
         ({instances}): the instance pool could not hold every admitted invocation; raise \
         limits.max_concurrent_instances or lower server.max_concurrent_invocations",
        config.max_concurrent_invocations
    );
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_string();
    let mut subs = Subscriptions::new(conns.clone()).with_public_url(public_url.clone());
    if let Some(node) = &config.node_name {
        subs = subs.with_node(node.clone());
    }
    let subs = Arc::new(subs);
    let state = Arc::new(AppState {
        subs: subs.clone(),
        conns,
        store,
        metrics: Arc::new(Metrics::default()),
        global: Arc::new(Semaphore::new(config.max_concurrent_invocations)),
        per_connection: Mutex::new(HashMap::new()),
        shutting_down: AtomicBool::new(false),
        oauth_limiter: WindowLimiter::new(OAUTH_REQUESTS_PER_SECOND),
        sign_in_limiter: WindowLimiter::new(SIGN_IN_ATTEMPTS_PER_SECOND),
        public_url,
        config: config.clone(),
    });
    let timeouts = listen::ReadTimeouts {
        header: Duration::from_millis(config.header_read_timeout_ms),
        body: Duration::from_millis(config.body_read_timeout_ms),
        max_body: config.max_body_bytes,
    };
    let app = api::router(state.clone()).layer(axum::middleware::from_fn_with_state(
        timeouts,
        listen::read_body_in_time,
    ));
    let (tx, rx) = watch::channel(false);
    tokio::spawn(subs.run(rx.clone()));
    let grace = Duration::from_millis(config.shutdown_grace_ms);
    let mut stopping = rx.clone();
    let task = tokio::spawn(async move {
        let serve = listen::serve(listener, app, timeouts, rx);
        tokio::pin!(serve);
        tokio::select! {
            () = &mut serve => Ok(()),
            () = listen::stopped(&mut stopping) => {
                if tokio::time::timeout(grace, &mut serve).await.is_err() {
                    tracing::warn!(grace_ms = grace.as_millis() as u64, "in-flight requests did not finish within the shutdown grace; stopping anyway");
                }
                Ok(())
            }
        }
    });
    tracing::info!(%addr, "cardhost serving");
    Ok(RunningServer {
        addr,
        shutdown: tx,
        task,
        state,
    })
}

/// Runs until SIGTERM or Ctrl-C; SIGHUP reloads the connectors.
pub async fn run_until_signalled(server: RunningServer) -> anyhow::Result<()> {
    let host = server.state.conns.host().clone();
    let metrics = server.state.metrics.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup())?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let registry = host.reload().await;
                metrics.reloaded();
                tracing::info!(
                    connectors = registry.connectors().count(),
                    errors = registry.errors().len(),
                    "reloaded connectors on SIGHUP"
                );
            }
        });
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    tracing::info!("shutting down: finishing in-flight invocations");
    server.shutdown();
    server.wait().await
}
