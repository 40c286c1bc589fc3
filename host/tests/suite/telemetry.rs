//! Operations of a real `cardhost serve`: traces exported over OTLP/HTTP to
//! a collector this test runs on loopback, JSON log lines on stderr, and the
//! `/metrics` exposition.

use crate::common;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// What reached the collector: each request's content type and body.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A tiny OTLP/HTTP collector: `POST /v1/traces`, kept as it came.
async fn collector() -> (String, Received) {
    let received: Received = Arc::default();
    let kept = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let kept = kept.clone();
                async move {
                    let content_type = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    kept.lock().unwrap().push((content_type, body.to_vec()));
                    // An empty ExportTraceServiceResponse.
                    (
                        [("content-type", "application/x-protobuf")],
                        Vec::<u8>::new(),
                    )
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// The hello connector's directory API; keeps the `traceparent` of each
/// request.
async fn people() -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let kept = seen.clone();
    let app = axum::Router::new().route(
        "/people/{id}",
        axum::routing::get(
            move |axum::extract::Path(id): axum::extract::Path<String>,
                  headers: axum::http::HeaderMap| {
                let kept = kept.clone();
                async move {
                    kept.lock().unwrap().push(
                        headers
                            .get("traceparent")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string),
                    );
                    axum::Json(json!({"id": id, "name": "Aiko"}))
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

struct Node {
    dir: tempfile::TempDir,
}

impl Node {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let connectors = dir.path().join("connectors");
        std::fs::create_dir_all(&connectors).unwrap();
        std::fs::copy(cardhost_e2e::guests::HELLO, connectors.join("hello.wasm")).unwrap();
        let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache");
        std::fs::write(
            dir.path().join("cardhost.toml"),
            format!(
                "builtin_connectors = false\nconnectors_dir = {:?}\ncache_dir = {:?}\n",
                connectors.display().to_string(),
                cache.display().to_string()
            ),
        )
        .unwrap();
        Node { dir }
    }

    fn cli(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cardhost"));
        cmd.arg("--config")
            .arg(self.dir.path().join("cardhost.toml"))
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .arg("--allow-loopback")
            .env_remove("CARDHOST_MASTER_KEY")
            .env_remove("CARDHOST_CONFIG")
            .env_remove("CARDHOST_DATA_DIR")
            .env_remove("CARDHOST_LOG")
            .env_remove("CARDHOST_LOG_FORMAT")
            .env_remove("CARDHOST_OTLP_ENDPOINT")
            .stdin(Stdio::null());
        // The exporter talks to the loopback collector directly.
        for proxy in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
            cmd.env_remove(proxy).env_remove(proxy.to_ascii_lowercase());
        }
        cmd
    }

    fn admin_key(&self) -> String {
        let out = common::run_shown(
            "cardhost keys create --name ops --role admin",
            self.cli()
                .args(["keys", "create", "--name", "ops", "--role", "admin"]),
        );
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}

/// A running `cardhost serve` whose stderr is read to the end in the
/// background.
struct Serve {
    child: std::process::Child,
    url: String,
    stderr: std::thread::JoinHandle<String>,
}

impl Serve {
    fn start(node: &Node, env: &[(&str, &str)]) -> Serve {
        let mut cmd = node.cli();
        cmd.args(["serve", "--listen", "127.0.0.1:0"]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (child, url, stderr) = common::spawn_serve(&mut cmd);
        Serve { child, url, stderr }
    }

    /// SIGTERM, then what it wrote on stderr.
    fn stop(mut self) -> String {
        let term = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        let status = self.child.wait().unwrap();
        let stderr = self.stderr.join().unwrap();
        eprintln!("--- server stderr\n{stderr}---");
        assert!(status.success(), "the server exits cleanly on SIGTERM");
        stderr
    }
}

async fn create_hello(http: &reqwest::Client, url: &str, key: &str, upstream: &str) -> String {
    let resp = http
        .post(format!("{url}/v1/connections"))
        .bearer_auth(key)
        .json(&json!({
            "connector": "hello", "name": "dir",
            "fields": {"base_url": upstream},
            "secrets": {"token": "hello-token-value"}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    body["id"].as_str().unwrap().to_string()
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn string_attribute<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    match attribute(&span.attributes, key) {
        Some(AnyValue::StringValue(s)) => Some(s),
        _ => None,
    }
}

fn int_attribute(span: &Span, key: &str) -> Option<i64> {
    match attribute(&span.attributes, key) {
        Some(AnyValue::IntValue(n)) => Some(*n),
        _ => None,
    }
}

/// A caller's trace the server is asked to continue.
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
/// One a card tries to send upstream itself.
const CARD_TRACEPARENT: &str = "00-11111111111111111111111111111111-2222222222222222-01";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_served_invocation_is_one_trace_and_its_json_log_lines_name_it() {
    let (collector_url, received) = collector().await;
    let (upstream, traceparents) = people().await;
    let node = Node::new();
    let key = node.admin_key();
    let serve = Serve::start(
        &node,
        &[
            ("CARDHOST_OTLP_ENDPOINT", collector_url.as_str()),
            ("CARDHOST_LOG_FORMAT", "json"),
        ],
    );
    let http = reqwest::Client::new();
    let conn = create_hello(&http, &serve.url, &key, &upstream).await;
    let resp = http
        .post(format!(
            "{}/v1/connections/{conn}/cards/greet-person:invoke",
            serve.url
        ))
        .bearer_auth(&key)
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .json(&json!({"id": "7"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["output"]["greeting"], "Hello, Aiko!", "{body}");
    let invocation = body["invocation"].as_str().unwrap().to_string();
    // A card that sets a traceparent of its own: the host's replaces it.
    let resp = http
        .post(format!(
            "{}/v1/connections/{conn}/cards/custom-api-action:invoke",
            serve.url
        ))
        .bearer_auth(&key)
        .json(&json!({"method": "GET", "relative_url": "/people/8",
            "headers": {"traceparent": CARD_TRACEPARENT}}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let custom: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{custom}");

    // The metrics of the same node, in a format Prometheus parses.
    let metrics = http
        .get(format!("{}/metrics", serve.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
    );
    let text = metrics.text().await.unwrap();
    assert_exposition_parses(&text);
    assert!(
        text.contains(
            "cardhost_invocations_total{connector=\"hello\",card=\"greet-person\",outcome=\"ok\"} 1\n"
        ),
        "{text}"
    );
    assert!(text.contains("cardhost_upstream_requests_total{connector=\"hello\"} 2\n"));

    // Stopped at once: the spans still queued are exported on the way out.
    let stderr = serve.stop();

    // Traces: request → invocation → upstream request, one trace, continuing
    // the caller's.
    let received = received.lock().unwrap().clone();
    assert!(!received.is_empty(), "no export reached the collector");
    let mut spans = Vec::new();
    for (content_type, body) in &received {
        assert_eq!(content_type, "application/x-protobuf");
        let export = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
        for resource in export.resource_spans {
            let service = resource
                .resource
                .as_ref()
                .and_then(|r| attribute(&r.attributes, "service.name"))
                .cloned();
            assert_eq!(service, Some(AnyValue::StringValue("cardhost".into())));
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
    }
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    eprintln!("spans: {names:?}");
    let invocation_span = spans
        .iter()
        .find(|s| s.name == "invocation")
        .unwrap_or_else(|| panic!("no invocation span in {names:?}"));
    assert_eq!(
        string_attribute(invocation_span, "invocation.id"),
        Some(invocation.as_str())
    );
    assert_eq!(
        string_attribute(invocation_span, "connector"),
        Some("hello")
    );
    assert_eq!(
        string_attribute(invocation_span, "card"),
        Some("greet-person")
    );
    assert_eq!(
        string_attribute(invocation_span, "connection.id"),
        Some(conn.as_str())
    );
    assert_eq!(string_attribute(invocation_span, "outcome"), Some("ok"));
    let request_span = spans
        .iter()
        .find(|s| s.span_id == invocation_span.parent_span_id)
        .unwrap_or_else(|| panic!("the invocation's parent is not among {names:?}"));
    assert_eq!(
        request_span.name,
        "POST /v1/connections/{id}/cards/{action}"
    );
    assert_eq!(
        int_attribute(request_span, "http.response.status_code"),
        Some(200)
    );
    assert_eq!(hex(&request_span.trace_id), CALLER_TRACE);
    assert_eq!(hex(&request_span.parent_span_id), CALLER_SPAN);
    let upstream_spans: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == "upstream request" && s.parent_span_id == invocation_span.span_id)
        .collect();
    assert_eq!(upstream_spans.len(), 1, "{names:?}");
    let upstream_span = upstream_spans[0];
    assert_eq!(upstream_span.parent_span_id, invocation_span.span_id);
    assert_eq!(upstream_span.trace_id, invocation_span.trace_id);
    assert_eq!(invocation_span.trace_id, request_span.trace_id);
    assert_eq!(
        string_attribute(upstream_span, "http.request.method"),
        Some("GET")
    );
    assert_eq!(
        string_attribute(upstream_span, "server.address"),
        Some("127.0.0.1")
    );
    assert_eq!(
        int_attribute(upstream_span, "http.response.status_code"),
        Some(200)
    );
    assert_eq!(int_attribute(upstream_span, "attempt"), Some(1));

    // The upstream was asked to continue the same trace, from the attempt's
    // span.
    let traceparents = traceparents.lock().unwrap().clone();
    assert_eq!(traceparents.len(), 2);
    assert_eq!(
        traceparents[0],
        Some(format!(
            "00-{CALLER_TRACE}-{}-01",
            hex(&upstream_span.span_id)
        ))
    );
    // The custom action's request carried its own attempt's, not the card's.
    let custom_invocation = spans
        .iter()
        .find(|s| string_attribute(s, "card") == Some("custom-api-action"))
        .expect("the custom action's invocation span");
    let custom_upstream = spans
        .iter()
        .find(|s| s.name == "upstream request" && s.parent_span_id == custom_invocation.span_id)
        .expect("the custom action's upstream span");
    assert_eq!(
        traceparents[1],
        Some(format!(
            "00-{}-{}-01",
            hex(&custom_upstream.trace_id),
            hex(&custom_upstream.span_id)
        ))
    );
    assert_ne!(traceparents[1].as_deref(), Some(CARD_TRACEPARENT));

    // Logs: every line is JSON; the invocation's carry its id and the trace.
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.iter().any(|l| l["message"] == "cardhost serving"));
    let ok = lines
        .iter()
        .find(|l| l["message"] == "invocation ok")
        .expect("the invocation is logged");
    assert_eq!(ok["invocation_id"], invocation.as_str());
    assert_eq!(ok["connector"], "hello");
    assert_eq!(ok["trace_id"], CALLER_TRACE);
    assert_eq!(ok["spans"][0]["name"], "request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_without_traces_are_json_and_name_the_invocation() {
    let (upstream, traceparents) = people().await;
    let node = Node::new();
    let key = node.admin_key();
    // The lines inside the invocation are debug lines of the runtime.
    let serve = Serve::start(
        &node,
        &[
            ("CARDHOST_LOG_FORMAT", "json"),
            ("CARDHOST_LOG", "info,cardhost_runtime=debug"),
        ],
    );
    let http = reqwest::Client::new();
    let conn = create_hello(&http, &serve.url, &key, &upstream).await;
    let resp = http
        .post(format!(
            "{}/v1/connections/{conn}/cards/greet-person:invoke",
            serve.url
        ))
        .bearer_auth(&key)
        .json(&json!({"id": "7"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let invocation = body["invocation"].as_str().unwrap().to_string();
    let resp = http
        .post(format!(
            "{}/v1/connections/{conn}/cards/custom-api-action:invoke",
            serve.url
        ))
        .bearer_auth(&key)
        .json(&json!({"method": "GET", "relative_url": "/people/8",
            "headers": {"traceparent": CARD_TRACEPARENT}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let stderr = serve.stop();
    // Without traces the host sets no traceparent; a card's own goes as it
    // always did.
    assert_eq!(
        *traceparents.lock().unwrap(),
        [None, Some(CARD_TRACEPARENT.to_string())]
    );
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.iter().all(|l| l.get("trace_id").is_none()));
    let inside: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "request allowed" && l["card"] == "greet-person")
        .collect();
    assert!(!inside.is_empty(), "the broker's debug line is there");
    for line in inside {
        assert_eq!(line["invocation_id"], invocation.as_str(), "{line}");
        let spans: Vec<&str> = line["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(spans, ["request", "invocation"], "{line}");
    }
    let ok = lines
        .iter()
        .find(|l| l["message"] == "invocation ok")
        .expect("the invocation is logged");
    assert_eq!(ok["invocation_id"], invocation.as_str());
}

/// Every line of an OpenMetrics text is `# HELP`, `# TYPE`, the closing
/// `# EOF`, or a sample `name{labels} value` of a declared family.
fn assert_exposition_parses(text: &str) {
    assert!(text.ends_with("# EOF\n"), "{text}");
    let mut families: Vec<&str> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            families.push(parts.next().unwrap());
            let kind = parts.next().unwrap();
            assert!(matches!(kind, "counter" | "gauge" | "histogram"), "{line}");
            continue;
        }
        if line.starts_with("# HELP ") || line == "# EOF" {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        assert!(value.parse::<f64>().is_ok(), "{line}");
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        assert!(
            families.iter().any(|f| name.starts_with(f)),
            "{name} has no # TYPE: {line}"
        );
        let labels = &series[name.len()..];
        if !labels.is_empty() {
            assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
            for pair in split_labels(&labels[1..labels.len() - 1]) {
                let (k, v) = pair.split_once('=').unwrap_or_else(|| panic!("{line}"));
                assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
                assert!(
                    v.starts_with('"') && v.ends_with('"') && v.len() >= 2,
                    "{line}"
                );
            }
        }
    }
}

/// `a="x",b="y,z"` → `a="x"`, `b="y,z"` (commas inside quotes kept).
fn split_labels(labels: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in labels.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&labels[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&labels[start..]);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_bad_otlp_endpoint_or_log_format_stops_the_server_before_it_starts() {
    let node = Node::new();
    let out = common::run_shown(
        "CARDHOST_OTLP_ENDPOINT=collector:4317 cardhost serve",
        node.cli()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("CARDHOST_OTLP_ENDPOINT", "collector:4317"),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("CARDHOST_OTLP_ENDPOINT") && stderr.contains("http or https"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "it never listened");
    let out = common::run_shown(
        "CARDHOST_LOG_FORMAT=xml cardhost serve",
        node.cli()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("CARDHOST_LOG_FORMAT", "xml"),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("xml") && stderr.contains("json"),
        "{stderr}"
    );
}
