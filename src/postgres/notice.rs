//! The NOTIFY protocol between the instances on one PostgreSQL database:
//! what a notification says (`Notice`) and its wire format, in this one
//! place. A payload is JSON with one-letter keys, because PostgreSQL
//! refuses payloads of 8,000 bytes or more; a websocket frame too large to
//! go inline is spilled to `spilled_frames` (or, for a message, read back
//! from `messages` by its id). Instances of different versions read each
//! other's notices: keys are only ever added, and unknown ones ignored.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::store::StoreError;

/// The channel every instance listens on.
pub const CHANNEL: &str = "necsus";

/// Payloads longer than this carry their frame by reference.
pub const MAX_PAYLOAD: usize = 7_900;

/// A websocket frame, as a notice carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carried {
    Inline(String),
    /// Too large to go inline: its id in `spilled_frames`.
    Spilled(i64),
    /// Too large, and a message's: its JSON is in `messages`, by id.
    Stored,
}

/// One notification, as every instance's listener reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A message was stored.
    Message {
        room: String,
        id: i64,
        frame: Carried,
    },
    /// A bot was added or changed: the room's bot cache is stale.
    BotPut { room: String, frame: Carried },
    /// A bot was deleted, or moved out of the room.
    BotDeleted { room: String, frame: Carried },
    /// The room was cleared up to `clear_point`.
    Cleared {
        room: String,
        clear_point: i64,
        frame: Carried,
    },
    /// An event that is no stored change (a call started or finished, a
    /// turn queue), for the room's subscribers.
    Announcement { room: String, frame: Carried },
    /// A turn in the room ended: turns waiting there look again.
    TurnEnded { room: String },
    /// The end of an instance's committed batch (the writer waits for its
    /// own, so its answers follow the broadcast).
    BatchEnd { instance: u64, batch: u64 },
    /// An instance is alive and listening.
    Heartbeat { instance: u64 },
}

/// The wire format: `k` the kind (`m` message, `b` bot put, `d` bot
/// deleted, `c` clear, `a` announcement, `u` turn ended, `e` batch end,
/// `h` heartbeat), `r` the room, `i` the message id or clear point, `f`
/// the frame inline, `s` its id in `spilled_frames`, `n` the instance and
/// `q` the batch.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Wire {
    k: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    r: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    i: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    f: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    q: Option<u64>,
}

impl Wire {
    fn new(kind: &str, room: &str) -> Wire {
        Wire {
            k: kind.to_owned(),
            r: room.to_owned(),
            ..Wire::default()
        }
    }

    fn with_frame(mut self, frame: &Carried) -> Wire {
        match frame {
            Carried::Inline(text) => self.f = Some(text.clone()),
            Carried::Spilled(id) => self.s = Some(*id),
            Carried::Stored => {}
        }
        self
    }

    fn frame(&mut self) -> Carried {
        match (self.f.take(), self.s) {
            (Some(text), _) => Carried::Inline(text),
            (None, Some(id)) => Carried::Spilled(id),
            (None, None) => Carried::Stored,
        }
    }
}

impl Notice {
    /// The room it concerns (none for an instance's own notices).
    pub fn room(&self) -> Option<&str> {
        match self {
            Notice::Message { room, .. }
            | Notice::BotPut { room, .. }
            | Notice::BotDeleted { room, .. }
            | Notice::Cleared { room, .. }
            | Notice::Announcement { room, .. }
            | Notice::TurnEnded { room } => Some(room),
            Notice::BatchEnd { .. } | Notice::Heartbeat { .. } => None,
        }
    }

    fn to_wire(&self) -> Wire {
        match self {
            Notice::Message { room, id, frame } => Wire {
                i: Some(*id),
                ..Wire::new("m", room)
            }
            .with_frame(frame),
            Notice::BotPut { room, frame } => Wire::new("b", room).with_frame(frame),
            Notice::BotDeleted { room, frame } => Wire::new("d", room).with_frame(frame),
            Notice::Cleared {
                room,
                clear_point,
                frame,
            } => Wire {
                i: Some(*clear_point),
                ..Wire::new("c", room)
            }
            .with_frame(frame),
            Notice::Announcement { room, frame } => Wire::new("a", room).with_frame(frame),
            Notice::TurnEnded { room } => Wire::new("u", room),
            Notice::BatchEnd { instance, batch } => Wire {
                n: Some(*instance),
                q: Some(*batch),
                ..Wire::new("e", "")
            },
            Notice::Heartbeat { instance } => Wire {
                n: Some(*instance),
                ..Wire::new("h", "")
            },
        }
    }

