//! SmartHR's records as the cards return them: SmartHR's JSON passed through
//! unchanged ([`Raw`](cardhost_sdk::Raw)), described by these structs, which
//! exist for their schemas. Field names are SmartHR's own (snake_case):
//! `emp_code`, `emp_status`, `departments[]`, `employment_type` ...

use cardhost_sdk::{JsonSchema, ListItem, Value, serde_json::Map};

/// `{id, name}` of a related record, with whatever else SmartHR embeds.
#[derive(JsonSchema)]
pub struct Ref {
    pub id: Option<String>,
    pub name: Option<String>,
}

/// A department as `/departments` lists it (nested parents and children are
/// shallow).
#[derive(JsonSchema)]
pub struct Department {
    /// SmartHR's id of the department.
    pub id: String,
    pub name: String,
    /// Department code, if set.
    pub code: Option<String>,
    /// Sort position among its siblings.
    pub position: Option<i64>,
    /// The parent department (id, name, code, position); null at the top.
    pub parent: Option<Ref>,
    /// Direct child departments (id, name, code, position).
    pub children: Option<Vec<Ref>>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// An employment type (雇用形態).
#[derive(JsonSchema)]
pub struct EmploymentType {
    /// SmartHR's id of the employment type.
    pub id: String,
    /// Name, e.g. 正社員 (full-time employee).
    pub name: String,
    /// The preset it derives from (board_member, full_timer, contract_worker,
    /// permatemp, part_timer, outsourcing_contractor, etc); null for a custom
    /// type.
    pub preset_type: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// A job title (役職).
#[derive(JsonSchema)]
pub struct JobTitle {
    /// SmartHR's id of the job title.
    pub id: String,
    /// Name, e.g. 部長 (general manager).
    pub name: String,
    /// Rank, 1 to 99999 (lower is senior).
    pub rank: Option<i64>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// An address: zip_code, pref, city, street, building, literal_yomi.
#[derive(JsonSchema)]
pub struct Address {
    pub zip_code: Option<String>,
    pub pref: Option<String>,
    pub city: Option<String>,
    pub street: Option<String>,
    pub building: Option<String>,
}

/// A business establishment (事業所) with its insurance registrations.
#[derive(JsonSchema)]
pub struct BizEstablishment {
    /// SmartHR's id of the business establishment.
    pub id: String,
    /// Name used inside SmartHR.
    pub name: String,
    /// Name registered for social insurance.
    pub soc_ins_name: Option<String>,
    /// Crew id of the social insurance representative.
    pub soc_ins_owner_id: Option<String>,
    /// Address registered for social insurance.
    pub soc_ins_address: Option<Address>,
    /// Phone number for social insurance.
    pub soc_ins_tel_number: Option<String>,
    /// Name registered for labour insurance.
    pub lab_ins_name: Option<String>,
    /// Crew id of the labour insurance representative.
    pub lab_ins_owner_id: Option<String>,
    /// Address registered for labour insurance.
    pub lab_ins_address: Option<Address>,
    /// Phone number for labour insurance.
    pub lab_ins_tel_number: Option<String>,
    /// Health insurance kind: kyokai_kenpo, its_kenpo, tj_kenpo or general_kenpo.
    pub hel_ins_type: Option<String>,
    /// Name of the health insurance association.
    pub hel_ins_name: Option<String>,
    /// Tax office in charge.
    pub jurisdiction_tax: Option<String>,
    /// Address of the salary payer.
    pub salary_payer_address: Option<Address>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// A group of custom fields.
#[derive(JsonSchema)]
pub struct CustomFieldGroup {
    /// SmartHR's id of the custom field group.
    pub id: String,
    pub name: String,
    pub position: Option<i64>,
    /// Who may see it: read_and_update, read_and_update_values or hidden.
    pub access_type: Option<String>,
    /// The group's custom fields (with `embed_templates`).
    pub templates: Option<Vec<Map<String, Value>>>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// An employee custom field (a template, in SmartHR's words).
#[derive(JsonSchema)]
pub struct CustomField {
    /// SmartHR's id of the custom field (its template id).
    pub id: String,
    /// Label.
    pub name: String,
    /// Input type: string, text, decimal, date, enum or file.
    #[serde(rename = "type")]
    pub kind: String,
    /// For `enum` fields, the choices: id, name, physical_name, position.
    pub elements: Option<Vec<Ref>>,
    /// Id of the group it belongs to (without `embed_group`).
    pub group_id: Option<String>,
    /// The group it belongs to (with `embed_group`).
    pub group: Option<Map<String, Value>>,
    /// Input hint.
    pub hint: Option<String>,
    /// Decimal places of a `decimal` field.
    pub scale: Option<i64>,
    /// Whether a `decimal` field shows thousands separators.
    pub separated_by_commas: Option<bool>,
    /// Sort position in its group.
    pub position: Option<i64>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// A crew's employment type as embedded in the crew.
#[derive(JsonSchema)]
pub struct CrewEmploymentType {
    pub id: Option<String>,
    pub name: Option<String>,
    /// The preset it derives from.
    pub preset_type: Option<String>,
}

/// A crew's department.
#[derive(JsonSchema)]
pub struct CrewDepartment {
    pub id: Option<String>,
    pub name: Option<String>,
    pub code: Option<String>,
}

/// A custom field's template as embedded in a value.
#[derive(JsonSchema)]
pub struct CustomFieldTemplate {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// One custom field value of a crew.
#[derive(JsonSchema)]
pub struct CustomFieldValue {
    /// The value, in the form the template's type takes.
    pub value: Option<Value>,
    /// The custom field it is a value of.
    pub template: Option<CustomFieldTemplate>,
}

/// A crew (employee) as SmartHR returns it. With `fields` only the fields
/// asked for are present, so only `id` is required.
#[derive(JsonSchema)]
pub struct Crew {
    /// SmartHR's id of the crew (a UUID).
    pub id: String,
    /// Id of the SmartHR user account linked to the crew, if any.
    pub user_id: Option<String>,
    /// Id of the crew's business establishment.
    pub biz_establishment_id: Option<String>,
    /// Employee code (社員番号).
    pub emp_code: Option<String>,
    /// Deprecated: the preset of the crew's employment type.
    pub emp_type: Option<String>,
    /// The crew's employment type: id, name, preset_type.
    pub employment_type: Option<CrewEmploymentType>,
    /// employed, absent (on leave) or retired.
    pub emp_status: Option<String>,
    /// Family name (legal).
    pub last_name: Option<String>,
    /// Given name (legal).
    pub first_name: Option<String>,
    /// Family name in katakana.
    pub last_name_yomi: Option<String>,
    /// Given name in katakana.
    pub first_name_yomi: Option<String>,
    /// Family name used at work, if different.
    pub business_last_name: Option<String>,
    /// Given name used at work, if different.
    pub business_first_name: Option<String>,
    /// Business family name in katakana.
    pub business_last_name_yomi: Option<String>,
    /// Business given name in katakana.
    pub business_first_name_yomi: Option<String>,
    /// Date of birth, YYYY-MM-DD.
    pub birth_at: Option<String>,
    /// Gender as registered: male or female.
    pub gender: Option<String>,
    pub email: Option<String>,
    pub tel_number: Option<String>,
    /// Deprecated: name of the first department; use `departments`.
    pub department: Option<String>,
    /// The crew's departments: id, name, code, position.
    pub departments: Option<Vec<CrewDepartment>>,
    /// Job title (役職) as text.
    pub position: Option<String>,
    /// Occupation / duties (業務内容).
    pub occupation: Option<String>,
    /// Date the crew joined, YYYY-MM-DD.
    pub entered_at: Option<String>,
    /// Date the crew left, YYYY-MM-DD.
    pub resigned_at: Option<String>,
    /// Why the crew left.
    pub resigned_reason: Option<String>,
    /// Custom field values: `value` and its `template` (id, name, type).
    pub custom_fields: Option<Vec<CustomFieldValue>>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// A SmartHR user's role.
#[derive(JsonSchema)]
pub struct Role {
    pub id: Option<String>,
    pub name: Option<String>,
}

/// A SmartHR user (a login account), with its crew when embedded.
#[derive(JsonSchema)]
pub struct User {
    /// SmartHR's id of the user.
    pub id: String,
    /// Login email address.
    pub email: Option<String>,
    /// Whether the user is an administrator.
    pub admin: Option<bool>,
    /// The user's role: id, name, description, crews_scope, preset_type.
    pub role: Option<Role>,
    /// Whether the user agreed to electronic delivery of payslips.
    pub agreement_for_electronic_delivery: Option<bool>,
    /// Id of the linked crew (without `embed_crew`).
    pub crew_id: Option<String>,
    /// The linked crew (with `embed_crew`); null when the user has none.
    pub crew: Option<Crew>,
    /// When the user was invited.
    pub invitation_created_at: Option<String>,
    /// When the invitation was opened.
    pub invitation_opened_at: Option<String>,
    /// When the invitation was accepted.
    pub invitation_accepted_at: Option<String>,
    /// When the invitation was answered.
    pub invitation_answered_at: Option<String>,
    /// Whether the user has set a password.
    pub has_password: Option<bool>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

macro_rules! listed_as {
    ($($record:ty => $key:literal),* $(,)?) => {
        $(impl ListItem for $record {
            const KEY: &'static str = $key;
        })*
    };
}

listed_as! {
    Department => "departments",
    EmploymentType => "employment_types",
    JobTitle => "job_titles",
    BizEstablishment => "biz_establishments",
    CustomFieldGroup => "custom_field_groups",
    CustomField => "custom_fields",
    Crew => "employees",
    User => "users",
}
