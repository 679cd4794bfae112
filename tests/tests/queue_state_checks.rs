//! The checks on a request's state, a track and a history event: since
//! migration `20261130003300` each table has one CHECK calling a function, so
//! that PostgreSQL does not read them in every statement. Every bad row must
//! still be refused with SQLSTATE 23514 naming the check it breaks, as the
//! separate CHECKs named it.

use anyhow::Result;
use stack_tests::sql;
use tokio_postgres::Client;
use uuid::Uuid;

/// Applies `set` to the request `id` as the database owner.
async fn update(db: &Client, id: Uuid, set: &str) -> Result<u64, tokio_postgres::Error> {
    db.execute(
        &format!("update public.music_generation_queue set {set} where id = $1"),
        &[&id],
    )
    .await
}

#[tokio::test]
async fn a_bad_state_is_refused_with_the_checks_name() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let first = sql::enqueue(&mut db, &queue, user, "calm").await?;
    let waiting = sql::enqueue(&mut db, &queue, user, "calm").await?;
    let claimed = sql::claim(&mut db, "checks-worker", 1, 120, &queue).await?[0].id;
    assert_eq!(claimed, first, "claims go in order");

    let refused = [
        (waiting, "attempts = max_attempts + 1", "attempts_range"),
        (
            waiting,
            "callback_wait_until = now()",
            "callback_wait_unsubmitted",
        ),
        (waiting, "completed_at = now()", "completed_fields"),
        (
            claimed,
            "status = 'completed', completed_at = now(), result = '{}', \
             lease_owner = null, lease_token = null, lease_expires_at = null",
            "completed_fields",
        ),
        (waiting, "error_code = ''", "error_code_length"),
        (
            waiting,
            "error_message = repeat('x', 2001)",
            "error_message_length",
        ),
        (waiting, "failed_at = now()", "failed_fields"),
        (
            waiting,
            "fallback_track_id = gen_random_uuid()",
            "fallback_only_failed",
        ),
        (
            waiting,
            "lease_owner = 'w', lease_token = gen_random_uuid(), lease_expires_at = now()",
            "lease_iff_processing",
        ),
        (claimed, "lease_token = null", "lease_iff_processing"),
        (claimed, "lease_owner = ''", "lease_owner_length"),
        (waiting, "suno_task_id = 'task-1'", "pending_not_submitted"),
        (waiting, "poll_rereads = -1", "poll_counts_range"),
        (
            waiting,
            "provider_status = repeat('x', 65)",
            "provider_status_length",
        ),
        (waiting, "status = 'done'", "status_known"),
        (claimed, "suno_task_id = ''", "suno_task_id_length"),
    ];
    for (id, set, check) in refused {
        let result = update(&db, id, set).await;
        sql::expect_check_violation(result, &format!("music_generation_queue_{check}"), set);
    }

    // What the checks allow: the bounds themselves, and a submitted task.
    for (id, set) in [
        (waiting, "attempts = max_attempts"),
        (waiting, "error_message = repeat('x', 2000)"),
        (
            claimed,
            "suno_task_id = 'task-1', provider_status = 'PENDING'",
        ),
    ] {
        update(&db, id, set).await?;
    }
    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

#[tokio::test]
async fn a_bad_track_is_refused_with_the_checks_name() -> Result<()> {
    let db = sql::db().await?;
    let refused = [
        (
            "audio_url",
            "'ftp://cdn.example.test/a.mp3'",
            "audio_url_format",
        ),
        ("duration_seconds", "3600", "duration_range"),
        ("emotion", "'ecstatic'", "emotion_known"),
        ("image_url", "repeat('x', 2001)", "image_url_length"),
        (
            "provider_clip_id",
            "repeat('x', 129)",
            "provider_clip_id_length",
        ),
        ("source", "'upload'", "source_known"),
        (
            "stream_audio_url",
            "repeat('x', 2001)",
            "stream_audio_url_length",
        ),
        ("tags", "repeat('x', 1001)", "tags_length"),
        ("title", "repeat('x', 201)", "title_length"),
    ];
    let tag = Uuid::new_v4().simple().to_string();
    for (column, value, check) in refused {
        let result = insert_track(&db, &tag, column, value).await;
        sql::expect_check_violation(
            result,
            &format!("music_tracks_{check}"),
            &format!("{column} = {value}"),
        );
    }
    insert_track(&db, &tag, "duration_seconds", "0").await?;
    let stored = db
        .execute("delete from public.music_tracks where title = $1", &[&tag])
        .await?;
    assert_eq!(stored, 1, "only the good track is stored");
    Ok(())
}

/// Inserts one track titled `tag` whose `column` is `value` (SQL text); the
/// other columns a track needs are valid.
async fn insert_track(
    db: &Client,
    tag: &str,
    column: &str,
    value: &str,
) -> Result<u64, tokio_postgres::Error> {
    let valid = [
        ("emotion", "'calm'"),
        ("audio_url", "'https://cdn.example.test/a.mp3'"),
        ("title", "$1"),
    ];
    let tag: &(dyn tokio_postgres::types::ToSql + Sync) = &tag;
    // The title under test replaces the tag, and with it the only parameter.
    let params = if column == "title" { vec![] } else { vec![tag] };
    sql::insert_with(db, "public.music_tracks", &valid, (column, value), &params).await
}

#[tokio::test]
async fn a_bad_event_is_refused_with_the_checks_name() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let id = sql::enqueue(&mut db, &queue, user, "joy").await?;
    let refused = [
        (
            "'claimed', 'processing', repeat('x', 201), '{}'",
            "actor_length",
        ),
        ("'claimed', 'processing', 'w', '[]'", "detail_object"),
        ("'teleported', 'processing', 'w', '{}'", "event_known"),
        ("'claimed', 'done', 'w', '{}'", "status_known"),
    ];
    for (values, check) in refused {
        let result = db
            .execute(
                &format!(
                    "insert into public.music_generation_events
                       (request_id, user_id, event, status, actor, detail)
                     values ($1, $2, {values})"
                ),
                &[&id, &user],
            )
            .await;
        sql::expect_check_violation(result, &format!("music_generation_events_{check}"), values);
    }
    assert_eq!(
        sql::events(&db, id).await?,
        ["enqueued"],
        "nothing was added"
    );
    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}
