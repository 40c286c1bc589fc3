//! Paycor Public API emulator: the endpoints `connector-paycor` uses, as
//! Paycor's published OpenAPI document (`paycor-openapi.yaml`) and developer
//! guides describe them, behind an emulated API gateway, with Paycor's
//! OAuth2 server ([`crate::oauth`] with
//! [`oauth::Config::paycor`](crate::oauth::Config::paycor)) on the same
//! origin so its tokens are the ones the API accepts.
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

mod errors;
mod gateway;
mod params;
mod render;
mod routes;
mod seed;
mod state;

use crate::oauth::OAuthState;
use crate::server::Server;
use gateway::router;
pub use state::PaycorState;
use std::collections::BTreeSet;
use std::time::Duration;

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
