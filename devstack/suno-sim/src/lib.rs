//! A faithful simulator of the sunoapi.org music generation contract, for local stacks
//! and tests: the three endpoints with their body codes, credits and rate window, a
//! time-scaled task life with callbacks, per-task outcomes, transport faults, static
//! audio and image files, and a control API under `/__sim/`. See `README.md`.
//!
//! It is written from the provider's contract alone and shares no code with any client.

mod api;
mod callbacks;
mod clock;
mod config;
mod control;
mod envelope;
mod faults;
mod files;
mod outcome;
mod recorder;
mod render;
mod server;
mod state;
mod task;
mod timeline;
mod validate;

pub use config::SimConfig;

use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::Router;
use state::Sim;
use tokio::net::TcpListener;

/// Serves the simulator on `listener` until this future is dropped or aborted; background
/// work (task lives, callback deliveries) stops with it. An empty `public_base_url` is
/// replaced by the listener's own address.
pub async fn serve(listener: TcpListener, mut config: SimConfig) -> anyhow::Result<()> {
    if config.public_base_url.is_empty() {
        config.public_base_url = format!("http://{}", listener.local_addr()?);
    }
    let sim = Sim::new(config);
    server::run(listener, sim.clone(), app(sim)).await
}

/// The simulator as a router, for in-process use. Without `serve`'s accept loop, faults
/// that drop the connection fall back to a response whose body fails mid-transfer.
pub fn router(config: SimConfig) -> Router {
    app(Sim::new(config))
}

fn app(sim: Sim) -> Router {
    let api = Router::new()
        .route("/api/v1/generate", post(api::generate))
        .route("/api/v1/generate/record-info", get(api::record_info))
        .route("/api/v1/generate/credit", get(api::credit))
        .route("/files/{name}", get(files::serve_file))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::not_found)
        // Outermost runs first: log the request, then maybe fault it.
        .layer(from_fn_with_state(sim.clone(), faults::apply))
        .layer(from_fn_with_state(sim.clone(), recorder::record));
    Router::new()
        .nest("/__sim", control::routes())
        .merge(api)
        .with_state(sim)
}
