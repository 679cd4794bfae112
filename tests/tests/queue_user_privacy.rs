//! What signed-in and anonymous callers may read, column by column:
//! - a request's owner does not read its callback or lease token (item 11);
//! - the public provider status is state, availability, response time and
//!   last check; credits, errors and the failure streak are for admins
//!   (item 12);
//! - a shared fallback track does not tell who generated it (item 13).

use anyhow::Result;
use stack_tests::sql::{self, Caller};
use uuid::Uuid;

#[tokio::test]
async fn owners_do_not_read_their_requests_secrets() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let (user, admin) = (sql::new_user(&db).await?, sql::new_user(&db).await?);
    let id = sql::enqueue(&mut db, &queue, user, "joy").await?;
    let claim = sql::claim(&mut db, "w", 1, 60, &queue).await?[0];
    assert_eq!(claim.id, id);

    for caller in [Caller::User(user), Caller::Admin(admin)] {
        for column in ["callback_token", "lease_token"] {
            let read = format!("select {column} from public.music_generation_queue where id = $1");
            sql::expect_sqlstate(sql::call(&mut db, caller, &read, &[&id]).await, "42501");
        }
    }
    // Everything else of the row stays readable by its owner.
    let own = "select id, status, attempts, lease_owner, created_at
                 from public.music_generation_queue where id = $1";
    assert_eq!(
        sql::call(&mut db, Caller::User(user), own, &[&id])
            .await?
            .len(),
        1
    );
    // The worker still reads them.
    let token = "select lease_token from public.music_generation_queue where id = $1";
    let rows = sql::call(&mut db, Caller::Service, token, &[&id]).await?;
    assert_eq!(rows[0].get::<_, Uuid>(0), claim.token);

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user, admin]).await
}

#[tokio::test]
async fn the_public_provider_status_leaves_out_credits_and_errors() -> Result<()> {
    let mut db = sql::db().await?;
    let (user, admin) = (sql::new_user(&db).await?, sql::new_user(&db).await?);

    let public =
        "select state, is_available, response_time_ms, last_check_at from public.suno_api_status";
    for caller in [Caller::Anon, Caller::User(user)] {
        assert_eq!(sql::call(&mut db, caller, public, &[]).await?.len(), 1);
        for column in [
            "credits",
            "last_error",
            "consecutive_failures",
            "paused_until",
        ] {
            let read = format!("select {column} from public.suno_api_status");
            sql::expect_sqlstate(sql::call(&mut db, caller, &read, &[]).await, "42501");
        }
        let full = "select credits from public.get_suno_api_status()";
        sql::expect_sqlstate(sql::call(&mut db, caller, full, &[]).await, "42501");
    }
    for caller in [Caller::Admin(admin), Caller::Service] {
        let full = "select state, credits, last_error from public.get_suno_api_status()";
        assert_eq!(sql::call(&mut db, caller, full, &[]).await?.len(), 1);
    }

    sql::drop_users(&db, &[user, admin]).await
}

#[tokio::test]
async fn shared_tracks_do_not_name_who_generated_them() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let (maker, other) = (sql::new_user(&db).await?, sql::new_user(&db).await?);
    let request = sql::enqueue(&mut db, &queue, maker, "calm").await?;
    let track: Uuid = db
        .query_one(
            "insert into public.music_tracks
               (emotion, audio_url, source, fallback_eligible, request_id, user_id, provider_clip_id)
             values ('calm', 'https://cdn.example.test/shared.mp3', 'generated', true, $1, $2, $3)
             returning id",
            &[&request, &maker, &format!("clip-{}", Uuid::new_v4())],
        )
        .await?
        .get(0);

    let music = "select id, emotion, title, audio_url, duration_seconds from public.music_tracks where id = $1";
    assert_eq!(
        sql::call(&mut db, Caller::User(other), music, &[&track])
            .await?
            .len(),
        1,
        "the shared track is readable"
    );
    for column in ["user_id", "request_id", "provider_clip_id"] {
        let read = format!("select {column} from public.music_tracks where id = $1");
        sql::expect_sqlstate(
            sql::call(&mut db, Caller::User(other), &read, &[&track]).await,
            "42501",
        );
    }

    db.execute("delete from public.music_tracks where id = $1", &[&track])
        .await?;
    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[maker, other]).await
}
