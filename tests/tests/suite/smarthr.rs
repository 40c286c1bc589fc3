//! The SmartHR connector end to end: the real host runs the connector with
//! the manifest's real hosts (`{tenant_id}.smarthr.jp`, `.daruma.space`),
//! and the host's network routes send those hosts to SmartHR emulators on
//! loopback, keeping the tenant in `Host`. Expected values come from the
//! emulators' own state, never from constants copied into the test.

use crate::common::*;
use cardhost::connections::{ConnectionError, Connections, CreateConnection};
use cardhost::store::{MasterKey, SqliteStore};
use cardhost::{
    CUSTOM_API_ACTION, CardFailure, Cardhost, Connection, ErrorKind, Invocation, InvokeError,
    Limits, NetworkPolicy, Route, Secret,
};
use cardhost_e2e::guests;
use cardhost_emulators::smarthr::{
    self, Config, DEMO_TOKENS, Environment, RateLimit, Resource, SmartHr,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const CONNECTOR: &str = "smarthr";
const TENANT: &str = "acme";
const SANDBOX_TENANT: &str = "acme-dev";

fn token(name: &str) -> &'static str {
    DEMO_TOKENS
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(value, _)| *value)
        .expect("a demo token")
}

/// Generous limits: the machine is shared, and no test here measures speed.
fn limits() -> Limits {
    Limits {
        deadline_ms: 30_000,
        max_output_bytes: 8 << 20,
        max_response_body_bytes: 8 << 20,
        ..test_limits()
    }
}

/// A production tenant and a sandbox tenant, and a host whose routes send
/// `*.smarthr.jp` and `*.daruma.space` to them.
struct World {
    host: Arc<Cardhost>,
    prod: SmartHr,
    sandbox: SmartHr,
}

/// Emulator settings for tests: only the hourly limit, so that the
/// per-second one does not slow every test down (one test turns it on).
fn config(tenant: &str, environment: Environment) -> Config {
    let mut config = Config::new(tenant, environment);
    config.rate_limits.truncate(1);
    config
}

async fn world_with(prod: Config) -> World {
    let prod = smarthr::start(prod).await.unwrap();
    let sandbox = smarthr::start(config(SANDBOX_TENANT, Environment::Sandbox))
        .await
        .unwrap();
    let network = NetworkPolicy {
        routes: vec![
            Route {
                host: "*.smarthr.jp".into(),
                to: prod.url(),
            },
            Route {
                host: "*.daruma.space".into(),
                to: sandbox.url(),
            },
        ],
        backoff_base_ms: 20,
        ..NetworkPolicy::loopback()
    };
    let host = Arc::new(host_with(&[guests::SMARTHR], limits(), network).await);
    World {
        host,
        prod,
        sandbox,
    }
}

async fn world() -> World {
    world_with(config(TENANT, Environment::Production)).await
}

fn default_grant(host: &Cardhost) -> Vec<String> {
    Cardhost::default_grant(host.registry().get(CONNECTOR).expect("loaded"))
}

fn fields(account_type: &str, tenant: &str) -> Value {
    json!({"account_type": account_type, "tenant_id": tenant})
}

/// A production connection with `token` and `grant` (the default grant when
/// `None`).
fn connect(host: &Cardhost, token: &str, grant: Option<&[&str]>) -> Connection {
    let default = default_grant(host);
    let default: Vec<&str> = default.iter().map(String::as_str).collect();
    connection(
        host,
        CONNECTOR,
        fields("production", TENANT),
        &[("access_token", token)],
        grant.unwrap_or(&default),
    )
}

async fn run(
    host: &Cardhost,
    connection: &Connection,
    card: &str,
    input: Value,
) -> Result<Invocation, Box<InvokeError>> {
    host.invoke(CONNECTOR, card, &input, Some(connection)).await
}

async fn ok(host: &Cardhost, connection: &Connection, card: &str, input: Value) -> Value {
    match run(host, connection, card, input).await {
        Ok(inv) => inv.output,
        Err(f) => panic!("{card} failed: {}", f),
    }
}

/// The card failure of a failed invocation.
fn card_failure(result: Result<Invocation, Box<InvokeError>>) -> CardFailure {
    match result.map(|inv| inv.output).map_err(|f| f.kind) {
        Err(ErrorKind::Card(failure)) => failure,
        Err(other) => panic!("expected a card failure, got: {other}"),
        Ok(output) => panic!("expected a failure, got: {output}"),
    }
}

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .expect("an array")
        .iter()
        .map(|e| e["id"].as_str().expect("an id").to_string())
        .collect()
}

