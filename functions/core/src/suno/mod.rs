//! The Suno provider contract (sunoapi.org and compatible resellers), as pure data.
//!
//! - [`request`]: the three endpoints as [`HttpRequest`] values;
//! - [`response`]: reading answers from an HTTP status and body bytes;
//! - [`callback`]: reading webhook bodies;
//! - [`clip`]: one generated track, in either of the provider's spellings;
//! - [`reply`]: what one call gave back (answer or transport failure), read and classified.
//!
//! Sending, timeouts and retries are outside: the shell does I/O, [`crate::classify`] says
//! what an outcome means.

pub mod callback;
pub mod clip;
mod json;
pub mod reply;
pub mod request;
pub mod response;

pub use callback::{callback_url, parse_callback, Callback, CallbackError, CallbackStage};
pub use clip::Clip;
pub use reply::{fetch_failure, Reply};
pub use request::{Endpoint, HttpRequest, Method, SunoApi};
pub use response::{
    parse_credit, parse_generate, parse_record_info, read_envelope, Envelope, ProviderError,
    RecordInfo, TaskInfo, TaskStatus,
};
