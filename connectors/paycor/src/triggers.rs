//! Employee Changed: a polling trigger on content fingerprints, because
//! Paycor's employee lists carry no change time.
//!
//! Paycor's Public API has no modified-since filter on its employee lists
//! and no last-modified field on an employee (its change feed is the
//! `Employee.Modified` event notification, pushed to a URL, which this
//! trigger does not use). So each poll reads every employee of
//! the connection's legal entity (`GET /v1/legalentities/{id}/employees`,
//! `include=All`, every page) and compares each with what the last poll
//! saw.
//!
//! What the last poll saw is kept in the cursor, which the host caps at
//! [`MAX_CURSOR_BYTES`]: not the records, but one hash per employee of its
//! id and content, stored as a Golomb-coded set (sorted hashes, their gaps
//! Rice-coded, [`SET_BITS`] + about 1.6 bits each), which holds about 1,100
//! employees. An employee whose hash is not in the set is new or changed,
//! and is reported. A change is missed only if its new hash happens to
//! match one in the set: about one change in 2^[`SET_BITS`] (a million).
//! A legal entity with more employees than the cursor holds cannot be
//! followed: the poll fails and says so.
//!
//! Each event is named `{employee id}@{poll}.{fingerprint}`, where `poll`
//! is the number of the poll the cursor is for: a poll repeated from the
//! same cursor (after a crash before its commit) names its events alike and
//! the host drops the copies, while an employee changed back to an earlier
//! state in a later poll gets a new id. A poll reports at most
//! [`EVENTS_PER_POLL`] employees; the others stay out of the set, so the
//! next poll, at once (`more`), reports them.

use crate::api::{self, Call, DataAccess};
use crate::records::Employee;
use cardhost_sdk::trigger::{now_unix, rfc3339_utc};
use cardhost_sdk::{Context, Error, Event, Page, Polling, Raw, Result, Trigger, Value};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The largest cursor the host stores, in bytes.
pub const MAX_CURSOR_BYTES: usize = 4096;
/// Most events one poll returns; the rest follow at once (`more`).
pub const EVENTS_PER_POLL: usize = 500;
/// Bits of each set entry's remainder: a change is missed with a chance of
/// about 2^-20.
pub const SET_BITS: u32 = 20;
/// Employees read at most. More could never fit in the cursor (each takes
/// at least [`SET_BITS`] + 1 bits), so the walk stops there and the poll
/// fails.
pub const MAX_EMPLOYEES_READ: usize = 1600;

/// Where the next poll starts. Opaque to the host and the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The number of the poll this cursor is for, from 1 (the first poll
    /// after the subscription's start).
    pub poll: u64,
    /// Hashes in the set: the range they were mapped to is `n << SET_BITS`.
    pub n: u64,
    /// The Golomb-coded set, base64url without padding.
    pub set: String,
}

/// FNV-1a, 64 bits.
fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// MurmurHash3's finaliser: spreads FNV's bits over the whole word.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

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

/// A fingerprint of an employee's content (its normalised JSON, keys in
/// any order).
pub fn fingerprint(record: &Value) -> u64 {
    mix(hash_value(FNV_OFFSET, record))
}

/// The set entry of an employee: its id and content together.
pub fn entry(id: &str, fingerprint: u64) -> u64 {
    let h = fnv1a(FNV_OFFSET, id.as_bytes());
    mix(fnv1a(fnv1a(h, &[0xff]), &fingerprint.to_le_bytes()))
}

/// Maps a hash onto `0 .. n << SET_BITS`.
fn reduce(hash: u64, n: u64) -> u64 {
    let range = u128::from(n) << SET_BITS;
    ((u128::from(hash) * range) >> 64) as u64
}

/// A set of hashes as few bits as membership with a false match rate of
/// 2^-[`SET_BITS`] allows (a Golomb-coded set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashSetCode {
    /// The `n` the hashes were reduced with.
    pub n: u64,
    /// The reduced hashes, sorted, each once.
    values: Vec<u64>,
}

impl HashSetCode {
    /// The set of `hashes`.
    pub fn of(hashes: &[u64]) -> Self {
        let n = hashes.len() as u64;
        let mut values: Vec<u64> = hashes.iter().map(|h| reduce(*h, n)).collect();
        values.sort_unstable();
        values.dedup();
        Self { n, values }
    }

    /// Whether `hash` is (probably) in the set.
    pub fn contains(&self, hash: u64) -> bool {
        self.n > 0 && self.values.binary_search(&reduce(hash, self.n)).is_ok()
    }

