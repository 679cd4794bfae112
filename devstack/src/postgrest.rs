//! The real PostgREST 12.0.2, configured like Supabase's: schema `public`,
//! anon role `anon`, the project's JWT secret, 1000 rows at most per read.

use crate::config::{StackConfig, JWT_SECRET};
use crate::process::{self, ManagedChild};
use anyhow::{bail, Result};
use std::time::{Duration, Instant};
use tokio::process::Command;

/// Writes PostgREST's configuration file and starts it.
pub fn start(config: &StackConfig) -> Result<ManagedChild> {
    let file = config.run_dir().join("postgrest.conf");
    std::fs::write(&file, configuration(config))?;
    let mut command = Command::new(config.postgrest_bin());
    command.arg(&file);
    process::spawn("postgrest", command, &config.log_path("postgrest"), None)
}

fn configuration(config: &StackConfig) -> String {
    format!(
        r#"db-uri = "postgres://authenticator:postgres@127.0.0.1:{db_port}/postgres"
db-schemas = "public"
db-anon-role = "anon"
db-extra-search-path = "public,extensions"
db-max-rows = 1000
db-pool = 10
db-channel-enabled = true
jwt-secret = "{JWT_SECRET}"
server-host = "127.0.0.1"
server-port = {port}
admin-server-port = {admin_port}
log-level = "warn"
"#,
        db_port = config.db_port,
        port = config.postgrest_port(),
        admin_port = config.postgrest_admin_port(),
    )
}

/// Waits for PostgREST's `/ready` (schema cache loaded, pool connected).
pub async fn wait_ready(config: &StackConfig, child: &mut ManagedChild) -> Result<()> {
    let url = format!("http://127.0.0.1:{}/ready", config.postgrest_admin_port());
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = client.get(&url).send().await {
            if response.status().is_success() {
                return Ok(());
            }
        }
        if let Some(status) = child.exited() {
            bail!(
                "postgrest exited ({status}); see {}",
                config.log_path("postgrest").display()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "postgrest was not ready within 30 s; see {}",
                config.log_path("postgrest").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
