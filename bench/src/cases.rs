//! The cases. Each runs cardhost and a native Rust baseline doing the same
//! work in the same run, and checks every result, so a fast wrong answer
//! cannot pass for a fast right one.

use crate::Plan;
use crate::stats::{Latency, alternate, throughput};
use crate::upstream::{Addresses, CREWS, TENANT};
use anyhow::{Context as _, bail, ensure};
use cardhost::{Cardhost, Connection, Limits, NetworkPolicy, Route, RuntimeConfig, Secret, Source};
use cardhost_e2e::guests;
use cardhost_emulators::smarthr::DEMO_TOKENS;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The SmartHR token every request of the HTTP cases carries.
fn smarthr_token() -> &'static str {
    DEMO_TOKENS[0].0
}

fn tenant_host() -> String {
    format!("{TENANT}.smarthr.jp")
}

/// Limits for the runs: the defaults, with the pool sized for `instances`.
fn limits(instances: u32) -> Limits {
    Limits {
        max_concurrent_instances: instances,
        deadline_ms: 120_000,
        ..Limits::default()
    }
}

/// A host with the given guests, loopback allowed and `*.smarthr.jp` routed
/// to the emulator (keeping the tenant's `Host`), as an operator would.
pub async fn host(
    guest_paths: &[&str],
    addresses: &Addresses,
    instances: u32,
) -> anyhow::Result<Arc<Cardhost>> {
    let host = Cardhost::empty(RuntimeConfig {
        limits: limits(instances),
        network: NetworkPolicy {
            routes: vec![Route {
                host: "*.smarthr.jp".into(),
                to: addresses.smarthr.clone(),
            }],
            ..NetworkPolicy::loopback()
        },
        builtin_connectors: false,
        ..RuntimeConfig::default()
    })?;
    let mut sources = Vec::new();
    for path in guest_paths {
        sources.push((Source::File(path.into()), std::fs::read(path)?));
    }
    let registry = host.load_sources(sources).await;
    ensure!(
        registry.errors().is_empty(),
        "connectors failed to load: {:?}",
        registry.errors()
    );
    host.set_registry(registry);
    Ok(Arc::new(host))
}

/// A connection of `connector` with `fields`, one bearer `secret` and the
/// default grant.
fn connection(
    host: &Cardhost,
    connector: &str,
    fields: Value,
    secret: (&str, &str),
) -> anyhow::Result<Connection> {
    let registry = host.registry();
    let loaded = registry.get(connector).context("connector loaded")?;
    let secrets = BTreeMap::from([(secret.0.to_string(), Secret::new(secret.1))]);
    let credentials = host
        .credentials(loaded, None, &fields, secrets, Default::default(), None)
        .map_err(anyhow::Error::msg)?;
    Ok(Connection {
        id: Some(format!("bench-{connector}")),
        connector: connector.into(),
        fields,
        granted: Cardhost::default_grant(loaded),
        credentials: Some(Arc::new(credentials)),
    })
}

async fn invoke(
    host: &Cardhost,
    connector: &str,
    card: &str,
    input: &Value,
    connection: Option<&Connection>,
) -> anyhow::Result<Value> {
    host.invoke(connector, card, input, connection)
        .await
        .map(|inv| inv.output)
        .map_err(|f| anyhow::anyhow!("{connector}/{card}: {}", f.error))
}

// ---------------------------------------------------------------------------
// Invocation overhead

/// An I/O-free card end to end, the same function natively, and
/// instantiation alone.
#[derive(Debug)]
pub struct Overhead {
    pub cardhost: Latency,
    pub native: Latency,
    pub instantiate: Latency,
}

fn person_input(n: u64) -> Value {
    json!({
        "first_name": format!(" Aiko{n} "),
        "last_name": "Tanaka-Smith",
        "email": format!(" Aiko.Tanaka{n}@Example.COM "),
        "hired_on": "2019-04-01",
        "tags": ["Sales", "sales", " EMEA", "Tokyo"]
    })
}

