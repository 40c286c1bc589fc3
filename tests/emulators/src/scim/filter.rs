//! SCIM filter expressions (RFC 7644 §3.4.2.2): parsing and evaluation
//! against JSON resources.
//!
//! ```text
//! FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
//! valuePath = attrPath "[" valFilter "]"
//! attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
//! logExp    = FILTER SP ("and" / "or") SP FILTER
//! compValue = false / null / true / number / string      ; JSON (RFC 7159)
//! compareOp = "eq" / "ne" / "co" / "sw" / "ew" / "gt" / "lt" / "ge" / "le"
//! attrPath  = [URI ":"] ATTRNAME *1subAttr
//! ```
//!
//! `and` binds tighter than `or`; operators, keywords and attribute names
//! are case-insensitive. String comparisons ignore case except for
//! attributes whose schema says `caseExact` (`id`, `externalId`,
//! `meta.version`). `meta.created` and `meta.lastModified` compare as
//! instants when both sides parse as ISO 8601 date-times.

use serde_json::Value;
use std::cmp::Ordering;

/// The core User schema URN; paths qualified with it address the resource
/// itself.
pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Both hold.
    And(Box<Filter>, Box<Filter>),
    /// Either holds.
    Or(Box<Filter>, Box<Filter>),
    /// The inner filter does not hold.
    Not(Box<Filter>),
    /// The attribute has a non-empty value.
    Present(AttrPath),
    /// The attribute compares with the value.
    Compare(AttrPath, Op, CompValue),
    /// Some value of a multi-valued attribute matches the inner filter,
    /// whose paths are relative to that value.
    ValuePath(AttrPath, Box<Filter>),
}

/// An attribute path: optional schema URN, attribute, optional sub-attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URN, when the path is qualified.
    pub urn: Option<String>,
    /// The attribute name.
    pub attr: String,
    /// The sub-attribute name.
    pub sub: Option<String>,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Contains.
    Co,
    /// Starts with.
    Sw,
    /// Ends with.
    Ew,
    /// Greater than.
    Gt,
    /// Less than.
    Lt,
    /// Greater than or equal.
    Ge,
    /// Less than or equal.
    Le,
}

impl Op {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" => Op::Gt,
            "lt" => Op::Lt,
            "ge" => Op::Ge,
            "le" => Op::Le,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Co => "co",
            Op::Sw => "sw",
            Op::Ew => "ew",
            Op::Gt => "gt",
            Op::Lt => "lt",
            Op::Ge => "ge",
            Op::Le => "le",
        }
    }
}

