//! Everything that is not the JSON API: the lobby and room pages of the
//! embedded web client and its assets, the Swagger UI, the health check,
//! and the fallback that sends any other path to the room page.

use axum::Router;
use axum::extract::Path;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::AppState;
use crate::chat::Requester;
use crate::http::error::ApiError;
use crate::texts;

/// The built web client. Release builds carry it inside the binary; debug
/// builds read `client/dist` from disk, so a fresh client build shows
/// without rebuilding the server.
#[derive(RustEmbed)]
#[folder = "client/dist/"]
struct ClientDist;

pub fn router() -> Router<AppState> {
    let docs: Router<AppState> = SwaggerUi::new("/docs")
        .config(Config::from("/api/spec"))
        .into();
    Router::new()
        .route("/", get(lobby))
        .route("/assets/{*path}", get(asset))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_page))
        .merge(docs)
        .fallback(fallback)
}

fn embedded(path: &str) -> Option<Response> {
    let file = ClientDist::get(path)?;
    let mime = file.metadata.mimetype().to_owned();
    Some(([(header::CONTENT_TYPE, mime)], file.data).into_response())
}

fn page(path: &str) -> Response {
    embedded(path).unwrap_or_else(|| {
        (
            StatusCode::OK,
            Html(
                "<!doctype html><title>NeCSuS</title><p>The web client is not built: \
                 run <code>npm ci &amp;&amp; npm run build</code> in <code>client/</code>. \
                 The API is at <a href=\"/docs/\">/docs/</a>.</p>",
            ),
        )
            .into_response()
    })
}

async fn lobby() -> Response {
    page("index.html")
}

async fn asset(Path(path): Path<String>) -> Response {
    embedded(&format!("assets/{path}")).unwrap_or_else(|| {
        ApiError::NotFound(format!("No asset at /assets/{path}")).into_response()
    })
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.chat.healthy().await {
        Ok(()) => axum::Json(serde_json::json!({"status": "ok"})).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Prometheus metrics: for this machine (the scraper beside the server, or
/// a tutor on it), or anyone with the tutor's token; everyone in open mode.
async fn metrics_page(
    State(state): State<AppState>,
    by: Requester,
    headers: axum::http::HeaderMap,
) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let tutor = match (&state.config.tutor_token, bearer) {
        (Some(token), Some(given)) => same_secret(token.as_bytes(), given.as_bytes()),
        _ => false,
    };
    if !(state.config.open || by.from_here || tutor) {
        return ApiError::Forbidden(texts::METRICS_REFUSED.to_owned()).into_response();
    }
    let text = crate::telemetry::render(
        state.chat.broker().subscriber_count(),
        state.config.room_rate_limit,
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Any other GET is a room: `/{room}` shows the room page, which reads the
/// room name from its own path.
async fn fallback(method: Method, uri: Uri) -> Response {
    if method == Method::GET || method == Method::HEAD {
        page("room.html")
    } else if uri.path().starts_with("/api") {
        ApiError::NotFound(texts::NO_SUCH_ROUTE.to_owned()).into_response()
    } else {
        ApiError::MethodNotAllowed(texts::METHOD_NOT_ALLOWED.to_owned()).into_response()
    }
}

/// Whether two secrets are equal, in time that does not depend on where
/// they first differ (only on their lengths).
fn same_secret(expected: &[u8], given: &[u8]) -> bool {
    let differ = expected
        .iter()
        .zip(given)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(differ) == 0 && expected.len() == given.len()
}
