//! The embedded store: one SQLite file in WAL mode.
//!
//! Migrations are numbered and recorded in `PRAGMA user_version`; each is
//! applied in its own transaction at open. `synchronous = FULL` because a
//! rotated refresh token that is acknowledged must survive power loss, not
//! only a crash. Several processes (the server and the CLI) may open the same
//! file: writers wait on SQLite's lock up to the busy timeout. Invocation
//! history is the exception: it is written in batches by a thread of its
//! own with `synchronous = NORMAL` (see `history.rs`).

use super::cache::{self, Epoch, ReadCache};
use super::schema::{MIGRATIONS, SCHEMA_VERSION};
use super::subscriptions::{
    Committed, DeadLetter, DeliveryOutcome, EventRecord, NewEvent, NewSubscription, PollCommit,
    SUBSCRIPTION_COLUMNS, SubscriptionRecord, SubscriptionState, event_record, new_subscription_id,
    secret_context as subscription_secret_context, sql as sub_sql, subscription_row,
};
use super::{
    ApiKeyRecord, ConnectionRecord, ConnectionState, ConsoleSession, CredentialPin, FieldsChange,
    HistoryFilter, InvocationRecord, MasterKey, NewConnection, PendingAuthorization, Role,
    SecretInfo, Store, StoreError, now_secs,
};
use cardhost_runtime::credentials::{Secret, TokenSet};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The embedded SQLite store.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// Moves with every change to the database (see `cache.rs`).
    epoch: Arc<Epoch>,
    /// API keys by id.
    keys_by_id: ReadCache<ApiKeyRecord>,
    /// Connections by the id or name they were asked for by.
    connections: ReadCache<ConnectionRecord>,
    /// Invocation rows, written in batches on a connection of their own.
    history: super::history::HistoryWriter,
    path: PathBuf,
    /// Keys that may open stored values; the first seals new ones.
    keys: Mutex<Vec<MasterKey>>,
    /// The data directory's lock, shared while the store is open (see
    /// [`super::open_in`]).
    dir_lock: Mutex<Option<std::fs::File>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

pub(crate) fn secret_context(id: &str, name: &str) -> String {
    format!("secret:{id}:{name}")
}

pub(crate) fn token_context(id: &str) -> String {
    format!("tokens:{id}")
}

