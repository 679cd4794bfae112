//! Bad input against every function, through the gateway: property-based random bodies,
//! headers and query strings for `emotion-music-ai`, `music-queue-worker` and
//! `suno-status-check` (with good and bad credentials), and random JSON and queries for the
//! worker's provider callback route.
//!
//! Whatever arrives: never a 5xx, always a JSON answer, every refusal a JSON error naming
//! the problem, and nothing stored for input that is refused. Where the core defines what is
//! valid (the request body, the callback query, the run trigger), the answer must be exactly
//! the core's verdict.
//!
//! Each property runs [`CASES`] cases from a fixed seed, with no failure file, so a run is
//! the same every time; a failure is shrunk to a small case. The stack is held still
//! ([`Hold`]: no cron runs, the `default` queue paused so nothing reaches the provider) and
//! put back afterwards. `HEAD` is left out: its answers have no body by definition.

use std::future::Future;
use std::time::Duration;

use anyhow::Result;
use music_core::callback_route::parse_callback_query;
use music_core::request_id::parse_request_id;
use music_core::{parse_request, Emotion, ErrorCode};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Method;
use serde_json::{json, Map, Value};
use stack_tests::hold::{Hold, QueueSettings};
use stack_tests::stack::{sign, user_token};
use stack_tests::StackEnv;
use tokio::runtime::Runtime;
use tokio_postgres::Client;
use uuid::Uuid;

/// Cases per property.
const CASES: u32 = 96;
/// The seed of every property's random source.
const SEED: [u8; 32] = *b"fault_bad_input:fixed-seed-2026!";

/// The emotions the core accepts, as sent.
fn emotions() -> [&'static str; 7] {
    Emotion::ALL.map(Emotion::as_str)
}

// ---------------------------------------------------------------------------------------
// The stack, held still for the properties.

/// A request to send, as generated.
#[derive(Debug, Clone)]
struct Probe {
    method: Method,
    /// Path below `/functions/v1/`, with its query.
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

/// What came back.
#[derive(Debug)]
struct Reply {
    status: u16,
    json: Value,
    text: String,
}

/// The stack and the runtime the properties drive it from.
struct Stage {
    runtime: Runtime,
    env: StackEnv,
    http: reqwest::Client,
    db: Client,
    hold: Hold,
}

impl Stage {
    fn start() -> Result<Stage> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .worker_threads(2)
            .build()?;
        let env = StackEnv::from_env()?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()?;
        let (db, hold) = runtime.block_on(async {
            let db = env.db().await?;
            let settings = QueueSettings {
                paused: true,
                max_pending_per_user: 5,
            };
            let hold = Hold::start(&db, settings).await?;
            Ok::<_, anyhow::Error>((db, hold))
        })?;
        Ok(Stage {
            runtime,
            env,
            http,
            db,
            hold,
        })
    }

    /// Runs `check` on [`CASES`] values of `strategy`; fails with the smallest failing case,
    /// if any (the stack is put back when the stage drops).
    fn check_all<S: Strategy>(
        &self,
        strategy: S,
        check: impl Fn(&Stage, S::Value) -> Result<(), TestCaseError>,
    ) {
        let config = Config {
            cases: CASES,
            failure_persistence: None,
            max_shrink_iters: 256,
            ..Config::default()
        };
        let mut runner =
            TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &SEED));
        if let Err(error) = runner.run(&strategy, |value| check(self, value)) {
            panic!("{error}");
        }
    }

    fn block<T>(&self, work: impl Future<Output = T>) -> T {
        self.runtime.block_on(work)
    }

    fn send(&self, probe: &Probe) -> Result<Reply, TestCaseError> {
        self.block(async {
            let url = format!("{}/functions/v1/{}", self.env.url, probe.path);
            let mut request = self.http.request(probe.method.clone(), &url);
            for (name, value) in &probe.headers {
                let name = HeaderName::from_bytes(name.as_bytes()).map_err(fail)?;
                let value = HeaderValue::from_str(value).map_err(fail)?;
                request = request.header(name, value);
            }
            if let Some(body) = &probe.body {
                request = request.body(body.clone());
            }
            let response = request.send().await.map_err(fail)?;
            let status = response.status().as_u16();
            let bytes = response.bytes().await.map_err(fail)?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            Ok(Reply { status, json, text })
        })
    }

    /// A fresh user, removed when the property ends.
    fn user(&self) -> Result<Uuid, TestCaseError> {
        self.block(async {
            let id = Uuid::new_v4();
            self.db
                .execute(
                    "insert into auth.users (id, email) values ($1, $2)",
                    &[&id, &format!("{id}@bad-input.example")],
                )
                .await
                .map_err(fail)?;
            Ok(id)
        })
    }

    /// Rows that refused input must not add: requests, events, worker runs.
    fn totals(&self) -> Result<[i64; 3], TestCaseError> {
        self.block(async {
            let row = self
                .db
                .query_one(
                    "select (select count(*) from public.music_generation_queue),
                            (select count(*) from public.music_generation_events),
                            (select count(*) from public.music_worker_runs)",
                    &[],
                )
                .await
                .map_err(fail)?;
            Ok([row.get(0), row.get(1), row.get(2)])
        })
    }
}

