//! Logs and traces: the tracing subscriber of `cardhost`.
//!
//! Logs go to stderr, as text or as JSON lines ([`LogFormat`]), filtered by
//! `CARDHOST_LOG`. A JSON line has the event's fields at the top level, the
//! spans it happened in (`spans`, outermost first, each with its fields),
//! `invocation_id` when it happened in an invocation, and `trace_id` and
//! `span_id` when traces are on.
//!
//! Traces are off unless an OTLP endpoint is set (`server.otlp_endpoint`,
//! `CARDHOST_OTLP_ENDPOINT`): then spans are exported over OTLP/HTTP
//! (protobuf) in batches, whatever `CARDHOST_LOG` says. A trace is the server
//! request → the invocation (`invocation.id`, connector, card,
//! `connection.id`) → each upstream request attempt (method, host, status,
//! attempt). [`Telemetry::shutdown`] flushes what is still queued.

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt::Write as _;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::Layer as _;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime as _, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// The installed subscriber's exporter, if traces are on. Keep it until the
/// process ends and call [`Telemetry::shutdown`] then.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn tracing(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports the spans still queued and stops the exporter.
    pub fn shutdown(mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            // The subscriber may already be gone: say it on stderr.
            eprintln!("cardhost: exporting the last traces failed: {e}");
        }
    }
}

/// The OTLP/HTTP traces URL for `endpoint`: like `OTEL_EXPORTER_OTLP_ENDPOINT`,
/// a base URL (`http://collector:4318`) to which `/v1/traces` is added,
/// unless it already ends so.
pub fn traces_url(endpoint: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(endpoint)
        .map_err(|e| anyhow::anyhow!("the OTLP endpoint `{endpoint}` (server.otlp_endpoint, CARDHOST_OTLP_ENDPOINT) is not a URL: {e}"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https"),
        "the OTLP endpoint `{endpoint}` (server.otlp_endpoint, CARDHOST_OTLP_ENDPOINT) must be an http or https URL: traces go over OTLP/HTTP"
    );
    let base = endpoint.trim_end_matches('/');
    Ok(if base.ends_with("/v1/traces") {
        base.to_string()
    } else {
        format!("{base}/v1/traces")
    })
}

/// Installs the subscriber: `default_level` unless `CARDHOST_LOG` says
/// otherwise, lines in `format`, and spans exported to `otlp_endpoint` if
/// set. A subscriber already installed (tests) is kept.
pub fn init(
    default_level: &str,
    format: LogFormat,
    otlp_endpoint: Option<&str>,
) -> anyhow::Result<Telemetry> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CARDHOST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match format {
        LogFormat::Text => fmt.with_filter(filter).boxed(),
        LogFormat::Json => fmt
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .with_filter(filter)
            .boxed(),
    };
    let (provider, traces) = match otlp_endpoint {
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(traces_url(endpoint)?)
                .build()
                .map_err(|e| anyhow::anyhow!("cannot start the OTLP exporter: {e}"))?;
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(
                    opentelemetry_sdk::Resource::builder()
                        .with_service_name("cardhost")
                        .with_attribute(opentelemetry::KeyValue::new(
                            "service.version",
                            env!("CARGO_PKG_VERSION"),
                        ))
                        .build(),
                )
                .build();
            // Spans of cardhost's own code, whatever the log level.
            let targets = tracing_subscriber::filter::Targets::new()
                .with_target("cardhost", tracing::Level::INFO)
                .with_target("cardhost_runtime", tracing::Level::INFO);
            let layer = tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("cardhost"))
                .with_filter(targets);
            (Some(provider), Some(layer))
        }
        None => (None, None),
    };
    let installed = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()
        .is_ok();
    match provider {
        // Someone else's subscriber would never feed this exporter.
        Some(provider) if !installed => {
            let _ = provider.shutdown();
            Ok(Telemetry::default())
        }
        provider => Ok(Telemetry { provider }),
    }
}

/// The `traceparent` of the current span, for an upstream request (see
/// `Broker::set_traceparent`): `None` when the span is not in a trace.
pub fn traceparent() -> Option<reqwest::header::HeaderValue> {
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut headers = reqwest::header::HeaderMap::new();
    TraceContextPropagator::new().inject_context(
        &context,
        &mut opentelemetry_http::HeaderInjector(&mut headers),
    );
    headers.remove("traceparent")
}

