//! Advanced HR's records as the cards return them: the API's JSON passed
//! through unchanged ([`Raw`](cardhost_sdk::Raw)), in its own camelCase,
//! described by these structs.

use cardhost_sdk::{JsonSchema, ListItem};

/// An employee's status.
pub const STATUS_VALUES: [&str; 3] = ["Active", "Leaver", "Pending"];

/// Pay, pro rata for part-time staff.
#[derive(JsonSchema)]
pub struct Salary {
    /// Amount.
    pub amount: Option<f64>,
    /// Currency.
    pub currency: Option<String>,
    /// Annual or Hourly.
    pub frequency: Option<String>,
}

/// A home address.
#[derive(JsonSchema)]
pub struct HomeAddress {
    /// First line.
    pub line1: Option<String>,
    /// Second line.
    pub line2: Option<String>,
    pub town: Option<String>,
    pub postcode: Option<String>,
    /// Country.
    pub country: Option<String>,
}

/// An employee as Advanced HR returns it. Sensitive fields are present only
/// when the API client's security group grants them.
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct Employee {
    /// Advanced HR's id of the employee.
    pub id: String,
    /// The employee number shown in Advanced HR.
    pub employee_number: Option<String>,
    /// Title, e.g. Mr, Ms, Dr, Mx.
    pub title: Option<String>,
    /// Legal first name.
    pub first_name: String,
    pub last_name: String,
    /// Name the employee prefers, if any.
    pub preferred_name: Option<String>,
    /// Preferred (or first) name and last name.
    pub display_name: Option<String>,
    pub work_email: Option<String>,
    pub work_phone: Option<String>,
    /// Active, Leaver (has left) or Pending (starts in the future).
    #[schemars(extend("enum" = STATUS_VALUES))]
    pub status: String,
    /// Start date, YYYY-MM-DD.
    pub start_date: Option<String>,
    /// Leaving date, YYYY-MM-DD, for leavers.
    pub leave_date: Option<String>,
    /// Id of the employee's department.
    pub department_id: Option<String>,
    /// Name of the employee's department.
    pub department_name: Option<String>,
    /// Id of the employee's position.
    pub position_id: Option<String>,
    /// Job title of the position.
    pub job_title: Option<String>,
    /// Id of the line manager, if any.
    pub manager_id: Option<String>,
    /// Office the employee works from.
    pub location: Option<String>,
    /// Permanent, Fixed Term or Zero Hours.
    pub contract_type: Option<String>,
    /// Full Time, Part Time or Variable.
    pub working_pattern: Option<String>,
    /// Contracted hours a week.
    pub weekly_hours: Option<f64>,
    /// Full-time equivalent, 1.0 for full time.
    pub fte: Option<f64>,
    /// When the record last changed (ISO 8601, UTC).
    pub updated_at: Option<String>,
    /// Sensitive: date of birth, YYYY-MM-DD.
    pub date_of_birth: Option<String>,
    /// Sensitive: National Insurance number.
    pub ni_number: Option<String>,
    /// Sensitive: pay, pro rata for part-time staff.
    pub salary: Option<Salary>,
    /// Sensitive: home address.
    pub home_address: Option<HomeAddress>,
    /// Sensitive: personal mobile number.
    pub personal_mobile: Option<String>,
}

/// A department.
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct Department {
    /// Advanced HR's id of the department.
    pub id: String,
    pub code: Option<String>,
    pub name: String,
    /// Id of the parent department; null at the top.
    pub parent_id: Option<String>,
    /// Cost centre.
    pub cost_centre: Option<String>,
    /// Employee id of the head of department.
    pub manager_id: Option<String>,
    /// Main office.
    pub location: Option<String>,
    /// Whether the department is in use.
    pub is_active: Option<bool>,
}

/// A position (job title).
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct Position {
    /// Advanced HR's id of the position.
    pub id: String,
    pub code: Option<String>,
    pub title: String,
    /// Department the position belongs to.
    pub department_id: Option<String>,
    pub grade: Option<String>,
    /// Whether new employees can be given the position.
    pub is_active: Option<bool>,
}

impl ListItem for Employee {
    const KEY: &'static str = "employees";
}

impl ListItem for Department {
    const KEY: &'static str = "departments";
}

impl ListItem for Position {
    const KEY: &'static str = "positions";
}
