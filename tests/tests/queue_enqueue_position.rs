//! The place in line that enqueue answers is counted up to a bound, so its
//! cost does not grow with the backlog (item 10): past the bound the answer
//! is "1000+" (`queue_position` 1000 with `queue_position_capped`).

use anyhow::Result;
use serde_json::{json, Value};
use stack_tests::sql::{self, Caller};

async fn enqueue_ticket(
    db: &mut tokio_postgres::Client,
    queue: &str,
    user: uuid::Uuid,
) -> Result<Value> {
    let rows = sql::call(
        db,
        Caller::Service,
        "select public.enqueue_music_request(p_emotion => 'calm', p_user_id => $1, p_queue => $2)",
        &[&user, &queue],
    )
    .await?;
    Ok(rows[0].get(0))
}

#[tokio::test]
async fn position_is_exact_below_the_bound() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    sql::insert_pending(&db, &queue, user, 3).await?;

    let ticket = enqueue_ticket(&mut db, &queue, user).await?;
    assert_eq!(ticket["queue_position"], json!(4), "{ticket}");
    assert_eq!(ticket["queue_position_capped"], json!(false), "{ticket}");

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await
}

#[tokio::test]
async fn position_past_the_bound_is_answered_as_1000_plus() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    sql::insert_pending(&db, &queue, user, 1500).await?;

    let ticket = enqueue_ticket(&mut db, &queue, user).await?;
    assert_eq!(ticket["queue_position"], json!(1000), "{ticket}");
    assert_eq!(ticket["queue_position_capped"], json!(true), "{ticket}");
    // The wait estimate still counts the runs needed to reach place 1000.
    let runs_to_1000 = 1000 / 5 * 60;
    assert!(
        ticket["estimated_wait_seconds"].as_i64().unwrap() >= runs_to_1000,
        "{ticket}"
    );

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await
}

/// The answer uses the place three times (position, cap, wait) and counts
/// it once: PostgreSQL had folded the count into each use and ran it three
/// times per enqueue.
#[tokio::test]
async fn place_is_counted_once_per_enqueue() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let (waiting, asker) = (sql::new_user(&db).await?, sql::new_user(&db).await?);
    sql::insert_pending(&db, &queue, waiting, 1500).await?;

    // Rows this transaction has read from the queue table so far. With
    // sequential scans off, the count walks the claim index and reads one
    // row per place, up to 999.
    let rows_read = "select idx_tup_fetch + seq_tup_read from pg_stat_xact_user_tables
                      where relid = 'public.music_generation_queue'::regclass";
    let tx = db.transaction().await?;
    tx.batch_execute("set local enable_seqscan = off").await?;
    let before: i64 = tx.query_one(rows_read, &[]).await?.get(0);
    let ticket: Value = tx
        .query_one(
            "select public.enqueue_music_request(p_emotion => 'calm', p_user_id => $1, p_queue => $2)",
            &[&asker, &queue],
        )
        .await?
        .get(0);
    let after: i64 = tx.query_one(rows_read, &[]).await?.get(0);
    tx.commit().await?;

    assert_eq!(ticket["queue_position_capped"], json!(true), "{ticket}");
    let read = after - before;
    assert!(
        (999..1500).contains(&read),
        "one count reads 999 rows, three read about 3000; read {read}"
    );

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[waiting, asker]).await
}