/// Puts the stack back and removes the users [`Stage::user`] made, whatever the test did.
impl Drop for Stage {
    fn drop(&mut self) {
        let put_back = self.runtime.block_on(async {
            self.hold.release(&self.db).await?;
            // As `sql::drop_users` does: the users' events, then the users (requests cascade).
            self.db
                .batch_execute(
                    "delete from public.music_generation_events where user_id in
                       (select id from auth.users where email like '%@bad-input.example');
                     delete from auth.users where email like '%@bad-input.example';",
                )
                .await?;
            Ok::<_, anyhow::Error>(())
        });
        match put_back {
            Err(error) if std::thread::panicking() => {
                eprintln!("the stack was not put back: {error:#}")
            }
            Err(error) => panic!("the stack was not put back: {error:#}"),
            Ok(()) => {}
        }
    }
}

fn fail(error: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(error.to_string())
}

// ---------------------------------------------------------------------------------------
// What every answer must be.

/// Not a 5xx, and a JSON object.
fn sane(reply: &Reply) -> Result<(), TestCaseError> {
    prop_assert!(
        reply.status < 500,
        "{} {}",
        reply.status,
        &reply.text[..reply.text.len().min(300)]
    );
    prop_assert!(
        reply.json.is_object(),
        "{} not JSON: {}",
        reply.status,
        &reply.text[..reply.text.len().min(300)]
    );
    Ok(())
}

/// The function's error shape `{"error":{"code","message"}}`, or the gateway's own
/// (`{"code", "message"}`, as hosted), with a message that is not empty.
fn error_message(reply: &Reply) -> Result<String, TestCaseError> {
    sane(reply)?;
    let message = reply.json["error"]["message"]
        .as_str()
        .or_else(|| reply.json["message"].as_str())
        .unwrap_or("");
    prop_assert!(
        !message.is_empty(),
        "{}: no error message in {}",
        reply.status,
        reply.json
    );
    Ok(message.to_owned())
}

/// The function's own error with `status` and `code`, whose message names `names`.
fn function_error(
    reply: &Reply,
    status: u16,
    code: &str,
    names: &str,
) -> Result<(), TestCaseError> {
    let message = error_message(reply)?;
    prop_assert_eq!(reply.status, status, "{}", reply.json);
    prop_assert_eq!(
        reply.json["error"]["code"].as_str(),
        Some(code),
        "{}",
        reply.json
    );
    prop_assert!(
        message.to_lowercase().contains(&names.to_lowercase()),
        "{message:?} does not name {names:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Strategies.

/// Any text: printable, with control characters (NUL included), empty, or long.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "\\PC{0,40}",
        2 => prop::collection::vec(any::<char>(), 0..40).prop_map(String::from_iter),
        1 => Just(String::new()),
        1 => (0usize..3_000, "\\PC").prop_map(|(n, unit)| unit.repeat(n)),
    ]
}

