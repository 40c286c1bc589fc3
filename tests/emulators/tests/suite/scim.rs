//! The Fourth SCIM emulator with tokens from the OAuth2 emulator: paging,
//! filters, discovery, errors, scopes, writes, rate limits and the response
//! variations real SCIM servers show.

use cardhost_emulators::oauth;
use cardhost_emulators::scim::{
    self, ContentType, DEMO_CLIENTS, Demo, RateLimit, ResponseStyle, filter,
};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::time::Duration;

fn secret_of(client_id: &str) -> &'static str {
    DEMO_CLIENTS
        .iter()
        .find(|(id, _, _)| *id == client_id)
        .map(|(_, secret, _)| *secret)
        .unwrap()
}

async fn token(demo: &Demo, client_id: &str, scope: &str) -> String {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", client_id)
        .append_pair("client_secret", secret_of(client_id))
        .append_pair("scope", scope)
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
    resp["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {resp}"))
        .to_string()
}

async fn call(
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, HeaderMap, Value) {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/scim+json")
            .body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    };
    (status, headers, value)
}

async fn get(url: &str, token: &str) -> (u16, HeaderMap, Value) {
    call(reqwest::Method::GET, url, Some(token), None, &[]).await
}

/// `/Users?filter=…` with the filter encoded as one component.
fn users_with_filter(base: &str, filter: &str, extra: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
    format!("{base}/Users?filter={encoded}{extra}")
}

