//! A tiny HTTP listener that records what reaches it, for tests of what the
//! stack sends (pg_net requests, cron jobs, callbacks).

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `POST`, `GET`, ...
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: String,
}

impl Received {
    /// The first header of that (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// How the listener answers.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// `200 OK` with a small JSON body.
    Ok,
    /// Reads the request and never answers.
    Never,
    /// `200 OK` with no body and a header whose name is not lower case
    /// (`X-Request-Tag: Tagged`).
    Empty,
    /// Like `Ok`, after the given delay.
    After(Duration),
}

/// A listener on an ephemeral port.
pub struct Listener {
    /// Its port on 127.0.0.1.
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Listener {
    /// Starts listening; it stops with the test's runtime.
    pub async fn start(answer: Answer) -> Self {
        let socket = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = socket.local_addr().expect("local addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = socket.accept().await {
                tokio::spawn(serve(stream, answer, log.clone()));
            }
        });
        Self { port, received }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("not poisoned").clone()
    }

    /// Waits up to `limit` for a request matching `want`.
    pub async fn wait_for(
        &self,
        limit: Duration,
        want: impl Fn(&Received) -> bool,
    ) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(found) = self.received().into_iter().find(|r| want(r)) {
                return Some(found);
            }
            if tokio::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn serve(mut stream: TcpStream, answer: Answer, log: Arc<Mutex<Vec<Received>>>) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    log.lock().expect("not poisoned").push(request);
    let reply = match answer {
        Answer::Never => {
            tokio::time::sleep(Duration::from_secs(600)).await;
            return;
        }
        Answer::Empty => "HTTP/1.1 200 OK\r\nX-Request-Tag: Tagged\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string(),
        Answer::After(delay) => {
            tokio::time::sleep(delay).await;
            ok_reply()
        }
        Answer::Ok => ok_reply(),
    };
    let _ = stream.write_all(reply.as_bytes()).await;
}

/// `200 OK` with `{"ok":true}`.
fn ok_reply() -> String {
    let body = r#"{"ok":true}"#;
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

async fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        bytes.extend_from_slice(&chunk[..read]);
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_string();
    let target = request_line.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_lowercase(), value.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let mut body = bytes[head_end + 4..].to_vec();
    while body.len() < length {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..read]);
    }
    Some(Received {
        method,
        target,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}
