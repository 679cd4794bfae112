//! The sign-in service on `/auth/v1`: the email-and-password part of
//! Supabase Auth (GoTrue) that supabase-js uses.
//!
//! - `POST /token?grant_type=password` and `?grant_type=refresh_token`
//!   (refresh tokens rotate; presenting a used one revokes its session's
//!   tokens, as Supabase's reuse detection does, with no grace interval);
//! - `GET /user`, `POST /logout?scope=global|local|others`;
//! - `POST /admin/users` with the service-role key;
//! - `POST /signup` answers 422 `signup_disabled`: public sign-up is off.
//!
//! The gateway checks the `apikey` first, as for `/rest/v1`. Users, sessions
//! and refresh tokens live in the `auth` schema (`sql/20_auth.sql`); access
//! tokens are HS256 with the stack's JWT secret (`keys.rs`).

pub mod command;
mod errors;
mod password;
mod session;
mod store;

use crate::config::StackConfig;
use crate::keys;
use axum::body::to_bytes;
use axum::extract::{Query, Request};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
pub use errors::AuthError;
use errors::API_VERSION_HEADER;
use rand::distributions::{Alphanumeric, DistString};
use serde_json::Value;
use session::Session;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use store::{Rotation, Scope};
use tokio::sync::Mutex;
use tokio_postgres::Client;

/// Largest JSON body read (GoTrue's bodies are a few hundred bytes).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Length of a refresh token (letters and digits).
const REFRESH_TOKEN_LENGTH: usize = 40;

/// JWT roles allowed on the admin API (GoTrue's `admin_roles`).
const ADMIN_ROLES: [&str; 2] = ["service_role", "supabase_admin"];

/// The service behind the gateway's `/auth/v1`.
pub struct AuthService {
    db: Db,
    /// The `iss` claim: the service's public URL, as on a hosted project.
    issuer: String,
}

impl AuthService {
    pub fn new(config: &StackConfig) -> Self {
        Self {
            db: Db::new(config.db_url()),
            issuer: format!("{}/auth/v1", config.api_url()),
        }
    }

