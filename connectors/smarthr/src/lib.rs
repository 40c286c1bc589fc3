//! # connector-smarthr
//!
//! Reads and writes SmartHR, the Japanese HR and labour platform: employees
//! (SmartHR calls them *crews*), user accounts, departments, employment
//! types, job titles, business establishments and custom fields.
//!
//! A connection names its tenant (the subdomain of `{tenant_id}.smarthr.jp`,
//! or `{tenant_id}.daruma.space` for a sandbox) and holds an access token
//! issued in SmartHR, which the host sends as a bearer token. Permissions
//! mirror SmartHR's own per-endpoint rights, so a connection can be granted
//! exactly what its token may do (e.g. reads only).
//!
//! - [`schemas`]: connection fields and card schemas.
//! - [`api`]: paths, paging and SmartHR's error bodies.
//! - [`report`]: the connection test, one check per resource.

// The crew schema is one large `json!` literal.
#![recursion_limit = "512"]

pub mod api;
pub mod report;
pub mod schemas;

use api::{Listing, Paging, Resource};
use cardhost_sdk::http::Request;
use cardhost_sdk::{
    AuthMethod, CardEntry, ConnectionReport, Connector, Context, Environment, Error, Manifest,
    Permission, Result, SecretField, Value, json, parse_input, serde_json,
};
use serde::Deserialize;

/// The connector. It holds no state: each invocation runs in a fresh instance.
pub struct SmartHr;

