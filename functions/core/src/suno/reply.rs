//! Reading what one provider call gave back: an answer (status, `Retry-After`, body) or no
//! answer at all.
//!
//! A shell's whole fetch glue is: send the [`super::HttpRequest`], build a [`Reply`], and
//! hand it to [`Reply::read`] (generate, credit) or [`Reply::read_task`] (record-info). The
//! parsing, the classification of every failure and the `Retry-After` all happen here.
//!
//! # From a failed fetch to a [`TransportFailure`]
//!
//! Only a failure to *connect* proves that nothing reached the provider; anything later may
//! come after the provider took (and charged) the request. Under Deno, [`fetch_failure`]
//! applies this:
//!
//! | what failed | Deno shows | failure |
//! |---|---|---|
//! | DNS, refused connection, TLS | `fetch` rejects with a `TypeError` naming the connect step | `NotSent` |
//! | our timeout (`AbortSignal.timeout`) or an abort | `TimeoutError` / `AbortError` | `LostAfterSend` |
//! | the connection dropped after sending | `TypeError` (reset, closed before the answer) | `LostAfterSend` |
//! | reading the body | `response.arrayBuffer()` rejects | `LostAfterSend` |

use crate::classify::{classify_error, classify_transport, Classification, TransportFailure};
use crate::health::CallFacts;
use crate::poll::PollResult;
use crate::retry::parse_retry_after;

use super::{Endpoint, ProviderError};

/// What one call gave back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The provider answered.
    Answer {
        /// The HTTP status.
        status: u16,
        /// The `Retry-After` header, as received.
        retry_after: Option<String>,
        /// The raw body.
        body: Vec<u8>,
    },
    /// No answer.
    Lost(TransportFailure),
}

impl Reply {
    /// The HTTP status, when there was an answer.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Reply::Answer { status, .. } => Some(*status),
            Reply::Lost(_) => None,
        }
    }

    /// The provider's `Retry-After`, in milliseconds, when it sent a readable one.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            Reply::Answer { retry_after, .. } => retry_after.as_deref().and_then(parse_retry_after),
            Reply::Lost(_) => None,
        }
    }

    /// Parses the answer of `endpoint` with `parse` (e.g. [`super::parse_generate`]), or
    /// classifies why it is not a success, with the `Retry-After` attached.
    pub fn read<T>(
        &self,
        endpoint: Endpoint,
        parse: fn(u16, &[u8]) -> Result<T, ProviderError>,
    ) -> Result<T, Classification> {
        match self {
            Reply::Answer { status, body, .. } => parse(*status, body)
                .map_err(|error| classify_error(&error).with_retry_after(self.retry_after_ms())),
            Reply::Lost(failure) => Err(classify_transport(*failure, endpoint)),
        }
    }

    /// This reply with every one of `secrets` in the body replaced by `***`. A provider (or
    /// a proxy in front of it) may echo the request's headers or body in an error page, and
    /// the text of an error is logged and stored; scrubbed here, as the answer comes in,
    /// none of those places can show what the request carried ([`super::HttpRequest::secrets`]).
    pub fn without<S: AsRef<str>>(self, secrets: &[S]) -> Reply {
        match self {
            Reply::Answer {
                status,
                retry_after,
                mut body,
            } => {
                for secret in secrets.iter().map(|s| s.as_ref().as_bytes()) {
                    body = replace_all(&body, secret, b"***");
                }
                Reply::Answer {
                    status,
                    retry_after,
                    body,
                }
            }
            lost => lost,
        }
    }

    /// The answer of a `record-info` call, for [`crate::poll::decide_poll`].
    pub fn read_task(&self) -> PollResult {
        match self {
            Reply::Answer { status, body, .. } => PollResult::from_http(*status, body),
            Reply::Lost(failure) => PollResult::Transport(*failure),
        }
    }

    /// What the provider-health check of this call needs besides its outcome.
    pub fn facts(&self, response_ms: u64, credits: Option<f64>) -> CallFacts {
        CallFacts {
            response_ms: matches!(self, Reply::Answer { .. }).then_some(response_ms),
            http_status: self.http_status(),
            credits,
        }
    }
}

