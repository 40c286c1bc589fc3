//! The server path: a client → `cardhost serve` → the SmartHR emulator,
//! against a native axum service doing the same steps, each side in a child
//! process of its own (`cardhost-bench server-child`) so that the CPU time
//! read from `/proc/<pid>/stat` is that side's alone.
//!
//! - cardhost: `cardhost::server::start` with a SQLite store in a temporary
//!   directory, the SmartHR connector, one SmartHR connection (made over the
//!   API with an admin key) and an invoker key.
//! - native: the same route, checking the API key as
//!   `cardhost::server::keys::verify` does (`chk_<id>_<secret>`, the record
//!   found by id, SHA-256 of the secret compared in constant time) against
//!   an in-memory map, the same GET to the emulator with one pooled reqwest
//!   client, the crew parsed and answered as cardhost answers an invocation.
//!
//! The parent drives both with a reqwest client and checks every answer:
//! status 200 and the output equal to the crew the emulator holds.

use crate::Plan;
use crate::cases::{self, NativeSmartHr};
use crate::stats::{Run, load, process_cpu};
use crate::upstream::{Addresses, TENANT, until_stdin_closes};
use anyhow::{Context as _, bail, ensure};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cardhost::store::Role;
use cardhost_e2e::guests;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The card both sides serve: SmartHR's Read Employee, by id.
pub const CARD: &str = "read-employee";

/// Invocation slots (server-wide and per connection) and pooled instances
/// of `cardhost serve` above the largest concurrency, so that no request
/// waits for admission.
const SLOT_HEADROOM: usize = 16;

/// What a server child prints on its stdout, one JSON line.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Endpoint {
    /// Origin of its HTTP API.
    pub url: String,
    /// An invoker API key.
    pub key: String,
    /// The SmartHR connection's id.
    pub connection: String,
}

#[derive(Debug)]
pub struct ServerPath {
    /// (cardhost, native) at each concurrency; the CPU is each server
    /// child's.
    pub runs: Vec<(Run, Run)>,
    /// `max_concurrent_invocations`, `max_concurrent_per_connection` and
    /// `max_concurrent_instances` of the cardhost side.
    pub slots: usize,
}

// ---------------------------------------------------------------------------
// The parent

/// A server child; asked to stop (its stdin closed) when dropped, killed if
/// it does not.
struct ServerChild {
    side: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    endpoint: Endpoint,
}

