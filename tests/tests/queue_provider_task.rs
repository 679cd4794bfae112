//! The SQL side of a provider task, as the core's decisions need it: a
//! submit must carry a task id; a submit whose answer was lost waits for the
//! provider's callback instead of paying twice; callbacks wake a poll; the
//! poll counters and the next poll time are stored; a stuck task is
//! resubmitted once; a task that never finishes times out.

use std::time::Duration;

use anyhow::Result;
use music_core::suno::parse_callback;
use music_core::{Action, GenerateParams, Model, PollDecision, SubmittedTask};
use serde_json::{json, Value};
use stack_tests::listener::{Answer, Listener};
use stack_tests::sql::{self, Caller, Claim};
use stack_tests::suno::{Shell, Sim};
use tokio_postgres::Client;
use uuid::Uuid;

/// `mark_music_request_submitted` as the worker calls it: the changed rows.
async fn mark_submitted(
    db: &mut Client,
    claim: Claim,
    task_id: Option<&str>,
) -> Result<usize, tokio_postgres::Error> {
    let rows = sql::call(
        db,
        Caller::Service,
        "select id from public.mark_music_request_submitted($1, $2, $3)",
        &[&claim.id, &claim.token, &task_id],
    )
    .await?;
    Ok(rows.len())
}

/// The request's callback token (the secret its callback URL carries).
async fn callback_token(db: &Client, id: Uuid) -> Result<String> {
    let row = db
        .query_one(
            "select callback_token from public.music_generation_queue where id = $1",
            &[&id],
        )
        .await?;
    Ok(row.get(0))
}

/// The stored row as PostgREST would hand it to the worker.
async fn row_json(db: &Client, id: Uuid) -> Result<Value> {
    let row = db
        .query_one(
            "select to_jsonb(q) from public.music_generation_queue q where id = $1",
            &[&id],
        )
        .await?;
    Ok(row.get(0))
}