fn ids(body: &Value) -> Vec<String> {
    body["Resources"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|u| u["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn id_list(users: &[Value]) -> Vec<String> {
    users
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn users_are_paged_with_start_index_and_count() {
    let demo = scim::start_demo(0, 0).await.unwrap();
    let base = demo.api.base_url();
    assert!(base.ends_with("/scim/v2"));
    let t = token(&demo, "harbourvine-partner", "scim").await;
    let all = id_list(&demo.api.state().users());
    assert_eq!(all.len(), 320);

    let (status, headers, page) = get(&format!("{base}/Users"), &t).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/scim+json")
    );
    assert_eq!(page["schemas"], json!([scim::LIST_RESPONSE]));
    assert_eq!(page["totalResults"], 320);
    assert_eq!(page["startIndex"], 1);
    assert_eq!(page["itemsPerPage"], 100);
    assert_eq!(ids(&page), all[..100]);
    let location = page["Resources"][0]["meta"]["location"].as_str().unwrap();
    assert_eq!(location, format!("{base}/Users/{}", all[0]));

    // More than maxResults gets maxResults: fewer than asked for.
    let (_, _, page) = get(&format!("{base}/Users?count=250&startIndex=101"), &t).await;
    assert_eq!(page["itemsPerPage"], 100);
    assert_eq!(ids(&page), all[100..200]);
    let (_, _, page) = get(&format!("{base}/Users?startIndex=301&count=50"), &t).await;
    assert_eq!(ids(&page), all[300..]);
    // Beyond the end, and count=0: no Resources at all.
    for url in [
        format!("{base}/Users?startIndex=400"),
        format!("{base}/Users?count=0"),
    ] {
        let (status, _, page) = get(&url, &t).await;
        assert_eq!(status, 200);
        assert!(page.get("Resources").is_none(), "{page}");
        assert_eq!(page["totalResults"], 320);
        assert_eq!(page["itemsPerPage"], 0);
    }
    // startIndex below 1 counts as 1 (RFC 7644 §3.4.2.4).
    let (_, _, page) = get(&format!("{base}/Users?startIndex=-4&count=2"), &t).await;
    assert_eq!(ids(&page), all[..2]);
    let (status, _, body) = get(&format!("{base}/Users?count=ten"), &t).await;
    assert_eq!(status, 400);
    assert_eq!(body["scimType"], "invalidValue");

    let (status, headers, user) = get(&format!("{base}/Users/{}", all[7]), &t).await;
    assert_eq!(status, 200);
    assert_eq!(user["id"], all[7].as_str());
    assert_eq!(headers["etag"], user["meta"]["version"].as_str().unwrap());
    let (status, _, body) = get(&format!("{base}/Users/no-such-user"), &t).await;
    assert_eq!(status, 404);
    assert_eq!(body["status"], "404");
    assert_eq!(body["schemas"], json!([scim::ERROR]));
}

#[tokio::test]
async fn filters_handle_quotes_spaces_and_escapes() {
    let demo = scim::start_demo(0, 0).await.unwrap();
    let base = demo.api.base_url();
    let t = token(&demo, "harbourvine-partner", "scim").await;
    let state = demo.api.state();
    let users = state.users();

    let expect = |f: &str| id_list(&state.users_matching(f));
    let check = |f: String, expected: Vec<String>| {
        let url = users_with_filter(&base, &f, "&count=100");
        let t = t.clone();
        async move {
            let (status, _, body) = get(&url, &t).await;
            assert_eq!(status, 200, "{f}: {body}");
            assert!(!expected.is_empty(), "{f} should match someone");
            assert_eq!(body["totalResults"], expected.len(), "{f}");
            let first_page = &expected[..expected.len().min(100)];
            assert!(ids(&body) == first_page, "{f}: another page came back");
        }
    };

    // A display name with double quotes, escaped JSON-style.
    let quoted = users[3]["displayName"].as_str().unwrap();
    assert!(quoted.contains('"'));
    let f = format!("displayName eq {}", serde_json::to_string(quoted).unwrap());
    check(f, vec![users[3]["id"].as_str().unwrap().to_string()]).await;
    // A domain-style userName with a backslash, matched case-insensitively.
    let backslash = users[11]["userName"].as_str().unwrap();
    let f = format!(
        "userName eq {}",
        serde_json::to_string(&backslash.to_uppercase()).unwrap()
    );
    check(f, vec![users[11]["id"].as_str().unwrap().to_string()]).await;
    // A plus in an email address.
    let plus = r#"emails.value co "+rota@""#;
    check(plus.into(), expect(plus)).await;
    // Apostrophes and spaces in names; and/or precedence; value paths.
    let f = r#"name.familyName eq "O'Neill" or name.familyName eq "De la Cruz" or name.givenName eq "Mary Ann""#;
    check(f.into(), expect(f)).await;
    let f = r#"addresses[type eq "work" and formatted eq "Harbour & Vine Covent Garden"] and active eq true"#;
    check(f.into(), expect(f)).await;
    let f = r#"title ew "Porter" and not (emails pr)"#;
    let got = expect(f);
    check(f.into(), got).await;
    let f = "meta.lastModified gt \"2025-09-01T00:00:00+01:00\"";
    let recent = expect(f);
    assert!(recent.len() < users.len());
    check(f.into(), recent).await;
    let f = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division eq \"hotels\"";
    check(f.into(), expect(f)).await;

    // Counted across pages.
    let url = users_with_filter(&base, "active eq true", "&count=10&startIndex=11");
    let (_, _, page) = get(&url, &t).await;
    let active = expect("active eq true");
    assert_eq!(page["totalResults"], active.len());
    assert_eq!(ids(&page), active[10..20]);

    // Malformed: 400 invalidFilter with the status as a string.
    for bad in [
        r#"userName eq "unterminated"#,
        "userName eq 'single'",
        r#"userName xx "a""#,
        "active gt true",
    ] {
        let (status, _, body) = get(&users_with_filter(&base, bad, ""), &t).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["scimType"], "invalidFilter", "{bad}");
        assert_eq!(body["status"], "400");
    }
    // No match: Resources left out.
    let (_, _, body) = get(&users_with_filter(&base, r#"userName eq "nobody""#, ""), &t).await;
    assert_eq!(body["totalResults"], 0);
    assert!(body.get("Resources").is_none());
    assert!(filter::parse("userName pr").is_ok());
}

#[tokio::test]
async fn tokens_and_scopes_are_checked() {
    let demo = scim::start_demo(0, 0).await.unwrap();
    let base = demo.api.base_url();
    let users = format!("{base}/Users");

    let (status, headers, body) = call(reqwest::Method::GET, &users, None, None, &[]).await;
    assert_eq!(status, 401);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(body["status"], "401");
    let (status, _, _) = get(&users, "forged").await;
    assert_eq!(status, 401);

    // A client of another Fourth API: a token, but not for SCIM.
    let payroll = token(&demo, "harbourvine-payroll", "payroll").await;
    let (status, headers, body) = get(&users, &payroll).await;
    assert_eq!(status, 403);
    assert!(body["detail"].as_str().unwrap().contains("`scim`"));
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );

    // The partner reads but may not write.
    let partner = token(&demo, "harbourvine-partner", "scim").await;
    assert_eq!(get(&users, &partner).await.0, 200);
    let (status, _, body) = call(
        reqwest::Method::POST,
        &users,
        Some(&partner),
        Some(json!({"schemas": [filter::CORE_USER], "userName": "x"})),
        &[],
    )
    .await;
    assert_eq!(status, 403);
    assert!(body["detail"].as_str().unwrap().contains("scim.write"));

    demo.identity.state().expire_access_tokens();
    let (status, headers, _) = get(&users, &partner).await;
    assert_eq!(status, 401);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
}

#[tokio::test]
async fn discovery_endpoints_describe_the_provider() {
    let demo = scim::start_demo(0, 0).await.unwrap();
    let base = demo.api.base_url();
    let t = token(&demo, "harbourvine-partner", "scim").await;

    let (status, _, config) = get(&format!("{base}/ServiceProviderConfig"), &t).await;
    assert_eq!(status, 200);
    assert_eq!(
        config["filter"],
        json!({"supported": true, "maxResults": 100})
    );
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(
        config["authenticationSchemes"][0]["type"],
        "oauthbearertoken"
    );

    let (_, _, schemas) = get(&format!("{base}/Schemas"), &t).await;
    assert_eq!(schemas["totalResults"], 2);
    let ids: Vec<&str> = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [filter::CORE_USER, scim::ENTERPRISE_USER]);
    let (status, _, one) = get(&format!("{base}/Schemas/{}", scim::ENTERPRISE_USER), &t).await;
    assert_eq!(status, 200);
    assert_eq!(one["attributes"][2]["name"], "division");

    let (_, _, types) = get(&format!("{base}/ResourceTypes"), &t).await;
    assert_eq!(types["Resources"][0]["endpoint"], "/Users");
    assert_eq!(
        types["Resources"][0]["schemaExtensions"][0]["schema"],
        scim::ENTERPRISE_USER
    );
    let (status, _, _) = get(&format!("{base}/ResourceTypes/Group"), &t).await;
    assert_eq!(status, 404);
    let (status, _, body) = get(&format!("{base}/Groups"), &t).await;
    assert_eq!(status, 404);
    assert_eq!(body["schemas"], json!([scim::ERROR]));
}

#[tokio::test]
async fn writes_persist_with_uniqueness_and_versions() {
    let demo = scim::start_demo(0, 0).await.unwrap();
    let base = demo.api.base_url();
    let users = format!("{base}/Users");
    let t = token(&demo, "harbourvine-provisioner", "scim scim.write").await;
    let new_user = json!({
        "schemas": [filter::CORE_USER, scim::ENTERPRISE_USER],
        "userName": "new.starter@harbourvine.example",
        "name": {"givenName": "New", "familyName": "Starter"},
        scim::ENTERPRISE_USER: {"division": "Hotels"}
    });

    let (status, headers, created) = call(
        reqwest::Method::POST,
        &users,
        Some(&t),
        Some(new_user.clone()),
        &[],
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(headers["location"], format!("{users}/{id}").as_str());
    assert_eq!(created["active"], true);
    assert_eq!(created["meta"]["version"], "W/\"1\"");
    assert_eq!(
        demo.api.state().user(&id).unwrap()["userName"],
        new_user["userName"]
    );

    // userName is unique, case-insensitively.
    let mut clash = new_user.clone();
    clash["userName"] = json!("NEW.STARTER@harbourvine.example");
    let (status, _, body) = call(reqwest::Method::POST, &users, Some(&t), Some(clash), &[]).await;
    assert_eq!(status, 409);
    assert_eq!(body["scimType"], "uniqueness");
    let (status, _, body) = call(
        reqwest::Method::POST,
        &users,
        Some(&t),
        Some(json!({"schemas": [filter::CORE_USER]})),
        &[],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["scimType"], "invalidValue");

    // PATCH with a stale version is refused; with the current one it applies.
    let one = format!("{users}/{id}");
    let deactivate = json!({"schemas": [scim::PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let (status, _, _) = call(
        reqwest::Method::PATCH,
        &one,
        Some(&t),
        Some(deactivate.clone()),
        &[("if-match", "W/\"9\"")],
    )
    .await;
    assert_eq!(status, 412);
    let (status, headers, patched) = call(
        reqwest::Method::PATCH,
        &one,
        Some(&t),
        Some(deactivate),
        &[("if-match", "W/\"1\"")],
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["active"], false);
    assert_eq!(headers["etag"], "W/\"2\"");
    assert!(patched["meta"]["lastModified"].as_str() >= created["meta"]["lastModified"].as_str());

    // PUT replaces everything but id and meta.created.
    let (status, _, replaced) = call(
        reqwest::Method::PUT,
        &one,
        Some(&t),
        Some(json!({"schemas": [filter::CORE_USER], "userName": "renamed@harbourvine.example", "title": "Concierge"})),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["id"], id.as_str());
    assert!(replaced.get("name").is_none());
    assert_eq!(replaced["meta"]["created"], created["meta"]["created"]);

    let (status, _, _) = call(reqwest::Method::DELETE, &one, Some(&t), None, &[]).await;
    assert_eq!(status, 204);
    assert_eq!(get(&one, &t).await.0, 404);

    // A read-only provider answers writes 501.
    demo.api.state().set_writes_enabled(false);
    let (status, _, body) =
        call(reqwest::Method::POST, &users, Some(&t), Some(new_user), &[]).await;
    assert_eq!(status, 501);
    assert!(body["detail"].as_str().unwrap().contains("read-only"));
    let (_, _, config) = get(&format!("{base}/ServiceProviderConfig"), &t).await;
    assert_eq!(config["patch"]["supported"], false);
}

#[tokio::test]
async fn styles_rate_limits_and_injected_failures() {
    let demo = scim::start_demo(0, 0).await.unwrap();
    let base = demo.api.base_url();
    let t = token(&demo, "harbourvine-partner", "scim").await;
    let state = demo.api.state();

    state.set_style(ResponseStyle {
        content_type: ContentType::Json,
        error_status_as_number: true,
        omit_empty_resources: false,
        lowercase_keys: true,
    });
    let (_, headers, body) =
        get(&users_with_filter(&base, r#"userName eq "nobody""#, ""), &t).await;
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(body["resources"], json!([]));
    assert_eq!(body["totalresults"], 0);
    let (_, _, body) = get(&format!("{base}/Users/none"), &t).await;
    assert_eq!(body["status"], 404);
    state.set_style(ResponseStyle::default());

    state.throttle_next(1, 7);
    let (status, headers, body) = get(&format!("{base}/Users"), &t).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "7");
    assert_eq!(body["status"], "429");
    assert_eq!(get(&format!("{base}/Users"), &t).await.0, 200);

    state.fail_next(1, 503);
    assert_eq!(get(&format!("{base}/Users"), &t).await.0, 503);
    let log = state.requests();
    assert_eq!(log.last().unwrap().status, 503);
    assert_eq!(
        log[log.len() - 2].client_id.as_deref(),
        Some("harbourvine-partner")
    );

    // A configured limit: the third request in the window is refused.
    let mut identity = oauth::Config::fourth();
    identity.clients = scim::demo_clients();
    let identity = oauth::start(identity).await.unwrap();
    let mut config = scim::Config::new(identity.validator());
    config.rate_limit = Some(RateLimit {
        requests: 2,
        window: Duration::from_secs(60),
    });
    let limited = scim::start(config).await.unwrap();
    let demo2 = Demo {
        identity,
        api: limited,
    };
    let t = token(&demo2, "harbourvine-partner", "scim").await;
    let url = format!("{}/Users?count=1", demo2.api.base_url());
    assert_eq!(get(&url, &t).await.0, 200);
    assert_eq!(get(&url, &t).await.0, 200);
    let (status, headers, body) = get(&url, &t).await;
    assert_eq!(status, 429);
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("2 requests per 60 seconds")
    );
}
