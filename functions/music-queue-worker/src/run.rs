//! One worker run: the core's [`Planner`] decides every step, this file carries it out with
//! one RPC or one provider call each (the table in [`music_core::plan`]), writes every
//! decision through its SQL transition, and records every provider call as a status check.
//!
//! A run is recorded from start (`start_music_worker_run`) to finish
//! (`finish_music_worker_run` with its [`RunSummary`]), then `record_music_alert_if_due`
//! may raise the failure-rate alert, which is posted to `ALERT_WEBHOOK_URL` when set.
//! Maintenance (timed-out tasks, expired leases) is left to its own cron job.
//! A run started by a callback only reads the due tasks: it claims nothing.

use std::collections::HashMap;

use music_core::alert::{webhook_body, Alert};
use music_core::classify::Classification;
use music_core::health::ProviderStatus;
use music_core::plan::{DeferReason, RequestDecision, Step};
use music_core::poll::{decide_poll, PollDecision, SubmittedTask};
use music_core::run::{RunSummary, RunTrigger};
use music_core::suno::{parse_generate, Endpoint, SunoApi};
use music_core::time::delay_seconds;
use music_core::{ApiError, ClaimedRequest, ErrorCode, GenerateParams, Planner, QueueSettings};
use music_edge::runtime::{new_id, now_ms, random_seed, sleep};
use music_edge::{fetch, provider, Env, Log, Store};
use serde_json::{json, Value};

/// A recorded run, ready to work.
pub struct Run {
    id: String,
    worker_id: String,
    trigger: RunTrigger,
    env: Env,
    store: Store,
    log: Log,
}

/// Why a run stopped early.
type Failure = (ApiError, String);

impl Run {
    /// Records the start of a run started by `trigger`.
    pub async fn start(cx: music_edge::Context, trigger: RunTrigger) -> Result<Run, ApiError> {
        let worker_id = format!("music-queue-worker/{}", new_id());
        let args = json!({"p_trigger": trigger.as_str(), "p_worker_id": worker_id});
        let row = cx.store.rpc("start_music_worker_run", &args).await?;
        let id = row["id"].as_str().ok_or(ApiError::Internal)?.to_owned();
        cx.log.info(
            "run_started",
            json!({"run_id": id, "trigger": trigger.as_str()}),
        );
        Ok(Run {
            id,
            worker_id,
            trigger,
            env: cx.env,
            store: cx.store,
            log: cx.log,
        })
    }

    /// The run's id (`music_worker_runs.id`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Does the run, records how it ended and raises a due alert.
    pub async fn work(self) -> Result<RunSummary, ApiError> {
        let started = now_ms();
        let mut summary = RunSummary::default();
        let outcome = self.steps(&mut summary).await;
        summary.duration_ms = u64::try_from(now_ms() - started).unwrap_or(0);
        let error = outcome.as_ref().err().map(|(_, message)| message.clone());
        let finish = json!({"p_run_id": self.id, "p_summary": summary, "p_error": error});
        let finished = self.store.rpc("finish_music_worker_run", &finish).await;
        if let Err(error) = &finished {
            // The caller sees only the mapped error; the details are for the logs.
            self.log.warn(
                "run_finish_failed",
                json!({"run_id": self.id, "message": error.to_string()}),
            );
        }
        self.log.info(
            "run_finished",
            json!({"run_id": self.id, "summary": summary, "error": error}),
        );
        self.alert_if_due().await;
        outcome.map_err(|(api, _)| api)?;
        finished?;
        Ok(summary)
    }

