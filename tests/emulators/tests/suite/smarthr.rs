//! The SmartHR emulator over HTTP: tenant hosts, bearer tokens and their
//! rights, SmartHR's error bodies, paging headers, filters, embeds, writes
//! that persist and rate limits.

use cardhost_emulators::smarthr::{
    self, Access, Config, DEMO_TENANT, DEMO_TOKENS, Environment, RateLimit, Resource, SmartHr,
    Token,
};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::time::Duration;

fn token(name: &str) -> &'static str {
    DEMO_TOKENS
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(value, _)| *value)
        .unwrap()
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends a request as the host would after routing: to the emulator's
/// address, with the tenant's name in `Host`.
async fn call(
    api: &SmartHr,
    method: Method,
    path_and_query: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> Answer {
    call_as(
        api,
        api.state().host(),
        method,
        path_and_query,
        bearer,
        body,
    )
    .await
}

async fn call_as(
    api: &SmartHr,
    host: &str,
    method: Method,
    path_and_query: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path_and_query}", api.url()))
        .header("host", host);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// The demo tenant without the per-second limit, which these tests would
/// trip (the hourly one stays, so the headers are there).
async fn demo() -> SmartHr {
    let mut config = Config::new(DEMO_TENANT, Environment::Production);
    config.rate_limits.truncate(1);
    smarthr::start(config).await.unwrap()
}

async fn get(api: &SmartHr, path: &str) -> Answer {
    call(api, Method::GET, path, Some(token("full")), None).await
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_limit_counts_and_the_exceeded_one_is_reported() {
    // The defaults are what integrators report: 5,000 an hour, 10 a second.
    let defaults = Config::new("acme", Environment::Production).rate_limits;
    assert_eq!(
        defaults,
        [
            RateLimit {
                requests: 5000,
                window: Duration::from_secs(3600)
            },
            RateLimit {
                requests: 10,
                window: Duration::from_secs(1)
            },
        ]
    );
    // A burst limit with a long window, so the test does not race the clock.
    let mut config = Config::new("acme", Environment::Production);
    config.rate_limits = vec![
        RateLimit {
            requests: 100,
            window: Duration::from_secs(3600),
        },
        RateLimit {
            requests: 4,
            window: Duration::from_secs(600),
        },
    ];
    let api = smarthr::start(config).await.unwrap();
    for n in 0..4 {
        let answer = get(&api, "/api/v1/job_titles").await;
        assert_eq!(answer.status, 200);
        // Successful answers report the first (hourly) window.
        assert_eq!(answer.header("x-rate-limit-limit"), Some("100"));
        assert_eq!(
            answer.header("x-rate-limit-remaining"),
            Some((99 - n).to_string().as_str())
        );
    }
    let burst = get(&api, "/api/v1/job_titles").await;
    assert_eq!(burst.status, 429);
    assert_eq!(burst.header("x-rate-limit-limit"), Some("4"));
    assert_eq!(burst.header("x-rate-limit-remaining"), Some("0"));
    let reset: u64 = burst.header("x-rate-limit-reset").unwrap().parse().unwrap();
    assert!(reset > 500 && reset <= 600, "{reset}");
}

#[tokio::test]
async fn tokens_are_checked_with_smarthrs_error_body() {
    let api = demo().await;
    let missing = call(&api, Method::GET, "/api/v1/crews", None, None).await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.body,
        json!({"code": 2, "type": "unauthorized_token", "message": "Unauthorized token", "errors": null})
    );
    let wrong = call(&api, Method::GET, "/api/v1/crews", Some("shr_nope"), None).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.body["type"], "unauthorized_token");
    assert!(wrong.header("x-rate-limit-limit").is_none());

    let ok = get(&api, "/api/v1/crews").await;
    assert_eq!(ok.status, 200);

    api.state().revoke_token(token("full"));
    let revoked = get(&api, "/api/v1/crews").await;
    assert_eq!(revoked.status, 401);

    let records = api.state().requests();
    assert_eq!(records.len(), 4);
    assert_eq!(records[2].token.as_deref(), Some("full"));
    assert_eq!(records[3].token, None);
    assert_eq!(records[3].status, 401);
}

