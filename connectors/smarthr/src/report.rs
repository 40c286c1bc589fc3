//! The connection test. A SmartHR access token carries its own rights, and
//! a connection may be granted only some resources, so the test reads one
//! record of every resource the connection is granted and reports the token,
//! the tenant and each resource separately. Writes are never tried: trying
//! one would change the tenant's data. The connection counts as working when
//! the token is accepted and at least one resource is readable.

use crate::api::{self, Resource};
use cardhost_sdk::http::{Request, Response};
use cardhost_sdk::{Check, ConnectionReport, Context};

/// What one resource's probe found.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// Not tried: the connection is not granted the resource's permission.
    Skipped(String),
    /// SmartHR answered with this status and body.
    Answered(Response),
    /// No answer: the host refused to send, or the request failed.
    Failed(String),
}

fn probe(ctx: &Context, resource: Resource) -> Probe {
    if !ctx.has_permission(resource.read_permission()) {
        return Probe::Skipped(format!(
            "not checked: this connection is not granted the permission `{}`",
            resource.read_permission()
        ));
    }
    let request = Request::get(resource.path())
        .header("accept", "application/json")
        .query("page", 1)
        .query("per_page", 1);
    match request.send() {
        Ok(response) => Probe::Answered(response),
        Err(e) => Probe::Failed(e.to_string()),
    }
}

/// Where the connection points, for messages: `https://acme.smarthr.jp`.
fn address(ctx: &Context) -> String {
    let tenant = ctx.field("tenant_id").unwrap_or("?");
    let domain = match ctx.field("account_type") {
        Some("sandbox") => "daruma.space",
        _ => "smarthr.jp",
    };
    format!("https://{tenant}.{domain}")
}

