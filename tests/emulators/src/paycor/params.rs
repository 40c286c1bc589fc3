//! Query parameters as ASP.NET binds them, path and enum validation, the
//! `include` parts a call asks for, continuation-token paging and lookups.

use super::Right;
use super::errors::ApiError;
use super::gateway::Caller;
use super::render::{PARTS, PERSON_PARTS, Part};
use super::seed::{LegalEntityRec, is_guid};
use super::state::{Cursor, Inner};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Query parameters in order; names compare case-insensitively, as ASP.NET
/// binds them.
pub(super) struct Query(pub(super) Vec<(String, String)>);

impl Query {
    pub(super) fn parse(raw: Option<String>) -> Self {
        Self(
            url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    /// Every value of a repeated or comma-separated parameter.
    pub(super) fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// The query without `continuationToken` and `subscription-key`, for
    /// `AdditionalResultsUrl`.
    pub(super) fn rest(&self) -> String {
        let kept: Vec<(String, String)> = self
            .0
            .iter()
            .filter(|(k, _)| {
                !k.eq_ignore_ascii_case("continuationToken")
                    && !k.eq_ignore_ascii_case("subscription-key")
            })
            .cloned()
            .collect();
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(kept)
            .finish()
    }
}

pub(super) fn invalid_value(name: &str, value: &str) -> ApiError {
    ApiError::bad_request(
        "One or more validation errors occurred.",
        Some(json!({ name: format!("The value '{value}' is not valid.") })),
    )
}

pub(super) fn int_path(name: &str, value: &str) -> Result<i64, ApiError> {
    value
        .parse::<i64>()
        .ok()
        .filter(|v| (1..=i64::from(i32::MAX)).contains(v))
        .ok_or_else(|| invalid_value(name, value))
}

pub(super) fn guid_path(name: &str, value: &str) -> Result<String, ApiError> {
    if is_guid(value) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(invalid_value(name, value))
    }
}

/// An enum parameter in its canonical spelling (ASP.NET binds enums
/// case-insensitively).
pub(super) fn enum_value<'a>(
    name: &str,
    value: &str,
    allowed: &[&'a str],
) -> Result<&'a str, ApiError> {
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(value))
        .copied()
        .ok_or_else(|| invalid_value(name, value))
}

pub(super) const STATUSES: [&str; 13] = [
    "Active",
    "Deceased",
    "LongTermDisability",
    "ShortTermDisability",
    "Fmla",
    "LaidOff",
    "LeaveWithPay",
    "LeaveWithoutPay",
    "ThirdPartyPayable",
    "Resigned",
    "Retired",
    "Terminated",
    "WorkersCompensation",
];

/// The employee parts asked for, after checking the rights each needs.
pub(super) fn employee_parts(
    inner: &mut Inner,
    caller: &Caller,
    query: &Query,
    rights: [Right; 4],
) -> Result<BTreeSet<Part>, ApiError> {
    let mut parts = BTreeSet::new();
    for value in query.all("include") {
        let name = enum_value(
            "include",
            &value,
            &[
                "All",
                "EmploymentDates",
                "Position",
                "Status",
                "WorkLocation",
            ],
        )?;
        if name == "All" {
            // `All` returns every part the app may see.
            for ((_, part), right) in PARTS.iter().zip(rights) {
                if caller.rights.contains(&right) {
                    parts.insert(*part);
                }
            }
            continue;
        }
        let at = PARTS.iter().position(|(n, _)| *n == name).unwrap_or(0);
        caller.require(inner, rights[at])?;
        parts.insert(PARTS[at].1);
    }
    Ok(parts)
}

pub(super) fn person_parts(
    inner: &mut Inner,
    caller: &Caller,
    query: &Query,
) -> Result<BTreeSet<&'static str>, ApiError> {
    let mut allowed: Vec<&str> = vec!["All"];
    allowed.extend(PERSON_PARTS.iter().map(|(n, _)| *n));
    let mut parts = BTreeSet::new();
    for value in query.all("include") {
        let name = enum_value("include", &value, &allowed)?;
        if name == "All" {
            for (part, right) in PERSON_PARTS {
                if caller.rights.contains(&right) {
                    parts.insert(part);
                }
            }
            continue;
        }
        let (part, right) = PERSON_PARTS
            .iter()
            .find(|(n, _)| *n == name)
            .copied()
            .unwrap_or(PERSON_PARTS[0]);
        caller.require(inner, right)?;
        parts.insert(part);
    }
    Ok(parts)
}

/// One page of `items` for `route`, from the query's continuation token.
pub(super) fn page(
    inner: &mut Inner,
    route: &str,
    items: Vec<Value>,
    size: usize,
    query: &Query,
) -> Result<Value, ApiError> {
    let offset = match query.get("continuationToken") {
        None => 0,
        Some(token) => match inner.cursors.get(token.trim()) {
            Some(c) if c.route == route => c.offset,
            _ => {
                return Err(ApiError::bad_request(
                    "The continuation token is not valid for this request.",
                    Some(
                        json!({"continuationToken": format!("The value '{token}' is not valid.")}),
                    ),
                ));
            }
        },
    };
    let total = items.len();
    let records: Vec<Value> = items.into_iter().skip(offset).take(size).collect();
    let more = offset + size < total;
    let (token, url) = if more {
        let token = inner.new_guid(8);
        inner.cursors.insert(
            token.clone(),
            Cursor {
                route: route.to_string(),
                offset: offset + size,
            },
        );
        let rest = query.rest();
        let url = if rest.is_empty() {
            format!("{route}?continuationToken={token}")
        } else {
            format!("{route}?continuationToken={token}&{rest}")
        };
        (Some(token), Some(url))
    } else {
        (None, None)
    };
    Ok(json!({
        "HasMoreResults": more,
        "ContinuationToken": token,
        "AdditionalResultsUrl": url,
        "Records": records,
    }))
}

pub(super) fn legal_entity(inner: &Inner, id: i64) -> Result<&LegalEntityRec, ApiError> {
    inner
        .data
        .legal_entities
        .iter()
        .find(|l| l.id == id)
        .ok_or_else(|| ApiError::not_found(format!("Legal entity {id} was not found.")))
}

pub(super) fn employee_index(inner: &Inner, id: &str) -> Result<usize, ApiError> {
    inner
        .data
        .employee_index
        .get(id)
        .copied()
        .ok_or_else(|| ApiError::not_found(format!("Employee {id} was not found.")))
}
