//! The cards, each with its typed input; the schemas are derived from them.

use crate::api::{self, Call, DataAccess};
use crate::records::{Department, Employee, LegalEntity, Person, Reference};
use cardhost_sdk::http::Request;
use cardhost_sdk::{Card, Context, Error, JsonSchema, List, Raw, Result, Value, json, serde_json};
use serde::{Deserialize, Serialize};

/// Paycor ids in paths (GUIDs): letters, digits and hyphens only.
pub const ID_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9-]{0,63}$";

/// Employment statuses `statusFilter` accepts.
pub const EMPLOYMENT_STATUSES: [&str; 13] = [
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

/// `include` values of the employee endpoints.
pub const EMPLOYEE_INCLUDES: [&str; 5] = [
    "All",
    "EmploymentDates",
    "Position",
    "Status",
    "WorkLocation",
];

/// `include` values of the person endpoints this connector offers.
pub const PERSON_INCLUDES: [&str; 8] = [
    "All",
    "Demographic",
    "Addresses",
    "Phones",
    "Email",
    "EmployeeAssignments",
    "EmergencyContact",
    "SocialSecurityNumber",
];

/// Records a list card returns when walking pages and no `limit` is given.
const DEFAULT_LIMIT: usize = 1000;

/// How a list card pages: one page with its continuation token, or every
/// page up to a limit.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PagingInput {
    /// Return one page (as Paycor pages them) with the token of the next,
    /// instead of every page up to `limit`.
    #[serde(default)]
    pub one_page: bool,
    /// Start from this page: a `continuation_token` an earlier call returned.
    #[schemars(length(min = 1, max = 200), regex(pattern = "^[A-Za-z0-9._~-]+$"))]
    pub continuation_token: Option<String>,
    /// Most records to return when walking every page (default 1,000).
    #[schemars(range(min = 1, max = 10000))]
    pub limit: Option<usize>,
}

/// The paging details of a Paycor list.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Continuation {
    /// How many records are returned.
    pub count: usize,
    /// Give this as `continuation_token` to get the next records; null when
    /// there are none, or when `limit` ended the walk inside a page.
    pub continuation_token: Option<String>,
    /// Pages fetched from Paycor.
    pub pages: u32,
}

/// A list card's output.
pub type Listed<T> = List<Raw<T>, Continuation>;

/// Fetches one page (`one_page`) or walks pages up to `limit`.
fn list<T>(
    path: &str,
    query: &[(String, String)],
    paging: PagingInput,
    call: &Call,
) -> Result<Listed<T>> {
    if paging.one_page && paging.limit.is_some() {
        return Err(Error::InvalidInput(
            "give either `one_page` (one page with its continuation token) or `limit` (every page up to a limit), not both".into(),
        ));
    }
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
        let limit = paging.limit.unwrap_or(DEFAULT_LIMIT);
        api::walk(path, query, start, limit, call)?
    };
    let paging = Continuation {
        count: walk.records.len(),
        continuation_token: walk.continuation_token,
        pages: walk.pages,
    };
    let records = walk.records.into_iter().map(Raw::new).collect();
    Ok(List::with_paging(records, walk.has_more, paging))
}

/// Trimmed text, unless blank.
fn trimmed(text: &Option<String>) -> Option<String> {
    text.as_ref()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// List Employees' input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListEmployeesInput {
    /// A legal entity other than the connection's `legal_entity_id` (the app
    /// must be activated for it).
    #[schemars(range(min = 1, max = 2147483647))]
    pub legal_entity_id: Option<i64>,
    /// Extra data to return (employment dates, position, status, work
    /// location). Each value needs its own Data Access in the Paycor app;
    /// `All` returns every part the app may see.
    #[serde(default)]
    #[schemars(extend("items" = {"type": "string", "enum": EMPLOYEE_INCLUDES}, "uniqueItems" = true, "maxItems" = 5))]
    pub include: Vec<String>,
    /// Which email address to return; Paycor returns the work email when
    /// none is given.
    #[schemars(extend("enum" = ["Work", "Home"]))]
    pub email_type: Option<String>,
    /// Only employees with this employment status (Paycor's `statusFilter`).
    #[schemars(extend("enum" = EMPLOYMENT_STATUSES))]
    pub status: Option<String>,
    /// Only the employee with this employee number.
    #[schemars(range(min = 0, max = 2147483647))]
    pub employee_number: Option<i64>,
    /// Only employees with this last name.
    #[schemars(length(min = 1, max = 100))]
    pub last_name: Option<String>,
    /// Only employees of the department with this code.
    #[schemars(range(min = 0))]
    pub department_code: Option<i64>,
    /// Only employees at the work location with this name.
    #[schemars(length(min = 1, max = 200))]
    pub work_location_name: Option<String>,
    #[serde(flatten)]
    pub paging: PagingInput,
}

