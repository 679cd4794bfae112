//! The pg_net background worker, outside the database.
//!
//! `net.http_*` calls queue rows in `net.http_request_queue`; an insert
//! trigger sends NOTIFY, which Postgres delivers only at commit, so a request
//! from a rolled-back transaction is never seen, let alone sent.
//!
//! The worker works in batches, as the real one does: it takes (and deletes)
//! up to `pg_net.batch_size` (200) queued rows, sends them all at once with
//! libcurl, and takes nothing more until every request of the batch has
//! finished or timed out. The batch's `net._http_response` rows are then
//! written in one transaction, so they appear together. A slow request thus
//! holds back everything queued after it, as on a hosted project. Rows older
//! than the TTL (`pg_net.ttl`, 6 hours by default) are deleted.

mod transfer;

use crate::config::StackConfig;
use anyhow::Result;
use futures_util::{stream, StreamExt};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, NoTls};
use transfer::{Outcome, QueuedRequest};

/// A pass also runs this often, in case a notification was missed while
/// reconnecting.
const SAFETY_POLL: Duration = Duration::from_secs(5);
/// How often old responses are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Set when the worker's future is dropped (the stack stops, aborting the
/// task), so that a batch in flight on its blocking thread gives up instead
/// of holding the shutdown until its slowest request ends.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs the worker until the task is aborted, reconnecting after errors.
pub async fn run(config: StackConfig) {
    loop {
        if let Err(error) = run_connected(&config).await {
            eprintln!("pg_net worker: {error:#}; reconnecting");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn run_connected(config: &StackConfig) -> Result<()> {
    let (mut client, mut connection) = tokio_postgres::connect(&config.db_url(), NoTls).await?;
    let (wake, mut woken) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => {
                    let _ = wake.send(());
                }
                Ok(_) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    });
    client.batch_execute("listen devstack_pg_net").await?;
    let cancelled = Arc::new(AtomicBool::new(false));
    let _cancel_on_drop = CancelOnDrop(cancelled.clone());
    let mut pruned = Instant::now();
    loop {
        if driver.is_finished() {
            anyhow::bail!("the database connection closed");
        }
        if pruned.elapsed() >= PRUNE_EVERY {
            prune_responses(&client).await?;
            pruned = Instant::now();
        }
        let batch = take_batch(&client).await?;
        if !batch.is_empty() {
            let cancelled = cancelled.clone();
            let outcomes =
                tokio::task::spawn_blocking(move || transfer::send_batch(batch, &cancelled))
                    .await??;
            record_batch(&mut client, &outcomes).await?;
            continue;
        }
        tokio::select! {
            _ = woken.recv() => {}
            _ = tokio::time::sleep(SAFETY_POLL) => {}
        }
    }
}

/// Takes the oldest queued requests, at most `pg_net.batch_size` of them,
/// with their headers as `Name: value` lines, as the extension reads them.
async fn take_batch(client: &Client) -> Result<Vec<QueuedRequest>> {
    let rows = client
        .query(
            "with batch as (
               select id from net.http_request_queue
               order by id
               limit coalesce(nullif(current_setting('pg_net.batch_size', true), '')::int, 200)
             )
             delete from net.http_request_queue q using batch where q.id = batch.id
             returning q.id, q.method::text, q.url, q.timeout_milliseconds,
                       array(select key || ': ' || value from jsonb_each_text(q.headers)),
                       q.body",
            &[],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| QueuedRequest {
            id: row.get(0),
            method: row.get(1),
            url: row.get(2),
            timeout_ms: row.get(3),
            headers: row.get(4),
            body: row.get(5),
        })
        .collect())
}

/// Writes the outcomes of one batch in one transaction.
async fn record_batch(client: &mut Client, outcomes: &[(i64, Outcome)]) -> Result<()> {
    let tx = client.transaction().await?;
    let insert = tx
        .prepare(
            "insert into net._http_response
               (id, status_code, content_type, headers, content, timed_out, error_msg)
             values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await?;
    for (id, outcome) in outcomes {
        tx.execute(
            &insert,
            &[
                id,
                &outcome.status_code,
                &outcome.content_type,
                &outcome.headers,
                &outcome.content,
                &outcome.timed_out,
                &outcome.error_msg,
            ],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn prune_responses(client: &Client) -> Result<()> {
    client
        .execute(
            "delete from net._http_response
             where created < now() - coalesce(nullif(current_setting('pg_net.ttl', true), ''),
                                              '6 hours')::interval",
            &[],
        )
        .await?;
    Ok(())
}
