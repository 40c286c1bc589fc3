//! Paycor Public API emulator: the endpoints `connector-paycor` uses, as
//! Paycor's published OpenAPI document (`paycor-openapi.yaml`) and developer
//! guides describe them, behind an emulated API gateway, with Paycor's
//! OAuth2 server ([`crate::oauth`] with [`oauth::Config::paycor`]) on the
//! same origin so its tokens are the ones the API accepts.
//!
//! What a client must cope with, as Paycor does it:
//! - **API gateway** (Azure API Management) first: every API call and the
//!   token endpoint need the app's APIm subscription key, as the
//!   `Ocp-Apim-Subscription-Key` header or the `subscription-key` query
//!   parameter. Missing or unknown keys get 401 with APIM's own bodies
//!   (`{"statusCode": 401, "message": "Access denied due to missing
//!   subscription key. …"}` / `"… invalid subscription key. …"`). Calls are
//!   counted per key (default 1,000 a minute); over the limit is 429
//!   `"Rate limit is exceeded. Try again in N seconds."` with `Retry-After`.
//!   Unknown paths are APIM's 404 `"Resource not found"` (paths are
//!   case-sensitive).
//! - **Access token**: missing, unknown or expired bearer tokens get 401
//!   with an empty body.
//! - **Data Access**: a token's scope (the app's Scope Version Identifier)
//!   stands for the Data Access rights of that version; a call whose right
//!   is missing, or an `include` whose right is missing, gets 403 with an
//!   empty body, as does a legal entity the app is not activated for.
//! - **Paging**: lists answer `{HasMoreResults, ContinuationToken,
//!   AdditionalResultsUrl, Records}`; the token (a GUID) is passed back as
//!   `continuationToken` with the same filters. Employees come 200 a page
//!   (the endpoint's documentation), other lists 100 (the paging model's);
//!   both are configurable.
//! - **Casing**: the published spec capitalises property names
//!   (`HasMoreResults`), the live API answers camelCase; [`Casing`] picks.
//!   Request bodies are read case-insensitively, as ASP.NET does.
//! - **Errors** are Paycor's `{CorrelationId, Title, Detail, Source}`: 400
//!   for bad parameters and bodies (with the offending fields in `Source`),
//!   404 for unknown ids.
//! - **Writes** (`PUT /v1/employees/{id}`, Update Employee Contact) change
//!   the employee and its person and persist for the life of the server;
//!   they answer 201 `{ResourceUrl: {Id, Url}}`.
//!
//! Seed data: tenant 421504 with legal entities 398334 (Buckeye Outfitters
//! LLC, 480 employees, 18 departments) and 398335 (Buckeye Logistics Inc.,
//! 64 employees, 6 departments), and tenant 433120 with 512077 (Queen City
//! Bakery Co.), which the demo app is not activated for. Everything is a
//! pure function of its index; phone numbers are in the fictional
//! 555-0100–0199 range and social security numbers in the never-issued 9xx
//! range.

use crate::oauth::{self, ClientAuthMethod, ClientConfig, OAuthState};
use crate::server::Server;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The token endpoint's path (on Paycor's API host).
pub const TOKEN_PATH: &str = "/sts/v1/common/token";
/// The consent page's path (on Paycor's HCM host).
pub const AUTHORIZE_PATH: &str = "/AppActivation/Authorize";

/// APIM's answer to a call without a subscription key.
pub const MISSING_KEY_MESSAGE: &str = "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.";
/// APIM's answer to a call with an unknown subscription key.
pub const INVALID_KEY_MESSAGE: &str = "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription.";

/// A Data Access right of a Paycor app, named as the Developer Portal's
/// Data Access tab names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Right {
    /// `GET /v1/legalentities/{id}`.
    ViewLegalEntityBasicInformation,
    /// `GET /v1/legalentities/{id}/employees`.
    ViewLegalEntityEmployees,
    /// The list's `include=EmploymentDates`.
    ViewLegalEntityEmployeesEmploymentDates,
    /// The list's `include=Status`.
    ViewLegalEntityEmployeesStatus,
    /// The list's `include=Position`.
    ViewLegalEntityEmployeesPosition,
    /// The list's `include=WorkLocation`.
    ViewLegalEntityEmployeesWorkLocation,
    /// `GET /v1/employees/{id}`.
    ViewEmployeeInformation,
    /// `include=EmploymentDates` of one employee.
    ViewEmployeeEmploymentDates,
    /// `include=Status` of one employee.
    ViewEmployeeStatus,
    /// `include=Position` of one employee.
    ViewEmployeePosition,
    /// `include=WorkLocation` of one employee.
    ViewEmployeeWorkLocation,
    /// `GET /v1/employees/{id}/person`.
    ViewEmployeePerson,
    /// `GET /v1/tenants/{tenantId}/persons/{personId}`.
    ViewPersonInformation,
    /// A person's `include=Demographic`.
    ViewPersonDemographicInformation,
    /// A person's `include=Addresses`.
    ViewPersonAddresses,
    /// A person's `include=Phones`.
    ViewPersonPhone,
    /// A person's `include=Email`.
    ViewPersonEmail,
    /// A person's `include=EmployeeAssignments`.
    ViewEmployeeRecords,
    /// A person's `include=EmergencyContact`.
    ViewPersonEmergencyContacts,
    /// A person's `include=SocialSecurityNumber`.
    ViewPersonSsn,
    /// `GET /v1/legalentities/{id}/departments`.
    ViewLegalEntityDepartmentsInformation,
    /// `GET /v1/legalentities/{id}/departments/{departmentId}`.
    ViewLegalEntityDepartmentsByDepartmentId,
    /// `PUT /v1/employees/{id}`.
    UpdateEmployeeContact,
}

impl Right {
    /// Every right.
    pub const ALL: [Right; 23] = [
        Right::ViewLegalEntityBasicInformation,
        Right::ViewLegalEntityEmployees,
        Right::ViewLegalEntityEmployeesEmploymentDates,
        Right::ViewLegalEntityEmployeesStatus,
        Right::ViewLegalEntityEmployeesPosition,
        Right::ViewLegalEntityEmployeesWorkLocation,
        Right::ViewEmployeeInformation,
        Right::ViewEmployeeEmploymentDates,
        Right::ViewEmployeeStatus,
        Right::ViewEmployeePosition,
        Right::ViewEmployeeWorkLocation,
        Right::ViewEmployeePerson,
        Right::ViewPersonInformation,
        Right::ViewPersonDemographicInformation,
        Right::ViewPersonAddresses,
        Right::ViewPersonPhone,
        Right::ViewPersonEmail,
        Right::ViewEmployeeRecords,
        Right::ViewPersonEmergencyContacts,
        Right::ViewPersonSsn,
        Right::ViewLegalEntityDepartmentsInformation,
        Right::ViewLegalEntityDepartmentsByDepartmentId,
        Right::UpdateEmployeeContact,
    ];

    /// The Developer Portal's name for it.
    pub fn title(self) -> &'static str {
        match self {
            Right::ViewLegalEntityBasicInformation => "View Legal Entity Basic Information",
            Right::ViewLegalEntityEmployees => "View Legal Entity Employees",
            Right::ViewLegalEntityEmployeesEmploymentDates => {
                "View Legal Entity Employees Employment Dates"
            }
            Right::ViewLegalEntityEmployeesStatus => "View Legal Entity Employees Status",
            Right::ViewLegalEntityEmployeesPosition => "View Legal Entity Employees Position",
            Right::ViewLegalEntityEmployeesWorkLocation => {
                "View Legal Entity Employees Work Location"
            }
            Right::ViewEmployeeInformation => "View Employee Information",
            Right::ViewEmployeeEmploymentDates => "View Employee Employment Dates",
            Right::ViewEmployeeStatus => "View Employee Status",
            Right::ViewEmployeePosition => "View Employee Position",
            Right::ViewEmployeeWorkLocation => "View Employee Work Location",
            Right::ViewEmployeePerson => "View Employee Person",
            Right::ViewPersonInformation => "View Person Information",
            Right::ViewPersonDemographicInformation => "View Person Demographic Information",
            Right::ViewPersonAddresses => "View Person Addresses",
            Right::ViewPersonPhone => "View Person Phone",
            Right::ViewPersonEmail => "View Person Email",
            Right::ViewEmployeeRecords => "View Employee Records",
            Right::ViewPersonEmergencyContacts => "View Person Emergency Contacts",
            Right::ViewPersonSsn => "View Person SSN",
            Right::ViewLegalEntityDepartmentsInformation => {
                "View Legal Entity Departments Information"
            }
            Right::ViewLegalEntityDepartmentsByDepartmentId => {
                "View Legal Entity Departments by Department Id"
            }
            Right::UpdateEmployeeContact => "Update Employee Contact",
        }
    }

    /// Every right but writes.
    pub fn read_only() -> Vec<Right> {
        Right::ALL
            .into_iter()
            .filter(|r| *r != Right::UpdateEmployeeContact)
            .collect()
    }
}

/// One published version of an app's Data Access: its Scope Version
/// Identifier (the OAuth2 scope) and the rights it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeVersion {
    /// The Scope Version Identifier.
    pub id: String,
    /// Its Data Access rights.
    pub rights: BTreeSet<Right>,
}

impl ScopeVersion {
    /// A version with these rights.
    pub fn new(id: &str, rights: &[Right]) -> Self {
        Self {
            id: id.into(),
            rights: rights.iter().copied().collect(),
        }
    }
}

