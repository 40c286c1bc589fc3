//! `cardhost-bench`: what the sandbox costs, measured against a native Rust
//! baseline doing the same work in the same run.
//!
//! ```text
//! cargo run --release -p cardhost-bench            # run, print, rewrite BENCHMARKS.md
//! cargo run --release -p cardhost-bench -- --quick # a short run, to check the suite
//! ```
//!
//! Options: `--quick` (few samples), `--no-write` (print only), `--out FILE`
//! (write another file than the workspace's BENCHMARKS.md), `--only CASE`
//! (one case, raw figures, nothing written: for profiling). The upstreams run
//! in a child process; each side of the memory case in its own, each side's
//! server of the server-path case, and each card of the hostile-memory case.
//! The scheduler case runs for a few minutes (1,000 subscriptions polled at
//! their trigger's 30 s minimum, over three intervals after a warm-up).

mod cases;
mod parse;
mod report;
mod scheduler;
mod server_path;
mod stats;
mod upstream;

use anyhow::{Context as _, bail, ensure};
use std::path::PathBuf;
use std::time::Duration;

/// How many samples each case takes.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Alternating rounds per latency case.
    pub rounds: usize,
    pub overhead_per_round: usize,
    pub http_per_round: usize,
    pub paging_per_round: usize,
    /// Concurrency levels of the throughput runs.
    pub concurrency: Vec<usize>,
    pub warmup: Duration,
    pub measure: Duration,
    pub cold_starts: usize,
    pub warm_starts: usize,
    pub in_flight: usize,
    /// Runs of each hostile card in the hostile-memory case.
    pub hostile_runs: usize,
    /// How long each latency series of the health case samples.
    pub spin_sample: Duration,
    /// Deadline of the spinning cards (they are launched again when it ends).
    pub spin_deadline_ms: u64,
    /// Subscriptions of the scheduler case.
    pub scheduler_subscriptions: usize,
    /// Their interval in seconds; `None` for the trigger's minimum. Below
    /// the minimum they are made straight in the store.
    pub scheduler_interval: Option<u32>,
    /// Intervals the scheduler case waits, after every subscription's first
    /// poll, before it measures; and intervals it measures.
    pub scheduler_warmup_intervals: f64,
    pub scheduler_measure_intervals: f64,
}

impl Plan {
    fn full() -> Self {
        Self {
            rounds: 5,
            overhead_per_round: 4_000,
            http_per_round: 1_000,
            paging_per_round: 20,
            concurrency: vec![16, 256],
            warmup: Duration::from_millis(500),
            measure: Duration::from_secs(4),
            cold_starts: 3,
            warm_starts: 15,
            in_flight: 1_000,
            hostile_runs: 5,
            spin_sample: Duration::from_secs(2),
            spin_deadline_ms: 3_000,
            scheduler_subscriptions: 1_000,
            scheduler_interval: None,
            scheduler_warmup_intervals: 1.0,
            scheduler_measure_intervals: 3.0,
        }
    }

    fn quick() -> Self {
        Self {
            rounds: 2,
            overhead_per_round: 50,
            http_per_round: 20,
            paging_per_round: 2,
            concurrency: vec![4, 16],
            warmup: Duration::from_millis(50),
            measure: Duration::from_millis(300),
            cold_starts: 1,
            warm_starts: 2,
            in_flight: 50,
            hostile_runs: 1,
            spin_sample: Duration::from_millis(250),
            spin_deadline_ms: 1_000,
            scheduler_subscriptions: 50,
            scheduler_interval: Some(2),
            scheduler_warmup_intervals: 0.5,
            scheduler_measure_intervals: 1.0,
        }
    }
}

struct Options {
    quick: bool,
    out: Option<PathBuf>,
    /// Run only this case and print its raw figures (for profiling).
    only: Option<String>,
}

const CASES: [&str; 10] = [
    "overhead",
    "http",
    "server",
    "output-parse",
    "paging",
    "startup",
    "memory",
    "hostile-memory",
    "health-while-spinning",
    "scheduler",
];

