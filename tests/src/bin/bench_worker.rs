//! Benchmark of `music-queue-worker` against the stack's simulator: prints its markdown
//! section, asserts nothing.
//!
//! Run with `scripts/bench worker` against a running stack (`scripts/dev up`). It uses the
//! `default` queue (emptied of waiting requests first), pauses the stack's cron jobs while
//! it runs, and runs the simulator 100 times faster than real time, so a generation takes
//! about a second instead of one to three minutes (the provider's part, not ours).
//!
//! Figures:
//! - drain of a backlog (`BENCH_BACKLOG`, default 500): requests the provider accepted in
//!   one run (as pg_cron starts it once a minute), three ways: the default (2 s spacing,
//!   batch after batch for 50 s), no spacing (only the shared 20-per-10 s bucket holds
//!   back), and the seed's 5 per run (`max_per_run = 5`); the backlog's drain time follows
//!   at that rate (a whole drain at the seed's pace would take over an hour to watch);
//! - time from the provider's recovery (the status check's probe that finds it back) to
//!   the first request submitted and the first completed (`BENCH_RECOVERIES` samples,
//!   default 5), next to what waiting for the next minute tick would have given at the
//!   same instants: the seconds left to the next whole minute, then the same submit to
//!   completion.

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
        let backlog = size("BENCH_BACKLOG", 500);
        println!("## Worker: backlog drain and recovery\n");
        println!(
            "The worker against the stack's simulator (provider limit 20 submits per 10 s, \
             running 100 times faster than real time so a generation takes about a second), \
             the stack's cron jobs paused. Drain: a backlog of {backlog} requests, one worker \
             run timed as pg_cron starts it each minute; the whole drain follows at that \
             rate.\n"
        );
        println!("| setting | accepted in one run | run (s) | requests/min | {backlog} drained in (min) |");
        println!("|---|---:|---:|---:|---:|");
        for (label, spacing, cap) in [
            ("default: 2 s spacing, no cap", 2000, None),
            ("no spacing: the shared bucket only", 0, None),
            ("the seed: fixed 5 per run", 2000, Some(5)),
        ] {
            self.fresh().await?;
            self.configure(spacing, cap).await?;
            self.enqueue(backlog).await?;
            let (accepted, secs) = self.one_cron_minute().await?;
            let per_min = accepted as f64 * 60.0 / secs.max(60.0);
            println!(
                "| {label} | {accepted} | {secs:.1} | {per_min:.1} | {:.1} |",
                backlog as f64 / per_min.max(0.001)
            );
        }
        self.configure(2000, None).await?;

        let samples = size("BENCH_RECOVERIES", 5);
        if samples == 0 {
            return Ok(());
        }
        println!(
            "\nRecovery: the circuit opened by a 503 outage, one request queued, then the \
             provider back and the status check's probe finding it; seconds to the request's \
             submit and completion ({samples} samples). The next minute tick: the seconds left \
             to the next whole minute at the same instant, plus the same submit to completion, \
             as a worker started only by pg_cron would do. At real speed the provider's \
             generation adds 1 to 3 minutes to every completion.\n"
        );
        let mut submitted = Vec::new();
        let mut completed = Vec::new();
        let mut ticked = Vec::new();
        for _ in 0..samples {
            let (to_tick, to_submit, to_complete) = self.recovery().await?;
            submitted.push(to_submit);
            completed.push(to_complete);
            ticked.push(to_tick + to_complete - to_submit);
        }
        println!("| from recovery to | min (s) | median (s) | mean (s) | max (s) |");
        println!("|---|---:|---:|---:|---:|");
        println!("| first submit | {} |", summary(&mut submitted));
        println!("| first completion | {} |", summary(&mut completed));
        println!(
            "| first completion, waiting for the next minute tick | {} |",
            summary(&mut ticked)
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
    /// and asks the status check: seconds from then to the next whole minute, to the first
    /// submit and to the first completion.
    async fn recovery(&self) -> Result<(f64, f64, f64)> {
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
        let to_tick = 60.0 - unix_secs() % 60.0;
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
                return Ok((to_tick, submitted.unwrap_or(done), done));
            }
            ensure!(
                started.elapsed() < Duration::from_secs(120),
                "no completion in 2 min"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// "min | median | mean | max" in seconds.
fn summary(samples: &mut [f64]) -> String {
    samples.sort_by(f64::total_cmp);
    let mean = samples.iter().sum::<f64>() / samples.len().max(1) as f64;
    format!(
        "{:.2} | {:.2} | {mean:.2} | {:.2}",
        samples[0],
        samples[samples.len() / 2],
        samples[samples.len() - 1]
    )
}

/// Seconds since the epoch, for where the next minute tick falls.
fn unix_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
