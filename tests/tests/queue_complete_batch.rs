//! `complete_music_requests`: many completions in one call. Each request
//! completes exactly once and only under its lease; stale, cancelled and
//! repeated items are skipped without failing the others; a bad item
//! refuses the whole batch, naming it; only the service role may call it.

use anyhow::Result;
use serde_json::{json, Value};
use stack_tests::sql::{self, two_clips, Caller, Claim};
use stack_tests::StackEnv;
use uuid::Uuid;

const BATCH: &str = "select id from public.complete_music_requests($1)";

fn item(claim: Claim, result: Value) -> Value {
    json!({ "request_id": claim.id, "lease_token": claim.token, "result": result })
}

/// The ids a batch call completed, sorted.
async fn complete_batch(db: &mut tokio_postgres::Client, items: &Value) -> Result<Vec<Uuid>> {
    let rows = sql::call(db, Caller::Service, BATCH, &[items]).await?;
    let mut ids: Vec<Uuid> = rows.iter().map(|row| row.get(0)).collect();
    ids.sort();
    Ok(ids)
}

/// The clip ids of a request's tracks, and the track ids its completed
/// event names, both sorted.
async fn tracks_and_logged(db: &tokio_postgres::Client, id: Uuid) -> Result<(Vec<String>, usize)> {
    let clips = db
        .query(
            "select provider_clip_id from public.music_tracks where request_id = $1 order by 1",
            &[&id],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let logged: i64 = db
        .query_one(
            "select count(*) from public.music_generation_events e
               cross join jsonb_array_elements_text(e.detail -> 'track_ids') t (track_id)
               join public.music_tracks tr on tr.id = t.track_id::uuid and tr.request_id = e.request_id
              where e.request_id = $1 and e.event = 'completed'",
            &[&id],
        )
        .await?
        .get(0);
    Ok((clips, usize::try_from(logged)?))
}

#[tokio::test]
async fn each_request_completes_once_under_its_own_lease() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let (user, admin) = (sql::new_user(&db).await?, sql::new_user(&db).await?);
    sql::insert_pending(&db, &queue, user, 4).await?;
    let claims = sql::claim(&mut db, "batch-worker", 4, 120, &queue).await?;
    assert_eq!(claims.len(), 4);
    let (done, twice, stale, cancelled) = (claims[0], claims[1], claims[2], claims[3]);

    let cancel = "select 1 from public.admin_cancel_music_request($1)";
    sql::call(&mut db, Caller::Admin(admin), cancel, &[&cancelled.id]).await?;
    let stale_lease = Claim {
        token: Uuid::new_v4(),
        ..stale
    };
    let (first, second) = (two_clips("batch-a"), two_clips("batch-b"));
    let items = json!([
        item(done, first.clone()),
        item(twice, second.clone()),
        item(twice, two_clips("batch-again")),
        item(stale_lease, two_clips("batch-stale")),
        item(cancelled, two_clips("batch-cancelled")),
    ]);

    let mut expected = vec![done.id, twice.id];
    expected.sort();
    assert_eq!(complete_batch(&mut db, &items).await?, expected);
    assert!(
        complete_batch(&mut db, &items).await?.is_empty(),
        "the same batch again completed something"
    );

    for (claim, result) in [(done, &first), (twice, &second)] {
        let now = sql::snapshot(&db, claim.id).await?;
        assert_eq!(now.status, "completed");
        assert_eq!(now.lease_token, None, "the lease stays after completion");
        assert_eq!(
            sql::events(&db, claim.id).await?,
            ["claimed", "completed"],
            "one completion logged"
        );
        let stored: Value = db
            .query_one(
                "select result from public.music_generation_queue where id = $1",
                &[&claim.id],
            )
            .await?
            .get(0);
        assert_eq!(&stored, result, "the first item naming a request wins");
        let (clips, logged) = tracks_and_logged(&db, claim.id).await?;
        let mut sent: Vec<String> = result["clips"]
            .as_array()
            .unwrap()
            .iter()
            .map(|clip| clip["id"].as_str().unwrap().to_string())
            .collect();
        sent.sort();
        assert_eq!(clips, sent, "one track per clip");
        assert_eq!(logged, 2, "the event names both tracks");
    }
    let actor: String = db
        .query_one(
            "select actor from public.music_generation_events where request_id = $1 and event = 'completed'",
            &[&done.id],
        )
        .await?
        .get(0);
    assert_eq!(actor, "batch-worker", "the event names the lease holder");

    let left = sql::snapshot(&db, stale.id).await?;
    assert_eq!(
        left.status, "processing",
        "a stale lease completed a request"
    );
    assert_eq!(left.lease_token, Some(stale.token));
    assert_eq!(sql::snapshot(&db, cancelled.id).await?.status, "failed");
    let no_tracks: i64 = db
        .query_one(
            "select count(*) from public.music_tracks where request_id = any($1)",
            &[&vec![stale.id, cancelled.id]],
        )
        .await?
        .get(0);
    assert_eq!(no_tracks, 0, "skipped requests got tracks");

    // The holder of the stale request still completes it alone.
    assert!(sql::complete(&mut db, stale).await?);

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user, admin]).await?;
    Ok(())
}

