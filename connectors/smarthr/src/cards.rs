//! The cards, each with its typed input; the schemas are derived from them.

use crate::api::{self, Paging, Resource};
use crate::records::{
    BizEstablishment, Crew, CustomField, CustomFieldGroup, Department, EmploymentType, JobTitle,
    User,
};
use cardhost_sdk::http::Request;
use cardhost_sdk::schema::is_date;
use cardhost_sdk::{
    Card, Context, Error, JsonSchema, List, Passthrough, Raw, Result, Update, Value, json,
    serde_json,
};
use serde::{Deserialize, Serialize};

/// A date as SmartHR writes it.
const DATE_PATTERN: &str = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$";

/// An id SmartHR issued (a UUID for crews): no `/`, `?`, `#` or spaces.
const ID_PATTERN: &str = "^[A-Za-z0-9_-]{1,100}$";

/// Employment statuses of a crew.
pub const EMP_STATUSES: [&str; 3] = ["employed", "absent", "retired"];

/// Preset employment types (`emp_type`, `employment_type.preset_type`).
pub const EMP_TYPES: [&str; 7] = [
    "board_member",
    "full_timer",
    "contract_worker",
    "permatemp",
    "part_timer",
    "outsourcing_contractor",
    "etc",
];

/// Crew fields that hold dates, checked to exist before anything is sent.
const DATE_FIELDS: [&str; 3] = ["birth_at", "entered_at", "resigned_at"];

/// `page`, `per_page` and `limit`, shared by every list card. `page` and
/// `limit` exclude each other, which the schema itself refuses.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(extend("dependentSchemas" = {
    "page": {"properties": {"limit": {"not": {}, "description": "`limit` cannot be combined with `page`."}}}
}))]
pub struct PagingInput {
    /// Return only this page (from 1). Leave it out to return every page up
    /// to `limit`.
    #[schemars(range(min = 1))]
    pub page: Option<u32>,
    /// Records per request to SmartHR (at most 100).
    #[schemars(range(min = 1, max = 100), extend("default" = 100))]
    pub per_page: Option<u32>,
    /// Without `page`: stop after this many records (1,000 when left out).
    /// Not a schema `default`: the host would fill it in beside `page`.
    #[schemars(range(min = 1, max = 100000))]
    pub limit: Option<usize>,
}

impl PagingInput {
    fn paging(&self) -> Paging {
        Paging::from_input(self.page, self.per_page, self.limit)
    }
}

/// The paging details of a SmartHR list.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Page {
    /// How many records match, as SmartHR counts them (x-total-count).
    pub total_count: Option<u64>,
    /// The page returned, when `page` was given.
    pub page: Option<u32>,
}

/// A list card's output.
pub type Listed<T> = List<Raw<T>, Page>;

/// Lists `resource` with `query` and wraps the records.
fn list<T>(
    resource: Resource,
    query: &[(String, String)],
    paging: &PagingInput,
    keep: Option<&dyn Fn(&Value) -> bool>,
) -> Result<Listed<T>> {
    let listing = api::list_where(resource.path(), query, paging.paging(), keep)?;
    Ok(List::with_paging(
        listing.items.into_iter().map(Raw::new).collect(),
        listing.has_more,
        Page {
            total_count: listing.total_count,
            page: paging.page,
        },
    ))
}

/// `embed=<what>` when `on`.
fn embed(on: bool, what: &str) -> Vec<(String, String)> {
    if on {
        vec![("embed".to_string(), what.to_string())]
    } else {
        Vec::new()
    }
}

/// The input of a list card with nothing but paging.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListInput {
    #[serde(flatten)]
    paging: PagingInput,
}

/// List Business Establishments.
pub struct ListBizEstablishments;

impl Card for ListBizEstablishments {
    type Input = ListInput;
    type Output = Listed<BizEstablishment>;
    const ID: &'static str = "list-business-establishments";
    const TITLE: &'static str = "List Business Establishments";
    const DESCRIPTION: &'static str =
        "Lists the tenant's business establishments (事業所) with their insurance registrations.";
    const PERMISSIONS: &'static [&'static str] = &["biz-establishments-read"];

    fn run(input: ListInput, _ctx: &Context) -> Result<Self::Output> {
        list(Resource::BizEstablishments, &[], &input.paging, None)
    }
}

/// List Custom Field Groups' input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomFieldGroupsInput {
    /// Include each group's custom fields (`embed=templates`).
    #[schemars(extend("default" = false))]
    pub embed_templates: Option<bool>,
    #[serde(flatten)]
    paging: PagingInput,
}