/// A Paycor app (Developer Portal application): an OAuth2 client, the legal
/// entities it was activated for and its scope versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// Application OAuth Client ID.
    pub client_id: String,
    /// Application OAuth Client Secret.
    pub client_secret: String,
    /// Approved Return OAuth URLs.
    pub redirect_uris: Vec<String>,
    /// Legal entities an administrator activated the app for.
    pub legal_entities: Vec<i64>,
    /// Published scope versions.
    pub scopes: Vec<ScopeVersion>,
}

/// A fixed-window call limit per subscription key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Calls allowed per window.
    pub calls: u32,
    /// Window length.
    pub window: Duration,
}

impl RateLimit {
    /// Paycor's documented default: 1,000 calls a minute per key.
    pub fn paycor_default() -> Self {
        Self {
            calls: 1000,
            window: Duration::from_secs(60),
        }
    }
}

/// How property names are written in answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Casing {
    /// `hasMoreResults`: what the live API returns.
    #[default]
    Camel,
    /// `HasMoreResults`: what Paycor's published spec shows.
    Pascal,
}

/// A legal entity to seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalEntitySeed {
    /// Legal entity id (Paycor's "client id").
    pub id: i64,
    /// Tenant (company) id.
    pub tenant_id: i64,
    /// Name.
    pub name: String,
    /// Employees to seed.
    pub employees: usize,
    /// Departments to seed (at least 1).
    pub departments: usize,
}

/// The emulator's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    /// Valid APIm subscription keys.
    pub subscription_keys: Vec<String>,
    /// Registered apps.
    pub apps: Vec<App>,
    /// Legal entities, their employees and departments.
    pub legal_entities: Vec<LegalEntitySeed>,
    /// Employees per page.
    pub employees_page_size: usize,
    /// Records per page of the other lists.
    pub page_size: usize,
    /// Calls allowed per subscription key, if limited.
    pub rate_limit: Option<RateLimit>,
    /// Property-name casing of answers.
    pub casing: Casing,
    /// Access token lifetime.
    pub access_token_lifetime: Duration,
    /// Whether the consent page needs `subscription-key` (integrators send
    /// it; whether Paycor insists is not documented).
    pub authorize_requires_subscription_key: bool,
}

/// The demo app's subscription key.
pub const DEMO_SUBSCRIPTION_KEY: &str = "3f9d2c7a81b64e0f9a5c1d7e2b8f4a60";
/// The demo app's client id.
pub const DEMO_CLIENT_ID: &str = "c18bff6c9097ade7f726";
/// The demo app's client secret.
pub const DEMO_CLIENT_SECRET: &str = "pcy-demo-secret-7Hq2Lx9Vb4Nw";
/// The demo app's approved return URL (cardhost serve's callback).
pub const DEMO_REDIRECT_URI: &str = "http://127.0.0.1:8080/v1/oauth/callback";
/// Scope version with every right, Update Employee Contact included.
pub const SCOPE_FULL: &str = "e5aba9ee3b1cf1119a496045bd492bf4";
/// Scope version with every view right and no writes.
pub const SCOPE_READ_ONLY: &str = "7c41d0a2f8e94b6db1a35c0e9f2d6b18";
/// Scope version with employee list and read rights only (no departments,
/// no persons, no legal entity, no `include` rights).
pub const SCOPE_EMPLOYEES_ONLY: &str = "0b8e5f3c6d2a47e19c4f7a2d5e8b1c93";
/// The demo tenant.
pub const DEMO_TENANT: i64 = 421504;
/// The demo legal entity (480 employees, 18 departments).
pub const DEMO_LEGAL_ENTITY: i64 = 398334;
/// The second legal entity of the demo tenant (64 employees, 6 departments).
pub const SECOND_LEGAL_ENTITY: i64 = 398335;
/// A legal entity of another tenant the demo app is not activated for.
pub const OTHER_LEGAL_ENTITY: i64 = 512077;

impl Config {
    /// The demo setup: one app ([`DEMO_CLIENT_ID`]) activated for the demo
    /// tenant's two legal entities with scope versions [`SCOPE_FULL`],
    /// [`SCOPE_READ_ONLY`] and [`SCOPE_EMPLOYEES_ONLY`]; key
    /// [`DEMO_SUBSCRIPTION_KEY`]; Paycor's default rate limit; camelCase.
    pub fn demo() -> Self {
        let employees_only = [
            Right::ViewLegalEntityEmployees,
            Right::ViewEmployeeInformation,
        ];
        Self {
            port: 0,
            subscription_keys: vec![DEMO_SUBSCRIPTION_KEY.into()],
            apps: vec![App {
                client_id: DEMO_CLIENT_ID.into(),
                client_secret: DEMO_CLIENT_SECRET.into(),
                redirect_uris: vec![DEMO_REDIRECT_URI.into()],
                legal_entities: vec![DEMO_LEGAL_ENTITY, SECOND_LEGAL_ENTITY],
                scopes: vec![
                    ScopeVersion::new(SCOPE_FULL, &Right::ALL),
                    ScopeVersion::new(SCOPE_READ_ONLY, &Right::read_only()),
                    ScopeVersion::new(SCOPE_EMPLOYEES_ONLY, &employees_only),
                ],
            }],
            legal_entities: vec![
                LegalEntitySeed {
                    id: DEMO_LEGAL_ENTITY,
                    tenant_id: DEMO_TENANT,
                    name: "Buckeye Outfitters LLC".into(),
                    employees: 480,
                    departments: 18,
                },
                LegalEntitySeed {
                    id: SECOND_LEGAL_ENTITY,
                    tenant_id: DEMO_TENANT,
                    name: "Buckeye Logistics Inc.".into(),
                    employees: 64,
                    departments: 6,
                },
                LegalEntitySeed {
                    id: OTHER_LEGAL_ENTITY,
                    tenant_id: 433120,
                    name: "Queen City Bakery Co.".into(),
                    employees: 25,
                    departments: 4,
                },
            ],
            employees_page_size: 200,
            page_size: 100,
            rate_limit: Some(RateLimit::paycor_default()),
            casing: Casing::Camel,
            access_token_lifetime: Duration::from_secs(1800),
            authorize_requires_subscription_key: true,
        }
    }

    /// Sets the loopback port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
}

/// One request the emulator answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// The `Host` header: which of Paycor's hosts the client meant.
    pub host: Option<String>,
    /// Path.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// The subscription key presented, if any.
    pub subscription_key: Option<String>,
    /// The app whose valid token was presented.
    pub client_id: Option<String>,
    /// Status answered.
    pub status: u16,
}

/// A running emulator.
#[derive(Debug)]
pub struct Paycor {
    server: Server,
    state: PaycorState,
}

impl Paycor {
    /// `http://127.0.0.1:PORT`: both the API host and the HCM host.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The token endpoint (without the subscription key).
    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.url())
    }

    /// The consent page.
    pub fn authorize_url(&self) -> String {
        format!("{}{AUTHORIZE_PATH}", self.url())
    }

    /// The state handle.
    pub fn state(&self) -> PaycorState {
        self.state.clone()
    }

    /// The OAuth2 server's state (tokens, counters, expiry).
    pub fn oauth(&self) -> OAuthState {
        self.state.oauth.clone()
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// Starts the emulator on 127.0.0.1.
pub async fn start(config: Config) -> std::io::Result<Paycor> {
    let state = PaycorState::new(&config);
    let server = Server::spawn(router(state.clone()), config.port).await?;
    Ok(Paycor { server, state })
}

/// Starts the demo setup ([`Config::demo`]) on `port` (0 picks a free one).
pub async fn start_demo(port: u16) -> std::io::Result<Paycor> {
    start(Config::demo().port(port)).await
}

// ---------------------------------------------------------------------------
// Seed data

const FIRST_NAMES: [&str; 40] = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Christopher",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Betty",
    "Mark",
    "Sandra",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Andrew",
    "Emily",
    "Joshua",
    "Donna",
    "Kenneth",
    "Michelle",
    "Kevin",
    "Carol",
];

const LAST_NAMES: [&str; 40] = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "O'Brien",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
];

const DEPARTMENTS: [&str; 18] = [
    "Executive",
    "Finance",
    "Payroll",
    "Human Resources",
    "Sales",
    "Marketing",
    "Operations",
    "Warehouse",
    "Customer Service",
    "Information Technology",
    "Legal",
    "Purchasing",
    "Facilities",
    "Quality",
    "Research",
    "Training",
    "Logistics",
    "Retail Stores",
];

/// (name, street, city, county, state, zip)
const LOCATIONS: [(&str, &str, &str, &str, &str, &str); 3] = [
    (
        "Cincinnati HQ",
        "4811 Montgomery Road",
        "Cincinnati",
        "Hamilton",
        "OH",
        "45212",
    ),
    (
        "Columbus Distribution Center",
        "1500 Lake Shore Drive",
        "Columbus",
        "Franklin",
        "OH",
        "43204",
    ),
    (
        "Dayton Store",
        "120 West Second Street",
        "Dayton",
        "Montgomery",
        "OH",
        "45402",
    ),
];

/// (city, county, zip) of home addresses.
const HOME_CITIES: [(&str, &str, &str); 6] = [
    ("Cincinnati", "Hamilton", "45208"),
    ("Norwood", "Hamilton", "45212"),
    ("Mason", "Warren", "45040"),
    ("Columbus", "Franklin", "43215"),
    ("Dayton", "Montgomery", "45409"),
    ("Loveland", "Clermont", "45140"),
];

