//! `devstack`: the local Supabase-compatible stack, built from real parts.
//!
//! ```text
//! devstack run                 the stack in the foreground until Ctrl-C
//! devstack up | down | status  the stack in the background
//! devstack reset               stop and delete the database, logs and state
//! devstack env                 KEY=value lines for clients and tests
//! devstack token --user UUID [--admin]   a user JWT
//! devstack user add --email E --password P [--admin]   a user who can sign in
//! ```
//!
//! Settings come from `DEVSTACK_*` variables (see `config.rs`); `scripts/dev`
//! sets them for this repository.

mod auth;
mod config;
mod control;
mod functions;
mod gateway;
mod gateway_error;
mod keys;
mod parts;
mod pg_net;
mod pidfile;
mod postgres;
mod postgrest;
mod process;
mod proxy;
mod schema;
mod static_files;
mod supervisor;
mod web;

use anyhow::{bail, Result};
use config::StackConfig;
use std::process::ExitCode;

const USAGE: &str = "usage: devstack run | up | down | status | reset | env \
    | token --user UUID [--admin] | user add --email E --password P [--admin]";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("devstack: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(args: &[String]) -> Result<()> {
    let command = args.first().map(String::as_str).unwrap_or("run");
    match command {
        "token" => return token(&args[1..]),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            return Ok(());
        }
        _ => {}
    }
    let config = StackConfig::from_env()?;
    match command {
        "run" => supervisor::run(config).await,
        "up" => control::up(&config).await,
        "down" => control::down(&config).await,
        "status" => control::status(&config).await,
        "reset" => control::reset(&config).await,
        "user" => auth::command::user(&config, &args[1..]).await,
        "env" => {
            print_env(&config);
            Ok(())
        }
        other => bail!("unknown command {other:?}\n{USAGE}"),
    }
}

fn print_env(config: &StackConfig) {
    println!("SUPABASE_URL={}", config.api_url());
    println!("SUPABASE_ANON_KEY={}", keys::anon_key());
    println!("SUPABASE_SERVICE_ROLE_KEY={}", keys::service_role_key());
    println!("SUPABASE_PUBLISHABLE_KEY={}", keys::PUBLISHABLE_KEY);
    println!("SUPABASE_SECRET_KEY={}", keys::SECRET_KEY);
    println!("SUPABASE_DB_URL={}", config.db_url());
    println!("SUNO_API_BASE_URL={}", config.suno_base_url());
    // The operator's real key stays where they put it; only the simulator's
    // well-known key is printed.
    if config.real_suno.is_none() {
        println!("SUNO_API_KEY={}", config.suno_api_key());
    }
    println!("WEB_URL={}", config.web_url());
    // Logs and the parts' pids, for tests that break a part on purpose.
    println!("DEVSTACK_STATE_DIR={}", config.state_dir.display());
}

fn token(args: &[String]) -> Result<()> {
    let mut user = None;
    let mut admin = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--user" => user = rest.next().cloned(),
            "--admin" => admin = true,
            other => bail!("unknown option {other:?}\n{USAGE}"),
        }
    }
    let Some(user) = user.filter(|user| keys::is_uuid(user)) else {
        bail!("--user needs a UUID (the user's id in auth.users)\n{USAGE}");
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    println!("{}", keys::user_token(&user, admin, now));
    Ok(())
}
