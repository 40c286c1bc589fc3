//! JSON Schemas of the connection fields and of each card's input and output.
//! Records keep Paycor's property names, in camelCase (the live API's casing)
//! whichever casing Paycor answered in.

use cardhost_sdk::{Value, json};

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

/// Non-secret connection fields.
pub fn connection() -> Value {
    json!({
        "type": "object",
        "required": ["client_id", "scope_id", "legal_entity_id"],
        "additionalProperties": false,
        "properties": {
            "sandbox": {
                "type": "boolean",
                "title": "Sandbox",
                "default": false,
                "description": "Use Paycor's sandbox (apis-sandbox.paycor.com, consent at hcm-demo.paycor.com) \
                    instead of production (apis.paycor.com, consent at hcm.paycor.com). Sandbox apps, keys \
                    and legal entities are separate from production ones."
            },
            "client_id": {
                "type": "string",
                "title": "Client ID",
                "minLength": 1,
                "maxLength": 200,
                "pattern": "^[A-Za-z0-9._~-]+$",
                "description": "The Application OAuth Client ID from your app in Paycor's Developer Portal. \
                    It is not secret: it appears in the consent URL."
            },
            "scope_id": {
                "type": "string",
                "title": "Scope Version Identifier",
                "minLength": 1,
                "maxLength": 200,
                "pattern": "^[A-Za-z0-9._~-]+$",
                "description": "The Scope Version Identifier on the app's General tab. It names the app's \
                    Data Access as it was when the version was published; after changing Data Access, \
                    put the new identifier here and authorize again. `offline_access` is added for \
                    refresh tokens."
            },
            "legal_entity_id": {
                "type": "integer",
                "title": "Legal entity ID",
                "minimum": 1,
                "maximum": 2147483647,
                "description": "The Paycor legal entity (Paycor's \"client id\" in its UI) the cards work on \
                    unless a card is given another one. The app must be activated for it."
            }
        }
    })
}

fn text(description: &str) -> Value {
    json!({"type": ["string", "null"], "description": description})
}

fn reference(description: &str) -> Value {
    json!({
        "type": ["object", "null"],
        "description": description,
        "properties": {
            "id": {"type": ["string", "null"]},
            "url": {"type": ["string", "null"]}
        }
    })
}

fn includes(values: &[&str], what: &str) -> Value {
    json!({
        "type": "array",
        "uniqueItems": true,
        "maxItems": values.len(),
        "items": {"type": "string", "enum": values},
        "description": format!(
            "Extra data to return ({what}). Each value needs its own Data Access in the Paycor app; \
             `All` returns every part the app may see."
        )
    })
}

fn id_field(description: &str) -> Value {
    json!({"type": "string", "pattern": ID_PATTERN, "description": description})
}

fn legal_entity_override() -> Value {
    json!({
        "type": "integer",
        "minimum": 1,
        "maximum": 2147483647,
        "description": "A legal entity other than the connection's `legal_entity_id` (the app must be activated for it)."
    })
}

fn paging_inputs(what: &str) -> [(&'static str, Value); 3] {
    [
        (
            "one_page",
            json!({
                "type": "boolean",
                "default": false,
                "description": format!(
                    "Return one page of {what} (as Paycor pages them) with the token of the next, \
                     instead of every page up to `limit`."
                )
            }),
        ),
        (
            "continuation_token",
            json!({
                "type": "string",
                "minLength": 1,
                "maxLength": 200,
                "pattern": "^[A-Za-z0-9._~-]+$",
                "description": "Start from this page: a `continuation_token` an earlier call returned."
            }),
        ),
        (
            "limit",
            json!({
                "type": "integer",
                "minimum": 1,
                "maximum": 10000,
                "description": format!("Most {what} to return when walking every page (default 1,000).")
            }),
        ),
    ]
}

fn with_paging(mut schema: Value, what: &str) -> Value {
    if let Some(props) = schema["properties"].as_object_mut() {
        for (name, prop) in paging_inputs(what) {
            props.insert(name.to_string(), prop);
        }
    }
    schema
}

fn list_output(key: &str, item: Value) -> Value {
    json!({
        "type": "object",
        "required": [key, "count", "has_more", "continuation_token", "pages"],
        "additionalProperties": false,
        "properties": {
            key: {"type": "array", "items": item},
            "count": {"type": "integer", "minimum": 0, "description": "How many records are returned."},
            "has_more": {"type": "boolean", "description": "Whether Paycor has more records than were returned."},
            "continuation_token": {
                "type": ["string", "null"],
                "description": "Give this as `continuation_token` to get the next records; null when there are none, \
                    or when `limit` ended the walk inside a page."
            },
            "pages": {"type": "integer", "minimum": 0, "description": "Pages fetched from Paycor."}
        }
    })
}

/// List Employees input.
pub fn list_employees_input() -> Value {
    with_paging(
        json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "legal_entity_id": legal_entity_override(),
                "include": includes(&EMPLOYEE_INCLUDES, "employment dates, position, status, work location"),
                "email_type": {
                    "type": "string",
                    "enum": ["Work", "Home"],
                    "description": "Which email address to return; Paycor returns the work email when none is given."
                },
                "status": {
                    "type": "string",
                    "enum": EMPLOYMENT_STATUSES,
                    "description": "Only employees with this employment status (Paycor's `statusFilter`)."
                },
                "employee_number": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 2147483647,
                    "description": "Only the employee with this employee number."
                },
                "last_name": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 100,
                    "description": "Only employees with this last name."
                },
                "department_code": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Only employees of the department with this code."
                },
                "work_location_name": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 200,
                    "description": "Only employees at the work location with this name."
                }
            }
        }),
        "employees",
    )
}

