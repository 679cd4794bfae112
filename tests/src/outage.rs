//! One scenario for the `fault_*` tests that take the database or PostgREST away while
//! requests arrive and the worker runs.
//!
//! Users keep asking for music and the worker keeps being called, as pg_cron would, while
//! the part is stopped and held down, or frozen ([`Outage`]). During the outage each
//! function answers 503 with the JSON error body: at once when the part is gone, after the
//! shell's store timeout (20 s, far under the gateway's 150 s) when it is frozen. Once the
//! part is let go (a stopped one is started again by the stack), the functions answer as
//! before without anyone's help. Afterwards every request a user got a 2xx for is stored
//! exactly once, and the worker's next runs finish each of them. Claims of runs that died
//! with the outage are given back by moving their lease's end (`run_at`) to now instead of
//! waiting the 120 s lease out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use reqwest::Method;
use serde_json::json;
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;
use tokio_postgres::Client;
use uuid::Uuid;

use crate::faults::{
    eventually, function_answers_failed, function_error_lines, stop_part, Frozen, Hold,
    PausedCronJobs,
};
use crate::functions::{is_error_body, Answer, Functions, Key, StackSim};
use crate::sql::new_user;
use crate::stack::user_token;

const ASK: &str = "emotion-music-ai";
const WORKER: &str = "music-queue-worker";
const STATUS: &str = "suno-status-check";
const CRON_JOBS: [&str; 2] = [
    "music-queue-worker-every-minute",
    "suno-status-check-every-minute",
];
/// Requests the users send in all, at most: the test stays bounded.
const MAX_ASKS: usize = 40;
/// How long the part is held down after it stopped.
const OUTAGE: Duration = Duration::from_secs(3);

/// What the users and the cron stand-in were answered.
#[derive(Default)]
struct Seen {
    /// Idempotency key and answer of each request a user sent.
    asks: Vec<(String, Answer)>,
    /// Answers to the worker's calls.
    runs: Vec<Answer>,
}

/// How a part is taken away.
#[derive(Debug, Clone, Copy)]
pub enum Outage {
    /// Stopped with this signal and held down for [`OUTAGE`]; then the stack starts it
    /// again by itself.
    Stopped {
        /// `INT`, `TERM`, `KILL`...
        signal: &'static str,
    },
    /// Frozen with SIGSTOP: its port still takes connections, and nothing answers them,
    /// until SIGCONT once every function has answered.
    Frozen,
}

/// Takes `part` (`postgres` or `postgrest`) away while requests arrive and the worker runs,
/// gives it back, and checks what the callers saw and what the database kept.
pub async fn outage_while_busy(part: &str, outage: Outage) -> Result<()> {
    let functions = Arc::new(Functions::from_env()?);
    let db = functions.env.db().await?;
    let cron = PausedCronJobs::pause(&db, &CRON_JOBS).await?;
    let sim = StackSim::from_env()?;
    sim.reset().await?;
    sim.settings(json!({"time_scale": 100})).await?;
    // Nothing paused, so the requests accepted around the outage can finish.
    db.batch_execute(
        "update public.music_queues set paused = false where name = 'default';
         update public.suno_api_status set paused_until = null, pause_kind = null where id;",
    )
    .await?;
    let failed_before = function_answers_failed();
    let outcome = busy_outage(&functions, &db, part, outage).await.and_then(|()| {
        ensure!(
            function_answers_failed() == failed_before,
            "a function answered 5xx other than 503 (a provider's callback, maybe); the functions' last error lines:\n{}",
            function_error_lines(10).join("\n")
        );
        Ok(())
    });
    // The part is back (or the outcome says why not): reconnect and leave the stack as found.
    let db = functions.env.db().await?;
    cron.restore(&db).await?;
    sim.reset().await?;
    outcome
}

