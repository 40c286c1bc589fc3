//! # cardhost-store
//!
//! Durable state: connections, their secrets and OAuth tokens, pending
//! authorizations and invocation history.
//!
//! [`Store`] is the interface, async throughout; [`SqliteStore`] the
//! embedded default (one SQLite file, WAL, versioned migrations) and
//! [`PostgresStore`] the store many nodes share ([`open_shared`]). Both are
//! migrated from one list of schema versions. Secrets and tokens are sealed
//! with the [`MasterKey`] before they reach the database and are never
//! returned by listing calls.

#![deny(missing_docs)]

mod cache;
mod crypto;
mod history;
mod postgres;
mod schema;
mod sqlite;
pub mod subscriptions;
#[doc(hidden)]
pub mod testing;

pub use cache::WATCH_INTERVAL;
pub use crypto::{KeySource, MASTER_KEY_ENV, MasterKey, ReadError, write_key_file};
pub use history::BATCH_WINDOW;
pub use postgres::PostgresStore;
pub use schema::SCHEMA_VERSION;
pub use sqlite::SqliteStore;
pub use subscriptions::{
    Committed, DeadLetter, DeliveryOutcome, EventRecord, HOOK_SECRET, Mode, NEVER_MS, NewEvent,
    NewSubscription, PollCommit, SIGNING_SECRET, SubscriptionRecord, SubscriptionState, Target,
};

pub use cardhost_runtime::credentials::CredentialPin;
use cardhost_runtime::credentials::{Secret, TokenSet};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// A change of fields and what goes with it ([`Store::replace_fields`]).
#[derive(Debug)]
pub struct FieldsChange<'a> {
    /// The new fields.
    pub fields: &'a Value,
    /// Connector version they were validated against.
    pub version: &'a str,
    /// Secrets set in the same transaction.
    pub secrets: &'a BTreeMap<String, Secret>,
    /// Whether stored tokens are forgotten.
    pub clear_tokens: bool,
    /// New state and message, if it changes.
    pub state: Option<(ConnectionState, &'a str)>,
}

/// Whether a connection can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectionState {
    /// Usable.
    Ready,
    /// The provider refused its grant (e.g. `invalid_grant`), or it was never
    /// authorized: someone must run the authorization again.
    NeedsReauthorization,
    /// The connector was reloaded or upgraded and changed where this
    /// connection's credentials go: an admin must approve the change.
    NeedsApproval,
    /// Something else is wrong; see the state message.
    Error,
}

impl ConnectionState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Ready => "ready",
            ConnectionState::NeedsReauthorization => "needs-reauthorization",
            ConnectionState::NeedsApproval => "needs-approval",
            ConnectionState::Error => "error",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "ready" => ConnectionState::Ready,
            "needs-reauthorization" => ConnectionState::NeedsReauthorization,
            "needs-approval" => ConnectionState::NeedsApproval,
            _ => ConnectionState::Error,
        }
    }
}

impl std::fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored connection, without its secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionRecord {
    /// Stable id (`conn_…`).
    pub id: String,
    /// Unique, human-chosen name.
    pub name: String,
    /// Connector id.
    pub connector: String,
    /// Connector version when the connection was created or last updated.
    pub connector_version: String,
    /// Auth method id, if the connector has more than one.
    pub auth_method: Option<String>,
    /// Non-secret connection fields.
    pub fields: Value,
    /// Granted permission ids.
    pub granted: Vec<String>,
    /// Whether it can be used.
    pub state: ConnectionState,
    /// Why it is not ready, if it is not.
    pub state_message: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// Incremented by every change to the connection or its secrets, so a
    /// process can tell that its cached copy is stale.
    pub revision: i64,
}