impl ServerChild {
    /// Starts `cardhost-bench server-child --side SIDE SMARTHR CONCURRENCY`
    /// and reads its endpoint.
    fn spawn(side: &'static str, smarthr: &str, concurrency: usize) -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["server-child", "--side", side, smarthr])
            .arg(concurrency.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start the {side} server"))?;
        let stdin = child.stdin.take().context("server stdin")?;
        let stdout = child.stdout.take().context("server stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let endpoint = match serde_json::from_str(&line) {
            Ok(endpoint) => endpoint,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the {side} server said {line:?}");
            }
        };
        Ok(Self {
            side,
            child,
            stdin: Some(stdin),
            endpoint,
        })
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let since = Instant::now();
        while since.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("the {} server did not stop; killing it", self.side);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the parent sends and expects.
struct Client {
    http: reqwest::Client,
    url: String,
    key: String,
    ids: Arc<Vec<String>>,
    expected: Arc<HashMap<String, Value>>,
}

impl Client {
    /// One invocation of Read Employee for the `n`th id, checked.
    async fn call(self: Arc<Self>, n: u64) -> anyhow::Result<()> {
        let id = &self.ids[n as usize % self.ids.len()];
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(&self.key)
            .json(&json!({ "id": id }))
            .send()
            .await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        let Ok(body) = serde_json::from_slice::<Value>(&bytes) else {
            let text = String::from_utf8_lossy(&bytes);
            bail!(
                "{status}, not JSON: {}",
                text.chars().take(200).collect::<String>()
            );
        };
        if status != StatusCode::OK {
            bail!(
                "{status} {}: {}",
                body["error"]["code"].as_str().unwrap_or("(no code)"),
                body["error"]["message"].as_str().unwrap_or("(no message)")
            );
        }
        ensure!(
            body["output"] == self.expected[id],
            "200 with another output than the crew's"
        );
        Ok(())
    }
}

/// Both sides at every concurrency of the plan, native then cardhost.
pub async fn server_path(plan: &Plan, addresses: &Addresses) -> anyhow::Result<ServerPath> {
    let max_concurrency = plan.concurrency.iter().copied().max().unwrap_or(1);
    let smarthr = addresses.smarthr.clone();
    let (native, cardhost) = tokio::task::spawn_blocking(move || {
        let native = ServerChild::spawn("native", &smarthr, max_concurrency)?;
        let cardhost = ServerChild::spawn("cardhost", &smarthr, max_concurrency)?;
        anyhow::Ok((native, cardhost))
    })
    .await??;

    // What every answer must hold: the crew as the emulator serves it.
    let upstream = NativeSmartHr::new(addresses)?;
    let ids = Arc::new(cases::crew_ids(&upstream).await?);
    let mut expected = HashMap::new();
    for id in ids.iter() {
        expected.insert(id.clone(), upstream.read_employee(id).await?);
    }
    let expected = Arc::new(expected);
    let client = |child: &ServerChild| -> anyhow::Result<Arc<Client>> {
        let e = &child.endpoint;
        Ok(Arc::new(Client {
            http: reqwest::Client::builder().no_proxy().build()?,
            url: format!(
                "{}/v1/connections/{}/cards/{CARD}:invoke",
                e.url, e.connection
            ),
            key: e.key.clone(),
            ids: ids.clone(),
            expected: expected.clone(),
        }))
    };
    let sides = [(&native, client(&native)?), (&cardhost, client(&cardhost)?)];
    // Each side answers right before it is measured.
    for (child, client) in &sides {
        for n in 0..ids.len().min(20) as u64 {
            client
                .clone()
                .call(n)
                .await
                .with_context(|| format!("the {} server", child.side))?;
        }
    }

    let mut runs = Vec::new();
    for &c in &plan.concurrency {
        let mut measured = Vec::new();
        for (child, client) in &sides {
            let client = client.clone();
            let pid = child.pid();
            measured.push(
                load(
                    c,
                    plan.warmup,
                    plan.measure,
                    move |n| client.clone().call(n),
                    move || process_cpu(&pid),
                )
                .await?,
            );
        }
        let cardhost_run = measured.pop().context("the cardhost run")?;
        let native_run = measured.pop().context("the native run")?;
        runs.push((cardhost_run, native_run));
    }
    drop(sides);
    drop(native);
    drop(cardhost);
    Ok(ServerPath {
        runs,
        slots: max_concurrency + SLOT_HEADROOM,
    })
}

// ---------------------------------------------------------------------------
// The children

/// One side's server, until the parent closes our stdin.
pub async fn server_child(side: &str, smarthr: &str, concurrency: usize) -> anyhow::Result<()> {
    let addresses = Addresses {
        smarthr: smarthr.to_string(),
        hold: smarthr.to_string(),
        ..Addresses::default()
    };
    match side {
        "cardhost" => cardhost_child(&addresses, concurrency + SLOT_HEADROOM).await,
        "native" => native_child(&addresses).await,
        other => bail!("unknown side `{other}`: cardhost or native"),
    }
}

fn announce(endpoint: &Endpoint) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string(endpoint)?)?;
    out.flush()?;
    Ok(())
}

/// `cardhost serve` in this process: SQLite store in a temporary directory,
/// the SmartHR connector, one connection made over the API, an invoker key.
async fn cardhost_child(addresses: &Addresses, slots: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let host = cases::host(&[guests::SMARTHR], addresses, slots as u32).await?;
    let (running, keys) = cases::serve(
        host,
        dir.path(),
        cardhost::config::ServerConfig {
            listen: ([127, 0, 0, 1], 0).into(),
            max_concurrent_invocations: slots,
            max_concurrent_per_connection: slots,
            // Never reached with the slots above; a request that had to
            // wait would be counted as a failure rather than hide in a
            // queue.
            admission_wait_ms: 10_000,
            ..Default::default()
        },
    )
    .await?;
    let (admin, invoker) = (keys.admin, keys.invoker);
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()?
        .post(format!("{}/v1/connections", running.url()))
        .bearer_auth(&admin)
        .json(&json!({
            "connector": "smarthr",
            "name": "bench",
            "fields": {"account_type": "production", "tenant_id": TENANT},
            "secrets": {"access_token": cases::smarthr_token()},
        }))
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    ensure!(
        status == StatusCode::CREATED,
        "creating the connection: {status} {body}"
    );
    announce(&Endpoint {
        url: running.url(),
        key: invoker,
        connection: body["id"].as_str().context("a connection id")?.to_string(),
    })?;
    until_stdin_closes().await?;
    running.shutdown();
    tokio::time::timeout(Duration::from_secs(10), running.wait())
        .await
        .context("the server did not stop")??;
    drop(dir);
    Ok(())
}

/// A stored API key, as the native side keeps it.
struct KeyRecord {
    role: Role,
    /// SHA-256 of the secret part.
    hash: [u8; 32],
    revoked: bool,
}

struct Native {
    keys: HashMap<String, KeyRecord>,
    /// Connection id → its SmartHR client.
    connections: HashMap<String, NativeSmartHr>,
}

/// `len` random bytes.
fn random(len: usize) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = vec![0; len];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// URL-safe base64 without padding, as cardhost's key secrets are.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let at = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (at(0) << 16) | (at(1) << 8) | at(2);
        for i in 0..=chunk.len() {
            s.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
        }
    }
    s
}