fn default_out() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(|root| root.join("BENCHMARKS.md"))
        .unwrap_or_else(|| "BENCHMARKS.md".into())
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut options = Options {
        quick: false,
        out: Some(default_out()),
        only: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--no-write" => options.out = None,
            "--out" => options.out = Some(args.next().context("--out needs a file")?.into()),
            "--only" => {
                let case = args.next().context("--only needs a case")?;
                if !CASES.contains(&case.as_str()) {
                    bail!("unknown case `{case}`: one of {}", CASES.join(", "));
                }
                options.only = Some(case.clone());
            }
            "-h" | "--help" => {
                println!(
                    "usage: cardhost-bench [--quick] [--no-write] [--out FILE] [--only CASE]\n\
                     Runs every case against its native baseline, prints the table and \
                     rewrites the figures in BENCHMARKS.md (or FILE). --only runs one of \
                     {} and prints its raw figures.",
                    CASES.join(", ")
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}` (try --help)"),
        }
    }
    Ok(options)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("upstream") => return runtime()?.block_on(upstream::serve()),
        Some("memory-child") => {
            let [_, side, hold, count] = args.as_slice() else {
                bail!("usage: cardhost-bench memory-child SIDE HOLD_URL COUNT");
            };
            let side = runtime()?.block_on(cases::memory_child(side, hold, count.parse()?))?;
            println!("{}", serde_json::to_string(&side)?);
            return Ok(());
        }
        Some("server-child") => {
            let [_, flag, side, smarthr, concurrency] = args.as_slice() else {
                bail!(
                    "usage: cardhost-bench server-child --side cardhost|native SMARTHR_URL CONCURRENCY"
                );
            };
            ensure!(
                flag == "--side",
                "server-child: expected --side, got `{flag}`"
            );
            return runtime()?.block_on(server_path::server_child(
                side,
                smarthr,
                concurrency.parse()?,
            ));
        }
        Some("hostile-prime") => {
            let [_, cache] = args.as_slice() else {
                bail!("usage: cardhost-bench hostile-prime CACHE_DIR");
            };
            return runtime()?.block_on(cases::hostile_prime(cache));
        }
        Some("hostile-child") => {
            let [_, card, hold, cache, runs] = args.as_slice() else {
                bail!("usage: cardhost-bench hostile-child CARD HOLD_URL CACHE_DIR RUNS");
            };
            let run =
                runtime()?.block_on(cases::hostile_child(card, hold, cache, runs.parse()?))?;
            println!("{}", serde_json::to_string(&run)?);
            return Ok(());
        }
        _ => {}
    }
    let options = parse(&args)?;
    let plan = if options.quick {
        Plan::quick()
    } else {
        Plan::full()
    };
    let upstream = upstream::Upstream::spawn()?;
    let addresses = upstream.addresses.clone();
    let rt = runtime()?;

    if let Some(case) = options.only.as_deref() {
        match case {
            "overhead" => println!("{:#?}", rt.block_on(cases::overhead(&plan, &addresses))?),
            "http" => println!("{:#?}", rt.block_on(cases::http(&plan, &addresses))?),
            "server" => println!(
                "{:#?}",
                rt.block_on(server_path::server_path(&plan, &addresses))?
            ),
            "output-parse" => println!(
                "{:#?}",
                rt.block_on(parse::output_parse(&plan, &addresses))?
            ),
            "paging" => println!("{:#?}", rt.block_on(cases::paging(&plan, &addresses))?),
            "startup" => println!("{:#?}", rt.block_on(cases::startup(&plan))?),
            "memory" => println!("{:#?}", cases::memory(&plan, &addresses)?),
            "hostile-memory" => println!("{:#?}", cases::hostile_memory(&plan, &addresses)?),
            "scheduler" => {
                let figures = rt.block_on(scheduler::scheduler(&plan, &addresses))?;
                println!("{figures:#?}");
                println!("{}", report::scheduler_markdown(&figures));
            }
            _ => println!("{:#?}", cases::health_while_spinning(&plan, &addresses)?),
        }
        return Ok(());
    }

    eprintln!("invocation overhead (I/O-free card) …");
    let overhead = rt.block_on(cases::overhead(&plan, &addresses))?;
    eprintln!("HTTP card …");
    let http = rt.block_on(cases::http(&plan, &addresses))?;
    eprintln!("server path (client → server → upstream) …");
    let server = rt.block_on(server_path::server_path(&plan, &addresses))?;
    eprintln!("output parsing …");
    let output_parse = rt.block_on(parse::output_parse(&plan, &addresses))?;
    eprintln!("paging …");
    let paging = rt.block_on(cases::paging(&plan, &addresses))?;
    eprintln!("start-up …");
    let startup = rt.block_on(cases::startup(&plan))?;
    eprintln!("memory ({} in flight) …", plan.in_flight);
    let memory = cases::memory(&plan, &addresses)?;
    eprintln!("host memory under hostile cards …");
    let hostile = cases::hostile_memory(&plan, &addresses)?;
    eprintln!("health while guests spin …");
    let health = cases::health_while_spinning(&plan, &addresses)?;
    eprintln!(
        "scheduler ({} subscriptions) …",
        plan.scheduler_subscriptions
    );
    let scheduler = rt.block_on(scheduler::scheduler(&plan, &addresses))?;
    drop(upstream);

    let figures = report::Figures {
        overhead,
        http,
        server,
        output_parse,
        paging,
        startup,
        memory,
        hostile,
        health,
        scheduler,
    };
    let section = report::markdown(&figures, &report::machine(), options.quick);
    println!("{section}");
    if let Some(out) = options.out {
        let doc = std::fs::read_to_string(&out).unwrap_or_else(|_| "# Benchmarks\n".into());
        std::fs::write(&out, report::splice(&doc, &section))
            .with_context(|| format!("cannot write {}", out.display()))?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}
