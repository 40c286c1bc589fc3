//! The SCIM 2.0 protocol as the cards use it (RFC 7644): requests with
//! correctly encoded queries, tolerant reading of answers, SCIM errors
//! turned into card errors, and `startIndex`/`count` paging.
//!
//! Tolerance, because SCIM servers differ: `application/scim+json` or
//! `application/json`; attribute and envelope names in any case
//! (`Resources`, `resources`); `Resources` left out of an empty page; error
//! `status` as a string or a number; pages shorter than `count`.

use cardhost_sdk::http::{Request, Response, encode_component};
use cardhost_sdk::paging::{self, Page};
use cardhost_sdk::{Error, Result, Value};

/// What the cards accept.
pub const ACCEPT: &str = "application/scim+json, application/json;q=0.9";

/// The media type of request bodies.
pub const SCIM_JSON: &str = "application/scim+json";

/// The ListResponse message schema.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// The PatchOp message schema.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The value of `key` in an object, matching the key case-insensitively
/// (SCIM attribute names are case-insensitive, RFC 7643 §2.1).
pub fn get_ci<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    let map = object.as_object()?;
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// A string attribute, case-insensitively; empty strings count as absent.
pub fn get_str<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    get_ci(object, key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A non-negative integer given as a number or a numeric string.
pub fn get_u64(object: &Value, key: &str) -> Option<u64> {
    match get_ci(object, key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A path with its query, each name and value percent-encoded as one
/// component (`%20` for a space, `%22` for a quote, `%2B` for a plus), so no
/// server can read a `+` as a space or split a filter at an `&`.
pub fn path_with_query(path: &str, query: &[(&str, String)]) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let encoded: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect();
    format!("{path}?{}", encoded.join("&"))
}

/// `/Users/{id}` with the id encoded as one segment.
pub fn user_path(id: &str) -> String {
    format!("/Users/{}", encode_component(id))
}

/// A GET with the SCIM `Accept` header.
pub fn get(path: &str, query: &[(&str, String)]) -> Request {
    Request::get(path_with_query(path, query)).header("accept", ACCEPT)
}

/// A request with a SCIM JSON body.
pub fn with_body(request: Request, body: &Value) -> Request {
    request
        .header("accept", ACCEPT)
        .body(body.to_string().into_bytes(), SCIM_JSON)
}

/// An error answer's fields, read from the SCIM error schema when the body
/// has it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScimError {
    /// `status` from the body (string or number), if any.
    pub status: Option<u16>,
    /// `scimType`, e.g. `invalidFilter`, `uniqueness`, `mutability`.
    pub scim_type: Option<String>,
    /// `detail`, or whatever message the body carries.
    pub detail: String,
}

/// Reads an error answer.
pub fn scim_error(response: &Response) -> ScimError {
    let body: Value = cardhost_sdk::serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let status = get_u64(&body, "status").and_then(|s| u16::try_from(s).ok());
    let scim_type = get_str(&body, "scimType").map(str::to_string);
    let detail = get_str(&body, "detail")
        .map(str::to_string)
        .unwrap_or_else(|| cardhost_sdk::http::error_message(response));
    ScimError {
        status,
        scim_type,
        detail,
    }
}

/// Turns a non-2xx answer into the card error a flow builder can act on.
/// `what` names the thing asked for (`user 2819c223-…`, `the user list`).
pub fn error_for(response: &Response, what: &str) -> Error {
    let e = scim_error(response);
    let words = match &e.scim_type {
        Some(t) => format!("{} ({t})", e.detail),
        None => e.detail.clone(),
    };
    match response.status {
        400 if e.scim_type.as_deref() == Some("invalidFilter") => {
            Error::InvalidInput(format!("the SCIM server refused the filter: {words}"))
        }
        400 => Error::InvalidInput(format!("the SCIM server refused the request: {words}")),
        401 => Error::Unauthorized(format!(
            "Fourth refused the access token: {words}. Check the client id and secret."
        )),
        403 => Error::Forbidden(format!(
            "Fourth refused access to {what}: {words}. The OAuth client needs the `scim` scope (and `scim.write` for writes)."
        )),
        404 => Error::NotFound(format!("{what} was not found: {words}")),
        409 => Error::InvalidInput(format!("conflict: {words}")),
        412 => Error::InvalidInput(format!("the user changed since the version given: {words}")),
        429 => Error::RateLimited {
            message: words,
            retry_after_seconds: response.retry_after(),
        },
        501 => Error::Upstream {
            status: Some(501),
            message: format!("the SCIM server does not support this: {words}"),
        },
        status => Error::Upstream {
            status: Some(status),
            message: words,
        },
    }
}

/// Whether a content type is JSON: `application/scim+json`,
/// `application/json`, any `+json`, parameters ignored.
pub fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The JSON body of a 2xx answer, or the card error for anything else.
pub fn json_body(response: Response, what: &str) -> Result<Value> {
    if !response.is_success() {
        return Err(error_for(&response, what));
    }
    if let Some(content_type) = response.header("content-type")
        && !is_json(content_type)
    {
        return Err(Error::Upstream {
            status: Some(response.status),
            message: format!(
                "expected a SCIM JSON answer for {what} but got `{content_type}`; check the connection's `base_url`"
            ),
        });
    }
    let body: Value = response.json()?;
    if body.is_object() {
        Ok(body)
    } else {
        Err(Error::Upstream {
            status: Some(response.status),
            message: format!("expected a JSON object for {what}"),
        })
    }
}

/// Sends a request and reads the JSON answer.
pub fn send_json(request: Request, what: &str) -> Result<Value> {
    json_body(request.send()?, what)
}

/// One ListResponse, read tolerantly.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    /// `Resources` (absent when empty on some servers).
    pub resources: Vec<Value>,
    /// `totalResults`, when given.
    pub total_results: Option<u64>,
    /// `startIndex` as the server reports it.
    pub start_index: Option<u64>,
    /// `itemsPerPage` as the server reports it.
    pub items_per_page: Option<u64>,
}

