//! The shared store: PostgreSQL, for many cardhost nodes on one database.
//!
//! Every node holds a pool of connections (deadpool-postgres over
//! tokio-postgres: async all the way, no call blocks an async worker) and
//! one more connection of its own that listens for changes. Each method is
//! one transaction, so it is atomic across nodes as it is on SQLite.
//!
//! Coordination goes through the database and nothing else:
//! - **Cached lookups** (API keys, connections) are stamped with an epoch
//!   that moves when this node writes, when the `cardhost_changes`
//!   notification arrives (the triggers of migration 5 send it), and when
//!   the revision counter is seen to have moved at the poll every
//!   [`POLL_INTERVAL`]. A notification is a hint only: a missed one costs a
//!   stale read for at most one poll, never a wrong one (a key revoked on
//!   one node stops working on all within the interval).
//! - **Token refresh** takes the connection's refresh lease as a session
//!   advisory lock: of N nodes racing, exactly one gets it and spends the
//!   refresh token; the others wait and read back what it saved. A node
//!   that dies loses its session and the lease with it, at once.
//! - **Keys**: values are sealed as with SQLite. A node that meets a value
//!   sealed with a key it does not hold re-reads its key files (the key a
//!   rotation on another node wrote there) before giving up.
//!
//! History rows are inserted with `synchronous_commit = off`: the insert
//! returns once the row is in the server's WAL buffer, which survives a crash
//! of any cardhost node; a crash of the database server itself may drop the
//! last fraction of a second, as `synchronous = NORMAL` does on SQLite.

use super::cache::{Epoch, ReadCache};
use super::schema::{MIGRATIONS, SCHEMA_VERSION};
use super::sqlite::{
    changed, new_connection_id, open_with, secret_context, token_context, verifier_context,
};
use super::subscriptions::{
    Committed, DeadLetter, DeliveryOutcome, EventRecord, NewEvent, NewSubscription, PollCommit,
    SUBSCRIPTION_COLUMNS, SubscriptionRecord, SubscriptionState, event_record, new_subscription_id,
    secret_context as subscription_secret_context, sql as sub_sql, subscription_row,
};
use super::{
    ApiKeyRecord, ConnectionRecord, ConnectionState, ConsoleSession, CredentialPin, FieldsChange,
    HistoryFilter, InvocationRecord, MasterKey, NewConnection, PendingAuthorization, Role,
    SecretInfo, Store, StoreError, now_ms, now_secs,
};
use cardhost_runtime::credentials::{Secret, TokenSet};
use deadpool_postgres::GenericClient;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::{AsyncMessage, NoTls, Row, Transaction};

/// How often a node reads the revision even without a notification.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Connections a node keeps to the database.
const POOL_SIZE: usize = 16;

/// The channel the triggers notify.
const CHANNEL: &str = "cardhost_changes";

/// The store on PostgreSQL.
pub struct PostgresStore {
    pool: Pool,
    target: String,
    epoch: Arc<Epoch>,
    keys_by_id: ReadCache<ApiKeyRecord>,
    connections: ReadCache<ConnectionRecord>,
    /// The id of the key the last rotation made current (`None` before one).
    current_key: ReadCache<Option<String>>,
    keys: Mutex<Vec<MasterKey>>,
    /// Key files to read again when a value was sealed with a key not held.
    key_files: Vec<PathBuf>,
    /// Refresh leases held, each on a session of its own (connection id,
    /// holder).
    leases: Mutex<HashMap<(String, String), deadpool_postgres::Object>>,
    watcher: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("database", &self.target)
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

/// Runs `$body` in one transaction of a pooled connection, `$tx` naming it,
/// and commits when it returns `Ok`; every commit of this node moves the
/// epoch at once. An `Err` (or a `?` inside) rolls back.
macro_rules! transaction {
    ($store:expr, |$tx:ident| $body:block) => {{
        let mut client = $store.client().await?;
        let owned = client.transaction().await.map_err(db_err)?;
        let $tx = &owned;
        let out: Result<_, StoreError> = async { $body }.await;
        match out {
            Ok(value) => {
                owned.commit().await.map_err(db_err)?;
                $store.epoch.advance();
                Ok(value)
            }
            Err(e) => Err(e),
        }
    }};
}

/// A pooled session that may hold an advisory lock: dropped before it is
/// known to hold none, it is closed (releasing the lock) instead of going
/// back to the pool.
struct LockSession(Option<deadpool_postgres::Object>);

impl LockSession {
    fn client(&self) -> &deadpool_postgres::Object {
        self.0
            .as_ref()
            .expect("the session is held until into_inner")
    }

    fn into_inner(mut self) -> deadpool_postgres::Object {
        self.0.take().expect("the session is held until into_inner")
    }
}

impl Drop for LockSession {
    fn drop(&mut self) {
        if let Some(object) = self.0.take() {
            drop(deadpool_postgres::Object::take(object));
        }
    }
}

fn db_err(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        if db.code() == &SqlState::UNIQUE_VIOLATION {
            return StoreError::Conflict(db.message().to_string());
        }
        return StoreError::Backend(format!("PostgreSQL: {}", db.message()));
    }
    // "error connecting to server" says little without its cause.
    let mut message = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    StoreError::Backend(format!("PostgreSQL: {message}"))
}

fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => db_err(e),
        e => StoreError::Backend(format!("PostgreSQL pool: {e}")),
    }
}

/// Where `config` points, without its password, for messages.
fn describe(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{}:{port}/{}",
        config.get_user().unwrap_or(""),
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    )
}

