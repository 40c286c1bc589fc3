//! # connector-paycor
//!
//! Reads employees, persons, departments and legal entities from Paycor's
//! Public API and writes employees' contact details back.
//!
//! Paycor authenticates twice on every call: an OAuth2 access token
//! (authorization code with PKCE, refresh tokens that rotate) and the app's
//! APIM subscription key, sent as `Ocp-Apim-Subscription-Key`. The host does
//! both: the manifest declares the grant (token endpoint
//! `/sts/v1/common/token?subscription-key=…`, consent at
//! `/AppActivation/Authorize`) and the key as a secret header, so the
//! connector never sees either. Cardhost permissions mirror the app's Data
//! Access rights one to one, each allowing exactly the requests the right
//! covers.
//!
//! - [`schemas`]: connection fields and card schemas.
//! - [`api`]: Data Access rights, casing, paging and error words.
//! - [`report`]: the connection test (subscription key, token, each right).

// The card schemas are large `json!` literals.
#![recursion_limit = "256"]

pub mod api;
pub mod report;
pub mod schemas;

use api::{Call, DataAccess};
use cardhost_sdk::http::Request;
use cardhost_sdk::{
    AuthMethod, AuthScheme, CardEntry, ConnectionReport, Connector, Context, Environment, Error,
    Manifest, OAuth2, Permission, Result, SecretField, Value, json, parse_input, serde_json,
};
use serde::Deserialize;

/// The connector. It holds no state: each invocation runs in a fresh instance.
pub struct Paycor;

/// Records a list card returns when walking pages and no `limit` is given.
const DEFAULT_LIMIT: usize = 1000;

