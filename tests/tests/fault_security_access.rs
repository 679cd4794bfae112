//! Who may do what, as an app or an attacker would try it over HTTP (issue 11): every
//! credential that is not the secret key or a real admin (forged, expired or foreign-signed
//! JWTs, the anon and publishable keys, a plain user's valid JWT, nothing at all) is tried
//! against every privileged door, and each attempt must be refused with a 401/403 JSON error
//! and change nothing in the database:
//! - running the worker (`/functions/v1/music-queue-worker`);
//! - the status check's privileged action (a fresh provider probe);
//! - the admin RPCs and the worker's own RPCs (`/rest/v1/rpc/…`);
//! - reading another user's request by id (the table, `my_music_requests`, its events, its
//!   tracks, and `GET /functions/v1/emotion-music-ai?request_id=`).
//!
//! The unit-level checks of the same rules (SQL roles, RLS) are in `queue_rls.rs` and
//! `queue_user_privacy.rs`; this file is the matrix through the gateway. Cron jobs are paused
//! while it runs (a cron run would change the state it compares) and restored after.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use jsonwebtoken::{encode, EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};
use stack_tests::functions::{
    expect_status, is_error_body, running_worker_runs, serial, set_cron_job_active,
    wait_for_live_worker_runs, wait_for_new_worker_runs, Answer, Functions, Key, StackSim,
};
use stack_tests::sql::{self, Caller};
use stack_tests::stack::{sign, user_token};
use tokio_postgres::Client;
use uuid::Uuid;

const WORKER: &str = "music-queue-worker";
const STATUS: &str = "suno-status-check";
const ASK: &str = "emotion-music-ai";
const CRON_JOBS: [&str; 2] = [
    "music-queue-worker-every-minute",
    "suno-status-check-every-minute",
];

/// `{"alg":"none","typ":"JWT"}`, base64url: a token that claims to need no signature.
const ALG_NONE_HEADER: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";

/// Claims of an admin of this project (what every forgery below pretends to be).
fn admin_claims(exp_in_secs: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": Uuid::new_v4(), "aud": "authenticated", "role": "authenticated",
           "app_metadata": {"provider": "email", "role": "admin"}, "user_metadata": {},
           "iat": now, "exp": now + exp_in_secs})
}

/// The credentials that must not pass a privileged door, each with a name for messages.
fn unprivileged() -> Vec<(&'static str, Key)> {
    let admin = sign(&admin_claims(600));
    let admin_payload = admin.split('.').nth(1).expect("a JWT has a payload");
    let user = user_token(&Uuid::new_v4().to_string(), None);
    let (user_header, user_signature) = {
        let parts: Vec<&str> = user.split('.').collect();
        (parts[0], parts[2])
    };
    let other_secret = EncodingKey::from_secret(b"another-project-secret-of-at-least-32-chars");
    let foreign = |claims: &Value| encode(&Header::default(), claims, &other_secret).unwrap();
    vec![
        (
            "alg none, admin claims",
            Key::User(format!("{ALG_NONE_HEADER}.{admin_payload}.")),
        ),
        (
            "a user's JWT with an admin payload and the original signature",
            Key::User(format!("{user_header}.{admin_payload}.{user_signature}")),
        ),
        ("an expired admin JWT", Key::User(sign(&admin_claims(-120)))),
        (
            "an admin JWT signed with another secret",
            Key::User(foreign(&admin_claims(600))),
        ),
        (
            "a service_role JWT signed with another secret",
            Key::User(foreign(
                &json!({"role": "service_role", "iss": "supabase-demo",
                                      "exp": chrono::Utc::now().timestamp() + 600}),
            )),
        ),
        (
            "a made-up secret key",
            Key::User(format!("sb_secret_{}", Uuid::new_v4().simple())),
        ),
        ("the anon key", Key::Anon),
        ("the publishable key", Key::Publishable),
        ("a user's valid JWT", Key::User(user)),
        ("no key", Key::Nothing),
    ]
}

