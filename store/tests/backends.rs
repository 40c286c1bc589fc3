//! The store's contract, run against both backends: the embedded SQLite
//! file and a real PostgreSQL server.
//!
//! PostgreSQL comes from `CARDHOST_TEST_POSTGRES` (a URL of a server where
//! databases may be created; `.ci/postgres start` makes one). Without it the
//! PostgreSQL half of each test says it was skipped — and fails instead when
//! `CARDHOST_REQUIRE_POSTGRES` is set, as CI sets it.

use cardhost_runtime::credentials::{Secret, TokenSet};
use cardhost_store::{
    ApiKeyRecord, ConnectionState, ConsoleSession, DeliveryOutcome, HistoryFilter,
    InvocationRecord, MasterKey, Mode, NewConnection, NewEvent, NewSubscription,
    PendingAuthorization, PollCommit, PostgresStore, Role, SIGNING_SECRET, SqliteStore, Store,
    StoreError, SubscriptionState, Target, now_ms, now_secs,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Where a backend's data lives, so a second store can open the same.
enum Place {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Place {
    async fn open(&self, keys: Vec<MasterKey>) -> Arc<dyn Store> {
        match self {
            Place::Sqlite(dir) => {
                Arc::new(SqliteStore::open(&dir.path().join("cardhost.db"), keys).unwrap())
            }
            Place::Postgres(url) => {
                Arc::new(PostgresStore::connect(url, keys, vec![]).await.unwrap())
            }
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Place::Sqlite(_) => "sqlite",
            Place::Postgres(_) => "postgres",
        }
    }
}

/// Both backends, each in a place of its own.
async fn places(test: &str) -> Vec<Place> {
    let mut places = vec![Place::Sqlite(tempfile::tempdir().unwrap())];
    if let Some(url) = cardhost_store::testing::fresh_postgres_database(test).await {
        places.push(Place::Postgres(url));
    }
    places
}

fn new_conn(name: &str, secret: &str) -> NewConnection {
    NewConnection {
        name: name.into(),
        connector: "smarthr".into(),
        connector_version: "1.0.0".into(),
        auth_method: None,
        fields: serde_json::json!({"tenant": "acme"}),
        granted: vec!["employees:read".into()],
        state: ConnectionState::Ready,
        state_message: None,
        secrets: BTreeMap::from([("api_token".to_string(), Secret::new(secret))]),
    }
}

fn tokens(access: &str, refresh: &str) -> TokenSet {
    TokenSet {
        access_token: Some(access.into()),
        expires_at: Some(now_secs() + 3600),
        refresh_token: Some(refresh.into()),
        scope: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_secrets_and_tokens_round_trip() {
    for place in places("round_trip").await {
        let backend = place.name();
        let store = place.open(vec![MasterKey::generate()]).await;
        let created = store
            .create_connection(new_conn("acme", "s3cret"))
            .await
            .unwrap();
        assert!(created.id.starts_with("conn_"), "{backend}");
        let err = store
            .create_connection(new_conn("acme", "other"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict(m) if m.contains("acme")),
            "{backend}: {err}"
        );
        let by_name = store.connection("acme").await.unwrap();
        assert_eq!(by_name, created, "{backend}");
        assert_eq!(store.connection(&created.id).await.unwrap(), created);
        assert_eq!(
            store.secrets(&created.id).await.unwrap()["api_token"].expose(),
            "s3cret",
            "{backend}"
        );
        let info = store.secret_info(&created.id).await.unwrap();
        assert_eq!(info.len(), 1, "{backend}");
        assert_eq!(info[0].name, "api_token");

        store
            .set_grant(&created.id, &["employees:write".into()])
            .await
            .unwrap();
        store
            .set_state(&created.id, ConnectionState::Error, Some("broken"))
            .await
            .unwrap();
        let changed = store.connection(&created.id).await.unwrap();
        assert_eq!(changed.granted, vec!["employees:write".to_string()]);
        assert_eq!(changed.state, ConnectionState::Error, "{backend}");
        assert_eq!(changed.state_message.as_deref(), Some("broken"));
        assert!(changed.revision > created.revision, "{backend}");

        store
            .save_tokens(&created.id, &tokens("at1", "rt1"))
            .await
            .unwrap();
        assert_eq!(
            store
                .tokens(&created.id)
                .await
                .unwrap()
                .refresh_token
                .as_deref(),
            Some("rt1"),
            "{backend}"
        );
        assert!(matches!(
            store.save_tokens("conn_nope", &tokens("a", "r")).await,
            Err(StoreError::NotFound(_))
        ));
        store.clear_tokens(&created.id).await.unwrap();
        assert_eq!(
            store.tokens(&created.id).await.unwrap(),
            TokenSet::default()
        );

        assert_eq!(store.list_connections().await.unwrap().len(), 1);
        assert!(store.delete_connection(&created.id).await.unwrap());
        assert!(!store.delete_connection(&created.id).await.unwrap());
        assert!(matches!(
            store.connection("acme").await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.secrets(&created.id).await,
            Err(StoreError::NotFound(_))
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_values_open_only_with_their_key_and_rotation_moves_them_all() {
    for place in places("rotation").await {
        let backend = place.name();
        let old = MasterKey::generate();
        let store = place.open(vec![old.clone()]).await;
        let id = store
            .create_connection(new_conn("acme", "s3cret"))
            .await
            .unwrap()
            .id;
        store.save_tokens(&id, &tokens("at", "rt")).await.unwrap();
        let wrong = place.open(vec![MasterKey::generate()]).await;
        assert!(
            matches!(wrong.secrets(&id).await, Err(StoreError::Crypto { .. })),
            "{backend}"
        );
        let new = MasterKey::generate();
        assert_eq!(store.rotate_key(&new).await.unwrap(), 2, "{backend}");
        assert_eq!(
            store.key_usage().await.unwrap(),
            vec![(new.id().to_string(), 2)]
        );
        let with_old = place.open(vec![old.clone()]).await;
        assert!(matches!(
            with_old.tokens(&id).await,
            Err(StoreError::Crypto { .. })
        ));
        if let Place::Postgres(_) = place {
            // Another node that holds both keys seals with the rotated-in
            // one; a node that holds only the old one refuses to seal.
            let both = place.open(vec![old.clone(), new.clone()]).await;
            both.set_secret(&id, "extra", &Secret::new("x"))
                .await
                .unwrap();
            assert_eq!(
                both.key_usage().await.unwrap(),
                vec![(new.id().to_string(), 3)],
                "sealed with the new key"
            );
            let err = with_old
                .set_secret(&id, "extra", &Secret::new("y"))
                .await
                .unwrap_err();
            assert!(err.to_string().contains(new.id()), "{err}");
        }
        let with_new = place.open(vec![new]).await;
        assert_eq!(
            with_new.secrets(&id).await.unwrap()["api_token"].expose(),
            "s3cret"
        );
        assert_eq!(
            with_new.tokens(&id).await.unwrap().access_token.as_deref(),
            Some("at")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_many_processes_racing_for_a_refresh_lease_exactly_one_wins() {
    for place in places("lease").await {
        let backend = place.name();
        let key = MasterKey::generate();
        let first = place.open(vec![key.clone()]).await;
        let id = first
            .create_connection(new_conn("acme", "s"))
            .await
            .unwrap()
            .id;
        // Four stores on one database stand for four processes.
        let mut stores = vec![first];
        for _ in 0..3 {
            stores.push(place.open(vec![key.clone()]).await);
        }
        let racers: Vec<_> = (0..24)
            .map(|i| {
                let store = stores[i % stores.len()].clone();
                let id = id.clone();
                tokio::spawn(async move {
                    store
                        .take_refresh_lease(&id, &format!("node-{i}"), 60_000)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut won = 0;
        for r in racers {
            won += usize::from(r.await.unwrap());
        }
        assert_eq!(won, 1, "{backend}: exactly one holder");

        // Each racer gives its lease back, as a holder does when its refresh
        // ends (a release by one that does not hold it changes nothing).
        for i in 0..24 {
            stores[i % stores.len()]
                .release_refresh_lease(&id, &format!("node-{i}"))
                .await
                .unwrap();
        }
        // The holder may take it again; the others only once it is given
        // back, or its holder is gone.
        let s = &stores[0];
        assert!(
            s.take_refresh_lease(&id, "a", 60_000).await.unwrap(),
            "{backend}"
        );
        assert!(
            s.take_refresh_lease(&id, "a", 60_000).await.unwrap(),
            "{backend}"
        );
        assert!(!s.take_refresh_lease(&id, "b", 60_000).await.unwrap());
        s.release_refresh_lease(&id, "b").await.unwrap();
        assert!(
            !s.take_refresh_lease(&id, "b", 60_000).await.unwrap(),
            "not b's to give back"
        );
        s.release_refresh_lease(&id, "a").await.unwrap();
        // A holder that goes away does not keep the others out: on SQLite
        // its lease expires; on PostgreSQL it dies with the holder's
        // session (a node killed mid-refresh).
        let gone = place.open(vec![key.clone()]).await;
        assert!(gone.take_refresh_lease(&id, "b", 1).await.unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
        if let Place::Postgres(_) = place {
            assert!(!s.take_refresh_lease(&id, "c", 60_000).await.unwrap());
            drop(gone);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(
            s.take_refresh_lease(&id, "c", 60_000).await.unwrap(),
            "{backend}: the lease of a holder gone is taken over"
        );
        assert!(matches!(
            s.take_refresh_lease("conn_nope", "a", 1000).await,
            Err(StoreError::NotFound(_))
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_authorizations_are_single_use_and_expire() {
    for place in places("pending").await {
        let backend = place.name();
        let store = place.open(vec![MasterKey::generate()]).await;
        let id = store
            .create_connection(new_conn("acme", "s"))
            .await
            .unwrap()
            .id;
        let pending = |state: &str, created_at| PendingAuthorization {
            state: state.into(),
            connection_id: id.clone(),
            verifier: Secret::new("verifier-123"),
            redirect_uri: "http://127.0.0.1/callback".into(),
            created_at,
        };
        store
            .put_pending_authorization(&pending("st1", now_secs()))
            .await
            .unwrap();
        store
            .put_pending_authorization(&pending("old", now_secs() - 3600))
            .await
            .unwrap();
        let peek = store.pending_authorization("st1", 600).await.unwrap();
        assert_eq!(peek.unwrap().verifier.expose(), "verifier-123", "{backend}");
        let taken = store.take_pending_authorization("st1", 600).await.unwrap();
        assert_eq!(taken.unwrap().connection_id, id);
        assert!(
            store
                .take_pending_authorization("st1", 600)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .take_pending_authorization("old", 600)
                .await
                .unwrap()
                .is_none(),
            "{backend}: expired"
        );
    }
}

fn row(i: i64, connection: Option<&str>, outcome: &str) -> InvocationRecord {
    InvocationRecord {
        id: format!("inv{i:05}"),
        connection_id: connection.map(str::to_string),
        connector: "smarthr".into(),
        card: if i % 2 == 0 { "list" } else { "get" }.into(),
        started_at_ms: 1_000 + i,
        duration_ms: 3,
        outcome: outcome.into(),
        error: (outcome != "ok").then(|| "upstream said no".into()),
        upstream_requests: 1,
        retries: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_filters_newest_first() {
    for place in places("history").await {
        let backend = place.name();
        let store = place.open(vec![MasterKey::generate()]).await;
        for i in 0..10 {
            let outcome = if i == 7 { "upstream-auth" } else { "ok" };
            store
                .record_invocation(&row(i, Some(if i < 5 { "c1" } else { "c2" }), outcome))
                .await
                .unwrap();
        }
        let all = store.history(&HistoryFilter::default()).await.unwrap();
        assert_eq!(all.len(), 10, "{backend}");
        assert_eq!(all[0].id, "inv00009");
        let c1 = store
            .history(&HistoryFilter {
                connection_id: Some("c1".into()),
                card: Some("list".into()),
                ..HistoryFilter::default()
            })
            .await
            .unwrap();
        let ids: Vec<_> = c1.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["inv00004", "inv00002", "inv00000"], "{backend}");
        let failed = store
            .history(&HistoryFilter {
                outcome: Some("upstream-auth".into()),
                since_ms: Some(1_005),
                limit: Some(5),
                ..HistoryFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].error.as_deref(), Some("upstream said no"));
    }
}

fn key(id: &str, role: Role) -> ApiKeyRecord {
    ApiKeyRecord {
        id: id.into(),
        name: "ci".into(),
        role,
        hash: [7; 32],
        created_at: now_secs(),
        revoked_at: None,
    }
}

/// A key created or revoked through one process is seen by another (a
/// second store on the same data) within a second, though lookups are
/// cached; so is a connection's change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_sees_keys_and_connections_change_within_a_second() {
    for place in places("watch").await {
        let backend = place.name();
        let k = MasterKey::generate();
        let one = place.open(vec![k.clone()]).await;
        let two = place.open(vec![k]).await;
        assert!(two.api_key("k1").await.unwrap().is_none());
        one.create_api_key(&key("k1", Role::Admin)).await.unwrap();
        // Not cached while it did not exist: seen at once.
        assert!(two.api_key("k1").await.unwrap().is_some(), "{backend}");
        // Cached now; a revocation elsewhere must still be seen.
        assert!(
            two.api_key("k1")
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_none()
        );
        assert!(one.revoke_api_key("k1").await.unwrap());
        assert!(!one.revoke_api_key("k1").await.unwrap());
        let seen = wait_until(|| async {
            two.api_key("k1")
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        })
        .await;
        assert!(
            seen,
            "{backend}: the revocation was not seen within a second"
        );

        let id = one
            .create_connection(new_conn("acme", "s"))
            .await
            .unwrap()
            .id;
        assert!(two.connection(&id).await.unwrap().granted.len() == 1);
        one.set_grant(&id, &[]).await.unwrap();
        let seen =
            wait_until(|| async { two.connection(&id).await.unwrap().granted.is_empty() }).await;
        assert!(
            seen,
            "{backend}: the grant change was not seen within a second"
        );
        assert_eq!(one.api_keys().await.unwrap().len(), 1);
    }
}

async fn wait_until<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Both backends are made of the same tables and columns: the schema is
/// one description (`schema.rs`), and this is where a migration written for
/// one backend only shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_have_the_same_tables_and_columns() {
    let Some(url) = cardhost_store::testing::fresh_postgres_database("schema").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cardhost.db");
    drop(SqliteStore::open(&path, vec![MasterKey::generate()]).unwrap());
    let sqlite = rusqlite_columns(&path);

    let store = PostgresStore::connect(&url, vec![MasterKey::generate()], vec![])
        .await
        .unwrap();
    drop(store);
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut postgres: Vec<(String, String)> = client
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name <> 'cardhost_schema'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    postgres.sort();
    assert!(postgres.iter().any(|(t, _)| t == "refresh_leases"));
    assert_eq!(sqlite, postgres);
}

fn rusqlite_columns(path: &std::path::Path) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
             WHERE m.type = 'table'",
        )
        .unwrap();
    let mut columns: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    columns.sort();
    columns
}

/// Work that must run on exactly one node: of many racing for its lease one
/// wins; the holder renews it; a holder gone is taken over once its lease
/// expires; a lease given back is free at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_leases_go_to_one_holder_and_are_taken_over_when_it_dies() {
    for place in places("work").await {
        let backend = place.name();
        let key = MasterKey::generate();
        let mut stores = Vec::new();
        for _ in 0..4 {
            stores.push(place.open(vec![key.clone()]).await);
        }
        let racers: Vec<_> = (0..24)
            .map(|i| {
                let store = stores[i % stores.len()].clone();
                tokio::spawn(async move {
                    store
                        .take_work_lease("poll:acme", &format!("node-{i}"), 60_000)
                        .await
                        .unwrap()
                        .then_some(i)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for r in racers {
            winners.extend(r.await.unwrap());
        }
        assert_eq!(winners.len(), 1, "{backend}: {winners:?}");
        let winner = format!("node-{}", winners[0]);
        let s = &stores[0];
        assert!(
            s.take_work_lease("poll:acme", &winner, 60_000)
                .await
                .unwrap(),
            "renewed"
        );
        assert!(
            !s.take_work_lease("poll:acme", "late", 60_000)
                .await
                .unwrap()
        );
        assert!(
            s.take_work_lease("poll:other", "late", 60_000)
                .await
                .unwrap(),
            "another work"
        );
        s.release_work_lease("poll:acme", "late").await.unwrap();
        assert!(
            !s.take_work_lease("poll:acme", "late", 60_000)
                .await
                .unwrap(),
            "not late's"
        );
        s.release_work_lease("poll:acme", &winner).await.unwrap();
        assert!(
            s.take_work_lease("poll:acme", "short", 1).await.unwrap(),
            "given back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            s.take_work_lease("poll:acme", "late", 60_000)
                .await
                .unwrap(),
            "{backend}: expired, taken over"
        );
    }
}

fn event(id: &str) -> NewEvent {
    NewEvent {
        id: id.into(),
        occurred_at: "2026-12-01T09:00:00Z".into(),
        payload: serde_json::json!({"id": id}),
    }
}

fn new_subscription(connection_id: &str, target: Target) -> NewSubscription {
    NewSubscription {
        connection_id: connection_id.into(),
        trigger: "user-changed".into(),
        mode: Mode::Polling,
        interval_seconds: 60,
        target,
        first_poll_at_ms: 1_000,
        secrets: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_commits_its_events_and_cursor_together_and_each_event_id_once() {
    for place in places("poll_commit").await {
        let backend = place.name();
        let store = place.open(vec![MasterKey::generate()]).await;
        let conn = store.create_connection(new_conn("c", "s")).await.unwrap();
        let err = store
            .create_subscription(new_subscription("conn_missing", Target::Feed))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)), "{backend}: {err}");

        let sub = store
            .create_subscription(new_subscription(&conn.id, Target::Feed))
            .await
            .unwrap();
        assert!(sub.id.starts_with("sub_"), "{backend}");
        assert_eq!(sub.state, SubscriptionState::Active, "{backend}");
        assert_eq!(
            (sub.cursor.as_deref(), sub.cursor_version, sub.last_seq),
            (None, 0, 0)
        );
        assert_eq!(
            store.due_subscriptions(999, 10).await.unwrap(),
            vec![],
            "{backend}"
        );
        assert_eq!(
            store.due_subscriptions(1_000, 10).await.unwrap(),
            vec![sub.clone()]
        );

        // The first poll: two events, one of them twice in the same page.
        let first = PollCommit {
            expected_version: 0,
            cursor: "c1".into(),
            events: vec![event("a@1"), event("b@1"), event("a@1")],
            next_poll_at_ms: 61_000,
        };
        let done = store.commit_poll(&sub.id, &first).await.unwrap();
        assert_eq!((done.stored, done.last_seq), (2, 2), "{backend}");
        // A second poll of the same cursor version (another node, or a
        // retry after a crash) is refused and stores nothing.
        let again = store.commit_poll(&sub.id, &first).await.unwrap_err();
        assert!(
            matches!(again, StoreError::Conflict(_)),
            "{backend}: {again}"
        );

        // An overlapping poll: `b@1` again, and a new one.
        let second = PollCommit {
            expected_version: 1,
            cursor: "c2".into(),
            events: vec![event("b@1"), event("c@1")],
            next_poll_at_ms: 121_000,
        };
        let done = store.commit_poll(&sub.id, &second).await.unwrap();
        assert_eq!((done.stored, done.last_seq), (1, 3), "{backend}");
        let now = store.subscription(&sub.id).await.unwrap();
        assert_eq!(now.cursor.as_deref(), Some("c2"), "{backend}");
        assert_eq!((now.cursor_version, now.next_poll_at_ms), (2, 121_000));

        let events = store.events(&sub.id, 0, 100).await.unwrap();
        let ids: Vec<_> = events.iter().map(|e| (e.seq, e.id.as_str())).collect();
        assert_eq!(ids, [(1, "a@1"), (2, "b@1"), (3, "c@1")], "{backend}");
        assert_eq!(events[2].payload, serde_json::json!({"id": "c@1"}));
        let page = store.events(&sub.id, 1, 1).await.unwrap();
        assert_eq!(
            page.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [2],
            "{backend}"
        );

        // A delivery that did not come from a poll: deduplicated the same way.
        let done = store
            .append_events(&sub.id, &[event("c@1"), event("d@1")])
            .await
            .unwrap();
        assert_eq!((done.stored, done.last_seq), (1, 4), "{backend}");

        // A failed poll keeps the cursor and counts; a commit clears it.
        store
            .record_poll_failure(&sub.id, "upstream 503", 200_000)
            .await
            .unwrap();
        store
            .record_poll_failure(&sub.id, "upstream 503", 300_000)
            .await
            .unwrap();
        let failed = store.subscription(&sub.id).await.unwrap();
        assert_eq!((failed.failures, failed.cursor.as_deref()), (2, Some("c2")));
        assert_eq!(
            failed.last_error.as_deref(),
            Some("upstream 503"),
            "{backend}"
        );
        assert_eq!(failed.next_poll_at_ms, 300_000, "{backend}");
        let third = PollCommit {
            expected_version: 2,
            cursor: "c3".into(),
            events: vec![],
            next_poll_at_ms: 360_000,
        };
        assert_eq!(store.commit_poll(&sub.id, &third).await.unwrap().stored, 0);
        let ok = store.subscription(&sub.id).await.unwrap();
        assert_eq!(
            (ok.failures, ok.last_error.as_deref()),
            (0, None),
            "{backend}"
        );

        // Paused subscriptions are not due; resuming moves the next poll.
        store
            .set_subscription_state(&sub.id, SubscriptionState::Paused, None, None)
            .await
            .unwrap();
        assert!(
            store
                .due_subscriptions(i64::MAX, 10)
                .await
                .unwrap()
                .is_empty()
        );
        store
            .set_subscription_state(
                &sub.id,
                SubscriptionState::NeedsReauthorization,
                Some("the refresh token was revoked"),
                None,
            )
            .await
            .unwrap();
        let paused = store.subscription(&sub.id).await.unwrap();
        assert_eq!(paused.state, SubscriptionState::NeedsReauthorization);
        assert_eq!(
            paused.state_message.as_deref(),
            Some("the refresh token was revoked")
        );
        store
            .set_subscription_state(&sub.id, SubscriptionState::Active, None, Some(5))
            .await
            .unwrap();
        let due = store.due_subscriptions(5, 10).await.unwrap();
        assert_eq!(due.len(), 1, "{backend}");

        // Everything survives a reopen.
        drop(store);
        let store = place.open(vec![MasterKey::generate()]).await;
        assert_eq!(store.events(&sub.id, 0, 100).await.unwrap().len(), 4);
        assert_eq!(store.subscriptions(Some(&conn.id)).await.unwrap().len(), 1);
        assert!(
            store
                .subscriptions(Some("conn_other"))
                .await
                .unwrap()
                .is_empty()
        );

        // Unknown subscriptions are named.
        for err in [
            store.subscription("sub_nope").await.unwrap_err(),
            store.events("sub_nope", 0, 1).await.unwrap_err(),
            store
                .append_events("sub_nope", &[event("x")])
                .await
                .unwrap_err(),
            store.commit_poll("sub_nope", &third).await.unwrap_err(),
            store
                .record_poll_failure("sub_nope", "e", 1)
                .await
                .unwrap_err(),
            store
                .set_subscription_state("sub_nope", SubscriptionState::Paused, None, None)
                .await
                .unwrap_err(),
        ] {
            assert!(
                matches!(&err, StoreError::NoSubscription(id) if id == "sub_nope"),
                "{backend}: {err}"
            );
        }

        // Deleting the connection deletes its subscriptions and their events.
        assert!(store.delete_connection(&conn.id).await.unwrap());
        assert!(
            store.subscriptions(None).await.unwrap().is_empty(),
            "{backend}"
        );
        assert!(!store.delete_subscription(&sub.id).await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_many_processes_committing_one_cursor_exactly_one_wins() {
    for place in places("poll_race").await {
        let backend = place.name();
        let store = place.open(vec![MasterKey::generate()]).await;
        let conn = store.create_connection(new_conn("c", "s")).await.unwrap();
        let sub = store
            .create_subscription(new_subscription(&conn.id, Target::Feed))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let store = place.open(vec![MasterKey::generate()]).await;
            let id = sub.id.clone();
            tasks.push(tokio::spawn(async move {
                let commit = PollCommit {
                    expected_version: 0,
                    cursor: format!("cursor-{i}"),
                    events: vec![event(&format!("e{i}")), event("shared")],
                    next_poll_at_ms: 0,
                };
                store.commit_poll(&id, &commit).await
            }));
        }
        let mut won = Vec::new();
        for (i, t) in tasks.into_iter().enumerate() {
            match t.await.unwrap() {
                Ok(c) => won.push((i, c)),
                Err(StoreError::Conflict(_)) => {}
                Err(e) => panic!("{backend}: {e}"),
            }
        }
        assert_eq!(won.len(), 1, "{backend}: {won:?}");
        let (i, committed) = won[0];
        assert_eq!((committed.stored, committed.last_seq), (2, 2), "{backend}");
        let now = store.subscription(&sub.id).await.unwrap();
        assert_eq!(now.cursor, Some(format!("cursor-{i}")), "{backend}");
        let ids: Vec<_> = store
            .events(&sub.id, 0, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, [format!("e{i}"), "shared".to_string()], "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_keeps_what_a_webhook_target_has_not_received() {
    for place in places("prune_events").await {
        let backend = place.name();
        let store = place.open(vec![MasterKey::generate()]).await;
        let conn = store.create_connection(new_conn("c", "s")).await.unwrap();
        let feed = store
            .create_subscription(new_subscription(&conn.id, Target::Feed))
            .await
            .unwrap();
        let hook = store
            .create_subscription(new_subscription(
                &conn.id,
                Target::Webhook {
                    url: "https://flows.example/in".into(),
                },
            ))
            .await
            .unwrap();
        assert_eq!(
            hook.target,
            Target::Webhook {
                url: "https://flows.example/in".into()
            },
            "{backend}"
        );
        for sub in [&feed, &hook] {
            store
                .append_events(&sub.id, &[event("a"), event("b")])
                .await
                .unwrap();
        }
        // Nothing is old enough yet.
        assert_eq!(store.prune_events(now_ms() - 60_000).await.unwrap(), 0);
        // Past the window: the feed's go; the webhook's wait for delivery.
        assert_eq!(
            store.prune_events(now_ms() + 1).await.unwrap(),
            2,
            "{backend}"
        );
        assert!(store.events(&feed.id, 0, 10).await.unwrap().is_empty());
        assert_eq!(store.events(&hook.id, 0, 10).await.unwrap().len(), 2);
        // Numbering goes on after a prune.
        let next = store.append_events(&feed.id, &[event("c")]).await.unwrap();
        assert_eq!(next.last_seq, 3, "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_go_in_order_dead_letters_are_kept_and_redelivered() {
    for place in places("deliveries").await {
        let backend = place.name();
        let old = MasterKey::generate();
        let store = place.open(vec![old.clone()]).await;
        let conn = store.create_connection(new_conn("c", "s")).await.unwrap();
        let mut new = new_subscription(
            &conn.id,
            Target::Webhook {
                url: "https://flows.example/in".into(),
            },
        );
        new.secrets = vec![(SIGNING_SECRET.into(), Secret::new("whsec_abc"))];
        let hook = store.create_subscription(new).await.unwrap();
        let feed = store
            .create_subscription(new_subscription(&conn.id, Target::Feed))
            .await
            .unwrap();
        assert_eq!(
            store
                .subscription_secret(&hook.id, SIGNING_SECRET)
                .await
                .unwrap()
                .map(|s| s.expose().to_string()),
            Some("whsec_abc".into()),
            "{backend}"
        );
        assert!(
            store
                .subscription_secret(&feed.id, SIGNING_SECRET)
                .await
                .unwrap()
                .is_none()
        );
        // Nothing to deliver yet; a feed is never due for delivery.
        assert!(store.due_deliveries(now_ms(), 10).await.unwrap().is_empty());
        for sub in [&hook, &feed] {
            store
                .append_events(&sub.id, &[event("a"), event("b"), event("c")])
                .await
                .unwrap();
        }
        let due = store.due_deliveries(now_ms(), 10).await.unwrap();
        assert_eq!(
            due.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            [hook.id.as_str()],
            "{backend}"
        );

        // 1 delivered; 2 fails and waits; then dies; 3 delivered.
        store
            .record_delivery(&hook.id, 1, &DeliveryOutcome::Delivered)
            .await
            .unwrap();
        let later = now_ms() + 60_000;
        store
            .record_delivery(
                &hook.id,
                2,
                &DeliveryOutcome::Retry {
                    error: "503".into(),
                    next_at_ms: later,
                },
            )
            .await
            .unwrap();
        let s = store.subscription(&hook.id).await.unwrap();
        assert_eq!(
            (s.delivered_seq, s.delivery_attempts, s.next_delivery_at_ms),
            (1, 1, Some(later)),
            "{backend}"
        );
        assert_eq!(s.delivery_error.as_deref(), Some("503"));
        assert!(store.due_deliveries(now_ms(), 10).await.unwrap().is_empty());
        assert_eq!(store.due_deliveries(later, 10).await.unwrap().len(), 1);
        store
            .record_delivery(
                &hook.id,
                2,
                &DeliveryOutcome::Dead {
                    error: "503 fifteen times".into(),
                },
            )
            .await
            .unwrap();
        let s = store.subscription(&hook.id).await.unwrap();
        assert_eq!((s.delivered_seq, s.delivery_attempts), (2, 0), "{backend}");
        store
            .record_delivery(&hook.id, 3, &DeliveryOutcome::Delivered)
            .await
            .unwrap();
        // A late acknowledgement of an older event never moves delivery back.
        store
            .record_delivery(&hook.id, 1, &DeliveryOutcome::Delivered)
            .await
            .unwrap();
        assert_eq!(store.subscription(&hook.id).await.unwrap().delivered_seq, 3);
        let dead = store.dead_letters(&hook.id, 10).await.unwrap();
        assert_eq!(dead.len(), 1, "{backend}");
        assert_eq!((dead[0].event.seq, dead[0].event.id.as_str()), (2, "b"));
        assert_eq!(dead[0].reason, "503 fifteen times");

        // Rotation re-seals subscription secrets too.
        let new_key = MasterKey::generate();
        store.rotate_key(&new_key).await.unwrap();
        let with_new = place.open(vec![new_key]).await;
        assert_eq!(
            with_new
                .subscription_secret(&hook.id, SIGNING_SECRET)
                .await
                .unwrap()
                .unwrap()
                .expose(),
            "whsec_abc"
        );
        let with_old = place.open(vec![old]).await;
        assert!(matches!(
            with_old.subscription_secret(&hook.id, SIGNING_SECRET).await,
            Err(StoreError::Crypto { .. })
        ));

        // Redelivery goes back to the oldest dead letter and on in order.
        assert_eq!(
            store.redeliver(&hook.id, None).await.unwrap(),
            2,
            "{backend}"
        );
        let s = store.subscription(&hook.id).await.unwrap();
        assert_eq!(s.delivered_seq, 1, "{backend}");
        assert!(store.dead_letters(&hook.id, 10).await.unwrap().is_empty());
        assert_eq!(store.redeliver(&hook.id, None).await.unwrap(), 0);
        assert_eq!(store.redeliver(&hook.id, Some(1)).await.unwrap(), 3);
        assert!(matches!(
            store.redeliver("sub_missing", None).await,
            Err(StoreError::NoSubscription(_))
        ));
        // The secret goes with its subscription.
        assert!(store.delete_subscription(&hook.id).await.unwrap());
        assert!(
            store
                .subscription_secret(&hook.id, SIGNING_SECRET)
                .await
                .unwrap()
                .is_none()
        );
    }
}

/// A console session made through one process is found by another (the
/// next node behind the load balancer), ends when deleted, and expired
/// sessions are dropped when the next is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_sessions_are_shared_by_processes_and_expire() {
    for place in places("console_sessions").await {
        let backend = place.name();
        let k = MasterKey::generate();
        let one = place.open(vec![k.clone()]).await;
        let two = place.open(vec![k]).await;
        one.create_api_key(&key("k1", Role::Reader)).await.unwrap();
        let now = now_ms();
        let session = |hash: &str, expires_at_ms: i64| ConsoleSession {
            token_hash: hash.into(),
            key_id: "k1".into(),
            csrf: format!("csrf-{hash}"),
            created_at_ms: now,
            expires_at_ms,
        };
        one.create_console_session(&session("old", now - 1))
            .await
            .unwrap();
        one.create_console_session(&session("live", now + 60_000))
            .await
            .unwrap();
        assert_eq!(
            two.console_session("live").await.unwrap(),
            Some(session("live", now + 60_000)),
            "{backend}"
        );
        // The expired one went when the live one was made.
        assert_eq!(two.console_session("old").await.unwrap(), None, "{backend}");
        assert!(two.delete_console_session("live").await.unwrap());
        assert!(!one.delete_console_session("live").await.unwrap());
        assert_eq!(one.console_session("live").await.unwrap(), None);
        // A session needs its key.
        let orphan = ConsoleSession {
            key_id: "nope".into(),
            ..session("orphan", now + 60_000)
        };
        assert!(
            one.create_console_session(&orphan).await.is_err(),
            "{backend}"
        );
    }
}
