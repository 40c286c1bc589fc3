//! The figures as a Markdown table with targets, and writing them into
//! BENCHMARKS.md between its markers.

use crate::cases::{
    HOSTILE, HOSTILE_SLACK, HealthWhileSpinning, HostileMemory, Http, Memory, Overhead, Paging,
    SpinDesign, Startup, TEST_CONNECTION,
};
use crate::parse::OutputParse;
use crate::scheduler::{Scheduler, SchedulerSide};
use crate::server_path::ServerPath;
use crate::stats::{Run, fmt_duration};
use std::fmt::Write as _;
use std::time::Duration;

pub const BEGIN: &str = "<!-- figures: begin (written by cardhost-bench) -->";
pub const END: &str = "<!-- figures: end -->";

/// Everything one run measured.
pub struct Figures {
    pub overhead: Overhead,
    pub http: Http,
    pub server: ServerPath,
    pub output_parse: OutputParse,
    pub paging: Paging,
    pub startup: Startup,
    pub memory: Memory,
    pub hostile: HostileMemory,
    pub health: HealthWhileSpinning,
    pub scheduler: Scheduler,
}

/// Whether a figure meets its target, and by how much it misses.
fn verdict(ok: bool, miss: impl FnOnce() -> String) -> String {
    if ok {
        "met".into()
    } else {
        format!("**missed**: {}", miss())
    }
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn mib(bytes: f64) -> String {
    if bytes >= (1 << 20) as f64 {
        format!("{:.2} MiB", bytes / (1 << 20) as f64)
    } else {
        format!("{:.0} KiB", bytes / 1024.0)
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The machine, for the record.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or_else(String::new, |kib| {
            format!(", {:.0} GiB", kib / 1024.0 / 1024.0)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| format!(", Linux {}", s.trim()))
        .unwrap_or_default();
    let rustc =
        std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .arg("-V")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
    format!("{cpu}, {cores} cores{memory}{kernel}; {rustc}, release profile")
}

/// Today's date (UTC) as YYYY-MM-DD.
pub fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    cardhost_rules::time::date(days)
}

/// The generated section.
pub fn markdown(f: &Figures, machine: &str, quick: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{BEGIN}");
    let _ = writeln!(s);
    let _ = writeln!(s, "Run on {} — {machine}.", today());
    if quick {
        let _ = writeln!(
            s,
            "\n**Quick run** (few samples): for checking the suite, not for the record."
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "| Case | cardhost | native | ratio | target | |");
    let _ = writeln!(s, "|---|---:|---:|---:|---|---|");
    let o = &f.overhead;
    let _ = writeln!(
        s,
        "| I/O-free card, p50 | {} | {} | {:.1}× | ≤ 8 µs | {} |",
        fmt_duration(o.cardhost.p50),
        fmt_duration(o.native.p50),
        ratio(o.cardhost.p50, o.native.p50),
        verdict(us(o.cardhost.p50) <= 8.0, || format!(
            "{:.1} µs over",
            us(o.cardhost.p50) - 8.0
        )),
    );
    let _ = writeln!(
        s,
        "| I/O-free card, p99 | {} | {} | {:.1}× | | |",
        fmt_duration(o.cardhost.p99),
        fmt_duration(o.native.p99),
        ratio(o.cardhost.p99, o.native.p99),
    );
    let _ = writeln!(
        s,
        "| Instantiation alone, p50 (p99) | {} ({}) | | | ≤ 10 µs | {} |",
        fmt_duration(o.instantiate.p50),
        fmt_duration(o.instantiate.p99),
        verdict(us(o.instantiate.p50) <= 10.0, || format!(
            "{:.1} µs over",
            us(o.instantiate.p50) - 10.0
        )),
    );
    let h = &f.http;
    let r = ratio(h.cardhost.p50, h.native.p50);
    let _ = writeln!(
        s,
        "| HTTP card, concurrency 1, p50 | {} | {} | {r:.2}× | ≤ 1.2× | {} |",
        fmt_duration(h.cardhost.p50),
        fmt_duration(h.native.p50),
        verdict(r <= 1.2, || format!("{:.2}× over", r - 1.2)),
    );
    let _ = writeln!(
        s,
        "| HTTP card, concurrency 1, p99 | {} | {} | {:.2}× | | |",
        fmt_duration(h.cardhost.p99),
        fmt_duration(h.native.p99),
        ratio(h.cardhost.p99, h.native.p99),
    );
    for (card, native) in &h.throughput {
        let (c, card, native) = (card.concurrency, card.per_second(), native.per_second());
        let r = card / native;
        let _ = writeln!(
            s,
            "| HTTP card, concurrency {c}, throughput | {card:.0}/s | {native:.0}/s | {r:.2}× | ≥ 0.85× | {} |",
            verdict(r >= 0.85, || format!("{:.2}× short", 0.85 - r)),
        );
    }
    for (card, native) in &f.server.runs {
        let c = card.concurrency;
        let r = card.per_second() / native.per_second();
        let failed = card.failed + native.failed;
        let _ = writeln!(
            s,
            "| Server path, concurrency {c}, throughput | {:.0}/s | {:.0}/s | {r:.2}× | ≥ 0.75× | {} |",
            card.per_second(),
            native.per_second(),
            verdict(r >= 0.75 && failed == 0, || {
                let mut miss = Vec::new();
                if r < 0.75 {
                    miss.push(format!("{:.2}× short", 0.75 - r));
                }
                if failed > 0 {
                    miss.push(format!(
                        "{} failed answers (cardhost {}, native {})",
                        failed, card.failed, native.failed
                    ));
                }
                miss.join(", ")
            }),
        );
    }
    let p = &f.paging;
    let _ = writeln!(
        s,
        "| List all, {} pages, p50 | {} | {} | {:.2}× | | |",
        p.pages,
        fmt_duration(p.cardhost.p50),
        fmt_duration(p.native.p50),
        ratio(p.cardhost.p50, p.native.p50),
    );
    let _ = writeln!(
        s,
        "| List all, {} pages, p99 | {} | {} | {:.2}× | | |",
        p.pages,
        fmt_duration(p.cardhost.p99),
        fmt_duration(p.native.p99),
        ratio(p.cardhost.p99, p.native.p99),
    );
    let st = &f.startup;
    let _ = writeln!(
        s,
        "| Start-up, {} built-ins, warm cache, p50 | {} | cold: {} | {:.3}× of cold | ≤ 50 ms | {} |",
        st.connectors,
        fmt_duration(st.warm.p50),
        fmt_duration(st.cold.p50),
        ratio(st.warm.p50, st.cold.p50),
        verdict(st.warm.p50 <= Duration::from_millis(50), || {
            format!("{:.1} ms over", us(st.warm.p50) / 1000.0 - 50.0)
        }),
    );
    let m = &f.memory;
    let (card, native) = (m.cardhost.per_in_flight(), m.native.per_in_flight());
    let _ = writeln!(
        s,
        "| Memory per in-flight invocation, {} in flight | {} | {} | {:.1}× | ≤ 1 MiB | {} |",
        m.cardhost.in_flight,
        mib(card),
        mib(native),
        card / native.max(1.0),
        verdict(card <= (1 << 20) as f64, || mib(card - (1 << 20) as f64)
            + " over"),
    );
    let hm = &f.hostile;
    let bound = hm.memory_cap + HOSTILE_SLACK as u64;
    if let Some(worst) = hm.worst() {
        let _ = writeln!(
            s,
            "| Host peak memory growth under hostile cards, worst of {}, {} each ({}) | {} | first call: {} | | ≤ {} (cap {} + {}) | {} |",
            hm.cards.len(),
            calls(hm.runs),
            worst.name,
            mib(worst.growth() as f64),
            mib(worst.first_growth() as f64),
            mib(bound as f64),
            mib(hm.memory_cap as f64),
            mib(HOSTILE_SLACK as f64),
            verdict(hm.cards.iter().all(|c| c.bounded(hm.memory_cap)), || {
                mib(worst.growth() as f64 - bound as f64) + " over"
            }),
        );
    }
    let hw = &f.health;
    let (pool, shared) = (&hw.pool, &hw.server_runtime);
    let _ = writeln!(
        s,
        "| /healthz, {} guests spinning, p99 | {} | on the server's runtime: {} | {:.2}× | | |",
        hw.spinners,
        fmt_duration(pool.spinning.health.p99),
        fmt_duration(shared.spinning.health.p99),
        ratio(pool.spinning.health.p99, shared.spinning.health.p99),
    );
    let _ = writeln!(
        s,
        "| Honest card over HTTP, {} guests spinning, p50 | {} | on the server's runtime: {} | {:.2}× | | |",
        hw.spinners,
        fmt_duration(pool.spinning.greet.p50),
        fmt_duration(shared.spinning.greet.p50),
        ratio(pool.spinning.greet.p50, shared.spinning.greet.p50),
    );
    scheduler_rows(&mut s, &f.scheduler);
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "Samples: I/O-free {} per side, instantiation {}, HTTP latency {} per side, paging {} per side, \
         start-up {} cold and {} warm. Memory: resident set {} before and {} with {} in flight (peak {}) for cardhost; \
         {} and {} for native.",
        o.cardhost.samples,
        o.instantiate.samples,
        h.cardhost.samples,
        p.cardhost.samples,
        st.cold.samples,
        st.warm.samples,
        mib(m.cardhost.rss_before as f64),
        mib(m.cardhost.rss_in_flight as f64),
        m.cardhost.in_flight,
        mib(m.cardhost.peak_rss as f64),
        mib(m.native.rss_before as f64),
        mib(m.native.rss_in_flight as f64),
    );
    let _ = writeln!(s);
    cpu_table(&mut s, h, &f.server);
    let _ = writeln!(s);
    parse_table(&mut s, &f.output_parse);
    let _ = writeln!(s);
    hostile_table(&mut s, hm);
    let _ = writeln!(s);
    health_table(&mut s, hw);
    let _ = writeln!(s);
    scheduler_table(&mut s, &f.scheduler);
    let _ = writeln!(s);
    let _ = writeln!(s, "{END}");
    s
}

fn calls(n: usize) -> String {
    if n == 1 {
        "1 call".into()
    } else {
        format!("{n} calls")
    }
}

fn cpu_us(run: &Run) -> String {
    run.cpu_per_call_us()
        .map_or_else(|| "–".into(), |us| format!("{us:.0} µs"))
}

/// CPU per invocation of each side, in process and on the server path, and
/// the server path's failed answers.
fn cpu_table(s: &mut String, h: &Http, server: &ServerPath) {
    let _ = writeln!(
        s,
        "CPU per invocation: user + system CPU time of the measured process in the throughput \
         window (`/proc/<pid>/stat`, {} ticks a second), divided by the invocations that succeeded \
         in it. In process, the process is the bench itself (host or baseline, no HTTP client); on \
         the server path, the server child alone (`cardhost serve` with {} invocation slots, or \
         the native service); the client and the upstream run in other processes and are not \
         counted. Failed answers are counted over warm-up and measurement; an in-process failure \
         fails the run.",
        crate::stats::clock_ticks(),
        server.slots,
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "| Case | Concurrency | cardhost CPU / invocation | native CPU / invocation | ratio | failed answers (cardhost / native) |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---|");
    let rows = h
        .throughput
        .iter()
        .map(|pair| ("HTTP card, in process", pair))
        .chain(server.runs.iter().map(|pair| ("Server path", pair)));
    for (case, (card, native)) in rows {
        let ratio = match (card.cpu_per_call_us(), native.cpu_per_call_us()) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.1}×", a / b),
            _ => "–".into(),
        };
        let _ = writeln!(
            s,
            "| {case} | {} | {} | {} | {ratio} | {} / {} |",
            card.concurrency,
            cpu_us(card),
            cpu_us(native),
            card.failed,
            native.failed,
        );
    }
    for (card, native) in &server.runs {
        for (side, run) in [("cardhost", card), ("native", native)] {
            for (message, n) in &run.failures {
                let _ = writeln!(
                    s,
                    "\nServer path, {side} at concurrency {}: {n} × `{}`",
                    run.concurrency,
                    message.replace('`', "'")
                );
            }
        }
    }
}

