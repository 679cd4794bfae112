//! The sign-in service on `/auth/v1`, against the fixture stack: driven by
//! the pinned supabase-js (tests/supabase-js/auth.test.ts, under the pinned
//! Deno), and over plain HTTP for what supabase-js hides (the error bodies,
//! the apikey check, CORS, the stored hash, `devstack user add`).

use reqwest::StatusCode;
use serde_json::{json, Value};
use stack_tests::stack::user_token;
use stack_tests::StackEnv;
use std::path::{Path, PathBuf};
use std::process::Command;

const PASSWORD: &str = "correct horse battery";

fn env() -> StackEnv {
    StackEnv::from_env().expect("stack env")
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn unique_email() -> String {
    format!("{}@example.test", uuid::Uuid::new_v4())
}

/// An `/auth/v1` request with the anon key, as supabase-js sends it.
fn auth(env: &StackEnv, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, format!("{}/auth/v1{path}", env.url))
        .header("apikey", &env.anon_key)
}

/// Creates a confirmed user through the admin API; returns its JSON.
async fn create_user(env: &StackEnv, email: &str, app_metadata: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}/auth/v1/admin/users", env.url))
        .header("apikey", &env.service_role_key)
        .bearer_auth(&env.service_role_key)
        .json(&json!({
            "email": email,
            "password": PASSWORD,
            "email_confirm": true,
            "app_metadata": app_metadata,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn sign_in(env: &StackEnv, email: &str, password: &str) -> reqwest::Response {
    auth(env, reqwest::Method::POST, "/token?grant_type=password")
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

#[test]
fn supabase_js_signs_in_refreshes_signs_out_and_reads_under_rls() {
    let tools = std::env::var("DEVSTACK_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("tools/node_modules"));
    let script = repo_root().join("tests/supabase-js/auth.test.ts");
    // From tools/, so `npm:@supabase/supabase-js` is the pinned copy in its
    // node_modules; nothing is fetched.
    let output = Command::new(tools.join("@deno/linux-x64-glibc/deno"))
        .current_dir(tools.parent().expect("node_modules has a parent"))
        .args([
            "test",
            "--no-check",
            "--node-modules-dir=manual",
            "--cached-only",
        ])
        .args(["--no-lock", "--allow-env", "--allow-net=127.0.0.1"])
        .arg(&script)
        .env("NO_COLOR", "1")
        .output()
        .expect("the pinned deno runs");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{report}");
    assert!(report.contains("6 passed"), "{report}");
}

#[tokio::test]
async fn a_wrong_password_is_400_invalid_credentials_in_both_body_versions() {
    let env = env();
    let email = unique_email();
    create_user(&env, &email, json!({})).await;

    let original = sign_in(&env, &email, "wrong password").await;
    assert_eq!(original.status(), StatusCode::BAD_REQUEST);
    assert!(original.headers().get("x-supabase-api-version").is_none());
    let body: Value = original.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "code": 400, "error_code": "invalid_credentials", "msg": "Invalid login credentials" })
    );

    let dated = auth(&env, reqwest::Method::POST, "/token?grant_type=password")
        .header("x-supabase-api-version", "2024-01-01")
        .json(&json!({ "email": email, "password": "wrong password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(dated.status(), StatusCode::BAD_REQUEST);
    assert_eq!(dated.headers()["x-supabase-api-version"], "2024-01-01");
    let body: Value = dated.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "code": "invalid_credentials", "message": "Invalid login credentials" })
    );

    // An unknown email gets the very same answer.
    let unknown = sign_in(&env, &unique_email(), PASSWORD).await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error_code"], "invalid_credentials");
}

#[tokio::test]
async fn passwords_are_stored_as_supabase_stores_them() {
    let env = env();
    let email = unique_email();
    let user = create_user(&env, &email, json!({})).await;
    let db = env.db().await.unwrap();
    let row = db
        .query_one(
            "select encrypted_password, email_confirmed_at is not null, raw_app_meta_data
             from auth.users where id = $1::text::uuid",
            &[&user["id"].as_str().unwrap()],
        )
        .await
        .unwrap();
    let hash: String = row.get(0);
    assert!(hash.starts_with("$2a$10$"), "{hash}");
    assert_eq!(hash.len(), 60);
    assert!(row.get::<_, bool>(1));
    let app_metadata: Value = row.get(2);
    assert_eq!(
        app_metadata,
        json!({ "provider": "email", "providers": ["email"] })
    );
}

#[tokio::test]
async fn the_user_endpoint_needs_a_valid_token_of_a_live_session() {
    let env = env();
    let missing = auth(&env, reqwest::Method::GET, "/user")
        .send()
        .await
        .unwrap();
    // The gateway puts the apikey in as the bearer, as for /rest/v1: the
    // anon key has no user in it.
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error_code"], "bad_jwt");

    let forged = auth(&env, reqwest::Method::GET, "/user")
        .bearer_auth(format!(
            "{}x",
            user_token(&uuid::Uuid::new_v4().to_string(), None)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let body: Value = forged.json().await.unwrap();
    assert_eq!(body["error_code"], "bad_jwt");

    let expired = stack_tests::stack::sign(&json!({
        "sub": uuid::Uuid::new_v4().to_string(),
        "role": "authenticated",
        "exp": chrono::Utc::now().timestamp() - 10,
    }));
    let response = auth(&env, reqwest::Method::GET, "/user")
        .bearer_auth(expired)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let nobody = auth(&env, reqwest::Method::GET, "/user")
        .bearer_auth(user_token(&uuid::Uuid::new_v4().to_string(), None))
        .send()
        .await
        .unwrap();
    assert_eq!(nobody.status(), StatusCode::FORBIDDEN);
    let body: Value = nobody.json().await.unwrap();
    assert_eq!(body["error_code"], "user_not_found");
}

#[tokio::test]
async fn auth_needs_the_apikey_and_answers_cors() {
    let env = env();
    let client = reqwest::Client::new();
    let without = client
        .post(format!("{}/auth/v1/token?grant_type=password", env.url))
        .json(&json!({ "email": "a@b.test", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), StatusCode::UNAUTHORIZED);
    let body: Value = without.json().await.unwrap();
    assert_eq!(body["message"], "No API key found in request");

    let preflight = client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/auth/v1/token?grant_type=password", env.url),
        )
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "apikey,authorization,content-type,x-client-info,x-supabase-api-version",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::OK);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");

    let answer = auth(&env, reqwest::Method::POST, "/signup")
        .header("origin", "http://localhost:5173")
        .json(&json!({ "email": unique_email(), "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.headers()["access-control-allow-origin"], "*");
    let exposed = answer.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(exposed.contains("X-Supabase-Api-Version"), "{exposed}");
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error_code"], "signup_disabled");
}

#[tokio::test]
async fn devstack_user_add_makes_a_user_who_signs_in_with_the_admin_claim() {
    let env = env();
    let email = unique_email();
    let binary = std::env::var("DEVSTACK_BIN").expect("DEVSTACK_BIN is set by scripts/test");
    let added = Command::new(binary)
        .args([
            "user",
            "add",
            "--email",
            &email,
            "--password",
            PASSWORD,
            "--admin",
        ])
        .output()
        .expect("devstack runs");
    assert!(added.status.success(), "{added:?}");
    let id = String::from_utf8(added.stdout).unwrap().trim().to_string();

    let signed_in = sign_in(&env, &email, PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let session: Value = signed_in.json().await.unwrap();
    assert_eq!(session["user"]["id"], id.as_str());
    assert_eq!(session["user"]["app_metadata"]["role"], "admin");

    let again = Command::new(std::env::var("DEVSTACK_BIN").unwrap())
        .args(["user", "add", "--email", &email, "--password", PASSWORD])
        .output()
        .unwrap();
    assert!(!again.status.success(), "a second user with one email");
}

async fn refresh(env: &StackEnv, token: &str) -> reqwest::Response {
    auth(
        env,
        reqwest::Method::POST,
        "/token?grant_type=refresh_token",
    )
    .json(&json!({ "refresh_token": token }))
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn one_refresh_token_used_twice_at_once_rotates_once() {
    let env = env();
    let email = unique_email();
    create_user(&env, &email, json!({})).await;
    let session: Value = sign_in(&env, &email, PASSWORD).await.json().await.unwrap();
    let token = session["refresh_token"].as_str().unwrap();

    let attempts = (0..8).map(|_| refresh(&env, token));
    let statuses: Vec<StatusCode> = futures::future::join_all(attempts)
        .await
        .iter()
        .map(|response| response.status())
        .collect();
    let rotated = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(rotated, 1, "{statuses:?}");
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::OK || *s == StatusCode::BAD_REQUEST));
}

#[tokio::test]
async fn a_local_sign_out_ends_only_that_session() {
    let env = env();
    let email = unique_email();
    create_user(&env, &email, json!({})).await;
    let phone: Value = sign_in(&env, &email, PASSWORD).await.json().await.unwrap();
    let laptop: Value = sign_in(&env, &email, PASSWORD).await.json().await.unwrap();

    let signed_out = auth(&env, reqwest::Method::POST, "/logout?scope=local")
        .bearer_auth(phone["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), StatusCode::NO_CONTENT);

    let ended = refresh(&env, phone["refresh_token"].as_str().unwrap()).await;
    assert_eq!(ended.status(), StatusCode::BAD_REQUEST);
    let still = refresh(&env, laptop["refresh_token"].as_str().unwrap()).await;
    assert_eq!(still.status(), StatusCode::OK);
    let user = auth(&env, reqwest::Method::GET, "/user")
        .bearer_auth(laptop["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), StatusCode::OK);
}