/// An employee as Paycor returns it; the `include`d parts are present only
/// when asked for and allowed.
pub fn employee() -> Value {
    json!({
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": {"type": "string", "description": "Paycor's employee id (a GUID; not shown in Paycor's UI)."},
            "employeeNumber": text("Employee number in the legal entity."),
            "alternateEmployeeNumber": text("Alternate employee number."),
            "badgeNumber": text("Badge number."),
            "firstName": text("First name."),
            "middleName": text("Middle name."),
            "lastName": text("Last name."),
            "email": {
                "type": ["object", "null"],
                "description": "The work email, or the home email when `email_type` is `Home`.",
                "properties": {
                    "type": text("`Work` or `Home`."),
                    "emailAddress": text("The address.")
                }
            },
            "employmentDateData": {"type": ["object", "null"], "description": "Hire, rehire, seniority and termination dates (include `EmploymentDates`)."},
            "positionData": {"type": ["object", "null"], "description": "Job title, job code and manager (include `Position`)."},
            "statusData": {"type": ["object", "null"], "description": "Employment status, type, FLSA and full-time flag (include `Status`)."},
            "workLocation": {"type": ["object", "null"], "description": "Work location name and address (include `WorkLocation`)."},
            "legalEntity": reference("The employee's legal entity."),
            "person": reference("The person record behind the employee (for Read Person)."),
            "department": reference("The employee's department (for Read Department).")
        }
    })
}

/// List Employees output.
pub fn list_employees_output() -> Value {
    list_output("employees", employee())
}

/// Read Employee input.
pub fn read_employee_input() -> Value {
    json!({
        "type": "object",
        "required": ["employee_id"],
        "additionalProperties": false,
        "properties": {
            "employee_id": id_field("Paycor's employee id (from List Employees)."),
            "include": includes(&EMPLOYEE_INCLUDES, "employment dates, position, status, work location"),
            "email_type": {
                "type": "string",
                "enum": ["Work", "Home"],
                "description": "Which email address to return (work by default)."
            }
        }
    })
}

/// Read Person input: by employee, or by tenant and person.
pub fn read_person_input() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "employee_id": id_field("Read the person behind this employee (Data Access “View Employee Person”)."),
            "tenant_id": {
                "type": "integer",
                "minimum": 1,
                "maximum": 2147483647,
                "description": "With `person_id`: the tenant (company) the person is in."
            },
            "person_id": id_field("With `tenant_id`: the person's id (Data Access “View Person Information”)."),
            "include": includes(&PERSON_INCLUDES, "demographics, addresses, phones, email, employee assignments, emergency contacts, social security number")
        },
        "oneOf": [
            {"required": ["employee_id"], "not": {"anyOf": [{"required": ["person_id"]}, {"required": ["tenant_id"]}]}},
            {"required": ["tenant_id", "person_id"], "not": {"required": ["employee_id"]}}
        ]
    })
}

/// A person as Paycor returns it.
pub fn person() -> Value {
    json!({
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": {"type": "string", "description": "Paycor's person id."},
            "prefix": text("Prefix (Mr, Ms, Dr ...)."),
            "firstName": text("First name."),
            "middleName": text("Middle name."),
            "lastName": text("Last name."),
            "suffix": text("Suffix (Jr, III ...)."),
            "legalFirstName": text("Legal first name."),
            "legalLastName": text("Legal last name."),
            "socialSecurityNumber": text("Social security number (include `SocialSecurityNumber`)."),
            "email": {"type": ["object", "null"], "description": "Email (include `Email`)."},
            "demographicData": {"type": ["object", "null"], "description": "Birth date, gender, ethnicity, marital status (include `Demographic`)."},
            "addresses": {"type": ["array", "null"], "items": {"type": "object"}, "description": "Addresses (include `Addresses`)."},
            "phones": {"type": ["array", "null"], "items": {"type": "object"}, "description": "Phones (include `Phones`)."},
            "employeeAssignments": {"type": ["array", "null"], "items": {"type": "object"}, "description": "Employee records of the person (include `EmployeeAssignments`)."},
            "emergencyContactData": {"type": ["array", "null"], "items": {"type": "object"}, "description": "Emergency contacts (include `EmergencyContact`)."},
            "tenants": reference("The person's tenant.")
        }
    })
}

