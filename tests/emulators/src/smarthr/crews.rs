//! Crews: the list with its filters and sorting, reading one, and writes
//! (create, update, delete) with SmartHR's validation. Every write tells
//! the webhooks subscribed to it.

use super::errors::ApiError;
use super::lists::{page_response, paging, project, query_map};
use super::state::{Inner, SmartHrState, lock};
use super::webhooks::{CrewEvent, dispatch};
use super::{Resource, seed};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

pub(super) const EMP_STATUSES: [&str; 3] = ["employed", "absent", "retired"];
pub(super) const GENDERS: [&str; 2] = ["male", "female"];
pub(super) const PRESETS: [&str; 7] = [
    "board_member",
    "full_timer",
    "contract_worker",
    "permatemp",
    "part_timer",
    "outsourcing_contractor",
    "etc",
];

/// Fields `sort` accepts.
pub(super) const SORTABLE: [&str; 12] = [
    "emp_code",
    "emp_status",
    "entered_at",
    "resigned_at",
    "birth_at",
    "created_at",
    "updated_at",
    "last_name",
    "first_name",
    "last_name_yomi",
    "first_name_yomi",
    "gender",
];

pub(super) fn one_of(
    query: &BTreeMap<String, String>,
    name: &str,
    allowed: &[&str],
) -> Result<Option<String>, ApiError> {
    match query.get(name).map(|v| v.trim()) {
        None | Some("") => Ok(None),
        Some(v) if allowed.contains(&v) => Ok(Some(v.to_string())),
        Some(_) => Err(ApiError::invalid(
            "crew",
            name,
            format!("must be one of {}", allowed.join(", ")),
        )),
    }
}

pub(super) fn date_param(
    query: &BTreeMap<String, String>,
    name: &str,
) -> Result<Option<String>, ApiError> {
    match query.get(name).map(|v| v.trim()) {
        None | Some("") => Ok(None),
        Some(v) if seed::valid_date(v) => Ok(Some(v.to_string())),
        Some(_) => Err(ApiError::invalid(
            "crew",
            name,
            "must be a date (YYYY-MM-DD)",
        )),
    }
}

/// Whether a crew matches free text `q`: names (legal, katakana, business,
/// full name with or without a space), employee code or email.
pub(super) fn matches_q(crew: &Value, q: &str) -> bool {
    let needle = q.to_lowercase();
    let field = |name: &str| crew[name].as_str().unwrap_or_default().to_lowercase();
    let last = field("last_name");
    let first = field("first_name");
    [
        last.clone(),
        first.clone(),
        format!("{last}{first}"),
        format!("{last} {first}"),
        format!("{last}\u{3000}{first}"),
        field("last_name_yomi"),
        field("first_name_yomi"),
        format!("{}{}", field("last_name_yomi"), field("first_name_yomi")),
        field("business_last_name"),
        field("business_first_name"),
        field("emp_code"),
        field("email"),
    ]
    .iter()
    .any(|text| !text.is_empty() && text.contains(&needle))
}