    /// Reads a payload.
    ///
    /// # Errors
    /// Not JSON of the wire format, or a kind this version does not know
    /// (says which).
    pub fn parse(payload: &str) -> Result<Notice, String> {
        let mut wire: Wire = serde_json::from_str(payload).map_err(|e| e.to_string())?;
        let missing = |what: &str| format!("a {:?} notice without {what}", wire.k);
        let notice = match wire.k.as_str() {
            "m" => Notice::Message {
                id: wire.i.ok_or_else(|| missing("an id"))?,
                frame: wire.frame(),
                room: wire.r,
            },
            "b" => Notice::BotPut {
                frame: wire.frame(),
                room: wire.r,
            },
            "d" => Notice::BotDeleted {
                frame: wire.frame(),
                room: wire.r,
            },
            "c" => Notice::Cleared {
                clear_point: wire.i.ok_or_else(|| missing("a clear point"))?,
                frame: wire.frame(),
                room: wire.r,
            },
            "a" => Notice::Announcement {
                frame: wire.frame(),
                room: wire.r,
            },
            "u" => Notice::TurnEnded { room: wire.r },
            "e" => Notice::BatchEnd {
                instance: wire.n.ok_or_else(|| missing("an instance"))?,
                batch: wire.q.unwrap_or(0),
            },
            "h" => Notice::Heartbeat {
                instance: wire.n.unwrap_or(0),
            },
            other => return Err(format!("unknown notice kind {other:?}")),
        };
        Ok(notice)
    }
}

/// The payload of `notice`: its frame inline when it fits, else spilled to
/// `spilled_frames` (a message's is left to be read from `messages`).
pub async fn payload(conn: &mut sqlx::PgConnection, notice: &Notice) -> Result<String, StoreError> {
    let mut wire = notice.to_wire();
    let text = serde_json::to_string(&wire).map_err(|e| StoreError::Invalid(e.to_string()))?;
    if text.len() <= MAX_PAYLOAD {
        return Ok(text);
    }
    let frame = wire.f.take();
    if wire.k != "m" {
        let row = sqlx::query("INSERT INTO spilled_frames (frame) VALUES ($1) RETURNING id")
            .bind(frame.unwrap_or_default())
            .fetch_one(&mut *conn)
            .await?;
        wire.s = Some(row.try_get(0)?);
    }
    metrics::counter!(crate::telemetry::FRAMES_BY_REFERENCE).increment(1);
    serde_json::to_string(&wire).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// Sends `notice` when the connection's transaction commits, or at once
/// outside one.
pub async fn send(conn: &mut sqlx::PgConnection, notice: &Notice) -> Result<(), StoreError> {
    let text = payload(conn, notice).await?;
    send_all(conn, &[text]).await
}

/// Sends the payloads, in order, when the transaction commits.
pub async fn send_all(
    conn: &mut sqlx::PgConnection,
    payloads: &[String],
) -> Result<(), StoreError> {
    if payloads.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, n) ORDER BY n",
    )
    .bind(CHANNEL)
    .bind(payloads)
    .fetch_all(conn)
    .await?;
    Ok(())
}

/// The payload of a notice that carries no frame (no spilling needed).
pub fn small_payload(notice: &Notice) -> Result<String, StoreError> {
    serde_json::to_string(&notice.to_wire()).map_err(|e| StoreError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> String {
        "lab".to_owned()
    }

    #[test]
    fn every_notice_reads_back_as_it_was_sent() {
        let frame = Carried::Inline(r#"{"kind":"x"}"#.to_owned());
        let notices = [
            Notice::Message {
                room: room(),
                id: 7,
                frame: frame.clone(),
            },
            Notice::Message {
                room: room(),
                id: 8,
                frame: Carried::Stored,
            },
            Notice::BotPut {
                room: room(),
                frame: Carried::Spilled(3),
            },
            Notice::BotDeleted {
                room: room(),
                frame: frame.clone(),
            },
            Notice::Cleared {
                room: room(),
                clear_point: 9,
                frame: frame.clone(),
            },
            Notice::Announcement {
                room: room(),
                frame,
            },
            Notice::TurnEnded { room: room() },
            Notice::BatchEnd {
                instance: 5,
                batch: 12,
            },
            Notice::Heartbeat { instance: 5 },
        ];
        for notice in notices {
            let text = small_payload(&notice).unwrap();
            assert_eq!(Notice::parse(&text).unwrap(), notice, "{text}");
        }
    }

    #[test]
    fn the_wire_format_stays_what_running_instances_send() {
        let old = r#"{"k":"m","r":"lab","i":4,"f":"{}"}"#;
        assert_eq!(
            Notice::parse(old).unwrap(),
            Notice::Message {
                room: room(),
                id: 4,
                frame: Carried::Inline("{}".to_owned())
            }
        );
        let heartbeat = Notice::Heartbeat { instance: 2 };
        assert_eq!(small_payload(&heartbeat).unwrap(), r#"{"k":"h","n":2}"#);
        // Keys a later version adds are ignored; kinds it adds are refused.
        assert!(Notice::parse(r#"{"k":"u","r":"lab","z":1}"#).is_ok());
        assert!(
            Notice::parse(r#"{"k":"?"}"#)
                .unwrap_err()
                .contains("unknown")
        );
        assert!(Notice::parse(r#"{"k":"m","r":"lab"}"#).is_err());
    }
}
