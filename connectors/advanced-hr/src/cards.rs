//! The cards, each with its typed input; the schemas are derived from them.

use crate::api::{self, Area, Gathered, MAX_PAGE_SIZE, TENANT_PATHS};
use crate::records::{Department, Employee, Position, STATUS_VALUES};
use cardhost_sdk::http::Request;
use cardhost_sdk::{Card, Context, Error, JsonSchema, List, Passthrough, Raw, Result};
use serde::{Deserialize, Serialize};

/// Default number of records a list card returns when walking pages.
const DEFAULT_LIMIT: usize = 1000;

/// A list card's output.
pub type Listed<T> = List<Raw<T>>;

fn listed<T>(gathered: Gathered) -> Listed<T> {
    List::new(
        gathered.items.into_iter().map(Raw::new).collect(),
        gathered.has_more,
        Some(gathered.total_count),
    )
}

/// List Employees' input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListEmployeesInput {
    /// Only employees with this status: Active, Leaver or Pending.
    #[schemars(extend("enum" = STATUS_VALUES))]
    pub status: Option<String>,
    /// Only employees of this department (an id from List Departments).
    #[schemars(length(min = 1))]
    pub department_id: Option<String>,
    /// Only employees changed at or after this moment: an ISO 8601 date
    /// (2024-05-01) or date-time (2024-05-01T09:00:00Z).
    #[schemars(length(min = 10))]
    pub updated_since: Option<String>,
    /// Return only this page (from 1). Leave it out to return every page up
    /// to `limit`.
    #[schemars(range(min = 1))]
    pub page: Option<u32>,
    /// Employees per request to Advanced HR.
    #[schemars(range(min = 1, max = 100), extend("default" = 100))]
    pub page_size: Option<u32>,
    /// Without `page`: stop after this many employees (1,000 when left out).
    /// Not a schema `default`: the host would fill it in beside `page`.
    #[schemars(range(min = 1, max = 10000))]
    pub limit: Option<usize>,
}

/// List Employees' paging details.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EmployeePage {
    /// How many employees match, as Advanced HR counts them.
    pub total_count: u64,
    /// The page returned, when `page` was given.
    pub page: Option<u32>,
    /// Pages at this page size, as Advanced HR reports it.
    pub total_pages: Option<u32>,
}

/// The `employees` filters of List Employees as query parameters of the
/// contract, after checking what the schema cannot.
pub fn employee_filters(input: &ListEmployeesInput) -> Result<Vec<(String, String)>> {
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

/// List Employees.
pub struct ListEmployees;

impl Card for ListEmployees {
    type Input = ListEmployeesInput;
    type Output = List<Raw<Employee>, EmployeePage>;
    const ID: &'static str = "list-employees";
    const TITLE: &'static str = "List Employees";
    const DESCRIPTION: &'static str = "Lists employees, optionally by status, department or last change. Returns \
         one page when `page` is given, else every page up to `limit`.";
    const PERMISSIONS: &'static [&'static str] = &["employees-read", TENANT_PATHS];

    fn run(input: ListEmployeesInput, ctx: &Context) -> Result<Self::Output> {
        if input.page.is_some() && input.limit.is_some() {
            return Err(Error::InvalidInput(
                "give either `page` (one page) or `limit` (every page up to a limit), not both"
                    .into(),
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
        let page = EmployeePage {
            total_count: gathered.total_count,
            page: input.page,
            total_pages: gathered.total_pages,
        };
        let items = gathered.items.into_iter().map(Raw::new).collect();
        Ok(List::with_paging(items, gathered.has_more, page))
    }
}

/// Read Employee's input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadEmployeeInput {
    /// Advanced HR's id of the employee (`id`, not the employee number).
    #[schemars(length(min = 1))]
    pub employee_id: String,
}

/// Read Employee.
pub struct ReadEmployee;

impl Card for ReadEmployee {
    type Input = ReadEmployeeInput;
    type Output = Passthrough<Employee>;
    const ID: &'static str = "read-employee";
    const TITLE: &'static str = "Read Employee";
    const DESCRIPTION: &'static str = "Reads one employee by Advanced HR id.";
    const PERMISSIONS: &'static [&'static str] = &["employees-read", TENANT_PATHS];

    fn run(input: ReadEmployeeInput, ctx: &Context) -> Result<Passthrough<Employee>> {
        let id = input.employee_id.trim();
        // `/employees/search` is the search resource, never an employee.
        if id.is_empty() || id == "search" {
            return Err(Error::InvalidInput(format!("`{id}` is not an employee id")));
        }
        let path = api::employee_path(&api::area_path(ctx, Area::Employees)?, id);
        let request = Request::get(path).header("accept", "application/json");
        match api::get(request, Area::Employees) {
            Ok(response) => response.passthrough(),
            Err(Error::NotFound(message)) if message.contains(id) => Err(Error::NotFound(message)),
            Err(Error::NotFound(message)) => Err(Error::NotFound(format!(
                "no employee with id `{id}` ({message})"
            ))),
            Err(other) => Err(other),
        }
    }
}

/// Search Employees' input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchEmployeesInput {
    /// Text to find in first, last, preferred or full name, employee number
    /// or work email (case-insensitive, at least 2 characters).
    #[schemars(length(min = 2))]
    pub query: String,
    /// Only employees with this status: Active, Leaver or Pending.
    #[schemars(extend("enum" = STATUS_VALUES))]
    pub status: Option<String>,
    /// Stop after this many employees.
    #[schemars(range(min = 1, max = 10000), extend("default" = 100))]
    pub limit: Option<usize>,
}