const STREETS: [&str; 8] = [
    "Maple Avenue",
    "Oak Street",
    "Vine Street",
    "Elm Street",
    "Ludlow Avenue",
    "Madison Road",
    "Erie Avenue",
    "Observatory Avenue",
];

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A deterministic GUID for (`kind`, `a`, `b`).
fn guid(kind: u64, a: u64, b: u64) -> String {
    let h1 = splitmix(kind.wrapping_mul(0x1000_0000_01B3) ^ a.rotate_left(17) ^ b);
    let h2 = splitmix(h1 ^ b.rotate_left(29) ^ kind);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        h1 >> 32,
        (h1 >> 16) & 0xffff,
        0x4000 | (h1 & 0x0fff),
        0x8000 | ((h2 >> 48) & 0x3fff),
        h2 & 0xffff_ffff_ffff
    )
}

/// Whether `text` is a GUID (8-4-4-4-12 hex digits).
fn is_guid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `YYYY-MM-DDT00:00:00Z` of a day counted from 1970-01-01.
fn date(days: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T00:00:00Z")
}

/// Days from 1970-01-01 to 2008-01-01 and to 1960-01-01.
const DAY_2008: i64 = 13_879;
const DAY_1960: i64 = -3_653;

#[derive(Debug, Clone)]
struct LegalEntityRec {
    id: i64,
    tenant_id: i64,
    name: String,
}

#[derive(Debug, Clone)]
struct LocationRec {
    id: String,
    name: &'static str,
    street: &'static str,
    city: &'static str,
    county: &'static str,
    state: &'static str,
    zip: &'static str,
}

#[derive(Debug, Clone)]
struct DepartmentRec {
    id: String,
    le: i64,
    code: i64,
    description: String,
    parent: Option<usize>,
    level: i64,
    payroll_id: String,
    location: usize,
}

