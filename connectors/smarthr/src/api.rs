//! SmartHR's REST API as the cards use it: resource paths, the
//! `page`/`per_page` paging with its `Link` and `x-total-count` headers, and
//! SmartHR's error bodies (`{"code", "type", "message", "errors"}`).

use cardhost_sdk::http::{Request, Response, encode_component};
use cardhost_sdk::paging;
use cardhost_sdk::{Error, Result, Value, serde_json};
use serde::Deserialize;

/// Largest `per_page` SmartHR accepts.
pub const MAX_PER_PAGE: u32 = 100;

/// Records a list card returns when walking pages and no `limit` is given.
pub const DEFAULT_LIMIT: usize = 1000;

/// A SmartHR resource the cards read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `/api/v1/users`.
    Users,
    /// `/api/v1/crews` (employees).
    Crews,
    /// `/api/v1/biz_establishments`.
    BizEstablishments,
    /// `/api/v1/employment_types`.
    EmploymentTypes,
    /// `/api/v1/departments`.
    Departments,
    /// `/api/v1/job_titles`.
    JobTitles,
    /// `/api/v1/crew_custom_field_templates` (custom fields).
    CustomFieldTemplates,
    /// `/api/v1/crew_custom_field_template_groups` (custom field groups).
    CustomFieldTemplateGroups,
}

impl Resource {
    /// Every resource, in the order the connection test reports them.
    pub const ALL: [Resource; 8] = [
        Resource::Crews,
        Resource::Users,
        Resource::Departments,
        Resource::EmploymentTypes,
        Resource::JobTitles,
        Resource::BizEstablishments,
        Resource::CustomFieldTemplates,
        Resource::CustomFieldTemplateGroups,
    ];

    /// The collection path.
    pub fn path(self) -> &'static str {
        match self {
            Resource::Users => "/api/v1/users",
            Resource::Crews => "/api/v1/crews",
            Resource::BizEstablishments => "/api/v1/biz_establishments",
            Resource::EmploymentTypes => "/api/v1/employment_types",
            Resource::Departments => "/api/v1/departments",
            Resource::JobTitles => "/api/v1/job_titles",
            Resource::CustomFieldTemplates => "/api/v1/crew_custom_field_templates",
            Resource::CustomFieldTemplateGroups => "/api/v1/crew_custom_field_template_groups",
        }
    }

    /// The resource in words, for messages and connection checks.
    pub fn noun(self) -> &'static str {
        match self {
            Resource::Users => "users",
            Resource::Crews => "employees",
            Resource::BizEstablishments => "business establishments",
            Resource::EmploymentTypes => "employment types",
            Resource::Departments => "departments",
            Resource::JobTitles => "job titles",
            Resource::CustomFieldTemplates => "custom fields",
            Resource::CustomFieldTemplateGroups => "custom field groups",
        }
    }

    /// The cardhost permission that reads it.
    pub fn read_permission(self) -> &'static str {
        match self {
            Resource::Users => "users-read",
            Resource::Crews => "crews-read",
            Resource::BizEstablishments => "biz-establishments-read",
            Resource::EmploymentTypes => "employment-types-read",
            Resource::Departments => "departments-read",
            Resource::JobTitles => "job-titles-read",
            Resource::CustomFieldTemplates => "crew-custom-field-templates-read",
            Resource::CustomFieldTemplateGroups => "crew-custom-field-template-groups-read",
        }
    }
}

/// The path of one crew: `/api/v1/crews/{id}`, the id encoded as one segment.
pub fn crew_path(id: &str) -> String {
    format!("{}/{}", Resource::Crews.path(), encode_component(id))
}

/// SmartHR's error body: `{"code":2,"type":"unauthorized_token","message":"…","errors":null}`.
#[derive(Debug, Clone, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    errors: Option<Value>,
}

