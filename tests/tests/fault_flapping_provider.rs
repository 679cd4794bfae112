//! A flapping provider, for one simulated hour, against the project stack.
//!
//! Sixty requests of twelve users come in waves, most of them while the provider is in
//! trouble. Minute by simulated minute the provider goes up and down: down phases
//! answering HTTP 503, rate-limit phases answering 430, maintenance (455), 30 % of
//! submits refused with 503, slow answers, answers lost after the provider took the
//! submit. The faults are the simulator's own, bounded in simulated time ("down for
//! 90 s") and by a seeded probability, so the provider's side of a run is reproducible. Each minute the test calls the status check and
//! the worker as pg_cron would, then moves both clocks a minute on: the simulator's (its
//! tasks age, its callbacks fire) and the queue's (see [`warp`]). Afterwards the provider
//! stays healthy until nothing is left to do.
//!
//! What must hold, whatever the provider did: every request ends completed or failed with
//! a reason, none vanished; no request was submitted twice except under the ambiguity rule
//! (a lost answer allows one more submit); the provider never saw more than 20 submits in
//! any 10 seconds; and no attempt was spent on a 430.
//!
//! The cron jobs are paused while it runs and everything is put back after
//! ([`Stage::restore`]). It prints its figures (submits, faults met, outcomes, wall time).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use stack_tests::functions::{age_provider_status, serial};
use stack_tests::stage::Stage;
use uuid::Uuid;

/// Simulated minutes of flapping.
const MINUTES: u32 = 60;
/// Requests per user (the default per-user limit of unfinished requests).
const PER_USER: usize = 5;
/// Rounds of a healthy provider allowed to finish everything afterwards.
const QUIET_ROUNDS: u32 = 40;
/// Wall-clock bound of the whole scenario, put back included.
const HARD_BOUND: Duration = Duration::from_secs(170);
/// The provider's documented limit: 20 submits in any 10 s.
const WINDOW_MS: i64 = 10_000;
const WINDOW_MAX: usize = 20;

#[tokio::test]
async fn a_provider_flapping_for_an_hour_loses_no_request_and_is_never_flooded() -> Result<()> {
    let _serial = serial().await;
    let mut stage = Stage::set_up().await?;
    let outcome = tokio::time::timeout(HARD_BOUND, flapping_hour(&mut stage)).await;
    stage.restore().await?;
    outcome.context("the scenario exceeded its wall-clock bound")?
}

