//! The worker's runs: started and finished through the SQL API, read by admins, marked
//! abandoned and pruned by maintenance; the per-run cap beside the other queue settings;
//! overlapping runs never submit a request twice.

use anyhow::Result;
use music_core::QueueSettings;
use serde_json::{json, Value};
use stack_tests::sql::{self, Caller};
use uuid::Uuid;

async fn start(db: &mut tokio_postgres::Client, queue: &str, trigger: &str) -> Result<Value> {
    let rows = sql::call(
        db,
        Caller::Service,
        "select to_jsonb(r) from public.start_music_worker_run($1, 'runs-test', $2) r",
        &[&trigger, &queue],
    )
    .await?;
    Ok(rows[0].get(0))
}

fn run_id(run: &Value) -> Uuid {
    run["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_run_starts_running_and_finishes_once_with_its_summary() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let run = start(&mut db, &queue, "cron").await?;
    assert_eq!(
        (&run["status"], &run["trigger"], &run["finished_at"]),
        (&json!("running"), &json!("cron"), &Value::Null)
    );
    let id = run_id(&run);
    let summary = json!({ "claimed": 3, "submitted": 2, "deferred": 1, "skipped_reason": null,
                          "duration_ms": 4100 });
    let finish = "select to_jsonb(r) from public.finish_music_worker_run($1, $2, $3) r";
    let no_error: Option<&str> = None;
    let rows = sql::call(
        &mut db,
        Caller::Service,
        finish,
        &[&id, &summary, &no_error],
    )
    .await?;
    let done: Value = rows[0].get(0);
    assert_eq!(done["status"], "finished");
    assert_eq!(done["summary"], summary);
    assert!(done["finished_at"].is_string());

    // A second finish (a duplicate, or one after maintenance gave up) changes nothing.
    let rows = sql::call(
        &mut db,
        Caller::Service,
        finish,
        &[&id, &json!({}), &Some("late")],
    )
    .await?;
    assert!(rows.is_empty());

    // A run that ends on an error is failed, with the error kept.
    let broken = run_id(&start(&mut db, &queue, "manual").await?);
    let rows = sql::call(
        &mut db,
        Caller::Service,
        finish,
        &[&broken, &json!({}), &Some("store down")],
    )
    .await?;
    let failed: Value = rows[0].get(0);
    assert_eq!(
        (&failed["status"], &failed["error"]),
        (&json!("failed"), &json!("store down"))
    );

    // Input is checked, naming the field.
    let bad = sql::call(
        &mut db,
        Caller::Service,
        "select public.start_music_worker_run('hourly', 'w', $1)",
        &[&queue],
    )
    .await;
    let error = sql::expect_sqlstate(bad, "22023");
    assert_eq!(
        error.as_db_error().and_then(|e| e.detail()),
        Some("field: trigger")
    );
    let bad = sql::call(
        &mut db,
        Caller::Service,
        finish,
        &[&id, &json!([1]), &no_error],
    )
    .await;
    sql::expect_sqlstate(bad, "22023");
    let unknown = sql::call(
        &mut db,
        Caller::Service,
        "select public.start_music_worker_run('cron', 'w', 'no-such-queue')",
        &[],
    )
    .await;
    sql::expect_sqlstate(unknown, "P0002");

    sql::drop_queue(&db, &queue).await
}

#[tokio::test]
async fn admins_and_the_service_role_read_runs_and_only_the_worker_writes_them() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let admin = sql::new_user(&db).await?;
    let user = sql::new_user(&db).await?;
    let id = run_id(&start(&mut db, &queue, "manual").await?);
    let read = "select count(*) from public.music_worker_runs where id = $1";
    for (caller, expected) in [
        (Caller::Admin(admin), 1_i64),
        (Caller::Service, 1),
        (Caller::User(user), 0),
    ] {
        let rows = sql::call(&mut db, caller, read, &[&id]).await?;
        assert_eq!(rows[0].get::<_, i64>(0), expected, "{caller:?}");
    }
    sql::expect_sqlstate(
        sql::call(&mut db, Caller::Anon, read, &[&id]).await,
        "42501",
    );
    for caller in [Caller::Admin(admin), Caller::User(user), Caller::Anon] {
        let started = sql::call(
            &mut db,
            caller,
            "select public.start_music_worker_run('manual', 'w', $1)",
            &[&queue],
        )
        .await;
        sql::expect_sqlstate(started, "42501");
        let written = sql::call(
            &mut db,
            caller,
            "update public.music_worker_runs set status = 'finished' where id = $1",
            &[&id],
        )
        .await;
        sql::expect_sqlstate(written, "42501");
    }
    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[admin, user]).await
}

