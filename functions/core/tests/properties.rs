//! Invariants over arbitrary input: parsers never panic, waits stay in their bounds and never
//! shrink as attempts grow, provider text never exceeds a model's limits, and a worker run
//! always ends with every claimed request accounted for exactly once.

use music_core::classify::{classify_callback, classify_error, classify_task};
use music_core::emotion::{Emotion, Intensity};
use music_core::model::Model;
use music_core::plan::{ClaimedRequest, Planner, Step};
use music_core::poll::{classify_poll, decide_poll, PollResult, SubmittedTask};
use music_core::prompt;
use music_core::retry::{Backoff, Cooldown, MAX_RETRY_AFTER_MS};
use music_core::suno::{
    parse_callback, parse_credit, parse_generate, parse_record_info, RecordInfo,
};
use music_core::text::provider_len;
use music_core::validation::{validate_request, Context, MusicRequest, RequestOptions};
use music_core::{
    parse_request, CallFacts, Classification, Config, PauseKind, ProviderState, ProviderStatus,
    QueueSettings,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Keys the parsers look for, mixed with arbitrary ones, so generated JSON reaches deep paths.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "code", "msg", "data", "taskId", "task_id", "status", "response", "sunoData",
            "audioUrl", "audio_url", "streamAudioUrl", "createTime", "duration", "errorCode",
            "errorMessage", "callbackType", "credits", "emotion", "intensity", "context",
            "instrumental", "style", "title", "id",
        ])
        .prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec![
            200_i64, 400, 401, 404, 405, 413, 422, 429, 430, 455, 500, 501, 531
        ])
        .prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        prop::sample::select(vec![
            "SUCCESS",
            "FIRST_SUCCESS",
            "PENDING",
            "GENERATE_AUDIO_FAILED",
            "CALLBACK_EXCEPTION",
            "complete",
            "first",
            "error",
            "joy",
            "1730000000000",
            "2024-10-27T03:33:20Z",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn exercise_parsers(status: u16, body: &[u8]) {
    let config = Config::default();
    let task = SubmittedTask {
        attempts: 1,
        max_attempts: 3,
        submitted_at_ms: 0,
        rereads: 0,
        resubmitted_when_stuck: false,
    };
    if let Err(error) = parse_generate(status, body) {
        classify_error(&error);
    }
    let _ = parse_credit(status, body);
    if let Ok(RecordInfo::Task(info)) = parse_record_info(status, body) {
        classify_task(&info);
    }
    let poll = PollResult::from_http(status, body);
    classify_poll(&poll);
    decide_poll(&task, &poll, 1_000_000, 7, &config);
    if let Ok(callback) = parse_callback(body) {
        classify_callback(&callback);
    }
    let _ = parse_request(body);
}

proptest! {
    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(status in any::<u16>(), body in prop::collection::vec(any::<u8>(), 0..512)) {
        exercise_parsers(status, &body);
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_json(status in any::<u16>(), value in json_value()) {
        exercise_parsers(status, value.to_string().as_bytes());
        let _ = validate_request(&value);
    }

    #[test]
    fn parsers_never_panic_on_envelopes_with_arbitrary_data(
        code in prop::sample::select(vec![200_i64, 422, 429, 500]),
        status in prop::sample::select(vec![200_u16, 429, 503]),
        data in json_value(),
        task_status in json_value(),
        clips in json_value(),
    ) {
        exercise_parsers(status, json!({"code": code, "msg": "m", "data": data}).to_string().as_bytes());
        let record = json!({"code": code, "data": {"status": task_status, "response": {"sunoData": clips}}});
        exercise_parsers(status, record.to_string().as_bytes());
        let callback = json!({"code": code, "data": {"callbackType": task_status, "data": clips}});
        exercise_parsers(status, callback.to_string().as_bytes());
    }

    #[test]
    fn backoff_stays_within_its_bounds(
        base in 1_u64..100_000,
        extra in 0_u64..10_000_000,
        attempt in 0_u32..80,
        seed in any::<u64>(),
    ) {
        let backoff = Backoff::new(base, base + extra);
        let delay = backoff.delay_ms(attempt, seed);
        prop_assert!(delay >= backoff.floor_ms(attempt));
        prop_assert!(delay <= backoff.ceiling_ms(attempt));
        prop_assert!(delay >= base.min(backoff.cap_ms));
        prop_assert!(delay <= backoff.cap_ms);
    }

    #[test]
    fn backoff_never_shrinks_as_attempts_grow(
        base in 1_u64..100_000,
        extra in 0_u64..10_000_000,
        // 1-based: attempt 0 is an alias of attempt 1, not a shorter step before it.
        attempt in 1_u32..80,
        seed_now in any::<u64>(),
        seed_next in any::<u64>(),
    ) {
        let backoff = Backoff::new(base, base + extra);
        prop_assert!(backoff.delay_ms(attempt + 1, seed_next) >= backoff.delay_ms(attempt, seed_now));
    }

    #[test]
    fn retry_after_is_honoured_up_to_its_bound(
        attempt in 1_u32..10,
        seed in any::<u64>(),
        retry_after in any::<u64>(),
    ) {
        let backoff = Backoff::default();
        let delay = backoff.delay_with_retry_after_ms(attempt, seed, Some(retry_after));
        prop_assert!(delay >= retry_after.min(MAX_RETRY_AFTER_MS));
        prop_assert!(delay >= backoff.delay_ms(attempt, seed));
        let pause = Cooldown::default().pause_with_retry_after_ms(attempt, Some(retry_after));
        prop_assert!(pause >= 10_000);
        prop_assert!(pause >= retry_after.min(MAX_RETRY_AFTER_MS));
    }

    #[test]
    fn cooldown_is_at_least_ten_seconds_and_never_shrinks(
        base in 0_u64..1_000_000,
        cap in 0_u64..10_000_000,
        streak in 0_u32..80,
    ) {
        let cooldown = Cooldown::new(base, cap);
        prop_assert!(cooldown.pause_ms(streak) >= 10_000);
        prop_assert!(cooldown.pause_ms(streak + 1) >= cooldown.pause_ms(streak));
        prop_assert!(cooldown.pause_ms(streak) <= cooldown.cap_ms);
    }

    #[test]
    fn provider_text_always_fits_the_model(
        emotion in prop::sample::select(Emotion::ALL.to_vec()),
        model in prop::sample::select(Model::ALL.to_vec()),
        intensity in 0.0_f64..=1.0,
        instrumental in any::<bool>(),
        context in any::<String>(),
        style in prop::option::of(any::<String>()),
        title in prop::option::of(any::<String>()),
    ) {
        let bounded = |text: String, max: usize| text.chars().take(max).collect::<String>();
        let request = MusicRequest {
            emotion,
            intensity: Intensity::new(intensity).unwrap(),
            context: Context::parse(&bounded(context, Context::MAX_CHARS)).unwrap(),
            options: RequestOptions {
                instrumental,
                style: style.map(|s| bounded(s, RequestOptions::STYLE_MAX_CHARS)),
                title: title.map(|t| bounded(t, RequestOptions::TITLE_MAX_CHARS)),
            },
        };
        let params = prompt::build(&request, model);
        let limits = model.limits();
        let prompt_limit = if params.custom_mode { limits.lyrics } else { limits.description };
        prop_assert!(!params.prompt.is_empty());
        prop_assert!(provider_len(&params.prompt) <= prompt_limit);
        prop_assert!(params.prompt.chars().count() <= prompt_limit);
        if let Some(style) = &params.style {
            prop_assert!(provider_len(style) <= limits.style);
        }
        if let Some(title) = &params.title {
            prop_assert!(provider_len(title) <= limits.title);
        }
        prop_assert_eq!(params.custom_mode, instrumental);
        prop_assert_eq!(&params, &prompt::build(&request, model), "deterministic");
    }

    #[test]
    fn a_worker_run_accounts_for_every_claimed_request_exactly_once(
        state in prop::sample::select(vec![
            ProviderState::Up, ProviderState::Degraded, ProviderState::Down,
            ProviderState::RateLimited, ProviderState::NoCredits, ProviderState::Maintenance,
        ]),
        failures in 0_u32..6,
        last_check_ago in prop::option::of(0_i64..200_000),
        paused_for in prop::option::of(-50_000_i64..50_000),
        queue_paused in any::<bool>(),
        attempts in prop::collection::vec(1_u32..4, 0..7),
        outcomes in prop::collection::vec(
            prop::sample::select(vec![200_i64, 400, 401, 413, 429, 430, 455, 500]),
            0..20,
        ),
        grants in prop::collection::vec(any::<bool>(), 0..20),
        seed in any::<u64>(),
    ) {
        const NOW: i64 = 1_700_000_000_000;
        let status = ProviderStatus {
            state,
            consecutive_failures: failures,
            last_check_ms: last_check_ago.map(|ago| NOW - ago),
            paused_until_ms: paused_for.map(|d| NOW + d),
            pause_kind: paused_for.map(|_| PauseKind::asked_by(state)),
        };
        let queue = QueueSettings {
            name: "default".into(),
            paused: queue_paused,
            batch_size: 5,
            submit_spacing_ms: 2_000,
            max_per_run: None,
        };
        let mut waiting: Vec<ClaimedRequest> = attempts
            .iter()
            .enumerate()
            .map(|(i, &a)| ClaimedRequest { id: format!("r{i}"), attempts: a, max_attempts: 3 })
            .collect();
        let mut planner = Planner::new(status, &queue, &Config::default(), NOW);
        let mut outcomes = outcomes.into_iter().map(|code| {
            music_core::classify::classify_body(code, "m")
        });
        let mut next_outcome = || outcomes.next().unwrap_or_else(Classification::ok);
        let mut grants = grants.into_iter();
        let facts = CallFacts::default();
        let mut now = NOW;
        let mut claimed: Vec<String> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        let mut steps = 0;
        loop {
            steps += 1;
            prop_assert!(steps < 200, "the run must end");
            match planner.next(now) {
                Step::Probe => planner.record_probe(&next_outcome(), &facts, now),
                Step::ClaimPolls => planner.record_polls(vec![]),
                Step::Read { .. } => prop_assert!(false, "nothing was due for a read"),
                Step::Claim { limit } => {
                    let take = waiting.len().min(limit as usize);
                    let batch: Vec<ClaimedRequest> = waiting.drain(..take).collect();
                    claimed.extend(batch.iter().map(|r| r.id.clone()));
                    planner.record_claim(batch);
                }
                Step::TakeToken => {
                    let granted = grants.next().unwrap_or(true);
                    planner.record_token(granted, 1_500, now);
                }
                Step::Wait { until_ms } => {
                    prop_assert!(until_ms > now);
                    now = until_ms;
                }
                Step::Submit { id } => {
                    planner.record_submit(&id, &next_outcome(), &facts, now, seed);
                    seen.push(id);
                    now += 100;
                }
                Step::Defer { ids, .. } => seen.extend(ids),
                Step::Stop { .. } => break,
            }
        }
        if queue_paused {
            prop_assert!(claimed.is_empty(), "a paused queue claims nothing");
        }
        seen.sort();
        claimed.sort();
        prop_assert_eq!(seen, claimed);
    }
}
