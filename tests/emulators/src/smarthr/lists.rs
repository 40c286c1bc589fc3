//! Paging with `Link` and `x-total-count`, field projection, and the
//! read endpoints other than crews.

use super::Resource;
use super::errors::ApiError;
use super::gate::{host_name, is_loopback_name};
use super::state::{Inner, SmartHrState, lock};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::BTreeMap;

/// Query parameters, the last value of each winning.
pub(super) fn query_map(raw: Option<&str>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// `page` and `per_page`, validated.
pub(super) fn paging(
    inner: &Inner,
    query: &BTreeMap<String, String>,
) -> Result<(u32, u32), ApiError> {
    let number = |name: &str, default: u32, max: u32| -> Result<u32, ApiError> {
        match query.get(name).map(|v| v.trim()) {
            None | Some("") => Ok(default),
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::invalid(
                    "pagination",
                    name,
                    format!("must be an integer from 1 to {max}"),
                )),
            },
        }
    };
    Ok((
        number("page", 1, u32::MAX)?,
        number(
            "per_page",
            inner.default_per_page.min(inner.max_per_page),
            inner.max_per_page,
        )?,
    ))
}

/// One page of `items` with SmartHR's `Link` and `x-total-count` headers.
/// Link URLs keep the request's other parameters, on the tenant's origin.
/// One page of `items` (cloned, so a long list is never copied whole), keeping
/// only the `fields` given, with SmartHR's `Link` and `x-total-count` headers.
pub(super) fn page_response<T: std::borrow::Borrow<Value>>(
    items: Vec<T>,
    fields: Option<&String>,
    page: u32,
    per_page: u32,
    headers: &HeaderMap,
    path: &str,
    query: &BTreeMap<String, String>,
) -> Response {
    let total = items.len();
    let size = per_page as usize;
    let last = total.div_ceil(size).max(1) as u32;
    let start = (page as usize - 1).saturating_mul(size);
    let data: Vec<Value> = items
        .into_iter()
        .skip(start)
        .take(size)
        .map(|item| item.borrow().clone())
        .collect();
    let data = project(data, fields);
    let name = host_name(headers).unwrap_or_default();
    let authority = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let scheme = if is_loopback_name(&name) {
        "http"
    } else {
        "https"
    };
    let link = |p: u32, rel: &str| {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in query {
            if k != "page" && k != "per_page" {
                pairs.append_pair(k, v);
            }
        }
        pairs.append_pair("page", &p.to_string());
        pairs.append_pair("per_page", &per_page.to_string());
        format!(
            "<{scheme}://{authority}/api/v1{path}?{}>; rel=\"{rel}\"",
            pairs.finish()
        )
    };
    let mut links = vec![link(1, "first")];
    if page > 1 {
        links.push(link((page - 1).min(last), "prev"));
    }
    if page < last {
        links.push(link(page + 1, "next"));
    }
    links.push(link(last, "last"));
    let mut response = axum::Json(Value::Array(data)).into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&links.join(", ")) {
        h.insert(header::LINK, v);
    }
    h.insert(
        HeaderName::from_static("x-total-count"),
        HeaderValue::from(total),
    );
    response
}

/// Keeps only `fields` of each record, when the parameter is given.
pub(super) fn project(items: Vec<Value>, fields: Option<&String>) -> Vec<Value> {
    let Some(fields) = fields.filter(|f| !f.trim().is_empty()) else {
        return items;
    };
    let wanted: Vec<&str> = fields.split(',').map(str::trim).collect();
    items
        .into_iter()
        .map(|item| match item {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .filter(|(k, _)| wanted.contains(&k.as_str()))
                    .collect(),
            ),
            other => other,
        })
        .collect()
}

/// A list of `resource` with no filters.
pub(super) async fn list_plain(
    State(state): State<SmartHrState>,
    Path(segment): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let resource = Resource::from_segment(&segment).ok_or_else(ApiError::not_found)?;
    let query = query_map(raw.as_deref());
    let inner = lock(&state.inner);
    let (page, per_page) = paging(&inner, &query)?;
    let items: Vec<&Value> = inner.data[&resource].iter().collect();
    Ok(page_response(
        items,
        None,
        page,
        per_page,
        &headers,
        &format!("/{segment}"),
        &query,
    ))
}

