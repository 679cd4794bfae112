//! `suno-status-check` end to end: the real WASM under Deno behind the gateway, PostgREST,
//! Postgres and the stack's Suno simulator.
//!
//! The provider status is one row shared by every caller, so each test holds
//! [`serial`] and pauses the status-check cron job, whose probes would otherwise land
//! in the middle of a test that counts them.

use anyhow::Result;
use reqwest::Method;
use serde_json::json;
use stack_tests::functions::{
    age_provider_status, expect_status, is_error_body, recorded_checks, serial,
    set_cron_job_active, Answer, Functions, Key, StackSim,
};
use stack_tests::stack::sign;
use tokio_postgres::Client;

const FUNCTION: &str = "suno-status-check";
const CRON_JOB: &str = "suno-status-check-every-minute";
const PUBLIC_FIELDS: [&str; 4] = ["is_available", "last_check_at", "response_time_ms", "state"];

/// A test's stack: the functions, the simulator (reset, no faults) and the database, with
/// the status-check cron job paused.
struct Setup {
    functions: Functions,
    sim: StackSim,
    db: Client,
}

async fn setup() -> Result<Setup> {
    let functions = Functions::from_env()?;
    let db = functions.env.db().await?;
    set_cron_job_active(&db, CRON_JOB, false).await?;
    let sim = StackSim::from_env()?;
    sim.reset().await?;
    Ok(Setup { functions, sim, db })
}

impl Setup {
    async fn status(&self, key: &Key) -> Result<Answer> {
        self.functions.call(Method::GET, FUNCTION, key, None).await
    }

    /// A fresh, healthy stored status, and an empty simulator log.
    async fn fresh_up(&self) -> Result<()> {
        let answer = self.status(&Key::Secret).await?;
        expect_status(&answer, 200)?;
        anyhow::ensure!(answer.json["state"] == "up", "{}", answer.json);
        self.sim.clear_requests().await
    }

    async fn probes(&self) -> Result<usize> {
        Ok(self.sim.requests("credit").await?.len())
    }
}

fn assert_public_status(answer: &Answer) {
    assert_eq!(answer.status, 200, "{}", answer.json);
    let mut fields: Vec<&str> = answer
        .json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort();
    assert_eq!(
        fields, PUBLIC_FIELDS,
        "only the public fields: {}",
        answer.json
    );
    assert_eq!(answer.header("access-control-allow-origin"), "*");
}

#[tokio::test]
async fn anyone_reads_the_public_status_and_nothing_more() -> Result<()> {
    let _serial = serial().await;
    let stack = setup().await?;
    stack.fresh_up().await?;
    for key in [Key::Anon, Key::Publishable, Key::user()] {
        let answer = stack.status(&key).await?;
        assert_public_status(&answer);
        assert_eq!(answer.json["state"], "up", "{key:?}");
        assert_eq!(answer.json["is_available"], true);
    }
    let post = stack
        .functions
        .call(Method::POST, FUNCTION, &Key::Anon, Some(json!({})))
        .await?;
    assert_public_status(&post);
    assert_eq!(
        stack.probes().await?,
        0,
        "a fresh status is not probed for the public or a user"
    );
    Ok(())
}

#[tokio::test]
async fn the_secret_key_in_both_forms_probes_and_records_afresh() -> Result<()> {
    let _serial = serial().await;
    let stack = setup().await?;
    stack.fresh_up().await?;
    for key in Key::SECRET_KINDS {
        let before = recorded_checks(&stack.db).await?.len();
        stack.sim.clear_requests().await?;
        let answer = stack.status(&key).await?;
        assert_public_status(&answer);
        assert_eq!(answer.json["state"], "up", "{key:?}");
        assert!(answer.json["response_time_ms"].is_u64(), "{}", answer.json);
        assert_eq!(
            stack.probes().await?,
            1,
            "{key:?}: one probe of the credit endpoint"
        );
        let checks = recorded_checks(&stack.db).await?;
        assert_eq!(checks.len(), before + 1, "{key:?}: the probe is recorded");
        assert_eq!(checks[0]["state"], "up");
        assert_eq!(checks[0]["http_status"], 200);
        assert!(
            checks[0]["credits"].as_f64().is_some_and(|c| c > 0.0),
            "{}",
            checks[0]
        );
        assert!(checks[0]["response_time_ms"].is_u64());
    }
    Ok(())
}

