//! JSON Schemas of the connection fields and of each card's input and output.
//! Output records keep Advanced HR's own (camelCase) field names.

use cardhost_sdk::{Value, json};

/// The pattern of a path override: absolute, unreserved characters, no `.`
/// or `..` segments.
const PATH_PATTERN: &str = "^(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+$";

fn path_field(area: &str, default: &str) -> Value {
    json!({
        "type": "string",
        "title": format!("{} path", capitalise(area)),
        "pattern": PATH_PATTERN,
        "default": default,
        "description": format!(
            "Path of the {area} resource under the API base URL, if your tenant does not use `{default}`. \
             A path other than `{default}` also needs the permission `tenant-paths-read` on this connection."
        )
    })
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Non-secret connection fields. The client id is a field, not a secret, so
/// that the OneAdvanced rule for it is checked when the connection is made.
pub fn connection() -> Value {
    json!({
        "type": "object",
        "required": ["token_url", "api_base_url", "client_id"],
        "additionalProperties": false,
        "properties": {
            "token_url": {
                "type": "string",
                "title": "Token URL",
                "format": "uri",
                "pattern": "^https?://[^\\s?#]+$",
                "description": "OAuth2 token endpoint of your OneAdvanced Identity realm, normally \
                    https://identity.oneadvanced.com/auth/realms/<realm>/protocol/openid-connect/token. \
                    Use the URL OneAdvanced gave you if it differs.",
                "examples": [
                    "https://identity.oneadvanced.com/auth/realms/acme/protocol/openid-connect/token"
                ]
            },
            "api_base_url": {
                "type": "string",
                "title": "API base URL",
                "format": "uri",
                "pattern": "^https?://[^\\s?#]+$",
                "description": "Root of your tenant's Advanced HR REST API as OneAdvanced issued it; \
                    paths such as /employees are appended to it.",
                "examples": ["https://hr-api.example.com/api/v1"]
            },
            "client_id": {
                "type": "string",
                "title": "Client ID",
                "minLength": 1,
                "maxLength": 255,
                "pattern": "^[a-z]+(-[a-z]+)*$",
                "description": "Id of the API client created in Advanced HR: lowercase letters and hyphens only \
                    (e.g. `payroll-sync`). The client's security group decides what data it can read."
            },
            "employees_path": path_field("employees", "/employees"),
            "departments_path": path_field("departments", "/departments"),
            "positions_path": path_field("positions", "/positions")
        }
    })
}

fn nullable(kind: &str, description: &str) -> Value {
    json!({"type": [kind, "null"], "description": description})
}

fn text(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

const STATUS_VALUES: [&str; 3] = ["Active", "Leaver", "Pending"];

/// An employee as Advanced HR returns it. Sensitive fields are present only
/// when the API client's security group grants them.
pub fn employee() -> Value {
    json!({
        "type": "object",
        "required": ["id", "firstName", "lastName", "status"],
        "properties": {
            "id": text("Advanced HR's id of the employee."),
            "employeeNumber": text("The employee number shown in Advanced HR."),
            "title": nullable("string", "Title, e.g. Mr, Ms, Dr, Mx."),
            "firstName": text("Legal first name."),
            "lastName": text("Last name."),
            "preferredName": nullable("string", "Name the employee prefers, if any."),
            "displayName": text("Preferred (or first) name and last name."),
            "workEmail": nullable("string", "Work email address."),
            "workPhone": nullable("string", "Work phone number."),
            "status": {"type": "string", "enum": STATUS_VALUES, "description": "Active, Leaver (has left) or Pending (starts in the future)."},
            "startDate": nullable("string", "Start date, YYYY-MM-DD."),
            "leaveDate": nullable("string", "Leaving date, YYYY-MM-DD, for leavers."),
            "departmentId": nullable("string", "Id of the employee's department."),
            "departmentName": nullable("string", "Name of the employee's department."),
            "positionId": nullable("string", "Id of the employee's position."),
            "jobTitle": nullable("string", "Job title of the position."),
            "managerId": nullable("string", "Id of the line manager, if any."),
            "location": nullable("string", "Office the employee works from."),
            "contractType": nullable("string", "Permanent, Fixed Term or Zero Hours."),
            "workingPattern": nullable("string", "Full Time, Part Time or Variable."),
            "weeklyHours": nullable("number", "Contracted hours a week."),
            "fte": nullable("number", "Full-time equivalent, 1.0 for full time."),
            "updatedAt": text("When the record last changed (ISO 8601, UTC)."),
            "dateOfBirth": nullable("string", "Sensitive: date of birth, YYYY-MM-DD."),
            "niNumber": nullable("string", "Sensitive: National Insurance number."),
            "salary": {
                "type": ["object", "null"],
                "description": "Sensitive: pay, pro rata for part-time staff.",
                "properties": {
                    "amount": {"type": "number"},
                    "currency": {"type": "string"},
                    "frequency": {"type": "string", "description": "Annual or Hourly."}
                }
            },
            "homeAddress": {
                "type": ["object", "null"],
                "description": "Sensitive: home address.",
                "properties": {
                    "line1": {"type": ["string", "null"]},
                    "line2": {"type": ["string", "null"]},
                    "town": {"type": ["string", "null"]},
                    "postcode": {"type": ["string", "null"]},
                    "country": {"type": ["string", "null"]}
                }
            },
            "personalMobile": nullable("string", "Sensitive: personal mobile number.")
        }
    })
}

fn department() -> Value {
    json!({
        "type": "object",
        "required": ["id", "name"],
        "properties": {
            "id": text("Advanced HR's id of the department."),
            "code": nullable("string", "Short code."),
            "name": text("Name."),
            "parentId": nullable("string", "Id of the parent department; null at the top."),
            "costCentre": nullable("string", "Cost centre."),
            "managerId": nullable("string", "Employee id of the head of department."),
            "location": nullable("string", "Main office."),
            "isActive": {"type": "boolean", "description": "Whether the department is in use."}
        }
    })
}

fn position() -> Value {
    json!({
        "type": "object",
        "required": ["id", "title"],
        "properties": {
            "id": text("Advanced HR's id of the position."),
            "code": nullable("string", "Short code."),
            "title": text("Job title."),
            "departmentId": nullable("string", "Department the position belongs to."),
            "grade": nullable("string", "Pay grade."),
            "isActive": {"type": "boolean", "description": "Whether new employees can be given the position."}
        }
    })
}

fn limit(default: u32, description: &str) -> Value {
    json!({
        "type": "integer",
        "minimum": 1,
        "maximum": 10000,
        "default": default,
        "description": description
    })
}

fn status_filter() -> Value {
    json!({
        "type": "string",
        "enum": STATUS_VALUES,
        "description": "Only employees with this status: Active, Leaver or Pending."
    })
}

fn list_output(key: &str, item: Value, what: &str) -> Value {
    json!({
        "type": "object",
        "required": [key, "total_count", "has_more"],
        "properties": {
            key: {"type": "array", "items": item, "description": format!("The {what}.")},
            "total_count": {"type": "integer", "minimum": 0, "description": format!("How many {what} match, as Advanced HR counts them.")},
            "has_more": {"type": "boolean", "description": format!("Whether more {what} match than were returned.")}
        }
    })
}

/// List Employees input.
pub fn list_employees_input() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "status": status_filter(),
            "department_id": {"type": "string", "minLength": 1, "description": "Only employees of this department (an id from List Departments)."},
            "updated_since": {"type": "string", "minLength": 10, "description": "Only employees changed at or after this moment: an ISO 8601 date (2024-05-01) or date-time (2024-05-01T09:00:00Z)."},
            "page": {"type": "integer", "minimum": 1, "description": "Return only this page (from 1). Leave it out to return every page up to `limit`."},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 100, "default": 100, "description": "Employees per request to Advanced HR."},
            "limit": limit(1000, "Without `page`: stop after this many employees.")
        }
    })
}

