//! The router, the request log and the `/Users` endpoints (list with
//! filters and paging, read, create, replace, patch, delete).

use super::auth::admit;
use super::discovery::{resource_type, resource_types, schema, schemas, service_provider_config};
use super::errors::{ScimError, ServedClient};
use super::filter::{CORE_USER, get_ci};
use super::patch;
use super::state::{Inner, ScimState, lock, now_secs, touch};
use super::{ENTERPRISE_USER, LIST_RESPONSE, PATCH_OP, RequestRecord, ResponseStyle, filter, seed};
use crate::faults::{self, Injector};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(super) fn router(state: ScimState) -> Router {
    let api = Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{id}", get(schema))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{id}", get(resource_type))
        .route("/Users", get(list_users).post(create_user))
        .route(
            "/Users/{id}",
            get(read_user)
                .put(replace_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .fallback(
            |State(state): State<ScimState>, request: Request| async move {
                let style = lock(&state.inner).style;
                ScimError::new(
                    StatusCode::NOT_FOUND,
                    None,
                    format!(
                        "No endpoint at {} {}",
                        request.method(),
                        request.uri().path()
                    ),
                )
                .render(&style)
            },
        );
    let injector = Injector::new(state.faults.clone(), {
        let state = state.clone();
        move |fault, status| {
            let style = lock(&state.inner).style;
            let message = fault.message.as_deref().unwrap_or("injected failure");
            let mut err = ScimError::new(status, None, message);
            if let Some((name, value)) = fault.retry_after_header() {
                err = err.header(name, value);
            }
            err.render(&style)
        }
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
    State(state): State<ScimState>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let body_text = (!bytes.is_empty()).then(|| String::from_utf8_lossy(&bytes).into_owned());
    let request = Request::from_parts(parts, axum::body::Body::from(bytes));
    let response = next.run(request).await;
    let client_id = response
        .extensions()
        .get::<ServedClient>()
        .map(|c| c.0.clone());
    lock(&state.inner).requests.push(RequestRecord {
        method,
        path,
        query,
        content_type,
        body: body_text,
        client_id,
        status: response.status().as_u16(),
    });
    response
}

/// `http://host` of the request, for `meta.location`.
pub(super) fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// A stored user as sent: `meta.location` made absolute.
pub(super) fn render_user(user: &Value, origin: &str) -> Value {
    let mut user = user.clone();
    if let Some(location) = user["meta"]["location"].as_str()
        && location.starts_with('/')
    {
        user["meta"]["location"] = json!(format!("{origin}{location}"));
    }
    user
}

pub(super) fn etag(user: &Value) -> Vec<(HeaderName, HeaderValue)> {
    user["meta"]["version"]
        .as_str()
        .and_then(|v| HeaderValue::from_str(v).ok())
        .map(|v| vec![(header::ETAG, v)])
        .unwrap_or_default()
}

pub(super) fn query_map(raw: Option<String>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

pub(super) fn integer(
    query: &BTreeMap<String, String>,
    name: &str,
) -> Result<Option<i64>, ScimError> {
    match query.get(name).map(|v| v.trim()) {
        None | Some("") => Ok(None),
        Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
            ScimError::bad(
                "invalidValue",
                format!("`{name}` must be an integer, not `{v}`"),
            )
        }),
    }
}

pub(super) fn list_response(
    style: &ResponseStyle,
    resources: Vec<Value>,
    total: usize,
    start_index: usize,
) -> Value {
    let mut body = json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
    });
    if !(resources.is_empty() && style.omit_empty_resources) {
        body["Resources"] = Value::Array(resources);
    }
    body
}

pub(super) type Answer = Result<(StatusCode, Value, Vec<(HeaderName, HeaderValue)>), ScimError>;