/// List Employees.
pub struct ListEmployees;

impl Card for ListEmployees {
    type Input = ListEmployeesInput;
    type Output = Listed<Employee>;
    const ID: &'static str = "list-employees";
    const TITLE: &'static str = "List Employees";
    const DESCRIPTION: &'static str = "Lists a legal entity's employees, optionally filtered by status, employee \
         number, last name, department code or work location. Returns one page with \
         `one_page`, else every page up to `limit`.";
    const PERMISSIONS: &'static [&'static str] = &["view-legal-entity-employees"];

    fn run(input: ListEmployeesInput, ctx: &Context) -> Result<Self::Output> {
        let le = api::legal_entity_id(ctx, input.legal_entity_id)?;
        let mut query = api::include_query(&input.include);
        for (name, value) in [
            ("emailType", input.email_type.clone()),
            ("statusFilter", input.status.clone()),
            (
                "employeeNumber",
                input.employee_number.map(|n| n.to_string()),
            ),
            ("lastName", trimmed(&input.last_name)),
            (
                "departmentCode",
                input.department_code.map(|n| n.to_string()),
            ),
            ("workLocationName", trimmed(&input.work_location_name)),
        ] {
            if let Some(v) = value {
                query.push((name.to_string(), v));
            }
        }
        let call = Call::new(
            DataAccess::LegalEntityEmployees,
            format!("legal entity {le}"),
        )
        .with_includes(&input.include);
        let path = format!("/v1/legalentities/{le}/employees");
        list(&path, &query, input.paging, &call)
    }
}

/// Read Employee's input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadEmployeeInput {
    /// Paycor's employee id (from List Employees).
    #[schemars(regex(pattern = ID_PATTERN))]
    pub employee_id: String,
    /// Extra data to return (employment dates, position, status, work
    /// location). Each value needs its own Data Access in the Paycor app;
    /// `All` returns every part the app may see.
    #[serde(default)]
    #[schemars(extend("items" = {"type": "string", "enum": EMPLOYEE_INCLUDES}, "uniqueItems" = true, "maxItems" = 5))]
    pub include: Vec<String>,
    /// Which email address to return (work by default).
    #[schemars(extend("enum" = ["Work", "Home"]))]
    pub email_type: Option<String>,
}

/// Read Employee.
pub struct ReadEmployee;

impl Card for ReadEmployee {
    type Input = ReadEmployeeInput;
    type Output = Raw<Employee>;
    const ID: &'static str = "read-employee";
    const TITLE: &'static str = "Read Employee";
    const DESCRIPTION: &'static str = "Reads one employee by Paycor employee id.";
    const PERMISSIONS: &'static [&'static str] = &["view-employee-information"];

    fn run(input: ReadEmployeeInput, _ctx: &Context) -> Result<Raw<Employee>> {
        let id = api::path_id("employee_id", &input.employee_id)?;
        let mut request = Request::get(format!("/v1/employees/{id}"));
        request.query = api::include_query(&input.include);
        request = request.query_opt("emailType", input.email_type);
        let call = Call::new(
            DataAccess::EmployeeInformation,
            format!("employee `{}`", input.employee_id.trim()),
        )
        .with_includes(&input.include);
        api::send(request, &call).map(Raw::new)
    }
}

/// Read Person's input: by employee, or by tenant and person.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["employee_id"], "not": {"anyOf": [{"required": ["person_id"]}, {"required": ["tenant_id"]}]}},
    {"required": ["tenant_id", "person_id"], "not": {"required": ["employee_id"]}}
]))]
pub struct ReadPersonInput {
    /// Read the person behind this employee (Data Access “View Employee
    /// Person”).
    #[schemars(regex(pattern = ID_PATTERN))]
    pub employee_id: Option<String>,
    /// With `person_id`: the tenant (company) the person is in.
    #[schemars(range(min = 1, max = 2147483647))]
    pub tenant_id: Option<i64>,
    /// With `tenant_id`: the person's id (Data Access “View Person
    /// Information”).
    #[schemars(regex(pattern = ID_PATTERN))]
    pub person_id: Option<String>,
    /// Extra data to return (demographics, addresses, phones, email, employee
    /// assignments, emergency contacts, social security number). Each value
    /// needs its own Data Access in the Paycor app; `All` returns every part
    /// the app may see.
    #[serde(default)]
    #[schemars(extend("items" = {"type": "string", "enum": PERSON_INCLUDES}, "uniqueItems" = true, "maxItems" = 8))]
    pub include: Vec<String>,
}

/// Read Person.
pub struct ReadPerson;