/// List Employees output.
pub fn list_employees_output() -> Value {
    let mut schema = list_output("employees", employee(), "employees");
    schema["properties"]["page"] = json!({"type": ["integer", "null"], "description": "The page returned, when `page` was given."});
    schema["properties"]["total_pages"] = json!({"type": ["integer", "null"], "description": "Pages at this page size, as Advanced HR reports it."});
    schema
}

/// Read Employee input.
pub fn read_employee_input() -> Value {
    json!({
        "type": "object",
        "required": ["employee_id"],
        "additionalProperties": false,
        "properties": {
            "employee_id": {"type": "string", "minLength": 1, "description": "Advanced HR's id of the employee (`id`, not the employee number)."}
        }
    })
}

/// Search Employees input.
pub fn search_employees_input() -> Value {
    json!({
        "type": "object",
        "required": ["query"],
        "additionalProperties": false,
        "properties": {
            "query": {"type": "string", "minLength": 2, "description": "Text to find in first, last, preferred or full name, employee number or work email (case-insensitive, at least 2 characters)."},
            "status": status_filter(),
            "limit": limit(100, "Stop after this many employees.")
        }
    })
}

/// Search Employees output.
pub fn search_employees_output() -> Value {
    list_output("employees", employee(), "employees")
}

/// List Departments input.
pub fn list_departments_input() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "limit": limit(1000, "Stop after this many departments.")
        }
    })
}

/// List Departments output.
pub fn list_departments_output() -> Value {
    list_output("departments", department(), "departments")
}

/// List Positions input.
pub fn list_positions_input() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "department_id": {"type": "string", "minLength": 1, "description": "Only positions of this department (an id from List Departments)."},
            "limit": limit(1000, "Stop after this many positions.")
        }
    })
}

/// List Positions output.
pub fn list_positions_output() -> Value {
    list_output("positions", position(), "positions")
}
