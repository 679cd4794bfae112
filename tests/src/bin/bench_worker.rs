//! Benchmark of `music-queue-worker` against the stack's simulator: prints figures, asserts
//! nothing.
//!
//! Run with `scripts/bench worker` against a running stack (`scripts/dev up`). It uses the
//! `default` queue (emptied of waiting requests first), pauses the stack's cron jobs while
//! it runs, and runs the simulator 100 times faster than real time, so a generation takes
//! about a second instead of one to three minutes (the provider's part, not ours).
//!
//! Figures:
//! - drain rate of a backlog (`BENCH_BACKLOG`, default 200): requests the provider accepted
//!   per minute from one run a minute (as pg_cron calls it), three ways: the default
//!   (2 s spacing, batch after batch for 50 s), no spacing (only the shared 20-per-10 s
//!   bucket holds back), and the seed's 5 per run (`max_per_run = 5`);
//! - time from the provider's recovery (the status check's probe that finds it back) to
//!   the first request submitted and the first completed (`BENCH_RECOVERIES` samples,
//!   default 5).

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use reqwest::Method;
use serde_json::json;
use stack_tests::functions::{set_cron_job_active, Functions, Key, StackSim};
use stack_tests::sql::{call, new_user, Caller};
use tokio_postgres::Client;
use uuid::Uuid;

const CRON_JOBS: [&str; 2] = [
    "music-queue-worker-every-minute",
    "suno-status-check-every-minute",
];

