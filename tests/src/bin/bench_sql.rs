//! Benchmark of the queue's SQL API: prints its markdown section, asserts nothing.
//!
//! Run with `scripts/bench sql` (or `cargo run --release -p stack-tests
//! --bin bench_sql` with `SUPABASE_DB_URL` set). Everything happens in
//! queues named `bench-…` with users `…@bench.example`, removed at the end
//! (and at the start, should an earlier run have been interrupted), so it
//! can run against a database that others use.
//!
//! Callers connect as the superuser and `SET ROLE service_role`, as the
//! worker's PostgREST calls run; each call is one autocommit statement, so
//! the figures are the SQL API's cost plus one loopback round trip.
//!
//! Sizes (environment):
//!   BENCH_ENQUEUES      enqueues per measurement          (default 2000)
//!   BENCH_JOBS          jobs per claim+complete setting   (default 2000)
//!   BENCH_SAMPLES       claims timed per latency setting  (default 1000)
//!   BENCH_SMALL_ROWS    rows of the small latency table   (default 10000)
//!   BENCH_BIG_ROWS      rows of the big one, 90% finished (default 1000000; 0 skips)
//!   BENCH_TRACKS        library size for the fallback pick (default 200000; 0 skips)
//!   BENCH_WAITING       waiting rows ahead of the timed enqueues (default 200000; 0 skips)

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;
use tokio_postgres::Client;
use uuid::Uuid;

fn size(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn connect(url: &str) -> Result<Client> {
    let client = stack_tests::stack::connect(url).await?;
    client.batch_execute("set role service_role").await?;
    Ok(client)
}

/// Removes every bench queue and bench user (and what hangs off them).
/// The referencing rows go first, in bulk; the queue rows then go without
/// their per-row foreign-key actions (nothing references them any more),
/// which turns minutes into a second at 1M rows. Without the privilege for
/// that, a plain delete does the same, slower.
async fn cleanup(db: &Client) -> Result<()> {
    db.batch_execute(
        "delete from public.music_generation_events e using public.music_generation_queue q
          where e.request_id = q.id and q.queue like 'bench-%';
         update public.music_tracks t set request_id = null from public.music_generation_queue q
          where t.request_id = q.id and q.queue like 'bench-%';",
    )
    .await
    .context("cleaning up bench events and tracks")?;
    let fast = db
        .batch_execute(
            "begin;
             set local session_replication_role = replica;
             delete from public.music_generation_queue where queue like 'bench-%';
             commit;",
        )
        .await;
    if fast.is_err() {
        db.batch_execute("rollback").await?;
    }
    // Drop the dead index entries now, or the user deletes below (cascading
    // through user_id) would visit every one of them.
    db.batch_execute("vacuum public.music_generation_queue")
        .await
        .ok();
    db.batch_execute(
        "delete from public.music_generation_queue where queue like 'bench-%';
         delete from public.music_tracks
          where user_id in (select id from auth.users where email like '%@bench.example');
         delete from public.music_queue_daily_totals where queue like 'bench-%';
         delete from public.music_queues where name like 'bench-%';
         delete from public.music_generation_events
          where user_id in (select id from auth.users where email like '%@bench.example');
         delete from auth.users where email like '%@bench.example';",
    )
    .await
    .context("cleaning up bench data")?;
    Ok(())
}

async fn new_queue(db: &Client) -> Result<String> {
    let name = format!("bench-{}", &Uuid::new_v4().simple().to_string()[..10]);
    db.execute(
        "insert into public.music_queues (name, max_pending_per_user) values ($1, 1000000)",
        &[&name],
    )
    .await?;
    Ok(name)
}

/// Fills `queue` with `pending` waiting rows and `finished` finished ones
/// (completed and, one in ten, failed), spread over the last 30 days.
async fn fill(db: &Client, queue: &str, users: &[Uuid], pending: i64, finished: i64) -> Result<()> {
    let chunk = 100_000i64;
    let mut done = 0;
    while done < finished {
        let n = chunk.min(finished - done);
        db.execute(
            "insert into public.music_generation_queue
               (user_id, queue, emotion, prompt, status, attempts, result, submitted_at, completed_at,
                failed_at, error_code, created_at, run_at)
             select ($1::uuid[])[1 + i % cardinality($1::uuid[])], $2,
                    (array['joy','calm','sad','anger','anxious','energetic','neutral'])[1 + i % 7],
                    'bench finished ' || i,
                    case when i % 10 = 0 then 'failed' else 'completed' end, 1,
                    case when i % 10 = 0 then null else '{\"clips\": []}'::jsonb end,
                    t - interval '150 seconds',
                    case when i % 10 = 0 then null else t end,
                    case when i % 10 = 0 then t end,
                    case when i % 10 = 0 then 'http_503' end,
                    t - interval '200 seconds', t - interval '200 seconds'
               from generate_series(1, $3::int8) as i,
                    lateral (select now() - make_interval(secs => (i * 2591.0) % 2592000) as t) x",
            &[&users.to_vec(), &queue, &n],
        )
        .await?;
        done += n;
    }
    let mut done = 0;
    while done < pending {
        let n = chunk.min(pending - done);
        db.execute(
            "insert into public.music_generation_queue (user_id, queue, emotion, prompt, priority, run_at)
             select ($1::uuid[])[1 + i % cardinality($1::uuid[])], $2,
                    (array['joy','calm','sad','anger','anxious','energetic','neutral'])[1 + i % 7],
                    'bench pending ' || i, i % 3, now() - make_interval(secs => i % 600)
               from generate_series(1, $3::int8) as i",
            &[&users.to_vec(), &queue, &n],
        )
        .await?;
        done += n;
    }
    db.batch_execute("analyze public.music_generation_queue")
        .await?;
    Ok(())
}

/// One row of the section's table.
fn row(figure: &str, setting: &str, result: &str) {
    println!("| {figure} | {setting} | {result} |");
}

fn per_second(n: i64, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at].as_secs_f64() * 1000.0
}

