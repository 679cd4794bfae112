//! Helpers for the SQL tests of the music queue.
//!
//! Every test makes its own world inside the shared database: fresh users
//! (random uuids in `auth.users`) and its own queue (a `music_queues` row
//! named `t-…`), so tests run in parallel, in any order, again and again,
//! beside the real worker (which only claims the `default` queue) and beside
//! other suites. [`call`] reproduces a PostgREST request exactly: one
//! transaction, `SET LOCAL ROLE` and `request.jwt.claims` from the caller.

use anyhow::{Context, Result};
use serde_json::{json, Value};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};
use uuid::Uuid;

use crate::StackEnv;

/// A new superuser connection to the stack's database.
pub async fn db() -> Result<Client> {
    StackEnv::from_env()?.db().await
}

/// Who a request comes from, as PostgREST would see it.
#[derive(Debug, Clone, Copy)]
pub enum Caller {
    /// No token: role `anon`.
    Anon,
    /// A signed-in user.
    User(Uuid),
    /// A signed-in user with `app_metadata.role = "admin"`.
    Admin(Uuid),
    /// The secret key: role `service_role`.
    Service,
    /// A direct database session (SQL editor, pg_cron): no role, no claims.
    Operator,
}

impl Caller {
    fn role_and_claims(self) -> Option<(&'static str, Value)> {
        match self {
            Caller::Anon => Some(("anon", json!({ "role": "anon" }))),
            Caller::User(id) => Some((
                "authenticated",
                json!({ "sub": id, "role": "authenticated", "app_metadata": { "provider": "email" },
                        "user_metadata": { "role": "admin" } }),
            )),
            Caller::Admin(id) => Some((
                "authenticated",
                json!({ "sub": id, "role": "authenticated",
                        "app_metadata": { "provider": "email", "role": "admin" } }),
            )),
            Caller::Service => Some(("service_role", json!({ "role": "service_role" }))),
            Caller::Operator => None,
        }
    }
}

/// Runs one statement as `caller`, in its own transaction, like one
/// PostgREST request. The error keeps its SQLSTATE (see [`sqlstate`]).
pub async fn call(
    db: &mut Client,
    caller: Caller,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let tx = db.transaction().await?;
    if let Some((role, claims)) = caller.role_and_claims() {
        tx.batch_execute(&format!("set local role {role}")).await?;
        tx.execute(
            "select set_config('request.jwt.claims', $1, true)",
            &[&claims.to_string()],
        )
        .await?;
    }
    let rows = tx.query(sql, params).await?;
    tx.commit().await?;
    Ok(rows)
}

/// The SQLSTATE of a database error (`"42501"`, `"PT429"`, …).
pub fn sqlstate(error: &tokio_postgres::Error) -> Option<String> {
    error.code().map(|code| code.code().to_string())
}

/// Asserts that `result` failed with `expected` SQLSTATE.
pub fn expect_sqlstate<T: std::fmt::Debug>(
    result: Result<T, tokio_postgres::Error>,
    expected: &str,
) -> tokio_postgres::Error {
    match result {
        Ok(value) => panic!("expected SQLSTATE {expected}, got success: {value:?}"),
        Err(error) => {
            assert_eq!(
                sqlstate(&error).as_deref(),
                Some(expected),
                "wrong error: {error:?}"
            );
            error
        }
    }
}

/// Inserts one row into `table`: the `valid` columns (name, SQL text), except
/// that `column` is `value` (SQL text); `params` fill the `$n` in them.
pub async fn insert_with(
    db: &Client,
    table: &str,
    valid: &[(&str, &str)],
    (column, value): (&str, &str),
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    let mut columns: Vec<(&str, &str)> = valid
        .iter()
        .copied()
        .filter(|(name, _)| *name != column)
        .collect();
    columns.push((column, value));
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let values: Vec<&str> = columns.iter().map(|(_, value)| *value).collect();
    let insert = format!(
        "insert into {table} ({}) values ({})",
        names.join(", "),
        values.join(", ")
    );
    db.execute(&insert, params).await
}

