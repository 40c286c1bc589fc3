//! The Advanced HR REST contract as the cards use it: resource paths (with
//! the connection's overrides), the paged envelope, and error words.

use cardhost_sdk::http::{Request, Response, encode_component, error_message};
use cardhost_sdk::paging::{self, Page};
use cardhost_sdk::schema::is_date;
use cardhost_sdk::{Context, Error, Result, Value};
use serde::Deserialize;

/// Permission that lets cards read paths other than the default ones.
pub const TENANT_PATHS: &str = "tenant-paths-read";

/// Largest `pageSize` the API accepts.
pub const MAX_PAGE_SIZE: u32 = 100;

/// One of the API's three data areas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// `/employees`, `/employees/search`, `/employees/{id}`.
    Employees,
    /// `/departments`.
    Departments,
    /// `/positions`.
    Positions,
}

impl Area {
    /// All areas, in the order connection tests report them.
    pub const ALL: [Area; 3] = [Area::Employees, Area::Departments, Area::Positions];

    /// The area's name in messages.
    pub fn noun(self) -> &'static str {
        match self {
            Area::Employees => "employees",
            Area::Departments => "departments",
            Area::Positions => "positions",
        }
    }

    /// The connection field that overrides the area's path.
    pub fn path_field(self) -> &'static str {
        match self {
            Area::Employees => "employees_path",
            Area::Departments => "departments_path",
            Area::Positions => "positions_path",
        }
    }

    /// The path of the contract, relative to `api_base_url`.
    pub fn default_path(self) -> &'static str {
        match self {
            Area::Employees => "/employees",
            Area::Departments => "/departments",
            Area::Positions => "/positions",
        }
    }

    /// The cardhost permission covering the default path.
    pub fn permission(self) -> &'static str {
        match self {
            Area::Employees => "employees-read",
            Area::Departments => "departments-read",
            Area::Positions => "positions-read",
        }
    }
}

/// Whether `path` is a usable path override: absolute, segments of
/// unreserved characters, none of them `.` or `..`, no trailing slash.
pub fn valid_path(path: &str) -> bool {
    path.len() > 1
        && path.starts_with('/')
        && path[1..].split('/').all(|segment| {
            !segment.is_empty()
                && !segment.starts_with('.')
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        })
}

/// The path of `area` for this connection: the override from the connection
/// fields, else the contract's. An override outside the default path needs
/// the `tenant-paths-read` permission, because the host checks every request
/// against the permissions' fixed path patterns.
pub fn area_path(ctx: &Context, area: Area) -> Result<String> {
    let field = area.path_field();
    let Some(custom) = ctx.field(field).map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(area.default_path().to_string());
    };
    let custom = custom.trim_end_matches('/');
    if !valid_path(custom) {
        return Err(Error::InvalidInput(format!(
            "connection field `{field}` must be a path such as `{}`, not `{custom}`",
            area.default_path()
        )));
    }
    if custom != area.default_path() && !ctx.has_permission(TENANT_PATHS) {
        return Err(Error::Forbidden(format!(
            "connection field `{field}` is `{custom}` instead of `{}`: grant this connection the permission `{TENANT_PATHS}` so cards may read it",
            area.default_path()
        )));
    }
    Ok(custom.to_string())
}

/// The path of one employee: the employees path plus the encoded id.
pub fn employee_path(employees: &str, id: &str) -> String {
    format!("{employees}/{}", encode_component(id))
}

/// A page as the API returns it: `{"data", "page", "pageSize", "totalCount",
/// "totalPages"}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// The records on this page.
    pub data: Vec<Value>,
    /// Records matching the request, over all pages.
    #[serde(default)]
    pub total_count: Option<u64>,
    /// Pages at this page size.
    #[serde(default)]
    pub total_pages: Option<u32>,
}

impl Envelope {
    /// The page after `page`, if there is one. Without `totalPages` a full
    /// page means there may be more.
    pub fn next_page(&self, page: u32, page_size: u32) -> Option<u32> {
        let more = match self.total_pages {
            Some(total) => page < total,
            None => self.data.len() >= page_size as usize,
        };
        (more && !self.data.is_empty()).then_some(page + 1)
    }
}

