//! The Paycor emulator over real HTTP: the API gateway's subscription-key
//! checks and rate limit, the authorization-code flow with PKCE and rotating
//! refresh tokens behind the same gateway, Data Access per endpoint and per
//! `include`, continuation-token paging, filters, casing, errors and writes.

use cardhost_emulators::oauth::pkce_challenge;
use cardhost_emulators::paycor::{
    self, Casing, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_LEGAL_ENTITY, DEMO_REDIRECT_URI,
    DEMO_SUBSCRIPTION_KEY, DEMO_TENANT, INVALID_KEY_MESSAGE, MISSING_KEY_MESSAGE,
    OTHER_LEGAL_ENTITY, Paycor, RateLimit, Right, SCOPE_EMPLOYEES_ONLY, SCOPE_FULL,
    SCOPE_READ_ONLY,
};
use serde_json::{Value, json};
use std::time::Duration;

const VERIFIER: &str = "XvI4T17p7jkUlpuQRaOh8lHL3Ap5fn2wuofOEPoPcYitQT815Si6x8th";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.unwrap();
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

/// A GET of the API with the demo key (unless `key` says otherwise) and a token.
async fn get(paycor: &Paycor, path: &str, token: &str) -> Answer {
    send(
        client()
            .get(format!("{}{path}", paycor.url()))
            .header("Ocp-Apim-Subscription-Key", DEMO_SUBSCRIPTION_KEY)
            .bearer_auth(token),
    )
    .await
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

async fn token_request(paycor: &Paycor, key: Option<&str>, pairs: &[(&str, &str)]) -> Answer {
    let url = match key {
        Some(k) => format!("{}?subscription-key={k}", paycor.token_url()),
        None => paycor.token_url(),
    };
    send(
        client()
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(pairs)),
    )
    .await
}

/// Runs the consent (auto-approved) with PKCE and returns the code.
async fn consent(paycor: &Paycor, scope: &str, key: Option<&str>) -> Answer {
    let challenge = pkce_challenge(VERIFIER);
    let scope = format!("{scope} offline_access");
    let mut pairs = vec![
        ("client_id", DEMO_CLIENT_ID),
        ("response_type", "code"),
        ("redirect_uri", DEMO_REDIRECT_URI),
        ("scope", scope.as_str()),
        ("state", "st-1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if let Some(key) = key {
        pairs.push(("subscription-key", key));
    }
    send(client().get(format!("{}?{}", paycor.authorize_url(), form(&pairs)))).await
}

fn code_of(answer: &Answer) -> String {
    assert_eq!(answer.status, 302, "{}", answer.text);
    let location = url::Url::parse(answer.headers["location"].to_str().unwrap()).unwrap();
    let q: std::collections::BTreeMap<String, String> =
        location.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "st-1");
    q["code"].clone()
}

/// Authorizes the demo app for `scope` and returns (access, refresh).
async fn authorize(paycor: &Paycor, scope: &str) -> (String, String) {
    let code = code_of(&consent(paycor, scope, Some(DEMO_SUBSCRIPTION_KEY)).await);
    let answer = token_request(
        paycor,
        Some(DEMO_SUBSCRIPTION_KEY),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", DEMO_REDIRECT_URI),
        ],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["expires_in"], 1800);
    (
        body["access_token"].as_str().unwrap().to_string(),
        body["refresh_token"].as_str().unwrap().to_string(),
    )
}

fn employees_path(le: i64) -> String {
    format!("/v1/legalentities/{le}/employees")
}

