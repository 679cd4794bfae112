//! The probe lease of suno-status-check: at most one provider probe in flight across every
//! caller; the lease ends when a check is recorded or its TTL runs out; a caller that asks
//! only while the status is stale does not probe right after someone else's check.
//!
//! The status row is shared by the whole stack, so this file has one test that owns it.

use anyhow::Result;
use stack_tests::sql::{self, Caller};

async fn take(db: &mut tokio_postgres::Client, older_than: Option<i32>) -> Result<bool> {
    let rows = sql::call(
        db,
        Caller::Service,
        "select public.take_suno_probe_lease(p_ttl_seconds => 15, p_if_older_than_seconds => $1)",
        &[&older_than],
    )
    .await?;
    Ok(rows[0].get(0))
}

async fn record_check(db: &mut tokio_postgres::Client) -> Result<()> {
    sql::call(
        db,
        Caller::Service,
        "select public.record_suno_status_check('up', 150, null, null, 200, null)",
        &[],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn one_probe_in_flight_until_a_check_is_recorded_or_the_lease_expires() -> Result<()> {
    let mut db = sql::db().await?;
    // A stale status, no lease.
    db.execute(
        "update public.suno_api_status
            set last_check_at = now() - interval '5 minutes', probe_leased_at = null, probe_lease_until = null
          where id",
        &[],
    )
    .await?;

    // Eight callers at once: one wins.
    let takers = (0..8).map(|_| async {
        let mut db = sql::db().await?;
        take(&mut db, Some(30)).await
    });
    let won = futures::future::try_join_all(takers).await?;
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    // Even a privileged caller (no staleness condition) waits for the probe in flight.
    assert!(!take(&mut db, None).await?);

    // The probe is recorded: the lease is over, and the status is fresh.
    record_check(&mut db).await?;
    assert!(
        !take(&mut db, Some(30)).await?,
        "a fresh status is not probed again"
    );
    assert!(
        take(&mut db, None).await?,
        "the secret key or an admin may probe a fresh status"
    );
    assert!(!take(&mut db, None).await?);

    // The prober died: the lease runs out.
    db.execute(
        "update public.suno_api_status
            set probe_leased_at = now() - interval '20 seconds', probe_lease_until = now() - interval '5 seconds'
          where id",
        &[],
    )
    .await?;
    assert!(take(&mut db, None).await?);
    record_check(&mut db).await?;

    // Only the service role takes the lease; arguments are checked.
    let admin = sql::new_user(&db).await?;
    for caller in [Caller::Admin(admin), Caller::Anon] {
        let refused = sql::call(
            &mut db,
            caller,
            "select public.take_suno_probe_lease()",
            &[],
        )
        .await;
        sql::expect_sqlstate(refused, "42501");
    }
    let bad = sql::call(
        &mut db,
        Caller::Service,
        "select public.take_suno_probe_lease(0)",
        &[],
    )
    .await;
    let error = sql::expect_sqlstate(bad, "22023");
    assert_eq!(
        error.as_db_error().and_then(|e| e.detail()),
        Some("field: ttl_seconds")
    );
    sql::drop_users(&db, &[admin]).await
}
