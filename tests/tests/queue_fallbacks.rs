//! Fallback tracks: which tracks may be handed out (durable or valid for a
//! week; eligibility from what the user asked, not from what we sent), the
//! retirement of expiring ones, completions that survive odd provider
//! values, and the index behind a track's deletion. The pick's speed at
//! 200k tracks is a figure of `scripts/bench sql`.

use anyhow::Result;
use serde_json::{json, Value};
use stack_tests::sql::{self, Caller};
use tokio_postgres::Client;
use uuid::Uuid;

/// Enqueues as the service role with extra named arguments, claims, submits
/// and completes with `result`: the request id.
async fn complete_with(
    db: &mut Client,
    queue: &str,
    user: Uuid,
    named: &str,
    result: &Value,
) -> Result<Uuid> {
    let enqueue = format!(
        "select (public.enqueue_music_request(p_emotion => 'calm', p_user_id => $1, p_queue => $2{named})
           ->> 'id')::uuid"
    );
    sql::call(db, Caller::Service, &enqueue, &[&user, &queue]).await?;
    let claim = sql::claim(db, "w", 1, 120, queue).await?[0];
    let task = Uuid::new_v4().simple().to_string();
    let submit = "select 1 from public.mark_music_request_submitted($1, $2, $3)";
    sql::call(
        db,
        Caller::Service,
        submit,
        &[&claim.id, &claim.token, &task],
    )
    .await?;
    let complete = "select 1 from public.complete_music_request($1, $2, $3)";
    let done = sql::call(
        db,
        Caller::Service,
        complete,
        &[&claim.id, &claim.token, result],
    )
    .await?;
    assert_eq!(done.len(), 1, "not completed");
    Ok(claim.id)
}

/// Whether the tracks of request `id` may serve other users.
async fn eligible(db: &Client, id: Uuid) -> Result<Vec<bool>> {
    let rows = db
        .query(
            "select fallback_eligible from public.music_tracks where request_id = $1",
            &[&id],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Item 7: eligibility follows what the user asked. The worker sends our own
/// style and title for an instrumental request; the user's words are only
/// in the asked_ fields.
#[tokio::test]
async fn eligibility_follows_what_the_user_asked_not_what_was_sent() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let sent = ", p_prompt => 'Peaceful ambient. Instrumental, no vocals.',
                 p_style => 'ambient, peaceful, 64 BPM', p_title => 'Still Water'";

    let ours = complete_with(&mut db, &queue, user, sent, &sql::two_clips("ours")).await?;
    assert_eq!(
        eligible(&db, ours).await?,
        [true, true],
        "our own title blocked sharing"
    );

    let theirs = format!("{sent}, p_asked_title => 'For Anna'");
    let titled = complete_with(&mut db, &queue, user, &theirs, &sql::two_clips("titled")).await?;
    assert_eq!(
        eligible(&db, titled).await?,
        [false, false],
        "the user's title was shared"
    );

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

/// Item 7: over-long URLs and ids and an odd duration never fail a
/// completion: the fields that do not fit the library are stored as null,
/// and a clip whose audio URL does not fit stays in the result only.
#[tokio::test]
async fn odd_provider_values_do_not_fail_the_completion() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let long = format!("https://cdn.example.test/{}", "x".repeat(2100));
    let result = json!({ "clips": [
        { "id": "y".repeat(200), "title": "odd", "audio_url": "https://cdn.example.test/odd.mp3",
          "stream_audio_url": long, "image_url": long, "duration": 4000.5, "tags": "t" },
        { "id": Uuid::new_v4().to_string(), "audio_url": long, "duration": -3 },
    ]});
    let id = complete_with(&mut db, &queue, user, "", &result).await?;

    let rows = db
        .query(
            "select provider_clip_id, stream_audio_url, image_url, duration_seconds
               from public.music_tracks where request_id = $1",
            &[&id],
        )
        .await?;
    assert_eq!(
        rows.len(),
        1,
        "the clip with an over-long audio URL is not a track"
    );
    let row = &rows[0];
    assert_eq!(row.get::<_, Option<String>>(0), None);
    assert_eq!(row.get::<_, Option<String>>(1), None);
    assert_eq!(row.get::<_, Option<String>>(2), None);
    assert_eq!(row.get::<_, Option<f64>>(3), None);
    let stored: Value = db
        .query_one(
            "select result from public.music_generation_queue where id = $1",
            &[&id],
        )
        .await?
        .get(0);
    assert_eq!(stored, result, "the result is kept as the provider sent it");

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

/// Item 7: a track whose file expires within a week is never handed out,
/// and maintenance takes expiring tracks out of the fallback library.
/// (Inside a rolled-back transaction: the library is shared.)
#[tokio::test]
async fn expiring_tracks_are_not_handed_out_and_are_retired() -> Result<()> {
    let mut db = sql::db().await?;
    let tx = db.transaction().await?;
    // Only one eligible 'anger' track, generated, expiring in two hours.
    tx.execute(
        "update public.music_tracks set fallback_eligible = false where emotion = 'anger'",
        &[],
    )
    .await?;
    let soon: Uuid = tx
        .query_one(
            "insert into public.music_tracks (emotion, audio_url, fallback_eligible, expires_at)
             values ('anger', 'https://cdn.example.test/soon.mp3', true, now() + interval '2 hours')
             returning id",
            &[],
        )
        .await?
        .get(0);
    for _ in 0..20 {
        let pick = tx
            .query_one(
                "select track_id, same_emotion from public._music_pick_fallback('anger')",
                &[],
            )
            .await?;
        assert_ne!(
            pick.get::<_, Uuid>(0),
            soon,
            "handed out a track that dies today"
        );
        assert!(!pick.get::<_, bool>(1));
    }

    let retired: i32 = tx
        .query_one("select public.retire_expiring_fallback_tracks()", &[])
        .await?
        .get(0);
    assert!(retired >= 1);
    let still: bool = tx
        .query_one(
            "select fallback_eligible from public.music_tracks where id = $1",
            &[&soon],
        )
        .await?
        .get(0);
    assert!(!still, "an expiring track stayed in the fallback library");
    tx.rollback().await?;
    Ok(())
}

/// Item 7: deleting a track finds the requests that used it as a fallback
/// through an index, not a scan of the whole queue.
#[tokio::test]
async fn a_tracks_uses_are_found_through_an_index() -> Result<()> {
    let mut db = sql::db().await?;
    let tx = db.transaction().await?;
    tx.batch_execute("set local enable_seqscan = off").await?;
    let plan: Vec<String> = tx
        .query(
            "explain select id from public.music_generation_queue
              where fallback_track_id = gen_random_uuid()",
            &[],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let plan = plan.join("\n");
    assert!(
        plan.contains("music_generation_queue_fallback_track_idx"),
        "{plan}"
    );
    tx.rollback().await?;
    Ok(())
}