impl Card for ReadPerson {
    type Input = ReadPersonInput;
    type Output = Raw<Person>;
    const ID: &'static str = "read-person";
    const TITLE: &'static str = "Read Person";
    const DESCRIPTION: &'static str = "Reads the person behind an employee, or a person by tenant and person id, \
         with optional demographics, addresses, phones and more.";
    const PERMISSIONS: &'static [&'static str] =
        &["view-employee-person", "view-person-information"];

    fn run(input: ReadPersonInput, _ctx: &Context) -> Result<Raw<Person>> {
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
        api::send(request, &call.with_includes(&input.include)).map(Raw::new)
    }
}

/// List Departments' input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListDepartmentsInput {
    /// A legal entity other than the connection's `legal_entity_id` (the app
    /// must be activated for it).
    #[schemars(range(min = 1, max = 2147483647))]
    pub legal_entity_id: Option<i64>,
    #[serde(flatten)]
    pub paging: PagingInput,
}

/// List Departments.
pub struct ListDepartments;

impl Card for ListDepartments {
    type Input = ListDepartmentsInput;
    type Output = Listed<Department>;
    const ID: &'static str = "list-departments";
    const TITLE: &'static str = "List Departments";
    const DESCRIPTION: &'static str = "Lists a legal entity's departments.";
    const PERMISSIONS: &'static [&'static str] = &["view-legal-entity-departments"];

    fn run(input: ListDepartmentsInput, ctx: &Context) -> Result<Self::Output> {
        let le = api::legal_entity_id(ctx, input.legal_entity_id)?;
        let call = Call::new(
            DataAccess::LegalEntityDepartments,
            format!("legal entity {le}"),
        );
        let path = format!("/v1/legalentities/{le}/departments");
        list(&path, &[], input.paging, &call)
    }
}

/// Read Department's input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadDepartmentInput {
    /// Paycor's department id (from List Departments or an employee's
    /// `department.id`).
    #[schemars(regex(pattern = ID_PATTERN))]
    pub department_id: String,
    /// A legal entity other than the connection's `legal_entity_id` (the app
    /// must be activated for it).
    #[schemars(range(min = 1, max = 2147483647))]
    pub legal_entity_id: Option<i64>,
}

/// Read Department.
pub struct ReadDepartment;

impl Card for ReadDepartment {
    type Input = ReadDepartmentInput;
    type Output = Raw<Department>;
    const ID: &'static str = "read-department";
    const TITLE: &'static str = "Read Department";
    const DESCRIPTION: &'static str = "Reads one department of a legal entity.";
    const PERMISSIONS: &'static [&'static str] = &["view-legal-entity-department"];

    fn run(input: ReadDepartmentInput, ctx: &Context) -> Result<Raw<Department>> {
        let le = api::legal_entity_id(ctx, input.legal_entity_id)?;
        let id = api::path_id("department_id", &input.department_id)?;
        let call = Call::new(
            DataAccess::LegalEntityDepartment,
            format!(
                "department `{}` in legal entity {le}",
                input.department_id.trim()
            ),
        );
        let request = Request::get(format!("/v1/legalentities/{le}/departments/{id}"));
        api::send(request, &call).map(Raw::new)
    }
}

/// Read Legal Entity's input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadLegalEntityInput {
    /// A legal entity other than the connection's `legal_entity_id` (the app
    /// must be activated for it).
    #[schemars(range(min = 1, max = 2147483647))]
    pub legal_entity_id: Option<i64>,
    /// Extra data to return (business names and their addresses). Each value
    /// needs its own Data Access in the Paycor app.
    #[serde(default)]
    #[schemars(extend("items" = {"type": "string", "enum": ["All", "BusinessNames"]}, "uniqueItems" = true, "maxItems" = 2))]
    pub include: Vec<String>,
}

/// Read Legal Entity.
pub struct ReadLegalEntity;

impl Card for ReadLegalEntity {
    type Input = ReadLegalEntityInput;
    type Output = Raw<LegalEntity>;
    const ID: &'static str = "read-legal-entity";
    const TITLE: &'static str = "Read Legal Entity";
    const DESCRIPTION: &'static str = "Reads a legal entity, optionally with its business names.";
    const PERMISSIONS: &'static [&'static str] = &["view-legal-entity-basic-information"];

    fn run(input: ReadLegalEntityInput, ctx: &Context) -> Result<Raw<LegalEntity>> {
        let le = api::legal_entity_id(ctx, input.legal_entity_id)?;
        let mut request = Request::get(format!("/v1/legalentities/{le}"));
        request.query = api::include_query(&input.include);
        let call = Call::new(
            DataAccess::LegalEntityBasicInformation,
            format!("legal entity {le}"),
        );
        api::send(request, &call).map(Raw::new)
    }
}

/// The kind of a phone number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum PhoneType {
    /// Home.
    Home,
    /// Mobile.
    Mobile,
    /// Work.
    Work,
}

