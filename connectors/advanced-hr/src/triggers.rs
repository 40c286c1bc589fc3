//! Employee Changed: a polling trigger on the contract's `updatedSince`
//! filter and each employee's `updatedAt`, safe at the boundary.
//!
//! A watermark compared with "after" misses a change stamped in the same
//! second as the watermark but made after the poll that read it, and
//! `updatedAt` is commonly to the second. `updatedSince` is "at or after"
//! (see the README's contract), so each poll asks for
//! `updatedSince={since}` and names each event
//! `{id}@{updatedAt}#{fingerprint}`: an employee read again at the boundary
//! has the same event id, and the host, which keeps the ids it has stored,
//! drops the copy. The fingerprint (of the record's content) tells apart two
//! edits stamped in the same second, which would otherwise share one id and
//! the second be dropped as a copy of the first.
//!
//! Records come in ascending `id` order, so a poll walks every page of the
//! filter before it moves `since`. Employees changing while it walks can
//! shift the pages; their new `updatedAt` is later than the walk's start,
//! and the next `since` is never later than the walk's start less
//! [`CLOCK_MARGIN_SECONDS`], so they are read again next time. A walk
//! longer than one poll's worth of events ([`EVENTS_PER_POLL`]) goes on in
//! the next poll (`more`), from the page it reached.

use crate::api::{self, Area, MAX_PAGE_SIZE, TENANT_PATHS};
use crate::records::Employee;
use cardhost_sdk::trigger::{now_unix, rfc3339_utc};
use cardhost_sdk::{Context, Error, Event, Page, Polling, Raw, Result, Trigger, Value};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

pub use cardhost_sdk::trigger::CLOCK_MARGIN_SECONDS;
/// Most events one poll returns; the rest follow at once (`more`). A poll
/// stops at the first page boundary at or past it.
pub const EVENTS_PER_POLL: usize = 500;
/// Longest employee id used as it is in an event id; longer ones (not seen
/// in Advanced HR) are replaced by their hash so the id stays under the
/// host's 200 bytes.
const MAX_ID_IN_EVENT_ID: usize = 120;

/// Where the next poll starts. Opaque to the host and the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Employees changed at or after this instant (RFC 3339, UTC) are read.
    pub since: String,
    /// A walk in progress, when the last poll did not finish one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub walk: Option<Walk>,
}

/// A walk of the changed employees that one poll did not finish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Walk {
    /// The next page to read.
    pub page: u32,
    /// The newest `updatedAt` seen so far, normalised.
    pub newest: Option<String>,
    /// When the walk began, Unix seconds by the host's clock.
    pub began: i64,
}

pub use cardhost_sdk::time::Instant;

/// Parses the forms `updatedAt` and `updatedSince` take (an ISO 8601 date,
/// midnight UTC, or date-time with optional seconds, fraction and offset;
/// no offset means UTC).
pub fn parse_instant(text: &str) -> Option<Instant> {
    let text = text.trim();
    if !api::valid_timestamp(text) {
        return None;
    }
    Instant::parse(text)
}

pub use cardhost_sdk::trigger::next_since;

/// FNV-1a, 64 bits.
fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// Feeds `value` to the hash with object keys sorted, so the same record
/// hashes alike whatever order its keys came in.
fn hash_value(hash: u64, value: &Value) -> u64 {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut h = fnv1a(hash, b"{");
            for key in keys {
                h = fnv1a(h, Value::String(key.clone()).to_string().as_bytes());
                h = fnv1a(h, b":");
                h = hash_value(h, &map[key]);
                h = fnv1a(h, b",");
            }
            fnv1a(h, b"}")
        }
        Value::Array(items) => {
            let mut h = fnv1a(hash, b"[");
            for item in items {
                h = hash_value(h, item);
                h = fnv1a(h, b",");
            }
            fnv1a(h, b"]")
        }
        other => fnv1a(hash, other.to_string().as_bytes()),
    }
}

/// A fingerprint of a record's content: 8 hex digits (32 bits).
pub fn fingerprint(record: &Value) -> String {
    let h = hash_value(FNV_OFFSET, record);
    format!("{:08x}", (h >> 32) ^ (h & 0xffff_ffff))
}

