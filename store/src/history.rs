//! The history writer: invocation rows are written by a thread of their
//! own, on a connection of their own, committed in batches.
//!
//! An invocation only queues its row, so no SQLite call and no `fsync` sits
//! on its path. The writer gathers rows for [`BATCH_WINDOW`] after the first
//! and commits them in one transaction, so under load one commit carries
//! many rows and at rest a row is committed within the window. History uses
//! `synchronous = NORMAL` (in WAL mode a commit survives a crash of the
//! process, and a power loss may take the last commits); tokens, secrets and
//! connection changes stay on the store's `FULL` connection.
//!
//! Reading history first waits for every row queued before the read, so a
//! process sees its own invocations. Dropping the store commits what is
//! queued before it returns: a clean exit or a `SIGTERM` shutdown loses no
//! row. A `kill -9` loses the rows queued and not yet committed: at most
//! those of the last window and the batch being written.

use super::{InvocationRecord, StoreError};
use rusqlite::{Connection, params};
use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Most rows in one commit.
const MAX_BATCH: usize = 1024;

/// How long the writer gathers rows after the first before it commits. At
/// a few thousand invocations a second this turns one commit per handful of
/// rows into one per window; it is also what a `kill -9` may lose.
pub const BATCH_WINDOW: Duration = Duration::from_millis(5);

enum Message {
    Row(Box<InvocationRecord>),
    /// Commit everything queued before this, then answer.
    Flush(SyncSender<Result<(), String>>),
}

/// The writer thread and the queue to it.
pub(crate) struct HistoryWriter {
    queue: Mutex<Option<Sender<Message>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl HistoryWriter {
    /// Starts the writer on its own connection to the database at `path`.
    pub(crate) fn start(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)
            .map_err(|e| StoreError::Backend(format!("cannot open {}: {e}", path.display())))?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(backend)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(backend)?;
        let (queue, rows) = channel();
        let thread = std::thread::Builder::new()
            .name("cardhost-history".into())
            .spawn(move || write_until_closed(conn, rows))
            .map_err(|e| StoreError::Backend(format!("cannot start the history writer: {e}")))?;
        Ok(Self {
            queue: Mutex::new(Some(queue)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues a row.
    pub(crate) fn record(&self, record: &InvocationRecord) -> Result<(), StoreError> {
        self.send(Message::Row(Box::new(record.clone())))
    }

    /// Waits until every row queued before the call is committed.
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        let (done, answer) = sync_channel(1);
        self.send(Message::Flush(done))?;
        answer
            .recv()
            .map_err(|_| StoreError::Backend("the history writer stopped".into()))?
            .map_err(StoreError::Backend)
    }

    fn send(&self, message: Message) -> Result<(), StoreError> {
        let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        queue
            .as_ref()
            .ok_or_else(|| StoreError::Backend("the history writer is closed".into()))?
            .send(message)
            .map_err(|_| StoreError::Backend("the history writer stopped".into()))
    }
}

impl Drop for HistoryWriter {
    /// Commits what is queued, then stops the thread.
    fn drop(&mut self) {
        drop(self.queue.lock().unwrap_or_else(|p| p.into_inner()).take());
        if let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn write_until_closed(mut conn: Connection, queue: Receiver<Message>) {
    let mut rows: Vec<Box<InvocationRecord>> = Vec::new();
    let mut waiting: Vec<SyncSender<Result<(), String>>> = Vec::new();
    // Block for the first message, then gather for one window (a flush, a
    // full batch or the writer closing ends it early) and commit it all.
    while let Ok(first) = queue.recv() {
        let window_ends = Instant::now() + BATCH_WINDOW;
        let mut urgent = false;
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Row(row) => rows.push(row),
                Message::Flush(done) => {
                    waiting.push(done);
                    urgent = true;
                }
            }
            let left = window_ends.saturating_duration_since(Instant::now());
            next = if rows.len() >= MAX_BATCH {
                None
            } else if urgent || left.is_zero() {
                queue.try_recv().ok()
            } else {
                queue.recv_timeout(left).ok()
            };
        }
        let result = commit_with_retry(&mut conn, &rows).map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::error!(rows = rows.len(), "cannot record invocations: {e}");
        }
        rows.clear();
        for done in waiting.drain(..) {
            let _ = done.send(result.clone());
        }
    }
}

/// Commits `rows`, trying again a few times while the database is busy or
/// briefly unwritable.
fn commit_with_retry(
    conn: &mut Connection,
    rows: &[Box<InvocationRecord>],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut wait = Duration::from_millis(50);
    for attempt in 0.. {
        match commit(conn, rows) {
            Ok(()) => return Ok(()),
            Err(e) if attempt >= 4 => return Err(e),
            Err(_) => {
                std::thread::sleep(wait);
                wait *= 2;
            }
        }
    }
    unreachable!("the loop returns")
}

fn commit(conn: &mut Connection, rows: &[Box<InvocationRecord>]) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(backend)?;
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO invocations (id, connection_id, connector, card, started_at_ms,
                 duration_ms, outcome, error, upstream_requests, retries)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .map_err(backend)?;
        for r in rows {
            insert
                .execute(params![
                    r.id,
                    r.connection_id,
                    r.connector,
                    r.card,
                    r.started_at_ms,
                    r.duration_ms as i64,
                    r.outcome,
                    r.error,
                    r.upstream_requests,
                    r.retries
                ])
                .map_err(backend)?;
        }
    }
    tx.commit().map_err(backend)
}