/// Each parser's time for the crew record, against serde_json's.
fn parse_table(s: &mut String, p: &OutputParse) {
    let _ = writeln!(
        s,
        "Output parsing: one SmartHR crew record as the emulator serves it ({} bytes), \
         parsed in this process; the median of the rounds' mean time per parse.",
        p.bytes
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "| Parser | per parse | against serde_json |");
    let _ = writeln!(s, "|---|---:|---:|");
    let baseline = p
        .parsers
        .iter()
        .find(|x| x.name.starts_with("serde_json"))
        .map(|x| x.per_parse);
    for parser in &p.parsers {
        let against = baseline.map_or_else(
            || "–".into(),
            |b| format!("{:.2}×", ratio(parser.per_parse, b)),
        );
        let _ = writeln!(
            s,
            "| {} | {} | {against} |",
            parser.name,
            fmt_duration(parser.per_parse)
        );
    }
}

/// One row per hostile card.
fn hostile_table(s: &mut String, hm: &HostileMemory) {
    let _ = writeln!(
        s,
        "Host memory under hostile cards: `memory_bytes` {}, each card in a fresh process, \
         called {} after one honest call; growth is the peak resident set \
         (VmHWM, reset after the warm-up) over the resident set before the first hostile call, \
         after the first call and after the last.",
        mib(hm.memory_cap as f64),
        if hm.runs == 1 {
            "once".to_string()
        } else {
            format!("{} times in a row", hm.runs)
        },
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "| Hostile card | Input | Ended in | Resident before | Peak growth, first call | Peak growth, {} | ≤ cap + {} |",
        calls(hm.runs),
        mib(HOSTILE_SLACK as f64)
    );
    let _ = writeln!(s, "|---|---|---|---:|---:|---:|---|");
    for run in &hm.cards {
        let Some(card) = HOSTILE.iter().find(|c| c.name == run.name) else {
            continue;
        };
        let what = if card.card == TEST_CONNECTION {
            format!("{} test-connection (500 checks)", card.connector)
        } else {
            format!("{}/{}", card.connector, card.card)
        };
        let bound = hm.memory_cap + HOSTILE_SLACK as u64;
        let _ = writeln!(
            s,
            "| {what} | `{}` | {} | {} | {} | {}{} | {} |",
            card.input,
            run.outcome,
            mib(run.rss_before as f64),
            mib(run.first_growth() as f64),
            mib(run.growth() as f64),
            if run.peak_reset { "" } else { " (upper bound)" },
            verdict(run.bounded(hm.memory_cap), || mib(
                run.growth() as f64 - bound as f64
            ) + " over"),
        );
    }
}

