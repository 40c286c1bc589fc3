//! Pagination helpers for the three styles upstream APIs use:
//! page/per_page with a `Link` header (SmartHR), a continuation token (Paycor)
//! and SCIM `startIndex`/`count`. [`collect`] drives any of them up to a limit.

use crate::error::Result;
use crate::http::Response;
use serde_json::Value;

/// One page of results and the cursor of the next page, if there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<C> {
    /// The items on this page.
    pub items: Vec<Value>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<C>,
}

/// Items gathered across pages.
#[derive(Debug, Clone, PartialEq)]
pub struct Collected {
    /// The items, at most the limit.
    pub items: Vec<Value>,
    /// Whether more items existed beyond the limit.
    pub truncated: bool,
    /// How many pages were fetched.
    pub pages: u32,
}

/// Fetches pages from `start` until the last page or until `limit` items are
/// gathered. A page that returns no items ends the walk even if it names a next
/// cursor, so a misbehaving server cannot loop it forever.
pub fn collect<C>(
    start: C,
    limit: usize,
    mut fetch: impl FnMut(C) -> Result<Page<C>>,
) -> Result<Collected> {
    let mut items = Vec::new();
    let mut cursor = Some(start);
    let mut pages = 0;
    let mut truncated = false;
    while let Some(current) = cursor.take() {
        let page = fetch(current)?;
        pages += 1;
        let empty = page.items.is_empty();
        for item in page.items {
            if items.len() == limit {
                truncated = true;
                break;
            }
            items.push(item);
        }
        if truncated || empty {
            break;
        }
        if items.len() == limit {
            truncated = page.next.is_some();
            break;
        }
        cursor = page.next;
    }
    Ok(Collected {
        items,
        truncated,
        pages,
    })
}

/// One entry of an RFC 8288 `Link` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Target URL.
    pub url: String,
    /// Relation (`next`, `last` ...).
    pub rel: String,
}

/// Parses a `Link` header: `<url>; rel="next", <url>; rel="last"`.
pub fn parse_link_header(value: &str) -> Vec<Link> {
    let mut links = Vec::new();
    for part in split_links(value) {
        let part = part.trim();
        let Some(rest) = part.strip_prefix('<') else {
            continue;
        };
        let Some((url, params)) = rest.split_once('>') else {
            continue;
        };
        for param in params.split(';') {
            let Some((key, val)) = param.trim().split_once('=') else {
                continue;
            };
            if key.trim().eq_ignore_ascii_case("rel") {
                for rel in val.trim().trim_matches('"').split_whitespace() {
                    links.push(Link {
                        url: url.to_string(),
                        rel: rel.to_ascii_lowercase(),
                    });
                }
            }
        }
    }
    links
}

/// Splits on commas outside `<...>`, since URLs may contain commas.
fn split_links(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in value.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

/// Whether a page/per_page response has a next page: a `Link` header with
/// `rel="next"`, or, without a `Link` header, `x-total-count` beyond this page.
pub fn has_next_page(response: &Response, page: u32, per_page: u32) -> bool {
    if let Some(link) = response.header("link") {
        return parse_link_header(link).iter().any(|l| l.rel == "next");
    }
    match total_count(response) {
        Some(total) => u64::from(page) * u64::from(per_page) < total,
        None => false,
    }
}

/// The `x-total-count` header, when present and numeric.
pub fn total_count(response: &Response) -> Option<u64> {
    response.header("x-total-count")?.trim().parse().ok()
}

/// The next SCIM `startIndex` after a page that began at `start_index` and
/// returned `returned` resources out of `total_results`. Servers may return
/// fewer than `count`; an empty page ends the walk.
pub fn scim_next_start(
    start_index: u64,
    returned: usize,
    total_results: Option<u64>,
) -> Option<u64> {
    if returned == 0 {
        return None;
    }
    let next = start_index + returned as u64;
    match total_results {
        Some(total) if next > total => None,
        _ => Some(next),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use serde_json::json;

    #[test]
    fn link_header_with_several_relations() {
        let links = parse_link_header(
            r#"<https://x.smarthr.jp/api/v1/crews?page=1&per_page=2>; rel="first", <https://x.smarthr.jp/api/v1/crews?page=3,4>; rel="next""#,
        );
        assert_eq!(links.len(), 2);
        assert_eq!(links[1].rel, "next");
        assert_eq!(links[1].url, "https://x.smarthr.jp/api/v1/crews?page=3,4");
    }

    #[test]
    fn collect_stops_at_limit_and_reports_truncation() {
        let got = collect(1u32, 5, |page| {
            Ok(Page {
                items: (0..3).map(|i| json!(page * 10 + i)).collect(),
                next: Some(page + 1),
            })
        })
        .unwrap();
        assert_eq!(got.items.len(), 5);
        assert!(got.truncated);
        assert_eq!(got.pages, 2);
    }

    #[test]
    fn collect_ends_on_last_or_empty_page() {
        let got = collect(1u32, 100, |page| {
            Ok(Page {
                items: vec![json!(page)],
                next: (page < 3).then_some(page + 1),
            })
        })
        .unwrap();
        assert_eq!(got.items, vec![json!(1), json!(2), json!(3)]);
        assert!(!got.truncated);
        let looping = collect(1u32, 100, |p| {
            Ok(Page {
                items: vec![],
                next: Some(p),
            })
        })
        .unwrap();
        assert_eq!(looping.pages, 1);
    }

    #[test]
    fn collect_propagates_errors() {
        let err = collect(1u32, 10, |_| {
            Err::<Page<u32>, _>(Error::NotFound("x".into()))
        });
        assert_eq!(err.unwrap_err(), Error::NotFound("x".into()));
    }

    #[test]
    fn scim_paging_handles_short_pages() {
        assert_eq!(scim_next_start(1, 2, Some(5)), Some(3));
        assert_eq!(scim_next_start(5, 1, Some(5)), None);
        assert_eq!(scim_next_start(1, 0, Some(5)), None);
        assert_eq!(scim_next_start(1, 10, None), Some(11));
    }

    #[test]
    fn next_page_from_total_count_without_link() {
        let r = Response {
            status: 200,
            headers: vec![("x-total-count".into(), "25".into())],
            body: vec![],
        };
        assert!(has_next_page(&r, 2, 10));
        assert!(!has_next_page(&r, 3, 10));
    }
}
