//! # connector-smarthr
//!
//! Reads and writes SmartHR, the Japanese HR and labour platform: employees
//! (SmartHR calls them *crews*), user accounts, departments, employment
//! types, job titles, business establishments and custom fields.
//!
//! A connection names its tenant (the subdomain of `{tenant_id}.smarthr.jp`,
//! or `{tenant_id}.daruma.space` for a sandbox) and holds an access token
//! issued in SmartHR, which the host sends as a bearer token. Permissions
//! mirror SmartHR's own per-endpoint rights, so a connection can be granted
//! exactly what its token may do (e.g. reads only).
//!
//! - [`cards`](mod@cards): the cards and their typed inputs (schemas derived from them).
//! - [`records`]: SmartHR's records, as the output schemas describe them.
//! - [`api`]: paths, paging and SmartHR's error bodies.
//! - [`report`]: the connection test, one check per resource.
//! - [`triggers`](mod@triggers): Employee Created, Updated and Deleted, by
//!   SmartHR's webhooks (registered through the API with the
//!   `webhooks-manage` permission), with a polling fallback on `created_at`
//!   and `updated_at`.

pub mod api;
pub mod cards;
pub mod records;
pub mod report;
pub mod triggers;

use api::Resource;
use cardhost_sdk::{
    AuthMethod, Cards, ConnectionReport, Connector, Context, Environment, Manifest, Permission,
    SecretField, Triggers, Value, cards, json, manifest, triggers,
};
use cards::*;

/// The connector. It holds no state: each invocation runs in a fresh instance.
pub struct SmartHr;

/// A SmartHR tenant id: the subdomain of `{tenant_id}.smarthr.jp`, one DNS
/// label of lowercase letters, digits and inner hyphens. Anything else (a dot,
/// a slash, `@`, a port) could move requests to another host or path.
pub const TENANT_ID_PATTERN: &str = "^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$";

/// Non-secret connection fields.
pub fn connection_schema() -> Value {
    json!({
        "type": "object",
        "required": ["account_type", "tenant_id"],
        "additionalProperties": false,
        "properties": {
            "account_type": {
                "type": "string",
                "title": "Account type",
                "enum": ["production", "sandbox"],
                "default": "production",
                "description": "`production` for a tenant on smarthr.jp, `sandbox` for a development tenant on daruma.space."
            },
            "tenant_id": {
                "type": "string",
                "title": "Tenant ID",
                "minLength": 1,
                "maxLength": 63,
                "pattern": TENANT_ID_PATTERN,
                "description": "The subdomain of your SmartHR address: `acme` for https://acme.smarthr.jp \
                    (or https://acme.daruma.space for a sandbox). Lowercase letters, digits and hyphens only.",
                "examples": ["acme"]
            }
        }
    })
}

/// The permissions, exactly SmartHR's per-endpoint rights. Managing
/// webhooks is not granted by default: it lets a connection register where
/// SmartHR sends employee data.
pub fn permissions() -> Vec<Permission> {
    let read = |resource: Resource, what: &str| {
        let path = resource.path();
        Permission::new(resource.read_permission(), &format!("{path}: read"))
            .description(&format!("{what} (GET {path})."))
            .read(path)
    };
    vec![
        read(Resource::Users, "List SmartHR user accounts, with their crews"),
        Permission::new("crews-read", "/api/v1/crews: read")
            .description("Search and read employees (GET /api/v1/crews, /api/v1/crews/{id}).")
            .read("/api/v1/crews")
            .read("/api/v1/crews/*"),
        Permission::new("crews-write", "/api/v1/crews: write")
            .description(
                "Create, update and delete employees (POST /api/v1/crews, PATCH and DELETE /api/v1/crews/{id}).",
            )
            .write("/api/v1/crews")
            .write("/api/v1/crews/*"),
        read(Resource::BizEstablishments, "List business establishments"),
        read(Resource::EmploymentTypes, "List employment types"),
        read(Resource::Departments, "List departments"),
        read(Resource::JobTitles, "List job titles"),
        read(Resource::CustomFieldTemplates, "List employee custom fields"),
        read(Resource::CustomFieldTemplateGroups, "List employee custom field groups"),
        Permission::new(triggers::WEBHOOKS_MANAGE, "/api/v1/webhooks: read and write")
            .description(
                "List, register, update and remove webhooks (GET and POST /api/v1/webhooks, PATCH and \
                 DELETE /api/v1/webhooks/{id}), so the Employee Created, Updated and Deleted triggers \
                 register themselves. Without it, the URL and token are shown to paste into SmartHR.",
            )
            .read_write(triggers::WEBHOOKS_PATH)
            .read_write(&format!("{}/*", triggers::WEBHOOKS_PATH))
            .not_granted_by_default(),
    ]
}

