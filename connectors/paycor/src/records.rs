//! Paycor's records as the cards return them: Paycor's JSON with its
//! property names in camelCase (the live API's casing, whichever casing
//! Paycor answered in), passed through otherwise unchanged
//! ([`Raw`](cardhost_sdk::Raw)) and described by these structs.

use cardhost_sdk::{JsonSchema, ListItem, Value, serde_json::Map};

/// Paycor's reference to another record.
#[derive(JsonSchema)]
pub struct Reference {
    pub id: Option<String>,
    /// Its URL, relative to the API.
    pub url: Option<String>,
}

/// An employee's email.
#[derive(JsonSchema)]
pub struct Email {
    /// `Work` or `Home`.
    #[schemars(rename = "type")]
    pub kind: Option<String>,
    /// The address.
    #[schemars(rename = "emailAddress")]
    pub email_address: Option<String>,
}

/// An employee as Paycor returns it; the `include`d parts are present only
/// when asked for and allowed.
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct Employee {
    /// Paycor's employee id (a GUID; not shown in Paycor's UI).
    pub id: String,
    /// Employee number in the legal entity.
    pub employee_number: Option<String>,
    /// Alternate employee number.
    pub alternate_employee_number: Option<String>,
    /// Badge number.
    pub badge_number: Option<String>,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
    /// The work email, or the home email when `email_type` is `Home`.
    pub email: Option<Email>,
    /// Hire, rehire, seniority and termination dates (include `EmploymentDates`).
    pub employment_date_data: Option<Map<String, Value>>,
    /// Job title, job code and manager (include `Position`).
    pub position_data: Option<Map<String, Value>>,
    /// Employment status, type, FLSA and full-time flag (include `Status`).
    pub status_data: Option<Map<String, Value>>,
    /// Work location name and address (include `WorkLocation`).
    pub work_location: Option<Map<String, Value>>,
    /// The employee's legal entity.
    pub legal_entity: Option<Reference>,
    /// The person record behind the employee (for Read Person).
    pub person: Option<Reference>,
    /// The employee's department (for Read Department).
    pub department: Option<Reference>,
}

/// A person as Paycor returns it.
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct Person {
    /// Paycor's person id.
    pub id: String,
    /// Prefix (Mr, Ms, Dr ...).
    pub prefix: Option<String>,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
    /// Suffix (Jr, III ...).
    pub suffix: Option<String>,
    /// Legal first name.
    pub legal_first_name: Option<String>,
    /// Legal last name.
    pub legal_last_name: Option<String>,
    /// Social security number (include `SocialSecurityNumber`).
    pub social_security_number: Option<String>,
    /// Email (include `Email`).
    pub email: Option<Map<String, Value>>,
    /// Birth date, gender, ethnicity, marital status (include `Demographic`).
    pub demographic_data: Option<Map<String, Value>>,
    /// Addresses (include `Addresses`).
    pub addresses: Option<Vec<Map<String, Value>>>,
    /// Phones (include `Phones`).
    pub phones: Option<Vec<Map<String, Value>>>,
    /// Employee records of the person (include `EmployeeAssignments`).
    pub employee_assignments: Option<Vec<Map<String, Value>>>,
    /// Emergency contacts (include `EmergencyContact`).
    pub emergency_contact_data: Option<Vec<Map<String, Value>>>,
    /// The person's tenant.
    pub tenants: Option<Reference>,
}

/// A department as Paycor returns it.
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct Department {
    /// Paycor's department id.
    pub id: String,
    /// Department code (List Employees filters on it).
    pub code: Option<String>,
    /// Department name.
    pub description: Option<String>,
    /// Parent department id; null at the top.
    pub parent_id: Option<String>,
    /// Depth in the department tree.
    pub level: Option<i64>,
    /// Payroll id of the department.
    pub payroll_id: Option<String>,
    /// Payroll description.
    pub payroll_description: Option<String>,
    pub work_location_id: Option<String>,
    pub work_location_name: Option<String>,
}

/// A legal entity as Paycor returns it.
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct LegalEntity {
    pub id: i64,
    pub name: Option<String>,
    /// Federal employer id (EIN).
    pub federal_id: Option<String>,
    /// Corporation type.
    #[schemars(rename = "type")]
    pub kind: Option<String>,
    /// Whether Paycor lost the legal entity as a client.
    pub is_lost: Option<bool>,
    /// Business names (include `BusinessNames`).
    pub business_names: Option<Vec<Map<String, Value>>>,
    /// The tenant (company) of the legal entity; its id is the `tenant_id`
    /// of Read Person.
    pub tenant: Option<Reference>,
}

impl ListItem for Employee {
    const KEY: &'static str = "employees";
}

impl ListItem for Department {
    const KEY: &'static str = "departments";
}
