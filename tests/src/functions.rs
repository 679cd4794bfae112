//! Calling the project's edge functions through the gateway, and driving the stack's Suno
//! simulator, for the `function_*` tests.
//!
//! [`Functions::call`] sends a request as one kind of caller ([`Key`]): every scenario that
//! needs the secret key runs once with the legacy service-role JWT and once with the
//! `sb_secret_…` key ([`Key::SECRET_KINDS`]). [`StackSim`] is the control API (`/__sim/`) of
//! the simulator the stack's functions talk to. [`serial`] keeps tests that share the
//! singleton provider status or the simulator from running at the same time.

use std::time::Duration;

use anyhow::{Context, Result};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;
use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::Client;

use crate::stack::user_token;
use crate::StackEnv;

/// Who calls a function, and so which headers go with the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// The legacy service-role JWT in `apikey` and `Authorization` (pg_cron before `sb_` keys).
    ServiceRole,
    /// The `sb_secret_…` key in `apikey` and `Authorization` (they must be equal).
    Secret,
    /// The legacy anon JWT in `apikey` and `Authorization` (supabase-js, signed out).
    Anon,
    /// The `sb_publishable_…` key in `apikey` only.
    Publishable,
    /// A user's JWT in `Authorization`, the publishable key in `apikey`.
    User(String),
    /// No key at all.
    Nothing,
}

impl Key {
    /// The two forms of the secret key, for scenarios that run with both.
    pub const SECRET_KINDS: [Key; 2] = [Key::ServiceRole, Key::Secret];

    /// A fresh signed-in user (random id), not an admin.
    pub fn user() -> Key {
        Key::User(user_token(&uuid::Uuid::new_v4().to_string(), None))
    }

    /// A fresh signed-in admin (`app_metadata.role = "admin"`).
    pub fn admin() -> Key {
        Key::User(user_token(&uuid::Uuid::new_v4().to_string(), Some("admin")))
    }

    fn headers(&self, env: &StackEnv) -> Vec<(&'static str, String)> {
        let both = |key: &str| {
            vec![
                ("apikey", key.to_owned()),
                ("authorization", format!("Bearer {key}")),
            ]
        };
        match self {
            Key::ServiceRole => both(&env.service_role_key),
            Key::Secret => both(&env.secret_key),
            Key::Anon => both(&env.anon_key),
            Key::Publishable => vec![("apikey", env.publishable_key.clone())],
            Key::User(jwt) => vec![
                ("apikey", env.publishable_key.clone()),
                ("authorization", format!("Bearer {jwt}")),
            ],
            Key::Nothing => Vec::new(),
        }
    }
}

/// A function's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body as JSON (`Null` when empty or not JSON).
    pub json: Value,
}

impl Answer {
    /// A header's value, or `""`.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// A client of `SUPABASE_URL/functions/v1/…`.
pub struct Functions {
    /// The stack.
    pub env: StackEnv,
    http: reqwest::Client,
}

impl Functions {
    /// A client of the stack named by the environment (see [`StackEnv::from_env`]).
    pub fn from_env() -> Result<Functions> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Functions {
            env: StackEnv::from_env()?,
            http,
        })
    }

    /// Sends `method` to `/functions/v1/<path>` (path and query, e.g.
    /// `suno-status-check?x=1`) as `key`, with `body` as JSON when given.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: &Key,
        body: Option<Value>,
    ) -> Result<Answer> {
        self.call_with(method, path, key, body, &[]).await
    }

    /// [`Functions::call`] with extra headers (e.g. `Origin`, `Idempotency-Key`).
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        key: &Key,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> Result<Answer> {
        let url = format!("{}/functions/v1/{path}", self.env.url);
        self.send(method, &url, key, body, extra).await
    }

    /// Sends `method` to `/rest/v1/<path>` (PostgREST behind the gateway, e.g.
    /// `rpc/music_queue_stats` or `my_music_requests?id=eq.…`) as `key`, as supabase-js would.
    pub async fn rest(
        &self,
        method: Method,
        path: &str,
        key: &Key,
        body: Option<Value>,
    ) -> Result<Answer> {
        let url = format!("{}/rest/v1/{path}", self.env.url);
        self.send(method, &url, key, body, &[]).await
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        key: &Key,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> Result<Answer> {
        let mut request = self.http.request(method.clone(), url);
        for (name, value) in key.headers(&self.env) {
            request = request.header(name, value);
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await?;
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Answer {
            status,
            headers,
            json,
        })
    }
}

