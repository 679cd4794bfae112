//! Row-level security and grants, seen through each kind of caller exactly
//! as PostgREST would run the request.

use anyhow::Result;
use serde_json::Value;
use stack_tests::sql::{self, Caller};
use uuid::Uuid;

/// Two users with one request each (and its events), in a queue of the test.
struct Bundle {
    queue: String,
    a: Uuid,
    b: Uuid,
    admin: Uuid,
    a_request: Uuid,
    b_request: Uuid,
}

async fn setup(db: &mut tokio_postgres::Client) -> Result<Bundle> {
    let queue = sql::new_queue(db).await?;
    let (a, b, admin) = (
        sql::new_user(db).await?,
        sql::new_user(db).await?,
        sql::new_user(db).await?,
    );
    let a_request = sql::enqueue(db, &queue, a, "joy").await?;
    let b_request = sql::enqueue(db, &queue, b, "sad").await?;
    Ok(Bundle {
        queue,
        a,
        b,
        admin,
        a_request,
        b_request,
    })
}

async fn teardown(db: &tokio_postgres::Client, t: Bundle) -> Result<()> {
    sql::drop_queue(db, &t.queue).await?;
    sql::drop_users(db, &[t.a, t.b, t.admin]).await
}

/// Request ids of the test's users visible to `caller` in a table.
async fn visible(
    db: &mut tokio_postgres::Client,
    caller: Caller,
    table: &str,
    t: &Bundle,
) -> Result<Vec<Uuid>> {
    let column = if table == "music_generation_queue" {
        "id"
    } else {
        "request_id"
    };
    let rows = sql::call(
        db,
        caller,
        &format!("select distinct {column} from public.{table} where user_id = any($1) order by 1"),
        &[&vec![t.a, t.b]],
    )
    .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids
}

/// A user reads own requests and events only; an admin reads everybody's;
/// user_metadata claiming admin is ignored (the test user token carries it).
#[tokio::test]
async fn users_read_only_their_own_rows_and_admins_read_all() -> Result<()> {
    let mut db = sql::db().await?;
    let t = setup(&mut db).await?;

    for table in ["music_generation_queue", "music_generation_events"] {
        assert_eq!(
            visible(&mut db, Caller::User(t.a), table, &t).await?,
            [t.a_request],
            "{table}"
        );
        assert_eq!(
            visible(&mut db, Caller::User(t.b), table, &t).await?,
            [t.b_request],
            "{table}"
        );
        assert_eq!(
            visible(&mut db, Caller::Admin(t.admin), table, &t).await?,
            sorted(vec![t.a_request, t.b_request]),
            "{table}"
        );
        assert_eq!(
            visible(&mut db, Caller::Service, table, &t).await?,
            sorted(vec![t.a_request, t.b_request]),
            "{table}"
        );
    }

    // By id, B's request does not exist for A.
    let by_id = "select count(*) from public.music_generation_queue where id = $1";
    let seen: i64 = sql::call(&mut db, Caller::User(t.a), by_id, &[&t.b_request]).await?[0].get(0);
    assert_eq!(seen, 0);

    teardown(&db, t).await
}

