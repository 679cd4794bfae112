//! The operator's queries in `sql/monitoring.sql`, run as written against
//! the stand-in tables.

use anyhow::{Context, Result};
use stack_tests::StackEnv;

/// Query `number` of the file: from its `-- N.` heading to its `;`.
fn monitoring_query(number: u32) -> Result<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../sql/monitoring.sql");
    let file = std::fs::read_to_string(path)?;
    let start = file
        .find(&format!("\n-- {number}. "))
        .with_context(|| format!("no query {number} in monitoring.sql"))?;
    let end = start + file[start..].find(';').context("no end of the query")?;
    Ok(file[start..end].to_string())
}

/// pg_net before 0.19.6 leaves `timed_out` NULL on every failure; only the
/// error text tells a timeout. The hourly outcome query counts both kinds.
#[tokio::test]
async fn hourly_outcomes_count_timeouts_of_every_pg_net_version() -> Result<()> {
    let mut db = StackEnv::from_env()?.db().await?;
    let hourly = monitoring_query(5)?;
    // Rolled back: nothing stays in net._http_response.
    let tx = db.transaction().await?;
    tx.execute(
        "insert into net._http_response (id, timed_out, error_msg, created) values
           (-1, null, 'Timeout of 5000 ms reached. Total time: 5001.000000 ms (DNS time: 0.100000 ms, TCP/SSL handshake time: 0.200000 ms, HTTP Request/Response time: 5000.700000 ms)', '2001-01-01 10:15+00'),
           (-2, true, 'Timeout of 5000 ms reached. Total time: 5001.000000 ms (DNS time: 0.100000 ms, TCP/SSL handshake time: 0.200000 ms, HTTP Request/Response time: 5000.700000 ms)', '2001-01-01 10:20+00'),
           (-3, null, 'Couldn''t connect to server', '2001-01-01 10:25+00')",
        &[],
    )
    .await?;
    let row = tx
        .query_one(
            &format!(
                "select calls, timed_out, transport_errors from ({hourly}) per_hour
                  where hour = date_trunc('hour', '2001-01-01 10:15+00'::timestamptz)"
            ),
            &[],
        )
        .await?;
    let counts: (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(counts, (3, 2, 3), "calls, timed out, transport errors");
    tx.rollback().await?;
    Ok(())
}

/// The runs and alerts queries read what the worker records.
#[tokio::test]
async fn the_runs_and_alerts_queries_show_a_recorded_run() -> Result<()> {
    let mut db = StackEnv::from_env()?.db().await?;
    let (runs, alerts) = (monitoring_query(12)?, monitoring_query(13)?);
    // Rolled back: the run does not stay.
    let tx = db.transaction().await?;
    let id: uuid::Uuid = tx
        .query_one(
            "select id from public.start_music_worker_run('manual', 'monitoring-test')",
            &[],
        )
        .await?
        .get(0);
    tx.execute(
        "select public.finish_music_worker_run($1, '{\"claimed\": 3, \"skipped_reason\": \"cap_reached\"}', null)",
        &[&id],
    )
    .await?;
    let row = tx
        .query_one(
            &format!("select status, claimed, skipped_reason from ({runs}) r where worker_id = 'monitoring-test'"),
            &[],
        )
        .await?;
    let seen: (String, Option<String>, Option<String>) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(
        seen,
        (
            "finished".into(),
            Some("3".into()),
            Some("cap_reached".into())
        )
    );
    tx.query(&alerts, &[]).await?;
    tx.rollback().await?;
    Ok(())
}
