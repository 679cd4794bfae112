//! The provider status record (`record_suno_status_check`) and the core's `health` module
//! keep one rule: what extends the failure streak, and what ends a pause.
//!
//! Every test runs in a transaction that rolls back, so the real worker never sees a test's
//! outage and the tests never see each other's.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use music_core::classify::{classify_body, classify_http_status};
use music_core::{CallFacts, CircuitPolicy, Classification, ProviderStatus, StatusCheck};
use serde_json::Value;
use stack_tests::sql;
use tokio_postgres::Transaction;

/// The status as PostgREST returns it, after one recorded check.
const RECORD: &str = "select to_jsonb(s)
                        from public.record_suno_status_check($1, $2, $3, $4::float8::numeric, $5,
                                                             $6::text::timestamptz) s";

/// Records a check given as the core builds it, and returns the row it left.
async fn record(tx: &Transaction<'_>, check: &StatusCheck) -> Result<Value> {
    let state = serde_json::to_value(check.p_state)?;
    let response_ms = check.p_response_time_ms.map(|ms| ms as i32);
    let http = check.p_http_status.map(i32::from);
    let row = tx
        .query_one(
            RECORD,
            &[
                &state.as_str(),
                &response_ms,
                &check.p_error,
                &check.p_credits,
                &http,
                &check.p_paused_until,
            ],
        )
        .await?;
    Ok(row.get(0))
}

/// Records a check written by hand: state, error and a pause of `pause_secs`.
async fn record_raw(
    tx: &Transaction<'_>,
    state: &str,
    error: Option<&str>,
    pause_secs: Option<f64>,
) -> Result<Value> {
    let row = tx
        .query_one(
            "select to_jsonb(s)
               from public.record_suno_status_check($1, 200, $2,
                      p_paused_until => clock_timestamp() + make_interval(secs => $3)) s",
            &[&state, &error, &pause_secs],
        )
        .await?;
    Ok(row.get(0))
}

async fn service_tx(db: &mut tokio_postgres::Client) -> Result<Transaction<'_>> {
    let tx = db.transaction().await?;
    tx.batch_execute("set local role service_role").await?;
    Ok(tx)
}

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    i64::try_from(since.as_millis()).expect("ms fit")
}

/// Item 1: a 60 s cool-down, then two healthy probes: still paused until it ends (the second
/// probe used to write NULL because the state was no longer `rate_limited`).
#[tokio::test]
async fn a_rate_limit_cooldown_outlasts_two_healthy_probes() -> Result<()> {
    let mut db = sql::db().await?;
    let tx = service_tx(&mut db).await?;
    let limited = record_raw(&tx, "rate_limited", Some("code 430"), Some(60.0)).await?;
    let until = limited["paused_until"].clone();
    assert!(until.is_string(), "{limited}");
    record_raw(&tx, "up", None, None).await?;
    let second = record_raw(&tx, "up", None, None).await?;
    assert_eq!(second["state"], "up");
    assert_eq!(second["paused_until"], until, "the cool-down was cut short");
    assert_eq!(second["pause_kind"], "cooldown");
    tx.rollback().await?;
    Ok(())
}

/// Our own pauses (circuit, config) end at the first healthy check.
#[tokio::test]
async fn a_healthy_probe_closes_the_circuit_at_once() -> Result<()> {
    let mut db = sql::db().await?;
    let tx = service_tx(&mut db).await?;
    let down = record_raw(&tx, "down", Some("HTTP 503"), Some(60.0)).await?;
    assert!(down["paused_until"].is_string(), "{down}");
    let up = record_raw(&tx, "up", None, None).await?;
    assert_eq!(up["paused_until"], Value::Null);
    assert_eq!(up["pause_kind"], Value::Null);
    tx.rollback().await?;
    Ok(())
}

