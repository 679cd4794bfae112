//! `sql/SETUP_MUSIC_QUEUE_CRON.sql` on the stack: creates the jobs, stays
//! at one job each when run again, and the jobs' requests carry the key
//! held in Vault.
//!
//! On a stack where the operator already ran the file, its Vault values are
//! kept (the file runs without values) and nothing else changes. On a bare
//! database the test brings its own values and removes the secrets and jobs
//! it created. The jobs' HTTP calls are made inside a transaction that rolls
//! back, so pg_net never sends them.

use anyhow::Result;
use serde_json::Value;
use tokio_postgres::Client;
use uuid::Uuid;

const SETUP: &str = include_str!("../../sql/SETUP_MUSIC_QUEUE_CRON.sql");
const JOBS: [&str; 3] = [
    "music-queue-worker-every-minute",
    "suno-status-check-every-minute",
    "music-queue-maintenance",
];
const SECRETS: [&str; 2] = ["music_queue_project_url", "music_queue_secret_key"];

async fn secret(db: &Client, name: &str) -> Result<Option<String>> {
    let row = db
        .query_opt(
            "select decrypted_secret from vault.decrypted_secrets where name = $1",
            &[&name],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

async fn job_counts(db: &Client) -> Result<Vec<i64>> {
    let mut counts = Vec::new();
    for job in JOBS {
        counts.push(
            db.query_one("select count(*) from cron.job where jobname = $1", &[&job])
                .await?
                .get(0),
        );
    }
    Ok(counts)
}

/// Runs a job's command in a transaction that rolls back and returns what
/// it queued for pg_net: (url, headers, timeout).
async fn queued_request(db: &mut Client, job: &str) -> Result<(String, Value, i32)> {
    let tx = db.transaction().await?;
    let command: String = tx
        .query_one("select command from cron.job where jobname = $1", &[&job])
        .await?
        .get(0);
    let request_id: i64 = tx.query_one(command.as_str(), &[]).await?.get(0);
    let row = tx
        .query_one(
            "select method::text, url, headers, timeout_milliseconds from net.http_request_queue where id = $1",
            &[&request_id],
        )
        .await?;
    assert_eq!(row.get::<_, String>(0), "POST");
    let queued = (row.get(1), row.get(2), row.get(3));
    tx.rollback().await?;
    Ok(queued)
}

#[tokio::test]
async fn setup_creates_one_job_each_and_sends_the_vault_key() -> Result<()> {
    let mut db = stack_tests::sql::db().await?;
    assert!(
        SETUP.contains("('music_queue.secret_key', '')"),
        "the key slot at the top is filled in"
    );
    let real_secret = SETUP.match_indices("sb_secret_").any(|(at, m)| {
        SETUP[at + m.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
    });
    assert!(
        !real_secret && !SETUP.contains("eyJhbGci"),
        "a key is written in the file"
    );

    // Bring values only when Vault has none yet (a bare database).
    let had_secrets =
        secret(&db, SECRETS[0]).await?.is_some() && secret(&db, SECRETS[1]).await?.is_some();
    let had_jobs = job_counts(&db).await? == [1, 1, 1];
    if !had_secrets {
        let key = format!("test-secret-{}", Uuid::new_v4().simple());
        db.execute(
            "select set_config('music_queue.project_url', 'http://127.0.0.1:9/', false)",
            &[],
        )
        .await?;
        db.execute(
            "select set_config('music_queue.secret_key', $1, false)",
            &[&key],
        )
        .await?;
    }

    db.batch_execute(SETUP).await?;
    db.batch_execute("reset music_queue.project_url; reset music_queue.secret_key")
        .await?;
    db.batch_execute(SETUP).await?;
    assert_eq!(
        job_counts(&db).await?,
        [1, 1, 1],
        "one job each after two runs"
    );

    let schedules = db
        .query(
            "select jobname, schedule from cron.job where jobname = any($1) order by jobname",
            &[&JOBS.to_vec()],
        )
        .await?;
    let schedules: Vec<(String, String)> = schedules.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert!(schedules.contains(&("music-queue-worker-every-minute".into(), "* * * * *".into())));

    let url = secret(&db, SECRETS[0])
        .await?
        .expect("project URL in Vault");
    let key = secret(&db, SECRETS[1]).await?.expect("secret key in Vault");
    for (job, function, min_timeout) in [
        (
            "music-queue-worker-every-minute",
            "music-queue-worker",
            60_000,
        ),
        (
            "suno-status-check-every-minute",
            "suno-status-check",
            10_000,
        ),
    ] {
        let (sent_to, headers, timeout) = queued_request(&mut db, job).await?;
        assert_eq!(sent_to, format!("{url}/functions/v1/{function}"));
        assert_eq!(headers["apikey"], Value::from(key.clone()), "{job}: apikey");
        assert_eq!(
            headers["Authorization"],
            Value::from(format!("Bearer {key}")),
            "{job}: Authorization"
        );
        assert!(timeout >= min_timeout, "{job}: timeout {timeout} ms");
        let command: String = db
            .query_one("select command from cron.job where jobname = $1", &[&job])
            .await?
            .get(0);
        assert!(
            !command.contains(&key),
            "{job}: the key is written in cron.job"
        );
    }

    if !had_jobs {
        for job in JOBS {
            db.execute("select cron.unschedule($1)", &[&job]).await?;
        }
    }
    if !had_secrets {
        db.execute(
            "delete from vault.secrets where name = any($1)",
            &[&SECRETS.to_vec()],
        )
        .await?;
    }
    Ok(())
}