#[derive(Debug, Clone)]
struct EmployeeRec {
    id: String,
    le: i64,
    number: i64,
    first: String,
    middle: Option<String>,
    last: String,
    work_email: Option<String>,
    person: usize,
    department: usize,
    location: usize,
    hire_day: i64,
    termination: Option<(i64, &'static str)>,
    status: &'static str,
    full_time: bool,
    flsa: &'static str,
    kind: &'static str,
    job_title: String,
    job_code: String,
    manager: Option<usize>,
    pay_group: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PhoneRec {
    kind: String,
    country_code: Option<String>,
    area_code: Option<String>,
    number: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct AddressRec {
    kind: String,
    street1: String,
    street2: Option<String>,
    suite: Option<String>,
    city: Option<String>,
    county: Option<String>,
    state: Option<String>,
    zip: String,
    country: Option<String>,
}

#[derive(Debug, Clone)]
struct PersonRec {
    id: String,
    tenant_id: i64,
    first: String,
    middle: Option<String>,
    last: String,
    ssn: String,
    home_email: Option<String>,
    birth_day: i64,
    gender: &'static str,
    married: bool,
    addresses: Vec<AddressRec>,
    phones: Vec<PhoneRec>,
    emergency: (String, String, &'static str),
    employees: Vec<usize>,
}

#[derive(Debug, Default)]
struct Data {
    legal_entities: Vec<LegalEntityRec>,
    locations: HashMap<i64, Vec<LocationRec>>,
    departments: Vec<DepartmentRec>,
    employees: Vec<EmployeeRec>,
    persons: Vec<PersonRec>,
    employee_index: HashMap<String, usize>,
    person_index: HashMap<String, usize>,
}

fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

fn email_part(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

fn seed(entities: &[LegalEntitySeed]) -> Data {
    let mut data = Data::default();
    for (n, seed) in entities.iter().enumerate() {
        let le = seed.id;
        let words: Vec<&str> = seed.name.split_whitespace().collect();
        let domain = format!("{}.example", slug(&words[..words.len().min(2)].join(" ")));
        data.legal_entities.push(LegalEntityRec {
            id: le,
            tenant_id: seed.tenant_id,
            name: seed.name.clone(),
        });
        let locations: Vec<LocationRec> = LOCATIONS
            .iter()
            .enumerate()
            .map(
                |(i, (name, street, city, county, state, zip))| LocationRec {
                    id: guid(3, le as u64, i as u64),
                    name,
                    street,
                    city,
                    county,
                    state,
                    zip,
                },
            )
            .collect();
        data.locations.insert(le, locations);
        let first_department = data.departments.len();
        let count = seed.departments.max(1);
        for i in 0..count {
            let (parent, level) = match i {
                0 => (None, 1),
                1..=5 => (Some(first_department), 2),
                _ => (Some(first_department + 1 + (i % 5)), 3),
            };
            data.departments.push(DepartmentRec {
                id: guid(4, le as u64, i as u64),
                le,
                code: 100 + 10 * i as i64,
                description: DEPARTMENTS[i % DEPARTMENTS.len()].to_string(),
                parent,
                level,
                payroll_id: guid(5, le as u64, i as u64),
                location: i % LOCATIONS.len(),
            });
        }
        let first_employee = data.employees.len();
        let number_base = 1000 + 10_000 * n as i64;
        for i in 0..seed.employees {
            let first = FIRST_NAMES[(i + n * 7) % FIRST_NAMES.len()];
            let last = LAST_NAMES[(i / FIRST_NAMES.len() + i * 7 + n) % LAST_NAMES.len()];
            let middle = (i % 3 != 2).then(|| FIRST_NAMES[(i * 11 + 5) % FIRST_NAMES.len()]);
            let number = number_base + i as i64 + 1;
            let department = first_department + i % count;
            let (status, termination) = if i > 0 && i % 23 == 0 {
                (
                    "Terminated",
                    Some((
                        DAY_2008 + 5_000 + (i as i64 * 13) % 900,
                        if i % 2 == 0 { "Resigned" } else { "Relocated" },
                    )),
                )
            } else if i % 31 == 5 {
                ("LeaveWithPay", None)
            } else if i % 47 == 7 {
                (
                    "Retired",
                    Some((DAY_2008 + 5_200 + i as i64 % 300, "Retired")),
                )
            } else {
                ("Active", None)
            };
            let leads = i % 10 == 0;
            let department_name = data.departments[department].description.clone();
            let person_index = data.persons.len();
            let employee_index = data.employees.len();
            let id = guid(1, le as u64, i as u64);
            let person_id = guid(2, le as u64, i as u64);
            let (city, county, zip) = HOME_CITIES[i % HOME_CITIES.len()];
            let mut phones = vec![PhoneRec {
                kind: "Mobile".into(),
                country_code: Some("1".into()),
                area_code: Some("513".into()),
                number: format!("555-01{:02}", i % 100),
            }];
            if i % 4 == 1 {
                phones.push(PhoneRec {
                    kind: "Home".into(),
                    country_code: Some("1".into()),
                    area_code: Some("937".into()),
                    number: format!("555-01{:02}", (i * 7) % 100),
                });
            }
            data.persons.push(PersonRec {
                id: person_id.clone(),
                tenant_id: seed.tenant_id,
                first: first.into(),
                middle: middle.map(str::to_string),
                last: last.into(),
                ssn: format!(
                    "9{:02}-{:02}-{:04}",
                    i % 100,
                    10 + (i / 100) % 90,
                    1000 + i % 9000
                ),
                home_email: (i % 11 != 3).then(|| {
                    format!(
                        "{}.{}{}@mail.example",
                        email_part(first),
                        email_part(last),
                        i % 97
                    )
                }),
                birth_day: DAY_1960 + (i as i64 * 113) % 14_000,
                gender: if FIRST_NAMES.iter().position(|f| *f == first).unwrap_or(0) % 2 == 0 {
                    "Male"
                } else {
                    "Female"
                },
                married: i % 3 == 1,
                addresses: vec![AddressRec {
                    kind: "Primary".into(),
                    street1: format!("{} {}", 100 + (i * 37) % 9000, STREETS[i % STREETS.len()]),
                    street2: None,
                    suite: None,
                    city: Some(city.into()),
                    county: Some(county.into()),
                    state: Some("OH".into()),
                    zip: zip.into(),
                    country: Some("USA".into()),
                }],
                phones,
                emergency: (
                    FIRST_NAMES[(i * 3 + 1) % FIRST_NAMES.len()].to_string(),
                    last.to_string(),
                    if i % 2 == 0 { "Spouse" } else { "Parent" },
                ),
                employees: vec![employee_index],
            });
            data.employees.push(EmployeeRec {
                id: id.clone(),
                le,
                number,
                first: first.into(),
                middle: middle.map(str::to_string),
                last: last.into(),
                work_email: Some(format!(
                    "{}.{}{}@{domain}",
                    email_part(first),
                    email_part(last),
                    number
                )),
                person: person_index,
                department,
                location: i % LOCATIONS.len(),
                hire_day: DAY_2008 + (i as i64 * 37) % 5_800,
                termination,
                status,
                full_time: i % 5 != 4,
                flsa: if leads {
                    "SalaryExempt"
                } else {
                    "HourlyNonExempt"
                },
                kind: match i % 29 {
                    6 => "Seasonal",
                    9 => "Temporary",
                    _ => "Regular",
                },
                job_title: if leads {
                    format!("{department_name} Manager")
                } else {
                    format!("{department_name} Associate")
                },
                job_code: format!("P{}", 1 + i % 4),
                manager: match i {
                    0 => None,
                    i if i % 10 == 0 => Some(first_employee),
                    i => Some(first_employee + (i / 10) * 10),
                },
                pay_group: guid(9, le as u64, 0),
            });
            data.employee_index.insert(id, employee_index);
            data.person_index.insert(person_id, person_index);
        }
    }
    data
}

// ---------------------------------------------------------------------------
// Rendering (Paycor's published, capitalised names; see `Casing`)

fn reference(id: Option<String>, url: String) -> Value {
    json!({"Id": id, "Url": url})
}

/// The optional parts of an employee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    EmploymentDates,
    Position,
    Status,
    WorkLocation,
}

const PARTS: [(&str, Part); 4] = [
    ("EmploymentDates", Part::EmploymentDates),
    ("Position", Part::Position),
    ("Status", Part::Status),
    ("WorkLocation", Part::WorkLocation),
];

fn employee_json(data: &Data, index: usize, parts: &BTreeSet<Part>, home_email: bool) -> Value {
    let e = &data.employees[index];
    let person = &data.persons[e.person];
    let email = if home_email {
        json!({"Type": "Home", "EmailAddress": person.home_email})
    } else {
        json!({"Type": "Work", "EmailAddress": e.work_email})
    };
    let department = &data.departments[e.department];
    let mut out = json!({
        "Id": e.id,
        "EmployeeNumber": e.number.to_string(),
        "AlternateEmployeeNumber": format!("A{:05}", e.number),
        "BadgeNumber": (20_000 + e.number).to_string(),
        "FirstName": e.first,
        "MiddleName": e.middle,
        "LastName": e.last,
        "Email": email,
        "EmploymentDateData": null,
        "PositionData": null,
        "StatusData": null,
        "WorkLocation": null,
        "Earnings": reference(None, format!("v1/employees/{}/earnings", e.id)),
        "Deductions": reference(None, format!("v1/employees/{}/deductions", e.id)),
        "Taxes": reference(None, format!("v1/employees/{}/taxes", e.id)),
        "DirectDeposits": reference(None, format!("v1/employees/{}/directdeposits", e.id)),
        "PayRates": reference(None, format!("v1/employees/{}/payrates", e.id)),
        "LegalEntity": reference(Some(e.le.to_string()), format!("v1/legalentities/{}", e.le)),
        "Person": reference(Some(person.id.clone()), format!("v1/employees/{}/person", e.id)),
        "Department": reference(
            Some(department.id.clone()),
            format!("v1/legalentities/{}/departments/{}", e.le, department.id)
        ),
    });
    if parts.contains(&Part::EmploymentDates) {
        out["EmploymentDateData"] = json!({
            "HireDate": date(e.hire_day),
            "AdjustedHireDate": date(e.hire_day),
            "TerminationDate": e.termination.map(|(d, _)| date(d)),
            "TerminationReason": e.termination.map(|(_, r)| r),
            "ReHireDate": null,
            "SeniorityDate": date(e.hire_day),
        });
    }
    if parts.contains(&Part::Position) {
        let manager = e.manager.map(|m| {
            let m = &data.employees[m];
            json!({
                "Id": m.id,
                "EmployeeNumber": m.number.to_string(),
                "Employee": reference(Some(m.id.clone()), format!("v1/employees/{}", m.id)),
            })
        });
        out["PositionData"] = json!({
            "JobTitle": e.job_title,
            "JobCode": e.job_code,
            "EffectiveStartDate": date(e.hire_day),
            "EffectiveEndDate": null,
            "PayGroupId": e.pay_group,
            "Manager": manager,
        });
    }
    if parts.contains(&Part::Status) {
        out["StatusData"] = json!({
            "IsFullTime": e.full_time,
            "Status": e.status,
            "Flsa": e.flsa,
            "Type": e.kind,
            "EligibleForRehire": if e.status == "Terminated" { "true" } else { "false" },
        });
    }
    if parts.contains(&Part::WorkLocation) {
        let l = &data.locations[&e.le][e.location];
        out["WorkLocation"] = json!({
            "Id": l.id,
            "Name": l.name,
            "StreetLine1": l.street,
            "Type": "Physical",
            "City": l.city,
            "County": l.county,
            "State": l.state,
            "ZipCode": l.zip,
            "Country": "USA",
        });
    }
    out
}

/// The optional parts of a person.
const PERSON_PARTS: [(&str, Right); 7] = [
    ("Demographic", Right::ViewPersonDemographicInformation),
    ("Addresses", Right::ViewPersonAddresses),
    ("Phones", Right::ViewPersonPhone),
    ("Email", Right::ViewPersonEmail),
    ("EmployeeAssignments", Right::ViewEmployeeRecords),
    ("EmergencyContact", Right::ViewPersonEmergencyContacts),
    ("SocialSecurityNumber", Right::ViewPersonSsn),
];

fn address_json(a: &AddressRec) -> Value {
    json!({
        "StreetLine1": a.street1,
        "StreetLine2": a.street2,
        "Suite": a.suite,
        "City": a.city,
        "State": a.state,
        "Country": a.country,
        "County": a.county,
        "ZipCode": a.zip,
        "Type": a.kind,
    })
}

fn phone_json(p: &PhoneRec) -> Value {
    json!({
        "CountryCode": p.country_code,
        "AreaCode": p.area_code,
        "PhoneNumber": p.number,
        "Type": p.kind,
    })
}

fn person_json(data: &Data, index: usize, parts: &BTreeSet<&str>) -> Value {
    let p = &data.persons[index];
    let mut out = json!({
        "Id": p.id,
        "Prefix": null,
        "FirstName": p.first,
        "MiddleName": p.middle,
        "LastName": p.last,
        "Suffix": null,
        "LegalFirstName": p.first,
        "LegalLastName": p.last,
        "SocialSecurityNumber": null,
        "Email": null,
        "DemographicData": null,
        "BenefitData": null,
        "EmergencyContactData": null,
        "MilitaryData": null,
        "SocialMediaData": null,
        "EmployeeAssignments": null,
        "Addresses": null,
        "Phones": null,
        "Tenants": reference(Some(p.tenant_id.to_string()), format!("v1/tenants/{}", p.tenant_id)),
    });
    for part in parts {
        match *part {
            "Demographic" => {
                out["DemographicData"] = json!({
                    "BirthDate": date(p.birth_day),
                    "Gender": p.gender,
                    "Ethnicity": null,
                    "MaritalStatus": if p.married { "Married" } else { "Single" },
                    "MaidenName": null,
                })
            }
            "Addresses" => {
                out["Addresses"] = p.addresses.iter().map(address_json).collect();
            }
            "Phones" => out["Phones"] = p.phones.iter().map(phone_json).collect(),
            "Email" => {
                out["Email"] = json!({"Type": "Home", "EmailAddress": p.home_email});
            }
            "EmployeeAssignments" => {
                out["EmployeeAssignments"] = p
                    .employees
                    .iter()
                    .map(|e| {
                        let id = &data.employees[*e].id;
                        json!({"Employees": reference(Some(id.clone()), format!("v1/employees/{id}"))})
                    })
                    .collect();
            }
            "EmergencyContact" => {
                let (first, last, relation) = &p.emergency;
                out["EmergencyContactData"] = json!([{
                    "FirstName": first,
                    "LastName": last,
                    "Relationship": relation,
                    "Phones": [{"CountryCode": "1", "AreaCode": "513", "PhoneNumber": "555-0199", "Type": "Mobile"}],
                }]);
            }
            "SocialSecurityNumber" => out["SocialSecurityNumber"] = json!(p.ssn),
            _ => {}
        }
    }
    out
}

fn department_json(data: &Data, index: usize) -> Value {
    let d = &data.departments[index];
    let location = &data.locations[&d.le][d.location];
    json!({
        "Id": d.id,
        "Code": d.code.to_string(),
        "Description": d.description,
        "ParentId": d.parent.map(|p| data.departments[p].id.clone()),
        "Level": d.level,
        "PayrollId": d.payroll_id,
        "PayrollDescription": d.description,
        "WorkLocationId": location.id,
        "WorkLocationName": location.name,
    })
}

fn legal_entity_json(le: &LegalEntityRec, data: &Data, business_names: bool) -> Value {
    let names = business_names.then(|| {
        let hq = &data.locations[&le.id][0];
        json!([{
            "Type": "Legal",
            "Name": le.name,
            "Addresses": [{
                "StreetLine1": hq.street, "StreetLine2": null, "Suite": null, "City": hq.city,
                "State": hq.state, "Country": "USA", "County": hq.county, "ZipCode": hq.zip, "Type": "Primary"
            }]
        }])
    });
    json!({
        "Id": le.id,
        "Name": le.name,
        "FederalId": format!("31{:07}", le.id % 10_000_000),
        "Type": if le.name.ends_with("LLC") { "LLC" } else { "Corporation" },
        "IsLost": false,
        "BusinessNames": names,
        "Tenant": reference(Some(le.tenant_id.to_string()), format!("v1/tenants/{}", le.tenant_id)),
        "Employees": reference(None, format!("v1/legalentities/{}/employees", le.id)),
        "Persons": reference(None, format!("v1/legalEntities/{}/persons", le.id)),
        "Earnings": reference(None, format!("v1/legalentities/{}/earnings", le.id)),
        "Deductions": reference(None, format!("v1/legalentities/{}/deductions", le.id)),
        "Taxes": reference(None, format!("v1/legalentities/{}/taxes", le.id)),
    })
}

/// A property name in camelCase as ASP.NET writes it (`HasMoreResults` →
/// `hasMoreResults`, `ID` → `id`).
fn camel_case(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let mut out = chars.clone();
    for i in 0..chars.len() {
        if !chars[i].is_uppercase() || (i == 1 && !chars[i].is_uppercase()) {
            break;
        }
        if i > 0 && chars.get(i + 1).is_some_and(|c| !c.is_uppercase()) {
            break;
        }
        out[i] = chars[i].to_ascii_lowercase();
    }
    out.into_iter().collect()
}

fn with_casing(value: Value, casing: Casing) -> Value {
    match casing {
        Casing::Pascal => value,
        Casing::Camel => camel(value),
    }
}

fn camel(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (camel_case(&k), camel(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(camel).collect()),
        other => other,
    }
}

// ---------------------------------------------------------------------------
// State

struct Cursor {
    route: String,
    offset: usize,
}

struct Inner {
    keys: BTreeSet<String>,
    apps: BTreeMap<String, App>,
    data: Data,
    employees_page_size: usize,
    page_size: usize,
    rate_limit: Option<RateLimit>,
    windows: HashMap<String, (Instant, u32)>,
    throttles: VecDeque<u32>,
    failures: VecDeque<u16>,
    casing: Casing,
    authorize_requires_key: bool,
    requests: Vec<RequestRecord>,
    refusals: Vec<String>,
    cursors: HashMap<String, Cursor>,
    next_guid: u64,
    contact_updates: usize,
}

impl Inner {
    fn new_guid(&mut self, kind: u64) -> String {
        self.next_guid += 1;
        guid(kind, 0xC0FFEE, self.next_guid)
    }
}

/// Shared, cheap-to-clone handle on the emulator's state for tests.
#[derive(Clone)]
pub struct PaycorState {
    inner: Arc<Mutex<Inner>>,
    oauth: OAuthState,
}

impl std::fmt::Debug for PaycorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaycorState").finish_non_exhaustive()
    }
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // A test that panicked while holding the lock must not wedge the server.
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

impl PaycorState {
    fn new(config: &Config) -> Self {
        let mut oauth_config =
            oauth::Config::paycor().access_token_lifetime(config.access_token_lifetime);
        for app in &config.apps {
            let mut scopes: Vec<&str> = app.scopes.iter().map(|s| s.id.as_str()).collect();
            scopes.push("offline_access");
            let mut client = ClientConfig::authorization_code(
                &app.client_id,
                &app.client_secret,
                app.redirect_uris.first().map(String::as_str).unwrap_or(""),
            )
            .scopes(&scopes)
            .auth_methods(&[ClientAuthMethod::ClientSecretPost]);
            client.redirect_uris = app.redirect_uris.clone();
            oauth_config = oauth_config.client(client);
        }
        let inner = Inner {
            keys: config.subscription_keys.iter().cloned().collect(),
            apps: config
                .apps
                .iter()
                .map(|a| (a.client_id.clone(), a.clone()))
                .collect(),
            data: seed(&config.legal_entities),
            employees_page_size: config.employees_page_size.max(1),
            page_size: config.page_size.max(1),
            rate_limit: config.rate_limit,
            windows: HashMap::new(),
            throttles: VecDeque::new(),
            failures: VecDeque::new(),
            casing: config.casing,
            authorize_requires_key: config.authorize_requires_subscription_key,
            requests: Vec::new(),
            refusals: Vec::new(),
            cursors: HashMap::new(),
            next_guid: 0,
            contact_updates: 0,
        };
        Self {
            inner: Arc::new(Mutex::new(inner)),
            oauth: OAuthState::new(&oauth_config),
        }
    }

    /// The OAuth2 server's state.
    pub fn oauth(&self) -> OAuthState {
        self.oauth.clone()
    }

    /// Every request so far (API and OAuth2 endpoints), oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.inner).requests.clone()
    }

    /// How many requests had this method and path.
    pub fn count(&self, method: &str, path: &str) -> usize {
        lock(&self.inner)
            .requests
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    }

    /// The Data Access rights whose absence caused a 403, in order.
    pub fn refusals(&self) -> Vec<String> {
        lock(&self.inner).refusals.clone()
    }

    /// Answers the next `count` API calls with 429 and `Retry-After`.
    pub fn throttle_next(&self, count: usize, retry_after_seconds: u32) {
        lock(&self.inner)
            .throttles
            .extend(std::iter::repeat_n(retry_after_seconds, count));
    }

    /// Answers the next `count` API calls with `status` (a Paycor error
    /// body) before they reach their endpoint, so nothing is changed.
    pub fn fail_next(&self, count: usize, status: u16) {
        lock(&self.inner)
            .failures
            .extend(std::iter::repeat_n(status, count));
    }

    /// Replaces the rate limit.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        let mut inner = lock(&self.inner);
        inner.rate_limit = limit;
        inner.windows.clear();
    }

    /// Switches the property-name casing of answers.
    pub fn set_casing(&self, casing: Casing) {
        lock(&self.inner).casing = casing;
    }

    /// Sets the page sizes.
    pub fn set_page_sizes(&self, employees: usize, others: usize) {
        let mut inner = lock(&self.inner);
        inner.employees_page_size = employees.max(1);
        inner.page_size = others.max(1);
    }

    /// Replaces the rights of one scope version of an app (as publishing a
    /// new version with the same identifier would); tokens already issued
    /// follow at once.
    pub fn set_scope_rights(&self, client_id: &str, scope_id: &str, rights: &[Right]) {
        let mut inner = lock(&self.inner);
        if let Some(app) = inner.apps.get_mut(client_id) {
            let version = ScopeVersion::new(scope_id, rights);
            match app.scopes.iter_mut().find(|s| s.id == scope_id) {
                Some(s) => *s = version,
                None => app.scopes.push(version),
            }
        }
    }

    /// Replaces the legal entities an app is activated for.
    pub fn set_activated(&self, client_id: &str, legal_entities: &[i64]) {
        if let Some(app) = lock(&self.inner).apps.get_mut(client_id) {
            app.legal_entities = legal_entities.to_vec();
        }
    }

    /// Adds a valid subscription key.
    pub fn add_subscription_key(&self, key: &str) {
        lock(&self.inner).keys.insert(key.into());
    }

    /// Revokes a subscription key (as regenerating it in the portal does).
    pub fn revoke_subscription_key(&self, key: &str) -> bool {
        lock(&self.inner).keys.remove(key)
    }

    /// Ids of a legal entity's employees, in list order.
    pub fn employee_ids(&self, legal_entity: i64) -> Vec<String> {
        lock(&self.inner)
            .data
            .employees
            .iter()
            .filter(|e| e.le == legal_entity)
            .map(|e| e.id.clone())
            .collect()
    }

    /// An employee with every part, in Paycor's capitalised names.
    pub fn employee(&self, id: &str) -> Option<Value> {
        let inner = lock(&self.inner);
        let index = *inner.data.employee_index.get(id)?;
        let all: BTreeSet<Part> = PARTS.iter().map(|(_, p)| *p).collect();
        Some(employee_json(&inner.data, index, &all, false))
    }

    /// The person behind an employee with every part, in Paycor's
    /// capitalised names.
    pub fn person_of(&self, employee_id: &str) -> Option<Value> {
        let inner = lock(&self.inner);
        let index = *inner.data.employee_index.get(employee_id)?;
        let all: BTreeSet<&str> = PERSON_PARTS.iter().map(|(n, _)| *n).collect();
        Some(person_json(
            &inner.data,
            inner.data.employees[index].person,
            &all,
        ))
    }

    /// A legal entity's departments, in Paycor's capitalised names.
    pub fn departments(&self, legal_entity: i64) -> Vec<Value> {
        let inner = lock(&self.inner);
        (0..inner.data.departments.len())
            .filter(|i| inner.data.departments[*i].le == legal_entity)
            .map(|i| department_json(&inner.data, i))
            .collect()
    }

    /// How many Update Employee Contact calls changed something.
    pub fn contact_updates(&self) -> usize {
        lock(&self.inner).contact_updates
    }
}

// ---------------------------------------------------------------------------
// Errors

/// Why a request failed, in the form whoever refused it answers.
enum ApiError {
    /// The API gateway: `{"statusCode", "message"}`.
    Gateway {
        status: StatusCode,
        message: String,
        retry_after: Option<u32>,
    },
    /// A refused access token: 401, empty body.
    Unauthorized,
    /// A missing Data Access right or activation: 403, empty body.
    Forbidden,
    /// Paycor's own error body.
    Paycor {
        status: StatusCode,
        title: &'static str,
        detail: String,
        source: Option<Value>,
    },
}

impl ApiError {
    fn bad_request(detail: impl Into<String>, source: Option<Value>) -> Self {
        ApiError::Paycor {
            status: StatusCode::BAD_REQUEST,
            title: "Validation Error",
            detail: detail.into(),
            source,
        }
    }