/// A phone number to set.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneInput {
    /// Home, Mobile or Work.
    #[serde(rename = "type")]
    pub kind: PhoneType,
    /// Country calling code, e.g. 1.
    #[schemars(regex(pattern = "^\\+?[0-9]{1,3}$"))]
    pub country_code: Option<String>,
    /// Area code, e.g. 513.
    #[schemars(regex(pattern = "^[0-9]{3}$"))]
    pub area_code: Option<String>,
    /// Local number, e.g. 555-2300.
    #[schemars(regex(pattern = "^[0-9]{3}-?[0-9]{4}$"))]
    pub number: String,
}

/// The new primary address; it replaces the old one.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    /// First street line.
    #[schemars(length(min = 1, max = 100))]
    pub street_line1: String,
    /// Second street line.
    #[schemars(length(max = 100))]
    pub street_line2: Option<String>,
    #[schemars(length(max = 50))]
    pub suite: Option<String>,
    #[schemars(length(max = 100))]
    pub city: Option<String>,
    /// Two-letter state code.
    #[schemars(regex(pattern = "^[A-Za-z]{2}$"))]
    pub state: Option<String>,
    /// County.
    #[schemars(length(max = 100))]
    pub county: Option<String>,
    /// Country, e.g. USA.
    #[schemars(length(min = 2, max = 50))]
    pub country: Option<String>,
    /// ZIP or ZIP+4.
    #[schemars(regex(pattern = "^[0-9]{5}(-[0-9]{4})?$"))]
    pub zip_code: String,
}

/// An email address Paycor takes.
const EMAIL_PATTERN: &str = "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$";

/// Update Employee Contact's input: at least one of the contact fields.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("anyOf" = [
    {"required": ["work_email"]},
    {"required": ["home_email"]},
    {"required": ["phones"]},
    {"required": ["primary_address"]}
]))]
pub struct UpdateContactInput {
    /// Paycor's employee id.
    #[schemars(regex(pattern = ID_PATTERN))]
    pub employee_id: String,
    /// New work email address.
    #[schemars(length(max = 254), regex(pattern = EMAIL_PATTERN))]
    pub work_email: Option<String>,
    /// New home email address.
    #[schemars(length(max = 254), regex(pattern = EMAIL_PATTERN))]
    pub home_email: Option<String>,
    /// Phone numbers to set, at most one each of Home, Mobile and Work;
    /// numbers of other types stay as they are.
    #[schemars(length(min = 1, max = 3))]
    pub phones: Option<Vec<PhoneInput>>,
    /// The new primary address; it replaces the old one.
    pub primary_address: Option<AddressInput>,
}

/// Update Employee Contact's output.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ContactUpdated {
    /// The employee's id.
    pub employee_id: String,
    /// The contact fields sent to Paycor.
    #[schemars(extend("items" = {"type": "string", "enum": ["work_email", "home_email", "phones", "primary_address"]}))]
    pub updated: Vec<&'static str>,
    /// Paycor's reference to the updated employee.
    pub resource: Option<Raw<Reference>>,
}

/// Paycor's `EmployeeContact` body, with only the fields given (Paycor keeps
/// the others), and the names of the fields sent.
pub fn contact_body(input: &UpdateContactInput) -> Result<(Value, Vec<&'static str>)> {
    let mut body = serde_json::Map::new();
    let mut updated = Vec::new();
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
                    "`phones` has two `{:?}` numbers; Paycor takes at most one Home, one Mobile and one Work number",
                    phone.kind
                )));
            }
            seen.push(phone.kind);
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

/// Update Employee Contact.
pub struct UpdateEmployeeContact;

impl Card for UpdateEmployeeContact {
    type Input = UpdateContactInput;
    type Output = ContactUpdated;
    const ID: &'static str = "update-employee-contact";
    const TITLE: &'static str = "Update Employee Contact";
    const DESCRIPTION: &'static str = "Changes an employee's work or home email, Home/Mobile/Work phone numbers \
         and primary address in Paycor at once. Fields not given keep their values.";
    const PERMISSIONS: &'static [&'static str] = &["update-employee-contact"];

    fn run(input: UpdateContactInput, _ctx: &Context) -> Result<ContactUpdated> {
        let id = api::path_id("employee_id", &input.employee_id)?;
        let (body, updated) = contact_body(&input)?;
        let call = Call::new(
            DataAccess::UpdateEmployeeContact,
            format!("employee `{}`", input.employee_id.trim()),
        );
        let request = Request::put(format!("/v1/employees/{id}")).json(&body)?;
        let answer = api::send(request, &call)?;
        let resource = api::field(&answer, "resourceUrl")
            .filter(|r| r.is_object())
            .cloned()
            .map(Raw::new);
        Ok(ContactUpdated {
            employee_id: input.employee_id.trim().to_string(),
            updated,
            resource,
        })
    }
}