#[tokio::test]
async fn the_gateway_checks_the_subscription_key_before_the_token() {
    let paycor = paycor::start_demo(0).await.unwrap();
    let (token, _) = authorize(&paycor, SCOPE_FULL).await;
    let url = format!("{}{}", paycor.url(), employees_path(DEMO_LEGAL_ENTITY));

    let missing = send(client().get(&url).bearer_auth(&token)).await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.json(),
        json!({"statusCode": 401, "message": MISSING_KEY_MESSAGE})
    );
    let invalid = send(
        client()
            .get(&url)
            .header("Ocp-Apim-Subscription-Key", "not-a-key")
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(invalid.status, 401);
    assert_eq!(invalid.json()["message"], INVALID_KEY_MESSAGE);

    // The key may also travel as `subscription-key` in the query.
    let by_query = send(
        client()
            .get(format!("{url}?subscription-key={DEMO_SUBSCRIPTION_KEY}"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(by_query.status, 200, "{}", by_query.text);

    // A good key with a bad token: 401 with no body.
    let bad_token = get(&paycor, &employees_path(DEMO_LEGAL_ENTITY), "forged").await;
    assert_eq!(bad_token.status, 401);
    assert_eq!(bad_token.text, "");
    assert_eq!(bad_token.headers["www-authenticate"], "Bearer");
    let no_token = send(
        client()
            .get(&url)
            .header("Ocp-Apim-Subscription-Key", DEMO_SUBSCRIPTION_KEY),
    )
    .await;
    assert_eq!(no_token.status, 401);

    // The token endpoint is behind the same gateway.
    let answer = token_request(&paycor, None, &[("grant_type", "refresh_token")]).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json()["message"], MISSING_KEY_MESSAGE);
    let answer = token_request(&paycor, Some("nope"), &[("grant_type", "refresh_token")]).await;
    assert_eq!(answer.json()["message"], INVALID_KEY_MESSAGE);

    let log = paycor.state().requests();
    let last_api = log
        .iter()
        .rev()
        .find(|r| r.path == employees_path(DEMO_LEGAL_ENTITY))
        .unwrap();
    assert_eq!(last_api.status, 401);
    assert_eq!(
        last_api.subscription_key.as_deref(),
        Some(DEMO_SUBSCRIPTION_KEY)
    );
    assert!(
        log.iter()
            .any(|r| r.status == 200 && r.client_id.as_deref() == Some(DEMO_CLIENT_ID))
    );
}

#[tokio::test]
async fn authorization_code_with_pkce_and_rotating_refresh_tokens() {
    let paycor = paycor::start_demo(0).await.unwrap();

    // The consent page wants the subscription key too.
    let refused = consent(&paycor, SCOPE_READ_ONLY, None).await;
    assert_eq!(refused.status, 400);
    assert!(refused.text.contains("subscription-key"));
    let refused = consent(&paycor, SCOPE_READ_ONLY, Some("wrong")).await;
    assert_eq!(refused.status, 400);

    // A scope that is not one of the app's versions is refused.
    let unknown = consent(&paycor, "no-such-version", Some(DEMO_SUBSCRIPTION_KEY)).await;
    assert_eq!(unknown.status, 302);
    assert!(
        unknown.headers["location"]
            .to_str()
            .unwrap()
            .contains("error=invalid_scope")
    );

    // The code needs the verifier.
    let code = code_of(&consent(&paycor, SCOPE_READ_ONLY, Some(DEMO_SUBSCRIPTION_KEY)).await);
    let wrong = token_request(
        &paycor,
        Some(DEMO_SUBSCRIPTION_KEY),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("code", &code),
            ("code_verifier", &VERIFIER.replace('X', "Y")),
            ("redirect_uri", DEMO_REDIRECT_URI),
        ],
    )
    .await;
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.json()["error"], "invalid_grant");

    let (access, refresh) = authorize(&paycor, SCOPE_READ_ONLY).await;
    assert_eq!(
        get(&paycor, &employees_path(DEMO_LEGAL_ENTITY), &access)
            .await
            .status,
        200
    );

    // Refreshing rotates the refresh token; the spent one is invalid_grant.
    paycor.oauth().expire_access_tokens();
    assert_eq!(
        get(&paycor, &employees_path(DEMO_LEGAL_ENTITY), &access)
            .await
            .status,
        401
    );
    let refresh_form = |token: &str| {
        vec![
            ("grant_type".to_string(), "refresh_token".to_string()),
            ("client_id".to_string(), DEMO_CLIENT_ID.to_string()),
            ("client_secret".to_string(), DEMO_CLIENT_SECRET.to_string()),
            ("refresh_token".to_string(), token.to_string()),
        ]
    };
    let pairs = refresh_form(&refresh);
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let renewed = token_request(&paycor, Some(DEMO_SUBSCRIPTION_KEY), &pairs).await;
    assert_eq!(renewed.status, 200, "{}", renewed.text);
    let renewed = renewed.json();
    let next_refresh = renewed["refresh_token"].as_str().unwrap();
    assert_ne!(next_refresh, refresh);
    let next_access = renewed["access_token"].as_str().unwrap();
    assert_eq!(
        get(&paycor, &employees_path(DEMO_LEGAL_ENTITY), next_access)
            .await
            .status,
        200
    );
    let reused = token_request(&paycor, Some(DEMO_SUBSCRIPTION_KEY), &pairs).await;
    assert_eq!(reused.status, 400);
    assert_eq!(reused.json()["error"], "invalid_grant");

    // Client authentication is in the form body only.
    let basic = send(
        client()
            .post(format!(
                "{}?subscription-key={DEMO_SUBSCRIPTION_KEY}",
                paycor.token_url()
            ))
            .basic_auth(DEMO_CLIENT_ID, Some(DEMO_CLIENT_SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
            ])),
    )
    .await;
    assert_eq!(basic.status, 401);
    assert_eq!(basic.json()["error"], "invalid_client");
}