/// A comparison value.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    /// A JSON string, escapes decoded.
    Str(String),
    /// A JSON number.
    Num(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Word(String),
    Str(String),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            b')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            b'[' => {
                tokens.push(Token::OpenBracket);
                i += 1;
            }
            b']' => {
                tokens.push(Token::CloseBracket);
                i += 1;
            }
            b'"' => {
                let start = i;
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Err(format!("unterminated string starting at {start}")),
                        Some(b'\\') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                let literal = &text[start..=i];
                let value: String = serde_json::from_str(literal)
                    .map_err(|e| format!("bad string {literal}: {e}"))?;
                tokens.push(Token::Str(value));
                i += 1;
            }
            _ => {
                let start = i;
                while i < bytes.len()
                    && !matches!(bytes[i], b' ' | b'(' | b')' | b'[' | b']' | b'"')
                {
                    i += 1;
                }
                tokens.push(Token::Word(text[start..i].to_string()));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, String> {
        if self.keyword("not") {
            self.pos += 1;
            if self.next() != Some(Token::Open) {
                return Err("`not` must be followed by `(`".into());
            }
            let inner = self.or()?;
            self.expect(Token::Close, "`)`")?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or()?;
                self.expect(Token::Close, "`)`")?;
                Ok(inner)
            }
            Some(Token::Word(word)) => self.attr_expr(&word),
            Some(other) => Err(format!("expected an attribute, found {}", describe(&other))),
            None => Err("the filter ends where an expression was expected".into()),
        }
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<(), String> {
        match self.next() {
            Some(t) if t == token => Ok(()),
            Some(other) => Err(format!("expected {what}, found {}", describe(&other))),
            None => Err(format!("expected {what} at the end of the filter")),
        }
    }

    fn attr_expr(&mut self, word: &str) -> Result<Filter, String> {
        let path = parse_path(word)?;
        if self.peek() == Some(&Token::OpenBracket) {
            self.pos += 1;
            let inner = self.or()?;
            self.expect(Token::CloseBracket, "`]`")?;
            return Ok(Filter::ValuePath(path, Box::new(inner)));
        }
        let op = match self.next() {
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("pr") => {
                return Ok(Filter::Present(path));
            }
            Some(Token::Word(w)) => {
                Op::parse(&w).ok_or_else(|| format!("`{w}` is not a comparison operator"))?
            }
            Some(other) => {
                return Err(format!(
                    "expected an operator after `{word}`, found {}",
                    describe(&other)
                ));
            }
            None => return Err(format!("`{word}` needs an operator")),
        };
        let value = match self.next() {
            Some(Token::Str(s)) => CompValue::Str(s),
            Some(Token::Word(w)) => match w.as_str() {
                "true" => CompValue::Bool(true),
                "false" => CompValue::Bool(false),
                "null" => CompValue::Null,
                number => CompValue::Num(number.parse().map_err(|_| {
                    format!("`{number}` is not a value: strings must be in double quotes")
                })?),
            },
            Some(other) => {
                return Err(format!(
                    "expected a value after `{}`, found {}",
                    op.name(),
                    describe(&other)
                ));
            }
            None => return Err(format!("`{word} {}` needs a value", op.name())),
        };
        Ok(Filter::Compare(path, op, value))
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Open => "`(`".into(),
        Token::Close => "`)`".into(),
        Token::OpenBracket => "`[`".into(),
        Token::CloseBracket => "`]`".into(),
        Token::Word(w) => format!("`{w}`"),
        Token::Str(s) => format!("the string {s:?}"),
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
}

/// Parses an attribute path such as `name.givenName` or
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.
pub fn parse_path(text: &str) -> Result<AttrPath, String> {
    let (urn, rest) = if text.len() > 4 && text[..4].eq_ignore_ascii_case("urn:") {
        let cut = text
            .rfind(':')
            .ok_or_else(|| format!("`{text}` is not an attribute path"))?;
        (Some(text[..cut].to_string()), &text[cut + 1..])
    } else {
        (None, text)
    };
    let (attr, sub) = match rest.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (rest, None),
    };
    if !valid_name(attr) || sub.is_some_and(|s| !valid_name(s)) {
        return Err(format!("`{text}` is not an attribute path"));
    }
    Ok(AttrPath {
        urn,
        attr: attr.to_string(),
        sub: sub.map(str::to_string),
    })
}

/// Parses a whole filter.
pub fn parse(text: &str) -> Result<Filter, String> {
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Err("the filter is empty".into());
    }
    let mut parser = Parser { tokens, pos: 0 };
    let filter = parser.or()?;
    match parser.peek() {
        None => Ok(filter),
        Some(token) => Err(format!(
            "unexpected {} after a complete expression (join expressions with `and` or `or`)",
            describe(token)
        )),
    }
}

/// The value of `key` in `object`, matching the key case-insensitively.
pub fn get_ci<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    let map = object.as_object()?;
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The object a path's URN addresses inside `resource`.
fn schema_root<'a>(resource: &'a Value, urn: Option<&str>) -> Option<&'a Value> {
    match urn {
        None => Some(resource),
        Some(u) if u.eq_ignore_ascii_case(CORE_USER) => Some(resource),
        Some(u) => get_ci(resource, u),
    }
}

/// The leaf values a path reaches: every element of a multi-valued
/// attribute, a complex value's `value` sub-attribute when none is named.
pub fn leaves<'a>(resource: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let Some(root) = schema_root(resource, path.urn.as_deref()) else {
        return Vec::new();
    };
    let Some(value) = get_ci(root, &path.attr) else {
        return Vec::new();
    };
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    items
        .into_iter()
        .filter_map(|item| match (&path.sub, item) {
            (Some(sub), _) => get_ci(item, sub),
            (None, Value::Object(_)) => get_ci(item, "value"),
            (None, other) => Some(other),
        })
        .flat_map(|v| match v {
            Value::Array(a) => a.iter().collect::<Vec<_>>(),
            other => vec![other],
        })
        .filter(|v| !v.is_null())
        .collect()
}

