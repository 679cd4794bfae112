//! `sql/SETUP_MUSIC_QUEUE_CRON.sql` keeps the secret key out of
//! pg_stat_statements (item 16), which hosted projects run with utility
//! statements tracked and show on the dashboard: filled in the documented
//! way, the key must only ever reach plain statements, whose literals are
//! stored as `$n`.
//!
//! The filled-in file runs inside a transaction that rolls back, so Vault
//! and the cron jobs are left as they were; pg_stat_statements keeps what
//! it saw either way.

use anyhow::Result;
use uuid::Uuid;

const SETUP: &str = include_str!("../../sql/SETUP_MUSIC_QUEUE_CRON.sql");
const URL_SLOT: &str = "('music_queue.project_url', '')";
const KEY_SLOT: &str = "('music_queue.secret_key', '')";

async fn statements_containing(db: &tokio_postgres::Client, text: &str) -> Result<i64> {
    Ok(db
        .query_one(
            "select count(*) from extensions.pg_stat_statements where strpos(query, $1) > 0",
            &[&text],
        )
        .await?
        .get(0))
}

#[tokio::test]
async fn a_key_filled_in_the_documented_way_stays_out_of_pg_stat_statements() -> Result<()> {
    let mut db = stack_tests::sql::db().await?;

    // The detector works: a DO block is stored verbatim.
    let marker = format!("marker-{}", Uuid::new_v4().simple());
    db.batch_execute(&format!("do $$ begin perform '{marker}'; end $$"))
        .await?;
    assert!(statements_containing(&db, &marker).await? >= 1);

    assert!(SETUP.contains(URL_SLOT) && SETUP.contains(KEY_SLOT));
    let key = format!("sb_secret_{}", Uuid::new_v4().simple());
    let filled = SETUP
        .replace(
            URL_SLOT,
            "('music_queue.project_url', 'http://127.0.0.1:9')",
        )
        .replace(KEY_SLOT, &format!("('music_queue.secret_key', '{key}')"));
    let tx = db.transaction().await?;
    tx.batch_execute(&filled).await?;
    let stored: String = tx
        .query_one(
            "select decrypted_secret from vault.decrypted_secrets where name = 'music_queue_secret_key'",
            &[],
        )
        .await?
        .get(0);
    assert_eq!(stored, key, "the filled-in key reached Vault");
    tx.rollback().await?;

    assert_eq!(
        statements_containing(&db, &key).await?,
        0,
        "the key is in pg_stat_statements"
    );
    Ok(())
}

#[tokio::test]
async fn the_documented_psql_command_stops_on_the_first_error() {
    let command = SETUP
        .lines()
        .find(|line| line.contains("psql ") && line.contains("SETUP_MUSIC_QUEUE_CRON.sql"))
        .expect("the file documents a psql command");
    assert!(command.contains("-v ON_ERROR_STOP=1"), "{command}");
}
