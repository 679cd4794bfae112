//! Breaking parts of the stack on purpose, for the `fault_*` tests: the process of a part
//! (from the list the supervisor keeps in `run/parts.json`), signals to it, and outages held
//! open with the supervisor's hold files.
//!
//! The stack starts a stopped database or PostgREST again by itself, as the hosted platform
//! does; a [`Hold`] keeps it down meanwhile, so a test decides how long an outage lasts.
//! `DEVSTACK_STATE_DIR` comes from `devstack env`, like the rest of the stack's coordinates.

use std::future::Future;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// The stack's state folder (logs, `run/`).
pub fn state_dir() -> Result<PathBuf> {
    let dir = std::env::var("DEVSTACK_STATE_DIR")
        .context("DEVSTACK_STATE_DIR is not set: run the tests through scripts/test")?;
    Ok(PathBuf::from(dir))
}

/// The process id of a part (`postgres`, `postgrest`, `function:<name>`) as it runs now.
pub fn part_pid(part: &str) -> Result<i32> {
    let file = state_dir()?.join("run/parts.json");
    let parts: Value = serde_json::from_slice(
        &std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?,
    )?;
    let pid = parts
        .as_array()
        .into_iter()
        .flatten()
        .find(|entry| entry["name"] == part)
        .and_then(|entry| entry["pid"].as_i64())
        .with_context(|| format!("no pid for {part} in {}", file.display()))?;
    Ok(i32::try_from(pid)?)
}

/// Sends `signal` (`KILL`, `INT`, `TERM`, ...) to a process.
pub fn send_signal(pid: i32, signal: &str) -> Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .context("running kill")?;
    anyhow::ensure!(status.success(), "kill -{signal} {pid} failed");
    Ok(())
}

/// Whether a process with this id still runs (a zombie does not count).
pub fn is_running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}

/// Keeps a part down once it stops, until dropped (or [`Hold::release`]d): the
/// supervisor does not start it again while the hold file exists.
pub struct Hold {
    file: PathBuf,
}

impl Hold {
    /// Holds `part` (`postgres` or `postgrest`).
    pub fn new(part: &str) -> Result<Hold> {
        let file = state_dir()?.join(format!("run/hold-{part}"));
        std::fs::write(&file, "held by a fault test\n")
            .with_context(|| format!("writing {}", file.display()))?;
        Ok(Hold { file })
    }

    /// Lets the supervisor start the part again.
    pub fn release(self) {}
}

impl Drop for Hold {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

/// A part frozen with SIGSTOP until thawed or dropped (SIGCONT): the kernel still takes
/// connections on its port, and nothing answers them.
pub struct Frozen {
    pid: i32,
}

impl Frozen {
    /// Freezes `part`.
    pub fn new(part: &str) -> Result<Frozen> {
        let pid = part_pid(part)?;
        send_signal(pid, "STOP")?;
        Ok(Frozen { pid })
    }

    /// Lets it run again.
    pub fn thaw(self) {}
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = send_signal(self.pid, "CONT");
    }
}

/// Stops `part` with `signal` and waits until its process is gone.
pub async fn stop_part(part: &str, signal: &str, within: Duration) -> Result<i32> {
    let pid = part_pid(part)?;
    send_signal(pid, signal)?;
    eventually(within, &format!("{part} ({pid}) to stop"), || async move {
        Ok(!is_running(pid))
    })
    .await?;
    Ok(pid)
}

/// Polls `check` every 200 ms until it says yes, failing after `within` with `what`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + within;
    let mut last_error = None;
    loop {
        match check().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(error) => last_error = Some(error),
        }
        if Instant::now() > deadline {
            match last_error {
                Some(error) => bail!("waited {within:?} for {what}; last error: {error:#}"),
                None => bail!("waited {within:?} for {what}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The `active` flags of some pg_cron jobs, taken before pausing them, to put back after.
pub struct PausedCronJobs {
    before: Vec<(String, bool)>,
}

impl PausedCronJobs {
    /// Pauses `jobs` (a run or a probe would land in the middle of a test).
    pub async fn pause(db: &tokio_postgres::Client, jobs: &[&str]) -> Result<PausedCronJobs> {
        let mut before = Vec::new();
        for job in jobs {
            let rows = db
                .query("select active from cron.job where jobname = $1", &[job])
                .await?;
            if let Some(row) = rows.first() {
                before.push((job.to_string(), row.get(0)));
            }
            crate::functions::set_cron_job_active(db, job, false).await?;
        }
        Ok(PausedCronJobs { before })
    }

    /// Puts every job back as it was.
    pub async fn restore(&self, db: &tokio_postgres::Client) -> Result<()> {
        for (job, active) in &self.before {
            crate::functions::set_cron_job_active(db, job, *active).await?;
        }
        Ok(())
    }
}

/// The lines of the functions' logs that pass `keep`, oldest first.
fn function_log_lines(keep: impl Fn(&str) -> bool) -> Vec<String> {
    let Ok(logs) = state_dir().map(|dir| dir.join("logs")) else {
        return Vec::new();
    };
    std::fs::read_dir(&logs)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("function-"))
        .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
        .flat_map(|text| {
            text.lines()
                .filter(|line| keep(line))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// How many answers with a 5xx other than 503 the functions have logged so far, callbacks
/// from the provider included: an outage may cost a 503, never a 500.
pub fn function_answers_failed() -> usize {
    function_log_lines(|line| {
        line.contains(r#""event":"answered""#)
            && line.contains(r#""status":5"#)
            && !line.contains(r#""status":503"#)
    })
    .len()
}

/// The last `count` `error` lines the functions logged, outages (503) left out: what a
/// failed fault test prints, since an answer's 500 says only "internal".
pub fn function_error_lines(count: usize) -> Vec<String> {
    let mut lines = function_log_lines(|line| {
        line.contains(r#""level":"error""#) && !line.contains(r#""code":"store_unavailable""#)
    });
    lines.drain(..lines.len().saturating_sub(count));
    lines
}