/// How a list card pages.
#[derive(Debug)]
struct Paging {
    one_page: bool,
    continuation_token: Option<String>,
    limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListEmployeesInput {
    legal_entity_id: Option<i64>,
    #[serde(default)]
    include: Vec<String>,
    email_type: Option<String>,
    status: Option<String>,
    employee_number: Option<i64>,
    last_name: Option<String>,
    department_code: Option<i64>,
    work_location_name: Option<String>,
    #[serde(default)]
    one_page: bool,
    continuation_token: Option<String>,
    limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadEmployeeInput {
    employee_id: String,
    #[serde(default)]
    include: Vec<String>,
    email_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadPersonInput {
    employee_id: Option<String>,
    tenant_id: Option<i64>,
    person_id: Option<String>,
    #[serde(default)]
    include: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListDepartmentsInput {
    legal_entity_id: Option<i64>,
    #[serde(default)]
    one_page: bool,
    continuation_token: Option<String>,
    limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadDepartmentInput {
    department_id: String,
    legal_entity_id: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadLegalEntityInput {
    legal_entity_id: Option<i64>,
    #[serde(default)]
    include: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PhoneInput {
    #[serde(rename = "type")]
    kind: String,
    country_code: Option<String>,
    area_code: Option<String>,
    number: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressInput {
    street_line1: String,
    street_line2: Option<String>,
    suite: Option<String>,
    city: Option<String>,
    state: Option<String>,
    county: Option<String>,
    country: Option<String>,
    zip_code: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateContactInput {
    employee_id: String,
    work_email: Option<String>,
    home_email: Option<String>,
    phones: Option<Vec<PhoneInput>>,
    primary_address: Option<AddressInput>,
}

/// Checks what the schema cannot about paging inputs and returns the limit
/// of a walk.
fn paging_limit(one_page: bool, limit: Option<usize>) -> Result<usize> {
    if one_page && limit.is_some() {
        return Err(Error::InvalidInput(
            "give either `one_page` (one page with its continuation token) or `limit` (every page up to a limit), not both".into(),
        ));
    }
    Ok(limit.unwrap_or(DEFAULT_LIMIT))
}

fn list_output(key: &str, walk: api::Walk) -> Value {
    json!({
        key: walk.records,
        "count": walk.records.len(),
        "has_more": walk.has_more,
        "continuation_token": walk.continuation_token,
        "pages": walk.pages,
    })
}

/// Fetches one page (`one_page`) or walks pages up to `limit`.
fn list(
    path: &str,
    query: &[(String, String)],
    paging: Paging,
    key: &str,
    call: &Call,
) -> Result<Value> {
    let limit = paging_limit(paging.one_page, paging.limit)?;
    let start = paging
        .continuation_token
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    let walk = if paging.one_page {
        let page = api::fetch_page(path, query, start.as_deref(), call)?;
        api::Walk {
            has_more: page.has_more,
            continuation_token: page.continuation_token,
            records: page.records,
            pages: 1,
        }
    } else {
        api::walk(path, query, start, limit, call)?
    };
    Ok(list_output(key, walk))
}

fn list_employees(input: Value, ctx: &Context) -> Result<Value> {
    let input: ListEmployeesInput = parse_input(input)?;
    let le = api::legal_entity_id(ctx, input.legal_entity_id)?;
    let mut query = api::include_query(&input.include);
    let mut add = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            query.push((name.to_string(), v));
        }
    };
    add("emailType", input.email_type);
    add("statusFilter", input.status);
    add(
        "employeeNumber",
        input.employee_number.map(|n| n.to_string()),
    );
    add(
        "lastName",
        input
            .last_name
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
    );
    add(
        "departmentCode",
        input.department_code.map(|n| n.to_string()),
    );
    add(
        "workLocationName",
        input
            .work_location_name
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
    );
    let call = Call::new(
        DataAccess::LegalEntityEmployees,
        format!("legal entity {le}"),
    )
    .with_includes(&input.include);
    let paging = Paging {
        one_page: input.one_page,
        continuation_token: input.continuation_token,
        limit: input.limit,
    };
    list(
        &format!("/v1/legalentities/{le}/employees"),
        &query,
        paging,
        "employees",
        &call,
    )
}

fn read_employee(input: Value, _ctx: &Context) -> Result<Value> {
    let input: ReadEmployeeInput = parse_input(input)?;
    let id = api::path_id("employee_id", &input.employee_id)?;
    let mut request = Request::get(format!("/v1/employees/{id}"));
    request.query = api::include_query(&input.include);
    request = request.query_opt("emailType", input.email_type);
    let call = Call::new(
        DataAccess::EmployeeInformation,
        format!("employee `{}`", input.employee_id.trim()),
    )
    .with_includes(&input.include);
    api::send(request, &call)
}

fn read_person(input: Value, _ctx: &Context) -> Result<Value> {
    let input: ReadPersonInput = parse_input(input)?;
    let (path, call) = match (&input.employee_id, input.tenant_id, &input.person_id) {
        (Some(employee), None, None) => (
            format!(
                "/v1/employees/{}/person",
                api::path_id("employee_id", employee)?
            ),
            Call::new(
                DataAccess::EmployeePerson,
                format!("employee `{}`", employee.trim()),
            ),
        ),
        (None, Some(tenant), Some(person)) => (
            format!(
                "/v1/tenants/{tenant}/persons/{}",
                api::path_id("person_id", person)?
            ),
            Call::new(
                DataAccess::PersonInformation,
                format!("person `{}` in tenant {tenant}", person.trim()),
            ),
        ),
        _ => {
            return Err(Error::InvalidInput(
                "give either `employee_id`, or `tenant_id` and `person_id`".into(),
            ));
        }
    };
    let mut request = Request::get(path);
    request.query = api::include_query(&input.include);
    api::send(request, &call.with_includes(&input.include))
}

fn list_departments(input: Value, ctx: &Context) -> Result<Value> {
    let input: ListDepartmentsInput = parse_input(input)?;
    let le = api::legal_entity_id(ctx, input.legal_entity_id)?;
    let call = Call::new(
        DataAccess::LegalEntityDepartments,
        format!("legal entity {le}"),
    );
    let paging = Paging {
        one_page: input.one_page,
        continuation_token: input.continuation_token,
        limit: input.limit,
    };
    list(
        &format!("/v1/legalentities/{le}/departments"),
        &[],
        paging,
        "departments",
        &call,
    )
}

fn read_department(input: Value, ctx: &Context) -> Result<Value> {
    let input: ReadDepartmentInput = parse_input(input)?;
    let le = api::legal_entity_id(ctx, input.legal_entity_id)?;
    let id = api::path_id("department_id", &input.department_id)?;
    let call = Call::new(
        DataAccess::LegalEntityDepartment,
        format!(
            "department `{}` in legal entity {le}",
            input.department_id.trim()
        ),
    );
    api::send(
        Request::get(format!("/v1/legalentities/{le}/departments/{id}")),
        &call,
    )
}

fn read_legal_entity(input: Value, ctx: &Context) -> Result<Value> {
    let input: ReadLegalEntityInput = parse_input(input)?;
    let le = api::legal_entity_id(ctx, input.legal_entity_id)?;
    let mut request = Request::get(format!("/v1/legalentities/{le}"));
    request.query = api::include_query(&input.include);
    let call = Call::new(
        DataAccess::LegalEntityBasicInformation,
        format!("legal entity {le}"),
    );
    api::send(request, &call)
}

/// Paycor's `EmployeeContact` body, with only the fields given (Paycor keeps
/// the others), and the names of the fields sent.
fn contact_body(input: &UpdateContactInput) -> Result<(Value, Vec<&'static str>)> {
    let mut body = serde_json::Map::new();
    let mut updated = Vec::new();
    let trimmed = |s: &Option<String>| {
        s.as_ref()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    if let Some(email) = trimmed(&input.work_email) {
        body.insert("WorkEmail".into(), json!(email));
        updated.push("work_email");
    }
    if let Some(email) = trimmed(&input.home_email) {
        body.insert("HomeEmail".into(), json!(email));
        updated.push("home_email");
    }
    if let Some(phones) = &input.phones {
        let mut seen = Vec::new();
        let mut list = Vec::new();
        for phone in phones {
            if seen.contains(&phone.kind) {
                return Err(Error::InvalidInput(format!(
                    "`phones` has two `{}` numbers; Paycor takes at most one Home, one Mobile and one Work number",
                    phone.kind
                )));
            }
            seen.push(phone.kind.clone());
            let mut entry = serde_json::Map::new();
            entry.insert("Type".into(), json!(phone.kind));
            if let Some(cc) = &phone.country_code {
                entry.insert("CountryCode".into(), json!(cc.trim_start_matches('+')));
            }
            if let Some(area) = &phone.area_code {
                entry.insert("AreaCode".into(), json!(area));
            }
            entry.insert("PhoneNumber".into(), json!(phone.number));
            list.push(Value::Object(entry));
        }
        body.insert("Phones".into(), Value::Array(list));
        updated.push("phones");
    }
    if let Some(address) = &input.primary_address {
        let mut entry = serde_json::Map::new();
        let street = address.street_line1.trim();
        if street.is_empty() {
            return Err(Error::InvalidInput(
                "`primary_address.street_line1` is blank".into(),
            ));
        }
        entry.insert("StreetLine1".into(), json!(street));
        for (key, value) in [
            ("StreetLine2", &address.street_line2),
            ("Suite", &address.suite),
            ("City", &address.city),
            ("County", &address.county),
            ("Country", &address.country),
        ] {
            if let Some(v) = trimmed(value) {
                entry.insert(key.into(), json!(v));
            }
        }
        if let Some(state) = trimmed(&address.state) {
            entry.insert("State".into(), json!(state.to_ascii_uppercase()));
        }
        entry.insert("ZipCode".into(), json!(address.zip_code));
        body.insert("PrimaryAddress".into(), Value::Object(entry));
        updated.push("primary_address");
    }
    if updated.is_empty() {
        return Err(Error::InvalidInput(
            "nothing to update: give `work_email`, `home_email`, `phones` or `primary_address`"
                .into(),
        ));
    }
    Ok((Value::Object(body), updated))
}

fn update_employee_contact(input: Value, _ctx: &Context) -> Result<Value> {
    let input: UpdateContactInput = parse_input(input)?;
    let id = api::path_id("employee_id", &input.employee_id)?;
    let (body, updated) = contact_body(&input)?;
    let call = Call::new(
        DataAccess::UpdateEmployeeContact,
        format!("employee `{}`", input.employee_id.trim()),
    );
    let request = Request::put(format!("/v1/employees/{id}")).json(&body)?;
    let answer = api::send(request, &call)?;
    let resource = api::field(&answer, "resourceUrl")
        .cloned()
        .unwrap_or(Value::Null);
    Ok(json!({
        "employee_id": input.employee_id.trim(),
        "updated": updated,
        "resource": if resource.is_object() { resource } else { Value::Null },
    }))
}

/// The cardhost permissions: one per Paycor Data Access right, allowing
/// exactly the method and path the right covers.
fn permissions() -> Vec<Permission> {
    let p = |access: DataAccess, description: &str| {
        Permission::new(access.permission(), access.title()).description(description)
    };
    vec![
        p(
            DataAccess::LegalEntityBasicInformation,
            "Read a legal entity (GET /v1/legalentities/{legalEntityId}).",
        )
        .read("/v1/legalentities/{legalEntityId}"),
        p(
            DataAccess::LegalEntityEmployees,
            "List a legal entity's employees (GET /v1/legalentities/{legalEntityId}/employees). \
             `include` values need the matching “View Legal Entity Employees …” rights in the Paycor app.",
        )
        .read("/v1/legalentities/{legalEntityId}/employees"),
        p(
            DataAccess::EmployeeInformation,
            "Read one employee (GET /v1/employees/{employeeId}). `include` values need the matching \
             “View Employee …” rights in the Paycor app.",
        )
        .read("/v1/employees/{employeeId}"),
        p(
            DataAccess::EmployeePerson,
            "Read the person behind an employee (GET /v1/employees/{employeeId}/person).",
        )
        .read("/v1/employees/{employeeId}/person"),
        p(
            DataAccess::PersonInformation,
            "Read a person by tenant and person id (GET /v1/tenants/{tenantId}/persons/{personId}).",
        )
        .read("/v1/tenants/{tenantId}/persons/{personId}"),
        p(
            DataAccess::LegalEntityDepartments,
            "List a legal entity's departments (GET /v1/legalentities/{legalEntityId}/departments).",
        )
        .read("/v1/legalentities/{legalEntityId}/departments"),
        p(
            DataAccess::LegalEntityDepartment,
            "Read one department (GET /v1/legalentities/{legalEntityId}/departments/{departmentId}).",
        )
        .read("/v1/legalentities/{legalEntityId}/departments/{departmentId}"),
        p(
            DataAccess::UpdateEmployeeContact,
            "Change an employee's emails, phones and primary address (PUT /v1/employees/{employeeId}). \
             A write: not granted to new connections unless asked for.",
        )
        .write("/v1/employees/{employeeId}")
        .not_granted_by_default(),
    ]
}

fn auth() -> AuthMethod {
    let oauth = OAuth2::new(
        "https://{api_host}/sts/v1/common/token?subscription-key={secret.subscription_key}",
    )
    .scope("{scope_id}")
    .scope("offline_access");
    AuthMethod::new(
        "authorization-code",
        "Paycor app (OAuth2 authorization code)",
        AuthScheme::OAuth2AuthorizationCode {
            oauth2: oauth,
            authorize_url: "https://{authorize_host}/AppActivation/Authorize".into(),
            authorize_params: vec![(
                "subscription-key".into(),
                "{secret.subscription_key}".into(),
            )],
        },
    )
    .secret(
        SecretField::new("client_secret", "Client secret").description(
            "The Application OAuth Client Secret Paycor's Developer Portal showed when the app was created.",
        ),
    )
    .secret(
        SecretField::new("subscription_key", "APIm subscription key").description(
            "The APIm Subscription Key on the app's Security Connections tab. cardhost sends it as \
             `Ocp-Apim-Subscription-Key` on every call and as `subscription-key` to the token and \
             consent endpoints.",
        ),
    )
    .secret_header("Ocp-Apim-Subscription-Key", "subscription_key")
}

impl Connector for Paycor {
    fn manifest() -> Manifest {
        let mut manifest = Manifest::new("paycor", "Paycor", env!("CARGO_PKG_VERSION"))
            .description(
                "Reads employees, persons, departments and legal entities from Paycor and updates \
                 employees' contact details. Connects a Paycor app (Developer Portal) with OAuth2 \
                 and its APIm subscription key; cardhost permissions mirror the app's Data Access.",
            )
            .connection_schema(schemas::connection())
            .auth(auth())
            .environment(
                Environment::new("sandbox", "https://{api_host}")
                    .when("sandbox", "true")
                    .var("api_host", "apis-sandbox.paycor.com")
                    .var("authorize_host", "hcm-demo.paycor.com"),
            )
            .environment(
                Environment::new("production", "https://{api_host}")
                    .var("api_host", "apis.paycor.com")
                    .var("authorize_host", "hcm.paycor.com"),
            );
        for permission in permissions() {
            manifest = manifest.permission(permission);
        }
        manifest
            .card(
                CardEntry::new("list-employees", "List Employees")
                    .description(
                        "Lists a legal entity's employees, optionally filtered by status, employee \
                         number, last name, department code or work location. Returns one page with \
                         `one_page`, else every page up to `limit`.",
                    )
                    .input(schemas::list_employees_input())
                    .output(schemas::list_employees_output())
                    .permission(DataAccess::LegalEntityEmployees.permission()),
            )
            .card(
                CardEntry::new("read-employee", "Read Employee")
                    .description("Reads one employee by Paycor employee id.")
                    .input(schemas::read_employee_input())
                    .output(schemas::employee())
                    .permission(DataAccess::EmployeeInformation.permission()),
            )
            .card(
                CardEntry::new("read-person", "Read Person")
                    .description(
                        "Reads the person behind an employee, or a person by tenant and person id, \
                         with optional demographics, addresses, phones and more.",
                    )
                    .input(schemas::read_person_input())
                    .output(schemas::person())
                    .permission(DataAccess::EmployeePerson.permission())
                    .permission(DataAccess::PersonInformation.permission()),
            )
            .card(
                CardEntry::new("list-departments", "List Departments")
                    .description("Lists a legal entity's departments.")
                    .input(schemas::list_departments_input())
                    .output(schemas::list_departments_output())
                    .permission(DataAccess::LegalEntityDepartments.permission()),
            )
            .card(
                CardEntry::new("read-department", "Read Department")
                    .description("Reads one department of a legal entity.")
                    .input(schemas::read_department_input())
                    .output(schemas::department())
                    .permission(DataAccess::LegalEntityDepartment.permission()),
            )
            .card(
                CardEntry::new("read-legal-entity", "Read Legal Entity")
                    .description("Reads a legal entity, optionally with its business names.")
                    .input(schemas::read_legal_entity_input())
                    .output(schemas::legal_entity())
                    .permission(DataAccess::LegalEntityBasicInformation.permission()),
            )
            .card(
                CardEntry::new("update-employee-contact", "Update Employee Contact")
                    .description(
                        "Changes an employee's work or home email, Home/Mobile/Work phone numbers \
                         and primary address in Paycor at once. Fields not given keep their values.",
                    )
                    .input(schemas::update_employee_contact_input())
                    .output(schemas::update_employee_contact_output())
                    .permission(DataAccess::UpdateEmployeeContact.permission()),
            )
    }

    fn invoke(card: &str, input: Value, ctx: &Context) -> Result<Value> {
        match card {
            "list-employees" => list_employees(input, ctx),
            "read-employee" => read_employee(input, ctx),
            "read-person" => read_person(input, ctx),
            "list-departments" => list_departments(input, ctx),
            "read-department" => read_department(input, ctx),
            "read-legal-entity" => read_legal_entity(input, ctx),
            "update-employee-contact" => update_employee_contact(input, ctx),
            other => Err(Error::InvalidInput(format!("unknown card `{other}`"))),
        }
    }

    fn test_connection(ctx: &Context) -> ConnectionReport {
        report::test_connection(ctx)
    }
}

cardhost_sdk::export_connector!(Paycor);

#[cfg(test)]
mod tests {
    use super::*;
    use cardhost_sdk::http::{Method, Response};
    use cardhost_sdk::testing::mock_http;
    use std::cell::RefCell;
    use std::rc::Rc;

    fn ctx() -> Context {
        let mut ctx = Context::for_test(json!({
            "sandbox": true, "client_id": "c18bff6c9097ade7f726",
            "scope_id": "e5aba9ee3b1cf1119a496045bd492bf4", "legal_entity_id": 398334
        }));
        ctx.permissions = DataAccess::ALL
            .iter()
            .map(|a| a.permission().to_string())
            .collect();
        ctx
    }

    fn reply(status: u16, body: Value) -> Result<Response> {
        Ok(Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        })
    }

    fn query(req: &Request, name: &str) -> Vec<String> {
        req.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// `total` employees in pages of `size`, tokens `t<offset>`, in the
    /// capitalised casing of Paycor's published spec.
    fn serve_pages(total: usize, size: usize, seen: Rc<RefCell<Vec<Request>>>) {
        mock_http(move |req| {
            seen.borrow_mut().push(req.clone());
            let offset: usize = query(req, "continuationToken")
                .first()
                .map(|t| t.trim_start_matches('t').parse().unwrap())
                .unwrap_or(0);
            let records: Vec<Value> = (offset..total.min(offset + size))
                .map(|i| json!({"Id": format!("e-{i}"), "FirstName": "A", "LastName": "B"}))
                .collect();
            let more = offset + size < total;
            reply(
                200,
                json!({
                    "HasMoreResults": more,
                    "ContinuationToken": more.then(|| format!("t{}", offset + size)),
                    "AdditionalResultsUrl": null,
                    "Records": records
                }),
            )
        });
    }

    #[test]
    fn manifest_mirrors_paycor_data_access() {
        let m = Paycor::manifest();
        assert_eq!(m.id, "paycor");
        assert_eq!(m.permissions.len(), 8);
        for access in DataAccess::ALL {
            let p = m
                .permissions
                .iter()
                .find(|p| p.id == access.permission())
                .unwrap();
            assert_eq!(p.title, access.title());
            assert_eq!(p.rules.len(), 1);
            assert_eq!(p.granted_by_default, !access.writes());
        }
        for card in &m.cards {
            assert_eq!(
                card.input_schema["additionalProperties"], false,
                "{}",
                card.id
            );
            for p in &card.permissions {
                assert!(m.permissions.iter().any(|d| &d.id == p), "{p}");
            }
        }
        let auth = &m.auth_methods[0];
        assert_eq!(
            auth.secret_headers,
            vec![(
                "Ocp-Apim-Subscription-Key".to_string(),
                "subscription_key".to_string()
            )]
        );
        match &auth.scheme {
            AuthScheme::OAuth2AuthorizationCode {
                oauth2,
                authorize_url,
                authorize_params,
            } => {
                assert!(
                    oauth2
                        .token_url
                        .ends_with("?subscription-key={secret.subscription_key}")
                );
                assert_eq!(oauth2.scopes, ["{scope_id}", "offline_access"]);
                assert_eq!(
                    authorize_url,
                    "https://{authorize_host}/AppActivation/Authorize"
                );
                assert_eq!(authorize_params[0].0, "subscription-key");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(m.environments[0].when, [("sandbox".into(), "true".into())]);
        assert!(m.environments[1].when.is_empty());
    }

    #[test]
    fn list_employees_walks_continuation_tokens_up_to_the_limit() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        serve_pages(450, 100, seen.clone());
        let out = Paycor::invoke(
            "list-employees",
            json!({"limit": 250, "status": "Active", "include": ["Status", "Position"], "email_type": "Home"}),
            &ctx(),
        )
        .unwrap();
        assert_eq!(out["count"], 250);
        assert_eq!(out["employees"][249]["id"], "e-249");
        assert_eq!(out["employees"][0]["firstName"], "A", "camelCased");
        assert_eq!(out["has_more"], true);
        assert_eq!(
            out["continuation_token"],
            Value::Null,
            "ended inside a page"
        );
        assert_eq!(out["pages"], 3);
        let seen = seen.borrow();
        assert_eq!(seen[0].url, "/v1/legalentities/398334/employees");
        assert_eq!(query(&seen[0], "include"), ["Status", "Position"]);
        assert_eq!(query(&seen[0], "statusFilter"), ["Active"]);
        assert_eq!(query(&seen[0], "emailType"), ["Home"]);
        assert!(query(&seen[0], "continuationToken").is_empty());
        assert_eq!(query(&seen[2], "continuationToken"), ["t200"]);
        assert_eq!(
            query(&seen[2], "statusFilter"),
            ["Active"],
            "filters repeat"
        );
    }

    #[test]
    fn a_limit_on_a_page_boundary_returns_the_next_token() {
        serve_pages(450, 100, Rc::default());
        let out = Paycor::invoke("list-employees", json!({"limit": 200}), &ctx()).unwrap();
        assert_eq!(out["continuation_token"], "t200");
        assert_eq!(out["has_more"], true);
        serve_pages(450, 100, Rc::default());
        let rest = Paycor::invoke(
            "list-employees",
            json!({"continuation_token": "t200"}),
            &ctx(),
        )
        .unwrap();
        assert_eq!(rest["count"], 250);
        assert_eq!(rest["employees"][0]["id"], "e-200");
        assert_eq!(rest["has_more"], false);
        assert_eq!(rest["continuation_token"], Value::Null);
    }

    #[test]
    fn one_page_returns_the_token_of_the_next() {
        serve_pages(450, 100, Rc::default());
        let out = Paycor::invoke(
            "list-employees",
            json!({"one_page": true, "continuation_token": "t400"}),
            &ctx(),
        )
        .unwrap();
        assert_eq!(out["count"], 50);
        assert_eq!(out["has_more"], false);
        assert_eq!(out["pages"], 1);
        mock_http(|_| panic!("no request"));
        let err = Paycor::invoke(
            "list-employees",
            json!({"one_page": true, "limit": 5}),
            &ctx(),
        );
        assert!(matches!(err, Err(Error::InvalidInput(m)) if m.contains("not both")));
    }

    #[test]
    fn reads_use_their_paths_and_normalise_casing() {
        mock_http(|req| {
            let body = match req.url.as_str() {
                "/v1/employees/e-1" => {
                    assert_eq!(query(req, "include"), ["All"]);
                    json!({"Id": "e-1", "Email": {"Type": "Work", "EmailAddress": "a@b.example"}})
                }
                "/v1/employees/e-1/person" => json!({"id": "p-1", "firstName": "Ann"}),
                "/v1/tenants/421504/persons/p-1" => {
                    assert_eq!(query(req, "include"), ["Phones", "Addresses"]);
                    json!({"Id": "p-1", "Phones": [{"AreaCode": "513"}]})
                }
                "/v1/legalentities/398334/departments/d-1" => json!({"Id": "d-1", "Code": "100"}),
                "/v1/legalentities/7" => {
                    json!({"Id": 7, "Name": "Other LLC", "Tenant": {"Id": "421504"}})
                }
                other => panic!("unexpected {other}"),
            };
            reply(200, body)
        });
        let e = Paycor::invoke(
            "read-employee",
            json!({"employee_id": "e-1", "include": ["All"]}),
            &ctx(),
        )
        .unwrap();
        assert_eq!(e["email"]["emailAddress"], "a@b.example");
        let p = Paycor::invoke("read-person", json!({"employee_id": "e-1"}), &ctx()).unwrap();
        assert_eq!(p["firstName"], "Ann");
        let p = Paycor::invoke(
            "read-person",
            json!({"tenant_id": 421504, "person_id": "p-1", "include": ["Phones", "Addresses"]}),
            &ctx(),
        )
        .unwrap();
        assert_eq!(p["phones"][0]["areaCode"], "513");
        let d = Paycor::invoke("read-department", json!({"department_id": "d-1"}), &ctx()).unwrap();
        assert_eq!(d["code"], "100");
        let le =
            Paycor::invoke("read-legal-entity", json!({"legal_entity_id": 7}), &ctx()).unwrap();
        assert_eq!(le["tenant"]["id"], "421504");
    }

    #[test]
    fn not_found_names_the_subject() {
        mock_http(|_| {
            reply(
                404,
                json!({"correlationId": "c", "title": "Not Found", "detail": "Employee was not found."}),
            )
        });
        match Paycor::invoke("read-employee", json!({"employee_id": "nope-1"}), &ctx()) {
            Err(Error::NotFound(m)) => {
                assert_eq!(
                    m,
                    "Paycor has no employee `nope-1` (Employee was not found.)"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn update_contact_sends_only_the_given_fields_in_paycor_casing() {
        let seen = Rc::new(RefCell::new(None));
        let s = seen.clone();
        mock_http(move |req| {
            assert_eq!(req.method, Method::Put);
            assert_eq!(req.url, "/v1/employees/e-1");
            *s.borrow_mut() =
                Some(serde_json::from_slice::<Value>(req.body.as_ref().unwrap()).unwrap());
            reply(
                201,
                json!({"ResourceUrl": {"Id": "e-1", "Url": "v1/employees/e-1"}}),
            )
        });
        let out = Paycor::invoke(
            "update-employee-contact",
            json!({
                "employee_id": "e-1",
                "work_email": " ann@acme.example ",
                "phones": [{"type": "Mobile", "country_code": "+1", "area_code": "513", "number": "555-2300"}],
                "primary_address": {"street_line1": "4811 Montgomery Road", "state": "oh", "zip_code": "45212"}
            }),
            &ctx(),
        )
        .unwrap();
        assert_eq!(
            out["updated"],
            json!(["work_email", "phones", "primary_address"])
        );
        assert_eq!(out["resource"]["id"], "e-1");
        assert_eq!(
            seen.borrow().clone().unwrap(),
            json!({
                "WorkEmail": "ann@acme.example",
                "Phones": [{"Type": "Mobile", "CountryCode": "1", "AreaCode": "513", "PhoneNumber": "555-2300"}],
                "PrimaryAddress": {"StreetLine1": "4811 Montgomery Road", "State": "OH", "ZipCode": "45212"}
            })
        );
    }

    #[test]
    fn update_contact_refuses_duplicate_phone_types_before_sending() {
        mock_http(|_| panic!("no request"));
        let err = Paycor::invoke(
            "update-employee-contact",
            json!({"employee_id": "e-1", "phones": [
                {"type": "Home", "number": "555-0100"}, {"type": "Home", "number": "555-0101"}
            ]}),
            &ctx(),
        );
        assert!(matches!(err, Err(Error::InvalidInput(m)) if m.contains("two `Home`")));
    }
}