#[tokio::test]
async fn only_the_tenants_host_is_served() {
    let api = demo().await;
    assert_eq!(api.state().host(), format!("{DEMO_TENANT}.smarthr.jp"));
    assert_eq!(api.origin(), format!("https://{DEMO_TENANT}.smarthr.jp"));
    let other = call_as(
        &api,
        "someone-else.smarthr.jp",
        Method::GET,
        "/api/v1/crews",
        Some(token("full")),
        None,
    )
    .await;
    assert_eq!(other.status, 404);
    assert_eq!(other.body["code"], 4);
    assert_eq!(other.body["type"], "not_found");
    assert!(
        other.body["message"]
            .as_str()
            .unwrap()
            .contains("someone-else")
    );
    // The same tenant in the sandbox domain is another tenant.
    let sandbox = call_as(
        &api,
        &format!("{DEMO_TENANT}.daruma.space"),
        Method::GET,
        "/api/v1/crews",
        Some(token("full")),
        None,
    )
    .await;
    assert_eq!(sandbox.status, 404);
    // Loopback (direct access) is taken as the tenant.
    let direct = reqwest::Client::new()
        .get(format!("{}/api/v1/job_titles", api.url()))
        .bearer_auth(token("full"))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 200);
    let link = direct.headers()["link"].to_str().unwrap().to_string();
    assert!(
        link.starts_with(&format!("<{}/api/v1/job_titles?", api.url())),
        "{link}"
    );

    let sandbox_api = smarthr::start(Config::new("acme-dev", Environment::Sandbox))
        .await
        .unwrap();
    assert_eq!(sandbox_api.state().host(), "acme-dev.daruma.space");
    let ok = get(&sandbox_api, "/api/v1/job_titles").await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn lists_are_paged_with_link_and_total_count() {
    let api = demo().await;
    let all = api.state().crews();
    assert_eq!(all.len(), 300);

    let first = get(&api, "/api/v1/crews").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body.as_array().unwrap().len(), 10, "default per_page");
    assert_eq!(first.header("x-total-count"), Some("300"));
    let link = first.header("link").unwrap();
    let origin = api.origin();
    assert_eq!(
        link,
        format!(
            "<{origin}/api/v1/crews?page=1&per_page=10>; rel=\"first\", \
             <{origin}/api/v1/crews?page=2&per_page=10>; rel=\"next\", \
             <{origin}/api/v1/crews?page=30&per_page=10>; rel=\"last\""
        )
    );

    let middle = get(
        &api,
        "/api/v1/crews?page=2&per_page=100&emp_status=employed",
    )
    .await;
    let total: usize = middle.header("x-total-count").unwrap().parse().unwrap();
    let link = middle.header("link").unwrap();
    assert!(
        link.contains("emp_status=employed&page=1&per_page=100>; rel=\"first\""),
        "{link}"
    );
    assert!(
        link.contains("page=1&per_page=100>; rel=\"prev\""),
        "{link}"
    );
    assert_eq!(link.contains("rel=\"next\""), total > 200, "{link}");

    let last = get(&api, "/api/v1/crews?page=3&per_page=100").await;
    assert_eq!(ids(&last.body), ids(&Value::Array(all[200..].to_vec())));
    assert!(!last.header("link").unwrap().contains("rel=\"next\""));
    let beyond = get(&api, "/api/v1/crews?page=31").await;
    assert_eq!(beyond.body, json!([]));

    for bad in ["per_page=101", "per_page=0", "page=0", "page=x"] {
        let answer = get(&api, &format!("/api/v1/crews?{bad}")).await;
        assert_eq!(answer.status, 400, "{bad}");
        assert_eq!(answer.body["code"], 1);
        assert_eq!(answer.body["type"], "bad_request");
        assert!(answer.body["errors"][0]["field"].is_string(), "{bad}");
    }

    // Every list resource pages the same way.
    for resource in [
        "departments",
        "employment_types",
        "job_titles",
        "biz_establishments",
        "crew_custom_field_templates",
        "crew_custom_field_template_groups",
        "users",
    ] {
        let answer = get(&api, &format!("/api/v1/{resource}?per_page=3")).await;
        assert_eq!(answer.status, 200, "{resource}");
        assert!(answer.body.as_array().unwrap().len() <= 3);
        assert!(answer.header("x-total-count").is_some(), "{resource}");
        assert!(answer.header("link").unwrap().contains("rel=\"last\""));
    }
    let departments = get(&api, "/api/v1/departments?per_page=100").await;
    assert_eq!(departments.header("x-total-count"), Some("80"));
    assert_eq!(
        departments.body,
        Value::Array(api.state().all(Resource::Departments))
    );
}

