//! Claiming: concurrency, lease expiry, pause, ordering.
//!
//! Each test owns a queue (see `stack_tests::sql`), so they run in parallel
//! beside each other and beside the real worker.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Result;
use stack_tests::sql::{self, Caller};
use uuid::Uuid;

/// 8 workers drain 10,000 waiting requests: each request goes to exactly
/// one worker and none is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_claimers_take_ten_thousand_requests_exactly_once() -> Result<()> {
    let db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    sql::insert_pending(&db, &queue, user, 10_000).await?;

    let mut workers = Vec::new();
    for w in 0..8 {
        let queue = queue.clone();
        workers.push(tokio::spawn(async move {
            let mut db = sql::db().await?;
            let mut mine = Vec::new();
            loop {
                let claims = sql::claim(&mut db, &format!("claimer-{w}"), 5, 120, &queue).await?;
                if claims.is_empty() {
                    break;
                }
                mine.extend(claims.into_iter().map(|c| c.id));
            }
            anyhow::Ok(mine)
        }));
    }

    let mut all = Vec::new();
    let mut busy_workers = 0;
    for worker in workers {
        let mine = worker.await??;
        busy_workers += usize::from(!mine.is_empty());
        all.extend(mine);
    }
    let distinct: HashSet<Uuid> = all.iter().copied().collect();
    assert_eq!(all.len(), 10_000, "claims handed out");
    assert_eq!(distinct.len(), 10_000, "a request was claimed twice");
    assert!(busy_workers > 1, "only one worker got anything");

    let left: i64 = db
        .query_one(
            "select count(*) from public.music_generation_queue where queue = $1 and status <> 'processing'",
            &[&queue],
        )
        .await?
        .get(0);
    assert_eq!(left, 0, "requests left unclaimed");
    let once: i64 = db
        .query_one(
            "select count(*) from public.music_generation_queue where queue = $1 and attempts = 1",
            &[&queue],
        )
        .await?
        .get(0);
    assert_eq!(once, 10_000, "every request counted exactly one attempt");

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

/// A lease that runs out lets another worker claim the request; the first
/// owner's completion then changes nothing, the second owner's does.
#[tokio::test]
async fn expired_lease_is_claimed_again_and_the_first_owner_changes_nothing() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let id = sql::enqueue(&mut db, &queue, user, "calm").await?;

    let first = sql::claim(&mut db, "first", 5, 1, &queue).await?;
    assert_eq!(first.len(), 1);
    assert!(
        sql::claim(&mut db, "second", 5, 60, &queue)
            .await?
            .is_empty(),
        "lease still running"
    );

    tokio::time::sleep(Duration::from_millis(1300)).await;
    let second = sql::claim(&mut db, "second", 5, 60, &queue).await?;
    assert_eq!(second.len(), 1, "expired lease not taken back");
    assert_eq!(second[0].id, id);
    assert_eq!(second[0].attempts, 2);
    assert_ne!(second[0].token, first[0].token);

    assert!(
        !sql::complete(&mut db, first[0]).await?,
        "stale owner completed the request"
    );
    assert_eq!(sql::snapshot(&db, id).await?.status, "processing");
    assert!(sql::complete(&mut db, second[0]).await?);
    assert_eq!(sql::snapshot(&db, id).await?.status, "completed");
    assert!(
        !sql::complete(&mut db, second[0]).await?,
        "a duplicate completion changed the row"
    );

    let events = sql::events(&db, id).await?;
    assert_eq!(events, ["enqueued", "claimed", "claimed", "completed"]);

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

