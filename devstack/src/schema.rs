//! Brings the database to the project's schema: the platform stand-ins, then
//! every migration of `supabase/migrations/` in order, then the seed, each
//! applied once and recorded.
//!
//! Migrations are recorded in `supabase_migrations.schema_migrations`, the
//! table the Supabase CLI uses, so `supabase db push` semantics carry over:
//! a file is applied once, in its own transaction, in name order.

use crate::config::StackConfig;
use crate::keys;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use tokio_postgres::Client;

/// The Supabase platform as the database sees it (stand-ins; see the files).
const PLATFORM_SQL: &[(&str, &str)] = &[
    ("10_roles.sql", include_str!("../sql/10_roles.sql")),
    ("20_auth.sql", include_str!("../sql/20_auth.sql")),
    ("30_vault.sql", include_str!("../sql/30_vault.sql")),
    ("40_pg_net.sql", include_str!("../sql/40_pg_net.sql")),
    ("50_pg_cron.sql", include_str!("../sql/50_pg_cron.sql")),
    (
        "60_pg_stat_statements.sql",
        include_str!("../sql/60_pg_stat_statements.sql"),
    ),
];

const BOOKKEEPING_SQL: &str = "
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (
  version text primary key,
  statements text[],
  name text
);
create schema if not exists _devstack;
create table if not exists _devstack.applied_files (
  name text primary key,
  applied_at timestamptz not null default now()
);
";

/// Applies everything that is not applied yet; returns the names it applied.
pub async fn apply_all(config: &StackConfig, db: &mut Client) -> Result<Vec<String>> {
    let mut applied = Vec::new();
    // The stand-ins are idempotent and cheap: applying them at every start
    // lets a newer devstack update them in an existing cluster.
    for (name, sql) in PLATFORM_SQL {
        db.batch_execute(sql)
            .await
            .with_context(|| format!("platform SQL {name}"))?;
    }
    db.batch_execute(BOOKKEEPING_SQL).await?;
    for path in migration_files(&config.supabase_dir().join("migrations"))? {
        if apply_migration(db, &path).await? {
            applied.push(file_name(&path));
        }
    }
    for (path, prelude) in once_files(config) {
        if path.exists() && apply_once(db, &path, &prelude).await? {
            applied.push(file_name(&path));
        }
    }
    // PostgREST may already hold a schema cache (a restart with new files).
    db.batch_execute("notify pgrst, 'reload schema'").await?;
    Ok(applied)
}

/// Files applied once after the migrations, each with SQL run before it in
/// the same transaction: the seed, then the operator's cron setup, which the
/// local stack runs like an operator would, handing it the project URL and
/// the secret key as the settings the file reads (they end up in Vault).
fn once_files(config: &StackConfig) -> Vec<(PathBuf, String)> {
    let operator_settings = format!(
        "select set_config('music_queue.project_url', '{}', true),
                set_config('music_queue.secret_key', '{}', true);",
        config.api_url(),
        keys::service_role_key()
    );
    vec![
        (config.supabase_dir().join("seed.sql"), String::new()),
        (
            config.project_dir.join("sql/SETUP_MUSIC_QUEUE_CRON.sql"),
            operator_settings,
        ),
    ]
}

/// `*.sql` files of the folder in name order (none if it does not exist).
fn migration_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    files.sort();
    Ok(files)
}

async fn apply_migration(db: &mut Client, path: &Path) -> Result<bool> {
    let name = file_name(path);
    let (version, label) = name
        .trim_end_matches(".sql")
        .split_once('_')
        .unwrap_or((name.as_str(), ""));
    let known = db
        .query_opt(
            "select 1 from supabase_migrations.schema_migrations where version = $1",
            &[&version],
        )
        .await?;
    if known.is_some() {
        return Ok(false);
    }
    let sql = std::fs::read_to_string(path)?;
    let tx = db.transaction().await?;
    tx.batch_execute(&sql)
        .await
        .with_context(|| format!("migration {name} failed"))?;
    tx.execute(
        "insert into supabase_migrations.schema_migrations (version, name, statements) \
         values ($1, $2, array[$3])",
        &[&version, &label, &sql],
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

async fn apply_once(db: &mut Client, path: &Path, prelude: &str) -> Result<bool> {
    let name = file_name(path);
    let known = db
        .query_opt(
            "select 1 from _devstack.applied_files where name = $1",
            &[&name],
        )
        .await?;
    if known.is_some() {
        return Ok(false);
    }
    let sql = std::fs::read_to_string(path)?;
    let tx = db.transaction().await?;
    tx.batch_execute(prelude).await?;
    tx.batch_execute(&sql)
        .await
        .with_context(|| format!("{name} failed"))?;
    tx.execute(
        "insert into _devstack.applied_files (name) values ($1)",
        &[&name],
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}