#[tokio::test]
async fn crews_are_filtered_sorted_and_projected() {
    let api = demo().await;
    let all = api.state().crews();
    let expect = |keep: &dyn Fn(&Value) -> bool| -> Vec<String> {
        all.iter()
            .filter(|c| keep(c))
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };

    let retired = get(&api, "/api/v1/crews?emp_status=retired&per_page=100").await;
    let want = expect(&|c| c["emp_status"] == "retired");
    assert!(!want.is_empty());
    assert_eq!(ids(&retired.body), want);

    let women = get(&api, "/api/v1/crews?gender=female&per_page=100&page=1").await;
    assert!(
        women
            .body
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["gender"] == "female")
    );

    let contract = get(&api, "/api/v1/crews?emp_type=contract_worker&per_page=100").await;
    assert_eq!(
        ids(&contract.body),
        expect(&|c| c["employment_type"]["preset_type"] == "contract_worker")
    );

    let range = get(
        &api,
        "/api/v1/crews?entered_at_from=2015-04-01&entered_at_to=2016-03-31&per_page=100",
    )
    .await;
    let want = expect(&|c| {
        let e = c["entered_at"].as_str().unwrap();
        ("2015-04-01"..="2016-03-31").contains(&e)
    });
    assert!(!want.is_empty());
    assert_eq!(ids(&range.body), want);

    let target = &all[41];
    let code = target["emp_code"].as_str().unwrap();
    let by_code = get(&api, &format!("/api/v1/crews?emp_code={code}")).await;
    assert_eq!(ids(&by_code.body), [target["id"].as_str().unwrap()]);

    // Free text finds legal, katakana and full names.
    let last = target["last_name"].as_str().unwrap();
    let full = format!("{last}{}", target["first_name"].as_str().unwrap());
    for q in [
        last.to_string(),
        full,
        target["last_name_yomi"].as_str().unwrap().to_string(),
    ] {
        let found = get(
            &api,
            &format!("/api/v1/crews?per_page=100&q={}", urlencode(&q)),
        )
        .await;
        assert!(
            ids(&found.body).contains(&target["id"].as_str().unwrap().to_string()),
            "{q}"
        );
    }

    let sorted = get(
        &api,
        "/api/v1/crews?sort=emp_status,-entered_at&per_page=100",
    )
    .await;
    let crews = sorted.body.as_array().unwrap();
    for pair in crews.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let sa = a["emp_status"].as_str().unwrap();
        let sb = b["emp_status"].as_str().unwrap();
        assert!(sa <= sb);
        if sa == sb {
            assert!(a["entered_at"].as_str().unwrap() >= b["entered_at"].as_str().unwrap());
        }
    }

    let slim = get(&api, "/api/v1/crews?fields=id,emp_code&per_page=2").await;
    for crew in slim.body.as_array().unwrap() {
        let mut keys: Vec<&String> = crew.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["emp_code", "id"]);
    }

    for bad in [
        "emp_status=fired",
        "gender=x",
        "emp_type=boss",
        "sort=salary",
        "entered_at_from=2023-02-30",
    ] {
        let answer = get(&api, &format!("/api/v1/crews?{bad}")).await;
        assert_eq!(answer.status, 400, "{bad}");
        assert_eq!(answer.body["type"], "bad_request");
    }
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn embeds_replace_ids_with_records() {
    let api = demo().await;
    let mut users = Vec::new();
    for page in 1..=2 {
        let answer = get(
            &api,
            &format!("/api/v1/users?per_page=100&embed=crew&page={page}"),
        )
        .await;
        users.extend(answer.body.as_array().unwrap().iter().cloned());
    }
    assert_eq!(users.len(), api.state().all(Resource::Users).len());
    let with_crew = users.iter().find(|u| u["crew"].is_object()).unwrap();
    assert!(with_crew.get("crew_id").is_none());
    let crew = api
        .state()
        .crew(with_crew["crew"]["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(with_crew["crew"], crew);
    assert_eq!(crew["user_id"], with_crew["id"]);
    assert!(
        users.iter().any(|u| u["crew"].is_null()),
        "users without a crew"
    );
    let plain = get(&api, "/api/v1/users?per_page=1").await;
    assert!(plain.body[0]["crew_id"].is_string());

    let templates = get(
        &api,
        "/api/v1/crew_custom_field_templates?embed=group&per_page=100",
    )
    .await;
    let templates = templates.body.as_array().unwrap().clone();
    assert_eq!(templates.len(), 40);
    assert!(
        templates
            .iter()
            .all(|t| t["group"]["name"].is_string() && t.get("group_id").is_none())
    );

    let groups = get(
        &api,
        "/api/v1/crew_custom_field_template_groups?embed=templates",
    )
    .await;
    let groups = groups.body.as_array().unwrap();
    let members: usize = groups
        .iter()
        .map(|g| g["templates"].as_array().unwrap().len())
        .sum();
    assert_eq!(members, 40);

    let bad = get(&api, "/api/v1/users?embed=department").await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn token_rights_are_per_resource_and_access() {
    let api = demo().await;
    let read_only = token("read-only");
    let ok = call(&api, Method::GET, "/api/v1/crews", Some(read_only), None).await;
    assert_eq!(ok.status, 200);
    let first = ok.body[0]["id"].as_str().unwrap().to_string();
    let before = api.state().crew(&first).unwrap();
    let refused = call(
        &api,
        Method::PATCH,
        &format!("/api/v1/crews/{first}"),
        Some(read_only),
        Some(json!({"position": "部長"})),
    )
    .await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.body["code"], 3);
    assert_eq!(refused.body["type"], "forbidden");
    assert_eq!(api.state().crew(&first).unwrap(), before, "nothing changed");

    let crews_only = token("crews-only");
    let depts = call(
        &api,
        Method::GET,
        "/api/v1/departments",
        Some(crews_only),
        None,
    )
    .await;
    assert_eq!(depts.status, 403);
    let crews = call(&api, Method::GET, "/api/v1/crews", Some(crews_only), None).await;
    assert_eq!(crews.status, 200);

    api.state()
        .add_token(Token::new("shr_jobs", "jobs").grant(Resource::JobTitles, Access::Read));
    let jobs = call(
        &api,
        Method::GET,
        "/api/v1/job_titles",
        Some("shr_jobs"),
        None,
    )
    .await;
    assert_eq!(jobs.status, 200);
    let users = call(&api, Method::GET, "/api/v1/users", Some("shr_jobs"), None).await;
    assert_eq!(users.status, 403);
}

#[tokio::test]
async fn crews_are_created_updated_and_deleted_for_good() {
    let api = demo().await;
    let state = api.state();
    let dept = state.all(Resource::Departments)[20].clone();
    let etype = state.all(Resource::EmploymentTypes)[2].clone();
    let template = state
        .all(Resource::CrewCustomFieldTemplates)
        .into_iter()
        .find(|t| t["type"] == "enum")
        .unwrap();
    let choice = template["elements"][1].clone();

    let created = get_write(
        &api,
        Method::POST,
        "/api/v1/crews",
        json!({
            "last_name": "山田", "first_name": "花子", "emp_code": "99001",
            "last_name_yomi": "ヤマダ", "first_name_yomi": "ハナコ",
            "gender": "female", "entered_at": "2025-04-01",
            "department_ids": [dept["id"]], "employment_type_id": etype["id"],
            "custom_fields": [{"template_id": template["id"], "value": choice["physical_name"]}],
            "unknown_key": "ignored"
        }),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let crew = created.body.clone();
    let id = crew["id"].as_str().unwrap().to_string();
    assert_eq!(crew["emp_status"], "employed");
    assert_eq!(crew["departments"][0]["name"], dept["name"]);
    assert_eq!(crew["department"], dept["name"]);
    assert_eq!(crew["employment_type"]["id"], etype["id"]);
    assert_eq!(crew["emp_type"], etype["preset_type"]);
    assert_eq!(crew["custom_fields"][0]["value"], choice["id"]);
    assert!(crew.get("unknown_key").is_none());
    assert_eq!(state.crew(&id).unwrap(), crew);
    assert_eq!(state.crews().len(), 301);
    let listed = get(&api, "/api/v1/crews?emp_code=99001").await;
    assert_eq!(ids(&listed.body), std::slice::from_ref(&id));

    let updated = get_write(
        &api,
        Method::PATCH,
        &format!("/api/v1/crews/{id}"),
        json!({"emp_status": "retired", "resigned_at": "2025-09-30", "gender": null,
               "custom_fields": [{"template_id": template["id"], "value": null}]}),
    )
    .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["emp_status"], "retired");
    assert_eq!(updated.body["gender"], Value::Null);
    assert_eq!(updated.body["custom_fields"], json!([]));
    assert_eq!(updated.body["last_name"], "山田", "untouched fields stay");
    assert_eq!(
        get(&api, &format!("/api/v1/crews/{id}")).await.body,
        updated.body
    );

    let duplicate = get_write(
        &api,
        Method::POST,
        "/api/v1/crews",
        json!({"last_name": "a", "first_name": "b", "emp_code": "99001"}),
    )
    .await;
    assert_eq!(duplicate.status, 400);
    assert_eq!(
        duplicate.body["errors"][0],
        json!({"message": "has already been taken", "resource": "crew", "field": "emp_code"})
    );
    for (body, field) in [
        (json!({"first_name": "b"}), "last_name"),
        (
            json!({"last_name": "a", "first_name": "b", "birth_at": "1990-02-30"}),
            "birth_at",
        ),
        (
            json!({"last_name": "a", "first_name": "b", "department_ids": ["nope"]}),
            "department_ids",
        ),
        (
            json!({"last_name": "a", "first_name": "b", "emp_status": "fired"}),
            "emp_status",
        ),
        (
            json!({"last_name": "a", "first_name": "b", "entered_at": "2020-01-01", "resigned_at": "2019-01-01"}),
            "resigned_at",
        ),
    ] {
        let answer = get_write(&api, Method::POST, "/api/v1/crews", body).await;
        assert_eq!(answer.status, 400, "{field}");
        assert_eq!(answer.body["errors"][0]["field"], field);
    }
    assert_eq!(state.crews().len(), 301, "refused writes change nothing");

    let deleted = get_write(
        &api,
        Method::DELETE,
        &format!("/api/v1/crews/{id}"),
        Value::Null,
    )
    .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.body, Value::Null);
    assert!(state.crew(&id).is_none());
    let gone = get(&api, &format!("/api/v1/crews/{id}")).await;
    assert_eq!(gone.status, 404);
    assert_eq!(
        gone.body,
        json!({"code": 4, "type": "not_found", "message": "Not found", "errors": null})
    );

    // An administrator's crew cannot be deleted.
    let admin = state
        .all(Resource::Users)
        .into_iter()
        .find(|u| u["admin"] == true)
        .unwrap();
    let admin_crew = admin["crew_id"].as_str().unwrap();
    let refused = get_write(
        &api,
        Method::DELETE,
        &format!("/api/v1/crews/{admin_crew}"),
        Value::Null,
    )
    .await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.body["code"], 8);
    assert_eq!(refused.body["type"], "non_deletable_resource");
    assert!(state.crew(admin_crew).is_some());
}