    fn not_found(detail: impl Into<String>) -> Self {
        ApiError::Paycor {
            status: StatusCode::NOT_FOUND,
            title: "Not Found",
            detail: detail.into(),
            source: None,
        }
    }

    fn gateway(status: StatusCode, message: &str) -> Self {
        ApiError::Gateway {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    fn rate_limited(seconds: u32) -> Self {
        ApiError::Gateway {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: format!("Rate limit is exceeded. Try again in {seconds} seconds."),
            retry_after: Some(seconds),
        }
    }

    fn render(self, casing: Casing, correlation: String) -> Response {
        match self {
            ApiError::Gateway {
                status,
                message,
                retry_after,
            } => {
                let body = json!({"statusCode": status.as_u16(), "message": message});
                let mut response = (status, axum::Json(body)).into_response();
                if let Some(seconds) = retry_after {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                }
                response
            }
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
            )
                .into_response(),
            ApiError::Forbidden => StatusCode::FORBIDDEN.into_response(),
            ApiError::Paycor {
                status,
                title,
                detail,
                source,
            } => {
                // `Source` is a dictionary: ASP.NET leaves its keys (field
                // paths) as they are in either casing.
                let name = |n: &str| match casing {
                    Casing::Pascal => n.to_string(),
                    Casing::Camel => camel_case(n),
                };
                let mut body = Map::new();
                body.insert(name("CorrelationId"), json!(correlation));
                body.insert(name("Title"), json!(title));
                body.insert(name("Detail"), json!(detail));
                body.insert(name("Source"), source.unwrap_or(Value::Null));
                (status, axum::Json(Value::Object(body))).into_response()
            }
        }
    }
}

/// Marks a response with the app that was served, for the request log.
#[derive(Clone)]
struct ServedApp(String);

// ---------------------------------------------------------------------------
// Router, gateway and authentication

fn router(state: PaycorState) -> Router {
    let api = Router::new()
        .route("/v1/legalentities/{le}", get(get_legal_entity))
        .route("/v1/legalentities/{le}/employees", get(list_employees))
        .route("/v1/legalentities/{le}/departments", get(list_departments))
        .route(
            "/v1/legalentities/{le}/departments/{department}",
            get(get_department),
        )
        .route("/v1/employees/{id}", get(get_employee).put(put_employee))
        .route("/v1/employees/{id}/person", get(get_employee_person))
        .route("/v1/tenants/{tenant}/persons/{person}", get(get_person))
        .fallback(|| async {
            ApiError::gateway(StatusCode::NOT_FOUND, "Resource not found")
                .render(Casing::Camel, String::new())
        })
        .layer(middleware::from_fn_with_state(state.clone(), gateway))
        .with_state(state.clone());
    let identity = oauth::router(state.oauth.clone())
        .layer(middleware::from_fn_with_state(state, identity_gateway));
    api.merge(identity)
}

fn subscription_key(request: &Request) -> Option<String> {
    if let Some(v) = request
        .headers()
        .get("ocp-apim-subscription-key")
        .and_then(|v| v.to_str().ok())
    {
        return Some(v.to_string());
    }
    let query = request.uri().query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case("subscription-key"))
        .map(|(_, v)| v.into_owned())
}

fn record(request: &Request, key: Option<String>) -> RequestRecord {
    RequestRecord {
        method: request.method().to_string(),
        host: request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string),
        path: request.uri().path().to_string(),
        query: request.uri().query().map(str::to_string),
        subscription_key: key,
        client_id: None,
        status: 0,
    }
}

