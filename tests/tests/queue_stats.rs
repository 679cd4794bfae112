//! Statistics on a known dataset give exact numbers, before and after the
//! daily roll-up.

use anyhow::Result;
use serde_json::{json, Value};
use stack_tests::sql;

/// Inserts finished/waiting rows with times relative to now: (status, hours
/// ago it finished, seconds from enqueue and submit to finish, how many).
async fn insert_rows(
    db: &impl tokio_postgres::GenericClient,
    queue: &str,
    user: uuid::Uuid,
    rows: &[(&str, f64, f64, i32)],
) -> Result<()> {
    for &(status, hours_ago, seconds, n) in rows {
        db.execute(
            "insert into public.music_generation_queue
               (user_id, queue, emotion, prompt, status, attempts, lease_owner, lease_token, lease_expires_at,
                result, created_at, submitted_at, completed_at, failed_at, error_code)
             select $1, $2, 'calm', 'stats fixture', $3,
                    case when $3 = 'pending' then 0 else 1 end,
                    case when $3 = 'processing' then 'w' end,
                    case when $3 = 'processing' then gen_random_uuid() end,
                    case when $3 = 'processing' then now() + interval '1 minute' end,
                    case when $3 = 'completed' then '{\"clips\": []}'::jsonb end,
                    now() - make_interval(secs => $4::float8 * 3600 + $5::float8),
                    case when $3 in ('completed', 'failed')
                         then now() - make_interval(secs => $4::float8 * 3600 + $5::float8) end,
                    case when $3 = 'completed' then now() - make_interval(secs => $4::float8 * 3600) end,
                    case when $3 = 'failed' then now() - make_interval(secs => $4::float8 * 3600) end,
                    case when $3 = 'failed' then 'http_503' end
               from generate_series(1, $6::int4)",
            &[&user, &queue, &status, &hours_ago, &seconds, &n],
        )
        .await?;
    }
    Ok(())
}

fn close(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 1e-9)
}

/// Makes the transaction's next statements run as an admin user.
async fn as_admin(tx: &tokio_postgres::Transaction<'_>, admin: uuid::Uuid) -> Result<()> {
    tx.batch_execute("set local role authenticated").await?;
    let claims =
        json!({ "sub": admin, "role": "authenticated", "app_metadata": { "role": "admin" } });
    tx.execute(
        "select set_config('request.jwt.claims', $1, true)",
        &[&claims.to_string()],
    )
    .await?;
    Ok(())
}