async fn get_write(api: &SmartHr, method: Method, path: &str, body: Value) -> Answer {
    let body = (!body.is_null()).then_some(body);
    call(api, method, path, Some(token("full")), body).await
}

#[tokio::test]
async fn rate_limits_are_per_token_with_headers() {
    let mut config = Config::new("acme", Environment::Production);
    config.rate_limits = vec![RateLimit {
        requests: 3,
        window: Duration::from_secs(3600),
    }];
    let api = smarthr::start(config).await.unwrap();
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let answer = get(&api, "/api/v1/job_titles").await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("x-rate-limit-limit"), Some("3"));
        let reset: u64 = answer
            .header("x-rate-limit-reset")
            .unwrap()
            .parse()
            .unwrap();
        assert!(reset > 3500 && reset <= 3600, "{reset}");
        remaining.push(answer.header("x-rate-limit-remaining").unwrap().to_string());
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let limited = get(&api, "/api/v1/job_titles").await;
    assert_eq!(limited.status, 429);
    assert_eq!(
        limited.body,
        json!({"code": 6, "type": "too_many_requests", "message": "Too many requests", "errors": null})
    );
    assert_eq!(limited.header("x-rate-limit-remaining"), Some("0"));
    // Another token has its own window.
    let other = call(
        &api,
        Method::GET,
        "/api/v1/job_titles",
        Some(token("read-only")),
        None,
    )
    .await;
    assert_eq!(other.status, 200);

    api.state().set_rate_limits(Vec::new());
    let free = get(&api, "/api/v1/job_titles").await;
    assert_eq!(free.status, 200);
    assert!(free.header("x-rate-limit-limit").is_none());

    api.state().throttle_next(1, 7);
    let throttled = get(&api, "/api/v1/job_titles").await;
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.header("x-rate-limit-reset"), Some("7"));
    assert_eq!(get(&api, "/api/v1/job_titles").await.status, 200);
}

