//! Who a request comes from, as the use cases need it (`chat::Requester`):
//! its client's address, as the access log reads it (the address a
//! trusted proxy forwarded), and whether it comes from the server's own
//! machine: its peer is a loopback address and it carries no forwarding
//! header, so it did not come through a reverse proxy (Caddy always adds
//! `X-Forwarded-For`). Only such requests may have bots on this machine
//! called (see `netguard`). And the cascade it belongs to: a post a bot
//! call made straight back to this server joins the one of the message
//! that caused it (see `cascade`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::access_log::client_address;
use crate::chat::Requester;
use crate::http::AppState;

impl FromRequestParts<AppState> for Requester {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| *peer);
        let loopback_peer = peer.is_some_and(|peer| peer.ip().to_canonical().is_loopback());
        let forwarded = ["x-forwarded-for", "forwarded", "x-real-ip"]
            .iter()
            .any(|h| parts.headers.contains_key(*h));
        let cascade = parts
            .headers
            .get(crate::cascade::HEADER)
            .and_then(|v| v.to_str().ok());
        let (cascade, depth) = state.chat.cascades().of(cascade);
        Ok(Requester {
            from_here: loopback_peer && !forwarded,
            client: client_address(peer, &parts.headers, &state.config.trusted_proxies),
            cascade,
            depth,
        })
    }
}