    async fn steps(&self, summary: &mut RunSummary) -> Result<(), Failure> {
        let config = &self.env.config;
        let api = config.suno_api().map_err(|e| internal(&e))?;
        let status_row = self.rpc("get_suno_api_status", json!({})).await?;
        let status = ProviderStatus::from_row(&status_row).map_err(|e| internal(&e))?;
        let queue_row = self
            .store
            .row("music_queues", "name", "default")
            .await
            .map_err(|e| store_failure(e.into()))?;
        let queue = QueueSettings::from_row(&queue_row).map_err(|e| internal(&e))?;
        let mut plan = Planner::new(status, &queue, config, now_ms());
        let mut rows: HashMap<String, Value> = HashMap::new();
        loop {
            let step = plan.next(now_ms());
            match step {
                Step::Probe => {
                    let probe = provider::probe(config).await.map_err(|e| internal(&e))?;
                    plan.record_probe(&probe.outcome, &probe.facts, now_ms());
                }
                Step::ClaimPolls => {
                    let args = json!({"p_worker_id": self.worker_id,
                                      "p_interval_seconds": config.poll_interval_ms / 1000});
                    let claimed = self.rpc("claim_music_polls", args).await?;
                    plan.record_polls(remember(&mut rows, &claimed));
                }
                Step::Read { id } => {
                    let row = rows.get(&id).cloned().unwrap_or(Value::Null);
                    let (call, facts) = self.read(&api, &row, summary).await?;
                    plan.record_read(&call, &facts, now_ms());
                }
                Step::Claim { .. } if !self.trigger.claims() => {
                    summary.stopped(music_core::plan::StopReason::Drained);
                    return Ok(());
                }
                Step::Claim { limit } => {
                    let args = json!({"p_worker_id": self.worker_id, "p_limit": limit,
                                      "p_lease_seconds": config.lease_seconds});
                    let claimed = self.rpc("claim_music_requests", args).await?;
                    let ids = remember(&mut rows, &claimed);
                    summary.claimed += ids.len() as u32;
                    let requests = ids
                        .iter()
                        .filter_map(|id| ClaimedRequest::from_row(&rows[id]))
                        .collect();
                    plan.record_claim(requests);
                }
                Step::TakeToken => {
                    let token = self.rpc("take_rate_token", json!({})).await?;
                    let granted = token[0]["granted"] == true;
                    let wait_ms = token[0]["wait_ms"].as_u64().unwrap_or(1_000);
                    plan.record_token(granted, wait_ms, now_ms());
                }
                Step::Submit { id } => {
                    let row = rows.get(&id).cloned().unwrap_or(Value::Null);
                    self.submit(&api, &mut plan, &row, summary).await?;
                }
                Step::Wait { until_ms } => {
                    sleep(u64::try_from(until_ms - now_ms()).unwrap_or(0)).await;
                }
                Step::Defer {
                    ids,
                    until_ms,
                    reason,
                } => {
                    for id in ids {
                        let row = rows.get(&id).cloned().unwrap_or(Value::Null);
                        let reason = defer_reason(reason);
                        self.defer(&row, until_ms, reason, summary).await?;
                    }
                }
                Step::Stop { reason } => {
                    summary.stopped(reason);
                    self.record_checks(&mut plan).await?;
                    return Ok(());
                }
            }
            self.record_checks(&mut plan).await?;
        }
    }

    /// Reads one submitted task and writes what [`decide_poll`] makes of it; the call's own
    /// outcome and facts, for the planner.
    async fn read(
        &self,
        api: &SunoApi,
        row: &Value,
        summary: &mut RunSummary,
    ) -> Result<(Classification, music_core::health::CallFacts), Failure> {
        let config = &self.env.config;
        let task = SubmittedTask::from_row(row).map_err(|e| internal_text(&e.to_string()))?;
        let task_id = row["suno_task_id"].as_str().unwrap_or_default();
        let sent = fetch::send(&api.record_info(task_id), config.suno_request_timeout_ms).await;
        let result = sent.reply.read_task();
        let now = now_ms();
        let decision = decide_poll(&task, &result, now, random_seed(), config);
        self.write_poll(row, &decision, now, summary).await?;
        Ok((
            result.call_outcome(),
            sent.reply.facts(sent.elapsed_ms, None),
        ))
    }

