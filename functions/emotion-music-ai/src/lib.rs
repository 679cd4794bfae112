//! `emotion-music-ai`: a signed-in user asks for music that fits an emotion, or reads back
//! a request they made.
//!
//! - `POST /functions/v1/emotion-music-ai` with `{emotion, intensity?, context?,
//!   instrumental?, style?, title?}` and an optional `Idempotency-Key`. The body is checked
//!   by the core (400 naming the field), then the request is **stored first**
//!   (`enqueue_music_request`), so nothing is lost whatever happens next. Then
//!   [`direct::submit`] sends it at once when the core admits it: 200 `processing`.
//!   Otherwise, and whenever the provider cannot take it now, it waits in the queue: 202
//!   `queued` with its position. Past the per-user limit: 429. The same `Idempotency-Key`
//!   again answers with the first request as it is now.
//! - `GET /functions/v1/emotion-music-ai?request_id=…` reads the caller's own request
//!   through `my_music_requests` with their JWT, so RLS decides: another user's id is 404.
//!
//! **Who the user is.** `verify_jwt = true`: the gateway has checked the JWT's signature
//! before this runs, so the user is the JWT's `sub`, read from its claims, and its `role`
//! must be `authenticated` (the anon key is a valid JWT too). The enqueue goes through the
//! service role with that `sub` as `p_user_id`, as the SQL API wants; the read goes with
//! the user's own JWT, which PostgREST verifies once more.

mod answer;
mod direct;

use music_core::request_id::parse_request_id;
use music_core::{parse_request, prompt, ApiError, MusicRequest};
use music_edge::auth::{bearer_token, jwt_claims};
use music_edge::http::{json, query, serve};
use music_edge::Context;
use serde::Serialize;
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use worker::{web_sys, Method, Request, Response};

/// The function's entry point, served by `index.ts`.
#[wasm_bindgen]
pub async fn handler(request: web_sys::Request) -> web_sys::Response {
    serve("emotion-music-ai", request, answer).await
}

/// A signed-in user: their id and the JWT that proves it.
struct User {
    id: String,
    jwt: String,
}

async fn answer(request: Request, cx: Context) -> Result<Response, ApiError> {
    let user = signed_in(&request)?;
    match request.method() {
        Method::Post => create(request, &cx, &user).await,
        Method::Get => show(&request, &cx, &user).await,
        _ => Err(ApiError::NotFound("only GET and POST are served".into())),
    }
}

/// The user of a JWT the gateway verified (see the module docs).
fn signed_in(request: &Request) -> Result<User, ApiError> {
    let authorization = request
        .headers()
        .get("authorization")
        .ok()
        .flatten()
        .unwrap_or_default();
    let jwt = bearer_token(&authorization).unwrap_or("");
    let claims = jwt_claims(jwt).unwrap_or(Value::Null);
    match (claims["role"].as_str(), claims["sub"].as_str()) {
        (Some("authenticated"), Some(id)) if !id.is_empty() => Ok(User {
            id: id.to_owned(),
            jwt: jwt.to_owned(),
        }),
        _ => Err(ApiError::Unauthorized(
            "sign in first: this needs a user's JWT".into(),
        )),
    }
}

/// The arguments of `enqueue_music_request`: what the user asked, and the provider fields
/// the core built from it.
#[derive(Serialize)]
struct Enqueue<'a> {
    p_user_id: &'a str,
    p_emotion: &'static str,
    p_intensity: f64,
    p_context: Option<&'a str>,
    p_idempotency_key: Option<String>,
    p_instrumental: bool,
    p_prompt: String,
    p_style: Option<String>,
    p_title: Option<String>,
    p_model: &'static str,
    p_asked_style: Option<&'a str>,
    p_asked_title: Option<&'a str>,
}

impl<'a> Enqueue<'a> {
    fn new(user: &'a User, music: &'a MusicRequest, cx: &Context, key: Option<String>) -> Self {
        let params = prompt::build(music, cx.env.config.suno_model);
        Enqueue {
            p_user_id: &user.id,
            p_emotion: music.emotion.as_str(),
            p_intensity: music.intensity.value(),
            p_context: music.context.as_ref().map(|c| c.as_str()),
            p_idempotency_key: key,
            p_instrumental: params.instrumental,
            p_prompt: params.prompt,
            p_style: params.style,
            p_title: params.title,
            p_model: params.model.as_str(),
            p_asked_style: music.options.style.as_deref(),
            p_asked_title: music.options.title.as_deref(),
        }
    }
}

async fn create(mut request: Request, cx: &Context, user: &User) -> Result<Response, ApiError> {
    let body = request.bytes().await.unwrap_or_default();
    let music = parse_request(&body)?;
    let key = request
        .headers()
        .get("idempotency-key")
        .ok()
        .flatten()
        .map(|key| key.trim().to_owned())
        .filter(|key| !key.is_empty());
    let ticket = cx
        .store
        .rpc(
            "enqueue_music_request",
            &Enqueue::new(user, &music, cx, key),
        )
        .await?;
    let deduplicated = ticket["deduplicated"] == true;
    cx.log.info(
        "enqueued",
        json!({"music_request_id": ticket["id"], "deduplicated": deduplicated,
               "position": ticket["queue_position"]}),
    );
    if deduplicated {
        return answer::existing(&ticket);
    }
    let outcome = direct::submit(cx, &ticket).await;
    if let direct::Outcome::Queued(reason) = &outcome {
        cx.log.info(
            "queued",
            json!({"music_request_id": ticket["id"], "reason": reason}),
        );
    }
    answer::after_submit(&ticket, outcome)
}

/// Columns of `my_music_requests` a user reads back.
const REQUEST_COLUMNS: &str = "id,status,emotion,intensity,context,asked_style,asked_title,\
    instrumental,attempts,max_attempts,provider_status,result,fallback_track_id,\
    fallback_same_emotion,error_code,error_message,created_at,started_at,submitted_at,\
    completed_at,failed_at";

/// Columns of a fallback track (`music_tracks`) a user may read.
const TRACK_COLUMNS: &str = "id,emotion,title,audio_url,stream_audio_url,image_url,\
    duration_seconds,tags";

async fn show(request: &Request, cx: &Context, user: &User) -> Result<Response, ApiError> {
    let id = parse_request_id(query(request, "request_id").as_deref())?;
    let rows = cx
        .store
        .read_as(
            &user.jwt,
            "my_music_requests",
            REQUEST_COLUMNS,
            &[("id", &id)],
        )
        .await?;
    let Some(row) = rows.get(0) else {
        return Err(ApiError::NotFound(format!("no request {id} of yours")));
    };
    let fallback = match row["fallback_track_id"].as_str() {
        Some(track) => cx
            .store
            .read_as(&user.jwt, "music_tracks", TRACK_COLUMNS, &[("id", track)])
            .await?
            .get(0)
            .cloned(),
        None => None,
    };
    json(200, &answer::view(row, fallback))
}
