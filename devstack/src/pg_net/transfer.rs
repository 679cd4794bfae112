//! One batch of pg_net requests on the wire, with libcurl as the extension
//! uses it: the same options per method, curl's own error texts, response
//! header names as received, and `timeout_milliseconds = 0` meaning no
//! timeout at all.
//!
//! [`send_batch`] blocks until every request of the batch has finished or
//! timed out; the caller runs it on a blocking thread.

use curl::easy::{Easy2, Handler, List, WriteError};
use curl::multi::{Easy2Handle, Multi};
use serde_json::{Map, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The version pg_net puts in its User-Agent (`pg_net/<EXTVERSION>`).
const USER_AGENT: &str = "User-Agent: pg_net/0.20.4";

/// How long one wait on the batch's sockets may last before curl's timers
/// are looked at again.
const POLL: Duration = Duration::from_millis(100);

/// One queued request, as pg_net's worker reads it from the queue.
pub struct QueuedRequest {
    pub id: i64,
    pub method: String,
    pub url: String,
    /// `Name: value` lines, from the queued headers object.
    pub headers: Vec<String>,
    pub body: Option<Vec<u8>>,
    pub timeout_ms: i32,
}

/// What happened to one request, in `net._http_response`'s terms.
#[derive(Debug, Default, PartialEq)]
pub struct Outcome {
    pub status_code: Option<i32>,
    pub content_type: Option<String>,
    pub headers: Option<Value>,
    pub content: Option<String>,
    pub timed_out: bool,
    pub error_msg: Option<String>,
}

impl Outcome {
    fn error(timed_out: bool, message: String) -> Self {
        Self {
            timed_out,
            error_msg: Some(message),
            ..Self::default()
        }
    }
}

/// libcurl refused to run the batch at all (not a request's own failure,
/// which becomes its outcome).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("curl multi handle: {0}")]
    Multi(#[from] curl::MultiError),
    #[error("curl handle: {0}")]
    Easy(#[from] curl::Error),
    #[error("the worker stopped while the batch was in flight")]
    Cancelled,
}

/// Sends every request of the batch at once and returns each outcome by id,
/// once the slowest has finished or timed out. Gives up as soon as
/// `cancelled` is set (the stack is stopping).
pub fn send_batch(
    batch: Vec<QueuedRequest>,
    cancelled: &AtomicBool,
) -> Result<Vec<(i64, Outcome)>, BatchError> {
    let multi = Multi::new();
    let mut outcomes = Vec::new();
    let mut in_flight: Vec<(i64, i32, Easy2Handle<Collector>)> = Vec::new();
    for request in batch {
        match prepare(&request) {
            Ok(easy) => {
                let mut handle = multi.add2(easy)?;
                handle.set_token(in_flight.len())?;
                in_flight.push((request.id, request.timeout_ms, handle));
            }
            Err(error) => outcomes.push((request.id, Outcome::error(false, error))),
        }
    }
    while multi.perform()? > 0 {
        if cancelled.load(Ordering::Relaxed) {
            return Err(BatchError::Cancelled);
        }
        multi.wait(&mut [], POLL)?;
    }
    let mut results = vec![None; in_flight.len()];
    multi.messages(|message| {
        if let (Ok(token), Some(result)) = (message.token(), message.result()) {
            results[token] = Some(result);
        }
    });
    for ((id, timeout_ms, handle), result) in in_flight.into_iter().zip(results) {
        let easy = multi.remove2(handle)?;
        let outcome = match result {
            Some(Ok(())) => answered(&easy),
            Some(Err(error)) => failed(&easy, &error, timeout_ms),
            None => Outcome::error(false, "the transfer did not complete".into()),
        };
        outcomes.push((id, outcome));
    }
    Ok(outcomes)
}

/// Sets the handle up like pg_net's `init_curl_handle`; an error is the
/// text recorded for the request.
fn prepare(request: &QueuedRequest) -> Result<Easy2<Collector>, String> {
    // pg_net limits curl to these two protocols.
    let url = request.url.to_ascii_lowercase();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err("Unsupported protocol".into());
    }
    let mut easy = Easy2::new(Collector::default());
    configure(&mut easy, request).map_err(|error| error.description().to_string())?;
    Ok(easy)
}

fn configure(easy: &mut Easy2<Collector>, request: &QueuedRequest) -> Result<(), curl::Error> {
    let mut headers = List::new();
    for line in &request.headers {
        headers.append(line)?;
    }
    headers.append(USER_AGENT)?;
    // The body is read as a C string, as pg_net does with the queued text.
    let body = request
        .body
        .as_ref()
        .map(|bytes| bytes.split(|&b| b == 0).next().unwrap_or_default());
    match (request.method.to_ascii_uppercase().as_str(), body) {
        ("GET", Some(body)) => {
            easy.post_fields_copy(body)?;
            easy.custom_request("GET")?;
        }
        ("POST", Some(body)) => easy.post_fields_copy(body)?,
        ("POST", None) => {
            easy.post(true)?;
            easy.post_field_size(0)?;
        }
        ("DELETE", body) => {
            easy.custom_request("DELETE")?;
            if let Some(body) = body {
                easy.post_fields_copy(body)?;
            }
        }
        _ => {}
    }
    easy.url(&request.url)?;
    easy.http_headers(headers)?;
    // CURLOPT_TIMEOUT_MS: the whole transfer; 0 means none.
    easy.timeout(Duration::from_millis(request.timeout_ms.max(0) as u64))?;
    easy.follow_location(true)?;
    Ok(())
}

fn answered(easy: &Easy2<Collector>) -> Outcome {
    let collected = easy.get_ref();
    // pg_net stores the body as a C string: empty means NULL.
    let text = collected.body.split(|&b| b == 0).next().unwrap_or_default();
    Outcome {
        status_code: easy.response_code().ok().map(|code| code as i32),
        content_type: easy.content_type().ok().flatten().map(str::to_string),
        headers: Some(Value::Object(collected.headers.clone())),
        content: (!text.is_empty()).then(|| String::from_utf8_lossy(text).into_owned()),
        timed_out: false,
        error_msg: None,
    }
}

fn failed(easy: &Easy2<Collector>, error: &curl::Error, timeout_ms: i32) -> Outcome {
    if !error.is_operation_timedout() {
        return Outcome::error(false, error.description().to_string());
    }
    let seconds = |time: Result<Duration, curl::Error>| time.map_or(0.0, |d| d.as_secs_f64());
    let timings = Timings {
        namelookup: seconds(easy.namelookup_time()),
        connect: seconds(easy.connect_time()),
        appconnect: seconds(easy.appconnect_time()),
        pretransfer: seconds(easy.pretransfer_time()),
        total: seconds(easy.total_time()),
    };
    Outcome::error(true, timeout_message(timeout_ms, &timings))
}

/// curl's cumulative timings of a transfer, in seconds from its start; a
/// step that never completed reads 0.
#[derive(Debug, Clone, Copy, Default)]
struct Timings {
    namelookup: f64,
    connect: f64,
    appconnect: f64,
    pretransfer: f64,
    total: f64,
}

/// pg_net's timeout text: the total time, split into the step the timeout
/// hit and the steps before it.
fn timeout_message(timeout_ms: i32, t: &Timings) -> String {
    let (dns, handshake, http) = if t.namelookup == 0.0 && t.connect == 0.0 {
        // Still resolving the name.
        (t.total, 0.0, 0.0)
    } else if t.pretransfer == 0.0 {
        // Connected or connecting, but the request had not gone out.
        (t.namelookup, t.total - t.namelookup, 0.0)
    } else {
        let tls = if t.appconnect > 0.0 {
            t.appconnect - t.connect
        } else {
            0.0
        };
        (
            t.namelookup,
            t.connect - t.namelookup + tls,
            t.total - t.pretransfer,
        )
    };
    let ms = |seconds: f64| seconds * 1000.0;
    format!(
        "Timeout of {timeout_ms} ms reached. Total time: {:.6} ms (DNS time: {:.6} ms, \
         TCP/SSL handshake time: {:.6} ms, HTTP Request/Response time: {:.6} ms)",
        ms(t.total),
        ms(dns),
        ms(handshake),
        ms(http)
    )
}

/// Collects a response's body and the headers of its last answer (after
/// redirects), names as received.
#[derive(Default)]
struct Collector {
    body: Vec<u8>,
    headers: Map<String, Value>,
}

impl Handler for Collector {
    fn write(&mut self, data: &[u8]) -> Result<usize, WriteError> {
        self.body.extend_from_slice(data);
        Ok(data.len())
    }

    fn header(&mut self, line: &[u8]) -> bool {
        match parse_header_line(line) {
            HeaderLine::Status => self.headers.clear(),
            HeaderLine::Field(name, value) => {
                self.headers.insert(name, Value::String(value));
            }
            HeaderLine::Other => {}
        }
        true
    }
}

#[derive(Debug, PartialEq)]
enum HeaderLine {
    /// `HTTP/1.1 200 OK`: a new answer starts (a redirect, or after 100).
    Status,
    Field(String, String),
    /// The blank line that ends the headers, or anything unreadable.
    Other,
}

fn parse_header_line(line: &[u8]) -> HeaderLine {
    let line = String::from_utf8_lossy(line);
    let line = line.trim_end_matches(['\r', '\n']);
    if line.starts_with("HTTP/") {
        return HeaderLine::Status;
    }
    match line.split_once(':') {
        Some((name, value)) if !name.is_empty() => {
            HeaderLine::Field(name.to_string(), value.trim().to_string())
        }
        _ => HeaderLine::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_keep_their_case_and_values_are_trimmed() {
        assert_eq!(
            parse_header_line(b"X-Request-Tag:  tagged \r\n"),
            HeaderLine::Field("X-Request-Tag".into(), "tagged".into())
        );
        assert_eq!(
            parse_header_line(b"HTTP/1.1 302 Found\r\n"),
            HeaderLine::Status
        );
        assert_eq!(parse_header_line(b"\r\n"), HeaderLine::Other);
    }

    #[test]
    fn a_timeout_while_resolving_counts_everything_as_dns_time() {
        let timings = Timings {
            total: 0.5,
            ..Timings::default()
        };
        assert_eq!(
            timeout_message(500, &timings),
            "Timeout of 500 ms reached. Total time: 500.000000 ms (DNS time: 500.000000 ms, \
             TCP/SSL handshake time: 0.000000 ms, HTTP Request/Response time: 0.000000 ms)"
        );
    }

    #[test]
    fn a_timeout_before_the_request_went_out_counts_as_handshake_time() {
        let timings = Timings {
            namelookup: 0.001,
            total: 0.3,
            ..Timings::default()
        };
        assert_eq!(
            timeout_message(300, &timings),
            "Timeout of 300 ms reached. Total time: 300.000000 ms (DNS time: 1.000000 ms, \
             TCP/SSL handshake time: 299.000000 ms, HTTP Request/Response time: 0.000000 ms)"
        );
    }

    #[test]
    fn a_timeout_waiting_for_the_answer_splits_the_steps() {
        let timings = Timings {
            namelookup: 0.002,
            connect: 0.005,
            appconnect: 0.010,
            pretransfer: 0.011,
            total: 1.0,
        };
        assert_eq!(
            timeout_message(1000, &timings),
            "Timeout of 1000 ms reached. Total time: 1000.000000 ms (DNS time: 2.000000 ms, \
             TCP/SSL handshake time: 8.000000 ms, HTTP Request/Response time: 989.000000 ms)"
        );
    }
}