    /// The Rice-coded gaps, base64url.
    pub fn encode(&self) -> String {
        let mut bits = BitWriter::default();
        let mut previous = 0;
        for value in &self.values {
            let gap = value - previous;
            for _ in 0..gap >> SET_BITS {
                bits.push(true);
            }
            bits.push(false);
            for i in (0..SET_BITS).rev() {
                bits.push(gap >> i & 1 == 1);
            }
            previous = *value;
        }
        base64url(&bits.bytes)
    }

    /// Reads what [`encode`](HashSetCode::encode) wrote for `n` hashes.
    pub fn decode(n: u64, text: &str) -> Option<Self> {
        let bytes = unbase64url(text)?;
        let mut bits = BitReader {
            bytes: &bytes,
            at: 0,
        };
        let mut values = Vec::new();
        let mut previous = 0u64;
        // Padding is fewer than 8 zero bits; an entry is more than SET_BITS.
        while bits.remaining() > SET_BITS as usize {
            let mut quotient = 0u64;
            while bits.next()? {
                quotient += 1;
                // Every gap is below `n << SET_BITS`.
                if quotient > n {
                    return None;
                }
            }
            let mut remainder = 0u64;
            for _ in 0..SET_BITS {
                remainder = remainder << 1 | u64::from(bits.next()?);
            }
            previous = previous.checked_add(quotient << SET_BITS | remainder)?;
            values.push(previous);
        }
        (values.len() as u64 <= n).then_some(Self { n, values })
    }
}

#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    len: usize,
}

impl BitWriter {
    fn push(&mut self, bit: bool) {
        if self.len.is_multiple_of(8) {
            self.bytes.push(0);
        }
        if bit {
            let last = self.bytes.len() - 1;
            self.bytes[last] |= 0x80 >> (self.len % 8);
        }
        self.len += 1;
    }
}

