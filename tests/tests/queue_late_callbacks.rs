//! `music_callback_is_late`: the callback route answers 200 and changes nothing only for a
//! request already finished and only with its own token. A callback that overtakes the
//! worker (claimed, the task's id not stored yet) is not late: the route refuses it, so
//! the provider sends it again.

use anyhow::Result;
use stack_tests::sql::{
    call, claim, complete, db, drop_queue, drop_users, enqueue, expect_sqlstate, new_queue,
    new_user, Caller,
};
use tokio_postgres::Client;
use uuid::Uuid;

async fn is_late(db: &mut Client, id: Uuid, token: &str) -> Result<bool> {
    let rows = call(
        db,
        Caller::Service,
        "select public.music_callback_is_late($1, $2)",
        &[&id, &token],
    )
    .await?;
    Ok(rows[0].get(0))
}

#[tokio::test]
async fn only_a_finished_request_with_its_own_token_takes_a_late_callback() -> Result<()> {
    let mut db = db().await?;
    let queue = new_queue(&db).await?;
    let user = new_user(&db).await?;
    let id = enqueue(&mut db, &queue, user, "joy").await?;
    let token: String = db
        .query_one(
            "select callback_token from public.music_generation_queue where id = $1",
            &[&id],
        )
        .await?
        .get(0);

    assert!(!is_late(&mut db, id, &token).await?, "pending");
    let claimed = claim(&mut db, "w1", 1, 120, &queue).await?;
    assert!(
        !is_late(&mut db, id, &token).await?,
        "claimed, its task not stored yet: the provider must try again"
    );
    assert!(complete(&mut db, claimed[0]).await?);
    assert!(is_late(&mut db, id, &token).await?, "completed");
    assert!(!is_late(&mut db, id, "wrong").await?, "a wrong token");
    assert!(
        !is_late(&mut db, Uuid::new_v4(), &token).await?,
        "another id"
    );
    expect_sqlstate(
        call(
            &mut db,
            Caller::Anon,
            "select public.music_callback_is_late($1, $2)",
            &[&id, &token],
        )
        .await,
        "42501",
    );

    drop_queue(&db, &queue).await?;
    drop_users(&db, &[user]).await?;
    Ok(())
}
