//! Request paths and the permission patterns they are matched against.
//!
//! Paths are normalised before matching: percent-decoded once per segment,
//! with `.` and `..` segments (also with `;` parameters), encoded slashes,
//! backslashes and control characters refused, so `/api/v1/users/../crews`
//! can never pass as `/api/v1/users/*`.

use std::fmt;

/// Why a path cannot be matched at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// A `.` or `..` segment.
    DotSegment(String),
    /// `%2F`, `%5C` or a raw backslash.
    HiddenSeparator(String),
    /// Percent-decoding produced invalid UTF-8 or a control character.
    BadEncoding(String),
    /// Not absolute.
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

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DotSegment(p) => write!(f, "path `{p}` has a `.` or `..` segment"),
            Self::HiddenSeparator(p) => {
                write!(f, "path `{p}` has an encoded slash or a backslash")
            }
            Self::BadEncoding(p) => write!(f, "path `{p}` does not decode to printable UTF-8"),
            Self::NotAbsolute(p) => write!(f, "path `{p}` does not start with `/`"),
        }
    }
}

impl std::error::Error for PathError {}
