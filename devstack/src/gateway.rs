//! The API gateway on `SUPABASE_URL`, with the routes of Supabase's gateway:
//!
//! - `/rest/v1/*` → PostgREST, prefix stripped. An `apikey` (header or query)
//!   that is a project key is required; like Supabase's gateway, it becomes
//!   the `Authorization` bearer (`sb_secret_…` → the service-role JWT,
//!   `sb_publishable_…` → the anon JWT) unless the caller sent their own
//!   JWT. CORS is answered here, as Kong's plugin does.
//! - `/functions/v1/<name>/*` → that function as `/<name>/*`; with
//!   `verify_jwt` a valid JWT is required before the function runs. Headers
//!   pass unchanged and no CORS is added: a hosted function answers its own
//!   (preflight `OPTIONS` included). The function limits are in `proxy.rs`.
//! - `/auth/v1/*` → the sign-in service (`auth/`), after the same `apikey`
//!   check and translation as `/rest/v1`, with the same CORS.
//! - anything else → 404. The web app has its own origin (`web.rs`).

use crate::auth::{self, AuthService};
use crate::config::StackConfig;
use crate::functions::EdgeFunction;
use crate::gateway_error::GatewayError;
use crate::{keys, proxy};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the gateway routes to.
pub struct Gateway {
    postgrest: String,
    functions: HashMap<String, EdgeFunction>,
    function_idle_timeout: Duration,
    auth: AuthService,
    client: reqwest::Client,
    function_client: reqwest::Client,
}

impl Gateway {
    /// Routes for this stack's PostgREST and functions.
    pub fn new(config: &StackConfig, functions: &[EdgeFunction]) -> Self {
        let client = || reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        Self {
            postgrest: format!("http://127.0.0.1:{}", config.postgrest_port()),
            functions: functions
                .iter()
                .map(|function| (function.name.clone(), function.clone()))
                .collect(),
            function_idle_timeout: config.function_limits.idle_timeout,
            auth: AuthService::new(config),
            client: client().build().expect("a plain HTTP client builds"),
            // A function process may die and start again: never reuse a
            // connection to the previous one.
            function_client: client()
                .pool_max_idle_per_host(0)
                .build()
                .expect("a plain HTTP client builds"),
        }
    }

    /// Serves until the task is aborted.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let app = axum::Router::new()
            .fallback(route)
            .with_state(Arc::new(self));
        // Answers are streamed: without TCP_NODELAY the last small piece of
        // a chunked answer waits for the client's delayed ACK (~40 ms).
        let listener = listener.tap_io(|connection| {
            let _ = connection.set_nodelay(true);
        });
        axum::serve(listener, app).await
    }
}

/// Routes on the first two path segments, like Kong: one line per service.
async fn route(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    match split_route(&path) {
        ("/rest/v1", rest) => rest_api(&gateway, request, rest).await,
        ("/functions/v1", rest) => function(&gateway, request, rest).await,
        ("/auth/v1", rest) => auth::expose_api_version(auth_api(&gateway, request, rest).await),
        _ => GatewayError::NoRoute.into_response(),
    }
}

/// `/rest/v1/notes` → (`/rest/v1`, `/notes`); `/rest/v1` → (`/rest/v1`, ``).
fn split_route(path: &str) -> (&str, &str) {
    let end = path
        .match_indices('/')
        .nth(2)
        .map_or(path.len(), |(index, _)| index);
    path.split_at(end)
}

async fn rest_api(gateway: &Gateway, request: Request, rest: &str) -> Response {
    behind_key_auth(request, |request| async move {
        let target = format!("{}{}", gateway.postgrest, path_and_query(rest, &request));
        proxy::to_service(&gateway.client, request, &target).await
    })
    .await
}

async fn auth_api(gateway: &Gateway, request: Request, rest: &str) -> Response {
    behind_key_auth(request, |request| gateway.auth.handle(request, rest)).await
}