    /// The transition of one poll decision (the table in [`music_core::poll`]).
    async fn write_poll(
        &self,
        row: &Value,
        decision: &PollDecision,
        now: i64,
        summary: &mut RunSummary,
    ) -> Result<(), Failure> {
        let lease = lease(row);
        let schedule = |at_ms: i64, reread: bool| {
            json!({"p_request_id": row["id"], "p_lease_token": lease,
                   "p_next_poll_seconds": delay_seconds(at_ms, now), "p_reread": reread})
        };
        match decision {
            PollDecision::Complete { clips } => {
                let args = json!({"p_request_id": row["id"], "p_lease_token": lease,
                                  "p_result": {"clips": clips}});
                if !rows_of(&self.rpc("complete_music_request", args).await?).is_empty() {
                    summary.completed += 1;
                }
            }
            PollDecision::Progress {
                status,
                clips,
                next_poll_at_ms,
            } => {
                let args = json!({"p_request_id": row["id"], "p_lease_token": lease,
                                  "p_provider_status": status.as_str(),
                                  "p_detail": {"clips": clips}});
                self.rpc("record_music_request_progress", args).await?;
                self.rpc("schedule_music_poll", schedule(*next_poll_at_ms, false))
                    .await?;
            }
            PollDecision::Reread { at_ms, .. } => {
                self.rpc("schedule_music_poll", schedule(*at_ms, true))
                    .await?;
            }
            PollDecision::Hold { until_ms, .. } => {
                self.rpc("schedule_music_poll", schedule(*until_ms, false))
                    .await?;
            }
            PollDecision::Retry {
                run_at_ms,
                code,
                message,
            } => self.retry(row, *run_at_ms, code, message, summary).await?,
            PollDecision::Resubmit { message, .. } => {
                let args = json!({"p_request_id": row["id"], "p_lease_token": lease,
                                  "p_error_message": message});
                if !rows_of(&self.rpc("resubmit_stuck_music_request", args).await?).is_empty() {
                    summary.retried += 1;
                }
            }
            PollDecision::Fail { code, message } => self.fail(row, code, message, summary).await?,
        }
        Ok(())
    }

    /// Submits one claimed request, reports the outcome to the planner and writes its
    /// decision.
    async fn submit(
        &self,
        api: &SunoApi,
        plan: &mut Planner,
        row: &Value,
        summary: &mut RunSummary,
    ) -> Result<(), Failure> {
        let config = &self.env.config;
        let id = row["id"].as_str().unwrap_or_default();
        let params = match GenerateParams::from_stored(row, config.suno_model) {
            Ok(params) => params,
            Err(error) => {
                return self
                    .fail(row, error.code(), &error.to_string(), summary)
                    .await
            }
        };
        let token = row["callback_token"].as_str().unwrap_or_default();
        let callback = config.callback_url(id, token).map_err(|e| internal(&e))?;
        let request = api.generate(&params, &callback);
        let sent = fetch::send(&request, config.suno_request_timeout_ms).await;
        let task_id = sent.reply.read(Endpoint::Generate, parse_generate);
        let outcome = task_id
            .as_ref()
            .err()
            .cloned()
            .unwrap_or_else(Classification::ok);
        let facts = sent.reply.facts(sent.elapsed_ms, None);
        let now = now_ms();
        let decision = plan.record_submit(id, &outcome, &facts, now, random_seed());
        self.log.info(
            "submitted",
            json!({"request": id, "code": outcome.code, "http_status": facts.http_status,
                   "ms": sent.elapsed_ms}),
        );
        let lease = lease(row);
        match decision {
            RequestDecision::Submitted => {
                let args = json!({"p_request_id": id, "p_lease_token": lease,
                                  "p_suno_task_id": task_id.unwrap_or_default(),
                                  "p_model": params.model.as_str(),
                                  "p_poll_after_seconds": config.poll_interval_ms / 1000});
                self.rpc("mark_music_request_submitted", args).await?;
                summary.submitted += 1;
            }
            RequestDecision::Retry {
                run_at_ms,
                code,
                message,
            } => self.retry(row, run_at_ms, code, &message, summary).await?,
            RequestDecision::Defer { until_ms, code, .. } => {
                self.defer(row, until_ms, code, summary).await?
            }
            RequestDecision::AwaitCallback { until_ms, .. } => {
                let args = json!({"p_request_id": id, "p_lease_token": lease,
                                  "p_wait_seconds": delay_seconds(until_ms, now).max(1)});
                self.rpc("await_music_callback", args).await?;
            }
            RequestDecision::Fail { code, message } => {
                self.fail(row, code, &message, summary).await?
            }
        }
        Ok(())
    }

    async fn retry(
        &self,
        row: &Value,
        run_at_ms: i64,
        code: &str,
        message: &str,
        summary: &mut RunSummary,
    ) -> Result<(), Failure> {
        let args = json!({"p_request_id": row["id"], "p_lease_token": lease(row),
                          "p_delay_seconds": delay_seconds(run_at_ms, now_ms()),
                          "p_error_code": code, "p_error_message": message});
        // With no attempt left the SQL fails the request (with a fallback) instead.
        for done in rows_of(&self.rpc("retry_music_request", args).await?) {
            if done["status"] == "failed" {
                count_failure(&done, summary);
            } else {
                summary.retried += 1;
            }
        }
        Ok(())
    }