impl ListPage {
    /// Reads a ListResponse body.
    pub fn from_body(body: &Value) -> Result<Self> {
        let resources = match get_ci(body, "Resources") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(_) => {
                return Err(Error::upstream(
                    "the ListResponse's `Resources` is not an array",
                ));
            }
        };
        Ok(Self {
            resources,
            total_results: get_u64(body, "totalResults"),
            start_index: get_u64(body, "startIndex"),
            items_per_page: get_u64(body, "itemsPerPage"),
        })
    }
}

/// Fetches one page of `path` from `start_index` (1-based).
pub fn fetch_page(
    path: &str,
    filter: Option<&str>,
    start_index: u64,
    count: u32,
    what: &str,
) -> Result<ListPage> {
    let mut query = Vec::new();
    if let Some(f) = filter {
        query.push(("filter", f.to_string()));
    }
    query.push(("startIndex", start_index.to_string()));
    query.push(("count", count.to_string()));
    let body = send_json(get(path, &query), what)?;
    ListPage::from_body(&body)
}

/// Resources gathered from one or more pages.
#[derive(Debug, Clone, PartialEq)]
pub struct Gathered {
    /// The resources.
    pub items: Vec<Value>,
    /// `totalResults` as the server last reported it.
    pub total_results: Option<u64>,
    /// Where the next page starts, when more remain.
    pub next_start_index: Option<u64>,
    /// How many pages were fetched.
    pub pages: u32,
}

/// Walks pages from `start_index` until the last page or `limit` resources.
/// A server that returns fewer than `count` simply makes more pages.
pub fn fetch_all(
    path: &str,
    filter: Option<&str>,
    start_index: u64,
    count: u32,
    limit: usize,
    what: &str,
) -> Result<Gathered> {
    let mut total = None;
    let collected = paging::collect(start_index, limit, |start| {
        let page = fetch_page(path, filter, start, count, what)?;
        total = page.total_results.or(total);
        let next = paging::scim_next_start(start, page.resources.len(), page.total_results);
        Ok(Page {
            items: page.resources,
            next,
        })
    })?;
    let next_start_index = collected
        .truncated
        .then(|| start_index + collected.items.len() as u64);
    Ok(Gathered {
        items: collected.items,
        total_results: total,
        next_start_index,
        pages: collected.pages,
    })
}

