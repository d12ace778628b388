//! One log line per request: method, path, status, latency and the client's
//! address. Behind a trusted reverse proxy (by default: one on this machine)
//! the peer is the proxy, so the address it forwards in `X-Forwarded-For`
//! is logged instead, with the scheme from `X-Forwarded-Proto`. Also counts
//! requests for the metrics.
//!
//! This runs on every request's task: the line is only put together when
//! the log level writes it, and the request counter is registered once per
//! route, method and status (`telemetry::count_request`), so the
//! per-request cost is a few lookups (lines are written by the log's own
//! thread, see `cli::init_logging`).

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;

use ipnet::IpNet;

use super::AppState;
use crate::telemetry;

/// The client's address. When the peer is a trusted proxy, the address it
/// forwarded is used: `X-Forwarded-For` read from the right, skipping the
/// trusted proxies' own entries.
pub fn client_address(peer: Option<SocketAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> String {
    let Some(peer) = peer else {
        return "-".to_owned();
    };
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(&ip));
    if !is_trusted(peer.ip()) {
        return peer.ip().to_string();
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    for hop in forwarded.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if is_trusted(ip) => continue,
            _ => return (*hop).to_owned(),
        }
    }
    forwarded
        .first()
        .map_or_else(|| peer.ip().to_string(), |s| (*s).to_owned())
}

/// The route a path belongs to, with rooms folded together so the metric's
/// label values stay few.
fn route_label(path: &str) -> &'static str {
    const API: [&str; 11] = [
        "/api/messages",
        "/api/bots",
        "/api/bot-calls",
        "/api/spec",
        "/api/actions/message",
        "/api/actions/message-form",
        "/api/actions/bot",
        "/api/actions/bot-test",
        "/api/actions/bot-replay",
        "/api/actions/clear-room-messages",
        "/api/actions/clear-room-state",
    ];
    if let Some(known) = API.iter().find(|r| **r == path) {
        return known;
    }
    match path {
        "/" => "/",
        "/healthz" => "/healthz",
        "/metrics" => "/metrics",
        p if p.starts_with("/api") => "/api/other",
        p if p.starts_with("/ws/") => "/ws/{room}",
        p if p.starts_with("/assets/") => "/assets",
        p if p.starts_with("/docs") => "/docs",
        _ => "/{room}",
    }
}

/// The method as a label that needs no allocation.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

pub async fn log(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = route_label(request.uri().path());
    let method = method_label(request.method());
    let write_line = tracing::enabled!(target: "necsus::access", tracing::Level::INFO);
    let line = write_line.then(|| {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let trusted = &state.config.trusted_proxies;
        let client = client_address(peer, request.headers(), trusted);
        let scheme: Cow<'static, str> = peer
            .filter(|p| trusted.iter().any(|net| net.contains(&p.ip())))
            .and_then(|_| request.headers().get("x-forwarded-proto"))
            .and_then(|v| v.to_str().ok())
            .map_or(Cow::Borrowed("http"), |s| Cow::Owned(s.to_owned()));
        let method = request.method().clone();
        // The request's URI shares the bytes hyper read: a clone copies
        // no text.
        let uri = request.uri().clone();
        (method, uri, client, scheme)
    });
    let response = next.run(request).await;
    let status = response.status();
    telemetry::count_request(route, method, status.as_u16());
    if let Some((method, uri, client, scheme)) = line {
        tracing::info!(
            target: "necsus::access",
            %method,
            path = uri.path(),
            status = status.as_u16(),
            // Whole microseconds: `1.011683`, not `1.0116829999999999`.
            latency_ms = started.elapsed().as_micros() as f64 / 1000.0,
            client,
            scheme = &*scheme,
            "request"
        );
    }
    response
}
