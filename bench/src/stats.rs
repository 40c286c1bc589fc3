//! Percentiles, throughput and the figures a case reports.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// Completed calls per second with `concurrency` tasks calling `call` in a
/// loop for `measure`, after `warmup` during which calls are not counted.
/// The first error stops the run and is returned.
pub async fn throughput<F, Fut>(
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
    call: F,
) -> anyhow::Result<f64>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let call = Arc::new(call);
    let counted = Arc::new(AtomicU64::new(0));
    let issued = Arc::new(AtomicU64::new(0));
    let start = Instant::now() + warmup;
    let end = start + measure;
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (call, counted, issued) = (call.clone(), counted.clone(), issued.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let n = issued.fetch_add(1, Ordering::Relaxed);
                call(n).await?;
                let now = Instant::now();
                if now >= end {
                    return anyhow::Ok(());
                }
                if now >= start {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(counted.load(Ordering::Relaxed) as f64 / measure.as_secs_f64())
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
    fn durations_read_well() {
        assert_eq!(fmt_duration(Duration::from_nanos(1500)), "1.50 µs");
        assert_eq!(fmt_duration(Duration::from_micros(278)), "278.0 µs");
        assert_eq!(fmt_duration(Duration::from_millis(42)), "42.0 ms");
    }
}