/// One record of `resource`.
pub(super) async fn read_plain(
    State(state): State<SmartHrState>,
    Path((segment, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let resource = Resource::from_segment(&segment).ok_or_else(ApiError::not_found)?;
    let inner = lock(&state.inner);
    inner.data[&resource]
        .iter()
        .find(|r| r["id"] == id.as_str())
        .map(|r| axum::Json(r.clone()).into_response())
        .ok_or_else(ApiError::not_found)
}

/// `embed` must be absent or one of `allowed`.
pub(super) fn embed(query: &BTreeMap<String, String>, allowed: &str) -> Result<bool, ApiError> {
    match query.get("embed").map(|e| e.trim()) {
        None | Some("") => Ok(false),
        Some(e) if e == allowed => Ok(true),
        Some(e) => Err(ApiError::invalid(
            "embed",
            "embed",
            format!("`{e}` cannot be embedded; use `{allowed}`"),
        )),
    }
}

pub(super) async fn list_templates_handler(
    State(state): State<SmartHrState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = query_map(raw.as_deref());
    let inner = lock(&state.inner);
    let (page, per_page) = paging(&inner, &query)?;
    let with_group = embed(&query, "group")?;
    let groups = &inner.data[&Resource::CrewCustomFieldTemplateGroups];
    let items: Vec<Value> = inner.data[&Resource::CrewCustomFieldTemplates]
        .iter()
        .map(|t| {
            let mut t = t.clone();
            if with_group && let Value::Object(map) = &mut t {
                let group = map
                    .remove("group_id")
                    .and_then(|id| groups.iter().find(|g| g["id"] == id).cloned())
                    .unwrap_or(Value::Null);
                map.insert("group".into(), group);
            }
            t
        })
        .collect();
    Ok(page_response(
        items,
        None,
        page,
        per_page,
        &headers,
        "/crew_custom_field_templates",
        &query,
    ))
}

pub(super) async fn list_groups_handler(
    State(state): State<SmartHrState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = query_map(raw.as_deref());
    let inner = lock(&state.inner);
    let (page, per_page) = paging(&inner, &query)?;
    let with_templates = embed(&query, "templates")?;
    let templates = &inner.data[&Resource::CrewCustomFieldTemplates];
    let items: Vec<Value> = inner.data[&Resource::CrewCustomFieldTemplateGroups]
        .iter()
        .map(|g| {
            let mut g = g.clone();
            if with_templates {
                let members: Vec<Value> = templates
                    .iter()
                    .filter(|t| t["group_id"] == g["id"])
                    .cloned()
                    .collect();
                g["templates"] = Value::Array(members);
            }
            g
        })
        .collect();
    Ok(page_response(
        items,
        None,
        page,
        per_page,
        &headers,
        "/crew_custom_field_template_groups",
        &query,
    ))
}

/// A user as listed: with `crew` instead of `crew_id` when embedded.
pub(super) fn user_view(user: &Value, crews: &[Value], with_crew: bool) -> Value {
    let mut user = user.clone();
    if with_crew && let Value::Object(map) = &mut user {
        let crew = map
            .remove("crew_id")
            .and_then(|id| crews.iter().find(|c| c["id"] == id).cloned())
            .unwrap_or(Value::Null);
        map.insert("crew".into(), crew);
    }
    user
}

pub(super) async fn list_users(
    State(state): State<SmartHrState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = query_map(raw.as_deref());
    let inner = lock(&state.inner);
    let (page, per_page) = paging(&inner, &query)?;
    let with_crew = embed(&query, "crew")?;
    let crews = &inner.data[&Resource::Crews];
    let items: Vec<Value> = inner.data[&Resource::Users]
        .iter()
        .map(|u| user_view(u, crews, with_crew))
        .collect();
    Ok(page_response(
        items, None, page, per_page, &headers, "/users", &query,
    ))
}

pub(super) async fn read_user(
    State(state): State<SmartHrState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = query_map(raw.as_deref());
    let with_crew = embed(&query, "crew")?;
    let inner = lock(&state.inner);
    let crews = &inner.data[&Resource::Crews];
    inner.data[&Resource::Users]
        .iter()
        .find(|u| u["id"] == id.as_str())
        .map(|u| axum::Json(user_view(u, crews, with_crew)).into_response())
        .ok_or_else(ApiError::not_found)
}