#[tokio::test]
async fn a_bad_item_refuses_the_whole_batch_naming_it() -> Result<()> {
    let mut db = sql::db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    sql::insert_pending(&db, &queue, user, 2).await?;
    let claims = sql::claim(&mut db, "batch-worker", 2, 120, &queue).await?;

    let no_audio = json!({ "clips": [{ "id": "x", "audio_url": "ftp://cdn.example.test/x.mp3" }] });
    let no_token = json!({ "request_id": claims[1].id, "result": two_clips("t") });
    for (items, field) in [
        (
            json!([item(claims[0], two_clips("ok")), item(claims[1], no_audio)]),
            "completions[1]",
        ),
        (
            json!([no_token, item(claims[0], two_clips("ok"))]),
            "completions[0]",
        ),
        (json!([]), "completions"),
        (json!({ "request_id": claims[0].id }), "completions"),
    ] {
        let error = sql::expect_sqlstate(
            sql::call(&mut db, Caller::Service, BATCH, &[&items]).await,
            "22023",
        );
        let detail = error.as_db_error().and_then(|e| e.detail()).unwrap_or("");
        assert_eq!(detail, format!("field: {field}"), "{items}");
    }
    for claim in &claims {
        assert_eq!(sql::snapshot(&db, claim.id).await?.status, "processing");
    }

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}

/// Through the gateway with the service key, as the worker calls it; a
/// user's own token is refused (a user cannot drive the worker's
/// transitions).
#[tokio::test]
async fn the_service_role_completes_a_batch_through_the_api() -> Result<()> {
    let env = StackEnv::from_env()?;
    let mut db = env.db().await?;
    let queue = sql::new_queue(&db).await?;
    let user = sql::new_user(&db).await?;
    sql::insert_pending(&db, &queue, user, 2).await?;
    let claims = sql::claim(&mut db, "batch-api", 2, 120, &queue).await?;
    let body = json!({ "p_completions": [item(claims[0], two_clips("api-a")), item(claims[1], two_clips("api-b"))] });
    let http = reqwest::Client::new();
    let url = format!("{}/rest/v1/rpc/complete_music_requests", env.url);

    let as_user = http
        .post(&url)
        .header("apikey", &env.anon_key)
        .bearer_auth(stack_tests::stack::user_token(&user.to_string(), None))
        .json(&body)
        .send()
        .await?;
    assert_eq!(as_user.status(), 403, "{}", as_user.text().await?);

    let response = http
        .post(&url)
        .header("apikey", &env.service_role_key)
        .json(&body)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let rows: Vec<Value> = response.json().await?;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|row| row["status"] == "completed"));

    sql::drop_queue(&db, &queue).await?;
    sql::drop_users(&db, &[user]).await?;
    Ok(())
}
