//! Every RPC the worker and the admin panel call, through the gateway
//! (`/rest/v1/rpc/…`) with the service key, so each runs in a real API
//! session: the hosted role timeouts and the safeupdate rule (an UPDATE or
//! DELETE without WHERE fails, even inside a function) apply. Run on a day a
//! statistics roll-up is due, since the roll-up only runs then.

use anyhow::Result;
use serde_json::{json, Value};
use stack_tests::sql::{self, two_clips};
use stack_tests::StackEnv;
use uuid::Uuid;

/// The service key's view of the SQL API, as the worker and the panel call it.
struct Api {
    env: StackEnv,
    http: reqwest::Client,
}

impl Api {
    /// `POST /rest/v1/rpc/<name>`; panics unless the answer is 2xx.
    async fn call(&self, name: &str, args: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/rest/v1/rpc/{name}", self.env.url))
            .header("apikey", &self.env.service_role_key)
            .json(&args)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert!(status.is_success(), "{name}: {status} {body}");
        serde_json::from_str(&body).unwrap_or(Value::Null)
    }

    /// A transition: it must have changed exactly one row; returns it.
    async fn transition(&self, name: &str, args: Value) -> Value {
        let rows = self.call(name, args).await;
        assert_eq!(
            rows.as_array().map(Vec::len),
            Some(1),
            "{name} changed no row: {rows}"
        );
        rows[0].clone()
    }
}

fn field<'a>(row: &'a Value, name: &str) -> &'a str {
    row[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {row}"))
}

