//! The Fourth Account SCIM connector end to end: the real host runs the
//! connector against the SCIM emulator, which trusts tokens from the OAuth2
//! emulator configured as Fourth's (`/oauth/connect/token`, scope `scim`).
//! Expected values come from the emulator's state and its own filter
//! evaluation, never from constants copied into the test.

use crate::common::*;
use cardhost::connections::{Connections, CreateConnection};
use cardhost::store::{MasterKey, SqliteStore};
use cardhost::{
    CardFailure, Cardhost, Connection, ErrorKind, Invocation, InvokeError, Limits, NetworkPolicy,
    Secret,
};
use cardhost_e2e::guests;
use cardhost_emulators::oauth::GrantType;
use cardhost_emulators::scim::{self, ContentType, DEMO_CLIENTS, Demo, ResponseStyle};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const CONNECTOR: &str = "fourth-scim";
const PARTNER: &str = "harbourvine-partner";
const PROVISIONER: &str = "harbourvine-provisioner";
const PAYROLL: &str = "harbourvine-payroll";
const WRITE_CARDS: [&str; 4] = [
    "create-user",
    "replace-user",
    "patch-user",
    "deactivate-user",
];

/// Generous limits: the machine is shared, and no test here measures speed.
fn limits() -> Limits {
    Limits {
        deadline_ms: 20_000,
        max_output_bytes: 8 << 20,
        max_response_body_bytes: 8 << 20,
        ..test_limits()
    }
}

async fn host() -> Cardhost {
    host_with(&[guests::FOURTH_SCIM], limits(), NetworkPolicy::loopback()).await
}

fn secret_of(client_id: &str) -> &'static str {
    DEMO_CLIENTS
        .iter()
        .find(|(id, _, _)| *id == client_id)
        .map(|(_, secret, _)| *secret)
        .expect("a demo client")
}

fn fields(demo: &Demo, client_id: &str, scope: &str) -> Value {
    json!({
        "base_url": demo.api.base_url(),
        "token_url": demo.identity.token_url(),
        "client_id": client_id,
        "scope": scope,
    })
}

fn default_grant(host: &Cardhost) -> Vec<String> {
    Cardhost::default_grant(host.registry().get(CONNECTOR).expect("loaded"))
}

fn conn(
    host: &Cardhost,
    demo: &Demo,
    client_id: &str,
    scope: &str,
    extra_grant: &[&str],
) -> Connection {
    let mut grant = default_grant(host);
    grant.extend(extra_grant.iter().map(|g| g.to_string()));
    let grant: Vec<&str> = grant.iter().map(String::as_str).collect();
    connection(
        host,
        CONNECTOR,
        fields(demo, client_id, scope),
        &[("client_secret", secret_of(client_id))],
        &grant,
    )
}

/// The read-only partner connection Fourth normally hands out.
fn partner(host: &Cardhost, demo: &Demo) -> Connection {
    conn(host, demo, PARTNER, "scim", &[])
}

async fn run(
    host: &Cardhost,
    c: &Connection,
    card: &str,
    input: Value,
) -> Result<Invocation, Box<InvokeError>> {
    host.invoke(CONNECTOR, card, &input, Some(c)).await
}

async fn ok(host: &Cardhost, c: &Connection, card: &str, input: Value) -> Value {
    match run(host, c, card, input).await {
        Ok(inv) => inv.output,
        Err(f) => panic!("{card} failed: {}", f),
    }
}

fn card_failure(result: Result<Invocation, Box<InvokeError>>) -> CardFailure {
    match result.map(|i| i.output).map_err(|f| f.kind) {
        Err(ErrorKind::Card(failure)) => failure,
        Err(other) => panic!("expected a card failure, got: {other}"),
        Ok(output) => panic!("expected a failure, got: {output}"),
    }
}

