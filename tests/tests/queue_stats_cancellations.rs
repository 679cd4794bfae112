//! Statistics tell an admin's cancellations apart from failures, and report
//! both the user's wait (enqueue to completion) and the provider's time
//! (submit to completion) (item 17), before and after the daily roll-up.

use anyhow::Result;
use serde_json::{json, Value};
use stack_tests::sql;

/// Inserts `n` finished rows `hours_ago` hours ago: created `waited` s and
/// submitted `provider` s before they finished.
#[allow(clippy::too_many_arguments)]
async fn finished(
    db: &impl tokio_postgres::GenericClient,
    queue: &str,
    user: uuid::Uuid,
    status: &str,
    error_code: Option<&str>,
    hours_ago: f64,
    (waited, provider): (f64, f64),
    n: i32,
) -> Result<()> {
    db.execute(
        "insert into public.music_generation_queue
           (user_id, queue, emotion, prompt, status, attempts, result, created_at, submitted_at,
            completed_at, failed_at, error_code, error_message)
         select $1, $2, 'calm', 'stats fixture', $3, 1,
                case when $3 = 'completed' then '{\"clips\": []}'::jsonb end,
                t - make_interval(secs => $5::float8), t - make_interval(secs => $6::float8),
                case when $3 = 'completed' then t end,
                case when $3 = 'failed' then t end,
                $7::text, case when $3 = 'failed' then 'fixture' end
           from generate_series(1, $8::int4),
                lateral (select now() - make_interval(secs => $4::float8 * 3600) as t) x",
        &[
            &user,
            &queue,
            &status,
            &hours_ago,
            &waited,
            &provider,
            &error_code,
            &n,
        ],
    )
    .await?;
    Ok(())
}

fn close(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 1e-6)
}

#[tokio::test]
async fn cancellations_are_not_failures_and_both_waits_are_reported() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;

    // One transaction that rolls back, with the horizon pinned before the
    // oldest fixture (see queue_stats.rs).
    let tx = db.transaction().await?;
    tx.execute(
        "update public.music_queue_stats_horizon set horizon = now() - interval '11 days'",
        &[],
    )
    .await?;
    finished(&tx, &queue, user, "completed", None, 1.0, (600.0, 100.0), 2).await?;
    finished(
        &tx,
        &queue,
        user,
        "failed",
        Some("http_503"),
        1.0,
        (90.0, 10.0),
        1,
    )
    .await?;
    finished(
        &tx,
        &queue,
        user,
        "failed",
        Some("cancelled"),
        1.5,
        (30.0, 10.0),
        4,
    )
    .await?;
    tx.batch_execute("set local role service_role").await?;

    let stats: Value = tx
        .query_one("select public.music_queue_stats($1)", &[&queue])
        .await?
        .get(0);
    assert_eq!(
        stats["counts"],
        json!({ "pending": 0, "processing": 0, "completed": 2, "failed": 1, "cancelled": 4, "total": 7 })
    );
    let day = &stats["last_24h"];
    assert_eq!(
        (&day["completed"], &day["failed"], &day["cancelled"]),
        (&json!(2), &json!(1), &json!(4))
    );
    assert!(close(&day["success_rate"], 2.0 / 3.0), "{stats}");
    assert!(
        close(&day["mean_seconds_created_to_completed"], 600.0),
        "{stats}"
    );
    assert!(
        close(&day["mean_seconds_submitted_to_completed"], 100.0),
        "{stats}"
    );
    assert!(
        close(&stats["spike"]["failure_rate_24h"], 1.0 / 3.0),
        "{stats}"
    );
    let failed_hours: i64 = stats["failures_per_hour"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["failed"].as_i64().unwrap())
        .sum();
    assert_eq!(failed_hours, 1, "cancellations are not failures per hour");

    let series = tx
        .query_one(
            "select sum(failed)::int8, sum(cancelled)::int8 from public.music_queue_timeseries(24, $1)",
            &[&queue],
        )
        .await?;
    assert_eq!((series.get::<_, i64>(0), series.get::<_, i64>(1)), (1, 4));

    // Old rows move into the daily totals; the figures keep them apart.
    tx.batch_execute("reset role").await?;
    finished(
        &tx,
        &queue,
        user,
        "completed",
        None,
        240.0,
        (1200.0, 300.0),
        2,
    )
    .await?;
    finished(
        &tx,
        &queue,
        user,
        "failed",
        Some("cancelled"),
        240.0,
        (30.0, 10.0),
        3,
    )
    .await?;
    tx.batch_execute("set local role service_role").await?;
    tx.execute("select public.rollup_music_queue_stats()", &[])
        .await?;
    let rolled: Value = tx
        .query_one("select public.music_queue_stats($1)", &[&queue])
        .await?
        .get(0);
    let all = &rolled["all_time"];
    assert_eq!(
        (&all["completed"], &all["failed"], &all["cancelled"]),
        (&json!(4), &json!(1), &json!(7))
    );
    assert!(close(&all["success_rate"], 4.0 / 5.0), "{rolled}");
    assert!(
        close(&all["mean_seconds_created_to_completed"], 900.0),
        "{rolled}"
    );
    assert!(
        close(&all["mean_seconds_submitted_to_completed"], 200.0),
        "{rolled}"
    );
    let daily = tx
        .query_one(
            "select coalesce(sum(failed), 0)::int8, coalesce(sum(cancelled), 0)::int8
               from public.music_queue_daily_totals where queue = $1",
            &[&queue],
        )
        .await?;
    assert_eq!((daily.get::<_, i64>(0), daily.get::<_, i64>(1)), (0, 3));
    tx.rollback().await?;

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await
}
