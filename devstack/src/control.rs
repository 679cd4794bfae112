//! The commands that manage a stack in the background: `up`, `down`,
//! `status`, `reset`.
//!
//! `up` starts `devstack run` as a session leader with its output in
//! `logs/devstack.log`, and returns only once every part answers its probe.
//! `down` signals that supervisor and waits for it, so that no process is
//! left behind; a supervisor that does not stop has its whole group killed.

use crate::config::StackConfig;
use crate::parts::{self, Part};
use crate::{pidfile, postgres, process};
use anyhow::{bail, Context, Result};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long `up` waits for a cold start (initdb, migrations, every process).
const UP_TIMEOUT: Duration = Duration::from_secs(180);

/// Starts the stack in the background unless it already runs.
pub async fn up(config: &StackConfig) -> Result<()> {
    if let Some(pid) = pidfile::running(config) {
        eprintln!("devstack: already running (pid {pid})");
        return wait_until_up(config, pid).await;
    }
    std::fs::create_dir_all(config.log_dir())?;
    std::fs::create_dir_all(config.run_dir())?;
    let _ = std::fs::remove_file(parts::parts_file(config));
    let _ = std::fs::remove_file(parts::stage_file(config));
    let log = process::open_log(&config.log_path("devstack"))?;
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg("run")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: setsid is async-signal-safe; it makes the supervisor the leader
    // of a new group, so `down` can reach every child through the group.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let child = command.spawn().context("starting devstack run")?;
    let started = wait_until_up(config, child.id() as i32).await;
    if started.is_err() {
        // Half a stack is worse than none: stop what did start (its logs stay).
        down(config).await?;
    }
    started
}

async fn wait_until_up(config: &StackConfig, pid: i32) -> Result<()> {
    let deadline = Instant::now() + UP_TIMEOUT;
    loop {
        if let Some(parts) = parts::load(config) {
            if let Some(down) = first_down(&parts).await {
                bail!("{} is not answering; see {}", down.name, down.log.display());
            }
            eprintln!("devstack: up at {}", config.api_url());
            return Ok(());
        }
        if !process::is_alive(pid) || Instant::now() > deadline {
            let (part, log) = parts::read_stage(config).unwrap_or_else(|| {
                (
                    "devstack".into(),
                    config.log_path("devstack").display().to_string(),
                )
            });
            bail!(
                "{part} did not come up; see {log} (and {})",
                config.log_path("devstack").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn first_down(parts: &[Part]) -> Option<&Part> {
    for part in parts {
        if !part.is_up().await {
            return Some(part);
        }
    }
    None
}

/// Stops the stack and waits until every process of it is gone.
pub async fn down(config: &StackConfig) -> Result<()> {
    let Some(pid) = pidfile::running(config) else {
        eprintln!("devstack: not running");
        return Ok(());
    };
    process::signal(pid, libc::SIGTERM);
    if !wait_gone(pid, Duration::from_secs(45)).await {
        eprintln!("devstack: supervisor {pid} did not stop; killing its process group");
        process::signal(-pid, libc::SIGKILL);
        wait_gone(pid, Duration::from_secs(5)).await;
    }
    // Children share the supervisor's group: anything left is an orphan.
    process::signal(-pid, libc::SIGKILL);
    let _ = std::fs::remove_file(pidfile::path(config));
    eprintln!("devstack: stopped");
    Ok(())
}

async fn wait_gone(pid: i32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while process::is_alive(pid) {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// Prints each part and whether it answers; an error when the stack is down
/// or a part is not answering.
pub async fn status(config: &StackConfig) -> Result<()> {
    let Some(pid) = pidfile::running(config) else {
        println!("devstack: not running ({})", config.state_dir.display());
        bail!("not running");
    };
    let Some(parts) = parts::load(config) else {
        println!("devstack: starting (pid {pid})");
        bail!("still starting");
    };
    println!("devstack: running (pid {pid}) at {}", config.api_url());
    let mut all_up = true;
    for part in &parts {
        let up = part.is_up().await;
        all_up &= up;
        println!(
            "  {:<28} {:<5} {}",
            part.name,
            if up { "up" } else { "DOWN" },
            part.log.display()
        );
    }
    if !all_up {
        bail!("some parts are down");
    }
    Ok(())
}

/// Stops the stack and deletes its data, logs and run files.
pub async fn reset(config: &StackConfig) -> Result<()> {
    down(config).await?;
    let data = postgres::data_dir(config, process::RunAs::unprivileged()?)?;
    let link = config.state_dir.join("pgdata");
    if let Some(elsewhere) = data
        .parent()
        .filter(|_| !data.starts_with(&config.state_dir))
    {
        let _ = std::fs::remove_dir_all(elsewhere);
    }
    for path in [link, config.log_dir(), config.run_dir()] {
        if path.is_symlink() || path.is_file() {
            std::fs::remove_file(&path)?;
        } else if path.exists() {
            std::fs::remove_dir_all(&path)?;
        }
    }
    eprintln!("devstack: reset {}", config.state_dir.display());
    Ok(())
}
