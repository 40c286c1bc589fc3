//! # connector-paycor
//!
//! Reads employees, persons, departments and legal entities from Paycor's
//! Public API and writes employees' contact details back.
//!
//! Paycor authenticates twice on every call: an OAuth2 access token
//! (authorization code with PKCE, refresh tokens that rotate) and the app's
//! APIM subscription key, sent as `Ocp-Apim-Subscription-Key`. The host does
//! both: the manifest declares the grant (token endpoint
//! `/sts/v1/common/token?subscription-key=…`, consent at
//! `/AppActivation/Authorize`) and the key as a secret header, so the
//! connector never sees either. Cardhost permissions mirror the app's Data
//! Access rights one to one, each allowing exactly the requests the right
//! covers.
//!
//! - [`cards`](mod@cards): the cards and their typed inputs (schemas derived from them).
//! - [`records`]: Paycor's records, as the output schemas describe them.
//! - [`api`]: Data Access rights, casing, paging and error words.
//! - [`report`]: the connection test (subscription key, token, each right).
//! - [`mod@triggers`]: Employee Changed, polled by comparing fingerprints.

pub mod api;
pub mod cards;
pub mod records;
pub mod report;
pub mod triggers;

use api::DataAccess;
use cardhost_sdk::{
    AuthMethod, AuthScheme, Cards, ConnectionReport, Connector, Context, Environment, Manifest,
    OAuth2, Permission, SecretField, Triggers, Value, cards, json, manifest, triggers,
};
use cards::*;

/// The connector. It holds no state: each invocation runs in a fresh instance.
pub struct Paycor;