/// Any JSON value, nested a little.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map("\\PC{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value for one field of a music request: a plausible one, or anything.
fn field(plausible: BoxedStrategy<Value>) -> impl Strategy<Value = Option<Value>> {
    prop::option::weighted(0.7, prop_oneof![3 => plausible, 1 => json_value()])
}

/// A music request body, close to valid or not.
fn music_body() -> impl Strategy<Value = Value> {
    let emotion = prop_oneof![
        prop::sample::select(emotions().to_vec()).prop_map(Value::from),
        prop::sample::select(emotions().to_vec())
            .prop_map(|e| Value::from(format!(" {} ", e.to_uppercase()))),
        text().prop_map(Value::from),
    ]
    .boxed();
    let intensity = prop_oneof![
        (0.0..=1.0f64).prop_map(|f| json!(f)),
        (-1e6..1e6f64).prop_map(|f| json!(f)),
        any::<f64>().prop_map(|f| json!(f)),
    ]
    .boxed();
    let words = text().prop_map(Value::from).boxed();
    (
        field(emotion),
        field(intensity),
        field(words.clone()),
        field(any::<bool>().prop_map(Value::from).boxed()),
        field(words.clone()),
        field(words),
        prop::collection::btree_map("\\PC{0,8}", json_value(), 0..3),
    )
        .prop_map(
            |(emotion, intensity, context, instrumental, style, title, extra)| {
                let mut body: Map<String, Value> = extra.into_iter().collect();
                let named = [
                    ("emotion", emotion),
                    ("intensity", intensity),
                    ("context", context),
                    ("instrumental", instrumental),
                    ("style", style),
                    ("title", title),
                ];
                for (name, value) in named {
                    match value {
                        Some(value) => body.insert(name.to_owned(), value),
                        None => body.remove(name),
                    };
                }
                Value::Object(body)
            },
        )
}

/// Body bytes: a music request, any JSON, JSON cut short, random bytes or nothing.
fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => music_body().prop_map(|v| v.to_string().into_bytes()),
        2 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => (music_body(), any::<prop::sample::Index>()).prop_map(|(v, cut)| {
            let text = v.to_string().into_bytes();
            text[..cut.index(text.len())].to_vec()
        }),
        1 => prop::collection::vec(any::<u8>(), 0..200),
        1 => Just(Vec::new()),
    ]
}

/// A header value: printable ASCII (what HTTP carries), sometimes long.
fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[ -~]{0,60}", 1 => "[!-~]{200,400}"]
}

/// Headers a client may add: content types, an `Idempotency-Key`, and other names. Never
/// the ones that frame the message (`content-length`, `transfer-encoding`, `host`, ...) or
/// ask for a compressed answer: those test the HTTP client, not the product.
fn extra_headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let content_type = prop_oneof![
        Just("application/json".to_owned()),
        Just("text/plain".to_owned()),
        Just("application/x-www-form-urlencoded".to_owned()),
        Just("multipart/form-data; boundary=xyz".to_owned()),
        Just("application/json; charset=latin1".to_owned()),
        header_value(),
    ];
    let name = prop_oneof![
        Just("x-client-info".to_owned()),
        Just("origin".to_owned()),
        Just("user-agent".to_owned()),
        Just("x-forwarded-for".to_owned()),
        Just("sb-request-id".to_owned()),
        Just("prefer".to_owned()),
        Just("accept".to_owned()),
        "x-[a-z0-9-]{1,16}",
    ];
    (
        prop::option::of(content_type),
        prop::collection::vec((name, header_value()), 0..4),
    )
        .prop_map(|(content_type, mut others)| {
            if let Some(value) = content_type {
                others.push(("content-type".to_owned(), value));
            }
            others
        })
}

/// A query string (without `?`): names the functions read or others, values plausible or
/// not, percent-encoded or raw.
fn query() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("request_id".to_owned()),
        Just("token".to_owned()),
        Just("trigger".to_owned()),
        Just("wait".to_owned()),
        "[a-z_]{1,10}",
    ];
    let value = prop_oneof![
        Just(Uuid::new_v4().to_string()),
        Just(Uuid::new_v4().simple().to_string()),
        Just(Uuid::new_v4().braced().to_string()),
        Just("cron".to_owned()),
        Just("true".to_owned()),
        Just("%zz".to_owned()),
        Just("%00".to_owned()),
        "[0-9a-f-]{0,40}",
        text().prop_map(|t| encode(&t)),
        "[ -~]{0,30}",
    ];
    prop::collection::vec((name, value), 0..5).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

