//! `music-queue-worker` (and the status check's single flight and recovery) end to end: the
//! real WASM under Deno behind the gateway, PostgREST, Postgres and the stack's Suno
//! simulator, run 100 times faster than real time so a task finishes in about a second.
//!
//! The worker serves the `default` queue, the provider status is one row, and the
//! simulator is shared: each test holds [`serial`], pauses the cron jobs, and starts from an
//! empty default queue and a healthy fresh status. The token bucket is left as it is: it
//! remembers the submits of the test before, as the provider's own window does. Requests are
//! enqueued through the SQL API as the service role, as `emotion-music-ai` does. Each
//! scenario runs with both forms of the secret key (the legacy JWT and `sb_secret_…`).
//! A few tests move a request's clock forward (`run_at`, `submitted_at`) instead of waiting
//! out a backoff or a 15-minute stuck timeout; each says so.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use reqwest::Method;
use serde_json::{json, Value};
use stack_tests::functions::{
    expect_status, is_error_body, serial, set_cron_job_active, Answer, Functions, Key, StackSim,
};
use stack_tests::sql;
use tokio_postgres::Client;
use uuid::Uuid;

const WORKER: &str = "music-queue-worker";
const STATUS: &str = "suno-status-check";
const CRON_JOBS: [&str; 2] = [
    "music-queue-worker-every-minute",
    "suno-status-check-every-minute",
];

struct Stack {
    functions: Functions,
    sim: StackSim,
    db: Client,
}

/// A clean stage: cron paused, simulator fast and fault-free, default queue empty, bucket
/// empty, provider status fresh and healthy.
async fn setup() -> Result<Stack> {
    let functions = Functions::from_env()?;
    let db = functions.env.db().await?;
    for job in CRON_JOBS {
        set_cron_job_active(&db, job, false).await?;
    }
    let sim = StackSim::from_env()?;
    sim.reset().await?;
    sim.settings(json!({"time_scale": 100})).await?;
    db.batch_execute(
        "delete from public.music_generation_queue where queue = 'default' and status in ('pending', 'processing');
         update public.suno_api_status set paused_until = null, pause_kind = null where id;",
    )
    .await?;
    let stack = Stack { functions, sim, db };
    expect_status(&stack.status(&Key::Secret).await?, 200)?;
    stack.sim.clear_requests().await?;
    Ok(stack)
}

impl Stack {
    async fn status(&self, key: &Key) -> Result<Answer> {
        self.functions.call(Method::POST, STATUS, key, None).await
    }

    /// A worker run as `key`, answered with its summary.
    async fn run(&self, key: &Key) -> Result<Value> {
        let answer = self
            .functions
            .call(Method::POST, &format!("{WORKER}?wait=true"), key, None)
            .await?;
        expect_status(&answer, 200)?;
        Ok(answer.json)
    }

    /// Enqueues `n` requests with `prompt` for a fresh user, through the SQL API.
    async fn enqueue(&mut self, n: usize, prompt: &str) -> Result<Vec<Uuid>> {
        sql::enqueue_for_new_user(&mut self.db, "joy", n, prompt).await
    }

    /// `status, attempts, error_code, has a fallback, clips in the result` of a request.
    async fn request(&self, id: Uuid) -> Result<(String, i32, Option<String>, bool, usize)> {
        let row = self
            .db
            .query_one(
                "select status, attempts, error_code, fallback_track_id is not null,
                        coalesce(jsonb_array_length(result -> 'clips'), 0)
                   from public.music_generation_queue where id = $1",
                &[&id],
            )
            .await?;
        let clips: i32 = row.get(4);
        Ok((
            row.get(0),
            row.get(1),
            row.get(2),
            row.get(3),
            clips as usize,
        ))
    }

    /// Waits until every request of `ids` has `status`.
    async fn wait_for(&self, ids: &[Uuid], status: &str, within: Duration) -> Result<()> {
        sql::wait_for_status(&self.db, ids, status, within).await
    }

