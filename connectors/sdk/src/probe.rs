//! Connection-test probes: a cheap GET per credential or right, each one
//! check of the [`ConnectionReport`], and the default connection test built
//! from them.
//!
//! A test whose checks read more than one answer (a credentials check that
//! looks at what every probe saw) keeps each answer as a [`Probe`] and makes
//! its checks from those: [`Probe::check`] for one right,
//! [`first_answer`] and [`first_failure`] for the credentials, and
//! [`check_names`] for the summary.

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
    Check::new(name, ok, detail)
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
            let detail = format!("not checked: the connection is not granted `{permission}`");
            Check::new(permission, false, detail)
        };
        self.checks.push(check);
        self
    }
}

/// What one connection-test request found.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// Not tried; the words say why.
    Skipped(String),
    /// The upstream answered, with any status.
    Answered(Response),
    /// No answer: the host refused to send it or could not get a token.
    Failed(String),
}

impl Probe {
    /// Sends `request` and keeps the answer, whatever its status.
    pub fn send(request: Request) -> Self {
        match request.send() {
            Ok(response) => Probe::Answered(response),
            Err(e) => Probe::Failed(e.to_string()),
        }
    }

    /// Runs `probe` when the connection is granted `permission`; otherwise
    /// sends nothing and says which permission is missing.
    pub fn if_granted(ctx: &Context, permission: &str, probe: impl FnOnce() -> Probe) -> Self {
        if ctx.has_permission(permission) {
            probe()
        } else {
            Probe::Skipped(format!(
                "not checked: this connection is not granted the permission `{permission}`"
            ))
        }
    }

    /// The answer, whatever its status.
    pub fn answer(&self) -> Option<&Response> {
        match self {
            Probe::Answered(response) => Some(response),
            _ => None,
        }
    }

    /// The answer when its status is 2xx.
    pub fn success(&self) -> Option<&Response> {
        self.answer().filter(|r| r.is_success())
    }

    /// A check named `name` of this probe. Skipped or failed: not ok, with
    /// the probe's words. A 2xx answer: `read` says whether it shows what
    /// was wanted (`Ok`) or not (`Err`), in words. Any other status: not ok,
    /// with `refused`'s words.
    pub fn check(
        &self,
        name: &str,
        read: impl FnOnce(&Response) -> Result<String, String>,
        refused: impl FnOnce(&Response) -> String,
    ) -> Check {
        match self {
            Probe::Skipped(words) | Probe::Failed(words) => Check::new(name, false, words.clone()),
            Probe::Answered(r) if r.is_success() => match read(r) {
                Ok(words) => Check::new(name, true, words),
                Err(words) => Check::new(name, false, words),
            },
            Probe::Answered(r) => Check::new(name, false, refused(r)),
        }
    }
}

/// The first answer among `probes` that `pick` accepts.
pub fn first_answer<'a>(
    probes: impl IntoIterator<Item = &'a Probe>,
    pick: impl Fn(&Response) -> bool,
) -> Option<&'a Response> {
    probes
        .into_iter()
        .filter_map(Probe::answer)
        .find(|r| pick(r))
}

/// The words of the first probe among `probes` that got no answer.
pub fn first_failure<'a>(probes: impl IntoIterator<Item = &'a Probe>) -> Option<&'a str> {
    probes.into_iter().find_map(|p| match p {
        Probe::Failed(words) => Some(words.as_str()),
        _ => None,
    })
}

/// The names of the checks that passed (`ok`) or failed (`!ok`), for a
/// summary such as `can read employees, departments`.
pub fn check_names(checks: &[Check], ok: bool) -> Vec<&str> {
    checks
        .iter()
        .filter(|c| c.ok == ok)
        .map(|c| c.name.as_str())
        .collect()
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
    fn probes_make_checks_and_answer_credential_questions() {
        mock_http(|req| match req.url.as_str() {
            "/ok" => json(200, serde_json::json!({"n": 3})),
            _ => json(401, serde_json::json!({"message": "bad token"})),
        });
        let mut ctx = Context::for_test(Value::Null);
        ctx.permissions = vec!["a".into()];
        let probes = [
            Probe::if_granted(&ctx, "b", || panic!("not granted, not sent")),
            Probe::if_granted(&ctx, "a", || Probe::send(Request::get("/no"))),
            Probe::send(Request::get("/ok")),
            Probe::Failed("no token".into()),
        ];
        assert!(matches!(&probes[0], Probe::Skipped(w) if w.contains("`b`")));
        let refused = |r: &Response| format!("refused: {}", error_message(r));
        let checks: Vec<Check> = probes
            .iter()
            .map(|p| p.check("x", |_| Ok("read".into()), refused))
            .collect();
        assert_eq!(checks[1].detail, "refused: bad token");
        assert_eq!((checks[2].ok, checks[2].detail.as_str()), (true, "read"));
        assert_eq!(check_names(&checks, true), ["x"]);
        assert_eq!(
            first_answer(&probes, |r| r.status == 401).unwrap().status,
            401
        );
        assert!(first_answer(&probes, |r| r.status == 500).is_none());
        assert_eq!(first_failure(&probes), Some("no token"));
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
