//! The worker's Deno process killed with SIGKILL in the middle of a batch.
//!
//! The simulator holds the batch's first submit, so the kill lands while that submit is in
//! flight and the rest of the batch is claimed but not sent. The stack starts the process
//! again; the claimed requests stay with the dead run until their lease ends, then the next
//! run takes them back. The test moves the leases' end to now instead of waiting the
//! 120 s lease out. The provider must see each request once, except the one whose submit
//! was in flight: its answer was lost with the process, and a lost answer is the one case
//! where a request may be submitted a second time (README, "The worker and the status
//! check").

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use reqwest::Method;
use serde_json::{json, Value};
use stack_tests::faults::{eventually, is_running, part_pid, send_signal, PausedCronJobs};
use stack_tests::functions::{expect_status, Functions, Key, StackSim};
use stack_tests::sql;
use tokio_postgres::Client;
use uuid::Uuid;

const WORKER: &str = "music-queue-worker";
const WORKER_PART: &str = "function:music-queue-worker";
const CRON_JOBS: [&str; 2] = [
    "music-queue-worker-every-minute",
    "suno-status-check-every-minute",
];
/// How long the simulator holds the first submit: long enough to kill the worker while it
/// waits, shorter than the worker's provider timeout (30 s).
const HELD_SUBMIT_MS: u64 = 5_000;

struct Stage {
    functions: Functions,
    sim: StackSim,
    db: Client,
}

#[tokio::test]
async fn a_worker_killed_mid_batch_loses_no_request_and_pays_twice_only_for_a_lost_answer(
) -> Result<()> {
    let functions = Functions::from_env()?;
    let db = functions.env.db().await?;
    let cron = PausedCronJobs::pause(&db, &CRON_JOBS).await?;
    let queue: (i32, i32) = {
        let row = db
            .query_one(
                "select batch_size, submit_spacing_ms from public.music_queues where name = 'default'",
                &[],
            )
            .await?;
        (row.get(0), row.get(1))
    };
    let mut stage = Stage {
        functions,
        sim: StackSim::from_env()?,
        db,
    };
    let outcome = kill_mid_batch(&mut stage).await;
    // Leave the stack as the other tests expect it, whatever happened.
    stage.sim.reset().await?;
    stage
        .db
        .execute(
            "update public.music_queues set batch_size = $1, submit_spacing_ms = $2
              where name = 'default'",
            &[&queue.0, &queue.1],
        )
        .await?;
    cron.restore(&stage.db).await?;
    outcome
}

async fn kill_mid_batch(stage: &mut Stage) -> Result<()> {
    stage.clean().await?;
    let ids = stage.enqueue(3).await?;
    stage
        .sim
        .fault(
            json!({"kind": "slow", "delay_ms": HELD_SUBMIT_MS, "endpoint": "generate", "count": 1}),
        )
        .await?;

    let started = stage
        .functions
        .call(Method::POST, WORKER, &Key::Secret, None)
        .await?;
    expect_status(&started, 202)?;
    let held = stage.held_submit(&ids).await?;
    let killed = part_pid(WORKER_PART)?;
    send_signal(killed, "KILL")?;
    eventually(
        Duration::from_secs(5),
        "the killed worker to be gone",
        || async move { Ok(!is_running(killed)) },
    )
    .await?;

    // The whole batch was claimed by the dead run, one submit was in flight.
    let rows = stage.rows(&ids).await?;
    for (id, status, _, leased) in &rows {
        ensure!(
            status == "processing" && *leased,
            "{id} after the kill: {status}, leased {leased}"
        );
    }

    // The stack starts the worker again; while the dead run's leases last, a run takes
    // nothing back.
    let summary = stage.run_when_back().await?;
    ensure!(
        part_pid(WORKER_PART)? != killed,
        "the worker's process was not started again"
    );
    assert_eq!(
        summary["claimed"], 0,
        "leased requests were claimed: {summary}"
    );

    // The held submit reaches the provider after the kill, and creates its task there.
    stage.wait_for_task_of(held).await?;

    // The leases end: the next run takes the three back and submits them.
    stage.end_leases(&ids).await?;
    let summary = stage.run().await?;
    assert_eq!(summary["claimed"], 3, "{summary}");
    assert_eq!(summary["submitted"], 3, "{summary}");
    for id in &ids {
        assert_eq!(
            stage.reclaims(*id).await?,
            1,
            "{id} was not taken back once"
        );
    }

    stage.finish(&ids).await?;
    for (id, status, error_code, _) in stage.rows(&ids).await? {
        ensure!(
            status == "completed" || (status == "failed" && error_code.is_some()),
            "{id} ended {status} ({error_code:?})"
        );
    }
    for id in &ids {
        let accepted = stage.accepted_submits(*id).await?;
        if *id == held {
            eprintln!("the request whose submit was in flight: {accepted} accepted submits");
            assert!(
                (1..=2).contains(&accepted),
                "the request whose answer was lost was accepted {accepted} times"
            );
        } else {
            assert_eq!(accepted, 1, "{id} was accepted {accepted} times");
        }
    }
    Ok(())
}

