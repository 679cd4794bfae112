//! The request log: every request outside `/__sim/` is written down on arrival, before any
//! fault or handler runs, so a request whose answer is lost is still on record (with the
//! task it created). The answer's status and body code are added when there is one.

use crate::clock::wall_ms;
use crate::envelope::{error, BodyCode};
use crate::state::{RequestRecord, Sim};
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, request::Parts, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Bodies above this are refused; real submits are a few kilobytes.
const MAX_BODY: usize = 1 << 20;

/// Sequence number of the current request's log entry (a request extension).
#[derive(Debug, Clone, Copy)]
pub struct RequestSeq(pub u64);

/// Which part of the contract a request addresses; faults target these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    Generate,
    RecordInfo,
    Credit,
    Files,
    Other,
}

impl Endpoint {
    pub fn classify(method: &Method, path: &str) -> Self {
        let read = method == Method::GET || method == Method::HEAD;
        match path {
            "/api/v1/generate" if method == Method::POST => Self::Generate,
            "/api/v1/generate/record-info" if read => Self::RecordInfo,
            "/api/v1/generate/credit" if read => Self::Credit,
            p if read && p.starts_with("/files/") => Self::Files,
            _ => Self::Other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Generate => "generate",
            Self::RecordInfo => "record_info",
            Self::Credit => "credit",
            Self::Files => "files",
            Self::Other => "other",
        }
    }
}

pub async fn record(State(sim): State<Sim>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return error(413, "The request body is too large.");
    };
    let endpoint = Endpoint::classify(&parts.method, parts.uri.path());
    let seq = {
        let mut st = sim.lock();
        let record = new_record(&parts, &bytes, endpoint, st.now());
        st.push_request(record)
    };
    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(RequestSeq(seq));
    req.extensions_mut().insert(endpoint);
    let resp = next.run(req).await;
    if let Some(r) = sim.lock().request_mut(seq) {
        r.http_status = Some(resp.status().as_u16());
        r.code = resp.extensions().get::<BodyCode>().map(|c| c.0);
    }
    resp
}

fn new_record(parts: &Parts, body: &[u8], endpoint: Endpoint, sim_secs: f64) -> RequestRecord {
    RequestRecord {
        seq: 0,
        at_ms: wall_ms(),
        sim_secs,
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        endpoint: endpoint.name(),
        headers: headers_json(&parts.headers),
        body: body_json(body),
        fault: None,
        http_status: None,
        code: None,
        task_id: None,
        credits_charged: 0,
    }
}

fn headers_json(headers: &HeaderMap) -> Value {
    let mut out = Map::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        let shown = if name == header::AUTHORIZATION {
            mask(&value)
        } else {
            value.into_owned()
        };
        out.insert(name.as_str().to_owned(), Value::String(shown));
    }
    Value::Object(out)
}

/// Keeps the scheme and a few leading characters: enough to tell keys apart in a test,
/// not enough to reuse one.
fn mask(value: &str) -> String {
    let (scheme, key) = value.split_once(' ').unwrap_or(("", value));
    let head: String = key.chars().take(4).collect();
    format!("{scheme} {head}***").trim_start().to_owned()
}

/// The body as JSON (or text), with the callback URL's token masked like the key: the
/// log shows what was asked for, not the credential the callback will carry.
fn body_json(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    let mut json = serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
    if let Some(url) = json.get_mut("callBackUrl") {
        if let Some(text) = url.as_str() {
            *url = Value::String(mask_url_token(text));
        }
    }
    json
}

/// `url` with the value of its `token` query parameter masked as [`mask`] masks a key.
pub(crate) fn mask_url_token(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.strip_prefix("token=") {
            Some(token) => format!("token={}", mask(token)),
            None => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keys() {
        assert_eq!(mask("Bearer sim-suno-key"), "Bearer sim-***");
        assert_eq!(mask("abc"), "abc***");
        assert_eq!(
            mask_url_token("http://h/cb?request_id=r&token=0123456789abcdef&x=1"),
            "http://h/cb?request_id=r&token=0123***&x=1"
        );
        assert_eq!(mask_url_token("http://h/cb"), "http://h/cb");
    }

    #[test]
    fn classifies() {
        assert_eq!(
            Endpoint::classify(&Method::POST, "/api/v1/generate"),
            Endpoint::Generate
        );
        assert_eq!(
            Endpoint::classify(&Method::GET, "/api/v1/generate"),
            Endpoint::Other
        );
        assert_eq!(
            Endpoint::classify(&Method::GET, "/files/a.mp3"),
            Endpoint::Files
        );
    }
}