    /// Makes the requests due now: the test's stand-in for waiting out a backoff.
    async fn make_due(&self, ids: &[Uuid]) -> Result<()> {
        self.db
            .execute(
                "update public.music_generation_queue set run_at = now() where id = any($1)",
                &[&ids],
            )
            .await?;
        Ok(())
    }

    /// The submits the provider accepted (a task created, and charged) for `id`.
    async fn accepted_submits(&self, id: Uuid) -> Result<usize> {
        let submits = self.sim.requests("generate").await?;
        Ok(submits
            .iter()
            .filter(|s| !s["task_id"].is_null() && s["body"].to_string().contains(&id.to_string()))
            .count())
    }

    async fn events(&self, id: Uuid, event: &str) -> Result<i64> {
        Ok(self
            .db
            .query_one(
                "select count(*) from public.music_generation_events where request_id = $1 and event = $2",
                &[&id, &event],
            )
            .await?
            .get(0))
    }
}

#[tokio::test]
async fn a_healthy_request_completes_with_two_clips_by_callback_or_by_poll() -> Result<()> {
    let _serial = serial().await;
    let mut stack = setup().await?;
    for key in Key::SECRET_KINDS {
        // Callback: the `complete` callback makes the read due and reads it at once.
        let ids = stack.enqueue(1, "a bright morning").await?;
        let summary = stack.run(&key).await?;
        assert_eq!(summary["submitted"], 1, "{summary}");
        stack
            .wait_for(&ids, "completed", Duration::from_secs(20))
            .await?;
        let (_, attempts, _, _, clips) = stack.request(ids[0]).await?;
        assert_eq!((attempts, clips), (1, 2));
        assert_eq!(stack.accepted_submits(ids[0]).await?, 1);

        // Poll: no callbacks; once the task is done, the next run reads it.
        stack
            .sim
            .settings(json!({"callbacks": {"enabled": false}}))
            .await?;
        let ids = stack.enqueue(1, "a quiet evening").await?;
        stack.run(&key).await?;
        stack
            .wait_for(&ids, "processing", Duration::from_secs(5))
            .await?;
        stack.sim.advance(200).await?;
        stack.make_due(&ids).await?;
        let summary = stack.run(&key).await?;
        assert_eq!(summary["completed"], 1, "{summary}");
        assert_eq!(stack.request(ids[0]).await?.4, 2);
        stack
            .sim
            .settings(json!({"callbacks": {"enabled": true}}))
            .await?;
    }
    Ok(())
}

#[tokio::test]
async fn after_an_outage_the_status_check_starts_a_recovery_run_and_each_request_is_sent_once(
) -> Result<()> {
    let _serial = serial().await;
    let mut stack = setup().await?;
    for key in Key::SECRET_KINDS {
        // Down: three failed probes open the circuit.
        stack
            .sim
            .fault(json!({"kind": "http_error", "status": 503}))
            .await?;
        for _ in 0..3 {
            expect_status(&stack.status(&key).await?, 200)?;
        }
        let ids = stack.enqueue(3, "after the storm").await?;
        let summary = stack.run(&key).await?;
        assert_eq!(summary["claimed"], 0, "{summary}");
        assert_eq!(summary["skipped_reason"], "provider_unavailable");

        // Back: the status check's probe finds it and starts a run at once.
        stack.sim.clear_faults().await?;
        let since = chrono::Utc::now();
        let answer = stack.status(&key).await?;
        assert_eq!(answer.json["state"], "up", "{}", answer.json);
        stack
            .wait_for(&ids, "completed", Duration::from_secs(30))
            .await?;
        let recovery_runs: i64 = stack
            .db
            .query_one(
                "select count(*) from public.music_worker_runs
                  where trigger = 'recovery' and started_at >= $1",
                &[&since],
            )
            .await?
            .get(0);
        assert!(recovery_runs >= 1, "a recovery run was recorded");
        for id in &ids {
            assert_eq!(stack.accepted_submits(*id).await?, 1, "{id}");
            assert_eq!(stack.request(*id).await?.1, 1, "one attempt");
        }
    }
    Ok(())
}

