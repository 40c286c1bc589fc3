//! The connection test: reads the service provider configuration and one
//! user, and reports the token, discovery, user access and, when the
//! connection was granted writes, whether the server accepts them. Nothing
//! is ever written.

use crate::scim::{self, get_ci, get_u64};
use crate::{DISCOVERY_READ, USERS_READ, USERS_WRITE};
use cardhost_sdk::http::Response;
use cardhost_sdk::probe::{Probe, first_answer, first_failure};
use cardhost_sdk::{Check, ConnectionReport, Context, Value};

/// The token check from what the probes saw: any answer but 401 means Fourth
/// issued a token and the SCIM API took it.
pub fn token_check(probes: &[&Probe]) -> Check {
    let probes = || probes.iter().copied();
    if first_answer(probes(), |r| r.status != 401).is_some() {
        let detail = "Fourth issued a token and the SCIM API accepted it";
        return Check::new("token", true, detail);
    }
    let detail = if let Some(refused) = first_answer(probes(), |_| true) {
        format!(
            "the SCIM API refused the token (401: {}); check the client id and secret",
            scim::scim_error(refused).detail
        )
    } else if let Some(message) = first_failure(probes()) {
        format!("no token or no answer: {message}")
    } else {
        "not checked: nothing could be tried (see the other checks)".to_string()
    };
    Check::new("token", false, detail)
}

fn refused(response: &Response, what: &str) -> String {
    let detail = scim::scim_error(response).detail;
    match response.status {
        401 => format!("not readable: the token was refused ({detail})"),
        403 => format!(
            "Fourth refused {what} ({detail}); the OAuth client needs the `scim` scope \
             — ask your Fourth contact"
        ),
        404 => format!("no SCIM {what} at this base URL ({detail}); check `base_url`"),
        429 => format!("rate limited, try again later ({detail})"),
        status => format!("Fourth answered {status}: {detail}"),
    }
}

fn body_of(probe: &Probe) -> Option<Value> {
    scim::json_body(probe.success()?.clone(), "").ok()
}

/// The service provider configuration check.
pub fn config_check(probe: &Probe) -> Check {
    let read = |_: &Response| {
        let body = body_of(probe).ok_or("the answer is not SCIM JSON; check `base_url`")?;
        let filter = get_ci(&body, "filter").cloned().unwrap_or(Value::Null);
        let filtering = get_ci(&filter, "supported").and_then(Value::as_bool) == Some(true);
        let max = get_u64(&filter, "maxResults").map(|n| format!(", at most {n} users a page"));
        let detail = format!(
            "SCIM 2.0 service provider: filtering {}{}; {}",
            if filtering {
                "supported"
            } else {
                "NOT supported (the filter cards cannot work)"
            },
            max.unwrap_or_default(),
            if patch_supported(&body) {
                "writes (PATCH) supported"
            } else {
                "read-only"
            }
        );
        if filtering { Ok(detail) } else { Err(detail) }
    };
    let what = "the service provider configuration";
    probe.check("service provider config", read, |r| refused(r, what))
}

fn patch_supported(config: &Value) -> bool {
    get_ci(config, "patch")
        .and_then(|p| get_ci(p, "supported"))
        .and_then(Value::as_bool)
        == Some(true)
}

/// The users check.
pub fn users_check(probe: &Probe) -> Check {
    let read = |_: &Response| match body_of(probe).as_ref().map(scim::ListPage::from_body) {
        Some(Ok(page)) => Ok(match page.total_results {
            Some(n) => format!("can read users ({n} in total)"),
            None => "can read users".to_string(),
        }),
        _ => Err("the answer is not a SCIM ListResponse; check `base_url`".to_string()),
    };
    probe.check("users", read, |r| refused(r, "the user list"))
}

