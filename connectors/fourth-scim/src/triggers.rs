//! User Changed: a polling trigger on `meta.lastModified`, safe at the
//! boundary.
//!
//! A watermark compared with `gt` misses a change stamped in the same
//! second as the watermark but made after the poll read it; Fourth stamps
//! `meta.lastModified` to the second. So each poll asks for
//! `meta.lastModified ge since` and names each event
//! `{fourth_account_id}@{last_modified}`: a user read again at the
//! boundary has the same event id, and the host, which keeps the ids it
//! has stored, drops the copy. A user changed twice has two ids, so both
//! changes are reported.
//!
//! Fourth does not sort, so a poll walks every page of the filter before
//! it moves `since`. Users changing while it walks can shift the pages
//! (one may be skipped by a page boundary); their new `lastModified` is
//! later than the walk's start, so the next `since` is never later than
//! the walk's start less [`CLOCK_MARGIN_SECONDS`], and they are read
//! again next time. A walk longer than one poll's worth of events
//! ([`EVENTS_PER_POLL`]) goes on in the next poll (`more`), from the page
//! it reached.

use crate::USERS_READ;
use crate::cards::page_size;
use crate::filter::{self, FilterBuilder};
use crate::scim;
use crate::user::{User, flatten};
use cardhost_sdk::trigger::{now_unix, rfc3339_utc};
use cardhost_sdk::{Context, Error, Event, Page, Polling, Result, Trigger};
use serde::{Deserialize, Serialize};

pub use cardhost_sdk::trigger::CLOCK_MARGIN_SECONDS;
/// Most events one poll returns; the rest follow at once (`more`).
pub const EVENTS_PER_POLL: usize = 500;

/// Where the next poll starts. Opaque to the host and the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Users changed at or after this instant are read.
    pub since: String,
    /// A walk in progress: the next page's start index, the newest
    /// change seen so far and when the walk began (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub walk: Option<Walk>,
}

/// A walk of the changed users that one poll did not finish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Walk {
    /// The next page's `startIndex`.
    pub start: u64,
    /// The newest `lastModified` seen so far.
    pub newest: Option<String>,
    /// When the walk began, Unix seconds by the host's clock.
    pub began: i64,
}

fn later<'a>(a: Option<&'a str>, b: Option<&'a str>) -> Option<&'a str> {
    match (a, b) {
        (Some(a), Some(b)) => {
            if filter::instant_key(b) > filter::instant_key(a) {
                Some(b)
            } else {
                Some(a)
            }
        }
        (a, b) => a.or(b),
    }
}

/// The `since` after a finished walk: the newest change seen, but never
/// later than the walk's start less the clock margin, nor earlier than the
/// old `since`.
pub fn next_since(since: &str, newest: Option<&str>, began: i64) -> String {
    let Some(newest) = newest else {
        return since.to_string();
    };
    let cap = rfc3339_utc(began - CLOCK_MARGIN_SECONDS);
    let bounded = if filter::instant_key(newest) > filter::instant_key(&cap) {
        cap
    } else {
        newest.to_string()
    };
    later(Some(since), Some(&bounded))
        .unwrap_or(since)
        .to_string()
}

/// The event of one changed user.
pub fn event(user: User) -> Event<User> {
    let modified = user
        .last_modified
        .as_deref()
        .and_then(filter::normalise_instant);
    let stamp = modified
        .clone()
        .or_else(|| user.version.clone())
        .unwrap_or_default();
    let id = format!(
        "{}@{stamp}",
        user.fourth_account_id.as_deref().unwrap_or_default()
    );
    let occurred_at = modified.unwrap_or_else(|| rfc3339_utc(now_unix()));
    Event::new(id, occurred_at, user)
}

/// User Changed.
pub struct UserChanged;

impl Trigger for UserChanged {
    type Event = User;
    const ID: &'static str = "user-changed";
    const TITLE: &'static str = "User Changed";
    const DESCRIPTION: &'static str = "A Fourth user account was created, changed or deactivated \
         (its meta.lastModified moved). The event is the user, flat as Read User returns it.";
    const PERMISSIONS: &'static [&'static str] = &[USERS_READ];
    const POLLING: Option<Polling> = Some(Polling::every(300).at_least(30));

    fn poll(cursor: Option<&str>, ctx: &Context) -> Result<Page<User>> {
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
        let walk = cursor.walk.clone().unwrap_or(Walk {
            start: 1,
            newest: None,
            began: now,
        });
        let filter = FilterBuilder::new()
            .modified_at_or_after(&cursor.since)
            .build();
        let gathered = scim::fetch_all(
            "/Users",
            filter.as_deref(),
            walk.start,
            page_size(ctx, None),
            EVENTS_PER_POLL,
            "the changed users",
        )?;
        let users: Vec<User> = gathered.items.iter().map(flatten).collect();
        let newest = users
            .iter()
            .filter_map(|u| u.last_modified.as_deref())
            .fold(walk.newest.clone(), |acc, t| {
                later(acc.as_deref(), Some(t)).map(str::to_string)
            });
        let events = users.into_iter().map(event).collect();
        let next = match gathered.next_start_index {
            Some(start) => Cursor {
                since: cursor.since.clone(),
                walk: Some(Walk {
                    start,
                    newest,
                    began: walk.began,
                }),
            },
            None => Cursor {
                since: next_since(&cursor.since, newest.as_deref(), walk.began),
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

    #[test]
    fn since_moves_to_the_newest_change_but_not_past_the_walk_start() {
        let began = 1_767_225_600; // 2026-01-01T00:00:00Z
        // Nothing seen: since stays.
        assert_eq!(
            next_since("2025-12-01T00:00:00Z", None, began),
            "2025-12-01T00:00:00Z"
        );
        // An old change: since moves to it.
        assert_eq!(
            next_since("2025-12-01T00:00:00Z", Some("2025-12-20T10:00:00Z"), began),
            "2025-12-20T10:00:00Z"
        );
        // A change within the clock margin of the walk's start: since stops
        // at the margin, so users changed during the walk are read again.
        assert_eq!(
            next_since("2025-12-01T00:00:00Z", Some("2025-12-31T23:59:30Z"), began),
            "2025-12-31T23:58:00Z"
        );
        // Never backwards.
        assert_eq!(
            next_since("2026-01-02T00:00:00Z", Some("2025-12-20T10:00:00Z"), began),
            "2026-01-02T00:00:00Z"
        );
    }

    #[test]
    fn a_change_is_named_by_user_and_moment() {
        let user = flatten(&cardhost_sdk::json!({
            "id": "u1", "userName": "aiko",
            "meta": {"lastModified": "2026-01-01T09:30:00Z"}
        }));
        let e = event(user);
        assert_eq!(e.id, "u1@2026-01-01T09:30:00Z");
        assert_eq!(e.occurred_at, "2026-01-01T09:30:00Z");
    }
}
