//! The router, the request log, authentication with injected throttles,
//! rate limits and security groups, paging and filters, and the endpoints.

use super::dates::parse_timestamp;
use super::errors::{ApiError, ServedClient};
use super::state::{AdvancedHrState, Inner, lock};
use super::{Area, RateLimit, RequestRecord};
use crate::faults::{self, Injector};
use axum::Router;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(super) fn router(state: AdvancedHrState) -> Router {
    let api = Router::new()
        .route("/employees", get(list_employees))
        .route("/employees/search", get(search_employees))
        .route("/employees/{id}", get(read_employee))
        .route("/departments", get(list_departments))
        .route("/positions", get(list_positions))
        .fallback(|request: Request| async move {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!(
                    "no resource at {} {}",
                    request.method(),
                    request.uri().path()
                ),
            )
        });
    let injector = Injector::new(state.faults.clone(), |fault, status| {
        let message = fault.message.as_deref().unwrap_or("injected failure");
        let mut err = ApiError::new(status, "injected_failure", message);
        if let Some(code) = &fault.code {
            err = err.with_code(code.clone());
        }
        if let Some((name, value)) = fault.retry_after_header() {
            err = err.header(name, value);
        }
        err.into_response()
    });
    // Injected failures come before anything else, and are logged.
    let api = api
        .layer(middleware::from_fn_with_state(injector, faults::inject))
        .layer(middleware::from_fn_with_state(state.clone(), record));
    let base = state.base_path.to_string();
    let router = if base.is_empty() {
        api
    } else {
        Router::new().nest(&base, api)
    };
    router.with_state(state)
}

/// Logs every request, injected failures included.
pub(super) async fn record(
    State(state): State<AdvancedHrState>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let response = next.run(request).await;
    let client_id = response
        .extensions()
        .get::<ServedClient>()
        .map(|c| c.0.clone());
    lock(&state.inner).requests.push(RequestRecord {
        method,
        path,
        query,
        client_id,
        status: response.status().as_u16(),
    });
    response
}

/// Who is calling and what their group lets them see.
pub(super) struct Caller {
    pub(super) client_id: String,
    pub(super) sensitive: bool,
}

impl Caller {
    /// The handler's answer, tagged with the client for the request log.
    pub(super) fn answer(&self, result: Result<Value, ApiError>) -> Response {
        match result {
            Ok(body) => {
                let mut response = axum::Json(body).into_response();
                response
                    .extensions_mut()
                    .insert(ServedClient(self.client_id.clone()));
                response
            }
            Err(err) => err.for_client(&self.client_id).into_response(),
        }
    }
}

/// Authentication, injected throttles, rate limit and security group, in
/// that order; a refusal is the answer to send.
pub(super) async fn admit(
    state: &AdvancedHrState,
    headers: &HeaderMap,
    area: Area,
) -> Result<Caller, Box<Response>> {
    let refused = |err: ApiError| Box::new(err.into_response());
    let client_id = authenticate(state, headers).map_err(refused)?;
    let throttled = state
        .throttles
        .next_answer(|fault, status| {
            let mut err = too_many_requests(fault.retry_after.unwrap_or(1), None);
            err.status = status;
            if let Some(message) = &fault.message {
                err.message.clone_from(message);
            }
            err.for_client(&client_id).into_response()
        })
        .await;
    if let Some(response) = throttled {
        return Err(Box::new(response));
    }
    authorize(state, client_id, area).map_err(refused)
}

/// The client a request's bearer token was issued to.
fn authenticate(state: &AdvancedHrState, headers: &HeaderMap) -> Result<String, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let Some(token) = token else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "an access token is required: send Authorization: Bearer <token>",
        )
        .header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"advanced-hr\""),
        ));
    };
    let Some(info) = (state.validator)(token) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the access token is invalid or has expired",
        )
        .header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"advanced-hr\", error=\"invalid_token\""),
        ));
    };
    Ok(info.client_id)
}