async fn busy_outage(
    functions: &Arc<Functions>,
    db: &Client,
    part: &str,
    outage: Outage,
) -> Result<()> {
    let mut users = Vec::new();
    for _ in 0..MAX_ASKS + 2 {
        users.push(user_token(&new_user(db).await?.to_string(), None));
    }
    let (outage_user, back_user) = (Key::User(users.remove(0)), Key::User(users.remove(0)));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (stop, stopped) = watch::channel(false);
    let load = [
        tokio::spawn(users_ask(
            functions.clone(),
            users,
            seen.clone(),
            stopped.clone(),
        )),
        tokio::spawn(cron_runs_worker(functions.clone(), seen.clone(), stopped)),
    ];

    let during = hold_an_outage(functions, &outage_user, part, outage).await;
    let back = back_by_itself(functions, &back_user, part).await;
    if let (Ok(released), Ok(_)) = (&during, &back) {
        eprintln!(
            "{part} outage: a request was accepted again {} ms after the outage ended",
            released.elapsed().as_millis()
        );
    }
    // And some after it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.send_replace(true);
    let mut seen = finish(load, seen).await?;
    during?;
    seen.asks.push(back?);

    check_answers(&seen)?;
    let accepted = accepted_ids(&seen)?;
    report(part, &seen, accepted.len());
    ensure!(
        !accepted.is_empty(),
        "no request was accepted around the outage"
    );
    let db = functions.env.db().await?;
    stored_once(&db, &seen, &accepted).await?;
    all_finish(functions, &db, &accepted).await
}

/// Takes the part away, calls each function meanwhile, and gives the part back (a
/// stopped part is held down for [`OUTAGE`]); when the outage ended.
async fn hold_an_outage(
    functions: &Functions,
    user: &Key,
    part: &str,
    outage: Outage,
) -> Result<Instant> {
    // Some requests get in before the outage.
    tokio::time::sleep(Duration::from_secs(2)).await;
    match outage {
        Outage::Stopped { signal } => {
            let hold = Hold::new(part)?;
            stop_part(part, signal, Duration::from_secs(30)).await?;
            let down_until = Instant::now() + OUTAGE;
            each_function_answers_503(functions, user, part).await?;
            tokio::time::sleep(down_until.saturating_duration_since(Instant::now())).await;
            hold.release();
        }
        Outage::Frozen => {
            let frozen = Frozen::new(part)?;
            each_function_answers_503(functions, user, part).await?;
            frozen.thaw();
        }
    }
    Ok(Instant::now())
}

/// A user, the worker's cron call, the status check's and the web app's status read (with
/// the public key), at once: each gets a 503 with the JSON error body.
async fn each_function_answers_503(functions: &Functions, user: &Key, part: &str) -> Result<()> {
    let (asked, run, probe, read) = tokio::join!(
        ask(functions, user),
        run_worker(functions),
        functions.call(Method::POST, STATUS, &Key::Secret, None),
        functions.call(Method::GET, STATUS, &Key::Publishable, None),
    );
    let calls = [
        (ASK, asked.map(|(_, answer)| answer)),
        (WORKER, run),
        (STATUS, probe),
        (STATUS, read),
    ];
    for (function, answer) in calls {
        let answer = answer?;
        ensure!(
            answer.status == 503 && is_error_body(&answer.json),
            "{function} during the {part} outage: {} {}",
            answer.status,
            answer.json
        );
        ensure!(
            answer
                .header("content-type")
                .starts_with("application/json"),
            "{function} answered {} during the outage",
            answer.header("content-type")
        );
    }
    Ok(())
}

/// Asks for music until a request is accepted again (nobody restarts anything: the stack
/// starts the part again, and PostgREST reconnects on its own): the accepted one.
async fn back_by_itself(functions: &Functions, user: &Key, part: &str) -> Result<(String, Answer)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (key, answer) = ask(functions, user).await?;
        if (200..300).contains(&answer.status) {
            return Ok((key, answer));
        }
        ensure!(
            Instant::now() < deadline,
            "60 s after the {part} outage, still {} {}",
            answer.status,
            answer.json
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A user asks for music, with an idempotency key of their own: the key and the answer.
async fn ask(functions: &Functions, user: &Key) -> Result<(String, Answer)> {
    let key = Uuid::new_v4().to_string();
    let answer = functions
        .call_with(
            Method::POST,
            ASK,
            user,
            Some(json!({"emotion": "joy", "intensity": 0.6, "context": "through an outage"})),
            &[("idempotency-key", &key)],
        )
        .await?;
    Ok((key, answer))
}

async fn run_worker(functions: &Functions) -> Result<Answer> {
    functions
        .call(
            Method::POST,
            &format!("{WORKER}?wait=true"),
            &Key::Secret,
            None,
        )
        .await
}

/// One user after another asks for music (each a fresh user, so none reaches the per-user
/// limit), until told to stop or [`MAX_ASKS`] have asked.
async fn users_ask(
    functions: Arc<Functions>,
    users: Vec<String>,
    seen: Arc<Mutex<Seen>>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    for jwt in users {
        let user = Key::User(jwt);
        let asked = tokio::select! {
            asked = ask(&functions, &user) => asked?,
            _ = stop.changed() => return Ok(()),
        };
        seen.lock().await.asks.push(asked);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(150)) => {}
            _ = stop.changed() => return Ok(()),
        }
    }
    Ok(())
}

