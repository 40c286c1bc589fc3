//! The upstreams, in their own process so that the process being measured
//! holds only the host (or the native baseline): its CPU profile and its
//! memory are its own.
//!
//! - A SmartHR emulator (no rate limits, 500 employees) for the HTTP card
//!   and paging cases.
//! - A "hold" server: `GET /people/{id}` answers `{"id", "name"}`, but for
//!   ids not starting with `warm` it holds the request open until
//!   `POST /release`; `GET /held` says how many are being held. The memory
//!   case keeps 1,000 invocations in flight with it.
//! - Fourth's SCIM API and its OAuth2 server (the demo setup: 320 users,
//!   pages of 100 at most) for the scheduler case. The hold server's
//!   `POST /scim/touch/{n}` changes the first `n` users as an edit in Fourth
//!   would, and `GET /scim/users-requests` says how many `GET /Users` the
//!   SCIM API answered and the query of the last one.

use anyhow::Context as _;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use cardhost_emulators::Server;
use cardhost_emulators::scim::{self, ScimState};
use cardhost_emulators::smarthr::{self, Environment};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::watch;

/// The tenant the SmartHR emulator serves.
pub const TENANT: &str = "acme";
/// Employees (crews) in the emulator: 50 pages of 10.
pub const CREWS: usize = 500;

/// Where the upstream process listens.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Addresses {
    /// SmartHR emulator origin.
    pub smarthr: String,
    /// Hold server origin.
    pub hold: String,
    /// Fourth SCIM base URL (the server plus `/scim/v2`).
    #[serde(default)]
    pub scim: String,
    /// Fourth's OAuth2 token endpoint.
    #[serde(default)]
    pub scim_token: String,
}

/// The upstream process; killed when dropped.
pub struct Upstream {
    child: Child,
    _stdin: ChildStdin,
    pub addresses: Addresses,
}

impl Upstream {
    /// Starts `cardhost-bench upstream` and reads its addresses.
    pub fn spawn() -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .arg("upstream")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the upstream process")?;
        let stdin = child.stdin.take().context("upstream stdin")?;
        let stdout = child.stdout.take().context("upstream stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addresses: Addresses = serde_json::from_str(&line)
            .with_context(|| format!("the upstream process said {line:?}"))?;
        Ok(Self {
            child,
            _stdin: stdin,
            addresses,
        })
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Hold {
    held: AtomicUsize,
    release: watch::Sender<u64>,
    scim: ScimState,
}

async fn person(
    State(hold): State<Arc<Hold>>,
    Path(id): Path<String>,
) -> axum::Json<serde_json::Value> {
    if !id.starts_with("warm") {
        let mut released = hold.release.subscribe();
        hold.held.fetch_add(1, Ordering::SeqCst);
        let _ = released.changed().await;
    }
    axum::Json(json!({"id": id, "name": "Aiko Tanaka"}))
}

/// Changes the first `n` SCIM users (a new title, `meta.lastModified` now)
/// and answers their ids.
async fn touch_users(
    State(hold): State<Arc<Hold>>,
    Path(n): Path<usize>,
) -> axum::Json<serde_json::Value> {
    let ids: Vec<String> = hold
        .scim
        .users()
        .iter()
        .take(n)
        .filter_map(|u| u["id"].as_str().map(str::to_string))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        hold.scim.update_user(id, |u| {
            u.insert("title".into(), json!(format!("Bench Title {i}")));
        });
    }
    axum::Json(json!(ids))
}

/// How many `GET /Users` the SCIM API answered, and the last one's query.
async fn users_requests(State(hold): State<Arc<Hold>>) -> axum::Json<serde_json::Value> {
    let requests = hold.scim.requests();
    let lists: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/Users")
        .collect();
    axum::Json(json!({
        "count": lists.len(),
        "failed": lists.iter().filter(|r| r.status >= 400).count(),
        "last_query": lists.last().and_then(|r| r.query.clone()),
    }))
}

/// Runs the upstreams until the parent closes our stdin.
pub async fn serve() -> anyhow::Result<()> {
    let mut config = smarthr::Config::new(TENANT, Environment::Production);
    config.rate_limits.clear();
    config.counts.crews = CREWS;
    let smarthr = smarthr::start(config).await?;
    let fourth = scim::start_demo(0, 0).await?;

    let hold = Arc::new(Hold {
        held: AtomicUsize::new(0),
        release: watch::Sender::new(0),
        scim: fourth.api.state(),
    });
    let app =
        axum::Router::new()
            .route("/people/{id}", get(person))
            .route(
                "/held",
                get(|State(h): State<Arc<Hold>>| async move {
                    h.held.load(Ordering::SeqCst).to_string()
                }),
            )
            .route(
                "/release",
                post(|State(h): State<Arc<Hold>>| async move {
                    h.held.store(0, Ordering::SeqCst);
                    h.release.send_modify(|g| *g += 1);
                }),
            )
            .route("/scim/touch/{n}", post(touch_users))
            .route("/scim/users-requests", get(users_requests))
            .with_state(hold);
    // The emulators' server: loopback, TCP_NODELAY, stopped when dropped.
    let hold_server = Server::spawn(app, 0).await?;

    let addresses = Addresses {
        smarthr: smarthr.url(),
        hold: hold_server.url(),
        scim: fourth.api.base_url(),
        scim_token: fourth.identity.token_url(),
    };
    println!("{}", serde_json::to_string(&addresses)?);
    // The parent holds our stdin; when it goes, so do we.
    until_stdin_closes().await
}

/// Returns when this process's stdin closes: a child's parent holds it, and
/// when it goes (or drops it), so does the child.
pub async fn until_stdin_closes() -> anyhow::Result<()> {
    tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        while std::io::stdin()
            .lock()
            .read_line(&mut sink)
            .map(|n| n > 0)
            .unwrap_or(false)
        {
            sink.clear();
        }
    })
    .await?;
    Ok(())
}
