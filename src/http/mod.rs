//! The HTTP face of the server: one router assembled from each module's
//! routes, and the layers every response passes through (CORS,
//! `Cache-Control: no-cache`, the security headers, body limit, access log).

mod access_log;
mod api;
mod crosssite;
pub mod error;
mod input;
mod origin;
mod pages;
mod ws;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use tokio_util::sync::CancellationToken;
use tower_http::cors::CorsLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::chat::Chat;
use crate::config::Config;
use crate::http::error::ApiError;
use crate::texts;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub chat: Arc<Chat>,
    pub config: Arc<Config>,
    /// Cancelled when the server starts shutting down; websockets close.
    pub shutdown: CancellationToken,
}

pub fn router(state: AppState) -> Router {
    let body_limit = state.config.limits.max_body_bytes;
    Router::new()
        .merge(api::router())
        .merge(ws::router())
        .merge(pages::router())
        .method_not_allowed_fallback(|| async {
            ApiError::MethodNotAllowed(texts::METHOD_NOT_ALLOWED.to_owned())
        })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crosssite::refuse,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access_log::log,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ))
        // Browsers take each response for what its Content-Type says (a
        // bot's reply shown as text is never run as a script).
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        // No other site may frame a room (clickjacking); bot HTML in the
        // room itself is unaffected: only framing is restricted.
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors 'self'"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("SAMEORIGIN"),
        ))
        // Images and links in messages lead to students' hosts: they are
        // not told which room (the page's path) they were shown in.
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(CorsLayer::permissive())
        .with_state(state)
}
