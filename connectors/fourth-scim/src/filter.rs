//! SCIM filter expressions (RFC 7644 §3.4.2.2) built safely from card
//! inputs, plus a light check of raw filters before they are sent.
//!
//! Values are written as JSON strings, so `"` and `\` in a value are escaped
//! and can never end the string early or inject another clause. The whole
//! filter is percent-encoded as one query component ([`crate::scim`]).

use cardhost_sdk::{Error, Result};

/// Quotes `value` as a SCIM string: a JSON string with `"`, `\` and control
/// characters escaped.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Clauses joined with `and`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterBuilder {
    clauses: Vec<String>,
}

impl FilterBuilder {
    /// An empty filter (matches everything).
    pub fn new() -> Self {
        Self::default()
    }

    /// `attr op "value"`.
    pub fn compare(mut self, attr: &str, op: &str, value: &str) -> Self {
        self.clauses.push(format!("{attr} {op} {}", quote(value)));
        self
    }

    /// `userName eq "…"` (case-insensitive on the server: userName is not
    /// caseExact).
    pub fn user_name(self, user_name: &str) -> Self {
        self.compare("userName", "eq", user_name)
    }

    /// `emails.value eq "…"`: any of the user's email addresses.
    pub fn email(self, email: &str) -> Self {
        self.compare("emails.value", "eq", email)
    }

    /// `externalId eq "…"` (caseExact on the server).
    pub fn external_id(self, external_id: &str) -> Self {
        self.compare("externalId", "eq", external_id)
    }

    /// `active eq true|false`.
    pub fn active(mut self, active: bool) -> Self {
        self.clauses.push(format!("active eq {active}"));
        self
    }

    /// `meta.lastModified gt "…"`: changed strictly after the instant.
    pub fn modified_after(self, instant: &str) -> Self {
        self.compare("meta.lastModified", "gt", instant)
    }

    /// `meta.lastModified ge "…"`: changed at or after the instant, so a
    /// change stamped in the same second as a watermark is not missed.
    pub fn modified_at_or_after(self, instant: &str) -> Self {
        self.compare("meta.lastModified", "ge", instant)
    }

    /// A raw filter, parenthesised so that its `or` cannot escape the `and`.
    pub fn raw(mut self, filter: &str) -> Self {
        self.clauses.push(format!("({})", filter.trim()));
        self
    }

    /// Adds an `or` of two clauses as one clause.
    pub fn either(mut self, a: FilterBuilder, b: FilterBuilder) -> Self {
        match (a.build(), b.build()) {
            (Some(a), Some(b)) => self.clauses.push(format!("({a} or {b})")),
            (Some(one), None) | (None, Some(one)) => self.clauses.push(one),
            (None, None) => {}
        }
        self
    }

    /// The filter text, or `None` when there is no clause.
    pub fn build(self) -> Option<String> {
        (!self.clauses.is_empty()).then(|| self.clauses.join(" and "))
    }
}

/// Checks a raw filter for mistakes the server would answer with a terse
/// `invalidFilter`: unbalanced quotes, parentheses or brackets, control
/// characters, single-quoted values. The server still has the last word on
/// attribute names and operators.
pub fn check_raw(filter: &str) -> Result<()> {
    let invalid = |why: &str| {
        Err(Error::InvalidInput(format!(
            "`filter` is not a valid SCIM filter: {why} (values go in double quotes, with \\\" for a quote and \\\\ for a backslash)"
        )))
    };
    if filter.trim().is_empty() {
        return invalid("it is empty");
    }
    let mut depth: i32 = 0;
    let mut brackets: i32 = 0;
    let mut in_string = false;
    let mut escaped = false;
    for c in filter.chars() {
        if c.is_control() && c != ' ' {
            return invalid("it contains a control character");
        }
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '\'' => return invalid("a value is in single quotes"),
            '(' => depth += 1,
            ')' => depth -= 1,
            '[' => brackets += 1,
            ']' => brackets -= 1,
            _ => {}
        }
        if depth < 0 || brackets < 0 {
            return invalid("a `)` or `]` has no opening partner");
        }
    }
    if in_string {
        return invalid("a quoted value is not closed");
    }
    if depth != 0 || brackets != 0 {
        return invalid("a `(` or `[` is not closed");
    }
    Ok(())
}

/// Days in `month` of `year` (proleptic Gregorian).
fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