/// The worker, called again as soon as a run ends, as overlapping cron runs would.
async fn cron_runs_worker(
    functions: Arc<Functions>,
    seen: Arc<Mutex<Seen>>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    loop {
        let answer = tokio::select! {
            answer = run_worker(&functions) => answer?,
            _ = stop.changed() => return Ok(()),
        };
        seen.lock().await.runs.push(answer);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(300)) => {}
            _ = stop.changed() => return Ok(()),
        }
    }
}

async fn finish(load: [JoinHandle<Result<()>>; 2], seen: Arc<Mutex<Seen>>) -> Result<Seen> {
    for task in load {
        task.await.context("a load task panicked")??;
    }
    Ok(std::mem::take(&mut *seen.lock().await))
}

/// Every answer was a success or a 503 with the JSON error body: never a 500, never HTML.
fn check_answers(seen: &Seen) -> Result<()> {
    let answers = seen.asks.iter().map(|(_, answer)| answer).chain(&seen.runs);
    for answer in answers {
        let fine = (200..300).contains(&answer.status)
            || (answer.status == 503 && is_error_body(&answer.json));
        ensure!(
            fine,
            "answered {} {}; the functions' last error lines:\n{}",
            answer.status,
            answer.json,
            function_error_lines(10).join("\n")
        );
    }
    Ok(())
}

/// The figures of the run, for the test's output.
fn report(part: &str, seen: &Seen, accepted: usize) {
    let unavailable = |answers: &mut dyn Iterator<Item = &Answer>| {
        answers.filter(|answer| answer.status == 503).count()
    };
    eprintln!(
        "{part} outage: {} requests asked, {accepted} accepted, {} answered 503; \
         {} worker calls, {} answered 503",
        seen.asks.len(),
        unavailable(&mut seen.asks.iter().map(|(_, answer)| answer)),
        seen.runs.len(),
        unavailable(&mut seen.runs.iter()),
    );
}

/// The request ids users got a 2xx for.
fn accepted_ids(seen: &Seen) -> Result<Vec<Uuid>> {
    seen.asks
        .iter()
        .filter(|(_, answer)| (200..300).contains(&answer.status))
        .map(|(_, answer)| {
            let id = answer.json["request_id"]
                .as_str()
                .context("no request_id")?;
            Ok(id.parse()?)
        })
        .collect()
}

/// Each accepted request is one row, and no idempotency key was stored twice.
async fn stored_once(db: &Client, seen: &Seen, accepted: &[Uuid]) -> Result<()> {
    let stored: i64 = db
        .query_one(
            "select count(*) from public.music_generation_queue where id = any($1)",
            &[&accepted],
        )
        .await?
        .get(0);
    ensure!(
        stored == accepted.len() as i64,
        "{stored} of {} accepted requests stored",
        accepted.len()
    );
    let keys: Vec<String> = seen.asks.iter().map(|(key, _)| key.clone()).collect();
    let twice: i64 = db
        .query_one(
            "select count(*) from (select idempotency_key from public.music_generation_queue
              where idempotency_key = any($1) group by idempotency_key having count(*) > 1) k",
            &[&keys],
        )
        .await?
        .get(0);
    ensure!(twice == 0, "{twice} requests were stored twice");
    Ok(())
}

/// The worker's runs finish every accepted request: completed, or failed with a reason.
async fn all_finish(functions: &Functions, db: &Client, accepted: &[Uuid]) -> Result<()> {
    let sim = StackSim::from_env()?;
    eventually(Duration::from_secs(90), "every accepted request to finish", || async {
        sim.advance(200).await?;
        db.execute(
            "update public.music_generation_queue set run_at = now()
              where id = any($1) and status in ('pending', 'processing')",
            &[&accepted],
        )
        .await?;
        let run = run_worker(functions).await?;
        ensure!(run.status == 200, "a run after the outage: {} {}", run.status, run.json);
        let unfinished: i64 = db
            .query_one(
                "select count(*) from public.music_generation_queue
                  where id = any($1)
                    and not (status = 'completed' or (status = 'failed' and error_code is not null))",
                &[&accepted],
            )
            .await?
            .get(0);
        Ok(unfinished == 0)
    })
    .await
}
