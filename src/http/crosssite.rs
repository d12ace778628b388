//! No cross-site actions: a request that changes anything and comes from a
//! browser showing another site's page is refused with 403, so a page a
//! student happens to open cannot post, change bots or clear rooms through
//! that student's browser. That includes the "simple" requests browsers
//! send without asking first (a `text/plain` fetch, a plain HTML form),
//! which CORS does not stop.
//!
//! How a browser's request is told: `Sec-Fetch-Site` (sent by every
//! current browser) says `same-origin` or `none` (typed by the user) for
//! the room page's own requests, `same-site` or `cross-site` otherwise;
//! without it, `Origin` names the page's origin, which must be this
//! server's own (its `Host`, with the scheme a trusted proxy forwarded) or
//! one a tutor allowed (`--allow-origins`). A request with neither header
//! is no browser's cross-site request (curl, Python's `requests`, a bot),
//! and passes, as before. Reading (GET, HEAD, OPTIONS) stays open to every
//! origin. `--open` turns the check off.

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

use crate::http::AppState;
use crate::http::error::ApiError;
use crate::texts;

/// Refuses a changing request from another site's page (see the module).
pub async fn refuse(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.config.open || !changes_something(request.method()) {
        return next.run(request).await;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| *peer);
    let trusted_peer = peer.is_some_and(|p| {
        let ip = p.ip().to_canonical();
        state.config.trusted_proxies.iter().any(|n| n.contains(&ip))
    });
    match verdict(request.headers(), trusted_peer, &state.config.allow_origins) {
        Ok(()) => next.run(request).await,
        Err(from) => {
            tracing::warn!(from = %from, path = %request.uri().path(), "cross-site request refused");
            ApiError::Forbidden(texts::cross_site_refused(&from)).into_response()
        }
    }
}

fn changes_something(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// `Err(the page's origin, or what the browser said)` when the request
/// comes from another site's page.
fn verdict(headers: &HeaderMap, trusted_peer: bool, allowed: &[String]) -> Result<(), String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let origin = header("origin").map(|o| o.trim().to_ascii_lowercase());
    if let Some(origin) = &origin
        && allowed.iter().any(|a| a == origin)
    {
        return Ok(());
    }
    match header("sec-fetch-site") {
        Some("same-origin" | "none") => return Ok(()),
        Some(other) => return Err(origin.unwrap_or_else(|| other.to_owned())),
        None => {}
    }
    let Some(origin) = origin else {
        return Ok(());
    };
    let host = header("host").map(str::to_ascii_lowercase);
    let scheme = header("x-forwarded-proto")
        .filter(|_| trusted_peer)
        .map(|p| p.trim().to_ascii_lowercase())
        .unwrap_or_else(|| "http".to_owned());
    match host {
        Some(host) if origin == format!("{scheme}://{host}") => Ok(()),
        _ => Err(origin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn browsers_on_other_sites_are_told_apart_from_scripts_and_the_room_page() {
        let none: &[String] = &[];
        let host = ("host", "chat.example:8000");
        // Scripts and bots send neither header.
        assert!(verdict(&headers(&[host]), false, none).is_ok());
        // The room page itself.
        assert!(
            verdict(
                &headers(&[host, ("sec-fetch-site", "same-origin")]),
                false,
                none
            )
            .is_ok()
        );
        assert!(
            verdict(
                &headers(&[host, ("origin", "http://chat.example:8000")]),
                false,
                none
            )
            .is_ok()
        );
        // Another page, by either header; another port is another origin.
        assert!(
            verdict(
                &headers(&[host, ("sec-fetch-site", "cross-site")]),
                false,
                none
            )
            .is_err()
        );
        assert!(
            verdict(
                &headers(&[host, ("sec-fetch-site", "same-site")]),
                false,
                none
            )
            .is_err()
        );
        assert!(
            verdict(
                &headers(&[host, ("origin", "http://chat.example:9000")]),
                false,
                none
            )
            .is_err()
        );
        assert!(verdict(&headers(&[host, ("origin", "null")]), false, none).is_err());
        // Behind the proxy: the forwarded scheme counts, from a trusted peer only.
        let https = [
            host,
            ("origin", "https://chat.example:8000"),
            ("x-forwarded-proto", "https"),
        ];
        assert!(verdict(&headers(&https), true, none).is_ok());
        assert!(verdict(&headers(&https), false, none).is_err());
        // An origin a tutor allowed.
        let allowed = ["http://lab.example".to_owned()];
        let lab = [
            host,
            ("origin", "http://lab.example"),
            ("sec-fetch-site", "cross-site"),
        ];
        assert!(verdict(&headers(&lab), false, &allowed).is_ok());
    }
}
