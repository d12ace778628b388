//! The room stream `/ws/{room}?since=ID` (SPEC §6). One task per socket:
//! the event sender and the client reader are two futures joined by
//! `select!`, and whichever ends first decides the close frame.
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
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};

use super::AppState;
use crate::broker::{RecvError, Subscription};
use crate::chat::Replay;
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
    if let Err(e) = state.chat.check_room(&room) {
        return e.into_response();
    }
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

async fn serve(socket: WebSocket, state: AppState, room: String, since: i64) {
    let (mut sink, stream) = socket.split();
    let send_timeout = state.config.ws_send_timeout;
    let close_frame = match state.chat.subscribe(&room, since).await {
        Err(e) => close(CLOSE_INTERNAL, e.to_string()),
        Ok((subscription, snapshot)) => {
            let send = send_events(
                &mut sink,
                subscription,
                snapshot,
                since,
                send_timeout,
                &state,
            );
            tokio::select! {
                frame = send => frame,
                frame = read_client(stream) => frame,
                () = state.shutdown.cancelled() => close(CLOSE_GOING_AWAY, "server shutting down".into()),
            }
        }
    };
    if let Some(frame) = close_frame {
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            sink.send(WsMessage::Close(Some(frame))),
        )
        .await;
    }
}

/// Ignores what the browser sends; returns when it closes or misbehaves.
async fn read_client(mut stream: SplitStream<WebSocket>) -> Option<CloseFrame> {
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(WsMessage::Close(_)) => return None,
            Ok(_) => {}
            Err(e) => {
                let text = e.to_string();
                if text.contains("too long")
                    || text.contains("Space limit")
                    || text.contains("capacity")
                {
                    return close(
                        1009,
                        format!("client frames are limited to {MAX_CLIENT_FRAME} bytes"),
                    );
                }
                return None;
            }
        }
    }
    None
}

type Sink = SplitSink<WebSocket, WsMessage>;

async fn send_events(
    sink: &mut Sink,
    mut subscription: Subscription,
    replay: Replay,
    since: i64,
    send_timeout: Duration,
    state: &AppState,
) -> Option<CloseFrame> {
    let Replay {
        clear_point,
        reset,
        bots,
        calls_in_flight,
        mut history,
    } = replay;
    let mut last_id = since;
    let mut last_clear_seen = clear_point.unwrap_or(i64::MIN);
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
            if !timed(send_timeout, sink.feed(WsMessage::Text(text.into()))).await {
                return None;
            }
        }
        if !timed(send_timeout, sink.flush()).await {
            return None;
        }
        // Stored JSON never holds a raw newline, so it separates messages.
        let page = match history
            .next_page(state.config.replay_page.max(1), "\n")
            .await
        {
            Ok(Some(page)) => page,
            Ok(None) => break,
            Err(e) => return close(CLOSE_INTERNAL, e.to_string()),
        };
        last_id = last_id.max(page.last_id);
        frames.extend(
            page.joined
                .split('\n')
                .map(|json| format!(r#"{{"kind":"message","data":{json}}}"#)),
        );
    }

    loop {
        let frame = match subscription.recv().await {
            Ok(frame) => frame,
            Err(RecvError::Lagged(missed)) => {
                state.chat.broker().note_lagged();
                return close(
                    CLOSE_TRY_AGAIN_LATER,
                    format!("fell behind by {missed} events; reconnect with since={last_id}"),
                );
            }
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
        if !timed(send_timeout, sink.send(WsMessage::Text(frame.text.clone()))).await {
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
