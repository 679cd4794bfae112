//! Load through the gateway: many users ask `emotion-music-ai` for music at once, with
//! repeated `Idempotency-Key`s mixed in and a per-user limit some of them pass.
//!
//! What must hold, whatever order the requests land in: every accepted request is stored
//! exactly once; every answer for one key names the same request, and exactly one of them
//! made it (the others say `deduplicated`), with the body of the one that made it (a later
//! body under the same key is ignored, as documented); a 429 stores nothing, and a user who
//! got one holds exactly the limit; nothing answers 5xx. Throughput and latency are printed,
//! never asserted.
//!
//! The figures are written straight to stderr, past the test harness's capture, so they
//! show in `scripts/test`'s output.
//!
//! Each test pauses the cron jobs (a run would claim requests and change what a user holds)
//! and puts back the queue's settings, the jobs, the simulator and its own users' rows when
//! it ends, even when it fails.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use futures::{FutureExt, StreamExt};
use music_core::Emotion;
use reqwest::Method;
use serde_json::json;
use stack_tests::functions::{expect_status, is_error_body, Answer, Functions, Key, StackSim};
use stack_tests::hold::{Hold, QueueSettings};
use stack_tests::sql::{drop_users, new_user};
use stack_tests::stack::user_token;
use tokio_postgres::Client;
use uuid::Uuid;

const FUNCTION: &str = "emotion-music-ai";
/// The emotions the core accepts, as sent.
fn emotions() -> [&'static str; 7] {
    Emotion::ALL.map(Emotion::as_str)
}

/// One request of the plan.
#[derive(Debug, Clone)]
struct Ask {
    /// Index of the user in [`Load::users`].
    user: usize,
    /// The `Idempotency-Key`, when sent.
    key: Option<String>,
    /// The body's emotion.
    emotion: &'static str,
}

/// The answer to one [`Ask`] and how long it took.
struct Reply {
    answer: Answer,
    took: Duration,
}