/// The details of `errors` (a list of `{"message", "resource", "field"}`,
/// or anything else SmartHR puts there) as `field: message` phrases.
fn error_details(errors: &Value) -> Vec<String> {
    match errors {
        Value::Array(items) => items
            .iter()
            .filter_map(|item| match item {
                Value::String(s) => Some(s.clone()),
                Value::Object(map) => {
                    let message = map.get("message").and_then(Value::as_str)?;
                    Some(match map.get("field").and_then(Value::as_str) {
                        Some(field) if !field.is_empty() => format!("{field}: {message}"),
                        _ => message.to_string(),
                    })
                }
                _ => None,
            })
            .collect(),
        Value::Object(map) => map
            .iter()
            .map(|(field, v)| match v {
                Value::String(s) => format!("{field}: {s}"),
                Value::Array(list) => format!(
                    "{field}: {}",
                    list.iter()
                        .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_string))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                other => format!("{field}: {other}"),
            })
            .collect(),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Seconds to wait before retrying: `Retry-After`, else SmartHR's
/// `x-rate-limit-reset` (seconds until the window resets).
pub fn retry_after(response: &Response) -> Option<u32> {
    response.retry_after().or_else(|| {
        response
            .header("x-rate-limit-reset")?
            .trim()
            .parse::<u64>()
            .ok()
            .map(|s| u32::try_from(s).unwrap_or(u32::MAX))
    })
}

/// What SmartHR said, in words: its message, the `errors` details and the
/// error type, e.g. `Bad request (last_name: can't be blank) [bad_request]`.
pub fn describe(response: &Response) -> String {
    let body: ErrorBody = serde_json::from_slice(&response.body).unwrap_or_default();
    let mut text = body
        .message
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| cardhost_sdk::http::error_message(response));
    let details = body.errors.as_ref().map(error_details).unwrap_or_default();
    if !details.is_empty() {
        text.push_str(&format!(" ({})", details.join("; ")));
    }
    if let Some(kind) = body.kind.filter(|k| !k.is_empty()) {
        text.push_str(&format!(" [{kind}]"));
    }
    text
}

/// Turns a non-2xx answer into the matching card error, with SmartHR's own
/// words and what to do about it.
pub fn check(response: Response) -> Result<Response> {
    if response.is_success() {
        return Ok(response);
    }
    let code = serde_json::from_slice::<ErrorBody>(&response.body)
        .ok()
        .and_then(|b| b.code);
    let said = describe(&response);
    let status = response.status;
    Err(match (status, code) {
        (429, _) | (_, Some(6)) => Error::RateLimited {
            message: format!("SmartHR rate limit reached: {said}"),
            retry_after_seconds: retry_after(&response),
        },
        (401, _) | (_, Some(2)) => Error::Unauthorized(format!(
            "SmartHR refused the access token: {said}. Check the connection's access token; it may have been revoked or belong to another tenant."
        )),
        (403, Some(7)) => Error::Forbidden(format!(
            "SmartHR refused the request under the tenant's plan: {said}"
        )),
        (403, _) => Error::Forbidden(format!(
            "SmartHR refused the request: {said}. The access token lacks this right; an administrator can issue a token that has it."
        )),
        (404, _) => Error::NotFound(format!("SmartHR found nothing: {said}")),
        (400 | 422, Some(8)) => Error::InvalidInput(format!("SmartHR cannot delete it: {said}")),
        (400 | 422, _) => Error::InvalidInput(format!("SmartHR rejected the request: {said}")),
        (503, _) | (_, Some(9)) => Error::Upstream {
            status: Some(status),
            message: format!("SmartHR is unavailable (maintenance): {said}"),
        },
        _ => Error::Upstream {
            status: Some(status),
            message: format!("SmartHR answered {status}: {said}"),
        },
    })
}

/// Sends a request and checks its status.
pub fn send(request: Request) -> Result<Response> {
    check(request.header("accept", "application/json").send()?)
}

/// Which pages a list card fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// Exactly this page (from 1) at this page size.
    One {
        /// Page number.
        page: u32,
        /// Records per page.
        per_page: u32,
    },
    /// Every page from 1 until `limit` records.
    All {
        /// Records per request.
        per_page: u32,
        /// Most records returned.
        limit: usize,
    },
}

