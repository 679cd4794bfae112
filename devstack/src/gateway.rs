//! The API gateway on `SUPABASE_URL`, with the routes of Supabase's Kong:
//!
//! - `/rest/v1/*` → PostgREST, prefix stripped; an `apikey` (header or query)
//!   equal to a project key is required, and it becomes the `Authorization`
//!   when the caller sent none. CORS is answered here, as Kong's plugin does.
//! - `/functions/v1/<name>/*` → that function as `/<name>/*`; with
//!   `verify_jwt` a valid JWT is required before the function runs. Preflight
//!   `OPTIONS` goes through unchecked: a hosted function answers its own CORS.
//! - `/auth/v1/*` → the sign-in service (`auth/`), after the same `apikey`
//!   check as `/rest/v1`, with the same CORS.
//! - anything else → the built web app, with `index.html` for client routes.

use crate::auth::{self, AuthService};
use crate::config::StackConfig;
use crate::functions::EdgeFunction;
use crate::keys;
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

/// Largest request body forwarded (Kong's default is larger; nothing here
/// sends more than a few KB).
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// What the gateway routes to.
pub struct Gateway {
    postgrest: String,
    functions: HashMap<String, EdgeFunction>,
    static_dir: PathBuf,
    project_keys: [String; 2],
    auth: AuthService,
    client: reqwest::Client,
}

impl Gateway {
    /// Routes for this stack's PostgREST, functions and web app.
    pub fn new(config: &StackConfig, functions: &[EdgeFunction]) -> Self {
        Self {
            postgrest: format!("http://127.0.0.1:{}", config.postgrest_port()),
            functions: functions
                .iter()
                .map(|function| (function.name.clone(), function.clone()))
                .collect(),
            static_dir: config.static_dir.clone(),
            project_keys: [keys::anon_key(), keys::service_role_key()],
            auth: AuthService::new(config),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a plain HTTP client builds"),
        }
    }

    /// Serves until the task is aborted.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let app = axum::Router::new()
            .fallback(route)
            .with_state(Arc::new(self));
        axum::serve(listener, app).await
    }
}

async fn route(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    if let Some(rest) = path.strip_prefix("/rest/v1") {
        let rest = rest.to_string();
        return with_cors(rest_api(&gateway, request, &rest).await);
    }
    if let Some(rest) = path.strip_prefix("/auth/v1") {
        let rest = rest.to_string();
        return auth::expose_api_version(with_cors(auth_api(&gateway, request, &rest).await));
    }
    if let Some(rest) = path.strip_prefix("/functions/v1/") {
        let rest = rest.to_string();
        return function(&gateway, request, &rest).await;
    }
    web_app(&gateway, request).await
}

async fn rest_api(gateway: &Gateway, mut request: Request, rest: &str) -> Response {
    if request.method() == Method::OPTIONS {
        return preflight(request.headers());
    }
    if let Some(refused) = refuse_without_api_key(gateway, &mut request) {
        return refused;
    }
    let target = format!("{}{}", gateway.postgrest, path_and_query(rest, &request));
    forward(gateway, request, target).await
}

async fn auth_api(gateway: &Gateway, mut request: Request, rest: &str) -> Response {
    if request.method() == Method::OPTIONS {
        return preflight(request.headers());
    }
    if let Some(refused) = refuse_without_api_key(gateway, &mut request) {
        return refused;
    }
    gateway.auth.handle(request, rest).await
}

/// Kong's key check: an `apikey` equal to a project key, which becomes the
/// bearer when the caller sent no `Authorization`. Returns the refusal, if any.
fn refuse_without_api_key(gateway: &Gateway, request: &mut Request) -> Option<Response> {
    let Some(apikey) = api_key(request) else {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "No API key found in request",
        ));
    };
    if !gateway.project_keys.contains(&apikey) {
        return Some(error(StatusCode::UNAUTHORIZED, "Invalid API key"));
    }
    let headers = request.headers_mut();
    if !headers.contains_key(header::AUTHORIZATION) {
        if let Ok(value) = HeaderValue::from_str(&format!("Bearer {apikey}")) {
            headers.insert(header::AUTHORIZATION, value);
        }
    }
    None
}

async fn function(gateway: &Gateway, request: Request, rest: &str) -> Response {
    let name = rest.split('/').next().unwrap_or_default();
    let Some(function) = gateway.functions.get(name) else {
        return error(StatusCode::NOT_FOUND, "Requested function was not found");
    };
    if function.verify_jwt && request.method() != Method::OPTIONS {
        if let Err(message) = check_jwt(request.headers()) {
            return error(StatusCode::UNAUTHORIZED, message);
        }
    }
    let target = format!(
        "http://127.0.0.1:{}{}",
        function.port,
        path_and_query(&format!("/{rest}"), &request)
    );
    forward(gateway, request, target).await
}

/// The function runtime's check: a bearer JWT signed with the project secret.
fn check_jwt(headers: &HeaderMap) -> Result<(), &'static str> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .ok_or("Missing authorization header")?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or("Invalid JWT")?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or_default();
    keys::verify(token, now).map(|_| ()).ok_or("Invalid JWT")
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

/// Sends the request on to `target` and relays the answer.
async fn forward(gateway: &Gateway, request: Request, target: String) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY_BYTES).await else {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
    };
    let mut headers = parts.headers.clone();
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    let upstream = gateway
        .client
        .request(parts.method, &target)
        .headers(headers)
        .body(body)
        .send()
        .await;
    let Ok(upstream) = upstream else {
        return error(
            StatusCode::BAD_GATEWAY,
            "An invalid response was received from the upstream server",
        );
    };
    relay(upstream).await
}

async fn relay(upstream: reqwest::Response) -> Response {
    let status = upstream.status();
    let mut headers = upstream.headers().clone();
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    let body = upstream.bytes().await.unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

const HOP_BY_HOP: [HeaderName; 5] = [
    header::HOST,
    header::CONNECTION,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

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
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("3600"),
    );
    response
}

fn with_cors(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Content-Range, Content-Location, Preference-Applied"),
    );
    response
}

async fn web_app(gateway: &Gateway, request: Request) -> Response {
    let index = gateway.static_dir.join("index.html");
    if !index.exists() {
        return error(StatusCode::NOT_FOUND, "no route matched with those values");
    }
    let files = ServeDir::new(&gateway.static_dir).fallback(ServeFile::new(index));
    match files.oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    }
}

/// Kong-style JSON error: `{"message": "..."}`.
fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}