/// What a new connection is made of (validated by the caller).
#[derive(Debug, Clone)]
pub struct NewConnection {
    /// Unique name.
    pub name: String,
    /// Connector id.
    pub connector: String,
    /// Connector version.
    pub connector_version: String,
    /// Auth method id.
    pub auth_method: Option<String>,
    /// Non-secret fields.
    pub fields: Value,
    /// Granted permission ids.
    pub granted: Vec<String>,
    /// Initial state.
    pub state: ConnectionState,
    /// Why, if not ready.
    pub state_message: Option<String>,
    /// Secrets, sealed in the same transaction as the connection.
    pub secrets: BTreeMap<String, Secret>,
}

/// That a secret is set, and when; never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretInfo {
    /// Secret name.
    pub name: String,
    /// Unix seconds.
    pub set_at: i64,
}

/// An authorization-code flow waiting for its callback.
#[derive(Debug, Clone)]
pub struct PendingAuthorization {
    /// The `state` parameter sent to the provider.
    pub state: String,
    /// Connection being authorized.
    pub connection_id: String,
    /// PKCE code verifier.
    pub verifier: Secret,
    /// Redirect URI used in the authorization request.
    pub redirect_uri: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// One recorded invocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvocationRecord {
    /// Invocation id.
    pub id: String,
    /// Connection id, if any.
    pub connection_id: Option<String>,
    /// Connector id.
    pub connector: String,
    /// Card id (`_authping` for a connection test).
    pub card: String,
    /// Unix milliseconds.
    pub started_at_ms: i64,
    /// Wall time.
    pub duration_ms: u64,
    /// `ok` or the error class (e.g. `invalid-input`, `upstream-auth`).
    pub outcome: String,
    /// Redacted error message, if it failed.
    pub error: Option<String>,
    /// Upstream requests sent, retries included.
    pub upstream_requests: u32,
    /// Retries among them.
    pub retries: u32,
}

/// Which invocations to list.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    /// Only this connection id.
    pub connection_id: Option<String>,
    /// Only this connector.
    pub connector: Option<String>,
    /// Only this card.
    pub card: Option<String>,
    /// Only this outcome (`ok` or an error class).
    pub outcome: Option<String>,
    /// Only invocations started at or after (Unix ms).
    pub since_ms: Option<i64>,
    /// At most this many, newest first (default 50).
    pub limit: Option<u32>,
}

/// What an API key of the server may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Read the catalog, connections (never secrets) and history.
    Reader,
    /// What a reader may, and invoke cards and test connections.
    Invoker,
    /// Everything: connections, secrets, grants, reloads.
    Admin,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Invoker => "invoker",
            Role::Admin => "admin",
        }
    }

    /// Parses a stored or typed name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reader" => Some(Role::Reader),
            "invoker" => Some(Role::Invoker),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A server API key as stored: its SHA-256, never the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyRecord {
    /// Public id (the key's prefix).
    pub id: String,
    /// Who or what it is for.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// SHA-256 of the secret part.
    #[serde(skip)]
    pub hash: [u8; 32],
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds, once revoked.
    pub revoked_at: Option<i64>,
}

/// A signed-in console session, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// SHA-256 (hex) of the session token the browser's cookie holds.
    pub token_hash: String,
    /// The API key the session acts as.
    pub key_id: String,
    /// The token every change must bring in a header (CSRF).
    pub csrf: String,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms; the session ends then.
    pub expires_at_ms: i64,
}

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such connection.
    #[error("no connection `{0}`")]
    NotFound(String),
    /// A uniqueness rule was broken.
    #[error("{0}")]
    Conflict(String),
    /// A sealed value could not be opened.
    #[error("cannot decrypt {what}: {reason}")]
    Crypto {
        /// Which value.
        what: String,
        /// Why.
        reason: String,
    },
    /// No such subscription.
    #[error("no subscription `{0}`")]
    NoSubscription(String),
    /// The database failed.
    #[error("store: {0}")]
    Backend(String),
}