/// Makes the daily roll-up due: the horizon goes back a microsecond before
/// the instant the roll-up would move it to, so it runs and sums (almost
/// certainly) nothing that is already summed. Returns that instant.
async fn make_rollup_due(db: &tokio_postgres::Client) -> Result<chrono::DateTime<chrono::Utc>> {
    let row = db
        .query_one(
            "with target as (
               select date_trunc('day', (now() - interval '1 hour') at time zone 'UTC')
                        at time zone 'UTC' as horizon
             )
             update public.music_queue_stats_horizon h
                set horizon = least(h.horizon, t.horizon - interval '1 microsecond')
               from target t
              where h.id
             returning t.horizon",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

#[tokio::test]
async fn every_worker_and_panel_rpc_answers_through_the_api() -> Result<()> {
    let env = StackEnv::from_env()?;
    let db = env.db().await?;
    let api = Api {
        env: env.clone(),
        http: reqwest::Client::new(),
    };
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let worker = format!("api-sessions-{}", Uuid::new_v4().simple());
    let bucket = format!("t-{}", &Uuid::new_v4().simple().to_string()[..12]);

    // Five requests: one goes all the way, the others retry, defer, fail,
    // and one loses its submit answer (callback, then a stuck resubmit).
    let mut ids = Vec::new();
    for emotion in ["joy", "calm", "sad", "anger", "anxious"] {
        let ticket = api
            .call(
                "enqueue_music_request",
                json!({ "p_emotion": emotion, "p_user_id": user, "p_queue": queue }),
            )
            .await;
        ids.push(field(&ticket, "id").to_string());
    }

    // The run that does all this, as the worker records it.
    let run = api
        .call(
            "start_music_worker_run",
            json!({ "p_trigger": "manual", "p_worker_id": worker, "p_queue": queue }),
        )
        .await;

    // The provider side: the probe lease, status, rate limit.
    let lease = api
        .call("take_suno_probe_lease", json!({ "p_ttl_seconds": 1 }))
        .await;
    assert!(lease.is_boolean(), "{lease}");
    api.call(
        "record_suno_status_check",
        json!({ "p_state": "up", "p_response_time_ms": 120, "p_http_status": 200 }),
    )
    .await;
    api.call("get_suno_api_status", json!({})).await;
    api.call(
        "set_rate_limit",
        json!({ "p_bucket": bucket, "p_capacity": 20, "p_window_seconds": 10 }),
    )
    .await;
    let token = api
        .call("take_rate_token", json!({ "p_bucket": bucket }))
        .await;
    assert_eq!(token[0]["granted"], true, "{token}");

    // The worker's claims and transitions.
    let claimed = api
        .call(
            "claim_music_requests",
            json!({ "p_worker_id": worker, "p_limit": 3, "p_lease_seconds": 120, "p_queue": queue }),
        )
        .await;
    let claimed = claimed.as_array().unwrap().clone();
    assert_eq!(claimed.len(), 3, "{claimed:?}");
    let claimed_ids: Vec<&str> = claimed.iter().map(|row| field(row, "id")).collect();
    let mut unclaimed = ids.iter().filter(|id| !claimed_ids.contains(&id.as_str()));
    let (direct_id, lost_id) = (unclaimed.next().unwrap(), unclaimed.next().unwrap());
    let direct = api
        .transition(
            "claim_music_request",
            json!({ "p_request_id": direct_id, "p_worker_id": worker, "p_lease_seconds": 120 }),
        )
        .await;
    let lease = |row: &Value| json!({ "p_request_id": field(row, "id"), "p_lease_token": field(row, "lease_token") });
    let with = |row: &Value, extra: Value| {
        let mut args = lease(row);
        args.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        args
    };

    let (done, retried, deferred) = (&claimed[0], &claimed[1], &claimed[2]);
    api.transition(
        "mark_music_request_submitted",
        with(
            done,
            json!({ "p_suno_task_id": format!("task-{}", Uuid::new_v4()), "p_poll_after_seconds": 1 }),
        ),
    )
    .await;
    api.transition(
        "record_music_request_progress",
        with(done, json!({ "p_provider_status": "TEXT_SUCCESS" })),
    )
    .await;
    api.transition(
        "wake_music_request",
        json!({ "p_request_id": field(done, "id"), "p_callback_token": field(done, "callback_token") }),
    )
    .await;
    api.transition(
        "schedule_music_poll",
        with(done, json!({ "p_next_poll_seconds": 1 })),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let polls = api
        .call(
            "claim_music_polls",
            json!({ "p_worker_id": worker, "p_limit": 10, "p_interval_seconds": 20, "p_queue": queue }),
        )
        .await;
    assert_eq!(polls.as_array().map(Vec::len), Some(1), "{polls}");
    api.transition(
        "complete_music_request",
        with(done, json!({ "p_result": two_clips("api") })),
    )
    .await;
    api.transition(
        "retry_music_request",
        with(
            retried,
            json!({ "p_delay_seconds": 60, "p_error_code": "http_503", "p_error_message": "busy" }),
        ),
    )
    .await;
    api.transition(
        "defer_music_request",
        with(deferred, json!({ "p_delay_seconds": 30 })),
    )
    .await;
    api.transition(
        "fail_music_request",
        with(
            &direct,
            json!({ "p_error_code": "bad_request", "p_error_message": "refused" }),
        ),
    )
    .await;
    api.call("expire_music_requests", json!({ "p_queue": queue }))
        .await;

    // A submit whose answer was lost: wait for the callback, which attaches
    // the task; the task then looks stuck and is resubmitted once.
    let lost = api
        .transition(
            "claim_music_request",
            json!({ "p_request_id": lost_id, "p_worker_id": worker, "p_lease_seconds": 120 }),
        )
        .await;
    api.transition(
        "await_music_callback",
        with(&lost, json!({ "p_wait_seconds": 60 })),
    )
    .await;
    api.transition(
        "attach_music_task",
        json!({
            "p_request_id": lost_id,
            "p_callback_token": field(&lost, "callback_token"),
            "p_suno_task_id": format!("task-{}", Uuid::new_v4()),
        }),
    )
    .await;
    api.transition(
        "resubmit_stuck_music_request",
        with(&lost, json!({ "p_error_message": "stuck" })),
    )
    .await;

    // Maintenance on a day the roll-up is due: the roll-up's UPDATE of the
    // horizon runs inside the API session.
    let target = make_rollup_due(&db).await?;
    let maintenance = api.call("music_queue_maintenance", json!({})).await;
    assert!(maintenance["rolled_up_days"].is_number(), "{maintenance}");
    assert!(maintenance["abandoned_runs"].is_number(), "{maintenance}");
    let horizon: chrono::DateTime<chrono::Utc> = db
        .query_one("select horizon from public.music_queue_stats_horizon", &[])
        .await?
        .get(0);
    assert_eq!(horizon, target, "the roll-up moved the horizon");

    // The panel: retry and cancel, pause and resume, statistics.
    api.transition(
        "admin_retry_music_request",
        json!({ "p_request_id": field(&direct, "id") }),
    )
    .await;
    api.transition(
        "admin_cancel_music_request",
        json!({ "p_request_id": field(&direct, "id") }),
    )
    .await;
    api.call(
        "pause_music_queue",
        json!({ "p_reason": "api sessions test", "p_queue": queue }),
    )
    .await;
    api.call("resume_music_queue", json!({ "p_queue": queue }))
        .await;
    api.call(
        "configure_music_queue",
        json!({ "p_queue": queue, "p_batch_size": 4, "p_submit_spacing_ms": 1500, "p_max_per_run": 5 }),
    )
    .await;
    let stats = api
        .call("music_queue_stats", json!({ "p_queue": queue }))
        .await;
    assert_eq!(stats["counts"]["total"], 5, "{stats}");
    api.call(
        "music_queue_timeseries",
        json!({ "p_hours": 24, "p_queue": queue }),
    )
    .await;

    // The run's end: the alert check (one completion, one cancellation: not
    // due), then the summary.
    let alert = api
        .call("record_music_alert_if_due", json!({ "p_queue": queue }))
        .await;
    assert_eq!(alert, json!([]), "{alert}");
    api.transition(
        "finish_music_worker_run",
        json!({ "p_run_id": field(&run, "id"), "p_summary": { "claimed": 5, "duration_ms": 1300 } }),
    )
    .await;

    db.execute(
        "delete from public.music_rate_limits where name = $1",
        &[&bucket],
    )
    .await?;
    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await
}