/// The write check: informational when writes are not granted; when they
/// are, whether the server says it takes them.
pub fn write_check(granted: bool, config: &Probe) -> Check {
    let (ok, detail) = match body_of(config) {
        _ if !granted => (
            true,
            format!(
                "not granted: write cards are refused before anything is sent (Fourth's SCIM API \
                 is read-only for partners; grant `{USERS_WRITE}` only for a server that accepts writes)"
            ),
        ),
        Some(body) if patch_supported(&body) => (
            true,
            "granted, and the service provider supports PATCH; \
             the OAuth client also needs the server's write scope"
                .to_string(),
        ),
        Some(_) => (
            false,
            format!(
                "`{USERS_WRITE}` is granted but the service provider is read-only \
                 (patch not supported): write cards will fail"
            ),
        ),
        None => (
            false,
            "granted, but the service provider configuration could not be read to confirm writes"
                .to_string(),
        ),
    };
    Check::new("write cards", ok, detail)
}

/// Builds the report.
pub fn build(config: &Probe, users: &Probe, writes_granted: bool) -> ConnectionReport {
    let token = token_check(&[config, users]);
    let users_result = users_check(users);
    let writes = write_check(writes_granted, config);
    let summary = if !token.ok {
        format!("Fourth SCIM: cannot authenticate: {}", token.detail)
    } else if !users_result.ok {
        format!("Fourth SCIM: cannot read users: {}", users_result.detail)
    } else if !writes.ok {
        format!("Fourth SCIM: {}", writes.detail)
    } else if writes_granted {
        format!("Fourth SCIM: {}; write cards enabled", users_result.detail)
    } else {
        format!("Fourth SCIM: {}; read-only", users_result.detail)
    };
    ConnectionReport {
        ok: token.ok && users_result.ok && writes.ok,
        summary,
        checks: vec![token, config_check(config), users_result, writes],
    }
}

/// Runs the connection test.
pub fn test_connection(ctx: &Context) -> ConnectionReport {
    let config = Probe::if_granted(ctx, DISCOVERY_READ, || {
        Probe::send(scim::get("/ServiceProviderConfig", &[]))
    });
    let users = Probe::if_granted(ctx, USERS_READ, || {
        let query = [("startIndex", "1".to_string()), ("count", "1".to_string())];
        Probe::send(scim::get("/Users", &query))
    });
    build(&config, &users, ctx.has_permission(USERS_WRITE))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Probe {
        Probe::Answered(Response {
            status,
            headers: vec![("content-type".into(), "application/scim+json".into())],
            body: body.as_bytes().to_vec(),
        })
    }

    const CONFIG: &str =
        r#"{"patch":{"supported":false},"filter":{"supported":true,"maxResults":100}}"#;
    const USERS: &str = r#"{"totalResults":320,"Resources":[{"id":"a"}]}"#;

    #[test]
    fn a_read_only_connection_is_ok() {
        let r = build(&answer(200, CONFIG), &answer(200, USERS), false);
        assert!(r.ok, "{r:?}");
        assert_eq!(
            r.summary,
            "Fourth SCIM: can read users (320 in total); read-only"
        );
        assert!(r.checks[1].detail.contains("at most 100 users a page"));
        assert!(r.checks[3].detail.contains("not granted"));
    }

    #[test]
    fn granted_writes_on_a_read_only_server_fail() {
        let r = build(&answer(200, CONFIG), &answer(200, USERS), true);
        assert!(!r.ok);
        assert!(r.summary.contains("read-only"), "{}", r.summary);
    }

    #[test]
    fn refusals_are_explained() {
        let e = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":403,"detail":"The access token lacks the scope `scim`"}"#;
        let r = build(&answer(403, e), &answer(403, e), false);
        assert!(r.checks[0].ok, "the token was accepted");
        assert!(!r.ok);
        assert!(
            r.checks[2].detail.contains("`scim` scope"),
            "{:?}",
            r.checks[2]
        );

        let e = r#"{"status":"401","detail":"expired"}"#;
        let r = build(&answer(401, e), &answer(401, e), false);
        assert!(!r.checks[0].ok);
        assert!(r.summary.contains("cannot authenticate"));

        let failed = Probe::Failed("token endpoint answered 401: invalid_client".into());
        let r = build(&failed, &failed, false);
        assert!(r.checks[0].detail.contains("invalid_client"));
    }
}