/// Search Employees.
pub struct SearchEmployees;

impl Card for SearchEmployees {
    type Input = SearchEmployeesInput;
    type Output = Listed<Employee>;
    const ID: &'static str = "search-employees";
    const TITLE: &'static str = "Search Employees";
    const DESCRIPTION: &'static str = "Finds employees by name, employee number or work email.";
    const PERMISSIONS: &'static [&'static str] = &["employees-read", TENANT_PATHS];

    fn run(input: SearchEmployeesInput, ctx: &Context) -> Result<Self::Output> {
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
        let limit = input.limit.unwrap_or(100);
        let gathered = api::fetch_all(&path, &filters, MAX_PAGE_SIZE, limit, Area::Employees)?;
        Ok(listed(gathered))
    }
}

/// List Departments' input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListDepartmentsInput {
    /// Stop after this many departments.
    #[schemars(range(min = 1, max = 10000), extend("default" = 1000))]
    pub limit: Option<usize>,
}

/// List Departments.
pub struct ListDepartments;

impl Card for ListDepartments {
    type Input = ListDepartmentsInput;
    type Output = Listed<Department>;
    const ID: &'static str = "list-departments";
    const TITLE: &'static str = "List Departments";
    const DESCRIPTION: &'static str =
        "Lists departments with their parents, cost centres and heads.";
    const PERMISSIONS: &'static [&'static str] = &["departments-read", TENANT_PATHS];

    fn run(input: ListDepartmentsInput, ctx: &Context) -> Result<Self::Output> {
        let path = api::area_path(ctx, Area::Departments)?;
        let limit = input.limit.unwrap_or(DEFAULT_LIMIT);
        let gathered = api::fetch_all(&path, &[], MAX_PAGE_SIZE, limit, Area::Departments)?;
        Ok(listed(gathered))
    }
}

/// List Positions' input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListPositionsInput {
    /// Only positions of this department (an id from List Departments).
    #[schemars(length(min = 1))]
    pub department_id: Option<String>,
    /// Stop after this many positions.
    #[schemars(range(min = 1, max = 10000), extend("default" = 1000))]
    pub limit: Option<usize>,
}

/// List Positions.
pub struct ListPositions;

impl Card for ListPositions {
    type Input = ListPositionsInput;
    type Output = Listed<Position>;
    const ID: &'static str = "list-positions";
    const TITLE: &'static str = "List Positions";
    const DESCRIPTION: &'static str = "Lists positions (job titles), optionally of one department.";
    const PERMISSIONS: &'static [&'static str] = &["positions-read", TENANT_PATHS];

    fn run(input: ListPositionsInput, ctx: &Context) -> Result<Self::Output> {
        let path = api::area_path(ctx, Area::Positions)?;
        let filters: Vec<(String, String)> = input
            .department_id
            .map(|d| vec![("departmentId".to_string(), d)])
            .unwrap_or_default();
        let limit = input.limit.unwrap_or(DEFAULT_LIMIT);
        let gathered = api::fetch_all(&path, &filters, MAX_PAGE_SIZE, limit, Area::Positions)?;
        Ok(listed(gathered))
    }
}