#[tokio::test]
async fn injected_failures_use_smarthrs_codes() {
    let api = demo().await;
    api.state().fail_next(1, 503);
    api.state().fail_next(1, 500);
    let maintenance = get(&api, "/api/v1/crews").await;
    assert_eq!(maintenance.status, 503);
    assert_eq!(maintenance.body["code"], 9);
    assert_eq!(maintenance.body["type"], "service_maintenance");
    let internal = get(&api, "/api/v1/crews").await;
    assert_eq!(internal.status, 500);
    assert_eq!(internal.body["code"], 5);
    assert_eq!(get(&api, "/api/v1/crews").await.status, 200);
    assert_eq!(api.state().request_count(), 3);
    assert_eq!(api.state().requests_to(0, "GET", "/api/v1/crews").len(), 3);
}

#[tokio::test]
async fn unknown_paths_and_methods_are_smarthr_404s() {
    let api = demo().await;
    let unknown = get(&api, "/api/v1/payrolls_of_the_future").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["code"], 4);
    let wrong_method = get_write(
        &api,
        Method::POST,
        "/api/v1/departments",
        json!({"name": "x"}),
    )
    .await;
    assert_eq!(wrong_method.status, 404);
    assert_eq!(wrong_method.body["type"], "not_found");
    let dept = api.state().all(Resource::Departments)[0].clone();
    let one = get(
        &api,
        &format!("/api/v1/departments/{}", dept["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(one.body, dept);
}