pub(crate) fn verifier_context(state: &str, id: &str) -> String {
    format!("pkce:{state}:{id}")
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`, applying migrations.
    /// `keys[0]` seals new values; further keys only open old ones (used while
    /// a key rotation is completed).
    pub fn open(path: &Path, keys: Vec<MasterKey>) -> Result<Self, StoreError> {
        assert!(!keys.is_empty(), "a store needs a master key");
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Backend(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let mut conn = Connection::open(path)
            .map_err(|e| StoreError::Backend(format!("cannot open {}: {e}", path.display())))?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(db_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(db_err)?;
        migrate(&mut conn).map_err(|e| match e {
            StoreError::Backend(m) => StoreError::Backend(format!("{}: {m}", path.display())),
            e => e,
        })?;
        #[cfg(unix)]
        {
            // The file holds only sealed secrets, but names and fields are
            // still the operator's business.
            use std::os::unix::fs::PermissionsExt as _;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        let history = super::history::HistoryWriter::start(path)?;
        let epoch = Arc::new(Epoch::default());
        cache::watch(path, &epoch).map_err(|e| {
            StoreError::Backend(format!("cannot watch {} for changes: {e}", path.display()))
        })?;
        Ok(Self {
            conn: Mutex::new(conn),
            keys_by_id: ReadCache::new(epoch.clone()),
            connections: ReadCache::new(epoch.clone()),
            epoch,
            history,
            path: path.to_path_buf(),
            keys: Mutex::new(keys),
            dir_lock: Mutex::new(None),
        })
    }

    /// Keeps the data directory's shared lock for as long as the store lives.
    pub(crate) fn hold_dir_lock(&self, lock: std::fs::File) {
        *self.dir_lock.lock().unwrap_or_else(|p| p.into_inner()) = Some(lock);
    }

    /// Turns the shared lock into an exclusive one, if no other process
    /// holds the directory. `false` when one does.
    pub(crate) fn lock_dir_exclusively(&self) -> Result<bool, String> {
        let guard = self.dir_lock.lock().unwrap_or_else(|p| p.into_inner());
        let Some(file) = guard.as_ref() else {
            return Ok(true);
        };
        match file.try_lock() {
            Ok(()) => Ok(true),
            Err(std::fs::TryLockError::WouldBlock) => Ok(false),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(format!("cannot lock the data directory: {e}"))
            }
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn db(&self) -> Db<'_> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        Db {
            changes: conn.total_changes(),
            conn,
            epoch: &self.epoch,
        }
    }

    fn sealing_key(&self) -> MasterKey {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())[0].clone()
    }

    fn open_sealed(
        &self,
        what: &str,
        key_id: &str,
        context: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        open_with(&keys, what, key_id, context, sealed)
    }

    /// The pending authorization with `state`, taken (used once) when
    /// `consume` is set, else only read.
    fn pending(
        &self,
        state: &str,
        max_age_secs: i64,
        consume: bool,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let row = {
                let mut db = self.db();
                let tx = db
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(db_err)?;
                // Expired flows are dropped whenever one is taken.
                tx.execute(
                    "DELETE FROM pending_authorizations WHERE created_at < ?1",
                    [now_secs() - max_age_secs],
                )
                .map_err(db_err)?;
                let row: Option<(String, String, Vec<u8>, String, i64)> = tx
                    .query_row(
                        "SELECT connection_id, key_id, sealed_verifier, redirect_uri, created_at
                         FROM pending_authorizations WHERE state = ?1",
                        [state],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                    )
                    .optional()
                    .map_err(db_err)?;
                if consume {
                    tx.execute(
                        "DELETE FROM pending_authorizations WHERE state = ?1",
                        [state],
                    )
                    .map_err(db_err)?;
                }
                tx.commit().map_err(db_err)?;
                row
            };
            let Some((connection_id, key_id, sealed, redirect_uri, created_at)) = row else {
                return Ok(None);
            };
            let plain = self.open_sealed(
                "a PKCE verifier",
                &key_id,
                &verifier_context(state, &connection_id),
                &sealed,
            )?;
            Ok(Some(PendingAuthorization {
                state: state.to_string(),
                connection_id,
                verifier: Secret::new(String::from_utf8_lossy(&plain).into_owned()),
                redirect_uri,
                created_at,
            }))
        })
    }

    fn require(&self, conn: &Connection, id: &str) -> Result<(), StoreError> {
        let found: Option<i64> = conn
            .query_row("SELECT 1 FROM connections WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db_err)?;
        found
            .map(|_| ())
            .ok_or_else(|| StoreError::NotFound(id.to_string()))
    }
}

/// Opens a sealed value with whichever of `keys` sealed it.
pub(crate) fn open_with(
    keys: &[MasterKey],
    what: &str,
    key_id: &str,
    context: &str,
    sealed: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let key = keys
        .iter()
        .find(|k| k.id() == key_id)
        .ok_or_else(|| StoreError::Crypto {
            what: what.to_string(),
            reason: format!(
                "it was sealed with key {key_id}, which is not the configured master key ({}); \
                 set CARDHOST_MASTER_KEY or the key file to the key this store was created with",
                keys[0].id()
            ),
        })?;
    key.open(context, sealed)
        .map_err(|reason| StoreError::Crypto {
            what: what.to_string(),
            reason,
        })
}

/// The store's connection, lent to one call. Handing it back after a change
/// advances the epoch, so every write of this process is seen by its cached
/// lookups at once, however it was made.
struct Db<'a> {
    conn: MutexGuard<'a, Connection>,
    changes: u64,
    epoch: &'a Epoch,
}

impl std::ops::Deref for Db<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl std::ops::DerefMut for Db<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

impl Drop for Db<'_> {
    fn drop(&mut self) {
        // Before the lock is released: no read can start in between.
        if self.conn.total_changes() != self.changes {
            self.epoch.advance();
        }
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err)?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db_err)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Backend(format!(
            "the database schema is version {version}, newer than this cardhost knows \
             ({SCHEMA_VERSION}); upgrade cardhost"
        )));
    }
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(migration.sqlite)
            .map_err(|e| StoreError::Backend(format!("migration {}: {e}", i + 1)))?;
        tx.pragma_update(None, "user_version", i as i64 + 1)
            .map_err(db_err)?;
    }
    tx.commit().map_err(db_err)
}

/// A statement written with `$N` parameters, as SQLite numbers them
/// (`?N`: SQLite binds `$N` by first appearance, not by number).
fn numbered(sql: &str) -> String {
    sql.replace('$', "?")
}

fn read_subscription(conn: &Connection, id: &str) -> Result<SubscriptionRecord, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ?1"
    ))
    .and_then(|mut s| s.query_row([id], |r| Ok(subscription_row!(r?))).optional())
    .map_err(db_err)?
    .ok_or_else(|| StoreError::NoSubscription(id.to_string()))
}

fn subscription_changed(n: usize, id: &str) -> Result<(), StoreError> {
    if n == 0 {
        return Err(StoreError::NoSubscription(id.to_string()));
    }
    Ok(())
}

/// Stores `events` after `last_seq`, each id the subscription does not
/// hold yet, and records the new last `seq`.
/// Subscriptions matching `clause` (a `WHERE … LIMIT` taking the time and
/// a limit) at `now_ms`, at most `limit`.
fn due_where(
    db: &Connection,
    clause: &str,
    now_ms: i64,
    limit: u32,
) -> Result<Vec<SubscriptionRecord>, StoreError> {
    let mut stmt = db
        .prepare_cached(&numbered(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions {clause}"
        )))
        .map_err(db_err)?;
    let rows = stmt
        .query_map(params![now_ms, limit], |r| Ok(subscription_row!(r?)))
        .map_err(db_err)?;
    rows.collect::<Result<_, _>>().map_err(db_err)
}

fn insert_events(
    tx: &rusqlite::Transaction<'_>,
    id: &str,
    last_seq: i64,
    events: &[NewEvent],
    now_ms: i64,
) -> Result<Committed, StoreError> {
    let mut next = last_seq;
    let mut stmt = tx
        .prepare_cached(&numbered(sub_sql::INSERT_EVENT))
        .map_err(db_err)?;
    for e in events {
        let n = stmt
            .execute(params![
                id,
                next + 1,
                e.id,
                e.occurred_at,
                e.payload.to_string(),
                now_ms
            ])
            .map_err(db_err)?;
        next += n as i64;
    }
    drop(stmt);
    if next != last_seq {
        tx.execute(&numbered(sub_sql::SET_LAST_SEQ), params![id, next])
            .map_err(db_err)?;
    }
    Ok(Committed {
        stored: (next - last_seq) as usize,
        last_seq: next,
    })
}

pub(crate) fn new_connection_id() -> String {
    let bytes: [u8; 10] = rand::random();
    format!("conn_{}", hex::encode(bytes))
}

fn api_key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    let role: String = r.get(2)?;
    let hash: Vec<u8> = r.get(3)?;
    Ok(ApiKeyRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        role: Role::parse(&role).unwrap_or(Role::Reader),
        hash: hash.try_into().unwrap_or([0; 32]),
        created_at: r.get(4)?,
        revoked_at: r.get(5)?,
    })
}

fn row_to_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<ConnectionRecord> {
    let fields: String = r.get("fields")?;
    let granted: String = r.get("granted")?;
    let state: String = r.get("state")?;
    Ok(ConnectionRecord {
        id: r.get("id")?,
        name: r.get("name")?,
        connector: r.get("connector")?,
        connector_version: r.get("connector_version")?,
        auth_method: r.get("auth_method")?,
        fields: serde_json::from_str(&fields).unwrap_or(Value::Null),
        granted: serde_json::from_str(&granted).unwrap_or_default(),
        state: ConnectionState::parse(&state),
        state_message: r.get("state_message")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
        revision: r.get("revision")?,
    })
}

const CONNECTION_COLUMNS: &str = "id, name, connector, connector_version, auth_method, fields, \
     granted, state, state_message, created_at, updated_at, revision";

/// Stores one sealed secret, replacing the one of that name.
fn upsert_sealed_secret(
    tx: &Connection,
    id: &str,
    name: &str,
    key_id: &str,
    sealed: &[u8],
    now: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO secrets (connection_id, name, key_id, sealed, set_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (connection_id, name) DO UPDATE SET key_id = ?3, sealed = ?4, set_at = ?5",
        params![id, name, key_id, sealed, now],
    )
    .map_err(db_err)?;
    Ok(())
}

/// The secrets a change gives, sealed, and its tokens forgotten if told.
fn apply_secrets_and_tokens(
    tx: &Connection,
    key: &MasterKey,
    id: &str,
    change: &FieldsChange<'_>,
    now: i64,
) -> Result<(), StoreError> {
    for (name, value) in change.secrets {
        let sealed = key.seal(&secret_context(id, name), value.expose().as_bytes());
        upsert_sealed_secret(tx, id, name, key.id(), &sealed, now)?;
    }
    if change.clear_tokens {
        tx.execute("DELETE FROM tokens WHERE connection_id = ?1", [id])
            .map_err(db_err)?;
    }
    Ok(())
}

pub(crate) fn changed(n: usize, id: &str) -> Result<(), StoreError> {
    if n == 0 {
        Err(StoreError::NotFound(id.to_string()))
    } else {
        Ok(())
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn create_connection(&self, new: NewConnection) -> Result<ConnectionRecord, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let key = self.sealing_key();
            let mut db = self.db();
            let tx = db
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let taken: Option<String> = tx
                .query_row(
                    "SELECT id FROM connections WHERE name = ?1",
                    [&new.name],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            if let Some(existing) = taken {
                return Err(StoreError::Conflict(format!(
                    "a connection named `{}` already exists ({existing})",
                    new.name
                )));
            }
            let now = now_secs();
            let record = ConnectionRecord {
                id: new_connection_id(),
                name: new.name,
                connector: new.connector,
                connector_version: new.connector_version,
                auth_method: new.auth_method,
                fields: new.fields,
                granted: new.granted,
                state: new.state,
                state_message: new.state_message,
                created_at: now,
                updated_at: now,
                revision: 0,
            };
            tx.execute(
                &format!("INSERT INTO connections ({CONNECTION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0)"),
                params![
                    record.id,
                    record.name,
                    record.connector,
                    record.connector_version,
                    record.auth_method,
                    record.fields.to_string(),
                    serde_json::to_string(&record.granted).expect("strings serialize"),
                    record.state.as_str(),
                    record.state_message,
                    now,
                    now
                ],
            )
            .map_err(db_err)?;
            for (name, value) in &new.secrets {
                let sealed = key.seal(&secret_context(&record.id, name), value.expose().as_bytes());
                tx.execute(
                    "INSERT INTO secrets (connection_id, name, key_id, sealed, set_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![record.id, name, key.id(), sealed, now],
                )
                .map_err(db_err)?;
            }
            tx.commit().map_err(db_err)?;
            Ok(record)
        })
    }

    async fn list_connections(&self) -> Result<Vec<ConnectionRecord>, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let db = self.db();
            let mut stmt = db
                .prepare(&format!(
                    "SELECT {CONNECTION_COLUMNS} FROM connections ORDER BY name"
                ))
                .map_err(db_err)?;
            let rows = stmt.query_map([], row_to_record).map_err(db_err)?;
            rows.collect::<Result<_, _>>().map_err(db_err)
        })
    }

    async fn connection(&self, id_or_name: &str) -> Result<ConnectionRecord, StoreError> {
        self.connections
            .get_or_read(id_or_name, || {
                cardhost_runtime::executor::blocking(|| {
                    self.db()
                        .prepare_cached(&format!(
                            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = ?1 OR name = ?1 \
                             ORDER BY id = ?1 DESC LIMIT 1"
                        ))
                        .and_then(|mut s| s.query_row([id_or_name], row_to_record).optional())
                        .map_err(db_err)
                })
            })?
            .ok_or_else(|| StoreError::NotFound(id_or_name.to_string()))
    }

    async fn update_fields(
        &self,
        id: &str,
        fields: &Value,
        version: &str,
    ) -> Result<(), StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let n = self
                .db()
                .execute(
                    "UPDATE connections SET fields = ?2, connector_version = ?3, updated_at = ?4, revision = revision + 1 WHERE id = ?1",
                    params![id, fields.to_string(), version, now_secs()],
                )
                .map_err(db_err)?;
            changed(n, id)
        })
    }

    async fn replace_fields(&self, id: &str, change: &FieldsChange<'_>) -> Result<(), StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let key = self.sealing_key();
            let mut db = self.db();
            let tx = db
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            self.require(&tx, id)?;
            let now = now_secs();
            tx.execute(
                "UPDATE connections SET fields = ?2, connector_version = ?3, updated_at = ?4, revision = revision + 1 WHERE id = ?1",
                params![id, change.fields.to_string(), change.version, now],
            )
            .map_err(db_err)?;
            apply_secrets_and_tokens(&tx, &key, id, change, now)?;
            if let Some((state, message)) = change.state {
                tx.execute(
                    "UPDATE connections SET state = ?2, state_message = ?3 WHERE id = ?1",
                    params![id, state.as_str(), message],
                )
                .map_err(db_err)?;
            }
            tx.commit().map_err(db_err)
        })
    }

    async fn set_grant(&self, id: &str, granted: &[String]) -> Result<(), StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let n = self
                .db()
                .execute(
                    "UPDATE connections SET granted = ?2, updated_at = ?3, revision = revision + 1 WHERE id = ?1",
                    params![
                        id,
                        serde_json::to_string(granted).expect("strings serialize"),
                        now_secs()
                    ],
                )
                .map_err(db_err)?;
            changed(n, id)
        })
    }

    async fn set_state(
        &self,
        id: &str,
        state: ConnectionState,
        message: Option<&str>,
    ) -> Result<(), StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let n = self
                .db()
                .execute(
                    "UPDATE connections SET state = ?2, state_message = ?3, updated_at = ?4, revision = revision + 1 WHERE id = ?1",
                    params![id, state.as_str(), message, now_secs()],
                )
                .map_err(db_err)?;
            changed(n, id)
        })
    }

    async fn delete_connection(&self, id: &str) -> Result<bool, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let n = self
                .db()
                .execute("DELETE FROM connections WHERE id = ?1", [id])
                .map_err(db_err)?;
            Ok(n > 0)
        })
    }

    async fn set_secret(&self, id: &str, name: &str, value: &Secret) -> Result<(), StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let key = self.sealing_key();
            let sealed = key.seal(&secret_context(id, name), value.expose().as_bytes());
            let mut db = self.db();
            let tx = db
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            self.require(&tx, id)?;
            upsert_sealed_secret(&tx, id, name, key.id(), &sealed, now_secs())?;
            tx.execute(
                "UPDATE connections SET updated_at = ?2, revision = revision + 1 WHERE id = ?1",
                params![id, now_secs()],
            )
            .map_err(db_err)?;
            tx.commit().map_err(db_err)
        })
    }

    async fn secrets(&self, id: &str) -> Result<BTreeMap<String, Secret>, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let rows: Vec<(String, String, Vec<u8>)> = {
                let db = self.db();
                self.require(&db, id)?;
                let mut stmt = db
                    .prepare("SELECT name, key_id, sealed FROM secrets WHERE connection_id = ?1")
                    .map_err(db_err)?;
                stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .map_err(db_err)?
                    .collect::<Result<_, _>>()
                    .map_err(db_err)?
            };
            rows.into_iter()
                .map(|(name, key_id, sealed)| {
                    let what = format!("secret `{name}` of connection {id}");
                    let plain =
                        self.open_sealed(&what, &key_id, &secret_context(id, &name), &sealed)?;
                    let text = String::from_utf8(plain).map_err(|_| StoreError::Crypto {
                        what,
                        reason: "it is not UTF-8".into(),
                    })?;
                    Ok((name, Secret::new(text)))
                })
                .collect()
        })
    }

    async fn secret_info(&self, id: &str) -> Result<Vec<SecretInfo>, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let db = self.db();
            self.require(&db, id)?;
            let mut stmt = db
                .prepare("SELECT name, set_at FROM secrets WHERE connection_id = ?1 ORDER BY name")
                .map_err(db_err)?;
            stmt.query_map([id], |r| {
                Ok(SecretInfo {
                    name: r.get(0)?,
                    set_at: r.get(1)?,
                })
            })
            .map_err(db_err)?
            .collect::<Result<_, _>>()
            .map_err(db_err)
        })
    }

    async fn save_tokens(&self, id: &str, tokens: &TokenSet) -> Result<(), StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let key = self.sealing_key();
            let json = serde_json::to_vec(tokens).expect("tokens serialize");
            let sealed = key.seal(&token_context(id), &json);
            let n = self
                .db()
                .execute(
                    "INSERT INTO tokens (connection_id, key_id, sealed, updated_at)
                     SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM connections WHERE id = ?1)
                     ON CONFLICT (connection_id) DO UPDATE SET key_id = ?2, sealed = ?3, updated_at = ?4",
                    params![id, key.id(), sealed, now_secs()],
                )
                .map_err(db_err)?;
            changed(n, id)
        })
    }

    async fn take_refresh_lease(
        &self,
        id: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let mut db = self.db();
            let tx = db
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let now = super::now_ms();
            let current: Option<(String, i64)> = tx
                .query_row(
                    "SELECT holder, expires_at_ms FROM refresh_leases WHERE connection_id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db_err)?;
            if let Some((other, expires)) = &current
                && other != holder
                && *expires > now
            {
                return Ok(false);
            }
            let n = tx
                .execute(
                    "INSERT INTO refresh_leases (connection_id, holder, expires_at_ms)
                     SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM connections WHERE id = ?1)
                     ON CONFLICT (connection_id) DO UPDATE SET holder = ?2, expires_at_ms = ?3",
                    params![id, holder, now + ttl_ms],
                )
                .map_err(db_err)?;
            changed(n, id)?;
            tx.commit().map_err(db_err)?;
            Ok(true)
        })
    }

    async fn release_refresh_lease(&self, id: &str, holder: &str) -> Result<(), StoreError> {
        cardhost_runtime::executor::blocking(|| {
            self.db()
                .execute(
                    "DELETE FROM refresh_leases WHERE connection_id = ?1 AND holder = ?2",
                    params![id, holder],
                )
                .map_err(db_err)?;
            Ok(())
        })
    }

    async fn credential_pin(&self, id: &str) -> Result<Option<CredentialPin>, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let row: Option<(String, String)> = self
                .db()
                .query_row(
                    "SELECT digest, parts FROM credential_pins WHERE connection_id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db_err)?;
            Ok(row.map(|(digest, parts)| CredentialPin {
                digest,
                parts: serde_json::from_str(&parts).unwrap_or(Value::Null),
            }))
        })
    }

    async fn set_credential_pin(
        &self,
        id: &str,
        pin: &CredentialPin,
        approve: Option<&FieldsChange<'_>>,
    ) -> Result<(), StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let key = self.sealing_key();
            let mut db = self.db();
            let tx = db
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            self.require(&tx, id)?;
            let now = now_secs();
            tx.execute(
                "INSERT INTO credential_pins (connection_id, digest, parts, pinned_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (connection_id) DO UPDATE SET digest = ?2, parts = ?3, pinned_at = ?4",
                params![id, pin.digest, pin.parts.to_string(), now],
            )
            .map_err(db_err)?;
            if let Some(change) = approve {
                apply_secrets_and_tokens(&tx, &key, id, change, now)?;
                let (state, message) = change.state.unwrap_or((ConnectionState::Ready, ""));
                tx.execute(
                    "UPDATE connections SET state = ?2, state_message = ?3, connector_version = ?4, updated_at = ?5, revision = revision + 1 WHERE id = ?1",
                    params![id, state.as_str(), (!message.is_empty()).then_some(message), change.version, now],
                )
                .map_err(db_err)?;
            }
            tx.commit().map_err(db_err)
        })
    }

    async fn tokens(&self, id: &str) -> Result<TokenSet, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let row: Option<(String, Vec<u8>)> = self
                .db()
                .query_row(
                    "SELECT key_id, sealed FROM tokens WHERE connection_id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db_err)?;
            let Some((key_id, sealed)) = row else {
                return Ok(TokenSet::default());
            };
            let what = format!("the tokens of connection {id}");
            let plain = self.open_sealed(&what, &key_id, &token_context(id), &sealed)?;
            serde_json::from_slice(&plain).map_err(|e| StoreError::Crypto {
                what,
                reason: e.to_string(),
            })
        })
    }

    async fn clear_tokens(&self, id: &str) -> Result<(), StoreError> {
        cardhost_runtime::executor::blocking(|| {
            self.db()
                .execute("DELETE FROM tokens WHERE connection_id = ?1", [id])
                .map_err(db_err)?;
            Ok(())
        })
    }

    async fn put_pending_authorization(&self, p: &PendingAuthorization) -> Result<(), StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let key = self.sealing_key();
            let sealed = key.seal(
                &verifier_context(&p.state, &p.connection_id),
                p.verifier.expose().as_bytes(),
            );
            let db = self.db();
            self.require(&db, &p.connection_id)?;
            db.execute(
                "INSERT INTO pending_authorizations (state, connection_id, key_id, sealed_verifier, redirect_uri, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![p.state, p.connection_id, key.id(), sealed, p.redirect_uri, p.created_at],
            )
            .map_err(db_err)?;
            Ok(())
        })
    }

    async fn take_pending_authorization(
        &self,
        state: &str,
        max_age_secs: i64,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        self.pending(state, max_age_secs, true)
    }

    async fn pending_authorization(
        &self,
        state: &str,
        max_age_secs: i64,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        self.pending(state, max_age_secs, false)
    }

    async fn record_invocation(&self, r: &InvocationRecord) -> Result<(), StoreError> {
        // Queued, never written on the caller's thread (see `history.rs`).
        self.history.record(r)
    }

    async fn history(&self, f: &HistoryFilter) -> Result<Vec<InvocationRecord>, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            // What this process recorded before the read is in it.
            self.history.flush()?;
            let db = self.db();
            let mut stmt = db
                .prepare(
                    "SELECT id, connection_id, connector, card, started_at_ms, duration_ms, outcome, error,
                            upstream_requests, retries
                     FROM invocations
                     WHERE (?1 IS NULL OR connection_id = ?1) AND (?2 IS NULL OR connector = ?2)
                       AND (?3 IS NULL OR card = ?3) AND (?4 IS NULL OR outcome = ?4)
                       AND (?5 IS NULL OR started_at_ms >= ?5)
                     ORDER BY started_at_ms DESC, rowid DESC LIMIT ?6",
                )
                .map_err(db_err)?;
            stmt.query_map(
                params![
                    f.connection_id,
                    f.connector,
                    f.card,
                    f.outcome,
                    f.since_ms,
                    f.limit.unwrap_or(50)
                ],
                |r| {
                    Ok(InvocationRecord {
                        id: r.get(0)?,
                        connection_id: r.get(1)?,
                        connector: r.get(2)?,
                        card: r.get(3)?,
                        started_at_ms: r.get(4)?,
                        duration_ms: r.get::<_, i64>(5)? as u64,
                        outcome: r.get(6)?,
                        error: r.get(7)?,
                        upstream_requests: r.get(8)?,
                        retries: r.get(9)?,
                    })
                },
            )
            .map_err(db_err)?
            .collect::<Result<_, _>>()
            .map_err(db_err)
        })
    }

    async fn rotate_key(&self, new_key: &MasterKey) -> Result<usize, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let mut db = self.db();
            let tx = db
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let mut count = 0;
            // (table, key columns, context of a row)
            let secrets: Vec<(String, String, String, Vec<u8>)> = {
                let mut stmt = tx
                    .prepare("SELECT connection_id, name, key_id, sealed FROM secrets")
                    .map_err(db_err)?;
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                    .map_err(db_err)?
                    .collect::<Result<_, _>>()
                    .map_err(db_err)?
            };
            for (id, name, key_id, sealed) in secrets {
                let ctx = secret_context(&id, &name);
                let plain =
                    self.open_sealed(&format!("secret `{name}` of {id}"), &key_id, &ctx, &sealed)?;
                tx.execute(
                    "UPDATE secrets SET key_id = ?3, sealed = ?4 WHERE connection_id = ?1 AND name = ?2",
                    params![id, name, new_key.id(), new_key.seal(&ctx, &plain)],
                )
                .map_err(db_err)?;
                count += 1;
            }
            let tokens: Vec<(String, String, Vec<u8>)> = {
                let mut stmt = tx
                    .prepare("SELECT connection_id, key_id, sealed FROM tokens")
                    .map_err(db_err)?;
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .map_err(db_err)?
                    .collect::<Result<_, _>>()
                    .map_err(db_err)?
            };
            for (id, key_id, sealed) in tokens {
                let ctx = token_context(&id);
                let plain =
                    self.open_sealed(&format!("the tokens of {id}"), &key_id, &ctx, &sealed)?;
                tx.execute(
                    "UPDATE tokens SET key_id = ?2, sealed = ?3 WHERE connection_id = ?1",
                    params![id, new_key.id(), new_key.seal(&ctx, &plain)],
                )
                .map_err(db_err)?;
                count += 1;
            }
            let pending: Vec<(String, String, String, Vec<u8>)> = {
                let mut stmt = tx
                    .prepare("SELECT state, connection_id, key_id, sealed_verifier FROM pending_authorizations")
                    .map_err(db_err)?;
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                    .map_err(db_err)?
                    .collect::<Result<_, _>>()
                    .map_err(db_err)?
            };
            for (state, id, key_id, sealed) in pending {
                let ctx = verifier_context(&state, &id);
                let plain = self.open_sealed("a PKCE verifier", &key_id, &ctx, &sealed)?;
                tx.execute(
                    "UPDATE pending_authorizations SET key_id = ?2, sealed_verifier = ?3 WHERE state = ?1",
                    params![state, new_key.id(), new_key.seal(&ctx, &plain)],
                )
                .map_err(db_err)?;
                count += 1;
            }
            let subscription_secrets: Vec<(String, String, String, Vec<u8>)> = {
                let mut stmt = tx
                    .prepare(
                        "SELECT subscription_id, purpose, key_id, sealed FROM subscription_secrets",
                    )
                    .map_err(db_err)?;
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                    .map_err(db_err)?
                    .collect::<Result<_, _>>()
                    .map_err(db_err)?
            };
            for (id, purpose, key_id, sealed) in subscription_secrets {
                let ctx = subscription_secret_context(&id, &purpose);
                let what = format!("the {purpose} secret of subscription {id}");
                let plain = self.open_sealed(&what, &key_id, &ctx, &sealed)?;
                tx.execute(
                    "UPDATE subscription_secrets SET key_id = ?3, sealed = ?4 \
                     WHERE subscription_id = ?1 AND purpose = ?2",
                    params![id, purpose, new_key.id(), new_key.seal(&ctx, &plain)],
                )
                .map_err(db_err)?;
                count += 1;
            }
            tx.execute("DELETE FROM sealing_key", []).map_err(db_err)?;
            tx.execute("INSERT INTO sealing_key (id) VALUES (?1)", [new_key.id()])
                .map_err(db_err)?;
            tx.commit().map_err(db_err)?;
            let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
            keys.retain(|k| k.id() != new_key.id());
            keys.insert(0, new_key.clone());
            Ok(count)
        })
    }

    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        cardhost_runtime::executor::blocking(|| {
            self.db()
                .execute(
                    "INSERT INTO api_keys (id, name, role, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![key.id, key.name, key.role.as_str(), key.hash.as_slice(), key.created_at],
                )
                .map_err(db_err)?;
            Ok(())
        })
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let db = self.db();
            let mut stmt = db
                .prepare(
                    "SELECT id, name, role, hash, created_at, revoked_at FROM api_keys ORDER BY created_at, id",
                )
                .map_err(db_err)?;
            stmt.query_map([], api_key_row)
                .map_err(db_err)?
                .collect::<Result<_, _>>()
                .map_err(db_err)
        })
    }

    async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.keys_by_id.get_or_read(id, || {
            cardhost_runtime::executor::blocking(|| {
                self.db()
                    .prepare_cached(
                        "SELECT id, name, role, hash, created_at, revoked_at FROM api_keys WHERE id = ?1",
                    )
                    .and_then(|mut s| s.query_row([id], api_key_row).optional())
                    .map_err(db_err)
            })
        })
    }

    async fn create_console_session(&self, session: &ConsoleSession) -> Result<(), StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let db = self.db();
            db.execute(
                "DELETE FROM console_sessions WHERE expires_at_ms <= ?1",
                [super::now_ms()],
            )
            .map_err(db_err)?;
            db.execute(
                "INSERT INTO console_sessions (token_hash, key_id, csrf, created_at_ms, expires_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    session.token_hash,
                    session.key_id,
                    session.csrf,
                    session.created_at_ms,
                    session.expires_at_ms
                ],
            )
            .map_err(db_err)?;
            Ok(())
        })
    }

    async fn console_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            self.db()
                .prepare_cached(
                    "SELECT token_hash, key_id, csrf, created_at_ms, expires_at_ms \
                     FROM console_sessions WHERE token_hash = ?1",
                )
                .and_then(|mut s| {
                    s.query_row([token_hash], |r| {
                        Ok(ConsoleSession {
                            token_hash: r.get(0)?,
                            key_id: r.get(1)?,
                            csrf: r.get(2)?,
                            created_at_ms: r.get(3)?,
                            expires_at_ms: r.get(4)?,
                        })
                    })
                    .optional()
                })
                .map_err(db_err)
        })
    }

    async fn delete_console_session(&self, token_hash: &str) -> Result<bool, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let n = self
                .db()
                .execute(
                    "DELETE FROM console_sessions WHERE token_hash = ?1",
                    [token_hash],
                )
                .map_err(db_err)?;
            Ok(n > 0)
        })
    }

    async fn revoke_api_key(&self, id: &str) -> Result<bool, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let n = self
                .db()
                .execute(
                    "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                    params![id, now_secs()],
                )
                .map_err(db_err)?;
            Ok(n > 0)
        })
    }

    async fn key_usage(&self) -> Result<Vec<(String, usize)>, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let db = self.db();
            let mut stmt = db
                .prepare(
                    "SELECT key_id, COUNT(*) FROM (
                         SELECT key_id FROM secrets UNION ALL SELECT key_id FROM tokens
                         UNION ALL SELECT key_id FROM pending_authorizations)
                     GROUP BY key_id ORDER BY key_id",
                )
                .map_err(db_err)?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as usize)))
                .map_err(db_err)?
                .collect::<Result<_, _>>()
                .map_err(db_err)
        })
    }

    async fn take_work_lease(
        &self,
        work: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let now = super::now_ms();
            // One statement: SQLite's write lock decides between processes.
            let n = self
                .db()
                .execute(
                    "INSERT INTO work_leases (work, holder, expires_at_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (work) DO UPDATE SET holder = ?2, expires_at_ms = ?3
                     WHERE work_leases.holder = ?2 OR work_leases.expires_at_ms <= ?4",
                    params![work, holder, now + ttl_ms, now],
                )
                .map_err(db_err)?;
            Ok(n == 1)
        })
    }

    async fn release_work_lease(&self, work: &str, holder: &str) -> Result<(), StoreError> {
        cardhost_runtime::executor::blocking(|| {
            self.db()
                .execute(
                    "DELETE FROM work_leases WHERE work = ?1 AND holder = ?2",
                    params![work, holder],
                )
                .map_err(db_err)?;
            Ok(())
        })
    }

    async fn create_subscription(
        &self,
        new: NewSubscription,
    ) -> Result<SubscriptionRecord, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let mut db = self.db();
            let tx = db
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            self.require(&tx, &new.connection_id)?;
            let id = new_subscription_id();
            let (kind, url) = new.target.columns();
            tx.execute(
                &numbered(sub_sql::INSERT),
                params![
                    id,
                    new.connection_id,
                    new.trigger,
                    new.mode.as_str(),
                    new.interval_seconds,
                    kind,
                    url,
                    new.first_poll_at_ms,
                    now_secs()
                ],
            )
            .map_err(db_err)?;
            let key = self.sealing_key();
            for (purpose, value) in &new.secrets {
                let sealed = key.seal(
                    &subscription_secret_context(&id, purpose),
                    value.expose().as_bytes(),
                );
                tx.execute(
                    &numbered(sub_sql::INSERT_SECRET),
                    params![id, purpose, key.id(), sealed],
                )
                .map_err(db_err)?;
            }
            let record = read_subscription(&tx, &id)?;
            tx.commit().map_err(db_err)?;
            Ok(record)
        })
    }

    async fn subscriptions(
        &self,
        connection_id: Option<&str>,
    ) -> Result<Vec<SubscriptionRecord>, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let db = self.db();
            let mut stmt = db
                .prepare(&format!(
                    "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions \
                     WHERE ?1 IS NULL OR connection_id = ?1 ORDER BY created_at, id"
                ))
                .map_err(db_err)?;
            let rows = stmt
                .query_map([connection_id], |r| Ok(subscription_row!(r?)))
                .map_err(db_err)?;
            rows.collect::<Result<_, _>>().map_err(db_err)
        })
    }

    async fn subscription(&self, id: &str) -> Result<SubscriptionRecord, StoreError> {
        cardhost_runtime::executor::blocking(|| read_subscription(&self.db(), id))
    }

    async fn delete_subscription(&self, id: &str) -> Result<bool, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let n = self
                .db()
                .execute("DELETE FROM subscriptions WHERE id = ?1", [id])
                .map_err(db_err)?;
            Ok(n > 0)
        })
    }

    async fn set_subscription_state(
        &self,
        id: &str,
        state: SubscriptionState,
        message: Option<&str>,
        next_poll_at_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let n = self
                .db()
                .execute(
                    &numbered(sub_sql::SET_STATE),
                    params![id, state.as_str(), message, next_poll_at_ms, now_secs()],
                )
                .map_err(db_err)?;
            subscription_changed(n, id)
        })
    }

    async fn set_registration(
        &self,
        id: &str,
        registration: Option<&str>,
    ) -> Result<(), StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let n = self
                .db()
                .execute(
                    &numbered(sub_sql::SET_REGISTRATION),
                    params![id, registration, now_secs()],
                )
                .map_err(db_err)?;
            subscription_changed(n, id)
        })
    }

    async fn due_subscriptions(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<SubscriptionRecord>, StoreError> {
        cardhost_runtime::executor::blocking(|| due_where(&self.db(), sub_sql::DUE, now_ms, limit))
    }

    async fn commit_poll(&self, id: &str, commit: &PollCommit) -> Result<Committed, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let mut db = self.db();
            let tx = db
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let now = super::now_ms();
            let advanced: Option<i64> = tx
                .query_row(
                    &numbered(sub_sql::ADVANCE_CURSOR),
                    params![
                        id,
                        commit.expected_version,
                        commit.cursor,
                        commit.next_poll_at_ms,
                        now,
                        now / 1000
                    ],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            let Some(last_seq) = advanced else {
                read_subscription(&tx, id)?;
                return Err(StoreError::Conflict(format!(
                    "subscription `{id}` was polled by another process since cursor version {}",
                    commit.expected_version
                )));
            };
            let committed = insert_events(&tx, id, last_seq, &commit.events, now)?;
            tx.commit().map_err(db_err)?;
            Ok(committed)
        })
    }

    async fn record_poll_failure(
        &self,
        id: &str,
        error: &str,
        next_poll_at_ms: i64,
    ) -> Result<(), StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let n = self
                .db()
                .execute(
                    &numbered(sub_sql::POLL_FAILED),
                    params![id, error, next_poll_at_ms, super::now_ms(), now_secs()],
                )
                .map_err(db_err)?;
            subscription_changed(n, id)
        })
    }

    async fn append_events(&self, id: &str, events: &[NewEvent]) -> Result<Committed, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let mut db = self.db();
            let tx = db
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let last_seq: i64 = tx
                .query_row(&numbered(sub_sql::LAST_SEQ), [id], |r| r.get(0))
                .optional()
                .map_err(db_err)?
                .ok_or_else(|| StoreError::NoSubscription(id.to_string()))?;
            let committed = insert_events(&tx, id, last_seq, events, super::now_ms())?;
            tx.commit().map_err(db_err)?;
            Ok(committed)
        })
    }

    async fn events(
        &self,
        id: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<EventRecord>, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let db = self.db();
            read_subscription(&db, id)?;
            let mut stmt = db
                .prepare_cached(
                    "SELECT seq, event_id, occurred_at, payload, received_at_ms FROM events \
                     WHERE subscription_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![id, after_seq, limit], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get::<_, String>(3)?,
                        r.get(4)?,
                    ))
                })
                .map_err(db_err)?;
            rows.map(|row| {
                let (seq, id, occurred_at, payload, received_at_ms) = row.map_err(db_err)?;
                event_record(seq, id, occurred_at, &payload, received_at_ms)
            })
            .collect()
        })
    }

    async fn prune_events(&self, before_ms: i64) -> Result<u64, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let n = self
                .db()
                .execute(&numbered(sub_sql::PRUNE_EVENTS), [before_ms])
                .map_err(db_err)?;
            Ok(n as u64)
        })
    }

    async fn subscription_secret(
        &self,
        id: &str,
        purpose: &str,
    ) -> Result<Option<Secret>, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let row: Option<(String, Vec<u8>)> = self
                .db()
                .query_row(&numbered(sub_sql::SECRET), params![id, purpose], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(db_err)?;
            let Some((key_id, sealed)) = row else {
                return Ok(None);
            };
            let what = format!("the {purpose} secret of subscription {id}");
            let plain = self.open_sealed(
                &what,
                &key_id,
                &subscription_secret_context(id, purpose),
                &sealed,
            )?;
            String::from_utf8(plain)
                .map(|s| Some(Secret::new(s)))
                .map_err(|_| StoreError::Backend(format!("{what} is not UTF-8")))
        })
    }

    async fn due_deliveries(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<SubscriptionRecord>, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            due_where(&self.db(), sub_sql::DUE_DELIVERIES, now_ms, limit)
        })
    }

    async fn record_delivery(
        &self,
        id: &str,
        seq: i64,
        outcome: &DeliveryOutcome,
    ) -> Result<(), StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let mut db = self.db();
            let tx = db
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            read_subscription(&tx, id)?;
            let now = super::now_ms();
            match outcome {
                DeliveryOutcome::Delivered => {
                    tx.execute(
                        &numbered(sub_sql::DELIVERED),
                        params![id, seq, now, now / 1000],
                    )
                    .map_err(db_err)?;
                }
                DeliveryOutcome::Retry { error, next_at_ms } => {
                    tx.execute(
                        &numbered(sub_sql::DELIVERY_FAILED),
                        params![id, error, next_at_ms, now, now / 1000],
                    )
                    .map_err(db_err)?;
                }
                DeliveryOutcome::Dead { error } => {
                    tx.execute(
                        &numbered(sub_sql::DEAD_LETTER),
                        params![id, seq, now, error],
                    )
                    .map_err(db_err)?;
                    tx.execute(
                        &numbered(sub_sql::DELIVERED),
                        params![id, seq, now, now / 1000],
                    )
                    .map_err(db_err)?;
                }
            }
            tx.commit().map_err(db_err)
        })
    }

    async fn dead_letters(&self, id: &str, limit: u32) -> Result<Vec<DeadLetter>, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let db = self.db();
            read_subscription(&db, id)?;
            let mut stmt = db
                .prepare_cached(&numbered(sub_sql::DEAD_LETTERS))
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![id, limit], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get::<_, String>(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                })
                .map_err(db_err)?;
            rows.map(|row| {
                let (seq, id, occurred_at, payload, received_at_ms, dead_at_ms, reason) =
                    row.map_err(db_err)?;
                Ok(DeadLetter {
                    event: event_record(seq, id, occurred_at, &payload, received_at_ms)?,
                    dead_at_ms,
                    reason,
                })
            })
            .collect()
        })
    }

    async fn redeliver(&self, id: &str, from_seq: Option<i64>) -> Result<i64, StoreError> {
        cardhost_runtime::executor::blocking(|| {
            let mut db = self.db();
            let tx = db
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            read_subscription(&tx, id)?;
            let from = match from_seq {
                Some(from) => from.max(1),
                None => {
                    let oldest: Option<i64> = tx
                        .query_row(&numbered(sub_sql::OLDEST_DEAD), [id], |r| r.get(0))
                        .map_err(db_err)?;
                    match oldest {
                        Some(seq) => seq,
                        None => return Ok(0),
                    }
                }
            };
            tx.execute(&numbered(sub_sql::REVIVE), params![id, from])
                .map_err(db_err)?;
            let (last, delivered): (i64, i64) = tx
                .query_row(
                    &numbered(sub_sql::REWIND),
                    params![id, from, now_secs()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(db_err)?;
            tx.commit().map_err(db_err)?;
            Ok((last - delivered).max(0))
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        cardhost_runtime::executor::blocking(|| {
            self.db()
                .query_row(cache::READ_REVISION, [], |r| r.get::<_, i64>(0))
                .map_err(db_err)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn new_conn(name: &str, secret: &str) -> NewConnection {
        NewConnection {
            name: name.into(),
            connector: "smarthr".into(),
            connector_version: "0.1.0".into(),
            auth_method: None,
            fields: json!({"tenant_id": "acme"}),
            granted: vec!["crews-read".into()],
            state: ConnectionState::Ready,
            state_message: None,
            secrets: BTreeMap::from([("access_token".to_string(), Secret::new(secret))]),
        }
    }

    #[tokio::test]
    async fn the_database_file_holds_no_plaintext_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let store = SqliteStore::open(&path, vec![MasterKey::generate()]).unwrap();
        let rec = store
            .create_connection(new_conn("hr", "plain-secret-value-123"))
            .await
            .unwrap();
        store
            .save_tokens(
                &rec.id,
                &TokenSet {
                    access_token: Some("access-token-abc".into()),
                    refresh_token: Some("refresh-token-xyz".into()),
                    ..TokenSet::default()
                },
            )
            .await
            .unwrap();
        drop(store);
        let mut raw = std::fs::read(&path).unwrap();
        if let Ok(wal) = std::fs::read(dir.path().join("c.db-wal")) {
            raw.extend(wal);
        }
        for needle in [
            "plain-secret-value-123",
            "access-token-abc",
            "refresh-token-xyz",
        ] {
            assert!(
                !raw.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} found in the database file"
            );
        }
        assert!(raw.windows(4).any(|w| w == b"acme"), "fields are stored");
    }

    fn row(i: usize) -> InvocationRecord {
        InvocationRecord {
            id: format!("inv{i}"),
            connection_id: None,
            connector: "smarthr".into(),
            card: "read-employee".into(),
            started_at_ms: i as i64,
            duration_ms: 1,
            outcome: "ok".into(),
            error: None,
            upstream_requests: 1,
            retries: 0,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_burst_of_history_is_all_there_after_the_store_closes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let key = MasterKey::generate();
        let store = std::sync::Arc::new(SqliteStore::open(&path, vec![key.clone()]).unwrap());
        let tasks: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0..250 {
                        store.record_invocation(&row(t * 1000 + i)).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        // Recording only queued the rows; closing the store commits them.
        drop(store);
        let conn = Connection::open(&path).unwrap();
        let count: i64 = conn
            .query_row("SELECT COUNT(*) FROM invocations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 2000);
        drop(conn);
        // And a reader sees what its own process recorded at once.
        let store = SqliteStore::open(&path, vec![key]).unwrap();
        store.record_invocation(&row(99_999)).await.unwrap();
        let newest = store
            .history(&HistoryFilter {
                limit: Some(1),
                ..HistoryFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(newest[0].id, "inv99999");
    }

    fn key(id: &str) -> ApiKeyRecord {
        ApiKeyRecord {
            id: id.into(),
            name: "ci".into(),
            role: Role::Invoker,
            hash: [7; 32],
            created_at: 1,
            revoked_at: None,
        }
    }

    /// Lookups are cached, and every change is seen: this process's at once,
    /// another process's (a second store on the same file) within the watch
    /// interval.
    #[tokio::test]
    async fn cached_lookups_see_every_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let master = MasterKey::generate();
        let server = SqliteStore::open(&path, vec![master.clone()]).unwrap();
        let cli = SqliteStore::open(&path, vec![master]).unwrap();
        server.create_api_key(&key("k1")).await.unwrap();
        let rec = server
            .create_connection(new_conn("hr", "tok-1"))
            .await
            .unwrap();
        assert!(
            server
                .api_key("k1")
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_none()
        );
        assert_eq!(
            server.connection("hr").await.unwrap().granted,
            ["crews-read"]
        );

        // This process: at once.
        server
            .set_grant(&rec.id, &["crews-write".into()])
            .await
            .unwrap();
        assert_eq!(
            server.connection("hr").await.unwrap().granted,
            ["crews-write"]
        );
        assert_eq!(
            server.connection(&rec.id).await.unwrap().granted,
            ["crews-write"]
        );
        assert!(server.revoke_api_key("k1").await.unwrap());
        assert!(
            server
                .api_key("k1")
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        );

        // Another process: within the interval, and never a stale read after.
        cli.create_api_key(&key("k2")).await.unwrap();
        assert!(
            server.api_key("k2").await.unwrap().is_some(),
            "a miss is never cached"
        );
        assert!(cli.revoke_api_key("k2").await.unwrap());
        cli.set_secret(&rec.id, "access_token", &Secret::new("tok-2"))
            .await
            .unwrap();
        let revision = cli.connection("hr").await.unwrap().revision;
        let deadline = std::time::Instant::now() + cache::WATCH_INTERVAL * 40;
        loop {
            let revoked = server
                .api_key("k2")
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some();
            let seen = server.connection("hr").await.unwrap().revision == revision;
            if revoked && seen {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "another process's changes were not seen (revoked: {revoked}, revision: {seen})"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // Writes that do not move the revision (history) leave the cache be;
        // the next change still reaches it.
        server.record_invocation(&row(1)).await.unwrap();
        cli.delete_connection(&rec.id).await.unwrap();
        let deadline = std::time::Instant::now() + cache::WATCH_INTERVAL * 40;
        while server.connection("hr").await.is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "a deletion was not seen"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[tokio::test]
    async fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        drop(SqliteStore::open(&path, vec![MasterKey::generate()]).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(conn);
        let err = SqliteStore::open(&path, vec![MasterKey::generate()]).unwrap_err();
        assert!(err.to_string().contains("upgrade cardhost"), "{err}");
    }
}
