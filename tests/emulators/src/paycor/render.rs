//! Paycor's JSON shapes: employees, persons, departments and legal entities
//! in the published, capitalised property names, and the camelCase the live
//! API answers in (see [`Casing`]).

use super::seed::{AddressRec, Data, LegalEntityRec, PhoneRec, date};
use super::{Casing, Right};
use serde_json::{Value, json};
use std::collections::BTreeSet;

pub(super) fn reference(id: Option<String>, url: String) -> Value {
    json!({"Id": id, "Url": url})
}

/// The optional parts of an employee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Part {
    EmploymentDates,
    Position,
    Status,
    WorkLocation,
}

pub(super) const PARTS: [(&str, Part); 4] = [
    ("EmploymentDates", Part::EmploymentDates),
    ("Position", Part::Position),
    ("Status", Part::Status),
    ("WorkLocation", Part::WorkLocation),
];

pub(super) fn employee_json(
    data: &Data,
    index: usize,
    parts: &BTreeSet<Part>,
    home_email: bool,
) -> Value {
    let e = &data.employees[index];
    let person = &data.persons[e.person];
    let email = if home_email {
        json!({"Type": "Home", "EmailAddress": person.home_email})
    } else {
        json!({"Type": "Work", "EmailAddress": e.work_email})
    };
    let department = &data.departments[e.department];
    let mut out = json!({
        "Id": e.id,
        "EmployeeNumber": e.number.to_string(),
        "AlternateEmployeeNumber": format!("A{:05}", e.number),
        "BadgeNumber": (20_000 + e.number).to_string(),
        "FirstName": e.first,
        "MiddleName": e.middle,
        "LastName": e.last,
        "Email": email,
        "EmploymentDateData": null,
        "PositionData": null,
        "StatusData": null,
        "WorkLocation": null,
        "Earnings": reference(None, format!("v1/employees/{}/earnings", e.id)),
        "Deductions": reference(None, format!("v1/employees/{}/deductions", e.id)),
        "Taxes": reference(None, format!("v1/employees/{}/taxes", e.id)),
        "DirectDeposits": reference(None, format!("v1/employees/{}/directdeposits", e.id)),
        "PayRates": reference(None, format!("v1/employees/{}/payrates", e.id)),
        "LegalEntity": reference(Some(e.le.to_string()), format!("v1/legalentities/{}", e.le)),
        "Person": reference(Some(person.id.clone()), format!("v1/employees/{}/person", e.id)),
        "Department": reference(
            Some(department.id.clone()),
            format!("v1/legalentities/{}/departments/{}", e.le, department.id)
        ),
    });
    if parts.contains(&Part::EmploymentDates) {
        out["EmploymentDateData"] = json!({
            "HireDate": date(e.hire_day),
            "AdjustedHireDate": date(e.hire_day),
            "TerminationDate": e.termination.map(|(d, _)| date(d)),
            "TerminationReason": e.termination.map(|(_, r)| r),
            "ReHireDate": null,
            "SeniorityDate": date(e.hire_day),
        });
    }
    if parts.contains(&Part::Position) {
        let manager = e.manager.map(|m| {
            let m = &data.employees[m];
            json!({
                "Id": m.id,
                "EmployeeNumber": m.number.to_string(),
                "Employee": reference(Some(m.id.clone()), format!("v1/employees/{}", m.id)),
            })
        });
        out["PositionData"] = json!({
            "JobTitle": e.job_title,
            "JobCode": e.job_code,
            "EffectiveStartDate": date(e.hire_day),
            "EffectiveEndDate": null,
            "PayGroupId": e.pay_group,
            "Manager": manager,
        });
    }
    if parts.contains(&Part::Status) {
        out["StatusData"] = json!({
            "IsFullTime": e.full_time,
            "Status": e.status,
            "Flsa": e.flsa,
            "Type": e.kind,
            "EligibleForRehire": if e.status == "Terminated" { "true" } else { "false" },
        });
    }
    if parts.contains(&Part::WorkLocation) {
        let l = &data.locations[&e.le][e.location];
        out["WorkLocation"] = json!({
            "Id": l.id,
            "Name": l.name,
            "StreetLine1": l.street,
            "Type": "Physical",
            "City": l.city,
            "County": l.county,
            "State": l.state,
            "ZipCode": l.zip,
            "Country": "USA",
        });
    }
    out
}

/// The optional parts of a person.
pub(super) const PERSON_PARTS: [(&str, Right); 7] = [
    ("Demographic", Right::ViewPersonDemographicInformation),
    ("Addresses", Right::ViewPersonAddresses),
    ("Phones", Right::ViewPersonPhone),
    ("Email", Right::ViewPersonEmail),
    ("EmployeeAssignments", Right::ViewEmployeeRecords),
    ("EmergencyContact", Right::ViewPersonEmergencyContacts),
    ("SocialSecurityNumber", Right::ViewPersonSsn),
];

pub(super) fn address_json(a: &AddressRec) -> Value {
    json!({
        "StreetLine1": a.street1,
        "StreetLine2": a.street2,
        "Suite": a.suite,
        "City": a.city,
        "State": a.state,
        "Country": a.country,
        "County": a.county,
        "ZipCode": a.zip,
        "Type": a.kind,
    })
}

pub(super) fn phone_json(p: &PhoneRec) -> Value {
    json!({
        "CountryCode": p.country_code,
        "AreaCode": p.area_code,
        "PhoneNumber": p.number,
        "Type": p.kind,
    })
}

