//! `emotion-music-ai` end to end: the real WASM under Deno behind the gateway, PostgREST,
//! Postgres and the stack's Suno simulator.
//!
//! Each test holds [`serial`]: the provider status, the rate bucket, the `default` queue
//! and the simulator are shared. [`setup`] pauses the worker's and the status check's cron
//! jobs (a run would claim or probe in the middle of a test), empties the `default` queue,
//! and leaves a fresh `up` status and an empty simulator log. A user calls with their JWT
//! beside either kind of public key ([`ApiKey`]), as supabase-js does.

use anyhow::{Context, Result};
use reqwest::Method;
use serde_json::{json, Value};
use stack_tests::functions::{
    expect_status, is_error_body, recorded_checks, serial, set_cron_job_active, Answer, Functions,
    Key, StackSim,
};
use stack_tests::sql::new_user;
use stack_tests::stack::user_token;
use tokio_postgres::Client;

const FUNCTION: &str = "emotion-music-ai";
const CRON_JOBS: [&str; 2] = [
    "music-queue-worker-every-minute",
    "suno-status-check-every-minute",
];

/// The public key sent as `apikey` beside the user's JWT.
#[derive(Debug, Clone, Copy)]
enum ApiKey {
    /// `sb_publishable_…`.
    Publishable,
    /// The legacy anon JWT.
    Anon,
}

const API_KEYS: [ApiKey; 2] = [ApiKey::Publishable, ApiKey::Anon];

/// A signed-in user of the stack (a row in `auth.users` and a JWT for it).
struct User {
    id: String,
    jwt: String,
}

struct Setup {
    functions: Functions,
    sim: StackSim,
    db: Client,
    http: reqwest::Client,
}

async fn setup() -> Result<Setup> {
    let functions = Functions::from_env()?;
    let db = functions.env.db().await?;
    for job in CRON_JOBS {
        set_cron_job_active(&db, job, false).await?;
    }
    db.batch_execute(
        "delete from public.music_generation_queue where queue = 'default';
         update public.music_queues set paused = false where name = 'default';
         update public.music_rate_limits set taken = '{}' where name = 'suno_submit';",
    )
    .await?;
    let sim = StackSim::from_env()?;
    sim.reset().await?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    let stack = Setup {
        functions,
        sim,
        db,
        http,
    };
    stack.probe().await?;
    stack.sim.clear_requests().await?;
    Ok(stack)
}

impl Setup {
    /// A fresh probe through the status check (the secret key always probes); its state.
    async fn probe(&self) -> Result<Value> {
        let answer = self
            .functions
            .call(Method::GET, "suno-status-check", &Key::Secret, None)
            .await?;
        expect_status(&answer, 200)?;
        Ok(answer.json["state"].clone())
    }

    async fn user(&self) -> Result<User> {
        let id = new_user(&self.db).await?.to_string();
        let jwt = user_token(&id, None);
        Ok(User { id, jwt })
    }

    /// Sends `method` to the function (with `query`, e.g. `?request_id=…`) as `user`.
    async fn send(
        &self,
        method: Method,
        query: &str,
        user: &User,
        api: ApiKey,
        body: Option<Vec<u8>>,
        extra: &[(&str, &str)],
    ) -> Result<Answer> {
        let env = &self.functions.env;
        let apikey = match api {
            ApiKey::Publishable => &env.publishable_key,
            ApiKey::Anon => &env.anon_key,
        };
        let url = format!("{}/functions/v1/{FUNCTION}{query}", env.url);
        let mut request = self
            .http
            .request(method, &url)
            .header("apikey", apikey)
            .header("authorization", format!("Bearer {}", user.jwt));
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.with_context(|| url.clone())?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let json = serde_json::from_slice(&response.bytes().await?).unwrap_or(Value::Null);
        Ok(Answer {
            status,
            headers,
            json,
        })
    }

