//! Pauses and the order of claims: an automatic pause of the provider
//! (suno_api_status.paused_until) stops claims and token takes inside the
//! same statement, apart from an admin's manual pause of a queue; and a
//! deferred request keeps its place in line.
//!
//! The provider's status is one row shared by every test, so the tests that
//! pause it do so inside a transaction they roll back.

use std::time::Duration;

use anyhow::Result;
use stack_tests::sql::{self, Caller};
use tokio_postgres::Transaction;
use uuid::Uuid;

/// Claims of `queue` as the worker, inside `tx` (already `service_role`).
async fn claimed(tx: &Transaction<'_>, queue: &str) -> Result<usize> {
    let rows = tx
        .query(
            "select id from public.claim_music_requests('w', 5, 60, $1)",
            &[&queue],
        )
        .await?;
    Ok(rows.len())
}

/// A fresh token bucket with room left.
async fn new_bucket(db: &tokio_postgres::Client) -> Result<String> {
    let name = format!("t-{}", &Uuid::new_v4().simple().to_string()[..12]);
    db.execute(
        "insert into public.music_rate_limits (name, capacity, window_seconds) values ($1, 5, 10)",
        &[&name],
    )
    .await?;
    Ok(name)
}

/// Item 8: while the provider is paused (cool-down, circuit open, bad
/// key...), nothing is claimed and no token is granted, whoever calls, with
/// no need to read the status first; resuming the queue by hand does not
/// lift it. Once the pause is gone, both work again.
#[tokio::test]
async fn a_provider_pause_stops_claims_and_token_takes() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let bucket = new_bucket(&db).await?;
    let id = sql::enqueue(&mut db, &queue, user, "calm").await?;

    let tx = db.transaction().await?;
    tx.execute(
        "update public.suno_api_status set paused_until = now() + interval '60 seconds', pause_kind = 'cooldown'",
        &[],
    )
    .await?;
    tx.batch_execute("set local role service_role").await?;
    assert_eq!(claimed(&tx, &queue).await?, 0, "claimed while paused");
    let one = tx
        .query(
            "select id from public.claim_music_request($1, 'direct')",
            &[&id],
        )
        .await?;
    assert!(one.is_empty(), "claimed directly while paused");
    let token = tx
        .query_one(
            "select granted, wait_ms from public.take_rate_token($1)",
            &[&bucket],
        )
        .await?;
    assert!(!token.get::<_, bool>(0), "a token granted while paused");
    let wait_ms: i32 = token.get(1);
    assert!(
        (50_000..=60_000).contains(&wait_ms),
        "wait until the pause ends, got {wait_ms} ms"
    );
    tx.query("select public.resume_music_queue($1)", &[&queue])
        .await?;
    assert_eq!(
        claimed(&tx, &queue).await?,
        0,
        "a manual resume lifted the provider pause"
    );
    tx.rollback().await?;

    let tx = db.transaction().await?;
    tx.batch_execute("set local role service_role").await?;
    let granted: bool = tx
        .query_one("select granted from public.take_rate_token($1)", &[&bucket])
        .await?
        .get(0);
    assert!(granted);
    assert_eq!(claimed(&tx, &queue).await?, 1);
    tx.rollback().await?;

    db.execute(
        "delete from public.music_rate_limits where name = $1",
        &[&bucket],
    )
    .await?;
    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

/// Item 8: an admin's pause is not lifted by a healthy provider check.
#[tokio::test]
async fn a_healthy_check_does_not_lift_a_manual_pause() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    sql::enqueue(&mut db, &queue, user, "joy").await?;
    let pause = "select paused from public.pause_music_queue('maintenance window', $1)";
    sql::call(&mut db, Caller::Service, pause, &[&queue]).await?;

    let tx = db.transaction().await?;
    tx.batch_execute("set local role service_role").await?;
    tx.query("select public.record_suno_status_check('up', 120)", &[])
        .await?;
    assert_eq!(
        claimed(&tx, &queue).await?,
        0,
        "a healthy check resumed the queue"
    );
    tx.rollback().await?;

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

/// Item 9: a request claimed and then deferred (rate limit, circuit open)
/// goes out before the requests enqueued meanwhile once its delay is over.
#[tokio::test]
async fn a_deferred_request_keeps_its_place_in_line() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let first = sql::enqueue(&mut db, &queue, user, "sad").await?;
    let claim = sql::claim(&mut db, "w", 1, 60, &queue).await?[0];
    assert_eq!(claim.id, first);
    let later = sql::enqueue(&mut db, &queue, user, "joy").await?;
    let defer = "select id from public.defer_music_request($1, $2, 1, 'rate_limited')";
    sql::call(&mut db, Caller::Service, defer, &[&first, &claim.token]).await?;
    let latest = sql::enqueue(&mut db, &queue, user, "calm").await?;

    tokio::time::sleep(Duration::from_millis(1300)).await;
    // Two places free: the deferred request and the one enqueued before its deferral.
    let mut next: Vec<Uuid> = sql::claim(&mut db, "w", 2, 60, &queue)
        .await?
        .iter()
        .map(|c| c.id)
        .collect();
    next.sort();
    let mut expected = vec![first, later];
    expected.sort();
    assert_eq!(next, expected, "the deferred request lost its place");
    assert_eq!(sql::claim(&mut db, "w", 2, 60, &queue).await?[0].id, latest);

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}