/// The employee's `id` as text (a number is written out).
fn id_of(record: &Value) -> Option<String> {
    match record.get("id")? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The event of one changed employee: `{id}@{updatedAt}#{fingerprint}`,
/// occurred at `updatedAt` (when the employee has none, at `now`).
pub fn event(record: Value, now: i64) -> Result<Event<Raw<Employee>>> {
    let id = id_of(&record)
        .ok_or_else(|| Error::upstream("Advanced HR returned an employee without an `id`"))?;
    let id = if id.len() > MAX_ID_IN_EVENT_ID {
        format!("h{:016x}", fnv1a(FNV_OFFSET, id.as_bytes()))
    } else {
        id
    };
    let updated = record
        .get("updatedAt")
        .and_then(Value::as_str)
        .and_then(parse_instant);
    let stamp = updated.map_or_else(|| "no-updatedAt".to_string(), Instant::rfc3339);
    let event_id = format!("{id}@{stamp}#{}", fingerprint(&record));
    let occurred_at = updated.unwrap_or(Instant::at(now)).rfc3339();
    Ok(Event::new(event_id, occurred_at, Raw::new(record)))
}

/// Employee Changed.
pub struct EmployeeChanged;

impl Trigger for EmployeeChanged {
    type Event = Raw<Employee>;
    const ID: &'static str = "employee-changed";
    const TITLE: &'static str = "Employee Changed";
    const DESCRIPTION: &'static str = "An Advanced HR employee was added or changed (its updatedAt moved), \
         whatever their status (Active, Leaver, Pending). The event is the employee as List \
         Employees returns it. Deletions are not reported.";
    const PERMISSIONS: &'static [&'static str] = &["employees-read", TENANT_PATHS];
    const POLLING: Option<Polling> = Some(Polling::every(300).at_least(30));

    fn poll(cursor: Option<&str>, ctx: &Context) -> Result<Page<Raw<Employee>>> {
        let now = now_unix();
        let Some(cursor) = cursor else {
            // A new subscription reports what changes from now on.
            let start = Cursor {
                since: rfc3339_utc(now - CLOCK_MARGIN_SECONDS),
                walk: None,
            };
            return Ok(Page::new(Vec::new(), encode(&start)?));
        };
        let cursor: Cursor = cardhost_sdk::serde_json::from_str(cursor).map_err(|e| {
            Error::Internal(format!("the cursor is not one this connector wrote: {e}"))
        })?;
        let since = parse_instant(&cursor.since).ok_or_else(|| {
            Error::Internal(format!(
                "the cursor's `since` `{}` is no instant",
                cursor.since
            ))
        })?;
        let walk = cursor.walk.clone().unwrap_or(Walk {
            page: 1,
            newest: None,
            began: now,
        });
        let path = api::area_path(ctx, Area::Employees)?;
        let filters = vec![("updatedSince".to_string(), cursor.since.clone())];
        let mut newest = walk.newest.as_deref().and_then(parse_instant);
        let mut events = Vec::new();
        let mut ids = HashSet::new();
        let mut page = walk.page.max(1);
        let next_page = loop {
            let envelope = api::fetch_page(&path, &filters, page, MAX_PAGE_SIZE, Area::Employees)?;
            let next = envelope.next_page(page, MAX_PAGE_SIZE);
            for record in envelope.data {
                let updated = record
                    .get("updatedAt")
                    .and_then(Value::as_str)
                    .and_then(parse_instant);
                newest = newest.max(updated);
                let event = event(record, now)?;
                // Pages that shift under the walk may show one twice.
                if ids.insert(event.id.clone()) {
                    events.push(event);
                }
            }
            match next {
                Some(next) if events.len() >= EVENTS_PER_POLL => break Some(next),
                Some(next) => page = next,
                None => break None,
            }
        };
        let next = match next_page {
            Some(page) => Cursor {
                since: cursor.since.clone(),
                walk: Some(Walk {
                    page,
                    newest: newest.map(Instant::rfc3339),
                    began: walk.began,
                }),
            },
            None => Cursor {
                since: next_since(since, newest, walk.began).rfc3339(),
                walk: None,
            },
        };
        let more = next.walk.is_some();
        Ok(Page::new(events, encode(&next)?).more(more))
    }
}

