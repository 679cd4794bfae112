//! The shared submit budget (token bucket) and the provider status record.
//!
//! Buckets are named per test, so the real `suno_submit` budget is never
//! touched; provider status checks run in transactions that roll back, so
//! the real worker never sees a test's outage.

use anyhow::Result;
use stack_tests::sql::{self, Caller};
use uuid::Uuid;

/// A bucket of the test's own: `capacity` takes per `window` seconds.
async fn new_bucket(db: &mut tokio_postgres::Client, capacity: i32, window: f64) -> Result<String> {
    let name = format!("test-{}", Uuid::new_v4().simple());
    sql::call(
        db,
        Caller::Service,
        "select public.set_rate_limit($1, $2, $3::float8::numeric)",
        &[&name, &capacity, &window],
    )
    .await?;
    Ok(name)
}

async fn take(db: &mut tokio_postgres::Client, bucket: &str) -> Result<(bool, i32, i32)> {
    let row = &sql::call(
        db,
        Caller::Service,
        "select * from public.take_rate_token($1)",
        &[&bucket],
    )
    .await?[0];
    Ok((row.get(0), row.get(1), row.get(2)))
}

/// 20 takes in a window succeed; the 21st is refused and told how long to
/// wait; after that wait a take succeeds again.
#[tokio::test]
async fn twenty_takes_per_window_then_a_wait() -> Result<()> {
    let mut db = sql::db().await?;
    let bucket = new_bucket(&mut db, 20, 2.0).await?;

    for n in 1..=20 {
        let (granted, wait, remaining) = take(&mut db, &bucket).await?;
        assert!(granted, "take {n} refused");
        assert_eq!((wait, remaining), (0, 20 - n));
    }
    let (granted, wait, _) = take(&mut db, &bucket).await?;
    assert!(!granted, "21st take granted");
    assert!(
        (1..=2000).contains(&wait),
        "wait {wait} ms outside the window"
    );

    tokio::time::sleep(std::time::Duration::from_millis(wait as u64 + 50)).await;
    assert!(
        take(&mut db, &bucket).await?.0,
        "no token after the advised wait"
    );

    let unknown = "select * from public.take_rate_token('no-such-bucket')";
    sql::expect_sqlstate(
        sql::call(&mut db, Caller::Service, unknown, &[]).await,
        "P0002",
    );
    db.execute(
        "delete from public.music_rate_limits where name = $1",
        &[&bucket],
    )
    .await?;
    Ok(())
}

/// Eight concurrent takers, 80 attempts, one budget of 20: exactly 20 are
/// granted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_takers_never_exceed_the_budget() -> Result<()> {
    let mut db = sql::db().await?;
    let bucket = new_bucket(&mut db, 20, 600.0).await?;

    let mut takers = Vec::new();
    for _ in 0..8 {
        let bucket = bucket.clone();
        takers.push(tokio::spawn(async move {
            let mut db = sql::db().await?;
            let mut granted = 0;
            for _ in 0..10 {
                granted += usize::from(take(&mut db, &bucket).await?.0);
            }
            anyhow::Ok(granted)
        }));
    }
    let mut granted = 0;
    for taker in takers {
        granted += taker.await??;
    }
    assert_eq!(granted, 20);

    db.execute(
        "delete from public.music_rate_limits where name = $1",
        &[&bucket],
    )
    .await?;
    Ok(())
}

/// One recorded check: state, response ms, error, credits, HTTP status and
/// cool-down seconds.
type StatusCheck = (
    &'static str,
    i32,
    Option<&'static str>,
    f64,
    i32,
    Option<f64>,
);

/// Checks update the current status in one statement: consecutive failures
/// count up and reset, each check lands in the history, a healthy check
/// closes the circuit. (Rolled back: the real status is left alone.)
#[tokio::test]
async fn status_checks_count_consecutive_failures() -> Result<()> {
    let mut db = sql::db().await?;
    let tx = db.transaction().await?;
    tx.batch_execute("set local role service_role").await?;
    let record = "select state, is_available, consecutive_failures, last_error, credits,
                        paused_until is not null
                   from public.record_suno_status_check($1, $2, $3, $4::float8::numeric, $5,
                                                        now() + make_interval(secs => $6))";
    let steps: [StatusCheck; 4] = [
        ("down", 5000, Some("HTTP 503"), 100.0, 503, Some(60.0)),
        ("down", 4000, Some("HTTP 502"), 100.0, 502, None),
        (
            "unauthorized",
            100,
            Some("401 Unauthorized"),
            100.0,
            401,
            None,
        ),
        ("up", 230, None, 96.0, 200, None),
    ];
    let mut seen = Vec::new();
    for (state, ms, error, credits, http, pause) in steps {
        let row = tx
            .query_one(record, &[&state, &ms, &error, &credits, &http, &pause])
            .await?;
        seen.push((
            row.get::<_, String>(0),
            row.get::<_, bool>(1),
            row.get::<_, i32>(2),
            row.get::<_, bool>(5),
        ));
    }
    assert_eq!(
        seen,
        [
            ("down".into(), false, 1, true),
            ("down".into(), false, 2, true),
            // Its own streak: a refused key is not a third transient failure.
            ("unauthorized".into(), false, 1, true),
            ("up".into(), true, 0, false),
        ]
    );
    let last = tx
        .query_one(
            "select last_error, credits::float8 from public.get_suno_api_status()",
            &[],
        )
        .await?;
    assert_eq!(
        last.get::<_, Option<String>>(0).as_deref(),
        Some("401 Unauthorized")
    );
    assert_eq!(last.get::<_, f64>(1), 96.0);
    let history: i64 = tx
        .query_one(
            // Rows written by this transaction only.
            "select count(*) from public.suno_api_status_checks
              where xmin::text::bigint = txid_current() % 4294967296",
            &[],
        )
        .await?
        .get(0);
    assert_eq!(history, 4);
    tx.rollback().await?;

    // A rate-limit cool-down survives a healthy probe until it runs out.
    let tx = db.transaction().await?;
    tx.batch_execute("set local role service_role").await?;
    tx.query_one(
        "select public.record_suno_status_check('rate_limited', p_paused_until => now() + interval '30 seconds')",
        &[],
    )
    .await?;
    let still: bool = tx
        .query_one(
            "select (public.record_suno_status_check('up', 200)).paused_until > now()",
            &[],
        )
        .await?
        .get(0);
    assert!(still, "a healthy probe cut the rate-limit cool-down short");
    tx.rollback().await?;
    Ok(())
}