fn ids_of(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_list_card_returns_what_smarthr_holds() {
    let w = world().await;
    let c = connect(&w.host, token("full"), None);
    let state = w.prod.state();

    for (card, key, resource) in [
        (
            "list-business-establishments",
            "biz_establishments",
            Resource::BizEstablishments,
        ),
        ("list-departments", "departments", Resource::Departments),
        (
            "list-employment-types",
            "employment_types",
            Resource::EmploymentTypes,
        ),
        ("list-job-titles", "job_titles", Resource::JobTitles),
        (
            "list-custom-field-groups",
            "custom_field_groups",
            Resource::CrewCustomFieldTemplateGroups,
        ),
        (
            "list-custom-fields",
            "custom_fields",
            Resource::CrewCustomFieldTemplates,
        ),
    ] {
        let out = ok(&w.host, &c, card, json!({})).await;
        let all = state.all(resource);
        assert_eq!(out[key], Value::Array(all.clone()), "{card}");
        assert_eq!(out["total_count"], all.len(), "{card}");
        assert_eq!(out["has_more"], false, "{card}");
        assert_eq!(out["page"], Value::Null, "{card}");
    }

    // Departments walk several pages at a small page size and come back whole.
    let from = state.request_count();
    let out = ok(&w.host, &c, "list-departments", json!({"per_page": 10})).await;
    let departments = state.all(Resource::Departments);
    assert_eq!(ids(&out["departments"]), ids_of(&departments));
    let pages = state.requests_to(from, "GET", "/api/v1/departments");
    assert_eq!(pages.len(), departments.len().div_ceil(10));
    assert!(departments.len() > 50, "hundreds of records, many pages");

    // Custom fields of one group, and groups with their fields embedded.
    let groups = state.all(Resource::CrewCustomFieldTemplateGroups);
    let group = &groups[1];
    let out = ok(
        &w.host,
        &c,
        "list-custom-fields",
        json!({"group_id": group["id"], "per_page": 7}),
    )
    .await;
    let expected: Vec<Value> = state
        .all(Resource::CrewCustomFieldTemplates)
        .into_iter()
        .filter(|t| t["group_id"] == group["id"])
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(out["custom_fields"], Value::Array(expected.clone()));
    assert_eq!(out["total_count"], expected.len());
    let out = ok(
        &w.host,
        &c,
        "list-custom-fields",
        json!({"embed_group": true, "page": 1, "per_page": 5}),
    )
    .await;
    assert_eq!(out["custom_fields"][0]["group"]["id"], groups[0]["id"]);
    assert_eq!(out["has_more"], true);
    assert_eq!(out["page"], 1);
    let out = ok(
        &w.host,
        &c,
        "list-custom-field-groups",
        json!({"embed_templates": true}),
    )
    .await;
    let embedded: usize = out["custom_field_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["templates"].as_array().unwrap().len())
        .sum();
    assert_eq!(
        embedded,
        state.all(Resource::CrewCustomFieldTemplates).len()
    );

    // Users come with their crew records (embed=crew) by default.
    let out = ok(&w.host, &c, "list-users", json!({})).await;
    let users = state.all(Resource::Users);
    assert_eq!(ids(&out["users"]), ids_of(&users));
    let linked = out["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["crew"].is_object())
        .unwrap();
    assert_eq!(
        linked["crew"],
        state.crew(linked["crew"]["id"].as_str().unwrap()).unwrap()
    );
    let sent = state.requests().last().unwrap().clone();
    assert_eq!(sent.param("embed").as_deref(), Some("crew"));
    let out = ok(
        &w.host,
        &c,
        "list-users",
        json!({"embed_crew": false, "page": 1, "per_page": 3}),
    )
    .await;
    assert_eq!(out["users"][0]["crew_id"], users[0]["crew_id"]);
    assert_eq!(out["users"].as_array().unwrap().len(), 3);

    // Every request went to the tenant's own host name.
    assert!(
        state
            .requests()
            .iter()
            .all(|r| r.host.as_deref() == Some("acme.smarthr.jp"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_employee_by_id_or_employee_code() {
    let w = world().await;
    let c = connect(&w.host, token("full"), None);
    let state = w.prod.state();
    let crew = state.crews()[123].clone();
    let out = ok(&w.host, &c, "read-employee", json!({"id": crew["id"]})).await;
    assert_eq!(out, crew);
    for field in [
        "emp_code",
        "emp_status",
        "departments",
        "employment_type",
        "custom_fields",
    ] {
        assert!(out.get(field).is_some(), "{field}");
    }
    let out = ok(
        &w.host,
        &c,
        "read-employee",
        json!({"emp_code": crew["emp_code"]}),
    )
    .await;
    assert_eq!(out, crew);
    let sent = state.requests().last().unwrap().clone();
    assert_eq!(sent.path, "/api/v1/crews");
    assert_eq!(sent.param("emp_code").as_deref(), crew["emp_code"].as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_employees_filters_and_pages() {
    let w = world().await;
    let c = connect(&w.host, token("full"), None);
    let state = w.prod.state();
    let crews = state.crews();
    let expected = |keep: &dyn Fn(&Value) -> bool| -> Vec<String> {
        ids_of(
            &crews
                .iter()
                .filter(|c| keep(c))
                .cloned()
                .collect::<Vec<_>>(),
        )
    };

    // Every page, at 25 a page: 12 requests for 300 crews.
    let from = state.request_count();
    let out = ok(&w.host, &c, "search-employees", json!({"per_page": 25})).await;
    assert_eq!(ids(&out["employees"]), ids_of(&crews));
    assert_eq!(out["total_count"], 300);
    assert_eq!(out["has_more"], false);
    let pages: Vec<String> = state
        .requests_to(from, "GET", "/api/v1/crews")
        .iter()
        .map(|r| r.param("page").unwrap())
        .collect();
    let want: Vec<String> = (1..=12).map(|p| p.to_string()).collect();
    assert_eq!(pages, want);

    // A limit stops early and says there is more.
    let from = state.request_count();
    let out = ok(
        &w.host,
        &c,
        "search-employees",
        json!({"per_page": 25, "limit": 60}),
    )
    .await;
    assert_eq!(ids(&out["employees"]), ids_of(&crews[..60]));
    assert_eq!(out["has_more"], true);
    assert_eq!(state.requests_to(from, "GET", "/api/v1/crews").len(), 3);

    // One page is one request.
    let from = state.request_count();
    let out = ok(
        &w.host,
        &c,
        "search-employees",
        json!({"page": 3, "per_page": 25}),
    )
    .await;
    assert_eq!(ids(&out["employees"]), ids_of(&crews[50..75]));
    assert_eq!(out["page"], 3);
    assert_eq!(out["has_more"], true);
    assert_eq!(state.requests_to(from, "GET", "/api/v1/crews").len(), 1);

    // Every documented filter reaches SmartHR and narrows the result.
    let out = ok(
        &w.host,
        &c,
        "search-employees",
        json!({"emp_status": "employed", "gender": "female", "emp_type": "full_timer",
               "entered_at_from": "2010-04-01", "entered_at_to": "2020-03-31"}),
    )
    .await;
    let want = expected(&|c| {
        let entered = c["entered_at"].as_str().unwrap();
        c["emp_status"] == "employed"
            && c["gender"] == "female"
            && c["employment_type"]["preset_type"] == "full_timer"
            && ("2010-04-01"..="2020-03-31").contains(&entered)
    });
    assert!(!want.is_empty());
    assert_eq!(ids(&out["employees"]), want);
    assert_eq!(out["total_count"], want.len());

    let target = &crews[77];
    let out = ok(
        &w.host,
        &c,
        "search-employees",
        json!({"q": target["last_name_yomi"]}),
    )
    .await;
    assert!(ids(&out["employees"]).contains(&target["id"].as_str().unwrap().to_string()));
    let out = ok(
        &w.host,
        &c,
        "search-employees",
        json!({"emp_code": target["emp_code"]}),
    )
    .await;
    assert_eq!(ids(&out["employees"]), [target["id"].as_str().unwrap()]);

    let out = ok(
        &w.host,
        &c,
        "search-employees",
        json!({"sort": "-entered_at", "fields": ["emp_code", "entered_at"], "limit": 20}),
    )
    .await;
    let got = out["employees"].as_array().unwrap();
    assert_eq!(got.len(), 20);
    for pair in got.windows(2) {
        assert!(pair[0]["entered_at"].as_str() >= pair[1]["entered_at"].as_str());
    }
    let mut keys: Vec<&String> = got[0].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["emp_code", "entered_at", "id"],
        "id is always asked for"
    );
    let sent = state.requests().last().unwrap().clone();
    assert_eq!(
        sent.param("fields").as_deref(),
        Some("id,emp_code,entered_at")
    );
    assert_eq!(sent.param("sort").as_deref(), Some("-entered_at"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn employees_are_created_updated_and_deleted() {
    let w = world().await;
    let c = connect(&w.host, token("full"), None);
    let state = w.prod.state();
    let dept = state.all(Resource::Departments)[30].clone();
    let etype = state.all(Resource::EmploymentTypes)[1].clone();
    let biz = state.all(Resource::BizEstablishments)[2].clone();
    let templates = state.all(Resource::CrewCustomFieldTemplates);
    let choice_field = templates.iter().find(|t| t["type"] == "enum").unwrap();
    let date_field = templates.iter().find(|t| t["type"] == "date").unwrap();
    let choice = &choice_field["elements"][2];

    let created = ok(
        &w.host,
        &c,
        "create-employee",
        json!({
            "last_name": "鈴木", "first_name": "一郎",
            "last_name_yomi": "スズキ", "first_name_yomi": "イチロウ",
            "emp_code": "A-0001", "gender": "male", "birth_at": "1990-07-15",
            "email": "ichiro.suzuki@acme.example", "entered_at": "2025-04-01",
            "employment_type_id": etype["id"], "biz_establishment_id": biz["id"],
            "department_ids": [dept["id"]], "position": "主任",
            "custom_fields": [
                {"template_id": choice_field["id"], "value": choice["id"]},
                {"template_id": date_field["id"], "value": "2024-10-01"}
            ]
        }),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(state.crew(&id).unwrap(), created, "SmartHR stored it");
    assert_eq!(created["emp_status"], "employed");
    assert_eq!(created["departments"][0]["id"], dept["id"]);
    assert_eq!(created["employment_type"]["name"], etype["name"]);
    assert_eq!(created["custom_fields"].as_array().unwrap().len(), 2);
    let post = state.requests_to(0, "POST", "/api/v1/crews");
    assert_eq!(post.len(), 1);
    assert_eq!(post[0].status, 201);

    let updated = ok(
        &w.host,
        &c,
        "update-employee",
        json!({"id": id, "emp_status": "retired", "resigned_at": "2025-12-31",
               "resigned_reason": "自己都合", "position": null,
               "custom_fields": [{"template_id": date_field["id"], "value": null}]}),
    )
    .await;
    assert_eq!(updated["emp_status"], "retired");
    assert_eq!(updated["resigned_at"], "2025-12-31");
    assert_eq!(updated["position"], Value::Null);
    assert_eq!(updated["last_name"], "鈴木", "fields not given are kept");
    assert_eq!(updated["custom_fields"].as_array().unwrap().len(), 1);
    assert_eq!(state.crew(&id).unwrap(), updated);
    let read = ok(&w.host, &c, "read-employee", json!({"id": id})).await;
    assert_eq!(read, updated);
    let found = ok(
        &w.host,
        &c,
        "search-employees",
        json!({"emp_code": "A-0001"}),
    )
    .await;
    assert_eq!(ids(&found["employees"]), std::slice::from_ref(&id));

    let deleted = ok(&w.host, &c, "delete-employee", json!({"id": id})).await;
    assert_eq!(deleted, json!({"id": id, "deleted": true}));
    assert!(state.crew(&id).is_none());
    match card_failure(run(&w.host, &c, "read-employee", json!({"id": id})).await) {
        CardFailure::NotFound { message } => assert!(message.contains(&id), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smarthrs_refusals_reach_the_flow_in_its_words() {
    let mut prod = config(TENANT, Environment::Production);
    prod.rate_limits = vec![RateLimit {
        requests: 1000,
        window: Duration::from_secs(3600),
    }];
    let w = world_with(prod).await;
    let state = w.prod.state();
    let crew = state.crews()[10].clone();

    // 401: a token SmartHR does not know.
    let bad = connect(&w.host, "shr_not_a_real_token", None);
    match card_failure(run(&w.host, &bad, "list-job-titles", json!({})).await) {
        CardFailure::Unauthorized { message } => {
            assert!(message.contains("unauthorized_token"), "{message}");
            assert!(
                !message.contains("shr_not_a_real_token"),
                "the token is never shown"
            );
        }
        other => panic!("{other:?}"),
    }

    // 403: a read-only token with every cardhost permission granted.
    let read_only = connect(&w.host, token("read-only"), None);
    match card_failure(
        run(
            &w.host,
            &read_only,
            "update-employee",
            json!({"id": crew["id"], "position": "部長"}),
        )
        .await,
    ) {
        CardFailure::Forbidden { message } => {
            assert!(message.contains("forbidden"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(state.crew(crew["id"].as_str().unwrap()).unwrap(), crew);

    // 404: no such crew.
    let full = connect(&w.host, token("full"), None);
    match card_failure(
        run(
            &w.host,
            &full,
            "read-employee",
            json!({"id": "00000000-0000-4000-8000-000000000000"}),
        )
        .await,
    ) {
        CardFailure::NotFound { message } => {
            assert!(
                message.contains("00000000-0000-4000-8000-000000000000"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    match card_failure(run(&w.host, &full, "read-employee", json!({"emp_code": "ZZZ"})).await) {
        CardFailure::NotFound { message } => assert!(message.contains("ZZZ"), "{message}"),
        other => panic!("{other:?}"),
    }

    // 400: SmartHR's field errors are quoted.
    match card_failure(
        run(
            &w.host,
            &full,
            "create-employee",
            json!({"last_name": "a", "first_name": "b", "emp_code": crew["emp_code"]}),
        )
        .await,
    ) {
        CardFailure::InvalidInput { message } => {
            assert!(
                message.contains("emp_code: has already been taken"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    let admin_crew = state
        .all(Resource::Users)
        .into_iter()
        .find(|u| u["admin"] == true)
        .unwrap()["crew_id"]
        .clone();
    match card_failure(run(&w.host, &full, "delete-employee", json!({"id": admin_crew})).await) {
        CardFailure::InvalidInput { message } => {
            assert!(message.contains("non_deletable_resource"), "{message}")
        }
        other => panic!("{other:?}"),
    }

    // 429: the hourly limit is spent. Its reset is far beyond what the host
    // waits, so the flow is told when to come back.
    state.set_rate_limits(vec![RateLimit {
        requests: 2,
        window: Duration::from_secs(3600),
    }]);
    ok(&w.host, &full, "list-job-titles", json!({"page": 1})).await;
    ok(&w.host, &full, "list-job-titles", json!({"page": 1})).await;
    match card_failure(run(&w.host, &full, "list-job-titles", json!({"page": 1})).await) {
        CardFailure::RateLimited {
            message,
            retry_after_seconds,
        } => {
            assert!(message.contains("too_many_requests"), "{message}");
            let wait = retry_after_seconds.expect("the reset is passed on");
            assert!(wait > 3000 && wait <= 3600, "{wait}");
        }
        other => panic!("{other:?}"),
    }
    let last = state.requests().last().unwrap().clone();
    assert_eq!(last.status, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_is_refused_before_any_request() {
    let w = world().await;
    let c = connect(&w.host, token("full"), None);
    let state = w.prod.state();
    let before = state.request_count();
    let some_id = state.crews()[0]["id"].clone();
    for (card, input, pointer) in [
        (
            "search-employees",
            json!({"emp_status": "fired"}),
            "/emp_status",
        ),
        ("search-employees", json!({"gender": "other"}), "/gender"),
        ("search-employees", json!({"emp_type": "boss"}), "/emp_type"),
        (
            "search-employees",
            json!({"entered_at_from": "2024/04/01"}),
            "/entered_at_from",
        ),
        ("search-employees", json!({"per_page": 500}), "/per_page"),
        ("search-employees", json!({"page": 0}), "/page"),
        (
            "search-employees",
            json!({"page": 2, "limit": 10}),
            "/limit",
        ),
        ("search-employees", json!({"sort": "a b"}), "/sort"),
        (
            "search-employees",
            json!({"fields": ["emp_code,last_name"]}),
            "/fields/0",
        ),
        ("search-employees", json!({"salary": 1}), ""),
        ("read-employee", json!({"id": "../users"}), "/id"),
        (
            "read-employee",
            json!({"id": some_id, "emp_code": "00001"}),
            "",
        ),
        ("read-employee", json!({}), ""),
        ("create-employee", json!({"first_name": "太郎"}), ""),
        (
            "create-employee",
            json!({"last_name": "", "first_name": "太郎"}),
            "/last_name",
        ),
        (
            "create-employee",
            json!({"last_name": "a", "first_name": "b", "email": "not-an-email"}),
            "/email",
        ),
        (
            "create-employee",
            json!({"last_name": "a", "first_name": "b", "custom_fields": [{"template_id": "t", "value": "x", "extra": 1}]}),
            "/custom_fields/0",
        ),
        ("update-employee", json!({"id": some_id}), ""),
        (
            "update-employee",
            json!({"id": some_id, "emp_status": "gone"}),
            "/emp_status",
        ),
        ("delete-employee", json!({"id": "a/b"}), "/id"),
        ("list-users", json!({"embed_crew": "yes"}), "/embed_crew"),
        (
            "list-custom-fields",
            json!({"group_id": "x?y"}),
            "/group_id",
        ),
    ] {
        let failed = run(&w.host, &c, card, input.clone()).await.unwrap_err();
        match &failed.kind {
            ErrorKind::InvalidInput { violations, .. } => {
                assert!(
                    violations.iter().any(|v| v.pointer == pointer),
                    "{card} {input}: {violations:?}"
                );
            }
            other => panic!("{card} {input}: {other}"),
        }
    }
    // What the schema cannot see, the connector refuses before sending.
    for (card, input) in [
        (
            "create-employee",
            json!({"last_name": "a", "first_name": "b", "entered_at": "2024-04-01", "resigned_at": "2024-03-31"}),
        ),
        (
            "search-employees",
            json!({"entered_at_from": "2024-04-01", "entered_at_to": "2023-04-01"}),
        ),
    ] {
        match card_failure(run(&w.host, &c, card, input).await) {
            CardFailure::InvalidInput { .. } => {}
            other => panic!("{card}: {other:?}"),
        }
    }
    assert_eq!(state.request_count(), before, "SmartHR saw nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_grant_is_refused_writes_by_the_host() {
    let w = world().await;
    let state = w.prod.state();
    let grant = default_grant(&w.host);
    assert!(
        grant.contains(&"crews-write".to_string()),
        "writes are granted by default"
    );
    let reads: Vec<&str> = grant
        .iter()
        .map(String::as_str)
        .filter(|p| *p != "crews-write")
        .collect();
    // Even a token that could write is held back by the grant.
    let c = connect(&w.host, token("full"), Some(&reads));
    let crew = state.crews()[5].clone();
    let before = state.request_count();
    for (card, input) in [
        (
            "update-employee",
            json!({"id": crew["id"], "emp_status": "retired"}),
        ),
        (
            "create-employee",
            json!({"last_name": "a", "first_name": "b"}),
        ),
        ("delete-employee", json!({"id": crew["id"]})),
    ] {
        let failed = run(&w.host, &c, card, input).await.unwrap_err();
        match &failed.kind {
            ErrorKind::Denied { kind, message, .. } => {
                assert_eq!(kind, "permission-missing", "{card}");
                assert!(message.contains("crews-write"), "{card}: {message}");
            }
            other => panic!("{card}: {other}"),
        }
        assert_eq!(failed.journal.denials.len(), 1);
    }
    assert_eq!(state.request_count(), before, "nothing reached SmartHR");
    assert_eq!(state.crew(crew["id"].as_str().unwrap()).unwrap(), crew);
    // Reads still work.
    let out = ok(&w.host, &c, "read-employee", json!({"id": crew["id"]})).await;
    assert_eq!(out, crew);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_reports_the_token_and_each_resource() {
    let w = world().await;
    let good = w
        .host
        .test_connection(&connect(&w.host, token("full"), None))
        .await
        .unwrap();
    assert!(good.ok, "{good:?}");
    assert_eq!(good.checks[0].name, "access token");
    assert_eq!(good.checks.len(), 1 + 8);
    assert!(good.checks.iter().all(|c| c.ok), "{good:?}");
    assert!(
        good.summary.contains("https://acme.smarthr.jp"),
        "{}",
        good.summary
    );
    let employees = good.checks.iter().find(|c| c.name == "employees").unwrap();
    assert!(
        employees.detail.contains("300 in total"),
        "{}",
        employees.detail
    );

    let bad = w
        .host
        .test_connection(&connect(&w.host, "shr_revoked_long_ago", None))
        .await
        .unwrap();
    assert!(!bad.ok);
    assert!(!bad.checks[0].ok);
    assert!(
        bad.checks[0].detail.contains("refused the access token"),
        "{}",
        bad.checks[0].detail
    );
    assert!(!bad.summary.contains("shr_revoked_long_ago"));

    // A token that may only touch crews: it works, and the report says what
    // it cannot read.
    let crews_only = w
        .host
        .test_connection(&connect(&w.host, token("crews-only"), None))
        .await
        .unwrap();
    assert!(crews_only.ok, "{crews_only:?}");
    let unreadable: Vec<&str> = crews_only
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(unreadable.len(), 7, "{crews_only:?}");
    assert!(
        crews_only.summary.contains("can read employees"),
        "{}",
        crews_only.summary
    );

    // An unknown tenant is named as such.
    let nobody = connection(
        &w.host,
        CONNECTOR,
        fields("production", "nobody"),
        &[("access_token", token("full"))],
        &["crews-read"],
    );
    let report = w.host.test_connection(&nobody).await.unwrap();
    assert!(!report.ok);
    assert!(report.checks[0].detail.contains("tenant_id"), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_connections_reach_the_sandbox_tenant() {
    let w = world().await;
    let sandbox = connection(
        &w.host,
        CONNECTOR,
        fields("sandbox", SANDBOX_TENANT),
        &[("access_token", token("full"))],
        &["crews-read", "crews-write"],
    );
    let prod_before = w.prod.state().request_count();
    let created = ok(
        &w.host,
        &sandbox,
        "create-employee",
        json!({"last_name": "試験", "first_name": "太郎", "emp_code": "SBX-1"}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    assert!(w.sandbox.state().crew(id).is_some());
    assert!(w.prod.state().crew(id).is_none());
    assert_eq!(
        w.prod.state().request_count(),
        prod_before,
        "production untouched"
    );
    let sent = w.sandbox.state().requests();
    assert_eq!(
        sent.last().unwrap().host.as_deref(),
        Some("acme-dev.daruma.space")
    );

    // The same tenant id on the other domain is another tenant.
    let wrong = connection(
        &w.host,
        CONNECTOR,
        fields("production", SANDBOX_TENANT),
        &[("access_token", token("full"))],
        &["crews-read"],
    );
    match card_failure(run(&w.host, &wrong, "read-employee", json!({"id": id})).await) {
        CardFailure::NotFound { message } => assert!(message.contains("acme-dev"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_ids_cannot_move_requests_to_other_hosts() {
    let w = world().await;
    let registry = w.host.registry();
    let loaded = registry.get(CONNECTOR).unwrap();
    for bad in [
        "acme.evil.example",
        "acme/../x",
        "evil.example#",
        "acme@evil.example",
        "acme:8443",
        "Acme",
        "-acme",
        "acme-",
        "",
    ] {
        let violations = loaded
            .manifest
            .check_connection_fields(&fields("production", bad))
            .expect_err(bad);
        assert!(
            violations.iter().any(|v| v.pointer == "/tenant_id"),
            "{bad}: {violations:?}"
        );
    }
    for bad_type in ["staging", ""] {
        assert!(
            loaded
                .manifest
                .check_connection_fields(&fields(bad_type, "acme"))
                .is_err()
        );
    }
    loaded
        .manifest
        .check_connection_fields(&fields("sandbox", "acme-dev"))
        .unwrap();

    // Even a connection that skipped the store's checks cannot reach
    // another host: the host builds the URL and refuses the value.
    let mut smuggled = connect(&w.host, token("full"), Some(&["crews-read"]));
    // Used once as it is, so its environment is resolved and kept; a change
    // of its fields must not reuse it.
    run(&w.host, &smuggled, "search-employees", json!({}))
        .await
        .unwrap();
    let before = w.prod.state().request_count();
    smuggled.fields = json!({"account_type": "production", "tenant_id": "evil.example/x"});
    let failed = run(&w.host, &smuggled, "search-employees", json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(failed.kind, ErrorKind::Connection { .. }),
        "{}",
        failed.kind
    );
    assert_eq!(w.prod.state().request_count(), before);

    // The store refuses such a connection, naming the field.
    let dir = tempfile::tempdir().unwrap();
    let store =
        SqliteStore::open(&dir.path().join("cardhost.db"), vec![MasterKey::generate()]).unwrap();
    let connections = Connections::new(w.host.clone(), Arc::new(store));
    let request = |tenant: &str| CreateConnection {
        connector: CONNECTOR.into(),
        name: "hr".into(),
        fields: fields("production", tenant),
        secrets: BTreeMap::from([("access_token".to_string(), Secret::new(token("full")))]),
        grant: None,
        auth_method: None,
    };
    match connections.create(request("acme.evil.example")).await {
        Err(ConnectionError::InvalidFields { violations, .. }) => {
            assert!(violations.iter().any(|v| v.pointer == "/tenant_id"));
        }
        other => panic!("{other:?}"),
    }
    assert!(connections.list().await.unwrap().is_empty());
    let record = connections.create(request("acme")).await.unwrap();
    assert!(record.granted.contains(&"crews-write".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_by_the_host_when_safe() {
    let w = world().await;
    let c = connect(&w.host, token("full"), None);
    let state = w.prod.state();

    // A 429 whose window resets at once: the host waits and retries.
    state.throttle_next(1, 0);
    let inv = run(&w.host, &c, "list-job-titles", json!({"page": 1}))
        .await
        .unwrap();
    assert_eq!(
        inv.output["job_titles"],
        Value::Array(state.all(Resource::JobTitles))
    );
    assert_eq!(inv.journal.calls[0].attempts, 2);
    let statuses: Vec<u16> = state
        .requests_to(0, "GET", "/api/v1/job_titles")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [429, 200]);

    // Maintenance on a read: retried.
    state.fail_next(1, 503);
    let inv = run(&w.host, &c, "list-departments", json!({"page": 1}))
        .await
        .unwrap();
    assert_eq!(inv.journal.calls[0].attempts, 2);

    // A 500 on a create may have been applied: not retried, reported.
    let before = state.crews().len();
    state.fail_next(1, 500);
    match card_failure(
        run(
            &w.host,
            &c,
            "create-employee",
            json!({"last_name": "a", "first_name": "b"}),
        )
        .await,
    ) {
        CardFailure::Upstream { status, message } => {
            assert_eq!(status, Some(500));
            assert!(message.contains("internal_server_error"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(state.requests_to(0, "POST", "/api/v1/crews").len(), 1);
    assert_eq!(state.crews().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walking_pages_faster_than_smarthr_allows_still_finishes() {
    // SmartHR's reported burst limit, 10 requests a second per token: 30
    // pages at 10 a page trip it, the host waits out `x-rate-limit-reset`
    // and the card still returns every crew.
    let mut prod = Config::new(TENANT, Environment::Production);
    prod.rate_limits = vec![RateLimit {
        requests: 10,
        window: Duration::from_secs(1),
    }];
    let w = world_with(prod).await;
    let c = connect(&w.host, token("full"), None);
    let state = w.prod.state();
    let out = ok(&w.host, &c, "search-employees", json!({"per_page": 10})).await;
    assert_eq!(ids(&out["employees"]), ids_of(&state.crews()));
    let answered = state.requests_to(0, "GET", "/api/v1/crews");
    assert_eq!(answered.iter().filter(|r| r.status == 200).count(), 30);
    // Whether the clock let a window end mid-walk depends on the machine;
    // every 429 there was got retried to a 200.
    let limited = answered.iter().filter(|r| r.status == 429).count();
    assert_eq!(answered.len(), 30 + limited);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hosts_custom_api_action_works_within_the_permissions() {
    let w = world().await;
    let c = connect(&w.host, token("full"), None);
    let out = ok(
        &w.host,
        &c,
        CUSTOM_API_ACTION,
        json!({"method": "GET", "relative_url": "/api/v1/job_titles", "query": {"per_page": 2}}),
    )
    .await;
    assert_eq!(out["status"], 200);
    assert_eq!(out["body"].as_array().unwrap().len(), 2);
    assert!(
        out["headers"]["link"]
            .as_str()
            .unwrap()
            .contains("rel=\"next\"")
    );
    let registry = w.host.registry();
    let manifest = &registry.get(CONNECTOR).unwrap().manifest;
    assert!(
        !manifest.cards.contains_key(CUSTOM_API_ACTION),
        "the connector does not declare its own"
    );
    // No permission covers writing users.
    let failed = run(
        &w.host,
        &c,
        CUSTOM_API_ACTION,
        json!({"method": "POST", "relative_url": "/api/v1/users", "body": {"email": "x@y.example"}}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&failed.kind, ErrorKind::Denied { kind, .. } if kind == "permission-missing"),
        "{}",
        failed.kind
    );
}
