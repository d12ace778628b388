//! Whether a request comes from the server's own machine: its peer is a
//! loopback address and it carries no forwarding header, so it did not come
//! through a reverse proxy (Caddy always adds `X-Forwarded-For`). Only such
//! requests may have bots on this machine called (see `netguard`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::http::AppState;

/// `FromHere(true)`: the request came from this machine, not through a proxy.
pub struct FromHere(pub bool);

impl FromRequestParts<AppState> for FromHere {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        let loopback_peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|ConnectInfo(peer)| match peer.ip() {
                std::net::IpAddr::V6(v6) => v6
                    .to_ipv4_mapped()
                    .map_or(v6.is_loopback(), |v4| v4.is_loopback()),
                v4 => v4.is_loopback(),
            });
        let forwarded = ["x-forwarded-for", "forwarded", "x-real-ip"]
            .iter()
            .any(|h| parts.headers.contains_key(*h));
        Ok(FromHere(loopback_peer && !forwarded))
    }
}
