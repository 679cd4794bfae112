//! The pg_net background worker, outside the database.
//!
//! `net.http_*` calls queue rows in `net.http_request_queue`; an insert
//! trigger sends NOTIFY, which Postgres delivers only at commit, so a request
//! from a rolled-back transaction is never seen, let alone sent. The worker
//! takes the queued rows (deleting them, as pg_net does), sends them all at
//! once, each with its own timeout, and writes one `net._http_response` row per
//! request with pg_net's columns and error texts. Rows older than the TTL
//! (`pg_net.ttl`, 6 hours by default) are deleted.

use crate::config::StackConfig;
use anyhow::Result;
use futures_util::{stream, StreamExt};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, NoTls};

/// The version pg_net puts in its User-Agent.
const USER_AGENT: &str = "pg_net/v0.14.0";
/// How many queued requests one query takes (pg_net's `batch_size`).
const BATCH_SIZE: i64 = 200;
/// A pass also runs this often, in case a notification was missed while
/// reconnecting.
const SAFETY_POLL: Duration = Duration::from_secs(5);
/// How often old responses are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// One queued request, as pg_net's worker reads it.
struct QueuedRequest {
    id: i64,
    method: String,
    url: String,
    headers: Value,
    body: Option<Vec<u8>>,
    timeout_ms: i32,
}

/// What happened to one request, in `net._http_response`'s terms.
struct Outcome {
    status_code: Option<i32>,
    content_type: Option<String>,
    headers: Option<Value>,
    content: Option<String>,
    timed_out: bool,
    error_msg: Option<String>,
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
    let (client, mut connection) = tokio_postgres::connect(&config.db_url(), NoTls).await?;
    let client = Arc::new(client);
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
    let http = reqwest::Client::builder().user_agent(USER_AGENT).build()?;
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    loop {
        if driver.is_finished() {
            anyhow::bail!("the database connection closed");
        }
        send_queued(&client, &http).await?;
        tokio::select! {
            _ = woken.recv() => {}
            _ = tokio::time::sleep(SAFETY_POLL) => {}
            _ = prune.tick() => prune_responses(&client).await?,
        }
    }
}

/// Takes every queued request and sends each on its own task, which records
/// the outcome when it comes: a slow call (the worker's runs for minutes)
/// never holds back the requests queued after it.
async fn send_queued(client: &Arc<Client>, http: &reqwest::Client) -> Result<()> {
    loop {
        let batch = take_batch(client).await?;
        if batch.is_empty() {
            return Ok(());
        }
        for request in batch {
            let (client, http) = (client.clone(), http.clone());
            tokio::spawn(async move {
                let outcome = send(&http, &request).await;
                if let Err(error) = record(&client, request.id, &outcome).await {
                    eprintln!(
                        "pg_net worker: recording response {}: {error:#}",
                        request.id
                    );
                }
            });
        }
    }
}

async fn take_batch(client: &Client) -> Result<Vec<QueuedRequest>> {
    let rows = client
        .query(
            "delete from net.http_request_queue
             where id in (select id from net.http_request_queue order by id limit $1
                          for update skip locked)
             returning id, method::text, url, headers, body, timeout_milliseconds",
            &[&BATCH_SIZE],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| QueuedRequest {
            id: row.get(0),
            method: row.get(1),
            url: row.get(2),
            headers: row.get(3),
            body: row.get(4),
            timeout_ms: row.get(5),
        })
        .collect())
}

async fn send(http: &reqwest::Client, request: &QueuedRequest) -> Outcome {
    let method =
        reqwest::Method::from_bytes(request.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let timeout = Duration::from_millis(request.timeout_ms.max(0) as u64);
    let mut builder = http.request(method, &request.url).timeout(timeout);
    if let Some(headers) = request.headers.as_object() {
        for (name, value) in headers {
            let value = value
                .as_str()
                .map(str::to_string)
                .unwrap_or(value.to_string());
            builder = builder.header(name.as_str(), value);
        }
    }
    if let Some(body) = &request.body {
        builder = builder.body(body.clone());
    }
    match builder.send().await {
        Ok(response) => answered(response).await,
        Err(error) => failed(&error, request.timeout_ms),
    }
}

async fn answered(response: reqwest::Response) -> Outcome {
    let status = response.status().as_u16() as i32;
    let mut headers = Map::new();
    for (name, value) in response.headers() {
        headers.insert(
            name.to_string(),
            Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        );
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let content = response
        .bytes()
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .ok();
    Outcome {
        status_code: Some(status),
        content_type,
        headers: Some(Value::Object(headers)),
        content,
        timed_out: false,
        error_msg: None,
    }
}

/// pg_net's error texts (curl's), so monitoring queries match either.
fn failed(error: &reqwest::Error, timeout_ms: i32) -> Outcome {
    let (timed_out, message) = if error.is_timeout() {
        (true, format!("Timeout of {timeout_ms} ms reached"))
    } else if error.is_connect() {
        (false, "Couldn't connect to server".to_string())
    } else {
        (false, format!("{error}"))
    };
    Outcome {
        status_code: None,
        content_type: None,
        headers: None,
        content: None,
        timed_out,
        error_msg: Some(message),
    }
}

async fn record(client: &Client, id: i64, outcome: &Outcome) -> Result<()> {
    client
        .execute(
            "insert into net._http_response
               (id, status_code, content_type, headers, content, timed_out, error_msg)
             values ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &id,
                &outcome.status_code,
                &outcome.content_type,
                &outcome.headers,
                &outcome.content,
                &outcome.timed_out,
                &outcome.error_msg,
            ],
        )
        .await?;
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