fn case_exact(path: &AttrPath) -> bool {
    let attr = path.attr.to_ascii_lowercase();
    let sub = path.sub.as_deref().map(str::to_ascii_lowercase);
    matches!(
        (attr.as_str(), sub.as_deref()),
        ("id", None) | ("externalid", None) | ("meta", Some("version"))
    )
}

fn is_instant(path: &AttrPath) -> bool {
    path.attr.eq_ignore_ascii_case("meta")
        && path.sub.as_deref().is_some_and(|s| {
            s.eq_ignore_ascii_case("created") || s.eq_ignore_ascii_case("lastModified")
        })
}

fn ordering_ok(op: Op, ordering: Ordering) -> bool {
    match op {
        Op::Eq => ordering == Ordering::Equal,
        Op::Ne => ordering != Ordering::Equal,
        Op::Gt => ordering == Ordering::Greater,
        Op::Ge => ordering != Ordering::Less,
        Op::Lt => ordering == Ordering::Less,
        Op::Le => ordering != Ordering::Greater,
        Op::Co | Op::Sw | Op::Ew => false,
    }
}

fn compare_one(path: &AttrPath, op: Op, leaf: &Value, value: &CompValue) -> Result<bool, String> {
    match (leaf, value) {
        (Value::String(actual), CompValue::Str(expected)) => {
            if is_instant(path)
                && matches!(op, Op::Eq | Op::Ne | Op::Gt | Op::Ge | Op::Lt | Op::Le)
                && let (Some(a), Some(b)) = (
                    crate::advanced_hr::parse_timestamp(actual),
                    crate::advanced_hr::parse_timestamp(expected),
                )
            {
                return Ok(ordering_ok(op, a.cmp(&b)));
            }
            let (a, b) = if case_exact(path) {
                (actual.clone(), expected.clone())
            } else {
                (actual.to_lowercase(), expected.to_lowercase())
            };
            Ok(match op {
                Op::Co => a.contains(&b),
                Op::Sw => a.starts_with(&b),
                Op::Ew => a.ends_with(&b),
                other => ordering_ok(other, a.cmp(&b)),
            })
        }
        (Value::Bool(actual), CompValue::Bool(expected)) => match op {
            Op::Eq => Ok(actual == expected),
            Op::Ne => Ok(actual != expected),
            other => Err(format!(
                "`{}` cannot compare the boolean attribute `{}`",
                other.name(),
                path.attr
            )),
        },
        (Value::Number(actual), CompValue::Num(expected)) => {
            let actual = actual.as_f64().unwrap_or(f64::NAN);
            match op {
                Op::Co | Op::Sw | Op::Ew => Err(format!(
                    "`{}` cannot compare the number attribute `{}`",
                    op.name(),
                    path.attr
                )),
                other => Ok(actual
                    .partial_cmp(expected)
                    .is_some_and(|o| ordering_ok(other, o))),
            }
        }
        (_, CompValue::Bool(_)) if matches!(op, Op::Gt | Op::Ge | Op::Lt | Op::Le) => {
            Err(format!("`{}` is not defined for boolean values", op.name()))
        }
        _ => Ok(false),
    }
}