/// The rate limit and the client's security group.
fn authorize(state: &AdvancedHrState, client_id: String, area: Area) -> Result<Caller, ApiError> {
    let mut inner = lock(&state.inner);
    if let Some(limit) = inner.rate_limit {
        let hit = inner
            .windows
            .hit(client_id.clone(), limit.requests, limit.window);
        if hit.over {
            return Err(too_many_requests(hit.retry_after(), Some(limit)).for_client(&client_id));
        }
    }
    let Some(group) = inner.groups.get(&client_id) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("API client `{client_id}` is not bound to a security group"),
        )
        .for_client(&client_id));
    };
    if !group.allows(area) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "security group `{}` does not grant access to {}",
                group.name,
                area.noun()
            ),
        )
        .for_client(&client_id));
    }
    Ok(Caller {
        sensitive: group.allows(Area::SensitiveFields),
        client_id,
    })
}

pub(super) fn too_many_requests(retry_after: u32, limit: Option<RateLimit>) -> ApiError {
    let message = match limit {
        Some(l) => format!(
            "rate limit of {} requests per {} seconds exceeded; retry after {retry_after} seconds",
            l.requests,
            l.window.as_secs()
        ),
        None => format!("too many requests; retry after {retry_after} seconds"),
    };
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
        .header(header::RETRY_AFTER, HeaderValue::from(retry_after))
}

/// Query parameters, the last value of each winning.
pub(super) fn query_map(raw: Option<String>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// `page` and `pageSize`, validated.
pub(super) fn paging(
    inner: &Inner,
    query: &BTreeMap<String, String>,
) -> Result<(u32, u32), ApiError> {
    let number = |name: &str, default: u32, max: u32| -> Result<u32, ApiError> {
        match query.get(name).map(|v| v.trim()) {
            None | Some("") => Ok(default),
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::bad_parameter(format!(
                    "`{name}` must be an integer from 1 to {max}, not `{v}`"
                ))),
            },
        }
    };
    Ok((
        number("page", 1, u32::MAX)?,
        number(
            "pageSize",
            inner.default_page_size.min(inner.max_page_size),
            inner.max_page_size,
        )?,
    ))
}

pub(super) fn page_of(items: Vec<Value>, page: u32, page_size: u32) -> Value {
    let total = items.len();
    let size = page_size as usize;
    let total_pages = total.div_ceil(size);
    let start = (page as usize - 1).saturating_mul(size);
    let data: Vec<Value> = items.into_iter().skip(start).take(size).collect();
    json!({
        "data": data,
        "page": page,
        "pageSize": page_size,
        "totalCount": total,
        "totalPages": total_pages,
    })
}

/// Sensitive fields, left out unless the security group grants them.
pub const SENSITIVE_FIELDS: [&str; 5] = [
    "dateOfBirth",
    "niNumber",
    "salary",
    "homeAddress",
    "personalMobile",
];

pub(super) fn visible(employee: &Value, caller: &Caller) -> Value {
    let mut employee = employee.clone();
    if !caller.sensitive
        && let Value::Object(map) = &mut employee
    {
        for field in SENSITIVE_FIELDS {
            map.remove(field);
        }
    }
    employee
}

pub(super) const STATUSES: [&str; 3] = ["Active", "Leaver", "Pending"];

/// The `status` filter in its canonical spelling.
pub(super) fn status_filter(
    query: &BTreeMap<String, String>,
) -> Result<Option<&'static str>, ApiError> {
    match query.get("status").map(|s| s.trim()) {
        None | Some("") => Ok(None),
        Some(s) => STATUSES
            .iter()
            .find(|known| known.eq_ignore_ascii_case(s))
            .map(|known| Some(*known))
            .ok_or_else(|| {
                ApiError::bad_parameter(format!(
                    "`status` must be one of {}, not `{s}`",
                    STATUSES.join(", ")
                ))
            }),
    }
}

pub(super) fn updated_since_filter(
    query: &BTreeMap<String, String>,
) -> Result<Option<i64>, ApiError> {
    match query.get("updatedSince").map(|s| s.trim()) {
        None | Some("") => Ok(None),
        Some(s) => parse_timestamp(s).map(Some).ok_or_else(|| {
            ApiError::bad_parameter(format!(
                "`updatedSince` must be an ISO 8601 date (2024-05-01) or date-time (2024-05-01T09:00:00Z), not `{s}`"
            ))
        }),
    }
}