#[tokio::test]
async fn data_access_decides_each_endpoint_include_and_legal_entity() {
    let paycor = paycor::start_demo(0).await.unwrap();
    let state = paycor.state();
    let (full, _) = authorize(&paycor, SCOPE_FULL).await;
    let (read_only, _) = authorize(&paycor, SCOPE_READ_ONLY).await;
    let (employees_only, _) = authorize(&paycor, SCOPE_EMPLOYEES_ONLY).await;
    let employee = state.employee_ids(DEMO_LEGAL_ENTITY)[3].clone();

    let departments = format!("/v1/legalentities/{DEMO_LEGAL_ENTITY}/departments");
    assert_eq!(get(&paycor, &departments, &full).await.status, 200);
    let refused = get(&paycor, &departments, &employees_only).await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.text, "", "403 has no body");
    assert_eq!(
        state.refusals().last().unwrap(),
        "View Legal Entity Departments Information"
    );

    // An include needs its own right; `All` returns what the app may see.
    let with_status = format!("{}?include=Status", employees_path(DEMO_LEGAL_ENTITY));
    assert_eq!(
        get(&paycor, &with_status, &employees_only).await.status,
        403
    );
    assert_eq!(
        state.refusals().last().unwrap(),
        "View Legal Entity Employees Status"
    );
    let all = format!("{}?include=All", employees_path(DEMO_LEGAL_ENTITY));
    let page = get(&paycor, &all, &employees_only).await.json();
    assert_eq!(page["records"][0]["statusData"], Value::Null);
    let page = get(&paycor, &all, &full).await.json();
    assert_eq!(page["records"][0]["statusData"]["status"], "Active");
    assert!(page["records"][0]["workLocation"]["name"].is_string());
    let one = get(
        &paycor,
        &format!("/v1/employees/{employee}?include=Position&include=EmploymentDates"),
        &full,
    )
    .await
    .json();
    assert!(one["positionData"]["jobTitle"].is_string());
    assert!(one["employmentDateData"]["hireDate"].is_string());
    assert_eq!(one["statusData"], Value::Null);

    // Persons: the endpoint's right, then each include's.
    let person = get(&paycor, &format!("/v1/employees/{employee}/person"), &full)
        .await
        .json();
    assert_eq!(person["socialSecurityNumber"], Value::Null);
    let person_id = person["id"].as_str().unwrap();
    let by_tenant =
        format!("/v1/tenants/{DEMO_TENANT}/persons/{person_id}?include=Phones,Addresses");
    let p = get(&paycor, &by_tenant, &full).await.json();
    assert_eq!(p["phones"][0]["type"], "Mobile");
    assert_eq!(p["addresses"][0]["type"], "Primary");
    assert_eq!(get(&paycor, &by_tenant, &employees_only).await.status, 403);
    state.set_scope_rights(
        DEMO_CLIENT_ID,
        SCOPE_READ_ONLY,
        &[Right::ViewPersonInformation, Right::ViewPersonPhone],
    );
    assert_eq!(get(&paycor, &by_tenant, &read_only).await.status, 403);
    assert_eq!(state.refusals().last().unwrap(), "View Person Addresses");
    let phones_only = format!("/v1/tenants/{DEMO_TENANT}/persons/{person_id}?include=Phones");
    assert_eq!(get(&paycor, &phones_only, &read_only).await.status, 200);

    // Writes need Update Employee Contact.
    let put = |token: &str| {
        client()
            .put(format!("{}/v1/employees/{employee}", paycor.url()))
            .header("Ocp-Apim-Subscription-Key", DEMO_SUBSCRIPTION_KEY)
            .bearer_auth(token.to_string())
            .json(&json!({"WorkEmail": "x@y.example"}))
    };
    assert_eq!(send(put(&read_only)).await.status, 403);
    assert_eq!(send(put(&full)).await.status, 201);

    // A legal entity the app is not activated for.
    assert_eq!(
        get(&paycor, &employees_path(OTHER_LEGAL_ENTITY), &full)
            .await
            .status,
        403
    );
    assert_eq!(
        state.refusals().last().unwrap(),
        &format!("activation for legal entity {OTHER_LEGAL_ENTITY}")
    );
}

