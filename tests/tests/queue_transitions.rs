//! Transitions after the claim: cancel against a late worker, retry and
//! defer, failure with fallback, expiry, progress; and enqueue itself
//! (validation, idempotency, per-user limit, position).

use std::time::Duration;

use anyhow::Result;
use serde_json::{json, Value};
use stack_tests::sql::{self, Caller};
use uuid::Uuid;

const CANCEL_MESSAGE: &str = "Annulé manuellement par un administrateur";

/// An admin cancels a request while a worker holds it; the worker then
/// completes (and retries, and fails): the request stays failed with the
/// cancel message.
#[tokio::test]
async fn cancel_while_processing_wins_over_the_late_worker() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let admin = sql::new_user(&db).await?;
    let id = sql::enqueue(&mut db, &queue, user, "joy").await?;
    let claim = sql::claim(&mut db, "w", 1, 120, &queue).await?[0];

    let cancel = "select status, error_message from public.admin_cancel_music_request($1)";
    let cancelled = sql::call(&mut db, Caller::Admin(admin), cancel, &[&id]).await?;
    assert_eq!(cancelled[0].get::<_, String>(0), "failed");
    assert_eq!(cancelled[0].get::<_, String>(1), CANCEL_MESSAGE);

    assert!(
        !sql::complete(&mut db, claim).await?,
        "late completion changed a cancelled request"
    );
    let retry = "select 1 from public.retry_music_request($1, $2, 10, 'http_503')";
    assert!(
        sql::call(&mut db, Caller::Service, retry, &[&id, &claim.token])
            .await?
            .is_empty()
    );
    let fail = "select 1 from public.fail_music_request($1, $2, 'bad_request', 'x')";
    assert!(
        sql::call(&mut db, Caller::Service, fail, &[&id, &claim.token])
            .await?
            .is_empty()
    );
    assert!(
        sql::call(&mut db, Caller::Admin(admin), cancel, &[&id])
            .await?
            .is_empty(),
        "cancelled twice"
    );

    let now = sql::snapshot(&db, id).await?;
    assert_eq!(now.status, "failed");
    assert_eq!(now.error_code.as_deref(), Some("cancelled"));
    assert_eq!(now.error_message.as_deref(), Some(CANCEL_MESSAGE));
    let who: String = db
        .query_one(
            "select actor from public.music_generation_events where request_id = $1 and event = 'cancelled'",
            &[&id],
        )
        .await?
        .get(0);
    assert_eq!(who, format!("user:{admin}"));

    // A pending request can be cancelled too; a finished one cannot.
    let pending = sql::enqueue(&mut db, &queue, user, "calm").await?;
    assert_eq!(
        sql::call(&mut db, Caller::Service, cancel, &[&pending])
            .await?
            .len(),
        1
    );

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user, admin]).await?;
    Ok(())
}

