//! Who may enqueue (item 14): only the service role, on a user's behalf
//! (emotion-music-ai, which builds and validates the provider fields). A
//! user's own JWT is refused, with or without provider fields, so a direct
//! call cannot send a raw 5,000-character prompt or pick the model.

use anyhow::Result;
use serde_json::{json, Value};
use stack_tests::sql::{self, Caller};

async fn requests_of(db: &tokio_postgres::Client, user: uuid::Uuid) -> Result<i64> {
    Ok(db
        .query_one(
            "select count(*) from public.music_generation_queue where user_id = $1",
            &[&user],
        )
        .await?
        .get(0))
}

#[tokio::test]
async fn a_signed_in_user_cannot_enqueue_directly() -> Result<()> {
    let mut db = sql::db().await?;
    let user = sql::new_user(&db).await?;
    let admin = sql::new_user(&db).await?;

    let plain = "select public.enqueue_music_request(p_emotion => 'joy')";
    let raw = "select public.enqueue_music_request(p_emotion => 'joy', p_prompt => $1,
                      p_style => 'lyrics', p_model => 'V5')";
    let lyrics = "la ".repeat(1666);
    for caller in [Caller::User(user), Caller::Admin(admin)] {
        sql::expect_sqlstate(sql::call(&mut db, caller, plain, &[]).await, "42501");
        sql::expect_sqlstate(sql::call(&mut db, caller, raw, &[&lyrics]).await, "42501");
    }
    assert_eq!(requests_of(&db, user).await?, 0);
    assert_eq!(requests_of(&db, admin).await?, 0);

    sql::drop_users(&db, &[user, admin]).await
}

#[tokio::test]
async fn the_service_role_enqueues_on_a_users_behalf() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;

    let enqueue =
        "select public.enqueue_music_request(p_emotion => 'joy', p_user_id => $1, p_queue => $2)";
    let ticket: Value =
        sql::call(&mut db, Caller::Service, enqueue, &[&user, &queue]).await?[0].get(0);
    assert_eq!(ticket["user_id"], json!(user));
    assert!(ticket.get("callback_token").is_none() && ticket.get("lease_token").is_none());

    // The service role must say for whom.
    let nobody = "select public.enqueue_music_request(p_emotion => 'joy', p_queue => $1)";
    let error = sql::expect_sqlstate(
        sql::call(&mut db, Caller::Service, nobody, &[&queue]).await,
        "22023",
    );
    assert_eq!(
        error.as_db_error().unwrap().detail(),
        Some("field: user_id")
    );

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await
}

/// A JWT outlives its user (up to its expiry): enqueuing for a user who is not in
/// `auth.users` is PT401 (PostgREST answers 401), not the foreign key's 23503 (409).
#[tokio::test]
async fn enqueuing_for_a_user_who_is_gone_is_pt401_and_stores_nothing() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let gone = uuid::Uuid::new_v4();

    let enqueue =
        "select public.enqueue_music_request(p_emotion => 'joy', p_user_id => $1, p_queue => $2)";
    sql::expect_sqlstate(
        sql::call(&mut db, Caller::Service, enqueue, &[&gone, &queue]).await,
        "PT401",
    );
    assert_eq!(requests_of(&db, gone).await?, 0);

    sql::drop_queue(&db, &queue).await
}
