//! The connection test. A Paycor request can fail for three unrelated
//! reasons, each fixed in a different place, so the test reports them
//! apart:
//!
//! - the **subscription key**: Paycor's API gateway (Azure API Management)
//!   answers 401 "Access denied due to missing/invalid subscription key";
//!   the token endpoint sits behind the same gateway, so a bad key also
//!   stops cardhost from renewing the token;
//! - the **access token**: the API answers 401 with no body, and cardhost
//!   renews the token once; a refused refresh token (`invalid_grant`) means
//!   the connection must be authorized again;
//! - a **Data Access** right: the API answers 403 when the app's scope lacks
//!   it (or the app is not activated for the legal entity).
//!
//! It reads one cheap record per Data Access the connection is granted,
//! taking ids for the record-by-id reads from the list reads. Writes are
//! never tried.

use crate::api::{self, DataAccess};
use cardhost_sdk::http::{Request, Response};
use cardhost_sdk::probe::{Probe, check_names};
use cardhost_sdk::{Check, ConnectionReport, Context, Value};

/// The 2xx answer's body, normalised.
fn body(probe: &Probe) -> Option<Value> {
    probe.success()?.json().ok().map(api::normalise)
}

/// Whether the probe shows the credentials are unusable, so later probes
/// would only repeat it.
fn credentials_failed(probe: &Probe) -> bool {
    match probe {
        Probe::Answered(r) => r.status == 401,
        Probe::Failed(_) => true,
        Probe::Skipped(_) => false,
    }
}

/// The ids later probes need, taken from earlier answers.
#[derive(Debug, Default)]
struct Found {
    tenant_id: Option<String>,
    employee_id: Option<String>,
    person_id: Option<String>,
    department_id: Option<String>,
}

fn first_record(probe: &Probe) -> Option<Value> {
    api::field(&body(probe)?, "records")?
        .as_array()?
        .first()
        .cloned()
}

