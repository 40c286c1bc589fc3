//! Prometheus metrics in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Latency buckets, in seconds.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// The server's metrics.
#[derive(Default)]
pub struct Metrics {
    invocations: Mutex<BTreeMap<(String, String, String), u64>>,
    latency: Mutex<BTreeMap<(String, String), Histogram>>,
    upstream_requests: Mutex<BTreeMap<String, u64>>,
    upstream_retries: Mutex<BTreeMap<String, u64>>,
    token_refreshes: Mutex<BTreeMap<String, u64>>,
    rejected: Mutex<BTreeMap<String, u64>>,
    in_flight: AtomicI64,
    reloads: AtomicU64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K, by: u64) {
    *map.lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key)
        .or_default() += by;
}

/// Escapes a label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Marks one invocation in flight until dropped.
pub struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Metrics {
    /// Counts an invocation in flight for the guard's life.
    pub fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self)
    }

    /// Records a finished invocation.
    #[allow(clippy::too_many_arguments)]
    pub fn invocation(
        &self,
        connector: &str,
        card: &str,
        outcome: &str,
        seconds: f64,
        upstream_requests: u64,
        retries: u64,
        refreshes: u64,
    ) {
        bump(
            &self.invocations,
            (connector.into(), card.into(), outcome.into()),
            1,
        );
        {
            let mut latency = self.latency.lock().unwrap_or_else(|p| p.into_inner());
            let h = latency
                .entry((connector.into(), card.into()))
                .or_insert_with(|| Histogram {
                    counts: vec![0; BUCKETS.len()],
                    ..Histogram::default()
                });
            for (i, b) in BUCKETS.iter().enumerate() {
                if seconds <= *b {
                    h.counts[i] += 1;
                }
            }
            h.sum += seconds;
            h.count += 1;
        }
        bump(&self.upstream_requests, connector.into(), upstream_requests);
        bump(&self.upstream_retries, connector.into(), retries);
        bump(&self.token_refreshes, connector.into(), refreshes);
    }

    /// Records a request turned away (`reason`: `saturated`, …).
    pub fn rejected(&self, reason: &str) {
        bump(&self.rejected, reason.into(), 1);
    }

    /// Records a registry reload.
    pub fn reloaded(&self) {
        self.reloads.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let lock =
            |m: &Mutex<BTreeMap<String, u64>>| m.lock().unwrap_or_else(|p| p.into_inner()).clone();
        out.push_str("# HELP cardhost_invocations_total Card invocations by outcome.\n# TYPE cardhost_invocations_total counter\n");
        for ((connector, card, outcome), n) in self
            .invocations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "cardhost_invocations_total{{connector=\"{}\",card=\"{}\",outcome=\"{}\"}} {n}",
                label(connector),
                label(card),
                label(outcome)
            );
        }
        out.push_str("# HELP cardhost_invocation_duration_seconds Card invocation latency.\n# TYPE cardhost_invocation_duration_seconds histogram\n");
        for ((connector, card), h) in self
            .latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let labels = format!(
                "connector=\"{}\",card=\"{}\"",
                label(connector),
                label(card)
            );
            for (b, n) in BUCKETS.iter().zip(&h.counts) {
                let _ = writeln!(
                    out,
                    "cardhost_invocation_duration_seconds_bucket{{{labels},le=\"{b}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "cardhost_invocation_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "cardhost_invocation_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "cardhost_invocation_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        for (name, help, map) in [
            (
                "cardhost_upstream_requests_total",
                "Upstream requests sent, retries included.",
                &self.upstream_requests,
            ),
            (
                "cardhost_upstream_retries_total",
                "Upstream requests that were retries.",
                &self.upstream_retries,
            ),
            (
                "cardhost_token_refreshes_total",
                "OAuth2 token refreshes after an auth failure.",
                &self.token_refreshes,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (connector, n) in lock(map) {
                let _ = writeln!(out, "{name}{{connector=\"{}\"}} {n}", label(&connector));
            }
        }
        out.push_str("# HELP cardhost_rejected_total Requests turned away before running.\n# TYPE cardhost_rejected_total counter\n");
        for (reason, n) in lock(&self.rejected) {
            let _ = writeln!(
                out,
                "cardhost_rejected_total{{reason=\"{}\"}} {n}",
                label(&reason)
            );
        }
        let _ = writeln!(
            out,
            "# HELP cardhost_invocations_in_flight Card invocations running now.\n# TYPE cardhost_invocations_in_flight gauge\ncardhost_invocations_in_flight {}",
            self.in_flight.load(Ordering::Acquire)
        );
        let _ = writeln!(
            out,
            "# HELP cardhost_registry_reloads_total Connector registry reloads.\n# TYPE cardhost_registry_reloads_total counter\ncardhost_registry_reloads_total {}",
            self.reloads.load(Ordering::Relaxed)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.invocation("smarthr", "list-users", "ok", 0.02, 3, 1, 0);
        m.invocation("smarthr", "list-users", "ok", 0.3, 1, 0, 0);
        let text = m.render();
        assert!(text.contains(
            "cardhost_invocations_total{connector=\"smarthr\",card=\"list-users\",outcome=\"ok\"} 2"
        ));
        assert!(text.contains("le=\"0.025\"} 1"));
        assert!(text.contains("le=\"0.5\"} 2"));
        assert!(text.contains("le=\"+Inf\"} 2"));
        assert!(text.contains("cardhost_upstream_requests_total{connector=\"smarthr\"} 4"));
        let guard = m.in_flight();
        assert!(m.render().contains("cardhost_invocations_in_flight 1"));
        drop(guard);
        assert!(m.render().contains("cardhost_invocations_in_flight 0"));
    }
}