/// Nobody writes queue rows directly: not a user on own or others' rows,
/// not the service role; only the SQL API changes them.
#[tokio::test]
async fn no_role_writes_queue_rows_directly() -> Result<()> {
    let mut db = sql::db().await?;
    let t = setup(&mut db).await?;

    let insert = "insert into public.music_generation_queue (user_id, emotion, prompt) values ($1, 'joy', 'x')";
    let update = "update public.music_generation_queue set status = 'completed' where id = $1";
    let delete = "delete from public.music_generation_queue where id = $1";
    for caller in [
        Caller::User(t.a),
        Caller::Admin(t.admin),
        Caller::Service,
        Caller::Anon,
    ] {
        sql::expect_sqlstate(sql::call(&mut db, caller, insert, &[&t.a]).await, "42501");
        for id in [t.a_request, t.b_request] {
            sql::expect_sqlstate(sql::call(&mut db, caller, update, &[&id]).await, "42501");
            sql::expect_sqlstate(sql::call(&mut db, caller, delete, &[&id]).await, "42501");
        }
    }
    let event = "insert into public.music_generation_events (request_id, user_id, event) values ($1, $2, 'completed')";
    sql::expect_sqlstate(
        sql::call(&mut db, Caller::User(t.a), event, &[&t.a_request, &t.a]).await,
        "42501",
    );
    let track = "insert into public.music_tracks (emotion, audio_url) values ('joy', 'https://x.test/a.mp3')";
    sql::expect_sqlstate(
        sql::call(&mut db, Caller::User(t.a), track, &[]).await,
        "42501",
    );
    let status = "update public.suno_api_status set state = 'down', is_available = false";
    sql::expect_sqlstate(
        sql::call(&mut db, Caller::User(t.a), status, &[]).await,
        "42501",
    );

    // A user cannot drive the worker's transitions either.
    let claim = "select * from public.claim_music_requests('me', 5, 60, $1)";
    sql::expect_sqlstate(
        sql::call(&mut db, Caller::User(t.a), claim, &[&t.queue]).await,
        "42501",
    );
    let complete = "select * from public.complete_music_request($1, $2, '{\"clips\": []}')";
    sql::expect_sqlstate(
        sql::call(
            &mut db,
            Caller::User(t.a),
            complete,
            &[&t.a_request, &Uuid::new_v4()],
        )
        .await,
        "42501",
    );
    let token = "select * from public.take_rate_token()";
    sql::expect_sqlstate(
        sql::call(&mut db, Caller::User(t.a), token, &[]).await,
        "42501",
    );

    // Nor enqueue for somebody else, or pick the queue and priority.
    let for_b = "select public.enqueue_music_request(p_emotion => 'joy', p_user_id => $1)";
    sql::expect_sqlstate(
        sql::call(&mut db, Caller::User(t.a), for_b, &[&t.b]).await,
        "42501",
    );
    let jump = "select public.enqueue_music_request(p_emotion => 'joy', p_priority => 0)";
    sql::expect_sqlstate(
        sql::call(&mut db, Caller::User(t.a), jump, &[]).await,
        "42501",
    );

    let unchanged: i64 = db
        .query_one(
            "select count(*) from public.music_generation_queue where queue = $1 and status = 'pending'",
            &[&t.queue],
        )
        .await?
        .get(0);
    assert_eq!(unchanged, 2);
    teardown(&db, t).await
}

/// Anonymous callers read the public provider status and nothing else.
#[tokio::test]
async fn anon_reads_only_the_provider_status() -> Result<()> {
    let mut db = sql::db().await?;
    let t = setup(&mut db).await?;

    let status = sql::call(
        &mut db,
        Caller::Anon,
        "select state, is_available from public.suno_api_status",
        &[],
    )
    .await?;
    assert_eq!(status.len(), 1);

    for table in [
        "music_generation_queue",
        "music_generation_events",
        "music_tracks",
        "suno_api_status_checks",
        "music_queues",
        "music_rate_limits",
    ] {
        let read = format!("select count(*) from public.{table}");
        sql::expect_sqlstate(sql::call(&mut db, Caller::Anon, &read, &[]).await, "42501");
    }
    let enqueue = "select public.enqueue_music_request('joy')";
    sql::expect_sqlstate(
        sql::call(&mut db, Caller::Anon, enqueue, &[]).await,
        "42501",
    );
    let stats = "select public.music_queue_stats()";
    sql::expect_sqlstate(sql::call(&mut db, Caller::Anon, stats, &[]).await, "42501");

    teardown(&db, t).await
}

/// Admin RPCs refuse signed-in non-admins with 42501 (PostgREST: 403) and
/// work for admins.
#[tokio::test]
async fn admin_rpcs_refuse_non_admins() -> Result<()> {
    let mut db = sql::db().await?;
    let t = setup(&mut db).await?;

    let queue = t.queue.as_str();
    let calls: [(&str, Vec<&(dyn tokio_postgres::types::ToSql + Sync)>); 6] = [
        (
            "select * from public.admin_cancel_music_request($1)",
            vec![&t.b_request],
        ),
        (
            "select * from public.admin_retry_music_request($1)",
            vec![&t.b_request],
        ),
        ("select public.pause_music_queue('no', $1)", vec![&queue]),
        ("select public.resume_music_queue($1)", vec![&queue]),
        ("select public.music_queue_stats($1)", vec![&queue]),
        (
            "select count(*) from public.music_queue_timeseries(24, $1)",
            vec![&queue],
        ),
    ];
    for (statement, params) in &calls {
        sql::expect_sqlstate(
            sql::call(&mut db, Caller::User(t.a), statement, params).await,
            "42501",
        );
    }
    let stats: Value = sql::call(
        &mut db,
        Caller::Admin(t.admin),
        "select public.music_queue_stats($1)",
        &[&queue],
    )
    .await?[0]
        .get(0);
    assert_eq!(stats["counts"]["pending"], 2);
    let cancelled = sql::call(&mut db, Caller::Admin(t.admin), calls[0].0, &calls[0].1).await?;
    assert_eq!(cancelled.len(), 1);

    teardown(&db, t).await
}