fn encode(cursor: &Cursor) -> Result<String> {
    cardhost_sdk::serde_json::to_string(cursor)
        .map_err(|e| Error::Internal(format!("cannot write the cursor: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cardhost_sdk::json;

    #[test]
    fn instants_parse_every_form_of_the_contract() {
        let t = |s: &str| parse_instant(s).map(Instant::rfc3339);
        assert_eq!(
            t("2025-03-14T09:30:00Z").as_deref(),
            Some("2025-03-14T09:30:00Z")
        );
        assert_eq!(t("2025-03-14").as_deref(), Some("2025-03-14T00:00:00Z"));
        assert_eq!(
            t("2025-03-14T10:30+01:00").as_deref(),
            Some("2025-03-14T09:30:00Z")
        );
        assert_eq!(
            t("2025-03-14T04:30:00.250-0500").as_deref(),
            Some("2025-03-14T09:30:00.25Z")
        );
        assert_eq!(
            t("2025-03-14T09:30:00.1234567891Z").as_deref(),
            Some("2025-03-14T09:30:00.123456789Z"),
            "beyond nanoseconds is cut"
        );
        assert_eq!(
            t("2025-03-14T09:30:00").as_deref(),
            Some("2025-03-14T09:30:00Z"),
            "no offset is UTC"
        );
        for bad in ["yesterday", "2025-02-30", "2025-03-14T25:00Z", ""] {
            assert_eq!(parse_instant(bad), None, "{bad}");
        }
        let a = parse_instant("2025-03-14T09:30:00Z").unwrap();
        let b = parse_instant("2025-03-14T09:30:00.001Z").unwrap();
        assert!(a < b);
    }

    #[test]
    fn since_moves_to_the_newest_change_but_not_past_the_walk_start() {
        let began = 1_767_225_600; // 2026-01-01T00:00:00Z
        let at = |s: &str| parse_instant(s).unwrap();
        let old = at("2025-12-01T00:00:00Z");
        // Nothing seen: since stays.
        assert_eq!(next_since(old, None, began), old);
        // An old change: since moves to it, its second included next time.
        let seen = at("2025-12-20T10:00:00Z");
        assert_eq!(next_since(old, Some(seen), began), seen);
        // A change within the clock margin of the walk's start: since stops
        // at the margin, so employees changed during the walk are read again.
        assert_eq!(
            next_since(old, Some(at("2025-12-31T23:59:30Z")), began).rfc3339(),
            "2025-12-31T23:58:00Z"
        );
        // Never backwards.
        let later = at("2026-01-02T00:00:00Z");
        assert_eq!(next_since(later, Some(seen), began), later);
    }

    #[test]
    fn a_change_is_named_by_employee_moment_and_content() {
        let record = json!({"id": "10042", "firstName": "Priya", "lastName": "Patel",
            "status": "Active", "jobTitle": "HR Advisor", "updatedAt": "2025-03-14T10:30:00+01:00"});
        let e = event(record.clone(), 0).unwrap();
        let fp = fingerprint(&record);
        assert_eq!(e.id, format!("10042@2025-03-14T09:30:00Z#{fp}"));
        assert_eq!(e.occurred_at, "2025-03-14T09:30:00Z");
        assert_eq!(e.payload.value, record);
        // Read again: the same id, so the host drops the copy.
        assert_eq!(event(record.clone(), 99).unwrap().id, e.id);
        // Keys in another order are the same content.
        let reordered: Value = cardhost_sdk::serde_json::from_str(
            r#"{"updatedAt": "2025-03-14T10:30:00+01:00", "jobTitle": "HR Advisor",
                "status": "Active", "lastName": "Patel", "firstName": "Priya", "id": "10042"}"#,
        )
        .unwrap();
        assert_eq!(event(reordered, 0).unwrap().id, e.id);
        // A second edit in the same second: another id.
        let mut edited = record.clone();
        edited["jobTitle"] = json!("Senior HR Advisor");
        assert_ne!(event(edited, 0).unwrap().id, e.id);
        // No updatedAt: still an id, occurred now.
        let bare = json!({"id": 7, "firstName": "A", "lastName": "B", "status": "Pending"});
        let e = event(bare, 1_767_225_600).unwrap();
        assert!(e.id.starts_with("7@no-updatedAt#"), "{}", e.id);
        assert_eq!(e.occurred_at, "2026-01-01T00:00:00Z");
        assert!(event(json!({"firstName": "A"}), 0).is_err());
    }

    use crate::AdvancedHr;
    use cardhost_sdk::http::{Request, Response};
    use cardhost_sdk::testing::{mock_http, poll};
    use std::cell::RefCell;
    use std::rc::Rc;

    fn ctx() -> Context {
        let mut ctx = Context::for_test(json!({
            "token_url": "https://identity.example/auth/realms/acme/protocol/openid-connect/token",
            "api_base_url": "https://hr.example/api/v1",
            "client_id": "payroll-sync"
        }));
        ctx.permissions = vec!["employees-read".into()];
        ctx
    }

    fn query(req: &Request, name: &str) -> Option<String> {
        req.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    fn employee(i: usize, updated_at: &str) -> Value {
        json!({"id": format!("{}", 10001 + i), "firstName": "A", "lastName": format!("B{i}"),
               "status": "Active", "updatedAt": updated_at})
    }

    /// Serves `records` as the contract does: `updatedSince` at or after,
    /// in pages, ascending id.
    fn serve(records: Rc<RefCell<Vec<Value>>>, seen: Rc<RefCell<Vec<Request>>>) {
        mock_http(move |req| {
            seen.borrow_mut().push(req.clone());
            assert_eq!(req.url, "/employees");
            let since = query(req, "updatedSince").map(|s| parse_instant(&s).unwrap());
            let page: usize = query(req, "page").unwrap().parse().unwrap();
            let size: usize = query(req, "pageSize").unwrap().parse().unwrap();
            let matching: Vec<Value> = records
                .borrow()
                .iter()
                .filter(|e| {
                    since.is_none_or(|s| {
                        parse_instant(e["updatedAt"].as_str().unwrap()).unwrap() >= s
                    })
                })
                .cloned()
                .collect();
            let data: Vec<Value> = matching
                .iter()
                .skip((page - 1) * size)
                .take(size)
                .cloned()
                .collect();
            let body = json!({"data": data, "page": page, "pageSize": size,
                "totalCount": matching.len(), "totalPages": matching.len().div_ceil(size)});
            Ok(Response {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: body.to_string().into_bytes(),
            })
        });
    }

    fn cursor_of(page: &Page<Value>) -> Cursor {
        cardhost_sdk::serde_json::from_str(&page.cursor).unwrap()
    }

    #[test]
    fn a_new_subscription_starts_at_the_present_without_a_request() {
        mock_http(|_| panic!("no request for a new subscription"));
        let before = now_unix();
        let page = poll::<AdvancedHr>("employee-changed", None, &ctx()).unwrap();
        assert!(page.events.is_empty());
        assert!(!page.more);
        let since = parse_instant(&cursor_of(&page).since).unwrap().secs;
        assert!(
            since >= before - CLOCK_MARGIN_SECONDS && since <= now_unix() - CLOCK_MARGIN_SECONDS
        );
    }

    #[test]
    fn a_poll_asks_at_or_after_the_watermark_and_keeps_its_second() {
        let records = Rc::new(RefCell::new(vec![
            employee(0, "2025-01-01T00:00:00Z"),
            employee(1, "2025-06-01T12:00:00Z"),
            employee(2, "2025-06-01T12:00:05Z"),
        ]));
        let seen = Rc::new(RefCell::new(Vec::new()));
        serve(records.clone(), seen.clone());
        let start = r#"{"since":"2025-06-01T12:00:00Z"}"#;
        let page = poll::<AdvancedHr>("employee-changed", Some(start), &ctx()).unwrap();
        assert_eq!(
            query(&seen.borrow()[0], "updatedSince").as_deref(),
            Some("2025-06-01T12:00:00Z"),
            "the watermark itself, not the second after it"
        );
        let ids: Vec<&str> = page
            .events
            .iter()
            .map(|e| e.id.split('#').next().unwrap())
            .collect();
        assert_eq!(
            ids,
            ["10002@2025-06-01T12:00:00Z", "10003@2025-06-01T12:00:05Z"]
        );
        assert_eq!(page.events[1].payload["lastName"], "B2");
        let next = cursor_of(&page);
        assert_eq!(
            next.since, "2025-06-01T12:00:05Z",
            "the newest change, long past"
        );
        assert_eq!(next.walk, None);

        // Another employee changes in that very second after the poll: the
        // next poll sees it; the one already reported has the same id again.
        records
            .borrow_mut()
            .push(employee(3, "2025-06-01T12:00:05Z"));
        let again = poll::<AdvancedHr>("employee-changed", Some(&page.cursor), &ctx()).unwrap();
        let ids: Vec<&str> = again.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), 2);
        assert_eq!(ids[0], page.events[1].id, "a copy the host drops");
        assert!(ids[1].starts_with("10004@2025-06-01T12:00:05Z#"));
    }

    #[test]
    fn a_long_walk_goes_on_in_the_next_poll_from_the_page_it_reached() {
        let total = EVENTS_PER_POLL + 230;
        let records = Rc::new(RefCell::new(
            (0..total)
                .map(|i| employee(i, &rfc3339_utc(1_748_779_200 + i as i64)))
                .collect::<Vec<_>>(),
        ));
        let seen = Rc::new(RefCell::new(Vec::new()));
        serve(records, seen.clone());
        let start = r#"{"since":"2025-01-01T00:00:00Z"}"#;
        let first = poll::<AdvancedHr>("employee-changed", Some(start), &ctx()).unwrap();
        assert_eq!(first.events.len(), EVENTS_PER_POLL);
        assert!(first.more);
        let walk = cursor_of(&first).walk.unwrap();
        assert_eq!(walk.page, 6);
        assert_eq!(
            cursor_of(&first).since,
            "2025-01-01T00:00:00Z",
            "unmoved mid-walk"
        );
        let second = poll::<AdvancedHr>("employee-changed", Some(&first.cursor), &ctx()).unwrap();
        assert_eq!(second.events.len(), 230);
        assert!(!second.more);
        assert_eq!(
            query(seen.borrow().last().unwrap(), "page").as_deref(),
            Some("8")
        );
        assert_eq!(
            query(&seen.borrow()[5], "page").as_deref(),
            Some("6"),
            "the second poll starts where the first stopped"
        );
        let newest = rfc3339_utc(1_748_779_200 + total as i64 - 1);
        assert_eq!(cursor_of(&second).since, newest);
        assert!(
            seen.borrow()
                .iter()
                .all(|r| query(r, "pageSize").as_deref() == Some("100"))
        );
    }

    #[test]
    fn an_employee_shifted_onto_the_next_page_is_reported_once() {
        // Page 1 is read; then an employee before the page boundary changes
        // into the filter, pushing the last one of page 1 onto page 2.
        let records = Rc::new(RefCell::new(
            (0..150)
                .map(|i| employee(i * 2, "2025-06-01T12:00:00Z"))
                .collect::<Vec<_>>(),
        ));
        let r = records.clone();
        let served = Rc::new(RefCell::new(0));
        mock_http(move |req| {
            let page: usize = query(req, "page").unwrap().parse().unwrap();
            if *served.borrow() == 1 {
                let mut all = r.borrow_mut();
                all.insert(1, employee(1, "2025-06-01T12:00:01Z"));
            }
            *served.borrow_mut() += 1;
            let all = r.borrow();
            let data: Vec<Value> = all
                .iter()
                .skip((page - 1) * 100)
                .take(100)
                .cloned()
                .collect();
            let body = json!({"data": data, "page": page, "pageSize": 100,
                "totalCount": all.len(), "totalPages": all.len().div_ceil(100)});
            Ok(Response {
                status: 200,
                headers: vec![],
                body: body.to_string().into_bytes(),
            })
        });
        let start = r#"{"since":"2025-01-01T00:00:00Z"}"#;
        let page = poll::<AdvancedHr>("employee-changed", Some(start), &ctx()).unwrap();
        // testing::poll refuses a second event with one id: 150, not 151.
        assert_eq!(page.events.len(), 150);
        // The one that changed behind the walk is later than `since`, so the
        // next poll reads it.
        assert_eq!(cursor_of(&page).since, "2025-06-01T12:00:00Z");
    }

    #[test]
    fn errors_keep_the_cursor_and_bad_cursors_are_named() {
        mock_http(|_| {
            Ok(Response {
                status: 403,
                headers: vec![],
                body: br#"{"status":403,"error":"forbidden","message":"security group `Org Structure` does not grant access to employees"}"#.to_vec(),
            })
        });
        let err = poll::<AdvancedHr>(
            "employee-changed",
            Some(r#"{"since":"2025-01-01T00:00:00Z"}"#),
            &ctx(),
        );
        assert!(matches!(err, Err(Error::Forbidden(m)) if m.contains("security group")));
        let err = poll::<AdvancedHr>("employee-changed", Some("7"), &ctx());
        assert!(matches!(err, Err(Error::Internal(m)) if m.contains("cursor")));
    }
}