/// Whether `resource` matches `filter`. Errors are comparisons RFC 7644
/// leaves undefined (`gt` on a boolean), answered as `invalidFilter`.
pub fn matches(filter: &Filter, resource: &Value) -> Result<bool, String> {
    Ok(match filter {
        Filter::And(a, b) => matches(a, resource)? && matches(b, resource)?,
        Filter::Or(a, b) => matches(a, resource)? || matches(b, resource)?,
        Filter::Not(inner) => !matches(inner, resource)?,
        Filter::Present(path) => leaves(resource, path).iter().any(|v| match v {
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            _ => true,
        }),
        Filter::Compare(path, op, CompValue::Null) => {
            let present = !leaves(resource, path).is_empty();
            match op {
                Op::Eq => !present,
                Op::Ne => present,
                other => return Err(format!("`{}` cannot compare with null", other.name())),
            }
        }
        Filter::Compare(path, Op::Ne, value) => {
            let mut any_equal = false;
            for leaf in leaves(resource, path) {
                any_equal |= compare_one(path, Op::Eq, leaf, value)?;
            }
            !any_equal
        }
        Filter::Compare(path, op, value) => {
            let mut any = false;
            for leaf in leaves(resource, path) {
                any |= compare_one(path, *op, leaf, value)?;
            }
            any
        }
        Filter::ValuePath(path, inner) => {
            let Some(root) = schema_root(resource, path.urn.as_deref()) else {
                return Ok(false);
            };
            let Some(value) = get_ci(root, &path.attr) else {
                return Ok(false);
            };
            let items: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            let mut any = false;
            for item in items {
                any |= matches(inner, item)?;
            }
            any
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "HV000042",
            "userName": "HARBOUR\\amurphy",
            "displayName": "Joanne \"Jo\" Quinn",
            "name": {"givenName": "Mary Ann", "familyName": "O'Neill"},
            "active": true,
            "emails": [
                {"value": "sam+rota@harbourvine.example", "type": "work", "primary": true},
                {"value": "sam@home.example", "type": "home"}
            ],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "division": "Restaurants",
                "manager": {"value": "m-1"}
            },
            "meta": {"lastModified": "2025-03-14T09:30:00Z", "version": "W/\"3\""}
        })
    }

    fn yes(filter: &str) -> bool {
        matches(
            &parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}")),
            &user(),
        )
        .unwrap_or_else(|e| panic!("{filter}: {e}"))
    }

    #[test]
    fn operators_and_quoting() {
        assert!(yes(r#"userName eq "harbour\\AMURPHY""#));
        assert!(yes(r#"displayName eq "Joanne \"Jo\" Quinn""#));
        assert!(yes(r#"name.givenName eq "mary ann""#));
        assert!(yes(r#"name.familyName sw "O'""#));
        assert!(yes(r#"emails.value co "+rota@""#));
        assert!(yes(r#"emails ew ".example""#));
        assert!(yes("title pr or active eq true"));
        assert!(!yes("title pr"));
        assert!(yes("active ne false and not (title pr)"));
        assert!(yes(r#"externalId eq "HV000042""#));
        assert!(
            !yes(r#"externalId eq "hv000042""#),
            "externalId is caseExact"
        );
        assert!(yes(r#"meta.lastModified gt "2025-03-14T10:29:59+01:00""#));
        assert!(!yes(r#"meta.lastModified gt "2025-03-14T09:30:00Z""#));
        assert!(yes(r#"meta.lastModified ge "2025-03-14T09:30:00Z""#));
        assert!(yes(r#"emails[type eq "work" and value sw "sam+"]"#));
        assert!(!yes(r#"emails[type eq "home" and value sw "sam+"]"#));
        assert!(yes(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division eq "restaurants""#
        ));
        assert!(yes(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m-1""#
        ));
        assert!(yes(r#"USERNAME Eq "harbour\\amurphy" AND Active EQ true"#));
        assert!(yes("nickName eq null"));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert!(yes(
            r#"active eq false and title pr or userName sw "harbour""#
        ));
        assert!(!yes(
            r#"active eq false and (title pr or userName sw "harbour")"#
        ));
    }

    #[test]
    fn malformed_filters_are_refused() {
        for bad in [
            "",
            "userName",
            "userName eq",
            r#"userName eq "unterminated"#,
            "userName eq bob",
            r#"userName xx "a""#,
            r#"(userName eq "a""#,
            r#"userName eq "a" userName eq "b""#,
            r#"emails[type eq "work""#,
            r#"not userName eq "a""#,
            r#"1abc eq "a""#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let gt_bool = parse("active gt true").unwrap();
        assert!(matches(&gt_bool, &user()).is_err());
    }
}
