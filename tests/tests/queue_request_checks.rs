//! The checks on what a request asks for (emotion, texts, model, priority,
//! attempts allowed, idempotency key): a trigger since migration
//! `20261130003100`, so that claims and completions do not read them. They
//! must still refuse every bad write, with the CHECK's SQLSTATE and name, and
//! stay out of the way of the steps that do not set those columns.

use anyhow::Result;
use stack_tests::sql;
use tokio_postgres::Client;
use uuid::Uuid;

/// Inserts one waiting request whose `column` is `value` (SQL text); the
/// other columns a request needs are valid.
async fn insert_with(
    db: &Client,
    queue: &str,
    user: Uuid,
    column: &str,
    value: &str,
) -> Result<u64, tokio_postgres::Error> {
    let valid = [
        ("user_id", "$1"),
        ("queue", "$2"),
        ("emotion", "'calm'"),
        ("prompt", "'a calm piece'"),
    ];
    let table = "public.music_generation_queue";
    sql::insert_with(db, table, &valid, (column, value), &[&user, &queue]).await
}

/// Asserts that `result` failed as the check `music_generation_queue_<check>` fails.
fn expect_check<T: std::fmt::Debug>(
    result: Result<T, tokio_postgres::Error>,
    check: &str,
    what: &str,
) {
    sql::expect_check_violation(result, &format!("music_generation_queue_{check}"), what);
}

#[tokio::test]
async fn a_bad_request_is_refused_with_the_checks_name() -> Result<()> {
    let db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let refused = [
        ("emotion", "'ecstatic'", "emotion_known"),
        ("intensity", "1.5", "intensity_range"),
        ("context", "repeat('x', 501)", "context_length"),
        ("asked_style", "''", "asked_style_length"),
        ("asked_title", "repeat('x', 101)", "asked_title_length"),
        ("prompt", "''", "prompt_length"),
        ("prompt", "repeat('x', 501)", "prompt_length"),
        ("style", "repeat('x', 1001)", "style_length"),
        ("title", "''", "title_length"),
        ("model", "'v4'", "model_format"),
        ("priority", "10", "priority_range"),
        ("max_attempts", "0", "max_attempts_range"),
        ("idempotency_key", "''", "idempotency_key_length"),
    ];
    for (column, value, check) in refused {
        let inserted = insert_with(&db, &queue, user, column, value).await;
        expect_check(inserted, check, &format!("{column} = {value}"));
    }
    // What the checks allow: nulls where a column may be empty, the bounds themselves.
    for (column, value) in [
        ("context", "null"),
        ("model", "'V4_5PLUS'"),
        ("priority", "9"),
        ("intensity", "0"),
        ("max_attempts", "10"),
    ] {
        insert_with(&db, &queue, user, column, value).await?;
    }
    let stored: i64 = db
        .query_one(
            "select count(*) from public.music_generation_queue where queue = $1",
            &[&queue],
        )
        .await?
        .get(0);
    assert_eq!(stored, 5, "only the good rows are stored");
    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

#[tokio::test]
async fn an_update_that_sets_a_checked_column_is_checked() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let id = sql::enqueue(&mut db, &queue, user, "joy").await?;
    for (set, check) in [
        ("priority = 42", "priority_range"),
        ("prompt = ''", "prompt_length"),
        ("model = 'latest'", "model_format"),
        ("max_attempts = 11", "max_attempts_range"),
    ] {
        let result = db
            .execute(
                &format!("update public.music_generation_queue set {set} where id = $1"),
                &[&id],
            )
            .await;
        expect_check(result, check, set);
    }
    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

/// A row that breaks a request check (written with triggers off, as a restore
/// might) is still claimed and completed: those steps do not set the checked
/// columns, so they do not run the checks; setting one of them does.
#[tokio::test]
async fn claims_and_completions_do_not_run_the_request_checks() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    let tx = db.transaction().await?;
    tx.batch_execute("set local session_replication_role = replica")
        .await?;
    tx.execute(
        "insert into public.music_generation_queue (user_id, queue, emotion, prompt, run_at)
         values ($1, $2, 'calm', '', now() - interval '1 second')",
        &[&user, &queue],
    )
    .await?;
    tx.commit().await?;

    let claims = sql::claim(&mut db, "checks-worker", 1, 120, &queue).await?;
    assert_eq!(claims.len(), 1, "the row is claimable");
    assert!(sql::complete(&mut db, claims[0]).await?, "and completes");
    let touched = db
        .execute(
            "update public.music_generation_queue set prompt = prompt where id = $1",
            &[&claims[0].id],
        )
        .await;
    expect_check(touched, "prompt_length", "prompt set again");
    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}