fn text_at(value: &Value, pointer: &str) -> Option<String> {
    match value.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn request_for(access: DataAccess, legal_entity: i64, found: &Found) -> Result<Request, String> {
    let need = |id: &Option<String>, what: &str| {
        id.as_deref()
            .ok_or_else(|| format!("not checked: no {what} to read (see the checks above)"))
            .and_then(|id| api::path_id(what, id).map_err(|e| e.to_string()))
    };
    Ok(match access {
        DataAccess::LegalEntityBasicInformation => {
            Request::get(format!("/v1/legalentities/{legal_entity}"))
        }
        DataAccess::LegalEntityEmployees => {
            Request::get(format!("/v1/legalentities/{legal_entity}/employees"))
        }
        DataAccess::LegalEntityDepartments => {
            Request::get(format!("/v1/legalentities/{legal_entity}/departments"))
        }
        DataAccess::EmployeeInformation => Request::get(format!(
            "/v1/employees/{}",
            need(&found.employee_id, "employee")?
        )),
        DataAccess::EmployeePerson => Request::get(format!(
            "/v1/employees/{}/person",
            need(&found.employee_id, "employee")?
        )),
        DataAccess::PersonInformation => Request::get(format!(
            "/v1/tenants/{}/persons/{}",
            need(&found.tenant_id, "tenant")?,
            need(&found.person_id, "person")?
        )),
        DataAccess::LegalEntityDepartment => Request::get(format!(
            "/v1/legalentities/{legal_entity}/departments/{}",
            need(&found.department_id, "department")?
        )),
        DataAccess::UpdateEmployeeContact => {
            return Err("not tried: the connection test never writes".into());
        }
    })
}

fn learn(access: DataAccess, probe: &Probe, found: &mut Found) {
    match access {
        DataAccess::LegalEntityBasicInformation => {
            if let Some(body) = body(probe) {
                found.tenant_id = text_at(&body, "/tenant/id").or(found.tenant_id.take());
            }
        }
        DataAccess::LegalEntityEmployees => {
            if let Some(first) = first_record(probe) {
                found.employee_id = text_at(&first, "/id");
                found.person_id = text_at(&first, "/person/id");
                if found.department_id.is_none() {
                    found.department_id = text_at(&first, "/department/id");
                }
            }
        }
        DataAccess::LegalEntityDepartments => {
            if let Some(first) = first_record(probe) {
                found.department_id = text_at(&first, "/id");
            }
        }
        DataAccess::EmployeePerson => {
            if let Some(body) = body(probe)
                && found.tenant_id.is_none()
            {
                found.tenant_id = text_at(&body, "/tenants/id");
            }
        }
        _ => {}
    }
}

/// Runs the probes for every granted right, stopping once the credentials
/// fail (every later request would fail the same way).
pub fn probe_all(ctx: &Context) -> Vec<(DataAccess, Probe)> {
    let legal_entity = api::legal_entity_id(ctx, None);
    let mut found = Found::default();
    let mut probes = Vec::new();
    let mut stopped = false;
    for access in DataAccess::ALL {
        if !ctx.has_permission(access.permission()) {
            continue;
        }
        let request = match &legal_entity {
            _ if stopped => Err("not checked: the credentials failed (see above)".into()),
            Err(e) => Err(format!("not checked: {e}")),
            Ok(le) => request_for(access, *le, &found),
        };
        let probe = match request {
            Ok(request) => Probe::send(request.header("accept", "application/json")),
            Err(why) => Probe::Skipped(why),
        };
        stopped |= credentials_failed(&probe);
        learn(access, &probe, &mut found);
        probes.push((access, probe));
    }
    probes
}

/// Whether words from cardhost's token renewal point at the subscription
/// key: the token endpoint is behind the same gateway, which answers 401
/// without an OAuth2 error code.
fn token_failure_is_key(words: &str) -> bool {
    let lower = words.to_ascii_lowercase();
    lower.contains("subscription key")
        || (lower.contains("token endpoint answered 401") && !lower.contains("invalid_client"))
}

/// The subscription key check, decided by the first probe that reached the
/// gateway or failed for the key.
pub fn key_check(probes: &[(DataAccess, Probe)]) -> Check {
    let fix = api::FIX_SUBSCRIPTION_KEY;
    let decided = probes.iter().find_map(|(_, probe)| match probe {
        Probe::Answered(r) if api::is_subscription_key_refusal(r) => Some((
            false,
            format!(
                "Paycor's API gateway refused it ({}); {fix}",
                api::error_words(r)
            ),
        )),
        Probe::Answered(_) => Some((true, "Paycor's API gateway accepted it".to_string())),
        Probe::Failed(words) if token_failure_is_key(words) => Some((
            false,
            format!(
                "Paycor's token endpoint refused it, so no access token could be had \
                 ({words}); {fix}"
            ),
        )),
        _ => None,
    });
    let (ok, detail) =
        decided.unwrap_or((false, "not checked: no request reached Paycor".to_string()));
    Check::new("subscription key", ok, detail)
}

/// The access token check, decided by the first probe that was tried.
pub fn token_check(probes: &[(DataAccess, Probe)]) -> Check {
    let key_refused = "not checked: the subscription key was refused".to_string();
    let decided = probes.iter().find_map(|(_, probe)| match probe {
        Probe::Answered(r) if api::is_subscription_key_refusal(r) => {
            Some((false, key_refused.clone()))
        }
        Probe::Answered(r) if r.status == 401 => Some((
            false,
            "Paycor refused the access token even after cardhost renewed it: \
             authorize the connection again (the app may have been deactivated)"
                .to_string(),
        )),
        Probe::Answered(_) => Some((true, "Paycor accepted the access token".to_string())),
        Probe::Failed(words) if token_failure_is_key(words) => Some((false, key_refused.clone())),
        Probe::Failed(words) => {
            let lower = words.to_ascii_lowercase();
            let advice = if lower.contains("invalid_grant") || lower.contains("reauthoriz") {
                "the refresh token is no longer valid: authorize the connection again"
            } else if lower.contains("invalid_client") {
                "Paycor refused the client credentials: \
                 check `client_id` and the `client_secret` secret"
            } else {
                "no access token could be had"
            };
            Some((false, format!("{advice} ({words})")))
        }
        Probe::Skipped(_) => None,
    });
    let (ok, detail) =
        decided.unwrap_or((false, "not checked: no request reached Paycor".to_string()));
    Check::new("access token", ok, detail)
}

/// One Data Access right's check.
pub fn access_check(access: DataAccess, probe: &Probe, legal_entity: Option<i64>) -> Check {
    let name = access.title();
    if let (Probe::Skipped(words), true) = (probe, access.writes()) {
        return Check::new(name, true, format!("granted in cardhost; {words}"));
    }
    let refused = |r: &Response| {
        let words = api::error_words(r);
        let entity_read = matches!(
            access,
            DataAccess::LegalEntityBasicInformation
                | DataAccess::LegalEntityEmployees
                | DataAccess::LegalEntityDepartments
        );
        match (r.status, legal_entity) {
            (401, _) => "not checked: the credentials were refused".to_string(),
            (403, le) => {
                let inactive = match le {
                    Some(le) if access == DataAccess::LegalEntityBasicInformation => {
                        format!("; or the app is not activated for legal entity {le}")
                    }
                    _ => String::new(),
                };
                format!(
                    "Paycor refused it (403): add “{name}” to the app's Data Access, publish, \
                     and put the new Scope Version Identifier in `scope_id`{inactive}"
                )
            }
            (404, Some(le)) if entity_read => {
                format!("Paycor has no legal entity {le} ({words}): check `legal_entity_id`")
            }
            (404, _) => format!("Paycor found nothing to read ({words})"),
            (429, _) => format!("rate limited, try again later ({words})"),
            (status, _) => format!("Paycor answered {status}: {words}"),
        }
    };
    probe.check(name, |r| Ok(success_words(access, r)), refused)
}

fn success_words(access: DataAccess, response: &Response) -> String {
    let body = response.json().ok().map(api::normalise).unwrap_or_default();
    let noun = match access {
        DataAccess::LegalEntityBasicInformation => {
            return match api::field(&body, "name").and_then(Value::as_str) {
                Some(name) => format!("can read legal entity “{name}”"),
                None => "can read the legal entity".into(),
            };
        }
        DataAccess::LegalEntityEmployees => "employees",
        DataAccess::LegalEntityDepartments => "departments",
        _ => return "can read it".into(),
    };
    let count = api::field(&body, "records")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let more = match api::field(&body, "hasMoreResults").and_then(Value::as_bool) {
        Some(true) => " (first page; more exist)",
        _ => "",
    };
    format!("can list {noun}: {count} on the first page{more}")
}

/// Builds the report from the probes' results.
pub fn build(ctx: &Context, probes: &[(DataAccess, Probe)]) -> ConnectionReport {
    let legal_entity = api::legal_entity_id(ctx, None).ok();
    let environment = match ctx.fields.get("sandbox").and_then(Value::as_bool) {
        Some(true) => "sandbox",
        _ => "production",
    };
    let key = key_check(probes);
    let token = token_check(probes);
    let rights: Vec<Check> = probes
        .iter()
        .map(|(a, p)| access_check(*a, p, legal_entity))
        .collect();
    let missing = check_names(&rights, false).join(", ");
    let ok = key.ok && token.ok && missing.is_empty() && !rights.is_empty();
    let target = match legal_entity {
        Some(le) => format!("Paycor {environment}, legal entity {le}"),
        None => format!("Paycor {environment}"),
    };
    let summary = if !key.ok && !key.detail.starts_with("not checked") {
        format!("{target}: the subscription key was refused")
    } else if !token.ok && !token.detail.starts_with("not checked") {
        format!(
            "{target}: the access token could not be used: {}",
            token.detail
        )
    } else if rights.is_empty() {
        format!("{target}: this connection is granted no Data Access to check")
    } else if ok {
        format!("Connected to {target}: every granted Data Access works")
    } else {
        format!("Connected to {target}, but these do not work: {missing}")
    };
    let mut checks = vec![key, token];
    checks.extend(rights);
    ConnectionReport {
        ok,
        summary,
        checks,
    }
}

/// Runs the connection test.
pub fn test_connection(ctx: &Context) -> ConnectionReport {
    let probes = probe_all(ctx);
    build(ctx, &probes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Paycor;
    use cardhost_sdk::testing::mock_http;
    use cardhost_sdk::{Connector, json};

    fn ctx(permissions: &[DataAccess]) -> Context {
        let mut ctx = Context::for_test(json!({"legal_entity_id": 398334, "sandbox": true}));
        ctx.permissions = permissions
            .iter()
            .map(|p| p.permission().to_string())
            .collect();
        ctx
    }

    fn reply(status: u16, body: Value) -> cardhost_sdk::Result<Response> {
        Ok(Response {
            status,
            headers: vec![],
            body: if body.is_null() {
                Vec::new()
            } else {
                body.to_string().into_bytes()
            },
        })
    }

    #[test]
    fn reads_one_record_per_granted_right_with_ids_from_the_lists() {
        mock_http(|req| match req.url.as_str() {
            "/v1/legalentities/398334" => reply(
                200,
                json!({"Id": 398334, "Name": "Buckeye Outfitters", "Tenant": {"Id": "421504"}}),
            ),
            "/v1/legalentities/398334/employees" => reply(
                200,
                json!({"hasMoreResults": true, "continuationToken": "t1", "records": [
                    {"id": "e-1", "person": {"id": "p-1"}, "department": {"id": "d-9"}}
                ]}),
            ),
            "/v1/legalentities/398334/departments" => reply(
                200,
                json!({"HasMoreResults": false, "Records": [{"Id": "d-1"}]}),
            ),
            "/v1/employees/e-1" => reply(200, json!({"id": "e-1"})),
            "/v1/employees/e-1/person" => reply(403, Value::Null),
            "/v1/tenants/421504/persons/p-1" => reply(200, json!({"id": "p-1"})),
            "/v1/legalentities/398334/departments/d-1" => reply(200, json!({"id": "d-1"})),
            other => panic!("unexpected {other}"),
        });
        let all: Vec<DataAccess> = DataAccess::ALL.to_vec();
        let report = Paycor::test_connection(&ctx(&all));
        let names: Vec<(&str, bool)> = report
            .checks
            .iter()
            .map(|c| (c.name.as_str(), c.ok))
            .collect();
        assert_eq!(
            names,
            [
                ("subscription key", true),
                ("access token", true),
                ("View Legal Entity Basic Information", true),
                ("View Legal Entity Employees", true),
                ("View Legal Entity Departments Information", true),
                ("View Employee Information", true),
                ("View Employee Person", false),
                ("View Person Information", true),
                ("View Legal Entity Departments by Department Id", true),
                ("Update Employee Contact", true),
            ]
        );
        assert!(!report.ok);
        assert_eq!(
            report.summary,
            "Connected to Paycor sandbox, legal entity 398334, but these do not work: View Employee Person"
        );
        assert!(report.checks[2].detail.contains("Buckeye Outfitters"));
        assert!(report.checks[6].detail.contains("“View Employee Person”"));
        assert!(report.checks[9].detail.contains("never writes"));
    }

    #[test]
    fn a_refused_subscription_key_stops_the_test() {
        let sent = std::rc::Rc::new(std::cell::Cell::new(0));
        let counter = sent.clone();
        mock_http(move |_| {
            counter.set(counter.get() + 1);
            reply(
                401,
                json!({"statusCode": 401, "message": "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."}),
            )
        });
        let report = Paycor::test_connection(&ctx(&[
            DataAccess::LegalEntityBasicInformation,
            DataAccess::LegalEntityEmployees,
        ]));
        assert_eq!(sent.get(), 1, "later probes are skipped");
        assert!(!report.ok);
        assert!(!report.checks[0].ok);
        assert!(report.checks[0].detail.contains("invalid subscription key"));
        assert!(report.checks[1].detail.starts_with("not checked"));
        assert_eq!(
            report.summary,
            "Paycor sandbox, legal entity 398334: the subscription key was refused"
        );
    }

    #[test]
    fn token_renewal_failures_are_classified() {
        let failed = |words: &str| {
            vec![(
                DataAccess::LegalEntityEmployees,
                Probe::Failed(words.to_string()),
            )]
        };
        let key = failed(
            "forbidden: refused by cardhost: token request failed: token endpoint answered 401 Unauthorized",
        );
        assert!(!key_check(&key).ok);
        assert!(key_check(&key).detail.contains("token endpoint refused it"));
        let grant = failed(
            "forbidden: refused by cardhost: connection needs reauthorization: the provider refused the stored grant (invalid_grant: the refresh token was revoked)",
        );
        let check = token_check(&grant);
        assert!(!check.ok);
        assert!(
            check
                .detail
                .starts_with("the refresh token is no longer valid")
        );
        let client = failed(
            "forbidden: refused by cardhost: token request failed: token endpoint answered 401 Unauthorized: invalid_client (invalid client credentials)",
        );
        assert!(token_check(&client).detail.contains("client_secret"));
        assert!(!key_check(&client).ok, "not proven either way");
        assert!(key_check(&client).detail.starts_with("not checked"));
    }

    #[test]
    fn a_refused_token_is_not_blamed_on_the_key() {
        mock_http(|_| reply(401, Value::Null));
        let report = Paycor::test_connection(&ctx(&[DataAccess::LegalEntityEmployees]));
        assert!(!report.ok);
        assert!(report.checks[0].ok, "an empty 401 passed the gateway");
        assert!(!report.checks[1].ok);
        assert!(report.summary.contains("authorize the connection again"));
    }

    #[test]
    fn an_unknown_legal_entity_is_named() {
        mock_http(|_| {
            reply(
                404,
                json!({"title": "Not Found", "detail": "Legal entity 5 was not found."}),
            )
        });
        let mut c = ctx(&[DataAccess::LegalEntityBasicInformation]);
        c.fields["legal_entity_id"] = json!(5);
        let report = Paycor::test_connection(&c);
        assert!(!report.ok);
        assert!(
            report.checks[2].detail.contains("legal_entity_id"),
            "{:?}",
            report.checks[2]
        );
    }
}