/// Retry waits its delay, keeps the attempt used, and at max_attempts fails
/// with a fallback of the same emotion; defer gives the attempt back.
#[tokio::test]
async fn retry_waits_then_fails_with_fallback_and_defer_keeps_attempts() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let id = sql::enqueue(&mut db, &queue, user, "sad").await?;
    let retry = "select status from public.retry_music_request($1, $2, $3, 'http_503', 'Service Unavailable')";
    let defer =
        "select status, attempts from public.defer_music_request($1, $2, 0, 'rate_limited')";

    // Attempt 1 fails: back to pending for 1 s, not claimable before.
    let c1 = sql::claim(&mut db, "w", 1, 60, &queue).await?[0];
    assert_eq!(c1.attempts, 1);
    let one = 1i32;
    let row = sql::call(&mut db, Caller::Service, retry, &[&id, &c1.token, &one]).await?;
    assert_eq!(row[0].get::<_, String>(0), "pending");
    let now = sql::snapshot(&db, id).await?;
    assert_eq!(
        (now.attempts, now.error_code.as_deref()),
        (1, Some("http_503"))
    );
    assert!(
        now.run_in_seconds > 0.5,
        "retry delay not applied: {}",
        now.run_in_seconds
    );
    assert!(
        sql::claim(&mut db, "w", 1, 60, &queue).await?.is_empty(),
        "claimed before run_at"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;

    // Attempt 2 is deferred (rate limit): the attempt comes back, twice over.
    for _ in 0..2 {
        let c = sql::claim(&mut db, "w", 1, 60, &queue).await?[0];
        assert_eq!(c.attempts, 2);
        let row = sql::call(&mut db, Caller::Service, defer, &[&id, &c.token]).await?;
        assert_eq!(
            (row[0].get::<_, String>(0), row[0].get::<_, i32>(1)),
            ("pending".into(), 1)
        );
    }

    // Attempts 2 and 3 fail: the third has none left and fails for good.
    let zero = 0i32;
    let c2 = sql::claim(&mut db, "w", 1, 60, &queue).await?[0];
    assert_eq!(
        sql::call(&mut db, Caller::Service, retry, &[&id, &c2.token, &zero]).await?[0]
            .get::<_, String>(0),
        "pending"
    );
    let c3 = sql::claim(&mut db, "w", 1, 60, &queue).await?[0];
    assert_eq!(c3.attempts, 3);
    let last = sql::call(&mut db, Caller::Service, retry, &[&id, &c3.token, &zero]).await?;
    assert_eq!(last[0].get::<_, String>(0), "failed");

    let now = sql::snapshot(&db, id).await?;
    assert_eq!(now.attempts, 3);
    assert_eq!(now.error_code.as_deref(), Some("http_503"));
    assert_eq!(
        now.fallback_same_emotion,
        Some(true),
        "the library has sad tracks"
    );
    let fallback_emotion: String = db
        .query_one(
            "select emotion from public.music_tracks where id = $1",
            &[&now.fallback_track_id.unwrap()],
        )
        .await?
        .get(0);
    assert_eq!(fallback_emotion, "sad");
    assert!(
        sql::claim(&mut db, "w", 1, 60, &queue).await?.is_empty(),
        "failed request claimed"
    );
    assert_eq!(
        sql::events(&db, id).await?,
        [
            "enqueued", "claimed", "retried", "claimed", "deferred", "claimed", "deferred",
            "claimed", "retried", "claimed", "failed", "fallback"
        ]
    );

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

/// fail attaches a fallback of the same emotion, or of any emotion when the
/// library has none of it (checked inside a rolled-back transaction that
/// hides the library's `anxious` tracks), and says which.
#[tokio::test]
async fn fail_attaches_a_fallback_and_says_which() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let fail = "select status, fallback_track_id, fallback_same_emotion, error_code, error_message
                  from public.fail_music_request($1, $2, 'sensitive_word', 'The lyrics contain sensitive words')";

    let same = sql::enqueue(&mut db, &queue, user, "anxious").await?;
    let claim = sql::claim(&mut db, "w", 1, 60, &queue).await?[0];
    let row = &sql::call(&mut db, Caller::Service, fail, &[&same, &claim.token]).await?[0];
    assert_eq!(row.get::<_, String>(0), "failed");
    assert!(row.get::<_, Option<Uuid>>(1).is_some());
    assert_eq!(row.get::<_, Option<bool>>(2), Some(true));
    assert_eq!(row.get::<_, String>(3), "sensitive_word");
    assert_eq!(
        sql::events(&db, same).await?,
        ["enqueued", "claimed", "failed", "fallback"]
    );

    let other = sql::enqueue(&mut db, &queue, user, "anxious").await?;
    let claim = sql::claim(&mut db, "w", 1, 60, &queue).await?[0];
    let tx = db.transaction().await?;
    tx.execute(
        "update public.music_tracks set fallback_eligible = false where emotion = 'anxious'",
        &[],
    )
    .await?;
    tx.batch_execute("set local role service_role").await?;
    let row = tx.query_one(fail, &[&other, &claim.token]).await?;
    let track: Uuid = row
        .get::<_, Option<Uuid>>(1)
        .expect("a fallback of another emotion");
    assert_eq!(row.get::<_, Option<bool>>(2), Some(false));
    tx.batch_execute("reset role").await?;
    let emotion: String = tx
        .query_one(
            "select emotion from public.music_tracks where id = $1",
            &[&track],
        )
        .await?
        .get(0);
    assert_ne!(emotion, "anxious");
    tx.rollback().await?;

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

/// A claim abandoned with no attempt left is failed by expiry (with a
/// fallback), not handed out again.
#[tokio::test]
async fn abandoned_claim_without_attempts_left_expires() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let id = sql::call(
        &mut db,
        Caller::Service,
        "select (public.enqueue_music_request(p_emotion => 'neutral', p_user_id => $1, p_queue => $2,
                 p_max_attempts => 1) ->> 'id')::uuid",
        &[&user, &queue],
    )
    .await?[0]
        .get::<_, Uuid>(0);
    sql::claim(&mut db, "vanishing-worker", 1, 1, &queue).await?;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(
        sql::claim(&mut db, "w", 1, 60, &queue).await?.is_empty(),
        "exhausted request reclaimed"
    );

    sql::call(
        &mut db,
        Caller::Service,
        "select public.expire_music_requests($1)",
        &[&queue],
    )
    .await?;
    let now = sql::snapshot(&db, id).await?;
    assert_eq!(now.status, "failed");
    assert_eq!(now.error_code.as_deref(), Some("lease_expired"));
    assert!(now.fallback_track_id.is_some());

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

