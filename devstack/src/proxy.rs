//! Passing a request on to a service behind the gateway and streaming its
//! answer back.
//!
//! Functions get the hosted runtime's treatment: an answer must begin, and
//! each further piece of the body arrive, within the idle timeout, else 504
//! (or a cut stream once the answer has begun); a process that dies while
//! handling the request is a 546; a process being started again (after such
//! a death) is waited for, as a hosted request waits for a cold start.

use crate::gateway_error::GatewayError;
use axum::body::{to_bytes, Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderName, Method};
use axum::response::{IntoResponse, Response};
use std::io;
use std::time::Duration;
use tokio::time::Instant;

/// Largest request body forwarded (Kong's default is larger; nothing here
/// sends more than a few KB).
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// How long a request waits for a function process that is starting again.
const RESTART_WAIT: Duration = Duration::from_secs(15);

/// Request headers that describe one connection, not the request.
const HOP_BY_HOP: [HeaderName; 5] = [
    header::HOST,
    header::CONNECTION,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// The parts of a request worth sending again.
struct Outgoing {
    method: Method,
    headers: HeaderMap,
    body: Bytes,
}

async fn outgoing(request: Request) -> Result<Outgoing, GatewayError> {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| GatewayError::PayloadTooLarge)?;
    let mut headers = parts.headers;
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    Ok(Outgoing {
        method: parts.method,
        headers,
        body,
    })
}

fn send(
    client: &reqwest::Client,
    target: &str,
    request: &Outgoing,
) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> {
    client
        .request(request.method.clone(), target)
        .headers(request.headers.clone())
        .body(request.body.clone())
        .send()
}

/// Forwards to a service that is always up (PostgREST).
pub async fn to_service(client: &reqwest::Client, request: Request, target: &str) -> Response {
    let request = match outgoing(request).await {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    match send(client, target, &request).await {
        Ok(upstream) => relay(upstream, None),
        Err(_) => GatewayError::BadGateway.into_response(),
    }
}

/// Forwards `path_and_query` to the function process listening on `port`,
/// within the idle timeout, counted from when the process accepts the
/// request (a process starting again is waited for separately, up to
/// [`RESTART_WAIT`]). `client` must not pool connections: a pooled
/// connection to a process that has since died would fail the next request
/// instead of reaching the new process.
pub async fn to_function(
    client: &reqwest::Client,
    request: Request,
    port: u16,
    path_and_query: &str,
    idle_timeout: Duration,
) -> Response {
    let request = match outgoing(request).await {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let target = format!("http://127.0.0.1:{port}{path_and_query}");
    let restart_deadline = Instant::now() + RESTART_WAIT;
    loop {
        if !listening(port, restart_deadline).await {
            return GatewayError::FunctionBootError.into_response();
        }
        let answer = tokio::time::timeout(idle_timeout, send(client, &target, &request)).await;
        let error = match answer {
            Err(_) => GatewayError::FunctionIdleTimeout,
            Ok(Ok(upstream)) => return relay(upstream, Some(idle_timeout)),
            // Gone between the check and the request: wait for it again.
            Ok(Err(refused)) if refused.is_connect() => continue,
            Ok(Err(_)) => GatewayError::FunctionWorkerLimit,
        };
        return error.into_response();
    }
}

/// Waits until something accepts connections on `port`, or `deadline`.
async fn listening(port: u16, deadline: Instant) -> bool {
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The upstream's answer, streamed; with `idle`, a pause longer than that
/// between two pieces of the body cuts the stream.
fn relay(upstream: reqwest::Response, idle: Option<Duration>) -> Response {
    let status = upstream.status();
    let mut headers = upstream.headers().clone();
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(name);
    }
    let chunks = futures_util::stream::unfold(Some(upstream), move |upstream| async move {
        let mut upstream = upstream?;
        match next_chunk(&mut upstream, idle).await {
            Ok(Some(chunk)) => Some((Ok(chunk), Some(upstream))),
            Ok(None) => None,
            Err(error) => Some((Err(error), None)),
        }
    });
    let mut response = Response::new(Body::from_stream(chunks));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

async fn next_chunk(
    upstream: &mut reqwest::Response,
    idle: Option<Duration>,
) -> io::Result<Option<Bytes>> {
    let Some(idle) = idle else {
        return upstream.chunk().await.map_err(io::Error::other);
    };
    match tokio::time::timeout(idle, upstream.chunk()).await {
        Ok(chunk) => chunk.map_err(io::Error::other),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the function sent nothing within the idle timeout",
        )),
    }
}
