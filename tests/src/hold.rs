//! Holding the shared project stack still for a `fault_*` test, and putting it back.
//!
//! A fault test floods or feeds garbage to the real functions, so the cron jobs must not
//! start runs that claim or probe in the middle of it, and the `default` queue (the one
//! `emotion-music-ai` fills) gets the settings the test needs. [`Hold::start`] saves what it
//! changes; [`Hold::release`] puts it back, so the tests after it (the browser tests) find
//! the stack as it was.

use anyhow::{Context, Result};
use serde_json::Value;
use tokio_postgres::Client;

use crate::functions::set_cron_job_active;

/// The cron jobs that call the functions.
pub const FUNCTION_CRON_JOBS: [&str; 2] = [
    "music-queue-worker-every-minute",
    "suno-status-check-every-minute",
];

/// How a test wants the `default` queue while it runs.
#[derive(Debug, Clone, Copy)]
pub struct QueueSettings {
    /// `music_queues.paused`: a paused queue sends nothing to the provider.
    pub paused: bool,
    /// `music_queues.max_pending_per_user`.
    pub max_pending_per_user: i32,
}

/// What [`Hold::start`] changed, as it found it.
pub struct Hold {
    queue: Value,
    jobs: Vec<(String, bool)>,
}

impl Hold {
    /// Turns the function cron jobs off, empties the `default` queue (the function tests'
    /// scratch space, as their own setup does), applies `settings` and gives the shared
    /// token bucket back.
    pub async fn start(db: &Client, settings: QueueSettings) -> Result<Hold> {
        let queue: Value = db
            .query_one(
                "select to_jsonb(q) from public.music_queues q where name = 'default'",
                &[],
            )
            .await?
            .get(0);
        let mut jobs = Vec::new();
        for job in FUNCTION_CRON_JOBS {
            let row = db
                .query_one("select active from cron.job where jobname = $1", &[&job])
                .await
                .with_context(|| format!("cron job {job}"))?;
            jobs.push((job.to_owned(), row.get(0)));
            set_cron_job_active(db, job, false).await?;
        }
        db.batch_execute(
            "delete from public.music_generation_queue where queue = 'default';
             update public.music_rate_limits set taken = '{}' where name = 'suno_submit';",
        )
        .await?;
        db.execute(
            "update public.music_queues set paused = $1, max_pending_per_user = $2
              where name = 'default'",
            &[&settings.paused, &settings.max_pending_per_user],
        )
        .await?;
        Ok(Hold { queue, jobs })
    }

    /// Puts the queue's settings and the cron jobs back as [`Hold::start`] found them.
    pub async fn release(&self, db: &Client) -> Result<()> {
        db.execute(
            "update public.music_queues q
                set (paused, paused_at, paused_by, pause_reason, max_pending_per_user) =
                    (s.paused, s.paused_at, s.paused_by, s.pause_reason, s.max_pending_per_user)
               from jsonb_populate_record(null::public.music_queues, $1) s
              where q.name = 'default'",
            &[&self.queue],
        )
        .await?;
        for (job, active) in &self.jobs {
            set_cron_job_active(db, job, *active).await?;
        }
        Ok(())
    }
}