/// Both designs, idle and spinning.
fn health_table(s: &mut String, hw: &HealthWhileSpinning) {
    let _ = writeln!(
        s,
        "Health while guests spin: `cardhost serve` in process on a {}-worker tokio runtime; \
         {} `loop-forever` invocations (2 × cores) in flight over HTTP, each launched again at \
         its {} ms deadline; each series sampled one request at a time for {}. The honest card \
         is the hello connector's Greet Person (one GET to a loopback upstream).",
        hw.server_workers,
        hw.spinners,
        hw.deadline_ms,
        fmt_span(hw.sample_span),
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "| Guests run on | Spinning | /healthz p50 | p99 | max | Greet Person p50 | p99 | max | samples |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for design in [&hw.pool, &hw.server_runtime] {
        for load in [&design.idle, &design.spinning] {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} / {} |",
                design_name(design),
                load.spinning,
                fmt_duration(load.health.p50),
                fmt_duration(load.health.p99),
                fmt_duration(load.health.max),
                fmt_duration(load.greet.p50),
                fmt_duration(load.greet.p99),
                fmt_duration(load.greet.max),
                load.health.samples,
                load.greet.samples,
            );
        }
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "Spinning invocations that ended at their deadline (all with `deadline-exceeded`): {} \
         with the pool, {} on the server's runtime.",
        hw.pool.spins_ended, hw.server_runtime.spins_ended,
    );
}

