//! The Advanced HR connector end to end: the real host runs the connector
//! against the Advanced HR emulator, which trusts tokens from the OAuth2
//! emulator standing in for OneAdvanced Identity. Expected values come from
//! the emulator's own state, never from constants copied into the test.

use crate::common::*;
use cardhost::connections::{ConnectionError, Connections, CreateConnection};
use cardhost::store::{MasterKey, SqliteStore};
use cardhost::{
    CardFailure, Cardhost, Connection, ErrorKind, InvokeError, Limits, NetworkPolicy, Secret,
};
use cardhost_e2e::guests;
use cardhost_emulators::advanced_hr::{self, DEMO_CLIENTS, Demo};
use cardhost_emulators::oauth::{self, GrantType};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const CONNECTOR: &str = "advanced-hr";

/// Generous limits: the machine is shared, and no test here measures speed.
fn limits() -> Limits {
    Limits {
        deadline_ms: 20_000,
        ..test_limits()
    }
}

async fn host() -> Cardhost {
    host_with(&[guests::ADVANCED_HR], limits(), NetworkPolicy::loopback()).await
}

fn secret_of(client_id: &str) -> &'static str {
    DEMO_CLIENTS
        .iter()
        .find(|(id, _, _)| *id == client_id)
        .map(|(_, secret, _)| *secret)
        .expect("a demo client")
}

fn fields(demo: &Demo, client_id: &str) -> Value {
    json!({
        "token_url": demo.identity.token_url(),
        "api_base_url": demo.api.api_url(),
        "client_id": client_id,
    })
}

fn default_grant(host: &Cardhost) -> Vec<String> {
    Cardhost::default_grant(host.registry().get(CONNECTOR).expect("loaded"))
}

/// A connection of a demo client with the connector's default grant.
fn demo_connection(host: &Cardhost, demo: &Demo, client_id: &str) -> Connection {
    let grant = default_grant(host);
    let grant: Vec<&str> = grant.iter().map(String::as_str).collect();
    connection(
        host,
        CONNECTOR,
        fields(demo, client_id),
        &[("client_secret", secret_of(client_id))],
        &grant,
    )
}

async fn run(
    host: &Cardhost,
    connection: &Connection,
    card: &str,
    input: Value,
) -> Result<cardhost::Invocation, Box<InvokeError>> {
    host.invoke(CONNECTOR, card, &input, Some(connection)).await
}

async fn ok(host: &Cardhost, connection: &Connection, card: &str, input: Value) -> Value {
    match run(host, connection, card, input).await {
        Ok(inv) => inv.output,
        Err(f) => panic!("{card} failed: {}", f),
    }
}

