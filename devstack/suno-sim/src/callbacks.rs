//! A task's life in the background: one task per submit walks its script on the simulated
//! clock, applies side effects (the 531 refund) and POSTs the callbacks. Each stage is
//! delivered in its own task, so a slow or failing receiver delays only that stage.
//! Options are read when a stage is reached, so changing them affects running tasks.

use crate::config::CallbackOptions;
use crate::recorder::mask_url_token;
use crate::render;
use crate::state::{CallbackRecord, Sim};
use crate::timeline::Phase;
use serde_json::Value;
use std::time::Duration;

/// Starts the life of a task that was just created.
pub fn start(sim: &Sim, task_id: &str) {
    let (sim2, id) = (sim.clone(), task_id.to_owned());
    sim.spawn(async move { live(sim2, id).await });
}

async fn live(sim: Sim, task_id: String) {
    let Some((created, script)) = sim
        .lock()
        .tasks
        .get(&task_id)
        .map(|t| (t.created_sim, t.script.clone()))
    else {
        return;
    };
    // With `reorder`, `first` waits here and goes out right after `complete`.
    let mut held: Option<Phase> = None;
    for step in script {
        sim.sleep_until_sim(created + step.at).await;
        if let Phase::Failed(f) = step.phase {
            if f.refunds {
                refund(&sim, &task_id);
            }
        }
        let Some(stage) = step.phase.stage() else {
            continue;
        };
        let opts = sim.lock().settings.callbacks.clone();
        if !opts.enabled {
            continue;
        }
        if opts.reorder && stage == "first" {
            held = Some(step.phase);
            continue;
        }
        let mut batch = vec![step.phase];
        if stage == "complete" {
            batch.extend(held.take());
        }
        spawn_batch(&sim, &task_id, batch);
        if let (true, Some(after)) = (is_final(stage), opts.late_duplicate_secs) {
            spawn_late_duplicate(&sim, &task_id, step.phase, created + step.at + after);
        }
    }
    // The task ended without `complete`: a held `first` is still owed.
    if let Some(phase) = held {
        spawn_batch(&sim, &task_id, vec![phase]);
    }
}

/// The stages after which a task sends nothing more.
fn is_final(stage: &str) -> bool {
    matches!(stage, "complete" | "error")
}

/// Delivers `phase` once more at simulated time `at`, unless callbacks are off by then.
fn spawn_late_duplicate(sim: &Sim, task_id: &str, phase: Phase, at: f64) {
    let (sim2, id) = (sim.clone(), task_id.to_owned());
    sim.spawn(async move {
        sim2.sleep_until_sim(at).await;
        let opts = sim2.lock().settings.callbacks.clone();
        if opts.enabled {
            deliver(&sim2, &id, phase, &opts, true).await;
        }
    });
}

fn refund(sim: &Sim, task_id: &str) {
    let mut st = sim.lock();
    let Some(task) = st.tasks.get_mut(task_id) else {
        return;
    };
    if task.refunded {
        return;
    }
    task.refunded = true;
    let amount = task.credits_charged;
    st.credits += amount;
}

/// Delivers `phases` one after the other (order matters for `reorder`), each twice when
/// its stage is in `duplicate`.
fn spawn_batch(sim: &Sim, task_id: &str, phases: Vec<Phase>) {
    let (sim2, id) = (sim.clone(), task_id.to_owned());
    sim.spawn(async move {
        for phase in phases {
            let opts = sim2.lock().settings.callbacks.clone();
            let stage = phase.stage().unwrap_or("?");
            let times = if opts.duplicate.iter().any(|s| s == stage) {
                2
            } else {
                1
            };
            for _ in 0..times {
                deliver(&sim2, &id, phase, &opts, false).await;
            }
        }
    });
}

/// Up to `max_attempts` POSTs; any 2xx ends it. Returns whether it got through. `late`
/// marks the late duplicate in the log.
async fn deliver(
    sim: &Sim,
    task_id: &str,
    phase: Phase,
    opts: &CallbackOptions,
    late: bool,
) -> bool {
    let Some((url, body)) = payload(sim, task_id, phase, opts) else {
        return false;
    };
    let stage = phase.stage().unwrap_or("?");
    for attempt in 1..=opts.max_attempts {
        let result = post(sim, &url, &body, opts.timeout_secs).await;
        let delivered = matches!(result, Ok(status) if (200..300).contains(&status));
        sim.lock().push_callback(CallbackRecord {
            seq: 0,
            at_ms: 0,
            task_id: task_id.to_owned(),
            stage,
            attempt,
            late,
            url: mask_url_token(&url),
            delivered,
            http_status: result.as_ref().ok().copied(),
            error: result.err(),
            body: body.clone(),
        });
        if delivered {
            return true;
        }
        if attempt < opts.max_attempts {
            let at = sim.lock().now() + opts.retry_delay_secs;
            sim.sleep_until_sim(at).await;
        }
    }
    if stage == "complete" && opts.mark_callback_exception && !late {
        if let Some(task) = sim.lock().tasks.get_mut(task_id) {
            task.delivery_failed = true;
        }
    }
    false
}

fn payload(
    sim: &Sim,
    task_id: &str,
    phase: Phase,
    opts: &CallbackOptions,
) -> Option<(String, Value)> {
    let st = sim.lock();
    let task = st.tasks.get(task_id)?;
    let base = &st.settings.public_base_url;
    let body = render::callback_body(task, phase, base, &opts.task_id_field)?;
    Some((task.params.callback_url.clone(), body))
}

/// The HTTP status, or the transport error as text.
async fn post(sim: &Sim, url: &str, body: &Value, timeout_secs: f64) -> Result<u16, String> {
    let timeout = Duration::try_from_secs_f64(timeout_secs).unwrap_or(Duration::from_secs(15));
    sim.http()
        .post(url)
        .timeout(timeout)
        .json(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| error_text(&e))
}

/// reqwest's top-level message hides the cause ("error sending request"); keep the chain.
fn error_text(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
