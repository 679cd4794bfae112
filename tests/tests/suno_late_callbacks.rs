//! A final callback that comes again minutes after the first (`late_duplicate_secs` in the
//! simulator's settings) goes through the worker's callback route on the project stack
//! and changes nothing: the request stays completed (or failed) once, with the same
//! result, its tracks are not added twice, and no event is written after it. The route
//! answers it 200, so the provider does not send it again; the same callback with a
//! wrong token is still refused.

use std::time::Duration;

use anyhow::Result;
use reqwest::Method;
use serde_json::{json, Value};
use stack_tests::functions::{serial, Key};
use stack_tests::stage::Stage;
use uuid::Uuid;

/// Five simulated minutes between a final callback and its duplicate.
const LATE_SECS: u64 = 300;

#[tokio::test]
async fn a_late_duplicate_final_callback_changes_nothing() -> Result<()> {
    let _serial = serial().await;
    let mut stage = Stage::set_up().await?;
    let outcome = late_duplicates(&mut stage).await;
    stage.restore().await?;
    outcome
}

/// What must not move once a request is finished.
async fn finished_state(stage: &Stage, id: Uuid) -> Result<Value> {
    let row = stage.request(id).await?;
    let events: Vec<Value> = stage
        .db
        .query(
            "select jsonb_build_object('event', event, 'status', status, 'attempt', attempt)
               from public.music_generation_events where request_id = $1 order by id",
            &[&id],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(json!({
        "status": row["status"], "attempts": row["attempts"], "result": row["result"],
        "error_code": row["error_code"], "fallback": row["fallback_track_id"],
        "completed_at": row["completed_at"], "failed_at": row["failed_at"],
        "updated_at": row["updated_at"], "tracks": stage.tracks(id).await?, "events": events,
    }))
}

async fn late_duplicates(stage: &mut Stage) -> Result<()> {
    stage
        .sim
        .settings(json!({"callbacks": {"late_duplicate_secs": LATE_SECS}}))
        .await?;
    stage.sim.outcomes("success", 1).await?;
    stage.sim.outcomes("sensitive_word", 1).await?;
    let ids = stage.enqueue(2, "heard twice").await?;
    let summary = stage.run_worker().await?;
    assert_eq!(summary["submitted"], 2, "{summary}");

    // The sensitive word fails at 10 s, the song completes at 120 s; each final callback
    // starts a run that reads the task and finishes the request.
    stage.sim.advance(120).await?;
    stage
        .wait_for(&ids[..1], "completed", Duration::from_secs(20))
        .await?;
    stage
        .wait_for(&ids[1..], "failed", Duration::from_secs(20))
        .await?;
    stage.wait_for_quiet_runs(Duration::from_secs(20)).await?;
    let before = [
        finished_state(stage, ids[0]).await?,
        finished_state(stage, ids[1]).await?,
    ];
    assert_eq!(before[0]["tracks"], 2, "{}", before[0]);
    assert_eq!(stage.events(ids[0], "completed").await?, 1);
    assert_eq!(stage.events(ids[1], "failed").await?, 1);

    // Five minutes later both final callbacks come again, and their retries after them.
    stage.sim.advance(LATE_SECS).await?;
    wait_for_late_deliveries(stage, 2).await?;
    // A refused delivery would be tried again 10 simulated seconds later.
    stage.sim.advance(60).await?;
    stage.wait_for_quiet_runs(Duration::from_secs(20)).await?;
    let late = wait_for_late_deliveries(stage, 2).await?;
    let stages: Vec<&str> = late
        .iter()
        .map(|c| c["stage"].as_str().unwrap_or(""))
        .collect();
    assert!(
        stages.contains(&"complete") && stages.contains(&"error"),
        "{late:?}"
    );
    assert!(
        late.iter()
            .all(|c| c["http_status"] == 200 && c["delivered"] == true && c["attempt"] == 1),
        "each late callback answered 200 the first time: {late:?}"
    );
    assert_eq!(late.len(), 2, "none sent again: {late:?}");
    let forged = stage
        .functions
        .call(
            Method::POST,
            &format!(
                "music-queue-worker/callback?request_id={}&token=wrong",
                ids[0]
            ),
            &Key::Nothing,
            Some(late[0]["body"].clone()),
        )
        .await?;
    assert_eq!(forged.status, 401, "{}", forged.json);
    let after = [
        finished_state(stage, ids[0]).await?,
        finished_state(stage, ids[1]).await?,
    ];
    assert_eq!(after, before, "a late duplicate changed a finished request");
    Ok(())
}

/// Waits for the simulator to have tried at least `n` late deliveries (whatever the
/// route answered).
async fn wait_for_late_deliveries(stage: &Stage, n: usize) -> Result<Vec<Value>> {
    for _ in 0..200 {
        let late: Vec<Value> = stage
            .sim
            .callbacks()
            .await?
            .into_iter()
            .filter(|c| c["late"] == true)
            .collect();
        if late.len() >= n {
            return Ok(late);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the simulator never sent {n} late callbacks")
}