impl Paging {
    /// From a card's `page`, `per_page` and `limit` inputs (the schema
    /// refuses `page` together with `limit`).
    pub fn from_input(page: Option<u32>, per_page: Option<u32>, limit: Option<usize>) -> Self {
        let per_page = per_page.unwrap_or(MAX_PER_PAGE).clamp(1, MAX_PER_PAGE);
        match page {
            Some(page) => Paging::One {
                page: page.max(1),
                per_page,
            },
            None => Paging::All {
                per_page,
                limit: limit.unwrap_or(DEFAULT_LIMIT),
            },
        }
    }
}

/// Records from one or more pages of a list resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    /// The records, in SmartHR's order.
    pub items: Vec<Value>,
    /// `x-total-count`: how many records match, over all pages.
    pub total_count: Option<u64>,
    /// Whether more records match than were returned.
    pub has_more: bool,
    /// Pages fetched.
    pub pages: u32,
}

/// One page as SmartHR returns it: a bare JSON array.
struct FetchedPage {
    items: Vec<Value>,
    total_count: Option<u64>,
    has_next: bool,
}

/// Whether a page is followed by another: the `Link` header's `rel="next"`;
/// without a `Link` header, `x-total-count`; without either, a full page.
pub fn has_next(response: &Response, page: u32, per_page: u32, returned: usize) -> bool {
    if response.header("link").is_some() || paging::total_count(response).is_some() {
        return paging::has_next_page(response, page, per_page);
    }
    returned >= per_page as usize && returned > 0
}

