//! # connector-advanced-hr
//!
//! Reads employees, departments and positions from Advanced HR (OneAdvanced).
//!
//! The API client is a confidential OAuth2 client of OneAdvanced Identity
//! (client credentials; the host fetches and caches the token) and is bound to
//! an Advanced HR security group that decides what it may read. Advanced HR's
//! resource endpoints are not public, so the REST contract this connector
//! assumes is written down in its README; every path can be overridden per
//! connection for tenants that differ.
//!
//! - [`schemas`]: connection fields and card schemas.
//! - [`api`]: paths, paging and error words of the contract.
//! - [`report`]: the connection test, one check per data area.

// The employee schema is one large `json!` literal.
#![recursion_limit = "256"]

pub mod api;
pub mod report;
pub mod schemas;

use api::{Area, Gathered, MAX_PAGE_SIZE, TENANT_PATHS};
use cardhost_sdk::http::Request;
use cardhost_sdk::{
    AuthMethod, AuthScheme, CardEntry, ConnectionReport, Connector, Context, Environment, Error,
    Manifest, OAuth2, Permission, Result, SecretField, Value, json, parse_input,
};
use serde::Deserialize;

/// The connector. It holds no state: each invocation runs in a fresh instance.
pub struct AdvancedHr;

/// Default number of records a list card returns when walking pages.
const DEFAULT_LIMIT: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListEmployeesInput {
    status: Option<String>,
    department_id: Option<String>,
    updated_since: Option<String>,
    page: Option<u32>,
    page_size: Option<u32>,
    limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadEmployeeInput {
    employee_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchEmployeesInput {
    query: String,
    status: Option<String>,
    limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListDepartmentsInput {
    limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListPositionsInput {
    department_id: Option<String>,
    limit: Option<usize>,
}

/// The `employees` filters of List Employees as query parameters of the
/// contract, after checking what the schema cannot.
fn employee_filters(input: &ListEmployeesInput) -> Result<Vec<(String, String)>> {
    let mut filters = Vec::new();
    if let Some(status) = &input.status {
        filters.push(("status".to_string(), status.clone()));
    }
    if let Some(department) = &input.department_id {
        filters.push(("departmentId".to_string(), department.clone()));
    }
    if let Some(since) = &input.updated_since {
        let since = since.trim();
        if !api::valid_timestamp(since) {
            return Err(Error::InvalidInput(format!(
                "`updated_since` must be an ISO 8601 date (2024-05-01) or date-time (2024-05-01T09:00:00Z), not `{since}`"
            )));
        }
        filters.push(("updatedSince".to_string(), since.to_string()));
    }
    Ok(filters)
}

fn list_output(key: &str, gathered: Gathered) -> Value {
    json!({
        key: gathered.items,
        "total_count": gathered.total_count,
        "has_more": gathered.has_more,
    })
}

fn list_employees(input: Value, ctx: &Context) -> Result<Value> {
    let input: ListEmployeesInput = parse_input(input)?;
    if input.page.is_some() && input.limit.is_some() {
        return Err(Error::InvalidInput(
            "give either `page` (one page) or `limit` (every page up to a limit), not both".into(),
        ));
    }
    let filters = employee_filters(&input)?;
    let path = api::area_path(ctx, Area::Employees)?;
    let page_size = input
        .page_size
        .unwrap_or(MAX_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE);
    let gathered = match input.page {
        Some(page) => api::fetch_one(&path, &filters, page, page_size, Area::Employees)?,
        None => api::fetch_all(
            &path,
            &filters,
            page_size,
            input.limit.unwrap_or(DEFAULT_LIMIT),
            Area::Employees,
        )?,
    };
    let total_pages = gathered.total_pages;
    let mut output = list_output("employees", gathered);
    output["page"] = json!(input.page);
    output["total_pages"] = json!(total_pages);
    Ok(output)
}

fn read_employee(input: Value, ctx: &Context) -> Result<Value> {
    let ReadEmployeeInput { employee_id } = parse_input(input)?;
    let id = employee_id.trim();
    // `/employees/search` is the search resource, never an employee.
    if id.is_empty() || id == "search" {
        return Err(Error::InvalidInput(format!("`{id}` is not an employee id")));
    }
    let path = api::employee_path(&api::area_path(ctx, Area::Employees)?, id);
    let request = Request::get(path).header("accept", "application/json");
    match api::get(request, Area::Employees) {
        Ok(response) => response.json(),
        Err(Error::NotFound(message)) if message.contains(id) => Err(Error::NotFound(message)),
        Err(Error::NotFound(message)) => Err(Error::NotFound(format!(
            "no employee with id `{id}` ({message})"
        ))),
        Err(other) => Err(other),
    }
}

fn search_employees(input: Value, ctx: &Context) -> Result<Value> {
    let input: SearchEmployeesInput = parse_input(input)?;
    let query = input.query.trim();
    if query.chars().count() < 2 {
        return Err(Error::InvalidInput(
            "`query` needs at least 2 characters besides spaces".into(),
        ));
    }
    let path = format!("{}/search", api::area_path(ctx, Area::Employees)?);
    let mut filters = vec![("q".to_string(), query.to_string())];
    if let Some(status) = input.status {
        filters.push(("status".to_string(), status));
    }
    let gathered = api::fetch_all(
        &path,
        &filters,
        MAX_PAGE_SIZE,
        input.limit.unwrap_or(100),
        Area::Employees,
    )?;
    Ok(list_output("employees", gathered))
}

fn list_departments(input: Value, ctx: &Context) -> Result<Value> {
    let input: ListDepartmentsInput = parse_input(input)?;
    let path = api::area_path(ctx, Area::Departments)?;
    let gathered = api::fetch_all(
        &path,
        &[],
        MAX_PAGE_SIZE,
        input.limit.unwrap_or(DEFAULT_LIMIT),
        Area::Departments,
    )?;
    Ok(list_output("departments", gathered))
}

fn list_positions(input: Value, ctx: &Context) -> Result<Value> {
    let input: ListPositionsInput = parse_input(input)?;
    let path = api::area_path(ctx, Area::Positions)?;
    let filters: Vec<(String, String)> = input
        .department_id
        .map(|d| vec![("departmentId".to_string(), d)])
        .unwrap_or_default();
    let gathered = api::fetch_all(
        &path,
        &filters,
        MAX_PAGE_SIZE,
        input.limit.unwrap_or(DEFAULT_LIMIT),
        Area::Positions,
    )?;
    Ok(list_output("positions", gathered))
}

fn permissions() -> Vec<Permission> {
    vec![
        Permission::new("employees-read", "Read employees")
            .description("List, search and read employees (GET /employees, /employees/search, /employees/{id}).")
            .read("/employees")
            .read("/employees/*"),
        Permission::new("departments-read", "Read departments")
            .description("List departments (GET /departments).")
            .read("/departments"),
        Permission::new("positions-read", "Read positions")
            .description("List positions, i.e. job titles (GET /positions).")
            .read("/positions"),
        Permission::new(TENANT_PATHS, "Read tenant-specific paths")
            .description(
                "Only for connections that override employees_path, departments_path or positions_path: \
                 lets the cards read any path under the API base URL, since custom paths cannot be \
                 known in advance. What data comes back is still decided by the API client's security group.",
            )
            .read("/**")
            .not_granted_by_default(),
    ]
}

impl Connector for AdvancedHr {
    fn manifest() -> Manifest {
        let oauth = OAuth2::new("{token_url}");
        let auth = AuthMethod::new(
            "client-credentials",
            "API client (OAuth2 client credentials)",
            AuthScheme::OAuth2ClientCredentials(oauth),
        )
        .secret(
            SecretField::new("client_secret", "Client secret").description(
                "The secret Advanced HR showed once when the API client was created. It cannot be \
             edited: if it is lost or compromised, delete the client in Advanced HR, create a new \
             one, then replace this secret (and the client id) on the connection.",
            ),
        );
        let mut manifest = Manifest::new("advanced-hr", "Advanced HR", env!("CARGO_PKG_VERSION"))
            .description(
                "Reads employees, departments and positions from Advanced HR (OneAdvanced) with an \
                 API client's OAuth2 client credentials. The client's Advanced HR security group \
                 decides which data, and which sensitive fields, it may read.",
            )
            .connection_schema(schemas::connection())
            .auth(auth)
            .environment(Environment::new("default", "{api_base_url}"));
        for permission in permissions() {
            manifest = manifest.permission(permission);
        }
        manifest
            .card(
                CardEntry::new("list-employees", "List Employees")
                    .description(
                        "Lists employees, optionally by status, department or last change. Returns \
                         one page when `page` is given, else every page up to `limit`.",
                    )
                    .input(schemas::list_employees_input())
                    .output(schemas::list_employees_output())
                    .permission("employees-read")
                    .permission(TENANT_PATHS),
            )
            .card(
                CardEntry::new("read-employee", "Read Employee")
                    .description("Reads one employee by Advanced HR id.")
                    .input(schemas::read_employee_input())
                    .output(schemas::employee())
                    .permission("employees-read")
                    .permission(TENANT_PATHS),
            )
            .card(
                CardEntry::new("search-employees", "Search Employees")
                    .description("Finds employees by name, employee number or work email.")
                    .input(schemas::search_employees_input())
                    .output(schemas::search_employees_output())
                    .permission("employees-read")
                    .permission(TENANT_PATHS),
            )
            .card(
                CardEntry::new("list-departments", "List Departments")
                    .description("Lists departments with their parents, cost centres and heads.")
                    .input(schemas::list_departments_input())
                    .output(schemas::list_departments_output())
                    .permission("departments-read")
                    .permission(TENANT_PATHS),
            )
            .card(
                CardEntry::new("list-positions", "List Positions")
                    .description("Lists positions (job titles), optionally of one department.")
                    .input(schemas::list_positions_input())
                    .output(schemas::list_positions_output())
                    .permission("positions-read")
                    .permission(TENANT_PATHS),
            )
    }

    fn invoke(card: &str, input: Value, ctx: &Context) -> Result<Value> {
        match card {
            "list-employees" => list_employees(input, ctx),
            "read-employee" => read_employee(input, ctx),
            "search-employees" => search_employees(input, ctx),
            "list-departments" => list_departments(input, ctx),
            "list-positions" => list_positions(input, ctx),
            other => Err(Error::InvalidInput(format!("unknown card `{other}`"))),
        }
    }

    fn test_connection(ctx: &Context) -> ConnectionReport {
        report::test_connection(ctx)
    }
}

cardhost_sdk::export_connector!(AdvancedHr);

#[cfg(test)]
mod tests {
    use super::*;
    use cardhost_sdk::http::Response;
    use cardhost_sdk::testing::mock_http;
    use std::cell::RefCell;
    use std::rc::Rc;

    fn ctx() -> Context {
        let mut ctx = Context::for_test(json!({
            "token_url": "https://identity.example/auth/realms/acme/protocol/openid-connect/token",
            "api_base_url": "https://hr.example/api/v1",
            "client_id": "payroll-sync"
        }));
        ctx.permissions = vec![
            "employees-read".into(),
            "departments-read".into(),
            "positions-read".into(),
        ];
        ctx
    }

    fn reply(status: u16, body: Value) -> Result<Response> {
        Ok(Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        })
    }

    fn query(req: &Request, name: &str) -> Option<String> {
        req.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// A fake employees collection of `total` records served in pages.
    fn serve_pages(total: usize, seen: Rc<RefCell<Vec<Request>>>) {
        mock_http(move |req| {
            seen.borrow_mut().push(req.clone());
            let page: usize = query(req, "page").unwrap().parse().unwrap();
            let size: usize = query(req, "pageSize").unwrap().parse().unwrap();
            let data: Vec<Value> = (0..total)
                .skip((page - 1) * size)
                .take(size)
                .map(|i| json!({"id": format!("{}", 10001 + i), "firstName": "A", "lastName": "B", "status": "Active"}))
                .collect();
            reply(
                200,
                json!({
                    "data": data, "page": page, "pageSize": size,
                    "totalCount": total, "totalPages": total.div_ceil(size)
                }),
            )
        });
    }

    #[test]
    fn manifest_declares_narrow_permissions() {
        let m = AdvancedHr::manifest();
        assert_eq!(m.id, "advanced-hr");
        let employees = m
            .permissions
            .iter()
            .find(|p| p.id == "employees-read")
            .unwrap();
        let paths: Vec<_> = employees.rules.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/employees", "/employees/*"]);
        let tenant = m.permissions.iter().find(|p| p.id == TENANT_PATHS).unwrap();
        assert!(!tenant.granted_by_default);
        for card in &m.cards {
            assert_eq!(
                card.input_schema["additionalProperties"], false,
                "{}",
                card.id
            );
            for p in &card.permissions {
                assert!(m.permissions.iter().any(|d| &d.id == p));
            }
        }
        let schema = &m.connection_schema["properties"]["client_id"];
        assert_eq!(schema["pattern"], "^[a-z]+(-[a-z]+)*$");
        assert!(
            schema["description"]
                .as_str()
                .unwrap()
                .contains("lowercase letters and hyphens only")
        );
        match &m.auth_methods[0].scheme {
            AuthScheme::OAuth2ClientCredentials(o) => {
                assert_eq!(o.token_url, "{token_url}");
                assert_eq!(o.client_id_secret, "client_id");
                assert_eq!(o.client_secret_secret, "client_secret");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            m.auth_methods[0].secrets.len(),
            1,
            "only the secret is a secret"
        );
    }

    #[test]
    fn list_employees_walks_pages_up_to_the_limit() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        serve_pages(230, seen.clone());
        let out = AdvancedHr::invoke(
            "list-employees",
            json!({"status": "Active", "updated_since": "2025-01-01T00:00:00Z", "limit": 150}),
            &ctx(),
        )
        .unwrap();
        assert_eq!(out["employees"].as_array().unwrap().len(), 150);
        assert_eq!(out["total_count"], 230);
        assert_eq!(out["has_more"], true);
        assert_eq!(out["page"], Value::Null);
        let seen = seen.borrow();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].url, "/employees");
        assert_eq!(query(&seen[0], "status").as_deref(), Some("Active"));
        assert_eq!(
            query(&seen[0], "updatedSince").as_deref(),
            Some("2025-01-01T00:00:00Z")
        );
        assert_eq!(query(&seen[1], "page").as_deref(), Some("2"));
    }

    #[test]
    fn list_employees_returns_one_page_when_asked() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        serve_pages(230, seen.clone());
        let out = AdvancedHr::invoke(
            "list-employees",
            json!({"page": 3, "page_size": 100, "department_id": "DEP005"}),
            &ctx(),
        )
        .unwrap();
        assert_eq!(out["employees"].as_array().unwrap().len(), 30);
        assert_eq!(out["has_more"], false);
        assert_eq!(out["page"], 3);
        assert_eq!(out["total_pages"], 3);
        assert_eq!(
            query(&seen.borrow()[0], "departmentId").as_deref(),
            Some("DEP005")
        );

        serve_pages(230, Rc::default());
        let out = AdvancedHr::invoke("list-employees", json!({"page": 1}), &ctx()).unwrap();
        assert_eq!(out["has_more"], true);
    }

    #[test]
    fn list_employees_checks_what_the_schema_cannot() {
        mock_http(|_| panic!("no request for bad input"));
        let err = AdvancedHr::invoke("list-employees", json!({"page": 1, "limit": 5}), &ctx());
        assert!(matches!(err, Err(Error::InvalidInput(m)) if m.contains("not both")));
        let err = AdvancedHr::invoke(
            "list-employees",
            json!({"updated_since": "01/05/2024"}),
            &ctx(),
        );
        assert!(matches!(err, Err(Error::InvalidInput(m)) if m.contains("updated_since")));
    }

    #[test]
    fn security_group_refusals_say_who_can_fix_them() {
        mock_http(|_| {
            reply(
                403,
                json!({"status": 403, "error": "forbidden", "message": "security group `Org Structure` does not grant access to employees"}),
            )
        });
        match AdvancedHr::invoke("list-employees", json!({}), &ctx()) {
            Err(Error::Forbidden(m)) => {
                assert!(m.contains("Org Structure"), "{m}");
                assert!(m.contains("Advanced HR administrator"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn read_employee_encodes_the_id_and_maps_404() {
        mock_http(|req| {
            assert_eq!(req.url, "/employees/10%2F42");
            reply(
                404,
                json!({"status": 404, "error": "not_found", "message": "no employee with id `10/42`"}),
            )
        });
        let err = AdvancedHr::invoke("read-employee", json!({"employee_id": "10/42"}), &ctx());
        assert!(matches!(err, Err(Error::NotFound(m)) if m.contains("10/42")));

        mock_http(|req| {
            assert_eq!(req.url, "/employees/10042");
            reply(
                200,
                json!({"id": "10042", "firstName": "Priya", "lastName": "Patel", "status": "Active"}),
            )
        });
        let out =
            AdvancedHr::invoke("read-employee", json!({"employee_id": " 10042 "}), &ctx()).unwrap();
        assert_eq!(out["firstName"], "Priya");

        let err = AdvancedHr::invoke("read-employee", json!({"employee_id": "search"}), &ctx());
        assert!(matches!(err, Err(Error::InvalidInput(_))));
    }

    #[test]
    fn search_uses_the_search_resource() {
        mock_http(|req| {
            assert_eq!(req.url, "/employees/search");
            assert_eq!(query(req, "q").as_deref(), Some("o'brien"));
            assert_eq!(query(req, "status").as_deref(), Some("Leaver"));
            reply(
                200,
                json!({"data": [{"id": "1", "firstName": "Niamh", "lastName": "O'Brien", "status": "Leaver"}],
                              "page": 1, "pageSize": 100, "totalCount": 1, "totalPages": 1}),
            )
        });
        let out = AdvancedHr::invoke(
            "search-employees",
            json!({"query": " o'brien ", "status": "Leaver"}),
            &ctx(),
        )
        .unwrap();
        assert_eq!(out["total_count"], 1);
        assert_eq!(out["has_more"], false);
        assert_eq!(out["employees"][0]["lastName"], "O'Brien");
    }

    #[test]
    fn path_overrides_are_used_with_the_tenant_permission() {
        let mut c = ctx();
        c.fields["positions_path"] = json!("/v2/job-titles");
        mock_http(|_| panic!("refused before sending"));
        let err = AdvancedHr::invoke("list-positions", json!({}), &c);
        assert!(matches!(err, Err(Error::Forbidden(m)) if m.contains(TENANT_PATHS)));

        c.permissions.push(TENANT_PATHS.into());
        mock_http(|req| {
            assert_eq!(req.url, "/v2/job-titles");
            assert_eq!(query(req, "departmentId").as_deref(), Some("DEP002"));
            reply(
                200,
                json!({"data": [{"id": "POS004", "title": "Finance Director"}], "totalCount": 1, "totalPages": 1}),
            )
        });
        let out =
            AdvancedHr::invoke("list-positions", json!({"department_id": "DEP002"}), &c).unwrap();
        assert_eq!(out["positions"][0]["title"], "Finance Director");
    }

    #[test]
    fn a_missing_list_resource_points_at_the_connection_fields() {
        mock_http(|_| {
            reply(
                404,
                json!({"status": 404, "error": "not_found", "message": "no resource at GET /api/v1/departments"}),
            )
        });
        match AdvancedHr::invoke("list-departments", json!({}), &ctx()) {
            Err(Error::NotFound(m)) => {
                assert!(
                    m.contains("api_base_url") && m.contains("departments_path"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rate_limits_carry_retry_after() {
        mock_http(|_| {
            Ok(Response {
                status: 429,
                headers: vec![("retry-after".into(), "12".into())],
                body: br#"{"status":429,"error":"too_many_requests","message":"slow down"}"#
                    .to_vec(),
            })
        });
        let err = AdvancedHr::invoke("list-departments", json!({}), &ctx());
        assert_eq!(
            err.unwrap_err(),
            Error::RateLimited {
                message: "slow down".into(),
                retry_after_seconds: Some(12)
            }
        );
    }
}