fn size(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Bench {
    functions: Functions,
    sim: StackSim,
    db: Client,
}

#[tokio::main]
async fn main() -> Result<()> {
    let functions = Functions::from_env()?;
    let db = functions.env.db().await?;
    let sim = StackSim::from_env()?;
    let bench = Bench { functions, sim, db };
    for job in CRON_JOBS {
        set_cron_job_active(&bench.db, job, false).await?;
    }
    let outcome = bench.run_all().await;
    bench.configure(2000, None).await?;
    for job in CRON_JOBS {
        set_cron_job_active(&bench.db, job, true).await?;
    }
    outcome
}

impl Bench {
    async fn run_all(&self) -> Result<()> {
        let backlog = size("BENCH_BACKLOG", 200);
        println!("drain of a {backlog}-request backlog, one worker run a minute (provider limit 20 per 10 s):");
        for (label, spacing, cap) in [
            ("default: 2 s spacing, no cap", 2000, None),
            ("no spacing: the shared bucket only", 0, None),
            ("the seed: 5 per run", 2000, Some(5)),
        ] {
            self.fresh().await?;
            self.configure(spacing, cap).await?;
            self.enqueue(backlog).await?;
            let (accepted, secs) = self.one_cron_minute().await?;
            let per_min = accepted as f64 * 60.0 / secs.max(60.0);
            println!(
                "  {label:38} {accepted:4} accepted in one run ({secs:.1} s), {per_min:6.1}/min, {backlog} drained in ~{:.1} min",
                backlog as f64 / per_min.max(0.001)
            );
        }
        self.configure(2000, None).await?;

        let samples = size("BENCH_RECOVERIES", 5);
        println!("from the provider's recovery (status-check probe) to the first request ({samples} samples, simulator 100x):");
        let mut submitted = Vec::new();
        let mut completed = Vec::new();
        for _ in 0..samples {
            let (to_submit, to_complete) = self.recovery().await?;
            submitted.push(to_submit);
            completed.push(to_complete);
        }
        println!("  submitted: {}", summary(&mut submitted));
        println!(
            "  completed: {} (the provider's generation takes 1-3 min more at real speed)",
            summary(&mut completed)
        );
        Ok(())
    }

    /// An empty default queue, a fast fault-free simulator and a fresh healthy status.
    async fn fresh(&self) -> Result<()> {
        self.sim.reset().await?;
        self.sim.settings(json!({"time_scale": 100})).await?;
        self.db
            .batch_execute(
                "delete from public.music_generation_queue where queue = 'default' and status in ('pending', 'processing');
                 update public.suno_api_status set paused_until = null, pause_kind = null where id;",
            )
            .await?;
        self.functions
            .call(Method::POST, "suno-status-check", &Key::Secret, None)
            .await?;
        self.sim.clear_requests().await
    }

    async fn configure(&self, spacing_ms: i32, max_per_run: Option<i32>) -> Result<()> {
        self.db
            .execute(
                "update public.music_queues set submit_spacing_ms = $1, max_per_run = $2 where name = 'default'",
                &[&spacing_ms, &max_per_run],
            )
            .await?;
        Ok(())
    }

    /// `n` requests through the SQL API, five per user (the per-user limit).
    async fn enqueue(&self, n: usize) -> Result<Vec<Uuid>> {
        let mut db = self.functions.env.db().await?;
        let mut ids = Vec::new();
        for chunk in 0..n.div_ceil(5) {
            let user = new_user(&db).await?;
            for i in 0..5.min(n - chunk * 5) {
                let rows = call(
                    &mut db,
                    Caller::Service,
                    "select (public.enqueue_music_request(p_emotion => 'calm', p_user_id => $1,
                             p_prompt => $2) ->> 'id')::uuid",
                    &[&user, &format!("bench backlog {chunk}.{i}")],
                )
                .await?;
                ids.push(rows[0].get(0));
            }
        }
        Ok(ids)
    }

    /// One run as pg_cron starts it; the submits the provider accepted and the run's time.
    async fn one_cron_minute(&self) -> Result<(usize, f64)> {
        let started = Instant::now();
        let answer = self
            .functions
            .call(
                Method::POST,
                "music-queue-worker?wait=true",
                &Key::Secret,
                None,
            )
            .await?;
        ensure!(
            answer.status == 200,
            "worker: {} {}",
            answer.status,
            answer.json
        );
        let secs = started.elapsed().as_secs_f64();
        let accepted = self
            .sim
            .requests("generate")
            .await?
            .iter()
            .filter(|s| !s["task_id"].is_null())
            .count();
        Ok((accepted, secs))
    }

    /// Opens the circuit with a 503 outage, queues one request, then lets the provider back
    /// and asks the status check: seconds to the first submit and to the first completion.
    async fn recovery(&self) -> Result<(f64, f64)> {
        self.fresh().await?;
        self.sim
            .fault(json!({"kind": "http_error", "status": 503}))
            .await?;
        for _ in 0..3 {
            self.functions
                .call(Method::POST, "suno-status-check", &Key::Secret, None)
                .await?;
        }
        let ids = self.enqueue(1).await?;
        self.sim.clear_faults().await?;
        self.sim.clear_requests().await?;
        let started = Instant::now();
        self.functions
            .call(Method::POST, "suno-status-check", &Key::Secret, None)
            .await?;
        let mut submitted = None;
        loop {
            let status: String = self
                .db
                .query_one(
                    "select status from public.music_generation_queue where id = $1",
                    &[&ids[0]],
                )
                .await?
                .get(0);
            if submitted.is_none() && !self.sim.requests("generate").await?.is_empty() {
                submitted = Some(started.elapsed().as_secs_f64());
            }
            if status == "completed" {
                let done = started.elapsed().as_secs_f64();
                return Ok((submitted.unwrap_or(done), done));
            }
            ensure!(
                started.elapsed() < Duration::from_secs(120),
                "no completion in 2 min"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn summary(samples: &mut [f64]) -> String {
    samples.sort_by(f64::total_cmp);
    let mean = samples.iter().sum::<f64>() / samples.len().max(1) as f64;
    format!(
        "min {:.2} s, median {:.2} s, mean {mean:.2} s, max {:.2} s",
        samples[0],
        samples[samples.len() / 2],
        samples[samples.len() - 1]
    )
}
