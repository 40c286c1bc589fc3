//! The Advanced HR emulator with tokens from the OAuth2 emulator: security
//! groups, paging, filters, search, errors and rate limits.

use cardhost_emulators::advanced_hr::{
    self, Area, Config, DEMO_CLIENTS, Demo, RateLimit, SecurityGroup,
};
use cardhost_emulators::oauth;
use serde_json::Value;
use std::time::Duration;

fn secret_of(client_id: &str) -> &'static str {
    DEMO_CLIENTS
        .iter()
        .find(|(id, _, _)| *id == client_id)
        .map(|(_, secret, _)| *secret)
        .unwrap()
}

async fn token(demo: &Demo, client_id: &str) -> String {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", client_id)
        .append_pair("client_secret", secret_of(client_id))
        .finish();
    let resp: Value = reqwest::Client::new()
        .post(demo.identity.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    resp["access_token"].as_str().unwrap().to_string()
}

async fn get(
    api: &str,
    path: &str,
    token: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = reqwest::Client::new().get(format!("{api}{path}"));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap())
}

#[tokio::test]
async fn employees_are_paged_and_filtered() {
    let demo = advanced_hr::start_demo(0, 0).await.unwrap();
    let api = demo.api.api_url();
    assert!(api.ends_with("/api/v1"));
    let t = token(&demo, "cardhost-hr-full").await;

    let (status, _, page) = get(&api, "/employees", Some(&t)).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["totalCount"], 200);
    assert_eq!(page["pageSize"], 50);
    assert_eq!(page["totalPages"], 4);
    assert_eq!(page["data"].as_array().unwrap().len(), 50);
    assert_eq!(page["data"][0]["id"], "10001");

    let (_, _, last) = get(&api, "/employees?page=4&pageSize=60", Some(&t)).await;
    assert_eq!(last["data"].as_array().unwrap().len(), 20);
    let (_, _, beyond) = get(&api, "/employees?page=9", Some(&t)).await;
    assert_eq!(beyond["data"], serde_json::json!([]));

    let (_, _, leavers) = get(&api, "/employees?status=leaver&pageSize=100", Some(&t)).await;
    let leavers = leavers["data"].as_array().unwrap();
    assert!(!leavers.is_empty());
    assert!(
        leavers
            .iter()
            .all(|e| e["status"] == "Leaver" && e["leaveDate"].is_string())
    );

    let (_, _, it) = get(
        &api,
        "/employees?departmentId=DEP005&pageSize=100",
        Some(&t),
    )
    .await;
    let it = it["data"].as_array().unwrap();
    assert!(it.len() > 5);
    assert!(it.iter().all(|e| e["departmentName"] == "Technology"));

    let (_, _, recent) = get(
        &api,
        "/employees?updatedSince=2025-06-01T00:00:00%2B01:00&pageSize=100",
        Some(&t),
    )
    .await;
    let count = recent["totalCount"].as_u64().unwrap();
    assert!(count > 0 && count < 200, "{count}");
    assert!(
        recent["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["updatedAt"].as_str().unwrap() >= "2025-05-31T23:00:00Z")
    );

    for bad in [
        "/employees?pageSize=101",
        "/employees?page=0",
        "/employees?status=Retired",
        "/employees?updatedSince=last-week",
    ] {
        let (status, _, body) = get(&api, bad, Some(&t)).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"], "invalid_parameter");
    }
}

