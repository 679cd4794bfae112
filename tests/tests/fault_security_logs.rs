//! No key or token appears in any log, on any path, errors included (issue 11).
//!
//! The test first drives every path a key or token travels, the failing ones above all: a
//! request from ask to completion by callback, refused and forged callers, callbacks with
//! bad tokens, a provider that refuses the key, a provider whose error pages echo the
//! request's `Authorization` header, and database errors. Then it reads everything the
//! stack writes down: every file of its log folder (devstack with the gateway, pg_net and
//! the simulator, Postgres, PostgREST, each function), `net._http_response`,
//! `cron.job_run_details`, `pg_stat_statements`, every table of `public` but the two token
//! columns where tokens live, and the simulator's request and callback logs. Each must be
//! free of the stack's secret key, service-role JWT and JWT secret, the Suno key, the user
//! JWTs used, every request's callback token and every Vault secret. A hit names where it
//! is and which secret, never the secret itself.
//!
//! Run after the other suites (`scripts/test`), it also sees what they left in the logs.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use reqwest::Method;
use serde_json::{json, Value};
use stack_tests::functions::{
    expect_status, running_worker_runs, serial, set_cron_job_active, wait_for_live_worker_runs,
    wait_for_new_worker_runs, Answer, Functions, Key, StackSim,
};
use stack_tests::sql;
use stack_tests::stack::{sign, user_token, JWT_SECRET};
use tokio_postgres::Client;
use uuid::Uuid;

const WORKER: &str = "music-queue-worker";
const STATUS: &str = "suno-status-check";
const ASK: &str = "emotion-music-ai";
const CRON_JOBS: [&str; 2] = [
    "music-queue-worker-every-minute",
    "suno-status-check-every-minute",
];
/// Callback tokens are 24 random bytes in hex.
const CALLBACK_TOKEN_LEN: usize = 48;

/// A secret to look for, and the name a hit reports instead of it.
struct Secret {
    name: String,
    value: String,
}

struct World {
    functions: Functions,
    sim: StackSim,
    db: Client,
    cron_was_active: Vec<(String, bool)>,
    /// Worker runs an earlier test left running; the walk waits only for its own.
    runs_running_before: Vec<String>,
    users: Vec<Uuid>,
    /// Every credential this test sent that must not be written down.
    used: Vec<Secret>,
}

async fn setup() -> Result<World> {
    let functions = Functions::from_env()?;
    let db = functions.env.db().await?;
    let rows = db
        .query(
            "select jobname, active from cron.job where jobname = any($1)",
            &[&CRON_JOBS.to_vec()],
        )
        .await?;
    let cron_was_active = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    for job in CRON_JOBS {
        set_cron_job_active(&db, job, false).await?;
    }
    // A healthy, unpaused provider and no one else's work in the default queue.
    db.batch_execute(
        "delete from public.music_generation_queue
          where queue = 'default' and status in ('pending', 'processing');
         update public.music_queues set paused = false where name = 'default';
         update public.suno_api_status set paused_until = null, pause_kind = null where id;",
    )
    .await?;
    let runs_running_before = running_worker_runs(&db).await?;
    let sim = StackSim::from_env()?;
    wait_for_live_worker_runs(&db).await?;
    sim.reset().await?;
    sim.settings(json!({"time_scale": 100})).await?;
    Ok(World {
        functions,
        sim,
        db,
        cron_was_active,
        runs_running_before,
        users: Vec::new(),
        used: Vec::new(),
    })
}

impl World {
    /// A user in `auth.users` and their JWT, remembered as a secret.
    async fn user(&mut self) -> Result<Key> {
        let id = sql::new_user(&self.db).await?;
        self.users.push(id);
        Ok(self.remember("a user's JWT", user_token(&id.to_string(), None)))
    }

    fn remember(&mut self, name: &str, jwt: String) -> Key {
        self.used.push(Secret {
            name: name.to_owned(),
            value: jwt.clone(),
        });
        Key::User(jwt)
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        key: &Key,
        body: Option<Value>,
    ) -> Result<Answer> {
        self.functions.call(method, path, key, body).await
    }

