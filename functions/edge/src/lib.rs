//! The shared shell of the three edge functions: everything a function does that is not a
//! decision. Decisions live in `music_core`; state changes go through the SQL API.
//!
//! A function crate is one handler on top of these pieces:
//!
//! | module | gives |
//! |---|---|
//! | [`mod@env`] | [`Env`]: the project URL, the keys, the provider's settings, read once from `Deno.env` |
//! | [`auth`] | [`Caller`]: the secret key, an admin, a signed-in user, or the public |
//! | [`store`] | [`Store`]: the SQL API through `/rest/v1/rpc`, errors as [`ApiError`] |
//! | [`fetch`] | [`fetch::send`]: an outbound call with a timeout, as a `music_core` [`Reply`](music_core::suno::Reply) |
//! | [`provider`] | [`provider::probe`]: one call to the provider's credit endpoint, classified |
//! | [`http`] | [`http::serve`]: CORS, preflight, JSON answers and the one error shape |
//! | [`log`] | [`Log`]: one JSON object per line, with the request id, never a key |
//! | [`runtime`] | the clock, `EdgeRuntime.waitUntil`, sleeping |
//!
//! ```ignore
//! #[wasm_bindgen]
//! pub async fn handler(request: web_sys::Request) -> web_sys::Response {
//!     music_edge::http::serve("my-function", request, answer).await
//! }
//!
//! async fn answer(request: worker::Request, cx: Context) -> Result<worker::Response, ApiError> {
//!     if !cx.caller(&request).await?.is_privileged() {
//!         return Err(ApiError::Forbidden("the secret key or an admin only".into()));
//!     }
//!     let row = cx.store.rpc("get_suno_api_status", &json!({})).await?;
//!     music_edge::http::json(200, &row)
//! }
//! ```
//!
//! `functions/suno-status-check` is the worked example. A function crate is a `cdylib`
//! whose `index.ts` is `initSync` + `Deno.serve(handler)`; `scripts/build` finds it when
//! `supabase/functions/<name>/index.ts` exists and `config.toml` lists its `pkg/*` in
//! `static_files`.

pub mod auth;
pub mod env;
pub mod fetch;
pub mod http;
pub mod log;
pub mod provider;
pub mod runtime;
pub mod store;

pub use auth::Caller;
pub use env::Env;
pub use http::Context;
pub use log::Log;
pub use music_core::ApiError;
pub use store::Store;