/// List Custom Field Groups.
pub struct ListCustomFieldGroups;

impl Card for ListCustomFieldGroups {
    type Input = CustomFieldGroupsInput;
    type Output = Listed<CustomFieldGroup>;
    const ID: &'static str = "list-custom-field-groups";
    const TITLE: &'static str = "List Custom Field Groups";
    const DESCRIPTION: &'static str =
        "Lists the groups of employee custom fields, optionally with their fields.";
    const PERMISSIONS: &'static [&'static str] = &["crew-custom-field-template-groups-read"];

    fn run(input: CustomFieldGroupsInput, _ctx: &Context) -> Result<Self::Output> {
        let query = embed(input.embed_templates == Some(true), "templates");
        list(
            Resource::CustomFieldTemplateGroups,
            &query,
            &input.paging,
            None,
        )
    }
}

/// List Custom Fields' input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomFieldsInput {
    /// Include each field's group (`embed=group`) instead of only its
    /// `group_id`.
    #[schemars(extend("default" = false))]
    pub embed_group: Option<bool>,
    /// Only fields of this group (an id from List Custom Field Groups).
    /// SmartHR has no such filter: the connector reads the fields and keeps
    /// this group's.
    #[schemars(regex(pattern = ID_PATTERN))]
    pub group_id: Option<String>,
    #[serde(flatten)]
    paging: PagingInput,
}

/// The group id of a custom field, embedded or not.
fn group_of(field: &Value) -> Option<&str> {
    field["group_id"]
        .as_str()
        .or_else(|| field["group"]["id"].as_str())
}

/// List Custom Fields.
pub struct ListCustomFields;

impl Card for ListCustomFields {
    type Input = CustomFieldsInput;
    type Output = Listed<CustomField>;
    const ID: &'static str = "list-custom-fields";
    const TITLE: &'static str = "List Custom Fields";
    const DESCRIPTION: &'static str =
        "Lists employee custom fields (templates), optionally of one group.";
    const PERMISSIONS: &'static [&'static str] = &["crew-custom-field-templates-read"];

    fn run(input: CustomFieldsInput, _ctx: &Context) -> Result<Self::Output> {
        let query = embed(input.embed_group == Some(true), "group");
        let resource = Resource::CustomFieldTemplates;
        match input.group_id.as_deref() {
            Some(group) => {
                let keep = |field: &Value| group_of(field) == Some(group);
                list(resource, &query, &input.paging, Some(&keep))
            }
            None => list(resource, &query, &input.paging, None),
        }
    }
}

/// List Departments.
pub struct ListDepartments;

impl Card for ListDepartments {
    type Input = ListInput;
    type Output = Listed<Department>;
    const ID: &'static str = "list-departments";
    const TITLE: &'static str = "List Departments";
    const DESCRIPTION: &'static str = "Lists departments with their parent and children.";
    const PERMISSIONS: &'static [&'static str] = &["departments-read"];

    fn run(input: ListInput, _ctx: &Context) -> Result<Self::Output> {
        list(Resource::Departments, &[], &input.paging, None)
    }
}

/// List Employment Types.
pub struct ListEmploymentTypes;

impl Card for ListEmploymentTypes {
    type Input = ListInput;
    type Output = Listed<EmploymentType>;
    const ID: &'static str = "list-employment-types";
    const TITLE: &'static str = "List Employment Types";
    const DESCRIPTION: &'static str =
        "Lists employment types (雇用形態) and the presets they derive from.";
    const PERMISSIONS: &'static [&'static str] = &["employment-types-read"];

    fn run(input: ListInput, _ctx: &Context) -> Result<Self::Output> {
        list(Resource::EmploymentTypes, &[], &input.paging, None)
    }
}

/// List Job Titles.
pub struct ListJobTitles;

impl Card for ListJobTitles {
    type Input = ListInput;
    type Output = Listed<JobTitle>;
    const ID: &'static str = "list-job-titles";
    const TITLE: &'static str = "List Job Titles";
    const DESCRIPTION: &'static str = "Lists job titles (役職) with their ranks.";
    const PERMISSIONS: &'static [&'static str] = &["job-titles-read"];

    fn run(input: ListInput, _ctx: &Context) -> Result<Self::Output> {
        list(Resource::JobTitles, &[], &input.paging, None)
    }
}

