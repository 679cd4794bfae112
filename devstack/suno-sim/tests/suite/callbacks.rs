//! Callbacks as a webhook receives them: stages, body shape, retries, duplicates,
//! reordering, the `taskId` spelling, and switching them off.

use crate::common::{body, start, start_frozen, Receiver};
use serde_json::{json, Value};
use std::time::Duration;

/// Retries without waiting, so a frozen clock does not hold them back.
async fn frozen_with_instant_retries() -> crate::common::Sim {
    let sim = start_frozen().await;
    sim.settings(json!({"callbacks": {"retry_delay_secs": 0.0}}))
        .await;
    sim
}

#[tokio::test]
async fn stages_arrive_in_order_with_the_documented_shape() {
    let sim = start_frozen().await;
    let rx = Receiver::start(0).await;
    let id = sim.submit(&body("waves", &rx.url)).await;
    sim.advance(30.0).await;
    rx.wait_for(1).await;
    sim.advance(10.0).await;
    rx.wait_for(2).await;
    sim.advance(80.0).await;
    let hits = rx.wait_for(3).await;
    assert_eq!(rx.stages(), ["text", "first", "complete"]);

    let first = &hits[1];
    assert_eq!(first["code"], 200);
    assert_eq!(first["data"]["task_id"], id.as_str());
    assert_eq!(first["data"]["data"][1]["audio_url"], "");

    let done = &hits[2];
    assert_eq!(done["msg"], "All generated successfully.");
    let clips = done["data"]["data"].as_array().unwrap();
    assert_eq!(clips.len(), 2);
    for clip in clips {
        for field in [
            "id",
            "audio_url",
            "stream_audio_url",
            "image_url",
            "title",
            "tags",
            "model_name",
            "createTime",
        ] {
            assert!(
                clip[field].as_str().is_some_and(|s| !s.is_empty()),
                "{field}: {clip}"
            );
        }
        assert!(clip["duration"].is_number());
    }
}

#[tokio::test]
async fn a_failing_receiver_gets_three_attempts_then_nothing() {
    let sim = frozen_with_instant_retries().await;
    let rx = Receiver::start(usize::MAX).await;
    let id = sim.submit(&body("[sim:stuck_text]", &rx.url)).await;
    sim.advance(1000.0).await;
    rx.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        rx.stages(),
        ["text", "text", "text"],
        "three deliveries, then stop"
    );

    let log = sim.get_control(&format!("/callbacks?task_id={id}")).await;
    let attempts: Vec<(u64, bool, u64)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["attempt"].as_u64().unwrap(),
                c["delivered"].as_bool().unwrap(),
                c["http_status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [(1, false, 500), (2, false, 500), (3, false, 500)]
    );
}

#[tokio::test]
async fn a_retry_that_succeeds_stops_the_retries() {
    let sim = frozen_with_instant_retries().await;
    let rx = Receiver::start(1).await;
    sim.submit(&body("[sim:stuck_text]", &rx.url)).await;
    sim.advance(1000.0).await;
    rx.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.hits().len(), 2);
}

#[tokio::test]
async fn unreachable_and_slow_receivers_count_as_failures() {
    let sim = frozen_with_instant_retries().await;
    sim.settings(json!({"callbacks": {"timeout_secs": 0.2}}))
        .await;
    // Nothing listens on port 9 of localhost: connection refused.
    let refused = sim
        .submit(&body("[sim:stuck_text]", "http://127.0.0.1:9/cb"))
        .await;
    let slow = Receiver::start_slow(0, Duration::from_secs(2)).await;
    let timed_out = sim.submit(&body("[sim:stuck_text]", &slow.url)).await;
    sim.advance(1000.0).await;
    for id in [refused, timed_out] {
        let log = crate::common::eventually(5.0, "three failed attempts", || {
            let sim = &sim;
            let path = format!("/callbacks?task_id={id}");
            async move {
                let log = sim.get_control(&path).await;
                (log.as_array().unwrap().len() == 3).then_some(log)
            }
        })
        .await;
        for c in log.as_array().unwrap() {
            assert_eq!(c["delivered"], false);
            assert!(c["error"].as_str().is_some_and(|e| !e.is_empty()), "{c}");
        }
    }
}

#[tokio::test]
async fn retries_wait_on_the_simulated_clock() {
    let sim = start().await;
    // 100x: the default 10 s retry delay is 0.1 s of real time.
    sim.settings(json!({"time_scale": 100.0})).await;
    let rx = Receiver::start(usize::MAX).await;
    let id = sim.submit(&body("[sim:stuck_text]", &rx.url)).await;
    rx.wait_for(3).await;
    let log = sim.get_control(&format!("/callbacks?task_id={id}")).await;
    let times: Vec<u64> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["at_ms"].as_u64().unwrap())
        .collect();
    assert!(
        times[1] - times[0] >= 80 && times[2] - times[1] >= 80,
        "{times:?}"
    );
}