/// `haystack` with every occurrence of `needle` replaced by `with` (an empty needle
/// changes nothing).
fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    if needle.is_empty() {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = rest.windows(needle.len()).position(|w| w == needle) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(with);
        rest = &rest[at + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// Maps a failed Deno `fetch` to a [`TransportFailure`] (see the module docs).
///
/// `name` and `message` are the JS error's; `answer_started` is true once `fetch` resolved
/// (the status line arrived) and the body read failed. When in doubt the answer is
/// `LostAfterSend`: the safe side for a charged call.
pub fn fetch_failure(name: &str, message: &str, answer_started: bool) -> TransportFailure {
    const CONNECT_STEP: &[&str] = &[
        "(connect)",
        "tcp connect",
        "connection refused",
        "dns error",
        "failed to lookup address",
        "certificate",
        "tls handshake",
    ];
    let message = message.to_ascii_lowercase();
    let connecting = CONNECT_STEP.iter().any(|step| message.contains(step));
    if !answer_started && name == "TypeError" && connecting {
        TransportFailure::NotSent
    } else {
        TransportFailure::LostAfterSend
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Class;
    use crate::suno::{parse_credit, parse_generate};

    fn answer(status: u16, retry_after: Option<&str>, body: &str) -> Reply {
        Reply::Answer {
            status,
            retry_after: retry_after.map(str::to_owned),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn an_echoed_key_or_token_never_reaches_the_error_text() {
        let echo =
            "bad gateway; Authorization: Bearer sk-live-1; callback token=t0k3n&x, sk-live-1";
        let reply = answer(502, None, echo).without(&["sk-live-1", "t0k3n"]);
        let error = reply.read(Endpoint::Credit, parse_credit).unwrap_err();
        assert!(!error.message.contains("sk-live-1"), "{}", error.message);
        assert!(!error.message.contains("t0k3n"), "{}", error.message);
        assert!(error.message.contains("Bearer ***"), "{}", error.message);

        let envelope = r#"{"code": 500, "msg": "key sk-live-1 rejected"}"#;
        let reply = answer(200, None, envelope).without(&["sk-live-1"]);
        let error = reply.read(Endpoint::Generate, parse_generate).unwrap_err();
        assert!(!error.message.contains("sk-live-1"), "{}", error.message);

        let lost = Reply::Lost(TransportFailure::NotSent);
        assert_eq!(lost.clone().without(&["x"]), lost);
        let untouched = answer(200, None, "{}");
        assert_eq!(untouched.clone().without(&[""]), untouched);
    }

    #[test]
    fn a_success_is_parsed() {
        let reply = answer(
            200,
            None,
            r#"{"code":200,"msg":"success","data":{"taskId":"t1"}}"#,
        );
        assert_eq!(
            reply.read(Endpoint::Generate, parse_generate),
            Ok("t1".into())
        );
        let credit = answer(200, None, r#"{"code":200,"msg":"success","data":480}"#);
        assert_eq!(credit.read(Endpoint::Credit, parse_credit), Ok(480.0));
    }

    #[test]
    fn a_refusal_carries_its_retry_after() {
        let reply = answer(503, Some("120"), "<html>busy</html>");
        let outcome = reply.read(Endpoint::Generate, parse_generate).unwrap_err();
        assert_eq!(outcome.class, Class::Retryable);
        assert_eq!(outcome.retry_after_ms, Some(120_000));
        assert_eq!(reply.facts(900, None).http_status, Some(503));
    }

    #[test]
    fn no_answer_is_classified_by_where_it_was_lost() {
        let lost = Reply::Lost(TransportFailure::LostAfterSend);
        let outcome = lost.read(Endpoint::Generate, parse_generate).unwrap_err();
        assert_eq!(outcome.class, Class::Ambiguous);
        let facts = lost.facts(30_000, None);
        assert_eq!((facts.response_ms, facts.http_status), (None, None));
        let unsent = Reply::Lost(TransportFailure::NotSent);
        let outcome = unsent.read(Endpoint::Generate, parse_generate).unwrap_err();
        assert_eq!(outcome.class, Class::Retryable);
        assert_eq!(
            unsent.read_task(),
            PollResult::Transport(TransportFailure::NotSent)
        );
    }

    #[test]
    fn deno_errors_map_to_the_safe_side() {
        let refused = "error sending request for url (http://x/): client error (Connect): \
                       tcp connect error: Connection refused (os error 111)";
        assert_eq!(
            fetch_failure("TypeError", refused, false),
            TransportFailure::NotSent
        );
        let dns = "error sending request: dns error: failed to lookup address information";
        assert_eq!(
            fetch_failure("TypeError", dns, false),
            TransportFailure::NotSent
        );
        let reset = "error sending request: connection closed before message completed";
        assert_eq!(
            fetch_failure("TypeError", reset, false),
            TransportFailure::LostAfterSend
        );
        assert_eq!(
            fetch_failure("TimeoutError", "signal timed out", false),
            TransportFailure::LostAfterSend
        );
        assert_eq!(
            fetch_failure("TypeError", refused, true),
            TransportFailure::LostAfterSend
        );
    }
}
