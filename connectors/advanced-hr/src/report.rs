//! The connection test. The API client's security group decides what it may
//! read, so a working connection may still be refused some areas: the test
//! reads one record of each area and reports the token and every area
//! separately. The connection counts as working when the token is accepted
//! and at least one area is readable.

use crate::api::{self, Area};
use cardhost_sdk::http::{Request, Response, error_message};
use cardhost_sdk::probe::{Probe, check_names, first_answer, first_failure};
use cardhost_sdk::{Check, ConnectionReport, Context, Value};

fn probe(ctx: &Context, area: Area) -> Probe {
    Probe::if_granted(ctx, area.permission(), || match api::area_path(ctx, area) {
        Ok(path) => Probe::send(
            Request::get(path)
                .header("accept", "application/json")
                .query("page", 1)
                .query("pageSize", 1),
        ),
        Err(e) => Probe::Skipped(format!("not checked: {e}")),
    })
}

/// The token check, from what the probes saw: any answer other than 401
/// means the token endpoint issued a token and the API took it.
pub fn token_check(probes: &[(Area, Probe)]) -> Check {
    let probes = || probes.iter().map(|(_, p)| p);
    if first_answer(probes(), |r| r.status != 401).is_some() {
        let detail = "OneAdvanced Identity issued a token and Advanced HR accepted it";
        return Check::new("token", true, detail);
    }
    let detail = if let Some(refused) = first_answer(probes(), |_| true) {
        format!(
            "Advanced HR refused the token (401: {}); check the client id and secret, \
             and that the API client was not deleted",
            error_message(refused)
        )
    } else if let Some(message) = first_failure(probes()) {
        format!("no token or no answer: {message}")
    } else {
        "not checked: no data area could be tried (see the other checks)".to_string()
    };
    Check::new("token", false, detail)
}

fn sensitive_note(body: &Value) -> &'static str {
    let Some(first) = body["data"].as_array().and_then(|d| d.first()) else {
        return "";
    };
    let sensitive = [
        "dateOfBirth",
        "niNumber",
        "salary",
        "homeAddress",
        "personalMobile",
    ];
    if sensitive.iter().any(|f| first.get(f).is_some()) {
        "; sensitive fields (date of birth, NI number, salary, home address) are visible"
    } else {
        "; sensitive fields are hidden by the security group"
    }
}

/// One area's check.
pub fn area_check(area: Area, probe: &Probe) -> Check {
    let noun = area.noun();
    let read = |r: &Response| {
        let body: Value = r.json().unwrap_or(Value::Null);
        let count = body["totalCount"]
            .as_u64()
            .map(|n| format!(" ({n} in total)"));
        let note = if area == Area::Employees {
            sensitive_note(&body)
        } else {
            ""
        };
        Ok(format!(
            "can read {noun}{}{note}",
            count.unwrap_or_default()
        ))
    };
    let refused = |r: &Response| {
        let message = error_message(r);
        match r.status {
            401 => format!("not readable: the token was refused ({message})"),
            403 => format!(
                "the API client's security group does not grant {noun} ({message}); \
                 an Advanced HR administrator can add it"
            ),
            404 => format!(
                "Advanced HR has no {noun} resource at this path ({message}); \
                 check `api_base_url` and `{}`",
                area.path_field()
            ),
            429 => format!("rate limited, try again later ({message})"),
            status => format!("Advanced HR answered {status}: {message}"),
        }
    };
    probe.check(noun, read, refused)
}

/// Builds the report from the probes' results.
pub fn build(client_id: Option<&str>, probes: &[(Area, Probe)]) -> ConnectionReport {
    let token = token_check(probes);
    let mut checks = vec![token.clone()];
    checks.extend(probes.iter().map(|(a, p)| area_check(*a, p)));
    let readable = check_names(&checks[1..], true).join(", ");
    let unreadable = check_names(&checks[1..], false).join(", ");
    let who = client_id
        .map(|id| format!("API client `{id}`"))
        .unwrap_or_else(|| "The API client".into());
    let summary = if !token.ok {
        format!("{who} could not authenticate: {}", token.detail)
    } else if readable.is_empty() {
        format!("{who} authenticates but may read none of employees, departments or positions")
    } else if unreadable.is_empty() {
        format!("{who} can read {readable}")
    } else {
        format!("{who} can read {readable}; cannot read {unreadable}")
    };
    ConnectionReport {
        ok: token.ok && !readable.is_empty(),
        summary,
        checks,
    }
}