impl Stage {
    /// An empty default queue, a healthy provider status, a fast simulator with an empty
    /// log, batches of 5 submitted 0.5 s apart.
    async fn clean(&self) -> Result<()> {
        self.sim.reset().await?;
        self.sim.settings(json!({"time_scale": 100})).await?;
        self.db
            .batch_execute(
                "delete from public.music_generation_queue
                  where queue = 'default' and status in ('pending', 'processing');
                 update public.music_queues set paused = false, batch_size = 5,
                        submit_spacing_ms = 500 where name = 'default';
                 update public.suno_api_status set paused_until = null, pause_kind = null where id;",
            )
            .await?;
        let probe = self
            .functions
            .call(Method::POST, "suno-status-check", &Key::Secret, None)
            .await?;
        expect_status(&probe, 200)?;
        self.sim.clear_requests().await
    }

    /// `n` requests of a fresh user, through the SQL API as `emotion-music-ai` stores them.
    async fn enqueue(&mut self, n: usize) -> Result<Vec<Uuid>> {
        sql::enqueue_for_new_user(&mut self.db, "joy", n, "a killed worker").await
    }

    /// Waits until the simulator holds a submit, and says whose it is.
    async fn held_submit(&self, ids: &[Uuid]) -> Result<Uuid> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let submits = self.sim.requests("generate").await?;
            if let Some(held) = submits.iter().find(|s| !s["fault"].is_null()) {
                return request_of(held, ids)
                    .context("the held submit is for no request of the batch");
            }
            ensure!(
                Instant::now() < deadline,
                "no submit reached the provider within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the held submit has created its task.
    async fn wait_for_task_of(&self, held: Uuid) -> Result<()> {
        let within = Duration::from_millis(HELD_SUBMIT_MS) + Duration::from_secs(10);
        eventually(
            within,
            "the held submit to create its task",
            || async move { Ok(self.accepted_submits(held).await? == 1) },
        )
        .await
    }

    /// A run with its summary, once the worker answers again after the kill.
    async fn run_when_back(&self) -> Result<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.run().await {
                Ok(summary) => return Ok(summary),
                Err(error) if Instant::now() > deadline => {
                    return Err(error.context("the worker did not answer again within 30 s"))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    async fn run(&self) -> Result<Value> {
        let answer = self
            .functions
            .call(
                Method::POST,
                &format!("{WORKER}?wait=true"),
                &Key::Secret,
                None,
            )
            .await?;
        expect_status(&answer, 200)?;
        Ok(answer.json)
    }

    /// The test's stand-in for waiting the leases out.
    async fn end_leases(&self, ids: &[Uuid]) -> Result<()> {
        self.db
            .execute(
                "update public.music_generation_queue
                    set lease_expires_at = now() - interval '1 second',
                        run_at = now() - interval '1 second'
                  where id = any($1)",
                &[&ids],
            )
            .await?;
        Ok(())
    }

    /// Ages the tasks to their end and runs the worker until every request is finished.
    async fn finish(&self, ids: &[Uuid]) -> Result<()> {
        eventually(
            Duration::from_secs(60),
            "every request to finish",
            || async move {
                self.sim.advance(200).await?;
                self.db
                    .execute(
                        "update public.music_generation_queue set run_at = now()
                      where id = any($1) and status = 'processing'",
                        &[&ids],
                    )
                    .await?;
                self.run().await?;
                let rows = self.rows(ids).await?;
                Ok(rows
                    .iter()
                    .all(|(_, status, _, _)| status != "processing" && status != "pending"))
            },
        )
        .await
    }

    /// `id, status, error_code, leased now` of each request.
    async fn rows(&self, ids: &[Uuid]) -> Result<Vec<(Uuid, String, Option<String>, bool)>> {
        let rows = self
            .db
            .query(
                "select id, status, error_code, coalesce(lease_expires_at > now(), false)
                   from public.music_generation_queue where id = any($1) order by id",
                &[&ids],
            )
            .await?;
        ensure!(
            rows.len() == ids.len(),
            "{} of {} requests stored",
            rows.len(),
            ids.len()
        );
        Ok(rows
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
            .collect())
    }

    /// Claims that took the request back from an earlier holder.
    async fn reclaims(&self, id: Uuid) -> Result<i64> {
        Ok(self
            .db
            .query_one(
                "select count(*) from public.music_generation_events
                  where request_id = $1 and event = 'claimed' and detail ? 'reclaimed_from'",
                &[&id],
            )
            .await?
            .get(0))
    }

    /// Submits of `id` the provider accepted (a task created, and charged).
    async fn accepted_submits(&self, id: Uuid) -> Result<usize> {
        let submits = self.sim.requests("generate").await?;
        Ok(submits
            .iter()
            .filter(|s| !s["task_id"].is_null() && request_of(s, &[id]).is_some())
            .count())
    }
}

/// The request of `ids` a logged submit is for (its callback URL names it).
fn request_of(submit: &Value, ids: &[Uuid]) -> Option<Uuid> {
    let body = submit["body"].to_string();
    ids.iter()
        .copied()
        .find(|id| body.contains(&id.to_string()))
}
