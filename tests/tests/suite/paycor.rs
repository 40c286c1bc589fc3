//! The Paycor connector end to end: the real host runs the connector against
//! the Paycor emulator, reached through operator routes that send Paycor's
//! real host names (`apis-sandbox.paycor.com`, `hcm-demo.paycor.com`, and
//! the production ones) to it. Connections are authorized with the
//! authorization-code flow with PKCE against the emulator's consent page and
//! token endpoint; expected values come from the emulator's own state.

use crate::common::*;
use cardhost::connections::{Connections, CreateConnection};
use cardhost::store::{ConnectionState, MasterKey, SqliteStore, Store};
use cardhost::{
    CardFailure, Cardhost, Connection, ErrorKind, InvokeError, Limits, NetworkPolicy, Route, Secret,
};
use cardhost_e2e::guests;
use cardhost_emulators::oauth::{GrantType, TokenKind, pkce_challenge};
use cardhost_emulators::paycor::{
    self, Casing, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_LEGAL_ENTITY, DEMO_REDIRECT_URI,
    DEMO_SUBSCRIPTION_KEY, DEMO_TENANT, Paycor, RateLimit, SCOPE_EMPLOYEES_ONLY, SCOPE_FULL,
    SECOND_LEGAL_ENTITY,
};
use cardhost_runtime::credentials::TokenSet;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const CONNECTOR: &str = "paycor";
const VERIFIER: &str = "e2e-verifier-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG";

/// Generous limits: the machine is shared, and no test here measures speed.
fn limits() -> Limits {
    Limits {
        deadline_ms: 30_000,
        max_response_body_bytes: 8 << 20,
        max_output_bytes: 8 << 20,
        ..test_limits()
    }
}

/// Loopback allowed, Paycor's hosts routed to the emulator, short backoff,
/// and waits of more than two seconds not honoured.
fn network(paycor: &Paycor) -> NetworkPolicy {
    let routes = [
        "apis-sandbox.paycor.com",
        "hcm-demo.paycor.com",
        "apis.paycor.com",
        "hcm.paycor.com",
    ]
    .iter()
    .map(|host| Route {
        host: host.to_string(),
        to: paycor.url(),
    })
    .collect();
    NetworkPolicy {
        routes,
        backoff_base_ms: 20,
        max_retry_wait_ms: 2_000,
        ..NetworkPolicy::loopback()
    }
}

struct World {
    paycor: Paycor,
    host: Arc<Cardhost>,
}

async fn world_with(config: paycor::Config) -> World {
    let paycor = paycor::start(config).await.unwrap();
    let host = host_with(&[guests::PAYCOR], limits(), network(&paycor)).await;
    World {
        paycor,
        host: Arc::new(host),
    }
}

async fn world() -> World {
    world_with(paycor::Config::demo()).await
}

fn fields(scope: &str, sandbox: bool) -> Value {
    json!({
        "sandbox": sandbox,
        "client_id": DEMO_CLIENT_ID,
        "scope_id": scope,
        "legal_entity_id": DEMO_LEGAL_ENTITY,
    })
}

fn secrets(key: &str) -> BTreeMap<String, Secret> {
    BTreeMap::from([
        ("client_secret".to_string(), Secret::new(DEMO_CLIENT_SECRET)),
        ("subscription_key".to_string(), Secret::new(key)),
    ])
}

fn every_permission(host: &Cardhost) -> Vec<String> {
    let registry = host.registry();
    let loaded = registry.get(CONNECTOR).expect("loaded");
    loaded.manifest.permissions.keys().cloned().collect()
}

