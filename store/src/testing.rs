//! For tests of cardhost and its store: a fresh PostgreSQL database on the
//! test server, or a clear skip.

/// A new, empty database on the server at `CARDHOST_TEST_POSTGRES` (a URL
/// of a server where databases may be created; `.ci/postgres start` runs
/// one), named after `test`. `None` — printed as `SKIPPED` — when the
/// variable is unset; a panic instead when `CARDHOST_REQUIRE_POSTGRES` is
/// set, as CI sets it, so the PostgreSQL tests never pass by not running.
pub async fn fresh_postgres_database(test: &str) -> Option<String> {
    let Ok(admin) = std::env::var("CARDHOST_TEST_POSTGRES") else {
        if std::env::var_os("CARDHOST_REQUIRE_POSTGRES").is_some() {
            panic!("CARDHOST_REQUIRE_POSTGRES is set but CARDHOST_TEST_POSTGRES is not");
        }
        eprintln!(
            "SKIPPED: {test} on PostgreSQL: set CARDHOST_TEST_POSTGRES (see .ci/postgres) to run it"
        );
        return None;
    };
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("CARDHOST_TEST_POSTGRES={admin}: {e}"));
    tokio::spawn(connection);
    let name = format!("cardhost_{test}_{:016x}", rand::random::<u64>());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    Some(format!("{base}/{name}"))
}