/// The API gateway in front of the API: subscription key, then rate limit,
/// then injected failures; logs every call.
async fn gateway(State(state): State<PaycorState>, request: Request, next: Next) -> Response {
    let key = subscription_key(&request);
    let mut log = record(&request, key.clone());
    let refused = {
        let mut inner = lock(&state.inner);
        match &key {
            None => Some(ApiError::gateway(
                StatusCode::UNAUTHORIZED,
                MISSING_KEY_MESSAGE,
            )),
            Some(k) if !inner.keys.contains(k) => Some(ApiError::gateway(
                StatusCode::UNAUTHORIZED,
                INVALID_KEY_MESSAGE,
            )),
            Some(k) => {
                let limited = if let Some(seconds) = inner.throttles.pop_front() {
                    Some(ApiError::rate_limited(seconds))
                } else if let Some(limit) = inner.rate_limit {
                    let now = Instant::now();
                    let window = inner.windows.entry(k.clone()).or_insert((now, 0));
                    if now.duration_since(window.0) >= limit.window {
                        *window = (now, 0);
                    }
                    if window.1 >= limit.calls {
                        let left = limit.window.saturating_sub(now.duration_since(window.0));
                        let seconds = left.as_secs() as u32 + u32::from(left.subsec_nanos() > 0);
                        Some(ApiError::rate_limited(seconds.max(1)))
                    } else {
                        window.1 += 1;
                        None
                    }
                } else {
                    None
                };
                limited.or_else(|| {
                    inner.failures.pop_front().map(|status| ApiError::Paycor {
                        status: StatusCode::from_u16(status)
                            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                        title: "Internal Server Error",
                        detail: "An unexpected error occurred.".into(),
                        source: None,
                    })
                })
            }
        }
    };
    let response = match refused {
        Some(err) => {
            let (casing, correlation) = {
                let mut inner = lock(&state.inner);
                (inner.casing, inner.new_guid(7))
            };
            err.render(casing, correlation)
        }
        None => next.run(request).await,
    };
    log.client_id = response
        .extensions()
        .get::<ServedApp>()
        .map(|a| a.0.clone());
    log.status = response.status().as_u16();
    lock(&state.inner).requests.push(log);
    response
}

/// The gateway in front of the OAuth2 server: the token endpoint needs the
/// subscription key (APIM answers without it); the consent page refuses a
/// missing or unknown `subscription-key` when so configured.
async fn identity_gateway(
    State(state): State<PaycorState>,
    request: Request,
    next: Next,
) -> Response {
    let key = subscription_key(&request);
    let mut log = record(&request, key.clone());
    let path = request.uri().path().to_string();
    let refused = {
        let inner = lock(&state.inner);
        let known = key.as_ref().is_some_and(|k| inner.keys.contains(k));
        if path == TOKEN_PATH && !known {
            let message = if key.is_none() {
                MISSING_KEY_MESSAGE
            } else {
                INVALID_KEY_MESSAGE
            };
            Some(
                ApiError::gateway(StatusCode::UNAUTHORIZED, message)
                    .render(Casing::Camel, String::new()),
            )
        } else if path == AUTHORIZE_PATH
            && request.method() == axum::http::Method::GET
            && inner.authorize_requires_key
            && !known
        {
            let page = format!(
                "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>App activation failed</title></head>\n<body><h1>App activation failed</h1><p>The subscription-key parameter is {}.</p></body></html>\n",
                if key.is_none() {
                    "missing"
                } else {
                    "not valid"
                }
            );
            Some(
                (
                    StatusCode::BAD_REQUEST,
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    page,
                )
                    .into_response(),
            )
        } else {
            None
        }
    };
    let response = match refused {
        Some(r) => r,
        None => next.run(request).await,
    };
    log.status = response.status().as_u16();
    lock(&state.inner).requests.push(log);
    response
}

/// Who is calling: the app, its rights and activations.
struct Caller {
    client_id: String,
    rights: BTreeSet<Right>,
    legal_entities: Vec<i64>,
}

impl Caller {
    fn require(&self, inner: &mut Inner, right: Right) -> Result<(), ApiError> {
        if self.rights.contains(&right) {
            Ok(())
        } else {
            inner.refusals.push(right.title().to_string());
            Err(ApiError::Forbidden)
        }
    }

    fn activated(&self, inner: &mut Inner, legal_entity: i64) -> Result<(), ApiError> {
        if self.legal_entities.contains(&legal_entity) {
            Ok(())
        } else {
            inner
                .refusals
                .push(format!("activation for legal entity {legal_entity}"));
            Err(ApiError::Forbidden)
        }
    }
}

fn admit(state: &PaycorState, inner: &Inner, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or(ApiError::Unauthorized)?;
    let info = state.oauth.validate(token).ok_or(ApiError::Unauthorized)?;
    let (rights, legal_entities) = match inner.apps.get(&info.client_id) {
        Some(app) => (
            app.scopes
                .iter()
                .filter(|s| info.scopes.contains(&s.id))
                .flat_map(|s| s.rights.iter().copied())
                .collect(),
            app.legal_entities.clone(),
        ),
        None => (BTreeSet::new(), Vec::new()),
    };
    Ok(Caller {
        client_id: info.client_id,
        rights,
        legal_entities,
    })
}

/// Authenticates, runs `handler` with the state locked and renders its
/// answer in the configured casing.
fn handle(
    state: &PaycorState,
    headers: &HeaderMap,
    handler: impl FnOnce(&mut Inner, &Caller) -> Result<(StatusCode, Value), ApiError>,
) -> Response {
    let mut inner = lock(&state.inner);
    let caller = admit(state, &inner, headers);
    let (result, client) = match caller {
        Ok(caller) => (handler(&mut inner, &caller), Some(caller.client_id)),
        Err(e) => (Err(e), None),
    };
    let casing = inner.casing;
    let mut response = match result {
        Ok((status, body)) => (status, axum::Json(with_casing(body, casing))).into_response(),
        Err(err) => {
            let correlation = inner.new_guid(7);
            err.render(casing, correlation)
        }
    };
    if let Some(client) = client {
        response.extensions_mut().insert(ServedApp(client));
    }
    response
}

// ---------------------------------------------------------------------------
// Parameters

/// Query parameters in order; names compare case-insensitively, as ASP.NET
/// binds them.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: Option<String>) -> Self {
        Self(
            url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    /// Every value of a repeated or comma-separated parameter.
    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// The query without `continuationToken` and `subscription-key`, for
    /// `AdditionalResultsUrl`.
    fn rest(&self) -> String {
        let kept: Vec<(String, String)> = self
            .0
            .iter()
            .filter(|(k, _)| {
                !k.eq_ignore_ascii_case("continuationToken")
                    && !k.eq_ignore_ascii_case("subscription-key")
            })
            .cloned()
            .collect();
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(kept)
            .finish()
    }
}