/// The requests to send: user `u` sends `20 + (u % 5) * 10` of them (20 to 60, 40 on
/// average), so some users stay under the limit and others pass it. One in ten carries no
/// key; one in eight repeats a recent key of the same user, with the same body for even
/// users and another emotion for odd ones. Sent round-robin across users, so a repeat
/// usually comes after its first request has been answered, and sometimes races it.
fn plan(users: usize) -> Vec<Ask> {
    let mut per_user: Vec<Vec<Ask>> = Vec::new();
    for user in 0..users {
        let mut asks = Vec::new();
        let mut keyed: Vec<(String, &'static str)> = Vec::new();
        for k in 0..20 + (user % 5) * 10 {
            let emotion = emotions()[(user + k) % Emotion::ALL.len()];
            let ask = if k % 8 == 7 && !keyed.is_empty() {
                let (key, first) = keyed[keyed.len().saturating_sub(2)].clone();
                let emotion = if user % 2 == 0 {
                    first
                } else {
                    emotions()[(emotions().iter().position(|e| *e == first).unwrap_or(0) + 1)
                        % Emotion::ALL.len()]
                };
                Ask {
                    user,
                    key: Some(key),
                    emotion,
                }
            } else if k % 10 == 4 {
                Ask {
                    user,
                    key: None,
                    emotion,
                }
            } else {
                let key = format!("load-{user}-{k}");
                keyed.push((key.clone(), emotion));
                Ask {
                    user,
                    key: Some(key),
                    emotion,
                }
            };
            asks.push(ask);
        }
        per_user.push(asks);
    }
    let longest = per_user.iter().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .flat_map(|k| per_user.iter().filter_map(move |asks| asks.get(k).cloned()))
        .collect()
}

/// The stack, held still, and this test's users.
struct Load {
    functions: Functions,
    db: Client,
    sim: StackSim,
    hold: Hold,
    users: Vec<Uuid>,
    keys: Vec<Key>,
    /// The per-user limit set for the test.
    limit: i32,
}

impl Load {
    /// Holds the stack ([`Hold`]) with the `default` queue `paused` or not and a per-user
    /// limit of `limit`, makes `users` users and resets the simulator.
    async fn start(users: usize, limit: i32, paused: bool) -> Result<Load> {
        let functions = Functions::from_env()?;
        let db = functions.env.db().await?;
        let settings = QueueSettings {
            paused,
            max_pending_per_user: limit,
        };
        let hold = Hold::start(&db, settings).await?;
        let mut ids = Vec::new();
        for _ in 0..users {
            ids.push(new_user(&db).await?);
        }
        let keys = ids
            .iter()
            .map(|id| Key::User(user_token(&id.to_string(), None)))
            .collect();
        // A fresh simulator: its request log then holds this test's submits only.
        let sim = StackSim::from_env()?;
        sim.reset().await?;
        Ok(Load {
            functions,
            db,
            sim,
            hold,
            users: ids,
            keys,
            limit,
        })
    }

    /// Removes the users with their requests, resets the simulator and releases the hold.
    async fn finish(&self) -> Result<()> {
        drop_users(&self.db, &self.users).await?;
        self.sim.reset().await?;
        self.hold.release(&self.db).await
    }

    /// Sends every ask, `in_flight` at a time; the replies in the plan's order, and the
    /// wall-clock time it all took.
    async fn send_all(&self, asks: &[Ask], in_flight: usize) -> Result<(Vec<Reply>, Duration)> {
        let started = Instant::now();
        let mut replies: Vec<(usize, Reply)> = futures::stream::iter(asks.iter().enumerate())
            .map(|(n, ask)| async move { Ok::<_, anyhow::Error>((n, self.send(ask).await?)) })
            .buffer_unordered(in_flight)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_>>()?;
        let elapsed = started.elapsed();
        replies.sort_by_key(|(n, _)| *n);
        Ok((replies.into_iter().map(|(_, r)| r).collect(), elapsed))
    }

    async fn send(&self, ask: &Ask) -> Result<Reply> {
        let extra: Vec<(&str, &str)> = ask
            .key
            .as_deref()
            .map(|key| ("idempotency-key", key))
            .into_iter()
            .collect();
        let started = Instant::now();
        let answer = self
            .functions
            .call_with(
                Method::POST,
                FUNCTION,
                &self.keys[ask.user],
                Some(json!({"emotion": ask.emotion})),
                &extra,
            )
            .await?;
        Ok(Reply {
            answer,
            took: started.elapsed(),
        })
    }

    /// The stored requests of this test's users.
    async fn rows(&self) -> Result<Vec<Row>> {
        let rows = self
            .db
            .query(
                "select q.id::text, q.user_id, q.idempotency_key, q.emotion, q.suno_task_id,
                        (select count(*) from public.music_generation_events e
                          where e.request_id = q.id and e.event = 'enqueued')
                   from public.music_generation_queue q
                  where q.user_id = any($1)",
                &[&self.users],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let user: Uuid = row.get(1);
                Ok(Row {
                    id: row.get(0),
                    user: self
                        .users
                        .iter()
                        .position(|u| *u == user)
                        .context("a row of a user of this test")?,
                    key: row.get(2),
                    emotion: row.get(3),
                    task_id: row.get(4),
                    enqueued_events: row.get(5),
                })
            })
            .collect()
    }
}

/// A stored request, as the checks need it.
#[derive(Debug)]
struct Row {
    id: String,
    user: usize,
    key: Option<String>,
    emotion: String,
    task_id: Option<String>,
    enqueued_events: i64,
}

