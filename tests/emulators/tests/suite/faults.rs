//! Scripted faults through each emulator's queue: without a body of their
//! own they are answered in the vendor's error body; with one, as scripted.

use cardhost_emulators::faults::Fault;
use cardhost_emulators::{advanced_hr, oauth, paycor, scim, smarthr};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn get(url: &str, headers: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = reqwest::Client::new().get(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[tokio::test]
async fn oauth_token_faults_use_rfc6749_errors() {
    let config = oauth::Config::default().client(oauth::ClientConfig::new("svc", "s3cret"));
    let server = oauth::start(config).await.unwrap();
    let state = server.state();
    let token = || async {
        let resp = reqwest::Client::new()
            .post(server.token_url())
            .basic_auth("svc", Some("s3cret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let retry = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        (status, retry, resp.json::<Value>().await.unwrap())
    };

    state.token_faults().push(
        Fault::status(503)
            .code("temporarily_unavailable")
            .message("maintenance")
            .retry_after(4),
    );
    state
        .token_faults()
        .push(Fault::status(502).json(json!({"upstream": "gone"})));
    let (status, retry, body) = token().await;
    assert_eq!((status, retry.as_deref()), (503, Some("4")));
    assert_eq!(
        body,
        json!({"error": "temporarily_unavailable", "error_description": "maintenance"})
    );
    let (status, _, body) = token().await;
    assert_eq!((status, body), (502, json!({"upstream": "gone"})));
    assert_eq!(token().await.0, 200);

    let records = state.token_requests();
    assert_eq!(records[0].error.as_deref(), Some("temporarily_unavailable"));
    assert_eq!(records[1].status, 502);
    assert_eq!(records[1].error.as_deref(), Some("server_error"));
}

#[tokio::test]
async fn paycor_faults_use_paycors_error_body() {
    let api = paycor::start_demo(0).await.unwrap();
    let url = format!(
        "{}/v1/legalentities/{}",
        api.url(),
        paycor::DEMO_LEGAL_ENTITY
    );
    let key = [("Ocp-Apim-Subscription-Key", paycor::DEMO_SUBSCRIPTION_KEY)];
    api.state()
        .faults()
        .push(Fault::status(503).message("Try later.").retry_after(2));
    let (status, headers, body) = get(&url, &key).await;
    assert_eq!(
        (status, &headers["retry-after"]),
        (503, &"2".parse().unwrap())
    );
    let body = json_of(&body);
    assert_eq!(body["title"], "Internal Server Error");
    assert_eq!(body["detail"], "Try later.");
    // Without a key the gateway refuses first and the queue is untouched.
    api.state().faults().push(Fault::status(500));
    assert_eq!(get(&url, &[]).await.0, 401);
    assert_eq!(api.state().faults().len(), 1);
}

#[tokio::test]
async fn scim_faults_come_before_any_check() {
    let demo = scim::start_demo(0, 0).await.unwrap();
    let url = format!("{}/Users", demo.api.base_url());
    let faults = demo.api.state().faults();
    faults.push(Fault::status(503).retry_after(3));
    faults.push(Fault::status(500).text("plain failure"));
    let (status, headers, body) = get(&url, &[]).await;
    assert_eq!(
        (status, &headers["retry-after"]),
        (503, &"3".parse().unwrap())
    );
    let body = json_of(&body);
    assert_eq!(body["schemas"], json!([scim::ERROR]));
    assert_eq!(body["detail"], "injected failure");
    let (status, _, body) = get(&url, &[]).await;
    assert_eq!((status, body.as_str()), (500, "plain failure"));
    assert_eq!(get(&url, &[]).await.0, 401, "then the token is checked");
    assert_eq!(demo.api.state().requests().len(), 3);
}

#[tokio::test]
async fn advanced_hr_faults_carry_their_code_and_message() {
    let demo = advanced_hr::start_demo(0, 0).await.unwrap();
    let url = format!("{}/employees", demo.api.api_url());
    demo.api.state().faults().push(
        Fault::status(502)
            .code("upstream_unavailable")
            .message("the HR database is down"),
    );
    let (status, _, body) = get(&url, &[]).await;
    assert_eq!(status, 502);
    assert_eq!(
        json_of(&body),
        json!({"status": 502, "error": "upstream_unavailable", "message": "the HR database is down"})
    );
    assert_eq!(get(&url, &[]).await.0, 401);
}

#[tokio::test]
async fn smarthr_faults_delay_or_answer_in_smarthrs_body() {
    let api = smarthr::start_demo(0).await.unwrap();
    let url = format!("{}/api/v1/job_titles", api.url());
    let auth = format!("Bearer {}", smarthr::DEMO_TOKENS[0].0);
    let auth = [("authorization", auth.as_str())];
    let faults = api.state().faults();
    faults.push(Fault::throttle(9));
    faults.push(Fault::delay(Duration::from_millis(200)));
    let (status, headers, body) = get(&url, &auth).await;
    assert_eq!(status, 429);
    assert_eq!(headers["x-rate-limit-reset"], "9");
    assert!(headers.get("retry-after").is_none());
    assert_eq!(json_of(&body)["type"], "too_many_requests");
    let started = Instant::now();
    assert_eq!(get(&url, &auth).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(faults.is_empty());
}
