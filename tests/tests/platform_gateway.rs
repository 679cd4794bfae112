//! The gateway routes of the local stack, against the fixture project in
//! `tests/fixtures/project` (two echo functions, an RLS-protected table).

use reqwest::StatusCode;
use serde_json::Value;
use stack_tests::stack::user_token;
use stack_tests::StackEnv;

const USER_A: &str = "00000000-0000-4000-8000-00000000000a";
const USER_B: &str = "00000000-0000-4000-8000-00000000000b";

fn env() -> StackEnv {
    StackEnv::from_env().expect("stack env")
}

#[tokio::test]
async fn rest_reaches_the_real_postgrest_12() {
    let env = env();
    let response = reqwest::Client::new()
        .get(format!("{}/rest/v1/", env.url))
        .header("apikey", &env.anon_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let server = response.headers()["server"].to_str().unwrap().to_string();
    assert_eq!(server, "postgrest/12.0.2");
    // The OpenAPI description PostgREST serves lists the fixture's table.
    let description: Value = response.json().await.unwrap();
    assert!(description["paths"].get("/notes").is_some());
}

#[tokio::test]
async fn rest_without_or_with_a_wrong_apikey_is_refused_with_json() {
    let env = env();
    let client = reqwest::Client::new();
    let missing = client
        .get(format!("{}/rest/v1/notes", env.url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let body: Value = missing.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("API key"));

    let wrong = client
        .get(format!("{}/rest/v1/notes", env.url))
        .header("apikey", "not-a-project-key")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn rls_gives_each_user_their_own_rows_only() {
    let env = env();
    for (user, note) in [(USER_A, "note of user A"), (USER_B, "note of user B")] {
        let rows: Vec<Value> = reqwest::Client::new()
            .get(format!("{}/rest/v1/notes?select=owner,body", env.url))
            .header("apikey", &env.anon_key)
            .bearer_auth(user_token(user, None))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "{user} sees {rows:?}");
        assert_eq!(rows[0]["owner"], user);
        assert_eq!(rows[0]["body"], note);
    }
    // Anonymous callers match no policy.
    let anonymous: Vec<Value> = reqwest::Client::new()
        .get(format!("{}/rest/v1/notes", env.url))
        .header("apikey", &env.anon_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(anonymous.is_empty());
}

#[tokio::test]
async fn rest_answers_cors_preflight_like_supabase() {
    let env = env();
    let response = reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/rest/v1/notes", env.url),
        )
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "apikey,authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert_eq!(
        response.headers()["access-control-allow-headers"],
        "apikey,authorization"
    );
}

async fn call_function(env: &StackEnv, name: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}/functions/v1/{name}/deeper/path?q=1", env.url))
        .body("payload");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn verify_jwt_true_refuses_calls_without_a_valid_jwt() {
    let env = env();
    let missing = call_function(&env, "echo-private", None).await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let body: Value = missing.json().await.unwrap();
    assert!(body["message"].is_string());

    let forged = call_function(&env, "echo-private", Some("a.b.c")).await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);

    let signed = call_function(&env, "echo-private", Some(&user_token(USER_A, None))).await;
    assert_eq!(signed.status(), StatusCode::OK);
    let seen: Value = signed.json().await.unwrap();
    assert_eq!(seen["function"], "echo-private");
}

#[tokio::test]
async fn verify_jwt_false_runs_without_a_jwt() {
    let env = env();
    let response = call_function(&env, "echo-public", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen["function"], "echo-public");
}

#[tokio::test]
async fn a_function_sees_its_route_and_a_hosted_functions_env() {
    let env = env();
    let seen: Value = call_function(&env, "echo-public", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["path"], "/echo-public/deeper/path");
    assert_eq!(seen["query"], "?q=1");
    assert_eq!(seen["body"], "payload");
    assert_eq!(seen["env"]["SUPABASE_URL"], env.url.as_str());
    assert_eq!(seen["env"]["has_anon_key"], true);
    assert_eq!(seen["env"]["has_service_role_key"], true);
    assert_eq!(seen["env"]["has_db_url"], true);
    assert_eq!(seen["env"]["FIXTURE_SECRET"], "from-dotenv");
    assert_eq!(seen["wait_until"], "function");
    assert_eq!(seen["read_outside"], "denied");
}

#[tokio::test]
async fn an_unknown_function_is_a_json_404() {
    let env = env();
    let response = call_function(&env, "no-such-function", None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert!(body["message"].is_string());
}