fn invalid_value(name: &str, value: &str) -> ApiError {
    ApiError::bad_request(
        "One or more validation errors occurred.",
        Some(json!({ name: format!("The value '{value}' is not valid.") })),
    )
}

fn int_path(name: &str, value: &str) -> Result<i64, ApiError> {
    value
        .parse::<i64>()
        .ok()
        .filter(|v| (1..=i64::from(i32::MAX)).contains(v))
        .ok_or_else(|| invalid_value(name, value))
}

fn guid_path(name: &str, value: &str) -> Result<String, ApiError> {
    if is_guid(value) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(invalid_value(name, value))
    }
}

/// An enum parameter in its canonical spelling (ASP.NET binds enums
/// case-insensitively).
fn enum_value<'a>(name: &str, value: &str, allowed: &[&'a str]) -> Result<&'a str, ApiError> {
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(value))
        .copied()
        .ok_or_else(|| invalid_value(name, value))
}

const STATUSES: [&str; 13] = [
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

/// The employee parts asked for, after checking the rights each needs.
fn employee_parts(
    inner: &mut Inner,
    caller: &Caller,
    query: &Query,
    rights: [Right; 4],
) -> Result<BTreeSet<Part>, ApiError> {
    let mut parts = BTreeSet::new();
    for value in query.all("include") {
        let name = enum_value(
            "include",
            &value,
            &[
                "All",
                "EmploymentDates",
                "Position",
                "Status",
                "WorkLocation",
            ],
        )?;
        if name == "All" {
            // `All` returns every part the app may see.
            for ((_, part), right) in PARTS.iter().zip(rights) {
                if caller.rights.contains(&right) {
                    parts.insert(*part);
                }
            }
            continue;
        }
        let at = PARTS.iter().position(|(n, _)| *n == name).unwrap_or(0);
        caller.require(inner, rights[at])?;
        parts.insert(PARTS[at].1);
    }
    Ok(parts)
}

fn person_parts(
    inner: &mut Inner,
    caller: &Caller,
    query: &Query,
) -> Result<BTreeSet<&'static str>, ApiError> {
    let mut allowed: Vec<&str> = vec!["All"];
    allowed.extend(PERSON_PARTS.iter().map(|(n, _)| *n));
    let mut parts = BTreeSet::new();
    for value in query.all("include") {
        let name = enum_value("include", &value, &allowed)?;
        if name == "All" {
            for (part, right) in PERSON_PARTS {
                if caller.rights.contains(&right) {
                    parts.insert(part);
                }
            }
            continue;
        }
        let (part, right) = PERSON_PARTS
            .iter()
            .find(|(n, _)| *n == name)
            .copied()
            .unwrap_or(PERSON_PARTS[0]);
        caller.require(inner, right)?;
        parts.insert(part);
    }
    Ok(parts)
}

/// One page of `items` for `route`, from the query's continuation token.
fn page(
    inner: &mut Inner,
    route: &str,
    items: Vec<Value>,
    size: usize,
    query: &Query,
) -> Result<Value, ApiError> {
    let offset = match query.get("continuationToken") {
        None => 0,
        Some(token) => match inner.cursors.get(token.trim()) {
            Some(c) if c.route == route => c.offset,
            _ => {
                return Err(ApiError::bad_request(
                    "The continuation token is not valid for this request.",
                    Some(
                        json!({"continuationToken": format!("The value '{token}' is not valid.")}),
                    ),
                ));
            }
        },
    };
    let total = items.len();
    let records: Vec<Value> = items.into_iter().skip(offset).take(size).collect();
    let more = offset + size < total;
    let (token, url) = if more {
        let token = inner.new_guid(8);
        inner.cursors.insert(
            token.clone(),
            Cursor {
                route: route.to_string(),
                offset: offset + size,
            },
        );
        let rest = query.rest();
        let url = if rest.is_empty() {
            format!("{route}?continuationToken={token}")
        } else {
            format!("{route}?continuationToken={token}&{rest}")
        };
        (Some(token), Some(url))
    } else {
        (None, None)
    };
    Ok(json!({
        "HasMoreResults": more,
        "ContinuationToken": token,
        "AdditionalResultsUrl": url,
        "Records": records,
    }))
}

fn legal_entity(inner: &Inner, id: i64) -> Result<&LegalEntityRec, ApiError> {
    inner
        .data
        .legal_entities
        .iter()
        .find(|l| l.id == id)
        .ok_or_else(|| ApiError::not_found(format!("Legal entity {id} was not found.")))
}

fn employee_index(inner: &Inner, id: &str) -> Result<usize, ApiError> {
    inner
        .data
        .employee_index
        .get(id)
        .copied()
        .ok_or_else(|| ApiError::not_found(format!("Employee {id} was not found.")))
}

// ---------------------------------------------------------------------------
// Endpoints

async fn get_legal_entity(
    State(state): State<PaycorState>,
    Path(le): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = Query::parse(raw);
    handle(&state, &headers, |inner, caller| {
        let le = int_path("legalEntityId", &le)?;
        caller.require(inner, Right::ViewLegalEntityBasicInformation)?;
        caller.activated(inner, le)?;
        let mut names = false;
        for value in query.all("include") {
            enum_value("include", &value, &["All", "BusinessNames"])?;
            names = true;
        }
        let entity = legal_entity(inner, le)?;
        Ok((
            StatusCode::OK,
            legal_entity_json(entity, &inner.data, names),
        ))
    })
}

async fn list_employees(
    State(state): State<PaycorState>,
    Path(le): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = Query::parse(raw);
    handle(&state, &headers, |inner, caller| {
        let le = int_path("legalEntityId", &le)?;
        caller.require(inner, Right::ViewLegalEntityEmployees)?;
        caller.activated(inner, le)?;
        legal_entity(inner, le)?;
        let parts = employee_parts(
            inner,
            caller,
            &query,
            [
                Right::ViewLegalEntityEmployeesEmploymentDates,
                Right::ViewLegalEntityEmployeesPosition,
                Right::ViewLegalEntityEmployeesStatus,
                Right::ViewLegalEntityEmployeesWorkLocation,
            ],
        )?;
        let home = match query.get("emailType") {
            None => false,
            Some(v) => enum_value("emailType", v, &["Work", "Home"])? == "Home",
        };
        let status = query
            .get("statusFilter")
            .map(|v| enum_value("statusFilter", v, &STATUSES))
            .transpose()?;
        let number = query
            .get("employeeNumber")
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| invalid_value("employeeNumber", v))
            })
            .transpose()?;
        let department = query
            .get("departmentCode")
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| invalid_value("departmentCode", v))
            })
            .transpose()?;
        let last_name = query.get("lastName").map(|v| v.trim().to_lowercase());
        let location = query
            .get("workLocationName")
            .map(|v| v.trim().to_lowercase());
        let data = &inner.data;
        let items: Vec<Value> = data
            .employees
            .iter()
            .enumerate()
            .filter(|(_, e)| e.le == le)
            .filter(|(_, e)| status.is_none_or(|s| e.status == s))
            .filter(|(_, e)| number.is_none_or(|n| e.number == n))
            .filter(|(_, e)| department.is_none_or(|c| data.departments[e.department].code == c))
            .filter(|(_, e)| {
                last_name
                    .as_ref()
                    .is_none_or(|l| e.last.to_lowercase() == *l)
            })
            .filter(|(_, e)| {
                location
                    .as_ref()
                    .is_none_or(|l| data.locations[&e.le][e.location].name.to_lowercase() == *l)
            })
            .map(|(i, _)| employee_json(data, i, &parts, home))
            .collect();
        let size = inner.employees_page_size;
        let body = page(
            inner,
            &format!("/v1/legalentities/{le}/employees"),
            items,
            size,
            &query,
        )?;
        Ok((StatusCode::OK, body))
    })
}

async fn list_departments(
    State(state): State<PaycorState>,
    Path(le): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = Query::parse(raw);
    handle(&state, &headers, |inner, caller| {
        let le = int_path("legalEntityId", &le)?;
        caller.require(inner, Right::ViewLegalEntityDepartmentsInformation)?;
        caller.activated(inner, le)?;
        legal_entity(inner, le)?;
        let items: Vec<Value> = (0..inner.data.departments.len())
            .filter(|i| inner.data.departments[*i].le == le)
            .map(|i| department_json(&inner.data, i))
            .collect();
        let size = inner.page_size;
        let body = page(
            inner,
            &format!("/v1/legalentities/{le}/departments"),
            items,
            size,
            &query,
        )?;
        Ok((StatusCode::OK, body))
    })
}