/// Equal in time independent of where the inputs differ (as cardhost's).
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `cardhost::server::keys::verify`, on the in-memory map.
fn verify<'a>(keys: &'a HashMap<String, KeyRecord>, presented: &str) -> Option<&'a KeyRecord> {
    let (id, secret) = presented
        .strip_prefix("chk_")
        .and_then(|rest| rest.split_once('_'))?;
    let record = keys.get(id)?;
    let hash: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    (constant_time_eq(&hash, &record.hash) && !record.revoked).then_some(record)
}

fn api_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let message: String = message.into();
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// `POST /v1/connections/{id}/cards/{card}:invoke`, natively: the key, the
/// connection, the card, the input, one GET, the crew as the output.
async fn native_invoke(
    State(st): State<Arc<Native>>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let started = Instant::now();
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()));
    let Some(presented) = presented else {
        return api_error(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "an API key is required",
        );
    };
    let Some(key) = verify(&st.keys, presented.trim()) else {
        return api_error(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "the API key is not valid or was revoked",
        );
    };
    if key.role < Role::Invoker {
        return api_error(StatusCode::FORBIDDEN, "forbidden", "invoking needs invoker");
    }
    let Some(card) = action.strip_suffix(":invoke") else {
        return api_error(StatusCode::NOT_FOUND, "not-found", "no such action");
    };
    let input: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(input) => input,
            Err(e) => return api_error(StatusCode::BAD_REQUEST, "invalid-json", e.to_string()),
        }
    };
    let Some(smarthr) = st.connections.get(&id) else {
        return api_error(StatusCode::NOT_FOUND, "not-found", "no such connection");
    };
    if card != CARD {
        return api_error(StatusCode::NOT_FOUND, "unknown-card", "no such card");
    }
    let crew_id = match input.as_object() {
        Some(fields) if fields.len() == 1 => fields.get("id").and_then(Value::as_str),
        _ => None,
    };
    let Some(crew_id) = crew_id else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "invalid-input",
            "the input must be {\"id\": string}",
        );
    };
    let crew: Value = match smarthr.get(&format!("/api/v1/crews/{crew_id}"), &[]).await {
        Ok(response) => match response.json().await {
            Ok(crew) => crew,
            Err(e) => return api_error(StatusCode::BAD_GATEWAY, "upstream", e.to_string()),
        },
        Err(e) => return api_error(StatusCode::BAD_GATEWAY, "upstream", format!("{e:#}")),
    };
    if crew["id"] != crew_id {
        return api_error(
            StatusCode::BAD_GATEWAY,
            "upstream",
            "SmartHR returned another crew",
        );
    }
    axum::Json(json!({
        "invocation": cardhost_runtime::invoke::new_invocation_id(),
        "output": crew,
        "duration_ms": started.elapsed().as_millis() as u64,
        "upstream_requests": 1,
    }))
    .into_response()
}

/// The native service on loopback (TCP_NODELAY, as `cardhost serve`).
async fn native_child(addresses: &Addresses) -> anyhow::Result<()> {
    let key_id = hex(&random(6)?);
    let secret = base64url(&random(32)?);
    let connection = format!("conn_{}", hex(&random(8)?));
    let state = Arc::new(Native {
        keys: HashMap::from([(
            key_id.clone(),
            KeyRecord {
                role: Role::Invoker,
                hash: Sha256::digest(secret.as_bytes()).into(),
                revoked: false,
            },
        )]),
        connections: HashMap::from([(connection.clone(), NativeSmartHr::new(addresses)?)]),
    });
    let app = axum::Router::new()
        .route(
            "/v1/connections/{id}/cards/{action}",
            axum::routing::post(native_invoke),
        )
        .with_state(state);
    let server = cardhost_emulators::Server::spawn(app, 0).await?;
    announce(&Endpoint {
        url: server.url(),
        key: format!("chk_{key_id}_{secret}"),
        connection,
    })?;
    until_stdin_closes().await?;
    drop(server);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_the_standard_alphabet() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(base64url(&[0; 32]).len(), 43);
    }

    #[test]
    fn keys_verify_as_issued_only() {
        let secret = base64url(&[7; 32]);
        let keys = HashMap::from([(
            "abc123".to_string(),
            KeyRecord {
                role: Role::Invoker,
                hash: Sha256::digest(secret.as_bytes()).into(),
                revoked: false,
            },
        )]);
        assert!(verify(&keys, &format!("chk_abc123_{secret}")).is_some());
        assert!(verify(&keys, &format!("chk_abc123_{secret}x")).is_none());
        assert!(verify(&keys, &format!("chk_abc124_{secret}")).is_none());
        assert!(verify(&keys, "Bearer whatever").is_none());
    }
}