/// What `/rest/v1` and `/auth/v1` share in Kong: CORS preflight answered
/// here, then the key check, then the service, with `Access-Control-Allow-Origin`
/// on answers to browsers.
async fn behind_key_auth<F, Fut>(mut request: Request, service: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let from_browser = request.headers().contains_key(header::ORIGIN);
    let response = if is_preflight(request.headers()) {
        preflight(request.headers())
    } else {
        match authorize(&mut request) {
            Err(error) => error.into_response(),
            Ok(()) => service(request).await,
        }
    };
    if from_browser {
        allow_any_origin(response)
    } else {
        response
    }
}

/// Kong's key-auth plus Supabase's key translation: the `apikey` must be a
/// project key, and the `Authorization` PostgREST sees is the caller's JWT,
/// or else (also in place of a `Bearer sb_…`) the JWT the key stands for.
fn authorize(request: &mut Request) -> Result<(), GatewayError> {
    let apikey = api_key(request).ok_or(GatewayError::MissingApiKey)?;
    let bearer = keys::bearer_for_api_key(&apikey).ok_or(GatewayError::InvalidApiKey)?;
    let headers = request.headers_mut();
    let callers_own_jwt = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| !value.starts_with("Bearer sb_"));
    if !callers_own_jwt {
        let value = HeaderValue::from_str(&format!("Bearer {bearer}"))
            .expect("a JWT is a valid header value");
        headers.insert(header::AUTHORIZATION, value);
    }
    Ok(())
}

async fn function(gateway: &Gateway, request: Request, rest: &str) -> Response {
    let name = rest
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    let Some(function) = gateway.functions.get(name) else {
        return GatewayError::FunctionNotFound.into_response();
    };
    if function.verify_jwt && request.method() != Method::OPTIONS {
        if let Err(error) = check_jwt(request.headers()) {
            return error.into_response();
        }
    }
    let path_and_query = path_and_query(rest, &request);
    proxy::to_function(
        &gateway.function_client,
        request,
        function.port,
        &path_and_query,
        gateway.function_idle_timeout,
    )
    .await
}

/// The function runtime's check: a bearer JWT signed with the project secret.
fn check_jwt(headers: &HeaderMap) -> Result<(), GatewayError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .ok_or(GatewayError::MissingAuthorization)?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or(GatewayError::InvalidJwt)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or_default();
    keys::verify(token, now)
        .map(|_| ())
        .ok_or(GatewayError::InvalidJwt)
}

fn api_key(request: &Request) -> Option<String> {
    if let Some(value) = request.headers().get("apikey") {
        return value.to_str().ok().map(str::to_string);
    }
    request.uri().query().and_then(|query| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == "apikey")
            .map(|(_, value)| value.to_string())
    })
}

fn path_and_query(path: &str, request: &Request) -> String {
    let path = if path.is_empty() { "/" } else { path };
    match request.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_string(),
    }
}

/// A CORS preflight as Kong's plugin recognises one: `OPTIONS` with both
/// `Origin` and `Access-Control-Request-Method`. Any other `OPTIONS` goes on
/// to the key check like a normal request.
fn is_preflight(headers: &HeaderMap) -> bool {
    headers.contains_key(header::ORIGIN)
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// Kong's answer with the plugin's defaults: every method, the requested
/// headers echoed, no `Max-Age`.
fn preflight(request_headers: &HeaderMap) -> Response {
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT"),
    );
    if let Some(requested) = request_headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
    }
    response
}

/// `Access-Control-Allow-Origin: *` on an answer to a browser. PostgREST's
/// own `Access-Control-Expose-Headers` passes unchanged, as through Kong.
fn allow_any_origin(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_the_first_two_segments() {
        assert_eq!(split_route("/rest/v1/notes"), ("/rest/v1", "/notes"));
        assert_eq!(split_route("/rest/v1"), ("/rest/v1", ""));
        assert_eq!(split_route("/rest/v1x/notes"), ("/rest/v1x", "/notes"));
        assert_eq!(
            split_route("/functions/v1/echo/deeper"),
            ("/functions/v1", "/echo/deeper")
        );
        assert_eq!(split_route("/"), ("/", ""));
    }
}