/// Sort keys of `sort`, e.g. `emp_status,-updated_at`.
pub(super) fn sort_keys(sort: Option<&String>) -> Result<Vec<(String, bool)>, ApiError> {
    let Some(sort) = sort.filter(|s| !s.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    sort.split(',')
        .map(|key| {
            let key = key.trim();
            let (name, descending) = match key.strip_prefix('-') {
                Some(name) => (name, true),
                None => (key, false),
            };
            if SORTABLE.contains(&name) {
                Ok((name.to_string(), descending))
            } else {
                Err(ApiError::invalid(
                    "crew",
                    "sort",
                    format!("`{name}` cannot be sorted by"),
                ))
            }
        })
        .collect()
}

pub(super) fn compare(a: &Value, b: &Value, keys: &[(String, bool)]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for (key, descending) in keys {
        let order = match (a[key].as_str(), b[key].as_str()) {
            (Some(x), Some(y)) => x.cmp(y),
            // Nulls last, whatever the direction.
            (Some(_), None) => return Ordering::Less,
            (None, Some(_)) => return Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        let order = if *descending { order.reverse() } else { order };
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

pub(super) async fn list_crews(
    State(state): State<SmartHrState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = query_map(raw.as_deref());
    let inner = lock(&state.inner);
    let (page, per_page) = paging(&inner, &query)?;
    let emp_status = one_of(&query, "emp_status", &EMP_STATUSES)?;
    let gender = one_of(&query, "gender", &GENDERS)?;
    let emp_type = one_of(&query, "emp_type", &PRESETS)?;
    let from = date_param(&query, "entered_at_from")?;
    let to = date_param(&query, "entered_at_to")?;
    let keys = sort_keys(query.get("sort"))?;
    let emp_code = query.get("emp_code").filter(|c| !c.is_empty());
    let q = query.get("q").map(|q| q.trim()).filter(|q| !q.is_empty());
    let mut crews: Vec<&Value> = inner.data[&Resource::Crews]
        .iter()
        .filter(|c| emp_code.is_none_or(|code| c["emp_code"] == code.as_str()))
        .filter(|c| emp_status.as_deref().is_none_or(|s| c["emp_status"] == s))
        .filter(|c| gender.as_deref().is_none_or(|g| c["gender"] == g))
        .filter(|c| {
            emp_type
                .as_deref()
                .is_none_or(|t| c["employment_type"]["preset_type"] == t)
        })
        .filter(|c| {
            let entered = c["entered_at"].as_str();
            from.as_deref()
                .is_none_or(|f| entered.is_some_and(|e| e >= f))
                && to
                    .as_deref()
                    .is_none_or(|t| entered.is_some_and(|e| e <= t))
        })
        .filter(|c| q.is_none_or(|q| matches_q(c, q)))
        .collect();
    if !keys.is_empty() {
        crews.sort_by(|a, b| compare(a, b, &keys));
    }
    // Only crews honour `fields`.
    Ok(page_response(
        crews,
        query.get("fields"),
        page,
        per_page,
        &headers,
        "/crews",
        &query,
    ))
}

pub(super) async fn read_crew(
    State(state): State<SmartHrState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = query_map(raw.as_deref());
    let inner = lock(&state.inner);
    let crew = inner.data[&Resource::Crews]
        .iter()
        .find(|c| c["id"] == id.as_str())
        .cloned()
        .ok_or_else(ApiError::not_found)?;
    let crew = project(vec![crew], query.get("fields")).remove(0);
    Ok(axum::Json(crew).into_response())
}

/// Writable crew fields that hold text.
pub(super) const TEXT_FIELDS: [&str; 13] = [
    "emp_code",
    "last_name",
    "first_name",
    "last_name_yomi",
    "first_name_yomi",
    "business_last_name",
    "business_first_name",
    "business_last_name_yomi",
    "business_first_name_yomi",
    "tel_number",
    "position",
    "occupation",
    "resigned_reason",
];

pub(super) const DATE_FIELDS: [&str; 3] = ["birth_at", "entered_at", "resigned_at"];

pub(super) fn parse_body(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid("crew", "body", "must be a JSON object")),
        Err(e) => Err(ApiError::invalid(
            "crew",
            "body",
            format!("is not valid JSON: {e}"),
        )),
    }
}

pub(super) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Checks a custom field value against its template's type; returns the
/// value to store (an enum choice is stored by id).
pub(super) fn custom_value(template: &Value, value: &Value) -> Result<Value, String> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err("must be text or a number".into()),
    };
    match template["type"].as_str().unwrap_or_default() {
        "string" | "text" => Ok(Value::String(text)),
        "decimal" => text
            .trim()
            .parse::<f64>()
            .map(|_| Value::String(text.trim().to_string()))
            .map_err(|_| "must be a number".to_string()),
        "date" if seed::valid_date(&text) => Ok(Value::String(text)),
        "date" => Err("must be a date (YYYY-MM-DD)".into()),
        "enum" => template["elements"]
            .as_array()
            .and_then(|elements| {
                elements
                    .iter()
                    .find(|e| e["id"] == text.as_str() || e["physical_name"] == text.as_str())
            })
            .map(|e| e["id"].clone())
            .ok_or_else(|| "is not one of the field's choices".to_string()),
        "file" => Err("file fields cannot be set through this endpoint".into()),
        other => Err(format!("has an unknown type `{other}`")),
    }
}

