//! Where the stack under test is, and the keys to talk to it.

use anyhow::{Context, Result};
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};
use tokio_postgres::{Client, NoTls};

/// The JWT secret of the local stack (Supabase's well-known local value).
pub const JWT_SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";

/// Coordinates of a running stack, read from the environment.
#[derive(Debug, Clone)]
pub struct StackEnv {
    /// Gateway base URL, e.g. `http://127.0.0.1:54321`.
    pub url: String,
    /// The anon key (a JWT with role `anon`).
    pub anon_key: String,
    /// The service-role key (a JWT with role `service_role`).
    pub service_role_key: String,
    /// The publishable key (`sb_publishable_…`), the anon key's successor.
    pub publishable_key: String,
    /// The secret key (`sb_secret_…`), the service-role key's successor.
    pub secret_key: String,
    /// Superuser connection string of the database.
    pub db_url: String,
    /// Base URL of the Suno simulator (or the real provider).
    pub suno_url: String,
    /// The web app's own origin, e.g. `http://127.0.0.1:54320`.
    pub web_url: String,
}

impl StackEnv {
    /// Reads `SUPABASE_URL`, `SUPABASE_ANON_KEY`, `SUPABASE_SERVICE_ROLE_KEY`,
    /// `SUPABASE_PUBLISHABLE_KEY`, `SUPABASE_SECRET_KEY`, `SUPABASE_DB_URL`,
    /// `SUNO_API_BASE_URL` and `WEB_URL`.
    pub fn from_env() -> Result<Self> {
        let var = |name: &str| {
            std::env::var(name)
                .with_context(|| format!("{name} is not set: run the tests through scripts/test"))
        };
        Ok(Self {
            url: var("SUPABASE_URL")?,
            anon_key: var("SUPABASE_ANON_KEY")?,
            service_role_key: var("SUPABASE_SERVICE_ROLE_KEY")?,
            publishable_key: var("SUPABASE_PUBLISHABLE_KEY")?,
            secret_key: var("SUPABASE_SECRET_KEY")?,
            db_url: var("SUPABASE_DB_URL")?,
            suno_url: std::env::var("SUNO_API_BASE_URL").unwrap_or_default(),
            web_url: var("WEB_URL")?,
        })
    }

    /// A new superuser connection to the stack's database.
    pub async fn db(&self) -> Result<Client> {
        connect(&self.db_url).await
    }
}

/// Opens a connection and drives it on a background task.
pub async fn connect(db_url: &str) -> Result<Client> {
    let (client, connection) = tokio_postgres::connect(db_url, NoTls)
        .await
        .with_context(|| format!("connecting to {db_url}"))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            eprintln!("database connection closed: {error}");
        }
    });
    Ok(client)
}

/// A signed user JWT like Supabase Auth issues. `role_claim` goes into
/// `app_metadata.role` (e.g. `Some("admin")`).
pub fn user_token(user_id: &str, app_role: Option<&str>) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut app_metadata = json!({ "provider": "email" });
    if let Some(role) = app_role {
        app_metadata["role"] = json!(role);
    }
    sign(&json!({
        "sub": user_id,
        "aud": "authenticated",
        "role": "authenticated",
        "email": format!("{user_id}@example.test"),
        "app_metadata": app_metadata,
        "user_metadata": {},
        "iat": now,
        "exp": now + 3600,
    }))
}

/// Signs arbitrary claims with the stack's secret (HS256).
pub fn sign(claims: &Value) -> String {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("HS256 signing cannot fail")
}