pub(super) async fn list_users(
    State(state): State<ScimState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let caller = match admit(&state, &headers, false).await {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let origin = origin(&headers);
    let query = query_map(raw);
    let inner = lock(&state.inner);
    let result = (|| -> Answer {
        let start = integer(&query, "startIndex")?.unwrap_or(1).max(1) as usize;
        let count = integer(&query, "count")?
            .unwrap_or(i64::from(inner.default_count))
            .clamp(0, i64::from(inner.max_results)) as usize;
        let parsed = match query
            .get("filter")
            .map(|f| f.trim())
            .filter(|f| !f.is_empty())
        {
            Some(text) => Some(
                filter::parse(text)
                    .map_err(|e| ScimError::bad("invalidFilter", format!("{e}: {text}")))?,
            ),
            None => None,
        };
        let mut matched = Vec::new();
        for user in &inner.users {
            let keep = match &parsed {
                Some(f) => {
                    filter::matches(f, user).map_err(|e| ScimError::bad("invalidFilter", e))?
                }
                None => true,
            };
            if keep {
                matched.push(user);
            }
        }
        let page: Vec<Value> = matched
            .iter()
            .skip(start - 1)
            .take(count)
            .map(|u| render_user(u, &origin))
            .collect();
        Ok((
            StatusCode::OK,
            list_response(&caller.style, page, matched.len(), start),
            Vec::new(),
        ))
    })();
    caller.answer(result)
}

pub(super) async fn read_user(
    State(state): State<ScimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let caller = match admit(&state, &headers, false).await {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let origin = origin(&headers);
    let inner = lock(&state.inner);
    let result = inner
        .users
        .iter()
        .find(|u| u["id"] == id.as_str())
        .map(|u| (StatusCode::OK, render_user(u, &origin), etag(u)))
        .ok_or_else(|| ScimError::not_found(&id));
    caller.answer(result)
}

pub(super) fn check_body_type(headers: &HeaderMap) -> Result<(), ScimError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/scim+json")
        || essence.eq_ignore_ascii_case("application/json")
    {
        Ok(())
    } else {
        Err(ScimError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            format!("The body must be application/scim+json, not `{content_type}`"),
        ))
    }
}

pub(super) fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ScimError> {
    check_body_type(headers)?;
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ScimError::bad("invalidSyntax", format!("The body is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(ScimError::bad(
            "invalidSyntax",
            "The body must be a JSON object",
        ));
    }
    Ok(value)
}

pub(super) fn has_schema(body: &Value, urn: &str) -> bool {
    get_ci(body, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter()
                .any(|v| v.as_str().is_some_and(|v| v.eq_ignore_ascii_case(urn)))
        })
}

/// Checks a full user representation and the uniqueness of its `userName`.
pub(super) fn check_user(
    inner: &Inner,
    user: &Value,
    own_id: Option<&str>,
) -> Result<(), ScimError> {
    if !has_schema(user, CORE_USER) {
        return Err(ScimError::bad(
            "invalidSyntax",
            format!("`schemas` must include {CORE_USER}"),
        ));
    }
    let Some(user_name) = get_ci(user, "userName")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
    else {
        return Err(ScimError::bad("invalidValue", "`userName` is required"));
    };
    let taken = inner.users.iter().any(|u| {
        u["userName"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case(user_name))
            && own_id.is_none_or(|id| u["id"] != id)
    });
    if taken {
        return Err(ScimError::new(
            StatusCode::CONFLICT,
            Some("uniqueness"),
            format!("userName `{user_name}` is already in use"),
        ));
    }
    if let Some(active) = get_ci(user, "active")
        && !active.is_boolean()
    {
        return Err(ScimError::bad("invalidValue", "`active` must be a boolean"));
    }
    Ok(())
}

/// Puts client-supplied attributes into canonical spelling where the stored
/// user has one, so the store stays consistent whatever case a client uses.
pub(super) fn canonical_keys(user: Value) -> Value {
    const CANONICAL: [&str; 16] = [
        "schemas",
        "externalId",
        "userName",
        "name",
        "displayName",
        "nickName",
        "title",
        "emails",
        "phoneNumbers",
        "addresses",
        "preferredLanguage",
        "locale",
        "timezone",
        "active",
        "userType",
        ENTERPRISE_USER,
    ];
    match user {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = CANONICAL
                        .iter()
                        .find(|c| c.eq_ignore_ascii_case(&k))
                        .map(|c| c.to_string())
                        .unwrap_or(k);
                    (key, v)
                })
                .collect(),
        ),
        other => other,
    }
}

pub(super) fn check_if_match(headers: &HeaderMap, user: &Value) -> Result<(), ScimError> {
    let Some(wanted) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let current = user["meta"]["version"].as_str().unwrap_or("");
    if wanted.trim() == "*" || wanted.split(',').any(|w| w.trim() == current) {
        Ok(())
    } else {
        Err(ScimError::new(
            StatusCode::PRECONDITION_FAILED,
            None,
            format!("The user's version is {current}, not {wanted}"),
        ))
    }
}