#[tokio::test]
async fn concurrent_privileged_status_checks_send_one_probe() -> Result<()> {
    let _serial = serial().await;
    let stack = setup().await?;
    for key in Key::SECRET_KINDS {
        stack.sim.clear_requests().await?;
        // A slow probe holds the lease while the others ask.
        stack
            .sim
            .fault(json!({"kind": "slow", "delay_ms": 1500, "endpoint": "credit", "count": 1}))
            .await?;
        let calls = (0..5).map(|_| stack.status(&key));
        for answer in futures::future::join_all(calls).await {
            expect_status(&answer?, 200)?;
        }
        assert_eq!(stack.sim.requests("credit").await?.len(), 1);
    }
    Ok(())
}

#[tokio::test]
async fn out_of_credits_pauses_without_using_attempts_and_resumes_when_credits_are_back(
) -> Result<()> {
    let _serial = serial().await;
    let mut stack = setup().await?;
    for key in Key::SECRET_KINDS {
        stack.sim.settings(json!({"credits": 0})).await?;
        let ids = stack.enqueue(2, "no coins").await?;
        let summary = stack.run(&key).await?;
        assert_eq!(summary["deferred"], 2, "{summary}");
        assert_eq!(summary["failed"], 0, "{summary}");
        for id in &ids {
            let (status, attempts, ..) = stack.request(*id).await?;
            assert_eq!((status.as_str(), attempts), ("pending", 0));
        }
        let state: String = stack
            .db
            .query_one("select state from public.suno_api_status where id", &[])
            .await?
            .get(0);
        assert_eq!(state, "no_credits");

        // Credits back: the status check lifts the pause and starts a run. The deferral
        // itself lasts until the pause it saw would have ended: moved forward here.
        stack.sim.settings(json!({"credits": 1000})).await?;
        stack.make_due(&ids).await?;
        expect_status(&stack.status(&key).await?, 200)?;
        stack
            .wait_for(&ids, "completed", Duration::from_secs(30))
            .await?;
        for id in &ids {
            assert_eq!(stack.request(*id).await?.1, 1, "one attempt");
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_430_defers_without_an_attempt_and_submits_keep_to_20_in_any_10_s() -> Result<()> {
    let _serial = serial().await;
    let mut stack = setup().await?;
    for key in Key::SECRET_KINDS {
        stack
            .sim
            .fault(json!({"kind": "body_code", "code": 430, "endpoint": "generate", "count": 1}))
            .await?;
        let ids = stack.enqueue(2, "too fast").await?;
        let summary = stack.run(&key).await?;
        assert_eq!(summary["deferred"], 2, "{summary}");
        for id in &ids {
            let (status, attempts, ..) = stack.request(*id).await?;
            assert_eq!((status.as_str(), attempts), ("pending", 0));
        }
        stack
            .db
            .batch_execute(
                "delete from public.music_generation_queue where queue = 'default' and status = 'pending';
                 update public.suno_api_status set paused_until = null, pause_kind = null where id;",
            )
            .await?;
    }

    // Two runs at once with no spacing: only the shared bucket holds them back.
    stack.sim.clear_requests().await?;
    configure(&stack.db, 0).await?;
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.extend(stack.enqueue(5, "a crowd").await?);
    }
    let runs = futures::future::join(stack.run(&Key::Secret), stack.run(&Key::ServiceRole)).await;
    configure(&stack.db, 2000).await?;
    let (first, second) = (runs.0?, runs.1?);
    let submitted = first["submitted"].as_u64().unwrap() + second["submitted"].as_u64().unwrap();
    assert_eq!(submitted, 30, "{first} {second}");
    let times: Vec<i64> = stack
        .sim
        .requests("generate")
        .await?
        .iter()
        .map(|s| s["at_ms"].as_i64().unwrap())
        .collect();
    assert_eq!(times.len(), 30, "no submit refused, none repeated");
    // Arrival times, so a few milliseconds of network jitter are allowed for.
    for (i, start) in times.iter().enumerate() {
        let in_window = times[i..].iter().filter(|t| **t < start + 9_950).count();
        assert!(in_window <= 20, "{in_window} submits in 10 s from {start}");
    }
    Ok(())
}

async fn configure(db: &Client, spacing_ms: i32) -> Result<()> {
    db.execute(
        "update public.music_queues set submit_spacing_ms = $1 where name = 'default'",
        &[&spacing_ms],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_sensitive_word_fails_at_once_with_a_fallback() -> Result<()> {
    let _serial = serial().await;
    let mut stack = setup().await?;
    stack
        .sim
        .settings(json!({"banned_words": ["forbidden"]}))
        .await?;
    for key in Key::SECRET_KINDS {
        // Refused at submit.
        let ids = stack.enqueue(1, "a forbidden song").await?;
        let summary = stack.run(&key).await?;
        assert_eq!(
            (summary["failed"].as_u64(), summary["fallbacks"].as_u64()),
            (Some(1), Some(1))
        );
        let (status, attempts, code, fallback, _) = stack.request(ids[0]).await?;
        assert_eq!((status.as_str(), attempts, fallback), ("failed", 1, true));
        assert!(code.is_some());

        // Refused by the task: the error callback reads it and fails it.
        stack.sim.outcomes("sensitive_word", 1).await?;
        let ids = stack.enqueue(1, "a tender song").await?;
        stack.run(&key).await?;
        stack
            .wait_for(&ids, "failed", Duration::from_secs(20))
            .await?;
        let (_, attempts, _, fallback, _) = stack.request(ids[0]).await?;
        assert_eq!((attempts, fallback), (1, true));
    }
    Ok(())
}

#[tokio::test]
async fn audio_failing_three_times_fails_after_three_attempts_with_a_fallback() -> Result<()> {
    let _serial = serial().await;
    let mut stack = setup().await?;
    for key in Key::SECRET_KINDS {
        stack.sim.outcomes("audio_failed_501", 3).await?;
        let ids = stack.enqueue(1, "a fragile tune").await?;
        for attempt in 1..=3 {
            stack.run(&key).await?;
            let expected = if attempt < 3 { "pending" } else { "failed" };
            stack
                .wait_for(&ids, expected, Duration::from_secs(20))
                .await?;
            // The backoff (30 s and more) is waited out here.
            stack.make_due(&ids).await?;
        }
        let (_, attempts, _, fallback, _) = stack.request(ids[0]).await?;
        assert_eq!((attempts, fallback), (3, true));
        assert_eq!(stack.events(ids[0], "retried").await?, 2);
        assert_eq!(stack.accepted_submits(ids[0]).await?, 3);
    }
    Ok(())
}

#[tokio::test]
async fn a_stuck_task_is_resubmitted_once_then_timed_out_with_a_fallback() -> Result<()> {
    let _serial = serial().await;
    let mut stack = setup().await?;
    for key in Key::SECRET_KINDS {
        stack.sim.outcomes("stuck", 2).await?;
        let ids = stack.enqueue(1, "a frozen tune").await?;
        stack.run(&key).await?;
        for expected in ["pending", "failed"] {
            // 16 minutes pass (the stuck timeout is 15).
            stack
                .db
                .execute(
                    "update public.music_generation_queue
                        set submitted_at = submitted_at - interval '16 minutes', run_at = now()
                      where id = $1",
                    &[&ids[0]],
                )
                .await?;
            let summary = stack.run(&key).await?;
            if expected == "pending" {
                // Resubmitted, and sent again by the same run.
                assert_eq!(summary["retried"], 1, "{summary}");
                assert_eq!(summary["submitted"], 1, "{summary}");
            } else {
                stack
                    .wait_for(&ids, expected, Duration::from_secs(5))
                    .await?;
            }
        }
        let (_, attempts, code, fallback, _) = stack.request(ids[0]).await?;
        assert_eq!(
            (attempts, code.as_deref(), fallback),
            (2, Some("task_stuck"), true)
        );
    }
    Ok(())
}

#[tokio::test]
async fn duplicate_reordered_and_forged_callbacks_complete_once() -> Result<()> {
    let _serial = serial().await;
    let mut stack = setup().await?;
    stack
        .sim
        .settings(
            json!({"callbacks": {"duplicate": ["text", "first", "complete"], "reorder": true}}),
        )
        .await?;
    for key in Key::SECRET_KINDS {
        let ids = stack.enqueue(1, "an echo").await?;
        stack.run(&key).await?;
        let forged = stack
            .functions
            .call(
                Method::POST,
                &format!("{WORKER}/callback?request_id={}&token=wrong", ids[0]),
                &Key::Nothing,
                Some(
                    json!({"code": 200, "msg": "ok", "data": {"callbackType": "complete",
                            "task_id": "f00", "data": []}}),
                ),
            )
            .await?;
        expect_status(&forged, 401)?;
        assert!(is_error_body(&forged.json), "{}", forged.json);
        let bad = stack
            .functions
            .call(
                Method::POST,
                &format!("{WORKER}/callback?token=x"),
                &Key::Nothing,
                None,
            )
            .await?;
        expect_status(&bad, 400)?;
        stack
            .wait_for(&ids, "completed", Duration::from_secs(20))
            .await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(stack.events(ids[0], "completed").await?, 1);
        let tracks: i64 = stack
            .db
            .query_one(
                "select count(*) from public.music_tracks where request_id = $1",
                &[&ids[0]],
            )
            .await?
            .get(0);
        assert_eq!(tracks, 2);
    }
    Ok(())
}

#[tokio::test]
async fn a_submit_accepted_then_lost_is_charged_once() -> Result<()> {
    let _serial = serial().await;
    let mut stack = setup().await?;
    for key in Key::SECRET_KINDS {
        stack
            .sim
            .fault(json!({"kind": "accept_then_lose", "endpoint": "generate", "count": 1}))
            .await?;
        let ids = stack.enqueue(1, "a lost letter").await?;
        stack.run(&key).await?;
        // The callback brings the task id the lost answer carried.
        stack
            .wait_for(&ids, "completed", Duration::from_secs(30))
            .await?;
        assert_eq!(stack.events(ids[0], "awaiting_callback").await?, 1);
        let charged: Vec<Value> = stack
            .sim
            .requests("generate")
            .await?
            .into_iter()
            .filter(|s| s["body"].to_string().contains(&ids[0].to_string()))
            .collect();
        assert_eq!(charged.len(), 1, "one submit, one charge: {charged:?}");
    }
    Ok(())
}

#[tokio::test]
async fn a_cron_run_and_a_manual_run_at_once_submit_nothing_twice() -> Result<()> {
    let _serial = serial().await;
    let mut stack = setup().await?;
    for key in Key::SECRET_KINDS {
        let mut ids = stack.enqueue(5, "twins").await?;
        ids.extend(stack.enqueue(5, "twins").await?);
        let (cron, manual) = futures::future::join(stack.run(&key), stack.run(&Key::admin())).await;
        let (cron, manual) = (cron?, manual?);
        assert_eq!(cron["trigger"], "cron");
        assert_eq!(manual["trigger"], "manual");
        let submitted = cron["submitted"].as_u64().unwrap() + manual["submitted"].as_u64().unwrap();
        assert_eq!(submitted, 10, "{cron} {manual}");
        for id in &ids {
            assert_eq!(stack.accepted_submits(*id).await?, 1, "{id}");
        }
        stack
            .wait_for(&ids, "completed", Duration::from_secs(30))
            .await?;
    }
    Ok(())
}

#[tokio::test]
async fn only_the_secret_key_or_an_admin_may_run_the_worker_and_every_run_is_recorded() -> Result<()>
{
    let _serial = serial().await;
    let stack = setup().await?;
    let functions = &stack.functions;
    let call = |key: Key| async move { functions.call(Method::POST, WORKER, &key, None).await };
    for (key, status) in [
        (Key::Nothing, 401),
        (Key::Anon, 401),
        (Key::Publishable, 401),
        (Key::user(), 403),
    ] {
        let answer = call(key.clone()).await?;
        expect_status(&answer, status).with_context(|| format!("{key:?}"))?;
        assert!(is_error_body(&answer.json), "{}", answer.json);
    }
    for key in [Key::ServiceRole, Key::Secret, Key::admin()] {
        let answer = call(key.clone()).await?;
        expect_status(&answer, 202).with_context(|| format!("{key:?}"))?;
        let run_id: Uuid = answer.json["run_id"].as_str().unwrap().parse()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let row = stack
                .db
                .query_one(
                    "select status, summary from public.music_worker_runs where id = $1",
                    &[&run_id],
                )
                .await?;
            let status: String = row.get(0);
            if status == "finished" {
                let summary: Value = row.get(1);
                assert_eq!(summary["claimed"], 0, "{summary}");
                break;
            }
            ensure!(Instant::now() < deadline, "run {run_id} is still {status}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let answer = stack
        .functions
        .call(Method::OPTIONS, WORKER, &Key::Nothing, None)
        .await?;
    expect_status(&answer, 204)?;
    assert_eq!(answer.header("access-control-allow-origin"), "*");
    Ok(())
}

#[tokio::test]
async fn the_cron_schedule_drives_a_run_through_pg_cron_and_pg_net() -> Result<()> {
    let _serial = serial().await;
    let mut stack = setup().await?;
    let ids = stack.enqueue(1, "on the minute").await?;
    let since = chrono::Utc::now();
    set_cron_job_active(&stack.db, CRON_JOBS[0], true).await?;
    let waited = stack
        .wait_for(&ids, "completed", Duration::from_secs(130))
        .await;
    set_cron_job_active(&stack.db, CRON_JOBS[0], false).await?;
    waited?;
    let runs: i64 = stack
        .db
        .query_one(
            "select count(*) from public.music_worker_runs where trigger = 'cron' and started_at >= $1",
            &[&since],
        )
        .await?
        .get(0);
    assert!(runs >= 1, "a cron run was recorded");
    assert_eq!(stack.accepted_submits(ids[0]).await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_run_raises_the_failure_rate_alert_once() -> Result<()> {
    let _serial = serial().await;
    let mut stack = setup().await?;
    // The stage: nothing finished in the last hour, no alert raised yet. A
    // request's whole life moves back, so none ends before it began (the
    // stats' mean waits read these rows too).
    stack
        .db
        .batch_execute(
            "update public.music_generation_queue
                set created_at = created_at - interval '2 hours',
                    started_at = started_at - interval '2 hours',
                    submitted_at = submitted_at - interval '2 hours',
                    completed_at = completed_at - interval '2 hours',
                    failed_at = failed_at - interval '2 hours'
              where queue = 'default';
             delete from public.music_alerts where queue = 'default';",
        )
        .await?;
    stack
        .sim
        .settings(json!({"banned_words": ["forbidden"]}))
        .await?;
    let ids = stack.enqueue(5, "a forbidden song").await?;
    let summary = stack.run(&Key::Secret).await?;
    assert_eq!(summary["failed"], 5, "{summary}");
    stack.run(&Key::ServiceRole).await?;
    let alerts: Vec<Value> = stack
        .db
        .query(
            "select figures from public.music_alerts where queue = 'default' and kind = 'failure_rate'",
            &[],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(alerts.len(), 1, "one alert an hour: {alerts:?}");
    assert_eq!(alerts[0]["failed"], 5);
    for id in &ids {
        assert_eq!(stack.request(*id).await?.0, "failed");
    }
    Ok(())
}