/// Once submitted, a request is never claimed again (that would pay the
/// provider twice), even after its lease ran out; polls hand it out instead.
#[tokio::test]
async fn submitted_request_is_polled_not_reclaimed() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let id = sql::enqueue(&mut db, &queue, user, "joy").await?;
    let claim = sql::claim(&mut db, "w", 1, 1, &queue).await?[0];

    let task = format!("task-{}", Uuid::new_v4().simple());
    let submitted = sql::call(
        &mut db,
        Caller::Service,
        "select suno_task_id from public.mark_music_request_submitted($1, $2, $3, 'V4_5', 1)",
        &[&claim.id, &claim.token, &task],
    )
    .await?;
    assert_eq!(submitted.len(), 1);
    let again = sql::call(
        &mut db,
        Caller::Service,
        "select 1 from public.mark_music_request_submitted($1, $2, 'other-task')",
        &[&claim.id, &claim.token],
    )
    .await?;
    assert!(again.is_empty(), "a second submit was recorded");

    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(
        sql::claim(&mut db, "w2", 5, 60, &queue).await?.is_empty(),
        "submitted request reclaimed"
    );

    let poll = "select id, lease_token from public.claim_music_polls('poller', 10, 30, $1)";
    let polled = sql::call(&mut db, Caller::Service, poll, &[&queue]).await?;
    assert_eq!(polled.len(), 1);
    assert_eq!(polled[0].get::<_, Uuid>(0), id);
    assert_eq!(
        polled[0].get::<_, Uuid>(1),
        claim.token,
        "polls keep the lease token"
    );
    assert!(
        sql::call(&mut db, Caller::Service, poll, &[&queue])
            .await?
            .is_empty(),
        "polled twice"
    );

    assert!(sql::complete(&mut db, claim).await?);
    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

/// A paused queue gives nothing to claims; resumed, it does again. Only
/// admins may pause.
#[tokio::test]
async fn paused_queue_gives_nothing_until_resumed() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let admin = sql::new_user(&db).await?;
    sql::enqueue(&mut db, &queue, user, "sad").await?;

    let pause = "select paused, paused_by from public.pause_music_queue('maintenance window', $1)";
    sql::expect_sqlstate(
        sql::call(&mut db, Caller::User(user), pause, &[&queue]).await,
        "42501",
    );
    let paused = sql::call(&mut db, Caller::Admin(admin), pause, &[&queue]).await?;
    assert!(paused[0].get::<_, bool>(0));
    assert_eq!(paused[0].get::<_, String>(1), format!("user:{admin}"));

    assert!(
        sql::claim(&mut db, "w", 5, 60, &queue).await?.is_empty(),
        "paused queue gave a request"
    );

    sql::call(
        &mut db,
        Caller::Admin(admin),
        "select public.resume_music_queue($1)",
        &[&queue],
    )
    .await?;
    assert_eq!(
        sql::claim(&mut db, "w", 5, 60, &queue).await?.len(),
        1,
        "resumed queue gave nothing"
    );

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user, admin]).await?;
    Ok(())
}

/// Claims follow priority (lower first), then run_at; future run_at waits.
#[tokio::test]
async fn claims_follow_priority_then_run_at() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let enqueue = "select (public.enqueue_music_request(p_emotion => 'joy', p_user_id => $1, p_queue => $2,
                     p_priority => $3, p_run_at => now() + make_interval(secs => $4)) ->> 'id')::uuid";
    let mut ids = Vec::new();
    for (priority, offset) in [(5, -10.0), (5, -20.0), (1, -1.0), (0, 3600.0)] {
        let row = sql::call(
            &mut db,
            Caller::Service,
            enqueue,
            &[&user, &queue, &priority, &offset],
        )
        .await?;
        ids.push(row[0].get::<_, Uuid>(0));
    }
    let order: Vec<Uuid> = sql::claim(&mut db, "w", 10, 60, &queue)
        .await?
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(
        order,
        [ids[2], ids[1], ids[0]],
        "priority, then run_at; the future one waits"
    );

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

/// Two workers in open transactions get different rows; a claim rolled back
/// leaves its row claimable.
#[tokio::test]
async fn open_claims_skip_each_other_and_rollback_releases() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    sql::insert_pending(&db, &queue, user, 2).await?;

    let mut a = sql::db().await?;
    let mut b = sql::db().await?;
    let claim_one = "select id from public.claim_music_requests('w', 1, 60, $1)";
    let ta = a.transaction().await?;
    ta.batch_execute("set local role service_role").await?;
    let got_a: Uuid = ta.query_one(claim_one, &[&queue]).await?.get(0);

    let tb = b.transaction().await?;
    tb.batch_execute("set local role service_role").await?;
    let got_b: Uuid = tb.query_one(claim_one, &[&queue]).await?.get(0);
    assert_ne!(got_a, got_b, "two open claims got the same row");
    tb.commit().await?;
    ta.rollback().await?;

    let again = sql::claim(&mut db, "w3", 5, 60, &queue).await?;
    assert_eq!(
        again.iter().map(|c| c.id).collect::<Vec<_>>(),
        [got_a],
        "rolled-back claim not released"
    );

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}