/// `claim_music_polls` as the service role: the ids handed out.
async fn claim_polls(db: &mut Client, queue: &str) -> Result<Vec<Uuid>> {
    let rows = sql::call(
        db,
        Caller::Service,
        "select id from public.claim_music_polls('poller', 10, 20, $1)",
        &[&queue],
    )
    .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// A submitted request of a fresh queue: (queue, user, claim).
async fn submitted_request(db: &mut Client, task_id: &str) -> Result<(String, Uuid, Claim)> {
    let queue = sql::new_queue(db).await?;
    let user = sql::new_user(db).await?;
    sql::enqueue(db, &queue, user, "calm").await?;
    let claim = sql::claim(db, "w", 1, 120, &queue).await?[0];
    assert_eq!(mark_submitted(db, claim, Some(task_id)).await?, 1);
    Ok((queue, user, claim))
}

fn task_id() -> String {
    Uuid::new_v4().simple().to_string()
}

/// Item 2: a submit without a task id is refused, naming the field, and the
/// row stays as it was (not half-submitted, so not paid again by a reclaim).
#[tokio::test]
async fn a_submit_without_a_task_id_is_refused() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let id = sql::enqueue(&mut db, &queue, user, "joy").await?;
    let claim = sql::claim(&mut db, "w", 1, 120, &queue).await?[0];

    for missing in [None, Some(""), Some("   ")] {
        let error = sql::expect_sqlstate(mark_submitted(&mut db, claim, missing).await, "22023");
        let detail = error
            .as_db_error()
            .and_then(|e| e.detail().map(str::to_owned));
        assert_eq!(detail.as_deref(), Some("field: suno_task_id"));
    }
    let events = sql::events(&db, id).await?;
    assert_eq!(events, ["enqueued", "claimed"], "nothing was recorded");
    let submitted: Option<chrono::DateTime<chrono::Utc>> = db
        .query_one(
            "select submitted_at from public.music_generation_queue where id = $1",
            &[&id],
        )
        .await?
        .get(0);
    assert_eq!(submitted, None);

    assert_eq!(mark_submitted(&mut db, claim, Some(&task_id())).await?, 1);
    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

/// Item 3: the simulator accepts a submit and loses the answer. The core
/// says "wait for the callback"; the row waits, claimable by nobody, the
/// provider's callback attaches its task, and the request is polled, never
/// submitted again: one charge in the simulator's log, not two.
#[tokio::test]
async fn a_lost_submit_answer_waits_for_the_callback_and_is_paid_once() -> Result<()> {
    let sim = Sim::start().await;
    let hook = Listener::start(Answer::Ok).await;
    sim.fault(json!({"kind": "accept_then_lose", "endpoint": "generate", "count": 1}))
        .await;
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let id = sql::enqueue(&mut db, &queue, user, "calm").await?;
    let claim = sql::claim(&mut db, "w", 1, 120, &queue).await?[0];

    // The worker: the provider call from the stored row, then the core's reading of it.
    let params = GenerateParams::from_stored(&row_json(&db, id).await?, Model::V4_5)?;
    let token = callback_token(&db, id).await?;
    let url = format!("{}/callback?request_id={id}&token={token}", hook.url());
    let lost = Shell::new()
        .submit(&sim.api().generate(&params, &url))
        .await
        .expect_err("the answer was lost");
    assert_eq!(lost.action, Action::AwaitCallback);
    let wait = "select id from public.await_music_callback($1, $2, 2)";
    let waiting = sql::call(&mut db, Caller::Service, wait, &[&id, &claim.token]).await?;
    assert_eq!(waiting.len(), 1);
    assert!(
        sql::claim(&mut db, "w2", 5, 120, &queue).await?.is_empty(),
        "a waiting request was handed out"
    );

    // The provider's first callback (30 s into the task's life) names the task.
    sim.advance(31.0).await;
    let delivery = hook
        .wait_for(Duration::from_secs(5), |r| {
            r.target.starts_with("/callback")
        })
        .await
        .expect("a callback");
    let task = parse_callback(delivery.body.as_bytes())?
        .task_id
        .expect("the callback names its task");
    let attach = "select suno_task_id from public.attach_music_task($1, $2, $3)";
    let wrong_token = "0".repeat(48);
    let wrong = sql::call(
        &mut db,
        Caller::Service,
        attach,
        &[&id, &wrong_token, &task],
    )
    .await?;
    assert!(wrong.is_empty(), "a wrong token attached a task");
    let attached = sql::call(&mut db, Caller::Service, attach, &[&id, &token, &task]).await?;
    assert_eq!(attached.len(), 1);

    // After the wait: polled, not claimed again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(sql::claim(&mut db, "w2", 5, 120, &queue).await?.is_empty());
    assert_eq!(claim_polls(&mut db, &queue).await?, [id]);
    let submits = sim.requests("generate").await;
    assert_eq!(submits.len(), 1, "submitted again: {submits:?}");
    assert_eq!(submits[0]["credits_charged"], 12);
    assert_eq!(submits[0]["task_id"], task.as_str());
    let snapshot = sql::snapshot(&db, id).await?;
    assert_eq!(
        (snapshot.status.as_str(), snapshot.attempts),
        ("processing", 1)
    );

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

/// Item 3: with no callback, the request is submitted again after the wait,
/// once without using an attempt; a second lost answer costs one, so lost
/// answers cannot loop for ever. A late callback then attaches nothing.
#[tokio::test]
async fn without_a_callback_the_request_is_resubmitted_once_for_free() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let id = sql::enqueue(&mut db, &queue, user, "sad").await?;
    let wait = "select id from public.await_music_callback($1, $2, 1)";

    let first = sql::claim(&mut db, "w", 1, 120, &queue).await?[0];
    assert_eq!(first.attempts, 1);
    sql::call(&mut db, Caller::Service, wait, &[&id, &first.token]).await?;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let second = sql::claim(&mut db, "w", 1, 120, &queue).await?[0];
    assert_eq!(
        second.attempts, 1,
        "the resubmit after a lost answer is free"
    );

    sql::call(&mut db, Caller::Service, wait, &[&id, &second.token]).await?;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let third = sql::claim(&mut db, "w", 1, 120, &queue).await?[0];
    assert_eq!(third.attempts, 2, "a second lost answer uses an attempt");

    let token = callback_token(&db, id).await?;
    let attach = "select 1 from public.attach_music_task($1, $2, $3)";
    let late_task = task_id();
    let late = sql::call(&mut db, Caller::Service, attach, &[&id, &token, &late_task]).await?;
    assert!(
        late.is_empty(),
        "a callback attached to a resubmitted request"
    );
    let events = sql::events(&db, id).await?;
    assert_eq!(
        events,
        [
            "enqueued",
            "claimed",
            "awaiting_callback",
            "claimed",
            "awaiting_callback",
            "claimed"
        ]
    );

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

/// Item 3: on its last attempt, a request whose answer was lost still gets
/// its free resubmit; expiry does not fail it meanwhile.
#[tokio::test]
async fn a_lost_answer_on_the_last_attempt_is_still_resubmitted() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let enqueue = "select (public.enqueue_music_request(p_emotion => 'joy', p_user_id => $1,
                     p_queue => $2, p_max_attempts => 1) ->> 'id')::uuid";
    let id: Uuid = sql::call(&mut db, Caller::Service, enqueue, &[&user, &queue]).await?[0].get(0);
    let claim = sql::claim(&mut db, "w", 1, 120, &queue).await?[0];
    let wait = "select id from public.await_music_callback($1, $2, 1)";
    sql::call(&mut db, Caller::Service, wait, &[&id, &claim.token]).await?;
    tokio::time::sleep(Duration::from_millis(1300)).await;

    let expire = "select public.expire_music_requests($1)";
    let expired: i32 = sql::call(&mut db, Caller::Service, expire, &[&queue]).await?[0].get(0);
    assert_eq!(expired, 0);
    let again = sql::claim(&mut db, "w", 1, 120, &queue).await?;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

