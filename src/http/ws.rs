//! The room stream `/ws/{room}?since=ID` (docs/contract.md §6). One task per socket:
//! the replay first, then one loop waiting on the room's subscription and
//! on the browser; whichever ends the loop decides the close frame.
//!
//! Exactly-once delivery: the subscription starts before the snapshot is
//! read, so every event is in the snapshot, on the subscription, or both;
//! the overlap is dropped by message id (and clear point), which the single
//! writer hands out in commit order.

use std::time::Duration;

use axum::Router;
use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::SinkExt;

use super::AppState;
use crate::broker::{RecvError, Subscription};
use crate::chat::{Replay, RoomName};
use crate::http::error::ApiError;
use crate::model::Event;

/// Frames from the browser carry nothing; anything larger than this is
/// refused (close 1009).
const MAX_CLIENT_FRAME: usize = 4096;
/// tungstenite's defaults reserve over 100 KiB per socket; the stream is
/// almost all outbound and small, so keep the buffers small.
const READ_BUFFER: usize = 1024;
/// Frames queued before a write: replay sends many per system call, and
/// live events are flushed one by one anyway.
const WRITE_BUFFER: usize = 16 * 1024;

/// The most a socket may hold unsent: one whole frame must fit, and a bot
/// reply of the largest accepted size can grow up to six times in JSON
/// (control characters escaped as `\u00XX`). What is actually held stays
/// small: sends wait for the socket, within the send timeout.
fn max_write_buffer(max_reply_bytes: usize) -> usize {
    max_reply_bytes.saturating_mul(6).max(1 << 20) + (64 << 10)
}

const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_INTERNAL: u16 = 1011;
const CLOSE_TRY_AGAIN_LATER: u16 = 1013;

pub fn router() -> Router<AppState> {
    Router::new().route("/ws/{*room}", get(upgrade))
}

#[tracing::instrument(level = "debug", skip_all, fields(room = %room))]
async fn upgrade(
    ws: WebSocketUpgrade,
    Path(room): Path<String>,
    RawQuery(query): RawQuery,
    State(state): State<AppState>,
) -> Response {
    let room = match state.chat.room(room) {
        Ok(room) => room,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let since = query
        .as_deref()
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .filter(|(k, _)| k == "since")
                .map(|(_, v)| v.trim().parse::<i64>().ok())
                .last()
        })
        .flatten()
        .unwrap_or(-1);
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(max_write_buffer(state.config.bot_max_reply_bytes))
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| serve(socket, state, room, since))
}

fn close(code: u16, reason: String) -> Option<CloseFrame> {
    Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    })
}

async fn serve(mut socket: WebSocket, state: AppState, room: RoomName, since: i64) {
    let close_frame = match state.chat.subscribe(&room, since).await {
        Err(e) => close(CLOSE_INTERNAL, e.to_string()),
        Ok((subscription, replay)) => {
            let send_timeout = state.config.ws_send_timeout;
            // The replay is one-off work: here alone the shutdown signal is
            // watched directly; afterwards it arrives through the broker.
            let replayed = tokio::select! {
                replayed = send_replay(&mut socket, replay, since, send_timeout, &state) => replayed,
                () = state.shutdown.cancelled() => Err(close(CLOSE_GOING_AWAY, SHUTTING_DOWN.into())),
            };
            match replayed {
                Ok(sent) => {
                    stream_live(&mut socket, subscription, sent, send_timeout, &state).await
                }
                Err(frame) => frame,
            }
        }
    };
    if let Some(frame) = close_frame {
        // A client that cannot take the close frame in a second is gone.
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            socket.send(WsMessage::Close(Some(frame))),
        )
        .await;
    }
}

const SHUTTING_DOWN: &str = "server shutting down";

/// What the browser sent: `Err` with the close frame to answer (if any)
/// once it closed or misbehaved; `Ok` for anything else, which is ignored.
fn client_frame(frame: Option<Result<WsMessage, axum::Error>>) -> Result<(), Option<CloseFrame>> {
    match frame {
        None | Some(Ok(WsMessage::Close(_))) => Err(None),
        Some(Ok(_)) => Ok(()),
        Some(Err(e)) => {
            let text = e.to_string();
            if text.contains("too long")
                || text.contains("Space limit")
                || text.contains("capacity")
            {
                Err(close(
                    1009,
                    format!("client frames are limited to {MAX_CLIENT_FRAME} bytes"),
                ))
            } else {
                Err(None)
            }
        }
    }
}