impl Connector for SmartHr {
    const CARDS: Cards = cards![
        ListBizEstablishments,
        ListCustomFieldGroups,
        ListCustomFields,
        ListDepartments,
        ListEmploymentTypes,
        ListJobTitles,
        ReadEmployee,
        SearchEmployees,
        CreateEmployee,
        UpdateEmployee,
        DeleteEmployee,
        ListUsers,
    ];

    const TRIGGERS: Triggers = triggers![
        triggers::EmployeeCreated,
        triggers::EmployeeUpdated,
        triggers::EmployeeDeleted,
    ];

    fn manifest() -> Manifest {
        let token = SecretField::new("access_token", "Access token").description(
            "An access token issued in SmartHR (共通設定 → API アクセストークン). It acts with the rights \
             it was issued with; a read-only token cannot create, update or delete employees.",
        );
        manifest!("smarthr", "SmartHR")
            .description(
                "Reads and writes SmartHR: employees (crews), user accounts, departments, employment types, \
                 job titles, business establishments and custom fields, with an access token of a production \
                 (smarthr.jp) or sandbox (daruma.space) tenant.",
            )
            .connection_schema(connection_schema())
            .auth(AuthMethod::bearer("access-token", "Access token", token))
            .environment(
                Environment::new("sandbox", "https://{tenant_id}.daruma.space")
                    .when("account_type", "sandbox"),
            )
            .environment(
                Environment::new("production", "https://{tenant_id}.smarthr.jp")
                    .when("account_type", "production"),
            )
            .permissions(permissions())
            .cards(Self::CARDS)
    }

    fn test_connection(ctx: &Context) -> ConnectionReport {
        report::test_connection(ctx)
    }
}

cardhost_sdk::export_connector!(SmartHr);

#[cfg(test)]
mod tests {
    use super::*;
    use cardhost_sdk::http::{Method, Request, Response};
    use cardhost_sdk::testing::{check_manifest, invoke, json as answer, mock_http};
    use cardhost_sdk::{Error, Result, parse_input, serde_json};
    use std::cell::RefCell;
    use std::rc::Rc;

    fn reply(status: u16, headers: &[(&str, String)], body: Value) -> Result<Response> {
        let mut response = answer(status, body)?;
        for (name, value) in headers {
            response = response.with_header(name, value.clone());
        }
        Ok(response)
    }

    #[test]
    fn the_manifest_passes_the_hosts_checks() {
        check_manifest::<SmartHr>();
    }

    fn query(req: &Request, name: &str) -> Option<String> {
        req.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// Serves `total` numbered records at `path` the way SmartHR pages them.
    fn serve_pages(path: &'static str, total: usize, seen: Rc<RefCell<Vec<Request>>>) {
        mock_http(move |req| {
            seen.borrow_mut().push(req.clone());
            assert_eq!(req.url, path);
            let page: usize = query(req, "page").unwrap().parse().unwrap();
            let per_page: usize = query(req, "per_page").unwrap().parse().unwrap();
            let last = total.div_ceil(per_page).max(1);
            let items: Vec<Value> = (0..total)
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|i| json!({"id": format!("id-{i}"), "name": format!("n{i}"), "type": "string", "group_id": if i % 2 == 0 { "g-even" } else { "g-odd" }}))
                .collect();
            let link = |p: usize, rel: &str| {
                format!(
                    "<https://acme.smarthr.jp{path}?page={p}&per_page={per_page}>; rel=\"{rel}\""
                )
            };
            let mut links = vec![link(1, "first")];
            if page > 1 {
                links.push(link(page - 1, "prev"));
            }
            if page < last {
                links.push(link(page + 1, "next"));
            }
            links.push(link(last, "last"));
            reply(
                200,
                &[
                    ("link", links.join(", ")),
                    ("x-total-count", total.to_string()),
                ],
                Value::Array(items),
            )
        });
    }

