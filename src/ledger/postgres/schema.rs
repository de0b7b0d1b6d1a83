//! The PostgreSQL ledger's schema, created and migrated by tripmail: numbered migrations, each
//! applied once in a transaction, under an advisory lock so that runners starting together do not
//! race; the version is kept in `tripmail_schema`. A database migrated by a newer tripmail is refused.

use deadpool_postgres::Pool;

use super::PgFail;

/// The migrations, in order: migration `n` brings the schema to version `n + 1`.
const MIGRATIONS: [&str; 2] = [
    "
CREATE TABLE tripmail_sends (
    campaign    text NOT NULL,
    booking_id  text NOT NULL,
    message_id  text NOT NULL,
    recipient   text NOT NULL,
    state       text NOT NULL CHECK (state IN ('claimed', 'sent', 'failed', 'deferred')),
    attempts    integer NOT NULL DEFAULT 0,
    reply       text,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    run_at      timestamptz NOT NULL,
    takeovers   integer NOT NULL DEFAULT 0,
    runner      text,
    lease_until timestamptz,
    token       text,
    PRIMARY KEY (campaign, booking_id)
);
CREATE INDEX tripmail_sends_booking ON tripmail_sends (booking_id);
CREATE INDEX tripmail_sends_claimed ON tripmail_sends (runner) WHERE state = 'claimed';
CREATE TABLE tripmail_pauses (
    campaign text PRIMARY KEY,
    by_whom  text NOT NULL,
    at       timestamptz NOT NULL
);
CREATE TABLE tripmail_audit (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL,
    who      text NOT NULL,
    action   text NOT NULL,
    campaign text NOT NULL
);
CREATE TABLE tripmail_runs (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL,
    run_at      timestamptz NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    status      text NOT NULL,
    error       text,
    counts      text,
    runner      text
);
CREATE TABLE tripmail_run_emails (
    run_id     bigint NOT NULL REFERENCES tripmail_runs (id) ON DELETE CASCADE,
    seq        integer NOT NULL,
    campaign   text NOT NULL,
    booking_id text NOT NULL,
    recipient  text NOT NULL,
    outcome    text NOT NULL,
    detail     text,
    PRIMARY KEY (run_id, seq)
);
",
    "
CREATE TABLE tripmail_pace (
    server  text PRIMARY KEY,
    next_at timestamptz NOT NULL
);
",
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// A key of `pg_advisory_xact_lock` for migrations ("tripmail" in ASCII, as a number).
const MIGRATION_LOCK: i64 = 0x7472_6970_6d61_696c;

/// Creates or migrates the schema; refuses a database whose schema is newer than this binary's.
pub(super) async fn migrate(pool: Pool) -> Result<(), PgFail> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS tripmail_schema (version integer NOT NULL)")
        .await?;
    let version: i32 = match tx
        .query_opt("SELECT version FROM tripmail_schema", &[])
        .await?
    {
        Some(row) => row.try_get(0)?,
        None => {
            tx.execute("INSERT INTO tripmail_schema (version) VALUES (0)", &[])
                .await?;
            0
        }
    };
    if version > SCHEMA_VERSION {
        return Err(PgFail::Other(format!(
            "the database's schema is version {version}, newer than this tripmail's \
             ({SCHEMA_VERSION}): a newer tripmail migrated it; use that version (or newer)"
        )));
    }
    for (n, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        tx.batch_execute(sql).await?;
        let to = n as i32 + 1;
        tx.execute("UPDATE tripmail_schema SET version = $1", &[&to])
            .await?;
        tracing::info!("ledger: schema migrated to version {to}");
    }
    tx.commit().await?;
    Ok(())
}
