//! `scripts/deploy` (issue 12) run twice against the local stack: the second
//! run changes nothing, and no run prints the secret key or lets it reach
//! pg_stat_statements. `--skip-functions` runs every database step and the
//! smoke tests; the secrets and the function deploys need the Management API,
//! which a local stack has not (`--dry-run` checks those steps' inputs).

use anyhow::{ensure, Context, Result};
use stack_tests::stack::StackEnv;
use std::path::Path;
use std::process::Command;
use tokio_postgres::Client;

const JOBS: [&str; 3] = [
    "music-queue-worker-every-minute",
    "suno-status-check-every-minute",
    "music-queue-maintenance",
];
const SECRETS: [&str; 2] = ["music_queue_project_url", "music_queue_secret_key"];

/// Runs `scripts/deploy ARGS` against the stack; its whole output.
fn deploy(env: &StackEnv, args: &[&str]) -> Result<String> {
    let (success, text) = run_deploy(env, args)?;
    ensure!(success, "scripts/deploy {args:?} failed:\n{text}");
    Ok(text)
}

/// Runs `scripts/deploy ARGS` with the stack's URL, key and database, and no
/// project ref or access token; whether it succeeded, and its whole output.
fn run_deploy(env: &StackEnv, args: &[&str]) -> Result<(bool, String)> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new(repo.join("scripts/deploy"))
        .args(args)
        .env("SUPABASE_URL", &env.url)
        .env("SUPABASE_SECRET_KEY", &env.secret_key)
        // The local database speaks no TLS, and the CLI asks for it by default.
        .env("SUPABASE_DB_URL", format!("{}?sslmode=disable", env.db_url))
        .env_remove("SUPABASE_PROJECT_REF")
        .env_remove("SUPABASE_ACCESS_TOKEN")
        .output()
        .context("running scripts/deploy")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok((output.status.success(), text))
}

#[tokio::test]
async fn a_deploy_without_its_variables_names_them_and_sends_nothing() -> Result<()> {
    let env = StackEnv::from_env()?;
    let (success, text) = run_deploy(&env, &[])?;
    assert!(!success, "a deploy without a project ref ran:\n{text}");
    assert!(
        text.contains("not set: SUPABASE_PROJECT_REF SUPABASE_ACCESS_TOKEN"),
        "{text}"
    );
    assert!(
        !text.contains("supabase db push"),
        "it went on after the error:\n{text}"
    );
    Ok(())
}

/// Everything a deploy writes, as text: applied migrations, the cron jobs,
/// Vault's secrets (by id, so an update in place shows as a change of value
/// only), the fallback library and the realtime publication.
async fn deployed_state(db: &Client) -> Result<Vec<String>> {
    let queries = [
        "select string_agg(version, ',' order by version) from supabase_migrations.schema_migrations",
        "select string_agg(jobid || ' ' || jobname || ' ' || schedule || ' ' || command || ' ' || active, E'\\n' order by jobname) \
           from cron.job where jobname like 'music-queue%' or jobname like 'suno-status%'",
        "select string_agg(id || ' ' || name || ' ' || md5(decrypted_secret), E'\\n' order by name) \
           from vault.decrypted_secrets where name like 'music_queue%'",
        "select count(*) || ' ' || md5(string_agg(id::text || title || audio_url, ',' order by id)) \
           from public.music_tracks where source = 'library'",
        "select count(*)::text from pg_catalog.pg_publication_tables where tablename = 'music_generation_queue'",
    ];
    let mut state = Vec::new();
    for query in queries {
        let row = db.query_one(query, &[]).await.context(query)?;
        state.push(row.get::<_, Option<String>>(0).unwrap_or_default());
    }
    Ok(state)
}

#[tokio::test]
async fn a_second_deploy_changes_nothing_and_no_run_shows_the_key() -> Result<()> {
    let env = StackEnv::from_env()?;
    let db = env.db().await?;
    let had_jobs: i64 = db
        .query_one(
            "select count(*) from cron.job where jobname = any($1)",
            &[&JOBS.to_vec()],
        )
        .await?
        .get(0);
    // Vault's values before (the stack's own setup fills them), put back after.
    let vault_before: Vec<(String, String)> = db
        .query(
            "select name, decrypted_secret from vault.decrypted_secrets where name = any($1)",
            &[&SECRETS.to_vec()],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();

    let dry = deploy(&env, &["--dry-run"])?;
    let first = deploy(&env, &["--skip-functions"])?;
    let after_first = deployed_state(&db).await?;
    let second = deploy(&env, &["--skip-functions"])?;
    let after_second = deployed_state(&db).await?;

    let vault_key: String = db
        .query_one(
            "select decrypted_secret from vault.decrypted_secrets where name = 'music_queue_secret_key'",
            &[],
        )
        .await?
        .get(0);
    let in_statements: i64 = db
        .query_one(
            "select count(*) from extensions.pg_stat_statements where strpos(query, $1) > 0",
            &[&env.secret_key],
        )
        .await?
        .get(0);

    if had_jobs == 0 {
        for job in JOBS {
            db.execute("select cron.unschedule($1)", &[&job]).await?;
        }
    }
    db.execute(
        "delete from vault.secrets where name = any($1)",
        &[&SECRETS.to_vec()],
    )
    .await?;
    for (name, value) in &vault_before {
        db.execute("select vault.create_secret($1, $2)", &[value, name])
            .await?;
    }

    assert_eq!(
        after_second, after_first,
        "the second deploy changed the database"
    );
    assert_eq!(
        vault_key, env.secret_key,
        "Vault holds the project's secret key"
    );
    assert_eq!(in_statements, 0, "the key reached pg_stat_statements");
    for (run, output) in [("dry run", &dry), ("first", &first), ("second", &second)] {
        assert!(
            !output.contains(&env.secret_key),
            "the {run} run printed the key"
        );
        assert!(
            !output.contains("postgres:postgres@"),
            "the {run} run printed the database password"
        );
    }
    assert!(dry.contains("dry run passed"), "{dry}");
    assert!(
        second.contains("POST /functions/v1/music-queue-worker -> 202"),
        "{second}"
    );
    Ok(())
}
