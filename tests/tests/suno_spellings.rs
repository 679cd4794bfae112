//! Every spelling of `record-info` the contract allows, read by `music-core` over real
//! HTTP: the statuses `GENERATING` and `FAILED` some docs show, and clips under
//! `response.data[]` with snake_case keys (`audio_url`), alone and together, served by the
//! simulator (`spelling` in its settings).
//!
//! From the host, the core's own requests and decisions against an in-process simulator;
//! then on the project stack, the worker's WASM completing and retrying requests while
//! the stack's simulator answers in the docs' spelling.

use std::time::Duration;

use anyhow::Result;
use music_core::poll::{decide_poll, PollDecision, SubmittedTask};
use music_core::suno::HttpRequest;
use music_core::{parse_request, prompt};
use serde_json::json;
use stack_tests::functions::serial;
use stack_tests::stage::Stage;
use stack_tests::suno::{Shell, Sim};

/// `(status, clips)` settings: the contract's own spelling first.
const SPELLINGS: [(&str, &str); 4] = [
    ("suno", "suno_data"),
    ("generic", "suno_data"),
    ("suno", "data"),
    ("generic", "data"),
];

/// Nothing listens here: these tests read, they do not wait for callbacks.
const NO_CALLBACK: &str = "http://127.0.0.1:9/music-callback";

/// A simulator answering `record-info` in one spelling.
async fn sim_spelling((status, clips): (&str, &str)) -> Sim {
    let sim = Sim::start().await;
    sim.settings(json!({"spelling": {"status": status, "clips": clips}}))
        .await;
    sim
}

fn calm(sim: &Sim) -> HttpRequest {
    let request = parse_request(br#"{"emotion":"calm","intensity":0.3}"#).expect("valid");
    let params = prompt::build(&request, sim.config().suno_model);
    sim.api().generate(&params, NO_CALLBACK)
}

/// Submits a request and answers a reader of its task at the simulator's time.
struct Task<'a> {
    sim: &'a Sim,
    shell: Shell,
    id: String,
    queued: SubmittedTask,
}

impl<'a> Task<'a> {
    async fn submit(sim: &'a Sim) -> Task<'a> {
        let shell = Shell::new();
        let id = shell.submit(&calm(sim)).await.expect("accepted");
        let queued = SubmittedTask {
            attempts: 1,
            max_attempts: 3,
            submitted_at_ms: sim.now_ms().await,
            rereads: 0,
            resubmitted_when_stuck: false,
        };
        Task {
            sim,
            shell,
            id,
            queued,
        }
    }

    async fn decide(&self) -> PollDecision {
        let result = self
            .shell
            .read_task(&self.sim.api().record_info(&self.id))
            .await;
        let now = self.sim.now_ms().await;
        decide_poll(&self.queued, &result, now, 0, &self.sim.config())
    }
}

#[tokio::test]
async fn a_task_reads_as_progress_then_two_clips_in_every_spelling() {
    for spelling in SPELLINGS {
        let sim = sim_spelling(spelling).await;
        let task = Task::submit(&sim).await;
        let PollDecision::Progress { status, clips, .. } = task.decide().await else {
            panic!("{spelling:?}: pending is progress");
        };
        assert_eq!(status.as_str(), "PENDING");
        assert!(clips.is_empty());

        sim.advance(40.0).await;
        let decision = task.decide().await;
        let PollDecision::Progress { status, clips, .. } = decision else {
            panic!("{spelling:?}: one clip of two is progress, got {decision:?}");
        };
        let expected = if spelling.0 == "generic" {
            "GENERATING"
        } else {
            "FIRST_SUCCESS"
        };
        assert_eq!(status.as_str(), expected, "{spelling:?}");
        assert_eq!(clips.len(), 2, "{spelling:?}");
        assert!(clips[0].is_ready() && !clips[1].is_ready(), "{spelling:?}");
        assert!(clips.iter().all(|c| c.stream_audio_url.is_some()));

        sim.advance(80.0).await;
        let decision = task.decide().await;
        let PollDecision::Complete { clips } = decision else {
            panic!("{spelling:?}: expected completion, got {decision:?}");
        };
        assert_eq!(clips.len(), 2, "{spelling:?}");
        assert_ne!(clips[0].id, clips[1].id);
        for clip in &clips {
            assert!(
                clip.image_url.is_some() && clip.model_name.is_some(),
                "{clip:?}"
            );
            assert!(clip.duration.is_some_and(|d| d > 0.0), "{clip:?}");
            assert!(clip.created_at_ms.is_some_and(|ms| ms > 0), "{clip:?}");
            let url = clip.audio_url.as_deref().expect("audio");
            let audio = reqwest::get(url).await.expect("the audio URL answers");
            assert_eq!(audio.status(), 200, "{url}");
        }
    }
}

#[tokio::test]
async fn failures_read_the_same_in_every_spelling() {
    for spelling in SPELLINGS {
        let sim = sim_spelling(spelling).await;
        let mut decisions = Vec::new();
        for outcome in ["audio_failed_501", "create_task_failed", "sensitive_word"] {
            sim.outcome(outcome).await;
            let task = Task::submit(&sim).await;
            sim.advance(60.0).await;
            decisions.push(task.decide().await);
        }
        let kinds: Vec<&str> = decisions
            .iter()
            .map(|d| match d {
                PollDecision::Retry { .. } => "retry",
                PollDecision::Fail { code, .. } => code,
                other => panic!("{spelling:?}: {other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            ["retry", "retry", "content_rejected"],
            "{spelling:?}: failed audio and creation are retried, refused words fail"
        );
    }
}

#[tokio::test]
async fn the_worker_completes_and_retries_requests_in_the_docs_spelling() -> Result<()> {
    let _serial = serial().await;
    let mut stage = Stage::set_up().await?;
    let outcome = docs_spelling_on_the_stack(&mut stage).await;
    stage.restore().await?;
    outcome
}

async fn docs_spelling_on_the_stack(stage: &mut Stage) -> Result<()> {
    stage
        .sim
        .settings(json!({"spelling": {"status": "generic", "clips": "data"}}))
        .await?;
    stage.sim.outcomes("success", 1).await?;
    stage.sim.outcomes("audio_failed_501", 1).await?;
    let ids = stage.enqueue(2, "read in the docs' words").await?;
    let summary = stage.run_worker().await?;
    assert_eq!(summary["submitted"], 2, "{summary}");

    // The complete and error callbacks start runs that read GENERATING/SUCCESS/FAILED.
    stage.sim.advance(120).await?;
    stage
        .wait_for(&ids[..1], "completed", Duration::from_secs(20))
        .await?;
    stage
        .wait_for(&ids[1..], "pending", Duration::from_secs(20))
        .await?;
    let done = stage.request(ids[0]).await?;
    let clips = done["result"]["clips"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(clips.len(), 2, "{done}");
    for clip in &clips {
        let url = clip["audio_url"].as_str().unwrap_or("");
        assert!(url.ends_with(".mp3"), "{clip}");
    }
    assert_eq!(stage.tracks(ids[0]).await?, 2);
    let retried = stage.request(ids[1]).await?;
    assert_eq!(retried["attempts"], 1, "{retried}");
    assert_eq!(stage.events(ids[1], "retried").await?, 1);
    stage.wait_for_quiet_runs(Duration::from_secs(20)).await
}