/// Awaits `test` on `load`, then always [`Load::finish`]es, failed or not.
async fn then_finish(
    load: &Load,
    test: impl std::future::Future<Output = Result<()>>,
) -> Result<()> {
    let outcome = AssertUnwindSafe(test).catch_unwind().await;
    load.finish().await?;
    match outcome {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn request_id(answer: &Answer) -> Option<&str> {
    answer.json["request_id"].as_str()
}

/// The checks every load test makes (see the module docs).
fn check_replies(asks: &[Ask], replies: &[Reply], rows: &[Row], limit: i32) -> Result<()> {
    // Every answer is an acceptance or the per-user limit, in the documented shape.
    for (ask, reply) in asks.iter().zip(replies) {
        let answer = &reply.answer;
        match answer.status {
            200 | 202 => ensure!(
                request_id(answer).is_some(),
                "{ask:?}: no request_id in {}",
                answer.json
            ),
            429 => ensure!(
                is_error_body(&answer.json) && answer.json["error"]["code"] == "too_many_requests",
                "{ask:?}: 429 without the error body: {}",
                answer.json
            ),
            _ => anyhow::bail!("{ask:?}: {} {}", answer.status, answer.json),
        }
    }
    let by_id: HashMap<&str, &Row> = rows.iter().map(|r| (r.id.as_str(), r)).collect();
    ensure!(by_id.len() == rows.len(), "request ids are unique");
    for row in rows {
        ensure!(
            row.enqueued_events == 1,
            "{row:?}: one enqueued event per request"
        );
    }

    // Keyed asks: one row per (user, key) at most, named by every accepted answer.
    let mut groups: HashMap<(usize, &str), Vec<(&Ask, &Answer)>> = HashMap::new();
    for (ask, reply) in asks.iter().zip(replies) {
        if let Some(key) = &ask.key {
            groups
                .entry((ask.user, key))
                .or_default()
                .push((ask, &reply.answer));
        }
    }
    let mut accepted_ids = BTreeSet::new();
    for ((user, key), answers) in &groups {
        let stored: Vec<&Row> = rows
            .iter()
            .filter(|r| r.user == *user && r.key.as_deref() == Some(*key))
            .collect();
        let accepted: Vec<&(&Ask, &Answer)> = answers
            .iter()
            .filter(|(_, a)| a.status == 200 || a.status == 202)
            .collect();
        if accepted.is_empty() {
            ensure!(stored.is_empty(), "{key}: refused, yet stored: {stored:?}");
            continue;
        }
        ensure!(stored.len() == 1, "{key}: stored {} times", stored.len());
        let row = stored[0];
        for (_, answer) in &accepted {
            ensure!(
                request_id(answer) == Some(row.id.as_str()),
                "{key}: answered {} but stored {}",
                answer.json,
                row.id
            );
        }
        let makers: Vec<&&(&Ask, &Answer)> = accepted
            .iter()
            .filter(|(_, a)| a.json["deduplicated"] != true)
            .collect();
        ensure!(
            makers.len() == 1,
            "{key}: {} answers say they made the request, not one",
            makers.len()
        );
        ensure!(
            row.emotion == makers[0].0.emotion,
            "{key}: stored {} but the first request asked for {}",
            row.emotion,
            makers[0].0.emotion
        );
        accepted_ids.insert(row.id.as_str());
    }

    // Asks without a key: each acceptance is its own row.
    for (ask, reply) in asks.iter().zip(replies) {
        let Some(id) = request_id(&reply.answer).filter(|_| ask.key.is_none()) else {
            continue;
        };
        let row = by_id
            .get(id)
            .with_context(|| format!("{ask:?}: answered {id}, not stored"))?;
        ensure!(
            row.user == ask.user && row.key.is_none() && row.emotion == ask.emotion,
            "{ask:?}: answered {row:?}"
        );
        ensure!(accepted_ids.insert(id), "{id} answered twice without a key");
    }
    let stored_ids: BTreeSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    ensure!(
        stored_ids == accepted_ids,
        "{} stored, {} accepted: every stored request was answered, once",
        stored_ids.len(),
        accepted_ids.len()
    );

    // The limit: never passed, and reached by everyone it refused.
    let users = asks.iter().map(|a| a.user).max().map_or(0, |u| u + 1);
    for user in 0..users {
        let held = rows.iter().filter(|r| r.user == user).count();
        let refused = asks
            .iter()
            .zip(replies)
            .any(|(a, r)| a.user == user && r.answer.status == 429);
        ensure!(held <= limit as usize, "user {user} holds {held} > {limit}");
        ensure!(
            !refused || held == limit as usize,
            "user {user} was refused while holding {held} < {limit}"
        );
    }
    Ok(())
}

/// Prints what the run saw: counts by answer, throughput and latency percentiles.
fn report(what: &str, replies: &[Reply], elapsed: Duration) {
    let mut took: Vec<Duration> = replies.iter().map(|r| r.took).collect();
    took.sort();
    let at = |p: f64| {
        let index = ((took.len() as f64 * p).ceil() as usize).clamp(1, took.len()) - 1;
        took[index].as_secs_f64() * 1000.0
    };
    let mut statuses: Vec<(u16, usize)> = Vec::new();
    for reply in replies {
        match statuses.iter_mut().find(|(s, _)| *s == reply.answer.status) {
            Some((_, n)) => *n += 1,
            None => statuses.push((reply.answer.status, 1)),
        }
    }
    statuses.sort();
    let deduplicated = replies
        .iter()
        .filter(|r| r.answer.json["deduplicated"] == true)
        .count();
    let line = format!(
        "load: {what}: {} requests in {:.1} s ({:.0}/s); answers {statuses:?}, {deduplicated} \
         deduplicated; latency p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        replies.len(),
        elapsed.as_secs_f64(),
        replies.len() as f64 / elapsed.as_secs_f64(),
        at(0.50),
        at(0.90),
        at(0.99),
        at(1.0),
    );
    // Past the harness's capture: these figures are the point of a passing run.
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// 50 users, 2,000 requests, 64 in flight, into a paused queue: every request waits, so
/// what each user holds only grows and the limit (30) refuses the users who send more.
#[tokio::test]
async fn two_thousand_requests_from_fifty_users_are_stored_once_each() -> Result<()> {
    let load = Load::start(50, 30, true).await?;
    let test = into_a_paused_queue(&load);
    then_finish(&load, test).await
}

async fn into_a_paused_queue(load: &Load) -> Result<()> {
    let asks = plan(load.users.len());
    ensure!(asks.len() == 2_000, "{} asks planned", asks.len());
    let (replies, elapsed) = load.send_all(&asks, 64).await?;
    report("paused queue", &replies, elapsed);
    let rows = load.rows().await?;
    check_replies(&asks, &replies, &rows, load.limit)?;
    let count = |status: u16| replies.iter().filter(|r| r.answer.status == status).count();
    ensure!(count(429) > 0, "some users pass the limit");
    ensure!(count(202) > 0, "requests are accepted");
    ensure!(
        replies
            .iter()
            .filter(|r| r.answer.status == 202)
            .all(|r| r.answer.json["status"] == "queued"),
        "a paused queue only queues"
    );
    ensure!(
        replies
            .iter()
            .any(|r| r.answer.json["deduplicated"] == true),
        "repeated keys are answered with their first request"
    );
    ensure!(
        load.sim.requests("generate").await?.is_empty(),
        "a paused queue sends nothing to the provider"
    );
    Ok(())
}

/// A healthy provider: the first requests go to it at once until the shared token bucket
/// runs dry, the rest wait. Nothing finishes (no cron, no callbacks), so the same checks
/// hold, and each request the provider got was sent once.
#[tokio::test]
async fn with_a_healthy_provider_each_request_is_submitted_at_most_once() -> Result<()> {
    let load = Load::start(10, 30, false).await?;
    let test = to_a_healthy_provider(&load);
    then_finish(&load, test).await
}

async fn to_a_healthy_provider(load: &Load) -> Result<()> {
    let asks = plan(load.users.len());
    load.sim
        .settings(json!({"callbacks": {"enabled": false}}))
        .await?;
    let probe = load
        .functions
        .call(Method::GET, "suno-status-check", &Key::Secret, None)
        .await?;
    expect_status(&probe, 200)?;
    load.sim.clear_requests().await?;

    let (replies, elapsed) = load.send_all(&asks, 64).await?;
    report("healthy provider", &replies, elapsed);
    let rows = load.rows().await?;
    check_replies(&asks, &replies, &rows, load.limit)?;

    let submitted: BTreeSet<String> = load
        .sim
        .requests("generate")
        .await?
        .iter()
        .filter_map(|r| r["task_id"].as_str().map(str::to_owned))
        .collect();
    let attached: Vec<&str> = rows.iter().filter_map(|r| r.task_id.as_deref()).collect();
    ensure!(!submitted.is_empty(), "the provider took some at once");
    ensure!(
        attached.len() == submitted.len() && attached.iter().all(|t| submitted.contains(*t)),
        "{} tasks created, {} attached to requests: one task per request",
        submitted.len(),
        attached.len()
    );
    for reply in &replies {
        if let Some(task) = reply.answer.json["task_id"].as_str() {
            ensure!(submitted.contains(task), "answered a task never created");
        }
    }
    Ok(())
}
