//! The SQL API, called through PostgREST's `/rest/v1/rpc/<name>` with the `postgrest` crate.
//!
//! Every state change is one SQL function; the shell only calls it. Two ways to call:
//! [`Store::rpc`] with the function's secret key (the service role), and [`Store::rpc_as`]
//! with a user's JWT, so the SQL sees that user (`auth.uid()`, `auth.jwt()`, RLS).
//! [`Store::read`] and [`Store::read_as`] read a table or view the same two ways
//! ([`Store::row`]: one row, as the service role).
//! Every failure comes back as one [`ApiError`]: an error answer of PostgREST through
//! [`ApiError::from_postgrest`], no answer at all as 503 `store_unavailable`.

use music_core::ApiError;
use postgrest::Postgrest;
use serde::Serialize;
use serde_json::{json, Value};

use crate::runtime::within;
use crate::{Env, Log};

/// A client of the project's SQL API.
#[derive(Clone)]
pub struct Store {
    service: Postgrest,
    user: Postgrest,
    secret_key: String,
    log: Log,
}

/// What went wrong talking to PostgREST, for the logs; the caller sees the [`ApiError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// PostgREST answered with an error.
    #[error("rpc {function}: HTTP {status}: {body}")]
    Refused {
        /// The SQL function.
        function: String,
        /// PostgREST's HTTP status.
        status: u16,
        /// Its body, cut to 500 bytes.
        body: String,
        /// The same as the function's error.
        api: ApiError,
    },
    /// No answer: network trouble, or a body that is not JSON.
    #[error("rpc {function}: {reason}")]
    Unreachable {
        /// The SQL function.
        function: String,
        /// What failed.
        reason: String,
    },
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::Refused { api, .. } => api,
            StoreError::Unreachable { .. } => {
                ApiError::StoreUnavailable("the database is unavailable, try again".into())
            }
        }
    }
}

impl Store {
    /// A client for the project of `env`; `log` gets the refusals no [`ApiError`] names.
    pub fn new(env: &Env, log: Log) -> Store {
        let url = format!("{}/rest/v1", env.supabase_url);
        Store {
            service: Postgrest::new(&url).insert_header("apikey", &env.secret_key),
            user: Postgrest::new(&url).insert_header("apikey", &env.public_key),
            secret_key: env.secret_key.clone(),
            log,
        }
    }

    /// Calls the SQL function `function` with `args` (its named arguments, e.g. a struct with
    /// `p_…` fields) as the service role; the JSON it returns.
    pub async fn rpc(&self, function: &str, args: &impl Serialize) -> Result<Value, StoreError> {
        // An `sb_` key may sit in `Authorization` only when it equals `apikey`: it does.
        let answer = call(&self.service, &self.secret_key, function, args).await;
        self.noted(answer)
    }

    /// Calls `function` as the user whose JWT is `jwt`: PostgREST checks the signature, and
    /// the SQL sees the user.
    pub async fn rpc_as(
        &self,
        jwt: &str,
        function: &str,
        args: &impl Serialize,
    ) -> Result<Value, StoreError> {
        let answer = call(&self.user, jwt, function, args).await;
        self.noted(answer)
    }

    /// Reads `columns` of the rows of `table` (a table or view) matching every `column =
    /// value` of `equal`, as the service role. The rows, as a JSON array.
    pub async fn read(
        &self,
        table: &str,
        columns: &str,
        equal: &[(&str, &str)],
    ) -> Result<Value, StoreError> {
        let answer = select(&self.service, &self.secret_key, table, columns, equal).await;
        self.noted(answer)
    }

    /// [`Store::read`] as the user whose JWT is `jwt`: RLS and the column grants decide what
    /// they see.
    pub async fn read_as(
        &self,
        jwt: &str,
        table: &str,
        columns: &str,
        equal: &[(&str, &str)],
    ) -> Result<Value, StoreError> {
        let answer = select(&self.user, jwt, table, columns, equal).await;
        self.noted(answer)
    }

    /// The first row of `table` whose `column` equals `value`, read as the service role
    /// (e.g. the queue's `music_queues` row); `Null` when there is none.
    pub async fn row(&self, table: &str, column: &str, value: &str) -> Result<Value, StoreError> {
        let rows = self.read(table, "*", &[(column, value)]).await?;
        Ok(rows.get(0).cloned().unwrap_or(Value::Null))
    }

    /// `answer`, after logging a refusal that maps to no known error: the caller's 500 says
    /// only "internal", so PostgREST's own status and body must reach the log.
    fn noted(&self, answer: Result<Value, StoreError>) -> Result<Value, StoreError> {
        if let Err(
            error @ StoreError::Refused {
                api: ApiError::Internal,
                ..
            },
        ) = &answer
        {
            self.log
                .error("store_refused", json!({"message": error.to_string()}));
        }
        answer
    }
}

async fn select(
    client: &Postgrest,
    bearer: &str,
    table: &str,
    columns: &str,
    equal: &[(&str, &str)],
) -> Result<Value, StoreError> {
    let query = equal.iter().fold(
        client.from(table).auth(bearer).select(columns),
        |query, (column, value)| query.eq(*column, *value),
    );
    execute(table, query).await
}

async fn call(
    client: &Postgrest,
    bearer: &str,
    function: &str,
    args: &impl Serialize,
) -> Result<Value, StoreError> {
    let body = serde_json::to_string(args).map_err(|e| unreachable(function, e))?;
    execute(function, client.rpc(function, body).auth(bearer)).await
}

/// How long one PostgREST request may take, answer and body. Longer than anything the
/// database lets a call run (8 s statement timeout) plus PostgREST's wait for a pooled
/// connection (10 s), so it only cuts a PostgREST that has stopped answering: then the
/// caller gets a 503 in seconds instead of the gateway's timeout.
const STORE_TIMEOUT_MS: u64 = 20_000;

/// Sends one PostgREST request about `name` (a function or a table) and reads its JSON.
async fn execute(name: &str, query: postgrest::Builder) -> Result<Value, StoreError> {
    let exchange = async {
        let answer = query.execute().await.map_err(|e| unreachable(name, e))?;
        let status = answer.status().as_u16();
        let bytes = answer.bytes().await.map_err(|e| unreachable(name, e))?;
        Ok((status, bytes))
    };
    let (status, bytes) = within(STORE_TIMEOUT_MS, exchange)
        .await
        .unwrap_or_else(|| Err(unreachable(name, "no answer in time")))?;
    read_answer(name, status, &bytes)
}

/// PostgREST's answer about `name` (a function or a table) as JSON, or the [`StoreError`].
fn read_answer(name: &str, status: u16, bytes: &[u8]) -> Result<Value, StoreError> {
    if !(200..300).contains(&status) {
        return Err(StoreError::Refused {
            function: name.to_owned(),
            status,
            body: String::from_utf8_lossy(&bytes[..bytes.len().min(500)]).into_owned(),
            api: ApiError::from_postgrest(status, bytes),
        });
    }
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(bytes).map_err(|e| unreachable(name, format!("not JSON: {e}")))
}

fn unreachable(name: &str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Unreachable {
        function: name.to_owned(),
        reason: reason.to_string(),
    }
}
