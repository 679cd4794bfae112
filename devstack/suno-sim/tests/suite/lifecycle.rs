//! A task's life as `record-info` shows it, and the files behind its URLs.

use crate::common::{body, start, start_frozen};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

fn clips(record: &Value) -> Vec<Value> {
    record["response"]["sunoData"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn a_task_walks_pending_text_first_success() {
    let sim = start_frozen().await;
    let sent = body("a calm evening by the sea", "http://127.0.0.1:9/cb");
    let id = sim.submit(&sent).await;
    assert_eq!(id.len(), 32);
    assert!(
        id.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
        "{id}"
    );

    let r = sim.record(&id).await;
    assert_eq!(r["status"], "PENDING");
    assert_eq!(r["taskId"], id.as_str());
    assert_eq!(r["type"], "GENERATE");
    let param: Value = serde_json::from_str(r["param"].as_str().unwrap()).unwrap();
    assert_eq!(param, sent, "param is the request JSON as a string");

    sim.advance(30.0).await;
    let r = sim.record(&id).await;
    assert_eq!(r["status"], "TEXT_SUCCESS");
    let c = clips(&r);
    assert_eq!(c.len(), 2);
    assert!(c
        .iter()
        .all(|c| c["audioUrl"] == "" && c["streamAudioUrl"] != ""));

    sim.advance(10.0).await;
    let r = sim.record(&id).await;
    assert_eq!(r["status"], "FIRST_SUCCESS");
    let c = clips(&r);
    assert_eq!(c.len(), 2, "both clips are listed at FIRST_SUCCESS");
    assert!(c[0]["audioUrl"].as_str().unwrap().ends_with(".mp3"));
    assert_eq!(c[1]["audioUrl"], "", "the second clip is not done yet");

    sim.advance(79.0).await;
    assert_eq!(sim.status(&id).await, "FIRST_SUCCESS");
    sim.advance(1.0).await;
    let r = sim.record(&id).await;
    assert_eq!(r["status"], "SUCCESS");
    assert_eq!(r["errorCode"], Value::Null);
    assert_eq!(r["response"]["taskId"], id.as_str());
    let c = clips(&r);
    assert_eq!(c.len(), 2);
    assert_ne!(c[0]["id"], c[1]["id"]);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for clip in &c {
        for field in [
            "id",
            "audioUrl",
            "streamAudioUrl",
            "imageUrl",
            "sourceAudioUrl",
            "prompt",
            "title",
            "tags",
        ] {
            assert!(
                clip[field].as_str().is_some_and(|s| !s.is_empty()),
                "{field}: {clip}"
            );
        }
        assert_eq!(clip["modelName"], "chirp-v4-5");
        assert!(clip["duration"].as_f64().unwrap() > 60.0);
        let created = clip["createTime"].as_i64().expect("createTime is epoch ms");
        assert!((now_ms - created).abs() < 60_000);
    }
}

#[tokio::test]
async fn custom_mode_clips_carry_title_style_and_lyrics() {
    let sim = start_frozen().await;
    let id = sim
        .submit(
            &json!({"customMode": true, "instrumental": false, "model": "V5",
                        "callBackUrl": "http://127.0.0.1:9/cb", "prompt": "[Verse] la la",
                        "style": "dream pop", "title": "Glass"}),
        )
        .await;
    sim.advance(500.0).await;
    let c = clips(&sim.record(&id).await);
    assert_eq!(c[0]["title"], "Glass");
    assert_eq!(c[1]["tags"], "dream pop");
    assert_eq!(c[0]["prompt"], "[Verse] la la");
    assert_eq!(c[0]["modelName"], "chirp-v5");
}

#[tokio::test]
async fn time_scale_runs_a_task_to_success_unattended() {
    let sim = start().await;
    // 100x: text at 0.3 s, first at 0.4 s, done at 1.2 s.
    sim.settings(json!({"time_scale": 100.0})).await;
    let id = sim.submit(&body("fast", "http://127.0.0.1:9/cb")).await;
    let mut seen: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen.last().map(String::as_str) != Some("SUCCESS") {
        assert!(Instant::now() < deadline, "never reached SUCCESS: {seen:?}");
        let status = sim.status(&id).await;
        if seen.last() != Some(&status) {
            seen.push(status);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        seen,
        ["PENDING", "TEXT_SUCCESS", "FIRST_SUCCESS", "SUCCESS"]
    );
}

#[tokio::test]
async fn the_returned_urls_serve_audio_and_images() {
    let sim = start_frozen().await;
    let id = sim.submit(&body("files", "http://127.0.0.1:9/cb")).await;
    sim.advance(500.0).await;
    let clip = clips(&sim.record(&id).await)[0].clone();
    for field in ["audioUrl", "streamAudioUrl", "sourceAudioUrl"] {
        let resp = sim
            .http
            .get(clip[field].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "audio/mpeg");
        let bytes = resp.bytes().await.unwrap();
        assert_eq!(&bytes[..3], b"ID3");
        assert_eq!(
            &bytes[10..12],
            &[0xFF, 0xFB],
            "an MPEG frame follows the tag"
        );
    }
    let resp = sim
        .http
        .get(clip["imageUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(&bytes[..2], &[0xFF, 0xD8]);
    assert_eq!(&bytes[bytes.len() - 2..], &[0xFF, 0xD9]);
    let other: Value = sim
        .http
        .get(sim.url("/files/x.wav"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(other["code"], 404);
}

#[tokio::test]
async fn record_info_can_use_the_spellings_of_the_docs() {
    let sim = start_frozen().await;
    sim.settings(serde_json::json!({"spelling": {"status": "generic", "clips": "data"}}))
        .await;
    let ok = sim.submit(&body("docs", "http://127.0.0.1:9/cb")).await;
    let failed = sim
        .submit(&body("[sim:create_task_failed]", "http://127.0.0.1:9/cb"))
        .await;
    assert_eq!(sim.status(&ok).await, "PENDING");
    sim.advance(30.0).await;
    assert_eq!(sim.status(&ok).await, "GENERATING");
    let record = sim.record(&failed).await;
    assert_eq!(record["status"], "FAILED");
    assert_eq!(record["errorCode"], 500);
    sim.advance(90.0).await;
    let record = sim.record(&ok).await;
    assert_eq!(record["status"], "SUCCESS");
    let clips = record["response"]["data"].as_array().unwrap();
    assert_eq!(clips.len(), 2);
    assert!(clips
        .iter()
        .all(|c| c["audio_url"].as_str().is_some_and(|u| u.ends_with(".mp3"))));
    assert_eq!(record["response"].get("sunoData"), None);
}
