//! API sessions as hosted runs them, against the fixture project: PostgREST
//! applies each role's statement timeout, and pg-safeupdate's rule (our
//! `devstack/safeupdate`) refuses UPDATE and DELETE without WHERE in every
//! session that comes through the API, but not in a direct session.

use reqwest::StatusCode;
use serde_json::{json, Value};
use stack_tests::stack::user_token;
use stack_tests::StackEnv;

const USER: &str = "00000000-0000-4000-8000-0000000000c1";

fn env() -> StackEnv {
    StackEnv::from_env().expect("stack env")
}

/// Who calls, by the bearer token sent with the anon key.
enum As {
    Anon,
    User,
    Service,
}

/// `POST /rest/v1/rpc/<name>` with `args`; the status and the JSON body.
async fn rpc(env: &StackEnv, caller: As, name: &str, args: Value) -> (StatusCode, Value) {
    let bearer = match caller {
        As::Anon => env.anon_key.clone(),
        As::User => user_token(USER, None),
        As::Service => env.service_role_key.clone(),
    };
    let response = reqwest::Client::new()
        .post(format!("{}/rest/v1/rpc/{name}", env.url))
        .header("apikey", &env.anon_key)
        .bearer_auth(bearer)
        .json(&args)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn setting(env: &StackEnv, caller: As, name: &str) -> String {
    let (status, body) = rpc(env, caller, "session_setting", json!({ "name": name })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_str().unwrap().to_string()
}

#[tokio::test]
async fn each_api_role_runs_with_its_hosted_timeouts() {
    let env = env();
    assert_eq!(setting(&env, As::Anon, "statement_timeout").await, "3s");
    assert_eq!(setting(&env, As::User, "statement_timeout").await, "8s");
    // service_role has none of its own: authenticator's applies.
    assert_eq!(setting(&env, As::Service, "statement_timeout").await, "8s");
    assert_eq!(setting(&env, As::Service, "lock_timeout").await, "8s");
}

#[tokio::test]
async fn an_anon_call_longer_than_3_s_is_cancelled() {
    let env = env();
    let (status, body) = rpc(&env, As::Anon, "sleep_seconds", json!({ "seconds": 4 })).await;
    assert_eq!(body["code"], "57014", "{status} {body}");
    assert!(status.is_server_error(), "{status} {body}");
    // A signed-in user may take longer (8 s).
    let (status, body) = rpc(&env, As::User, "sleep_seconds", json!({ "seconds": 4 })).await;
    assert!(status.is_success(), "{status} {body}");
}

async fn new_probe(env: &StackEnv, label: &str) -> i64 {
    let db = env.db().await.unwrap();
    db.query_one(
        "insert into public.session_probe (label) values ($1) returning id",
        &[&label],
    )
    .await
    .unwrap()
    .get(0)
}

async fn label_of(env: &StackEnv, id: i64) -> Option<String> {
    let db = env.db().await.unwrap();
    db.query_opt(
        "select label from public.session_probe where id = $1",
        &[&id],
    )
    .await
    .unwrap()
    .map(|row| row.get(0))
}

#[tokio::test]
async fn an_update_or_delete_without_where_fails_inside_an_rpc() {
    let env = env();
    let id = new_probe(&env, "kept").await;
    for (function, args, message) in [
        (
            "relabel_every_probe",
            json!({ "p_label": "changed" }),
            "UPDATE requires a WHERE clause",
        ),
        (
            "forget_every_probe",
            json!({}),
            "DELETE requires a WHERE clause",
        ),
    ] {
        let (status, body) = rpc(&env, As::Service, function, args).await;
        assert_eq!(body["code"], "21000", "{function}: {status} {body}");
        assert_eq!(body["message"], message, "{function}");
        assert!(!status.is_success(), "{function}: {status}");
    }
    assert_eq!(label_of(&env, id).await.as_deref(), Some("kept"));
}

#[tokio::test]
async fn an_update_or_delete_with_where_works_through_an_rpc() {
    let env = env();
    let id = new_probe(&env, "before").await;
    let (status, body) = rpc(
        &env,
        As::Service,
        "relabel_probe",
        json!({ "p_id": id, "p_label": "after" }),
    )
    .await;
    assert_eq!((status, body), (StatusCode::OK, json!(1)));
    assert_eq!(label_of(&env, id).await.as_deref(), Some("after"));
    let (status, body) = rpc(&env, As::Service, "forget_probe", json!({ "p_id": id })).await;
    assert_eq!((status, body), (StatusCode::OK, json!(1)));
    assert_eq!(label_of(&env, id).await, None);
}

#[tokio::test]
async fn a_patch_without_a_filter_is_refused() {
    let env = env();
    let id = new_probe(&env, "untouched").await;
    let response = reqwest::Client::new()
        .patch(format!("{}/rest/v1/session_probe", env.url))
        .header("apikey", &env.service_role_key)
        .json(&json!({ "label": "everything" }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "21000", "{status} {body}");
    assert_eq!(label_of(&env, id).await.as_deref(), Some("untouched"));
}

#[tokio::test]
async fn a_direct_postgres_session_is_not_checked() {
    let env = env();
    let mut db = env.db().await.unwrap();
    // Rolled back: other tests' rows stay.
    let tx = db.transaction().await.unwrap();
    tx.batch_execute(
        "update public.session_probe set label = label;
         delete from public.session_probe;
         select public.relabel_every_probe('x');
         select public.forget_every_probe();",
    )
    .await
    .expect("a direct session may update and delete without WHERE");
    tx.rollback().await.unwrap();
}