pub async fn overhead(plan: &Plan, addresses: &Addresses) -> anyhow::Result<Overhead> {
    use fixture_transform::{CARD, ID, normalise_person};
    let host = host(&[guests::TRANSFORM], addresses, 64).await?;
    let input = person_input(7);
    let expected = normalise_person(input.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (cardhost, native) = alternate(
        plan.rounds,
        plan.overhead_per_round,
        plan.overhead_per_round / 4,
        || {
            let (host, input, expected) = (&host, &input, &expected);
            async move {
                let out = invoke(host, ID, CARD, input, None).await?;
                ensure!(&out == expected, "cardhost output differs: {out}");
                Ok(())
            }
        },
        || {
            let (input, expected) = (&input, &expected);
            async move {
                let out = normalise_person(input.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
                ensure!(&out == expected, "native output differs: {out}");
                Ok(())
            }
        },
    )
    .await?;
    let mut samples = Vec::with_capacity(plan.rounds * plan.overhead_per_round);
    for _ in 0..plan.overhead_per_round / 4 {
        host.instantiate(ID).await?;
    }
    for _ in 0..plan.rounds * plan.overhead_per_round {
        let t = Instant::now();
        host.instantiate(ID).await?;
        samples.push(t.elapsed());
    }
    Ok(Overhead {
        cardhost,
        native,
        instantiate: Latency::of(samples),
    })
}

// ---------------------------------------------------------------------------
// HTTP card

/// SmartHR's Read Employee: one authenticated GET, the crew mapped to the
/// card's output.
#[derive(Debug)]
pub struct Http {
    pub cardhost: Latency,
    pub native: Latency,
    /// (concurrency, cardhost per second, native per second).
    pub throughput: Vec<(usize, f64, f64)>,
}

/// Native SmartHR client: the same request the host sends for the card
/// (bearer token, the tenant's `Host`), with one pooled reqwest client.
#[derive(Clone)]
struct NativeSmartHr {
    client: reqwest::Client,
    base: String,
}

impl NativeSmartHr {
    fn new(addresses: &Addresses) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder().no_proxy().build()?,
            base: addresses.smarthr.clone(),
        })
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<reqwest::Response> {
        let mut url = format!("{}{path}", self.base);
        for (i, (name, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&format!("{name}={value}"));
        }
        let response = self
            .client
            .get(url)
            .bearer_auth(smarthr_token())
            .header(reqwest::header::HOST, tenant_host())
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            bail!("SmartHR answered {status}");
        }
        Ok(response)
    }

    /// Read Employee natively: the crew as the card outputs it.
    async fn read_employee(&self, id: &str) -> anyhow::Result<Value> {
        let crew: Value = self
            .get(&format!("/api/v1/crews/{id}"), &[])
            .await?
            .json()
            .await?;
        ensure!(crew["id"] == id, "SmartHR returned another crew");
        Ok(crew)
    }

    /// Search Employees without a filter natively: every page, as the card
    /// outputs it.
    async fn list_employees(&self, per_page: u32) -> anyhow::Result<Value> {
        let mut items = Vec::new();
        let mut total = None;
        for page in 1.. {
            let response = self
                .get(
                    "/api/v1/crews",
                    &[
                        ("page", page.to_string()),
                        ("per_page", per_page.to_string()),
                    ],
                )
                .await?;
            total = response
                .headers()
                .get("x-total-count")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let Value::Array(batch) = response.json().await? else {
                bail!("page {page} is not a list");
            };
            let full = batch.len() == per_page as usize;
            items.extend(batch);
            let more = match total {
                Some(t) => (items.len() as u64) < t,
                None => full,
            };
            if !more {
                break;
            }
        }
        Ok(json!({"employees": items, "total_count": total, "has_more": false, "page": null}))
    }
}

fn smarthr_connection(host: &Cardhost) -> anyhow::Result<Connection> {
    connection(
        host,
        "smarthr",
        json!({"account_type": "production", "tenant_id": TENANT}),
        ("access_token", smarthr_token()),
    )
}

/// Crew ids to read, round-robin.
async fn crew_ids(native: &NativeSmartHr) -> anyhow::Result<Vec<String>> {
    let crews: Value = native
        .get("/api/v1/crews", &[("per_page", "100".into())])
        .await?
        .json()
        .await?;
    let ids: Vec<String> = crews
        .as_array()
        .context("crews")?
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect();
    ensure!(!ids.is_empty(), "the emulator has no crews");
    Ok(ids)
}

