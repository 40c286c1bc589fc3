//! Lookups on every request — the caller's API key, the connection it names —
//! served from memory while the store's revision has not moved.
//!
//! The store has one revision: a counter that triggers in the database raise
//! with every change to API keys, connections, their secrets and their
//! credential pins (history and tokens do not move it). A cached entry is
//! stamped with the epoch seen *before* the read that produced it and is used
//! only while the epoch is still that one, so a read racing a change can
//! never be served after the change.
//!
//! The epoch moves:
//! - at once, when this process changes the database (every write on the
//!   store's connection is noticed when the connection is handed back), so a
//!   key revoked through this server stops working on the next request;
//! - within [`WATCH_INTERVAL`], when another process (the CLI beside a
//!   running server) does: a thread of the store reads the revision on a
//!   connection of its own at that interval.
//!
//! Only records that exist are kept, and at most [`MAX_ENTRIES`] of each
//! kind, so presenting unknown key ids cannot grow the cache.

use rusqlite::{Connection, OpenFlags};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// How often the store looks for changes made by other processes.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(50);

/// Most entries of one kind; the map starts again empty beyond it.
const MAX_ENTRIES: usize = 4096;

/// The epoch and the cached records.
pub(crate) struct ReadCache<V> {
    epoch: Arc<Epoch>,
    entries: Mutex<HashMap<String, (u64, V)>>,
}

/// A counter every change moves.
#[derive(Default)]
pub(crate) struct Epoch(AtomicU64);

impl Epoch {
    /// The current epoch, to stamp a read with before it runs.
    pub(crate) fn now(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Something changed: every entry stamped before is stale.
    pub(crate) fn advance(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

impl<V: Clone> ReadCache<V> {
    /// A cache that goes stale with `epoch`.
    pub(crate) fn new(epoch: Arc<Epoch>) -> Self {
        Self {
            epoch,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached value for `key`, or `read()`'s, which is kept when it is
    /// `Some`.
    pub(crate) fn get_or_read<E>(
        &self,
        key: &str,
        read: impl FnOnce() -> Result<Option<V>, E>,
    ) -> Result<Option<V>, E> {
        let (stamp, cached) = self.cached(key);
        if cached.is_some() {
            return Ok(cached);
        }
        let value = read()?;
        self.keep(key, stamp, &value);
        Ok(value)
    }

    /// [`ReadCache::get_or_read`] with a read that awaits.
    pub(crate) async fn get_or_read_async<E, F>(
        &self,
        key: &str,
        read: impl FnOnce() -> F,
    ) -> Result<Option<V>, E>
    where
        F: Future<Output = Result<Option<V>, E>>,
    {
        let (stamp, cached) = self.cached(key);
        if cached.is_some() {
            return Ok(cached);
        }
        let value = read().await?;
        self.keep(key, stamp, &value);
        Ok(value)
    }

    /// The epoch now, and the entry for `key` if it was read in it.
    fn cached(&self, key: &str) -> (u64, Option<V>) {
        let stamp = self.epoch.now();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(key) {
            Some((at, value)) if *at == stamp => (stamp, Some(value.clone())),
            _ => (stamp, None),
        }
    }

    /// Keeps what a read stamped `stamp` found, if it found something.
    fn keep(&self, key: &str, stamp: u64, value: &Option<V>) {
        if let Some(value) = value {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key.to_string(), (stamp, value.clone()));
        }
    }
}

/// The revision column the triggers raise.
pub(crate) const READ_REVISION: &str = "SELECT n FROM revision";

/// Starts the thread that advances `epoch` when another connection changes
/// the revision of the database at `path`. It ends when `epoch` is dropped.
pub(crate) fn watch(path: &Path, epoch: &Arc<Epoch>) -> std::io::Result<()> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(std::io::Error::other)?;
    let _ = conn.busy_timeout(Duration::from_secs(1));
    let weak: Weak<Epoch> = Arc::downgrade(epoch);
    let read = |conn: &Connection| -> Option<i64> {
        conn.prepare_cached(READ_REVISION)
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .ok()
    };
    // Read before the store is handed out, not when the thread first runs:
    // a change landing in between would otherwise be taken as the start.
    let mut seen = read(&conn);
    std::thread::Builder::new()
        .name("cardhost-store-watch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(WATCH_INTERVAL);
                let Some(epoch) = weak.upgrade() else { return };
                let now = read(&conn);
                // An unreadable revision (the file busy past the timeout)
                // counts as a change: a stale read is the one thing to avoid.
                if now != seen || now.is_none() {
                    seen = now;
                    epoch.advance();
                }
            }
        })
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_read_before_a_change_is_not_served_after_it() {
        let epoch = Arc::new(Epoch::default());
        let cache: ReadCache<u32> = ReadCache::new(epoch.clone());
        let read = |v: u32| move || Ok::<_, ()>(Some(v));
        assert_eq!(cache.get_or_read("a", read(1)), Ok(Some(1)));
        assert_eq!(cache.get_or_read("a", read(2)), Ok(Some(1)), "served");
        // A change lands while a read is under way: the value it read is
        // stamped with the epoch before the change.
        let racing = cache.get_or_read("b", || {
            epoch.advance();
            Ok::<_, ()>(Some(10))
        });
        assert_eq!(racing, Ok(Some(10)));
        assert_eq!(cache.get_or_read("b", read(11)), Ok(Some(11)));
        epoch.advance();
        assert_eq!(cache.get_or_read("a", read(3)), Ok(Some(3)));
    }

    #[test]
    fn missing_records_are_not_kept_and_the_map_is_bounded() {
        let cache: ReadCache<u32> = ReadCache::new(Arc::default());
        for i in 0..(MAX_ENTRIES * 2) {
            let _ = cache.get_or_read(&format!("nope-{i}"), || Ok::<_, ()>(None));
        }
        assert!(cache.entries.lock().unwrap().is_empty());
        for i in 0..(MAX_ENTRIES + 10) {
            let _ = cache.get_or_read(&format!("k-{i}"), || Ok::<_, ()>(Some(1)));
        }
        assert!(cache.entries.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