async fn flapping_hour(stage: &mut Stage) -> Result<()> {
    let started = Instant::now();
    // Seeded draws; no spacing between submits and no cap per run, so after an outage a
    // run sends all that waits and only the shared token bucket keeps the pace.
    stage.sim.settings(json!({"seed": 20_261_130})).await?;
    stage
        .db
        .execute(
            "update public.music_queues
                set submit_spacing_ms = 0, max_per_run = null, batch_size = 5, max_attempts = 3
              where name = 'default'",
            &[],
        )
        .await?;
    let mut ids = Vec::new();
    for minute in 0..MINUTES {
        for user in 0..users_arriving_at(minute) {
            let prompt = format!("flapping at {minute}, user {user}");
            ids.extend(stage.enqueue(PER_USER, &prompt).await?);
        }
        let rules = faults_at(minute);
        if !rules.is_empty() {
            stage.sim.fault(Value::Array(rules)).await?;
        }
        let run = if minute == SLOW_MINUTE {
            Run::Background
        } else {
            Run::Waited
        };
        tick(stage, run).await?;
    }
    let flapped = started.elapsed();

    stage.sim.clear_faults().await?;
    let mut rounds = 0;
    while !(all_finished(stage, &ids).await? && provider_up(stage).await?) {
        ensure!(
            rounds < QUIET_ROUNDS,
            "still unfinished after {QUIET_ROUNDS} healthy minutes: {:?}",
            unfinished(stage, &ids).await?
        );
        tick(stage, Run::Waited).await?;
        rounds += 1;
    }
    stage.wait_for_quiet_runs(Duration::from_secs(30)).await?;

    let report = check(stage, &ids).await?;
    println!(
        "flapping provider: {MINUTES} simulated minutes in {:.1} s, then {rounds} healthy \
         minutes; {:.1} s in all",
        flapped.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    println!("{report}");
    Ok(())
}

/// How a minute's worker run is started.
enum Run {
    /// With `?wait=true`: the minute ends with the run.
    Waited,
    /// As pg_cron starts it, answered 202 at once: the run goes on beside the next minutes.
    Background,
}

/// One simulated minute as pg_cron sees it: the status check, a worker run; then both
/// clocks move a minute on.
async fn tick(stage: &Stage, run: Run) -> Result<()> {
    let status = stage.check_status().await?;
    ensure!(status.status == 200, "status check: {}", status.status);
    match run {
        Run::Waited => drop(stage.run_worker().await?),
        Run::Background => {
            let started = stage.start_worker().await?;
            ensure!(started.status == 202, "worker: {}", started.status);
        }
    }
    stage.sim.advance(60).await?;
    warp(stage, 60).await
}

/// Moves the queue's clock `secs` forward, the way function_worker.rs moves one request's:
/// what a request waits for (its backoff or deferral, its next poll, a lost answer's
/// callback wait, the stuck timeout since its submit) and the provider's pause and last
/// check come `secs` nearer. Rows claimed by a run still at work keep their lease, and the
/// shared token bucket keeps real time: the provider counts its window in real time too.
async fn warp(stage: &Stage, secs: u32) -> Result<()> {
    let by = f64::from(secs);
    stage
        .db
        .execute(
            "update public.music_generation_queue
                set run_at = run_at - make_interval(secs => $1),
                    callback_wait_until = callback_wait_until - make_interval(secs => $1),
                    submitted_at = submitted_at - make_interval(secs => $1)
              where queue = 'default'
                and (status = 'pending'
                     or (status = 'processing'
                         and (suno_task_id is not null or callback_wait_until is not null)))",
            &[&by],
        )
        .await?;
    stage
        .db
        .execute(
            "update public.suno_api_status
                set paused_until = paused_until - make_interval(secs => $1)
              where id",
            &[&by],
        )
        .await?;
    age_provider_status(&stage.db, by).await
}

/// Users who each send `PER_USER` requests at `minute`: a wave at the start, then waves
/// that arrive during an outage, a rate-limit phase and maintenance (see [`faults_at`]).
fn users_arriving_at(minute: u32) -> usize {
    match minute {
        0 | 7 | 20 => 2,
        3 => 3,
        SLOW_MINUTE | 31 | 45 => 1,
        _ => 0,
    }
}

/// The minute a submit is answered just before the functions' 30 s timeout: its run is
/// started without waiting, so the next minutes go on beside it. The provider is up then
/// (the outage of minute 14 has just ended) and a wave has just come.
const SLOW_MINUTE: u32 = 16;

/// The rules that start at `minute`. The hour is five cycles of twelve minutes: up,
/// down (503 on everything, a little longer each cycle), 30 % of submits refused with
/// 503 and an answer lost after the provider took the submit, rate limited (430),
/// maintenance (455), slow answers; once, a submit answered 27 s late. Each rule ends by
/// itself: on the simulated clock, or after its count.
fn faults_at(minute: u32) -> Vec<Value> {
    let mut rules = Vec::new();
    if minute == SLOW_MINUTE {
        rules.push(
            json!({"kind": "slow", "delay_ms": 27_000, "endpoint": "generate",
                          "count": 1, "for_secs": 60}),
        );
    }
    let cycle = minute / 12;
    rules.extend(match minute % 12 {
        2 => vec![json!({"kind": "http_error", "status": 503,
                          "for_secs": 90 + 30 * (cycle % 3)})],
        5 => vec![
            json!({"kind": "http_error", "status": 503, "endpoint": "generate",
                   "probability": 0.3, "for_secs": 120}),
            json!({"kind": "accept_then_lose", "endpoint": "generate", "count": 1}),
        ],
        7 => vec![
            json!({"kind": "body_code", "code": 430, "endpoint": "generate",
                          "for_secs": 60}),
        ],
        8 => vec![json!({"kind": "body_code", "code": 455, "for_secs": 90 + 30 * (cycle % 2)})],
        10 => vec![json!({"kind": "slow", "delay_ms": 1500, "probability": 0.5, "count": 3})],
        _ => Vec::new(),
    });
    rules
}

async fn all_finished(stage: &Stage, ids: &[Uuid]) -> Result<bool> {
    Ok(unfinished(stage, ids).await?.is_empty())
}

async fn unfinished(stage: &Stage, ids: &[Uuid]) -> Result<Vec<(Uuid, String)>> {
    let rows = stage
        .db
        .query(
            "select id, status from public.music_generation_queue
              where id = any($1) and status in ('pending', 'processing')",
            &[&ids],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

async fn provider_up(stage: &Stage) -> Result<bool> {
    let row = stage
        .db
        .query_one(
            "select state = 'up' and paused_until is null from public.suno_api_status where id",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// One submit the simulator received.
struct Submit {
    request: Uuid,
    at_ms: i64,
    /// The body code answered, if any (430, 455, ...).
    code: Option<u64>,
    /// A task was created (and charged), even if the answer was lost.
    accepted: bool,
    fault: Option<String>,
}

fn submits(log: &[Value]) -> Result<Vec<Submit>> {
    log.iter()
        .map(|entry| {
            let url = entry["body"]["callBackUrl"].as_str().unwrap_or("");
            let request = url
                .split_once("request_id=")
                .and_then(|(_, rest)| rest.get(..36))
                .and_then(|id| id.parse().ok())
                .with_context(|| format!("a submit for no request of ours: {entry}"))?;
            Ok(Submit {
                request,
                at_ms: entry["at_ms"].as_i64().context("at_ms")?,
                code: entry["code"].as_u64(),
                accepted: !entry["task_id"].is_null(),
                fault: entry["fault"]["kind"].as_str().map(str::to_owned),
            })
        })
        .collect()
}

/// The most submits that arrived within any `WINDOW_MS`. Times are arrivals, so a few
/// milliseconds of network jitter are allowed for (as in function_worker.rs).
fn busiest_window(times: &mut [i64]) -> usize {
    times.sort_unstable();
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| **t < times[i] + WINDOW_MS - 50)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Every assertion of the scenario; answers the figures to print.
async fn check(stage: &Stage, ids: &[Uuid]) -> Result<String> {
    let log = stage.sim.requests("generate").await?;
    let submits = submits(&log)?;
    let mut by_request: HashMap<Uuid, Vec<&Submit>> = HashMap::new();
    for submit in &submits {
        ensure!(
            ids.contains(&submit.request),
            "a submit for another request"
        );
        by_request.entry(submit.request).or_default().push(submit);
    }

    let (mut completed, mut lost_answers) = (0, 0);
    let mut failed: HashMap<String, usize> = HashMap::new();
    for id in ids {
        let row = stage.request(*id).await?;
        let text = |column: &str| row[column].as_str().unwrap_or("").to_owned();
        let attempts = row["attempts"].as_u64().unwrap_or(u64::MAX);
        let ambiguous = row["ambiguous_submits"].as_u64().unwrap_or(0);
        lost_answers += ambiguous;
        match text("status").as_str() {
            "completed" => {
                completed += 1;
                let clips = row["result"]["clips"].as_array().map_or(0, Vec::len);
                ensure!(clips == 2, "{id} completed with {clips} clips");
                ensure!(
                    stage.events(*id, "completed").await? == 1,
                    "{id}: completed twice"
                );
            }
            "failed" => {
                *failed.entry(text("error_code")).or_default() += 1;
                ensure!(
                    !text("error_code").is_empty() && !text("error_message").is_empty(),
                    "{id} failed without a reason: {row}"
                );
                ensure!(!row["fallback_track_id"].is_null(), "{id}: no fallback");
            }
            other => anyhow::bail!("{id} ended {other}: {row}"),
        }
        let sent = by_request.get(id).map(Vec::as_slice).unwrap_or_default();
        // One paid task per attempt, plus one after a lost answer (the ambiguity rule).
        let accepted = sent.iter().filter(|s| s.accepted).count() as u64;
        ensure!(
            accepted <= attempts + ambiguous,
            "{id}: {accepted} tasks for {attempts} attempts and {ambiguous} lost answers"
        );
        // An attempt is spent only by a submit the provider did not refuse for its own
        // reasons (rate limit, maintenance).
        let tried = sent
            .iter()
            .filter(|s| !matches!(s.code, Some(430 | 405 | 455)))
            .count() as u64;
        ensure!(
            attempts <= tried,
            "{id}: {attempts} attempts used, {tried} submits not refused for rate or maintenance"
        );
        check_deferrals_gave_attempts_back(stage, *id).await?;
    }

    let mut times: Vec<i64> = submits.iter().map(|s| s.at_ms).collect();
    let busiest = busiest_window(&mut times);
    ensure!(
        busiest <= WINDOW_MAX,
        "{busiest} submits arrived within 10 s"
    );

    // The hour did flap: each kind of trouble was met, submits met the rate limit and
    // lost answers. (Maintenance and outages are mostly met by the probes: a worker does
    // not submit while the provider is paused.)
    let mut calls = log.clone();
    for endpoint in ["credit", "record_info"] {
        calls.extend(stage.sim.requests(endpoint).await?);
    }
    let met = |code: u64| calls.iter().filter(|c| c["code"] == code).count();
    let faulted = |kind: &str| calls.iter().filter(|c| c["fault"]["kind"] == kind).count();
    let rate_limited = submits.iter().filter(|s| s.code == Some(430)).count();
    let lost = submits
        .iter()
        .filter(|s| s.fault.as_deref() == Some("accept_then_lose"))
        .count();
    let (maintenance, http_errors, slow) = (met(455), faulted("http_error"), faulted("slow"));
    let near_timeout = submits
        .iter()
        .filter(|s| s.fault.as_deref() == Some("slow") && s.accepted)
        .count();
    ensure!(
        rate_limited > 0 && lost > 0 && maintenance > 0 && http_errors > 0 && slow > 0,
        "430: {rate_limited}, lost: {lost}, 455: {maintenance}, 503: {http_errors}, slow: {slow}"
    );
    Ok(format!(
        "  requests: {completed} completed, failed with a reason and a fallback: {failed:?}\n  \
         submits: {} ({} tasks paid), busiest 10 s: {busiest}; {} calls in all\n  \
         met: {http_errors} x 503, {rate_limited} submits x 430, {maintenance} x 455, \
         {slow} slow ({near_timeout} slow submits accepted), \
         {lost} lost answers ({lost_answers} recorded)",
        submits.len(),
        submits.iter().filter(|s| s.accepted).count(),
        calls.len(),
    ))
}

/// Every deferral (rate limit, maintenance, a run out of time) leaves the attempts as they
/// were before the claim it undoes: whatever that claim counted is given back, and nothing
/// more (a resubmit after a lost answer counts none).
async fn check_deferrals_gave_attempts_back(stage: &Stage, id: Uuid) -> Result<()> {
    let rows = stage
        .db
        .query(
            "select event, attempt from public.music_generation_events
              where request_id = $1 and attempt is not null order by id",
            &[&id],
        )
        .await?;
    let (mut last, mut before_claim) = (0, 0);
    for row in rows {
        let (event, attempt): (String, i32) = (row.get(0), row.get(1));
        match event.as_str() {
            "claimed" => before_claim = last,
            "deferred" => ensure!(
                attempt == before_claim,
                "{id}: deferred at attempt {attempt}, claimed at {before_claim} attempts"
            ),
            _ => {}
        }
        last = attempt;
    }
    Ok(())
}