/// The control API of the stack's Suno simulator (`SUNO_API_BASE_URL/__sim/`).
pub struct StackSim {
    base: String,
    http: reqwest::Client,
}

impl StackSim {
    /// The simulator of the stack named by the environment.
    pub fn from_env() -> Result<StackSim> {
        let env = StackEnv::from_env()?;
        anyhow::ensure!(!env.suno_url.is_empty(), "SUNO_API_BASE_URL is not set");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(StackSim {
            base: format!("{}/__sim", env.suno_url),
            http,
        })
    }

    /// The settings, `credits` included, as `PATCH /__sim/settings` takes them back.
    pub async fn current_settings(&self) -> Result<Value> {
        self.send(Method::GET, "/settings", None).await
    }

    /// Back to its start: settings, faults, logs and tasks.
    pub async fn reset(&self) -> Result<()> {
        self.send(Method::POST, "/reset", None).await.map(drop)
    }

    /// Adds a fault rule or an array of rules (see `devstack/suno-sim/README.md`).
    pub async fn fault(&self, rule: Value) -> Result<()> {
        self.send(Method::POST, "/faults", Some(rule))
            .await
            .map(drop)
    }

    /// Removes every fault rule.
    pub async fn clear_faults(&self) -> Result<()> {
        self.send(Method::DELETE, "/faults", None).await.map(drop)
    }

    /// Deep-merges `patch` into the settings (e.g. `{"api_keys": ["other"]}`, `{"credits": 0}`).
    pub async fn settings(&self, patch: Value) -> Result<()> {
        self.send(Method::PATCH, "/settings", Some(patch))
            .await
            .map(drop)
    }

    /// Moves the simulated clock `secs` forward: every task ages at once.
    pub async fn advance(&self, secs: u64) -> Result<()> {
        self.send(
            Method::POST,
            "/advance",
            Some(serde_json::json!({ "secs": secs })),
        )
        .await
        .map(drop)
    }

    /// Queues the outcome of the next `count` tasks (e.g. `audio_failed_501`, `stuck`).
    pub async fn outcomes(&self, outcome: &str, count: u32) -> Result<()> {
        let body = serde_json::json!({ "outcome": outcome, "count": count });
        self.send(Method::POST, "/outcomes", Some(body))
            .await
            .map(drop)
    }

    /// Every request received on `endpoint` (`credit`, `generate`, `record_info`).
    pub async fn requests(&self, endpoint: &str) -> Result<Vec<Value>> {
        let list = self
            .send(Method::GET, &format!("/requests?endpoint={endpoint}"), None)
            .await?;
        Ok(list.as_array().cloned().unwrap_or_default())
    }

    /// Every request received, on any path.
    pub async fn all_requests(&self) -> Result<Vec<Value>> {
        let list = self.send(Method::GET, "/requests", None).await?;
        Ok(list.as_array().cloned().unwrap_or_default())
    }

    /// Clears the request log.
    pub async fn clear_requests(&self) -> Result<()> {
        self.send(Method::DELETE, "/requests", None).await.map(drop)
    }

    /// Every callback delivery attempt so far (stage, attempt, `late`, url, delivered, body).
    pub async fn callbacks(&self) -> Result<Vec<Value>> {
        let list = self.send(Method::GET, "/callbacks", None).await?;
        Ok(list.as_array().cloned().unwrap_or_default())
    }

    /// The simulated clock, in seconds (`sim_time_secs`).
    pub async fn now_secs(&self) -> Result<f64> {
        let state = self.send(Method::GET, "/state", None).await?;
        state["sim_time_secs"]
            .as_f64()
            .context("no sim_time_secs in /__sim/state")
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} /__sim{path}"))?;
        anyhow::ensure!(
            response.status().is_success(),
            "{method} /__sim{path}: {}",
            response.status()
        );
        Ok(response.json().await.unwrap_or(Value::Null))
    }
}

/// Held by a test that uses shared state of the stack (the provider status, the simulator).
pub async fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::const_new(());
    LOCK.lock().await
}

