//! A provider callback with a wrong, missing or borrowed token changes nothing (issue 11).
//!
//! The callback route (`/functions/v1/music-queue-worker/callback?request_id=…&token=…`)
//! needs no key: the per-request token is its only credential. Two requests of this test's
//! own queue (which the real worker never serves) wait for the provider, one in each state a
//! callback can move: submitted (a callback makes its next read due) and waiting after a
//! lost submit answer (a callback attaches the task id it carries). Every bad token is tried
//! on both with a "complete" body, and the rows, their events and tracks, and the worker's
//! runs must stay as they were. The right token then does change each row, so the
//! comparison is shown to see a change.

use anyhow::{ensure, Result};
use reqwest::Method;
use serde_json::{json, Value};
use stack_tests::functions::{is_error_body, Answer, Functions, Key};
use stack_tests::sql::{self, Caller};
use tokio_postgres::Client;
use uuid::Uuid;

const CALLBACK: &str = "music-queue-worker/callback";

struct World {
    functions: Functions,
    db: Client,
    user: Uuid,
    queue: String,
    submitted: Uuid,
    waiting: Uuid,
    started: chrono::DateTime<chrono::Utc>,
}

async fn setup() -> Result<World> {
    let functions = Functions::from_env()?;
    let mut db = functions.env.db().await?;
    let started = chrono::Utc::now();
    let user = sql::new_user(&db).await?;
    let queue = sql::new_queue(&db).await?;

    let submitted = sql::enqueue(&mut db, &queue, user, "joy").await?;
    let claim = sql::claim(&mut db, "fault-security", 1, 600, &queue).await?[0];
    sql::call(
        &mut db,
        Caller::Service,
        "select id from public.mark_music_request_submitted($1, $2, $3, null, 600)",
        &[
            &claim.id,
            &claim.token,
            &format!("task-{}", Uuid::new_v4().simple()),
        ],
    )
    .await?;

    let waiting = sql::enqueue(&mut db, &queue, user, "calm").await?;
    let claim = sql::claim(&mut db, "fault-security", 1, 600, &queue).await?[0];
    sql::call(
        &mut db,
        Caller::Service,
        "select id from public.await_music_callback($1, $2, 600)",
        &[&claim.id, &claim.token],
    )
    .await?;

    Ok(World {
        functions,
        db,
        user,
        queue,
        submitted,
        waiting,
        started,
    })
}

impl World {
    async fn token_of(&self, id: Uuid) -> Result<String> {
        let row = self
            .db
            .query_one(
                "select callback_token from public.music_generation_queue where id = $1",
                &[&id],
            )
            .await?;
        Ok(row.get(0))
    }

    /// The two rows, their events and tracks, and the callback-started worker runs.
    async fn state(&self) -> Result<Value> {
        let ids = vec![self.submitted, self.waiting];
        let row = self
            .db
            .query_one(
                "select jsonb_build_object(
                   'requests', (select jsonb_agg(to_jsonb(q) order by q.id)
                                  from public.music_generation_queue q where q.id = any($1)),
                   'events', (select count(*) from public.music_generation_events
                               where request_id = any($1)),
                   'tracks', (select count(*) from public.music_tracks where request_id = any($1)),
                   'callback_runs', (select count(*) from public.music_worker_runs
                                      where trigger = 'callback' and started_at >= $2))",
                &[&ids, &self.started],
            )
            .await?;
        Ok(row.get(0))
    }

    /// Sends a provider callback for `request` with `token` (`None`: no token parameter).
    async fn callback(&self, request: Uuid, token: Option<&str>, body: &Value) -> Result<Answer> {
        let query = match token {
            Some(token) => format!("request_id={request}&token={token}"),
            None => format!("request_id={request}"),
        };
        self.functions
            .call(
                Method::POST,
                &format!("{CALLBACK}?{query}"),
                &Key::Nothing,
                Some(body.clone()),
            )
            .await
    }

    async fn teardown(self) -> Result<()> {
        sql::drop_queue(&self.db, &self.queue).await?;
        sql::drop_users(&self.db, &[self.user]).await
    }
}

/// A finished task as the provider reports it, with a clip to store.
fn complete_body(task_id: &str) -> Value {
    json!({"code": 200, "msg": "All generated successfully.",
           "data": {"callbackType": "complete", "task_id": task_id,
                    "data": [{"id": "forged-clip", "audio_url": "https://attacker.example/a.mp3",
                              "title": "forged", "duration": 60.0}]}})
}

#[tokio::test]
async fn a_callback_with_a_wrong_missing_or_borrowed_token_changes_nothing() -> Result<()> {
    let world = setup().await?;
    let before = world.state().await?;
    let submitted_token = world.token_of(world.submitted).await?;
    let waiting_token = world.token_of(world.waiting).await?;
    let forged_task = format!("forged-{}", Uuid::new_v4().simple());
    let body = complete_body(&forged_task);

    let random = hex_token();
    let attempts = [
        (
            world.submitted,
            Some(random.as_str()),
            401,
            "a random token",
        ),
        (world.waiting, Some(random.as_str()), 401, "a random token"),
        (
            world.submitted,
            Some(waiting_token.as_str()),
            401,
            "the other request's token",
        ),
        (
            world.waiting,
            Some(submitted_token.as_str()),
            401,
            "the other request's token",
        ),
        (world.submitted, None, 400, "no token"),
        (world.waiting, Some(""), 400, "an empty token"),
    ];
    let upper = submitted_token.to_uppercase();
    let longer = format!("{waiting_token}0");
    let near_misses = [
        (
            world.submitted,
            Some(upper.as_str()),
            401,
            "the right token in upper case",
        ),
        (
            world.waiting,
            Some(longer.as_str()),
            401,
            "the right token and one more digit",
        ),
    ];
    for (request, token, status, what) in attempts.into_iter().chain(near_misses) {
        let answer = world.callback(request, token, &body).await?;
        ensure!(
            answer.status == status && is_error_body(&answer.json),
            "{what} for {request}: expected {status} with a JSON error, got {} {}",
            answer.status,
            answer.json
        );
        let after = world.state().await?;
        ensure!(
            after == before,
            "{what} for {request} changed the state:\nbefore {before}\nafter  {after}"
        );
    }

    // The right tokens do move each row (with a progress body, so no run starts).
    let progress = json!({"code": 200, "msg": "Text generated.",
                          "data": {"callbackType": "text", "task_id": forged_task, "data": []}});
    let woken = world
        .callback(world.submitted, Some(&submitted_token), &progress)
        .await?;
    ensure!(
        woken.status == 200 && woken.json["effect"] == "woken",
        "{}",
        woken.json
    );
    let attached = world
        .callback(world.waiting, Some(&waiting_token), &progress)
        .await?;
    ensure!(
        attached.status == 200 && attached.json["effect"] == "attached",
        "{}",
        attached.json
    );
    ensure!(
        world.state().await? != before,
        "the right tokens change the rows"
    );
    world.teardown().await
}

/// A token of the same shape as the product's (48 hex digits) that no request holds.
fn hex_token() -> String {
    format!(
        "{}{}",
        Uuid::new_v4().simple(),
        &Uuid::new_v4().simple().to_string()[..16]
    )
}