#[tokio::test]
async fn duplicates_reordering_and_task_id_spelling() {
    let sim = start_frozen().await;
    sim.settings(json!({"callbacks": {"duplicate": ["complete"], "reorder": true, "task_id_field": "taskId"}}))
        .await;
    let rx = Receiver::start(0).await;
    let id = sim.submit(&body("twice", &rx.url)).await;
    sim.advance(40.0).await;
    rx.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(rx.stages(), ["text"], "first is held back");
    sim.advance(80.0).await;
    rx.wait_for(4).await;
    assert_eq!(rx.stages(), ["text", "complete", "complete", "first"]);
    for hit in rx.hits() {
        assert_eq!(hit["data"]["taskId"], id.as_str());
        assert!(hit["data"].get("task_id").is_none());
    }
}

#[tokio::test]
async fn disabled_callbacks_send_nothing_but_the_task_still_completes() {
    let sim = start_frozen().await;
    sim.settings(json!({"callbacks": {"enabled": false}})).await;
    let rx = Receiver::start(0).await;
    let id = sim.submit(&body("quiet", &rx.url)).await;
    sim.advance(500.0).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(rx.hits().is_empty());
    assert_eq!(sim.status(&id).await, "SUCCESS");
}

#[tokio::test]
async fn failed_tasks_send_an_error_stage_with_their_code() {
    let sim = start_frozen().await;
    let rx = Receiver::start(0).await;
    let id = sim.submit(&body("[sim:audio_failed_501]", &rx.url)).await;
    sim.advance(500.0).await;
    let hits = rx.wait_for(2).await;
    assert_eq!(rx.stages(), ["text", "error"]);
    let error = &hits[1];
    assert_eq!(error["code"], 501);
    assert_eq!(error["data"]["task_id"], id.as_str());
    assert_eq!(error["data"]["data"], json!([]));
}

#[tokio::test]
async fn an_undeliverable_complete_can_mark_callback_exception() {
    let sim = frozen_with_instant_retries().await;
    sim.settings(json!({"callbacks": {"mark_callback_exception": true}}))
        .await;
    let id = sim.submit(&body("lost", "http://127.0.0.1:9/cb")).await;
    sim.advance(500.0).await;
    let record: Value = crate::common::eventually(5.0, "CALLBACK_EXCEPTION", || {
        let sim = &sim;
        let id = &id;
        async move {
            let r = sim.record(id).await;
            (r["status"] == "CALLBACK_EXCEPTION").then_some(r)
        }
    })
    .await;
    assert_eq!(
        record["response"]["sunoData"].as_array().unwrap().len(),
        2,
        "audio is still there"
    );
}

#[tokio::test]
async fn a_final_callback_can_come_again_minutes_later() {
    let sim = start_frozen().await;
    sim.settings(json!({"callbacks": {"late_duplicate_secs": 300.0}}))
        .await;
    let rx = Receiver::start(0).await;
    let ok = sim.submit(&body("an encore", &rx.url)).await;
    let failed = sim.submit(&body("[sim:sensitive_word]", &rx.url)).await;
    sim.advance(120.0).await;
    let first = rx.wait_for(4).await;
    // Failed at 10 s, its error callback comes again at 310 s; the complete at 420 s.
    let quiet = |n: usize| {
        let rx = &rx;
        async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert_eq!(rx.hits().len(), n, "nothing early");
        }
    };
    sim.advance(189.0).await;
    quiet(4).await;
    sim.advance(1.0).await;
    let hits = rx.wait_for(5).await;
    assert_eq!(hits[4]["data"]["callbackType"], "error");
    assert_eq!(hits[4]["data"]["task_id"], failed.as_str());
    sim.advance(109.0).await;
    quiet(5).await;
    sim.advance(1.0).await;
    let hits = rx.wait_for(6).await;
    assert_eq!(hits[5]["data"]["task_id"], ok.as_str());
    let complete = first
        .iter()
        .find(|h| h["data"]["callbackType"] == "complete");
    assert_eq!(
        Some(&hits[5]),
        complete,
        "the same body as the first complete"
    );
    let log = sim
        .get_control(&format!("/callbacks?task_id={failed}"))
        .await;
    let late: Vec<bool> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["late"].as_bool().unwrap())
        .collect();
    assert_eq!(late, [false, true]);
}
