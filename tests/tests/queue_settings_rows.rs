//! Queue behaviour lives once, in the `music_queues` row: an admin changes it with
//! `configure_music_queue`, the worker reads the row (`QueueSettings::from_row`), and a new
//! request takes its attempts from it. The environment no longer carries any of it.

use anyhow::Result;
use music_core::QueueSettings;
use serde_json::Value;
use stack_tests::sql::{self, Caller};

#[tokio::test]
async fn an_admin_configures_how_the_worker_drains_a_queue() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let admin = sql::new_user(&db).await?;
    let user = sql::new_user(&db).await?;
    let rows = sql::call(
        &mut db,
        Caller::Admin(admin),
        "select to_jsonb(q) from public.configure_music_queue($1, p_batch_size => 7,
                p_submit_spacing_ms => 500, p_max_attempts => 4) q",
        &[&queue],
    )
    .await?;
    let row: Value = rows[0].get(0);
    let settings = QueueSettings::from_row(&row)?;
    assert_eq!(
        (
            settings.batch_size,
            settings.submit_spacing_ms,
            settings.paused
        ),
        (7, 500, false)
    );
    assert_eq!(row["max_attempts"], 4);

    // Unchanged fields keep their value.
    let rows = sql::call(
        &mut db,
        Caller::Service,
        "select to_jsonb(q) from public.configure_music_queue($1, p_batch_size => 9) q",
        &[&queue],
    )
    .await?;
    let row: Value = rows[0].get(0);
    assert_eq!(
        (&row["batch_size"], &row["submit_spacing_ms"]),
        (&Value::from(9), &Value::from(500))
    );

    // A new request gets the queue's attempts.
    let id = sql::enqueue(&mut db, &queue, user, "calm").await?;
    let attempts: i32 = db
        .query_one(
            "select max_attempts from public.music_generation_queue where id = $1",
            &[&id],
        )
        .await?
        .get(0);
    assert_eq!(attempts, 4);

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[admin, user]).await?;
    Ok(())
}

#[tokio::test]
async fn only_admins_configure_and_values_are_checked() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let admin = sql::new_user(&db).await?;
    let user = sql::new_user(&db).await?;
    let configure = "select public.configure_music_queue($1, p_batch_size => $2)";
    let refused = sql::call(&mut db, Caller::User(user), configure, &[&queue, &3]).await;
    sql::expect_sqlstate(refused, "42501");
    let refused = sql::call(&mut db, Caller::Anon, configure, &[&queue, &3]).await;
    sql::expect_sqlstate(refused, "42501");
    let bad = sql::call(&mut db, Caller::Admin(admin), configure, &[&queue, &0]).await;
    let error = sql::expect_sqlstate(bad, "22023");
    let detail = error.as_db_error().and_then(|e| e.detail()).unwrap_or("");
    assert_eq!(detail, "field: batch_size");
    let unknown = sql::call(
        &mut db,
        Caller::Admin(admin),
        configure,
        &[&"no-such-queue", &3],
    )
    .await;
    sql::expect_sqlstate(unknown, "P0002");
    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[admin, user]).await?;
    Ok(())
}