/// Sends a GET and turns an error status into a card error. A 403 comes from
/// the API client's security group; the message says so, since no cardhost
/// setting can fix it.
pub fn get(request: Request, area: Area) -> Result<Response> {
    let response = request.send()?;
    if response.status == 403 {
        return Err(Error::Forbidden(format!(
            "Advanced HR refused to show {}: {}. The API client's security group decides what it may read; ask an Advanced HR administrator to grant it {}.",
            area.noun(),
            error_message(&response),
            area.noun()
        )));
    }
    response.error_for_status()
}

/// Fetches one page of `path`.
pub fn fetch_page(
    path: &str,
    filters: &[(String, String)],
    page: u32,
    page_size: u32,
    area: Area,
) -> Result<Envelope> {
    let mut request = Request::get(path)
        .header("accept", "application/json")
        .query("page", page)
        .query("pageSize", page_size);
    request.query.extend(filters.iter().cloned());
    match get(request, area) {
        Ok(response) => response.json(),
        // A list resource that is not there means a wrong base URL or path.
        Err(Error::NotFound(message)) => Err(Error::NotFound(format!(
            "{message} (check the connection's `api_base_url` and `{}`)",
            area.path_field()
        ))),
        Err(other) => Err(other),
    }
}

/// Records gathered from one or more pages.
#[derive(Debug, Clone, PartialEq)]
pub struct Gathered {
    /// The records.
    pub items: Vec<Value>,
    /// `totalCount` as the API last reported it, else the number gathered.
    pub total_count: u64,
    /// `totalPages` as the API last reported it.
    pub total_pages: Option<u32>,
    /// Whether more records match than were returned.
    pub has_more: bool,
}

/// Walks the pages of `path` from page 1 until `limit` records.
pub fn fetch_all(
    path: &str,
    filters: &[(String, String)],
    page_size: u32,
    limit: usize,
    area: Area,
) -> Result<Gathered> {
    let mut total_count = None;
    let mut total_pages = None;
    let collected = paging::collect(1u32, limit, |page| {
        let envelope = fetch_page(path, filters, page, page_size, area)?;
        total_count = envelope.total_count.or(total_count);
        total_pages = envelope.total_pages.or(total_pages);
        let next = envelope.next_page(page, page_size);
        Ok(Page {
            items: envelope.data,
            next,
        })
    })?;
    Ok(Gathered {
        total_count: total_count.unwrap_or(collected.items.len() as u64),
        total_pages,
        has_more: collected.truncated,
        items: collected.items,
    })
}

/// Fetches exactly one page.
pub fn fetch_one(
    path: &str,
    filters: &[(String, String)],
    page: u32,
    page_size: u32,
    area: Area,
) -> Result<Gathered> {
    let envelope = fetch_page(path, filters, page, page_size, area)?;
    let has_more = envelope.next_page(page, page_size).is_some();
    Ok(Gathered {
        total_count: envelope.total_count.unwrap_or(envelope.data.len() as u64),
        total_pages: envelope.total_pages,
        has_more,
        items: envelope.data,
    })
}