fn row_to_record(r: &Row) -> ConnectionRecord {
    let fields: String = r.get("fields");
    let granted: String = r.get("granted");
    let state: String = r.get("state");
    ConnectionRecord {
        id: r.get("id"),
        name: r.get("name"),
        connector: r.get("connector"),
        connector_version: r.get("connector_version"),
        auth_method: r.get("auth_method"),
        fields: serde_json::from_str(&fields).unwrap_or(Value::Null),
        granted: serde_json::from_str(&granted).unwrap_or_default(),
        state: ConnectionState::parse(&state),
        state_message: r.get("state_message"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
        revision: r.get("revision"),
    }
}

fn api_key_row(r: &Row) -> ApiKeyRecord {
    let role: String = r.get(2);
    let hash: Vec<u8> = r.get(3);
    ApiKeyRecord {
        id: r.get(0),
        name: r.get(1),
        role: Role::parse(&role).unwrap_or(Role::Reader),
        hash: hash.try_into().unwrap_or([0; 32]),
        created_at: r.get(4),
        revoked_at: r.get(5),
    }
}

const CONNECTION_COLUMNS: &str = "id, name, connector, connector_version, auth_method, fields, \
     granted, state, state_message, created_at, updated_at, revision";

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:pass@host/db`),
    /// applying migrations (under an advisory lock, so nodes starting
    /// together migrate once), and starts listening for changes. `keys[0]`
    /// seals new values; `key_files` are read again when a value sealed
    /// with another key turns up (a rotation made on another node).
    pub async fn connect(
        url: &str,
        keys: Vec<MasterKey>,
        key_files: Vec<PathBuf>,
    ) -> Result<Self, StoreError> {
        assert!(!keys.is_empty(), "a store needs a master key");
        let config: tokio_postgres::Config = url.parse().map_err(|e| {
            StoreError::Backend(format!(
                "the database URL is not a PostgreSQL connection string: {e}"
            ))
        })?;
        let target = describe(&config);
        if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            return Err(StoreError::Backend(format!(
                "{target}: sslmode=require, but cardhost does not speak TLS to PostgreSQL yet; \
                 reach the database over a private network (sslmode=disable or prefer)"
            )));
        }
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Backend(format!("PostgreSQL pool: {e}")))?;
        {
            let mut client = pool.get().await.map_err(|e| {
                let reason = match pool_err(e) {
                    StoreError::Backend(m) => m,
                    other => other.to_string(),
                };
                StoreError::Backend(format!("cannot connect to {target}: {reason}"))
            })?;
            migrate(&mut client)
                .await
                .map_err(|e| StoreError::Backend(format!("{target}: {e}")))?;
        }
        let epoch = Arc::new(Epoch::default());
        let watcher = tokio::spawn(watch(config, Arc::downgrade(&epoch)));
        Ok(Self {
            pool,
            target,
            keys_by_id: ReadCache::new(epoch.clone()),
            connections: ReadCache::new(epoch.clone()),
            current_key: ReadCache::new(epoch.clone()),
            epoch,
            keys: Mutex::new(keys),
            key_files,
            leases: Mutex::new(HashMap::new()),
            watcher,
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pool_err)
    }

    /// The key to seal new values with: the one the last rotation (on any
    /// node) made current, read again from the key files when this node
    /// does not hold it yet; the first configured key while no rotation has
    /// happened. Refuses rather than seal with a key the rotation retired.
    async fn sealing_key(&self) -> Result<MasterKey, StoreError> {
        let current = self
            .current_key
            .get_or_read_async("current", async || {
                let client = self.client().await?;
                let row = client
                    .query_opt("SELECT id FROM sealing_key LIMIT 1", &[])
                    .await
                    .map_err(db_err)?;
                Ok::<_, StoreError>(Some(row.map(|r| r.get::<_, String>(0))))
            })
            .await?
            .flatten();
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let Some(id) = current else {
            return Ok(keys[0].clone());
        };
        if !keys.iter().any(|k| k.id() == id) {
            self.reread_key_files(&mut keys);
        }
        keys.iter()
            .find(|k| k.id() == id)
            .cloned()
            .ok_or_else(|| StoreError::Crypto {
                what: "a new value".into(),
                reason: format!(
                    "the store's values were rotated to key {id}, which this node does not hold: \
                     give it the new key (CARDHOST_NEW_MASTER_KEY, or master.key.next in its data \
                     directory) and restart it"
                ),
            })
    }

    /// Adds the keys of the key files this node does not hold yet.
    fn reread_key_files(&self, keys: &mut Vec<MasterKey>) {
        for file in &self.key_files {
            if let Ok(key) = MasterKey::read_file(file)
                && !keys.iter().any(|k| k.id() == key.id())
            {
                tracing::info!(key = key.id(), "read a new master key from its file");
                keys.push(key);
            }
        }
    }

    /// Opens a sealed value; when its key is not held, reads the key files
    /// again first (another node may have rotated).
    /// Subscriptions matching `clause` (a `WHERE … LIMIT` taking the time
    /// and a limit) at `now_ms`, at most `limit`.
    async fn due_where(
        &self,
        clause: &str,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<SubscriptionRecord>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions {clause}"
            ))
            .await
            .map_err(db_err)?;
        let rows = client
            .query(&statement, &[&now_ms, &i64::from(limit)])
            .await
            .map_err(db_err)?;
        Ok(rows.iter().map(|r| subscription_row!(r)).collect())
    }

    fn open_sealed(
        &self,
        what: &str,
        key_id: &str,
        context: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if !keys.iter().any(|k| k.id() == key_id) {
            self.reread_key_files(&mut keys);
        }
        open_with(&keys, what, key_id, context, sealed)
    }

    async fn require(tx: &Transaction<'_>, id: &str) -> Result<(), StoreError> {
        let found = tx
            .query_opt("SELECT 1 FROM connections WHERE id = $1", &[&id])
            .await
            .map_err(db_err)?;
        found
            .map(|_| ())
            .ok_or_else(|| StoreError::NotFound(id.to_string()))
    }

    async fn pending(
        &self,
        state: &str,
        max_age_secs: i64,
        consume: bool,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        let row = transaction!(self, |tx| {
            tx.execute(
                "DELETE FROM pending_authorizations WHERE created_at < $1",
                &[&(now_secs() - max_age_secs)],
            )
            .await
            .map_err(db_err)?;
            let sql = if consume {
                "DELETE FROM pending_authorizations WHERE state = $1
                     RETURNING connection_id, key_id, sealed_verifier, redirect_uri, created_at"
            } else {
                "SELECT connection_id, key_id, sealed_verifier, redirect_uri, created_at
                     FROM pending_authorizations WHERE state = $1"
            };
            tx.query_opt(sql, &[&state]).await.map_err(db_err)
        })?;
        let Some(row) = row else {
            return Ok(None);
        };
        let connection_id: String = row.get(0);
        let key_id: String = row.get(1);
        let sealed: Vec<u8> = row.get(2);
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
            redirect_uri: row.get(3),
            created_at: row.get(4),
        }))
    }
}

async fn migrate(client: &mut tokio_postgres::Client) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(db_err)?;
    // One node migrates at a time; the others find the work done.
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(7236251174010);
         CREATE TABLE IF NOT EXISTS cardhost_schema (version BIGINT NOT NULL);",
    )
    .await
    .map_err(db_err)?;
    let version: i64 = match tx
        .query_opt("SELECT version FROM cardhost_schema", &[])
        .await
        .map_err(db_err)?
    {
        Some(row) => row.get(0),
        None => {
            tx.execute("INSERT INTO cardhost_schema VALUES (0)", &[])
                .await
                .map_err(db_err)?;
            0
        }
    };
    if version > SCHEMA_VERSION {
        return Err(StoreError::Backend(format!(
            "the database schema is version {version}, newer than this cardhost knows \
             ({SCHEMA_VERSION}); upgrade cardhost"
        )));
    }
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch_execute(migration.postgres)
            .await
            .map_err(|e| StoreError::Backend(format!("migration {}: {}", i + 1, db_err(e))))?;
        tx.execute(
            "UPDATE cardhost_schema SET version = $1",
            &[&(i as i64 + 1)],
        )
        .await
        .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)
}

/// Moves `epoch` whenever another node changes what lookups read: on the
/// `cardhost_changes` notification, and whenever the revision is seen to
/// have moved (or cannot be read) at the poll. Reconnects when its
/// connection drops; ends when the store is dropped.
async fn watch(config: tokio_postgres::Config, epoch: Weak<Epoch>) {
    loop {
        if epoch.strong_count() == 0 {
            return;
        }
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let (hints, mut hinted) = tokio::sync::mpsc::unbounded_channel();
                let messages = tokio::spawn(async move {
                    while let Some(message) =
                        std::future::poll_fn(|cx| connection.poll_message(cx)).await
                    {
                        match message {
                            Ok(AsyncMessage::Notification(_)) => {
                                if hints.send(()).is_err() {
                                    return;
                                }
                            }
                            Ok(_) => {}
                            Err(_) => return,
                        }
                    }
                });
                if client
                    .batch_execute(&format!("LISTEN {CHANNEL}"))
                    .await
                    .is_ok()
                {
                    let read = async |client: &tokio_postgres::Client| -> Option<i64> {
                        client
                            .query_one("SELECT n FROM revision", &[])
                            .await
                            .ok()
                            .map(|r| r.get(0))
                    };
                    let mut seen = read(&client).await;
                    // Whatever changed before the listening began and the
                    // revision was read (while reconnecting, say) is seen now.
                    let Some(alive) = epoch.upgrade() else { return };
                    alive.advance();
                    drop(alive);
                    loop {
                        tokio::select! {
                            hint = hinted.recv() => {
                                if hint.is_none() { break; }
                                let Some(epoch) = epoch.upgrade() else { return };
                                epoch.advance();
                            }
                            _ = tokio::time::sleep(POLL_INTERVAL) => {
                                let Some(epoch) = epoch.upgrade() else { return };
                                let now = read(&client).await;
                                if now != seen || now.is_none() {
                                    seen = now;
                                    epoch.advance();
                                }
                                if client.is_closed() { break; }
                            }
                        }
                    }
                }
                messages.abort();
            }
            Err(e) => {
                tracing::warn!("cannot listen for store changes (retrying): {e}");
            }
        }
        // Not listening: nothing cached may be trusted until it is again.
        if let Some(alive) = epoch.upgrade() {
            alive.advance();
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The secrets a change gives, sealed, and its tokens forgotten if told.
async fn apply_secrets_and_tokens(
    tx: &Transaction<'_>,
    key: &MasterKey,
    id: &str,
    change: &FieldsChange<'_>,
    now: i64,
) -> Result<(), StoreError> {
    for (name, value) in change.secrets {
        let sealed = key.seal(&secret_context(id, name), value.expose().as_bytes());
        upsert_sealed_secret(tx, id, name, key.id(), &sealed, now).await?;
    }
    if change.clear_tokens {
        tx.execute("DELETE FROM tokens WHERE connection_id = $1", &[&id])
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

async fn upsert_sealed_secret(
    tx: &Transaction<'_>,
    id: &str,
    name: &str,
    key_id: &str,
    sealed: &[u8],
    now: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO secrets (connection_id, name, key_id, sealed, set_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (connection_id, name) DO UPDATE SET key_id = $3, sealed = $4, set_at = $5",
        &[&id, &name, &key_id, &sealed, &now],
    )
    .await
    .map_err(db_err)?;
    Ok(())
}

/// One subscription, read on `client` (a pooled session or a
/// transaction).
async fn read_subscription(
    client: &impl GenericClient,
    id: &str,
) -> Result<SubscriptionRecord, StoreError> {
    let row = client
        .query_opt(
            &format!("SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = $1"),
            &[&id],
        )
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::NoSubscription(id.to_string()))?;
    let r = &row;
    Ok(subscription_row!(r))
}

fn subscription_changed(n: u64, id: &str) -> Result<(), StoreError> {
    if n == 0 {
        return Err(StoreError::NoSubscription(id.to_string()));
    }
    Ok(())
}

/// Stores `events` after `last_seq`, each id the subscription does not
/// hold yet, and records the new last `seq`.
async fn insert_events(
    tx: &Transaction<'_>,
    id: &str,
    last_seq: i64,
    events: &[NewEvent],
    now_ms: i64,
) -> Result<Committed, StoreError> {
    let statement = tx.prepare(sub_sql::INSERT_EVENT).await.map_err(db_err)?;
    let mut next = last_seq;
    for e in events {
        let n = tx
            .execute(
                &statement,
                &[
                    &id,
                    &(next + 1),
                    &e.id,
                    &e.occurred_at,
                    &e.payload.to_string(),
                    &now_ms,
                ],
            )
            .await
            .map_err(db_err)?;
        next += n as i64;
    }
    if next != last_seq {
        tx.execute(sub_sql::SET_LAST_SEQ, &[&id, &next])
            .await
            .map_err(db_err)?;
    }
    Ok(Committed {
        stored: (next - last_seq) as usize,
        last_seq: next,
    })
}

fn count(n: u64, id: &str) -> Result<(), StoreError> {
    changed(n as usize, id)
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn create_connection(&self, new: NewConnection) -> Result<ConnectionRecord, StoreError> {
        let key = self.sealing_key().await?;
        let name = new.name.clone();
        let created = transaction!(self, |tx| {
            if let Some(row) = tx
                .query_opt("SELECT id FROM connections WHERE name = $1", &[&new.name])
                .await
                .map_err(db_err)?
            {
                let existing: String = row.get(0);
                return Err(StoreError::Conflict(format!(
                    "a connection named `{}` already exists ({existing})",
                    new.name
                )));
            }
            let now = now_secs();
            let record = ConnectionRecord {
                id: new_connection_id(),
                name: new.name.clone(),
                connector: new.connector.clone(),
                connector_version: new.connector_version.clone(),
                auth_method: new.auth_method.clone(),
                fields: new.fields.clone(),
                granted: new.granted.clone(),
                state: new.state,
                state_message: new.state_message.clone(),
                created_at: now,
                updated_at: now,
                revision: 0,
            };
            tx.execute(
                &format!(
                    "INSERT INTO connections ({CONNECTION_COLUMNS}) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0)"
                ),
                &[
                    &record.id,
                    &record.name,
                    &record.connector,
                    &record.connector_version,
                    &record.auth_method,
                    &record.fields.to_string(),
                    &serde_json::to_string(&record.granted).expect("strings serialize"),
                    &record.state.as_str(),
                    &record.state_message,
                    &now,
                    &now,
                ],
            )
            .await
            .map_err(db_err)?;
            for (name, value) in &new.secrets {
                let sealed = key.seal(&secret_context(&record.id, name), value.expose().as_bytes());
                upsert_sealed_secret(tx, &record.id, name, key.id(), &sealed, now).await?;
            }
            Ok(record)
        });
        match created {
            // Two nodes creating the same name at once: the second hits the
            // unique index.
            Err(StoreError::Conflict(m)) if !m.starts_with("a connection named") => Err(
                StoreError::Conflict(format!("a connection named `{name}` already exists")),
            ),
            other => other,
        }
    }

    async fn list_connections(&self) -> Result<Vec<ConnectionRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {CONNECTION_COLUMNS} FROM connections ORDER BY name"),
                &[],
            )
            .await
            .map_err(db_err)?;
        Ok(rows.iter().map(row_to_record).collect())
    }

    async fn connection(&self, id_or_name: &str) -> Result<ConnectionRecord, StoreError> {
        self.connections
            .get_or_read_async(id_or_name, async || {
                let client = self.client().await?;
                let statement = client
                    .prepare_cached(&format!(
                        "SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = $1 OR name = $1 \
                         ORDER BY id = $1 DESC LIMIT 1"
                    ))
                    .await
                    .map_err(db_err)?;
                let row = client
                    .query_opt(&statement, &[&id_or_name])
                    .await
                    .map_err(db_err)?;
                Ok::<_, StoreError>(row.as_ref().map(row_to_record))
            })
            .await?
            .ok_or_else(|| StoreError::NotFound(id_or_name.to_string()))
    }

    async fn update_fields(
        &self,
        id: &str,
        fields: &Value,
        version: &str,
    ) -> Result<(), StoreError> {
        transaction!(self, |tx| {
            let n = tx
                .execute(
                    "UPDATE connections SET fields = $2, connector_version = $3, updated_at = $4, \
                     revision = revision + 1 WHERE id = $1",
                    &[&id, &fields.to_string(), &version, &now_secs()],
                )
                .await
                .map_err(db_err)?;
            count(n, id)
        })
    }

    async fn replace_fields(&self, id: &str, change: &FieldsChange<'_>) -> Result<(), StoreError> {
        let key = self.sealing_key().await?;
        transaction!(self, |tx| {
            Self::require(tx, id).await?;
            let now = now_secs();
            tx.execute(
                "UPDATE connections SET fields = $2, connector_version = $3, updated_at = $4, \
                 revision = revision + 1 WHERE id = $1",
                &[&id, &change.fields.to_string(), &change.version, &now],
            )
            .await
            .map_err(db_err)?;
            apply_secrets_and_tokens(tx, &key, id, change, now).await?;
            if let Some((state, message)) = change.state {
                tx.execute(
                    "UPDATE connections SET state = $2, state_message = $3 WHERE id = $1",
                    &[&id, &state.as_str(), &message],
                )
                .await
                .map_err(db_err)?;
            }
            Ok(())
        })
    }

    async fn set_grant(&self, id: &str, granted: &[String]) -> Result<(), StoreError> {
        let granted = serde_json::to_string(granted).expect("strings serialize");
        transaction!(self, |tx| {
            let n = tx
                .execute(
                    "UPDATE connections SET granted = $2, updated_at = $3, revision = revision + 1 \
                     WHERE id = $1",
                    &[&id, &granted, &now_secs()],
                )
                .await
                .map_err(db_err)?;
            count(n, id)
        })
    }

    async fn set_state(
        &self,
        id: &str,
        state: ConnectionState,
        message: Option<&str>,
    ) -> Result<(), StoreError> {
        transaction!(self, |tx| {
            let n = tx
                .execute(
                    "UPDATE connections SET state = $2, state_message = $3, updated_at = $4, \
                     revision = revision + 1 WHERE id = $1",
                    &[&id, &state.as_str(), &message, &now_secs()],
                )
                .await
                .map_err(db_err)?;
            count(n, id)
        })
    }

    async fn delete_connection(&self, id: &str) -> Result<bool, StoreError> {
        transaction!(self, |tx| {
            let n = tx
                .execute("DELETE FROM connections WHERE id = $1", &[&id])
                .await
                .map_err(db_err)?;
            Ok(n > 0)
        })
    }

    async fn set_secret(&self, id: &str, name: &str, value: &Secret) -> Result<(), StoreError> {
        let key = self.sealing_key().await?;
        let sealed = key.seal(&secret_context(id, name), value.expose().as_bytes());
        transaction!(self, |tx| {
            Self::require(tx, id).await?;
            let now = now_secs();
            upsert_sealed_secret(tx, id, name, key.id(), &sealed, now).await?;
            tx.execute(
                "UPDATE connections SET updated_at = $2, revision = revision + 1 WHERE id = $1",
                &[&id, &now],
            )
            .await
            .map_err(db_err)?;
            Ok(())
        })
    }

    async fn secrets(&self, id: &str) -> Result<BTreeMap<String, Secret>, StoreError> {
        let rows = {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_err)?;
            Self::require(&tx, id).await?;
            let rows = tx
                .query(
                    "SELECT name, key_id, sealed FROM secrets WHERE connection_id = $1",
                    &[&id],
                )
                .await
                .map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
            rows
        };
        rows.iter()
            .map(|r| {
                let name: String = r.get(0);
                let key_id: String = r.get(1);
                let sealed: Vec<u8> = r.get(2);
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
    }

    async fn secret_info(&self, id: &str) -> Result<Vec<SecretInfo>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_err)?;
        Self::require(&tx, id).await?;
        let rows = tx
            .query(
                "SELECT name, set_at FROM secrets WHERE connection_id = $1 ORDER BY name",
                &[&id],
            )
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(rows
            .iter()
            .map(|r| SecretInfo {
                name: r.get(0),
                set_at: r.get(1),
            })
            .collect())
    }

    async fn save_tokens(&self, id: &str, tokens: &TokenSet) -> Result<(), StoreError> {
        let key = self.sealing_key().await?;
        let json = serde_json::to_vec(tokens).expect("tokens serialize");
        let sealed = key.seal(&token_context(id), &json);
        transaction!(self, |tx| {
            let n = tx
                .execute(
                    "INSERT INTO tokens (connection_id, key_id, sealed, updated_at)
                     SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM connections WHERE id = $1)
                     ON CONFLICT (connection_id) DO UPDATE SET key_id = $2, sealed = $3, updated_at = $4",
                    &[&id, &key.id(), &sealed, &now_secs()],
                )
                .await
                .map_err(db_err)?;
            count(n, id)
        })
    }

    async fn tokens(&self, id: &str) -> Result<TokenSet, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT key_id, sealed FROM tokens WHERE connection_id = $1",
                &[&id],
            )
            .await
            .map_err(db_err)?;
        let Some(row) = row else {
            return Ok(TokenSet::default());
        };
        let key_id: String = row.get(0);
        let sealed: Vec<u8> = row.get(1);
        let what = format!("the tokens of connection {id}");
        let plain = self.open_sealed(&what, &key_id, &token_context(id), &sealed)?;
        serde_json::from_slice(&plain).map_err(|e| StoreError::Crypto {
            what,
            reason: e.to_string(),
        })
    }

    async fn clear_tokens(&self, id: &str) -> Result<(), StoreError> {
        transaction!(self, |tx| {
            tx.execute("DELETE FROM tokens WHERE connection_id = $1", &[&id])
                .await
                .map_err(db_err)?;
            Ok(())
        })
    }

    async fn take_refresh_lease(
        &self,
        id: &str,
        holder: &str,
        _ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        // The lease is a session advisory lock on a connection set aside
        // until it is given back: of N nodes racing, the database lets one
        // have it, and a node that dies (even by SIGKILL) loses its
        // connection and with it the lease at once, so the others need not
        // wait out an expiry. (A hung refresh ends at the token request's
        // timeout, which releases it; so the TTL is not needed here.)
        let slot = (id.to_string(), holder.to_string());
        if self
            .leases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&slot)
        {
            return Ok(true);
        }
        // Should this call be cancelled while the database grants the lock,
        // the session is closed rather than pooled with the lock held.
        let session = LockSession(Some(self.client().await?));
        let client = session.client();
        if client
            .query_opt("SELECT 1 FROM connections WHERE id = $1", &[&id])
            .await
            .map_err(db_err)?
            .is_none()
        {
            return Err(StoreError::NotFound(id.to_string()));
        }
        let taken: bool = client
            .query_one(
                "SELECT pg_try_advisory_lock(hashtextextended('cardhost-refresh:' || $1, 0))",
                &[&id],
            )
            .await
            .map_err(db_err)?
            .get(0);
        if taken {
            // A second session of the same holder cannot have got the lock
            // too (advisory locks are per session), so this is the only one.
            self.leases
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(slot, session.into_inner());
        } else {
            // Holds no lock: back to the pool.
            drop(session.into_inner());
        }
        Ok(taken)
    }

    async fn release_refresh_lease(&self, id: &str, holder: &str) -> Result<(), StoreError> {
        let held = self
            .leases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(id.to_string(), holder.to_string()));
        let Some(client) = held else {
            return Ok(());
        };
        // A session that may still hold the lock (the unlock failed, or this
        // call was cancelled) is closed, which releases it, never pooled.
        let session = LockSession(Some(client));
        session
            .client()
            .query_one(
                "SELECT pg_advisory_unlock(hashtextextended('cardhost-refresh:' || $1, 0))",
                &[&id],
            )
            .await
            .map_err(db_err)?;
        drop(session.into_inner());
        Ok(())
    }

    async fn credential_pin(&self, id: &str) -> Result<Option<CredentialPin>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT digest, parts FROM credential_pins WHERE connection_id = $1",
                &[&id],
            )
            .await
            .map_err(db_err)?;
        Ok(row.map(|r| {
            let parts: String = r.get(1);
            CredentialPin {
                digest: r.get(0),
                parts: serde_json::from_str(&parts).unwrap_or(Value::Null),
            }
        }))
    }

    async fn set_credential_pin(
        &self,
        id: &str,
        pin: &CredentialPin,
        approve: Option<&FieldsChange<'_>>,
    ) -> Result<(), StoreError> {
        let key = self.sealing_key().await?;
        transaction!(self, |tx| {
            Self::require(tx, id).await?;
            let now = now_secs();
            tx.execute(
                "INSERT INTO credential_pins (connection_id, digest, parts, pinned_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (connection_id) DO UPDATE SET digest = $2, parts = $3, pinned_at = $4",
                &[&id, &pin.digest, &pin.parts.to_string(), &now],
            )
            .await
            .map_err(db_err)?;
            if let Some(change) = approve {
                apply_secrets_and_tokens(tx, &key, id, change, now).await?;
                let (state, message) = change.state.unwrap_or((ConnectionState::Ready, ""));
                let message = (!message.is_empty()).then_some(message);
                tx.execute(
                    "UPDATE connections SET state = $2, state_message = $3, connector_version = $4, \
                     updated_at = $5, revision = revision + 1 WHERE id = $1",
                    &[&id, &state.as_str(), &message, &change.version, &now],
                )
                .await
                .map_err(db_err)?;
            }
            Ok(())
        })
    }

    async fn put_pending_authorization(&self, p: &PendingAuthorization) -> Result<(), StoreError> {
        let key = self.sealing_key().await?;
        let sealed = key.seal(
            &verifier_context(&p.state, &p.connection_id),
            p.verifier.expose().as_bytes(),
        );
        transaction!(self, |tx| {
            Self::require(tx, &p.connection_id).await?;
            tx.execute(
                "INSERT INTO pending_authorizations (state, connection_id, key_id, sealed_verifier, redirect_uri, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&p.state, &p.connection_id, &key.id(), &sealed, &p.redirect_uri, &p.created_at],
            )
            .await
            .map_err(db_err)?;
            Ok(())
        })
    }

    async fn take_pending_authorization(
        &self,
        state: &str,
        max_age_secs: i64,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        self.pending(state, max_age_secs, true).await
    }

    async fn pending_authorization(
        &self,
        state: &str,
        max_age_secs: i64,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        self.pending(state, max_age_secs, false).await
    }

    async fn record_invocation(&self, r: &InvocationRecord) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_err)?;
        tx.batch_execute("SET LOCAL synchronous_commit = off")
            .await
            .map_err(db_err)?;
        tx.execute(
            "INSERT INTO invocations (id, connection_id, connector, card, started_at_ms, duration_ms,
                 outcome, error, upstream_requests, retries)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING",
            &[
                &r.id,
                &r.connection_id,
                &r.connector,
                &r.card,
                &r.started_at_ms,
                &(r.duration_ms as i64),
                &r.outcome,
                &r.error,
                &i64::from(r.upstream_requests),
                &i64::from(r.retries),
            ],
        )
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn history(&self, f: &HistoryFilter) -> Result<Vec<InvocationRecord>, StoreError> {
        let client = self.client().await?;
        let limit = i64::from(f.limit.unwrap_or(50));
        let rows = client
            .query(
                "SELECT id, connection_id, connector, card, started_at_ms, duration_ms, outcome, error,
                        upstream_requests, retries
                 FROM invocations
                 WHERE ($1::text IS NULL OR connection_id = $1) AND ($2::text IS NULL OR connector = $2)
                   AND ($3::text IS NULL OR card = $3) AND ($4::text IS NULL OR outcome = $4)
                   AND ($5::bigint IS NULL OR started_at_ms >= $5)
                 ORDER BY started_at_ms DESC, id DESC LIMIT $6",
                &[&f.connection_id, &f.connector, &f.card, &f.outcome, &f.since_ms, &limit],
            )
            .await
            .map_err(db_err)?;
        Ok(rows
            .iter()
            .map(|r| InvocationRecord {
                id: r.get(0),
                connection_id: r.get(1),
                connector: r.get(2),
                card: r.get(3),
                started_at_ms: r.get(4),
                duration_ms: r.get::<_, i64>(5) as u64,
                outcome: r.get(6),
                error: r.get(7),
                upstream_requests: r.get::<_, i64>(8) as u32,
                retries: r.get::<_, i64>(9) as u32,
            })
            .collect())
    }

    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        transaction!(self, |tx| {
            tx.execute(
                "INSERT INTO api_keys (id, name, role, hash, created_at) VALUES ($1, $2, $3, $4, $5)",
                &[&key.id, &key.name, &key.role.as_str(), &key.hash.as_slice(), &key.created_at],
            )
            .await
            .map_err(db_err)?;
            Ok(())
        })
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, name, role, hash, created_at, revoked_at FROM api_keys ORDER BY created_at, id",
                &[],
            )
            .await
            .map_err(db_err)?;
        Ok(rows.iter().map(api_key_row).collect())
    }

    async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.keys_by_id
            .get_or_read_async(id, async || {
                let client = self.client().await?;
                let statement = client
                    .prepare_cached(
                        "SELECT id, name, role, hash, created_at, revoked_at FROM api_keys WHERE id = $1",
                    )
                    .await
                    .map_err(db_err)?;
                let row = client.query_opt(&statement, &[&id]).await.map_err(db_err)?;
                Ok::<_, StoreError>(row.as_ref().map(api_key_row))
            })
            .await
    }

    async fn create_console_session(&self, session: &ConsoleSession) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM console_sessions WHERE expires_at_ms <= $1",
                &[&now_ms()],
            )
            .await
            .map_err(db_err)?;
        client
            .execute(
                "INSERT INTO console_sessions (token_hash, key_id, csrf, created_at_ms, expires_at_ms) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &session.token_hash,
                    &session.key_id,
                    &session.csrf,
                    &session.created_at_ms,
                    &session.expires_at_ms,
                ],
            )
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn console_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT token_hash, key_id, csrf, created_at_ms, expires_at_ms \
                 FROM console_sessions WHERE token_hash = $1",
                &[&token_hash],
            )
            .await
            .map_err(db_err)?;
        Ok(row.map(|r| ConsoleSession {
            token_hash: r.get(0),
            key_id: r.get(1),
            csrf: r.get(2),
            created_at_ms: r.get(3),
            expires_at_ms: r.get(4),
        }))
    }

    async fn delete_console_session(&self, token_hash: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "DELETE FROM console_sessions WHERE token_hash = $1",
                &[&token_hash],
            )
            .await
            .map_err(db_err)?;
        Ok(n > 0)
    }

    async fn revoke_api_key(&self, id: &str) -> Result<bool, StoreError> {
        transaction!(self, |tx| {
            let n = tx
                .execute(
                    "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                    &[&id, &now_secs()],
                )
                .await
                .map_err(db_err)?;
            Ok(n > 0)
        })
    }

    async fn rotate_key(&self, new_key: &MasterKey) -> Result<usize, StoreError> {
        let n = transaction!(self, |tx| {
            // No other node seals or rotates while the rows are rewritten.
            tx.batch_execute(
                "LOCK TABLE secrets, tokens, pending_authorizations, subscription_secrets IN EXCLUSIVE MODE",
            )
            .await
            .map_err(db_err)?;
            let mut count = 0;
            for r in tx
                .query(
                    "SELECT connection_id, name, key_id, sealed FROM secrets",
                    &[],
                )
                .await
                .map_err(db_err)?
            {
                let (id, name, key_id, sealed): (String, String, String, Vec<u8>) =
                    (r.get(0), r.get(1), r.get(2), r.get(3));
                let ctx = secret_context(&id, &name);
                let plain =
                    self.open_sealed(&format!("secret `{name}` of {id}"), &key_id, &ctx, &sealed)?;
                tx.execute(
                        "UPDATE secrets SET key_id = $3, sealed = $4 WHERE connection_id = $1 AND name = $2",
                        &[&id, &name, &new_key.id(), &new_key.seal(&ctx, &plain)],
                    )
                    .await
                    .map_err(db_err)?;
                count += 1;
            }
            for r in tx
                .query("SELECT connection_id, key_id, sealed FROM tokens", &[])
                .await
                .map_err(db_err)?
            {
                let (id, key_id, sealed): (String, String, Vec<u8>) =
                    (r.get(0), r.get(1), r.get(2));
                let ctx = token_context(&id);
                let plain =
                    self.open_sealed(&format!("the tokens of {id}"), &key_id, &ctx, &sealed)?;
                tx.execute(
                    "UPDATE tokens SET key_id = $2, sealed = $3 WHERE connection_id = $1",
                    &[&id, &new_key.id(), &new_key.seal(&ctx, &plain)],
                )
                .await
                .map_err(db_err)?;
                count += 1;
            }
            for r in tx
                    .query(
                        "SELECT state, connection_id, key_id, sealed_verifier FROM pending_authorizations",
                        &[],
                    )
                    .await
                    .map_err(db_err)?
                {
                    let (state, id, key_id, sealed): (String, String, String, Vec<u8>) =
                        (r.get(0), r.get(1), r.get(2), r.get(3));
                    let ctx = verifier_context(&state, &id);
                    let plain = self.open_sealed("a PKCE verifier", &key_id, &ctx, &sealed)?;
                    tx.execute(
                        "UPDATE pending_authorizations SET key_id = $2, sealed_verifier = $3 WHERE state = $1",
                        &[&state, &new_key.id(), &new_key.seal(&ctx, &plain)],
                    )
                    .await
                    .map_err(db_err)?;
                    count += 1;
                }
            for r in tx
                .query(
                    "SELECT subscription_id, purpose, key_id, sealed FROM subscription_secrets",
                    &[],
                )
                .await
                .map_err(db_err)?
            {
                let (id, purpose, key_id, sealed): (String, String, String, Vec<u8>) =
                    (r.get(0), r.get(1), r.get(2), r.get(3));
                let ctx = subscription_secret_context(&id, &purpose);
                let what = format!("the {purpose} secret of subscription {id}");
                let plain = self.open_sealed(&what, &key_id, &ctx, &sealed)?;
                tx.execute(
                    "UPDATE subscription_secrets SET key_id = $3, sealed = $4 \
                     WHERE subscription_id = $1 AND purpose = $2",
                    &[&id, &purpose, &new_key.id(), &new_key.seal(&ctx, &plain)],
                )
                .await
                .map_err(db_err)?;
                count += 1;
            }
            tx.execute("DELETE FROM sealing_key", &[])
                .await
                .map_err(db_err)?;
            tx.execute("INSERT INTO sealing_key (id) VALUES ($1)", &[&new_key.id()])
                .await
                .map_err(db_err)?;
            Ok(count)
        })?;
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.retain(|k| k.id() != new_key.id());
        keys.insert(0, new_key.clone());
        Ok(n)
    }

    async fn key_usage(&self) -> Result<Vec<(String, usize)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT key_id, COUNT(*) FROM (
                     SELECT key_id FROM secrets UNION ALL SELECT key_id FROM tokens
                     UNION ALL SELECT key_id FROM pending_authorizations) AS sealed
                 GROUP BY key_id ORDER BY key_id",
                &[],
            )
            .await
            .map_err(db_err)?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as usize))
            .collect())
    }

    async fn take_work_lease(
        &self,
        work: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        transaction!(self, |tx| {
            let now = now_ms();
            tx.execute(
                "INSERT INTO work_leases (work, holder, expires_at_ms) VALUES ($1, '', 0)
                 ON CONFLICT (work) DO NOTHING",
                &[&work],
            )
            .await
            .map_err(db_err)?;
            // A node deciding about this work right now holds the row: the
            // others skip it rather than queue behind it.
            let Some(row) = tx
                .query_opt(
                    "SELECT holder, expires_at_ms FROM work_leases WHERE work = $1
                     FOR UPDATE SKIP LOCKED",
                    &[&work],
                )
                .await
                .map_err(db_err)?
            else {
                return Ok(false);
            };
            let (current, expires): (String, i64) = (row.get(0), row.get(1));
            if current != holder && expires > now {
                return Ok(false);
            }
            tx.execute(
                "UPDATE work_leases SET holder = $2, expires_at_ms = $3 WHERE work = $1",
                &[&work, &holder, &(now + ttl_ms)],
            )
            .await
            .map_err(db_err)?;
            Ok(true)
        })
    }

    async fn release_work_lease(&self, work: &str, holder: &str) -> Result<(), StoreError> {
        transaction!(self, |tx| {
            tx.execute(
                "DELETE FROM work_leases WHERE work = $1 AND holder = $2",
                &[&work, &holder],
            )
            .await
            .map_err(db_err)?;
            Ok(())
        })
    }

    async fn create_subscription(
        &self,
        new: NewSubscription,
    ) -> Result<SubscriptionRecord, StoreError> {
        let key = self.sealing_key().await?;
        transaction!(self, |tx| {
            Self::require(tx, &new.connection_id).await?;
            let id = new_subscription_id();
            let (kind, url) = new.target.columns();
            tx.execute(
                sub_sql::INSERT,
                &[
                    &id,
                    &new.connection_id,
                    &new.trigger,
                    &new.mode.as_str(),
                    &i64::from(new.interval_seconds),
                    &kind,
                    &url,
                    &new.first_poll_at_ms,
                    &now_secs(),
                ],
            )
            .await
            .map_err(db_err)?;
            for (purpose, value) in &new.secrets {
                let sealed = key.seal(
                    &subscription_secret_context(&id, purpose),
                    value.expose().as_bytes(),
                );
                tx.execute(sub_sql::INSERT_SECRET, &[&id, purpose, &key.id(), &sealed])
                    .await
                    .map_err(db_err)?;
            }
            read_subscription(tx, &id).await
        })
    }

    async fn subscriptions(
        &self,
        connection_id: Option<&str>,
    ) -> Result<Vec<SubscriptionRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions \
                     WHERE $1::TEXT IS NULL OR connection_id = $1 ORDER BY created_at, id"
                ),
                &[&connection_id],
            )
            .await
            .map_err(db_err)?;
        Ok(rows.iter().map(|r| subscription_row!(r)).collect())
    }

    async fn subscription(&self, id: &str) -> Result<SubscriptionRecord, StoreError> {
        let client = self.client().await?;
        read_subscription(&client, id).await
    }

    async fn delete_subscription(&self, id: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute("DELETE FROM subscriptions WHERE id = $1", &[&id])
            .await
            .map_err(db_err)?;
        Ok(n > 0)
    }

    async fn set_subscription_state(
        &self,
        id: &str,
        state: SubscriptionState,
        message: Option<&str>,
        next_poll_at_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                sub_sql::SET_STATE,
                &[
                    &id,
                    &state.as_str(),
                    &message,
                    &next_poll_at_ms,
                    &now_secs(),
                ],
            )
            .await
            .map_err(db_err)?;
        subscription_changed(n, id)
    }

    async fn set_registration(
        &self,
        id: &str,
        registration: Option<&str>,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                sub_sql::SET_REGISTRATION,
                &[&id, &registration, &now_secs()],
            )
            .await
            .map_err(db_err)?;
        subscription_changed(n, id)
    }

    async fn due_subscriptions(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<SubscriptionRecord>, StoreError> {
        self.due_where(sub_sql::DUE, now_ms, limit).await
    }

    async fn commit_poll(&self, id: &str, commit: &PollCommit) -> Result<Committed, StoreError> {
        transaction!(self, |tx| {
            let now = now_ms();
            let advanced = tx
                .query_opt(
                    sub_sql::ADVANCE_CURSOR,
                    &[
                        &id,
                        &commit.expected_version,
                        &commit.cursor,
                        &commit.next_poll_at_ms,
                        &now,
                        &(now / 1000),
                    ],
                )
                .await
                .map_err(db_err)?;
            let Some(row) = advanced else {
                read_subscription(tx, id).await?;
                return Err(StoreError::Conflict(format!(
                    "subscription `{id}` was polled by another process since cursor version {}",
                    commit.expected_version
                )));
            };
            insert_events(tx, id, row.get(0), &commit.events, now).await
        })
    }

    async fn record_poll_failure(
        &self,
        id: &str,
        error: &str,
        next_poll_at_ms: i64,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                sub_sql::POLL_FAILED,
                &[&id, &error, &next_poll_at_ms, &now_ms(), &now_secs()],
            )
            .await
            .map_err(db_err)?;
        subscription_changed(n, id)
    }

    async fn append_events(&self, id: &str, events: &[NewEvent]) -> Result<Committed, StoreError> {
        transaction!(self, |tx| {
            let row = tx
                .query_opt(&format!("{} FOR UPDATE", sub_sql::LAST_SEQ), &[&id])
                .await
                .map_err(db_err)?
                .ok_or_else(|| StoreError::NoSubscription(id.to_string()))?;
            insert_events(tx, id, row.get(0), events, now_ms()).await
        })
    }

    async fn events(
        &self,
        id: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let client = self.client().await?;
        read_subscription(&client, id).await?;
        let rows = client
            .query(
                "SELECT seq, event_id, occurred_at, payload, received_at_ms FROM events \
                 WHERE subscription_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[&id, &after_seq, &i64::from(limit)],
            )
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                event_record(
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    &r.get::<_, String>(3),
                    r.get(4),
                )
            })
            .collect()
    }

    async fn prune_events(&self, before_ms: i64) -> Result<u64, StoreError> {
        let client = self.client().await?;
        client
            .execute(sub_sql::PRUNE_EVENTS, &[&before_ms])
            .await
            .map_err(db_err)
    }

    async fn subscription_secret(
        &self,
        id: &str,
        purpose: &str,
    ) -> Result<Option<Secret>, StoreError> {
        let client = self.client().await?;
        let Some(row) = client
            .query_opt(sub_sql::SECRET, &[&id, &purpose])
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        let (key_id, sealed): (String, Vec<u8>) = (row.get(0), row.get(1));
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
    }

    async fn due_deliveries(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<SubscriptionRecord>, StoreError> {
        self.due_where(sub_sql::DUE_DELIVERIES, now_ms, limit).await
    }

    async fn record_delivery(
        &self,
        id: &str,
        seq: i64,
        outcome: &DeliveryOutcome,
    ) -> Result<(), StoreError> {
        transaction!(self, |tx| {
            read_subscription(tx, id).await?;
            let now = now_ms();
            match outcome {
                DeliveryOutcome::Delivered => {
                    tx.execute(sub_sql::DELIVERED, &[&id, &seq, &now, &(now / 1000)])
                        .await
                        .map_err(db_err)?;
                }
                DeliveryOutcome::Retry { error, next_at_ms } => {
                    tx.execute(
                        sub_sql::DELIVERY_FAILED,
                        &[&id, error, next_at_ms, &now, &(now / 1000)],
                    )
                    .await
                    .map_err(db_err)?;
                }
                DeliveryOutcome::Dead { error } => {
                    tx.execute(sub_sql::DEAD_LETTER, &[&id, &seq, &now, error])
                        .await
                        .map_err(db_err)?;
                    tx.execute(sub_sql::DELIVERED, &[&id, &seq, &now, &(now / 1000)])
                        .await
                        .map_err(db_err)?;
                }
            }
            Ok(())
        })
    }

    async fn dead_letters(&self, id: &str, limit: u32) -> Result<Vec<DeadLetter>, StoreError> {
        let client = self.client().await?;
        read_subscription(&client, id).await?;
        let rows = client
            .query(sub_sql::DEAD_LETTERS, &[&id, &i64::from(limit)])
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(DeadLetter {
                    event: event_record(
                        r.get(0),
                        r.get(1),
                        r.get(2),
                        &r.get::<_, String>(3),
                        r.get(4),
                    )?,
                    dead_at_ms: r.get(5),
                    reason: r.get(6),
                })
            })
            .collect()
    }

    async fn redeliver(&self, id: &str, from_seq: Option<i64>) -> Result<i64, StoreError> {
        transaction!(self, |tx| {
            tx.query_opt(&format!("{} FOR UPDATE", sub_sql::LAST_SEQ), &[&id])
                .await
                .map_err(db_err)?
                .ok_or_else(|| StoreError::NoSubscription(id.to_string()))?;
            let from = match from_seq {
                Some(from) => from.max(1),
                None => {
                    let oldest: Option<i64> = tx
                        .query_one(sub_sql::OLDEST_DEAD, &[&id])
                        .await
                        .map_err(db_err)?
                        .get(0);
                    match oldest {
                        Some(seq) => seq,
                        None => return Ok(0),
                    }
                }
            };
            tx.execute(sub_sql::REVIVE, &[&id, &from])
                .await
                .map_err(db_err)?;
            let row = tx
                .query_one(sub_sql::REWIND, &[&id, &from, &now_secs()])
                .await
                .map_err(db_err)?;
            let (last, delivered): (i64, i64) = (row.get(0), row.get(1));
            Ok((last - delivered).max(0))
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .query_one("SELECT n FROM revision", &[])
            .await
            .map_err(db_err)?;
        Ok(())
    }
}
