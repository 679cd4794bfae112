//! The failure-rate alert: raised when more than 20 % of at least 5 requests finished in the
//! last hour failed (an admin's cancellation is no failure), at most once per hour per kind,
//! even when two workers check at once; admins read alerts.

use anyhow::Result;
use serde_json::Value;
use stack_tests::sql::{self, Caller};
use uuid::Uuid;

/// Finished requests of the last hour, inserted directly: `completed`, `failed`, and
/// `cancelled` (failed by an admin).
async fn finished(
    db: &tokio_postgres::Client,
    queue: &str,
    user: Uuid,
    completed: i32,
    failed: i32,
    cancelled: i32,
) -> Result<()> {
    db.execute(
        "insert into public.music_generation_queue
           (user_id, queue, emotion, prompt, status, completed_at, result)
         select $1, $2, 'calm', 'done ' || i, 'completed', now() - interval '10 minutes',
                '{\"clips\": []}'
           from generate_series(1, $3) as i",
        &[&user, &queue, &completed],
    )
    .await?;
    db.execute(
        "insert into public.music_generation_queue
           (user_id, queue, emotion, prompt, status, failed_at, error_code)
         select $1, $2, 'calm', 'failed ' || i, 'failed', now() - interval '5 minutes',
                case when i <= $3::int then 'http_503' else 'cancelled' end
           from generate_series(1, $3::int + $4::int) as i",
        &[&user, &queue, &failed, &cancelled],
    )
    .await?;
    Ok(())
}

async fn check(db: &mut tokio_postgres::Client, queue: &str) -> Result<Vec<Value>> {
    let rows = sql::call(
        db,
        Caller::Service,
        "select to_jsonb(a) from public.record_music_alert_if_due($1) a",
        &[&queue],
    )
    .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

#[tokio::test]
async fn too_few_or_too_rare_failures_raise_nothing() -> Result<()> {
    let mut db = sql::db().await?;
    let user = sql::new_user(&db).await?;

    // Four finished, all failed: below the minimum sample.
    let small = sql::new_queue(&db).await?;
    finished(&db, &small, user, 0, 4, 0).await?;
    assert!(check(&mut db, &small).await?.is_empty());

    // Exactly 20 % failed: not more than 20 %. The cancellations count for nothing.
    let even = sql::new_queue(&db).await?;
    finished(&db, &even, user, 4, 1, 6).await?;
    assert!(check(&mut db, &even).await?.is_empty());

    // Failures older than an hour are not counted.
    let old = sql::new_queue(&db).await?;
    finished(&db, &old, user, 2, 3, 0).await?;
    db.execute(
        "update public.music_generation_queue set failed_at = now() - interval '61 minutes'
          where queue = $1 and status = 'failed'",
        &[&old],
    )
    .await?;
    assert!(check(&mut db, &old).await?.is_empty());

    for queue in [small, even, old] {
        sql::drop_queue(&db, &queue).await?;
    }
    sql::drop_users(&db, &[user]).await
}

#[tokio::test]
async fn a_high_failure_rate_raises_one_alert_an_hour() -> Result<()> {
    let mut db = sql::db().await?;
    let user = sql::new_user(&db).await?;
    let admin = sql::new_user(&db).await?;
    let queue = sql::new_queue(&db).await?;
    finished(&db, &queue, user, 3, 2, 5).await?;

    let raised = check(&mut db, &queue).await?;
    assert_eq!(raised.len(), 1, "{raised:?}");
    let alert = &raised[0];
    assert_eq!(alert["kind"], "failure_rate");
    assert_eq!(
        (&alert["figures"]["finished"], &alert["figures"]["failed"]),
        (&Value::from(5), &Value::from(2))
    );
    assert_eq!(alert["figures"]["failure_rate"], 0.4);
    assert!(
        alert["message"].as_str().unwrap().contains("2 of the 5"),
        "{alert}"
    );

    // Within the hour the same kind is quiet, however bad it gets.
    finished(&db, &queue, user, 0, 10, 0).await?;
    assert!(check(&mut db, &queue).await?.is_empty());

    // Admins read alerts; users do not.
    let read = "select count(*) from public.music_alerts where queue = $1";
    let rows = sql::call(&mut db, Caller::Admin(admin), read, &[&queue]).await?;
    assert_eq!(rows[0].get::<_, i64>(0), 1);
    let rows = sql::call(&mut db, Caller::User(user), read, &[&queue]).await?;
    assert_eq!(rows[0].get::<_, i64>(0), 0);
    let refused = sql::call(
        &mut db,
        Caller::Admin(admin),
        "select * from public.record_music_alert_if_due($1)",
        &[&queue],
    )
    .await;
    sql::expect_sqlstate(refused, "42501");

    // An hour later it may be raised again.
    db.execute(
        "update public.music_alerts
            set created_at = created_at - interval '61 minutes', quiet_until = quiet_until - interval '61 minutes'
          where queue = $1",
        &[&queue],
    )
    .await?;
    assert_eq!(check(&mut db, &queue).await?.len(), 1);

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user, admin]).await
}

#[tokio::test]
async fn two_workers_checking_at_once_raise_one_alert() -> Result<()> {
    let db = sql::db().await?;
    let user = sql::new_user(&db).await?;
    let queue = sql::new_queue(&db).await?;
    finished(&db, &queue, user, 1, 9, 0).await?;

    let checks = (0..8).map(|_| {
        let queue = queue.clone();
        async move {
            let mut db = sql::db().await?;
            check(&mut db, &queue).await
        }
    });
    let raised: usize = futures::future::try_join_all(checks)
        .await?
        .iter()
        .map(Vec::len)
        .sum();
    assert_eq!(raised, 1);

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await
}