/// Non-secret connection fields.
pub fn connection_schema() -> Value {
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

/// The cardhost permissions: one per Paycor Data Access right, allowing
/// exactly the method and path the right covers.
pub fn permissions() -> Vec<Permission> {
    let p = |access: DataAccess, description: &str| {
        Permission::new(access.permission(), access.title()).description(description)
    };
    vec![
        p(
            DataAccess::LegalEntityBasicInformation,
            "Read a legal entity (GET /v1/legalentities/{legalEntityId}).",
        )
        .read("/v1/legalentities/{legalEntityId}"),
        p(
            DataAccess::LegalEntityEmployees,
            "List a legal entity's employees (GET /v1/legalentities/{legalEntityId}/employees). \
             `include` values need the matching “View Legal Entity Employees …” rights in the Paycor app.",
        )
        .read("/v1/legalentities/{legalEntityId}/employees"),
        p(
            DataAccess::EmployeeInformation,
            "Read one employee (GET /v1/employees/{employeeId}). `include` values need the matching \
             “View Employee …” rights in the Paycor app.",
        )
        .read("/v1/employees/{employeeId}"),
        p(
            DataAccess::EmployeePerson,
            "Read the person behind an employee (GET /v1/employees/{employeeId}/person).",
        )
        .read("/v1/employees/{employeeId}/person"),
        p(
            DataAccess::PersonInformation,
            "Read a person by tenant and person id (GET /v1/tenants/{tenantId}/persons/{personId}).",
        )
        .read("/v1/tenants/{tenantId}/persons/{personId}"),
        p(
            DataAccess::LegalEntityDepartments,
            "List a legal entity's departments (GET /v1/legalentities/{legalEntityId}/departments).",
        )
        .read("/v1/legalentities/{legalEntityId}/departments"),
        p(
            DataAccess::LegalEntityDepartment,
            "Read one department (GET /v1/legalentities/{legalEntityId}/departments/{departmentId}).",
        )
        .read("/v1/legalentities/{legalEntityId}/departments/{departmentId}"),
        p(
            DataAccess::UpdateEmployeeContact,
            "Change an employee's emails, phones and primary address (PUT /v1/employees/{employeeId}). \
             A write: not granted to new connections unless asked for.",
        )
        .write("/v1/employees/{employeeId}")
        .not_granted_by_default(),
    ]
}

fn auth() -> AuthMethod {
    let oauth = OAuth2::new(
        "https://{api_host}/sts/v1/common/token?subscription-key={secret.subscription_key}",
    )
    .scope("{scope_id}")
    .scope("offline_access");
    AuthMethod::new(
        "authorization-code",
        "Paycor app (OAuth2 authorization code)",
        AuthScheme::OAuth2AuthorizationCode {
            oauth2: oauth,
            authorize_url: "https://{authorize_host}/AppActivation/Authorize".into(),
            authorize_params: vec![(
                "subscription-key".into(),
                "{secret.subscription_key}".into(),
            )],
        },
    )
    .secret(
        SecretField::new("client_secret", "Client secret").description(
            "The Application OAuth Client Secret Paycor's Developer Portal showed when the app was created.",
        ),
    )
    .secret(
        SecretField::new("subscription_key", "APIm subscription key").description(
            "The APIm Subscription Key on the app's Security Connections tab. cardhost sends it as \
             `Ocp-Apim-Subscription-Key` on every call and as `subscription-key` to the token and \
             consent endpoints.",
        ),
    )
    .secret_header("Ocp-Apim-Subscription-Key", "subscription_key")
}

impl Connector for Paycor {
    const CARDS: Cards = cards![
        ListEmployees,
        ReadEmployee,
        ReadPerson,
        ListDepartments,
        ReadDepartment,
        ReadLegalEntity,
        UpdateEmployeeContact,
    ];
    const TRIGGERS: Triggers = triggers![triggers::EmployeeChanged];

    fn manifest() -> Manifest {
        manifest!("paycor", "Paycor")
            .description(
                "Reads employees, persons, departments and legal entities from Paycor and updates \
                 employees' contact details. Connects a Paycor app (Developer Portal) with OAuth2 \
                 and its APIm subscription key; cardhost permissions mirror the app's Data Access.",
            )
            .connection_schema(connection_schema())
            .default_header("Accept", "application/json")
            .auth(auth())
            .environment(
                Environment::new("sandbox", "https://{api_host}")
                    .when("sandbox", "true")
                    .var("api_host", "apis-sandbox.paycor.com")
                    .var("authorize_host", "hcm-demo.paycor.com")
                    .auth_host("https://{api_host}")
                    .auth_host("https://{authorize_host}"),
            )
            .environment(
                Environment::new("production", "https://{api_host}")
                    .var("api_host", "apis.paycor.com")
                    .var("authorize_host", "hcm.paycor.com")
                    .auth_host("https://{api_host}")
                    .auth_host("https://{authorize_host}"),
            )
            .permissions(permissions())
            .cards(Self::CARDS)
    }

    fn test_connection(ctx: &Context) -> ConnectionReport {
        report::test_connection(ctx)
    }
}

cardhost_sdk::export_connector!(Paycor);

#[cfg(test)]
mod tests {
    use super::*;
    use cardhost_sdk::http::{Method, Request, Response};
    use cardhost_sdk::testing::{check_manifest, invoke, mock_http};
    use cardhost_sdk::{Error, Result, serde_json};
    use std::cell::RefCell;
    use std::rc::Rc;

    fn ctx() -> Context {
        let mut ctx = Context::for_test(json!({
            "sandbox": true, "client_id": "c18bff6c9097ade7f726",
            "scope_id": "e5aba9ee3b1cf1119a496045bd492bf4", "legal_entity_id": 398334
        }));
        ctx.permissions = DataAccess::ALL
            .iter()
            .map(|a| a.permission().to_string())
            .collect();
        ctx
    }

    fn reply(status: u16, body: Value) -> Result<Response> {
        Ok(Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        })
    }

    fn query(req: &Request, name: &str) -> Vec<String> {
        req.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// `total` employees in pages of `size`, tokens `t<offset>`, in the
    /// capitalised casing of Paycor's published spec.
    fn serve_pages(total: usize, size: usize, seen: Rc<RefCell<Vec<Request>>>) {
        mock_http(move |req| {
            seen.borrow_mut().push(req.clone());
            let offset: usize = query(req, "continuationToken")
                .first()
                .map(|t| t.trim_start_matches('t').parse().unwrap())
                .unwrap_or(0);
            let records: Vec<Value> = (offset..total.min(offset + size))
                .map(|i| json!({"Id": format!("e-{i}"), "FirstName": "A", "LastName": "B"}))
                .collect();
            let more = offset + size < total;
            reply(
                200,
                json!({
                    "HasMoreResults": more,
                    "ContinuationToken": more.then(|| format!("t{}", offset + size)),
                    "AdditionalResultsUrl": null,
                    "Records": records
                }),
            )
        });
    }

    #[test]
    fn the_manifest_passes_the_hosts_checks() {
        check_manifest::<Paycor>();
    }

    #[test]
    fn manifest_mirrors_paycor_data_access() {
        let m = Paycor::manifest();
        assert_eq!(m.id, "paycor");
        assert_eq!(m.permissions.len(), 8);
        for access in DataAccess::ALL {
            let p = m
                .permissions
                .iter()
                .find(|p| p.id == access.permission())
                .unwrap();
            assert_eq!(p.title, access.title());
            assert_eq!(p.rules.len(), 1);
            assert_eq!(p.granted_by_default, !access.writes());
        }
        for card in &m.cards {
            assert_eq!(
                card.input_schema["additionalProperties"], false,
                "{}",
                card.id
            );
            for p in &card.permissions {
                assert!(m.permissions.iter().any(|d| &d.id == p), "{p}");
            }
        }
        let auth = &m.auth_methods[0];
        assert_eq!(
            auth.headers,
            vec![(
                "Ocp-Apim-Subscription-Key".to_string(),
                "{secret.subscription_key}".to_string()
            )]
        );
        match &auth.scheme {
            AuthScheme::OAuth2AuthorizationCode {
                oauth2,
                authorize_url,
                authorize_params,
            } => {
                assert!(
                    oauth2
                        .token_url
                        .ends_with("?subscription-key={secret.subscription_key}")
                );
                assert_eq!(oauth2.scopes, ["{scope_id}", "offline_access"]);
                assert_eq!(
                    authorize_url,
                    "https://{authorize_host}/AppActivation/Authorize"
                );
                assert_eq!(authorize_params[0].0, "subscription-key");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(m.environments[0].when, [("sandbox".into(), "true".into())]);
        assert!(m.environments[1].when.is_empty());
    }

    #[test]
    fn list_employees_walks_continuation_tokens_up_to_the_limit() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        serve_pages(450, 100, seen.clone());
        let out = invoke::<Paycor>(
            "list-employees",
            json!({"limit": 250, "status": "Active", "include": ["Status", "Position"], "email_type": "Home"}),
            &ctx(),
        )
        .unwrap();
        assert_eq!(out["count"], 250);
        assert_eq!(out["employees"][249]["id"], "e-249");
        assert_eq!(out["employees"][0]["firstName"], "A", "camelCased");
        assert_eq!(out["has_more"], true);
        assert_eq!(
            out["continuation_token"],
            Value::Null,
            "ended inside a page"
        );
        assert_eq!(out["pages"], 3);
        let seen = seen.borrow();
        assert_eq!(seen[0].url, "/v1/legalentities/398334/employees");
        assert_eq!(query(&seen[0], "include"), ["Status", "Position"]);
        assert_eq!(query(&seen[0], "statusFilter"), ["Active"]);
        assert_eq!(query(&seen[0], "emailType"), ["Home"]);
        assert!(query(&seen[0], "continuationToken").is_empty());
        assert_eq!(query(&seen[2], "continuationToken"), ["t200"]);
        assert_eq!(
            query(&seen[2], "statusFilter"),
            ["Active"],
            "filters repeat"
        );
    }

    #[test]
    fn a_limit_on_a_page_boundary_returns_the_next_token() {
        serve_pages(450, 100, Rc::default());
        let out = invoke::<Paycor>("list-employees", json!({"limit": 200}), &ctx()).unwrap();
        assert_eq!(out["continuation_token"], "t200");
        assert_eq!(out["has_more"], true);
        serve_pages(450, 100, Rc::default());
        let rest = invoke::<Paycor>(
            "list-employees",
            json!({"continuation_token": "t200"}),
            &ctx(),
        )
        .unwrap();
        assert_eq!(rest["count"], 250);
        assert_eq!(rest["employees"][0]["id"], "e-200");
        assert_eq!(rest["has_more"], false);
        assert_eq!(rest["continuation_token"], Value::Null);
    }

    #[test]
    fn one_page_returns_the_token_of_the_next() {
        serve_pages(450, 100, Rc::default());
        let out = invoke::<Paycor>(
            "list-employees",
            json!({"one_page": true, "continuation_token": "t400"}),
            &ctx(),
        )
        .unwrap();
        assert_eq!(out["count"], 50);
        assert_eq!(out["has_more"], false);
        assert_eq!(out["pages"], 1);
        mock_http(|_| panic!("no request"));
        let err = invoke::<Paycor>(
            "list-employees",
            json!({"one_page": true, "limit": 5}),
            &ctx(),
        );
        assert!(matches!(err, Err(Error::InvalidInput(m)) if m.contains("not both")));
    }

    #[test]
    fn reads_use_their_paths_and_normalise_casing() {
        mock_http(|req| {
            let body = match req.url.as_str() {
                "/v1/employees/e-1" => {
                    assert_eq!(query(req, "include"), ["All"]);
                    json!({"Id": "e-1", "Email": {"Type": "Work", "EmailAddress": "a@b.example"}})
                }
                "/v1/employees/e-1/person" => json!({"id": "p-1", "firstName": "Ann"}),
                "/v1/tenants/421504/persons/p-1" => {
                    assert_eq!(query(req, "include"), ["Phones", "Addresses"]);
                    json!({"Id": "p-1", "Phones": [{"AreaCode": "513"}]})
                }
                "/v1/legalentities/398334/departments/d-1" => json!({"Id": "d-1", "Code": "100"}),
                "/v1/legalentities/7" => {
                    json!({"Id": 7, "Name": "Other LLC", "Tenant": {"Id": "421504"}})
                }
                other => panic!("unexpected {other}"),
            };
            reply(200, body)
        });
        let e = invoke::<Paycor>(
            "read-employee",
            json!({"employee_id": "e-1", "include": ["All"]}),
            &ctx(),
        )
        .unwrap();
        assert_eq!(e["email"]["emailAddress"], "a@b.example");
        let p = invoke::<Paycor>("read-person", json!({"employee_id": "e-1"}), &ctx()).unwrap();
        assert_eq!(p["firstName"], "Ann");
        let p = invoke::<Paycor>(
            "read-person",
            json!({"tenant_id": 421504, "person_id": "p-1", "include": ["Phones", "Addresses"]}),
            &ctx(),
        )
        .unwrap();
        assert_eq!(p["phones"][0]["areaCode"], "513");
        let d =
            invoke::<Paycor>("read-department", json!({"department_id": "d-1"}), &ctx()).unwrap();
        assert_eq!(d["code"], "100");
        let le =
            invoke::<Paycor>("read-legal-entity", json!({"legal_entity_id": 7}), &ctx()).unwrap();
        assert_eq!(le["tenant"]["id"], "421504");
    }

    #[test]
    fn not_found_names_the_subject() {
        mock_http(|_| {
            reply(
                404,
                json!({"correlationId": "c", "title": "Not Found", "detail": "Employee was not found."}),
            )
        });
        match invoke::<Paycor>("read-employee", json!({"employee_id": "nope-1"}), &ctx()) {
            Err(Error::NotFound(m)) => {
                assert_eq!(
                    m,
                    "Paycor has no employee `nope-1` (Employee was not found.)"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn update_contact_sends_only_the_given_fields_in_paycor_casing() {
        let seen = Rc::new(RefCell::new(None));
        let s = seen.clone();
        mock_http(move |req| {
            assert_eq!(req.method, Method::Put);
            assert_eq!(req.url, "/v1/employees/e-1");
            *s.borrow_mut() =
                Some(serde_json::from_slice::<Value>(req.body.as_ref().unwrap()).unwrap());
            reply(
                201,
                json!({"ResourceUrl": {"Id": "e-1", "Url": "v1/employees/e-1"}}),
            )
        });
        let out = invoke::<Paycor>(
            "update-employee-contact",
            json!({
                "employee_id": "e-1",
                "work_email": "ann@acme.example",
                "phones": [{"type": "Mobile", "country_code": "+1", "area_code": "513", "number": "555-2300"}],
                "primary_address": {"street_line1": "4811 Montgomery Road", "state": "oh", "zip_code": "45212"}
            }),
            &ctx(),
        )
        .unwrap();
        assert_eq!(
            out["updated"],
            json!(["work_email", "phones", "primary_address"])
        );
        assert_eq!(out["resource"]["id"], "e-1");
        assert_eq!(
            seen.borrow().clone().unwrap(),
            json!({
                "WorkEmail": "ann@acme.example",
                "Phones": [{"Type": "Mobile", "CountryCode": "1", "AreaCode": "513", "PhoneNumber": "555-2300"}],
                "PrimaryAddress": {"StreetLine1": "4811 Montgomery Road", "State": "OH", "ZipCode": "45212"}
            })
        );
    }

    #[test]
    fn update_contact_refuses_duplicate_phone_types_before_sending() {
        mock_http(|_| panic!("no request"));
        let err = invoke::<Paycor>(
            "update-employee-contact",
            json!({"employee_id": "e-1", "phones": [
                {"type": "Home", "number": "555-0100"}, {"type": "Home", "number": "555-0101"}
            ]}),
            &ctx(),
        );
        assert!(matches!(err, Err(Error::InvalidInput(m)) if m.contains("two `Home`")));
    }
}
