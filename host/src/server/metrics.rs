//! Prometheus metrics, kept with `prometheus-client` and served in the
//! OpenMetrics text format.
//!
//! The sample names are the ones cardhost has always served
//! (`cardhost_invocations_total{connector,card,outcome}`, …): counters are
//! registered without their `_total` suffix, which the encoder adds.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Latency buckets, in seconds.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InvocationLabels {
    connector: String,
    card: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CardLabels {
    connector: String,
    card: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectorLabels {
    connector: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS.iter().copied())
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    invocations: Family<InvocationLabels, Counter>,
    latency: Family<CardLabels, Histogram, fn() -> Histogram>,
    upstream_requests: Family<ConnectorLabels, Counter>,
    upstream_retries: Family<ConnectorLabels, Counter>,
    token_refreshes: Family<ConnectorLabels, Counter>,
    rejected: Family<ReasonLabels, Counter>,
    in_flight: Gauge,
    reloads: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let invocations = Family::<InvocationLabels, Counter>::default();
        let latency = Family::<CardLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let upstream_requests = Family::<ConnectorLabels, Counter>::default();
        let upstream_retries = Family::<ConnectorLabels, Counter>::default();
        let token_refreshes = Family::<ConnectorLabels, Counter>::default();
        let rejected = Family::<ReasonLabels, Counter>::default();
        let in_flight = Gauge::default();
        let reloads = Counter::default();
        let mut registry = Registry::default();
        registry.register(
            "cardhost_invocations",
            "Card invocations by outcome",
            invocations.clone(),
        );
        registry.register(
            "cardhost_invocation_duration_seconds",
            "Card invocation latency",
            latency.clone(),
        );
        registry.register(
            "cardhost_upstream_requests",
            "Upstream requests sent, retries included",
            upstream_requests.clone(),
        );
        registry.register(
            "cardhost_upstream_retries",
            "Upstream requests that were retries",
            upstream_retries.clone(),
        );
        registry.register(
            "cardhost_token_refreshes",
            "OAuth2 token refreshes after an auth failure",
            token_refreshes.clone(),
        );
        registry.register(
            "cardhost_rejected",
            "Requests turned away before running",
            rejected.clone(),
        );
        registry.register(
            "cardhost_invocations_in_flight",
            "Card invocations running now",
            in_flight.clone(),
        );
        registry.register(
            "cardhost_registry_reloads",
            "Connector registry reloads",
            reloads.clone(),
        );
        Self {
            registry,
            invocations,
            latency,
            upstream_requests,
            upstream_retries,
            token_refreshes,
            rejected,
            in_flight,
            reloads,
        }
    }
}

/// Marks one invocation in flight until dropped.
pub struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

impl Metrics {
    /// Counts an invocation in flight for the guard's life.
    pub fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.inc();
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
        self.invocations
            .get_or_create(&InvocationLabels {
                connector: connector.into(),
                card: card.into(),
                outcome: outcome.into(),
            })
            .inc();
        self.latency
            .get_or_create(&CardLabels {
                connector: connector.into(),
                card: card.into(),
            })
            .observe(seconds);
        let by_connector = ConnectorLabels {
            connector: connector.into(),
        };
        for (family, n) in [
            (&self.upstream_requests, upstream_requests),
            (&self.upstream_retries, retries),
            (&self.token_refreshes, refreshes),
        ] {
            family.get_or_create(&by_connector).inc_by(n);
        }
    }

    /// Records a request turned away (`reason`: `saturated`, …).
    pub fn rejected(&self, reason: &str) {
        self.rejected
            .get_or_create(&ReasonLabels {
                reason: reason.into(),
            })
            .inc();
    }

    /// Records a registry reload.
    pub fn reloaded(&self) {
        self.reloads.inc();
    }

    /// The exposition text (OpenMetrics, ending in `# EOF`; see
    /// [`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; an encoder error would be a bug
        // in a label's encoding, and the text so far is still served.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding the metrics failed");
        }
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
        assert!(
            text.contains(
                "cardhost_invocations_total{connector=\"smarthr\",card=\"list-users\",outcome=\"ok\"} 2\n"
            ),
            "{text}"
        );
        // Cumulative buckets (`le` comes first among the labels).
        for (le, n) in [("0.01", 0), ("0.025", 1), ("0.5", 2), ("+Inf", 2)] {
            let line = format!(
                "cardhost_invocation_duration_seconds_bucket{{le=\"{le}\",connector=\"smarthr\",card=\"list-users\"}} {n}\n"
            );
            assert!(text.contains(&line), "{line} in {text}");
        }
        assert!(text.contains(
            "cardhost_invocation_duration_seconds_count{connector=\"smarthr\",card=\"list-users\"} 2\n"
        ));
        assert!(text.contains("cardhost_upstream_requests_total{connector=\"smarthr\"} 4\n"));
        assert!(text.contains("cardhost_upstream_retries_total{connector=\"smarthr\"} 1\n"));
        assert!(text.contains("cardhost_token_refreshes_total{connector=\"smarthr\"} 0\n"));
        assert!(text.contains("# TYPE cardhost_invocation_duration_seconds histogram\n"));
        assert!(text.ends_with("# EOF\n"), "{text}");
        let guard = m.in_flight();
        assert!(m.render().contains("cardhost_invocations_in_flight 1\n"));
        drop(guard);
        assert!(m.render().contains("cardhost_invocations_in_flight 0\n"));
        m.reloaded();
        m.rejected("saturated");
        let text = m.render();
        assert!(
            text.contains("cardhost_registry_reloads_total 1\n"),
            "{text}"
        );
        assert!(text.contains("cardhost_rejected_total{reason=\"saturated\"} 1\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::default();
        m.invocation("a\"b", "c\\d", "e\nf", 0.0, 0, 0, 0);
        let text = m.render();
        assert!(
            text.contains(
                r#"cardhost_invocations_total{connector="a\"b",card="c\\d",outcome="e\nf"} 1"#
            ),
            "{text}"
        );
    }

    /// Every line is a comment (`# HELP`, `# TYPE`, `# EOF`) or a sample
    /// `name{labels} value` whose name belongs to a declared family.
    #[test]
    fn the_exposition_parses() {
        let m = Metrics::default();
        m.invocation("hello", "greet", "ok", 0.1, 1, 0, 0);
        m.rejected("rate-limited");
        let text = m.render();
        let mut families = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                families.push(rest.split(' ').next().unwrap().to_string());
                continue;
            }
            if line.starts_with("# HELP ") || line == "# EOF" {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("name value");
            value.parse::<f64>().expect("a number");
            let name = series.split('{').next().unwrap();
            assert!(
                families.iter().any(|f| name.starts_with(f.as_str())),
                "{name} has no # TYPE before it"
            );
            if let Some(labels) = series.strip_prefix(name) {
                assert!(
                    labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                    "{line}"
                );
            }
        }
        assert_eq!(families.len(), 8, "{text}");
    }
}
