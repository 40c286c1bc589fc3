//! The cases. Each runs cardhost and a native Rust baseline doing the same
//! work in the same run, and checks every result, so a fast wrong answer
//! cannot pass for a fast right one.

use crate::Plan;
use crate::stats::{Latency, Run, alternate, load, process_cpu};
use crate::upstream::{Addresses, CREWS, TENANT};
use anyhow::{Context as _, bail, ensure};
use cardhost::{
    Cardhost, Connection, ErrorKind, Limits, NetworkPolicy, Route, RuntimeConfig, Secret, Source,
};
use cardhost_e2e::guests;
use cardhost_emulators::smarthr::DEMO_TOKENS;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The SmartHR token every request of the HTTP cases carries.
pub(crate) fn smarthr_token() -> &'static str {
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
    host_with(guest_paths, addresses, limits(instances), None).await
}

/// [`host`] with other limits, and a compilation cache if given.
async fn host_with(
    guest_paths: &[&str],
    addresses: &Addresses,
    limits: Limits,
    cache_dir: Option<std::path::PathBuf>,
) -> anyhow::Result<Arc<Cardhost>> {
    let host = Cardhost::empty(RuntimeConfig {
        limits,
        cache_dir,
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
        resolved: Default::default(),
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
        .map_err(|f| anyhow::anyhow!("{connector}/{card}: {}", f))
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
    /// (cardhost, native) at each concurrency; the CPU is this process's.
    pub throughput: Vec<(Run, Run)>,
}

/// Native SmartHR client: the same request the host sends for the card
/// (bearer token, the tenant's `Host`), with one pooled reqwest client.
#[derive(Clone)]
pub(crate) struct NativeSmartHr {
    client: reqwest::Client,
    base: String,
}

impl NativeSmartHr {
    pub(crate) fn new(addresses: &Addresses) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder().no_proxy().build()?,
            base: addresses.smarthr.clone(),
        })
    }

    pub(crate) async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> anyhow::Result<reqwest::Response> {
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
    pub(crate) async fn read_employee(&self, id: &str) -> anyhow::Result<Value> {
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
pub(crate) async fn crew_ids(native: &NativeSmartHr) -> anyhow::Result<Vec<String>> {
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
        let native_run = load(c, plan.warmup, plan.measure, read_native.clone(), || {
            process_cpu("self")
        })
        .await?;
        let cardhost_run = load(c, plan.warmup, plan.measure, read_cardhost.clone(), || {
            process_cpu("self")
        })
        .await?;
        for (side, run) in [("native", &native_run), ("cardhost", &cardhost_run)] {
            ensure!(
                run.failed == 0,
                "{side} at concurrency {c}: {} calls failed, most often: {}",
                run.failed,
                run.first_failure().unwrap_or_default()
            );
        }
        rates.push((cardhost_run, native_run));
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
    let host = cardhost::start_runtime(RuntimeConfig {
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
        ..Addresses::default()
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

// ---------------------------------------------------------------------------
// Hostile memory

/// The memory cap of the hostile-memory case.
pub const HOSTILE_MEMORY_CAP: usize = 64 << 20;
/// How far above the memory cap the host's peak may grow: "bounded by the
/// memory cap plus a few MiB".
pub const HOSTILE_SLACK: usize = 8 << 20;
/// The output cap of the hostile-memory case (the tests' cap), so that
/// `huge-output`'s 4 MiB is refused.
const HOSTILE_OUTPUT_CAP: usize = 1 << 20;

/// How a hostile card must end.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Success, its buffers cut to their caps.
    Capped,
    /// `ErrorKind::Card`, the message cut to its cap.
    Card,
    /// `ErrorKind::LimitExceeded` naming this limit.
    Limit(&'static str),
    /// `ErrorKind::MemoryLimit` at the cap.
    Memory,
    /// `ErrorKind::OutputTooLarge`.
    Output,
}

/// A hostile card, what it is given, and how it must end.
#[derive(Debug)]
pub struct HostileCard {
    /// Short name, as `hostile-child` takes it.
    pub name: &'static str,
    guest: &'static str,
    pub connector: &'static str,
    /// The card, or [`TEST_CONNECTION`] for the connection test.
    pub card: &'static str,
    /// The input, as JSON text.
    pub input: &'static str,
    expect: Expect,
}

/// Stands for `Cardhost::test_connection` in [`HostileCard::card`].
pub const TEST_CONNECTION: &str = "test-connection";

pub const HOSTILE: [HostileCard; 9] = [
    HostileCard {
        name: "refuse-many",
        guest: guests::FLOOD,
        connector: "flood",
        card: "refuse-many",
        input: r#"{"count": 1000, "bytes": 1048576}"#,
        expect: Expect::Capped,
    },
    HostileCard {
        name: "huge-error-4m",
        guest: guests::FLOOD,
        connector: "flood",
        card: "huge-error",
        input: r#"{"bytes": 4194304}"#,
        expect: Expect::Card,
    },
    HostileCard {
        name: "huge-error-16m",
        guest: guests::FLOOD,
        connector: "flood",
        card: "huge-error",
        input: r#"{"bytes": 16777216}"#,
        expect: Expect::Limit("hostcall_bytes"),
    },
    HostileCard {
        name: "log-flood-4x4m",
        guest: guests::FLOOD,
        connector: "flood",
        card: "log-flood",
        input: r#"{"lines": 4, "bytes": 4194304}"#,
        expect: Expect::Capped,
    },
    HostileCard {
        name: "log-flood-32m",
        guest: guests::FLOOD,
        connector: "flood",
        card: "log-flood",
        input: r#"{"lines": 1, "bytes": 33554432}"#,
        expect: Expect::Limit("hostcall_bytes"),
    },
    HostileCard {
        name: "print-flood",
        guest: guests::FLOOD,
        connector: "flood",
        card: "print-flood",
        input: r#"{"lines": 16, "bytes": 1048576}"#,
        expect: Expect::Capped,
    },
    HostileCard {
        name: "report",
        guest: guests::FLOOD,
        connector: "flood",
        card: TEST_CONNECTION,
        input: "{}",
        expect: Expect::Capped,
    },
    HostileCard {
        name: "alloc-bomb",
        guest: guests::ALLOC_BOMB,
        connector: "alloc-bomb",
        card: "run",
        input: "{}",
        expect: Expect::Memory,
    },
    HostileCard {
        name: "huge-output",
        guest: guests::HUGE_OUTPUT,
        connector: "huge-output",
        card: "run",
        input: "{}",
        expect: Expect::Output,
    },
];

/// One hostile card's run, in its own process.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct HostileRun {
    pub name: String,
    /// Times the card ran (at least once).
    pub runs: usize,
    /// VmRSS after the warm-up, before the first hostile call.
    pub rss_before: u64,
    /// VmHWM after the first hostile call.
    pub first_peak: u64,
    /// VmHWM after the last hostile call.
    pub peak: u64,
    /// VmRSS after the last hostile call.
    pub rss_after: u64,
    /// Whether the peak was reset after the warm-up (`/proc/self/clear_refs`);
    /// if not, `peak` may include the warm-up's and the growth is an upper
    /// bound.
    pub peak_reset: bool,
    /// How every run ended, in words.
    pub outcome: String,
}

impl HostileRun {
    /// Peak resident growth over the warm baseline, over all runs, in bytes.
    pub fn growth(&self) -> u64 {
        self.peak.saturating_sub(self.rss_before)
    }

    /// The same after the first run alone.
    pub fn first_growth(&self) -> u64 {
        self.first_peak.saturating_sub(self.rss_before)
    }

    /// Whether the growth is within the memory cap plus the slack.
    pub fn bounded(&self, cap: u64) -> bool {
        self.growth() <= cap + HOSTILE_SLACK as u64
    }
}

#[derive(Debug)]
pub struct HostileMemory {
    /// The configured `memory_bytes`.
    pub memory_cap: u64,
    pub runs: usize,
    pub cards: Vec<HostileRun>,
}

impl HostileMemory {
    /// The card whose peak grew most.
    pub fn worst(&self) -> Option<&HostileRun> {
        self.cards.iter().max_by_key(|c| c.growth())
    }
}

fn hostile_limits() -> Limits {
    Limits {
        memory_bytes: HOSTILE_MEMORY_CAP,
        max_output_bytes: HOSTILE_OUTPUT_CAP,
        max_concurrent_instances: 16,
        ..Limits::default()
    }
}

/// Each hostile card in a fresh process (`hostile-child`), sharing one
/// compilation cache so that only the first compiles.
pub fn hostile_memory(plan: &Plan, addresses: &Addresses) -> anyhow::Result<HostileMemory> {
    let cache = tempfile::tempdir()?;
    // Compile every guest into the cache first, so that each card's process
    // starts alike (the first would otherwise compile, and start larger).
    let primed = std::process::Command::new(std::env::current_exe()?)
        .arg("hostile-prime")
        .arg(cache.path())
        .stderr(std::process::Stdio::inherit())
        .status()?;
    ensure!(primed.success(), "compiling the hostile guests failed");
    let mut cards = Vec::new();
    for card in &HOSTILE {
        let out = std::process::Command::new(std::env::current_exe()?)
            .arg("hostile-child")
            .arg(card.name)
            .arg(&addresses.hold)
            .arg(cache.path())
            .arg(plan.hostile_runs.to_string())
            .stderr(std::process::Stdio::inherit())
            .output()?;
        ensure!(
            out.status.success(),
            "the hostile-memory run of `{}` failed",
            card.name
        );
        cards.push(serde_json::from_slice(&out.stdout)?);
    }
    Ok(HostileMemory {
        memory_cap: HOSTILE_MEMORY_CAP as u64,
        runs: plan.hostile_runs,
        cards,
    })
}

/// Compiles the hostile-memory case's guests into `cache`.
pub async fn hostile_prime(cache: &str) -> anyhow::Result<()> {
    let mut paths = vec![guests::HELLO];
    for card in &HOSTILE {
        if !paths.contains(&card.guest) {
            paths.push(card.guest);
        }
    }
    // No requests are made: any loopback address will do.
    let addresses = Addresses {
        smarthr: "http://127.0.0.1:9".into(),
        hold: "http://127.0.0.1:9".into(),
        ..Addresses::default()
    };
    host_with(&paths, &addresses, hostile_limits(), Some(cache.into())).await?;
    Ok(())
}

/// Resets this process's peak resident set (VmHWM) to its current one.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// One hostile card, in this process: warm up with one honest call (the
/// hello connector's Greet Person against the hold server, and for the flood
/// connector one small log), reset the peak, run the card `runs` times
/// checking how each ends, and read the peak.
pub async fn hostile_child(
    name: &str,
    hold: &str,
    cache: &str,
    runs: usize,
) -> anyhow::Result<HostileRun> {
    let card = HOSTILE
        .iter()
        .find(|c| c.name == name)
        .with_context(|| format!("no hostile card `{name}`"))?;
    let limits = hostile_limits();
    let addresses = Addresses {
        smarthr: hold.to_string(),
        hold: hold.to_string(),
        ..Addresses::default()
    };
    let host = host_with(
        &[guests::HELLO, card.guest],
        &addresses,
        limits.clone(),
        Some(cache.into()),
    )
    .await?;
    let hello = connection(
        &host,
        "hello",
        json!({ "base_url": hold }),
        ("token", "bench-token"),
    )?;
    let conn = if card.connector == "flood" {
        Some(connection(
            &host,
            "flood",
            json!({ "base_url": hold }),
            ("token", "bench-token"),
        )?)
    } else {
        None
    };
    // Warm up: the honest call, and the hostile connector's code paged in.
    let out = invoke(
        &host,
        "hello",
        "greet-person",
        &json!({"id": "warm-hostile"}),
        Some(&hello),
    )
    .await?;
    ensure!(
        out["greeting"] == "Hello, Aiko Tanaka!",
        "greeted wrongly: {out}"
    );
    if let Some(conn) = &conn {
        invoke(
            &host,
            "flood",
            "log-flood",
            &json!({"lines": 1, "bytes": 16}),
            Some(conn),
        )
        .await?;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let peak_reset = reset_peak();
    let (rss_before, _) = rss()?;
    let input: Value = serde_json::from_str(card.input)?;
    let mut outcome = String::new();
    let mut first_peak = 0;
    for run in 0..runs.max(1) {
        outcome = hostile_call(&host, card, &input, conn.as_ref(), &limits).await?;
        if run == 0 {
            first_peak = rss()?.1;
        }
    }
    let (rss_after, peak) = rss()?;
    Ok(HostileRun {
        name: name.to_string(),
        runs: runs.max(1),
        rss_before,
        peak,
        first_peak,
        rss_after,
        peak_reset,
        outcome,
    })
}

/// One call of a hostile card; checks how it ended and says so.
async fn hostile_call(
    host: &Cardhost,
    card: &HostileCard,
    input: &Value,
    conn: Option<&Connection>,
    limits: &Limits,
) -> anyhow::Result<String> {
    let what = format!("{}/{}", card.connector, card.card);
    if card.card == TEST_CONNECTION {
        let report = host
            .test_connection(conn.context("the connection test needs a connection")?)
            .await
            .map_err(|f| anyhow::anyhow!("{what}: {}", f))?;
        ensure!(
            report.checks.len() == limits.max_report_checks,
            "{what}: kept {} checks, not {}",
            report.checks.len(),
            limits.max_report_checks
        );
        ensure!(
            report.summary.len() < limits.max_message_bytes + 64,
            "{what}: a {}-byte summary",
            report.summary.len()
        );
        for check in &report.checks {
            ensure!(
                check.detail.len() <= limits.max_message_bytes + 4,
                "{what}: a {}-byte check detail",
                check.detail.len()
            );
        }
        return Ok(format!("ok, {} checks kept", report.checks.len()));
    }
    let result = host.invoke(card.connector, card.card, input, conn).await;
    match (card.expect, result) {
        (Expect::Capped, Ok(inv)) => {
            let logged: usize = inv.logs.logs.iter().map(|l| l.message.len()).sum();
            ensure!(
                logged <= limits.max_log_bytes,
                "{what}: kept {logged} bytes of logs"
            );
            if card.card == "refuse-many" {
                ensure!(
                    inv.output["refused"] == 1000,
                    "{what}: output {}",
                    inv.output
                );
                ensure!(
                    inv.journal.denials.len() <= limits.max_denials_per_invocation,
                    "{what}: kept {} refusals",
                    inv.journal.denials.len()
                );
                ensure!(
                    inv.journal.calls.is_empty(),
                    "{what}: {} requests were sent",
                    inv.journal.calls.len()
                );
                return Ok(format!(
                    "ok, 1000 refused ({} recorded, {} counted), none sent",
                    inv.journal.denials.len(),
                    inv.journal.denials_dropped
                ));
            }
            Ok(format!("ok, {} KiB of logs kept", logged.div_ceil(1024)))
        }
        (Expect::Card, Err(f)) if matches!(f.kind, ErrorKind::Card { .. }) => {
            let len = f.to_string().len();
            ensure!(
                len < limits.max_message_bytes + 200,
                "{what}: a {len}-byte error message"
            );
            Ok(format!("card error, cut to {} KiB", len.div_ceil(1024)))
        }
        (Expect::Limit(name), Err(f)) if matches!(&f.kind, ErrorKind::LimitExceeded { limit, .. } if limit == name) => {
            Ok(format!("`{name}` limit"))
        }
        (Expect::Memory, Err(f))
            if matches!(&f.kind, ErrorKind::MemoryLimit { limit_bytes, .. }
                if *limit_bytes == limits.memory_bytes) =>
        {
            Ok("memory limit".into())
        }
        (Expect::Output, Err(f)) if matches!(f.kind, ErrorKind::OutputTooLarge { .. }) => {
            Ok("output too large".into())
        }
        (expect, Ok(inv)) => bail!(
            "{what}: expected {expect:?}, it succeeded: {}",
            short(&inv.output.to_string())
        ),
        (expect, Err(f)) => bail!("{what}: expected {expect:?}, got {}", short(&f.to_string())),
    }
}

/// The start of a long text, for an error message.
fn short(text: &str) -> String {
    let mut s: String = text.chars().take(200).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

// ---------------------------------------------------------------------------
// Health while guests spin

/// Worker threads of the server's own runtime in the health case.
pub const SERVER_WORKERS: usize = 2;

/// Sequential latencies with `spinning` guests in flight.
#[derive(Debug)]
pub struct SpinLoad {
    pub spinning: usize,
    /// `GET /healthz`.
    pub health: Latency,
    /// The hello connector's Greet Person over HTTP (one upstream GET).
    pub greet: Latency,
}

/// One design: where guest code runs.
#[derive(Debug)]
pub struct SpinDesign {
    /// `Limits::guest_threads` as configured.
    pub guest_threads: Option<usize>,
    /// Guest threads the host started (0: guests on the server's runtime).
    pub pool_threads: usize,
    pub idle: SpinLoad,
    pub spinning: SpinLoad,
    /// Spinning invocations that ended at their deadline (and were
    /// re-launched, or not after the measurement).
    pub spins_ended: usize,
}

#[derive(Debug)]
pub struct HealthWhileSpinning {
    pub spinners: usize,
    pub server_workers: usize,
    pub deadline_ms: u64,
    /// How long each series sampled.
    pub sample_span: Duration,
    /// `guest_threads = None` (the default): guests start on the caller's
    /// runtime and move to the guest pool (one thread per CPU) at the first
    /// tick that finds them computing.
    pub pool: SpinDesign,
    /// `guest_threads = Some(0)`: guests on the server's runtime, yielding
    /// every epoch tick.
    pub server_runtime: SpinDesign,
}

/// `/healthz` and an honest card, idle and with 2 × cores `loop-forever`
/// invocations spinning, for the default (guests moved to the guest pool at
/// a tick still computing) and for guests kept on the server's own runtime,
/// in the same run.
pub fn health_while_spinning(
    plan: &Plan,
    addresses: &Addresses,
) -> anyhow::Result<HealthWhileSpinning> {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let spinners = 2 * cores;
    let pool = spin_design(plan, addresses, None, spinners)?;
    let server_runtime = spin_design(plan, addresses, Some(0), spinners)?;
    Ok(HealthWhileSpinning {
        spinners,
        server_workers: SERVER_WORKERS,
        deadline_ms: plan.spin_deadline_ms,
        sample_span: plan.spin_sample,
        pool,
        server_runtime,
    })
}

/// A `cardhost serve` in this process, on a runtime of its own.
struct SpinServer {
    running: cardhost::server::RunningServer,
    metrics: Arc<cardhost::server::metrics::Metrics>,
    api: SpinApi,
    pool_threads: usize,
}

/// The HTTP API as a client sees it.
#[derive(Clone)]
struct SpinApi {
    http: reqwest::Client,
    base: String,
    admin: String,
    invoker: String,
}

impl SpinApi {
    async fn post(&self, key: &str, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(key)
            .json(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    async fn create(&self, body: Value) -> anyhow::Result<String> {
        let (status, body) = self.post(&self.admin, "/v1/connections", &body).await?;
        ensure!(status == 201, "creating a connection: {status} {body}");
        Ok(body["id"].as_str().context("a connection id")?.to_string())
    }

    async fn invoke(&self, conn: &str, card: &str, input: &Value) -> anyhow::Result<(u16, Value)> {
        self.post(
            &self.invoker,
            &format!("/v1/connections/{conn}/cards/{card}:invoke"),
            input,
        )
        .await
    }

    async fn health(&self) -> anyhow::Result<()> {
        let response = self
            .http
            .get(format!("{}/healthz", self.base))
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "/healthz: {}",
            response.status()
        );
        ensure!(
            response.text().await?.trim() == "ok",
            "/healthz did not say ok"
        );
        Ok(())
    }

    async fn greet(&self, conn: &str) -> anyhow::Result<()> {
        let (status, body) = self
            .invoke(conn, "greet-person", &json!({"id": "warm-greet"}))
            .await?;
        ensure!(status == 200, "greet-person: {status} {body}");
        ensure!(
            body["output"]["greeting"] == "Hello, Aiko Tanaka!",
            "greet-person: {body}"
        );
        Ok(())
    }
}

/// An admin and an invoker key of a bench server.
pub(crate) struct BenchKeys {
    pub(crate) admin: String,
    pub(crate) invoker: String,
}

/// `cardhost serve` in this process as a user runs it: the embedded store
/// in `dir/data`, `host`'s connectors, the server started with `config`,
/// and an admin and an invoker key.
pub(crate) async fn serve(
    host: Arc<Cardhost>,
    dir: &std::path::Path,
    config: cardhost::config::ServerConfig,
) -> anyhow::Result<(cardhost::server::RunningServer, BenchKeys)> {
    use cardhost::store::{Role, Store};
    let (store, _) = cardhost::store::open_in(&dir.join("data"))
        .await
        .map_err(anyhow::Error::msg)?;
    let store: Arc<dyn Store> = Arc::new(store);
    let conns = Arc::new(cardhost::connections::Connections::new(host, store.clone()));
    let running = cardhost::server::start(conns, store.clone(), config).await?;
    let key = async |role| -> anyhow::Result<String> {
        Ok(
            cardhost::server::keys::create(store.as_ref(), "bench", role)
                .await
                .map_err(|e| anyhow::anyhow!("cannot create a key: {e}"))?
                .key,
        )
    };
    let keys = BenchKeys {
        admin: key(Role::Admin).await?,
        invoker: key(Role::Invoker).await?,
    };
    Ok((running, keys))
}

async fn spin_server(
    addresses: &Addresses,
    limits: Limits,
    invocations: usize,
    dir: &std::path::Path,
) -> anyhow::Result<SpinServer> {
    let host = host_with(
        &[guests::HELLO, guests::LOOP_FOREVER],
        addresses,
        limits,
        None,
    )
    .await?;
    let pool_threads = host.executor().threads();
    let (running, keys) = serve(
        host,
        dir,
        cardhost::config::ServerConfig {
            listen: ([127, 0, 0, 1], 0).into(),
            max_concurrent_invocations: invocations,
            max_concurrent_per_connection: invocations,
            ..Default::default()
        },
    )
    .await?;
    let api = SpinApi {
        http: reqwest::Client::builder().no_proxy().build()?,
        base: running.url(),
        admin: keys.admin,
        invoker: keys.invoker,
    };
    Ok(SpinServer {
        metrics: running.metrics().clone(),
        running,
        api,
        pool_threads,
    })
}

fn spin_design(
    plan: &Plan,
    addresses: &Addresses,
    guest_threads: Option<usize>,
    spinners: usize,
) -> anyhow::Result<SpinDesign> {
    // The server on a 2-worker runtime of its own; the client (sampler and
    // spinners' requests) on another thread, so neither waits for the other.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(SERVER_WORKERS)
        .thread_name("bench-server")
        .enable_all()
        .build()?;
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    let invocations = (spinners + 16).max(64);
    let limits = Limits {
        deadline_ms: plan.spin_deadline_ms,
        guest_threads,
        max_concurrent_instances: invocations as u32,
        ..Limits::default()
    };
    let server = server_rt.block_on(spin_server(addresses, limits, invocations, dir.path()))?;
    let measured = client_rt.block_on(spin_measure(plan, addresses, &server, spinners));
    let SpinServer {
        running,
        pool_threads,
        ..
    } = server;
    running.shutdown();
    server_rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), running.wait())
            .await
            .context("the server did not stop")?
    })?;
    let (idle, spinning, spins_ended) = measured?;
    Ok(SpinDesign {
        guest_threads,
        pool_threads,
        idle,
        spinning,
        spins_ended,
    })
}

/// Sequential calls of `call` for at least `span` (and 5 calls).
async fn sample<F, Fut>(span: Duration, mut call: F) -> anyhow::Result<Latency>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let start = Instant::now();
    let mut samples = Vec::new();
    while samples.len() < 5 || start.elapsed() < span {
        let t = Instant::now();
        call().await?;
        samples.push(t.elapsed());
    }
    Ok(Latency::of(samples))
}

fn in_flight(metrics: &cardhost::server::metrics::Metrics) -> usize {
    metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix("cardhost_invocations_in_flight "))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0)
}