struct BitReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl BitReader<'_> {
    fn remaining(&self) -> usize {
        self.bytes.len() * 8 - self.at
    }

    fn next(&mut self) -> Option<bool> {
        let byte = self.bytes.get(self.at / 8)?;
        let bit = byte & (0x80 >> (self.at % 8)) != 0;
        self.at += 1;
        Some(bit)
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn unbase64url(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// One employee as this poll read it.
struct Seen {
    id: String,
    fingerprint: u64,
    entry: u64,
    record: Value,
}

/// Every employee of legal entity `le`, with every part the app may see.
fn read_all(le: i64) -> Result<Vec<Seen>> {
    let includes = vec!["All".to_string()];
    let call = Call::new(
        DataAccess::LegalEntityEmployees,
        format!("legal entity {le}"),
    )
    .with_includes(&includes);
    let path = format!("/v1/legalentities/{le}/employees");
    let walk = api::walk(
        &path,
        &api::include_query(&includes),
        None,
        MAX_EMPLOYEES_READ + 1,
        &call,
    )?;
    if walk.has_more || walk.records.len() > MAX_EMPLOYEES_READ {
        return Err(too_many(le, format!("more than {MAX_EMPLOYEES_READ}")));
    }
    let mut ids = HashSet::new();
    let mut seen = Vec::with_capacity(walk.records.len());
    for record in walk.records {
        let id = api::field(&record, "id")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| Error::upstream("Paycor returned an employee without an `id`"))?
            .to_string();
        // An employee listed twice is one employee.
        if !ids.insert(id.clone()) {
            continue;
        }
        let fingerprint = fingerprint(&record);
        seen.push(Seen {
            entry: entry(&id, fingerprint),
            id,
            fingerprint,
            record,
        });
    }
    Ok(seen)
}

fn too_many(le: i64, count: String) -> Error {
    Error::InvalidInput(format!(
        "Paycor legal entity {le} has {count} employees, more than Employee Changed can follow: \
         Paycor's employee list has no change time, so the trigger keeps a fingerprint of every \
         employee in its cursor, and cardhost keeps cursors to {MAX_CURSOR_BYTES} bytes (about \
         1,100 employees). Use a scheduled flow with List Employees for this legal entity instead"
    ))
}

/// The cursor of `entries` for poll `poll`, or the error saying it is too
/// large.
fn cursor_of(poll: u64, entries: &[u64], le: i64, employees: usize) -> Result<String> {
    let set = HashSetCode::of(entries);
    let cursor = Cursor {
        poll,
        n: set.n,
        set: set.encode(),
    };
    let text = cardhost_sdk::serde_json::to_string(&cursor)
        .map_err(|e| Error::Internal(format!("cannot write the cursor: {e}")))?;
    if text.len() > MAX_CURSOR_BYTES {
        return Err(too_many(le, employees.to_string()));
    }
    Ok(text)
}

/// The event of an employee new or changed in poll `poll`, seen at `now`.
pub fn event(
    poll: u64,
    id: &str,
    fingerprint: u64,
    record: Value,
    now: i64,
) -> Event<Raw<Employee>> {
    Event::new(
        format!("{id}@{poll}.{fingerprint:016x}"),
        rfc3339_utc(now),
        Raw::new(record),
    )
}

/// Employee Changed.
pub struct EmployeeChanged;

impl Trigger for EmployeeChanged {
    type Event = Raw<Employee>;
    const ID: &'static str = "employee-changed";
    const TITLE: &'static str = "Employee Changed";
    const DESCRIPTION: &'static str = "An employee of the connection's legal entity was hired or changed: \
         anything List Employees returns with include All (names, numbers, email, employment dates, \
         position, status, work location, as far as the app's Data Access shows them) differs from \
         the last poll. Paycor records no change time, so the trigger compares every employee on \
         each poll; it follows legal entities of up to about 1,100 employees. The event is the \
         employee as List Employees returns it.";
    const PERMISSIONS: &'static [&'static str] = &["view-legal-entity-employees"];
    const POLLING: Option<Polling> = Some(Polling::every(300).at_least(60));

    fn poll(cursor: Option<&str>, ctx: &Context) -> Result<Page<Raw<Employee>>> {
        let le = api::legal_entity_id(ctx, None)?;
        let previous = match cursor {
            None => None,
            Some(text) => {
                let cursor: Cursor = cardhost_sdk::serde_json::from_str(text).map_err(|e| {
                    Error::Internal(format!("the cursor is not one this connector wrote: {e}"))
                })?;
                let set = HashSetCode::decode(cursor.n, &cursor.set).ok_or_else(|| {
                    Error::Internal("the cursor's set is not one this connector wrote".into())
                })?;
                Some((cursor.poll, set))
            }
        };
        let employees = read_all(le)?;
        let Some((poll, set)) = previous else {
            // A new subscription: everyone as they are now is the baseline,
            // and what changes from now on is reported.
            let entries: Vec<u64> = employees.iter().map(|e| e.entry).collect();
            return Ok(Page::new(
                Vec::new(),
                cursor_of(1, &entries, le, employees.len())?,
            ));
        };
        let now = now_unix();
        let mut events = Vec::new();
        let mut entries = Vec::with_capacity(employees.len());
        let mut pending = 0;
        for seen in employees.iter() {
            if set.contains(seen.entry) {
                entries.push(seen.entry);
            } else if events.len() < EVENTS_PER_POLL {
                entries.push(seen.entry);
                events.push(event(
                    poll,
                    &seen.id,
                    seen.fingerprint,
                    seen.record.clone(),
                    now,
                ));
            } else {
                // Left out of the set, so the next poll reports it.
                pending += 1;
            }
        }
        let cursor = cursor_of(poll + 1, &entries, le, employees.len())?;
        Ok(Page::new(events, cursor).more(pending > 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Paycor;
    use cardhost_sdk::http::{Request, Response};
    use cardhost_sdk::json;
    use cardhost_sdk::testing::{mock_http, poll};
    use std::cell::RefCell;
    use std::rc::Rc;

    fn ctx() -> Context {
        let mut ctx = Context::for_test(json!({
            "sandbox": true, "client_id": "c18bff6c9097ade7f726",
            "scope_id": "e5aba9ee3b1cf1119a496045bd492bf4", "legal_entity_id": 398334
        }));
        ctx.permissions = vec!["view-legal-entity-employees".into()];
        ctx
    }

    fn query(req: &Request, name: &str) -> Vec<String> {
        req.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn employee(i: usize) -> Value {
        json!({"Id": format!("6a3f0c2e-0000-4000-8000-{i:012}"), "EmployeeNumber": format!("{}", 1000 + i),
               "FirstName": "Ann", "LastName": format!("Lee{i}"),
               "Email": {"Type": "Work", "EmailAddress": format!("ann{i}@acme.example")},
               "PositionData": {"JobTitle": "Clerk", "JobCode": "C1"}})
    }

    /// Serves `records` in pages of `size` with tokens `t<offset>`, in
    /// Paycor's capitalised casing.
    fn serve(records: Rc<RefCell<Vec<Value>>>, size: usize, seen: Rc<RefCell<Vec<Request>>>) {
        mock_http(move |req| {
            seen.borrow_mut().push(req.clone());
            assert_eq!(req.url, "/v1/legalentities/398334/employees");
            assert_eq!(query(req, "include"), ["All"]);
            let offset: usize = query(req, "continuationToken")
                .first()
                .map(|t| t.trim_start_matches('t').parse().unwrap())
                .unwrap_or(0);
            let all = records.borrow();
            let page: Vec<Value> = all.iter().skip(offset).take(size).cloned().collect();
            let more = offset + size < all.len();
            let body = json!({"HasMoreResults": more,
                "ContinuationToken": more.then(|| format!("t{}", offset + size)),
                "Records": page});
            Ok(Response {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: body.to_string().into_bytes(),
            })
        });
    }

    fn ids(page: &Page<Value>) -> Vec<String> {
        page.events
            .iter()
            .map(|e| e.payload["id"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn sets_round_trip_and_stay_small() {
        let hashes: Vec<u64> = (0..1000u64)
            .map(|i| mix(i.wrapping_mul(0x9e37_79b9)))
            .collect();
        let set = HashSetCode::of(&hashes);
        let text = set.encode();
        let back = HashSetCode::decode(set.n, &text).unwrap();
        assert_eq!(back, set);
        assert!(hashes.iter().all(|h| back.contains(*h)));
        let strangers = (5000..105_000u64)
            .filter(|i| back.contains(mix(i.wrapping_mul(0x9e37_79b9))))
            .count();
        assert!(strangers < 5, "{strangers} false matches in 100,000");
        // About SET_BITS + 1.6 bits an entry, 6 bits a base64 character.
        let bits_each = text.len() as f64 * 6.0 / 1000.0;
        assert!((21.0..22.3).contains(&bits_each), "{bits_each}");
        let empty = HashSetCode::of(&[]);
        assert_eq!(empty.encode(), "");
        assert!(!HashSetCode::decode(0, "").unwrap().contains(1));
        assert_eq!(HashSetCode::decode(3, "not base64!"), None);
        for bytes in [&b""[..], b"a", b"ab", b"abc", b"abcd", &[0, 255, 7, 128]] {
            assert_eq!(unbase64url(&base64url(bytes)).unwrap(), bytes);
        }
    }

    #[test]
    fn about_eleven_hundred_employees_fit_in_the_cursor() {
        let entries = |n: u64| -> Vec<u64> { (0..n).map(|i| mix(i ^ 0x5555)).collect() };
        assert!(cursor_of(9, &entries(1100), 1, 1100).is_ok());
        let err = cursor_of(9, &entries(1300), 1, 1300).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(m) if m.contains("1300 employees")));
    }

    #[test]
    fn the_first_poll_is_the_baseline_and_changes_are_reported_once() {
        let records = Rc::new(RefCell::new((0..450).map(employee).collect::<Vec<_>>()));
        let seen = Rc::new(RefCell::new(Vec::new()));
        serve(records.clone(), 200, seen.clone());
        let first = poll::<Paycor>("employee-changed", None, &ctx()).unwrap();
        assert!(
            first.events.is_empty(),
            "a new subscription reports from now on"
        );
        assert!(!first.more);
        assert_eq!(seen.borrow().len(), 3, "every page is read");
        assert_eq!(query(&seen.borrow()[2], "continuationToken"), ["t400"]);
        let cursor: Cursor = cardhost_sdk::serde_json::from_str(&first.cursor).unwrap();
        assert_eq!((cursor.poll, cursor.n), (1, 450));
        assert!(first.cursor.len() <= MAX_CURSOR_BYTES);

        // Nothing changed: nothing reported.
        let same = poll::<Paycor>("employee-changed", Some(&first.cursor), &ctx()).unwrap();
        assert!(same.events.is_empty());

        // One retitled, one hired; the live API's camelCase is the same content.
        {
            let mut all = records.borrow_mut();
            all[17]["PositionData"]["JobTitle"] = json!("Senior Clerk");
            all.push(employee(450));
            for record in all.iter_mut().take(5) {
                *record = crate::api::normalise(record.clone());
            }
        }
        let changed = poll::<Paycor>("employee-changed", Some(&same.cursor), &ctx()).unwrap();
        let expected = [employee(17), employee(450)].map(|e| e["Id"].as_str().unwrap().to_string());
        assert_eq!(ids(&changed), expected);
        assert_eq!(
            changed.events[0].payload["positionData"]["jobTitle"],
            "Senior Clerk"
        );
        let fp = fingerprint(&crate::api::normalise(records.borrow()[17].clone()));
        assert_eq!(changed.events[0].id, format!("{}@2.{fp:016x}", expected[0]));

        // Repeated from the same cursor (a crash before the commit): the
        // same ids, so the host drops the copies.
        let repeated = poll::<Paycor>("employee-changed", Some(&same.cursor), &ctx()).unwrap();
        let event_ids = |page: &Page<Value>| -> Vec<String> {
            page.events.iter().map(|e| e.id.clone()).collect()
        };
        assert_eq!(event_ids(&repeated), event_ids(&changed));
        assert_eq!(repeated.cursor, changed.cursor);

        let after = poll::<Paycor>("employee-changed", Some(&changed.cursor), &ctx()).unwrap();
        assert!(after.events.is_empty(), "reported once");

        // Changed back to how it was: a change again, with a new id.
        records.borrow_mut()[17]["PositionData"]["JobTitle"] = json!("Clerk");
        let back = poll::<Paycor>("employee-changed", Some(&after.cursor), &ctx()).unwrap();
        assert_eq!(ids(&back), [expected[0].clone()]);
        assert!(
            back.events[0]
                .id
                .starts_with(&format!("{}@4.", expected[0]))
        );

        // Someone leaves the list: nothing to report, and the set forgets them.
        records.borrow_mut().remove(3);
        let gone = poll::<Paycor>("employee-changed", Some(&back.cursor), &ctx()).unwrap();
        assert!(gone.events.is_empty());
        let cursor: Cursor = cardhost_sdk::serde_json::from_str(&gone.cursor).unwrap();
        assert_eq!(cursor.n, 450);
    }

    #[test]
    fn many_changes_follow_in_the_next_polls() {
        let total = EVENTS_PER_POLL + 120;
        let records = Rc::new(RefCell::new((0..total).map(employee).collect::<Vec<_>>()));
        serve(records.clone(), 100, Rc::default());
        let base = poll::<Paycor>("employee-changed", None, &ctx()).unwrap();
        for record in records.borrow_mut().iter_mut() {
            record["PositionData"]["JobCode"] = json!("C2");
        }
        let first = poll::<Paycor>("employee-changed", Some(&base.cursor), &ctx()).unwrap();
        assert_eq!(first.events.len(), EVENTS_PER_POLL);
        assert!(first.more);
        let second = poll::<Paycor>("employee-changed", Some(&first.cursor), &ctx()).unwrap();
        assert_eq!(second.events.len(), 120);
        assert!(!second.more);
        let mut all: Vec<String> = ids(&first);
        all.extend(ids(&second));
        all.sort();
        all.dedup();
        assert_eq!(all.len(), total, "each once");
        let third = poll::<Paycor>("employee-changed", Some(&second.cursor), &ctx()).unwrap();
        assert!(third.events.is_empty());
    }

    #[test]
    fn too_large_a_legal_entity_is_refused_with_the_reason() {
        let records = Rc::new(RefCell::new(
            (0..MAX_EMPLOYEES_READ + 50)
                .map(employee)
                .collect::<Vec<_>>(),
        ));
        let seen = Rc::new(RefCell::new(Vec::new()));
        serve(records, 200, seen.clone());
        let err = poll::<Paycor>("employee-changed", None, &ctx()).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput(m) if m.contains("398334") && m.contains("List Employees")),
            "{err:?}"
        );
    }

    #[test]
    fn errors_name_the_data_access_and_bad_cursors_are_refused() {
        mock_http(|_| {
            Ok(Response {
                status: 403,
                headers: vec![],
                body: Vec::new(),
            })
        });
        let err = poll::<Paycor>("employee-changed", None, &ctx()).unwrap_err();
        assert!(
            matches!(&err, Error::Forbidden(m) if m.contains("View Legal Entity Employees")),
            "{err:?}"
        );
        mock_http(|_| panic!("a bad cursor is refused before any request"));
        let err = poll::<Paycor>("employee-changed", Some("{}"), &ctx()).unwrap_err();
        assert!(matches!(err, Error::Internal(m) if m.contains("cursor")));
    }
}
