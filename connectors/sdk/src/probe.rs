//! Connection-test probes: a cheap GET per credential or right, each one
//! check of the [`ConnectionReport`], and the default connection test built
//! from them.

use crate::http::{Request, Response, error_message};
use crate::manifest::{Access, Manifest};
use crate::{Check, ConnectionReport, Context};

/// What a probe's answer says, in words: `GET /people answered 200`.
fn describe(method: &str, url: &str, answer: &crate::Result<Response>) -> (bool, String) {
    match answer {
        Ok(r) if r.is_success() => (true, format!("{method} {url} answered {}", r.status)),
        Ok(r) => {
            let said = error_message(r);
            let what = match r.status {
                401 => "the credentials were refused",
                403 => "the credentials lack this right",
                404 => "not found: check the connection's fields",
                429 => "rate limited: try again later",
                _ => "the upstream failed",
            };
            (
                false,
                format!("{method} {url}: {what} ({}: {said})", r.status),
            )
        }
        Err(e) => (false, format!("{method} {url} failed: {e}")),
    }
}

/// Sends `request` (keep it cheap: a GET of one record) and makes a check
/// named `name` of it: ok on a 2xx, else the status and the upstream's words.
pub fn probe(name: &str, request: Request) -> Check {
    let method = request.method.as_str();
    let url = request.url.clone();
    let answer = request.send();
    let (ok, detail) = describe(method, &url, &answer);
    Check {
        name: name.into(),
        ok,
        detail,
    }
}

impl ConnectionReport {
    /// Adds a [`probe`] of `request` named `name`.
    pub fn probe(mut self, name: &str, request: Request) -> Self {
        self.checks.push(probe(name, request));
        self
    }

    /// Adds a [`probe`] of `request` named after `permission`, or, when the
    /// connection is not granted `permission`, a failed check that says so
    /// (nothing is sent).
    pub fn probe_permission(mut self, ctx: &Context, permission: &str, request: Request) -> Self {
        let check = if ctx.has_permission(permission) {
            probe(permission, request)
        } else {
            Check {
                name: permission.into(),
                ok: false,
                detail: format!("not checked: the connection is not granted `{permission}`"),
            }
        };
        self.checks.push(check);
        self
    }
}

/// The first path a permission reads that has no wildcard, if any.
fn fixed_read_path(permission: &crate::Permission) -> Option<&str> {
    permission
        .rules
        .iter()
        .filter(|r| r.access.contains(&Access::Read))
        .map(|r| r.path.as_str())
        .find(|p| !p.contains(['*', '{']))
}

/// The default connection test: for every permission the connection is
/// granted, a GET of the first path it reads that has no wildcard (a
/// permission without one is not checked). A connector that declares no
/// permissions makes no requests, and its test passes.
pub fn test_permissions(manifest: &Manifest, ctx: &Context) -> ConnectionReport {
    let mut report = ConnectionReport::default();
    if manifest.permissions.is_empty() {
        return report
            .check(
                "nothing to reach",
                true,
                "the connector declares no permissions, so it makes no requests",
            )
            .finish("ok: nothing to check");
    }
    let mut unchecked = Vec::new();
    for permission in &manifest.permissions {
        if !ctx.has_permission(&permission.id) {
            continue;
        }
        match fixed_read_path(permission) {
            Some(path) => report = report.probe(&permission.id, Request::get(path)),
            None => unchecked.push(permission.id.as_str()),
        }
    }
    if report.checks.is_empty() {
        let detail = if unchecked.is_empty() {
            "the connection is granted none of the connector's permissions".to_string()
        } else {
            format!(
                "not checked: no granted permission ({}) reads a path without wildcards",
                unchecked.join(", ")
            )
        };
        report = report.check("permissions", false, detail);
    }
    report.finish("every granted permission answered")
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::testing::{json, mock_http};
    use crate::{Permission, Value};

    #[test]
    fn probes_each_granted_permission_once() {
        mock_http(|req| match req.url.as_str() {
            "/people" => json(200, Value::Null),
            "/teams" => json(403, serde_json::json!({"message": "no teams for you"})),
            other => panic!("unexpected {other}"),
        });
        let manifest = Manifest::new("x", "X", "0.1.0").permissions([
            Permission::new("people-read", "People")
                .read("/people/*")
                .read("/people"),
            Permission::new("teams-read", "Teams").read("/teams"),
            Permission::new("any-read", "Any").read("/**"),
            Permission::new("ungranted", "Ungranted").read("/nope"),
        ]);
        let mut ctx = Context::for_test(serde_json::json!({}));
        ctx.permissions = vec!["people-read".into(), "teams-read".into(), "any-read".into()];
        let report = test_permissions(&manifest, &ctx);
        assert!(!report.ok);
        assert_eq!(report.summary, "failed: teams-read");
        assert_eq!(report.checks[0].detail, "GET /people answered 200");
        assert!(
            report.checks[1].detail.contains("403: no teams for you"),
            "{:?}",
            report.checks[1]
        );
        assert_eq!(report.checks.len(), 2);
    }

    #[test]
    fn no_permissions_means_nothing_to_check() {
        let report = test_permissions(
            &Manifest::new("x", "X", "0.1.0"),
            &Context::for_test(Value::Null),
        );
        assert!(report.ok);
    }
}
