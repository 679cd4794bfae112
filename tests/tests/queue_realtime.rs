//! The Realtime migration (issue 12) on both kinds of database: one with
//! Supabase's schemas and its `supabase_realtime` publication, as on a hosted
//! project, where the queue table joins the publication; and the local stack,
//! which has no Realtime, where the migration changes nothing.

use anyhow::{Context, Result};
use stack_tests::stack::{connect, StackEnv};
use std::path::{Path, PathBuf};
use tokio_postgres::Client;

const REALTIME_MIGRATION: &str = "20261130001000_queue_realtime";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every migration of `supabase/migrations`, in the order the CLI applies them.
fn migrations() -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join("supabase/migrations"))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|path| path.extension().is_some_and(|ext| ext == "sql"));
    files.sort();
    Ok(files)
}

async fn published_tables(db: &Client) -> Result<Vec<String>> {
    let rows = db
        .query(
            "select schemaname || '.' || tablename from pg_catalog.pg_publication_tables \
              where pubname = 'supabase_realtime' order by 1",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// A new database shaped like a hosted project: the platform's schemas (the
/// stand-ins devstack applies, short of pg_cron, which lives in the stack's
/// own database) and an empty `supabase_realtime` publication, as Supabase
/// creates it.
async fn hosted_like_database(env: &StackEnv, name: &str) -> Result<Client> {
    let admin = env.db().await?;
    admin
        .execute(&format!("drop database if exists {name}"), &[])
        .await?;
    admin
        .execute(&format!("create database {name}"), &[])
        .await?;
    let base = env
        .db_url
        .rsplit_once('/')
        .context("database URL without a name")?
        .0;
    let db = connect(&format!("{base}/{name}")).await?;
    for file in [
        "10_roles.sql",
        "20_auth.sql",
        "30_vault.sql",
        "40_pg_net.sql",
    ] {
        let sql = std::fs::read_to_string(repo_root().join("devstack/sql").join(file))?;
        db.batch_execute(&sql)
            .await
            .with_context(|| format!("stand-in {file}"))?;
    }
    db.batch_execute("create schema if not exists cron; create publication supabase_realtime")
        .await?;
    Ok(db)
}

async fn drop_database(env: &StackEnv, name: &str) -> Result<()> {
    let admin = env.db().await?;
    admin
        .execute(&format!("drop database if exists {name} with (force)"), &[])
        .await?;
    Ok(())
}

#[tokio::test]
async fn on_a_hosted_like_database_the_queue_table_joins_the_realtime_publication() -> Result<()> {
    let env = StackEnv::from_env()?;
    let name = format!("realtime_check_{}", std::process::id());
    let db = hosted_like_database(&env, &name).await?;
    let applied = async {
        for path in migrations()? {
            let sql = std::fs::read_to_string(&path)?;
            // pg_cron's tables are only in the stack's own database; the
            // maintenance functions that read them are checked at run time.
            db.batch_execute(&format!("set check_function_bodies = off;\n{sql}"))
                .await
                .with_context(|| format!("{}", path.display()))?;
        }
        let after_all = published_tables(&db).await?;
        // A second run (the migration again, as after a reset) keeps one entry.
        let again = migrations()?
            .into_iter()
            .find(|path| path.to_string_lossy().contains(REALTIME_MIGRATION))
            .context("no realtime migration")?;
        db.batch_execute(&std::fs::read_to_string(again)?).await?;
        Ok::<_, anyhow::Error>((after_all, published_tables(&db).await?))
    }
    .await;
    drop(db);
    drop_database(&env, &name).await?;
    let (after_all, after_again) = applied?;
    assert_eq!(after_all, vec!["public.music_generation_queue".to_string()]);
    assert_eq!(after_again, after_all);
    Ok(())
}

#[tokio::test]
async fn on_the_local_stack_the_realtime_migration_is_recorded_and_creates_no_publication(
) -> Result<()> {
    let env = StackEnv::from_env()?;
    let db = env.db().await?;
    let recorded: i64 = db
        .query_one(
            "select count(*) from supabase_migrations.schema_migrations where version = $1",
            &[&REALTIME_MIGRATION.split('_').next().unwrap()],
        )
        .await?
        .get(0);
    assert_eq!(
        recorded, 1,
        "devstack applied and recorded the realtime migration"
    );
    let publications: i64 = db
        .query_one(
            "select count(*) from pg_catalog.pg_publication where pubname = 'supabase_realtime'",
            &[],
        )
        .await?
        .get(0);
    assert_eq!(
        publications, 0,
        "the migration must not create the platform's publication"
    );
    Ok(())
}