/// Item 4: a callback with the request's token makes its next poll due now;
/// a wrong token changes nothing.
#[tokio::test]
async fn a_callback_wakes_the_poll_of_its_request() -> Result<()> {
    let mut db = sql::db().await?;
    let (queue, user, claim) = submitted_request(&mut db, &task_id()).await?;
    assert!(
        claim_polls(&mut db, &queue).await?.is_empty(),
        "first poll is 30 s away"
    );

    let wake = "select id from public.wake_music_request($1, $2)";
    for wrong in ["", "nope", &"f".repeat(48)] {
        let rows = sql::call(&mut db, Caller::Service, wake, &[&claim.id, &wrong]).await?;
        assert!(rows.is_empty(), "woken with {wrong:?}");
    }
    assert!(claim_polls(&mut db, &queue).await?.is_empty());

    let token = callback_token(&db, claim.id).await?;
    let woken = sql::call(&mut db, Caller::Service, wake, &[&claim.id, &token]).await?;
    assert_eq!(woken.len(), 1);
    let again = sql::call(&mut db, Caller::Service, wake, &[&claim.id, &token]).await?;
    assert_eq!(again.len(), 1, "a second callback is still answered");
    assert_eq!(claim_polls(&mut db, &queue).await?, [claim.id]);
    let anon = sql::call(&mut db, Caller::Anon, wake, &[&claim.id, &token]).await;
    sql::expect_sqlstate(anon, "42501");

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

/// A callback for a request that is due already writes nothing, so it neither waits for
/// nor holds the row's lock: the run a `complete` callback starts is not made to skip its
/// request (claims skip locked rows) by the wake of the duplicate right behind it.
#[tokio::test]
async fn a_callback_for_a_due_request_takes_no_lock() -> Result<()> {
    let mut db = sql::db().await?;
    let (queue, user, claim) = submitted_request(&mut db, &task_id()).await?;
    let token = callback_token(&db, claim.id).await?;
    let wake = "select id from public.wake_music_request($1, $2)";
    let woken = sql::call(&mut db, Caller::Service, wake, &[&claim.id, &token]).await?;
    assert_eq!(woken.len(), 1);

    // Another session holds the row, as a claim or a completion does while it runs.
    let mut holder = sql::db().await?;
    let held = holder.transaction().await?;
    held.execute(
        "select 1 from public.music_generation_queue where id = $1 for update",
        &[&claim.id],
    )
    .await?;
    db.batch_execute("set lock_timeout = '500ms'").await?;
    let again = sql::call(&mut db, Caller::Service, wake, &[&claim.id, &token]).await?;
    assert_eq!(again.len(), 1, "a due request is answered without its lock");
    held.rollback().await?;
    db.batch_execute("reset lock_timeout").await?;
    assert_eq!(
        claim_polls(&mut db, &queue).await?,
        [claim.id],
        "and it is still due"
    );

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

/// Item 5: the poller writes when to read next (a Retry-After is honoured)
/// and counts anomalous reads; the stored counters bring the core to give
/// up on a vanished task instead of reading it for ever.
#[tokio::test]
async fn poll_counters_and_the_next_poll_time_are_stored() -> Result<()> {
    let mut db = sql::db().await?;
    let (queue, user, claim) = submitted_request(&mut db, &task_id()).await?;
    let schedule = "select poll_rereads from public.schedule_music_poll($1, $2, $3, $4)";

    // Due now, then a Retry-After of 120 s pushes the next read.
    let (zero, no) = (0_i32, false);
    let now = sql::call(
        &mut db,
        Caller::Service,
        schedule,
        &[&claim.id, &claim.token, &zero, &no],
    )
    .await?;
    assert_eq!(now[0].get::<_, i32>(0), 0);
    assert_eq!(claim_polls(&mut db, &queue).await?, [claim.id]);
    sql::call(
        &mut db,
        Caller::Service,
        schedule,
        &[&claim.id, &claim.token, &120, &false],
    )
    .await?;
    let later = sql::snapshot(&db, claim.id).await?.run_in_seconds;
    assert!((115.0..=121.0).contains(&later), "next poll in {later} s");

    // Three anomalous reads: the core then declares the task lost.
    for _ in 0..music_core::poll::ANOMALY_REREADS {
        sql::call(
            &mut db,
            Caller::Service,
            schedule,
            &[&claim.id, &claim.token, &0, &true],
        )
        .await?;
    }
    let task = SubmittedTask::from_row(&row_json(&db, claim.id).await?)?;
    assert_eq!(task.rereads, music_core::poll::ANOMALY_REREADS);
    let missing = music_core::PollResult::Answer(music_core::suno::RecordInfo::Missing);
    let decision = music_core::decide_poll(
        &task,
        &missing,
        task.submitted_at_ms + 60_000,
        0,
        &Default::default(),
    );
    assert!(
        matches!(
            decision,
            PollDecision::Fail {
                code: "task_lost",
                ..
            }
        ),
        "{decision:?}"
    );

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

/// Item 5: a stuck task is resubmitted once: the request goes back to the
/// queue without its task, flagged, and a second stuck resubmit is refused.
#[tokio::test]
async fn a_stuck_task_is_resubmitted_once() -> Result<()> {
    let mut db = sql::db().await?;
    let stuck_task = task_id();
    let (queue, user, claim) = submitted_request(&mut db, &stuck_task).await?;
    let resubmit = "select status, suno_task_id, stuck_resubmits
                      from public.resubmit_stuck_music_request($1, $2, 'stuck for 15 min')";
    let rows = sql::call(
        &mut db,
        Caller::Service,
        resubmit,
        &[&claim.id, &claim.token],
    )
    .await?;
    assert_eq!(rows[0].get::<_, String>(0), "pending");
    assert_eq!(rows[0].get::<_, Option<String>>(1), None);
    assert_eq!(rows[0].get::<_, i32>(2), 1);

    let again = sql::claim(&mut db, "w", 1, 120, &queue).await?[0];
    assert_eq!(again.attempts, 2);
    assert_eq!(mark_submitted(&mut db, again, Some(&task_id())).await?, 1);
    let task = SubmittedTask::from_row(&row_json(&db, claim.id).await?)?;
    assert!(task.resubmitted_when_stuck);
    let twice = sql::call(
        &mut db,
        Caller::Service,
        resubmit,
        &[&again.id, &again.token],
    )
    .await?;
    assert!(twice.is_empty(), "resubmitted twice for being stuck");

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

/// Item 6: maintenance fails a submitted task that outlived its queue's
/// timeout, with task_timeout and a fallback, and leaves a younger one.
#[tokio::test]
async fn maintenance_times_out_a_task_that_never_finishes() -> Result<()> {
    let mut db = sql::db().await?;
    let (queue, user, old) = submitted_request(&mut db, &task_id()).await?;
    let young_id = sql::enqueue(&mut db, &queue, user, "joy").await?;
    let young = sql::claim(&mut db, "w", 1, 120, &queue).await?[0];
    assert_eq!(young.id, young_id);
    assert_eq!(mark_submitted(&mut db, young, Some(&task_id())).await?, 1);
    db.execute(
        "update public.music_queues set task_timeout_seconds = 600 where name = $1",
        &[&queue],
    )
    .await?;
    db.execute(
        "update public.music_generation_queue set submitted_at = now() - interval '11 minutes' where id = $1",
        &[&old.id],
    )
    .await?;

    let run = "select public.music_queue_maintenance()";
    let report: Value = sql::call(&mut db, Caller::Service, run, &[]).await?[0].get(0);
    assert!(report["timed_out"].as_i64() >= Some(1), "{report}");
    let timed_out = sql::snapshot(&db, old.id).await?;
    assert_eq!(timed_out.status, "failed");
    assert_eq!(timed_out.error_code.as_deref(), Some("task_timeout"));
    assert!(timed_out.fallback_track_id.is_some());
    assert_eq!(sql::snapshot(&db, young.id).await?.status, "processing");
    assert!(
        !sql::complete(&mut db, old).await?,
        "a timed-out task completed"
    );

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

/// A callback that wakes a request while its read is in flight wins: the read's own
/// schedule leaves the row due, so the run the callback started finds it (without a wake,
/// the schedule pushes the next read out as asked).
#[tokio::test]
async fn a_wake_during_a_read_is_not_undone_by_the_reads_schedule() -> Result<()> {
    let mut db = sql::db().await?;
    let (queue, user, claim) = submitted_request(&mut db, &task_id()).await?;
    let schedule = "select id from public.schedule_music_poll($1, $2, $3, false)";
    let wake = "select id from public.wake_music_request($1, $2)";
    let token = callback_token(&db, claim.id).await?;
    let (now, later) = (0_i32, 20_i32);
    sql::call(
        &mut db,
        Caller::Service,
        schedule,
        &[&claim.id, &claim.token, &now],
    )
    .await?;

    // A read without a wake: scheduled 20 s on, nothing is due.
    assert_eq!(claim_polls(&mut db, &queue).await?, [claim.id]);
    sql::call(
        &mut db,
        Caller::Service,
        schedule,
        &[&claim.id, &claim.token, &later],
    )
    .await?;
    assert!(claim_polls(&mut db, &queue).await?.is_empty());

    // A read during which the callback wakes the request: still due after the schedule.
    sql::call(&mut db, Caller::Service, wake, &[&claim.id, &token]).await?;
    assert_eq!(
        claim_polls(&mut db, &queue).await?,
        [claim.id],
        "the read claims it"
    );
    sql::call(&mut db, Caller::Service, wake, &[&claim.id, &token]).await?;
    sql::call(
        &mut db,
        Caller::Service,
        schedule,
        &[&claim.id, &claim.token, &later],
    )
    .await?;
    assert_eq!(
        claim_polls(&mut db, &queue).await?,
        [claim.id],
        "the callback's run finds it due"
    );

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}