/// Percent-encodes every byte but ASCII letters and digits.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Credentials a function must refuse or treat as the public.
#[derive(Debug, Clone)]
enum BadAuth {
    /// No header at all.
    Nothing,
    /// Only the publishable key (supabase-js signed out).
    PublishableOnly,
    /// The anon JWT as bearer.
    Anon,
    /// `Authorization` with random text.
    Garbage(String),
    /// A user JWT signed with another secret.
    WrongSecret,
    /// A user JWT that expired.
    Expired,
    /// A well-signed JWT without `sub`.
    NoSubject,
    /// A forged admin JWT (unsigned).
    ForgedAdmin,
    /// A well-signed JWT of a user who is not (or no longer) in `auth.users`.
    UnknownUser,
}

fn bad_auth() -> impl Strategy<Value = BadAuth> {
    prop_oneof![
        Just(BadAuth::Nothing),
        Just(BadAuth::PublishableOnly),
        Just(BadAuth::Anon),
        header_value().prop_map(BadAuth::Garbage),
        Just(BadAuth::WrongSecret),
        Just(BadAuth::Expired),
        Just(BadAuth::NoSubject),
        Just(BadAuth::ForgedAdmin),
    ]
}

impl BadAuth {
    fn headers(&self, env: &StackEnv) -> Vec<(String, String)> {
        let now = chrono::Utc::now().timestamp();
        let user = |claims: Value| {
            vec![
                ("apikey".to_owned(), env.publishable_key.clone()),
                (
                    "authorization".to_owned(),
                    format!("Bearer {}", sign(&claims)),
                ),
            ]
        };
        match self {
            BadAuth::Nothing => Vec::new(),
            BadAuth::PublishableOnly => vec![("apikey".to_owned(), env.publishable_key.clone())],
            BadAuth::Anon => vec![
                ("apikey".to_owned(), env.anon_key.clone()),
                (
                    "authorization".to_owned(),
                    format!("Bearer {}", env.anon_key),
                ),
            ],
            BadAuth::Garbage(text) => vec![
                ("apikey".to_owned(), env.publishable_key.clone()),
                ("authorization".to_owned(), text.clone()),
            ],
            BadAuth::WrongSecret => {
                let token = jsonwebtoken::encode(
                    &jsonwebtoken::Header::default(),
                    &json!({"sub": Uuid::new_v4(), "role": "authenticated", "exp": now + 600,
                            "app_metadata": {"role": "admin"}}),
                    &jsonwebtoken::EncodingKey::from_secret(b"not-the-project-secret-at-all-32+"),
                )
                .expect("signing");
                vec![
                    ("apikey".to_owned(), env.publishable_key.clone()),
                    ("authorization".to_owned(), format!("Bearer {token}")),
                ]
            }
            BadAuth::Expired => user(json!({"sub": Uuid::new_v4(), "role": "authenticated",
                                            "aud": "authenticated", "exp": now - 3600})),
            BadAuth::NoSubject => {
                user(json!({"role": "authenticated", "aud": "authenticated", "exp": now + 600}))
            }
            BadAuth::UnknownUser => user(json!({"sub": Uuid::new_v4(), "role": "authenticated",
                                                "aud": "authenticated", "exp": now + 600})),
            BadAuth::ForgedAdmin => {
                // {"alg":"none"} . {"sub":…,"role":"authenticated","app_metadata":{"role":"admin"}} .
                let claims = json!({"sub": Uuid::new_v4(), "role": "authenticated",
                                    "exp": now + 600, "app_metadata": {"role": "admin"}});
                let part = |v: &Value| base64url(v.to_string().as_bytes());
                let token = format!("{}.{}.", part(&json!({"alg": "none"})), part(&claims));
                vec![
                    ("apikey".to_owned(), env.publishable_key.clone()),
                    ("authorization".to_owned(), format!("Bearer {token}")),
                ]
            }
        }
    }
}

