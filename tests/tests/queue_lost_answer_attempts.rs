//! A deferral gives back only the attempt its claim counted.
//!
//! After a submit whose answer was lost, the claim that resubmits counts no attempt; if
//! that submit is then refused for the provider's own reasons (430, maintenance) and
//! deferred, the request must keep the attempt the lost submit used, or it could be paid
//! for once more than `max_attempts` allows.

use anyhow::Result;
use stack_tests::sql::{
    call, claim, db, drop_queue, drop_users, enqueue, new_queue, new_user, snapshot, Caller, Claim,
};
use tokio_postgres::Client;

async fn defer(db: &mut Client, claimed: Claim) -> Result<i32> {
    let rows = call(
        db,
        Caller::Service,
        "select attempts from public.defer_music_request($1, $2, 0, 'rate_limited')",
        &[&claimed.id, &claimed.token],
    )
    .await?;
    Ok(rows[0].get(0))
}

async fn lose_the_answer(db: &mut Client, claimed: Claim) -> Result<()> {
    call(
        db,
        Caller::Service,
        "select id from public.await_music_callback($1, $2, 60)",
        &[&claimed.id, &claimed.token],
    )
    .await?;
    // The callback wait ends without a callback: moved forward here.
    db.execute(
        "update public.music_generation_queue
            set run_at = now(), callback_wait_until = now() where id = $1",
        &[&claimed.id],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_deferred_resubmit_after_a_lost_answer_keeps_the_spent_attempt() -> Result<()> {
    let mut db = db().await?;
    let queue = new_queue(&db).await?;
    let user = new_user(&db).await?;
    let id = enqueue(&mut db, &queue, user, "calm").await?;

    let first = claim(&mut db, "w1", 1, 120, &queue).await?;
    assert_eq!(first[0].attempts, 1);
    lose_the_answer(&mut db, first[0]).await?;

    let resubmit = claim(&mut db, "w2", 1, 120, &queue).await?;
    assert_eq!(
        resubmit[0].attempts, 1,
        "a resubmit after a lost answer is free"
    );
    assert_eq!(
        defer(&mut db, resubmit[0]).await?,
        1,
        "the lost submit's attempt stays spent"
    );

    // The next claim counts as usual, and a deferral gives that one back.
    let again = claim(&mut db, "w3", 1, 120, &queue).await?;
    assert_eq!(again[0].attempts, 2);
    assert_eq!(defer(&mut db, again[0]).await?, 1);
    assert_eq!(snapshot(&db, id).await?.status, "pending");

    drop_queue(&db, &queue).await?;
    drop_users(&db, &[user]).await?;
    Ok(())
}
