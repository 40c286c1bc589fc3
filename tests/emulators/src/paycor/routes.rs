//! The API's endpoints: legal entities, employees, departments, persons and
//! Update Employee Contact.

use super::Right;
use super::errors::ApiError;
use super::gateway::handle;
use super::params::{
    Query, STATUSES, employee_index, employee_parts, enum_value, guid_path, int_path,
    invalid_value, legal_entity, page, person_parts,
};
use super::render::{department_json, employee_json, legal_entity_json, person_json};
use super::seed::{AddressRec, PhoneRec};
use super::state::PaycorState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

pub(super) async fn get_legal_entity(
    State(state): State<PaycorState>,
    Path(le): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = Query::parse(raw);
    handle(&state, &headers, |inner, caller| {
        let le = int_path("legalEntityId", &le)?;
        caller.require(inner, Right::ViewLegalEntityBasicInformation)?;
        caller.activated(inner, le)?;
        let mut names = false;
        for value in query.all("include") {
            enum_value("include", &value, &["All", "BusinessNames"])?;
            names = true;
        }
        let entity = legal_entity(inner, le)?;
        Ok((
            StatusCode::OK,
            legal_entity_json(entity, &inner.data, names),
        ))
    })
}

pub(super) async fn list_employees(
    State(state): State<PaycorState>,
    Path(le): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = Query::parse(raw);
    handle(&state, &headers, |inner, caller| {
        let le = int_path("legalEntityId", &le)?;
        caller.require(inner, Right::ViewLegalEntityEmployees)?;
        caller.activated(inner, le)?;
        legal_entity(inner, le)?;
        let parts = employee_parts(
            inner,
            caller,
            &query,
            [
                Right::ViewLegalEntityEmployeesEmploymentDates,
                Right::ViewLegalEntityEmployeesPosition,
                Right::ViewLegalEntityEmployeesStatus,
                Right::ViewLegalEntityEmployeesWorkLocation,
            ],
        )?;
        let home = match query.get("emailType") {
            None => false,
            Some(v) => enum_value("emailType", v, &["Work", "Home"])? == "Home",
        };
        let status = query
            .get("statusFilter")
            .map(|v| enum_value("statusFilter", v, &STATUSES))
            .transpose()?;
        let number = query
            .get("employeeNumber")
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| invalid_value("employeeNumber", v))
            })
            .transpose()?;
        let department = query
            .get("departmentCode")
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| invalid_value("departmentCode", v))
            })
            .transpose()?;
        let last_name = query.get("lastName").map(|v| v.trim().to_lowercase());
        let location = query
            .get("workLocationName")
            .map(|v| v.trim().to_lowercase());
        let data = &inner.data;
        let items: Vec<Value> = data
            .employees
            .iter()
            .enumerate()
            .filter(|(_, e)| e.le == le)
            .filter(|(_, e)| status.is_none_or(|s| e.status == s))
            .filter(|(_, e)| number.is_none_or(|n| e.number == n))
            .filter(|(_, e)| department.is_none_or(|c| data.departments[e.department].code == c))
            .filter(|(_, e)| {
                last_name
                    .as_ref()
                    .is_none_or(|l| e.last.to_lowercase() == *l)
            })
            .filter(|(_, e)| {
                location
                    .as_ref()
                    .is_none_or(|l| data.locations[&e.le][e.location].name.to_lowercase() == *l)
            })
            .map(|(i, _)| employee_json(data, i, &parts, home))
            .collect();
        let size = inner.employees_page_size;
        let body = page(
            inner,
            &format!("/v1/legalentities/{le}/employees"),
            items,
            size,
            &query,
        )?;
        Ok((StatusCode::OK, body))
    })
}

pub(super) async fn list_departments(
    State(state): State<PaycorState>,
    Path(le): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = Query::parse(raw);
    handle(&state, &headers, |inner, caller| {
        let le = int_path("legalEntityId", &le)?;
        caller.require(inner, Right::ViewLegalEntityDepartmentsInformation)?;
        caller.activated(inner, le)?;
        legal_entity(inner, le)?;
        let items: Vec<Value> = (0..inner.data.departments.len())
            .filter(|i| inner.data.departments[*i].le == le)
            .map(|i| department_json(&inner.data, i))
            .collect();
        let size = inner.page_size;
        let body = page(
            inner,
            &format!("/v1/legalentities/{le}/departments"),
            items,
            size,
            &query,
        )?;
        Ok((StatusCode::OK, body))
    })
}