fn user_ids(output: &Value) -> Vec<String> {
    output["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["fourth_account_id"].as_str().unwrap().to_string())
        .collect()
}

fn ids(users: &[Value]) -> Vec<String> {
    users
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect()
}

/// The emulator's requests since `from`.
fn requests_since(demo: &Demo, from: usize) -> Vec<scim::RequestRecord> {
    demo.api.state().requests()[from..].to_vec()
}

fn query_param(record: &scim::RequestRecord, name: &str) -> Option<String> {
    url::form_urlencoded::parse(record.query.as_deref().unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Checks a flat user against the SCIM resource the emulator holds.
fn assert_flattened(flat: &Value, stored: &Value) {
    let id = stored["id"].as_str().unwrap();
    assert_eq!(flat["fourth_account_id"], id);
    assert_eq!(flat["user_name"], stored["userName"]);
    assert_eq!(flat["first_name"], stored["name"]["givenName"]);
    assert_eq!(flat["last_name"], stored["name"]["familyName"]);
    assert_eq!(flat["display_name"], stored["displayName"]);
    let email = stored
        .get("emails")
        .map(|e| e[0]["value"].clone())
        .unwrap_or(Value::Null);
    assert_eq!(flat["work_email"], email, "{id}");
    assert_eq!(
        flat["job_title"],
        stored.get("title").cloned().unwrap_or(Value::Null)
    );
    assert_eq!(flat["work_location"], stored["addresses"][0]["formatted"]);
    assert_eq!(flat["country"], stored["addresses"][0]["country"]);
    assert_eq!(flat["preferred_language"], stored["preferredLanguage"]);
    assert_eq!(flat["timezone"], stored["timezone"]);
    assert_eq!(flat["active"], stored["active"]);
    assert_eq!(flat["division"], stored[scim::ENTERPRISE_USER]["division"]);
    assert_eq!(flat["last_modified"], stored["meta"]["lastModified"]);
    // The raw resource is kept, with the location made absolute.
    let mut raw = flat["resource"].clone();
    let location = raw["meta"]["location"].as_str().unwrap().to_string();
    assert!(location.ends_with(&format!("/Users/{id}")), "{location}");
    raw["meta"]["location"] = stored["meta"]["location"].clone();
    assert_eq!(&raw, stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_card_returns_what_fourth_documents() {
    let demo = scim::start_demo(0, 0).await.unwrap();
    let host = host().await;
    let c = partner(&host, &demo);
    let state = demo.api.state();
    let all = state.users();

    // List Users, one page.
    let out = ok(&host, &c, "list-users", json!({"count": 25})).await;
    assert_eq!(user_ids(&out), ids(&all[..25]));
    assert_eq!(out["total_results"], all.len());
    assert_eq!(out["next_start_index"], 26);
    assert_eq!(out["has_more"], true);
    assert_eq!(out["filter"], Value::Null);
    for (flat, stored) in out["users"].as_array().unwrap().iter().zip(&all) {
        assert_flattened(flat, stored);
    }
    // Work email and job title may be absent: null, not missing.
    let no_email = all.iter().find(|u| u.get("emails").is_none()).unwrap();
    let no_title = all.iter().find(|u| u.get("title").is_none()).unwrap();
    for stored in [no_email, no_title] {
        let out = ok(&host, &c, "read-user", json!({"id": stored["id"]})).await;
        assert_eq!(out["found"], true);
        assert_flattened(&out["user"], stored);
    }

    // Read User: a 404 is an answer, not an error.
    let out = ok(
        &host,
        &c,
        "read-user",
        json!({"id": "00000000-0000-4000-8000-000000000000"}),
    )
    .await;
    assert_eq!(out, json!({"found": false, "user": null}));

    // Find User by Email, including a `+` that must reach the server as %2B.
    let plus = &state.users_matching(r#"emails.value co "+""#)[0];
    let address = plus["emails"][0]["value"].as_str().unwrap();
    let out = ok(
        &host,
        &c,
        "find-user-by-email",
        json!({"email": address.to_uppercase()}),
    )
    .await;
    assert_eq!(out["found"], true, "{address}");
    assert_eq!(out["match_count"], 1);
    assert_flattened(&out["user"], plus);
    let out = ok(
        &host,
        &c,
        "find-user-by-email",
        json!({"email": "nobody@harbourvine.example"}),
    )
    .await;
    assert_eq!(out, json!({"found": false, "user": null, "match_count": 0}));

    // Read Service Provider Config and List Schemas.
    let out = ok(&host, &c, "read-service-provider-config", json!({})).await;
    assert_eq!(out["filter_supported"], true);
    assert_eq!(out["max_results"], 100);
    assert_eq!(out["patch_supported"], true);
    assert_eq!(out["sort_supported"], false);
    assert_eq!(out["authentication_schemes"][0]["type"], "oauthbearertoken");
    let out = ok(&host, &c, "list-schemas", json!({})).await;
    assert_eq!(out["total_results"], 2);
    let user_schema = &out["schemas"][0];
    assert_eq!(
        user_schema["id"],
        "urn:ietf:params:scim:schemas:core:2.0:User"
    );
    let paths: Vec<&str> = user_schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for expected in [
        "userName",
        "name.givenName",
        "emails.value",
        "addresses.country",
        "timezone",
    ] {
        assert!(paths.contains(&expected), "{expected} in {paths:?}");
    }
    assert_eq!(out["schemas"][1]["id"], scim::ENTERPRISE_USER);

    // The host's own Custom API Action reaches the discovery endpoints too.
    let out = ok(
        &host,
        &c,
        cardhost::CUSTOM_API_ACTION,
        json!({"method": "GET", "relative_url": "/ResourceTypes"}),
    )
    .await;
    assert_eq!(out["status"], 200);
    assert_eq!(out["body"]["Resources"][0]["endpoint"], "/Users");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_changed_since_syncs_incrementally() {
    let demo = scim::start_demo(0, 0).await.unwrap();
    let host = host().await;
    let c = partner(&host, &demo);
    let state = demo.api.state();

    // A first sync from a date well inside the seed's history.
    let since = "2025-08-01T00:00:00+01:00";
    let expected = state.users_matching(&format!("meta.lastModified gt \"{since}\""));
    assert!(!expected.is_empty() && expected.len() < state.users().len());
    let before = state.request_count();
    let out = ok(&host, &c, "users-changed-since", json!({"since": since})).await;
    assert_eq!(user_ids(&out), ids(&expected));
    assert_eq!(out["count"], expected.len());
    assert_eq!(out["complete"], true);
    let newest = expected
        .iter()
        .map(|u| u["meta"]["lastModified"].as_str().unwrap())
        .max()
        .unwrap();
    assert_eq!(out["next_since"], newest);
    let sent = &requests_since(&demo, before)[0];
    assert_eq!(
        query_param(sent, "filter").unwrap(),
        format!("meta.lastModified gt \"{since}\"")
    );

    // Nothing changed since: an empty run keeps the watermark.
    let out = ok(&host, &c, "users-changed-since", json!({"since": newest})).await;
    assert_eq!(out["count"], 0);
    assert_eq!(out["next_since"], newest);

    // A change in Fourth shows up in the next run, and only it.
    let changed = state.users()[42]["id"].as_str().unwrap().to_string();
    assert!(state.update_user(&changed, |u| {
        u.insert("title".into(), json!("Sous Chef"));
    }));
    let out = ok(&host, &c, "users-changed-since", json!({"since": newest})).await;
    assert_eq!(user_ids(&out), [changed.as_str()]);
    assert_eq!(out["users"][0]["job_title"], "Sous Chef");
    assert_eq!(
        out["next_since"],
        state.user(&changed).unwrap()["meta"]["lastModified"]
    );

    // A run cut short by its limit does not move the watermark.
    let out = ok(
        &host,
        &c,
        "users-changed-since",
        json!({"since": "2024-01-01", "limit": 10}),
    )
    .await;
    assert_eq!(out["count"], 10);
    assert_eq!(out["complete"], false);
    assert_eq!(out["next_since"], "2024-01-01T00:00:00Z");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_walks_every_page_even_when_the_server_returns_fewer() {
    let demo = scim::start_demo(0, 0).await.unwrap();
    let host = host().await;
    let c = partner(&host, &demo);
    let state = demo.api.state();
    let all = ids(&state.users());
    // The server caps pages at 40 whatever `count` asks for.
    state.set_max_results(40);

    let before = state.request_count();
    let out = ok(
        &host,
        &c,
        "list-users",
        json!({"all_pages": true, "count": 100, "limit": 10000}),
    )
    .await;
    assert_eq!(user_ids(&out), all);
    assert_eq!(out["has_more"], false);
    assert_eq!(out["next_start_index"], Value::Null);
    let starts: Vec<String> = requests_since(&demo, before)
        .iter()
        .map(|r| query_param(r, "startIndex").unwrap())
        .collect();
    assert_eq!(starts, ["1", "41", "81", "121", "161", "201", "241", "281"]);

    // From an offset, up to a limit.
    let out = ok(
        &host,
        &c,
        "list-users",
        json!({"all_pages": true, "start_index": 11, "limit": 150}),
    )
    .await;
    assert_eq!(user_ids(&out), all[10..160]);
    assert_eq!(out["has_more"], true);
    assert_eq!(out["next_start_index"], 161);

    // One short page at the end.
    let out = ok(
        &host,
        &c,
        "list-users",
        json!({"start_index": 301, "count": 50}),
    )
    .await;
    assert_eq!(user_ids(&out), all[300..]);
    assert_eq!(out["next_start_index"], Value::Null);
    assert_eq!(out["has_more"], false);

    // Filtered paging: totals and pages follow the filter.
    let inactive = ids(&state.users_matching("active eq false"));
    let out = ok(
        &host,
        &c,
        "list-users",
        json!({"active": false, "all_pages": true, "count": 7}),
    )
    .await;
    assert_eq!(user_ids(&out), inactive);
    assert_eq!(out["total_results"], inactive.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_with_quotes_spaces_and_escapes_reach_the_server_intact() {
    let demo = scim::start_demo(0, 0).await.unwrap();
    let host = host().await;
    let c = partner(&host, &demo);
    let state = demo.api.state();
    let users = state.users();

    // A userName with a backslash, given in another case.
    let domain_user = &users[11];
    let name = domain_user["userName"].as_str().unwrap();
    assert!(name.contains('\\'));
    let out = ok(
        &host,
        &c,
        "list-users",
        json!({"user_name": name.to_lowercase()}),
    )
    .await;
    assert_eq!(user_ids(&out), [domain_user["id"].as_str().unwrap()]);
    assert_eq!(
        out["filter"],
        format!(
            "userName eq {}",
            serde_json::to_string(&name.to_lowercase()).unwrap()
        )
    );

    // A raw filter with escaped double quotes.
    let quoted = &users[3];
    let display = quoted["displayName"].as_str().unwrap();
    let raw = format!("displayName eq {}", serde_json::to_string(display).unwrap());
    let out = ok(&host, &c, "list-users", json!({"filter": raw})).await;
    assert_eq!(user_ids(&out), [quoted["id"].as_str().unwrap()]);

    // Apostrophes, spaces and `&` in values, with `or` inside the raw part
    // and the builder's clauses around it.
    let raw = r#"name.familyName eq "O'Neill" or name.familyName eq "De la Cruz" or addresses[type eq "work" and formatted eq "Harbour & Vine Covent Garden"]"#;
    let expected = ids(&state.users_matching(&format!("({raw}) and active eq true")));
    assert!(!expected.is_empty());
    let before = state.request_count();
    let out = ok(
        &host,
        &c,
        "list-users",
        json!({"filter": raw, "active": true, "all_pages": true}),
    )
    .await;
    assert_eq!(user_ids(&out), expected);
    let sent = &requests_since(&demo, before)[0];
    let query = sent.query.as_deref().unwrap();
    assert!(!query.contains('+'), "spaces travel as %20: {query}");
    assert!(query.contains("%20") && query.contains("%22") && query.contains("%26"));
    assert_eq!(
        query_param(sent, "filter").unwrap(),
        format!("active eq true and ({raw})")
    );

    // A value trying to close its quotes matches nothing instead of everything.
    let out = ok(
        &host,
        &c,
        "list-users",
        json!({"user_name": r#"x" or userName pr or userName eq "y"#}),
    )
    .await;
    assert_eq!(out["total_results"], 0);
    assert_eq!(out["users"], json!([]));

    // externalId is exact; email matching is not.
    let with_number = users
        .iter()
        .find(|u| u.get("externalId").is_some())
        .unwrap();
    let external = with_number["externalId"].as_str().unwrap();
    let out = ok(&host, &c, "list-users", json!({"external_id": external})).await;
    assert_eq!(user_ids(&out), [with_number["id"].as_str().unwrap()]);
    let out = ok(
        &host,
        &c,
        "list-users",
        json!({"external_id": external.to_lowercase()}),
    )
    .await;
    assert_eq!(out["total_results"], 0);

    // The server refuses a filter it cannot parse: the card says so.
    match card_failure(
        run(
            &host,
            &c,
            "list-users",
            json!({"filter": r#"userName xx "a""#}),
        )
        .await,
    ) {
        CardFailure::InvalidInput { message } => {
            assert!(message.contains("refused the filter"), "{message}");
            assert!(message.contains("invalidFilter"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // A filter the connector can tell is broken never leaves.
    let before = state.request_count();
    for bad in [
        r#"userName eq "open"#,
        "userName eq 'single'",
        "(active eq true",
    ] {
        match card_failure(run(&host, &c, "list-users", json!({"filter": bad})).await) {
            CardFailure::InvalidInput { message } => {
                assert!(message.contains("`filter`"), "{message}")
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
    assert_eq!(state.request_count(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_cached_and_fetched_again_after_expiry() {
    let demo = scim::start_demo(0, 0).await.unwrap();
    let host = host().await;
    let c = partner(&host, &demo);
    let identity = demo.identity.state();
    let fetches = || identity.token_request_count(GrantType::ClientCredentials);

    let first = run(&host, &c, "list-users", json!({"count": 1}))
        .await
        .unwrap();
    assert_eq!(first.journal.refreshes, 0);
    assert_eq!(fetches(), 1);
    let request = &identity.token_requests()[0];
    assert_eq!(request.scope.as_deref(), Some("scim"));
    assert_eq!(request.client_id.as_deref(), Some(PARTNER));
    assert_eq!(request.status, 200);

    for card in ["read-service-provider-config", "list-schemas"] {
        run(&host, &c, card, json!({})).await.unwrap();
    }
    assert_eq!(fetches(), 1, "later invocations reuse the token");

    // Fourth expires the token early: 401, one new token, then success.
    identity.expire_access_tokens();
    let before = demo.api.state().request_count();
    let inv = run(&host, &c, "list-users", json!({"count": 1}))
        .await
        .unwrap();
    assert_eq!(inv.journal.refreshes, 1);
    assert_eq!(fetches(), 2);
    let statuses: Vec<u16> = requests_since(&demo, before)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [401, 200]);
    run(&host, &c, "list-users", json!({"count": 1}))
        .await
        .unwrap();
    assert_eq!(fetches(), 2, "the new token is cached in turn");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_come_back_as_typed_errors() {
    let demo = scim::start_demo(0, 0).await.unwrap();
    let host = host().await;
    let c = partner(&host, &demo);
    let state = demo.api.state();

    // 401 after the one refresh the host makes.
    state.fail_next(2, 401);
    let failed = run(&host, &c, "list-users", json!({})).await.unwrap_err();
    assert_eq!(failed.journal.refreshes, 1);
    assert!(
        matches!(
            &failed.kind,
            ErrorKind::Card(CardFailure::Unauthorized { .. })
        ),
        "{}",
        failed.kind
    );

    // 403: a token without the `scim` scope.
    let payroll = conn(&host, &demo, PAYROLL, "payroll", &[]);
    match card_failure(run(&host, &payroll, "list-users", json!({})).await) {
        CardFailure::Forbidden { message } => {
            assert!(message.contains("`scim` scope"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // A client that may not ask for `scim` gets no token at all.
    let no_scope = conn(&host, &demo, PAYROLL, "scim", &[]);
    match run(&host, &no_scope, "list-users", json!({}))
        .await
        .map_err(|f| f.kind)
    {
        Err(ErrorKind::Denied { kind, message, .. }) => {
            assert_eq!(kind, "credentials-unavailable");
            assert!(message.contains("invalid_scope"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    // 429: a short Retry-After is waited out by the host ...
    state.throttle_next(1, 1);
    let inv = run(&host, &c, "list-users", json!({"count": 1}))
        .await
        .unwrap();
    assert_eq!(inv.journal.calls[0].attempts, 2);
    // ... a long one reaches the card with its wait.
    state.throttle_next(1, 900);
    match card_failure(run(&host, &c, "list-users", json!({"count": 1})).await) {
        CardFailure::RateLimited {
            retry_after_seconds,
            message,
        } => {
            assert_eq!(retry_after_seconds, Some(900));
            assert!(message.contains("Retry after 900"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    // A server error is an upstream failure with its status.
    state.fail_next(4, 500);
    match card_failure(run(&host, &c, "list-schemas", json!({})).await) {
        CardFailure::Upstream { status, .. } => assert_eq!(status, Some(500)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_in_other_spellings_are_understood() {
    let demo = scim::start_demo(0, 0).await.unwrap();
    let host = host().await;
    let c = partner(&host, &demo);
    let state = demo.api.state();
    let users = state.users();
    // application/json, numeric error status, `Resources: []`, and every
    // attribute name in lower case.
    state.set_style(ResponseStyle {
        content_type: ContentType::Json,
        error_status_as_number: true,
        omit_empty_resources: false,
        lowercase_keys: true,
    });

    let out = ok(
        &host,
        &c,
        "list-users",
        json!({"count": 5, "start_index": 3}),
    )
    .await;
    assert_eq!(user_ids(&out), ids(&users[2..7]));
    assert_eq!(out["total_results"], users.len());
    let flat = &out["users"][0];
    assert_eq!(flat["first_name"], users[2]["name"]["givenName"]);
    assert_eq!(flat["work_location"], users[2]["addresses"][0]["formatted"]);
    assert_eq!(
        flat["division"],
        users[2][scim::ENTERPRISE_USER]["division"]
    );
    assert_eq!(flat["last_modified"], users[2]["meta"]["lastModified"]);

    let out = ok(&host, &c, "list-users", json!({"user_name": "nobody"})).await;
    assert_eq!(out["users"], json!([]));
    assert_eq!(out["has_more"], false);
    let out = ok(&host, &c, "read-user", json!({"id": "missing"})).await;
    assert_eq!(out["found"], false);
    let out = ok(&host, &c, "read-service-provider-config", json!({})).await;
    assert_eq!(out["max_results"], 100);
    let out = ok(&host, &c, "list-schemas", json!({})).await;
    assert_eq!(out["total_results"], 2);
    match card_failure(run(&host, &c, "list-users", json!({"filter": "active gt true"})).await) {
        CardFailure::InvalidInput { message } => {
            assert!(message.contains("invalidFilter"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_cards_are_refused_on_a_default_connection() {
    let demo = scim::start_demo(0, 0).await.unwrap();
    let host = host().await;
    let grant = default_grant(&host);
    assert!(!grant.contains(&"users-write".to_string()));
    // Even a client that holds the write scope cannot write without the grant.
    let c = conn(&host, &demo, PROVISIONER, "scim scim.write", &[]);
    let state = demo.api.state();
    let target = state.users()[0]["id"].as_str().unwrap().to_string();
    let before_users = state.users();
    let before = state.request_count();

    let inputs = [
        json!({"user_name": "new.starter@harbourvine.example"}),
        json!({"id": target, "user_name": "renamed"}),
        json!({"id": target, "operations": [{"op": "replace", "path": "title", "value": "Host"}]}),
        json!({"id": target}),
    ];
    for (card, input) in WRITE_CARDS.iter().zip(inputs) {
        match run(&host, &c, card, input).await.map_err(|f| f.kind) {
            Err(ErrorKind::Denied { kind, message, .. }) => {
                assert_eq!(kind, "permission-missing", "{card}: {message}");
                assert!(message.contains("users-write"), "{card}: {message}");
            }
            other => panic!("{card}: {other:?}"),
        }
    }
    // The host's raw card cannot go around the grant either.
    match run(
        &host,
        &c,
        cardhost::CUSTOM_API_ACTION,
        json!({"method": "POST", "relative_url": "/Users", "body": {"userName": "x"}}),
    )
    .await
    .map_err(|f| f.kind)
    {
        Err(ErrorKind::Denied { kind, .. }) => assert_eq!(kind, "permission-missing"),
        other => panic!("{other:?}"),
    }
    assert_eq!(state.request_count(), before, "nothing reached Fourth");
    assert_eq!(state.users(), before_users);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_cards_work_where_granted_and_the_server_takes_writes() {
    let demo = scim::start_demo(0, 0).await.unwrap();
    let host = host().await;
    let c = conn(
        &host,
        &demo,
        PROVISIONER,
        "scim scim.write",
        &["users-write"],
    );
    let state = demo.api.state();

    let created = ok(
        &host,
        &c,
        "create-user",
        json!({
            "user_name": "new.starter@harbourvine.example",
            "first_name": "Niamh",
            "last_name": "O'Sullivan",
            "work_email": "new.starter@harbourvine.example",
            "job_title": "Receptionist",
            "work_location": "The Quay Hotel",
            "country": "IE",
            "preferred_language": "ga-IE",
            "timezone": "Europe/Dublin",
            "division": "Hotels"
        }),
    )
    .await;
    let id = created["fourth_account_id"].as_str().unwrap().to_string();
    let stored = state.user(&id).expect("created in the emulator");
    assert_eq!(stored["name"]["familyName"], "O'Sullivan");
    assert_eq!(stored[scim::ENTERPRISE_USER]["division"], "Hotels");
    assert_eq!(created["work_location"], "The Quay Hotel");
    assert_eq!(created["active"], true);
    let created_request = state
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert_eq!(
        created_request.content_type.as_deref(),
        Some("application/scim+json")
    );

    // The new user is found by the read cards.
    let found = ok(
        &host,
        &c,
        "find-user-by-email",
        json!({"email": "new.starter@harbourvine.example"}),
    )
    .await;
    assert_eq!(found["user"]["fourth_account_id"], id.as_str());

    // Patch, replace with the current version, refuse a stale one.
    let patched = ok(
        &host,
        &c,
        "patch-user",
        json!({"id": id, "operations": [
            {"op": "replace", "path": "title", "value": "Concierge"},
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "niamh.osullivan@harbourvine.example"}
        ]}),
    )
    .await;
    assert_eq!(patched["job_title"], "Concierge");
    assert_eq!(patched["work_email"], "niamh.osullivan@harbourvine.example");
    let version = patched["version"].as_str().unwrap().to_string();
    let replaced = ok(
        &host,
        &c,
        "replace-user",
        json!({"id": id, "version": version, "user_name": "niamh.osullivan@harbourvine.example", "first_name": "Niamh", "last_name": "O'Sullivan"}),
    )
    .await;
    assert_eq!(replaced["user_name"], "niamh.osullivan@harbourvine.example");
    assert_eq!(
        replaced["job_title"],
        Value::Null,
        "PUT replaces the whole user"
    );
    match card_failure(
        run(
            &host,
            &c,
            "deactivate-user",
            json!({"id": id, "version": version}),
        )
        .await,
    ) {
        CardFailure::InvalidInput { message } => assert!(message.contains("changed"), "{message}"),
        other => panic!("{other:?}"),
    }
    let deactivated = ok(&host, &c, "deactivate-user", json!({"id": id})).await;
    assert_eq!(deactivated["active"], false);
    assert_eq!(state.user(&id).unwrap()["active"], false);

    // Conflicts and unknown users are typed.
    match card_failure(
        run(
            &host,
            &c,
            "create-user",
            json!({"user_name": "NIAMH.OSULLIVAN@harbourvine.example"}),
        )
        .await,
    ) {
        CardFailure::InvalidInput { message } => {
            assert!(message.contains("uniqueness"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    match card_failure(run(&host, &c, "deactivate-user", json!({"id": "no-such-user"})).await) {
        CardFailure::NotFound { message } => assert!(message.contains("no-such-user"), "{message}"),
        other => panic!("{other:?}"),
    }

    // Granted in cardhost, but the OAuth client lacks the write scope: 403.
    let partner_with_grant = conn(&host, &demo, PARTNER, "scim", &["users-write"]);
    match card_failure(
        run(
            &host,
            &partner_with_grant,
            "deactivate-user",
            json!({"id": id}),
        )
        .await,
    ) {
        CardFailure::Forbidden { message } => assert!(message.contains("scim.write"), "{message}"),
        other => panic!("{other:?}"),
    }
    // A read-only server (Fourth's own) answers 501.
    state.set_writes_enabled(false);
    match card_failure(run(&host, &c, "create-user", json!({"user_name": "another"})).await) {
        CardFailure::Upstream { status, message } => {
            assert_eq!(status, Some(501));
            assert!(message.contains("read-only"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_reports_token_discovery_users_and_writes() {
    let demo = scim::start_demo(0, 0).await.unwrap();
    let host = host().await;
    let check = |r: &cardhost::wit::ConnectionReport, name: &str| {
        r.checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no `{name}` check in {r:?}"))
            .clone()
    };

    let report = host.test_connection(&partner(&host, &demo)).await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(
        report.summary,
        "Fourth SCIM: can read users (320 in total); read-only"
    );
    assert!(check(&report, "token").ok);
    assert!(
        check(&report, "service provider config")
            .detail
            .contains("at most 100 users a page")
    );
    assert!(
        check(&report, "write cards")
            .detail
            .starts_with("not granted")
    );
    // Nothing was written while testing.
    assert!(
        demo.api
            .state()
            .requests()
            .iter()
            .all(|r| r.method == "GET")
    );

    // A token without the `scim` scope.
    let report = host
        .test_connection(&conn(&host, &demo, PAYROLL, "payroll", &[]))
        .await
        .unwrap();
    assert!(!report.ok);
    assert!(check(&report, "token").ok);
    let users = check(&report, "users");
    assert!(!users.ok);
    assert!(users.detail.contains("`scim` scope"), "{users:?}");

    // A wrong secret: the token endpoint's refusal is quoted, never the secret.
    let wrong = "wrong-secret-5e0f";
    let c = connection(
        &host,
        CONNECTOR,
        fields(&demo, PARTNER, "scim"),
        &[("client_secret", wrong)],
        &["users-read", "discovery-read"],
    );
    let report = host.test_connection(&c).await.unwrap();
    assert!(!report.ok);
    let token = check(&report, "token");
    assert!(!token.ok);
    assert!(token.detail.contains("invalid_client"), "{token:?}");
    assert!(!format!("{report:?}").contains(wrong));

    // Writes granted on a read-only provider: reported as a failure.
    demo.api.state().set_writes_enabled(false);
    let report = host
        .test_connection(&conn(
            &host,
            &demo,
            PROVISIONER,
            "scim scim.write",
            &["users-write"],
        ))
        .await
        .unwrap();
    assert!(!report.ok);
    assert!(!check(&report, "write cards").ok);
    assert!(report.summary.contains("read-only"), "{}", report.summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_connection_defaults_to_fourth_and_read_only() {
    let demo = scim::start_demo(0, 0).await.unwrap();
    let host = Arc::new(host().await);
    let dir = tempfile::tempdir().unwrap();
    let store =
        SqliteStore::open(&dir.path().join("cardhost.db"), vec![MasterKey::generate()]).unwrap();
    let connections = Connections::new(host.clone(), Arc::new(store));
    let secrets =
        || BTreeMap::from([("client_secret".to_string(), Secret::new(secret_of(PARTNER)))]);

    // Only the base URL and client id given: Fourth's token URL and scope fill in.
    let record = connections
        .create(CreateConnection {
            connector: CONNECTOR.into(),
            name: "fourth-live".into(),
            fields: json!({"base_url": "https://api.fourth.com/scim/v2", "client_id": PARTNER}),
            secrets: secrets(),
            grant: None,
            auth_method: None,
        })
        .await
        .unwrap();
    assert_eq!(
        record.fields["token_url"],
        "https://api.fourth.com/oauth/connect/token"
    );
    assert_eq!(record.fields["scope"], "scim");
    let granted: BTreeSet<&str> = record.granted.iter().map(String::as_str).collect();
    assert_eq!(granted, BTreeSet::from(["users-read", "discovery-read"]));

    // A base URL that is not one is refused with the field named.
    let refused = connections.create(CreateConnection {
        connector: CONNECTOR.into(),
        name: "broken".into(),
        fields: json!({"base_url": "api.fourth.com/scim", "client_id": PARTNER}),
        secrets: secrets(),
        grant: None,
        auth_method: None,
    });
    match refused.await {
        Err(cardhost::connections::ConnectionError::InvalidFields { violations, .. }) => {
            assert!(
                violations.iter().any(|v| v.pointer == "/base_url"),
                "{violations:?}"
            );
        }
        other => panic!("{other:?}"),
    }

    // A stored connection against the emulator runs cards through the store.
    connections
        .create(CreateConnection {
            connector: CONNECTOR.into(),
            name: "emulated".into(),
            fields: fields(&demo, PARTNER, "scim"),
            secrets: secrets(),
            grant: None,
            auth_method: None,
        })
        .await
        .unwrap();
    let inv = connections
        .invoke("emulated", "list-users", &json!({"count": 3}))
        .await
        .unwrap();
    assert_eq!(inv.output["users"].as_array().unwrap().len(), 3);
    assert!(connections.test("emulated").await.unwrap().ok);
}