/// The card failure of a failed invocation.
fn card_failure(result: Result<cardhost::Invocation, Box<InvokeError>>) -> CardFailure {
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

fn employee_ids(employees: &[Value]) -> Vec<String> {
    employees
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

/// The emulator's requests to `path` (below the base path) since `from`.
fn requests_to(demo: &Demo, from: usize, path: &str) -> Vec<advanced_hr::RequestRecord> {
    demo.api.state().requests()[from..]
        .iter()
        .filter(|r| r.path.ends_with(path))
        .cloned()
        .collect()
}

fn query_param(record: &advanced_hr::RequestRecord, name: &str) -> Option<String> {
    url::form_urlencoded::parse(record.query.as_deref().unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_card_reads_what_the_security_group_allows() {
    let demo = advanced_hr::start_demo(0, 0).await.unwrap();
    let host = host().await;
    let full = demo_connection(&host, &demo, "cardhost-hr-full");
    let state = demo.api.state();
    let all = state.employees();

    // List Employees, every page.
    let out = ok(&host, &full, "list-employees", json!({})).await;
    assert_eq!(ids(&out["employees"]), employee_ids(&all));
    assert_eq!(out["total_count"], all.len());
    assert_eq!(out["has_more"], false);
    assert_eq!(out["employees"][0], all[0], "sensitive fields included");

    // Read Employee: the record as the emulator holds it.
    let out = ok(
        &host,
        &full,
        "read-employee",
        json!({"employee_id": "10042"}),
    )
    .await;
    assert_eq!(out, state.employee("10042").unwrap());

    // Search Employees by a last name with an apostrophe when the seed has one.
    let target = all
        .iter()
        .find(|e| e["lastName"].as_str().unwrap().contains('\''))
        .unwrap_or(&all[0]);
    let last = target["lastName"].as_str().unwrap();
    let out = ok(
        &host,
        &full,
        "search-employees",
        json!({"query": last.to_uppercase()}),
    )
    .await;
    let found = out["employees"].as_array().unwrap();
    assert!(ids(&out["employees"]).contains(&target["id"].as_str().unwrap().to_string()));
    let needle = last.to_lowercase();
    assert!(found.iter().all(|e| {
        ["firstName", "lastName", "preferredName", "workEmail"]
            .iter()
            .any(|f| e[f].as_str().unwrap_or("").to_lowercase().contains(&needle))
    }));
    assert_eq!(out["total_count"], found.len());

    // List Departments and List Positions.
    let out = ok(&host, &full, "list-departments", json!({})).await;
    assert_eq!(out["departments"], Value::Array(state.departments()));
    assert_eq!(out["has_more"], false);
    let out = ok(&host, &full, "list-positions", json!({})).await;
    assert_eq!(out["positions"], Value::Array(state.positions()));
    let out = ok(
        &host,
        &full,
        "list-positions",
        json!({"department_id": "DEP005"}),
    )
    .await;
    let expected: Vec<Value> = state
        .positions()
        .into_iter()
        .filter(|p| p["departmentId"] == "DEP005")
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(out["positions"], Value::Array(expected));

    // The Staff Directory group reads employees without sensitive fields.
    let directory = demo_connection(&host, &demo, "cardhost-directory");
    let out = ok(
        &host,
        &directory,
        "read-employee",
        json!({"employee_id": "10042"}),
    )
    .await;
    assert_eq!(out["id"], "10042");
    for field in advanced_hr::SENSITIVE_FIELDS {
        assert!(out.get(field).is_none(), "{field} is hidden");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_cards_walk_pages_and_stop_at_the_limit() {
    let demo = advanced_hr::start_demo(0, 0).await.unwrap();
    let host = host().await;
    let c = demo_connection(&host, &demo, "cardhost-directory");
    let all = employee_ids(&demo.api.state().employees());

    // Every page at 30 a page: 7 requests for 200 employees, in order.
    let before = demo.api.state().request_count();
    let out = ok(&host, &c, "list-employees", json!({"page_size": 30})).await;
    assert_eq!(ids(&out["employees"]), all);
    assert_eq!(out["has_more"], false);
    assert_eq!(out["total_pages"], 7);
    let pages: Vec<String> = requests_to(&demo, before, "/employees")
        .iter()
        .map(|r| query_param(r, "page").unwrap())
        .collect();
    assert_eq!(pages, ["1", "2", "3", "4", "5", "6", "7"]);

    // A limit stops the walk as soon as it is reached.
    let before = demo.api.state().request_count();
    let out = ok(
        &host,
        &c,
        "list-employees",
        json!({"page_size": 40, "limit": 150}),
    )
    .await;
    assert_eq!(ids(&out["employees"]), all[..150]);
    assert_eq!(out["has_more"], true);
    assert_eq!(out["total_count"], all.len());
    assert_eq!(requests_to(&demo, before, "/employees").len(), 4);

    // One page when asked for one.
    let out = ok(
        &host,
        &c,
        "list-employees",
        json!({"page": 3, "page_size": 50}),
    )
    .await;
    assert_eq!(ids(&out["employees"]), all[100..150]);
    assert_eq!(out["page"], 3);
    assert_eq!(out["total_pages"], 4);
    assert_eq!(out["has_more"], true);
    let out = ok(
        &host,
        &c,
        "list-employees",
        json!({"page": 4, "page_size": 50}),
    )
    .await;
    assert_eq!(ids(&out["employees"]), all[150..]);
    assert_eq!(out["has_more"], false);

    // Departments across pages of the connector's own size, cut by a limit.
    let out = ok(&host, &c, "list-departments", json!({"limit": 5})).await;
    assert_eq!(out["departments"].as_array().unwrap().len(), 5);
    assert_eq!(out["has_more"], true);
    assert_eq!(out["total_count"], 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_reach_the_api_and_bad_ones_are_refused_early() {
    let demo = advanced_hr::start_demo(0, 0).await.unwrap();
    let host = host().await;
    let c = demo_connection(&host, &demo, "cardhost-hr-full");
    let all = demo.api.state().employees();

    let leavers: Vec<String> = employee_ids(
        &all.iter()
            .filter(|e| e["status"] == "Leaver")
            .cloned()
            .collect::<Vec<_>>(),
    );
    assert!(!leavers.is_empty());
    let out = ok(&host, &c, "list-employees", json!({"status": "Leaver"})).await;
    assert_eq!(ids(&out["employees"]), leavers);

    // Department and status combine with AND.
    let expected: Vec<Value> = all
        .iter()
        .filter(|e| e["departmentId"] == "DEP005" && e["status"] == "Active")
        .cloned()
        .collect();
    let out = ok(
        &host,
        &c,
        "list-employees",
        json!({"department_id": "DEP005", "status": "Active"}),
    )
    .await;
    assert_eq!(ids(&out["employees"]), employee_ids(&expected));

    // updated_since with an offset: compare with the emulator's own clock.
    let mut stamps: Vec<&str> = all
        .iter()
        .map(|e| e["updatedAt"].as_str().unwrap())
        .collect();
    stamps.sort();
    let median = stamps[stamps.len() / 2];
    let since = advanced_hr::parse_timestamp(median).unwrap();
    let expected: Vec<Value> = all
        .iter()
        .filter(|e| {
            advanced_hr::parse_timestamp(e["updatedAt"].as_str().unwrap()).unwrap() >= since
        })
        .cloned()
        .collect();
    // The same moment written in UTC+01:00.
    let shifted = {
        let (date, time) = median.trim_end_matches('Z').split_once('T').unwrap();
        let hour: u32 = time[..2].parse().unwrap();
        assert!(hour < 23, "seed times are office hours");
        format!("{date}T{:02}{}+01:00", hour + 1, &time[2..])
    };
    let before = demo.api.state().request_count();
    let out = ok(
        &host,
        &c,
        "list-employees",
        json!({"updated_since": shifted}),
    )
    .await;
    assert_eq!(ids(&out["employees"]), employee_ids(&expected));
    let sent = &requests_to(&demo, before, "/employees")[0];
    assert_eq!(
        query_param(sent, "updatedSince").as_deref(),
        Some(&*shifted)
    );

    // An update in Advanced HR shows up in an incremental read.
    assert!(demo.api.state().update_employee("10007", |e| {
        e.insert("jobTitle".into(), json!("Data Analyst"));
    }));
    let out = ok(
        &host,
        &c,
        "list-employees",
        json!({"updated_since": "2030-01-01"}),
    )
    .await;
    assert_eq!(out["employees"], json!([]), "nothing changes in the future");
    let out = ok(
        &host,
        &c,
        "list-employees",
        json!({"updated_since": demo.api.state().employee("10007").unwrap()["updatedAt"]}),
    )
    .await;
    assert!(ids(&out["employees"]).contains(&"10007".to_string()));

    // Refused by the schema, before the connector runs.
    let before = demo.api.state().request_count();
    match run(&host, &c, "list-employees", json!({"status": "Retired"}))
        .await
        .map_err(|f| f.kind)
    {
        Err(ErrorKind::InvalidInput { violations, .. }) => {
            assert_eq!(violations[0].pointer, "/status");
        }
        other => panic!("{other:?}"),
    }
    // Refused by the connector, before any request.
    match card_failure(
        run(
            &host,
            &c,
            "list-employees",
            json!({"updated_since": "01/05/2024"}),
        )
        .await,
    ) {
        CardFailure::InvalidInput { message } => assert!(message.contains("updated_since")),
        other => panic!("{other:?}"),
    }
    match card_failure(run(&host, &c, "list-employees", json!({"page": 1, "limit": 5})).await) {
        CardFailure::InvalidInput { message } => assert!(message.contains("not both")),
        other => panic!("{other:?}"),
    }
    assert_eq!(demo.api.state().request_count(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_cached_across_invocations_and_fetched_again_after_expiry() {
    let demo = advanced_hr::start_demo(0, 0).await.unwrap();
    let host = host().await;
    let c = demo_connection(&host, &demo, "cardhost-directory");
    let identity = demo.identity.state();
    let fetches = || identity.token_request_count(GrantType::ClientCredentials);

    let first = run(&host, &c, "list-departments", json!({})).await.unwrap();
    assert_eq!(fetches(), 1);
    assert_eq!(first.journal.refreshes, 0);

    // Later invocations reuse the token: no request reaches the token endpoint.
    for card in ["list-positions", "list-departments"] {
        let inv = run(&host, &c, card, json!({})).await.unwrap();
        assert_eq!(inv.journal.refreshes, 0);
    }
    assert_eq!(fetches(), 1, "the cached token is reused");
    let requests = identity.token_requests();
    assert_eq!(requests[0].client_id.as_deref(), Some("cardhost-directory"));
    assert_eq!(
        requests[0].auth_method,
        Some(oauth::ClientAuthMethod::ClientSecretPost)
    );

    // Identity expires every token early: the API answers 401, the host
    // fetches a new token once and the card still succeeds.
    identity.expire_access_tokens();
    let before = demo.api.state().request_count();
    let inv = run(&host, &c, "list-departments", json!({})).await.unwrap();
    assert_eq!(inv.output["total_count"], 12);
    assert_eq!(inv.journal.refreshes, 1);
    assert_eq!(fetches(), 2);
    let statuses: Vec<u16> = demo.api.state().requests()[before..]
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [401, 200]);

    // And the new token is cached in turn.
    run(&host, &c, "list-positions", json!({})).await.unwrap();
    assert_eq!(fetches(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_about_to_expire_is_replaced_before_it_is_used() {
    // Tokens that live 45 s are inside the host's expiry margin at once, so
    // every invocation fetches a fresh one instead of sending one the API
    // may refuse mid-walk.
    let mut config = oauth::Config::keycloak(advanced_hr::DEMO_REALM)
        .access_token_lifetime(Duration::from_secs(45));
    config.clients = advanced_hr::demo_clients();
    let identity = oauth::start(config).await.unwrap();
    let api = advanced_hr::start(advanced_hr::Config::new(identity.validator()))
        .await
        .unwrap();
    let demo = Demo { identity, api };
    let host = host().await;
    let c = demo_connection(&host, &demo, "cardhost-org-structure");
    for expected in 1..=3 {
        let inv = run(&host, &c, "list-positions", json!({})).await.unwrap();
        assert_eq!(inv.journal.refreshes, 0);
        assert_eq!(
            demo.identity
                .state()
                .token_request_count(GrantType::ClientCredentials),
            expected
        );
    }
    assert!(
        demo.api.state().requests().iter().all(|r| r.status == 200),
        "no request went out with a stale token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_come_back_as_typed_errors() {
    let demo = advanced_hr::start_demo(0, 0).await.unwrap();
    let host = host().await;
    let full = demo_connection(&host, &demo, "cardhost-hr-full");

    // 403: the security group lacks employees; departments still work.
    let org = demo_connection(&host, &demo, "cardhost-org-structure");
    match card_failure(run(&host, &org, "list-employees", json!({})).await) {
        CardFailure::Forbidden { message } => {
            assert!(message.contains("Org Structure"), "{message}");
            assert!(message.contains("Advanced HR administrator"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    ok(&host, &org, "list-departments", json!({})).await;
    // A client bound to no group is refused everything.
    let nobody = demo_connection(&host, &demo, "cardhost-unassigned");
    match card_failure(run(&host, &nobody, "list-positions", json!({})).await) {
        CardFailure::Forbidden { message } => assert!(message.contains("not bound"), "{message}"),
        other => panic!("{other:?}"),
    }

    // 404: no such employee.
    match card_failure(
        run(
            &host,
            &full,
            "read-employee",
            json!({"employee_id": "99999"}),
        )
        .await,
    ) {
        CardFailure::NotFound { message } => assert!(message.contains("99999"), "{message}"),
        other => panic!("{other:?}"),
    }

    // 429 with a short Retry-After: the host waits and retries the read.
    demo.api.state().throttle_next(1, 1);
    let inv = run(&host, &full, "list-departments", json!({}))
        .await
        .unwrap();
    assert_eq!(inv.journal.calls[0].attempts, 2);
    assert_eq!(inv.journal.calls[0].status, Some(200));
    // 429 asking for longer than the host waits: the card reports it.
    demo.api.state().throttle_next(1, 600);
    match card_failure(run(&host, &full, "list-departments", json!({})).await) {
        CardFailure::RateLimited {
            retry_after_seconds,
            message,
        } => {
            assert_eq!(retry_after_seconds, Some(600));
            assert!(message.contains("600"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    // 401 twice: the host fetches a new token once, then reports the 401.
    let identity = demo.identity.state();
    let fetched = identity.token_request_count(GrantType::ClientCredentials);
    demo.api.state().fail_next(2, 401);
    let failed = run(&host, &full, "list-departments", json!({}))
        .await
        .unwrap_err();
    assert_eq!(failed.journal.refreshes, 1);
    assert!(
        matches!(
            &failed.kind,
            ErrorKind::Card(CardFailure::Unauthorized { .. })
        ),
        "{}",
        failed.kind
    );
    assert_eq!(
        identity.token_request_count(GrantType::ClientCredentials),
        fetched + 1
    );

    // The API client is deleted in Advanced HR: its token stops working and
    // no new one is issued. The host says so instead of looping.
    assert!(identity.remove_client("cardhost-directory"));
    let directory = demo_connection(&host, &demo, "cardhost-directory");
    let failed = run(&host, &directory, "list-departments", json!({}))
        .await
        .unwrap_err();
    match &failed.kind {
        ErrorKind::Denied { kind, message, .. } => {
            assert_eq!(kind, "credentials-unavailable");
            assert!(message.contains("invalid_client"), "{message}");
        }
        other => panic!("{other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_overrides_need_the_tenant_paths_permission() {
    let demo = advanced_hr::start_demo(0, 0).await.unwrap();
    let host = host().await;
    let mut f = fields(&demo, "cardhost-hr-full");
    f["departments_path"] = json!("/org/departments");
    let secret = [("client_secret", secret_of("cardhost-hr-full"))];
    let grant = default_grant(&host);
    assert!(!grant.contains(&"tenant-paths-read".to_string()));
    let grant_refs: Vec<&str> = grant.iter().map(String::as_str).collect();
    let narrow = connection(&host, CONNECTOR, f.clone(), &secret, &grant_refs);

    let before = demo.api.state().request_count();
    match card_failure(run(&host, &narrow, "list-departments", json!({})).await) {
        CardFailure::Forbidden { message } => {
            assert!(message.contains("tenant-paths-read"), "{message}");
            assert!(message.contains("departments_path"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(demo.api.state().request_count(), before, "nothing was sent");

    // Granted, the request goes to the tenant's path (which this emulator
    // does not serve, so the card points at the field to check).
    let mut wide_grant = grant_refs.clone();
    wide_grant.push("tenant-paths-read");
    let wide = connection(&host, CONNECTOR, f, &secret, &wide_grant);
    match card_failure(run(&host, &wide, "list-departments", json!({})).await) {
        CardFailure::NotFound { message } => {
            assert!(message.contains("departments_path"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    let sent = demo.api.state().requests();
    assert_eq!(sent.last().unwrap().path, "/org/departments");
    // Areas left at their default paths are unaffected.
    ok(&host, &wide, "list-positions", json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_client_ids_are_rejected_when_the_connection_is_created() {
    let demo = advanced_hr::start_demo(0, 0).await.unwrap();
    let host = Arc::new(host().await);

    // The connection schema carries OneAdvanced's rule: lowercase letters
    // and hyphens only.
    let registry = host.registry();
    let loaded = registry.get(CONNECTOR).unwrap();
    for bad in [
        "Payroll-Sync",
        "payroll_sync",
        "payroll sync",
        "payroll-",
        "-payroll",
        "payroll--sync",
        "payroll2",
        "",
    ] {
        let violations = loaded
            .manifest
            .check_connection_fields(&fields(&demo, bad))
            .expect_err(bad);
        assert!(
            violations.iter().any(|v| v.pointer == "/client_id"),
            "{bad}: {violations:?}"
        );
    }
    for good in ["payroll", "payroll-sync", "cardhost-hr-full"] {
        loaded
            .manifest
            .check_connection_fields(&fields(&demo, good))
            .unwrap_or_else(|v| panic!("{good}: {v:?}"));
    }

    // The store refuses such a connection, naming the field, and keeps none.
    let dir = tempfile::tempdir().unwrap();
    let store =
        SqliteStore::open(&dir.path().join("cardhost.db"), vec![MasterKey::generate()]).unwrap();
    let connections = Connections::new(host.clone(), Arc::new(store));
    let request = |name: &str, client_id: &str| CreateConnection {
        connector: CONNECTOR.into(),
        name: name.into(),
        fields: fields(&demo, client_id),
        secrets: BTreeMap::from([(
            "client_secret".to_string(),
            Secret::new(secret_of("cardhost-hr-full")),
        )]),
        grant: None,
        auth_method: None,
    };
    match connections.create(request("hr", "Cardhost_HR_Full")).await {
        Err(ConnectionError::InvalidFields { violations, .. }) => {
            assert!(violations.iter().any(|v| v.pointer == "/client_id"));
        }
        other => panic!("{other:?}"),
    }
    assert!(connections.list().await.unwrap().is_empty());

    // A well-formed id is stored with the default grant and works.
    let record = connections
        .create(request("hr", "cardhost-hr-full"))
        .await
        .unwrap();
    assert_eq!(record.granted, default_grant(&host));
    assert!(!record.granted.contains(&"tenant-paths-read".to_string()));
    let inv = connections
        .invoke("hr", "read-employee", &json!({"employee_id": "10001"}))
        .await
        .unwrap();
    assert_eq!(inv.output["id"], "10001");
    let report = connections.test("hr").await.unwrap();
    assert!(report.ok, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_reports_what_the_client_can_and_cannot_read() {
    let demo = advanced_hr::start_demo(0, 0).await.unwrap();
    let host = host().await;
    let report = |client: &str| {
        let c = demo_connection(&host, &demo, client);
        let host = &host;
        async move { host.test_connection(&c).await.expect("the test runs") }
    };
    let check = |r: &cardhost::wit::ConnectionReport, name: &str| {
        r.checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no `{name}` check in {r:?}"))
            .clone()
    };

    let full = report("cardhost-hr-full").await;
    assert!(full.ok, "{full:?}");
    assert_eq!(
        full.summary,
        "API client `cardhost-hr-full` can read employees, departments, positions"
    );
    let employees = check(&full, "employees");
    assert!(employees.detail.contains("200 in total"), "{employees:?}");
    assert!(employees.detail.contains("are visible"), "{employees:?}");

    let directory = report("cardhost-directory").await;
    assert!(directory.ok);
    assert!(check(&directory, "employees").detail.contains("hidden"));

    let org = report("cardhost-org-structure").await;
    assert!(org.ok, "readable areas make a working connection");
    assert_eq!(
        org.summary,
        "API client `cardhost-org-structure` can read departments, positions; cannot read employees"
    );
    let employees = check(&org, "employees");
    assert!(!employees.ok);
    assert!(employees.detail.contains("Org Structure"), "{employees:?}");
    assert!(check(&org, "token").ok);

    let nobody = report("cardhost-unassigned").await;
    assert!(!nobody.ok);
    assert!(check(&nobody, "token").ok, "the token itself is fine");
    assert!(
        nobody.summary.contains("may read none"),
        "{}",
        nobody.summary
    );

    // A wrong secret: the token endpoint's answer is quoted, the secret never.
    let wrong_secret = "not-the-secret-9d1e";
    let grant = default_grant(&host);
    let grant: Vec<&str> = grant.iter().map(String::as_str).collect();
    let c = connection(
        &host,
        CONNECTOR,
        fields(&demo, "cardhost-hr-full"),
        &[("client_secret", wrong_secret)],
        &grant,
    );
    let bad = host.test_connection(&c).await.unwrap();
    assert!(!bad.ok);
    let token = check(&bad, "token");
    assert!(!token.ok);
    assert!(token.detail.contains("invalid_client"), "{token:?}");
    let text = format!("{bad:?}");
    assert!(!text.contains(wrong_secret), "secret leaked: {text}");

    // Areas the connection was not granted are reported, not tried.
    let only = connection(
        &host,
        CONNECTOR,
        fields(&demo, "cardhost-hr-full"),
        &[("client_secret", secret_of("cardhost-hr-full"))],
        &["departments-read"],
    );
    let before = demo.api.state().request_count();
    let partial = host.test_connection(&only).await.unwrap();
    assert!(partial.ok);
    assert!(
        check(&partial, "employees")
            .detail
            .contains("employees-read")
    );
    let sent: Vec<String> = demo.api.state().requests()[before..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(sent, ["/departments"]);
}
