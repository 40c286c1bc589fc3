//! The schema, as one list of versioned migrations for both backends.
//!
//! Migration `i` brings a store from version `i` to `i + 1`. Each version
//! is written once per backend, side by side, so a change to the schema is
//! one entry here and cannot reach one backend only; a test opens both
//! backends and compares their tables and columns. SQLite records its
//! version in `PRAGMA user_version`, PostgreSQL in `cardhost_schema`.

/// One step of the schema, for each backend.
pub(crate) struct Migration {
    /// The SQLite statements.
    pub(crate) sqlite: &'static str,
    /// The PostgreSQL statements (`BIGINT` for integers, `BYTEA` for sealed
    /// values, statement triggers that also notify the other nodes).
    pub(crate) postgres: &'static str,
}

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Every migration, oldest first.
pub(crate) const MIGRATIONS: &[Migration] = &[
    // 1: connections, secrets, tokens, pending authorizations, history.
    Migration {
        sqlite: r#"
    CREATE TABLE connections (
        id                TEXT PRIMARY KEY,
        name              TEXT NOT NULL UNIQUE,
        connector         TEXT NOT NULL,
        connector_version TEXT NOT NULL,
        auth_method       TEXT,
        fields            TEXT NOT NULL,
        granted           TEXT NOT NULL,
        state             TEXT NOT NULL,
        state_message     TEXT,
        created_at        INTEGER NOT NULL,
        updated_at        INTEGER NOT NULL,
        revision          INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE secrets (
        connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        name          TEXT NOT NULL,
        key_id        TEXT NOT NULL,
        sealed        BLOB NOT NULL,
        set_at        INTEGER NOT NULL,
        PRIMARY KEY (connection_id, name)
    );
    CREATE TABLE tokens (
        connection_id TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
        key_id        TEXT NOT NULL,
        sealed        BLOB NOT NULL,
        updated_at    INTEGER NOT NULL
    );
    CREATE TABLE pending_authorizations (
        state         TEXT PRIMARY KEY,
        connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        key_id        TEXT NOT NULL,
        sealed_verifier BLOB NOT NULL,
        redirect_uri  TEXT NOT NULL,
        created_at    INTEGER NOT NULL
    );
    CREATE TABLE invocations (
        id                TEXT PRIMARY KEY,
        connection_id     TEXT,
        connector         TEXT NOT NULL,
        card              TEXT NOT NULL,
        started_at_ms     INTEGER NOT NULL,
        duration_ms       INTEGER NOT NULL,
        outcome           TEXT NOT NULL,
        error             TEXT,
        upstream_requests INTEGER NOT NULL,
        retries           INTEGER NOT NULL
    );
    CREATE INDEX invocations_by_time ON invocations(started_at_ms DESC);
    CREATE INDEX invocations_by_connection ON invocations(connection_id, started_at_ms DESC);
    "#,
        postgres: r#"
    CREATE TABLE connections (
        id                TEXT PRIMARY KEY,
        name              TEXT NOT NULL UNIQUE,
        connector         TEXT NOT NULL,
        connector_version TEXT NOT NULL,
        auth_method       TEXT,
        fields            TEXT NOT NULL,
        granted           TEXT NOT NULL,
        state             TEXT NOT NULL,
        state_message     TEXT,
        created_at        BIGINT NOT NULL,
        updated_at        BIGINT NOT NULL,
        revision          BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE secrets (
        connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        name          TEXT NOT NULL,
        key_id        TEXT NOT NULL,
        sealed        BYTEA NOT NULL,
        set_at        BIGINT NOT NULL,
        PRIMARY KEY (connection_id, name)
    );
    CREATE TABLE tokens (
        connection_id TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
        key_id        TEXT NOT NULL,
        sealed        BYTEA NOT NULL,
        updated_at    BIGINT NOT NULL
    );
    CREATE TABLE pending_authorizations (
        state         TEXT PRIMARY KEY,
        connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        key_id        TEXT NOT NULL,
        sealed_verifier BYTEA NOT NULL,
        redirect_uri  TEXT NOT NULL,
        created_at    BIGINT NOT NULL
    );
    CREATE TABLE invocations (
        id                TEXT PRIMARY KEY,
        connection_id     TEXT,
        connector         TEXT NOT NULL,
        card              TEXT NOT NULL,
        started_at_ms     BIGINT NOT NULL,
        duration_ms       BIGINT NOT NULL,
        outcome           TEXT NOT NULL,
        error             TEXT,
        upstream_requests BIGINT NOT NULL,
        retries           BIGINT NOT NULL
    );
    CREATE INDEX invocations_by_time ON invocations(started_at_ms DESC);
    CREATE INDEX invocations_by_connection ON invocations(connection_id, started_at_ms DESC);
    "#,
    },
    // 2: API keys of the server (only their SHA-256 is stored).
    Migration {
        sqlite: r#"
    CREATE TABLE api_keys (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        role         TEXT NOT NULL,
        hash         BLOB NOT NULL,
        created_at   INTEGER NOT NULL,
        revoked_at   INTEGER
    );
    "#,
        postgres: r#"
    CREATE TABLE api_keys (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        role         TEXT NOT NULL,
        hash         BYTEA NOT NULL,
        created_at   BIGINT NOT NULL,
        revoked_at   BIGINT
    );
    "#,
    },
    // 3: refresh leases, so processes sharing the store never spend one
    // refresh token twice.
    Migration {
        sqlite: r#"
    CREATE TABLE refresh_leases (
        connection_id TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
        holder        TEXT NOT NULL,
        expires_at_ms INTEGER NOT NULL
    );
    "#,
        postgres: r#"
    CREATE TABLE refresh_leases (
        connection_id TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
        holder        TEXT NOT NULL,
        expires_at_ms BIGINT NOT NULL
    );
    "#,
    },
    // 4: what each connection's credentials were approved against.
    Migration {
        sqlite: r#"
    CREATE TABLE credential_pins (
        connection_id TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
        digest        TEXT NOT NULL,
        parts         TEXT NOT NULL,
        pinned_at     INTEGER NOT NULL
    );
    "#,
        postgres: r#"
    CREATE TABLE credential_pins (
        connection_id TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
        digest        TEXT NOT NULL,
        parts         TEXT NOT NULL,
        pinned_at     BIGINT NOT NULL
    );
    "#,
    },
    // 5: the store's revision, raised by every change to what requests look
    // up, so a process can serve those lookups from memory (`cache.rs`).
    Migration {
        sqlite: r#"
    CREATE TABLE revision (n INTEGER NOT NULL);
    INSERT INTO revision VALUES (0);
    CREATE TRIGGER api_keys_inserted AFTER INSERT ON api_keys BEGIN UPDATE revision SET n = n + 1; END;
    CREATE TRIGGER api_keys_updated AFTER UPDATE ON api_keys BEGIN UPDATE revision SET n = n + 1; END;
    CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys BEGIN UPDATE revision SET n = n + 1; END;
    CREATE TRIGGER connections_inserted AFTER INSERT ON connections BEGIN UPDATE revision SET n = n + 1; END;
    CREATE TRIGGER connections_updated AFTER UPDATE ON connections BEGIN UPDATE revision SET n = n + 1; END;
    CREATE TRIGGER connections_deleted AFTER DELETE ON connections BEGIN UPDATE revision SET n = n + 1; END;
    CREATE TRIGGER secrets_inserted AFTER INSERT ON secrets BEGIN UPDATE revision SET n = n + 1; END;
    CREATE TRIGGER secrets_updated AFTER UPDATE ON secrets BEGIN UPDATE revision SET n = n + 1; END;
    CREATE TRIGGER secrets_deleted AFTER DELETE ON secrets BEGIN UPDATE revision SET n = n + 1; END;
    CREATE TRIGGER pins_inserted AFTER INSERT ON credential_pins BEGIN UPDATE revision SET n = n + 1; END;
    CREATE TRIGGER pins_updated AFTER UPDATE ON credential_pins BEGIN UPDATE revision SET n = n + 1; END;
    CREATE TRIGGER pins_deleted AFTER DELETE ON credential_pins BEGIN UPDATE revision SET n = n + 1; END;
    "#,
        postgres: r#"
    CREATE TABLE revision (n BIGINT NOT NULL);
    INSERT INTO revision VALUES (0);
    -- Every node listens on `cardhost_changes`: a notification is a hint to
    -- read the revision now rather than at its next poll.
    CREATE FUNCTION cardhost_changed() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
        UPDATE revision SET n = n + 1;
        PERFORM pg_notify('cardhost_changes', TG_TABLE_NAME);
        RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER api_keys_changed AFTER INSERT OR UPDATE OR DELETE ON api_keys
        FOR EACH STATEMENT EXECUTE FUNCTION cardhost_changed();
    CREATE TRIGGER connections_changed AFTER INSERT OR UPDATE OR DELETE ON connections
        FOR EACH STATEMENT EXECUTE FUNCTION cardhost_changed();
    CREATE TRIGGER secrets_changed AFTER INSERT OR UPDATE OR DELETE ON secrets
        FOR EACH STATEMENT EXECUTE FUNCTION cardhost_changed();
    CREATE TRIGGER pins_changed AFTER INSERT OR UPDATE OR DELETE ON credential_pins
        FOR EACH STATEMENT EXECUTE FUNCTION cardhost_changed();
    "#,
    },
    // 6: the id of the key new values are sealed with, set by a rotation, so
    // that every node sharing the store seals with the rotated-in key (and
    // one that does not hold it refuses to seal rather than use an old one);
    // leases on work that must run on exactly one node.
    Migration {
        sqlite: r#"
    CREATE TABLE sealing_key (id TEXT NOT NULL);
    CREATE TRIGGER sealing_key_changed AFTER INSERT ON sealing_key BEGIN UPDATE revision SET n = n + 1; END;
    CREATE TABLE work_leases (
        work          TEXT PRIMARY KEY,
        holder        TEXT NOT NULL,
        expires_at_ms INTEGER NOT NULL
    );
    "#,
        postgres: r#"
    CREATE TABLE sealing_key (id TEXT NOT NULL);
    CREATE TRIGGER sealing_key_changed AFTER INSERT OR UPDATE OR DELETE ON sealing_key
        FOR EACH STATEMENT EXECUTE FUNCTION cardhost_changed();
    CREATE TABLE work_leases (
        work          TEXT PRIMARY KEY,
        holder        TEXT NOT NULL,
        expires_at_ms BIGINT NOT NULL
    );
    "#,
    },
    // 7: subscriptions to triggers, with the cursor the host owns, and the
    // events they produced (an event id once per subscription).
    Migration {
        sqlite: r#"
    CREATE TABLE subscriptions (
        id                  TEXT PRIMARY KEY,
        connection_id       TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        trigger_id          TEXT NOT NULL,
        mode                TEXT NOT NULL,
        interval_seconds    INTEGER NOT NULL,
        target_kind         TEXT NOT NULL,
        target_url          TEXT,
        state               TEXT NOT NULL,
        state_message       TEXT,
        cursor              TEXT,
        cursor_version      INTEGER NOT NULL,
        next_poll_at_ms     INTEGER NOT NULL,
        failures            INTEGER NOT NULL,
        last_poll_at_ms     INTEGER,
        last_error          TEXT,
        registration        TEXT,
        delivered_seq       INTEGER NOT NULL,
        delivery_attempts   INTEGER NOT NULL,
        next_delivery_at_ms INTEGER,
        last_seq            INTEGER NOT NULL,
        delivery_error      TEXT,
        last_delivery_at_ms INTEGER,
        created_at          INTEGER NOT NULL,
        updated_at          INTEGER NOT NULL
    );
    CREATE INDEX subscriptions_due ON subscriptions(next_poll_at_ms) WHERE state = 'active' AND mode = 'polling';
    CREATE INDEX subscriptions_by_connection ON subscriptions(connection_id);
    CREATE TABLE events (
        subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
        seq             INTEGER NOT NULL,
        event_id        TEXT NOT NULL,
        occurred_at     TEXT NOT NULL,
        payload         TEXT NOT NULL,
        received_at_ms  INTEGER NOT NULL,
        dead_at_ms      INTEGER,
        dead_reason     TEXT,
        PRIMARY KEY (subscription_id, seq),
        UNIQUE (subscription_id, event_id)
    );
    CREATE INDEX events_by_age ON events(received_at_ms);
    CREATE INDEX subscriptions_deliveries ON subscriptions(next_delivery_at_ms) WHERE target_kind = 'webhook';
    CREATE TABLE subscription_secrets (
        subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
        purpose         TEXT NOT NULL,
        key_id          TEXT NOT NULL,
        sealed          BLOB NOT NULL,
        PRIMARY KEY (subscription_id, purpose)
    );
    "#,
        postgres: r#"
    CREATE TABLE subscriptions (
        id                  TEXT PRIMARY KEY,
        connection_id       TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        trigger_id          TEXT NOT NULL,
        mode                TEXT NOT NULL,
        interval_seconds    BIGINT NOT NULL,
        target_kind         TEXT NOT NULL,
        target_url          TEXT,
        state               TEXT NOT NULL,
        state_message       TEXT,
        cursor              TEXT,
        cursor_version      BIGINT NOT NULL,
        next_poll_at_ms     BIGINT NOT NULL,
        failures            BIGINT NOT NULL,
        last_poll_at_ms     BIGINT,
        last_error          TEXT,
        registration        TEXT,
        delivered_seq       BIGINT NOT NULL,
        delivery_attempts   BIGINT NOT NULL,
        next_delivery_at_ms BIGINT,
        last_seq            BIGINT NOT NULL,
        delivery_error      TEXT,
        last_delivery_at_ms BIGINT,
        created_at          BIGINT NOT NULL,
        updated_at          BIGINT NOT NULL
    );
    CREATE INDEX subscriptions_due ON subscriptions(next_poll_at_ms) WHERE state = 'active' AND mode = 'polling';
    CREATE INDEX subscriptions_by_connection ON subscriptions(connection_id);
    CREATE TABLE events (
        subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
        seq             BIGINT NOT NULL,
        event_id        TEXT NOT NULL,
        occurred_at     TEXT NOT NULL,
        payload         TEXT NOT NULL,
        received_at_ms  BIGINT NOT NULL,
        dead_at_ms      BIGINT,
        dead_reason     TEXT,
        PRIMARY KEY (subscription_id, seq),
        UNIQUE (subscription_id, event_id)
    );
    CREATE INDEX events_by_age ON events(received_at_ms);
    CREATE INDEX subscriptions_deliveries ON subscriptions(next_delivery_at_ms) WHERE target_kind = 'webhook';
    CREATE TABLE subscription_secrets (
        subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
        purpose         TEXT NOT NULL,
        key_id          TEXT NOT NULL,
        sealed          BYTEA NOT NULL,
        PRIMARY KEY (subscription_id, purpose)
    );
    "#,
    },
    // 8: a subscription the vendor delivers to by webhook may be polled as
    // well (as a safety net), so the due-poll index covers every active
    // subscription; one never polled has its next poll at the end of time.
    Migration {
        sqlite: r#"
    DROP INDEX subscriptions_due;
    CREATE INDEX subscriptions_due ON subscriptions(next_poll_at_ms) WHERE state = 'active';
    "#,
        postgres: r#"
    DROP INDEX subscriptions_due;
    CREATE INDEX subscriptions_due ON subscriptions(next_poll_at_ms) WHERE state = 'active';
    "#,
    },
    // 9: console sessions: the SHA-256 of the cookie's token (never the
    // token), the API key it stands for, its CSRF token and expiry.
    Migration {
        sqlite: r#"
    CREATE TABLE console_sessions (
        token_hash    TEXT PRIMARY KEY,
        key_id        TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
        csrf          TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        expires_at_ms INTEGER NOT NULL
    );
    CREATE INDEX console_sessions_by_expiry ON console_sessions(expires_at_ms);
    "#,
        postgres: r#"
    CREATE TABLE console_sessions (
        token_hash    TEXT PRIMARY KEY,
        key_id        TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
        csrf          TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        expires_at_ms BIGINT NOT NULL
    );
    CREATE INDEX console_sessions_by_expiry ON console_sessions(expires_at_ms);
    "#,
    },
];
