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
//! - [`cards`](mod@cards): the cards and their typed inputs (schemas derived from them).
//! - [`records`]: Advanced HR's records, as the output schemas describe them.
//! - [`api`]: paths, paging and error words of the contract.
//! - [`report`]: the connection test, one check per data area.
//! - [`mod@triggers`]: Employee Changed, polled on `updatedSince`.

pub mod api;
pub mod cards;
pub mod records;
pub mod report;
pub mod triggers;

use api::TENANT_PATHS;
use cardhost_sdk::{
    AuthMethod, AuthScheme, Cards, ConnectionReport, Connector, Context, Environment, Manifest,
    OAuth2, Permission, SecretField, Triggers, Value, cards, json, manifest, triggers,
};
use cards::*;

/// The connector. It holds no state: each invocation runs in a fresh instance.
pub struct AdvancedHr;

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
pub fn connection_schema() -> Value {
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

/// The permissions: one per data area, and one for tenant-specific paths.
pub fn permissions() -> Vec<Permission> {
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

/// OAuth2 client credentials of an Advanced HR API client.
fn auth() -> AuthMethod {
    AuthMethod::new(
        "client-credentials",
        "API client (OAuth2 client credentials)",
        AuthScheme::OAuth2ClientCredentials(OAuth2::new("{token_url}")),
    )
    .secret(
        SecretField::new("client_secret", "Client secret").description(
            "The secret Advanced HR showed once when the API client was created. It cannot be \
             edited: if it is lost or compromised, delete the client in Advanced HR, create a new \
             one, then replace this secret (and the client id) on the connection.",
        ),
    )
}

impl Connector for AdvancedHr {
    const CARDS: Cards = cards![
        ListEmployees,
        ReadEmployee,
        SearchEmployees,
        ListDepartments,
        ListPositions,
    ];
    const TRIGGERS: Triggers = triggers![triggers::EmployeeChanged];

    fn manifest() -> Manifest {
        manifest!("advanced-hr", "Advanced HR")
            .description(
                "Reads employees, departments and positions from Advanced HR (OneAdvanced) with an \
                 API client's OAuth2 client credentials. The client's Advanced HR security group \
                 decides which data, and which sensitive fields, it may read.",
            )
            .connection_schema(connection_schema())
            .auth(auth())
            .environment(Environment::new("default", "{api_base_url}").auth_host("{token_url}"))
            .permissions(permissions())
            .cards(Self::CARDS)
    }

    fn test_connection(ctx: &Context) -> ConnectionReport {
        report::test_connection(ctx)
    }
}

cardhost_sdk::export_connector!(AdvancedHr);

#[cfg(test)]
mod tests {
    use super::*;
    use cardhost_sdk::http::Request;
    use cardhost_sdk::http::Response;
    use cardhost_sdk::testing::mock_http;
    use cardhost_sdk::testing::{check_manifest, invoke};
    use cardhost_sdk::{Error, Result};
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
        let out = invoke::<AdvancedHr>(
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
        let out = invoke::<AdvancedHr>(
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
        let out = invoke::<AdvancedHr>("list-employees", json!({"page": 1}), &ctx()).unwrap();
        assert_eq!(out["has_more"], true);
    }

    #[test]
    fn list_employees_checks_what_the_schema_cannot() {
        mock_http(|_| panic!("no request for bad input"));
        let err = invoke::<AdvancedHr>("list-employees", json!({"page": 1, "limit": 5}), &ctx());
        assert!(matches!(err, Err(Error::InvalidInput(m)) if m.contains("not both")));
        let err = invoke::<AdvancedHr>(
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
        match invoke::<AdvancedHr>("list-employees", json!({}), &ctx()) {
            Err(Error::Forbidden(m)) => {
                assert!(m.contains("Org Structure"), "{m}");
                assert!(m.contains("Advanced HR administrator"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_manifest_passes_the_hosts_checks() {
        check_manifest::<AdvancedHr>();
    }

    #[test]
    fn read_employee_encodes_the_id_and_maps_404() {
        mock_http(|req| {
            assert_eq!(req.url, "/employees/10%2042");
            reply(
                404,
                json!({"status": 404, "error": "not_found", "message": "no employee with id `10 42`"}),
            )
        });
        let err = invoke::<AdvancedHr>("read-employee", json!({"employee_id": "10 42"}), &ctx());
        assert!(matches!(err, Err(Error::NotFound(m)) if m.contains("10 42")));

        mock_http(|req| {
            assert_eq!(req.url, "/employees/10042");
            reply(
                200,
                json!({"id": "10042", "firstName": "Priya", "lastName": "Patel", "status": "Active"}),
            )
        });
        let out = invoke::<AdvancedHr>("read-employee", json!({"employee_id": " 10042 "}), &ctx())
            .unwrap();
        assert_eq!(out["firstName"], "Priya");

        let err = invoke::<AdvancedHr>("read-employee", json!({"employee_id": "search"}), &ctx());
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
        let out = invoke::<AdvancedHr>(
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
        let err = invoke::<AdvancedHr>("list-positions", json!({}), &c);
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
            invoke::<AdvancedHr>("list-positions", json!({"department_id": "DEP002"}), &c).unwrap();
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
        match invoke::<AdvancedHr>("list-departments", json!({}), &ctx()) {
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
        let err = invoke::<AdvancedHr>("list-departments", json!({}), &ctx());
        assert_eq!(
            err.unwrap_err(),
            Error::RateLimited {
                message: "slow down".into(),
                retry_after_seconds: Some(12)
            }
        );
    }
}