    /// Answers one request; `path` is what follows `/auth/v1`.
    pub async fn handle(&self, request: Request, path: &str) -> Response {
        let version = request
            .headers()
            .get(API_VERSION_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        match self.dispatch(request, path).await {
            Ok(response) => response,
            Err(error) => {
                if matches!(error, AuthError::Database(_)) {
                    eprintln!("auth: {error}");
                }
                error.response(version.as_deref())
            }
        }
    }

    async fn dispatch(&self, request: Request, path: &str) -> Result<Response, AuthError> {
        let method = request.method().clone();
        let query = query_of(&request);
        let path = path.trim_end_matches('/');
        match (method, path) {
            (Method::POST, "/token") => {
                let body = json_body(request).await?;
                match query.get("grant_type").map(String::as_str) {
                    Some("password") => self.password_grant(&body).await,
                    Some("refresh_token") => self.refresh_grant(&body).await,
                    _ => Err(AuthError::UnsupportedGrantType),
                }
            }
            (Method::GET, "/user") => {
                let caller = self.authenticate(request.headers()).await?;
                Ok(axum::Json(caller.user).into_response())
            }
            (Method::POST, "/logout") => {
                let scope = logout_scope(query.get("scope").map(String::as_str))?;
                let caller = self.authenticate(request.headers()).await?;
                self.logout(&caller, scope).await
            }
            (Method::POST, "/admin/users") => {
                require_admin(request.headers())?;
                let body = json_body(request).await?;
                self.create_user(body).await
            }
            (Method::POST, "/signup") => Err(AuthError::SignupDisabled),
            _ => Err(AuthError::NotFound),
        }
    }

    async fn password_grant(&self, body: &Value) -> Result<Response, AuthError> {
        let email = normalized_email(body["email"].as_str().unwrap_or_default());
        let password = body["password"].as_str().unwrap_or_default();
        if email.is_empty() {
            return Err(AuthError::Validation("missing email or phone"));
        }
        let db = self.db.client().await?;
        // One answer for an unknown email and a wrong password, so the
        // endpoint does not tell which emails have accounts.
        let Some(candidate) = store::find_by_email(&db, &email).await? else {
            return Err(AuthError::InvalidCredentials);
        };
        let (password, hash) = (password.to_string(), candidate.encrypted_password.clone());
        if !off_the_runtime(move || password::matches(&password, hash.as_deref())).await {
            return Err(AuthError::InvalidCredentials);
        }
        if !candidate.email_confirmed {
            return Err(AuthError::EmailNotConfirmed);
        }
        let refresh_token = new_refresh_token();
        let user_id = candidate.user["id"].as_str().unwrap_or_default();
        let (session, user) = store::start_session(&db, user_id, &refresh_token).await?;
        Ok(self.session_response(&user, &session, &refresh_token))
    }

    async fn refresh_grant(&self, body: &Value) -> Result<Response, AuthError> {
        let Some(presented) = body["refresh_token"].as_str().filter(|t| !t.is_empty()) else {
            return Err(AuthError::Validation("refresh_token required"));
        };
        let fresh = new_refresh_token();
        let db = self.db.client().await?;
        match store::rotate(&db, presented, &fresh).await? {
            Rotation::Rotated { session, user } => {
                Ok(self.session_response(&user, &session, &fresh))
            }
            Rotation::AlreadyUsed => Err(AuthError::RefreshTokenAlreadyUsed),
            Rotation::NotFound => Err(AuthError::RefreshTokenNotFound),
        }
    }

    fn session_response(&self, user: &Value, session: &Session, refresh_token: &str) -> Response {
        let now = unix_now();
        let claims = session::access_claims(user, session, &self.issuer, now);
        let access_token = keys::sign(&claims.to_string());
        let body = session::token_body(user, &access_token, refresh_token, now);
        axum::Json(body).into_response()
    }

    /// The signed-in caller of `/user` and `/logout`, checked as GoTrue
    /// does: a valid token, an existing user, and a live session.
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, AuthError> {
        let claims = bearer_claims(headers)?;
        let Some(user_id) = claims["sub"].as_str().filter(|sub| keys::is_uuid(sub)) else {
            return Err(AuthError::BadJwt("missing or malformed sub claim"));
        };
        let db = self.db.client().await?;
        let user = store::find_by_id(&db, user_id)
            .await?
            .ok_or(AuthError::UserNotFound)?;
        let session_id = claims["session_id"].as_str().map(str::to_string);
        if let Some(session_id) = &session_id {
            if !keys::is_uuid(session_id) || !store::session_exists(&db, session_id).await? {
                return Err(AuthError::SessionNotFound);
            }
        }
        Ok(Caller { user, session_id })
    }

    async fn logout(&self, caller: &Caller, scope: Scope) -> Result<Response, AuthError> {
        let user_id = caller.user["id"].as_str().unwrap_or_default();
        // A token without a session (minted by `devstack token`) has nothing
        // of its own to end; only a global sign-out applies to it.
        let session_id = caller.session_id.as_deref().unwrap_or(NIL_UUID);
        let db = self.db.client().await?;
        store::end_sessions(&db, user_id, session_id, scope).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }

    async fn create_user(&self, body: Value) -> Result<Response, AuthError> {
        let new_user = off_the_runtime(move || new_user_from(&body)).await?;
        let db = self.db.client().await?;
        let user = store::create_user(&db, &new_user).await?;
        Ok(axum::Json(user).into_response())
    }
}

/// Runs bcrypt (tens of milliseconds of CPU, more in a debug build) on
/// tokio's blocking pool, so that a sign-in does not stall the gateway's
/// other requests.
async fn off_the_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work)
        .await
        .expect("password hashing does not panic")
}

/// Who called, once `authenticate` accepted the token.
struct Caller {
    user: Value,
    session_id: Option<String>,
}

const NIL_UUID: &str = "00000000-0000-0000-0000-000000000000";

/// The admin API's body as a user to create, validated as GoTrue does.
fn new_user_from(body: &Value) -> Result<store::NewUser, AuthError> {
    let email = normalized_email(body["email"].as_str().unwrap_or_default());
    if email.is_empty() {
        return Err(AuthError::Validation(
            "Cannot create a user without either an email or phone",
        ));
    }
    if !looks_like_email(&email) {
        return Err(AuthError::Validation(
            "Unable to validate email address: invalid format",
        ));
    }
    let password = body["password"].as_str().unwrap_or_default();
    Ok(store::NewUser {
        email,
        encrypted_password: password::hash(password)?,
        email_confirmed: body["email_confirm"].as_bool().unwrap_or(false),
        app_metadata: session::new_app_metadata(&body["app_metadata"]),
        user_metadata: match &body["user_metadata"] {
            Value::Object(_) => body["user_metadata"].clone(),
            _ => serde_json::json!({}),
        },
    })
}

/// The claims of the request's bearer token, or why there are none.
fn bearer_claims(headers: &HeaderMap) -> Result<Value, AuthError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .filter(|token| !token.is_empty())
        .ok_or(AuthError::NoAuthorization)?;
    keys::verify(token, unix_now()).ok_or(AuthError::BadJwt(
        "unable to parse or verify signature, token is invalid or expired",
    ))
}

fn require_admin(headers: &HeaderMap) -> Result<(), AuthError> {
    let claims = bearer_claims(headers)?;
    let role = claims["role"].as_str().unwrap_or_default();
    if ADMIN_ROLES.contains(&role) {
        Ok(())
    } else {
        Err(AuthError::NotAdmin)
    }
}