    #[test]
    fn permissions_are_smarthrs_table() {
        let m = SmartHr::manifest();
        let rules: Vec<(String, Vec<(bool, String)>)> = m
            .permissions
            .iter()
            .map(|p| {
                (
                    p.id.clone(),
                    p.rules
                        .iter()
                        .map(|r| {
                            (
                                r.access.contains(&cardhost_sdk::Access::Write),
                                r.path.clone(),
                            )
                        })
                        .collect(),
                )
            })
            .collect();
        let expect = |id: &str, write: bool, paths: &[&str]| {
            let found = rules.iter().find(|(p, _)| p == id).unwrap();
            let want: Vec<(bool, String)> = paths.iter().map(|p| (write, p.to_string())).collect();
            assert_eq!(found.1, want, "{id}");
        };
        expect("users-read", false, &["/api/v1/users"]);
        expect("crews-read", false, &["/api/v1/crews", "/api/v1/crews/*"]);
        expect("crews-write", true, &["/api/v1/crews", "/api/v1/crews/*"]);
        expect(
            "biz-establishments-read",
            false,
            &["/api/v1/biz_establishments"],
        );
        expect(
            "employment-types-read",
            false,
            &["/api/v1/employment_types"],
        );
        expect("departments-read", false, &["/api/v1/departments"]);
        expect("job-titles-read", false, &["/api/v1/job_titles"]);
        expect(
            "crew-custom-field-templates-read",
            false,
            &["/api/v1/crew_custom_field_templates"],
        );
        expect(
            "crew-custom-field-template-groups-read",
            false,
            &["/api/v1/crew_custom_field_template_groups"],
        );
        let webhooks = m
            .permissions
            .iter()
            .find(|p| p.id == "webhooks-manage")
            .unwrap();
        let access: Vec<(Vec<cardhost_sdk::Access>, &str)> = webhooks
            .rules
            .iter()
            .map(|r| (r.access.clone(), r.path.as_str()))
            .collect();
        let both = vec![cardhost_sdk::Access::Read, cardhost_sdk::Access::Write];
        assert_eq!(
            access,
            [
                (both.clone(), "/api/v1/webhooks"),
                (both, "/api/v1/webhooks/*")
            ]
        );
        assert!(!webhooks.granted_by_default);
        assert!(
            m.permissions
                .iter()
                .filter(|p| p.id != "webhooks-manage")
                .all(|p| p.granted_by_default)
        );
        assert_eq!(rules.len(), 10);
        for card in &m.cards {
            assert_eq!(
                card.input_schema["additionalProperties"], false,
                "{}",
                card.id
            );
            assert!(!card.permissions.is_empty(), "{}", card.id);
        }
        let writers: Vec<&str> = m
            .cards
            .iter()
            .filter(|c| c.permissions.iter().any(|p| p == "crews-write"))
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(
            writers,
            ["create-employee", "update-employee", "delete-employee"]
        );
    }

    #[test]
    fn environments_follow_the_account_type() {
        let m = SmartHr::manifest();
        let envs: Vec<String> = m
            .environments
            .iter()
            .map(|e| format!("{} {} {:?}", e.id, e.base_url, e.when))
            .collect();
        assert_eq!(
            envs,
            [
                r#"sandbox https://{tenant_id}.daruma.space [("account_type", "sandbox")]"#,
                r#"production https://{tenant_id}.smarthr.jp [("account_type", "production")]"#,
            ]
        );
    }