fn default_grant(host: &Cardhost) -> Vec<String> {
    Cardhost::default_grant(host.registry().get(CONNECTOR).expect("loaded"))
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Drives the consent page (auto-approved) as a browser would and returns
/// the code from the redirect. `url` may name Paycor's real host: the
/// request goes to the emulator with that path and query.
async fn consent(paycor: &Paycor, url: &str) -> (String, String) {
    let parsed = url::Url::parse(url).unwrap();
    let local = format!(
        "{}{}?{}",
        paycor.url(),
        parsed.path(),
        parsed.query().unwrap_or("")
    );
    let answer = http().get(local).send().await.unwrap();
    assert_eq!(answer.status(), 302, "the emulator approves at once");
    let location = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    let q: BTreeMap<String, String> = location.query_pairs().into_owned().collect();
    (q["code"].clone(), q["state"].clone())
}

/// A connection authorized for `scope` with the host's own code exchange
/// (`TokenManager::exchange_code`), granted `grant`.
async fn connect(world: &World, scope: &str, grant: &[String]) -> Connection {
    connect_with(world, fields(scope, true), grant).await
}

async fn connect_with(world: &World, fields: Value, grant: &[String]) -> Connection {
    let host = &world.host;
    let registry = host.registry();
    let loaded = registry.get(CONNECTOR).expect("loaded");
    let credentials = host
        .credentials(
            loaded,
            None,
            &fields,
            secrets(DEMO_SUBSCRIPTION_KEY),
            TokenSet::default(),
            None,
        )
        .expect("credentials");
    let scope = format!("{} offline_access", fields["scope_id"].as_str().unwrap());
    let mut authorize =
        url::Url::parse("https://hcm-demo.paycor.com/AppActivation/Authorize").unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("client_id", DEMO_CLIENT_ID)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", DEMO_REDIRECT_URI)
        .append_pair("scope", &scope)
        .append_pair("state", "e2e")
        .append_pair("code_challenge", &pkce_challenge(VERIFIER))
        .append_pair("code_challenge_method", "S256")
        .append_pair("subscription-key", DEMO_SUBSCRIPTION_KEY);
    let (code, state) = consent(&world.paycor, authorize.as_str()).await;
    assert_eq!(state, "e2e");
    let tokens = credentials
        .tokens()
        .expect("an OAuth2 connection")
        .exchange_code(
            host.broker().transport(),
            &code,
            VERIFIER,
            DEMO_REDIRECT_URI,
        )
        .await
        .expect("the code is exchanged");
    assert!(tokens.refresh_token.is_some());
    Connection {
        id: Some(format!("conn-{}", fields["scope_id"].as_str().unwrap())),
        connector: CONNECTOR.into(),
        fields,
        granted: grant.to_vec(),
        credentials: Some(Arc::new(credentials)),
        resolved: Default::default(),
    }
}

async fn run(
    world: &World,
    connection: &Connection,
    card: &str,
    input: Value,
) -> Result<cardhost::Invocation, Box<InvokeError>> {
    world
        .host
        .invoke(CONNECTOR, card, &input, Some(connection))
        .await
}

async fn ok(world: &World, connection: &Connection, card: &str, input: Value) -> Value {
    match run(world, connection, card, input).await {
        Ok(invocation) => invocation.output,
        Err(f) => panic!("{card} failed: {}\nlogs: {:?}", f, f.logs),
    }
}

async fn card_failure(
    world: &World,
    connection: &Connection,
    card: &str,
    input: Value,
) -> CardFailure {
    match run(world, connection, card, input).await {
        Err(f) => match f.kind {
            ErrorKind::Card(failure) => failure,
            other => panic!("{card}: expected a card failure, got {other}"),
        },
        Ok(inv) => panic!("{card} succeeded: {}", inv.output),
    }
}

/// API requests (not OAuth2 ones) the emulator has seen.
fn api_requests(paycor: &Paycor) -> usize {
    paycor
        .state()
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/v1/"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_card_through_the_host() {
    let world = world().await;
    let state = world.paycor.state();
    let conn = connect(&world, SCOPE_FULL, &every_permission(&world.host)).await;

    let le = ok(
        &world,
        &conn,
        "read-legal-entity",
        json!({"include": ["BusinessNames"]}),
    )
    .await;
    assert_eq!(le["id"], DEMO_LEGAL_ENTITY);
    assert_eq!(le["name"], "Buckeye Outfitters LLC");
    assert_eq!(le["tenant"]["id"], DEMO_TENANT.to_string());
    assert!(le["businessNames"][0]["addresses"].is_array());
    let other = ok(
        &world,
        &conn,
        "read-legal-entity",
        json!({"legal_entity_id": SECOND_LEGAL_ENTITY}),
    )
    .await;
    assert_eq!(other["name"], "Buckeye Logistics Inc.");

    // One page, with filters and includes.
    let ids = state.employee_ids(DEMO_LEGAL_ENTITY);
    let page = ok(&world, &conn, "list-employees", json!({"one_page": true})).await;
    assert_eq!(page["count"], 200);
    assert_eq!(page["has_more"], true);
    assert!(page["continuation_token"].is_string());
    assert_eq!(page["employees"][0]["id"], ids[0]);
    let terminated: Vec<String> = ids
        .iter()
        .filter(|id| state.employee(id).unwrap()["StatusData"]["Status"] == "Terminated")
        .cloned()
        .collect();
    let listed = ok(
        &world,
        &conn,
        "list-employees",
        json!({"status": "Terminated", "include": ["Status", "EmploymentDates"], "email_type": "Home"}),
    )
    .await;
    let got: Vec<&str> = listed["employees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, terminated);
    assert_eq!(listed["employees"][0]["statusData"]["status"], "Terminated");
    assert!(listed["employees"][0]["employmentDateData"]["terminationDate"].is_string());
    assert_eq!(listed["employees"][0]["email"]["type"], "Home");
    let by_number = ok(
        &world,
        &conn,
        "list-employees",
        json!({"employee_number": 1042}),
    )
    .await;
    assert_eq!(by_number["count"], 1);
    assert_eq!(by_number["employees"][0]["employeeNumber"], "1042");

    // Read Employee, Read Person both ways, Read Department.
    let id = &ids[12];
    let expected = state.employee(id).unwrap();
    let employee = ok(
        &world,
        &conn,
        "read-employee",
        json!({"employee_id": id, "include": ["Position", "WorkLocation"]}),
    )
    .await;
    assert_eq!(employee["firstName"], expected["FirstName"]);
    assert_eq!(
        employee["positionData"]["jobTitle"],
        expected["PositionData"]["JobTitle"]
    );
    assert_eq!(
        employee["workLocation"]["name"],
        expected["WorkLocation"]["Name"]
    );
    assert_eq!(employee["statusData"], Value::Null, "not asked for");
    let person = ok(
        &world,
        &conn,
        "read-person",
        json!({"employee_id": id, "include": ["Phones", "Demographic"]}),
    )
    .await;
    let expected_person = state.person_of(id).unwrap();
    assert_eq!(person["id"], expected_person["Id"]);
    assert_eq!(
        person["phones"][0]["phoneNumber"],
        expected_person["Phones"][0]["PhoneNumber"]
    );
    assert!(person["demographicData"]["birthDate"].is_string());
    let same = ok(
        &world,
        &conn,
        "read-person",
        json!({"tenant_id": DEMO_TENANT, "person_id": person["id"], "include": ["SocialSecurityNumber"]}),
    )
    .await;
    assert_eq!(same["lastName"], person["lastName"]);
    assert_eq!(
        same["socialSecurityNumber"],
        expected_person["SocialSecurityNumber"]
    );

    let departments = ok(&world, &conn, "list-departments", json!({})).await;
    let expected_departments = state.departments(DEMO_LEGAL_ENTITY);
    assert_eq!(departments["count"], expected_departments.len());
    assert_eq!(departments["has_more"], false);
    let department_id = employee["department"]["id"].as_str().unwrap();
    let department = ok(
        &world,
        &conn,
        "read-department",
        json!({"department_id": department_id}),
    )
    .await;
    let expected_department = expected_departments
        .iter()
        .find(|d| d["Id"] == department_id)
        .unwrap();
    assert_eq!(
        department["description"],
        expected_department["Description"]
    );
    assert_eq!(department["code"], expected_department["Code"]);

    // Every call carried the key as a header and went to the sandbox host.
    let requests = state.requests();
    let api: Vec<_> = requests
        .iter()
        .filter(|r| r.path.starts_with("/v1/"))
        .collect();
    assert!(api.iter().all(|r| r.status == 200), "{api:?}");
    assert!(api.iter().all(|r| {
        r.subscription_key.as_deref() == Some(DEMO_SUBSCRIPTION_KEY)
            && r.host.as_deref() == Some("apis-sandbox.paycor.com")
            && !r
                .query
                .as_deref()
                .unwrap_or("")
                .contains("subscription-key")
    }));
    let token = requests
        .iter()
        .find(|r| r.path == paycor::TOKEN_PATH)
        .unwrap();
    assert_eq!(token.host.as_deref(), Some("apis-sandbox.paycor.com"));
    assert!(
        token
            .query
            .as_deref()
            .unwrap()
            .contains("subscription-key=")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_connections_go_to_the_production_hosts() {
    let world = world().await;
    let conn = connect_with(
        &world,
        fields(SCOPE_FULL, false),
        &default_grant(&world.host),
    )
    .await;
    ok(&world, &conn, "read-legal-entity", json!({})).await;
    let requests = world.paycor.state().requests();
    let hosts: Vec<&str> = requests.iter().filter_map(|r| r.host.as_deref()).collect();
    assert!(hosts.contains(&"apis.paycor.com"), "{hosts:?}");
    assert!(!hosts.contains(&"apis-sandbox.paycor.com"), "{hosts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_cards_walk_many_pages_in_either_casing() {
    let world = world().await;
    let state = world.paycor.state();
    state.set_page_sizes(7, 5);
    let conn = connect(&world, SCOPE_FULL, &default_grant(&world.host)).await;
    let ids = state.employee_ids(DEMO_LEGAL_ENTITY);

    for casing in [Casing::Camel, Casing::Pascal] {
        state.set_casing(casing);
        let invocation = run(&world, &conn, "list-employees", json!({"limit": 10000}))
            .await
            .unwrap();
        let out = invocation.output;
        let got: Vec<&str> = out["employees"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        assert_eq!(got, ids, "{casing:?}");
        assert_eq!(out["has_more"], false);
        assert_eq!(out["continuation_token"], Value::Null);
        let pages = ids.len().div_ceil(7);
        assert_eq!(out["pages"], pages);
        assert_eq!(invocation.journal.calls.len(), pages);
        assert!(
            invocation.journal.calls[1..]
                .iter()
                .all(|c| c.url.contains("continuationToken="))
        );
        assert_eq!(
            out["employees"][3]["lastName"],
            state.employee(&ids[3]).unwrap()["LastName"]
        );
    }

    // A limit inside a page: no token to resume from; on a boundary: one.
    let out = ok(&world, &conn, "list-employees", json!({"limit": 10})).await;
    assert_eq!(out["count"], 10);
    assert_eq!(out["has_more"], true);
    assert_eq!(out["continuation_token"], Value::Null);
    let out = ok(&world, &conn, "list-employees", json!({"limit": 14})).await;
    assert_eq!(out["pages"], 2);
    let token = out["continuation_token"].as_str().unwrap().to_string();
    let rest = ok(
        &world,
        &conn,
        "list-employees",
        json!({"continuation_token": token, "one_page": true}),
    )
    .await;
    assert_eq!(rest["employees"][0]["id"], ids[14]);
    assert_eq!(rest["count"], 7);

    let departments = ok(&world, &conn, "list-departments", json!({})).await;
    assert_eq!(departments["count"], 18);
    assert_eq!(departments["pages"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_employee_contact_writes_back_once() {
    let world = world().await;
    let state = world.paycor.state();
    let conn = connect(&world, SCOPE_FULL, &every_permission(&world.host)).await;
    let id = state.employee_ids(DEMO_LEGAL_ENTITY)[21].clone();

    let out = ok(
        &world,
        &conn,
        "update-employee-contact",
        json!({
            "employee_id": id,
            "work_email": "dana.reyes@buckeye-outfitters.example",
            "home_email": "dana@home.example",
            "phones": [{"type": "Work", "country_code": "1", "area_code": "614", "number": "555-0123"}],
            "primary_address": {"street_line1": "700 Race Street", "city": "Cincinnati", "state": "oh", "zip_code": "45202"}
        }),
    )
    .await;
    assert_eq!(
        out,
        json!({
            "employee_id": id,
            "updated": ["work_email", "home_email", "phones", "primary_address"],
            "resource": {"id": id, "url": format!("v1/employees/{id}")}
        })
    );
    assert_eq!(state.contact_updates(), 1);
    let person = state.person_of(&id).unwrap();
    assert_eq!(person["Email"]["EmailAddress"], "dana@home.example");
    assert_eq!(person["Addresses"][0]["State"], "OH");
    assert!(
        person["Phones"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["Type"] == "Mobile")
    );

    // Read back through the host.
    let employee = ok(&world, &conn, "read-employee", json!({"employee_id": id})).await;
    assert_eq!(
        employee["email"]["emailAddress"],
        "dana.reyes@buckeye-outfitters.example"
    );
    let read = ok(
        &world,
        &conn,
        "read-person",
        json!({"employee_id": id, "include": ["Addresses", "Phones"]}),
    )
    .await;
    assert_eq!(read["addresses"][0]["streetLine1"], "700 Race Street");
    assert!(
        read["phones"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["type"] == "Work" && p["areaCode"] == "614")
    );

    // A 500 on the PUT is not retried: it may have been applied.
    state.fail_next(1, 500);
    let puts = state.count("PUT", &format!("/v1/employees/{id}"));
    match card_failure(
        &world,
        &conn,
        "update-employee-contact",
        json!({"employee_id": id, "work_email": "again@buckeye-outfitters.example"}),
    )
    .await
    {
        CardFailure::Upstream { status, message } => {
            assert_eq!(status, Some(500));
            assert!(message.contains("read the record"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(state.count("PUT", &format!("/v1/employees/{id}")), puts + 1);

    // Paycor's own validation reaches the flow builder as invalid input.
    match card_failure(
        &world,
        &conn,
        "update-employee-contact",
        json!({"employee_id": "not-a-guid", "work_email": "a@b.example"}),
    )
    .await
    {
        CardFailure::InvalidInput { message } => {
            assert!(message.contains("employeeId"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_grant_is_refused_update_employee_contact() {
    let world = world().await;
    let state = world.paycor.state();
    let grant = default_grant(&world.host);
    assert!(!grant.iter().any(|p| p == "update-employee-contact"));
    let conn = connect(&world, SCOPE_FULL, &grant).await;
    let id = state.employee_ids(DEMO_LEGAL_ENTITY)[0].clone();
    let err = run(
        &world,
        &conn,
        "update-employee-contact",
        json!({"employee_id": id, "work_email": "x@buckeye-outfitters.example"}),
    )
    .await
    .unwrap_err();
    match &err.kind {
        ErrorKind::Denied { kind, message, .. } => {
            assert_eq!(kind, "permission-missing");
            assert!(message.contains("update-employee-contact"), "{message}");
        }
        other => panic!("{other}"),
    }
    assert_eq!(state.count("PUT", &format!("/v1/employees/{id}")), 0);
    assert_eq!(state.contact_updates(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_is_refused_before_any_request() {
    let world = world().await;
    let conn = connect(&world, SCOPE_FULL, &every_permission(&world.host)).await;
    let before = api_requests(&world.paycor);
    let cases = [
        (
            "read-employee",
            json!({"employee_id": "../legalentities/1"}),
            "/employee_id",
        ),
        ("read-employee", json!({}), ""),
        ("list-employees", json!({"status": "Sleeping"}), "/status"),
        ("list-employees", json!({"limit": 0}), "/limit"),
        ("list-employees", json!({"page": 2}), ""),
        (
            "read-person",
            json!({"employee_id": "a", "person_id": "b", "tenant_id": 1}),
            "",
        ),
        ("read-person", json!({"person_id": "b"}), ""),
        (
            "read-department",
            json!({"department_id": "d", "legal_entity_id": 0}),
            "/legal_entity_id",
        ),
        ("update-employee-contact", json!({"employee_id": "e-1"}), ""),
        (
            "update-employee-contact",
            json!({"employee_id": "e-1", "work_email": "no at sign"}),
            "/work_email",
        ),
        (
            "update-employee-contact",
            json!({"employee_id": "e-1", "phones": [{"type": "Pager", "number": "555-0100"}]}),
            "/phones/0/type",
        ),
        (
            "update-employee-contact",
            json!({"employee_id": "e-1", "primary_address": {"street_line1": "1 Main St", "zip_code": "4521"}}),
            "/primary_address/zip_code",
        ),
    ];
    for (card, input, pointer) in cases {
        let err = run(&world, &conn, card, input.clone()).await.unwrap_err();
        match &err.kind {
            ErrorKind::InvalidInput { violations, .. } => {
                assert!(
                    violations.iter().any(|v| v.pointer == pointer),
                    "{card} {input}: {violations:?}"
                );
            }
            other => panic!("{card} {input}: {other}"),
        }
    }
    // What the schema cannot say, the connector refuses before sending.
    match card_failure(
        &world,
        &conn,
        "update-employee-contact",
        json!({"employee_id": "e-1", "phones": [
            {"type": "Home", "number": "555-0100"}, {"type": "Home", "number": "555-0101"}
        ]}),
    )
    .await
    {
        CardFailure::InvalidInput { message } => assert!(message.contains("Home"), "{message}"),
        other => panic!("{other:?}"),
    }
    match card_failure(
        &world,
        &conn,
        "list-employees",
        json!({"one_page": true, "limit": 3}),
    )
    .await
    {
        CardFailure::InvalidInput { message } => assert!(message.contains("not both")),
        other => panic!("{other:?}"),
    }
    assert_eq!(api_requests(&world.paycor), before, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_and_missing_data_access_are_named() {
    let world = world().await;
    let state = world.paycor.state();
    let full = connect(&world, SCOPE_FULL, &every_permission(&world.host)).await;
    match card_failure(
        &world,
        &full,
        "read-employee",
        json!({"employee_id": "00000000-0000-4000-8000-000000000000"}),
    )
    .await
    {
        CardFailure::NotFound { message } => {
            assert!(
                message.contains("employee `00000000-0000-4000-8000-000000000000`"),
                "{message}"
            );
            assert!(message.contains("was not found"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    // The app's scope version lacks departments and includes: 403s name the
    // Data Access to add.
    let narrow = connect(&world, SCOPE_EMPLOYEES_ONLY, &default_grant(&world.host)).await;
    match card_failure(&world, &narrow, "list-departments", json!({})).await {
        CardFailure::Forbidden { message } => {
            assert!(
                message.contains("“View Legal Entity Departments Information”"),
                "{message}"
            );
            assert!(message.contains("scope_id"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    match card_failure(
        &world,
        &narrow,
        "list-employees",
        json!({"include": ["Status"]}),
    )
    .await
    {
        CardFailure::Forbidden { message } => {
            assert!(
                message.contains("View Legal Entity Employees Status"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        state.refusals(),
        [
            "View Legal Entity Departments Information",
            "View Legal Entity Employees Status"
        ]
    );
    // What the scope has still works.
    let page = ok(&world, &narrow, "list-employees", json!({"one_page": true})).await;
    assert_eq!(page["count"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_retried_or_reported() {
    let world = world().await;
    let state = world.paycor.state();
    let conn = connect(&world, SCOPE_FULL, &default_grant(&world.host)).await;

    // A short Retry-After on a read: the host waits and tries again.
    state.throttle_next(1, 1);
    let invocation = run(&world, &conn, "read-legal-entity", json!({}))
        .await
        .unwrap();
    assert_eq!(invocation.output["id"], DEMO_LEGAL_ENTITY);
    assert_eq!(invocation.journal.calls[0].attempts, 2);
    assert_eq!(invocation.journal.calls[0].status, Some(200));

    // Over the key's budget with a long wait: reported with Retry-After.
    state.set_rate_limit(Some(RateLimit {
        calls: 1,
        window: Duration::from_secs(60),
    }));
    ok(&world, &conn, "read-legal-entity", json!({})).await;
    match card_failure(&world, &conn, "read-legal-entity", json!({})).await {
        CardFailure::RateLimited {
            message,
            retry_after_seconds,
        } => {
            assert!(message.contains("Rate limit is exceeded"), "{message}");
            assert!(message.contains("1,000 calls a minute"), "{message}");
            let wait = retry_after_seconds.unwrap();
            assert!((1..=60).contains(&wait), "{wait}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_failures_are_told_apart() {
    let world = world().await;
    let state = world.paycor.state();
    let oauth = world.paycor.oauth();
    let conn = connect(&world, SCOPE_FULL, &default_grant(&world.host)).await;
    ok(&world, &conn, "read-legal-entity", json!({})).await;

    // The subscription key is regenerated in the portal: the gateway refuses
    // it on the API and on the token endpoint the host tries next.
    state.revoke_subscription_key(DEMO_SUBSCRIPTION_KEY);
    let err = run(&world, &conn, "read-legal-entity", json!({}))
        .await
        .unwrap_err();
    match &err.kind {
        ErrorKind::Denied { kind, message, .. } => {
            assert_eq!(kind, "credentials-unavailable");
            assert!(message.contains("invalid subscription key"), "{message}");
            assert!(!message.contains(DEMO_SUBSCRIPTION_KEY));
        }
        other => panic!("{other}"),
    }
    let report = world.host.test_connection(&conn).await.unwrap();
    assert!(!report.ok);
    let key = report
        .checks
        .iter()
        .find(|c| c.name == "subscription key")
        .unwrap();
    assert!(!key.ok);
    assert!(key.detail.contains("subscription_key"), "{}", key.detail);
    assert!(
        report.summary.contains("subscription key was refused"),
        "{}",
        report.summary
    );

    // The key is back: the refresh token was never spent, so it recovers.
    state.add_subscription_key(DEMO_SUBSCRIPTION_KEY);
    ok(&world, &conn, "read-legal-entity", json!({})).await;

    // The grant is revoked: the API refuses the token, the refresh token is
    // refused too, and the connection needs authorizing again.
    let refresh = conn
        .credentials
        .as_ref()
        .unwrap()
        .tokens()
        .unwrap()
        .tokens()
        .await
        .refresh_token
        .unwrap();
    assert!(oauth.revoke(&refresh));
    let err = run(&world, &conn, "read-legal-entity", json!({}))
        .await
        .unwrap_err();
    match &err.kind {
        ErrorKind::Denied { kind, message, .. } => {
            assert_eq!(kind, "credentials-unavailable");
            assert!(message.contains("invalid_grant"), "{message}");
        }
        other => panic!("{other}"),
    }
    let report = world.host.test_connection(&conn).await.unwrap();
    assert!(!report.ok);
    let token = report
        .checks
        .iter()
        .find(|c| c.name == "access token")
        .unwrap();
    assert!(!token.ok);
    assert!(
        token.detail.contains("authorize the connection again"),
        "{}",
        token.detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_checks_each_granted_data_access() {
    let world = world().await;
    let full = connect(&world, SCOPE_FULL, &every_permission(&world.host)).await;
    let report = world.host.test_connection(&full).await.unwrap();
    assert!(report.ok, "{report:?}");
    assert!(
        report
            .summary
            .starts_with("Connected to Paycor sandbox, legal entity 398334")
    );
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "subscription key",
            "access token",
            "View Legal Entity Basic Information",
            "View Legal Entity Employees",
            "View Legal Entity Departments Information",
            "View Employee Information",
            "View Employee Person",
            "View Person Information",
            "View Legal Entity Departments by Department Id",
            "Update Employee Contact",
        ]
    );
    assert!(report.checks[2].detail.contains("Buckeye Outfitters LLC"));
    // A write is never tried.
    assert!(
        world
            .paycor
            .state()
            .requests()
            .iter()
            .all(|r| r.method != "PUT")
    );

    // A narrower scope version: the key and token work, the rights it lacks
    // are named.
    let narrow = connect(&world, SCOPE_EMPLOYEES_ONLY, &default_grant(&world.host)).await;
    let report = world.host.test_connection(&narrow).await.unwrap();
    assert!(!report.ok);
    let check = |name: &str| report.checks.iter().find(|c| c.name == name).unwrap();
    assert!(check("subscription key").ok);
    assert!(check("access token").ok);
    assert!(check("View Legal Entity Employees").ok);
    assert!(check("View Employee Information").ok);
    let lacking = check("View Legal Entity Departments Information");
    assert!(!lacking.ok);
    assert!(lacking.detail.contains("403"), "{}", lacking.detail);
    assert!(
        report
            .summary
            .contains("View Legal Entity Departments Information"),
        "{}",
        report.summary
    );
}

/// The whole flow as the server and CLI run it: a stored connection, the
/// consent URL the host builds, the callback, an invocation, an access token
/// the provider expired, a refresh with a rotated refresh token saved to the
/// store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_flow_from_authorize_to_a_refreshed_token() {
    let world = world().await;
    let oauth = world.paycor.oauth();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("cardhost.db"), vec![MasterKey::generate()]).unwrap(),
    );
    let connections = Connections::new(world.host.clone(), store.clone());
    let record = connections
        .create(CreateConnection {
            connector: CONNECTOR.into(),
            name: "Paycor sandbox".into(),
            fields: json!({
                "sandbox": true,
                "client_id": DEMO_CLIENT_ID,
                "scope_id": SCOPE_FULL,
                "legal_entity_id": DEMO_LEGAL_ENTITY,
            }),
            secrets: secrets(DEMO_SUBSCRIPTION_KEY),
            grant: None,
            auth_method: None,
        })
        .await
        .unwrap();
    assert_eq!(record.state, ConnectionState::NeedsReauthorization);

    // The consent URL: Paycor's sandbox HCM host, PKCE, scope and key.
    let start = connections
        .begin_authorization("Paycor sandbox", DEMO_REDIRECT_URI)
        .await
        .unwrap();
    let url = url::Url::parse(&start.url).unwrap();
    assert_eq!(url.host_str(), Some("hcm-demo.paycor.com"));
    assert_eq!(url.path(), "/AppActivation/Authorize");
    let q: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], DEMO_CLIENT_ID);
    assert_eq!(q["scope"], format!("{SCOPE_FULL} offline_access"));
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["subscription-key"], DEMO_SUBSCRIPTION_KEY);
    assert_eq!(q["redirect_uri"], DEMO_REDIRECT_URI);

    let (code, state) = consent(&world.paycor, &start.url).await;
    assert_eq!(state, start.state);
    let record = connections
        .complete_authorization(&state, &code)
        .await
        .unwrap();
    assert_eq!(record.state, ConnectionState::Ready);
    let first = store.tokens(&record.id).await.unwrap();
    let first_refresh = first.refresh_token.clone().unwrap();

    // Invoke through Cardhost::invoke with the opened connection.
    let connection = connections.open(&record.id).await.unwrap();
    let invocation = world
        .host
        .invoke(
            CONNECTOR,
            "read-legal-entity",
            &json!({}),
            Some(&*connection),
        )
        .await
        .unwrap();
    assert_eq!(invocation.output["name"], "Buckeye Outfitters LLC");
    assert_eq!(invocation.journal.refreshes, 0);

    // Paycor expires the access token: 401, one refresh, a rotated refresh
    // token saved before use, and the card succeeds.
    oauth.expire_access_tokens();
    let invocation = world
        .host
        .invoke(
            CONNECTOR,
            "list-departments",
            &json!({}),
            Some(&*connection),
        )
        .await
        .unwrap();
    assert_eq!(invocation.output["count"], 18);
    assert_eq!(invocation.journal.refreshes, 1);
    assert_eq!(
        invocation.journal.calls[0].attempts, 2,
        "the 401, then the same call with the new token"
    );
    assert_eq!(oauth.token_request_count(GrantType::RefreshToken), 1);
    let second = store.tokens(&record.id).await.unwrap();
    let second_refresh = second.refresh_token.clone().unwrap();
    assert_ne!(second_refresh, first_refresh, "the refresh token rotated");
    assert_ne!(second.access_token, first.access_token);
    let issued = oauth.issued_tokens();
    let state_of = |value: &str| {
        issued
            .iter()
            .find(|t| t.kind == TokenKind::Refresh && t.value == value)
            .map(|t| t.active)
            .unwrap()
    };
    assert!(!state_of(&first_refresh), "the old refresh token is spent");
    assert!(state_of(&second_refresh));

    // The token requests carried the subscription key in the query.
    let token_requests: Vec<_> = world
        .paycor
        .state()
        .requests()
        .into_iter()
        .filter(|r| r.path == paycor::TOKEN_PATH)
        .collect();
    assert_eq!(token_requests.len(), 2, "code exchange and one refresh");
    assert!(
        token_requests.iter().all(
            |r| r.status == 200 && r.subscription_key.as_deref() == Some(DEMO_SUBSCRIPTION_KEY)
        )
    );

    // Another invocation uses the new token without refreshing.
    let invocation = world
        .host
        .invoke(
            CONNECTOR,
            "read-legal-entity",
            &json!({}),
            Some(&*connection),
        )
        .await
        .unwrap();
    assert_eq!(invocation.journal.refreshes, 0);
    assert_eq!(oauth.token_request_count(GrantType::RefreshToken), 1);
}