/// Asserts that `result` failed as the CHECK named `constraint` fails:
/// SQLSTATE 23514 naming it.
pub fn expect_check_violation<T: std::fmt::Debug>(
    result: Result<T, tokio_postgres::Error>,
    constraint: &str,
    what: &str,
) {
    // `what` rides along with a success, so the panic says which case passed.
    let error = expect_sqlstate(result.map(|value| (what, value)), "23514");
    let named = error.as_db_error().and_then(|db| db.constraint());
    assert_eq!(named, Some(constraint), "{what}: {error:?}");
}

/// A fresh user in `auth.users`.
pub async fn new_user(db: &Client) -> Result<Uuid> {
    let id = Uuid::new_v4();
    db.execute(
        "insert into auth.users (id, email) values ($1, $2)",
        &[&id, &format!("{id}@queue-tests.example")],
    )
    .await
    .context("creating a test user")?;
    Ok(id)
}

/// A fresh queue of this test's own, with a per-user limit of unfinished
/// requests (`max_pending`).
pub async fn new_queue_with_limit(db: &Client, max_pending: i32) -> Result<String> {
    let name = format!("t-{}", &Uuid::new_v4().simple().to_string()[..12]);
    db.execute(
        "insert into public.music_queues (name, max_pending_per_user) values ($1, $2)",
        &[&name, &max_pending],
    )
    .await
    .context("creating a test queue")?;
    Ok(name)
}

/// A fresh queue without a practical per-user limit.
pub async fn new_queue(db: &Client) -> Result<String> {
    new_queue_with_limit(db, 1_000_000).await
}

/// Removes a test queue with its requests (events go with them), runs and alerts.
pub async fn drop_queue(db: &Client, queue: &str) -> Result<()> {
    db.execute(
        "delete from public.music_generation_queue where queue = $1",
        &[&queue],
    )
    .await?;
    db.execute(
        "delete from public.music_queue_daily_totals where queue = $1",
        &[&queue],
    )
    .await?;
    db.execute(
        "delete from public.music_worker_runs where queue = $1",
        &[&queue],
    )
    .await?;
    db.execute(
        "delete from public.music_alerts where queue = $1",
        &[&queue],
    )
    .await?;
    db.execute("delete from public.music_queues where name = $1", &[&queue])
        .await?;
    Ok(())
}

/// Removes test users (their requests, events and tracks cascade).
pub async fn drop_users(db: &Client, users: &[Uuid]) -> Result<()> {
    db.execute(
        "delete from public.music_generation_events where user_id = any($1)",
        &[&users],
    )
    .await?;
    db.execute("delete from auth.users where id = any($1)", &[&users])
        .await?;
    Ok(())
}

/// Enqueues one request for `user` in `queue` through the SQL API, as the
/// service role, and returns its id.
pub async fn enqueue(db: &mut Client, queue: &str, user: Uuid, emotion: &str) -> Result<Uuid> {
    let rows = call(
        db,
        Caller::Service,
        "select (public.enqueue_music_request(p_emotion => $1, p_user_id => $2, p_queue => $3) ->> 'id')::uuid",
        &[&emotion, &user, &queue],
    )
    .await?;
    Ok(rows[0].get(0))
}

/// Inserts `n` pending requests directly (a fixture shortcut for volume:
/// it bypasses the per-user limit and the events).
pub async fn insert_pending(db: &Client, queue: &str, user: Uuid, n: i32) -> Result<()> {
    db.execute(
        "insert into public.music_generation_queue (user_id, queue, emotion, prompt, priority, run_at)
         select $1, $2, (array['joy','calm','sad','anger','energetic','neutral'])[1 + i % 6],
                'fixture ' || i, 5, now() - interval '1 second'
           from generate_series(1, $3) as i",
        &[&user, &queue, &n],
    )
    .await
    .context("inserting pending fixtures")?;
    Ok(())
}

/// A claimed request as the worker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Claim {
    pub id: Uuid,
    pub token: Uuid,
    pub attempts: i32,
}