/// Normalises an ISO 8601 date (`2025-05-01`, taken as midnight UTC) or
/// date-time (`2025-05-01T09:30:00Z`, `…+01:00`, `…T09:30Z`, fractions
/// allowed) into an xsd:dateTime for `meta.lastModified` comparisons, or
/// `None` when it is neither.
pub fn normalise_instant(text: &str) -> Option<String> {
    let text = text.trim();
    let b = text.as_bytes();
    let num = |from: usize, to: usize| -> Option<u32> {
        let part = text.get(from..to)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if b.len() == 10 {
        return Some(format!("{text}T00:00:00Z"));
    }
    if !matches!(b[10], b'T' | b't') || b.len() < 16 || b[13] != b':' {
        return None;
    }
    if num(11, 13)? > 23 || num(14, 16)? > 59 {
        return None;
    }
    let mut pos = 16;
    let mut seconds = ":00";
    if b.get(pos) == Some(&b':') {
        if num(pos + 1, pos + 3)? > 60 {
            return None;
        }
        seconds = "";
        pos += 3;
        if b.get(pos) == Some(&b'.') {
            pos += 1;
            let start = pos;
            while b.get(pos).is_some_and(u8::is_ascii_digit) {
                pos += 1;
            }
            if pos == start {
                return None;
            }
        }
    }
    let zone = &text[pos..];
    let zone_ok = match zone {
        "Z" | "z" => true,
        _ => {
            let z = zone.as_bytes();
            z.len() == 6
                && matches!(z[0], b'+' | b'-')
                && z[3] == b':'
                && num(pos + 1, pos + 3).is_some_and(|h| h < 24)
                && num(pos + 4, pos + 6).is_some_and(|m| m < 60)
        }
    };
    if !zone_ok {
        return None;
    }
    let zone = if zone == "z" { "Z" } else { zone };
    Some(format!(
        "{}{seconds}{zone}",
        &text[..pos].replacen('t', "T", 1)
    ))
}

/// An instant, for ordering `meta.lastModified` values that may use
/// different offsets; none for text that is not one.
pub fn instant_key(text: &str) -> Option<cardhost_sdk::time::Instant> {
    cardhost_sdk::time::Instant::parse(&normalise_instant(text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_json_quoted() {
        assert_eq!(quote(r#"Joanne "Jo" Quinn"#), r#""Joanne \"Jo\" Quinn""#);
        assert_eq!(quote(r"HARBOUR\amurphy"), r#""HARBOUR\\amurphy""#);
        assert_eq!(quote("O'Neill"), r#""O'Neill""#);
        assert_eq!(quote("a\nb\u{1}"), r#""a\nb\u0001""#);
        // The quoted form is exactly what a JSON parser reads back.
        for v in [r#"x" or userName pr or "y"#, "\\\"", "Mary Ann"] {
            let back: String = cardhost_sdk::serde_json::from_str(&quote(v)).unwrap();
            assert_eq!(back, v);
        }
    }

    #[test]
    fn builder_joins_clauses_with_and() {
        let f = FilterBuilder::new()
            .user_name(r#"x" or userName pr or "y"#)
            .active(true)
            .modified_after("2025-01-01T00:00:00Z")
            .raw(r#"title eq "Host" or title eq "Waiter""#)
            .build()
            .unwrap();
        assert_eq!(
            f,
            r#"userName eq "x\" or userName pr or \"y" and active eq true and meta.lastModified gt "2025-01-01T00:00:00Z" and (title eq "Host" or title eq "Waiter")"#
        );
        assert_eq!(FilterBuilder::new().build(), None);
        let either = FilterBuilder::new()
            .either(
                FilterBuilder::new().email("a@b"),
                FilterBuilder::new().user_name("a@b"),
            )
            .build()
            .unwrap();
        assert_eq!(either, r#"(emails.value eq "a@b" or userName eq "a@b")"#);
    }

    #[test]
    fn raw_filters_are_checked_lexically() {
        for good in [
            r#"userName eq "a""#,
            r#"displayName eq "Jo \"JJ\" (x)""#,
            r#"emails[type eq "work" and value co "@"]"#,
            r#"not (active eq true)"#,
        ] {
            assert!(check_raw(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            r#"userName eq "a"#,
            "userName eq 'a'",
            r#"(userName eq "a""#,
            r#"userName eq "a")"#,
            r#"emails[type eq "work""#,
            "userName eq \"a\"\u{7}",
        ] {
            assert!(
                matches!(check_raw(bad), Err(Error::InvalidInput(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn instants_order_across_offsets() {
        let a = instant_key("2025-05-01T10:30:00+01:00").unwrap();
        let b = instant_key("2025-05-01T09:30:00Z").unwrap();
        assert_eq!(a, b);
        assert!(instant_key("2025-05-01T09:30:00.5Z").unwrap() > b);
        assert!(instant_key("2025-05-01T09:30:00.50Z") == instant_key("2025-05-01T09:30:00.5Z"));
        assert!(instant_key("2024-12-31T23:59:59Z").unwrap() < b);
        assert_eq!(instant_key("2025-05-01").unwrap().secs, 1_746_057_600);
    }

    #[test]
    fn instants_are_normalised() {
        assert_eq!(
            normalise_instant("2025-05-01").as_deref(),
            Some("2025-05-01T00:00:00Z")
        );
        assert_eq!(
            normalise_instant("2025-05-01T09:30Z").as_deref(),
            Some("2025-05-01T09:30:00Z")
        );
        assert_eq!(
            normalise_instant("2025-05-01t09:30:15.250+01:00").as_deref(),
            Some("2025-05-01T09:30:15.250+01:00")
        );
        for bad in [
            "2025-02-29",
            "2025-13-01",
            "01/05/2025",
            "2025-05-01T09:30:00",
            "2025-05-01T24:00:00Z",
            "2025-05-01T09:30:00+0100",
            "yesterday",
        ] {
            assert_eq!(normalise_instant(bad), None, "{bad}");
        }
    }
}