pub(super) fn person_json(data: &Data, index: usize, parts: &BTreeSet<&str>) -> Value {
    let p = &data.persons[index];
    let mut out = json!({
        "Id": p.id,
        "Prefix": null,
        "FirstName": p.first,
        "MiddleName": p.middle,
        "LastName": p.last,
        "Suffix": null,
        "LegalFirstName": p.first,
        "LegalLastName": p.last,
        "SocialSecurityNumber": null,
        "Email": null,
        "DemographicData": null,
        "BenefitData": null,
        "EmergencyContactData": null,
        "MilitaryData": null,
        "SocialMediaData": null,
        "EmployeeAssignments": null,
        "Addresses": null,
        "Phones": null,
        "Tenants": reference(Some(p.tenant_id.to_string()), format!("v1/tenants/{}", p.tenant_id)),
    });
    for part in parts {
        match *part {
            "Demographic" => {
                out["DemographicData"] = json!({
                    "BirthDate": date(p.birth_day),
                    "Gender": p.gender,
                    "Ethnicity": null,
                    "MaritalStatus": if p.married { "Married" } else { "Single" },
                    "MaidenName": null,
                })
            }
            "Addresses" => {
                out["Addresses"] = p.addresses.iter().map(address_json).collect();
            }
            "Phones" => out["Phones"] = p.phones.iter().map(phone_json).collect(),
            "Email" => {
                out["Email"] = json!({"Type": "Home", "EmailAddress": p.home_email});
            }
            "EmployeeAssignments" => {
                out["EmployeeAssignments"] = p
                    .employees
                    .iter()
                    .map(|e| {
                        let id = &data.employees[*e].id;
                        json!({"Employees": reference(Some(id.clone()), format!("v1/employees/{id}"))})
                    })
                    .collect();
            }
            "EmergencyContact" => {
                let (first, last, relation) = &p.emergency;
                out["EmergencyContactData"] = json!([{
                    "FirstName": first,
                    "LastName": last,
                    "Relationship": relation,
                    "Phones": [{"CountryCode": "1", "AreaCode": "513", "PhoneNumber": "555-0199", "Type": "Mobile"}],
                }]);
            }
            "SocialSecurityNumber" => out["SocialSecurityNumber"] = json!(p.ssn),
            _ => {}
        }
    }
    out
}

pub(super) fn department_json(data: &Data, index: usize) -> Value {
    let d = &data.departments[index];
    let location = &data.locations[&d.le][d.location];
    json!({
        "Id": d.id,
        "Code": d.code.to_string(),
        "Description": d.description,
        "ParentId": d.parent.map(|p| data.departments[p].id.clone()),
        "Level": d.level,
        "PayrollId": d.payroll_id,
        "PayrollDescription": d.description,
        "WorkLocationId": location.id,
        "WorkLocationName": location.name,
    })
}

pub(super) fn legal_entity_json(le: &LegalEntityRec, data: &Data, business_names: bool) -> Value {
    let names = business_names.then(|| {
        let hq = &data.locations[&le.id][0];
        json!([{
            "Type": "Legal",
            "Name": le.name,
            "Addresses": [{
                "StreetLine1": hq.street, "StreetLine2": null, "Suite": null, "City": hq.city,
                "State": hq.state, "Country": "USA", "County": hq.county, "ZipCode": hq.zip, "Type": "Primary"
            }]
        }])
    });
    json!({
        "Id": le.id,
        "Name": le.name,
        "FederalId": format!("31{:07}", le.id % 10_000_000),
        "Type": if le.name.ends_with("LLC") { "LLC" } else { "Corporation" },
        "IsLost": false,
        "BusinessNames": names,
        "Tenant": reference(Some(le.tenant_id.to_string()), format!("v1/tenants/{}", le.tenant_id)),
        "Employees": reference(None, format!("v1/legalentities/{}/employees", le.id)),
        "Persons": reference(None, format!("v1/legalEntities/{}/persons", le.id)),
        "Earnings": reference(None, format!("v1/legalentities/{}/earnings", le.id)),
        "Deductions": reference(None, format!("v1/legalentities/{}/deductions", le.id)),
        "Taxes": reference(None, format!("v1/legalentities/{}/taxes", le.id)),
    })
}

/// A property name in camelCase as ASP.NET writes it (`HasMoreResults` →
/// `hasMoreResults`, `ID` → `id`).
pub(super) fn camel_case(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let mut out = chars.clone();
    for i in 0..chars.len() {
        if !chars[i].is_uppercase() || (i == 1 && !chars[i].is_uppercase()) {
            break;
        }
        if i > 0 && chars.get(i + 1).is_some_and(|c| !c.is_uppercase()) {
            break;
        }
        out[i] = chars[i].to_ascii_lowercase();
    }
    out.into_iter().collect()
}

pub(super) fn with_casing(value: Value, casing: Casing) -> Value {
    match casing {
        Casing::Pascal => value,
        Casing::Camel => camel(value),
    }
}

pub(super) fn camel(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (camel_case(&k), camel(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(camel).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_matches_aspnet() {
        assert_eq!(camel_case("HasMoreResults"), "hasMoreResults");
        assert_eq!(camel_case("Id"), "id");
        assert_eq!(camel_case("ID"), "id");
        assert_eq!(camel_case("statusCode"), "statusCode");
    }
}