fn answers(probes: &[(Resource, Probe)]) -> Vec<&Response> {
    probes
        .iter()
        .filter_map(|(_, p)| match p {
            Probe::Answered(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// The token check, from what the probes saw: a 2xx or a 403 means SmartHR
/// knew the token; a 401 that it refused it; only 404s that the tenant does
/// not exist at this address.
pub fn token_check(at: &str, probes: &[(Resource, Probe)]) -> Check {
    let answered = answers(probes);
    let accepted = answered
        .iter()
        .any(|r| r.is_success() || r.status == 403 || r.status == 429);
    let (ok, detail) = if accepted {
        (true, format!("SmartHR at {at} accepted the access token"))
    } else if let Some(refused) = answered.iter().find(|r| r.status == 401) {
        (
            false,
            format!(
                "SmartHR at {at} refused the access token ({}): check that it was copied whole, was not revoked and belongs to this tenant",
                api::describe(refused)
            ),
        )
    } else if let Some(missing) = answered.iter().find(|r| r.status == 404) {
        (
            false,
            format!(
                "SmartHR has no tenant at {at} ({}): check `tenant_id` and `account_type`",
                api::describe(missing)
            ),
        )
    } else if let Some(other) = answered.first() {
        (
            false,
            format!(
                "SmartHR answered {}: {}",
                other.status,
                api::describe(other)
            ),
        )
    } else if let Some(message) = probes.iter().find_map(|(_, p)| match p {
        Probe::Failed(m) => Some(m),
        _ => None,
    }) {
        (false, format!("no answer from {at}: {message}"))
    } else {
        (
            false,
            "not checked: the connection is granted no resource to read".to_string(),
        )
    };
    Check {
        name: "access token".into(),
        ok,
        detail,
    }
}

/// One resource's check.
pub fn resource_check(resource: Resource, probe: &Probe) -> Check {
    let noun = resource.noun();
    let (ok, detail) = match probe {
        Probe::Skipped(words) | Probe::Failed(words) => (false, words.clone()),
        Probe::Answered(r) if r.is_success() => {
            let count = cardhost_sdk::paging::total_count(r)
                .map(|n| format!(" ({n} in total)"))
                .unwrap_or_default();
            (true, format!("can read {noun}{count}"))
        }
        Probe::Answered(r) => {
            let said = api::describe(r);
            let detail = match r.status {
                401 => format!("not readable: the token was refused ({said})"),
                403 => format!(
                    "the access token may not read {noun} ({said}); an administrator can issue a token that may"
                ),
                404 => format!("not found ({said}); check `tenant_id` and `account_type`"),
                429 => format!("rate limited, try again later ({said})"),
                status => format!("SmartHR answered {status}: {said}"),
            };
            (false, detail)
        }
    };
    Check {
        name: noun.into(),
        ok,
        detail,
    }
}

/// Builds the report from the probes' results.
pub fn build(at: &str, probes: &[(Resource, Probe)]) -> ConnectionReport {
    let token = token_check(at, probes);
    let resources: Vec<Check> = probes
        .iter()
        .filter(|(_, p)| !matches!(p, Probe::Skipped(_)))
        .map(|(r, p)| resource_check(*r, p))
        .collect();
    let readable: Vec<&str> = resources
        .iter()
        .filter(|c| c.ok)
        .map(|c| c.name.as_str())
        .collect();
    let unreadable: Vec<&str> = resources
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.name.as_str())
        .collect();
    let ok = token.ok && !readable.is_empty();
    let summary = if !token.ok {
        format!("The connection to {at} does not work: {}", token.detail)
    } else if readable.is_empty() {
        format!("The access token works at {at} but may read none of the granted resources")
    } else if unreadable.is_empty() {
        format!(
            "The access token works at {at} and can read {}",
            readable.join(", ")
        )
    } else {
        format!(
            "The access token works at {at}; it can read {} but not {}",
            readable.join(", "),
            unreadable.join(", ")
        )
    };
    let mut checks = vec![token];
    checks.extend(resources);
    ConnectionReport {
        ok,
        summary,
        checks,
    }
}

/// Runs the connection test.
pub fn test_connection(ctx: &Context) -> ConnectionReport {
    let probes: Vec<(Resource, Probe)> =
        Resource::ALL.iter().map(|r| (*r, probe(ctx, *r))).collect();
    build(&address(ctx), &probes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SmartHr;
    use cardhost_sdk::testing::mock_http;
    use cardhost_sdk::{Connector, Value, json};

    fn answer(status: u16, body: Value) -> Probe {
        Probe::Answered(Response {
            status,
            headers: vec![("x-total-count".into(), "7".into())],
            body: body.to_string().into_bytes(),
        })
    }

    fn ctx(permissions: &[&str]) -> Context {
        let mut ctx = Context::for_test(json!({"tenant_id": "acme", "account_type": "sandbox"}));
        ctx.permissions = permissions.iter().map(|p| p.to_string()).collect();
        ctx
    }

    #[test]
    fn probes_every_granted_resource_and_reports_each() {
        mock_http(|req| {
            assert_eq!(
                req.query,
                vec![("page".into(), "1".into()), ("per_page".into(), "1".into())]
            );
            let (status, body) = match req.url.as_str() {
                "/api/v1/users" => (
                    403,
                    json!({"code": 3, "type": "forbidden", "message": "Forbidden", "errors": null}),
                ),
                _ => (200, json!([{"id": "x"}])),
            };
            Ok(Response {
                status,
                headers: vec![("x-total-count".into(), "12".into())],
                body: body.to_string().into_bytes(),
            })
        });
        let report =
            SmartHr::test_connection(&ctx(&["crews-read", "users-read", "job-titles-read"]));
        assert!(report.ok, "{report:?}");
        let names: Vec<(&str, bool)> = report
            .checks
            .iter()
            .map(|c| (c.name.as_str(), c.ok))
            .collect();
        assert_eq!(
            names,
            [
                ("access token", true),
                ("employees", true),
                ("users", false),
                ("job titles", true)
            ]
        );
        assert!(
            report.summary.contains("https://acme.daruma.space"),
            "{}",
            report.summary
        );
        assert!(
            report.summary.contains("but not users"),
            "{}",
            report.summary
        );
        assert!(report.checks[1].detail.contains("12 in total"));
    }

    #[test]
    fn a_refused_token_fails_with_smarthrs_words() {
        let probes: Vec<(Resource, Probe)> = Resource::ALL
            .iter()
            .map(|r| {
                (
                    *r,
                    answer(
                        401,
                        json!({"code": 2, "type": "unauthorized_token", "message": "Unauthorized token", "errors": null}),
                    ),
                )
            })
            .collect();
        let report = build("https://acme.smarthr.jp", &probes);
        assert!(!report.ok);
        assert!(!report.checks[0].ok);
        assert!(report.checks[0].detail.contains("unauthorized_token"));
    }

    #[test]
    fn an_unknown_tenant_points_at_the_fields() {
        let probes = vec![(
            Resource::Crews,
            answer(
                404,
                json!({"code": 4, "type": "not_found", "message": "Not found", "errors": null}),
            ),
        )];
        let report = build("https://nobody.smarthr.jp", &probes);
        assert!(!report.ok);
        assert!(report.checks[0].detail.contains("tenant_id"));
    }

    #[test]
    fn nothing_granted_is_not_a_working_connection() {
        mock_http(|_| panic!("nothing may be sent"));
        let report = SmartHr::test_connection(&ctx(&[]));
        assert!(!report.ok);
        assert_eq!(report.checks.len(), 1);
    }
}