/// Read Employee's input: a crew id or an employee code, not both.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["id"], "not": {"required": ["emp_code"]}},
    {"required": ["emp_code"], "not": {"required": ["id"]}}
]))]
pub struct ReadEmployeeInput {
    /// SmartHR's id of the crew (a UUID, from Search Employees).
    #[schemars(regex(pattern = ID_PATTERN))]
    pub id: Option<String>,
    /// The employee code (社員番号) instead of the id: exactly one crew must
    /// have it.
    #[schemars(length(min = 1, max = 255))]
    pub emp_code: Option<String>,
}

/// `no employee with id …` for a 404 on a crew's own path.
fn crew_not_found<T>(id: &str, result: Result<T>) -> Result<T> {
    match result {
        Err(Error::NotFound(message)) => Err(Error::NotFound(format!(
            "no employee with id `{id}` ({message})"
        ))),
        other => other,
    }
}

/// The one crew whose employee code is `code`.
fn crew_by_code(code: &str) -> Result<Value> {
    let query = vec![("emp_code".to_string(), code.to_string())];
    let paging = Paging::One {
        page: 1,
        per_page: 2,
    };
    let listing = api::list(Resource::Crews.path(), &query, paging)?;
    let mut found: Vec<Value> = listing
        .items
        .into_iter()
        .filter(|c| c["emp_code"].as_str() == Some(code))
        .collect();
    match found.len() {
        0 => Err(Error::NotFound(format!(
            "no employee has the employee code `{code}`"
        ))),
        1 => Ok(found.remove(0)),
        _ => {
            let ids: Vec<&str> = found.iter().filter_map(|c| c["id"].as_str()).collect();
            Err(Error::InvalidInput(format!(
                "several employees have the employee code `{code}` ({}): read one by `id`",
                ids.join(", ")
            )))
        }
    }
}

/// Read Employee.
pub struct ReadEmployee;

impl Card for ReadEmployee {
    type Input = ReadEmployeeInput;
    type Output = Passthrough<Crew>;
    const ID: &'static str = "read-employee";
    const TITLE: &'static str = "Read Employee";
    const DESCRIPTION: &'static str = "Reads one employee by SmartHR id or by employee code.";
    const PERMISSIONS: &'static [&'static str] = &["crews-read"];

    fn run(input: ReadEmployeeInput, _ctx: &Context) -> Result<Passthrough<Crew>> {
        match (input.id, input.emp_code) {
            // The crew as SmartHR sent it, unparsed: the host reads it once.
            (Some(id), None) => {
                let read =
                    api::send(Request::get(api::crew_path(&id))).and_then(|r| r.passthrough());
                crew_not_found(&id, read)
            }
            (None, Some(code)) => crew_by_code(&code).map(|c| Passthrough::from_value(&c)),
            _ => Err(Error::InvalidInput(
                "give either `id` or `emp_code`, not both".into(),
            )),
        }
    }
}

/// Search Employees' input: every documented `/crews` filter, and paging.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchEmployeesInput {
    /// Only the crew with this employee code.
    #[schemars(length(min = 1))]
    pub emp_code: Option<String>,
    /// Only crews whose employment type derives from this preset.
    #[schemars(extend("enum" = EMP_TYPES))]
    pub emp_type: Option<String>,
    /// Only crews with this status: employed, absent (on leave) or retired.
    #[schemars(extend("enum" = EMP_STATUSES))]
    pub emp_status: Option<String>,
    /// Only crews of this registered gender.
    #[schemars(extend("enum" = ["male", "female"]))]
    pub gender: Option<String>,
    /// Sort fields, comma-separated, `-` for descending, e.g.
    /// `emp_status,-updated_at`.
    #[schemars(regex(pattern = "^-?[a-z][a-z0-9_]*(,-?[a-z][a-z0-9_]*)*$"))]
    pub sort: Option<String>,
    /// Only crews who joined on or after this date (YYYY-MM-DD).
    #[schemars(regex(pattern = DATE_PATTERN), extend("format" = "date"))]
    pub entered_at_from: Option<String>,
    /// Only crews who joined on or before this date (YYYY-MM-DD).
    #[schemars(regex(pattern = DATE_PATTERN), extend("format" = "date"))]
    pub entered_at_to: Option<String>,
    /// Free text SmartHR matches against names (also in katakana and
    /// business names), employee code and email.
    #[schemars(length(min = 1, max = 255))]
    pub q: Option<String>,
    /// Only return these fields of each crew (`id` is always added).
    #[schemars(
        length(min = 1),
        inner(regex(pattern = "^[a-z][a-z0-9_]*$")),
        extend("uniqueItems" = true)
    )]
    pub fields: Option<Vec<String>>,
    #[serde(flatten)]
    paging: PagingInput,
}