fn fetch_page(
    path: &str,
    query: &[(String, String)],
    page: u32,
    per_page: u32,
) -> Result<FetchedPage> {
    let mut request = Request::get(path);
    request.query.extend(query.iter().cloned());
    let request = request.query("page", page).query("per_page", per_page);
    let response = send(request)?;
    let items: Vec<Value> = match response.json()? {
        Value::Array(items) => items,
        other => {
            return Err(Error::Upstream {
                status: Some(response.status),
                message: format!(
                    "SmartHR answered {path} with {} instead of a list",
                    kind_of(&other)
                ),
            });
        }
    };
    Ok(FetchedPage {
        total_count: paging::total_count(&response),
        has_next: has_next(&response, page, per_page, items.len()),
        items,
    })
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Lists `path` with `query` as `paging` says.
pub fn list(path: &str, query: &[(String, String)], paging: Paging) -> Result<Listing> {
    list_where(path, query, paging, None)
}

/// Lists `path`, keeping only the records `keep` accepts when given (for
/// filters SmartHR does not have). `total_count` is then the number kept
/// when every page was read, and unknown otherwise.
pub fn list_where(
    path: &str,
    query: &[(String, String)],
    paging: Paging,
    keep: Option<&dyn Fn(&Value) -> bool>,
) -> Result<Listing> {
    let kept = |items: Vec<Value>| -> Vec<Value> {
        match keep {
            Some(keep) => items.into_iter().filter(|v| keep(v)).collect(),
            None => items,
        }
    };
    match paging {
        Paging::One { page, per_page } => {
            let fetched = fetch_page(path, query, page, per_page)?;
            Ok(Listing {
                has_more: fetched.has_next,
                total_count: if keep.is_some() {
                    None
                } else {
                    fetched.total_count
                },
                items: kept(fetched.items),
                pages: 1,
            })
        }
        Paging::All { per_page, limit } => {
            let mut items = Vec::new();
            let mut total_count = None;
            let mut truncated = false;
            let mut page = 1u32;
            loop {
                let fetched = fetch_page(path, query, page, per_page)?;
                total_count = fetched.total_count.or(total_count);
                // An empty page ends the walk even if SmartHR names a next
                // one, so a misbehaving answer cannot loop forever.
                let last = !fetched.has_next || fetched.items.is_empty();
                for item in kept(fetched.items) {
                    if items.len() == limit {
                        truncated = true;
                        break;
                    }
                    items.push(item);
                }
                if truncated || last {
                    break;
                }
                if items.len() == limit {
                    truncated = true;
                    break;
                }
                page += 1;
            }
            if keep.is_some() {
                total_count = (!truncated).then_some(items.len() as u64);
            }
            Ok(Listing {
                total_count,
                has_more: truncated,
                pages: page,
                items,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cardhost_sdk::json;

    fn response(status: u16, headers: &[(&str, &str)], body: Value) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_string().into_bytes(),
        }
    }

    #[test]
    fn errors_map_by_status_and_smarthr_code() {
        let r = response(
            401,
            &[],
            json!({"code": 2, "type": "unauthorized_token", "message": "Unauthorized token", "errors": null}),
        );
        match check(r) {
            Err(Error::Unauthorized(m)) => {
                assert!(m.contains("Unauthorized token [unauthorized_token]"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        let r = response(
            400,
            &[],
            json!({"code": 1, "type": "bad_request", "message": "Bad request",
                   "errors": [{"message": "can't be blank", "resource": "crew", "field": "last_name"}]}),
        );
        match check(r) {
            Err(Error::InvalidInput(m)) => {
                assert!(m.contains("last_name: can't be blank"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        let r = response(
            403,
            &[],
            json!({"code": 7, "type": "plan_limit_exceeded", "message": "limit", "errors": null}),
        );
        assert!(matches!(check(r), Err(Error::Forbidden(m)) if m.contains("plan")));
        let r = response(
            400,
            &[],
            json!({"code": 8, "type": "non_deletable_resource", "message": "in use", "errors": null}),
        );
        assert!(matches!(check(r), Err(Error::InvalidInput(m)) if m.contains("cannot delete")));
        let r = response(
            503,
            &[],
            json!({"code": 9, "type": "service_maintenance", "message": "m", "errors": null}),
        );
        assert!(matches!(
            check(r),
            Err(Error::Upstream {
                status: Some(503),
                ..
            })
        ));
        assert!(check(response(204, &[], Value::Null)).is_ok());
    }

    #[test]
    fn rate_limits_carry_the_reset_seconds() {
        let r = response(
            429,
            &[
                ("x-rate-limit-reset", "42"),
                ("x-rate-limit-remaining", "0"),
            ],
            json!({"code": 6, "type": "too_many_requests", "message": "Too many requests", "errors": null}),
        );
        match check(r) {
            Err(Error::RateLimited {
                retry_after_seconds,
                message,
            }) => {
                assert_eq!(retry_after_seconds, Some(42));
                assert!(message.contains("too_many_requests"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn next_page_comes_from_link_then_total_then_a_full_page() {
        let link = response(
            200,
            &[(
                "link",
                r#"<https://acme.smarthr.jp/api/v1/crews?page=1>; rel="first", <https://acme.smarthr.jp/api/v1/crews?page=3>; rel="next""#,
            )],
            json!([]),
        );
        assert!(has_next(&link, 2, 10, 10));
        let last = response(
            200,
            &[(
                "link",
                r#"<https://acme.smarthr.jp/api/v1/crews?page=1>; rel="first""#,
            )],
            json!([]),
        );
        assert!(!has_next(&last, 3, 10, 10));
        let total = response(200, &[("x-total-count", "25")], json!([]));
        assert!(has_next(&total, 2, 10, 10));
        assert!(!has_next(&total, 3, 10, 5));
        let bare = response(200, &[], json!([]));
        assert!(has_next(&bare, 1, 10, 10));
        assert!(!has_next(&bare, 1, 10, 3));
    }

    #[test]
    fn crew_ids_are_one_segment() {
        assert_eq!(crew_path("a/../b"), "/api/v1/crews/a%2F..%2Fb");
    }

    #[test]
    fn paging_defaults() {
        assert_eq!(
            Paging::from_input(None, None, None),
            Paging::All {
                per_page: 100,
                limit: DEFAULT_LIMIT
            }
        );
        assert_eq!(
            Paging::from_input(Some(3), Some(25), None),
            Paging::One {
                page: 3,
                per_page: 25
            }
        );
    }
}
