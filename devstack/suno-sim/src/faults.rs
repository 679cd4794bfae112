//! Transport faults: what the network and the provider's front end do to a request before
//! (or after) the contract handles it. Rules are global, matched in the order they were
//! added, and either fire for the next `count` matching requests or until cleared.
//!
//! A request that is let through is handled in its own task, so it always runs to the end
//! even if the client gives up, as on a real server.

use crate::envelope;
use crate::recorder::{Endpoint, RequestSeq};
use crate::server::ConnHandle;
use crate::state::Sim;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    /// A real HTTP error status with an HTML body, as a proxy in front would send.
    HttpError {
        status: u16,
        #[serde(default)]
        retry_after_secs: Option<u64>,
        #[serde(default)]
        body: Option<String>,
    },
    /// HTTP 200 whose body is not JSON.
    NonJson {
        #[serde(default)]
        body: Option<String>,
    },
    /// The connection is closed (RST) without any answer; the request is not handled.
    Reset,
    /// Wait, then handle and answer normally.
    Slow { delay_ms: u64 },
    /// Handle the request fully (a submit creates and charges its task), then lose the
    /// answer: `drop` resets the connection at once, `hold` keeps it silent for `hold_ms`
    /// first, so the client's own timeout fires.
    AcceptThenLose {
        #[serde(default)]
        mode: LoseMode,
        #[serde(default = "default_hold_ms")]
        hold_ms: u64,
    },
    /// An HTTP 200 envelope with this body code (455 maintenance, 500, 405, ...).
    BodyCode {
        code: u16,
        #[serde(default)]
        msg: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoseMode {
    #[default]
    Drop,
    Hold,
}

fn default_hold_ms() -> u64 {
    600_000
}

/// Which requests a rule applies to. `any` means the three API endpoints; file downloads
/// are only faulted when asked for by name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    #[default]
    Any,
    Generate,
    RecordInfo,
    Credit,
    Files,
}

impl Target {
    fn matches(self, endpoint: Endpoint) -> bool {
        match self {
            Self::Any => matches!(
                endpoint,
                Endpoint::Generate | Endpoint::RecordInfo | Endpoint::Credit
            ),
            Self::Generate => endpoint == Endpoint::Generate,
            Self::RecordInfo => endpoint == Endpoint::RecordInfo,
            Self::Credit => endpoint == Endpoint::Credit,
            Self::Files => endpoint == Endpoint::Files,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    #[serde(flatten)]
    pub kind: FaultKind,
    #[serde(default)]
    pub endpoint: Target,
    /// Matching requests still to fault; absent = until cleared.
    #[serde(default)]
    pub count: Option<u32>,
}

impl FaultRule {
    /// What serde cannot check.
    pub fn check(&self) -> Result<(), String> {
        if self.count == Some(0) {
            return Err("count must be >= 1 (omit it for a rule that stays until cleared)".into());
        }
        if let FaultKind::HttpError { status, .. } = self.kind {
            if !(400..=599).contains(&status) {
                return Err(format!("http_error status must be 400..=599, not {status}"));
            }
        }
        Ok(())
    }
}

/// Picks (and uses up) the first rule matching `endpoint`, noting it in the request log.
fn take(sim: &Sim, endpoint: Endpoint, req: Option<RequestSeq>) -> Option<FaultKind> {
    let mut st = sim.lock();
    let idx = st
        .faults
        .iter()
        .position(|r| r.endpoint.matches(endpoint))?;
    let rule = &mut st.faults[idx];
    let kind = rule.kind.clone();
    if let Some(n) = rule.count.as_mut() {
        *n = n.saturating_sub(1);
        if *n == 0 {
            st.faults.remove(idx);
        }
    }
    if let Some(record) = req.and_then(|r| st.request_mut(r.0)) {
        record.fault = serde_json::to_value(&kind).ok();
    }
    Some(kind)
}

pub async fn apply(State(sim): State<Sim>, req: Request, next: Next) -> Response {
    let endpoint = req
        .extensions()
        .get::<Endpoint>()
        .copied()
        .unwrap_or(Endpoint::Other);
    let seq = req.extensions().get::<RequestSeq>().copied();
    let conn = req.extensions().get::<ConnHandle>().cloned();
    let Some(kind) = take(&sim, endpoint, seq) else {
        return handle_detached(next, req, Duration::ZERO).await;
    };
    match kind {
        FaultKind::HttpError {
            status,
            retry_after_secs,
            body,
        } => http_error(status, retry_after_secs, body),
        FaultKind::NonJson { body } => non_json(body),
        FaultKind::BodyCode { code, msg } => {
            envelope::error(code, msg.as_deref().unwrap_or(envelope::default_msg(code)))
        }
        FaultKind::Reset => lose(conn).await,
        FaultKind::Slow { delay_ms } => {
            handle_detached(next, req, Duration::from_millis(delay_ms)).await
        }
        FaultKind::AcceptThenLose { mode, hold_ms } => {
            handle_detached(next, req, Duration::ZERO).await;
            if mode == LoseMode::Hold {
                tokio::time::sleep(Duration::from_millis(hold_ms)).await;
            }
            lose(conn).await
        }
    }
}

/// Handles the request in its own task after `delay`, so that a client hanging up does
/// not cancel work a real server would finish.
async fn handle_detached(next: Next, req: Request, delay: Duration) -> Response {
    let work = tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        next.run(req).await
    });
    work.await
        .unwrap_or_else(|_| envelope::error(500, envelope::default_msg(500)))
}