/// Enqueues `n` requests over `conns` connections, round-robin over users.
async fn bench_enqueue(url: &str, users: &[Uuid], conns: usize, n: i64) -> Result<f64> {
    let admin = stack_tests::stack::connect(url).await?;
    let queue = new_queue(&admin).await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..conns {
        let (url, queue, users) = (url.to_string(), queue.clone(), users.to_vec());
        let share = n / conns as i64 + i64::from((c as i64) < n % conns as i64);
        tasks.push(tokio::spawn(async move {
            let db = connect(&url).await?;
            let statement = db
                .prepare(
                    "select public.enqueue_music_request(p_emotion => 'joy', p_intensity => 0.6,
                            p_context => 'bench', p_idempotency_key => $1, p_user_id => $2, p_queue => $3)",
                )
                .await?;
            for i in 0..share {
                let key = format!("{c}-{i}");
                let user = users[(i as usize + c) % users.len()];
                db.query_one(&statement, &[&key, &user, &queue]).await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(per_second(n, started.elapsed()))
}

/// Times `samples` enqueues (one new user's, as emotion-music-ai sends
/// them) into a queue where `waiting` requests are already waiting ahead,
/// and once the full count of those waiting rows that a place in line
/// would cost without its bound. Returns (p50, p99, full count) in ms.
async fn bench_enqueue_behind(
    url: &str,
    users: &[Uuid],
    waiting: i64,
    samples: i64,
) -> Result<(f64, f64, f64)> {
    let admin = stack_tests::stack::connect(url).await?;
    let queue = new_queue(&admin).await?;
    fill(&admin, &queue, users, waiting, 0).await?;
    let user = Uuid::new_v4();
    admin
        .execute(
            "insert into auth.users (id, email) values ($1, $2)",
            &[&user, &format!("{user}@bench.example")],
        )
        .await?;
    let db = connect(url).await?;
    let enqueue = db
        .prepare(
            "select public.enqueue_music_request(p_emotion => 'joy', p_intensity => 0.6,
                    p_idempotency_key => $1, p_user_id => $2, p_queue => $3) ->> 'queue_position'",
        )
        .await?;
    let mut times = Vec::with_capacity(samples as usize);
    for i in 0..samples {
        let key = format!("behind-{i}");
        let started = Instant::now();
        let position: String = db.query_one(&enqueue, &[&key, &user, &queue]).await?.get(0);
        times.push(started.elapsed());
        anyhow::ensure!(position == "1000", "expected the bound, got {position}");
    }
    times.sort();
    let started = Instant::now();
    db.query_one(
        "select count(*) from public.music_generation_queue
          where queue = $1 and status = 'pending' and (priority, run_at) < (5, now())",
        &[&queue],
    )
    .await?;
    let full = started.elapsed().as_secs_f64() * 1000.0;
    Ok((percentile(&times, 0.50), percentile(&times, 0.99), full))
}

/// `workers` connections claim `batch` at a time and complete each job,
/// until `jobs` prefilled requests are done.
async fn bench_claim_complete(
    url: &str,
    users: &[Uuid],
    workers: usize,
    batch: i32,
    jobs: i64,
) -> Result<f64> {
    let admin = stack_tests::stack::connect(url).await?;
    let queue = new_queue(&admin).await?;
    fill(&admin, &queue, users, jobs, 0).await?;
    let result = json!({ "clips": [
        { "id": null, "title": "bench", "audio_url": "https://cdn.example.test/a.mp3", "duration": 120.0 },
        { "id": null, "title": "bench", "audio_url": "https://cdn.example.test/b.mp3", "duration": 121.0 }
    ] });
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (url, queue, result) = (url.to_string(), queue.clone(), result.clone());
        tasks.push(tokio::spawn(async move {
            let db = connect(&url).await?;
            let claim = db
                .prepare("select id, lease_token from public.claim_music_requests($1, $2, 120, $3)")
                .await?;
            let complete = db
                .prepare("select 1 from public.complete_music_request($1, $2, $3)")
                .await?;
            let worker = format!("bench-{w}");
            let mut done = 0i64;
            loop {
                let rows = db.query(&claim, &[&worker, &batch, &queue]).await?;
                if rows.is_empty() {
                    break;
                }
                for row in rows {
                    let (id, token): (Uuid, Uuid) = (row.get(0), row.get(1));
                    let changed = db.query(&complete, &[&id, &token, &result]).await?;
                    done += changed.len() as i64;
                }
            }
            anyhow::Ok(done)
        }));
    }
    let mut done = 0;
    for task in tasks {
        done += task.await??;
    }
    let took = started.elapsed();
    anyhow::ensure!(done == jobs, "completed {done} of {jobs}");
    Ok(per_second(jobs, took))
}

/// Times `samples` claims of `batch` rows from a queue holding `pending`
/// waiting and `finished` finished rows. Returns (p50, p99) in ms.
async fn bench_claim_latency(
    url: &str,
    users: &[Uuid],
    pending: i64,
    finished: i64,
    batch: i32,
    samples: i64,
) -> Result<(f64, f64)> {
    let admin = stack_tests::stack::connect(url).await?;
    let queue = new_queue(&admin).await?;
    fill(&admin, &queue, users, pending, finished).await?;
    let db = connect(url).await?;
    let claim = db
        .prepare("select id from public.claim_music_requests('bench-latency', $1, 120, $2)")
        .await?;
    for _ in 0..20 {
        db.query(&claim, &[&batch, &queue]).await?; // warm the plan cache
    }
    let mut times = Vec::with_capacity(samples as usize);
    for _ in 0..samples {
        let started = Instant::now();
        let rows = db.query(&claim, &[&batch, &queue]).await?;
        times.push(started.elapsed());
        anyhow::ensure!(
            !rows.is_empty(),
            "the queue ran dry: raise the row count or lower BENCH_SAMPLES"
        );
    }
    times.sort();
    Ok((percentile(&times, 0.50), percentile(&times, 0.99)))
}

/// Latency of one fallback pick (`_music_pick_fallback`, as every failure
/// runs it) with a library of `tracks` generated tracks of bench users, half
/// of them fallback-eligible and a tenth of those expiring within the week
/// (so the pick steps over some), plus the seeded library: (p50, p99) in ms.
async fn bench_fallback_pick(
    admin: &Client,
    users: &[Uuid],
    tracks: i64,
    samples: i64,
) -> Result<(f64, f64)> {
    admin
        .execute(
            "insert into public.music_tracks
               (emotion, audio_url, fallback_eligible, user_id, expires_at)
             select (array['joy','calm','sad','anger','anxious','energetic','neutral'])[1 + i % 7],
                    'https://cdn.example.test/bench-' || i || '.mp3',
                    i % 2 = 0,
                    ($1::uuid[])[1 + i % cardinality($1::uuid[])],
                    now() + case when i % 20 = 0 then interval '2 days' else interval '15 days' end
               from generate_series(1, $2::bigint) as i",
            &[&users, &tracks],
        )
        .await
        .context("filling the track library")?;
    admin.batch_execute("analyze public.music_tracks").await?;
    // The pick is an internal function (no API role may call it): time it
    // as the superuser, through a prepared statement like a plan cache.
    let pick = admin
        .prepare("select track_id from public._music_pick_fallback($1)")
        .await?;
    let emotions = [
        "joy",
        "calm",
        "sad",
        "anger",
        "anxious",
        "energetic",
        "neutral",
    ];
    let mut times = Vec::new();
    for n in 0..samples {
        let emotion = emotions[usize::try_from(n).unwrap_or(0) % emotions.len()];
        let started = Instant::now();
        admin.query(&pick, &[&emotion]).await?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok((percentile(&times, 0.5), percentile(&times, 0.99)))
}

#[tokio::main]
async fn main() -> Result<()> {
    let url = std::env::var("SUPABASE_DB_URL").context("SUPABASE_DB_URL is not set")?;
    let enqueues = size("BENCH_ENQUEUES", 2000);
    let jobs = size("BENCH_JOBS", 2000);
    let samples = size("BENCH_SAMPLES", 1000);
    let small = size("BENCH_SMALL_ROWS", 10_000);
    let big = size("BENCH_BIG_ROWS", 1_000_000);
    let tracks = size("BENCH_TRACKS", 200_000);
    let waiting = size("BENCH_WAITING", 200_000);

    let admin = stack_tests::stack::connect(&url).await?;
    cleanup(&admin).await?;
    let mut users = Vec::new();
    for _ in 0..20 {
        let id = Uuid::new_v4();
        admin
            .execute(
                "insert into auth.users (id, email) values ($1, $2)",
                &[&id, &format!("{id}@bench.example")],
            )
            .await?;
        users.push(id);
    }

    println!("## Queue SQL API\n");
    println!(
        "Client-side timings over one loopback connection per caller (as `service_role`, prepared \
         statements, one autocommit call each), so each figure is the SQL API's cost plus one \
         round trip. Sizes: {enqueues} enqueues, {jobs} jobs per claim+complete setting, \
         {samples} timed claims per latency setting, {waiting} waiting ahead, {tracks} tracks, \
         {small} and {big} rows (90% finished) for the claim latency.\n"
    );
    println!("| figure | setting | result |");
    println!("|---|---|---:|");
    let run = async {
        for conns in [1, 4] {
            let rate = bench_enqueue(&url, &users, conns, enqueues).await?;
            row(
                "enqueue",
                &format!("{conns} connection(s)"),
                &format!("{rate:.0} requests/s"),
            );
        }
        if waiting > 0 {
            let (p50, p99, full) = bench_enqueue_behind(&url, &users, waiting, 200).await?;
            row(
                "enqueue latency",
                &format!("{waiting} waiting ahead (place answered as 1000+)"),
                &format!("p50 {p50:.3} ms, p99 {p99:.3} ms"),
            );
            row(
                "an unbounded count of those waiting",
                &format!("{waiting} waiting"),
                &format!("{full:.1} ms"),
            );
        }
        for workers in [1, 4] {
            for batch in [1, 5] {
                let rate = bench_claim_complete(&url, &users, workers, batch, jobs).await?;
                row(
                    "claim + complete",
                    &format!("{workers} worker(s), batch {batch}"),
                    &format!("{rate:.0} jobs/s"),
                );
            }
        }
        for batch in [1, 5] {
            let (p50, p99) = bench_claim_latency(&url, &users, small, 0, batch, samples).await?;
            row(
                "claim latency",
                &format!("{small} rows, batch {batch}"),
                &format!("p50 {p50:.3} ms, p99 {p99:.3} ms"),
            );
        }
        if tracks > 0 {
            let (p50, p99) = bench_fallback_pick(&admin, &users, tracks, samples).await?;
            row(
                "fallback pick",
                &format!("{tracks} tracks"),
                &format!("p50 {p50:.3} ms, p99 {p99:.3} ms"),
            );
        }
        if big > 0 {
            let started = Instant::now();
            let pending = big / 10;
            let (p50, p99) =
                bench_claim_latency(&url, &users, pending, big - pending, 1, samples).await?;
            row(
                "claim latency",
                &format!(
                    "{big} rows, 90% finished, batch 1 (fill {:.0} s)",
                    started.elapsed().as_secs_f64()
                ),
                &format!("p50 {p50:.3} ms, p99 {p99:.3} ms"),
            );
            let db = connect(&url).await?;
            let queue: String = admin
                .query_one("select queue from public.music_generation_queue where queue like 'bench-%' group by queue order by count(*) desc limit 1", &[])
                .await?
                .get(0);
            let claim = db
                .prepare("select id from public.claim_music_requests('bench-latency', 5, 120, $1)")
                .await?;
            let mut times = Vec::new();
            for _ in 0..samples {
                let started = Instant::now();
                db.query(&claim, &[&queue]).await?;
                times.push(started.elapsed());
            }
            times.sort();
            row(
                "claim latency",
                &format!("{big} rows, 90% finished, batch 5"),
                &format!(
                    "p50 {:.3} ms, p99 {:.3} ms",
                    percentile(&times, 0.5),
                    percentile(&times, 0.99)
                ),
            );
            // As on a project that has never rolled up: every finished row is
            // read live. The stack's maintenance cron may already have moved
            // the horizon, so set it here, in a transaction that is rolled
            // back, leaving the stack's own totals as they were.
            let stats_db = connect(&url).await?;
            stats_db
                .batch_execute(
                    "begin; set local role none;
                     update public.music_queue_stats_horizon set horizon = '-infinity' where id;
                     set local role service_role",
                )
                .await?;
            let started = Instant::now();
            stats_db
                .query_one("select public.music_queue_stats()", &[])
                .await?;
            row(
                "music_queue_stats(), all queues",
                &format!("{big} rows over 30 days, before any roll-up"),
                &format!("{:.1} ms", started.elapsed().as_secs_f64() * 1000.0),
            );
            let started = Instant::now();
            stats_db
                .query_one("select public.rollup_music_queue_stats()", &[])
                .await?;
            let rollup = started.elapsed().as_secs_f64();
            let mut times = Vec::new();
            for _ in 0..20 {
                let started = Instant::now();
                stats_db
                    .query_one("select public.music_queue_stats()", &[])
                    .await?;
                times.push(started.elapsed());
            }
            times.sort();
            row(
                "music_queue_stats(), all queues",
                &format!("after the daily roll-up (which took {rollup:.1} s)"),
                &format!("p50 {:.1} ms", percentile(&times, 0.5)),
            );
            stats_db.batch_execute("rollback").await?;
        }
        anyhow::Ok(())
    };
    let outcome = run.await;
    cleanup(&admin).await?;
    outcome
}
