//! A stage on the project stack for tests that drive the worker and the status check
//! themselves, the way pg_cron would, against the stack's simulator.
//!
//! [`Stage::set_up`] pauses every cron job, remembers the simulator's settings and the
//! `default` queue's, resets the simulator with its clock frozen (it moves only when a test
//! advances it), empties the default queue of unfinished requests and lifts any provider
//! pause. [`Stage::restore`] puts all of that back, so later tests (the browser tests
//! among them) find the stack as it was. The worker serves only the `default` queue, so
//! these tests must not run beside each other or beside `function_worker`: each file runs
//! on its own (`cargo test` runs test files one after another), and tests of one file hold
//! [`crate::functions::serial`].

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use reqwest::Method;
use serde_json::{json, Value};
use tokio_postgres::Client;
use uuid::Uuid;

use crate::functions::{
    expect_status, pause_cron_jobs, restore_cron_jobs, Answer, CronJobs, Functions, Key, StackSim,
};
use crate::sql;

const WORKER: &str = "music-queue-worker";
const STATUS_CHECK: &str = "suno-status-check";

/// The project stack, set for one test.
pub struct Stage {
    /// The functions behind the gateway.
    pub functions: Functions,
    /// The stack's simulator.
    pub sim: StackSim,
    /// A superuser connection.
    pub db: Client,
    cron: CronJobs,
    sim_settings: Value,
    queue: Value,
    /// The database's clock when the stage was set: runs before are not this test's.
    since: chrono::DateTime<chrono::Utc>,
}

impl Stage {
    /// Cron paused, simulator reset and frozen, default queue empty, provider not paused.
    pub async fn set_up() -> Result<Stage> {
        let functions = Functions::from_env()?;
        let db = functions.env.db().await?;
        let sim = StackSim::from_env()?;
        let cron = pause_cron_jobs(&db).await?;
        let sim_settings = sim.current_settings().await?;
        let queue: Value = db
            .query_one(
                "select to_jsonb(q) from public.music_queues q where name = 'default'",
                &[],
            )
            .await?
            .get(0);
        let since = db.query_one("select now()", &[]).await?.get(0);
        sim.reset().await?;
        sim.settings(json!({"time_scale": 0})).await?;
        db.batch_execute(
            "delete from public.music_generation_queue
              where queue = 'default' and status in ('pending', 'processing');
             update public.suno_api_status set paused_until = null, pause_kind = null where id;",
        )
        .await?;
        let stage = Stage {
            functions,
            sim,
            db,
            cron,
            sim_settings,
            queue,
            since,
        };
        expect_status(&stage.check_status().await?, 200)?;
        Ok(stage)
    }

    /// Puts back the simulator's settings (faults cleared), the default queue's settings
    /// and the cron jobs as [`Stage::set_up`] found them.
    pub async fn restore(&self) -> Result<()> {
        self.sim.reset().await?;
        self.sim.settings(self.sim_settings.clone()).await?;
        self.db
            .execute(
                "update public.music_queues q
                    set batch_size = r.batch_size, submit_spacing_ms = r.submit_spacing_ms,
                        max_attempts = r.max_attempts, max_per_run = r.max_per_run,
                        max_pending_per_user = r.max_pending_per_user,
                        paused = r.paused, paused_at = r.paused_at, paused_by = r.paused_by,
                        pause_reason = r.pause_reason
                   from jsonb_populate_record(null::public.music_queues, $1) r
                  where q.name = 'default'",
                &[&self.queue],
            )
            .await?;
        restore_cron_jobs(&self.db, &self.cron).await
    }

    /// Enqueues `n` requests for one fresh user through the SQL API, as
    /// `emotion-music-ai` does; each prompt is `prompt` and its number.
    pub async fn enqueue(&mut self, n: usize, prompt: &str) -> Result<Vec<Uuid>> {
        sql::enqueue_for_new_user(&mut self.db, "calm", n, prompt).await
    }

    /// A worker run as pg_cron starts it (the secret key), answered with its summary.
    pub async fn run_worker(&self) -> Result<Value> {
        let path = format!("{WORKER}?wait=true");
        let answer = self
            .functions
            .call(Method::POST, &path, &Key::Secret, None)
            .await?;
        expect_status(&answer, 200)?;
        Ok(answer.json)
    }

    /// A worker run started as pg_cron starts it: answered 202 at once, the run goes on.
    pub async fn start_worker(&self) -> Result<Answer> {
        self.functions
            .call(Method::POST, WORKER, &Key::Secret, None)
            .await
    }

    /// A status check as pg_cron starts it (the secret key: it probes).
    pub async fn check_status(&self) -> Result<Answer> {
        self.functions
            .call(Method::POST, STATUS_CHECK, &Key::Secret, None)
            .await
    }

    /// Waits until every request of `ids` has `status`.
    pub async fn wait_for(&self, ids: &[Uuid], status: &str, within: Duration) -> Result<()> {
        sql::wait_for_status(&self.db, ids, status, within).await
    }

    /// Waits until no worker run started on this stage is still running (callback runs
    /// finish on their own).
    pub async fn wait_for_quiet_runs(&self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let running: i64 = self
                .db
                .query_one(
                    "select count(*) from public.music_worker_runs
                      where status = 'running' and started_at >= $1",
                    &[&self.since],
                )
                .await?
                .get(0);
            if running == 0 {
                return Ok(());
            }
            ensure!(Instant::now() < deadline, "{running} runs still running");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// How many events named `event` a request has.
    pub async fn events(&self, id: Uuid, event: &str) -> Result<i64> {
        Ok(self
            .db
            .query_one(
                "select count(*) from public.music_generation_events
                  where request_id = $1 and event = $2",
                &[&id, &event],
            )
            .await?
            .get(0))
    }

    /// The request's row as JSON.
    pub async fn request(&self, id: Uuid) -> Result<Value> {
        let row = self
            .db
            .query_opt(
                "select to_jsonb(q) from public.music_generation_queue q where id = $1",
                &[&id],
            )
            .await?
            .with_context(|| format!("request {id} is gone"))?;
        Ok(row.get(0))
    }

    /// The library tracks a request added.
    pub async fn tracks(&self, id: Uuid) -> Result<i64> {
        Ok(self
            .db
            .query_one(
                "select count(*) from public.music_tracks where request_id = $1",
                &[&id],
            )
            .await?
            .get(0))
    }
}