/// Unpadded base64url, for a forged JWT.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// A user's own headers: their JWT and the publishable key.
fn user_headers(env: &StackEnv, user: Uuid) -> Vec<(String, String)> {
    vec![
        ("apikey".to_owned(), env.publishable_key.clone()),
        (
            "authorization".to_owned(),
            format!("Bearer {}", user_token(&user.to_string(), None)),
        ),
    ]
}

/// An admin's headers: a JWT with `app_metadata.role = "admin"` and the publishable key.
fn admin_headers(env: &StackEnv) -> Vec<(String, String)> {
    let jwt = user_token(&Uuid::new_v4().to_string(), Some("admin"));
    vec![
        ("apikey".to_owned(), env.publishable_key.clone()),
        ("authorization".to_owned(), format!("Bearer {jwt}")),
    ]
}

/// The secret key's headers.
fn secret_headers(env: &StackEnv) -> Vec<(String, String)> {
    vec![
        ("apikey".to_owned(), env.secret_key.clone()),
        (
            "authorization".to_owned(),
            format!("Bearer {}", env.secret_key),
        ),
    ]
}

// ---------------------------------------------------------------------------------------
// The properties.

/// `emotion-music-ai` with a user's JWT: the answer is the core's verdict on the body (400
/// with exactly the core's error, nothing stored) or one stored request (202, the queue is
/// paused); an `Idempotency-Key` over 255 characters is refused naming it.
#[test]
fn emotion_music_ai_answers_random_bodies_with_the_cores_verdict() -> Result<()> {
    let stage = Stage::start()?;
    let strategy = (
        body_bytes(),
        extra_headers(),
        prop::option::of(header_value()),
    );
    stage.check_all(strategy, |stage, (body, extra, key)| {
        let user = stage.user()?;
        let mut headers = user_headers(&stage.env, user);
        headers.extend(extra);
        if let Some(key) = &key {
            headers.push(("idempotency-key".to_owned(), key.clone()));
        }
        let before = stage.totals()?;
        let reply = stage.send(&Probe {
            method: Method::POST,
            path: "emotion-music-ai".into(),
            headers,
            body: Some(body.clone()),
        })?;
        let after = stage.totals()?;
        let key_len = key.as_deref().map_or(0, |k| k.trim().chars().count());
        match parse_request(&body) {
            Err(error) => {
                sane(&reply)?;
                prop_assert_eq!(reply.status, 400, "{}", reply.json);
                prop_assert_eq!(&reply.json, &serde_json::to_value(error.to_body()).unwrap());
                prop_assert_eq!(before, after, "nothing stored");
            }
            Ok(_) if key_len > 255 => {
                function_error(&reply, 400, "invalid_input", "idempotency key")?;
                prop_assert_eq!(before, after, "nothing stored");
            }
            Ok(_) => {
                sane(&reply)?;
                prop_assert_eq!(reply.status, 202, "{}", reply.json);
                prop_assert_eq!(reply.json["status"].as_str(), Some("queued"));
                prop_assert_eq!(after[0], before[0] + 1, "one request stored");
                prop_assert_eq!(after[1], before[1] + 1, "one event");
            }
        }
        Ok(())
    });
    Ok(())
}

/// `emotion-music-ai` without a user's valid JWT: 401 with a JSON error (the gateway's or the
/// function's), whatever the method, body and headers; nothing stored.
#[test]
fn emotion_music_ai_refuses_bad_credentials_and_stores_nothing() -> Result<()> {
    let stage = Stage::start()?;
    let method = prop::sample::select(vec![Method::POST, Method::GET]);
    let strategy = (bad_auth(), method, body_bytes(), extra_headers());
    stage.check_all(strategy, |stage, (auth, method, body, extra)| {
        let mut headers = auth.headers(&stage.env);
        headers.extend(extra);
        let before = stage.totals()?;
        let reply = stage.send(&Probe {
            method,
            path: "emotion-music-ai".into(),
            headers,
            body: Some(body),
        })?;
        error_message(&reply)?;
        prop_assert_eq!(reply.status, 401, "{}", reply.json);
        prop_assert_eq!(before, stage.totals()?, "nothing stored");
        Ok(())
    });
    Ok(())
}