fn logout_scope(scope: Option<&str>) -> Result<Scope, AuthError> {
    match scope {
        None | Some("global") => Ok(Scope::Global),
        Some("local") => Ok(Scope::Local),
        Some("others") => Ok(Scope::Others),
        Some(_) => Err(AuthError::Validation(
            "Unsupported logout scope. Supported scopes are: global, local, others",
        )),
    }
}

async fn json_body(request: Request) -> Result<Value, AuthError> {
    let bytes = to_bytes(request.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|error| AuthError::BadJson(error.to_string()))?;
    if bytes.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(&bytes).map_err(|error| AuthError::BadJson(error.to_string()))
}

fn query_of(request: &Request) -> HashMap<String, String> {
    Query::<HashMap<String, String>>::try_from_uri(request.uri())
        .map(|Query(query)| query)
        .unwrap_or_default()
}

/// Supabase Auth keeps emails trimmed and lower-cased.
fn normalized_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A light check (one `@`, something either side, a dot in the domain);
/// GoTrue's is stricter about characters but agrees on these.
fn looks_like_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.contains(char::is_whitespace)
        }
        None => false,
    }
}

fn new_refresh_token() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), REFRESH_TOKEN_LENGTH)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or_default()
}

/// Lets a browser on another origin read the API version header, which
/// supabase-js needs to parse an error's code.
pub fn expose_api_version(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let exposed = headers
        .get(header::ACCESS_CONTROL_EXPOSE_HEADERS)
        .and_then(|value| value.to_str().ok())
        .map(|value| format!("{value}, X-Supabase-Api-Version"))
        .unwrap_or_else(|| "X-Supabase-Api-Version".into());
    if let Ok(value) = HeaderValue::from_str(&exposed) {
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, value);
    }
    response
}

/// One database connection, opened on first use and again after it drops.
struct Db {
    url: String,
    client: Mutex<Option<Arc<Client>>>,
}

impl Db {
    fn new(url: String) -> Self {
        Self {
            url,
            client: Mutex::new(None),
        }
    }

    async fn client(&self) -> Result<Arc<Client>, AuthError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref().filter(|client| !client.is_closed()) {
            return Ok(client.clone());
        }
        let client = Arc::new(connect(&self.url).await?);
        *slot = Some(client.clone());
        Ok(client)
    }
}

/// A superuser connection, as GoTrue's own (it owns the `auth` schema).
async fn connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            eprintln!("auth: database connection closed: {error}");
        }
    });
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_admin_body_becomes_a_confirmed_user_with_provider_keys() {
        let user = new_user_from(&json!({
            "email": " Ada@Example.TEST ",
            "password": "hunter22",
            "email_confirm": true,
            "app_metadata": { "role": "admin" },
            "user_metadata": { "name": "Ada" },
        }))
        .unwrap();
        assert_eq!(user.email, "ada@example.test");
        assert!(user.email_confirmed);
        assert!(user.encrypted_password.starts_with("$2a$10$"));
        assert_eq!(user.app_metadata["role"], "admin");
        assert_eq!(user.app_metadata["provider"], "email");
        assert_eq!(user.user_metadata["name"], "Ada");
    }

    #[test]
    fn the_admin_body_is_validated() {
        let missing = new_user_from(&json!({ "password": "hunter22" }));
        assert!(matches!(missing, Err(AuthError::Validation(_))));
        let malformed = new_user_from(&json!({ "email": "ada", "password": "hunter22" }));
        assert!(matches!(malformed, Err(AuthError::Validation(_))));
        let short = new_user_from(&json!({ "email": "a@b.test", "password": "123" }));
        assert!(matches!(short, Err(AuthError::WeakPassword)));
    }

    #[test]
    fn logout_scopes_are_the_ones_gotrue_knows() {
        assert_eq!(logout_scope(None).unwrap(), Scope::Global);
        assert_eq!(logout_scope(Some("local")).unwrap(), Scope::Local);
        assert_eq!(logout_scope(Some("others")).unwrap(), Scope::Others);
        assert!(logout_scope(Some("everyone")).is_err());
    }

    #[test]
    fn only_the_service_role_reaches_the_admin_api() {
        let with = |token: String| {
            let mut headers = HeaderMap::new();
            let value = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
            headers.insert(header::AUTHORIZATION, value);
            headers
        };
        assert!(require_admin(&with(keys::service_role_key())).is_ok());
        assert!(matches!(
            require_admin(&with(keys::anon_key())),
            Err(AuthError::NotAdmin)
        ));
        assert!(matches!(
            require_admin(&HeaderMap::new()),
            Err(AuthError::NoAuthorization)
        ));
        assert!(matches!(
            require_admin(&with("forged".into())),
            Err(AuthError::BadJwt(_))
        ));
    }
}