    async fn defer(
        &self,
        row: &Value,
        until_ms: i64,
        reason: &str,
        summary: &mut RunSummary,
    ) -> Result<(), Failure> {
        let args = json!({"p_request_id": row["id"], "p_lease_token": lease(row),
                          "p_delay_seconds": delay_seconds(until_ms, now_ms()),
                          "p_reason": reason});
        summary.deferred += rows_of(&self.rpc("defer_music_request", args).await?).len() as u32;
        Ok(())
    }

    async fn fail(
        &self,
        row: &Value,
        code: &str,
        message: &str,
        summary: &mut RunSummary,
    ) -> Result<(), Failure> {
        let args = json!({"p_request_id": row["id"], "p_lease_token": lease(row),
                          "p_error_code": code, "p_error_message": message});
        for done in rows_of(&self.rpc("fail_music_request", args).await?) {
            count_failure(&done, summary);
        }
        Ok(())
    }

    /// Every provider call of the run is a check of the provider's health, in order.
    async fn record_checks(&self, plan: &mut Planner) -> Result<(), Failure> {
        for check in plan.take_checks() {
            let args = serde_json::to_value(&check).map_err(|e| internal_text(&e.to_string()))?;
            self.rpc("record_suno_status_check", args).await?;
        }
        Ok(())
    }

    /// Raises the failure-rate alert when due and posts it to `ALERT_WEBHOOK_URL`; a failure
    /// here is logged and never fails the run (the alert stays recorded for the panel).
    async fn alert_if_due(&self) {
        let rows = match self
            .store
            .rpc("record_music_alert_if_due", &json!({}))
            .await
        {
            Ok(rows) => rows,
            Err(error) => {
                return self
                    .log
                    .warn("alert_check_failed", json!({"message": error.to_string()}))
            }
        };
        let Some(row) = rows.as_array().and_then(|rows| rows.first()) else {
            return;
        };
        let alert = match Alert::from_row(row) {
            Ok(alert) => alert,
            Err(error) => {
                return self
                    .log
                    .warn("alert_unreadable", json!({"code": error.code()}))
            }
        };
        self.log.warn(
            "alert",
            json!({"kind": alert.kind, "message": alert.message}),
        );
        let Some(url) = &self.env.alert_webhook_url else {
            return;
        };
        let body = webhook_body(&alert).to_string();
        let headers = [("content-type", "application/json")];
        let sent = fetch::send_raw("POST", url, &headers, Some(&body), 10_000).await;
        self.log.info(
            "alert_posted",
            json!({"status": sent.reply.http_status(), "ms": sent.elapsed_ms}),
        );
    }

    async fn rpc(&self, function: &str, args: Value) -> Result<Value, Failure> {
        self.store.rpc(function, &args).await.map_err(|error| {
            let message = error.to_string();
            self.log.error(
                "rpc_failed",
                json!({"function": function, "message": message}),
            );
            (ApiError::from(error), message)
        })
    }
}

/// Keeps each returned row by id; the ids in order.
fn remember(rows: &mut HashMap<String, Value>, returned: &Value) -> Vec<String> {
    rows_of(returned)
        .into_iter()
        .filter_map(|row| {
            let id = row["id"].as_str()?.to_owned();
            rows.insert(id.clone(), row);
            Some(id)
        })
        .collect()
}

fn rows_of(answer: &Value) -> Vec<Value> {
    answer.as_array().cloned().unwrap_or_default()
}

fn lease(row: &Value) -> Value {
    row["lease_token"].clone()
}

fn count_failure(done: &Value, summary: &mut RunSummary) {
    summary.failed += 1;
    if !done["fallback_track_id"].is_null() {
        summary.fallbacks += 1;
    }
}

fn defer_reason(reason: DeferReason) -> &'static str {
    match reason {
        DeferReason::CircuitOpen => "circuit_open",
        DeferReason::RateLimited => "rate_limited",
        DeferReason::Maintenance => "maintenance",
        DeferReason::Paused => "paused",
        DeferReason::OutOfTime => "out_of_time",
    }
}

fn internal(error: &impl ErrorCode) -> Failure {
    (ApiError::Internal, format!("{}: {error}", error.code()))
}

fn internal_text(message: &str) -> Failure {
    (ApiError::Internal, message.to_owned())
}

fn store_failure(error: ApiError) -> Failure {
    let message = error.to_string();
    (error, message)
}