/// `emotion-music-ai` with a well-signed JWT of a user who is gone (a JWT outlives its
/// user until it expires): the body is still checked first (the core's 400), and a valid one
/// is refused as a credential (401), nothing stored.
#[test]
fn a_gone_users_jwt_stores_nothing() -> Result<()> {
    let stage = Stage::start()?;
    stage.check_all(body_bytes(), |stage, body| {
        let before = stage.totals()?;
        let reply = stage.send(&Probe {
            method: Method::POST,
            path: "emotion-music-ai".into(),
            headers: BadAuth::UnknownUser.headers(&stage.env),
            body: Some(body.clone()),
        })?;
        match parse_request(&body) {
            Err(error) => {
                sane(&reply)?;
                prop_assert_eq!(reply.status, 400, "{}", reply.json);
                prop_assert_eq!(&reply.json, &serde_json::to_value(error.to_body()).unwrap());
            }
            Ok(_) => function_error(&reply, 401, "unauthorized", "user")?,
        }
        prop_assert_eq!(before, stage.totals()?, "nothing stored");
        Ok(())
    });
    Ok(())
}

/// `emotion-music-ai` read back with random queries and methods: a request id that is not a
/// uuid or is missing is a 400 naming `request_id`; a uuid that is none of the caller's is
/// a 404; another method is a JSON error. Nothing is stored.
#[test]
fn emotion_music_ai_reads_back_only_with_a_request_id() -> Result<()> {
    let stage = Stage::start()?;
    let method = prop::sample::select(vec![
        Method::GET,
        Method::GET,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
    ]);
    let strategy = (method, query(), extra_headers());
    stage.check_all(strategy, |stage, (method, query, extra)| {
        let user = stage.user()?;
        let mut headers = user_headers(&stage.env, user);
        headers.extend(extra);
        let path = format!("emotion-music-ai?{query}");
        let url =
            reqwest::Url::parse(&format!("{}/functions/v1/{path}", stage.env.url)).map_err(fail)?;
        let before = stage.totals()?;
        let reply = stage.send(&Probe {
            method: method.clone(),
            path,
            headers,
            body: None,
        })?;
        prop_assert_eq!(before, stage.totals()?, "nothing stored");
        if method != Method::GET {
            error_message(&reply)?;
            prop_assert_eq!(reply.status, 404, "{}", reply.json);
            return Ok(());
        }
        let id = url
            .query_pairs()
            .find(|(name, _)| name == "request_id")
            .map(|(_, value)| value.into_owned());
        match parse_request_id(id.as_deref()) {
            Ok(_) => function_error(&reply, 404, "not_found", "request")?,
            Err(_) => function_error(&reply, 400, "invalid_request_id", "request_id")?,
        }
        Ok(())
    });
    Ok(())
}