#[tokio::test]
async fn security_groups_decide_areas_and_sensitive_fields() {
    let demo = advanced_hr::start_demo(0, 0).await.unwrap();
    let api = demo.api.api_url();

    let full = token(&demo, "cardhost-hr-full").await;
    let (_, _, e) = get(&api, "/employees/10042", Some(&full)).await;
    assert!(e["niNumber"].is_string());
    assert_eq!(e["salary"]["currency"], "GBP");

    let directory = token(&demo, "cardhost-directory").await;
    let (status, _, e) = get(&api, "/employees/10042", Some(&directory)).await;
    assert_eq!(status, 200);
    assert!(e["firstName"].is_string());
    for field in advanced_hr::SENSITIVE_FIELDS {
        assert!(e.get(field).is_none(), "{field} must be hidden");
    }

    let org = token(&demo, "cardhost-org-structure").await;
    let (status, _, body) = get(&api, "/employees", Some(&org)).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"], "forbidden");
    assert!(body["message"].as_str().unwrap().contains("Org Structure"));
    let (status, _, departments) = get(&api, "/departments", Some(&org)).await;
    assert_eq!(status, 200);
    assert_eq!(departments["totalCount"], 12);
    let (status, _, positions) = get(&api, "/positions?departmentId=DEP005", Some(&org)).await;
    assert_eq!(status, 200);
    assert!(
        positions["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["departmentId"] == "DEP005")
    );

    let nobody = token(&demo, "cardhost-unassigned").await;
    let (status, _, body) = get(&api, "/departments", Some(&nobody)).await;
    assert_eq!(status, 403);
    assert!(body["message"].as_str().unwrap().contains("not bound"));

    // Groups can change while the server runs.
    demo.api.state().set_group(
        "cardhost-org-structure",
        SecurityGroup::new("Widened", &[Area::Employees]),
    );
    let (status, _, _) = get(&api, "/employees", Some(&org)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn tokens_are_checked() {
    let demo = advanced_hr::start_demo(0, 0).await.unwrap();
    let api = demo.api.api_url();

    let (status, headers, body) = get(&api, "/employees", None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "unauthorized");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );

    let (status, _, _) = get(&api, "/employees", Some("forged")).await;
    assert_eq!(status, 401);

    let t = token(&demo, "cardhost-directory").await;
    assert_eq!(get(&api, "/departments", Some(&t)).await.0, 200);
    demo.identity.state().expire_access_tokens();
    let (status, headers, _) = get(&api, "/departments", Some(&t)).await;
    assert_eq!(status, 401);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
}

#[tokio::test]
async fn read_and_search_employees() {
    let demo = advanced_hr::start_demo(0, 0).await.unwrap();
    let api = demo.api.api_url();
    let t = token(&demo, "cardhost-directory").await;

    let (status, _, body) = get(&api, "/employees/99999", Some(&t)).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "not_found");
    let (status, _, _) = get(&api, "/payslips", Some(&t)).await;
    assert_eq!(status, 404);

    let someone = demo.api.state().employee("10100").unwrap();
    let last = someone["lastName"].as_str().unwrap();
    let (status, _, found) = get(
        &api,
        &format!(
            "/employees/search?q={}",
            last.to_uppercase().replace('\'', "%27")
        ),
        Some(&t),
    )
    .await;
    assert_eq!(status, 200, "{found}");
    let hits = found["data"].as_array().unwrap();
    assert!(hits.iter().any(|e| e["id"] == "10100"));
    let needle = last.to_lowercase();
    assert!(
        hits.iter()
            .all(|e| e.to_string().to_lowercase().contains(&needle))
    );

    let (_, _, by_number) = get(&api, "/employees/search?q=adv00100", Some(&t)).await;
    assert_eq!(by_number["totalCount"], 1);
    assert_eq!(by_number["data"][0]["id"], "10100");

    let (status, _, _) = get(&api, "/employees/search?q=a", Some(&t)).await;
    assert_eq!(status, 400);

    let state = demo.api.state();
    let log = state.requests();
    let last_request = log.last().unwrap();
    assert_eq!(last_request.path, "/employees/search");
    assert_eq!(last_request.status, 400);
    assert_eq!(
        last_request.client_id.as_deref(),
        Some("cardhost-directory")
    );
}

#[tokio::test]
async fn edits_show_up_in_updated_since() {
    let demo = advanced_hr::start_demo(0, 0).await.unwrap();
    let api = demo.api.api_url();
    let t = token(&demo, "cardhost-hr-full").await;
    assert!(demo.api.state().update_employee("10007", |e| {
        e.insert("jobTitle".into(), "Head of Logistics".into());
    }));
    let (_, _, page) = get(&api, "/employees?updatedSince=2026-01-01", Some(&t)).await;
    assert_eq!(page["totalCount"], 1);
    assert_eq!(page["data"][0]["jobTitle"], "Head of Logistics");
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let identity = oauth::start(oauth::Config::keycloak("hartwell").client(
        oauth::ClientConfig::new("cardhost-directory", secret_of("cardhost-directory")),
    ))
    .await
    .unwrap();
    let mut config = Config::new(identity.validator());
    config.base_path = String::new();
    config.rate_limit = Some(RateLimit {
        requests: 3,
        window: Duration::from_secs(60),
    });
    let api = advanced_hr::start(config).await.unwrap();
    let demo = Demo { identity, api };
    let t = token(&demo, "cardhost-directory").await;
    let url = demo.api.api_url();
    assert_eq!(url, demo.api.url());

    for _ in 0..3 {
        assert_eq!(get(&url, "/departments", Some(&t)).await.0, 200);
    }
    let (status, headers, body) = get(&url, "/departments", Some(&t)).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"], "too_many_requests");
    let retry: u32 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));

    let fresh = advanced_hr::start_demo(0, 0).await.unwrap();
    let t = token(&fresh, "cardhost-directory").await;
    fresh.api.state().throttle_next(1, 7);
    let (status, headers, _) = get(&fresh.api.api_url(), "/positions", Some(&t)).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "7");
    assert_eq!(
        get(&fresh.api.api_url(), "/positions", Some(&t)).await.0,
        200
    );

    fresh.api.state().fail_next(1, 503);
    assert_eq!(
        get(&fresh.api.api_url(), "/positions", Some(&t)).await.0,
        503
    );
}