/// What the matrix works on: a victim with a pending and a failed request, an open and a
/// paused queue, and a rate-limit bucket, all this test's own.
struct World {
    functions: Functions,
    /// The cron jobs' `active` flags before the test, restored by [`World::teardown`].
    cron_was_active: Vec<(String, bool)>,
    sim: StackSim,
    db: Client,
    victim: Uuid,
    open_queue: String,
    paused_queue: String,
    bucket: String,
    pending: Uuid,
    failed: Uuid,
}

async fn setup() -> Result<World> {
    let functions = Functions::from_env()?;
    let mut db = functions.env.db().await?;
    let cron_was_active = cron_jobs_active(&db).await?;
    for job in CRON_JOBS {
        set_cron_job_active(&db, job, false).await?;
    }
    let sim = StackSim::from_env()?;
    wait_for_live_worker_runs(&db).await?;
    sim.reset().await?;
    let victim = sql::new_user(&db).await?;
    let open_queue = sql::new_queue(&db).await?;
    let paused_queue = sql::new_queue(&db).await?;
    db.execute(
        "update public.music_queues set paused = true, pause_reason = 'fault_security'
          where name = $1",
        &[&paused_queue],
    )
    .await?;
    let bucket = format!("t-{}", &Uuid::new_v4().simple().to_string()[..12]);
    db.execute(
        "insert into public.music_rate_limits (name, capacity, window_seconds) values ($1, 5, 10)",
        &[&bucket],
    )
    .await?;
    let failed = sql::enqueue(&mut db, &open_queue, victim, "sad").await?;
    let claim = sql::claim(&mut db, "fault-security", 1, 60, &open_queue).await?[0];
    sql::call(
        &mut db,
        Caller::Service,
        "select id from public.fail_music_request($1, $2, 'provider_rejected', 'refused')",
        &[&claim.id, &claim.token],
    )
    .await?;
    let pending = sql::enqueue(&mut db, &open_queue, victim, "joy").await?;
    Ok(World {
        functions,
        cron_was_active,
        sim,
        db,
        victim,
        open_queue,
        paused_queue,
        bucket,
        pending,
        failed,
    })
}

