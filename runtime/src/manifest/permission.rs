//! Permission checks: does this method and path match a permission the card
//! declares and the connection was granted?
//!
//! Paths are normalised before matching: percent-decoded once per segment,
//! with `.` and `..` segments, encoded slashes and backslashes refused, so
//! `/api/v1/users/../crews` can never pass as `/api/v1/users/*`.

use crate::bindings::types::{Access, Method};
use std::fmt;

/// Whether a method reads or writes.
pub fn access_of(method: Method) -> Access {
    match method {
        Method::Get | Method::Head => Access::Read,
        Method::Post | Method::Put | Method::Patch | Method::Delete => Access::Write,
    }
}

/// Why a path cannot be matched at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// A `.` or `..` segment.
    #[error("path `{0}` has a `.` or `..` segment")]
    DotSegment(String),
    /// `%2F`, `%5C` or a raw backslash.
    #[error("path `{0}` has an encoded slash or a backslash")]
    HiddenSeparator(String),
    /// Percent-decoding produced invalid UTF-8 or a control character.
    #[error("path `{0}` does not decode to printable UTF-8")]
    BadEncoding(String),
    /// Not absolute.
    #[error("path `{0}` does not start with `/`")]
    NotAbsolute(String),
}

/// A path as quoted in an error: cut, so a hostile megabyte-long path costs
/// nothing to report.
fn shown(path: &str) -> String {
    crate::text::truncate(path, 256).into_owned()
}

/// Splits an absolute, still-encoded URL path into decoded segments.
pub fn normalise(path: &str) -> Result<Vec<String>, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute(shown(path)));
    }
    if path.contains('\\') {
        return Err(PathError::HiddenSeparator(shown(path)));
    }
    let mut segments = Vec::new();
    let body = &path[1..];
    if body.is_empty() {
        return Ok(segments);
    }
    for raw in body.split('/') {
        let decoded = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| PathError::BadEncoding(shown(path)))?;
        if decoded.contains('/') || decoded.contains('\\') {
            return Err(PathError::HiddenSeparator(shown(path)));
        }
        // `..;x` is `..` to servers that strip path parameters.
        let bare = decoded.split(';').next().unwrap_or_default();
        if bare == "." || bare == ".." {
            return Err(PathError::DotSegment(shown(path)));
        }
        if decoded.chars().any(char::is_control) {
            return Err(PathError::BadEncoding(shown(path)));
        }
        segments.push(decoded.into_owned());
    }
    // A trailing slash leaves one empty segment; `/crews/` is `/crews`.
    if segments.last().is_some_and(String::is_empty) {
        segments.pop();
    }
    Ok(segments)
}

/// One segment of a path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `*` or `{name}`: exactly one non-empty segment.
    One,
    /// Trailing `**`: any number of further segments, including none.
    Rest,
}

/// A parsed path pattern such as `/v1/legalentities/{id}/employees`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    source: String,
    segments: Vec<Segment>,
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl PathPattern {
    /// Parses a pattern; the error says what is wrong with it.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        if !pattern.starts_with('/') {
            return Err(format!("path pattern `{pattern}` must start with `/`"));
        }
        let mut segments = Vec::new();
        let body = pattern[1..].trim_end_matches('/');
        let parts: Vec<&str> = if body.is_empty() {
            Vec::new()
        } else {
            body.split('/').collect()
        };
        for (i, part) in parts.iter().enumerate() {
            let segment = match *part {
                "**" if i + 1 == parts.len() => Segment::Rest,
                "**" => return Err(format!("`**` must be the last segment of `{pattern}`")),
                "*" => Segment::One,
                "" | "." | ".." => {
                    return Err(format!(
                        "path pattern `{pattern}` has an empty or dot segment"
                    ));
                }
                p if p.starts_with('{') && p.ends_with('}') && p.len() > 2 => Segment::One,
                p if p.contains(['{', '}', '*', '?', '#', '\\', '%']) => {
                    return Err(format!(
                        "path pattern `{pattern}` has a segment `{p}` mixing wildcards and text"
                    ));
                }
                p => Segment::Literal(p.to_string()),
            };
            segments.push(segment);
        }
        Ok(Self {
            source: pattern.to_string(),
            segments,
        })
    }

    /// Whether normalised `path` segments match.
    pub fn matches(&self, path: &[String]) -> bool {
        let mut i = 0;
        for segment in &self.segments {
            match segment {
                Segment::Rest => return true,
                Segment::One => match path.get(i) {
                    Some(s) if !s.is_empty() => i += 1,
                    _ => return false,
                },
                Segment::Literal(lit) => match path.get(i) {
                    Some(s) if s == lit => i += 1,
                    _ => return false,
                },
            }
        }
        i == path.len()
    }
}

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