/// Fetches exactly one page.
pub fn fetch_one(
    path: &str,
    filter: Option<&str>,
    start_index: u64,
    count: u32,
    what: &str,
) -> Result<Gathered> {
    let page = fetch_page(path, filter, start_index, count, what)?;
    let next_start_index =
        paging::scim_next_start(start_index, page.resources.len(), page.total_results);
    Ok(Gathered {
        items: page.resources,
        total_results: page.total_results,
        next_start_index,
        pages: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cardhost_sdk::json;

    fn response(status: u16, content_type: &str, body: &str) -> Response {
        Response {
            status,
            headers: vec![
                ("content-type".into(), content_type.into()),
                ("retry-after".into(), "30".into()),
            ],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn queries_are_encoded_as_components() {
        let url = path_with_query(
            "/Users",
            &[(
                "filter",
                r#"emails.value eq "sam+rota@x.example" and displayName eq "A & B""#.into(),
            )],
        );
        assert_eq!(
            url,
            "/Users?filter=emails.value%20eq%20%22sam%2Brota%40x.example%22%20and%20displayName%20eq%20%22A%20%26%20B%22"
        );
        assert_eq!(user_path("a/b c"), "/Users/a%2Fb%20c");
    }

    #[test]
    fn list_pages_are_read_in_any_spelling() {
        let page = ListPage::from_body(&json!({
            "schemas": [LIST_RESPONSE], "totalresults": "3", "STARTINDEX": 1, "itemsPerPage": 2,
            "resources": [{"id": "a"}, {"id": "b"}]
        }))
        .unwrap();
        assert_eq!(page.resources.len(), 2);
        assert_eq!(page.total_results, Some(3));
        assert_eq!(page.start_index, Some(1));
        let empty =
            ListPage::from_body(&json!({"schemas": [LIST_RESPONSE], "totalResults": 0})).unwrap();
        assert!(empty.resources.is_empty());
        assert!(ListPage::from_body(&json!({"Resources": {}})).is_err());
    }

    #[test]
    fn errors_read_status_as_string_or_number() {
        for body in [
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400","scimType":"invalidFilter","detail":"bad"}"#,
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":400,"scimtype":"invalidFilter","Detail":"bad"}"#,
        ] {
            let r = response(400, "application/scim+json", body);
            let e = scim_error(&r);
            assert_eq!(e.status, Some(400));
            assert_eq!(e.scim_type.as_deref(), Some("invalidFilter"));
            match error_for(&r, "the user list") {
                Error::InvalidInput(m) => assert!(m.contains("refused the filter"), "{m}"),
                other => panic!("{other:?}"),
            }
        }
        let r = response(
            429,
            "application/json",
            r#"{"status":"429","detail":"slow down"}"#,
        );
        assert_eq!(
            error_for(&r, "x"),
            Error::RateLimited {
                message: "slow down".into(),
                retry_after_seconds: Some(30)
            }
        );
        let r = response(502, "text/html", "<html>bad gateway</html>");
        assert!(matches!(
            error_for(&r, "x"),
            Error::Upstream {
                status: Some(502),
                ..
            }
        ));
    }

    #[test]
    fn json_bodies_accept_both_media_types() {
        for ct in [
            "application/scim+json",
            "application/json; charset=utf-8",
            "Application/SCIM+JSON;charset=UTF-8",
        ] {
            assert!(
                json_body(response(200, ct, r#"{"id":"a"}"#), "x").is_ok(),
                "{ct}"
            );
        }
        match json_body(response(200, "text/html", "<html/>"), "the user list") {
            Err(Error::Upstream { message, .. }) => assert!(message.contains("base_url")),
            other => panic!("{other:?}"),
        }
    }
}
