//! Benchmark of `emotion-music-ai` through the gateway: prints figures, asserts nothing.
//!
//! Run with `scripts/bench functions` against a running stack (`scripts/dev up`): it needs
//! `SUPABASE_URL`, `SUPABASE_PUBLISHABLE_KEY`, `SUPABASE_SECRET_KEY` and `SUPABASE_DB_URL`.
//! Each request is one new user's (`…@bench-functions.example`, removed at the end and at
//! the start), so the per-user limit never answers instead of the function.
//!
//! Two paths, each timed from the client, one request at a time (latency, not load):
//!
//! - **enqueue → 202**: the `default` queue is paused for the run, so every request takes
//!   the whole queued path (JWT through the gateway, validation, `enqueue_music_request`,
//!   the provider status and the queue row, the admission) and none is sent;
//! - **direct submit → 200**: the queue open and the provider freshly probed, each request
//!   is stored, claimed, given a rate token and submitted to the provider (the simulator
//!   on a local stack); at most 20 of them, the provider's limit per 10 s.
//!
//! Sizes (environment): `BENCH_ENQUEUE_REQUESTS` (default 1000), `BENCH_DIRECT_REQUESTS`
//! (default 20; 0 skips).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;
use stack_tests::stack::{connect, user_token};
use tokio_postgres::Client;
use uuid::Uuid;

const BENCH_EMAIL: &str = "%@bench-functions.example";

fn size(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn var(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set (scripts/bench functions)"))
}

/// Removes the bench users, their requests and events.
async fn cleanup(db: &Client) -> Result<()> {
    db.batch_execute(&format!(
        "delete from public.music_generation_events
          where user_id in (select id from auth.users where email like '{BENCH_EMAIL}');
         delete from public.music_generation_queue
          where user_id in (select id from auth.users where email like '{BENCH_EMAIL}');
         delete from auth.users where email like '{BENCH_EMAIL}';"
    ))
    .await
    .context("removing the bench users")
}

/// `count` new users; their JWTs.
async fn users(db: &Client, count: usize) -> Result<Vec<String>> {
    let mut jwts = Vec::with_capacity(count);
    for _ in 0..count {
        let id = Uuid::new_v4();
        db.execute(
            "insert into auth.users (id, email) values ($1, $2)",
            &[&id, &format!("{id}@bench-functions.example")],
        )
        .await?;
        jwts.push(user_token(&id.to_string(), None));
    }
    Ok(jwts)
}

struct Bench {
    http: reqwest::Client,
    url: String,
    publishable: String,
}

impl Bench {
    /// Asks for music as the user of `jwt`; the answer's status and how long it took.
    async fn ask(&self, jwt: &str) -> Result<(u16, Duration)> {
        let started = Instant::now();
        let response = self
            .http
            .post(format!("{}/functions/v1/emotion-music-ai", self.url))
            .header("apikey", &self.publishable)
            .header("authorization", format!("Bearer {jwt}"))
            .json(&json!({"emotion": "calm", "intensity": 0.4, "context": "a bench run"}))
            .send()
            .await?;
        let status = response.status().as_u16();
        response.bytes().await?;
        Ok((status, started.elapsed()))
    }

    /// Times one request per JWT, in turn; the timings of the answers with `expected`.
    async fn run(&self, jwts: &[String], expected: u16) -> Result<(Vec<Duration>, usize)> {
        let mut timings = Vec::with_capacity(jwts.len());
        let mut other = 0;
        for jwt in jwts {
            let (status, took) = self.ask(jwt).await?;
            if status == expected {
                timings.push(took);
            } else {
                other += 1;
            }
        }
        timings.sort();
        Ok((timings, other))
    }
}

fn ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

fn report(label: &str, timings: &[Duration], other: usize) {
    let mean = timings.iter().map(Duration::as_secs_f64).sum::<f64>() / timings.len().max(1) as f64;
    println!(
        "{label:<28} n {:>5}  p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  mean {:>7.2} ms{}",
        timings.len(),
        ms(timings, 0.50),
        ms(timings, 0.90),
        ms(timings, 0.99),
        ms(timings, 1.0),
        mean * 1000.0,
        if other > 0 { format!("  ({other} other answers)") } else { String::new() }
    );
}

async fn set_paused(db: &Client, paused: bool) -> Result<()> {
    db.execute(
        "update public.music_queues set paused = $1 where name = 'default'",
        &[&paused],
    )
    .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let db = connect(&var("SUPABASE_DB_URL")?).await?;
    let client = Bench {
        http: reqwest::Client::builder().no_proxy().build()?,
        url: var("SUPABASE_URL")?,
        publishable: var("SUPABASE_PUBLISHABLE_KEY")?,
    };
    let secret = var("SUPABASE_SECRET_KEY")?;
    cleanup(&db).await?;
    let was_paused: bool = db
        .query_one(
            "select paused from public.music_queues where name = 'default'",
            &[],
        )
        .await?
        .get(0);
    println!("emotion-music-ai through the gateway (client-side, one request at a time)");

    // One more user than timed requests: the first warms the function's process.
    let enqueues = users(&db, size("BENCH_ENQUEUE_REQUESTS", 1000) + 1).await?;
    client.ask(&enqueues[0]).await.ok();
    set_paused(&db, true).await?;
    let queued = client.run(&enqueues[1..], 202).await;
    set_paused(&db, was_paused).await?;
    let (timings, other) = queued?;
    report("enqueue -> 202 queued", &timings, other);

    let direct = size("BENCH_DIRECT_REQUESTS", 20).min(20);
    if direct > 0 && !was_paused {
        cleanup(&db).await?;
        client
            .http
            .get(format!("{}/functions/v1/suno-status-check", client.url))
            .header("apikey", &secret)
            .header("authorization", format!("Bearer {secret}"))
            .send()
            .await?;
        tokio::time::sleep(Duration::from_secs(10)).await; // an empty rate window
        let jwts = users(&db, direct).await?;
        let (timings, other) = client.run(&jwts, 200).await?;
        report("direct submit -> 200", &timings, other);
    }
    cleanup(&db).await
}