/// Keeps one `loop-forever` invocation spinning until `stop`: each ends at
/// its deadline (checked) and is launched again.
async fn spin(
    api: SpinApi,
    conn: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
    ended: Arc<std::sync::atomic::AtomicUsize>,
) -> anyhow::Result<()> {
    use std::sync::atomic::Ordering;
    while !stop.load(Ordering::SeqCst) {
        let (status, body) = api.invoke(&conn, "run", &json!({})).await?;
        ensure!(
            status == 504 && body["error"]["code"] == "deadline-exceeded",
            "a spinning card ended with {status}: {body}"
        );
        ended.fetch_add(1, Ordering::SeqCst);
    }
    Ok(())
}

async fn spin_measure(
    plan: &Plan,
    addresses: &Addresses,
    server: &SpinServer,
    spinners: usize,
) -> anyhow::Result<(SpinLoad, SpinLoad, usize)> {
    let api = &server.api;
    let hello = api
        .create(json!({
            "connector": "hello", "name": "people",
            "fields": {"base_url": addresses.hold},
            "secrets": {"token": "bench-token"}
        }))
        .await?;
    let spin_conn = api
        .create(json!({"connector": "loop-forever", "name": "spin", "fields": {}}))
        .await?;
    for _ in 0..50 {
        api.health().await?;
    }
    for _ in 0..10 {
        api.greet(&hello).await?;
    }
    let idle = SpinLoad {
        spinning: 0,
        health: sample(plan.spin_sample, || api.health()).await?,
        greet: sample(plan.spin_sample, || api.greet(&hello)).await?,
    };

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ended = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let spinning_tasks: Vec<_> = (0..spinners)
        .map(|_| {
            tokio::spawn(spin(
                api.clone(),
                spin_conn.clone(),
                stop.clone(),
                ended.clone(),
            ))
        })
        .collect();
    let result = async {
        let since = Instant::now();
        while in_flight(&server.metrics) < spinners {
            ensure!(
                since.elapsed() < Duration::from_secs(10),
                "only {} of {spinners} spinning cards started",
                in_flight(&server.metrics)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let health = sample(plan.spin_sample, || api.health()).await?;
        let greet = sample(plan.spin_sample, || api.greet(&hello)).await?;
        anyhow::Ok(SpinLoad {
            spinning: spinners,
            health,
            greet,
        })
    }
    .await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let wait = Duration::from_millis(plan.spin_deadline_ms) + Duration::from_secs(10);
    for task in spinning_tasks {
        tokio::time::timeout(wait, task)
            .await
            .context("a spinning card outlived its deadline")???;
    }
    Ok((
        idle,
        result?,
        ended.load(std::sync::atomic::Ordering::SeqCst),
    ))
}
