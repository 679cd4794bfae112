//! Pure domain logic of the music generation queue.
//!
//! An app asks for music that fits an emotion; the music comes from Suno through a reseller
//! API that is often overloaded, rate-limited or down. This crate holds every decision of
//! that path as plain functions over plain data: it does no I/O, reads no clock and draws no
//! random numbers. Time (`now_ms`, epoch milliseconds) and jitter seeds are passed in, so the
//! same inputs always give the same answer, on the host in tests and in WebAssembly at the
//! edge.
//!
//! # Layout
//!
//! - [`emotion`]: the emotions and the intensity of a request.
//! - [`validation`]: checking a request body into a [`MusicRequest`], errors naming fields.
//! - [`profile`]: how each emotion sounds, by intensity band.
//! - [`model`]: the provider's model versions and their length limits.
//! - [`prompt`]: a request and a model to the provider's text fields ([`GenerateParams`]).
//! - [`suno`]: the provider contract: building requests, reading answers and callbacks.
//! - [`classify`]: what each outcome means ([`Class`]) and implies ([`Action`]).
//! - [`retry`]: backoff with jitter, rate-limit cool-downs, `Retry-After`.
//! - [`health`]: the provider's state, the failure streak and pauses (one rule with the SQL).
//! - [`plan`]: one worker run as a state machine, from the first probe to the last submit.
//! - [`admit`]: whether a new request is submitted at once or queued.
//! - [`poll`]: what to do after reading a submitted task.
//! - [`run`]: a worker run as recorded for the panel (trigger, summary).
//! - [`callback_route`]: the worker's `/callback` route, from query to answer.
//! - [`request_id`]: a request's id as a caller writes it, checked.
//! - [`probe`]: when the status check probes the provider, and what counts as a recovery.
//! - [`alert`]: the failure-rate alert row and the webhook body.
//! - [`config`]: the deployment's settings and secrets, from environment-like variables.
//! - [`settings`]: the queue's behaviour, from its SQL row.
//! - [`error`]: the `{"error":{"code","message"}}` shape, and [`ApiError`] with its statuses.
//! - [`status`]: a request's status ([`RequestStatus`]).
//! - [`secret`]: comparing tokens and keys in constant time.
//! - [`text`]: measuring and cutting text without splitting characters.
//! - [`time`]: epoch milliseconds, ISO-8601 text and SQL delays.
//!
//! # Example
//!
//! From a request body to the provider call, then reading the answer:
//!
//! ```
//! use music_core::classify::classify_error;
//! use music_core::suno::parse_generate;
//! use music_core::{parse_request, prompt, Action, Config};
//!
//! let config = Config::from_env(|name| (name == "SUNO_API_KEY").then(|| "sk-test".into()))?;
//! let request = parse_request(br#"{"emotion":"calm","intensity":0.2}"#)?;
//! let params = prompt::build(&request, config.suno_model);
//! let call = config.suno_api()?.generate(&params, "https://x.supabase.co/functions/v1/cb");
//! assert_eq!(call.url, "https://api.sunoapi.org/api/v1/generate");
//!
//! // The provider answers HTTP 200 with an error in the body.
//! let answer = br#"{"code":430,"msg":"Your call frequency is too high."}"#;
//! let outcome = classify_error(&parse_generate(200, answer).unwrap_err());
//! assert_eq!(outcome.code, "provider_rate_limited");
//! assert_eq!(outcome.action, Action::CoolDown);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Errors
//!
//! Each module has its own error enum; all implement [`ErrorCode`], which gives a stable code
//! and the JSON error body. Provider outcomes are not errors of this crate: they are data,
//! classified by [`classify`].

#![deny(missing_docs)]

pub mod admit;
pub mod alert;
pub mod callback_route;
pub mod classify;
pub mod config;
pub mod emotion;
pub mod error;
pub mod health;
pub mod model;
pub mod plan;
pub mod poll;
pub mod probe;
pub mod profile;
pub mod prompt;
pub mod request_id;
pub mod retry;
pub mod run;
pub mod secret;
pub mod settings;
pub mod status;
pub mod suno;
pub mod text;
pub mod time;
pub mod validation;

pub use classify::{Action, Class, Classification, ConfigFault, TransportFailure};
pub use config::{Config, ConfigError};
pub use emotion::{Band, Emotion, Intensity};
pub use error::{ApiError, ErrorBody, ErrorCode};
pub use health::{
    CallFacts, Circuit, CircuitPolicy, PauseKind, ProviderState, ProviderStatus, StatusCheck,
};
pub use model::Model;
pub use plan::{ClaimedRequest, Planner, RequestDecision, Step};
pub use poll::{decide_poll, PollDecision, PollResult, SubmittedTask};
pub use prompt::GenerateParams;
pub use retry::{Backoff, Cooldown};
pub use settings::QueueSettings;
pub use status::RequestStatus;
pub use validation::{parse_request, validate_request, MusicRequest, ValidationError};