/// Applies a write body to `crew` (a new crew's defaults, or the stored
/// one), checking every field as SmartHR would. Unknown keys are ignored.
pub(super) fn apply_write(
    inner: &Inner,
    crew: &mut Map<String, Value>,
    body: &Map<String, Value>,
    creating: bool,
) -> Result<(), ApiError> {
    let invalid = |field: &str, message: &str| ApiError::invalid("crew", field, message);
    for field in TEXT_FIELDS {
        match body.get(field) {
            None => {}
            Some(Value::Null) => {
                crew.insert(field.into(), Value::Null);
            }
            Some(Value::String(s)) => {
                crew.insert(field.into(), Value::String(s.clone()));
            }
            Some(_) => return Err(invalid(field, "must be text")),
        }
    }
    for field in ["last_name", "first_name"] {
        let blank = crew
            .get(field)
            .and_then(Value::as_str)
            .is_none_or(|s| s.trim().is_empty());
        if blank && (creating || body.contains_key(field)) {
            return Err(invalid(field, "can't be blank"));
        }
    }
    for field in DATE_FIELDS {
        match body.get(field) {
            None => {}
            Some(Value::Null) => {
                crew.insert(field.into(), Value::Null);
            }
            Some(Value::String(s)) if seed::valid_date(s) => {
                crew.insert(field.into(), Value::String(s.clone()));
            }
            Some(_) => return Err(invalid(field, "must be a date (YYYY-MM-DD)")),
        }
    }
    if let (Some(entered), Some(resigned)) = (
        crew.get("entered_at").and_then(Value::as_str),
        crew.get("resigned_at").and_then(Value::as_str),
    ) && resigned < entered
    {
        return Err(invalid("resigned_at", "must be on or after entered_at"));
    }
    match body.get("emp_status") {
        None => {}
        Some(Value::String(s)) if EMP_STATUSES.contains(&s.as_str()) => {
            crew.insert("emp_status".into(), Value::String(s.clone()));
        }
        Some(_) => {
            return Err(invalid(
                "emp_status",
                "must be one of employed, absent, retired",
            ));
        }
    }
    match body.get("gender") {
        None => {}
        Some(Value::Null) => {
            crew.insert("gender".into(), Value::Null);
        }
        Some(Value::String(s)) if GENDERS.contains(&s.as_str()) => {
            crew.insert("gender".into(), Value::String(s.clone()));
        }
        Some(_) => return Err(invalid("gender", "must be male or female")),
    }
    match body.get("email") {
        None => {}
        Some(Value::Null) => {
            crew.insert("email".into(), Value::Null);
        }
        Some(Value::String(s))
            if s.split_once('@')
                .is_some_and(|(a, b)| !a.is_empty() && b.contains('.')) =>
        {
            crew.insert("email".into(), Value::String(s.clone()));
        }
        Some(_) => return Err(invalid("email", "is invalid")),
    }
    if let Some(code) = crew.get("emp_code").and_then(Value::as_str) {
        let id = crew.get("id").cloned().unwrap_or(Value::Null);
        let taken = inner.data[&Resource::Crews]
            .iter()
            .any(|c| c["emp_code"] == code && c["id"] != id);
        if taken && body.contains_key("emp_code") {
            return Err(invalid("emp_code", "has already been taken"));
        }
    }
    match body.get("employment_type_id") {
        None => {}
        Some(Value::Null) => {
            crew.insert("employment_type".into(), Value::Null);
            crew.insert("emp_type".into(), Value::Null);
        }
        Some(id) => {
            let found = inner.data[&Resource::EmploymentTypes]
                .iter()
                .find(|t| t["id"] == *id)
                .ok_or_else(|| invalid("employment_type_id", "does not exist"))?;
            crew.insert("employment_type".into(), found.clone());
            crew.insert("emp_type".into(), found["preset_type"].clone());
        }
    }
    match body.get("biz_establishment_id") {
        None => {}
        Some(Value::Null) => {
            crew.insert("biz_establishment_id".into(), Value::Null);
        }
        Some(id) => {
            if !inner.data[&Resource::BizEstablishments]
                .iter()
                .any(|b| b["id"] == *id)
            {
                return Err(invalid("biz_establishment_id", "does not exist"));
            }
            crew.insert("biz_establishment_id".into(), id.clone());
        }
    }
    match body.get("department_ids") {
        None => {}
        Some(Value::Array(ids)) => {
            let mut departments = Vec::new();
            for id in ids {
                let d = inner.data[&Resource::Departments]
                    .iter()
                    .find(|d| d["id"] == *id)
                    .ok_or_else(|| {
                        invalid(
                            "department_ids",
                            "contains a department that does not exist",
                        )
                    })?;
                departments.push(json!({
                    "id": d["id"], "name": d["name"], "code": d["code"], "position": d["position"],
                }));
            }
            crew.insert(
                "department".into(),
                departments
                    .first()
                    .map(|d| d["name"].clone())
                    .unwrap_or(Value::Null),
            );
            crew.insert("departments".into(), Value::Array(departments));
        }
        Some(_) => return Err(invalid("department_ids", "must be a list of ids")),
    }
    match body.get("custom_fields") {
        None => {}
        Some(Value::Array(entries)) => {
            let mut current: Vec<Value> = crew
                .get("custom_fields")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for entry in entries {
                let template_id = entry["template_id"].clone();
                let template = inner.data[&Resource::CrewCustomFieldTemplates]
                    .iter()
                    .find(|t| t["id"] == template_id)
                    .ok_or_else(|| {
                        invalid("custom_fields", "refers to a template that does not exist")
                    })?;
                let value = custom_value(template, &entry["value"]).map_err(|m| {
                    ApiError::invalid(
                        "crew",
                        &format!("custom_fields.{}", template["name"].as_str().unwrap_or("?")),
                        &m,
                    )
                })?;
                current.retain(|f| f["template"]["id"] != template_id);
                if !value.is_null() {
                    current.push(seed::custom_field_entry(template, value));
                }
            }
            crew.insert("custom_fields".into(), Value::Array(current));
        }
        Some(_) => return Err(invalid("custom_fields", "must be a list")),
    }
    Ok(())
}

