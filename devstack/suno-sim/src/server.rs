//! The accept loop. It drives hyper directly instead of `axum::serve` so that a fault can
//! end a connection without answering: each connection gets a [`ConnHandle`] (a request
//! extension), and resetting it drops the connection with `SO_LINGER` 0, which the kernel
//! turns into a TCP RST — a client sees "connection reset", not an HTTP answer.

use crate::state::Sim;
use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tower::ServiceExt;

/// Lets a handler abort the connection its request came on.
#[derive(Clone)]
pub struct ConnHandle(Arc<Notify>);

impl ConnHandle {
    pub fn reset(&self) {
        // notify_one keeps the permit if the connection task is not waiting yet.
        self.0.notify_one();
    }
}

pub async fn run(listener: TcpListener, sim: Sim, app: Router) -> anyhow::Result<()> {
    // Callback deliveries and task lives stop with the server.
    let _guard = sim.background_guard();
    // Connections live in a JoinSet so they are aborted when this future is dropped.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    conns.spawn(connection(stream, app.clone()));
                }
                // Running out of descriptors is transient: back off instead of quitting.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn connection(stream: TcpStream, app: Router) {
    let _ = stream.set_nodelay(true);
    // A second handle on the same socket, kept to set SO_LINGER after hyper owns the
    // stream; the socket closes only when both handles are gone.
    let Ok((stream, control)) = split_control(stream) else {
        return;
    };
    let kill = Arc::new(Notify::new());
    let handle = ConnHandle(kill.clone());
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(handle.clone());
        app.clone().oneshot(req.map(Body::new))
    });
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = conn => {}
        _ = kill.notified() => {
            let _ = socket2::SockRef::from(&control).set_linger(Some(Duration::ZERO));
        }
    }
}

fn split_control(stream: TcpStream) -> std::io::Result<(TcpStream, std::net::TcpStream)> {
    let std_stream = stream.into_std()?;
    let control = std_stream.try_clone()?;
    Ok((TcpStream::from_std(std_stream)?, control))
}