/// Checks a date input that the schema can only check for shape.
fn check_date(field: &str, value: &str) -> Result<()> {
    if is_date(value) {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "`{field}` must be a date that exists, YYYY-MM-DD, not `{value}`"
        )))
    }
}

/// The `/crews` query parameters of Search Employees.
pub fn search_query(input: &SearchEmployeesInput) -> Result<Vec<(String, String)>> {
    let mut query = Vec::new();
    for (name, value) in [
        ("emp_code", &input.emp_code),
        ("emp_type", &input.emp_type),
        ("emp_status", &input.emp_status),
        ("gender", &input.gender),
        ("sort", &input.sort),
        ("entered_at_from", &input.entered_at_from),
        ("entered_at_to", &input.entered_at_to),
        ("q", &input.q),
    ] {
        if let Some(v) = value {
            query.push((name.to_string(), v.clone()));
        }
    }
    for (field, value) in [
        ("entered_at_from", &input.entered_at_from),
        ("entered_at_to", &input.entered_at_to),
    ] {
        if let Some(v) = value {
            check_date(field, v)?;
        }
    }
    if let (Some(from), Some(to)) = (&input.entered_at_from, &input.entered_at_to)
        && from > to
    {
        return Err(Error::InvalidInput(format!(
            "`entered_at_from` ({from}) is after `entered_at_to` ({to}), so nothing can match"
        )));
    }
    if let Some(fields) = &input.fields {
        // `id` is always asked for, so every record can be told apart.
        let mut wanted: Vec<&str> = vec!["id"];
        wanted.extend(fields.iter().map(String::as_str).filter(|f| *f != "id"));
        query.push(("fields".to_string(), wanted.join(",")));
    }
    Ok(query)
}

/// Search Employees.
pub struct SearchEmployees;

impl Card for SearchEmployees {
    type Input = SearchEmployeesInput;
    type Output = Listed<Crew>;
    const ID: &'static str = "search-employees";
    const TITLE: &'static str = "Search Employees";
    const DESCRIPTION: &'static str = "Finds employees by employee code, employment type, status, gender, join date or free text. \
         Returns one page when `page` is given, else every page up to `limit`.";
    const PERMISSIONS: &'static [&'static str] = &["crews-read"];

    fn run(input: SearchEmployeesInput, _ctx: &Context) -> Result<Self::Output> {
        let query = search_query(&input)?;
        list(Resource::Crews, &query, &input.paging, None)
    }
}

/// One custom field value to set.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomFieldInput {
    /// Id of the custom field (from List Custom Fields).
    #[schemars(regex(pattern = ID_PATTERN))]
    pub template_id: String,
    /// The value: text for string/text fields, a number or numeric text for
    /// decimal, YYYY-MM-DD for date, a choice's id for enum; null clears it.
    #[schemars(extend("type" = ["string", "number", "null"]))]
    pub value: Value,
}