pub(super) async fn create_crew(
    State(state): State<SmartHrState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let mut inner = lock(&state.inner);
    let serial = inner.next_serial;
    let mut crew = Map::new();
    for (key, value) in [
        ("id", json!(seed::uuid(seed::SALT_NEW_CREW, serial))),
        ("user_id", Value::Null),
        ("biz_establishment_id", Value::Null),
        ("emp_code", Value::Null),
        ("emp_type", Value::Null),
        ("employment_type", Value::Null),
        ("emp_status", json!("employed")),
        ("gender", Value::Null),
        ("email", Value::Null),
        ("department", Value::Null),
        ("departments", json!([])),
        ("custom_fields", json!([])),
    ] {
        crew.insert(key.into(), value);
    }
    for field in TEXT_FIELDS.iter().chain(DATE_FIELDS.iter()) {
        crew.entry(field.to_string()).or_insert(Value::Null);
    }
    apply_write(&inner, &mut crew, &body, true)?;
    let now = inner.write_time();
    crew.insert("created_at".into(), now.clone());
    crew.insert("updated_at".into(), now);
    inner.next_serial += 1;
    let crew = Value::Object(crew);
    inner
        .data
        .get_mut(&Resource::Crews)
        .expect("crews are seeded")
        .push(crew.clone());
    dispatch(&state, &mut inner, CrewEvent::Created, &crew);
    Ok((StatusCode::CREATED, axum::Json(crew)).into_response())
}

pub(super) async fn update_crew(
    State(state): State<SmartHrState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let mut inner = lock(&state.inner);
    let index = inner.data[&Resource::Crews]
        .iter()
        .position(|c| c["id"] == id.as_str())
        .ok_or_else(ApiError::not_found)?;
    let Value::Object(mut crew) = inner.data[&Resource::Crews][index].clone() else {
        return Err(ApiError::new(5, "Internal server error"));
    };
    apply_write(&inner, &mut crew, &body, false)?;
    crew.insert("updated_at".into(), inner.write_time());
    let crew = Value::Object(crew);
    inner
        .data
        .get_mut(&Resource::Crews)
        .expect("crews are seeded")[index] = crew.clone();
    dispatch(&state, &mut inner, CrewEvent::Updated, &crew);
    Ok(axum::Json(crew).into_response())
}

pub(super) async fn delete_crew(
    State(state): State<SmartHrState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut inner = lock(&state.inner);
    let index = inner.data[&Resource::Crews]
        .iter()
        .position(|c| c["id"] == id.as_str())
        .ok_or_else(ApiError::not_found)?;
    // An administrator's own crew record cannot be deleted ([I]).
    let admin = inner.data[&Resource::Users]
        .iter()
        .any(|u| u["crew_id"] == id.as_str() && u["admin"] == true);
    if admin {
        return Err(ApiError::new(
            8,
            "The crew is linked to an administrator and cannot be deleted",
        ));
    }
    let crew = inner
        .data
        .get_mut(&Resource::Crews)
        .expect("crews are seeded")
        .remove(index);
    for user in inner
        .data
        .get_mut(&Resource::Users)
        .expect("users are seeded")
        .iter_mut()
    {
        if user["crew_id"] == id.as_str() {
            user["crew_id"] = Value::Null;
        }
    }
    // The crew as it was before it was deleted.
    dispatch(&state, &mut inner, CrewEvent::Deleted, &crew);
    Ok(StatusCode::NO_CONTENT.into_response())
}
