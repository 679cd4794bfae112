//! `music-queue-worker` (and the status check's single flight and recovery) end to end: the
//! real WASM under Deno behind the gateway, PostgREST, Postgres and the stack's Suno
//! simulator, run 100 times faster than real time so a task finishes in about a second.
//!
//! The worker serves the `default` queue, the provider status is one row, and the
//! simulator is shared: each test holds [`serial`], pauses the cron jobs, and starts from an
//! empty default queue, a healthy fresh status and an empty token bucket. Requests are
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
use stack_tests::sql::{call, new_user, Caller};
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
         update public.music_rate_limits set taken = '{}';
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
        let user = new_user(&self.db).await?;
        let mut ids = Vec::new();
        for i in 0..n {
            let rows = call(
                &mut self.db,
                Caller::Service,
                "select (public.enqueue_music_request(p_emotion => 'joy', p_user_id => $1,
                         p_prompt => $2) ->> 'id')::uuid",
                &[&user, &format!("{prompt} {i}")],
            )
            .await?;
            ids.push(rows[0].get(0));
        }
        Ok(ids)
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
        let deadline = Instant::now() + within;
        loop {
            let count: i64 = self
                .db
                .query_one(
                    "select count(*) from public.music_generation_queue
                      where id = any($1) and status = $2",
                    &[&ids, &status],
                )
                .await?
                .get(0);
            if count == ids.len() as i64 {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "{count} of {} {status} after {within:?}",
                ids.len()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
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
        stack.wait_for(&ids, "completed", Duration::from_secs(20)).await?;
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
        stack.wait_for(&ids, "processing", Duration::from_secs(5)).await?;
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