/// Turns a pg_cron job on or off (e.g. `suno-status-check-every-minute`, whose probes would
/// land in the middle of a test that counts probes).
pub async fn set_cron_job_active(db: &Client, job: &str, active: bool) -> Result<()> {
    db.execute(
        "update cron.job set active = $2 where jobname = $1",
        &[&job, &active],
    )
    .await?;
    Ok(())
}

/// The pg_cron jobs as they were before [`pause_cron_jobs`], to put back with
/// [`restore_cron_jobs`].
#[derive(Debug, Clone)]
pub struct CronJobs(Vec<(String, bool)>);

/// Turns every pg_cron job off, for a test that drives the worker and the status check
/// itself; answers how they were.
pub async fn pause_cron_jobs(db: &Client) -> Result<CronJobs> {
    let rows = db
        .query("select jobname, active from cron.job order by jobid", &[])
        .await?;
    let jobs = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    db.execute("update cron.job set active = false", &[])
        .await?;
    Ok(CronJobs(jobs))
}

/// Puts the pg_cron jobs back as [`pause_cron_jobs`] found them.
pub async fn restore_cron_jobs(db: &Client, jobs: &CronJobs) -> Result<()> {
    for (name, active) in &jobs.0 {
        set_cron_job_active(db, name, *active).await?;
    }
    Ok(())
}

/// Ages the stored provider status by `secs`, so the next read finds it stale. The probe
/// lease ages with it: moving only the check back would make a finished probe's lease look
/// held again (a check older than its lease does not end it).
pub async fn age_provider_status(db: &Client, secs: f64) -> Result<()> {
    db.execute(
        "update public.suno_api_status
            set last_check_at = last_check_at - make_interval(secs => $1),
                probe_leased_at = probe_leased_at - make_interval(secs => $1),
                probe_lease_until = probe_lease_until - make_interval(secs => $1)
          where id",
        &[&secs],
    )
    .await?;
    Ok(())
}

/// The provider checks recorded so far (`suno_api_status_checks`), newest first.
pub async fn recorded_checks(db: &Client) -> Result<Vec<Value>> {
    let rows = db
        .query(
            "select to_jsonb(c) from public.suno_api_status_checks c order by id desc",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// `{"error": {"code", "message"}}` with a non-empty code and message.
pub fn is_error_body(json: &Value) -> bool {
    let text = |v: &Value| v.as_str().is_some_and(|s| !s.is_empty());
    json.as_object().is_some_and(|o| o.len() == 1)
        && text(&json["error"]["code"])
        && text(&json["error"]["message"])
}

/// Fails with the answer when `answer.status` is not `status`.
pub fn expect_status(answer: &Answer, status: u16) -> Result<()> {
    anyhow::ensure!(
        answer.status == status,
        "expected {status}, got {} {}",
        answer.status,
        answer.json
    );
    Ok(())
}

/// Ids of the worker runs still marked running. An earlier fault test can leave one
/// behind for good (a run whose process was killed, or whose database went away before
/// it could record its end: maintenance marks those abandoned much later), so a test
/// waits only for the runs it started, not for every running one.
pub async fn running_worker_runs(db: &Client) -> Result<Vec<String>> {
    let rows = db
        .query(
            "select id::text from public.music_worker_runs where status = 'running'",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Waits until every worker run that may still be alive has ended: one that
/// cron started just before a test turned cron off goes on submitting. A run
/// lives at most the platform's 150 s; an older row still marked running
/// belongs to a process that was killed (see [`running_worker_runs`]).
pub async fn wait_for_live_worker_runs(db: &Client) -> Result<()> {
    wait_for_worker_runs(Duration::from_secs(150), || async {
        let live: i64 = db
            .query_one(
                "select count(*) from public.music_worker_runs
                  where status = 'running' and started_at > now() - interval '150 seconds'",
                &[],
            )
            .await?
            .get(0);
        Ok(live == 0)
    })
    .await
}

/// Waits until no worker run is running except those in `running_before`.
pub async fn wait_for_new_worker_runs(
    db: &Client,
    running_before: &[String],
    limit: Duration,
) -> Result<()> {
    wait_for_worker_runs(limit, || async {
        let running = running_worker_runs(db).await?;
        Ok(running.iter().all(|id| running_before.contains(id)))
    })
    .await
}

/// Polls `ended` every 100 ms until it holds, failing after `limit`.
async fn wait_for_worker_runs<F, Fut>(limit: Duration, ended: F) -> Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !ended().await? {
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("a worker run is still running after {} s", limit.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