/// `music-queue-worker` with the secret key or an admin's JWT and random queries and bodies:
/// a run starts (202, or 200 with `?wait=true`; one run recorded) exactly when the body is
/// none or a JSON object and the trigger asked for is valid (an admin's run is `manual`
/// whatever it asks); otherwise the core's 400 and no run.
#[test]
fn the_worker_starts_a_run_only_for_valid_input() -> Result<()> {
    let stage = Stage::start()?;
    let trigger = prop_oneof![
        Just(Value::from("cron")),
        Just(Value::from("manual")),
        Just(Value::from("recovery")),
        Just(Value::from("callback")),
        json_value(),
    ];
    let body = prop_oneof![
        2 => prop::option::of(trigger).prop_map(|t| {
            let mut body = json!({"scheduled_at": "2026-11-30T00:00:00Z"});
            if let Some(t) = t {
                body["trigger"] = t;
            }
            body.to_string().into_bytes()
        }),
        2 => body_bytes(),
    ];
    let strategy = (any::<bool>(), query(), body, extra_headers());
    stage.check_all(strategy, |stage, (by_admin, query, body, extra)| {
        let mut headers = if by_admin {
            admin_headers(&stage.env)
        } else {
            secret_headers(&stage.env)
        };
        headers.extend(extra);
        let path = format!("music-queue-worker?{query}");
        let url =
            reqwest::Url::parse(&format!("{}/functions/v1/{path}", stage.env.url)).map_err(fail)?;
        let before = stage.totals()?;
        let reply = stage.send(&Probe {
            method: Method::POST,
            path,
            headers,
            body: Some(body.clone()),
        })?;
        let after = stage.totals()?;
        let asked = url
            .query_pairs()
            .find(|(name, _)| name == "trigger")
            .map(|(_, value)| value.into_owned());
        match music_core::run::RunTrigger::from_request(by_admin, asked.as_deref(), &body) {
            Ok(trigger) => {
                sane(&reply)?;
                prop_assert!(
                    reply.status == 202 || reply.status == 200,
                    "{} {}",
                    reply.status,
                    reply.json
                );
                prop_assert_eq!(reply.json["trigger"].as_str(), Some(trigger.as_str()));
                prop_assert_eq!(after[2], before[2] + 1, "one run recorded");
            }
            Err(error) => {
                sane(&reply)?;
                prop_assert_eq!(reply.status, 400, "{}", reply.json);
                prop_assert_eq!(&reply.json, &serde_json::to_value(error.to_body()).unwrap());
                prop_assert_eq!(before[2], after[2], "no run recorded");
            }
        }
        Ok(())
    });
    Ok(())
}

/// `music-queue-worker` without the secret key or an admin: 401 (or 403 for what reads as a
/// user's JWT; 404 for a method it does not serve), a JSON error, no run, whatever the
/// query, body and headers.
#[test]
fn the_worker_refuses_bad_credentials() -> Result<()> {
    let stage = Stage::start()?;
    let method = prop::sample::select(vec![Method::POST, Method::POST, Method::GET, Method::PUT]);
    let strategy = (bad_auth(), method, query(), body_bytes(), extra_headers());
    stage.check_all(strategy, |stage, (auth, method, query, body, extra)| {
        let mut headers = auth.headers(&stage.env);
        headers.extend(extra);
        let before = stage.totals()?;
        let reply = stage.send(&Probe {
            method: method.clone(),
            path: format!("music-queue-worker?{query}"),
            headers,
            body: Some(body),
        })?;
        error_message(&reply)?;
        // A JWT that says "authenticated" is a user's as far as the worker can tell (403);
        // PostgREST checks an admin's before the worker trusts it.
        let expected: &[u16] = if method == Method::POST {
            &[401, 403]
        } else {
            &[404]
        };
        prop_assert!(
            expected.contains(&reply.status),
            "{} {}",
            reply.status,
            reply.json
        );
        prop_assert_eq!(before, stage.totals()?, "no run, nothing stored");
        Ok(())
    });
    Ok(())
}

/// `suno-status-check` with any credentials, method, query, body and headers: the public
/// status (200) or a JSON error, never a 5xx; nothing of the queue changes.
#[test]
fn the_status_check_answers_anything_with_json() -> Result<()> {
    let stage = Stage::start()?;
    let auth = prop_oneof![
        3 => bad_auth().prop_map(Some),
        1 => Just(None),
    ];
    let method = prop::sample::select(vec![Method::GET, Method::POST, Method::PUT]);
    let strategy = (auth, method, query(), body_bytes(), extra_headers());
    stage.check_all(strategy, |stage, (auth, method, query, body, extra)| {
        let mut headers = match &auth {
            Some(auth) => auth.headers(&stage.env),
            None => secret_headers(&stage.env),
        };
        headers.extend(extra);
        let before = stage.totals()?;
        let reply = stage.send(&Probe {
            method: method.clone(),
            path: format!("suno-status-check?{query}"),
            headers,
            body: (method != Method::GET).then_some(body),
        })?;
        sane(&reply)?;
        match reply.status {
            200 => prop_assert!(reply.json["state"].is_string(), "{}", reply.json),
            401 | 404 => {
                error_message(&reply)?;
            }
            other => prop_assert!(false, "{other} {}", reply.json),
        }
        let after = stage.totals()?;
        prop_assert_eq!(&before[..2], &after[..2], "no request or event");
        Ok(())
    });
    Ok(())
}

