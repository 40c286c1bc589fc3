//! The connection test. A SmartHR access token carries its own rights, and
//! a connection may be granted only some resources, so the test reads one
//! record of every resource the connection is granted and reports the token,
//! the tenant and each resource separately. Writes are never tried: trying
//! one would change the tenant's data. The connection counts as working when
//! the token is accepted and at least one resource is readable.

use crate::api::{self, Resource};
use cardhost_sdk::http::{Request, Response};
use cardhost_sdk::paging::total_count;
use cardhost_sdk::probe::{Probe, check_names, first_answer, first_failure};
use cardhost_sdk::{Check, ConnectionReport, Context};

fn probe(ctx: &Context, resource: Resource) -> Probe {
    Probe::if_granted(ctx, resource.read_permission(), || {
        let request = Request::get(resource.path()).header("accept", "application/json");
        Probe::send(request.query("page", 1).query("per_page", 1))
    })
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

/// The token check, from what the probes saw: a 2xx or a 403 means SmartHR
/// knew the token; a 401 that it refused it; only 404s that the tenant does
/// not exist at this address.
pub fn token_check(at: &str, probes: &[(Resource, Probe)]) -> Check {
    let probes = || probes.iter().map(|(_, p)| p);
    let status = |s: u16| first_answer(probes(), move |r| r.status == s);
    let known = |r: &Response| r.is_success() || r.status == 403 || r.status == 429;
    if first_answer(probes(), known).is_some() {
        let detail = format!("SmartHR at {at} accepted the access token");
        return Check::new("access token", true, detail);
    }
    let detail = if let Some(refused) = status(401) {
        format!(
            "SmartHR at {at} refused the access token ({}): check that it was copied whole, \
             was not revoked and belongs to this tenant",
            api::describe(refused)
        )
    } else if let Some(missing) = status(404) {
        format!(
            "SmartHR has no tenant at {at} ({}): check `tenant_id` and `account_type`",
            api::describe(missing)
        )
    } else if let Some(other) = first_answer(probes(), |_| true) {
        format!(
            "SmartHR answered {}: {}",
            other.status,
            api::describe(other)
        )
    } else if let Some(message) = first_failure(probes()) {
        format!("no answer from {at}: {message}")
    } else {
        "not checked: the connection is granted no resource to read".to_string()
    };
    Check::new("access token", false, detail)
}

/// One resource's check.
pub fn resource_check(resource: Resource, probe: &Probe) -> Check {
    let noun = resource.noun();
    let read = |r: &Response| {
        let count = total_count(r).map(|n| format!(" ({n} in total)"));
        Ok(format!("can read {noun}{}", count.unwrap_or_default()))
    };
    let refused = |r: &Response| {
        let said = api::describe(r);
        match r.status {
            401 => format!("not readable: the token was refused ({said})"),
            403 => format!(
                "the access token may not read {noun} ({said}); \
                 an administrator can issue a token that may"
            ),
            404 => format!("not found ({said}); check `tenant_id` and `account_type`"),
            429 => format!("rate limited, try again later ({said})"),
            status => format!("SmartHR answered {status}: {said}"),
        }
    };
    probe.check(noun, read, refused)
}

/// Builds the report from the probes' results.
pub fn build(at: &str, probes: &[(Resource, Probe)]) -> ConnectionReport {
    let token = token_check(at, probes);
    let mut checks = vec![token.clone()];
    checks.extend(
        probes
            .iter()
            .filter(|(_, p)| !matches!(p, Probe::Skipped(_)))
            .map(|(r, p)| resource_check(*r, p)),
    );
    let readable = check_names(&checks[1..], true).join(", ");
    let unreadable = check_names(&checks[1..], false).join(", ");
    let summary = if !token.ok {
        format!("The connection to {at} does not work: {}", token.detail)
    } else if readable.is_empty() {
        format!("The access token works at {at} but may read none of the granted resources")
    } else if unreadable.is_empty() {
        format!("The access token works at {at} and can read {readable}")
    } else {
        format!("The access token works at {at}; it can read {readable} but not {unreadable}")
    };
    ConnectionReport {
        ok: token.ok && !readable.is_empty(),
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