/// Runs the connection test.
pub fn test_connection(ctx: &Context) -> ConnectionReport {
    let probes: Vec<(Area, Probe)> = Area::ALL.iter().map(|a| (*a, probe(ctx, *a))).collect();
    build(ctx.field("client_id"), &probes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AdvancedHr;
    use cardhost_sdk::testing::mock_http;
    use cardhost_sdk::{Connector, json};

    fn answer(status: u16, body: Value) -> Probe {
        Probe::Answered(Response {
            status,
            headers: vec![],
            body: body.to_string().into_bytes(),
        })
    }

    fn ctx() -> Context {
        let mut ctx = Context::for_test(json!({"client_id": "org-reader"}));
        ctx.permissions = vec![
            "employees-read".into(),
            "departments-read".into(),
            "positions-read".into(),
        ];
        ctx
    }

    #[test]
    fn reports_each_area_the_group_allows_or_refuses() {
        mock_http(|req| {
            let body = match req.url.as_str() {
                "/employees" => {
                    return Ok(Response {
                        status: 403,
                        headers: vec![],
                        body: br#"{"status":403,"error":"forbidden","message":"security group `Org Structure` does not grant access to employees"}"#.to_vec(),
                    });
                }
                "/departments" => {
                    json!({"data": [{"id": "DEP001"}], "totalCount": 12, "totalPages": 12})
                }
                "/positions" => {
                    json!({"data": [{"id": "POS001"}], "totalCount": 50, "totalPages": 50})
                }
                other => panic!("unexpected {other}"),
            };
            assert_eq!(
                req.query,
                vec![("page".into(), "1".into()), ("pageSize".into(), "1".into())]
            );
            Ok(Response {
                status: 200,
                headers: vec![],
                body: body.to_string().into_bytes(),
            })
        });
        let report = AdvancedHr::test_connection(&ctx());
        assert!(report.ok, "{report:?}");
        assert_eq!(
            report.summary,
            "API client `org-reader` can read departments, positions; cannot read employees"
        );
        let names: Vec<_> = report
            .checks
            .iter()
            .map(|c| (c.name.as_str(), c.ok))
            .collect();
        assert_eq!(
            names,
            [
                ("token", true),
                ("employees", false),
                ("departments", true),
                ("positions", true)
            ]
        );
        assert!(report.checks[1].detail.contains("Org Structure"));
        assert!(report.checks[2].detail.contains("12 in total"));
    }

    #[test]
    fn sensitive_fields_are_reported_for_employees() {
        let visible = answer(
            200,
            json!({"data": [{"id": "1", "niNumber": "AB123456C"}], "totalCount": 200}),
        );
        assert!(
            area_check(Area::Employees, &visible)
                .detail
                .contains("are visible")
        );
        let hidden = answer(200, json!({"data": [{"id": "1"}], "totalCount": 200}));
        assert!(
            area_check(Area::Employees, &hidden)
                .detail
                .contains("hidden")
        );
    }

    #[test]
    fn a_refused_token_fails_the_connection() {
        let probes: Vec<(Area, Probe)> = Area::ALL
            .iter()
            .map(|a| {
                (
                    *a,
                    answer(
                        401,
                        json!({"message": "the access token is invalid or has expired"}),
                    ),
                )
            })
            .collect();
        let report = build(Some("x"), &probes);
        assert!(!report.ok);
        assert!(!report.checks[0].ok);
        assert!(report.checks[0].detail.contains("401"));
    }

    #[test]
    fn a_token_endpoint_failure_is_named() {
        let probes: Vec<(Area, Probe)> = Area::ALL
            .iter()
            .map(|a| {
                (*a, Probe::Failed("forbidden: refused by cardhost: token endpoint answered 401: invalid_client".into()))
            })
            .collect();
        let report = build(None, &probes);
        assert!(!report.ok);
        assert!(
            report
                .summary
                .starts_with("The API client could not authenticate")
        );
        assert!(report.checks[0].detail.contains("invalid_client"));
    }

    #[test]
    fn ungranted_areas_are_skipped_not_sent() {
        mock_http(|req| {
            assert_eq!(req.url, "/departments");
            Ok(Response {
                status: 200,
                headers: vec![],
                body: br#"{"data":[],"totalCount":0,"totalPages":0}"#.to_vec(),
            })
        });
        let mut c = ctx();
        c.permissions = vec!["departments-read".into()];
        let report = AdvancedHr::test_connection(&c);
        assert!(report.ok);
        assert!(report.checks[1].detail.contains("employees-read"));
        assert!(!report.checks[1].ok);
    }
}