impl World {
    /// Everything an accepted attempt would change, as one JSON value.
    async fn state(&self) -> Result<Value> {
        let queues = vec![self.open_queue.as_str(), self.paused_queue.as_str()];
        let requests = vec![self.pending, self.failed];
        let row = self
            .db
            .query_one(
                "select jsonb_build_object(
                   'queues', (select jsonb_agg(to_jsonb(m) order by m.name)
                                from public.music_queues m where m.name = any($1)),
                   'requests', (select jsonb_agg(to_jsonb(q) order by q.id)
                                  from public.music_generation_queue q where q.id = any($2)),
                   'victim_requests', (select count(*) from public.music_generation_queue
                                        where user_id = $3),
                   'events', (select count(*) from public.music_generation_events
                               where request_id = any($2)),
                   'bucket', (select to_jsonb(r) from public.music_rate_limits r where r.name = $4),
                   'worker_runs', (select count(*) from public.music_worker_runs))",
                &[&queues, &requests, &self.victim, &self.bucket],
            )
            .await?;
        Ok(row.get(0))
    }

    async fn rpc(&self, name: &str, key: &Key, args: Value) -> Result<Answer> {
        let path = format!("rpc/{name}");
        self.functions
            .rest(Method::POST, &path, key, Some(args))
            .await
    }

    /// The privileged RPCs, each with arguments that would change something (or read what
    /// only admins read).
    fn privileged_rpcs(&self) -> Vec<(&'static str, Value)> {
        vec![
            (
                "admin_retry_music_request",
                json!({"p_request_id": self.failed}),
            ),
            (
                "admin_cancel_music_request",
                json!({"p_request_id": self.pending}),
            ),
            (
                "pause_music_queue",
                json!({"p_reason": "attack", "p_queue": self.open_queue}),
            ),
            ("resume_music_queue", json!({"p_queue": self.paused_queue})),
            (
                "configure_music_queue",
                json!({"p_queue": self.open_queue, "p_batch_size": 1, "p_max_attempts": 9}),
            ),
            (
                "set_rate_limit",
                json!({"p_bucket": self.bucket, "p_capacity": 1000, "p_window_seconds": 1}),
            ),
            ("music_queue_stats", json!({"p_queue": self.open_queue})),
            ("music_queue_timeseries", json!({"p_hours": 24})),
            ("get_suno_api_status", json!({})),
            (
                "claim_music_requests",
                json!({"p_worker_id": "attacker", "p_limit": 5, "p_lease_seconds": 60,
                       "p_queue": self.open_queue}),
            ),
            (
                "enqueue_music_request",
                json!({"p_emotion": "joy", "p_user_id": self.victim, "p_queue": self.open_queue}),
            ),
            (
                "fail_music_request",
                json!({"p_request_id": self.pending, "p_lease_token": Uuid::new_v4(),
                       "p_error_code": "attack"}),
            ),
        ]
    }

    /// The read paths of the request page and PostgREST for another user's request, with
    /// columns its owner may read, so a refusal is about the row, not a hidden column.
    fn read_paths(&self) -> Vec<String> {
        let id = self.pending;
        vec![
            format!("music_generation_queue?select=id,status,prompt&id=eq.{id}"),
            format!("my_music_requests?id=eq.{id}"),
            format!("music_generation_events?select=id,event&request_id=eq.{id}"),
            format!("music_tracks?select=id&request_id=eq.{id}"),
        ]
    }

    /// Makes the stored provider status fresh, so only a privileged caller gets a probe, and
    /// empties the simulator's log.
    async fn fresh_status(&self) -> Result<()> {
        let answer = self
            .functions
            .call(Method::POST, STATUS, &Key::Secret, None)
            .await?;
        expect_status(&answer, 200)?;
        self.sim.clear_requests().await
    }

    async fn teardown(self) -> Result<()> {
        self.db
            .execute(
                "delete from public.music_rate_limits where name = $1",
                &[&self.bucket],
            )
            .await?;
        sql::drop_queue(&self.db, &self.open_queue).await?;
        sql::drop_queue(&self.db, &self.paused_queue).await?;
        sql::drop_users(&self.db, &[self.victim]).await?;
        self.sim.reset().await?;
        for (job, active) in &self.cron_was_active {
            set_cron_job_active(&self.db, job, *active).await?;
        }
        Ok(())
    }
}

/// A refusal: 401 or 403 with a JSON error body (the functions' `{"error": …}`, or
/// PostgREST's and the gateway's `{"message": …}`).
fn expect_refused(answer: &Answer, what: &str) -> Result<()> {
    ensure!(
        matches!(answer.status, 401 | 403),
        "{what}: expected 401/403, got {} {}",
        answer.status,
        answer.json
    );
    ensure!(
        is_error_body(&answer.json) || answer.json["message"].is_string(),
        "{what}: not a JSON error: {}",
        answer.json
    );
    Ok(())
}

#[tokio::test]
async fn no_forged_foreign_or_unprivileged_credential_runs_the_worker_probes_or_calls_admin_rpcs(
) -> Result<()> {
    let _serial = serial().await;
    let world = setup().await?;
    let tried = try_every_privileged_door(&world).await;
    world.teardown().await?;
    tried
}