/// Declares Create Employee's and Update Employee's inputs from one list of
/// the crew fields both can set: optional when creating, and in an update
/// kept when absent and cleared by `null` ([`Update`]). Each input adds its
/// own fields first.
macro_rules! crew_write_inputs {
    (
        create { $($create:tt)* }
        update { $($update:tt)* }
        fields { $( $(#[$attr:meta])* $field:ident, )* }
    ) => {
        /// Create Employee's input: the crew's fields, SmartHR's names.
        #[derive(Debug, Deserialize, Serialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct CreateEmployeeInput {
            $($create)*
            $( $(#[$attr])* pub $field: Option<String>, )*
        }

        /// Update Employee's input: the crew id and at least one field to
        /// change; `null` clears a field.
        #[derive(Debug, Deserialize, Serialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        #[schemars(extend("minProperties" = 2))]
        pub struct UpdateEmployeeInput {
            $($update)*
            $(
                $(#[$attr])*
                #[serde(default, skip_serializing_if = "Update::is_keep")]
                pub $field: Update<String>,
            )*
        }
    };
}

crew_write_inputs! {
    create {
        /// Family name (legal).
        #[schemars(length(min = 1, max = 255))]
        pub last_name: String,
        /// Given name (legal).
        #[schemars(length(min = 1, max = 255))]
        pub first_name: String,
        /// Ids of the crew's departments (from List Departments); replaces
        /// the current ones.
        #[schemars(
            length(max = 50),
            inner(regex(pattern = ID_PATTERN)),
            extend("uniqueItems" = true)
        )]
        pub department_ids: Option<Vec<String>>,
        /// Custom field values to set; fields not listed keep their values.
        #[schemars(length(max = 200))]
        pub custom_fields: Option<Vec<CustomFieldInput>>,
    }
    update {
        /// SmartHR's id of the crew (a UUID, from Search Employees).
        #[schemars(regex(pattern = ID_PATTERN))]
        #[serde(skip_serializing)]
        pub id: String,
        /// Family name (legal).
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(length(min = 1, max = 255))]
        pub last_name: Option<String>,
        /// Given name (legal).
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(length(min = 1, max = 255))]
        pub first_name: Option<String>,
        /// Ids of the crew's departments (from List Departments); replaces
        /// the current ones.
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(
            length(max = 50),
            inner(regex(pattern = ID_PATTERN)),
            extend("uniqueItems" = true)
        )]
        pub department_ids: Option<Vec<String>>,
        /// Custom field values to set; fields not listed keep their values.
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(length(max = 200))]
        pub custom_fields: Option<Vec<CustomFieldInput>>,
    }
    fields {
        /// Employee code (社員番号), unique in the tenant.
        #[schemars(length(max = 255))]
        emp_code,
        /// employed, absent (on leave) or retired.
        #[schemars(extend("enum" = EMP_STATUSES))]
        emp_status,
        /// Family name in katakana.
        #[schemars(length(max = 255))]
        last_name_yomi,
        /// Given name in katakana.
        #[schemars(length(max = 255))]
        first_name_yomi,
        /// Family name used at work.
        #[schemars(length(max = 255))]
        business_last_name,
        /// Given name used at work.
        #[schemars(length(max = 255))]
        business_first_name,
        /// Business family name in katakana.
        #[schemars(length(max = 255))]
        business_last_name_yomi,
        /// Business given name in katakana.
        #[schemars(length(max = 255))]
        business_first_name_yomi,
        /// Date of birth, YYYY-MM-DD.
        #[schemars(regex(pattern = DATE_PATTERN), extend("format" = "date"))]
        birth_at,
        /// Gender as registered: male or female.
        #[schemars(extend("enum" = ["male", "female"]))]
        gender,
        /// Email address.
        #[schemars(email, length(max = 254))]
        email,
        /// Phone number: digits, spaces, +, -, ( and ).
        #[schemars(regex(pattern = "^[0-9+() -]{1,30}$"))]
        tel_number,
        /// Date the crew joined, YYYY-MM-DD.
        #[schemars(regex(pattern = DATE_PATTERN), extend("format" = "date"))]
        entered_at,
        /// Date the crew left, YYYY-MM-DD.
        #[schemars(regex(pattern = DATE_PATTERN), extend("format" = "date"))]
        resigned_at,
        /// Why the crew left.
        #[schemars(length(max = 1000))]
        resigned_reason,
        /// Job title (役職) as text.
        #[schemars(length(max = 255))]
        position,
        /// Occupation / duties (業務内容).
        #[schemars(length(max = 1000))]
        occupation,
        /// Id of the employment type (from List Employment Types).
        #[schemars(regex(pattern = ID_PATTERN))]
        employment_type_id,
        /// Id of the business establishment (from List Business
        /// Establishments).
        #[schemars(regex(pattern = ID_PATTERN))]
        biz_establishment_id,
    }
}

/// A crew write as SmartHR's body: the fields given, nothing else.
fn crew_body(input: &impl Serialize) -> Result<serde_json::Map<String, Value>> {
    match serde_json::to_value(input) {
        Ok(Value::Object(mut map)) => {
            map.retain(|_, v| !v.is_null());
            Ok(map)
        }
        _ => Err(Error::Internal("a crew write is not an object".into())),
    }
}

