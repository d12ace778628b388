//! The JSON API under `/api` (docs/contract.md §3): each handler reads its input, calls
//! one use case and shapes the answer.

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::AppState;
use super::input::JsonObject;
use crate::chat::{self, FormSubmission, Requester, UserMessage};
use crate::http::error::ApiError;
use crate::model::{Bot, BotCall, BotInput};
use crate::texts;

const SPEC: &str = include_str!("../../api.yaml");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/messages", get(list_messages))
        .route("/api/bots", get(list_bots))
        .route("/api/actions/message", post(post_message))
        .route("/api/actions/message-form", post(post_form))
        .route("/api/actions/bot", post(upsert_bot).delete(delete_bot))
        .route(
            "/api/actions/clear-room-messages",
            post(clear_room_messages),
        )
        .route("/api/actions/clear-room-state", post(clear_room_state))
        .route("/api/bot-calls", get(list_bot_calls))
        .route("/api/actions/bot-test", post(test_bot))
        .route("/api/actions/bot-replay", post(replay_call))
        .route("/api/spec", get(spec))
        .route("/api", any(no_such_route))
        .route("/api/{*rest}", any(no_such_route))
}

/// The decoded query string as key/value pairs (later keys win).
fn query_param(query: &Option<String>, key: &str) -> Option<String> {
    let query = query.as_deref()?;
    url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .last()
}

async fn list_messages(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let room = query_param(&query, "room")
        .ok_or_else(|| ApiError::BadRequest(texts::QUERY_ROOM_REQUIRED.to_owned()))?;
    // A missing or non-integer `since` means "everything".
    let since = query_param(&query, "since")
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(-1);
    let room = state.chat.room(room)?;
    let mut history = state.chat.messages(&room, since)?;
    // The first page is read before answering, so a database failure is
    // still a clean 503; later pages stream.
    let page_size = state.config.history_page.max(1);
    let Some(first) = history.next_page(page_size, ",").await? else {
        return Ok(json_response(Body::from("[]")));
    };
    let first_chunk = Bytes::from(format!("[{}", first.joined));
    let rest = futures_util::stream::unfold(Some(history), move |cursor| async move {
        let mut history = cursor?;
        match history.next_page(page_size, ",").await {
            Ok(Some(page)) => Some((Ok(Bytes::from(format!(",{}", page.joined))), Some(history))),
            Ok(None) => Some((Ok(Bytes::from_static(b"]")), None)),
            Err(e) => Some((Err(e), None)),
        }
    });
    let body =
        futures_util::stream::once(async move { Ok::<_, chat::Error>(first_chunk) }).chain(rest);
    Ok(json_response(Body::from_stream(body)))
}

fn json_response(body: Body) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

async fn list_bots(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<Bot>>, ApiError> {
    let room = match query_param(&query, "room") {
        Some(raw) => Some(state.chat.room(raw)?),
        None => None,
    };
    Ok(Json(state.chat.bots(room.as_ref()).await?))
}

async fn post_message(
    State(state): State<AppState>,
    by: Requester,
    mut body: JsonObject,
) -> Result<Response, ApiError> {
    let room = body.string("room")?;
    let (author, text) = (body.string("author")?, body.string("text")?);
    let (image, media) = (body.opt_string("image")?, body.opt_string("media")?);
    let (css, js) = (body.opt_string("css")?, body.opt_string("js")?);
    let input = UserMessage {
        room: state.chat.room(room)?,
        author,
        text,
        image,
        media,
        css,
        js,
        by,
    };
    // The message's JSON as it was stored: no second serialisation.
    let posted = state.chat.post_message(input).await?;
    Ok(json_response(Body::from(posted.json.to_string())))
}

async fn post_form(
    State(state): State<AppState>,
    by: Requester,
    mut body: JsonObject,
) -> Result<Json<Value>, ApiError> {
    let room = body.string("room")?;
    let (author, bot_id) = (body.string("author")?, body.integer("bot_id")?);
    let (action_url, form_data) = (body.opt_string("action_url")?, body.value("form_data")?);
    let input = FormSubmission {
        room: state.chat.room(room)?,
        author,
        bot_id,
        action_url,
        form_data,
        by,
    };
    state.chat.submit_form(input).await?;
    Ok(Json(json!({})))
}

async fn upsert_bot(
    State(state): State<AppState>,
    by: Requester,
    mut body: JsonObject,
) -> Result<Json<Bot>, ApiError> {
    let input = BotInput {
        id: body.opt_integer("id")?,
        room: body.string("room")?,
        name: body.string("name")?,
        responds_to: body.opt_string("responds_to")?,
        url: body.string("url")?,
        saved_locally: by.from_here,
    };
    Ok(Json(state.chat.upsert_bot(input).await?))
}

async fn delete_bot(
    State(state): State<AppState>,
    mut body: JsonObject,
) -> Result<Json<Bot>, ApiError> {
    Ok(Json(state.chat.delete_bot(body.integer("id")?).await?))
}

async fn clear_room_messages(
    State(state): State<AppState>,
    mut body: JsonObject,
) -> Result<Json<Value>, ApiError> {
    let room = state.chat.room(body.string("room")?)?;
    state.chat.clear_room_messages(&room).await?;
    Ok(Json(json!({ "room": room })))
}

async fn clear_room_state(
    State(state): State<AppState>,
    mut body: JsonObject,
) -> Result<Json<Value>, ApiError> {
    let room = state.chat.room(body.string("room")?)?;
    state.chat.clear_room_state(&room).await?;
    Ok(Json(json!({ "room": room })))
}

async fn list_bot_calls(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<BotCall>>, ApiError> {
    let room = query_param(&query, "room")
        .ok_or_else(|| ApiError::BadRequest(texts::QUERY_ROOM_REQUIRED.to_owned()))?;
    let bot_id =
        match query_param(&query, "bot_id") {
            None => None,
            Some(v) => Some(v.trim().parse::<i64>().map_err(|_| {
                ApiError::BadRequest(texts::field_wrong_type("bot_id", "an integer"))
            })?),
        };
    let since = query_param(&query, "since")
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(-1);
    let room = state.chat.room(room)?;
    Ok(Json(state.chat.bot_calls(&room, bot_id, since).await?))
}

async fn test_bot(
    State(state): State<AppState>,
    by: Requester,
    mut body: JsonObject,
) -> Result<Json<BotCall>, ApiError> {
    Ok(Json(state.chat.test_bot(body.integer("id")?, &by).await?))
}

async fn replay_call(
    State(state): State<AppState>,
    by: Requester,
    mut body: JsonObject,
) -> Result<Json<BotCall>, ApiError> {
    let call_id = body.integer("call_id")?;
    Ok(Json(state.chat.replay_call(call_id, &by).await?))
}

async fn spec() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/yaml")],
        SPEC,
    )
        .into_response()
}

async fn no_such_route() -> ApiError {
    ApiError::NotFound(texts::NO_SUCH_ROUTE.to_owned())
}
