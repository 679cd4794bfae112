//! PostgreSQL 15 with pg_cron in the stack's own cluster.
//!
//! The cluster lives in the git-ignored state folder and survives restarts;
//! `reset` deletes it. Settings go on the command line rather than into the
//! cluster's files, so a changed port applies at the next start.

use crate::config::StackConfig;
use crate::process::{self, ManagedChild, RunAs};
use anyhow::{bail, Context, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::process::Command;

/// Where the cluster's files are.
///
/// Normally `<state>/pgdata`. When devstack runs as root and the server's
/// unprivileged user cannot reach that folder (a checkout under `/root`, say),
/// the cluster goes to `/var/lib/devstack/...` and `<state>/pgdata` links there.
pub fn data_dir(config: &StackConfig, run_as: Option<RunAs>) -> Result<PathBuf> {
    let preferred = config.state_dir.join("pgdata");
    if run_as.is_none() || reachable_by_others(&config.state_dir) {
        return Ok(preferred);
    }
    let escaped = config.state_dir.to_string_lossy().replace('/', "_");
    let elsewhere = PathBuf::from("/var/lib/devstack").join(escaped.trim_start_matches('_'));
    if !preferred.exists() {
        std::fs::create_dir_all(&elsewhere)?;
        std::os::unix::fs::symlink(&elsewhere, &preferred)?;
    }
    Ok(elsewhere.join("data"))
}

fn reachable_by_others(dir: &Path) -> bool {
    dir.ancestors().skip(1).all(|ancestor| {
        std::fs::metadata(ancestor)
            .map(|meta| meta.permissions().mode() & 0o001 != 0)
            .unwrap_or(false)
    })
}

/// Creates the cluster if it does not exist yet (superuser postgres/postgres).
pub async fn init_cluster(config: &StackConfig, run_as: Option<RunAs>) -> Result<PathBuf> {
    let data = data_dir(config, run_as)?;
    if data.join("PG_VERSION").exists() {
        return Ok(data);
    }
    std::fs::create_dir_all(&data)?;
    // Beside the data folder: the server's user can read it there, wherever
    // that is (see data_dir).
    let password_file = data.with_file_name("pg-password");
    std::fs::write(&password_file, "postgres\n")?;
    if let Some(user) = run_as {
        user.own(&data)?;
        user.own(&password_file)?;
    }
    let mut initdb = Command::new(config.pg_bin_dir.join("initdb"));
    initdb
        .arg("--pgdata")
        .arg(&data)
        .args(["--username=postgres", "--encoding=UTF8", "--locale=C"])
        .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
        .arg(format!("--pwfile={}", password_file.display()));
    let log = config.log_path("initdb");
    let mut child = process::spawn("initdb", initdb, &log, run_as)?;
    let status = child.wait().await?;
    std::fs::remove_file(&password_file).ok();
    if !status.success() {
        bail!("initdb failed ({status}); see {}", log.display());
    }
    Ok(data)
}

/// Starts the server on the configured port with pg_cron preloaded.
pub fn start(config: &StackConfig, data: &Path, run_as: Option<RunAs>) -> Result<ManagedChild> {
    require_safeupdate(config)?;
    let mut server = Command::new(config.pg_bin_dir.join("postgres"));
    server
        .arg("-D")
        .arg(data)
        .arg("-p")
        .arg(config.db_port.to_string());
    for setting in [
        "listen_addresses=127.0.0.1",
        // TCP only: the socket folder would have to be writable by the
        // server's user wherever the checkout is.
        "unix_socket_directories=",
        // pg_stat_statements as on hosted projects (utility statements
        // tracked, the default), so a statement that would leak a literal
        // there leaks here too.
        "shared_preload_libraries=pg_cron,pg_stat_statements",
        "cron.database_name=postgres",
        // Jobs run in background workers instead of connecting over TCP.
        "cron.use_background_workers=on",
        "max_worker_processes=32",
        "max_connections=200",
        "log_min_messages=warning",
    ] {
        server.arg("-c").arg(setting);
    }
    process::spawn("postgres", server, &config.log_path("postgres"), run_as)
}

/// API sessions load devstack's safeupdate extension (`devstack/safeupdate/`,
/// see `sql/10_roles.sql`); without it PostgREST could not even log in, so
/// say so before starting rather than in PostgREST's log.
fn require_safeupdate(config: &StackConfig) -> Result<()> {
    let library = config
        .pg_bin_dir
        .with_file_name("lib")
        .join("safeupdate.so");
    if !library.exists() {
        bail!(
            "{} is missing: run scripts/setup, which builds devstack/safeupdate",
            library.display()
        );
    }
    Ok(())
}

/// Waits until the server accepts connections, or fails naming the log.
pub async fn wait_ready(config: &StackConfig, server: &mut ManagedChild) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if tokio_postgres::connect(&config.db_url(), tokio_postgres::NoTls)
            .await
            .is_ok()
        {
            return Ok(());
        }
        if let Some(status) = server.exited() {
            bail!(
                "postgres exited ({status}); see {}",
                config.log_path("postgres").display()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "postgres did not accept connections within 60 s; see {}",
                config.log_path("postgres").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A superuser connection, driven on a background task.
pub async fn connect(config: &StackConfig) -> Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(&config.db_url(), tokio_postgres::NoTls)
        .await
        .context("connecting to the stack's database")?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            eprintln!("devstack: database connection closed: {error}");
        }
    });
    Ok(client)
}