/// The scheduler case's rows of the main table.
fn scheduler_rows(s: &mut String, sc: &Scheduler) {
    let (c, n) = (&sc.cardhost, &sc.native);
    let case = format!(
        "Scheduler, {} subscriptions every {} s",
        sc.subscriptions, sc.interval_seconds
    );
    let cpu_ratio = match (c.cpu_per_poll_us(), n.cpu_per_poll_us()) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.1}×", a / b),
        _ => "–".into(),
    };
    let _ = writeln!(
        s,
        "| {case}, CPU per poll | {} | {} | {cpu_ratio} | | |",
        cpu_per_poll(c),
        cpu_per_poll(n),
    );
    let _ = writeln!(
        s,
        "| {case}, lag p50 (p99) | {} ({}) | {} ({}) | | | |",
        ms(c.lag.p50),
        ms(c.lag.p99),
        ms(n.lag.p50),
        ms(n.lag.p99),
    );
    let _ = writeln!(
        s,
        "| {case}, polls a second (scheduled: {:.1}/s) | {:.1}/s | {:.1}/s | {:.2}× | | |",
        sc.scheduled_per_second(),
        c.per_second(),
        n.per_second(),
        c.per_second() / n.per_second(),
    );
}

fn cpu_per_poll(side: &SchedulerSide) -> String {
    side.cpu_per_poll_us()
        .map_or_else(|| "–".into(), |us| format!("{us:.0} µs"))
}