pub async fn http(plan: &Plan, addresses: &Addresses) -> anyhow::Result<Http> {
    let max_concurrency = plan.concurrency.iter().copied().max().unwrap_or(1);
    let host = host(&[guests::SMARTHR], addresses, max_concurrency as u32 + 16).await?;
    let conn = Arc::new(smarthr_connection(&host)?);
    let native = NativeSmartHr::new(addresses)?;
    let ids = Arc::new(crew_ids(&native).await?);

    let read_cardhost = {
        let (host, conn, ids) = (host.clone(), conn.clone(), ids.clone());
        move |n: u64| {
            let (host, conn, ids) = (host.clone(), conn.clone(), ids.clone());
            async move {
                let id = &ids[n as usize % ids.len()];
                let out = invoke(
                    &host,
                    "smarthr",
                    "read-employee",
                    &json!({ "id": id }),
                    Some(&conn),
                )
                .await?;
                ensure!(out["id"] == id.as_str(), "cardhost returned another crew");
                Ok(())
            }
        }
    };
    let read_native = {
        let (native, ids) = (native.clone(), ids.clone());
        move |n: u64| {
            let (native, ids) = (native.clone(), ids.clone());
            async move {
                native.read_employee(&ids[n as usize % ids.len()]).await?;
                Ok(())
            }
        }
    };

    let mut n = 0u64;
    let mut m = 0u64;
    let (cardhost, native_latency) = alternate(
        plan.rounds,
        plan.http_per_round,
        plan.http_per_round / 4,
        || {
            n += 1;
            read_cardhost(n)
        },
        || {
            m += 1;
            read_native(m)
        },
    )
    .await?;

    let mut rates = Vec::new();
    for &c in &plan.concurrency {
        let native_rate = throughput(c, plan.warmup, plan.measure, read_native.clone()).await?;
        let cardhost_rate = throughput(c, plan.warmup, plan.measure, read_cardhost.clone()).await?;
        rates.push((c, cardhost_rate, native_rate));
    }
    Ok(Http {
        cardhost,
        native: native_latency,
        throughput: rates,
    })
}

// ---------------------------------------------------------------------------
// Paging

/// SmartHR's Search Employees without a filter, reading all 50 pages.
#[derive(Debug)]
pub struct Paging {
    pub pages: usize,
    pub cardhost: Latency,
    pub native: Latency,
}

pub async fn paging(plan: &Plan, addresses: &Addresses) -> anyhow::Result<Paging> {
    const PER_PAGE: u32 = 10;
    let host = host(&[guests::SMARTHR], addresses, 64).await?;
    let conn = smarthr_connection(&host)?;
    let native = NativeSmartHr::new(addresses)?;
    let input = json!({ "per_page": PER_PAGE, "limit": CREWS * 2 });
    let check = |out: &Value| -> anyhow::Result<()> {
        let n = out["employees"].as_array().map_or(0, Vec::len);
        ensure!(n == CREWS, "listed {n} employees, not {CREWS}");
        ensure!(out["has_more"] == false, "has_more after the last page");
        Ok(())
    };
    let (cardhost, native_latency) =
        alternate(
            plan.rounds,
            plan.paging_per_round,
            1,
            || {
                let (host, conn, input) = (&host, &conn, &input);
                async move {
                    check(&invoke(host, "smarthr", "search-employees", input, Some(conn)).await?)
                }
            },
            || {
                let native = &native;
                async move { check(&native.list_employees(PER_PAGE).await?) }
            },
        )
        .await?;
    Ok(Paging {
        pages: CREWS / PER_PAGE as usize,
        cardhost,
        native: native_latency,
    })
}

// ---------------------------------------------------------------------------
// Start-up

/// Loading the four built-in connectors.
#[derive(Debug)]
pub struct Startup {
    pub cold: Latency,
    pub warm: Latency,
    pub connectors: usize,
}

async fn start_builtins(cache: &std::path::Path) -> anyhow::Result<(Duration, usize)> {
    let t = Instant::now();
    let host = Cardhost::new(RuntimeConfig {
        cache_dir: Some(cache.to_path_buf()),
        builtin_connectors: true,
        ..RuntimeConfig::default()
    })
    .await?;
    let took = t.elapsed();
    let registry = host.registry();
    ensure!(
        registry.errors().is_empty(),
        "built-ins failed to load: {:?}",
        registry.errors()
    );
    Ok((took, registry.connectors().count()))
}

pub async fn startup(plan: &Plan) -> anyhow::Result<Startup> {
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut connectors = 0;
    for _ in 0..plan.cold_starts {
        let cache = tempfile::tempdir()?;
        let (took, n) = start_builtins(cache.path()).await?;
        cold.push(took);
        connectors = n;
        for _ in 0..plan.warm_starts / plan.cold_starts.max(1) {
            warm.push(start_builtins(cache.path()).await?.0);
        }
    }
    ensure!(
        connectors == 4,
        "expected the four built-in connectors, loaded {connectors}"
    );
    Ok(Startup {
        cold: Latency::of(cold),
        warm: Latency::of(warm),
        connectors,
    })
}

// ---------------------------------------------------------------------------
// Memory

/// Resident memory with invocations held in flight, per side.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct MemorySide {
    pub in_flight: usize,
    pub rss_before: u64,
    pub rss_in_flight: u64,
    pub peak_rss: u64,
}