/// The worker's provider callback route with random queries and random JSON: a bad query
/// is the core's 400 naming the field; a well-formed one for a request that is not waiting
/// for the provider (here: a queued request, with its right token or not) is a 401. The
/// request and its events stay as they were.
#[test]
fn the_callback_route_changes_nothing_for_random_json() -> Result<()> {
    let stage = Stage::start()?;
    let user = stage.user().map_err(|e| anyhow::anyhow!("{e}"))?;
    let (request, token) = stage.block(async {
        let ticket: Value = stage
            .db
            .query_one(
                "select public.enqueue_music_request(p_emotion => 'calm', p_user_id => $1)",
                &[&user],
            )
            .await?
            .get(0);
        let id = ticket["id"].as_str().unwrap_or_default().to_owned();
        let row = stage
            .db
            .query_one(
                "select id::text, callback_token from public.music_generation_queue
                  where id::text = $1",
                &[&id],
            )
            .await?;
        Ok::<_, anyhow::Error>((row.get::<_, String>(0), row.get::<_, String>(1)))
    })?;
    let snapshot = |stage: &Stage| -> Result<Value, TestCaseError> {
        stage.block(async {
            let row = stage
                .db
                .query_one(
                    "select jsonb_build_object('row', to_jsonb(q), 'events',
                            (select count(*) from public.music_generation_events e
                              where e.request_id = q.id))
                       from public.music_generation_queue q where q.id::text = $1",
                    &[&request],
                )
                .await
                .map_err(fail)?;
            Ok(row.get(0))
        })
    };
    let id = prop_oneof![
        Just(request.clone()),
        Just(request.to_uppercase()),
        Just(Uuid::new_v4().to_string()),
        "[ -~]{0,40}".prop_map(|t| encode(&t)),
    ];
    let token_value = prop_oneof![
        Just(token.clone()),
        "[0-9a-f]{48}",
        text().prop_map(|t| encode(&t)),
        Just("%00".to_owned()),
        Just("%zz".to_owned()),
    ];
    let callback_query = prop_oneof![
        3 => (prop::option::of(id), prop::option::of(token_value), query()).prop_map(
            |(id, token, rest)| {
                let mut pairs: Vec<String> = Vec::new();
                if let Some(id) = id {
                    pairs.push(format!("request_id={id}"));
                }
                if let Some(token) = token {
                    pairs.push(format!("token={token}"));
                }
                if !rest.is_empty() {
                    pairs.push(rest);
                }
                pairs.join("&")
            }
        ),
        1 => query(),
    ];
    let callback_body = prop_oneof![
        2 => json_value(),
        2 => (
            prop::sample::select(vec!["text", "first", "complete", "error", "other"]),
            prop::option::of(text()),
            json_value(),
        )
            .prop_map(|(stage, task, data)| {
                json!({"code": 200, "msg": "ok",
                       "data": {"callbackType": stage, "task_id": task, "data": data}})
            }),
    ];
    let before = snapshot(&stage).map_err(|e| anyhow::anyhow!("{e}"))?;
    let strategy = (
        callback_query,
        callback_body.prop_map(|v| v.to_string().into_bytes()),
    );
    stage.check_all(strategy, |stage, (query, body)| {
        let reply = stage.send(&Probe {
            method: Method::POST,
            path: format!("music-queue-worker/callback?{query}"),
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: Some(body),
        })?;
        match parse_callback_query(&query) {
            Err(error) => {
                let field = match &error {
                    music_core::ApiError::BadInput { field, .. } => {
                        field.clone().unwrap_or_default()
                    }
                    _ => String::new(),
                };
                function_error(&reply, 400, error.code(), &field)?;
            }
            Ok(_) => function_error(&reply, 401, "unauthorized", "token")?,
        }
        prop_assert_eq!(&before, &snapshot(stage)?, "the request is unchanged");
        Ok(())
    });
    Ok(())
}