/// The scheduler case: what was run, and each side's figures.
fn scheduler_table(s: &mut String, sc: &Scheduler) {
    let made = if sc.through_api {
        "made through `Subscriptions::create`".to_string()
    } else {
        format!(
            "made straight in the store (the interval is below the trigger's {} s minimum, \
             which `Subscriptions::create` refuses)",
            sc.min_interval_seconds
        )
    };
    let _ = writeln!(
        s,
        "Scheduler: {} subscriptions to Fourth SCIM's `user-changed` on one connection, {made}, \
         every {} s (give or take a tenth, from each commit), all due at once when made. \
         cardhost: `Subscriptions::run` over the SQLite store (due work started as polls finish and every 500 ms, {} polls at \
         once). Native: one tokio task per subscription on the same schedule, {} at once, the \
         same `GET /Users` with the same filter, the JSON parsed and flattened, the cursor and \
         events committed in one SQLite transaction (WAL, `synchronous = FULL`). The emulator \
         has {} users changed, which every poll reads and each subscription stores once. \
         Measured for {} after every subscription's first poll and {} more; lag is a poll's \
         commit less its due time; CPU is this process's over the window, per poll committed in it.",
        sc.subscriptions,
        sc.interval_seconds,
        crate::scheduler::SLOTS,
        crate::scheduler::SLOTS,
        crate::scheduler::TOUCHED,
        secs(sc.cardhost.window),
        secs(sc.warmup),
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "| Scheduler | First round | Polls in window | Polls a second | CPU / poll | Lag p50 | p99 | max | Lag p50, each interval | Poll wall time p50 (p99) |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|");
    for (name, side) in [("cardhost", &sc.cardhost), ("native", &sc.native)] {
        let by_interval: Vec<String> = side.lag_by_interval.iter().map(|d| ms(*d)).collect();
        let _ = writeln!(
            s,
            "| {name} | {} | {}{} | {:.1}/s of {:.1}/s | {} | {} | {} | {} | {} | {} ({}) |",
            secs(side.first_round),
            side.polls,
            if side.unattributed > 0 {
                format!(" ({} unattributed)", side.unattributed)
            } else {
                String::new()
            },
            side.per_second(),
            sc.scheduled_per_second(),
            cpu_per_poll(side),
            ms(side.lag.p50),
            ms(side.lag.p99),
            ms(side.lag.max),
            by_interval.join(" → "),
            ms(side.poll_time.p50),
            ms(side.poll_time.p99),
        );
    }
}

/// A lag or a poll's time: whole milliseconds are what the stores keep.
fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10_000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// The scheduler case's rows and table, for `--only scheduler`.
pub fn scheduler_markdown(sc: &Scheduler) -> String {
    let mut s = String::new();
    scheduler_rows(&mut s, sc);
    let _ = writeln!(s);
    scheduler_table(&mut s, sc);
    s
}

fn fmt_span(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{} s", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_millis())
    }
}

fn design_name(d: &SpinDesign) -> String {
    match d.guest_threads {
        Some(0) => "the server's runtime (`guest_threads = 0`), yielding every tick".into(),
        Some(n) => format!("a guest pool of {n} threads"),
        None => format!(
            "the caller's runtime, moved to the guest pool ({} threads) at a tick still computing (default)",
            d.pool_threads
        ),
    }
}

/// Replaces the generated section of `doc` (or appends it).
pub fn splice(doc: &str, section: &str) -> String {
    match (doc.find(BEGIN), doc.find(END)) {
        (Some(b), Some(e)) if e > b => {
            let end = e + END.len();
            let rest = doc[end..].strip_prefix('\n').unwrap_or(&doc[end..]);
            format!("{}{section}{rest}", &doc[..b])
        }
        _ => format!("{doc}\n{section}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_replaces_only_the_generated_section() {
        let doc = format!("# Title\n\nprose\n\n{BEGIN}\nold\n{END}\n\nmore prose\n");
        let new = format!("{BEGIN}\nnew\n{END}\n");
        assert_eq!(
            splice(&doc, &new),
            format!("# Title\n\nprose\n\n{BEGIN}\nnew\n{END}\n\nmore prose\n")
        );
        assert_eq!(splice("# T\n", &new), format!("# T\n\n{new}"));
    }

    #[test]
    fn dates_are_civil() {
        let t = today();
        assert_eq!(t.len(), 10);
        assert!(t.starts_with("20"), "{t}");
    }

    #[test]
    fn verdict_names_the_miss() {
        assert_eq!(verdict(true, || unreachable!()), "met");
        assert_eq!(
            verdict(false, || "3 µs over".into()),
            "**missed**: 3 µs over"
        );
    }
}