    async fn ask(&self, key: &Key, body: Value) -> Result<Answer> {
        self.call(Method::POST, ASK, key, Some(body)).await
    }

    async fn run_worker(&self, key: &Key) -> Result<Answer> {
        let path = format!("{WORKER}?wait=true");
        self.call(Method::POST, &path, key, None).await
    }

    async fn probe(&self) -> Result<Answer> {
        self.call(Method::POST, STATUS, &Key::Secret, None).await
    }

    async fn callback_token(&self, id: &str) -> Result<String> {
        let row = self
            .db
            .query_one(
                "select callback_token from public.music_generation_queue where id::text = $1",
                &[&id],
            )
            .await?;
        Ok(row.get(0))
    }

    /// Waits for request `id` to finish (completed or failed). While it waits in the queue
    /// (the shared submit bucket may be empty after earlier suites), it is made due and the
    /// worker is run, as cron would a minute later.
    async fn wait_finished(&self, id: &str) -> Result<String> {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let status: String = self
                .db
                .query_one(
                    "select status from public.music_generation_queue where id::text = $1",
                    &[&id],
                )
                .await?
                .get(0);
            if status == "completed" || status == "failed" || Instant::now() > deadline {
                return Ok(status);
            }
            if status == "pending" {
                self.db
                    .execute(
                        "update public.music_generation_queue set run_at = now() where id::text = $1",
                        &[&id],
                    )
                    .await?;
                self.run_worker(&Key::Secret).await?;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Back to a healthy, unpaused provider; cron as before; the walk's users and requests
    /// removed.
    async fn teardown(&self) -> Result<()> {
        self.sim.reset().await?;
        self.db
            .batch_execute(
                "update public.suno_api_status set paused_until = null, pause_kind = null where id;
                 update public.music_queues set paused = false, paused_at = null, paused_by = null,
                        pause_reason = null where name = 'default';",
            )
            .await?;
        expect_status(&self.probe().await?, 200)?;
        // Runs started by the walk finish (and log) before the scan.
        wait_for_new_worker_runs(&self.db, &self.runs_running_before, Duration::from_secs(15))
            .await?;
        sql::drop_users(&self.db, &self.users).await?;
        for (job, active) in &self.cron_was_active {
            set_cron_job_active(&self.db, job, *active).await?;
        }
        Ok(())
    }
}

/// The happy path, refusals, forged callers and bad callbacks.
async fn drive_the_usual_paths(world: &mut World) -> Result<()> {
    let user = world.user().await?;
    let asked = world
        .call(
            Method::POST,
            ASK,
            &user,
            Some(json!({"emotion": "joy", "context": "a security walk"})),
        )
        .await?;
    ensure!(
        matches!(asked.status, 200 | 202),
        "{} {}",
        asked.status,
        asked.json
    );
    let id = asked.json["request_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let status = world.wait_finished(&id).await?;
    ensure!(status == "completed", "the walk's request ended {status}");
    let read = format!("{ASK}?request_id={id}");
    expect_status(&world.call(Method::GET, &read, &user, None).await?, 200)?;
    let stranger = world.user().await?;
    expect_status(&world.call(Method::GET, &read, &stranger, None).await?, 404)?;
    expect_status(&world.ask(&user, json!({"emotion": "nope"})).await?, 400)?;

    let now = chrono::Utc::now().timestamp();
    let forged_admin = world.remember(
        "a forged admin JWT",
        format!(
            "{}x",
            sign(
                &json!({"sub": Uuid::new_v4(), "role": "authenticated", "aud": "authenticated",
                         "app_metadata": {"role": "admin"}, "exp": now + 600})
            )
        ),
    );
    let expired = world.remember(
        "an expired JWT",
        sign(
            &json!({"sub": Uuid::new_v4(), "role": "authenticated", "aud": "authenticated",
                     "app_metadata": {"role": "admin"}, "exp": now - 60}),
        ),
    );
    let made_up = world.remember(
        "a made-up secret key",
        format!("sb_secret_{}", Uuid::new_v4().simple()),
    );
    for key in [
        &forged_admin,
        &expired,
        &made_up,
        &Key::Anon,
        &Key::Publishable,
    ] {
        world.run_worker(key).await?;
        world.call(Method::POST, STATUS, key, None).await?;
        world.ask(key, json!({"emotion": "calm"})).await?;
    }
    let admin_id = sql::new_user(&world.db).await?;
    world.users.push(admin_id);
    let admin = world.remember(
        "an admin's JWT",
        user_token(&admin_id.to_string(), Some("admin")),
    );
    expect_status(&world.run_worker(&admin).await?, 200)?;
    expect_status(&world.run_worker(&Key::ServiceRole).await?, 200)?;

    let token = world.callback_token(&id).await?;
    let callback = |query: String| format!("{WORKER}/callback?{query}");
    let body = json!({"code": 200, "msg": "ok",
                      "data": {"callbackType": "complete", "task_id": "x", "data": []}});
    for query in [
        format!("request_id={id}&token={}", Uuid::new_v4().simple()),
        format!("request_id={id}"),
        format!("token={token}"),
        format!("request_id=not-a-uuid&token={token}"),
        format!("request_id={}&token={token}", Uuid::new_v4()),
        format!("request_id={id}&token={token}"),
    ] {
        world
            .call(
                Method::POST,
                &callback(query),
                &Key::Nothing,
                Some(body.clone()),
            )
            .await?;
    }
    // A signed-in user who is not in auth.users: the enqueue fails in the database.
    let ghost = world.remember(
        "a ghost user's JWT",
        user_token(&Uuid::new_v4().to_string(), None),
    );
    let answer = world.ask(&ghost, json!({"emotion": "sad"})).await?;
    ensure!(
        answer.status >= 400,
        "a ghost user's request: {}",
        answer.json
    );
    Ok(())
}

/// The provider refuses the key, then answers errors that echo the request's headers.
async fn drive_provider_failures(world: &mut World) -> Result<()> {
    let user = world.user().await?;
    world
        .sim
        .settings(json!({"api_keys": ["a-key-the-stack-does-not-have"]}))
        .await?;
    world.probe().await?;
    world.ask(&user, json!({"emotion": "anger"})).await?;
    world.run_worker(&Key::Secret).await?;

    world.sim.reset().await?;
    world
        .db
        .batch_execute(
            "update public.suno_api_status set paused_until = null, pause_kind = null where id",
        )
        .await?;
    let key = std::env::var("SUNO_API_KEY").context("SUNO_API_KEY is not set")?;
    let echo = format!("upstream rejected: authorization: Bearer {key}; apikey={key}");
    world
        .sim
        .fault(json!([
            {"kind": "http_error", "status": 502, "body": echo, "endpoint": "credit", "count": 1},
            {"kind": "body_code", "code": 500, "msg": echo, "endpoint": "generate", "count": 1},
            {"kind": "http_error", "status": 503, "body": echo, "endpoint": "generate", "count": 1},
            {"kind": "non_json", "body": echo, "endpoint": "record_info", "count": 1},
        ]))
        .await?;
    world.probe().await?;
    world.probe().await?;
    for _ in 0..2 {
        let asked = world.ask(&user, json!({"emotion": "energetic"})).await?;
        world.run_worker(&Key::Secret).await?;
        if let Some(id) = asked.json["request_id"].as_str() {
            world
                .db
                .execute(
                    "update public.music_generation_queue set run_at = now()
                      where id::text = $1 and status = 'pending'",
                    &[&id],
                )
                .await?;
        }
    }
    world.run_worker(&Key::Secret).await?;
    world.sim.clear_faults().await?;
    // The echo reached the stored error texts (masked), so the scan below has looked at a
    // path where the key was in the provider's answer.
    let echoed: i64 = world
        .db
        .query_one(
            "select count(*) from public.suno_api_status_checks
              where error like '%Bearer ***%' and checked_at > now() - interval '5 minutes'",
            &[],
        )
        .await?
        .get(0);
    ensure!(echoed > 0, "no provider error echoing the key was recorded");
    Ok(())
}

#[tokio::test]
async fn no_key_or_token_is_written_down_anywhere_after_every_path() -> Result<()> {
    let _serial = serial().await;
    let mut world = setup().await?;
    let driven = async {
        drive_the_usual_paths(&mut world).await?;
        drive_provider_failures(&mut world).await
    }
    .await;
    // Read before the teardown resets the simulator and removes the walk's requests.
    let sim_log = simulator_log(&world.sim).await;
    let tokens = callback_tokens(&world.db).await;
    world.teardown().await?;
    driven?;
    let (sim_log, tokens) = (sim_log?, tokens?);

    let secrets = secrets(&world).await?;
    ensure!(
        !tokens.is_empty(),
        "the walk left callback tokens to look for"
    );
    let mut documents = log_files(&world.db).await?;
    documents.extend(database_records(&world.db).await?);
    documents.push(("the simulator's logs".into(), sim_log));

    let hits: Vec<String> = documents
        .iter()
        .flat_map(|(place, text)| find(place, text, &secrets, &tokens))
        .collect();
    ensure!(
        hits.is_empty(),
        "{} secret(s) written down:\n{}",
        hits.len(),
        hits.join("\n")
    );
    Ok(())
}

/// The fixed secrets: the stack's keys, the Suno key, the JWTs this test used, Vault.
async fn secrets(world: &World) -> Result<Vec<Secret>> {
    let env = &world.functions.env;
    let named = |name: &str, value: &str| Secret {
        name: name.to_owned(),
        value: value.to_owned(),
    };
    let mut secrets = vec![
        named("the secret key", &env.secret_key),
        named("the service-role JWT", &env.service_role_key),
        named("the JWT secret", JWT_SECRET),
        named(
            "the Suno key",
            &std::env::var("SUNO_API_KEY").context("SUNO_API_KEY is not set")?,
        ),
    ];
    for used in &world.used {
        secrets.push(named(&used.name, &used.value));
    }
    let vault = world
        .db
        .query(
            "select name, decrypted_secret from vault.decrypted_secrets
              where decrypted_secret !~ '^https?://'",
            &[],
        )
        .await?;
    for row in vault {
        let name: String = row.get(0);
        secrets.push(named(&format!("Vault secret {name}"), row.get(1)));
    }
    // A JWT's signature is the part no one else has; a log that cut the token short
    // would still show it.
    let signatures: Vec<Secret> = secrets
        .iter()
        .filter_map(|s| {
            let signature = s.value.rsplit_once('.')?.1;
            (s.value.matches('.').count() == 2 && signature.len() >= 16)
                .then(|| named(&format!("{} (signature)", s.name), signature))
        })
        .collect();
    secrets.extend(signatures);
    Ok(secrets)
}

/// Every request's callback token.
async fn callback_tokens(db: &Client) -> Result<HashSet<String>> {
    let rows = db
        .query(
            "select callback_token from public.music_generation_queue",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Every file of the stack's log folder: `<state>/logs`, beside the cluster's data folder.
async fn log_files(db: &Client) -> Result<Vec<(String, String)>> {
    let data: String = db
        .query_one("select current_setting('data_directory')", &[])
        .await?
        .get(0);
    let logs = Path::new(&data)
        .parent()
        .context("the data folder has a parent")?
        .join("logs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&logs)
        .with_context(|| format!("reading {}", logs.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    ensure!(files.len() >= 5, "too few log files in {}", logs.display());
    files
        .into_iter()
        .map(|path| {
            let text = String::from_utf8_lossy(&std::fs::read(&path)?).into_owned();
            Ok((path.display().to_string(), text))
        })
        .collect()
}

/// What the database keeps of requests and runs: pg_net's answers, cron's run details,
/// pg_stat_statements, and every table of `public` without the token columns.
async fn database_records(db: &Client) -> Result<Vec<(String, String)>> {
    let mut sources = vec![
        (
            "net._http_response".to_owned(),
            "select to_jsonb(r)::text from net._http_response r".to_owned(),
        ),
        (
            "cron.job_run_details".to_owned(),
            "select to_jsonb(d)::text from cron.job_run_details d".to_owned(),
        ),
        (
            "cron.job".to_owned(),
            "select to_jsonb(j)::text from cron.job j".to_owned(),
        ),
        (
            "pg_stat_statements".to_owned(),
            "select query from extensions.pg_stat_statements".to_owned(),
        ),
    ];
    let tables = db
        .query(
            "select tablename from pg_tables where schemaname = 'public' order by tablename",
            &[],
        )
        .await?;
    for row in tables {
        let table: String = row.get(0);
        sources.push((
            format!("public.{table}"),
            format!(
                "select (to_jsonb(t) - 'callback_token' - 'lease_token')::text from public.{table} t"
            ),
        ));
    }
    let mut documents = Vec::new();
    for (place, query) in sources {
        let rows = db.query(&query, &[]).await.with_context(|| place.clone())?;
        let text: Vec<String> = rows
            .iter()
            .map(|row| row.get::<_, Option<String>>(0).unwrap_or_default())
            .collect();
        documents.push((place, text.join("\n")));
    }
    Ok(documents)
}

/// The simulator's request and callback logs as text.
async fn simulator_log(sim: &StackSim) -> Result<String> {
    let mut lines = Vec::new();
    for mut request in sim.all_requests().await? {
        // The fault rule applied: this test's own words (the echoed key), not the log's.
        request.as_object_mut().map(|r| r.remove("fault"));
        lines.push(request.to_string());
    }
    for delivery in sim.callbacks().await? {
        lines.push(delivery.to_string());
    }
    Ok(lines.join("\n"))
}

/// Where `text` (from `place`) holds a secret: one line per hit, naming the secret.
fn find(place: &str, text: &str, secrets: &[Secret], tokens: &HashSet<String>) -> Vec<String> {
    let mut hits = Vec::new();
    for (n, line) in text.lines().enumerate() {
        for secret in secrets.iter().filter(|s| line.contains(&s.value)) {
            hits.push(format!("{place}:{}: {}", n + 1, secret.name));
        }
        if hex_runs(line).any(|token| tokens.contains(token)) {
            hits.push(format!("{place}:{}: a callback token", n + 1));
        }
    }
    hits
}

/// Every window of [`CALLBACK_TOKEN_LEN`] lowercase hex digits inside a longer hex run.
fn hex_runs(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| !matches!(c, '0'..='9' | 'a'..='f'))
        .filter(|run| run.len() >= CALLBACK_TOKEN_LEN)
        .flat_map(|run| {
            (0..=run.len() - CALLBACK_TOKEN_LEN).map(move |i| &run[i..i + CALLBACK_TOKEN_LEN])
        })
}

#[test]
fn the_scan_finds_a_secret_or_a_token_and_names_it_without_showing_it() {
    let secrets = [Secret {
        name: "the Suno key".into(),
        value: "sim-suno-key".into(),
    }];
    let token = "0123456789abcdef0123456789abcdef0123456789abcdef".to_owned();
    let tokens = HashSet::from([token.clone()]);
    let text = format!("fine\nauthorization: Bearer sim-suno-key\n/callback?token={token}&x\n");
    let hits = find("a.log", &text, &secrets, &tokens);
    assert_eq!(hits, ["a.log:2: the Suno key", "a.log:3: a callback token"]);
    let masked = "Bearer sim-*** token=0123***";
    assert!(find("a.log", masked, &secrets, &tokens).is_empty());
}
