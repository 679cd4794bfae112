//! The gateway routes of the local stack, against the fixture project in
//! `tests/fixtures/project` (two echo functions, an RLS-protected table).

use reqwest::StatusCode;
use serde_json::{json, Value};
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
    assert_eq!(
        body,
        json!({
            "message": "No API key found in request",
            "hint": "No `apikey` request header or url param was found.",
        })
    );

    for wrong_key in ["not-a-project-key", "sb_secret_guessed"] {
        let wrong = client
            .get(format!("{}/rest/v1/notes", env.url))
            .header("apikey", wrong_key)
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        let body: Value = wrong.json().await.unwrap();
        assert_eq!(
            body,
            json!({
                "message": "Invalid API key",
                "hint": "Double check your Supabase `anon` or `service_role` API key.",
            })
        );
    }
}

/// The owners of the notes visible with these headers (the fixture holds one
/// note per user; other tests may add more).
async fn visible_notes(env: &StackEnv, apikey: &str, bearer: Option<&str>) -> Vec<String> {
    let mut request = reqwest::Client::new()
        .get(format!("{}/rest/v1/notes?select=owner", env.url))
        .header("apikey", apikey);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let rows: Vec<Value> = response.json().await.unwrap();
    rows.iter()
        .map(|row| row["owner"].as_str().unwrap().to_string())
        .collect()
}

/// Whether these owners include both fixture users: what service_role sees.
fn sees_every_user(owners: &[String]) -> bool {
    [USER_A, USER_B]
        .iter()
        .all(|user| owners.iter().any(|owner| owner == user))
}

#[tokio::test]
async fn new_api_keys_stand_for_the_anon_and_service_role_jwts() {
    let env = env();
    assert!(env.publishable_key.starts_with("sb_publishable_"));
    assert!(env.secret_key.starts_with("sb_secret_"));
    // The secret key acts as service_role (bypasses RLS), the publishable
    // key as anon (matches no policy).
    assert!(sees_every_user(
        &visible_notes(&env, &env.secret_key, None).await
    ));
    assert!(visible_notes(&env, &env.publishable_key, None)
        .await
        .is_empty());
    // A user's JWT is kept whichever key comes with it.
    let user = user_token(USER_A, None);
    for apikey in [&env.publishable_key, &env.secret_key] {
        let rows = visible_notes(&env, apikey, Some(&user)).await;
        assert_eq!(rows, vec![USER_A.to_string()]);
    }
    // An sb_ key as the bearer is replaced by the apikey's JWT: a secret key
    // smuggled in Authorization does not lift a publishable apikey.
    let smuggled = visible_notes(&env, &env.publishable_key, Some(&env.secret_key)).await;
    assert!(smuggled.is_empty());
    let own = visible_notes(&env, &env.secret_key, Some(&env.secret_key)).await;
    assert!(sees_every_user(&own));
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
    assert!(response.headers().get("access-control-max-age").is_none());
}

#[tokio::test]
async fn an_options_request_that_is_no_preflight_needs_an_apikey() {
    let env = env();
    let client = reqwest::Client::new();
    let url = format!("{}/rest/v1/notes", env.url);
    let without_origin = client
        .request(reqwest::Method::OPTIONS, &url)
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(without_origin.status(), StatusCode::UNAUTHORIZED);
    let without_method = client
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .unwrap();
    assert_eq!(without_method.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(without_method.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn postgrests_own_expose_headers_reach_the_browser() {
    let env = env();
    let response = reqwest::Client::new()
        .get(format!("{}/rest/v1/notes", env.url))
        .header("apikey", &env.anon_key)
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(exposed.contains("Location"), "{exposed}");
    assert!(exposed.contains("Range-Unit"), "{exposed}");
    assert!(!exposed.contains("Preference-Applied"), "{exposed}");
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
    assert_eq!(
        body,
        json!({ "code": 401, "message": "Missing authorization header" })
    );

    // An sb_ key is no JWT: functions get no key translation, as on hosted.
    for not_a_jwt in ["a.b.c", env.secret_key.as_str()] {
        let refused = call_function(&env, "echo-private", Some(not_a_jwt)).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body, json!({ "code": 401, "message": "Invalid JWT" }));
    }

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
    let key_map = |key: &str| json!({ "default": key }).to_string();
    assert_eq!(
        seen["env"]["SUPABASE_PUBLISHABLE_KEYS"],
        key_map(&env.publishable_key)
    );
    assert_eq!(
        seen["env"]["SUPABASE_SECRET_KEYS"],
        key_map(&env.secret_key)
    );
    assert_eq!(seen["env"]["SUPABASE_JWKS"], r#"{"keys":[]}"#);
    assert_eq!(seen["env"]["devstack_names"], json!([]));
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
    assert_eq!(
        body,
        json!({ "code": "NOT_FOUND", "message": "Requested function was not found" })
    );
}

#[tokio::test]
async fn the_web_app_has_its_own_origin_with_client_routes() {
    let env = env();
    assert_ne!(env.web_url, env.url);
    for path in ["/", "/admin/music-queue"] {
        let response = reqwest::get(format!("{}{path}", env.web_url))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let page = response.text().await.unwrap();
        assert!(page.contains("fixture web app"), "{path}: {page}");
    }
    // The API's origin serves the API only.
    for path in ["/", "/admin/music-queue", "/index.html"] {
        let response = reqwest::get(format!("{}{path}", env.url)).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(!response.text().await.unwrap().contains("fixture web app"));
    }
}