/// `claim_music_requests` as the service role.
pub async fn claim(
    db: &mut Client,
    worker: &str,
    limit: i32,
    lease_seconds: i32,
    queue: &str,
) -> Result<Vec<Claim>> {
    let rows = call(
        db,
        Caller::Service,
        "select id, lease_token, attempts from public.claim_music_requests($1, $2, $3, $4)",
        &[&worker, &limit, &lease_seconds, &queue],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|row| Claim {
            id: row.get(0),
            token: row.get(1),
            attempts: row.get(2),
        })
        .collect())
}

/// A result with two clips, as the worker stores it.
pub fn two_clips(tag: &str) -> Value {
    let clip = |n: u32| {
        json!({
            "id": format!("{tag}-{n}-{}", Uuid::new_v4().simple()),
            "title": format!("Test {tag} {n}"),
            "audio_url": format!("https://cdn.example.test/{tag}-{n}.mp3"),
            "stream_audio_url": format!("https://cdn.example.test/{tag}-{n}.m3u8"),
            "image_url": format!("https://cdn.example.test/{tag}-{n}.jpg"),
            "duration": 121.5,
            "tags": "test",
        })
    };
    json!({ "clips": [clip(1), clip(2)] })
}

/// `complete_music_request` as the service role: did it change the row?
pub async fn complete(db: &mut Client, claim: Claim) -> Result<bool> {
    let rows = call(
        db,
        Caller::Service,
        "select id from public.complete_music_request($1, $2, $3)",
        &[&claim.id, &claim.token, &two_clips("done")],
    )
    .await?;
    Ok(rows.len() == 1)
}

/// The current state of a request, read as superuser.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub status: String,
    pub attempts: i32,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub fallback_track_id: Option<Uuid>,
    pub fallback_same_emotion: Option<bool>,
    pub lease_token: Option<Uuid>,
    /// Seconds from now to run_at (negative: due).
    pub run_in_seconds: f64,
}

pub async fn snapshot(db: &Client, id: Uuid) -> Result<Snapshot> {
    let row = db
        .query_one(
            "select status, attempts, error_code, error_message, fallback_track_id,
                    fallback_same_emotion, lease_token,
                    extract(epoch from run_at - clock_timestamp())::float8
               from public.music_generation_queue where id = $1",
            &[&id],
        )
        .await?;
    Ok(Snapshot {
        status: row.get(0),
        attempts: row.get(1),
        error_code: row.get(2),
        error_message: row.get(3),
        fallback_track_id: row.get(4),
        fallback_same_emotion: row.get(5),
        lease_token: row.get(6),
        run_in_seconds: row.get(7),
    })
}

/// The events of a request, oldest first.
pub async fn events(db: &Client, id: Uuid) -> Result<Vec<String>> {
    let rows = db
        .query(
            "select event from public.music_generation_events where request_id = $1 order by id",
            &[&id],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Enqueues `n` requests with `emotion` for one fresh user through the SQL API, as
/// `emotion-music-ai` stores them; each prompt is `prompt` and its number.
pub async fn enqueue_for_new_user(
    db: &mut Client,
    emotion: &str,
    n: usize,
    prompt: &str,
) -> Result<Vec<Uuid>> {
    let user = new_user(db).await?;
    let mut ids = Vec::new();
    for i in 0..n {
        let rows = call(
            db,
            Caller::Service,
            "select (public.enqueue_music_request(p_emotion => $1, p_user_id => $2,
                     p_prompt => $3) ->> 'id')::uuid",
            &[&emotion, &user, &format!("{prompt} {i}")],
        )
        .await?;
        ids.push(rows[0].get(0));
    }
    Ok(ids)
}

/// Waits until every request of `ids` has `status`, or fails after `within` saying how
/// many had it.
pub async fn wait_for_status(
    db: &Client,
    ids: &[Uuid],
    status: &str,
    within: std::time::Duration,
) -> Result<()> {
    let deadline = std::time::Instant::now() + within;
    loop {
        let count: i64 = db
            .query_one(
                "select count(*) from public.music_generation_queue
                  where id = any($1) and status = $2",
                &[&ids, &status],
            )
            .await?
            .get(0);
        if count == ids.len() as i64 {
            return Ok(());
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "{count} of {} {status} after {within:?}",
            ids.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