/// Checks what the schema cannot in a crew write: dates exist, a crew does
/// not leave before it joins, a custom field is set once.
fn check_crew_write(body: &serde_json::Map<String, Value>) -> Result<()> {
    for field in DATE_FIELDS {
        if let Some(value) = body.get(field).and_then(Value::as_str) {
            check_date(field, value)?;
        }
    }
    if let (Some(entered), Some(resigned)) = (
        body.get("entered_at").and_then(Value::as_str),
        body.get("resigned_at").and_then(Value::as_str),
    ) && resigned < entered
    {
        return Err(Error::InvalidInput(format!(
            "`resigned_at` ({resigned}) is before `entered_at` ({entered})"
        )));
    }
    if let Some(fields) = body.get("custom_fields").and_then(Value::as_array) {
        let mut seen = std::collections::BTreeSet::new();
        for field in fields {
            let id = field["template_id"].as_str().unwrap_or_default();
            if !seen.insert(id) {
                return Err(Error::InvalidInput(format!(
                    "custom field `{id}` is set more than once in `custom_fields`"
                )));
            }
        }
    }
    Ok(())
}

/// Create Employee.
pub struct CreateEmployee;

impl Card for CreateEmployee {
    type Input = CreateEmployeeInput;
    type Output = Raw<Crew>;
    const ID: &'static str = "create-employee";
    const TITLE: &'static str = "Create Employee";
    const DESCRIPTION: &'static str = "Creates an employee and returns it as SmartHR stored it.";
    const PERMISSIONS: &'static [&'static str] = &["crews-write"];

    fn run(input: CreateEmployeeInput, _ctx: &Context) -> Result<Raw<Crew>> {
        let body = crew_body(&input)?;
        check_crew_write(&body)?;
        let request = Request::post(Resource::Crews.path()).json(&body)?;
        api::send(request)?.json().map(Raw::new)
    }
}

/// Update Employee.
pub struct UpdateEmployee;

impl Card for UpdateEmployee {
    type Input = UpdateEmployeeInput;
    type Output = Raw<Crew>;
    const ID: &'static str = "update-employee";
    const TITLE: &'static str = "Update Employee";
    const DESCRIPTION: &'static str =
        "Changes the given fields of an employee; a null clears a field.";
    const PERMISSIONS: &'static [&'static str] = &["crews-write"];

    fn run(input: UpdateEmployeeInput, _ctx: &Context) -> Result<Raw<Crew>> {
        // Nulls stay: they clear fields.
        let body = match serde_json::to_value(&input)? {
            Value::Object(map) => map,
            _ => return Err(Error::Internal("an update is not an object".into())),
        };
        check_crew_write(&body)?;
        let request = Request::patch(api::crew_path(&input.id)).json(&body)?;
        let updated = api::send(request).and_then(|r| r.json());
        crew_not_found(&input.id, updated).map(Raw::new)
    }
}

/// Delete Employee's input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteEmployeeInput {
    /// SmartHR's id of the crew (a UUID, from Search Employees).
    #[schemars(regex(pattern = ID_PATTERN))]
    pub id: String,
}

/// Delete Employee's output.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Deleted {
    /// The id of the deleted crew.
    pub id: String,
    /// Always true: SmartHR deleted the crew.
    #[schemars(extend("const" = true))]
    pub deleted: bool,
}

/// Delete Employee.
pub struct DeleteEmployee;

impl Card for DeleteEmployee {
    type Input = DeleteEmployeeInput;
    type Output = Deleted;
    const ID: &'static str = "delete-employee";
    const TITLE: &'static str = "Delete Employee";
    const DESCRIPTION: &'static str = "Deletes an employee for good.";
    const PERMISSIONS: &'static [&'static str] = &["crews-write"];

    fn run(input: DeleteEmployeeInput, _ctx: &Context) -> Result<Deleted> {
        let id = input.id;
        let sent = api::send(Request::delete(api::crew_path(&id))).map(|_| json!(null));
        crew_not_found(&id, sent)?;
        Ok(Deleted { id, deleted: true })
    }
}

/// List Users' input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UsersInput {
    /// Include each user's crew record (`embed=crew`) instead of only its
    /// `crew_id`.
    #[schemars(extend("default" = true))]
    pub embed_crew: Option<bool>,
    #[serde(flatten)]
    paging: PagingInput,
}

/// List Users.
pub struct ListUsers;

impl Card for ListUsers {
    type Input = UsersInput;
    type Output = Listed<User>;
    const ID: &'static str = "list-users";
    const TITLE: &'static str = "List Users";
    const DESCRIPTION: &'static str =
        "Lists SmartHR user accounts, with each user's employee record.";
    const PERMISSIONS: &'static [&'static str] = &["users-read"];

    fn run(input: UsersInput, _ctx: &Context) -> Result<Self::Output> {
        let query = embed(input.embed_crew.unwrap_or(true), "crew");
        list(Resource::Users, &query, &input.paging, None)
    }
}
