//! The pg_net stand-in: what `net.http_*` sends, when, and what it records.

use serde_json::Value;
use stack_tests::listener::{Answer, Listener};
use stack_tests::StackEnv;
use std::time::Duration;
use tokio_postgres::Client;

async fn db() -> Client {
    StackEnv::from_env().unwrap().db().await.unwrap()
}

/// Waits for the response row of request `id`.
async fn response_row(db: &Client, id: i64) -> tokio_postgres::Row {
    for _ in 0..200 {
        if let Some(row) = db
            .query_opt(
                "select status_code, content_type, content, timed_out, error_msg, headers
                 from net._http_response where id = $1",
                &[&id],
            )
            .await
            .unwrap()
        {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no net._http_response row for request {id}");
}

#[tokio::test]
async fn a_committed_post_is_sent_like_pg_net_and_its_response_recorded() {
    let db = db().await;
    let listener = Listener::start(Answer::Ok).await;
    let id: i64 = db
        .query_one(
            "select net.http_post(
                url := $1,
                body := '{\"hello\": \"world\"}'::jsonb,
                params := '{\"q\": \"a b\"}'::jsonb,
                headers := '{\"Content-Type\": \"application/json\", \"apikey\": \"k1\"}'::jsonb)",
            &[&format!("{}/hook", listener.url())],
        )
        .await
        .unwrap()
        .get(0);

    let received = listener
        .wait_for(Duration::from_secs(10), |r| r.target.starts_with("/hook"))
        .await
        .expect("the request reached the listener");
    assert_eq!(received.method, "POST");
    assert_eq!(received.target, "/hook?q=a%20b");
    assert_eq!(received.header("content-type"), Some("application/json"));
    assert_eq!(received.header("apikey"), Some("k1"));
    assert_eq!(received.header("user-agent"), Some("pg_net/0.20.4"));
    let body: Value = serde_json::from_str(&received.body).unwrap();
    assert_eq!(body, serde_json::json!({ "hello": "world" }));

    let row = response_row(&db, id).await;
    assert_eq!(row.get::<_, Option<i32>>("status_code"), Some(200));
    assert_eq!(
        row.get::<_, Option<String>>("content_type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        row.get::<_, Option<String>>("content").as_deref(),
        Some(r#"{"ok":true}"#)
    );
    assert_eq!(row.get::<_, Option<bool>>("timed_out"), Some(false));
    assert_eq!(row.get::<_, Option<String>>("error_msg"), None);
}

#[tokio::test]
async fn a_rolled_back_request_is_never_sent() {
    let mut db = db().await;
    let listener = Listener::start(Answer::Ok).await;
    let tx = db.transaction().await.unwrap();
    let id: i64 = tx
        .query_one(
            "select net.http_get($1)",
            &[&format!("{}/rolled-back", listener.url())],
        )
        .await
        .unwrap()
        .get(0);
    tx.rollback().await.unwrap();

    // A committed request sent afterwards arrives; the rolled-back one never.
    let later: i64 = db
        .query_one(
            "select net.http_get($1)",
            &[&format!("{}/committed", listener.url())],
        )
        .await
        .unwrap()
        .get(0);
    response_row(&db, later).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let targets: Vec<String> = listener.received().into_iter().map(|r| r.target).collect();
    assert_eq!(targets, vec!["/committed".to_string()]);
    let recorded = db
        .query_opt("select 1 from net._http_response where id = $1", &[&id])
        .await
        .unwrap();
    assert!(recorded.is_none());
}

#[tokio::test]
async fn a_listener_that_never_answers_times_out() {
    let db = db().await;
    let listener = Listener::start(Answer::Never).await;
    let id: i64 = db
        .query_one(
            "select net.http_post($1, timeout_milliseconds := 300)",
            &[&format!("{}/slow", listener.url())],
        )
        .await
        .unwrap()
        .get(0);
    let row = response_row(&db, id).await;
    assert_eq!(row.get::<_, Option<bool>>("timed_out"), Some(true));
    assert_eq!(row.get::<_, Option<i32>>("status_code"), None);
    // pg_net's text, with curl's timings of each step (printf's %f).
    let message: String = row.get("error_msg");
    let step = r"[0-9]+\.[0-9]{6} ms";
    let pattern = format!(
        r"^Timeout of 300 ms reached\. Total time: {step} \(DNS time: {step}, TCP/SSL handshake time: {step}, HTTP Request/Response time: {step}\)$"
    );
    let matches: bool = db
        .query_one("select $1 ~ $2", &[&message, &pattern])
        .await
        .unwrap()
        .get(0);
    assert!(matches, "unexpected timeout text: {message}");
}

#[tokio::test]
async fn a_closed_port_records_an_error_message() {
    let db = db().await;
    // Bind then drop: the port is free and nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let id: i64 = db
        .query_one(
            "select net.http_get($1)",
            &[&format!("http://127.0.0.1:{port}/")],
        )
        .await
        .unwrap()
        .get(0);
    let row = response_row(&db, id).await;
    assert_eq!(row.get::<_, Option<i32>>("status_code"), None);
    assert_eq!(row.get::<_, Option<bool>>("timed_out"), Some(false));
    assert_eq!(
        row.get::<_, Option<String>>("error_msg").as_deref(),
        Some("Couldn't connect to server")
    );
}

#[tokio::test]
async fn a_non_json_content_type_is_refused_like_pg_net() {
    let db = db().await;
    let error = db
        .query_one(
            "select net.http_post('http://127.0.0.1:9/', headers := '{\"Content-Type\": \"text/plain\"}'::jsonb)",
            &[],
        )
        .await
        .unwrap_err();
    let message = error.as_db_error().unwrap().message();
    assert_eq!(message, "Content-Type header must be \"application/json\"");
}

/// Queues a request in its own transaction and returns its id.
async fn queue(db: &Client, sql: &str, url: String) -> i64 {
    db.query_one(sql, &[&url]).await.unwrap().get(0)
}

async fn response_exists(db: &Client, id: i64) -> bool {
    db.query_opt("select 1 from net._http_response where id = $1", &[&id])
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn an_empty_body_is_null_and_header_names_keep_their_case() {
    let db = db().await;
    let listener = Listener::start(Answer::Empty).await;
    let id = queue(
        &db,
        "select net.http_get($1)",
        format!("{}/empty", listener.url()),
    )
    .await;
    let row = response_row(&db, id).await;
    assert_eq!(row.get::<_, Option<i32>>("status_code"), Some(200));
    assert_eq!(row.get::<_, Option<String>>("content"), None);
    let headers: Value = row.get("headers");
    assert_eq!(headers["X-Request-Tag"], "Tagged", "headers: {headers}");
    assert!(headers.get("x-request-tag").is_none());
}

#[tokio::test]
async fn an_unknown_host_is_a_resolve_error() {
    let db = db().await;
    let id = queue(
        &db,
        "select net.http_get($1)",
        "http://no-such-host.invalid/".into(),
    )
    .await;
    let row = response_row(&db, id).await;
    assert_eq!(row.get::<_, Option<i32>>("status_code"), None);
    assert_eq!(row.get::<_, Option<bool>>("timed_out"), Some(false));
    assert_eq!(
        row.get::<_, Option<String>>("error_msg").as_deref(),
        Some("Couldn't resolve host name")
    );
}

#[tokio::test]
async fn a_zero_timeout_means_no_timeout() {
    let db = db().await;
    let listener = Listener::start(Answer::After(Duration::from_millis(1500))).await;
    let id = queue(
        &db,
        "select net.http_get($1, timeout_milliseconds := 0)",
        format!("{}/patient", listener.url()),
    )
    .await;
    let row = response_row(&db, id).await;
    assert_eq!(row.get::<_, Option<i32>>("status_code"), Some(200));
    assert_eq!(row.get::<_, Option<bool>>("timed_out"), Some(false));
}

#[tokio::test]
async fn a_request_queued_while_a_slow_one_runs_is_sent_after_it_ends() {
    let db = db().await;
    let silent = Listener::start(Answer::Never).await;
    let answering = Listener::start(Answer::Ok).await;
    let slow = queue(
        &db,
        "select net.http_post($1, timeout_milliseconds := 2000)",
        format!("{}/slow", silent.url()),
    )
    .await;
    silent
        .wait_for(Duration::from_secs(10), |r| r.target == "/slow")
        .await
        .expect("the slow request is in flight");
    // Queued after the slow one's batch was taken: it goes in the next batch,
    // which the worker takes only once the slow request has timed out.
    let quick = queue(
        &db,
        "select net.http_get($1)",
        format!("{}/quick", answering.url()),
    )
    .await;
    answering
        .wait_for(Duration::from_secs(15), |r| r.target == "/quick")
        .await
        .expect("the quick request is sent in the end");
    assert!(
        response_exists(&db, slow).await,
        "the quick request went out before the slow one had ended"
    );
    let row = response_row(&db, quick).await;
    assert_eq!(row.get::<_, Option<i32>>("status_code"), Some(200));
}

#[tokio::test]
async fn the_responses_of_one_batch_appear_together() {
    let mut db = db().await;
    let delayed = Listener::start(Answer::After(Duration::from_millis(1500))).await;
    let answering = Listener::start(Answer::Ok).await;
    // One transaction: both rows are committed, and so taken, together.
    let tx = db.transaction().await.unwrap();
    let slow: i64 = tx
        .query_one(
            "select net.http_get($1)",
            &[&format!("{}/late", delayed.url())],
        )
        .await
        .unwrap()
        .get(0);
    let quick: i64 = tx
        .query_one(
            "select net.http_get($1)",
            &[&format!("{}/soon", answering.url())],
        )
        .await
        .unwrap()
        .get(0);
    tx.commit().await.unwrap();

    // Sent together...
    answering
        .wait_for(Duration::from_secs(10), |r| r.target == "/soon")
        .await
        .expect("the quick request is sent");
    delayed
        .wait_for(Duration::from_secs(1), |r| r.target == "/late")
        .await
        .expect("both requests of the batch are in flight at once");
    // ...but the quick answer stays invisible until the slow one is in.
    assert!(
        !response_exists(&db, quick).await,
        "the quick response was visible before the batch ended"
    );
    let ids = vec![slow, quick];
    for _ in 0..200 {
        let visible: i64 = db
            .query_one(
                "select count(*) from net._http_response where id = any($1)",
                &[&ids],
            )
            .await
            .unwrap()
            .get(0);
        if visible > 0 {
            assert_eq!(visible, 2, "one response of the batch appeared alone");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no response of the batch appeared");
}