/// Provider progress is logged once per stage, whatever the duplicates.
#[tokio::test]
async fn progress_is_logged_once_per_stage() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let id = sql::enqueue(&mut db, &queue, user, "energetic").await?;
    let claim = sql::claim(&mut db, "w", 1, 60, &queue).await?[0];
    let progress =
        "select provider_status from public.record_music_request_progress($1, $2, $3, $4)";
    let detail = json!({ "callback": true });
    let mut changed = Vec::new();
    for stage in [
        "TEXT_SUCCESS",
        "TEXT_SUCCESS",
        "FIRST_SUCCESS",
        "FIRST_SUCCESS",
    ] {
        let rows = sql::call(
            &mut db,
            Caller::Service,
            progress,
            &[&id, &claim.token, &stage, &detail],
        )
        .await?;
        changed.push(rows.len());
    }
    assert_eq!(changed, [1, 0, 1, 0]);
    let wrong = Uuid::new_v4();
    let stage = "SUCCESS";
    assert!(sql::call(
        &mut db,
        Caller::Service,
        progress,
        &[&id, &wrong, &stage, &detail]
    )
    .await?
    .is_empty());
    assert_eq!(
        sql::events(&db, id).await?,
        ["enqueued", "claimed", "progress", "progress"]
    );

    // Completion stores both clips and adds them to the library.
    assert!(sql::complete(&mut db, claim).await?);
    let tracks: i64 = db
        .query_one("select count(*) from public.music_tracks where request_id = $1 and emotion = 'energetic'", &[&id])
        .await?
        .get(0);
    assert_eq!(tracks, 2);
    let clips: Value = db
        .query_one(
            "select result -> 'clips' from public.music_generation_queue where id = $1",
            &[&id],
        )
        .await?
        .get(0);
    assert_eq!(clips.as_array().map(Vec::len), Some(2));

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

/// Admin retry: failed -> pending, attempts reset, error cleared, event
/// names the admin; only failed requests, only admins.
#[tokio::test]
async fn admin_retry_gives_a_failed_request_a_fresh_start() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let admin = sql::new_user(&db).await?;
    let id = sql::enqueue(&mut db, &queue, user, "anger").await?;
    let retry = "select status, attempts, error_code, fallback_track_id from public.admin_retry_music_request($1)";

    assert!(
        sql::call(&mut db, Caller::Admin(admin), retry, &[&id])
            .await?
            .is_empty(),
        "retried a pending request"
    );
    let claim = sql::claim(&mut db, "w", 1, 60, &queue).await?[0];
    sql::call(
        &mut db,
        Caller::Service,
        "select 1 from public.fail_music_request($1, $2, 'http_400', 'bad')",
        &[&id, &claim.token],
    )
    .await?;

    sql::expect_sqlstate(
        sql::call(&mut db, Caller::User(user), retry, &[&id]).await,
        "42501",
    );
    let row = &sql::call(&mut db, Caller::Admin(admin), retry, &[&id]).await?[0];
    assert_eq!(row.get::<_, String>(0), "pending");
    assert_eq!(row.get::<_, i32>(1), 0);
    assert_eq!(row.get::<_, Option<String>>(2), None);
    assert_eq!(row.get::<_, Option<Uuid>>(3), None);
    let detail: Value = db
        .query_one(
            "select jsonb_build_object('actor', actor, 'who', actor_user_id, 'was', detail ->> 'previous_error_code')
               from public.music_generation_events where request_id = $1 and event = 'admin_retried'",
            &[&id],
        )
        .await?
        .get(0);
    assert_eq!(
        detail,
        json!({ "actor": format!("user:{admin}"), "who": admin, "was": "http_400" })
    );
    assert_eq!(
        sql::claim(&mut db, "w", 1, 60, &queue).await?[0].attempts,
        1
    );

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user, admin]).await?;
    Ok(())
}