/// Ends the exchange without an answer. Under `serve` the connection is reset; when the
/// router runs elsewhere (no connection handle) the best available is a response whose
/// body fails, which a client also sees as a broken transfer.
async fn lose(conn: Option<ConnHandle>) -> Response {
    match conn {
        Some(conn) => {
            conn.reset();
            std::future::pending().await
        }
        None => {
            let broken = futures_util::stream::once(async {
                Err::<Bytes, _>(std::io::Error::other("simulated connection loss"))
            });
            Body::from_stream(broken).into_response()
        }
    }
}

fn http_error(status: u16, retry_after: Option<u64>, body: Option<String>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let reason = status.canonical_reason().unwrap_or("Error");
    let code = status.as_u16();
    let page = body.unwrap_or_else(|| {
        format!(
            "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n\
             <center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n\
             </body>\r\n</html>\r\n"
        )
    });
    let mut resp = (status, html(page)).into_response();
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

fn non_json(body: Option<String>) -> Response {
    let page = body.unwrap_or_else(|| {
        "<!DOCTYPE html><html><body><p>The service is busy. Please try again later.</p></body></html>"
            .to_owned()
    });
    (StatusCode::OK, html(page)).into_response()
}

fn html(page: String) -> ([(header::HeaderName, &'static str); 1], String) {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_parse_with_defaults() {
        let rule: FaultRule = serde_json::from_value(json!({"kind": "reset"})).unwrap();
        assert_eq!(rule.endpoint, Target::Any);
        assert_eq!(rule.count, None);
        let rule: FaultRule = serde_json::from_value(
            json!({"kind": "accept_then_lose", "endpoint": "generate", "count": 1}),
        )
        .unwrap();
        assert_eq!(
            rule.kind,
            FaultKind::AcceptThenLose {
                mode: LoseMode::Drop,
                hold_ms: 600_000
            }
        );
        assert!(serde_json::from_value::<FaultRule>(json!({"kind": "nope"})).is_err());
    }

    #[test]
    fn any_leaves_files_alone() {
        assert!(Target::Any.matches(Endpoint::Credit));
        assert!(!Target::Any.matches(Endpoint::Files));
        assert!(Target::Files.matches(Endpoint::Files));
    }
}