pub(super) async fn get_department(
    State(state): State<PaycorState>,
    Path((le, department)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    handle(&state, &headers, |inner, caller| {
        let le = int_path("legalEntityId", &le)?;
        let id = guid_path("departmentId", &department)?;
        caller.require(inner, Right::ViewLegalEntityDepartmentsByDepartmentId)?;
        caller.activated(inner, le)?;
        let index = (0..inner.data.departments.len())
            .find(|i| inner.data.departments[*i].le == le && inner.data.departments[*i].id == id)
            .ok_or_else(|| ApiError::not_found(format!("Department {id} was not found.")))?;
        Ok((StatusCode::OK, department_json(&inner.data, index)))
    })
}

pub(super) async fn get_employee(
    State(state): State<PaycorState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = Query::parse(raw);
    handle(&state, &headers, |inner, caller| {
        let id = guid_path("employeeId", &id)?;
        caller.require(inner, Right::ViewEmployeeInformation)?;
        let index = employee_index(inner, &id)?;
        let le = inner.data.employees[index].le;
        caller.activated(inner, le)?;
        let parts = employee_parts(
            inner,
            caller,
            &query,
            [
                Right::ViewEmployeeEmploymentDates,
                Right::ViewEmployeePosition,
                Right::ViewEmployeeStatus,
                Right::ViewEmployeeWorkLocation,
            ],
        )?;
        let home = match query.get("emailType") {
            None => false,
            Some(v) => enum_value("emailType", v, &["Work", "Home"])? == "Home",
        };
        Ok((
            StatusCode::OK,
            employee_json(&inner.data, index, &parts, home),
        ))
    })
}

pub(super) async fn get_employee_person(
    State(state): State<PaycorState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = Query::parse(raw);
    handle(&state, &headers, |inner, caller| {
        let id = guid_path("employeeId", &id)?;
        caller.require(inner, Right::ViewEmployeePerson)?;
        let index = employee_index(inner, &id)?;
        let le = inner.data.employees[index].le;
        caller.activated(inner, le)?;
        let parts = person_parts(inner, caller, &query)?;
        let person = inner.data.employees[index].person;
        Ok((StatusCode::OK, person_json(&inner.data, person, &parts)))
    })
}

pub(super) async fn get_person(
    State(state): State<PaycorState>,
    Path((tenant, person)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = Query::parse(raw);
    handle(&state, &headers, |inner, caller| {
        let tenant = int_path("tenantId", &tenant)?;
        let id = guid_path("personId", &person)?;
        caller.require(inner, Right::ViewPersonInformation)?;
        let in_tenant = inner
            .data
            .legal_entities
            .iter()
            .any(|l| l.tenant_id == tenant && caller.legal_entities.contains(&l.id));
        if !in_tenant {
            inner
                .refusals
                .push(format!("activation for a legal entity of tenant {tenant}"));
            return Err(ApiError::Forbidden);
        }
        let index = inner
            .data
            .person_index
            .get(&id)
            .copied()
            .filter(|i| inner.data.persons[*i].tenant_id == tenant)
            .ok_or_else(|| ApiError::not_found(format!("Person {id} was not found.")))?;
        let parts = person_parts(inner, caller, &query)?;
        Ok((StatusCode::OK, person_json(&inner.data, index, &parts)))
    })
}

/// A JSON object's properties with lowercased names, as ASP.NET binds
/// request bodies case-insensitively.
pub(super) fn lower_keys(value: &Value) -> Option<Map<String, Value>> {
    Some(
        value
            .as_object()?
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect(),
    )
}

pub(super) fn optional_text(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

pub(super) fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
        && !domain.contains('@')
}

/// What a valid `EmployeeContact` body changes.
pub(super) struct ContactChange {
    pub(super) work_email: Option<String>,
    pub(super) home_email: Option<String>,
    pub(super) phones: Vec<PhoneRec>,
    pub(super) address: Option<AddressRec>,
}

pub(super) fn parse_contact(body: &[u8]) -> Result<ContactChange, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "A non-empty request body is required.",
            Some(json!({"employeePut": format!("The request body is not valid JSON: {e}")})),
        )
    })?;
    let map = lower_keys(&value).ok_or_else(|| {
        ApiError::bad_request(
            "A non-empty request body is required.",
            Some(json!({"employeePut": "The request body must be a JSON object."})),
        )
    })?;
    let mut problems = Map::new();
    let mut email = |key: &str, name: &str| {
        let value = optional_text(&map, key)?;
        if valid_email(&value) {
            Some(value)
        } else {
            problems.insert(
                name.into(),
                json!(format!("The {name} field is not a valid e-mail address.")),
            );
            None
        }
    };
    let work_email = email("workemail", "WorkEmail");
    let home_email = email("homeemail", "HomeEmail");
    let mut phones = Vec::new();
    if let Some(list) = map.get("phones").filter(|v| !v.is_null()) {
        match list.as_array() {
            None => {
                problems.insert("Phones".into(), json!("The Phones field must be a list."));
            }
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    let Some(phone) = lower_keys(item) else {
                        problems
                            .insert(format!("Phones[{i}]"), json!("A phone must be an object."));
                        continue;
                    };
                    let kind = optional_text(&phone, "type").and_then(|t| {
                        ["Home", "Mobile", "Work"]
                            .iter()
                            .find(|k| k.eq_ignore_ascii_case(&t))
                            .map(|k| k.to_string())
                    });
                    let number = optional_text(&phone, "phonenumber");
                    match (kind, number) {
                        (Some(kind), Some(number)) => {
                            if phones.iter().any(|p: &PhoneRec| p.kind == kind) {
                                problems.insert(
                                    "Phones".into(),
                                    json!(format!("Only one {kind} phone number may be given.")),
                                );
                            }
                            phones.push(PhoneRec {
                                kind,
                                country_code: optional_text(&phone, "countrycode"),
                                area_code: optional_text(&phone, "areacode"),
                                number,
                            });
                        }
                        (None, _) => {
                            problems.insert(
                                format!("Phones[{i}].Type"),
                                json!("Type must be Home, Mobile or Work."),
                            );
                        }
                        (_, None) => {
                            problems.insert(
                                format!("Phones[{i}].PhoneNumber"),
                                json!("The PhoneNumber field is required."),
                            );
                        }
                    }
                }
            }
        }
    }
    let mut address = None;
    if let Some(raw) = map.get("primaryaddress").filter(|v| !v.is_null()) {
        match lower_keys(raw) {
            None => {
                problems.insert(
                    "PrimaryAddress".into(),
                    json!("The PrimaryAddress field must be an object."),
                );
            }
            Some(a) => {
                let street = optional_text(&a, "streetline1");
                let zip = optional_text(&a, "zipcode");
                if street.is_none() {
                    problems.insert(
                        "PrimaryAddress.StreetLine1".into(),
                        json!("The StreetLine1 field is required."),
                    );
                }
                if zip.is_none() {
                    problems.insert(
                        "PrimaryAddress.ZipCode".into(),
                        json!("The ZipCode field is required."),
                    );
                }
                if let (Some(street1), Some(zip)) = (street, zip) {
                    address = Some(AddressRec {
                        kind: "Primary".into(),
                        street1,
                        street2: optional_text(&a, "streetline2"),
                        suite: optional_text(&a, "suite"),
                        city: optional_text(&a, "city"),
                        county: optional_text(&a, "county"),
                        state: optional_text(&a, "state"),
                        zip,
                        country: optional_text(&a, "country"),
                    });
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::bad_request(
            "A validation error occurred. See the source for more information.",
            Some(Value::Object(problems)),
        ));
    }
    Ok(ContactChange {
        work_email,
        home_email,
        phones,
        address,
    })
}

pub(super) async fn put_employee(
    State(state): State<PaycorState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&state, &headers, |inner, caller| {
        let id = guid_path("employeeId", &id)?;
        caller.require(inner, Right::UpdateEmployeeContact)?;
        let index = employee_index(inner, &id)?;
        let le = inner.data.employees[index].le;
        caller.activated(inner, le)?;
        let change = parse_contact(&body)?;
        let person = inner.data.employees[index].person;
        let mut changed = false;
        if let Some(email) = change.work_email {
            inner.data.employees[index].work_email = Some(email);
            changed = true;
        }
        let p = &mut inner.data.persons[person];
        if let Some(email) = change.home_email {
            p.home_email = Some(email);
            changed = true;
        }
        for phone in change.phones {
            p.phones.retain(|existing| existing.kind != phone.kind);
            p.phones.push(phone);
            changed = true;
        }
        if let Some(address) = change.address {
            p.addresses.retain(|a| a.kind != "Primary");
            p.addresses.insert(0, address);
            changed = true;
        }
        if changed {
            inner.contact_updates += 1;
        }
        Ok((
            StatusCode::CREATED,
            json!({"ResourceUrl": {"Id": id, "Url": format!("v1/employees/{id}")}}),
        ))
    })
}
