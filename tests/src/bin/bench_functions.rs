//! Benchmark of `emotion-music-ai` through the gateway: prints its markdown section,
//! asserts nothing.
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
//! Then the load: the queue paused again, a closed loop of `c` clients (each sends its next
//! request when the last is answered) for `BENCH_LOAD_SECS` seconds at c = 1, 2, 4, … until
//! the rate stops rising, which gives the requests per second the function's one process
//! sustains. Meanwhile the process's resident memory is sampled from `/proc` (its pid from
//! the stack's `run/parts.json`, under `DEVSTACK_STATE_DIR`).
//!
//! Sizes (environment): `BENCH_ENQUEUE_REQUESTS` (default 1000), `BENCH_DIRECT_REQUESTS`
//! (default 20; 0 skips), `BENCH_LOAD_SECS` (default 5; 0 skips the load).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
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

#[derive(Clone)]
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
        "| {label} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {other} |",
        timings.len(),
        ms(timings, 0.50),
        ms(timings, 0.90),
        ms(timings, 0.99),
        ms(timings, 1.0),
        mean * 1000.0,
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
    let enqueue_requests = size("BENCH_ENQUEUE_REQUESTS", 1000);
    let direct = size("BENCH_DIRECT_REQUESTS", 20).min(20);
    println!("## emotion-music-ai through the gateway\n");
    println!(
        "Latency: client-side, one request at a time, each a new user's JWT through the gateway. \
         Queued: the `default` queue paused, so each request takes the whole queued path \
         ({enqueue_requests} requests). Direct: the queue open and the provider (the simulator) \
         healthy, each request stored, claimed, given a rate token and submitted ({direct} \
         requests, the provider's limit per 10 s).\n"
    );
    println!(
        "| path | n | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) | mean (ms) | other answers |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");

    // One more user than timed requests: the first warms the function's process.
    let enqueues = users(&db, enqueue_requests + 1).await?;
    client.ask(&enqueues[0]).await.ok();
    set_paused(&db, true).await?;
    let queued = client.run(&enqueues[1..], 202).await;
    set_paused(&db, was_paused).await?;
    let (timings, other) = queued?;
    report("enqueue -> 202 queued", &timings, other);

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
    cleanup(&db).await?;

    let secs = size("BENCH_LOAD_SECS", 5);
    if secs > 0 {
        set_paused(&db, true).await?;
        let load = load(&client, &db, Duration::from_secs(secs as u64)).await;
        set_paused(&db, was_paused).await?;
        cleanup(&db).await?;
        load?;
    }
    Ok(())
}

/// One step of the closed loop: its rate, latencies, other answers and peak memory.
struct Step {
    clients: usize,
    rate: f64,
    timings: Vec<Duration>,
    other: usize,
    peak_rss_kib: Option<u64>,
}

/// Closed loops of rising concurrency until the rate stops rising (two steps in a row
/// under 5% above the best), and the function process's memory meanwhile.
async fn load(client: &Bench, db: &Client, step: Duration) -> Result<()> {
    let process = function_pid("emotion-music-ai");
    let idle = process.and_then(|pid| proc_status_kib(pid, "VmRSS"));
    println!(
        "\nThroughput and memory: the queue paused, a closed loop of c clients (each sends its \
         next request when the last is answered, every request a new user's) for {} s per \
         step, c doubling until the rate stops rising. Memory: the resident set of the \
         function's Deno process (pid {}), sampled from /proc every 50 ms.\n",
        step.as_secs(),
        process.map_or("not found".to_string(), |pid| pid.to_string())
    );
    println!(
        "| clients | requests/s (202) | p50 (ms) | p99 (ms) | other answers | peak RSS (MiB) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    let mut best = 0.0f64;
    let mut flat = 0;
    let mut clients = 1;
    while clients <= 256 && flat < 2 {
        // Enough users for twice the best rate so far, one request each.
        let needed = ((best * 2.0 + 200.0) * step.as_secs_f64()) as usize;
        let jwts = Arc::new(users_in_bulk(db, needed).await?);
        let result = closed_loop(client, jwts, clients, step, process).await?;
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {} | {} |",
            result.clients,
            result.rate,
            ms(&result.timings, 0.50),
            ms(&result.timings, 0.99),
            result.other,
            mib(result.peak_rss_kib)
        );
        if result.rate > best * 1.05 {
            flat = 0;
        } else {
            flat += 1;
        }
        best = best.max(result.rate);
        cleanup(db).await?;
        clients *= 2;
    }
    let peak = process.and_then(|pid| proc_status_kib(pid, "VmHWM"));
    println!(
        "\nSustained by one process: about {best:.0} requests/s. Its resident memory: {} MiB \
         idle before the load, {} MiB at its peak (VmHWM, over the process's life).",
        mib(idle),
        mib(peak)
    );
    Ok(())
}

/// `clients` tasks, each asking in turn with the next unused JWT, for `length`.
async fn closed_loop(
    client: &Bench,
    jwts: Arc<Vec<String>>,
    clients: usize,
    length: Duration,
    process: Option<u32>,
) -> Result<Step> {
    let next = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = process.map(|pid| {
        let (stop, peak) = (stop.clone(), peak.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Some(rss) = proc_status_kib(pid, "VmRSS") {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    });
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (jwts, next) = (jwts.clone(), next.clone());
        let bench = client.clone();
        tasks.push(tokio::spawn(async move {
            let (mut timings, mut other) = (Vec::new(), 0usize);
            while started.elapsed() < length {
                let Some(jwt) = jwts.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    break; // out of users: the step ends early, its rate stays right
                };
                let (status, took) = bench.ask(jwt).await?;
                if status == 202 {
                    timings.push(took);
                } else {
                    other += 1;
                }
            }
            anyhow::Ok((timings, other))
        }));
    }
    let mut timings = Vec::new();
    let mut other = 0;
    for task in tasks {
        let (mut t, o) = task.await??;
        timings.append(&mut t);
        other += o;
    }
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    if let Some(sampler) = sampler {
        sampler.await?;
    }
    timings.sort();
    let peak = peak.load(Ordering::Relaxed);
    Ok(Step {
        clients,
        rate: timings.len() as f64 / took.as_secs_f64(),
        timings,
        other,
        peak_rss_kib: (peak > 0).then_some(peak),
    })
}

/// `count` new users, inserted at once; their JWTs.
async fn users_in_bulk(db: &Client, count: usize) -> Result<Vec<String>> {
    let rows = db
        .query(
            "insert into auth.users (id, email)
             select id, id || '@bench-functions.example'
               from (select gen_random_uuid() as id from generate_series(1, $1::int8)) u
             returning id",
            &[&(count as i64)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| user_token(&row.get::<_, Uuid>(0).to_string(), None))
        .collect())
}

/// The pid of a function's Deno process, from the stack's `run/parts.json`, if it runs.
fn function_pid(function: &str) -> Option<u32> {
    let state = std::env::var("DEVSTACK_STATE_DIR").ok()?;
    let parts = std::fs::read(PathBuf::from(state).join("run/parts.json")).ok()?;
    let parts: serde_json::Value = serde_json::from_slice(&parts).ok()?;
    let pid = parts
        .as_array()?
        .iter()
        .find(|part| part["name"] == format!("function:{function}"))?["pid"]
        .as_u64()?;
    let pid = u32::try_from(pid).ok()?;
    proc_status_kib(pid, "VmRSS").map(|_| pid)
}

/// A `kB` field of `/proc/<pid>/status` (VmRSS, VmHWM).
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("n/a".to_string(), |k| format!("{:.1}", k as f64 / 1024.0))
}