pub(super) async fn create_user(
    State(state): State<ScimState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match admit(&state, &headers, true).await {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let origin = origin(&headers);
    let base = state.base_path.clone();
    let mut inner = lock(&state.inner);
    let result = (|| -> Answer {
        let mut user = canonical_keys(parse_body(&headers, &body)?);
        check_user(&inner, &user, None)?;
        let id = seed::account_id(inner.next_user);
        inner.next_user += 1;
        let now = seed::format_timestamp(now_secs());
        let map = user
            .as_object_mut()
            .ok_or_else(|| ScimError::bad("invalidSyntax", "not an object"))?;
        map.remove("meta");
        map.insert("id".into(), json!(id));
        map.entry("active").or_insert(json!(true));
        map.insert(
            "meta".into(),
            json!({
                "resourceType": "User",
                "created": now,
                "lastModified": now,
                "location": format!("{base}/Users/{id}"),
                "version": "W/\"1\"",
            }),
        );
        inner.users.push(user.clone());
        let shown = render_user(&user, &origin);
        let mut headers = etag(&user);
        if let Some(location) = shown["meta"]["location"].as_str()
            && let Ok(value) = HeaderValue::from_str(location)
        {
            headers.push((header::LOCATION, value));
        }
        Ok((StatusCode::CREATED, shown, headers))
    })();
    caller.answer(result)
}

pub(super) async fn replace_user(
    State(state): State<ScimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let caller = match admit(&state, &headers, true).await {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let origin = origin(&headers);
    let mut inner = lock(&state.inner);
    let result = (|| -> Answer {
        let position = inner
            .users
            .iter()
            .position(|u| u["id"] == id.as_str())
            .ok_or_else(|| ScimError::not_found(&id))?;
        check_if_match(&headers, &inner.users[position])?;
        let mut user = canonical_keys(parse_body(&headers, &body)?);
        if let Some(given) = get_ci(&user, "id").and_then(Value::as_str)
            && given != id
        {
            return Err(ScimError::bad("mutability", "`id` cannot be changed"));
        }
        check_user(&inner, &user, Some(&id))?;
        let meta = inner.users[position]["meta"].clone();
        let map = user
            .as_object_mut()
            .ok_or_else(|| ScimError::bad("invalidSyntax", "not an object"))?;
        map.insert("id".into(), json!(id));
        map.insert("meta".into(), meta);
        touch(map, now_secs());
        inner.users[position] = user.clone();
        Ok((StatusCode::OK, render_user(&user, &origin), etag(&user)))
    })();
    caller.answer(result)
}

pub(super) async fn patch_user(
    State(state): State<ScimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let caller = match admit(&state, &headers, true).await {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let origin = origin(&headers);
    let mut inner = lock(&state.inner);
    let result = (|| -> Answer {
        let position = inner
            .users
            .iter()
            .position(|u| u["id"] == id.as_str())
            .ok_or_else(|| ScimError::not_found(&id))?;
        check_if_match(&headers, &inner.users[position])?;
        let request = parse_body(&headers, &body)?;
        if !has_schema(&request, PATCH_OP) {
            return Err(ScimError::bad(
                "invalidSyntax",
                format!("`schemas` must be [\"{PATCH_OP}\"]"),
            ));
        }
        let operations = get_ci(&request, "Operations")
            .and_then(Value::as_array)
            .filter(|ops| !ops.is_empty())
            .ok_or_else(|| {
                ScimError::bad("invalidSyntax", "`Operations` must be a non-empty array")
            })?;
        let mut user = inner.users[position].clone();
        for op in operations {
            patch::apply(&mut user, op)?;
        }
        check_user(&inner, &user, Some(&id))?;
        if let Some(map) = user.as_object_mut() {
            touch(map, now_secs());
        }
        inner.users[position] = user.clone();
        Ok((StatusCode::OK, render_user(&user, &origin), etag(&user)))
    })();
    caller.answer(result)
}

pub(super) async fn delete_user(
    State(state): State<ScimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let caller = match admit(&state, &headers, true).await {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let mut inner = lock(&state.inner);
    let result = (|| -> Result<(), ScimError> {
        let position = inner
            .users
            .iter()
            .position(|u| u["id"] == id.as_str())
            .ok_or_else(|| ScimError::not_found(&id))?;
        check_if_match(&headers, &inner.users[position])?;
        inner.users.remove(position);
        Ok(())
    })();
    match result {
        Ok(()) => {
            let mut response = StatusCode::NO_CONTENT.into_response();
            response
                .extensions_mut()
                .insert(ServedClient(caller.client_id.clone()));
            response
        }
        Err(e) => caller.fail(e),
    }
}