    async fn ask(&self, user: &User, api: ApiKey, body: Value) -> Result<Answer> {
        let bytes = body.to_string().into_bytes();
        self.send(Method::POST, "", user, api, Some(bytes), &[])
            .await
    }

    async fn read(&self, user: &User, api: ApiKey, id: &str) -> Result<Answer> {
        let query = format!("?request_id={id}");
        self.send(Method::GET, &query, user, api, None, &[]).await
    }

    /// The stored row of request `id`, as the superuser sees it.
    async fn row(&self, id: &str) -> Result<Value> {
        let row = self
            .db
            .query_one(
                "select to_jsonb(q) from public.music_generation_queue q where q.id::text = $1",
                &[&id],
            )
            .await?;
        Ok(row.get(0))
    }

    /// How many requests `user` has stored.
    async fn stored(&self, user: &User) -> Result<i64> {
        let row = self
            .db
            .query_one(
                "select count(*) from public.music_generation_queue q where q.user_id::text = $1",
                &[&user.id],
            )
            .await?;
        Ok(row.get(0))
    }

    /// The submits the simulator received.
    async fn submits(&self) -> Result<Vec<Value>> {
        self.sim.requests("generate").await
    }
}

fn request_id(answer: &Answer) -> String {
    answer.json["request_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_healthy_provider_takes_the_request_at_once_submitted_exactly_once() -> Result<()> {
    let _serial = serial().await;
    let stack = setup().await?;
    for api in API_KEYS {
        stack.sim.clear_requests().await?;
        let user = stack.user().await?;
        let answer = stack
            .ask(&user, api, json!({"emotion": "calm", "intensity": 0.2}))
            .await?;
        expect_status(&answer, 200)?;
        assert_eq!(answer.json["status"], "processing", "{api:?}");
        let id = request_id(&answer);
        let task_id = answer.json["task_id"].as_str().unwrap_or_default();
        let row = stack.row(&id).await?;
        assert_eq!(row["status"], "processing");
        assert_eq!(row["suno_task_id"], task_id, "the task id is stored");
        assert_eq!(row["attempts"], 1);
        assert_eq!(row["user_id"], user.id.as_str());

        let submits = stack.submits().await?;
        assert_eq!(submits.len(), 1, "{api:?}: submitted exactly once");
        assert_eq!(submits[0]["task_id"], task_id);
        let callback = submits[0]["body"]["callBackUrl"].as_str().unwrap_or("");
        assert!(
            callback.contains("/functions/v1/music-queue-worker/callback?request_id=")
                && callback.contains(&id),
            "{callback}"
        );

        let read = stack.read(&user, api, &id).await?;
        expect_status(&read, 200)?;
        assert_eq!(read.json["status"], "processing");
        assert_eq!(read.json["emotion"], "calm");
    }
    Ok(())
}

#[tokio::test]
async fn an_outage_queues_requests_in_order_without_using_attempts() -> Result<()> {
    let _serial = serial().await;
    let stack = setup().await?;
    stack
        .sim
        .fault(json!({"kind": "http_error", "status": 503}))
        .await?;
    let mut state = Value::Null;
    for _ in 0..3 {
        state = stack.probe().await?;
    }
    assert_eq!(state, "down", "three failed probes open the circuit");
    stack.sim.clear_requests().await?;

    let mut ids = Vec::new();
    for (n, api) in API_KEYS.iter().cycle().take(4).enumerate() {
        let user = stack.user().await?;
        let answer = stack.ask(&user, *api, json!({"emotion": "sad"})).await?;
        expect_status(&answer, 202)?;
        assert_eq!(answer.json["status"], "queued");
        assert_eq!(answer.json["position"], n as u64 + 1, "{}", answer.json);
        assert_eq!(answer.json["position_capped"], false);
        assert!(answer.json["estimated_wait_seconds"].as_u64().is_some());
        ids.push(request_id(&answer));
    }
    for id in &ids {
        let row = stack.row(id).await?;
        assert_eq!(row["status"], "pending");
        assert_eq!(row["attempts"], 0, "no attempt used");
    }
    assert!(stack.submits().await?.is_empty(), "nothing was sent");
    Ok(())
}

#[tokio::test]
async fn a_retryable_submit_failure_puts_the_request_back_in_the_queue() -> Result<()> {
    let _serial = serial().await;
    let stack = setup().await?;
    stack
        .sim
        .fault(json!({"kind": "http_error", "status": 503, "endpoint": "generate", "count": 1}))
        .await?;
    let user = stack.user().await?;
    let answer = stack
        .ask(&user, ApiKey::Publishable, json!({"emotion": "anger"}))
        .await?;
    expect_status(&answer, 202)?;
    assert_eq!(
        answer.json["status"], "queued",
        "never an error to the user"
    );
    let row = stack.row(&request_id(&answer)).await?;
    assert_eq!(row["status"], "pending", "{row}");
    assert_eq!(row["error_code"], "provider_unavailable");
    assert_eq!(row["suno_task_id"], Value::Null);
    assert_eq!(stack.submits().await?.len(), 1);
    let check = &recorded_checks(&stack.db).await?[0];
    assert_eq!(check["http_status"], 503, "the submit is a status check");
    assert_eq!(check["state"], "degraded");
    Ok(())
}

#[tokio::test]
async fn a_sensitive_word_fails_at_once_with_a_fallback() -> Result<()> {
    let _serial = serial().await;
    let stack = setup().await?;
    stack
        .sim
        .settings(json!({"banned_words": ["forbiddenword"]}))
        .await?;
    let user = stack.user().await?;
    let answer = stack
        .ask(
            &user,
            ApiKey::Anon,
            json!({"emotion": "joy", "context": "a forbiddenword morning"}),
        )
        .await?;
    expect_status(&answer, 200)?;
    assert_eq!(answer.json["status"], "failed", "{}", answer.json);
    assert!(answer.json["failure"]["code"].is_string());
    let fallback = answer.json["fallback_track_id"].as_str().unwrap_or("");
    assert!(!fallback.is_empty(), "a fallback is attached");

    let read = stack
        .read(&user, ApiKey::Anon, &request_id(&answer))
        .await?;
    expect_status(&read, 200)?;
    assert_eq!(read.json["status"], "failed");
    assert_eq!(read.json["fallback"]["id"], fallback);
    assert!(read.json["fallback"]["audio_url"]
        .as_str()
        .is_some_and(|url| url.starts_with("http")));
    Ok(())
}

#[tokio::test]
async fn bad_bodies_are_refused_naming_the_field_and_nothing_is_stored() -> Result<()> {
    let _serial = serial().await;
    let stack = setup().await?;
    let user = stack.user().await?;
    let json_body = |value: Value| value.to_string().into_bytes();
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (json_body(json!({})), "invalid_emotion", "emotion"),
        (
            json_body(json!({"emotion": "banana"})),
            "invalid_emotion",
            "emotion",
        ),
        (
            json_body(json!({"emotion": 3})),
            "invalid_emotion",
            "emotion",
        ),
        (
            json_body(json!({"emotion": "joy", "intensity": 7})),
            "invalid_intensity",
            "intensity",
        ),
        (
            json_body(json!({"emotion": "joy", "intensity": "high"})),
            "invalid_intensity",
            "intensity",
        ),
        (
            json_body(json!({"emotion": "joy", "context": "x".repeat(10_240)})),
            "invalid_context",
            "context",
        ),
        (
            json_body(json!({"emotion": "joy", "instrumental": "yes"})),
            "invalid_instrumental",
            "instrumental",
        ),
        (b"{not json".to_vec(), "invalid_json", "JSON"),
        (json_body(json!(["joy"])), "invalid_body", "JSON object"),
    ];
    for (body, code, named) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        let answer = stack
            .send(
                Method::POST,
                "",
                &user,
                ApiKey::Publishable,
                Some(body),
                &[],
            )
            .await?;
        assert_eq!(answer.status, 400, "{shown}: {}", answer.json);
        assert!(is_error_body(&answer.json), "{}", answer.json);
        assert_eq!(answer.json["error"]["code"], code, "{shown}");
        let message = answer.json["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(named), "{shown}: {message}");
    }
    assert_eq!(stack.stored(&user).await?, 0, "nothing stored");
    assert!(stack.submits().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn the_same_idempotency_key_answers_with_the_first_request() -> Result<()> {
    let _serial = serial().await;
    let stack = setup().await?;
    let user = stack.user().await?;
    let key = [("idempotency-key", "order-42")];
    let first_body = json!({"emotion": "energetic"}).to_string().into_bytes();
    let first = stack
        .send(
            Method::POST,
            "",
            &user,
            ApiKey::Publishable,
            Some(first_body),
            &key,
        )
        .await?;
    expect_status(&first, 200)?;
    let again_body = json!({"emotion": "calm"}).to_string().into_bytes();
    let again = stack
        .send(
            Method::POST,
            "",
            &user,
            ApiKey::Anon,
            Some(again_body),
            &key,
        )
        .await?;
    expect_status(&again, 200)?;
    assert_eq!(request_id(&again), request_id(&first));
    assert_eq!(again.json["deduplicated"], true);
    assert_eq!(again.json["status"], "processing");
    assert_eq!(again.json["emotion"], "energetic", "the first request's");
    assert_eq!(stack.stored(&user).await?, 1);
    assert_eq!(stack.submits().await?.len(), 1, "submitted once");
    Ok(())
}

#[tokio::test]
async fn past_the_per_user_limit_the_answer_is_429() -> Result<()> {
    let _serial = serial().await;
    let stack = setup().await?;
    // Paused, so every request waits and counts against the limit (5 by default).
    stack
        .db
        .execute(
            "update public.music_queues set paused = true where name = 'default'",
            &[],
        )
        .await?;
    let user = stack.user().await?;
    for n in 1..=5 {
        let answer = stack
            .ask(&user, ApiKey::Publishable, json!({"emotion": "neutral"}))
            .await?;
        expect_status(&answer, 202)?;
        assert_eq!(answer.json["position"], n);
    }
    let refused = stack
        .ask(&user, ApiKey::Anon, json!({"emotion": "neutral"}))
        .await?;
    expect_status(&refused, 429)?;
    assert!(is_error_body(&refused.json), "{}", refused.json);
    assert_eq!(refused.json["error"]["code"], "too_many_requests");
    assert_eq!(stack.stored(&user).await?, 5);
    let other = stack.user().await?;
    let answer = stack
        .ask(&other, ApiKey::Anon, json!({"emotion": "neutral"}))
        .await?;
    expect_status(&answer, 202)?;
    assert!(
        stack.submits().await?.is_empty(),
        "a paused queue sends nothing"
    );
    Ok(())
}

#[tokio::test]
async fn a_user_reads_their_own_request_with_its_tracks_and_not_anothers() -> Result<()> {
    let _serial = serial().await;
    let stack = setup().await?;
    let owner = stack.user().await?;
    let stranger = stack.user().await?;
    let answer = stack
        .ask(&owner, ApiKey::Publishable, json!({"emotion": "joy"}))
        .await?;
    expect_status(&answer, 200)?;
    let id = request_id(&answer);
    let clip = |n: u32| {
        json!({"id": format!("clip-{n}"), "audio_url": format!("https://cdn.example/{n}.mp3"),
               "title": "Bright Side", "duration": 120.5})
    };
    stack
        .db
        .execute(
            "select public.complete_music_request(q.id, q.lease_token, $2)
               from public.music_generation_queue q where q.id::text = $1",
            &[&id, &json!({"clips": [clip(1), clip(2)]})],
        )
        .await?;

    for api in API_KEYS {
        let read = stack.read(&owner, api, &id).await?;
        expect_status(&read, 200)?;
        assert_eq!(read.json["status"], "completed", "{api:?}");
        let tracks = read.json["tracks"].as_array().cloned().unwrap_or_default();
        assert_eq!(tracks.len(), 2, "{}", read.json);
        assert_eq!(tracks[1]["audio_url"], "https://cdn.example/2.mp3");
        assert_eq!(read.json["failure"], Value::Null);

        let hidden = stack.read(&stranger, api, &id).await?;
        expect_status(&hidden, 404)?;
        assert!(is_error_body(&hidden.json), "{}", hidden.json);
    }
    let missing = stack
        .send(Method::GET, "", &owner, ApiKey::Publishable, None, &[])
        .await?;
    expect_status(&missing, 400)?;
    assert!(missing.json["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("request_id")));
    Ok(())
}

#[tokio::test]
async fn cors_preflight_and_every_answer_carries_cors_and_no_user_is_401() -> Result<()> {
    let _serial = serial().await;
    let stack = setup().await?;
    let env = &stack.functions.env;
    let preflight = stack
        .http
        .request(
            Method::OPTIONS,
            format!("{}/functions/v1/{FUNCTION}", env.url),
        )
        .header("origin", &env.web_url)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, apikey, content-type, idempotency-key",
        )
        .send()
        .await?;
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let allowed = preflight
        .headers()
        .get("access-control-allow-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(allowed.contains("idempotency-key"), "{allowed}");

    // The anon key is a valid JWT, so it passes the gateway; it is no user.
    let anon = stack
        .functions
        .call(
            Method::POST,
            FUNCTION,
            &Key::Anon,
            Some(json!({"emotion": "joy"})),
        )
        .await?;
    expect_status(&anon, 401)?;
    assert!(is_error_body(&anon.json), "{}", anon.json);
    assert_eq!(anon.header("access-control-allow-origin"), "*");

    let user = stack.user().await?;
    let bad = stack
        .ask(
            &user,
            ApiKey::Publishable,
            json!({"emotion": "joy", "intensity": 2}),
        )
        .await?;
    expect_status(&bad, 400)?;
    assert_eq!(bad.header("access-control-allow-origin"), "*");
    Ok(())
}

#[tokio::test]
async fn a_direct_submit_whose_answer_is_lost_is_charged_once() -> Result<()> {
    let _serial = serial().await;
    let stack = setup().await?;
    stack
        .sim
        .fault(json!({"kind": "accept_then_lose", "endpoint": "generate", "count": 1}))
        .await?;
    let user = stack.user().await?;
    let key = [("idempotency-key", "lost-answer")];
    let body = json!({"emotion": "anxious"}).to_string().into_bytes();
    let answer = stack
        .send(
            Method::POST,
            "",
            &user,
            ApiKey::Publishable,
            Some(body.clone()),
            &key,
        )
        .await?;
    expect_status(&answer, 202)?;
    assert_eq!(answer.json["status"], "processing", "{}", answer.json);
    assert_eq!(answer.json["confirmed"], false);
    let row = stack.row(&request_id(&answer)).await?;
    assert_eq!(row["status"], "processing");
    assert_eq!(row["ambiguous_submits"], 1, "{row}");
    assert!(
        row["callback_wait_until"].is_string(),
        "waits for the callback"
    );

    // The user asks again with the same key: the first request, not a second charge.
    let again = stack
        .send(Method::POST, "", &user, ApiKey::Anon, Some(body), &key)
        .await?;
    assert_eq!(request_id(&again), request_id(&answer));
    let charged: Vec<Value> = stack
        .submits()
        .await?
        .into_iter()
        .filter(|submit| submit["credits_charged"].as_u64().unwrap_or(0) > 0)
        .collect();
    assert_eq!(charged.len(), 1, "one charge in the simulator's log");
    Ok(())
}