#[tokio::test]
async fn lists_page_with_continuation_tokens_and_filter() {
    let paycor = paycor::start_demo(0).await.unwrap();
    let state = paycor.state();
    let (token, _) = authorize(&paycor, SCOPE_FULL).await;

    // Employees come 200 a page by default.
    let first = get(&paycor, &employees_path(DEMO_LEGAL_ENTITY), &token)
        .await
        .json();
    assert_eq!(first["records"].as_array().unwrap().len(), 200);
    assert_eq!(first["hasMoreResults"], true);

    state.set_page_sizes(100, 5);
    let mut ids = Vec::new();
    let mut path = employees_path(DEMO_LEGAL_ENTITY);
    let mut pages = 0;
    loop {
        let page = get(&paycor, &path, &token).await.json();
        pages += 1;
        for r in page["records"].as_array().unwrap() {
            ids.push(r["id"].as_str().unwrap().to_string());
        }
        if page["hasMoreResults"] == false {
            assert_eq!(page["continuationToken"], Value::Null);
            break;
        }
        // Follow AdditionalResultsUrl as Paycor suggests.
        path = page["additionalResultsUrl"].as_str().unwrap().to_string();
        assert!(path.contains(page["continuationToken"].as_str().unwrap()));
    }
    assert_eq!(pages, 5);
    assert_eq!(ids, state.employee_ids(DEMO_LEGAL_ENTITY));

    // Departments page at the other size; a token only fits its own list.
    let departments = format!("/v1/legalentities/{DEMO_LEGAL_ENTITY}/departments");
    let page = get(&paycor, &departments, &token).await.json();
    assert_eq!(page["records"].as_array().unwrap().len(), 5);
    let department_token = page["continuationToken"].as_str().unwrap().to_string();
    let misused = get(
        &paycor,
        &format!(
            "{}?continuationToken={department_token}",
            employees_path(DEMO_LEGAL_ENTITY)
        ),
        &token,
    )
    .await;
    assert_eq!(misused.status, 400);
    assert_eq!(misused.json()["title"], "Validation Error");

    // Filters, with filters kept in AdditionalResultsUrl.
    let terminated = get(
        &paycor,
        &format!(
            "{}?statusFilter=terminated&include=Status",
            employees_path(DEMO_LEGAL_ENTITY)
        ),
        &token,
    )
    .await
    .json();
    let records = terminated["records"].as_array().unwrap();
    assert!(!records.is_empty());
    assert!(
        records
            .iter()
            .all(|r| r["statusData"]["status"] == "Terminated")
    );
    let by_name = get(
        &paycor,
        &format!("{}?lastName=o'brien", employees_path(DEMO_LEGAL_ENTITY)),
        &token,
    )
    .await
    .json();
    assert!(!by_name["records"].as_array().unwrap().is_empty());
    assert!(
        by_name["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["lastName"] == "O'Brien")
    );
    let by_number = get(
        &paycor,
        &format!("{}?employeeNumber=1042", employees_path(DEMO_LEGAL_ENTITY)),
        &token,
    )
    .await
    .json();
    assert_eq!(by_number["records"][0]["employeeNumber"], "1042");
    assert_eq!(by_number["records"].as_array().unwrap().len(), 1);
    let by_department = get(
        &paycor,
        &format!("{}?departmentCode=120", employees_path(DEMO_LEGAL_ENTITY)),
        &token,
    )
    .await
    .json();
    assert_eq!(by_department["hasMoreResults"], false);
    assert_eq!(by_department["records"].as_array().unwrap().len(), 27);
    let bad = get(
        &paycor,
        &format!(
            "{}?statusFilter=Sleeping",
            employees_path(DEMO_LEGAL_ENTITY)
        ),
        &token,
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.json()["source"]["statusFilter"],
        "The value 'Sleeping' is not valid."
    );
    let home = get(
        &paycor,
        &format!("{}?emailType=Home", employees_path(DEMO_LEGAL_ENTITY)),
        &token,
    )
    .await
    .json();
    assert_eq!(home["records"][0]["email"]["type"], "Home");
}

#[tokio::test]
async fn casing_errors_and_case_sensitive_paths() {
    let paycor = paycor::start_demo(0).await.unwrap();
    let state = paycor.state();
    let (token, _) = authorize(&paycor, SCOPE_FULL).await;
    let legal_entity = format!("/v1/legalentities/{DEMO_LEGAL_ENTITY}?include=BusinessNames");

    let camel = get(&paycor, &legal_entity, &token).await.json();
    assert_eq!(camel["name"], "Buckeye Outfitters LLC");
    assert_eq!(camel["tenant"]["id"], DEMO_TENANT.to_string());
    assert_eq!(
        camel["businessNames"][0]["addresses"][0]["zipCode"],
        "45212"
    );
    state.set_casing(Casing::Pascal);
    let pascal = get(&paycor, &legal_entity, &token).await.json();
    assert_eq!(pascal["Name"], "Buckeye Outfitters LLC");
    assert!(pascal.get("name").is_none());

    let missing = get(
        &paycor,
        "/v1/employees/00000000-0000-4000-8000-000000000000",
        &token,
    )
    .await;
    assert_eq!(missing.status, 404);
    let body = missing.json();
    assert_eq!(body["Title"], "Not Found");
    assert!(body["Detail"].as_str().unwrap().contains("was not found"));
    assert!(body["CorrelationId"].is_string());
    let malformed = get(&paycor, "/v1/employees/not-a-guid", &token).await;
    assert_eq!(malformed.status, 400);
    assert_eq!(
        malformed.json()["Source"]["employeeId"],
        "The value 'not-a-guid' is not valid."
    );

    // Paths are case-sensitive: `legalEntities` is another (unknown) route here.
    let wrong_case = get(
        &paycor,
        &format!("/v1/legalEntities/{DEMO_LEGAL_ENTITY}/employees"),
        &token,
    )
    .await;
    assert_eq!(wrong_case.status, 404);
    assert_eq!(
        wrong_case.json(),
        json!({"statusCode": 404, "message": "Resource not found"})
    );
}

#[tokio::test]
async fn contact_updates_persist_and_bodies_are_validated() {
    let paycor = paycor::start_demo(0).await.unwrap();
    let state = paycor.state();
    let (token, _) = authorize(&paycor, SCOPE_FULL).await;
    let employee = state.employee_ids(DEMO_LEGAL_ENTITY)[7].clone();
    let put = |body: Value| {
        client()
            .put(format!("{}/v1/employees/{employee}", paycor.url()))
            .header("Ocp-Apim-Subscription-Key", DEMO_SUBSCRIPTION_KEY)
            .bearer_auth(&token)
            .json(&body)
    };

    // camelCase and PascalCase bodies both bind.
    let answer = send(put(json!({
        "workEmail": "priya.patel@buckeye-outfitters.example",
        "HomeEmail": "priya@home.example",
        "phones": [{"type": "Work", "countryCode": "1", "areaCode": "513", "phoneNumber": "555-0142"}],
        "PrimaryAddress": {"StreetLine1": "10 Vine Street", "City": "Cincinnati", "State": "OH", "ZipCode": "45202"}
    })))
    .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    assert_eq!(answer.json()["resourceUrl"]["id"], employee);
    assert_eq!(state.contact_updates(), 1);

    let stored = state.employee(&employee).unwrap();
    assert_eq!(
        stored["Email"]["EmailAddress"],
        "priya.patel@buckeye-outfitters.example"
    );
    let person = state.person_of(&employee).unwrap();
    assert_eq!(person["Email"]["EmailAddress"], "priya@home.example");
    let phones = person["Phones"].as_array().unwrap();
    assert!(
        phones.iter().any(|p| p["Type"] == "Mobile"),
        "other types stay"
    );
    assert!(
        phones
            .iter()
            .any(|p| p["Type"] == "Work" && p["PhoneNumber"] == "555-0142")
    );
    assert_eq!(person["Addresses"][0]["StreetLine1"], "10 Vine Street");
    assert_eq!(person["Addresses"].as_array().unwrap().len(), 1);
    let read_back = get(&paycor, &format!("/v1/employees/{employee}"), &token)
        .await
        .json();
    assert_eq!(
        read_back["email"]["emailAddress"],
        "priya.patel@buckeye-outfitters.example"
    );

    // Validation errors name the fields and change nothing.
    let answer = send(put(json!({
        "WorkEmail": "not an email",
        "Phones": [{"Type": "Pager", "PhoneNumber": "555-0100"}],
        "PrimaryAddress": {"StreetLine1": "1 Main Street"}
    })))
    .await;
    assert_eq!(answer.status, 400);
    let source = &answer.json()["source"];
    assert_eq!(
        source["WorkEmail"],
        "The WorkEmail field is not a valid e-mail address."
    );
    assert!(source["Phones[0].Type"].is_string());
    assert_eq!(
        source["PrimaryAddress.ZipCode"],
        "The ZipCode field is required."
    );
    assert_eq!(state.contact_updates(), 1);

    // An injected 500 reaches the client and applies nothing.
    state.fail_next(1, 500);
    let answer = send(put(
        json!({"WorkEmail": "other@buckeye-outfitters.example"}),
    ))
    .await;
    assert_eq!(answer.status, 500);
    assert_eq!(answer.json()["title"], "Internal Server Error");
    assert_eq!(state.contact_updates(), 1);
}

#[tokio::test]
async fn rate_limits_are_per_key_with_retry_after() {
    let mut config = paycor::Config::demo();
    config.subscription_keys.push("second-key-0000".into());
    config.rate_limit = Some(RateLimit {
        calls: 3,
        window: Duration::from_secs(60),
    });
    let paycor = paycor::start(config).await.unwrap();
    let state = paycor.state();
    let (token, _) = authorize(&paycor, SCOPE_FULL).await;
    let path = format!("/v1/legalentities/{DEMO_LEGAL_ENTITY}");
    for _ in 0..3 {
        assert_eq!(get(&paycor, &path, &token).await.status, 200);
    }
    let limited = get(&paycor, &path, &token).await;
    assert_eq!(limited.status, 429);
    let seconds: u32 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&seconds));
    assert_eq!(
        limited.json(),
        json!({"statusCode": 429, "message": format!("Rate limit is exceeded. Try again in {seconds} seconds.")})
    );
    // Another subscription key has its own budget.
    let other = send(
        client()
            .get(format!("{}{path}", paycor.url()))
            .header("Ocp-Apim-Subscription-Key", "second-key-0000")
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(other.status, 200);

    // Injected throttling, then normal service.
    state.set_rate_limit(None);
    state.throttle_next(1, 7);
    let throttled = get(&paycor, &path, &token).await;
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.headers["retry-after"], "7");
    assert_eq!(get(&paycor, &path, &token).await.status, 200);
    assert_eq!(state.count("GET", &path), 7);
}
