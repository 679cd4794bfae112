//! The web app on its own origin (`WEB_URL`, the gateway port − 1), as a
//! hosted app lives on another origin than its project: the browser calls
//! the API and the functions cross-origin, so their CORS is exercised.
//!
//! Serves the built `web/dist` as it is at each request, with `index.html`
//! for client routes (`/admin/music-queue`).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::path::PathBuf;
use std::sync::Arc;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

/// Serves `static_dir` until the task is aborted.
pub async fn serve(listener: tokio::net::TcpListener, static_dir: PathBuf) -> std::io::Result<()> {
    let app = axum::Router::new()
        .fallback(web_app)
        .with_state(Arc::new(static_dir));
    axum::serve(listener, app).await
}

async fn web_app(State(static_dir): State<Arc<PathBuf>>, request: Request) -> Response {
    let index = static_dir.join("index.html");
    if !index.exists() {
        let hint = format!(
            "no web app built: {} has no index.html (build the web app first)",
            static_dir.display()
        );
        return (StatusCode::NOT_FOUND, hint).into_response();
    }
    let files = ServeDir::new(static_dir.as_path()).fallback(ServeFile::new(index));
    match files.oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    }
}