    #[test]
    fn walking_pages_follows_link_until_the_last() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        serve_pages("/api/v1/departments", 45, seen.clone());
        let out = invoke::<SmartHr>(
            "list-departments",
            json!({"per_page": 10}),
            &Context::for_test(json!({})),
        )
        .unwrap();
        assert_eq!(out["departments"].as_array().unwrap().len(), 45);
        assert_eq!(out["departments"][44]["id"], "id-44");
        assert_eq!(out["total_count"], 45);
        assert_eq!(out["has_more"], false);
        assert_eq!(out["page"], Value::Null);
        let pages: Vec<String> = seen
            .borrow()
            .iter()
            .map(|r| query(r, "page").unwrap())
            .collect();
        assert_eq!(pages, ["1", "2", "3", "4", "5"]);
    }

    #[test]
    fn a_limit_stops_the_walk_and_reports_more() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        serve_pages("/api/v1/job_titles", 45, seen.clone());
        let out = invoke::<SmartHr>(
            "list-job-titles",
            json!({"per_page": 10, "limit": 20}),
            &Context::for_test(json!({})),
        )
        .unwrap();
        assert_eq!(out["job_titles"].as_array().unwrap().len(), 20);
        assert_eq!(out["has_more"], true);
        assert_eq!(seen.borrow().len(), 2);
    }

    #[test]
    fn one_page_is_one_request() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        serve_pages("/api/v1/employment_types", 45, seen.clone());
        let out = invoke::<SmartHr>(
            "list-employment-types",
            json!({"page": 5, "per_page": 10}),
            &Context::for_test(json!({})),
        )
        .unwrap();
        assert_eq!(out["employment_types"].as_array().unwrap().len(), 5);
        assert_eq!(out["has_more"], false);
        assert_eq!(out["page"], 5);
        assert_eq!(seen.borrow().len(), 1);
    }

    #[test]
    fn custom_fields_of_one_group_are_kept_across_pages() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        serve_pages("/api/v1/crew_custom_field_templates", 25, seen.clone());
        let out = invoke::<SmartHr>(
            "list-custom-fields",
            json!({"per_page": 10, "group_id": "g-odd"}),
            &Context::for_test(json!({})),
        )
        .unwrap();
        let fields = out["custom_fields"].as_array().unwrap();
        assert_eq!(fields.len(), 12);
        assert!(fields.iter().all(|f| f["group_id"] == "g-odd"));
        assert_eq!(out["total_count"], 12);
        assert_eq!(seen.borrow().len(), 3);
        assert_eq!(query(&seen.borrow()[0], "embed"), None);
    }

    #[test]
    fn search_sends_every_filter_and_always_asks_for_id() {
        let input: SearchEmployeesInput = parse_input(json!({
            "emp_code": "00012", "emp_type": "full_timer", "emp_status": "employed",
            "gender": "female", "sort": "emp_status,-updated_at",
            "entered_at_from": "2020-04-01", "entered_at_to": "2024-03-31",
            "q": "山田", "fields": ["emp_code", "last_name"]
        }))
        .unwrap();
        let q = search_query(&input).unwrap();
        let names: Vec<&str> = q.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "emp_code",
                "emp_type",
                "emp_status",
                "gender",
                "sort",
                "entered_at_from",
                "entered_at_to",
                "q",
                "fields"
            ]
        );
        assert_eq!(q.last().unwrap().1, "id,emp_code,last_name");
        let backwards: SearchEmployeesInput =
            parse_input(json!({"entered_at_from": "2024-01-01", "entered_at_to": "2023-01-01"}))
                .unwrap();
        assert!(matches!(
            search_query(&backwards),
            Err(Error::InvalidInput(m)) if m.contains("after")
        ));
        let impossible: SearchEmployeesInput =
            parse_input(json!({"entered_at_from": "2023-02-30"})).unwrap();
        assert!(matches!(
            search_query(&impossible),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn read_by_employee_code_needs_exactly_one_match() {
        mock_http(|req| {
            assert_eq!(req.url, "/api/v1/crews");
            let code = query(req, "emp_code").unwrap();
            let crews = match code.as_str() {
                "00001" => json!([{"id": "c1", "emp_code": "00001"}]),
                "dup" => json!([{"id": "c1", "emp_code": "dup"}, {"id": "c2", "emp_code": "dup"}]),
                _ => json!([]),
            };
            reply(200, &[("x-total-count", "0".into())], crews)
        });
        let ctx = Context::for_test(json!({}));
        let out = invoke::<SmartHr>("read-employee", json!({"emp_code": "00001"}), &ctx).unwrap();
        assert_eq!(out["id"], "c1");
        assert!(matches!(
            invoke::<SmartHr>("read-employee", json!({"emp_code": "none"}), &ctx),
            Err(Error::NotFound(m)) if m.contains("none")
        ));
        assert!(matches!(
            invoke::<SmartHr>("read-employee", json!({"emp_code": "dup"}), &ctx),
            Err(Error::InvalidInput(m)) if m.contains("c1, c2")
        ));
    }

    #[test]
    fn read_by_id_names_the_missing_id() {
        mock_http(|req| {
            assert_eq!(req.url, "/api/v1/crews/no-such");
            reply(
                404,
                &[],
                json!({"code": 4, "type": "not_found", "message": "Not found", "errors": null}),
            )
        });
        let err = invoke::<SmartHr>(
            "read-employee",
            json!({"id": "no-such"}),
            &Context::for_test(json!({})),
        );
        assert!(matches!(err, Err(Error::NotFound(m)) if m.contains("`no-such`")));
    }

    #[test]
    fn writes_send_smarthr_fields_and_check_dates_first() {
        let sent = Rc::new(RefCell::new(Vec::new()));
        let log = sent.clone();
        mock_http(move |req| {
            log.borrow_mut().push(req.clone());
            match req.method {
                Method::Post => reply(201, &[], json!({"id": "new", "last_name": "山田"})),
                Method::Patch => reply(200, &[], json!({"id": "c1", "emp_status": "retired"})),
                Method::Delete => reply(204, &[], Value::Null),
                _ => panic!("unexpected {:?}", req.method),
            }
        });
        let ctx = Context::for_test(json!({}));
        let created = invoke::<SmartHr>(
            "create-employee",
            json!({"last_name": "山田", "first_name": "花子", "department_ids": ["d1"],
                   "custom_fields": [{"template_id": "t1", "value": "x"}]}),
            &ctx,
        )
        .unwrap();
        assert_eq!(created["id"], "new");
        let updated = invoke::<SmartHr>(
            "update-employee",
            json!({"id": "c1", "emp_status": "retired", "resigned_at": "2025-03-31"}),
            &ctx,
        )
        .unwrap();
        assert_eq!(updated["emp_status"], "retired");
        let deleted = invoke::<SmartHr>("delete-employee", json!({"id": "c1"}), &ctx).unwrap();
        assert_eq!(deleted, json!({"id": "c1", "deleted": true}));
        let sent = sent.borrow();
        assert_eq!(sent[0].url, "/api/v1/crews");
        let body: Value = serde_json::from_slice(sent[0].body.as_ref().unwrap()).unwrap();
        assert_eq!(body["department_ids"], json!(["d1"]));
        assert_eq!(sent[1].url, "/api/v1/crews/c1");
        let body: Value = serde_json::from_slice(sent[1].body.as_ref().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"emp_status": "retired", "resigned_at": "2025-03-31"})
        );
        assert_eq!(sent[2].method, Method::Delete);
        assert_eq!(sent.len(), 3);

        for bad in [
            json!({"last_name": "a", "first_name": "b", "birth_at": "1990-02-30"}),
            json!({"last_name": "a", "first_name": "b", "entered_at": "2020-04-01", "resigned_at": "2019-03-31"}),
            json!({"last_name": "a", "first_name": "b", "custom_fields": [
                {"template_id": "t1", "value": "x"}, {"template_id": "t1", "value": "y"}]}),
        ] {
            assert!(matches!(
                invoke::<SmartHr>("create-employee", bad, &ctx),
                Err(Error::InvalidInput(_))
            ));
        }
    }

    #[test]
    fn users_embed_their_crew_by_default() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        serve_pages("/api/v1/users", 3, seen.clone());
        invoke::<SmartHr>("list-users", json!({}), &Context::for_test(json!({}))).unwrap();
        invoke::<SmartHr>(
            "list-users",
            json!({"embed_crew": false}),
            &Context::for_test(json!({})),
        )
        .unwrap();
        let seen = seen.borrow();
        assert_eq!(query(&seen[0], "embed").as_deref(), Some("crew"));
        assert_eq!(query(&seen[1], "embed"), None);
    }

    #[test]
    fn a_list_that_is_not_an_array_is_an_upstream_error() {
        mock_http(|_| reply(200, &[], json!({"unexpected": true})));
        let err = invoke::<SmartHr>("list-job-titles", json!({}), &Context::for_test(json!({})));
        assert!(matches!(err, Err(Error::Upstream { .. })));
    }
}