/// The same idempotency key returns the same request, even when sent many
/// times at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_idempotency_key_returns_the_same_request() -> Result<()> {
    let db = sql::db().await?;
    let queue = sql::new_queue_with_limit(&db, 3).await?;
    let user = sql::new_user(&db).await?;
    let key = format!("key-{}", Uuid::new_v4());

    let mut senders = Vec::new();
    for _ in 0..6 {
        let (queue, key) = (queue.clone(), key.clone());
        senders.push(tokio::spawn(async move {
            let mut db = sql::db().await?;
            let rows = sql::call(
                &mut db,
                Caller::Service,
                "select public.enqueue_music_request(p_emotion => 'calm', p_user_id => $1, p_queue => $2,
                        p_idempotency_key => $3)",
                &[&user, &queue, &key],
            )
            .await?;
            anyhow::Ok(rows[0].get::<_, Value>(0))
        }));
    }
    let mut answers = Vec::new();
    for sender in senders {
        answers.push(sender.await??);
    }
    let first = answers[0]["id"].clone();
    assert!(
        answers.iter().all(|a| a["id"] == first),
        "different requests for one key: {answers:?}"
    );
    assert_eq!(
        answers
            .iter()
            .filter(|a| a["deduplicated"] == json!(false))
            .count(),
        1
    );
    let count: i64 = db
        .query_one(
            "select count(*) from public.music_generation_queue where user_id = $1",
            &[&user],
        )
        .await?
        .get(0);
    assert_eq!(count, 1);
    assert!(answers
        .iter()
        .all(|a| a.get("callback_token").is_none() && a.get("lease_token").is_none()));

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

/// Over the per-user limit of unfinished requests, enqueue answers PT429
/// (HTTP 429 through PostgREST); a known key still returns its request.
#[tokio::test]
async fn per_user_limit_answers_pt429() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue_with_limit(&db, 2).await?;
    let user = sql::new_user(&db).await?;
    let other = sql::new_user(&db).await?;
    let enqueue =
        "select public.enqueue_music_request(p_emotion => 'joy', p_user_id => $1, p_queue => $2,
                          p_idempotency_key => $3)";
    let k1 = "k1".to_string();
    let (k2, k3) = ("k2".to_string(), "k3".to_string());
    sql::call(&mut db, Caller::Service, enqueue, &[&user, &queue, &k1]).await?;
    sql::call(&mut db, Caller::Service, enqueue, &[&user, &queue, &k2]).await?;
    let error = sql::expect_sqlstate(
        sql::call(&mut db, Caller::Service, enqueue, &[&user, &queue, &k3]).await,
        "PT429",
    );
    assert!(error.as_db_error().unwrap().message().contains("limit 2"));
    let again: Value =
        sql::call(&mut db, Caller::Service, enqueue, &[&user, &queue, &k1]).await?[0].get(0);
    assert_eq!(again["deduplicated"], json!(true));
    sql::call(&mut db, Caller::Service, enqueue, &[&other, &queue, &k3]).await?;

    // Position and wait: the other user's request is third in line.
    let row: Value =
        sql::call(&mut db, Caller::Service, enqueue, &[&other, &queue, &k3]).await?[0].get(0);
    assert_eq!(row["queue_position"], json!(3));
    assert!(row["estimated_wait_seconds"].as_i64().unwrap() > 0);

    // Finishing one frees a place.
    let claim = sql::claim(&mut db, "w", 1, 60, &queue).await?[0];
    assert!(sql::complete(&mut db, claim).await?);
    sql::call(&mut db, Caller::Service, enqueue, &[&user, &queue, &k3]).await?;

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user, other]).await?;
    Ok(())
}

/// Bad input is refused with 22023 (PostgREST: 400) naming the field.
#[tokio::test]
async fn enqueue_refuses_bad_input_naming_the_field() -> Result<()> {
    let mut db = sql::db().await?;
    let user = sql::new_user(&db).await?;
    let enqueue = "select public.enqueue_music_request(p_emotion => $1, p_intensity => $2,
                          p_context => $3, p_user_id => $4)";
    let long = "x".repeat(501);
    let cases: [(&str, f64, Option<&str>, &str); 4] = [
        ("furious", 0.5, None, "emotion"),
        ("joy", 1.5, None, "intensity"),
        ("joy", -0.1, None, "intensity"),
        ("joy", 0.5, Some(long.as_str()), "context"),
    ];
    for (emotion, intensity, context, field) in cases {
        let error = sql::expect_sqlstate(
            sql::call(
                &mut db,
                Caller::Service,
                enqueue,
                &[&emotion, &intensity, &context, &user],
            )
            .await,
            "22023",
        );
        assert_eq!(
            error.as_db_error().unwrap().detail(),
            Some(format!("field: {field}").as_str())
        );
    }
    let count: i64 = db
        .query_one(
            "select count(*) from public.music_generation_queue where user_id = $1",
            &[&user],
        )
        .await?
        .get(0);
    assert_eq!(count, 0);
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}