/// Whether `text` is an ISO 8601 date (`2024-05-01`) or date-time
/// (`2024-05-01T09:30:00Z`, `…T09:30+01:00`, fractions allowed), the forms
/// `updatedSince` accepts.
pub fn valid_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |from: usize, to: usize| -> Option<u32> {
        let part = text.get(from..to)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    if !text.get(..10).is_some_and(is_date) {
        return false;
    }
    if b.len() == 10 {
        return true;
    }
    if !matches!(b[10], b'T' | b't') || b.len() < 16 || b[13] != b':' {
        return false;
    }
    match (digits(11, 13), digits(14, 16)) {
        (Some(h), Some(m)) if h < 24 && m < 60 => {}
        _ => return false,
    }
    let mut pos = 16;
    if b.get(pos) == Some(&b':') {
        match digits(pos + 1, pos + 3) {
            Some(s) if s <= 60 => pos += 3,
            _ => return false,
        }
        if b.get(pos) == Some(&b'.') {
            pos += 1;
            let start = pos;
            while b.get(pos).is_some_and(u8::is_ascii_digit) {
                pos += 1;
            }
            if pos == start {
                return false;
            }
        }
    }
    match &text[pos..] {
        "" | "Z" | "z" => true,
        zone => {
            let (sign, rest) = zone.split_at(1);
            if sign != "+" && sign != "-" {
                return false;
            }
            let (h, m) = match rest.len() {
                5 if rest.as_bytes()[2] == b':' => (&rest[..2], &rest[3..]),
                4 => (&rest[..2], &rest[2..]),
                2 => (rest, "00"),
                _ => return false,
            };
            let num = |s: &str| {
                s.bytes()
                    .all(|c| c.is_ascii_digit())
                    .then(|| s.parse::<u32>().ok())
                    .flatten()
            };
            matches!((num(h), num(m)), (Some(h), Some(m)) if h < 24 && m < 60)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cardhost_sdk::json;

    fn ctx(fields: Value, permissions: &[&str]) -> Context {
        let mut ctx = Context::for_test(fields);
        ctx.permissions = permissions.iter().map(|p| p.to_string()).collect();
        ctx
    }

    #[test]
    fn default_paths_need_no_extra_permission() {
        let c = ctx(json!({}), &[]);
        assert_eq!(area_path(&c, Area::Employees).unwrap(), "/employees");
        let c = ctx(json!({"departments_path": "/departments/"}), &[]);
        assert_eq!(area_path(&c, Area::Departments).unwrap(), "/departments");
    }

    #[test]
    fn overridden_paths_need_tenant_paths_read() {
        let fields = json!({"employees_path": "/hr/people"});
        let err = area_path(&ctx(fields.clone(), &["employees-read"]), Area::Employees);
        match err {
            Err(Error::Forbidden(m)) => {
                assert!(
                    m.contains("employees_path") && m.contains(TENANT_PATHS),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
        let ok = area_path(&ctx(fields, &[TENANT_PATHS]), Area::Employees).unwrap();
        assert_eq!(ok, "/hr/people");
    }

    #[test]
    fn malformed_path_overrides_are_refused() {
        for bad in [
            "employees",
            "/",
            "/a/../b",
            "/a//b",
            "/a b",
            "/a?x=1",
            "/.hidden",
        ] {
            assert!(!valid_path(bad), "{bad}");
            let c = ctx(json!({"positions_path": bad}), &[TENANT_PATHS]);
            assert!(
                matches!(area_path(&c, Area::Positions), Err(Error::InvalidInput(_))),
                "{bad}"
            );
        }
        assert!(valid_path("/v2/job-titles"));
    }

    #[test]
    fn employee_ids_are_encoded_as_one_segment() {
        assert_eq!(employee_path("/employees", "a/b c"), "/employees/a%2Fb%20c");
    }

    #[test]
    fn next_page_uses_total_pages_or_a_full_page() {
        let env = |n: usize, pages: Option<u32>| Envelope {
            data: vec![json!({}); n],
            total_count: None,
            total_pages: pages,
        };
        assert_eq!(env(10, Some(3)).next_page(2, 10), Some(3));
        assert_eq!(env(10, Some(3)).next_page(3, 10), None);
        assert_eq!(env(10, None).next_page(1, 10), Some(2));
        assert_eq!(env(4, None).next_page(1, 10), None);
        assert_eq!(env(0, Some(9)).next_page(1, 10), None);
    }

    #[test]
    fn timestamps_follow_iso_8601() {
        for good in [
            "2024-05-01",
            "2024-02-29",
            "2024-05-01T09:30:00Z",
            "2024-05-01T09:30Z",
            "2024-05-01T09:30:00.123+01:00",
            "2024-05-01T09:30:00-0500",
        ] {
            assert!(valid_timestamp(good), "{good}");
        }
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "01/05/2024",
            "2024-05-01T24:00:00Z",
            "2024-05-01T09:30:00+1",
            "2024-05-01T09:30:00.Z",
            "yesterday",
        ] {
            assert!(!valid_timestamp(bad), "{bad}");
        }
    }
}