pub(super) fn employee_page(
    inner: &Inner,
    caller: &Caller,
    query: &BTreeMap<String, String>,
) -> Result<Value, ApiError> {
    let (page, page_size) = paging(inner, query)?;
    let status = status_filter(query)?;
    let updated_since = updated_since_filter(query)?;
    let department = query.get("departmentId").filter(|d| !d.is_empty());
    let items: Vec<Value> = inner
        .employees
        .iter()
        .filter(|e| status.is_none_or(|s| e["status"] == s))
        .filter(|e| department.is_none_or(|d| e["departmentId"] == d.as_str()))
        .filter(|e| {
            updated_since.is_none_or(|since| {
                e["updatedAt"]
                    .as_str()
                    .and_then(parse_timestamp)
                    .is_some_and(|t| t >= since)
            })
        })
        .map(|e| visible(e, caller))
        .collect();
    Ok(page_of(items, page, page_size))
}

pub(super) fn search_page(
    inner: &Inner,
    caller: &Caller,
    query: &BTreeMap<String, String>,
) -> Result<Value, ApiError> {
    let (page, page_size) = paging(inner, query)?;
    let status = status_filter(query)?;
    let q = query.get("q").map(|q| q.trim()).unwrap_or("");
    if q.chars().count() < 2 {
        return Err(ApiError::bad_parameter(
            "`q` must have at least 2 characters",
        ));
    }
    let needle = q.to_lowercase();
    let items: Vec<Value> = inner
        .employees
        .iter()
        .filter(|e| status.is_none_or(|s| e["status"] == s))
        .filter(|e| matches_search(e, &needle))
        .map(|e| visible(e, caller))
        .collect();
    Ok(page_of(items, page, page_size))
}

/// Case-insensitive substring match on names, full name, employee number and
/// work email.
pub(super) fn matches_search(employee: &Value, needle: &str) -> bool {
    let text = |field: &str| employee[field].as_str().unwrap_or("").to_lowercase();
    let full = format!("{} {}", text("firstName"), text("lastName"));
    let preferred = format!("{} {}", text("preferredName"), text("lastName"));
    [
        text("firstName"),
        text("lastName"),
        text("preferredName"),
        full,
        preferred,
        text("employeeNumber"),
        text("workEmail"),
    ]
    .iter()
    .any(|candidate| candidate.contains(needle))
}

pub(super) async fn list_employees(
    State(state): State<AdvancedHrState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let caller = match admit(&state, &headers, Area::Employees).await {
        Ok(c) => c,
        Err(e) => return *e,
    };
    let inner = lock(&state.inner);
    caller.answer(employee_page(&inner, &caller, &query_map(raw)))
}

pub(super) async fn search_employees(
    State(state): State<AdvancedHrState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let caller = match admit(&state, &headers, Area::Employees).await {
        Ok(c) => c,
        Err(e) => return *e,
    };
    let inner = lock(&state.inner);
    caller.answer(search_page(&inner, &caller, &query_map(raw)))
}

pub(super) async fn read_employee(
    State(state): State<AdvancedHrState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let caller = match admit(&state, &headers, Area::Employees).await {
        Ok(c) => c,
        Err(e) => return *e,
    };
    let inner = lock(&state.inner);
    let found = inner
        .employees
        .iter()
        .find(|e| e["id"] == id.as_str())
        .map(|e| visible(e, &caller))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no employee with id `{id}`"),
            )
        });
    caller.answer(found)
}

pub(super) async fn list_departments(
    State(state): State<AdvancedHrState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let caller = match admit(&state, &headers, Area::Departments).await {
        Ok(c) => c,
        Err(e) => return *e,
    };
    let inner = lock(&state.inner);
    let result = paging(&inner, &query_map(raw))
        .map(|(page, size)| page_of(inner.departments.clone(), page, size));
    caller.answer(result)
}

pub(super) async fn list_positions(
    State(state): State<AdvancedHrState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let caller = match admit(&state, &headers, Area::Positions).await {
        Ok(c) => c,
        Err(e) => return *e,
    };
    let query = query_map(raw);
    let inner = lock(&state.inner);
    let department = query.get("departmentId").filter(|d| !d.is_empty());
    let result = paging(&inner, &query).map(|(page, size)| {
        let items = inner
            .positions
            .iter()
            .filter(|p| department.is_none_or(|d| p["departmentId"] == d.as_str()))
            .cloned()
            .collect();
        page_of(items, page, size)
    });
    caller.answer(result)
}