/// The whole test runs in one transaction that rolls back: it first pins
/// the statistics horizon before the oldest fixture (so a roll-up by the
/// maintenance job cannot hide rows inserted "in the past"), and later
/// moves it with a real roll-up; the shared horizon is never changed.
#[tokio::test]
async fn stats_on_a_known_dataset_are_exact() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let admin = sql::new_user(&db).await?;

    let tx = db.transaction().await?;
    tx.execute(
        "update public.music_queue_stats_horizon set horizon = now() - interval '11 days'",
        &[],
    )
    .await?;
    insert_rows(
        &tx,
        &queue,
        user,
        &[
            ("pending", 0.0, 0.0, 3),
            ("processing", 0.0, 0.0, 2),
            ("completed", 1.0, 100.0, 1),
            ("completed", 2.0, 200.0, 1),
            ("completed", 3.0, 300.0, 1),
            ("completed", 4.0, 400.0, 1),
            ("completed", 30.0, 1000.0, 2),
            ("failed", 2.5, 10.0, 5),
            ("failed", 10.5, 10.0, 1),
            ("failed", 30.0, 10.0, 1),
        ],
    )
    .await?;

    as_admin(&tx, admin).await?;
    let stats: Value = tx
        .query_one("select public.music_queue_stats($1)", &[&queue])
        .await?
        .get(0);
    assert_eq!(
        stats["counts"],
        json!({ "pending": 3, "processing": 2, "completed": 6, "failed": 7, "cancelled": 0, "total": 18 })
    );
    assert_eq!(stats["last_24h"]["completed"], 4);
    assert_eq!(stats["last_24h"]["failed"], 6);
    assert!(close(&stats["last_24h"]["success_rate"], 0.4), "{stats}");
    assert!(
        close(
            &stats["last_24h"]["mean_seconds_submitted_to_completed"],
            250.0
        ),
        "{stats}"
    );
    assert_eq!(stats["all_time"]["completed"], 6);
    assert_eq!(stats["all_time"]["failed"], 7);
    assert!(
        close(&stats["all_time"]["success_rate"], 6.0 / 13.0),
        "{stats}"
    );
    assert!(
        close(
            &stats["all_time"]["mean_seconds_submitted_to_completed"],
            500.0
        ),
        "{stats}"
    );

    let hours = stats["failures_per_hour"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    let per_hour: Vec<(i64, i64, bool)> = hours
        .iter()
        .filter(|h| h["failed"] != 0)
        .map(|h| {
            (
                h["hours_ago"].as_i64().unwrap(),
                h["failed"].as_i64().unwrap(),
                h["spike"] == true,
            )
        })
        .collect();
    assert_eq!(
        per_hour,
        [(10, 1, false), (2, 5, true)],
        "oldest first; only the 5-failure hour spikes"
    );
    assert_eq!(hours.last().unwrap()["hours_ago"], 0);
    assert_eq!(stats["spike"]["detected"], true);
    assert_eq!(stats["spike"]["spike_hours"], 1);
    assert!(close(&stats["spike"]["median_failures_per_hour"], 0.0));
    assert!(close(&stats["spike"]["failure_rate_24h"], 0.6));
    assert_eq!(stats["spike"]["reasons"].as_array().unwrap().len(), 2);

    // The chart series: clock hours, the current one last. The rows that
    // finished 30 h ago were also enqueued before the window.
    let series = tx
        .query_one(
            "select count(*), sum(enqueued)::int8, sum(completed)::int8, sum(failed)::int8
               from public.music_queue_timeseries(24, $1)",
            &[&queue],
        )
        .await?;
    let totals: (i64, i64, i64, i64) = (series.get(0), series.get(1), series.get(2), series.get(3));
    assert_eq!(totals, (24, 15, 4, 6));

    // After a roll-up the numbers are the same, finished rows of past days
    // now come from the daily totals, and an admin retry takes its failure
    // back out of them.
    tx.batch_execute("reset role").await?;
    insert_rows(
        &tx,
        &queue,
        user,
        &[("completed", 240.0, 50.0, 3), ("failed", 240.0, 5.0, 2)],
    )
    .await?;
    tx.batch_execute("set local role service_role").await?;
    tx.execute("select public.rollup_music_queue_stats()", &[])
        .await?;
    let rolled: Value = tx
        .query_one("select public.music_queue_stats($1)", &[&queue])
        .await?
        .get(0);
    assert_eq!(
        rolled["counts"],
        json!({ "pending": 3, "processing": 2, "completed": 9, "failed": 9, "cancelled": 0, "total": 23 })
    );
    assert_eq!(rolled["last_24h"], stats["last_24h"]);
    assert!(
        close(
            &rolled["all_time"]["mean_seconds_submitted_to_completed"],
            350.0
        ),
        "{rolled}"
    );
    let daily: i64 = tx
        .query_one(
            "select coalesce(sum(completed + failed), 0)::int8 from public.music_queue_daily_totals where queue = $1",
            &[&queue],
        )
        .await?
        .get(0);
    assert!(
        daily >= 8,
        "rows of past days are in the daily totals ({daily})"
    );

    let old_failed: uuid::Uuid = tx
        .query_one(
            "select id from public.music_generation_queue
              where queue = $1 and status = 'failed' and failed_at < now() - interval '9 days' limit 1",
            &[&queue],
        )
        .await?
        .get(0);
    tx.execute(
        "select public.admin_retry_music_request($1)",
        &[&old_failed],
    )
    .await?;
    let after: Value = tx
        .query_one("select public.music_queue_stats($1)", &[&queue])
        .await?
        .get(0);
    assert_eq!(
        after["counts"],
        json!({ "pending": 4, "processing": 2, "completed": 9, "failed": 8, "cancelled": 0, "total": 23 })
    );
    tx.rollback().await?;

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user, admin]).await?;
    Ok(())
}