#[tokio::test]
async fn maintenance_abandons_a_run_that_never_finished_and_prunes_old_runs() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let dead = run_id(&start(&mut db, &queue, "cron").await?);
    let live = run_id(&start(&mut db, &queue, "cron").await?);
    let old = run_id(&start(&mut db, &queue, "cron").await?);
    db.execute(
        "update public.music_worker_runs set started_at = now() - interval '11 minutes' where id = $1",
        &[&dead],
    )
    .await?;
    db.execute(
        "update public.music_worker_runs
            set started_at = now() - interval '40 days', status = 'finished',
                finished_at = now() - interval '40 days', summary = '{}'
          where id = $1",
        &[&old],
    )
    .await?;

    let rows = sql::call(
        &mut db,
        Caller::Service,
        "select public.music_queue_maintenance()",
        &[],
    )
    .await?;
    let report: Value = rows[0].get(0);
    assert!(report["abandoned_runs"].as_i64().unwrap() >= 1, "{report}");
    assert!(report["pruned_runs"].as_i64().unwrap() >= 1, "{report}");

    let status = |id: Uuid| {
        let db = &db;
        async move {
            db.query_opt(
                "select status from public.music_worker_runs where id = $1",
                &[&id],
            )
            .await
            .map(|row| row.map(|r| r.get::<_, String>(0)))
        }
    };
    assert_eq!(status(dead).await?.as_deref(), Some("abandoned"));
    assert_eq!(status(live).await?.as_deref(), Some("running"));
    assert_eq!(status(old).await?, None);

    // The dead run's function cannot finish it any more.
    let rows = sql::call(
        &mut db,
        Caller::Service,
        "select id from public.finish_music_worker_run($1, '{}', null)",
        &[&dead],
    )
    .await?;
    assert!(rows.is_empty());
    sql::drop_queue(&db, &queue).await
}

#[tokio::test]
async fn max_per_run_is_unset_by_default_and_an_admin_sets_or_removes_it() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let admin = sql::new_user(&db).await?;
    let configure =
        "select to_jsonb(q) from public.configure_music_queue($1, p_max_per_run => $2) q";
    let read = |rows: Vec<tokio_postgres::Row>| -> Result<QueueSettings> {
        let row: Value = rows[0].get(0);
        Ok(QueueSettings::from_row(&row)?)
    };

    let unset = read(
        sql::call(
            &mut db,
            Caller::Admin(admin),
            configure,
            &[&queue, &None::<i32>],
        )
        .await?,
    )?;
    assert_eq!(unset.max_per_run, None);
    let seed = read(
        sql::call(
            &mut db,
            Caller::Admin(admin),
            configure,
            &[&queue, &Some(5)],
        )
        .await?,
    )?;
    assert_eq!(seed.max_per_run, Some(5));
    // Other settings leave it alone.
    let rows = sql::call(
        &mut db,
        Caller::Admin(admin),
        "select to_jsonb(q) from public.configure_music_queue($1, p_batch_size => 8) q",
        &[&queue],
    )
    .await?;
    assert_eq!(read(rows)?.max_per_run, Some(5));
    let removed = read(
        sql::call(
            &mut db,
            Caller::Admin(admin),
            configure,
            &[&queue, &Some(0)],
        )
        .await?,
    )?;
    assert_eq!(removed.max_per_run, None);

    let bad = sql::call(
        &mut db,
        Caller::Admin(admin),
        configure,
        &[&queue, &Some(-1)],
    )
    .await;
    let error = sql::expect_sqlstate(bad, "22023");
    assert_eq!(
        error.as_db_error().and_then(|e| e.detail()),
        Some("field: max_per_run")
    );

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[admin]).await
}

/// Runs may overlap (a cron run and a panel run): each claims on its own, and no request is
/// handed to both.
#[tokio::test]
async fn a_cron_run_and_a_manual_run_at_once_never_share_a_request() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    sql::insert_pending(&db, &queue, user, 40).await?;
    let cron = start(&mut db, &queue, "cron").await?;
    let manual = start(&mut db, &queue, "manual").await?;
    assert_eq!(
        (&cron["status"], &manual["status"]),
        (&json!("running"), &json!("running"))
    );

    let claim_all = |worker: String| {
        let queue = queue.clone();
        async move {
            let mut db = sql::db().await?;
            let mut ids = Vec::new();
            loop {
                let batch = sql::claim(&mut db, &worker, 3, 120, &queue).await?;
                if batch.is_empty() {
                    return anyhow::Ok(ids);
                }
                ids.extend(batch.into_iter().map(|c| c.id));
            }
        }
    };
    let (a, b) = tokio::try_join!(claim_all("cron-run".into()), claim_all("manual-run".into()))?;
    let mut all: Vec<Uuid> = a.iter().chain(b.iter()).copied().collect();
    all.sort();
    all.dedup();
    assert_eq!(
        all.len(),
        a.len() + b.len(),
        "a request was claimed by both runs"
    );
    assert_eq!(all.len(), 40);

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await
}
