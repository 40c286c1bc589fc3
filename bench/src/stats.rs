//! Percentiles, throughput and the figures a case reports.

use anyhow::Context as _;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Latency percentiles of one side of a case.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub samples: usize,
}

impl Latency {
    /// Percentiles of `samples` (nearest rank).
    pub fn of(mut samples: Vec<Duration>) -> Self {
        assert!(!samples.is_empty(), "no samples");
        samples.sort_unstable();
        let at = |q: f64| {
            samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1]
        };
        Self {
            p50: at(0.50),
            p99: at(0.99),
            max: samples[samples.len() - 1],
            samples: samples.len(),
        }
    }
}

/// Times `rounds × per_round` calls of each side, alternating sides round by
/// round so that drift on a shared machine (frequency, another process) hits
/// both alike. Returns (cardhost, native).
pub async fn alternate<A, AF, B, BF>(
    rounds: usize,
    per_round: usize,
    warmup: usize,
    mut cardhost: A,
    mut native: B,
) -> anyhow::Result<(Latency, Latency)>
where
    A: FnMut() -> AF,
    AF: Future<Output = anyhow::Result<()>>,
    B: FnMut() -> BF,
    BF: Future<Output = anyhow::Result<()>>,
{
    for _ in 0..warmup {
        cardhost().await?;
        native().await?;
    }
    let mut a = Vec::with_capacity(rounds * per_round);
    let mut b = Vec::with_capacity(rounds * per_round);
    for _ in 0..rounds {
        for _ in 0..per_round {
            let t = Instant::now();
            native().await?;
            b.push(t.elapsed());
        }
        for _ in 0..per_round {
            let t = Instant::now();
            cardhost().await?;
            a.push(t.elapsed());
        }
    }
    Ok((Latency::of(a), Latency::of(b)))
}

/// One side's throughput run: the calls that succeeded within the
/// measurement window, every call that failed (warm-up included), and the
/// CPU time the measured process spent in the window.
#[derive(Debug, Clone)]
pub struct Run {
    pub concurrency: usize,
    pub window: Duration,
    /// Calls that succeeded within the window.
    pub ok: u64,
    /// Calls that failed, at any time of the run.
    pub failed: u64,
    /// Each distinct failure (the first [`MAX_FAILURE_KINDS`]; the rest are
    /// counted under "other") and how often it occurred.
    pub failures: BTreeMap<String, u64>,
    /// User + system CPU time of the measured process within the window.
    pub cpu: Duration,
}

/// Distinct failure messages a [`Run`] keeps.
pub const MAX_FAILURE_KINDS: usize = 16;

impl Run {
    /// Successful calls per second.
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.window.as_secs_f64()
    }

    /// CPU time per successful call, in µs.
    pub fn cpu_per_call_us(&self) -> Option<f64> {
        (self.ok > 0).then(|| self.cpu.as_secs_f64() * 1e6 / self.ok as f64)
    }

    /// The most frequent failure, for an error message.
    pub fn first_failure(&self) -> Option<&str> {
        self.failures
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(m, _)| m.as_str())
    }
}

/// `concurrency` tasks calling `call` in a loop for `measure`, after
/// `warmup` during which successes are not counted. A failed call is
/// counted (with its message) and the task goes on. `cpu` reads the measured
/// process's CPU time; it is read on a thread of its own at the start and the
/// end of the window, so that a busy runtime does not delay the readings.
pub async fn load<F, Fut, C>(
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
    call: F,
    cpu: C,
) -> anyhow::Result<Run>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    C: Fn() -> anyhow::Result<Duration> + Send + 'static,
{
    let call = Arc::new(call);
    let counted = Arc::new(AtomicU64::new(0));
    let issued = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new((0u64, BTreeMap::<String, u64>::new())));
    let start = Instant::now() + warmup;
    let end = start + measure;
    let sampler = std::thread::spawn(move || -> anyhow::Result<Duration> {
        std::thread::sleep(start.saturating_duration_since(Instant::now()));
        let before = cpu()?;
        std::thread::sleep(end.saturating_duration_since(Instant::now()));
        Ok(cpu()?.saturating_sub(before))
    });
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (call, counted, issued, failures) = (
            call.clone(),
            counted.clone(),
            issued.clone(),
            failures.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let n = issued.fetch_add(1, Ordering::Relaxed);
                let result = call(n).await;
                let now = Instant::now();
                match result {
                    Ok(()) if now >= start && now < end => {
                        counted.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(()) => {}
                    Err(e) => {
                        let mut f = failures.lock().unwrap_or_else(|p| p.into_inner());
                        f.0 += 1;
                        let message = format!("{e:#}");
                        let key = if f.1.contains_key(&message) || f.1.len() < MAX_FAILURE_KINDS {
                            message
                        } else {
                            "other".into()
                        };
                        *f.1.entry(key).or_default() += 1;
                    }
                }
                if now >= end {
                    return;
                }
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let cpu = sampler
        .join()
        .map_err(|_| anyhow::anyhow!("the CPU sampler panicked"))??;
    let (failed, failures) =
        std::mem::take(&mut *failures.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(Run {
        concurrency,
        window: measure,
        ok: counted.load(Ordering::Relaxed),
        failed,
        failures,
        cpu,
    })
}

/// User + system CPU time of process `pid` so far (`"self"`: this one),
/// from `/proc/<pid>/stat`, in clock ticks of [`clock_ticks`].
pub fn process_cpu(pid: &str) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses; the
    // fields after the last `)` start at the state (field 3), so utime
    // (field 14) and stime (15) are the 12th and 13th.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("a /proc stat line")?;
    let mut fields = rest.split_whitespace().skip(11);
    let mut tick =
        || -> anyhow::Result<u64> { Ok(fields.next().context("utime and stime")?.parse::<u64>()?) };
    let ticks = tick()? + tick()?;
    Ok(Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64))
}

/// Clock ticks per second of `/proc`'s CPU times (`getconf CLK_TCK`; 100,
/// Linux's USER_HZ on every common architecture, if that cannot be run).
pub fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// A duration for a table: µs below 10 ms, ms above.
pub fn fmt_duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 10.0 {
        format!("{us:.2} µs")
    } else if us < 10_000.0 {
        format!("{us:.1} µs")
    } else {
        format!("{:.1} ms", us / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<Duration> = (1..=200).map(Duration::from_micros).collect();
        let l = Latency::of(samples);
        assert_eq!(l.p50, Duration::from_micros(100));
        assert_eq!(l.p99, Duration::from_micros(198));
        assert_eq!(l.max, Duration::from_micros(200));
        let one = Latency::of(vec![Duration::from_micros(7)]);
        assert_eq!(
            (one.p50, one.p99),
            (Duration::from_micros(7), Duration::from_micros(7))
        );
    }

    #[test]
    fn this_process_has_spent_cpu() {
        let before = process_cpu("self").unwrap();
        let t = Instant::now();
        let mut x = 0u64;
        while process_cpu("self").unwrap() <= before {
            assert!(t.elapsed() < Duration::from_secs(10), "no CPU time counted");
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        assert!(clock_ticks() > 0);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(fmt_duration(Duration::from_nanos(1500)), "1.50 µs");
        assert_eq!(fmt_duration(Duration::from_micros(278)), "278.0 µs");
        assert_eq!(fmt_duration(Duration::from_millis(42)), "42.0 ms");
    }
}