/// Crew fields that hold dates, checked to exist before anything is sent.
const DATE_FIELDS: [&str; 3] = ["birth_at", "entered_at", "resigned_at"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PagingInput {
    page: Option<u32>,
    per_page: Option<u32>,
    limit: Option<usize>,
}

impl PagingInput {
    fn paging(&self) -> Paging {
        Paging::from_input(self.page, self.per_page, self.limit)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomFieldGroupsInput {
    embed_templates: Option<bool>,
    page: Option<u32>,
    per_page: Option<u32>,
    limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomFieldsInput {
    embed_group: Option<bool>,
    group_id: Option<String>,
    page: Option<u32>,
    per_page: Option<u32>,
    limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersInput {
    embed_crew: Option<bool>,
    page: Option<u32>,
    per_page: Option<u32>,
    limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadEmployeeInput {
    id: Option<String>,
    emp_code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchEmployeesInput {
    emp_code: Option<String>,
    emp_type: Option<String>,
    emp_status: Option<String>,
    gender: Option<String>,
    sort: Option<String>,
    entered_at_from: Option<String>,
    entered_at_to: Option<String>,
    q: Option<String>,
    fields: Option<Vec<String>>,
    page: Option<u32>,
    per_page: Option<u32>,
    limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteEmployeeInput {
    id: String,
}

/// The output of a list card: the records under `key`, with the count and
/// whether more match.
fn list_output(key: &str, listing: Listing, page: Option<u32>) -> Value {
    json!({
        key: listing.items,
        "total_count": listing.total_count,
        "has_more": listing.has_more,
        "page": page,
    })
}

fn list_plain(resource: Resource, key: &str, input: Value) -> Result<Value> {
    let paging: PagingInput = parse_input(input)?;
    let listing = api::list(resource.path(), &[], paging.paging())?;
    Ok(list_output(key, listing, paging.page))
}

fn list_custom_field_groups(input: Value) -> Result<Value> {
    let input: CustomFieldGroupsInput = parse_input(input)?;
    let mut query = Vec::new();
    if input.embed_templates == Some(true) {
        query.push(("embed".to_string(), "templates".to_string()));
    }
    let paging = Paging::from_input(input.page, input.per_page, input.limit);
    let listing = api::list(Resource::CustomFieldTemplateGroups.path(), &query, paging)?;
    Ok(list_output("custom_field_groups", listing, input.page))
}

/// The group id of a custom field, embedded or not.
fn group_of(field: &Value) -> Option<&str> {
    field["group_id"]
        .as_str()
        .or_else(|| field["group"]["id"].as_str())
}

fn list_custom_fields(input: Value) -> Result<Value> {
    let input: CustomFieldsInput = parse_input(input)?;
    let mut query = Vec::new();
    if input.embed_group == Some(true) {
        query.push(("embed".to_string(), "group".to_string()));
    }
    let paging = Paging::from_input(input.page, input.per_page, input.limit);
    let path = Resource::CustomFieldTemplates.path();
    let listing = match input.group_id.as_deref() {
        Some(group) => {
            let keep = |field: &Value| group_of(field) == Some(group);
            api::list_where(path, &query, paging, Some(&keep))?
        }
        None => api::list(path, &query, paging)?,
    };
    Ok(list_output("custom_fields", listing, input.page))
}

fn list_users(input: Value) -> Result<Value> {
    let input: UsersInput = parse_input(input)?;
    let mut query = Vec::new();
    if input.embed_crew.unwrap_or(true) {
        query.push(("embed".to_string(), "crew".to_string()));
    }
    let paging = Paging::from_input(input.page, input.per_page, input.limit);
    let listing = api::list(Resource::Users.path(), &query, paging)?;
    Ok(list_output("users", listing, input.page))
}

/// Checks a date input that the schema can only check for shape.
fn check_date(field: &str, value: &str) -> Result<()> {
    if api::valid_date(value) {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "`{field}` must be a date that exists, YYYY-MM-DD, not `{value}`"
        )))
    }
}

/// The `/crews` query parameters of Search Employees.
fn search_query(input: &SearchEmployeesInput) -> Result<Vec<(String, String)>> {
    let mut query = Vec::new();
    let mut put = |name: &str, value: &Option<String>| {
        if let Some(v) = value {
            query.push((name.to_string(), v.clone()));
        }
    };
    put("emp_code", &input.emp_code);
    put("emp_type", &input.emp_type);
    put("emp_status", &input.emp_status);
    put("gender", &input.gender);
    put("sort", &input.sort);
    put("entered_at_from", &input.entered_at_from);
    put("entered_at_to", &input.entered_at_to);
    put("q", &input.q);
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

fn search_employees(input: Value) -> Result<Value> {
    let input: SearchEmployeesInput = parse_input(input)?;
    let query = search_query(&input)?;
    let paging = Paging::from_input(input.page, input.per_page, input.limit);
    let listing = api::list(Resource::Crews.path(), &query, paging)?;
    Ok(list_output("employees", listing, input.page))
}

fn read_employee(input: Value) -> Result<Value> {
    let input: ReadEmployeeInput = parse_input(input)?;
    match (input.id, input.emp_code) {
        (Some(id), None) => match api::send(Request::get(api::crew_path(&id))) {
            Ok(response) => response.json(),
            Err(Error::NotFound(message)) => Err(Error::NotFound(format!(
                "no employee with id `{id}` ({message})"
            ))),
            Err(other) => Err(other),
        },
        (None, Some(code)) => {
            let query = vec![("emp_code".to_string(), code.clone())];
            let paging = Paging::One {
                page: 1,
                per_page: 2,
            };
            let listing = api::list(Resource::Crews.path(), &query, paging)?;
            let mut found: Vec<Value> = listing
                .items
                .into_iter()
                .filter(|c| c["emp_code"].as_str() == Some(code.as_str()))
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
        _ => Err(Error::InvalidInput(
            "give either `id` or `emp_code`, not both".into(),
        )),
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

fn as_object(input: Value) -> Result<serde_json::Map<String, Value>> {
    match input {
        Value::Object(map) => Ok(map),
        _ => Err(Error::InvalidInput("the input must be an object".into())),
    }
}

fn create_employee(input: Value) -> Result<Value> {
    let body = as_object(input)?;
    check_crew_write(&body)?;
    let request = Request::post(Resource::Crews.path()).json(&body)?;
    api::send(request)?.json()
}

fn update_employee(input: Value) -> Result<Value> {
    let mut body = as_object(input)?;
    let id = match body.remove("id") {
        Some(Value::String(id)) => id,
        _ => return Err(Error::InvalidInput("`id` is required".into())),
    };
    check_crew_write(&body)?;
    let request = Request::patch(api::crew_path(&id)).json(&body)?;
    match api::send(request) {
        Ok(response) => response.json(),
        Err(Error::NotFound(message)) => Err(Error::NotFound(format!(
            "no employee with id `{id}` ({message})"
        ))),
        Err(other) => Err(other),
    }
}

fn delete_employee(input: Value) -> Result<Value> {
    let DeleteEmployeeInput { id } = parse_input(input)?;
    match api::send(Request::delete(api::crew_path(&id))) {
        Ok(_) => Ok(json!({"id": id, "deleted": true})),
        Err(Error::NotFound(message)) => Err(Error::NotFound(format!(
            "no employee with id `{id}` ({message})"
        ))),
        Err(other) => Err(other),
    }
}

/// The permissions, exactly SmartHR's per-endpoint rights.
pub fn permissions() -> Vec<Permission> {
    let read = |resource: Resource, title: &str, description: &str| {
        Permission::new(resource.read_permission(), title)
            .description(description)
            .read(resource.path())
    };
    vec![
        read(
            Resource::Users,
            "/api/v1/users: read",
            "List SmartHR user accounts, with their crews (GET /api/v1/users).",
        ),
        Permission::new("crews-read", "/api/v1/crews: read")
            .description("Search and read employees (GET /api/v1/crews, /api/v1/crews/{id}).")
            .read("/api/v1/crews")
            .read("/api/v1/crews/*"),
        Permission::new("crews-write", "/api/v1/crews: write")
            .description(
                "Create, update and delete employees (POST /api/v1/crews, PATCH and DELETE /api/v1/crews/{id}).",
            )
            .write("/api/v1/crews")
            .write("/api/v1/crews/*"),
        read(
            Resource::BizEstablishments,
            "/api/v1/biz_establishments: read",
            "List business establishments (GET /api/v1/biz_establishments).",
        ),
        read(
            Resource::EmploymentTypes,
            "/api/v1/employment_types: read",
            "List employment types (GET /api/v1/employment_types).",
        ),
        read(
            Resource::Departments,
            "/api/v1/departments: read",
            "List departments (GET /api/v1/departments).",
        ),
        read(
            Resource::JobTitles,
            "/api/v1/job_titles: read",
            "List job titles (GET /api/v1/job_titles).",
        ),
        read(
            Resource::CustomFieldTemplates,
            "/api/v1/crew_custom_field_templates: read",
            "List employee custom fields (GET /api/v1/crew_custom_field_templates).",
        ),
        read(
            Resource::CustomFieldTemplateGroups,
            "/api/v1/crew_custom_field_template_groups: read",
            "List employee custom field groups (GET /api/v1/crew_custom_field_template_groups).",
        ),
    ]
}

fn cards() -> Vec<CardEntry> {
    vec![
        CardEntry::new("list-business-establishments", "List Business Establishments")
            .description("Lists the tenant's business establishments (事業所) with their insurance registrations.")
            .input(schemas::list_biz_establishments_input())
            .output(schemas::list_biz_establishments_output())
            .permission(Resource::BizEstablishments.read_permission()),
        CardEntry::new("list-custom-field-groups", "List Custom Field Groups")
            .description("Lists the groups of employee custom fields, optionally with their fields.")
            .input(schemas::list_custom_field_groups_input())
            .output(schemas::list_custom_field_groups_output())
            .permission(Resource::CustomFieldTemplateGroups.read_permission()),
        CardEntry::new("list-custom-fields", "List Custom Fields")
            .description("Lists employee custom fields (templates), optionally of one group.")
            .input(schemas::list_custom_fields_input())
            .output(schemas::list_custom_fields_output())
            .permission(Resource::CustomFieldTemplates.read_permission()),
        CardEntry::new("list-departments", "List Departments")
            .description("Lists departments with their parent and children.")
            .input(schemas::list_departments_input())
            .output(schemas::list_departments_output())
            .permission(Resource::Departments.read_permission()),
        CardEntry::new("list-employment-types", "List Employment Types")
            .description("Lists employment types (雇用形態) and the presets they derive from.")
            .input(schemas::list_employment_types_input())
            .output(schemas::list_employment_types_output())
            .permission(Resource::EmploymentTypes.read_permission()),
        CardEntry::new("list-job-titles", "List Job Titles")
            .description("Lists job titles (役職) with their ranks.")
            .input(schemas::list_job_titles_input())
            .output(schemas::list_job_titles_output())
            .permission(Resource::JobTitles.read_permission()),
        CardEntry::new("read-employee", "Read Employee")
            .description("Reads one employee by SmartHR id or by employee code.")
            .input(schemas::read_employee_input())
            .output(schemas::crew())
            .permission("crews-read"),
        CardEntry::new("search-employees", "Search Employees")
            .description(
                "Finds employees by employee code, employment type, status, gender, join date or free text. \
                 Returns one page when `page` is given, else every page up to `limit`.",
            )
            .input(schemas::search_employees_input())
            .output(schemas::search_employees_output())
            .permission("crews-read"),
        CardEntry::new("create-employee", "Create Employee")
            .description("Creates an employee and returns it as SmartHR stored it.")
            .input(schemas::create_employee_input())
            .output(schemas::crew())
            .permission("crews-write"),
        CardEntry::new("update-employee", "Update Employee")
            .description("Changes the given fields of an employee; a null clears a field.")
            .input(schemas::update_employee_input())
            .output(schemas::crew())
            .permission("crews-write"),
        CardEntry::new("delete-employee", "Delete Employee")
            .description("Deletes an employee for good.")
            .input(schemas::delete_employee_input())
            .output(schemas::delete_employee_output())
            .permission("crews-write"),
        CardEntry::new("list-users", "List Users")
            .description("Lists SmartHR user accounts, with each user's employee record.")
            .input(schemas::list_users_input())
            .output(schemas::list_users_output())
            .permission(Resource::Users.read_permission()),
    ]
}

impl Connector for SmartHr {
    fn manifest() -> Manifest {
        let token = SecretField::new("access_token", "Access token").description(
            "An access token issued in SmartHR (共通設定 → API アクセストークン). It acts with the rights \
             it was issued with; a read-only token cannot create, update or delete employees.",
        );
        let mut manifest = Manifest::new("smarthr", "SmartHR", env!("CARGO_PKG_VERSION"))
            .description(
                "Reads and writes SmartHR: employees (crews), user accounts, departments, employment types, \
                 job titles, business establishments and custom fields, with an access token of a production \
                 (smarthr.jp) or sandbox (daruma.space) tenant.",
            )
            .connection_schema(schemas::connection())
            .auth(AuthMethod::bearer("access-token", "Access token", token))
            .environment(
                Environment::new("sandbox", "https://{tenant_id}.daruma.space")
                    .when("account_type", "sandbox"),
            )
            .environment(
                Environment::new("production", "https://{tenant_id}.smarthr.jp")
                    .when("account_type", "production"),
            );
        for permission in permissions() {
            manifest = manifest.permission(permission);
        }
        for card in cards() {
            manifest = manifest.card(card);
        }
        manifest
    }

    fn invoke(card: &str, input: Value, _ctx: &Context) -> Result<Value> {
        match card {
            "list-business-establishments" => {
                list_plain(Resource::BizEstablishments, "biz_establishments", input)
            }
            "list-custom-field-groups" => list_custom_field_groups(input),
            "list-custom-fields" => list_custom_fields(input),
            "list-departments" => list_plain(Resource::Departments, "departments", input),
            "list-employment-types" => {
                list_plain(Resource::EmploymentTypes, "employment_types", input)
            }
            "list-job-titles" => list_plain(Resource::JobTitles, "job_titles", input),
            "read-employee" => read_employee(input),
            "search-employees" => search_employees(input),
            "create-employee" => create_employee(input),
            "update-employee" => update_employee(input),
            "delete-employee" => delete_employee(input),
            "list-users" => list_users(input),
            other => Err(Error::InvalidInput(format!("unknown card `{other}`"))),
        }
    }

    fn test_connection(ctx: &Context) -> ConnectionReport {
        report::test_connection(ctx)
    }
}

cardhost_sdk::export_connector!(SmartHr);

#[cfg(test)]
mod tests {
    use super::*;
    use cardhost_sdk::http::{Method, Response};
    use cardhost_sdk::testing::mock_http;
    use std::cell::RefCell;
    use std::rc::Rc;

    fn reply(status: u16, headers: &[(&str, String)], body: Value) -> Result<Response> {
        let mut all = vec![("content-type".to_string(), "application/json".to_string())];
        all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.clone())));
        Ok(Response {
            status,
            headers: all,
            body: if body.is_null() {
                Vec::new()
            } else {
                body.to_string().into_bytes()
            },
        })
    }

    fn query(req: &Request, name: &str) -> Option<String> {
        req.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// Serves `total` numbered records at `path` the way SmartHR pages them.
    fn serve_pages(path: &'static str, total: usize, seen: Rc<RefCell<Vec<Request>>>) {
        mock_http(move |req| {
            seen.borrow_mut().push(req.clone());
            assert_eq!(req.url, path);
            let page: usize = query(req, "page").unwrap().parse().unwrap();
            let per_page: usize = query(req, "per_page").unwrap().parse().unwrap();
            let last = total.div_ceil(per_page).max(1);
            let items: Vec<Value> = (0..total)
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|i| json!({"id": format!("id-{i}"), "name": format!("n{i}"), "group_id": if i % 2 == 0 { "g-even" } else { "g-odd" }}))
                .collect();
            let link = |p: usize, rel: &str| {
                format!(
                    "<https://acme.smarthr.jp{path}?page={p}&per_page={per_page}>; rel=\"{rel}\""
                )
            };
            let mut links = vec![link(1, "first")];
            if page > 1 {
                links.push(link(page - 1, "prev"));
            }
            if page < last {
                links.push(link(page + 1, "next"));
            }
            links.push(link(last, "last"));
            reply(
                200,
                &[
                    ("link", links.join(", ")),
                    ("x-total-count", total.to_string()),
                ],
                Value::Array(items),
            )
        });
    }

    #[test]
    fn permissions_are_smarthrs_table() {
        let m = SmartHr::manifest();
        let rules: Vec<(String, Vec<(bool, String)>)> = m
            .permissions
            .iter()
            .map(|p| {
                (
                    p.id.clone(),
                    p.rules
                        .iter()
                        .map(|r| {
                            (
                                r.access.contains(&cardhost_sdk::Access::Write),
                                r.path.clone(),
                            )
                        })
                        .collect(),
                )
            })
            .collect();
        let expect = |id: &str, write: bool, paths: &[&str]| {
            let found = rules.iter().find(|(p, _)| p == id).unwrap();
            let want: Vec<(bool, String)> = paths.iter().map(|p| (write, p.to_string())).collect();
            assert_eq!(found.1, want, "{id}");
        };
        expect("users-read", false, &["/api/v1/users"]);
        expect("crews-read", false, &["/api/v1/crews", "/api/v1/crews/*"]);
        expect("crews-write", true, &["/api/v1/crews", "/api/v1/crews/*"]);
        expect(
            "biz-establishments-read",
            false,
            &["/api/v1/biz_establishments"],
        );
        expect(
            "employment-types-read",
            false,
            &["/api/v1/employment_types"],
        );
        expect("departments-read", false, &["/api/v1/departments"]);
        expect("job-titles-read", false, &["/api/v1/job_titles"]);
        expect(
            "crew-custom-field-templates-read",
            false,
            &["/api/v1/crew_custom_field_templates"],
        );
        expect(
            "crew-custom-field-template-groups-read",
            false,
            &["/api/v1/crew_custom_field_template_groups"],
        );
        assert_eq!(rules.len(), 9);
        for card in &m.cards {
            assert_eq!(
                card.input_schema["additionalProperties"], false,
                "{}",
                card.id
            );
            assert!(!card.permissions.is_empty(), "{}", card.id);
        }
        let writers: Vec<&str> = m
            .cards
            .iter()
            .filter(|c| c.permissions.iter().any(|p| p == "crews-write"))
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(
            writers,
            ["create-employee", "update-employee", "delete-employee"]
        );
    }

    #[test]
    fn environments_follow_the_account_type() {
        let m = SmartHr::manifest();
        let envs: Vec<String> = m
            .environments
            .iter()
            .map(|e| format!("{} {} {:?}", e.id, e.base_url, e.when))
            .collect();
        assert_eq!(
            envs,
            [
                r#"sandbox https://{tenant_id}.daruma.space [("account_type", "sandbox")]"#,
                r#"production https://{tenant_id}.smarthr.jp [("account_type", "production")]"#,
            ]
        );
    }

    #[test]
    fn walking_pages_follows_link_until_the_last() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        serve_pages("/api/v1/departments", 45, seen.clone());
        let out = SmartHr::invoke(
            "list-departments",
            json!({"per_page": 10}),
            &Context::for_test(json!({})),
        )
        .unwrap();
        assert_eq!(out["departments"].as_array().unwrap().len(), 45);
        assert_eq!(out["departments"][44]["id"], "id-44");
        assert_eq!(out["total_count"], 45);
        assert_eq!(out["has_more"], false);
        assert_eq!(out["page"], Value::Null);
        let pages: Vec<String> = seen
            .borrow()
            .iter()
            .map(|r| query(r, "page").unwrap())
            .collect();
        assert_eq!(pages, ["1", "2", "3", "4", "5"]);
    }

    #[test]
    fn a_limit_stops_the_walk_and_reports_more() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        serve_pages("/api/v1/job_titles", 45, seen.clone());
        let out = SmartHr::invoke(
            "list-job-titles",
            json!({"per_page": 10, "limit": 20}),
            &Context::for_test(json!({})),
        )
        .unwrap();
        assert_eq!(out["job_titles"].as_array().unwrap().len(), 20);
        assert_eq!(out["has_more"], true);
        assert_eq!(seen.borrow().len(), 2);
    }

    #[test]
    fn one_page_is_one_request() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        serve_pages("/api/v1/employment_types", 45, seen.clone());
        let out = SmartHr::invoke(
            "list-employment-types",
            json!({"page": 5, "per_page": 10}),
            &Context::for_test(json!({})),
        )
        .unwrap();
        assert_eq!(out["employment_types"].as_array().unwrap().len(), 5);
        assert_eq!(out["has_more"], false);
        assert_eq!(out["page"], 5);
        assert_eq!(seen.borrow().len(), 1);
    }

    #[test]
    fn custom_fields_of_one_group_are_kept_across_pages() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        serve_pages("/api/v1/crew_custom_field_templates", 25, seen.clone());
        let out = SmartHr::invoke(
            "list-custom-fields",
            json!({"per_page": 10, "group_id": "g-odd"}),
            &Context::for_test(json!({})),
        )
        .unwrap();
        let fields = out["custom_fields"].as_array().unwrap();
        assert_eq!(fields.len(), 12);
        assert!(fields.iter().all(|f| f["group_id"] == "g-odd"));
        assert_eq!(out["total_count"], 12);
        assert_eq!(seen.borrow().len(), 3);
        assert_eq!(query(&seen.borrow()[0], "embed"), None);
    }

    #[test]
    fn search_sends_every_filter_and_always_asks_for_id() {
        let input: SearchEmployeesInput = parse_input(json!({
            "emp_code": "00012", "emp_type": "full_timer", "emp_status": "employed",
            "gender": "female", "sort": "emp_status,-updated_at",
            "entered_at_from": "2020-04-01", "entered_at_to": "2024-03-31",
            "q": "山田", "fields": ["emp_code", "last_name"]
        }))
        .unwrap();
        let q = search_query(&input).unwrap();
        let names: Vec<&str> = q.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "emp_code",
                "emp_type",
                "emp_status",
                "gender",
                "sort",
                "entered_at_from",
                "entered_at_to",
                "q",
                "fields"
            ]
        );
        assert_eq!(q.last().unwrap().1, "id,emp_code,last_name");
        let backwards: SearchEmployeesInput =
            parse_input(json!({"entered_at_from": "2024-01-01", "entered_at_to": "2023-01-01"}))
                .unwrap();
        assert!(matches!(
            search_query(&backwards),
            Err(Error::InvalidInput(m)) if m.contains("after")
        ));
        let impossible: SearchEmployeesInput =
            parse_input(json!({"entered_at_from": "2023-02-30"})).unwrap();
        assert!(matches!(
            search_query(&impossible),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn read_by_employee_code_needs_exactly_one_match() {
        mock_http(|req| {
            assert_eq!(req.url, "/api/v1/crews");
            let code = query(req, "emp_code").unwrap();
            let crews = match code.as_str() {
                "00001" => json!([{"id": "c1", "emp_code": "00001"}]),
                "dup" => json!([{"id": "c1", "emp_code": "dup"}, {"id": "c2", "emp_code": "dup"}]),
                _ => json!([]),
            };
            reply(200, &[("x-total-count", "0".into())], crews)
        });
        let ctx = Context::for_test(json!({}));
        let out = SmartHr::invoke("read-employee", json!({"emp_code": "00001"}), &ctx).unwrap();
        assert_eq!(out["id"], "c1");
        assert!(matches!(
            SmartHr::invoke("read-employee", json!({"emp_code": "none"}), &ctx),
            Err(Error::NotFound(m)) if m.contains("none")
        ));
        assert!(matches!(
            SmartHr::invoke("read-employee", json!({"emp_code": "dup"}), &ctx),
            Err(Error::InvalidInput(m)) if m.contains("c1, c2")
        ));
    }

    #[test]
    fn read_by_id_names_the_missing_id() {
        mock_http(|req| {
            assert_eq!(req.url, "/api/v1/crews/no-such");
            reply(
                404,
                &[],
                json!({"code": 4, "type": "not_found", "message": "Not found", "errors": null}),
            )
        });
        let err = SmartHr::invoke(
            "read-employee",
            json!({"id": "no-such"}),
            &Context::for_test(json!({})),
        );
        assert!(matches!(err, Err(Error::NotFound(m)) if m.contains("`no-such`")));
    }

    #[test]
    fn writes_send_smarthr_fields_and_check_dates_first() {
        let sent = Rc::new(RefCell::new(Vec::new()));
        let log = sent.clone();
        mock_http(move |req| {
            log.borrow_mut().push(req.clone());
            match req.method {
                Method::Post => reply(201, &[], json!({"id": "new", "last_name": "山田"})),
                Method::Patch => reply(200, &[], json!({"id": "c1", "emp_status": "retired"})),
                Method::Delete => reply(204, &[], Value::Null),
                _ => panic!("unexpected {:?}", req.method),
            }
        });
        let ctx = Context::for_test(json!({}));
        let created = SmartHr::invoke(
            "create-employee",
            json!({"last_name": "山田", "first_name": "花子", "department_ids": ["d1"],
                   "custom_fields": [{"template_id": "t1", "value": "x"}]}),
            &ctx,
        )
        .unwrap();
        assert_eq!(created["id"], "new");
        let updated = SmartHr::invoke(
            "update-employee",
            json!({"id": "c1", "emp_status": "retired", "resigned_at": "2025-03-31"}),
            &ctx,
        )
        .unwrap();
        assert_eq!(updated["emp_status"], "retired");
        let deleted = SmartHr::invoke("delete-employee", json!({"id": "c1"}), &ctx).unwrap();
        assert_eq!(deleted, json!({"id": "c1", "deleted": true}));
        let sent = sent.borrow();
        assert_eq!(sent[0].url, "/api/v1/crews");
        let body: Value = serde_json::from_slice(sent[0].body.as_ref().unwrap()).unwrap();
        assert_eq!(body["department_ids"], json!(["d1"]));
        assert_eq!(sent[1].url, "/api/v1/crews/c1");
        let body: Value = serde_json::from_slice(sent[1].body.as_ref().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"emp_status": "retired", "resigned_at": "2025-03-31"})
        );
        assert_eq!(sent[2].method, Method::Delete);
        assert_eq!(sent.len(), 3);

        for bad in [
            json!({"last_name": "a", "first_name": "b", "birth_at": "1990-02-30"}),
            json!({"last_name": "a", "first_name": "b", "entered_at": "2020-04-01", "resigned_at": "2019-03-31"}),
            json!({"last_name": "a", "first_name": "b", "custom_fields": [
                {"template_id": "t1", "value": "x"}, {"template_id": "t1", "value": "y"}]}),
        ] {
            assert!(matches!(
                SmartHr::invoke("create-employee", bad, &ctx),
                Err(Error::InvalidInput(_))
            ));
        }
    }

    #[test]
    fn users_embed_their_crew_by_default() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        serve_pages("/api/v1/users", 3, seen.clone());
        SmartHr::invoke("list-users", json!({}), &Context::for_test(json!({}))).unwrap();
        SmartHr::invoke(
            "list-users",
            json!({"embed_crew": false}),
            &Context::for_test(json!({})),
        )
        .unwrap();
        let seen = seen.borrow();
        assert_eq!(query(&seen[0], "embed").as_deref(), Some("crew"));
        assert_eq!(query(&seen[1], "embed"), None);
    }

    #[test]
    fn a_list_that_is_not_an_array_is_an_upstream_error() {
        mock_http(|_| reply(200, &[], json!({"unexpected": true})));
        let err = SmartHr::invoke("list-job-titles", json!({}), &Context::for_test(json!({})));
        assert!(matches!(err, Err(Error::Upstream { .. })));
    }
}