#[tokio::test]
async fn an_admin_probes_a_user_with_forged_admin_claims_is_refused() -> Result<()> {
    let _serial = serial().await;
    let stack = setup().await?;
    stack.fresh_up().await?;
    assert_public_status(&stack.status(&Key::admin()).await?);
    assert_eq!(stack.probes().await?, 1, "an admin gets a fresh probe");

    let forged = jsonwebtoken_free_forgery();
    let answer = stack.status(&Key::User(forged)).await?;
    assert_eq!(answer.status, 401, "{}", answer.json);
    assert!(is_error_body(&answer.json), "{}", answer.json);
    assert_eq!(
        answer.header("access-control-allow-origin"),
        "*",
        "errors carry CORS too"
    );
    Ok(())
}

/// A JWT claiming to be an admin, signed with the stack's secret then altered: the claim
/// is read but the signature no longer matches.
fn jsonwebtoken_free_forgery() -> String {
    let now = chrono::Utc::now().timestamp();
    let token = sign(
        &json!({"sub": uuid::Uuid::new_v4(), "role": "authenticated",
        "aud": "authenticated", "app_metadata": {"role": "admin"}, "iat": now, "exp": now + 600}),
    );
    let (unsigned, signature) = token.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    format!("{unsigned}.{flipped}{}", &signature[1..])
}

#[tokio::test]
async fn a_stale_status_is_probed_for_anyone() -> Result<()> {
    let _serial = serial().await;
    let stack = setup().await?;
    stack.fresh_up().await?;
    age_provider_status(&stack.db, 31.0).await?;
    let answer = stack.status(&Key::user()).await?;
    assert_public_status(&answer);
    assert_eq!(stack.probes().await?, 1, "older than 30 s: probed");
    assert_public_status(&stack.status(&Key::Anon).await?);
    assert_eq!(stack.probes().await?, 1, "the probe left it fresh");
    Ok(())
}

#[tokio::test]
async fn a_refused_key_is_recorded_unauthorized_then_recovery_is_up() -> Result<()> {
    let _serial = serial().await;
    let stack = setup().await?;
    stack.fresh_up().await?;
    for key in Key::SECRET_KINDS {
        stack
            .sim
            .settings(json!({"api_keys": ["some-other-key"]}))
            .await?;
        let refused = stack.status(&key).await?;
        assert_public_status(&refused);
        assert_eq!(refused.json["state"], "unauthorized", "{key:?}");
        assert_eq!(refused.json["is_available"], false);
        let check = &recorded_checks(&stack.db).await?[0];
        assert_eq!(check["state"], "unauthorized");

        stack.sim.reset().await?;
        let back = stack.status(&key).await?;
        assert_eq!(back.json["state"], "up", "{key:?}: {}", back.json);
        assert_eq!(back.json["is_available"], true);
    }
    Ok(())
}

#[tokio::test]
async fn repeated_503s_on_the_credit_endpoint_record_degraded_then_down() -> Result<()> {
    let _serial = serial().await;
    let stack = setup().await?;
    stack.fresh_up().await?;
    stack
        .sim
        .fault(json!({"kind": "http_error", "status": 503, "endpoint": "credit"}))
        .await?;
    let mut states = Vec::new();
    for key in [Key::Secret, Key::ServiceRole, Key::Secret] {
        let answer = stack.status(&key).await?;
        assert_public_status(&answer);
        states.push(answer.json["state"].as_str().unwrap_or("").to_owned());
    }
    assert_eq!(
        states,
        ["degraded", "degraded", "down"],
        "three failures open the circuit"
    );
    let check = &recorded_checks(&stack.db).await?[0];
    assert_eq!(
        (check["state"].clone(), check["http_status"].clone()),
        (json!("down"), json!(503))
    );
    let down = stack.status(&Key::Anon).await?;
    assert_eq!(down.json["is_available"], false, "{}", down.json);

    stack.sim.clear_faults().await?;
    let back = stack.status(&Key::Secret).await?;
    assert_eq!(
        back.json["state"], "up",
        "a healthy probe closes the circuit: {}",
        back.json
    );
    Ok(())
}

#[tokio::test]
async fn a_cors_preflight_is_answered_before_any_key_check() -> Result<()> {
    let functions = Functions::from_env()?;
    let origin = functions.env.web_url.clone();
    let answer = functions
        .call_with(
            Method::OPTIONS,
            FUNCTION,
            &Key::Nothing,
            None,
            &[
                ("origin", origin.as_str()),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization, apikey, content-type",
                ),
            ],
        )
        .await?;
    assert!(
        answer.status == 200 || answer.status == 204,
        "{}",
        answer.status
    );
    assert_eq!(answer.header("access-control-allow-origin"), "*");
    let allowed = answer
        .header("access-control-allow-headers")
        .to_ascii_lowercase();
    for header in ["authorization", "apikey", "content-type"] {
        assert!(allowed.contains(header), "{allowed}");
    }
    assert!(answer
        .header("access-control-allow-methods")
        .contains("POST"));
    Ok(())
}
