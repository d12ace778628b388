//! One log line per request: method, path, status, latency and the client's
//! address. Behind a reverse proxy on this machine the peer is the proxy, so
//! the address it forwards in `X-Forwarded-For` is logged instead.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;

/// The client's address: the peer, or the nearest forwarded address when
/// the peer is a proxy on this machine.
pub fn client_address(peer: Option<SocketAddr>, headers: &HeaderMap) -> String {
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').map(str::trim).find(|s| !s.is_empty()));
    match (peer, forwarded) {
        (Some(peer), Some(fwd)) if peer.ip().is_loopback() => fwd.to_owned(),
        (Some(peer), _) => peer.ip().to_string(),
        (None, Some(fwd)) => fwd.to_owned(),
        (None, None) => "-".to_owned(),
    }
}

pub async fn log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let client = client_address(peer, request.headers());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    tracing::info!(
        target: "necsus::access",
        %method,
        path,
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        client,
        "request"
    );
    response
}