impl MemorySide {
    /// Bytes per in-flight invocation.
    pub fn per_in_flight(&self) -> f64 {
        self.rss_in_flight.saturating_sub(self.rss_before) as f64 / self.in_flight as f64
    }
}

#[derive(Debug)]
pub struct Memory {
    pub cardhost: MemorySide,
    pub native: MemorySide,
}

/// `VmRSS` and `VmHWM` of this process, in bytes.
fn rss() -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("{name} in /proc/self/status"))?;
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .context("a number")?
            .parse()?;
        Ok(kib * 1024)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// Each side runs in a fresh process (`memory-child`) so that neither
/// inherits the other's heap.
pub fn memory(plan: &Plan, addresses: &Addresses) -> anyhow::Result<Memory> {
    let run = |side: &str| -> anyhow::Result<MemorySide> {
        let out = std::process::Command::new(std::env::current_exe()?)
            .args([
                "memory-child",
                side,
                &addresses.hold,
                &plan.in_flight.to_string(),
            ])
            .stderr(std::process::Stdio::inherit())
            .output()?;
        ensure!(out.status.success(), "the {side} memory run failed");
        Ok(serde_json::from_slice(&out.stdout)?)
    };
    Ok(Memory {
        native: run("native")?,
        cardhost: run("cardhost")?,
    })
}

/// One side of the memory case, in this process: warm up, then hold
/// `count` reads of the hello connector (or native requests) open at the
/// upstream, measure, release, and check every one succeeded.
pub async fn memory_child(side: &str, hold: &str, count: usize) -> anyhow::Result<MemorySide> {
    let control = reqwest::Client::new();
    let held = || async {
        let text = control
            .get(format!("{hold}/held"))
            .send()
            .await?
            .text()
            .await?;
        anyhow::Ok(text.trim().parse::<usize>()?)
    };
    let addresses = Addresses {
        smarthr: hold.to_string(),
        hold: hold.to_string(),
    };
    type Call = Arc<
        dyn Fn(String) -> futures::future::BoxFuture<'static, anyhow::Result<()>> + Send + Sync,
    >;
    let call: Call = match side {
        "cardhost" => {
            let host = host(&[guests::HELLO], &addresses, count as u32 + 16).await?;
            let conn = Arc::new(connection(
                &host,
                "hello",
                json!({ "base_url": hold }),
                ("token", "bench-token"),
            )?);
            Arc::new(move |id: String| {
                let (host, conn) = (host.clone(), conn.clone());
                Box::pin(async move {
                    let out = invoke(
                        &host,
                        "hello",
                        "read-person",
                        &json!({ "id": id }),
                        Some(&conn),
                    )
                    .await?;
                    ensure!(out["id"] == id.as_str(), "read another person");
                    Ok(())
                })
            })
        }
        "native" => {
            let client = reqwest::Client::builder().no_proxy().build()?;
            let base = hold.to_string();
            Arc::new(move |id: String| {
                let (client, base) = (client.clone(), base.clone());
                Box::pin(async move {
                    let person: Value = client
                        .get(format!("{base}/people/{id}"))
                        .bearer_auth("bench-token")
                        .send()
                        .await?
                        .error_for_status()?
                        .json()
                        .await?;
                    ensure!(person["id"] == id.as_str(), "read another person");
                    Ok(())
                })
            })
        }
        other => bail!("unknown side `{other}`"),
    };
    for i in 0..32 {
        call(format!("warm{i}")).await?;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (rss_before, _) = rss()?;
    let tasks: Vec<_> = (0..count)
        .map(|i| tokio::spawn(call(i.to_string())))
        .collect();
    let waiting_since = Instant::now();
    while held().await? < count {
        ensure!(
            waiting_since.elapsed() < Duration::from_secs(120),
            "only {} of {count} requests reached the upstream",
            held().await?
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Settle, then take the largest of a few readings.
    let mut rss_in_flight = 0;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        rss_in_flight = rss_in_flight.max(rss()?.0);
    }
    control.post(format!("{hold}/release")).send().await?;
    let mut errors = Vec::new();
    for task in tasks {
        if let Err(e) = task.await? {
            errors.push(e.to_string());
        }
    }
    ensure!(
        errors.is_empty(),
        "{} of {count} failed, first: {}",
        errors.len(),
        errors[0]
    );
    let (_, peak_rss) = rss()?;
    Ok(MemorySide {
        in_flight: count,
        rss_before,
        rss_in_flight,
        peak_rss,
    })
}