async fn try_every_privileged_door(world: &World) -> Result<()> {
    let before = world.state().await?;

    for (name, key) in unprivileged() {
        for path in [WORKER.to_owned(), format!("{WORKER}?wait=true")] {
            let answer = world
                .functions
                .call(Method::POST, &path, &key, Some(json!({"trigger": "cron"})))
                .await?;
            expect_refused(&answer, &format!("{name} → POST {path}"))?;
            ensure!(is_error_body(&answer.json), "{name}: {}", answer.json);
        }

        world.fresh_status().await?;
        let status = world
            .functions
            .call(Method::POST, STATUS, &key, None)
            .await?;
        ensure!(
            matches!(status.status, 200 | 401 | 403),
            "{name} → status check: {} {}",
            status.status,
            status.json
        );
        ensure!(
            status.json.get("credits").is_none() && status.json.get("last_error").is_none(),
            "{name}: the status check showed admin fields: {}",
            status.json
        );
        let probes = world.sim.requests("credit").await?.len();
        ensure!(probes == 0, "{name}: the status check probed the provider");

        for (rpc, args) in world.privileged_rpcs() {
            let answer = world.rpc(rpc, &key, args).await?;
            expect_refused(&answer, &format!("{name} → rpc/{rpc}"))?;
        }

        let generated = world.sim.requests("generate").await?.len();
        ensure!(generated == 0, "{name}: something was submitted");
        let after = world.state().await?;
        ensure!(
            after == before,
            "{name} changed the state:\nbefore {before}\nafter  {after}"
        );
    }

    // The same doors open for a real admin, so the checks above can see a change.
    let admin = Key::admin();
    let configured = world
        .rpc(
            "configure_music_queue",
            &admin,
            json!({"p_queue": world.open_queue, "p_batch_size": 1}),
        )
        .await?;
    expect_status(&configured, 200)?;
    ensure!(
        world.state().await? != before,
        "an admin's change is visible"
    );
    let running_before = running_worker_runs(&world.db).await?;
    let run = world
        .functions
        .call(Method::POST, WORKER, &admin, None)
        .await?;
    expect_status(&run, 202)?;
    wait_for_new_worker_runs(&world.db, &running_before, Duration::from_secs(10))
        .await
        .context("positive control")
}

#[tokio::test]
async fn another_users_request_is_not_readable_by_id_with_any_credential() -> Result<()> {
    let _serial = serial().await;
    let world = setup().await?;
    let tried = try_every_read_path(&world).await;
    world.teardown().await?;
    tried
}

async fn try_every_read_path(world: &World) -> Result<()> {
    let owner = Key::User(user_token(&world.victim.to_string(), None));
    for path in world.read_paths().into_iter().take(3) {
        let answer = world
            .functions
            .rest(Method::GET, &path, &owner, None)
            .await?;
        expect_status(&answer, 200)?;
        ensure!(
            answer.json.as_array().is_some_and(|rows| !rows.is_empty()),
            "the owner reads {path}: {}",
            answer.json
        );
    }
    let own = format!("{ASK}?request_id={}", world.pending);
    expect_status(
        &world
            .functions
            .call(Method::GET, &own, &owner, None)
            .await?,
        200,
    )?;

    for (name, key) in unprivileged() {
        for path in world.read_paths() {
            let answer = world.functions.rest(Method::GET, &path, &key, None).await?;
            let nothing = answer.status == 200 && answer.json == json!([]);
            ensure!(
                nothing || matches!(answer.status, 401 | 403),
                "{name} → GET /rest/v1/{path}: {} {}",
                answer.status,
                answer.json
            );
        }
        let answer = world.functions.call(Method::GET, &own, &key, None).await?;
        ensure!(
            matches!(answer.status, 401 | 403 | 404) && is_error_body(&answer.json)
                || answer.status == 401 && answer.json["message"].is_string(),
            "{name} → GET {own}: {} {}",
            answer.status,
            answer.json
        );
    }
    Ok(())
}

/// The `active` flag of each of [`CRON_JOBS`].
async fn cron_jobs_active(db: &Client) -> Result<Vec<(String, bool)>> {
    let rows = db
        .query(
            "select jobname, active from cron.job where jobname = any($1)",
            &[&CRON_JOBS.to_vec()],
        )
        .await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}
