//! Permission checks: does this method and path match a permission the card
//! declares and the connection was granted?
//!
//! Paths are normalised before matching: percent-decoded once per segment,
//! with `.` and `..` segments, encoded slashes and backslashes refused, so
//! `/api/v1/users/../crews` can never pass as `/api/v1/users/*`.

use crate::bindings::types::{Access, Method};

/// Whether a method reads or writes.
pub fn access_of(method: Method) -> Access {
    match method {
        Method::Get | Method::Head => Access::Read,
        Method::Post | Method::Put | Method::Patch | Method::Delete => Access::Write,
    }
}

pub use cardhost_rules::path::{PathError, PathPattern, normalise};

/// A permission's rules, parsed.
#[derive(Debug, Clone)]
pub struct CompiledPermission {
    /// Permission id.
    pub id: String,
    /// `(access kinds, pattern)` rules.
    pub rules: Vec<(Vec<Access>, PathPattern)>,
}

impl CompiledPermission {
    /// Whether any rule allows `access` on `path`.
    pub fn allows(&self, access: Access, path: &[String]) -> bool {
        self.rules
            .iter()
            .any(|(kinds, pattern)| kinds.contains(&access) && pattern.matches(path))
    }
}

/// The outcome of a permission check that failed, with what a caller needs to
/// fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Permissions that would have allowed the request but were not granted
    /// to the connection (empty when the card declares none that match).
    pub ungranted: Vec<String>,
}

/// Checks `access` on `path` against the permissions usable in this
/// invocation (`usable`: the card's, intersected with the connection's grant)
/// and, to explain a refusal, against the card's declared permissions.
pub fn check(
    access: Access,
    path: &[String],
    usable: &[&CompiledPermission],
    declared: &[&CompiledPermission],
) -> Result<String, Refusal> {
    if let Some(p) = usable.iter().find(|p| p.allows(access, path)) {
        return Ok(p.id.clone());
    }
    Err(Refusal {
        ungranted: declared
            .iter()
            .filter(|p| p.allows(access, path))
            .map(|p| p.id.clone())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(path: &str) -> Vec<String> {
        normalise(path).unwrap()
    }

    #[test]
    fn traversal_and_hidden_separators_are_refused() {
        assert!(matches!(
            normalise("/api/v1/users/../crews"),
            Err(PathError::DotSegment(_))
        ));
        assert!(matches!(
            normalise("/api/v1/users/%2e%2e/crews"),
            Err(PathError::DotSegment(_))
        ));
        assert!(matches!(
            normalise("/api/v1/users%2Fcrews"),
            Err(PathError::HiddenSeparator(_))
        ));
        assert!(matches!(
            normalise("/api/v1/users%5Ccrews"),
            Err(PathError::HiddenSeparator(_))
        ));
        assert!(matches!(
            normalise("/api\\v1"),
            Err(PathError::HiddenSeparator(_))
        ));
        assert!(matches!(normalise("/a/./b"), Err(PathError::DotSegment(_))));
        for hidden in [
            "/items/..;/admin",
            "/items/.;x/admin",
            "/items/%2e%2e;/admin",
            "/items/..%3b/admin",
            "/items/%2E%2E%3Bjsessionid=1/admin",
        ] {
            assert!(
                matches!(normalise(hidden), Err(PathError::DotSegment(_))),
                "{hidden}"
            );
        }
        assert!(matches!(
            normalise("/a%00b"),
            Err(PathError::BadEncoding(_))
        ));
    }

    #[test]
    fn decoding_happens_once() {
        // `%252e%252e` decodes once to `%2e%2e`, a literal segment, not `..`.
        assert_eq!(segs("/a/%252e%252e"), vec!["a", "%2e%2e"]);
        assert_eq!(segs("/crews/"), vec!["crews"]);
    }

    #[test]
    fn patterns_match_segment_wise() {
        let p = PathPattern::parse("/v1/legalentities/{id}/employees").unwrap();
        assert!(p.matches(&segs("/v1/legalentities/42/employees")));
        assert!(!p.matches(&segs("/v1/legalentities/42/employees/7")));
        assert!(!p.matches(&segs("/v1/legalentities//employees")));
        let star = PathPattern::parse("/api/v1/users/*").unwrap();
        assert!(star.matches(&segs("/api/v1/users/abc")));
        assert!(!star.matches(&segs("/api/v1/users")));
        assert!(!star.matches(&segs("/api/v1/crews/abc")));
        let rest = PathPattern::parse("/items/**").unwrap();
        assert!(rest.matches(&segs("/items")));
        assert!(rest.matches(&segs("/items/a/b/c")));
        assert!(!rest.matches(&segs("/itemsx")));
    }

    #[test]
    fn bad_patterns_are_explained() {
        assert!(
            PathPattern::parse("relative")
                .unwrap_err()
                .contains("must start")
        );
        assert!(
            PathPattern::parse("/a/**/b")
                .unwrap_err()
                .contains("last segment")
        );
        assert!(PathPattern::parse("/a/b*c").unwrap_err().contains("mixing"));
        assert!(PathPattern::parse("/a/../b").unwrap_err().contains("dot"));
    }

    #[test]
    fn check_names_ungranted_permissions() {
        let read = CompiledPermission {
            id: "crews-read".into(),
            rules: vec![(vec![Access::Read], PathPattern::parse("/crews/**").unwrap())],
        };
        let write = CompiledPermission {
            id: "crews-write".into(),
            rules: vec![(vec![Access::Write], PathPattern::parse("/crews/*").unwrap())],
        };
        let path = segs("/crews/1");
        assert_eq!(
            check(Access::Read, &path, &[&read], &[&read, &write]),
            Ok("crews-read".into())
        );
        assert_eq!(
            check(Access::Write, &path, &[&read], &[&read, &write]),
            Err(Refusal {
                ungranted: vec!["crews-write".into()]
            })
        );
        assert_eq!(
            check(Access::Write, &segs("/users/1"), &[&read], &[&read, &write]),
            Err(Refusal { ungranted: vec![] })
        );
    }
}