/// Makes `span` continue the trace a request's `traceparent` names, if it
/// names one (a gateway's, a caller's).
pub fn continue_trace(span: &tracing::Span, headers: &reqwest::header::HeaderMap) {
    if !headers.contains_key("traceparent") {
        return;
    }
    let parent =
        TraceContextPropagator::new().extract(&opentelemetry_http::HeaderExtractor(headers));
    if parent.span().span_context().is_valid() {
        // Fails only when no OpenTelemetry layer is installed: nothing to
        // continue then.
        let _ = span.set_parent(parent);
    }
}

/// JSON lines: see the module documentation.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        line.insert("timestamp".into(), timestamp.into());
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        event.record(&mut JsonVisitor(&mut line));
        let mut spans = Vec::new();
        let mut innermost = None;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let mut entry = Map::new();
                entry.insert("name".into(), span.name().into());
                let fields = span
                    .extensions()
                    .get::<FormattedFields<N>>()
                    .and_then(|f| serde_json::from_str::<Map<String, Value>>(f).ok());
                for (key, value) in fields.into_iter().flatten() {
                    // `otel.kind`, `otel.name`, …: instructions to the
                    // exporter, not facts about the span.
                    if key.starts_with("otel.") {
                        continue;
                    }
                    if key == "invocation.id" {
                        line.insert("invocation_id".into(), value.clone());
                    }
                    entry.insert(key, value);
                }
                innermost = Some(span.id());
                spans.push(Value::Object(entry));
            }
        }
        if let Some(id) = innermost {
            // No extension of the span is held here: the OpenTelemetry layer
            // takes them to answer.
            let context = tracing::dispatcher::get_default(|dispatch| {
                tracing_opentelemetry::get_otel_context(&id, dispatch)
            });
            if let Some(context) = context {
                let span = context.span();
                let ids = span.span_context();
                if ids.is_valid() {
                    line.insert("trace_id".into(), ids.trace_id().to_string().into());
                    line.insert("span_id".into(), ids.span_id().to_string().into());
                }
            }
        }
        if !spans.is_empty() {
            line.insert("spans".into(), Value::Array(spans));
        }
        let text = serde_json::to_string(&Value::Object(line)).map_err(|_| std::fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// An event's fields as JSON values.
struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        self.0.insert(field.name().into(), text.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_url_is_the_endpoint_and_v1_traces() {
        assert_eq!(
            traces_url("http://collector:4318").unwrap(),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url("https://otel.example.com/").unwrap(),
            "https://otel.example.com/v1/traces"
        );
        assert_eq!(
            traces_url("http://c:4318/v1/traces").unwrap(),
            "http://c:4318/v1/traces"
        );
        assert!(traces_url("collector:4317").is_err());
        assert!(traces_url("grpc://c:4317").is_err());
    }

    /// Lines from a subscriber with [`JsonLines`], written into a buffer.
    fn json_lines(emit: impl FnOnce()) -> Vec<Value> {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .fmt_fields(JsonFields::new())
                .event_format(JsonLines)
                .with_writer(move || writer.clone()),
        );
        tracing::subscriber::with_default(subscriber, emit);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    #[test]
    fn json_lines_carry_the_invocation_id_of_their_span() {
        let lines = json_lines(|| {
            tracing::info!(n = 1u64, "outside");
            let span = tracing::info_span!(
                "invocation",
                invocation.id = "inv_42",
                card = "greet",
                otel.status_code = "error"
            );
            let _entered = span.enter();
            let inner = tracing::info_span!("upstream request", attempt = 1u32);
            let _inner = inner.enter();
            tracing::warn!(status = 503u64, ok = false, "quote \" and\nnewline");
        });
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["message"], "outside");
        assert_eq!(lines[0]["n"], 1);
        assert!(lines[0].get("invocation_id").is_none());
        assert!(lines[0].get("spans").is_none());
        let line = &lines[1];
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["message"], "quote \" and\nnewline");
        assert_eq!(line["status"], 503);
        assert_eq!(line["ok"], false);
        assert_eq!(line["invocation_id"], "inv_42");
        assert_eq!(line["spans"][0]["name"], "invocation");
        assert_eq!(line["spans"][0]["card"], "greet");
        assert!(line["spans"][0].get("otel.status_code").is_none());
        assert_eq!(line["spans"][1]["name"], "upstream request");
        assert_eq!(line["spans"][1]["attempt"], 1);
        assert!(line["timestamp"].as_str().unwrap().contains('T'));
        // No trace without the OpenTelemetry layer.
        assert!(line.get("trace_id").is_none());
    }
}