/// Where the browser is once the replay is sent: live frames at or below
/// these are already shown and are skipped.
struct Sent {
    /// The newest message id sent (or the point the browser was at).
    last_id: i64,
    /// The room's clear point when the replay was read.
    last_clear: i64,
}

/// Sends what the browser is missing: the clear, the room's bots, the
/// calls in flight, then the history after `since` page by page. Returns
/// where the browser is then, or the close frame to end with.
async fn send_replay(
    socket: &mut WebSocket,
    replay: Replay,
    since: i64,
    send_timeout: Duration,
    state: &AppState,
) -> Result<Sent, Option<CloseFrame>> {
    let Replay {
        clear_point,
        reset,
        bots,
        calls_in_flight,
        mut history,
    } = replay;
    let mut last_id = since;
    let mut frames = Vec::with_capacity(bots.len() + 1);
    if reset {
        // The browser shows messages this database never had (a restore):
        // it empties its list and gets the room from the start.
        frames.push(clear_frame());
        last_id = clear_point.unwrap_or(-1);
    } else if let Some(clear) = clear_point.filter(|c| *c >= since) {
        frames.push(clear_frame());
        last_id = last_id.max(clear);
    }
    frames.extend(bots.into_iter().map(|b| Event::PutBot(b).to_frame_json()));
    frames.extend(
        calls_in_flight
            .into_iter()
            .map(|c| Event::BotCallStarted(c).to_frame_json()),
    );
    loop {
        for text in frames.drain(..) {
            // `feed` queues without flushing: a page goes out in few writes.
            if !timed(send_timeout, socket.feed(WsMessage::Text(text.into()))).await {
                return Err(None);
            }
        }
        if !timed(send_timeout, socket.flush()).await {
            return Err(None);
        }
        // Stored JSON never holds a raw newline, so it separates messages.
        let page = match history
            .next_page(state.config.replay_page.max(1), "\n")
            .await
        {
            Ok(Some(page)) => page,
            Ok(None) => {
                return Ok(Sent {
                    last_id,
                    last_clear: clear_point.unwrap_or(i64::MIN),
                });
            }
            Err(e) => return Err(close(CLOSE_INTERNAL, e.to_string())),
        };
        last_id = last_id.max(page.last_id);
        frames.extend(page.joined.split('\n').map(Event::message_frame_json));
    }
}

/// Forwards the room's events as they are published until the browser
/// closes, falls behind, or the server shuts down; returns the close frame.
///
/// The socket is not split: one loop waits on the subscription first and
/// on the browser second, so a delivery costs no lock between two halves
/// of the socket and no shutdown signal per socket (the broker closes every
/// subscription at shutdown). While a frame is being sent the browser is
/// not read; what it sends waits in the socket meanwhile.
async fn stream_live(
    socket: &mut WebSocket,
    mut subscription: Subscription,
    sent: Sent,
    send_timeout: Duration,
    state: &AppState,
) -> Option<CloseFrame> {
    let Sent {
        mut last_id,
        last_clear: mut last_clear_seen,
    } = sent;
    loop {
        let frame = tokio::select! {
            biased;
            frame = subscription.recv() => frame,
            from_client = socket.recv() => match client_frame(from_client) {
                Ok(()) => continue,
                Err(close_frame) => return close_frame,
            },
        };
        let frame = match frame {
            Ok(frame) => frame,
            Err(RecvError::Lagged(missed)) => {
                state.chat.broker().note_lagged();
                return close(
                    CLOSE_TRY_AGAIN_LATER,
                    format!("fell behind by {missed} events; reconnect with since={last_id}"),
                );
            }
            Err(RecvError::Closed) => return close(CLOSE_GOING_AWAY, SHUTTING_DOWN.into()),
        };
        if let Some(id) = frame.message_id {
            if id <= last_id {
                continue;
            }
            last_id = id;
        }
        if let Some(clear) = frame.clear_point {
            if clear <= last_clear_seen {
                continue;
            }
            last_clear_seen = clear;
            // The browser empties its list: anything after the clear point
            // that the replay already sent must be sent again.
            last_id = clear;
        }
        if !timed(
            send_timeout,
            socket.send(WsMessage::Text(frame.text.clone())),
        )
        .await
        {
            return None;
        }
    }
}

fn clear_frame() -> String {
    Event::ClearMessages {
        room: String::new(),
        last_cleared_id: 0,
    }
    .to_frame_json()
}

/// False when the send failed or the client did not take it in time.
async fn timed<F, E>(limit: Duration, send: F) -> bool
where
    F: Future<Output = Result<(), E>>,
{
    matches!(tokio::time::timeout(limit, send).await, Ok(Ok(())))
}