/// Durable state of a cardhost deployment.
///
/// Implementations must be safe under concurrent use (the server calls them
/// from many tasks) and must make each method atomic.
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    /// Creates a connection and its secrets atomically.
    async fn create_connection(&self, new: NewConnection) -> Result<ConnectionRecord, StoreError>;
    /// All connections, by name.
    async fn list_connections(&self) -> Result<Vec<ConnectionRecord>, StoreError>;
    /// One connection by id or name.
    async fn connection(&self, id_or_name: &str) -> Result<ConnectionRecord, StoreError>;
    /// Replaces a connection's fields (and the connector version they were
    /// validated against).
    async fn update_fields(
        &self,
        id: &str,
        fields: &Value,
        version: &str,
    ) -> Result<(), StoreError>;
    /// Replaces a connection's fields together with the secrets given with
    /// them, forgetting its tokens and setting its state when told, in one
    /// transaction: no moment exists at which an old secret or token sits
    /// beside fields that send it somewhere new.
    async fn replace_fields(&self, id: &str, change: &FieldsChange<'_>) -> Result<(), StoreError>;
    /// Replaces a connection's grant.
    async fn set_grant(&self, id: &str, granted: &[String]) -> Result<(), StoreError>;
    /// Sets a connection's state.
    async fn set_state(
        &self,
        id: &str,
        state: ConnectionState,
        message: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Deletes a connection with its secrets, tokens and pending
    /// authorizations (history is kept). Returns whether it existed.
    async fn delete_connection(&self, id: &str) -> Result<bool, StoreError>;

    /// Sets (or replaces) one secret.
    async fn set_secret(&self, id: &str, name: &str, value: &Secret) -> Result<(), StoreError>;
    /// A connection's secrets, decrypted, for building its credentials.
    async fn secrets(&self, id: &str) -> Result<BTreeMap<String, Secret>, StoreError>;
    /// Which secrets are set, and when.
    async fn secret_info(&self, id: &str) -> Result<Vec<SecretInfo>, StoreError>;

    /// Saves a connection's OAuth tokens durably (before they are used).
    async fn save_tokens(&self, id: &str, tokens: &TokenSet) -> Result<(), StoreError>;
    /// A connection's OAuth tokens (empty if none).
    async fn tokens(&self, id: &str) -> Result<TokenSet, StoreError>;
    /// Forgets a connection's OAuth tokens.
    async fn clear_tokens(&self, id: &str) -> Result<(), StoreError>;
    /// Takes the connection's refresh lease for `holder` for `ttl_ms`
    /// milliseconds, unless another holder's lease is still running (then
    /// `false`). Processes sharing the store take it before spending a
    /// refresh token, so no two spend the same one. On PostgreSQL the lease
    /// lasts as long as the holder's database session instead, so a node
    /// that dies gives it up at once.
    async fn take_refresh_lease(
        &self,
        id: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Gives the lease back (only `holder`'s).
    async fn release_refresh_lease(&self, id: &str, holder: &str) -> Result<(), StoreError>;
    /// The credential-relevant parts of the manifest the connection was
    /// approved with: their digest and the parts themselves (for a diff).
    async fn credential_pin(&self, id: &str) -> Result<Option<CredentialPin>, StoreError>;
    /// Pins the connection to these parts. With `approve`, a connection
    /// that needed approval becomes ready again (secrets given with the
    /// approval are set, tokens forgotten when told), in one transaction.
    async fn set_credential_pin(
        &self,
        id: &str,
        pin: &CredentialPin,
        approve: Option<&FieldsChange<'_>>,
    ) -> Result<(), StoreError>;

    /// Records an authorization flow waiting for its callback.
    async fn put_pending_authorization(
        &self,
        pending: &PendingAuthorization,
    ) -> Result<(), StoreError>;
    /// Takes (and removes) the pending authorization with this `state`, if
    /// it exists and is younger than `max_age_secs`. A `state` is usable once.
    async fn take_pending_authorization(
        &self,
        state: &str,
        max_age_secs: i64,
    ) -> Result<Option<PendingAuthorization>, StoreError>;
    /// The same, without using it up.
    async fn pending_authorization(
        &self,
        state: &str,
        max_age_secs: i64,
    ) -> Result<Option<PendingAuthorization>, StoreError>;

    /// Records an invocation.
    async fn record_invocation(&self, record: &InvocationRecord) -> Result<(), StoreError>;
    /// Invocations matching `filter`, newest first.
    async fn history(&self, filter: &HistoryFilter) -> Result<Vec<InvocationRecord>, StoreError>;

    /// Stores a new API key.
    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    /// All API keys, revoked ones included.
    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// One API key by id.
    async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// Stores a console session (and drops the sessions past their
    /// expiry).
    async fn create_console_session(&self, session: &ConsoleSession) -> Result<(), StoreError>;
    /// The console session of a token hash, if it exists (expired or not).
    async fn console_session(&self, token_hash: &str)
    -> Result<Option<ConsoleSession>, StoreError>;
    /// Ends a console session; returns whether it existed.
    async fn delete_console_session(&self, token_hash: &str) -> Result<bool, StoreError>;
    /// Revokes an API key; returns whether it was active.
    async fn revoke_api_key(&self, id: &str) -> Result<bool, StoreError>;

    /// Re-encrypts every sealed value under `new_key` in one transaction and
    /// makes it the key new values are sealed with. Returns how many values
    /// were re-encrypted.
    async fn rotate_key(&self, new_key: &MasterKey) -> Result<usize, StoreError>;
    /// Ids of the keys that sealed the stored values, with counts.
    async fn key_usage(&self) -> Result<Vec<(String, usize)>, StoreError>;
    /// Takes the lease on a piece of work that must run on exactly one
    /// node (a trigger's poll, say) for `holder`, for `ttl_ms` milliseconds:
    /// `true` when `holder` has it now. Its holder renews it by taking it
    /// again before it expires; once it has expired (its node died) another
    /// holder takes it over.
    async fn take_work_lease(
        &self,
        work: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Gives a work lease back (only `holder`'s).
    async fn release_work_lease(&self, work: &str, holder: &str) -> Result<(), StoreError>;
    /// Whether the store answers a read now (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates a subscription (its connection must exist), active, with no
    /// cursor yet.
    async fn create_subscription(
        &self,
        new: NewSubscription,
    ) -> Result<SubscriptionRecord, StoreError>;
    /// Subscriptions, oldest first; only `connection_id`'s when given.
    async fn subscriptions(
        &self,
        connection_id: Option<&str>,
    ) -> Result<Vec<SubscriptionRecord>, StoreError>;
    /// One subscription.
    async fn subscription(&self, id: &str) -> Result<SubscriptionRecord, StoreError>;
    /// Deletes a subscription and its events; returns whether it existed.
    async fn delete_subscription(&self, id: &str) -> Result<bool, StoreError>;
    /// Sets a subscription's state; `next_poll_at_ms`, when given, moves
    /// its next poll (a resumed subscription polls at once).
    async fn set_subscription_state(
        &self,
        id: &str,
        state: SubscriptionState,
        message: Option<&str>,
        next_poll_at_ms: Option<i64>,
    ) -> Result<(), StoreError>;
    /// Active polling subscriptions whose next poll is due at `now_ms`,
    /// soonest first, at most `limit`.
    async fn due_subscriptions(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<SubscriptionRecord>, StoreError>;
    /// Stores a poll's events and its new cursor in one transaction
    /// ([`PollCommit`]); events whose id the subscription already holds
    /// are dropped. Clears the failure count.
    async fn commit_poll(&self, id: &str, commit: &PollCommit) -> Result<Committed, StoreError>;
    /// Records a failed poll: the error, the failures in a row and when to
    /// try again. The cursor does not move.
    async fn record_poll_failure(
        &self,
        id: &str,
        error: &str,
        next_poll_at_ms: i64,
    ) -> Result<(), StoreError>;
    /// Sets what the host keeps of a subscription's webhook registration
    /// (none to clear it).
    async fn set_registration(
        &self,
        id: &str,
        registration: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Stores events that arrived without a poll (a webhook delivery),
    /// dropping ids the subscription already holds.
    async fn append_events(&self, id: &str, events: &[NewEvent]) -> Result<Committed, StoreError>;
    /// Events of a subscription after `after_seq`, oldest first, at most
    /// `limit`.
    async fn events(
        &self,
        id: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<EventRecord>, StoreError>;
    /// Deletes events stored before `before_ms` (the deduplication window
    /// ends with them); returns how many.
    async fn prune_events(&self, before_ms: i64) -> Result<u64, StoreError>;
    /// A subscription's secret for `purpose`, opened; none when it has
    /// none.
    async fn subscription_secret(
        &self,
        id: &str,
        purpose: &str,
    ) -> Result<Option<Secret>, StoreError>;
    /// Active webhook-target subscriptions with an undelivered event whose
    /// next attempt is due at `now_ms`, at most `limit`.
    async fn due_deliveries(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<SubscriptionRecord>, StoreError>;
    /// Records how delivering event `seq` ended: delivered (the target's
    /// position moves to it), to be retried, or dead (kept as a dead letter
    /// and passed).
    async fn record_delivery(
        &self,
        id: &str,
        seq: i64,
        outcome: &DeliveryOutcome,
    ) -> Result<(), StoreError>;
    /// A subscription's dead letters, oldest first, at most `limit`.
    async fn dead_letters(&self, id: &str, limit: u32) -> Result<Vec<DeadLetter>, StoreError>;
    /// Delivers again from `from_seq` (the oldest dead letter when none):
    /// the target's position moves back before it and the dead marks from
    /// it on are cleared, so delivery stays in order. Returns how many
    /// events now wait for delivery.
    async fn redeliver(&self, id: &str, from_seq: Option<i64>) -> Result<i64, StoreError>;
}

/// File names in a data directory.
pub const DATABASE_FILE: &str = "cardhost.db";
/// The master key file, when the key is not in the environment.
pub const KEY_FILE: &str = "master.key";
/// A key being rotated in; see [`rotate_key_in`].
pub const NEXT_KEY_FILE: &str = "master.key.next";
/// Environment variable holding the new key for a rotation when keys come
/// from the environment.
pub const NEW_MASTER_KEY_ENV: &str = "CARDHOST_NEW_MASTER_KEY";

/// The data directory's lock file.
pub const LOCK_FILE: &str = "cardhost.lock";

/// Refuses to make a new master key for a store that already holds sealed
/// values: they would never open again. The key file was lost or moved.
fn refuse_a_lost_key(dir: &std::path::Path, key_file: &std::path::Path) -> Result<(), String> {
    let db = dir.join(DATABASE_FILE);
    if key_file.exists() || std::env::var_os(MASTER_KEY_ENV).is_some() || !db.exists() {
        return Ok(());
    }
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| format!("cannot open {}: {e}", db.display()))?;
    let mut sealed = 0i64;
    for table in ["secrets", "tokens", "pending_authorizations"] {
        // A table that does not exist yet holds nothing.
        sealed += conn
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap_or(0);
    }
    if sealed > 0 {
        return Err(format!(
            "{} holds {sealed} sealed values but {} is missing: restore the key file from a backup \
             (or set ${MASTER_KEY_ENV}); cardhost will not make a new key, which would open none of them",
            db.display(),
            key_file.display()
        ));
    }
    Ok(())
}

/// Opens the embedded store in `dir` (created if needed) with its master
/// key, finishing a key rotation that was interrupted.
pub async fn open_in(dir: &std::path::Path) -> Result<(SqliteStore, KeySource), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    // Every process using the directory holds its lock shared; a key
    // rotation takes it exclusively, so it never runs under a process that
    // would go on sealing with the old key.
    let lock_path = dir.join(LOCK_FILE);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    lock.lock_shared()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    let key_file = dir.join(KEY_FILE);
    let next_file = dir.join(NEXT_KEY_FILE);
    refuse_a_lost_key(dir, &key_file)?;
    let (key, source) = MasterKey::load_or_create(&key_file)?;
    let next = match (&source, MasterKey::read_file(&next_file)) {
        (KeySource::File(_), Ok(next)) => Some(next),
        _ => None,
    };
    let mut keys = vec![key];
    keys.extend(next.clone());
    let store = SqliteStore::open(&dir.join(DATABASE_FILE), keys).map_err(|e| e.to_string())?;
    store.hold_dir_lock(lock);
    if let Some(next) = next {
        let usage = store.key_usage().await.map_err(|e| e.to_string())?;
        if usage.iter().any(|(id, _)| id == next.id()) {
            // The rotation committed but the key file was not replaced yet.
            store.rotate_key(&next).await.map_err(|e| e.to_string())?;
            std::fs::rename(&next_file, &key_file)
                .map_err(|e| format!("cannot finish the key rotation: {e}"))?;
        } else {
            let _ = std::fs::remove_file(&next_file);
        }
    }
    Ok((store, source))
}

/// Opens the shared store at `database_url` (PostgreSQL) for a node whose
/// own directory is `dir`. Every node must hold the same master key, so
/// none is ever made here: it comes from `CARDHOST_MASTER_KEY` or the key
/// file in `dir`. A key being rotated in (`CARDHOST_NEW_MASTER_KEY`, or
/// `master.key.next` in `dir`) opens values too, and the key files are read
/// again when a value sealed with a key this node does not hold turns up.
pub async fn open_shared(
    database_url: &str,
    dir: &std::path::Path,
) -> Result<(PostgresStore, KeySource), String> {
    let key_file = dir.join(KEY_FILE);
    let next_file = dir.join(NEXT_KEY_FILE);
    let Some((key, source)) = MasterKey::load(&key_file)? else {
        return Err(format!(
            "with a shared database every node needs the same master key, and cardhost \
             will not make one: set ${MASTER_KEY_ENV} (e.g. `openssl rand -base64 32`) \
             or put the key file at {}",
            key_file.display()
        ));
    };
    let mut keys = vec![key];
    if let Ok(value) = std::env::var(NEW_MASTER_KEY_ENV) {
        keys.push(MasterKey::parse(&value).map_err(|e| format!("${NEW_MASTER_KEY_ENV}: {e}"))?);
    }
    if let Ok(next) = MasterKey::read_file(&next_file) {
        keys.push(next);
    }
    let store = PostgresStore::connect(database_url, keys, vec![key_file, next_file])
        .await
        .map_err(|e| e.to_string())?;
    Ok((store, source))
}

/// Rotates the master key of the store in `dir`: with a key file, a new
/// key is generated, written beside the old one, every sealed value is
/// re-encrypted in one transaction, and the new file replaces the old. A
/// crash at any point leaves a store that opens (see [`open_in`]). With the
/// key in the environment, the new key is read from
/// `CARDHOST_NEW_MASTER_KEY` and the operator swaps the variables after.
/// Returns the number of values re-encrypted and the new key's id.
pub async fn rotate_key_in(
    store: &SqliteStore,
    source: &KeySource,
    dir: &std::path::Path,
) -> Result<(usize, String), String> {
    if !store.lock_dir_exclusively()? {
        return Err(format!(
            "another cardhost process is using {} (a running `cardhost serve`, or a CLI command): \
             stop it, then rotate; rotating under it would leave what it writes next sealed with \
             a key that no longer exists",
            dir.display()
        ));
    }
    rotate_sealing_key(store, source, dir).await
}

/// The rotation itself, on either backend (see [`rotate_key_in`]; on
/// PostgreSQL the rotation's transaction locks the sealed tables against
/// the other nodes instead of a directory lock).
pub async fn rotate_sealing_key(
    store: &dyn Store,
    source: &KeySource,
    dir: &std::path::Path,
) -> Result<(usize, String), String> {
    match source {
        KeySource::Env => {
            let value = std::env::var(NEW_MASTER_KEY_ENV).map_err(|_| {
                format!(
                    "the master key comes from ${MASTER_KEY_ENV}: put the new key in ${NEW_MASTER_KEY_ENV} \
                     (e.g. `openssl rand -base64 32`), rotate, then set ${MASTER_KEY_ENV} to it"
                )
            })?;
            let new =
                MasterKey::parse(&value).map_err(|e| format!("${NEW_MASTER_KEY_ENV}: {e}"))?;
            let n = store.rotate_key(&new).await.map_err(|e| e.to_string())?;
            Ok((n, new.id().to_string()))
        }
        KeySource::File(key_file) => {
            let next_file = dir.join(NEXT_KEY_FILE);
            let new = MasterKey::generate();
            write_key_file(&next_file, &new, true)
                .map_err(|e| format!("cannot write {}: {e}", next_file.display()))?;
            let n = store.rotate_key(&new).await.map_err(|e| e.to_string())?;
            std::fs::rename(&next_file, key_file)
                .map_err(|e| format!("cannot replace {}: {e}", key_file.display()))?;
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok((n, new.id().to_string()))
        }
    }
}

/// Now, in Unix seconds.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Formats Unix seconds as an RFC 3339 UTC timestamp.
pub fn rfc3339(secs: i64) -> String {
    cardhost_rules::time::rfc3339_utc(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn one_connection(store: &SqliteStore) -> String {
        store
            .create_connection(NewConnection {
                name: "c".into(),
                connector: "x".into(),
                connector_version: "1".into(),
                auth_method: None,
                fields: serde_json::json!({}),
                granted: vec![],
                state: ConnectionState::Ready,
                state_message: None,
                secrets: BTreeMap::from([("k".to_string(), Secret::new("v1"))]),
            })
            .await
            .unwrap()
            .id
    }

    #[tokio::test]
    async fn a_rotation_cut_off_at_any_point_leaves_a_store_that_opens() {
        // No test in this binary sets CARDHOST_MASTER_KEY, so the key file is used.
        let dir = tempfile::tempdir().unwrap();
        let (store, source) = open_in(dir.path()).await.unwrap();
        let id = one_connection(&store).await;

        // Cut off after the new key file was written, before the commit.
        let next = MasterKey::generate();
        write_key_file(&dir.path().join(NEXT_KEY_FILE), &next, true).unwrap();
        drop(store);
        let (store, _) = open_in(dir.path()).await.unwrap();
        assert_eq!(store.secrets(&id).await.unwrap()["k"].expose(), "v1");
        assert!(!dir.path().join(NEXT_KEY_FILE).exists());

        // Cut off after the commit, before the key file was replaced.
        drop(store);
        write_key_file(&dir.path().join(NEXT_KEY_FILE), &next, true).unwrap();
        let old = MasterKey::read_file(&dir.path().join(KEY_FILE)).unwrap();
        let raw = SqliteStore::open(&dir.path().join(DATABASE_FILE), vec![old]).unwrap();
        raw.rotate_key(&next).await.unwrap();
        drop(raw);
        let (store, _) = open_in(dir.path()).await.unwrap();
        assert_eq!(store.secrets(&id).await.unwrap()["k"].expose(), "v1");
        assert_eq!(
            MasterKey::read_file(&dir.path().join(KEY_FILE))
                .unwrap()
                .id(),
            next.id()
        );

        // A full rotation.
        let (n, new_id) = rotate_key_in(&store, &source, dir.path()).await.unwrap();
        assert_eq!(n, 1);
        drop(store);
        let (store, _) = open_in(dir.path()).await.unwrap();
        assert_eq!(store.key_usage().await.unwrap(), vec![(new_id, 1)]);
        assert_eq!(store.secrets(&id).await.unwrap()["k"].expose(), "v1");
    }

    #[tokio::test]
    async fn rfc3339_formats_known_instants() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_392_000), "2026-11-23T00:00:00Z");
        assert_eq!(super::rfc3339(-1), "1969-12-31T23:59:59Z");
    }
}