async fn get_department(
    State(state): State<PaycorState>,
    Path((le, department)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    handle(&state, &headers, |inner, caller| {
        let le = int_path("legalEntityId", &le)?;
        let id = guid_path("departmentId", &department)?;
        caller.require(inner, Right::ViewLegalEntityDepartmentsByDepartmentId)?;
        caller.activated(inner, le)?;
        let index = (0..inner.data.departments.len())
            .find(|i| inner.data.departments[*i].le == le && inner.data.departments[*i].id == id)
            .ok_or_else(|| ApiError::not_found(format!("Department {id} was not found.")))?;
        Ok((StatusCode::OK, department_json(&inner.data, index)))
    })
}

async fn get_employee(
    State(state): State<PaycorState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = Query::parse(raw);
    handle(&state, &headers, |inner, caller| {
        let id = guid_path("employeeId", &id)?;
        caller.require(inner, Right::ViewEmployeeInformation)?;
        let index = employee_index(inner, &id)?;
        let le = inner.data.employees[index].le;
        caller.activated(inner, le)?;
        let parts = employee_parts(
            inner,
            caller,
            &query,
            [
                Right::ViewEmployeeEmploymentDates,
                Right::ViewEmployeePosition,
                Right::ViewEmployeeStatus,
                Right::ViewEmployeeWorkLocation,
            ],
        )?;
        let home = match query.get("emailType") {
            None => false,
            Some(v) => enum_value("emailType", v, &["Work", "Home"])? == "Home",
        };
        Ok((
            StatusCode::OK,
            employee_json(&inner.data, index, &parts, home),
        ))
    })
}

async fn get_employee_person(
    State(state): State<PaycorState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = Query::parse(raw);
    handle(&state, &headers, |inner, caller| {
        let id = guid_path("employeeId", &id)?;
        caller.require(inner, Right::ViewEmployeePerson)?;
        let index = employee_index(inner, &id)?;
        let le = inner.data.employees[index].le;
        caller.activated(inner, le)?;
        let parts = person_parts(inner, caller, &query)?;
        let person = inner.data.employees[index].person;
        Ok((StatusCode::OK, person_json(&inner.data, person, &parts)))
    })
}

async fn get_person(
    State(state): State<PaycorState>,
    Path((tenant, person)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = Query::parse(raw);
    handle(&state, &headers, |inner, caller| {
        let tenant = int_path("tenantId", &tenant)?;
        let id = guid_path("personId", &person)?;
        caller.require(inner, Right::ViewPersonInformation)?;
        let in_tenant = inner
            .data
            .legal_entities
            .iter()
            .any(|l| l.tenant_id == tenant && caller.legal_entities.contains(&l.id));
        if !in_tenant {
            inner
                .refusals
                .push(format!("activation for a legal entity of tenant {tenant}"));
            return Err(ApiError::Forbidden);
        }
        let index = inner
            .data
            .person_index
            .get(&id)
            .copied()
            .filter(|i| inner.data.persons[*i].tenant_id == tenant)
            .ok_or_else(|| ApiError::not_found(format!("Person {id} was not found.")))?;
        let parts = person_parts(inner, caller, &query)?;
        Ok((StatusCode::OK, person_json(&inner.data, index, &parts)))
    })
}

/// A JSON object's properties with lowercased names, as ASP.NET binds
/// request bodies case-insensitively.
fn lower_keys(value: &Value) -> Option<Map<String, Value>> {
    Some(
        value
            .as_object()?
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect(),
    )
}

fn optional_text(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
        && !domain.contains('@')
}

/// What a valid `EmployeeContact` body changes.
struct ContactChange {
    work_email: Option<String>,
    home_email: Option<String>,
    phones: Vec<PhoneRec>,
    address: Option<AddressRec>,
}

fn parse_contact(body: &[u8]) -> Result<ContactChange, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "A non-empty request body is required.",
            Some(json!({"employeePut": format!("The request body is not valid JSON: {e}")})),
        )
    })?;
    let map = lower_keys(&value).ok_or_else(|| {
        ApiError::bad_request(
            "A non-empty request body is required.",
            Some(json!({"employeePut": "The request body must be a JSON object."})),
        )
    })?;
    let mut problems = Map::new();
    let mut email = |key: &str, name: &str| {
        let value = optional_text(&map, key)?;
        if valid_email(&value) {
            Some(value)
        } else {
            problems.insert(
                name.into(),
                json!(format!("The {name} field is not a valid e-mail address.")),
            );
            None
        }
    };
    let work_email = email("workemail", "WorkEmail");
    let home_email = email("homeemail", "HomeEmail");
    let mut phones = Vec::new();
    if let Some(list) = map.get("phones").filter(|v| !v.is_null()) {
        match list.as_array() {
            None => {
                problems.insert("Phones".into(), json!("The Phones field must be a list."));
            }
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    let Some(phone) = lower_keys(item) else {
                        problems
                            .insert(format!("Phones[{i}]"), json!("A phone must be an object."));
                        continue;
                    };
                    let kind = optional_text(&phone, "type").and_then(|t| {
                        ["Home", "Mobile", "Work"]
                            .iter()
                            .find(|k| k.eq_ignore_ascii_case(&t))
                            .map(|k| k.to_string())
                    });
                    let number = optional_text(&phone, "phonenumber");
                    match (kind, number) {
                        (Some(kind), Some(number)) => {
                            if phones.iter().any(|p: &PhoneRec| p.kind == kind) {
                                problems.insert(
                                    "Phones".into(),
                                    json!(format!("Only one {kind} phone number may be given.")),
                                );
                            }
                            phones.push(PhoneRec {
                                kind,
                                country_code: optional_text(&phone, "countrycode"),
                                area_code: optional_text(&phone, "areacode"),
                                number,
                            });
                        }
                        (None, _) => {
                            problems.insert(
                                format!("Phones[{i}].Type"),
                                json!("Type must be Home, Mobile or Work."),
                            );
                        }
                        (_, None) => {
                            problems.insert(
                                format!("Phones[{i}].PhoneNumber"),
                                json!("The PhoneNumber field is required."),
                            );
                        }
                    }
                }
            }
        }
    }
    let mut address = None;
    if let Some(raw) = map.get("primaryaddress").filter(|v| !v.is_null()) {
        match lower_keys(raw) {
            None => {
                problems.insert(
                    "PrimaryAddress".into(),
                    json!("The PrimaryAddress field must be an object."),
                );
            }
            Some(a) => {
                let street = optional_text(&a, "streetline1");
                let zip = optional_text(&a, "zipcode");
                if street.is_none() {
                    problems.insert(
                        "PrimaryAddress.StreetLine1".into(),
                        json!("The StreetLine1 field is required."),
                    );
                }
                if zip.is_none() {
                    problems.insert(
                        "PrimaryAddress.ZipCode".into(),
                        json!("The ZipCode field is required."),
                    );
                }
                if let (Some(street1), Some(zip)) = (street, zip) {
                    address = Some(AddressRec {
                        kind: "Primary".into(),
                        street1,
                        street2: optional_text(&a, "streetline2"),
                        suite: optional_text(&a, "suite"),
                        city: optional_text(&a, "city"),
                        county: optional_text(&a, "county"),
                        state: optional_text(&a, "state"),
                        zip,
                        country: optional_text(&a, "country"),
                    });
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::bad_request(
            "A validation error occurred. See the source for more information.",
            Some(Value::Object(problems)),
        ));
    }
    Ok(ContactChange {
        work_email,
        home_email,
        phones,
        address,
    })
}

async fn put_employee(
    State(state): State<PaycorState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&state, &headers, |inner, caller| {
        let id = guid_path("employeeId", &id)?;
        caller.require(inner, Right::UpdateEmployeeContact)?;
        let index = employee_index(inner, &id)?;
        let le = inner.data.employees[index].le;
        caller.activated(inner, le)?;
        let change = parse_contact(&body)?;
        let person = inner.data.employees[index].person;
        let mut changed = false;
        if let Some(email) = change.work_email {
            inner.data.employees[index].work_email = Some(email);
            changed = true;
        }
        let p = &mut inner.data.persons[person];
        if let Some(email) = change.home_email {
            p.home_email = Some(email);
            changed = true;
        }
        for phone in change.phones {
            p.phones.retain(|existing| existing.kind != phone.kind);
            p.phones.push(phone);
            changed = true;
        }
        if let Some(address) = change.address {
            p.addresses.retain(|a| a.kind != "Primary");
            p.addresses.insert(0, address);
            changed = true;
        }
        if changed {
            inner.contact_updates += 1;
        }
        Ok((
            StatusCode::CREATED,
            json!({"ResourceUrl": {"Id": id, "Url": format!("v1/employees/{id}")}}),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_deterministic_and_well_formed() {
        assert_eq!(guid(1, 2, 3), guid(1, 2, 3));
        assert_ne!(guid(1, 2, 3), guid(1, 2, 4));
        assert!(is_guid(&guid(1, 2, 3)));
        assert!(!is_guid("df5566ef-196c-0000-0000-0007d5268Sa2"));
    }

    #[test]
    fn dates_follow_the_civil_calendar() {
        assert_eq!(date(0), "1970-01-01T00:00:00Z");
        assert_eq!(date(DAY_2008), "2008-01-01T00:00:00Z");
        assert_eq!(date(DAY_1960), "1960-01-01T00:00:00Z");
        assert_eq!(date(19_782), "2024-02-29T00:00:00Z");
    }

    #[test]
    fn camel_case_matches_aspnet() {
        assert_eq!(camel_case("HasMoreResults"), "hasMoreResults");
        assert_eq!(camel_case("Id"), "id");
        assert_eq!(camel_case("ID"), "id");
        assert_eq!(camel_case("statusCode"), "statusCode");
    }

    #[test]
    fn the_demo_seed_has_hundreds_of_employees() {
        let data = seed(&Config::demo().legal_entities);
        let first = data
            .employees
            .iter()
            .filter(|e| e.le == DEMO_LEGAL_ENTITY)
            .count();
        assert_eq!(first, 480);
        assert_eq!(
            data.departments
                .iter()
                .filter(|d| d.le == DEMO_LEGAL_ENTITY)
                .count(),
            18
        );
        assert_eq!(data.employee_index.len(), 480 + 64 + 25);
        let e = &data.employees[0];
        assert_eq!(
            e.work_email.as_deref(),
            Some("james.smith1001@buckeye-outfitters.example")
        );
    }
}