/// List Departments input.
pub fn list_departments_input() -> Value {
    with_paging(
        json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {"legal_entity_id": legal_entity_override()}
        }),
        "departments",
    )
}

/// A department as Paycor returns it.
pub fn department() -> Value {
    json!({
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": {"type": "string", "description": "Paycor's department id."},
            "code": text("Department code (List Employees filters on it)."),
            "description": text("Department name."),
            "parentId": text("Parent department id; null at the top."),
            "level": {"type": ["integer", "null"], "description": "Depth in the department tree."},
            "payrollId": text("Payroll id of the department."),
            "payrollDescription": text("Payroll description."),
            "workLocationId": text("Work location id."),
            "workLocationName": text("Work location name.")
        }
    })
}

/// List Departments output.
pub fn list_departments_output() -> Value {
    list_output("departments", department())
}

/// Read Department input.
pub fn read_department_input() -> Value {
    json!({
        "type": "object",
        "required": ["department_id"],
        "additionalProperties": false,
        "properties": {
            "department_id": id_field("Paycor's department id (from List Departments or an employee's `department.id`)."),
            "legal_entity_id": legal_entity_override()
        }
    })
}

/// Read Legal Entity input.
pub fn read_legal_entity_input() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "legal_entity_id": legal_entity_override(),
            "include": includes(&["All", "BusinessNames"], "business names and their addresses")
        }
    })
}

/// A legal entity as Paycor returns it.
pub fn legal_entity() -> Value {
    json!({
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": {"type": "integer", "description": "Legal entity id."},
            "name": text("Legal entity name."),
            "federalId": text("Federal employer id (EIN)."),
            "type": text("Corporation type."),
            "isLost": {"type": ["boolean", "null"], "description": "Whether Paycor lost the legal entity as a client."},
            "businessNames": {"type": ["array", "null"], "items": {"type": "object"}, "description": "Business names (include `BusinessNames`)."},
            "tenant": reference("The tenant (company) of the legal entity; its id is the `tenant_id` of Read Person.")
        }
    })
}

fn email_field(description: &str) -> Value {
    json!({
        "type": "string",
        "maxLength": 254,
        "pattern": "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$",
        "description": description
    })
}

/// Update Employee Contact input: at least one of the contact fields.
pub fn update_employee_contact_input() -> Value {
    json!({
        "type": "object",
        "required": ["employee_id"],
        "additionalProperties": false,
        "anyOf": [
            {"required": ["work_email"]},
            {"required": ["home_email"]},
            {"required": ["phones"]},
            {"required": ["primary_address"]}
        ],
        "properties": {
            "employee_id": id_field("Paycor's employee id."),
            "work_email": email_field("New work email address."),
            "home_email": email_field("New home email address."),
            "phones": {
                "type": "array",
                "minItems": 1,
                "maxItems": 3,
                "description": "Phone numbers to set, at most one each of Home, Mobile and Work; numbers of other types stay as they are.",
                "items": {
                    "type": "object",
                    "required": ["type", "number"],
                    "additionalProperties": false,
                    "properties": {
                        "type": {"type": "string", "enum": ["Home", "Mobile", "Work"]},
                        "country_code": {"type": "string", "pattern": "^\\+?[0-9]{1,3}$", "description": "Country calling code, e.g. 1."},
                        "area_code": {"type": "string", "pattern": "^[0-9]{3}$", "description": "Area code, e.g. 513."},
                        "number": {"type": "string", "pattern": "^[0-9]{3}-?[0-9]{4}$", "description": "Local number, e.g. 555-2300."}
                    }
                }
            },
            "primary_address": {
                "type": "object",
                "required": ["street_line1", "zip_code"],
                "additionalProperties": false,
                "description": "The new primary address; it replaces the old one.",
                "properties": {
                    "street_line1": {"type": "string", "minLength": 1, "maxLength": 100},
                    "street_line2": {"type": "string", "maxLength": 100},
                    "suite": {"type": "string", "maxLength": 50},
                    "city": {"type": "string", "maxLength": 100},
                    "state": {"type": "string", "pattern": "^[A-Za-z]{2}$", "description": "Two-letter state code."},
                    "county": {"type": "string", "maxLength": 100},
                    "country": {"type": "string", "minLength": 2, "maxLength": 50, "description": "Country, e.g. USA."},
                    "zip_code": {"type": "string", "pattern": "^[0-9]{5}(-[0-9]{4})?$", "description": "ZIP or ZIP+4."}
                }
            }
        }
    })
}

/// Update Employee Contact output.
pub fn update_employee_contact_output() -> Value {
    json!({
        "type": "object",
        "required": ["employee_id", "updated", "resource"],
        "additionalProperties": false,
        "properties": {
            "employee_id": {"type": "string"},
            "updated": {
                "type": "array",
                "items": {"type": "string", "enum": ["work_email", "home_email", "phones", "primary_address"]},
                "description": "The contact fields sent to Paycor."
            },
            "resource": reference("Paycor's reference to the updated employee.")
        }
    })
}
