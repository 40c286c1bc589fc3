//! The host's Custom API Action: one raw request through the broker, with
//! the connection's credentials and within its granted permissions. Its
//! declaration is in the [catalog](crate::catalog).

use super::{CardFailure, ErrorKind};
use crate::bindings::http::{Denial, HttpError, Request};
use crate::bindings::types::Method;
use crate::broker::{Broker, RequestScope, denial_kind_name};
use serde_json::{Value, json};

/// Runs the host's Custom API Action: one raw request through the broker.
pub(crate) async fn run(
    broker: &Broker,
    scope: &RequestScope,
    input: &Value,
) -> Result<Value, ErrorKind> {
    let method = match input["method"].as_str().unwrap_or_default() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        _ => Method::Delete,
    };
    let query = input["query"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut headers: Vec<(String, String)> = input["headers"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let body = match &input["body"] {
        Value::Null => None,
        Value::String(s) => Some(s.as_bytes().to_vec()),
        other => {
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                headers.push(("content-type".into(), "application/json".into()));
            }
            Some(other.to_string().into_bytes())
        }
    };
    let request = Request {
        method,
        url: input["relative_url"].as_str().unwrap_or("/").to_string(),
        query,
        headers,
        body,
    };
    match broker
        .send(scope, request)
        .await
        .map(|r| scope.scrub_response(r))
    {
        Ok(response) => {
            let body = serde_json::from_slice::<Value>(&response.body).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&response.body).into_owned())
            });
            let headers: serde_json::Map<String, Value> = response
                .headers
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            Ok(json!({"status": response.status, "headers": headers, "body": body}))
        }
        Err(HttpError::Denied(Denial { kind, message })) => Err(ErrorKind::Denied {
            kind: denial_kind_name(kind).to_string(),
            message,
        }),
        Err(other) => Err(ErrorKind::Card(CardFailure::Upstream {
            status: None,
            message: scope.guest_text(&format!("{other:?}")),
        })),
    }
}
