//! A user's own request list (item 15): `my_music_requests` answers from
//! the user's index, without walking other users' rows the way an
//! unfiltered read of the table under RLS does.

use anyhow::Result;
use serde_json::Value;
use stack_tests::sql::{self, Caller};
use uuid::Uuid;

const NEWEST: &str = "select id from public.my_music_requests order by created_at desc limit 20";

/// Every plan node of an EXPLAIN (FORMAT JSON) answer, depth first.
fn nodes(plan: &Value, out: &mut Vec<Value>) {
    out.push(plan.clone());
    for child in plan["Plans"].as_array().into_iter().flatten() {
        nodes(child, out);
    }
}

#[tokio::test]
async fn my_requests_lists_only_the_callers_rows_from_their_index() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let (me, others, admin) = (
        sql::new_user(&db).await?,
        sql::new_user(&db).await?,
        sql::new_user(&db).await?,
    );
    sql::insert_pending(&db, &queue, others, 5000).await?;
    let mine = [
        sql::enqueue(&mut db, &queue, me, "joy").await?,
        sql::enqueue(&mut db, &queue, me, "sad").await?,
    ];
    db.batch_execute("analyze public.music_generation_queue")
        .await?;

    let listed: Vec<Uuid> = sql::call(&mut db, Caller::User(me), NEWEST, &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(listed, [mine[1], mine[0]], "own requests, newest first");
    // An admin's list is their own too (the table serves the admin views).
    assert!(sql::call(&mut db, Caller::Admin(admin), NEWEST, &[])
        .await?
        .is_empty());

    let explain = format!("explain (analyze, format json) {NEWEST}");
    let plan: Value = sql::call(&mut db, Caller::User(me), &explain, &[]).await?[0].get(0);
    let mut all = Vec::new();
    nodes(&plan[0]["Plan"], &mut all);
    assert!(
        all.iter()
            .any(|n| n["Index Name"] == "music_generation_queue_user_created_idx"),
        "not served by the user's index: {plan}"
    );
    let read_and_dropped: i64 = all
        .iter()
        .filter_map(|n| n["Rows Removed by Filter"].as_i64())
        .sum();
    assert_eq!(read_and_dropped, 0, "other users' rows were read: {plan}");

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[me, others, admin]).await
}

#[tokio::test]
async fn anonymous_callers_have_no_request_list() -> Result<()> {
    let mut db = sql::db().await?;
    sql::expect_sqlstate(sql::call(&mut db, Caller::Anon, NEWEST, &[]).await, "42501");
    Ok(())
}
