//! Claims are HOT updates (migration `20261130003400`): PostgreSQL updates a
//! row in place, with no new index entries, only when no column that an index
//! mentions changes. An index that names a column a claim (or a poll, or a
//! wake) sets would silently make every claim write an entry in every index
//! again, so the catalog is checked here.

use anyhow::Result;
use stack_tests::sql;

/// What `claim_music_requests`, `claim_music_polls`, `schedule_music_poll`
/// and `wake_music_request` set.
const CHANGED_BY_CLAIMS_AND_POLLS: [&str; 10] = [
    "status",
    "attempts",
    "callback_wait_until",
    "lease_owner",
    "lease_token",
    "lease_expires_at",
    "run_at",
    "started_at",
    "provider_status",
    "updated_at",
];

#[tokio::test]
async fn no_index_of_the_queue_names_a_column_a_claim_changes() -> Result<()> {
    let db = sql::db().await?;
    let indexes = db
        .query(
            "select i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
               from pg_index i
              where i.indrelid = 'public.music_generation_queue'::regclass",
            &[],
        )
        .await?;
    assert!(
        indexes.len() >= 10,
        "the queue's indexes: {}",
        indexes.len()
    );
    for index in &indexes {
        let (name, definition): (String, String) = (index.get(0), index.get(1));
        // The definition names the table once; its columns and predicate follow.
        let columns = &definition[definition.find(" USING ").unwrap_or(0)..];
        for column in CHANGED_BY_CLAIMS_AND_POLLS {
            let named = columns
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|word| word == column);
            assert!(!named, "{name} names {column}: {definition}");
        }
    }
    Ok(())
}

/// The claim's condition, now stated without `status`, still matches the
/// claim index's predicate, so the index can serve it in claim order (sorts
/// and sequential scans are priced out, since the test database is small).
#[tokio::test]
async fn the_claim_can_still_read_the_claim_index() -> Result<()> {
    let mut db = sql::db().await?;
    let tx = db.transaction().await?;
    tx.batch_execute("set local enable_seqscan = off; set local enable_sort = off")
        .await?;
    let plan: Vec<String> = tx
        .query(
            "explain (costs off)
             select q.id from public.music_generation_queue q
              where q.queue = 'default'
                and q.suno_task_id is null and q.completed_at is null and q.failed_at is null
              order by q.priority, q.queued_at, q.id
              limit 1",
            &[],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let plan = plan.join("\n");
    assert!(
        plan.contains("music_generation_queue_claim_idx") && !plan.contains("Sort"),
        "{plan}"
    );
    Ok(())
}