/// Item 18: a steady 503 outage, one check per run, counts up (every `degraded` write used
/// to reset the count to 0, so the circuit never opened across runs); a slow but healthy
/// answer resets it.
#[tokio::test]
async fn a_steady_outage_counts_across_checks() -> Result<()> {
    let mut db = sql::db().await?;
    let tx = service_tx(&mut db).await?;
    let mut counts = Vec::new();
    for _ in 0..3 {
        let row = record_raw(&tx, "degraded", Some("HTTP 503"), None).await?;
        counts.push(row["consecutive_failures"].as_i64());
    }
    assert_eq!(counts, [Some(1), Some(2), Some(3)]);
    let slow = record_raw(&tx, "degraded", None, None).await?;
    assert_eq!(slow["consecutive_failures"], 0);
    assert_eq!(
        slow["last_error"], "HTTP 503",
        "a healthy check keeps the last error"
    );
    tx.rollback().await?;
    Ok(())
}

/// Item 18: two 430s and one 503 are a streak of one failure, not three.
#[tokio::test]
async fn rate_limits_do_not_count_toward_the_failure_streak() -> Result<()> {
    let mut db = sql::db().await?;
    let tx = service_tx(&mut db).await?;
    record_raw(&tx, "rate_limited", Some("code 430"), Some(10.0)).await?;
    let twice = record_raw(&tx, "rate_limited", Some("code 430"), Some(20.0)).await?;
    assert_eq!(twice["consecutive_failures"], 2);
    let failed = record_raw(&tx, "degraded", Some("HTTP 503"), None).await?;
    assert_eq!(failed["consecutive_failures"], 1);
    assert_eq!(
        failed["pause_kind"], "cooldown",
        "the running cool-down is kept"
    );
    tx.rollback().await?;
    Ok(())
}

/// Item 18: the core reads the row, decides, and builds the check; the SQL records it. After
/// every step the stored row reads back as the status the core computed: one rule.
#[tokio::test]
async fn the_core_and_the_sql_agree_on_every_check() -> Result<()> {
    let policy = CircuitPolicy::default();
    let slow = CallFacts {
        response_ms: Some(15_000),
        http_status: Some(200),
        credits: Some(480.0),
    };
    let answered = CallFacts {
        response_ms: Some(300),
        http_status: Some(200),
        credits: None,
    };
    let failed = CallFacts {
        response_ms: Some(300),
        http_status: Some(503),
        credits: None,
    };
    let steps: Vec<(Classification, CallFacts)> = vec![
        (Classification::ok(), answered),
        (classify_http_status(503), failed),
        (classify_body(430, "too frequent"), answered),
        (classify_body(430, "too frequent"), answered),
        (classify_http_status(503), failed),
        (Classification::ok(), answered),
        (Classification::ok(), slow),
        (classify_http_status(503), failed),
        (classify_http_status(502), failed),
        (classify_http_status(503), failed),
        (classify_body(455, "maintenance"), answered),
        (Classification::ok(), answered),
        (classify_body(401, "invalid key"), answered),
        (Classification::ok(), answered),
    ];
    let mut db = sql::db().await?;
    let tx = service_tx(&mut db).await?;
    let start: Value = tx
        .query_one(
            "select to_jsonb(s) from public.get_suno_api_status() s",
            &[],
        )
        .await?
        .get(0);
    let mut status = ProviderStatus::from_row(&start)?;
    for (i, (outcome, facts)) in steps.iter().enumerate() {
        let (expected, check) = status.check(outcome, facts, now_ms(), &policy);
        let stored = ProviderStatus::from_row(&record(&tx, &check).await?)?;
        let what = format!("step {i}: {outcome:?}");
        assert_eq!(stored.state, expected.state, "{what}");
        assert_eq!(
            stored.consecutive_failures, expected.consecutive_failures,
            "{what}"
        );
        assert_eq!(stored.pause_kind, expected.pause_kind, "{what}");
        assert_eq!(stored.paused_until_ms, expected.paused_until_ms, "{what}");
        status = stored;
    }
    assert_eq!(status.consecutive_failures, 0);
    tx.rollback().await?;
    Ok(())
}
