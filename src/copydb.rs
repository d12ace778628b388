//! `necsus copy-db`: moving a school's SQLite database to PostgreSQL when
//! it outgrows one machine. Messages (ids and all), bots (ids kept), clear
//! points and where each room's conversation stands are copied in one
//! consistent read of the SQLite file; the target's id sequences continue
//! above everything copied. A target that already holds data is refused.
//! The bot-call log (a debugging aid) is not copied.

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row};

use crate::model::{Conversation, State};
use crate::postgres::PostgresStore;

/// Messages read and written per round.
const PAGE: i64 = 5_000;

/// What a copy moved.
#[derive(Debug)]
pub struct Copied {
    pub messages: i64,
    pub bots: i64,
    pub rooms: i64,
}

/// Copies the SQLite database at `from` into the PostgreSQL database at
/// `to`, reporting progress through `progress(done, total)`.
pub async fn copy(
    from: &Path,
    to: &str,
    mut progress: impl FnMut(i64, i64),
) -> Result<Copied, String> {
    if !from.exists() {
        return Err(format!("{} does not exist", from.display()));
    }
    let mut source = SqliteConnectOptions::from_str("sqlite://")
        .map_err(|e| e.to_string())?
        .filename(from)
        .read_only(true)
        .connect()
        .await
        .map_err(|e| format!("cannot open {}: {e}", from.display()))?;
    let target = PostgresStore::open(to, std::time::Duration::from_secs(125))
        .await
        .map_err(|e| format!("cannot open the target: {e}"))?;
    let pg = target.pool();
    let occupied: bool = sqlx::query(
        "SELECT EXISTS (SELECT 1 FROM messages) OR EXISTS (SELECT 1 FROM bots) \
         OR EXISTS (SELECT 1 FROM rooms)",
    )
    .fetch_one(pg)
    .await
    .and_then(|r| r.try_get(0))
    .map_err(|e| e.to_string())?;
    if occupied {
        return Err(
            "the target database already holds NeCSuS data; copy into an empty database".into(),
        );
    }
    let fail = |e: sqlx::Error| e.to_string();
    // One read transaction: a consistent snapshot even while a server runs.
    let mut read = source.begin().await.map_err(fail)?;
    let total: i64 = sqlx::query("SELECT count(*) FROM messages")
        .fetch_one(&mut *read)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(fail)?;
    let mut write = pg.begin().await.map_err(fail)?;

    // A database from before migration 0006 has no saved_locally: its bots
    // count as saved from elsewhere, as the migration would make them.
    let has_saved_locally: bool = sqlx::query(
        "SELECT count(*) > 0 FROM pragma_table_info('bots') WHERE name = 'saved_locally'",
    )
    .fetch_one(&mut *read)
    .await
    .and_then(|r| r.try_get(0))
    .map_err(fail)?;
    let bots = sqlx::query(if has_saved_locally {
        "SELECT id, room, name, responds_to, url, saved_locally FROM bots ORDER BY id"
    } else {
        "SELECT id, room, name, responds_to, url, 0 FROM bots ORDER BY id"
    })
    .fetch_all(&mut *read)
    .await
    .map_err(fail)?;
    for bot in &bots {
        sqlx::query(
            "INSERT INTO bots (id, room, name, responds_to, url, saved_locally) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(bot.try_get::<i64, _>(0).map_err(fail)?)
        .bind(bot.try_get::<String, _>(1).map_err(fail)?)
        .bind(
            bot.try_get::<String, _>(2)
                .map_err(fail)?
                .replace('\0', "\u{FFFD}"),
        )
        .bind(bot.try_get::<Option<String>, _>(3).map_err(fail)?)
        .bind(bot.try_get::<String, _>(4).map_err(fail)?)
        .bind(bot.try_get::<bool, _>(5).map_err(fail)?)
        .execute(&mut *write)
        .await
        .map_err(fail)?;
    }

    let mut after = -1i64;
    let mut done = 0i64;
    progress(done, total);
    loop {
        let rows = sqlx::query(
            "SELECT id, room, author, kind, text, \"when\", image, media, css, js, from_bot, \
             base_url, state, json FROM messages WHERE id > ? ORDER BY id LIMIT ?",
        )
        .bind(after)
        .bind(PAGE)
        .fetch_all(&mut *read)
        .await
        .map_err(fail)?;
        let Some(last) = rows.last() else { break };
        after = last.try_get(0).map_err(fail)?;
        macro_rules! column {
            ($i:expr, $t:ty) => {
                rows.iter()
                    .map(|r| r.try_get::<$t, _>($i))
                    .collect::<Result<Vec<$t>, _>>()
                    .map_err(fail)?
            };
        }
        let text = |v: Vec<String>| -> Vec<String> {
            v.into_iter().map(|s| s.replace('\0', "\u{FFFD}")).collect()
        };
        let opt = |v: Vec<Option<String>>| -> Vec<Option<String>> {
            v.into_iter()
                .map(|s| s.map(|s| s.replace('\0', "\u{FFFD}")))
                .collect()
        };
        sqlx::query(
            "INSERT INTO messages (id, room, author, kind, text, \"when\", image, media, css, js, \
             from_bot, base_url, state, json) SELECT * FROM unnest($1::bigint[], $2::text[], \
             $3::text[], $4::text[], $5::text[], $6::float8[], $7::text[], $8::text[], $9::text[], \
             $10::text[], $11::bigint[], $12::text[], $13::text[], $14::text[])",
        )
        .bind(column!(0, i64))
        .bind(column!(1, String))
        .bind(text(column!(2, String)))
        .bind(column!(3, String))
        .bind(text(column!(4, String)))
        .bind(column!(5, f64))
        .bind(opt(column!(6, Option<String>)))
        .bind(opt(column!(7, Option<String>)))
        .bind(opt(column!(8, Option<String>)))
        .bind(opt(column!(9, Option<String>)))
        .bind(column!(10, Option<i64>))
        .bind(opt(column!(11, Option<String>)))
        .bind(column!(12, Option<String>))
        .bind(column!(13, String))
        .execute(&mut *write)
        .await
        .map_err(fail)?;
        done += rows.len() as i64;
        progress(done, total);
    }

    // Every room that has messages, bots or a clear point, with its clear
    // point and the conversation its newest message leaves it in. Each
    // room's newest message is found in one pass over the messages (their
    // index is by room number, which a database from before 0005 lacks).
    let rooms = sqlx::query(
        "SELECT r.room, c.last_cleared_id, m.from_bot, m.state FROM \
           (SELECT room FROM messages UNION SELECT room FROM bots UNION SELECT room FROM clears) r \
         LEFT JOIN clears c ON c.room = r.room \
         LEFT JOIN (SELECT room, max(id) AS id FROM messages GROUP BY room) newest \
           ON newest.room = r.room \
         LEFT JOIN messages m ON m.id = newest.id",
    )
    .fetch_all(&mut *read)
    .await
    .map_err(fail)?;
    for room in &rooms {
        let name: String = room.try_get(0).map_err(fail)?;
        let clear: Option<i64> = room.try_get(1).map_err(fail)?;
        let from_bot: Option<i64> = room.try_get(2).map_err(fail)?;
        let state: Option<String> = room.try_get(3).map_err(fail)?;
        let conversation = match (from_bot, state) {
            (Some(bot_id), Some(s)) => State::from_stored(&s)
                .ok()
                .map(|state| Conversation { bot_id, state }),
            _ => None,
        };
        sqlx::query(
            "INSERT INTO rooms (name, clear_point, conv_bot_id, conv_state) VALUES ($1, $2, $3, $4)",
        )
        .bind(&name)
        .bind(clear)
        .bind(conversation.as_ref().map(|c| c.bot_id))
        .bind(conversation.map(|c| c.state.python_json().to_owned()))
        .execute(&mut *write)
        .await
        .map_err(fail)?;
    }

    // Ids continue above everything the SQLite database ever issued.
    let issued = |name: &'static str| {
        sqlx::query("SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = ?").bind(name)
    };
    let message_seq: i64 = issued("messages")
        .fetch_one(&mut *read)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(fail)?;
    let bot_seq: i64 = issued("bots")
        .fetch_one(&mut *read)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(fail)?;
    for (sequence, value) in [("message_ids", message_seq), ("bots_id_seq", bot_seq)] {
        if value > 0 {
            sqlx::query("SELECT setval($1::regclass, $2)")
                .bind(sequence)
                .bind(value)
                .execute(&mut *write)
                .await
                .map_err(fail)?;
        }
    }
    write.commit().await.map_err(fail)?;
    read.rollback().await.map_err(fail)?;
    // Read-only and done: a failed close loses nothing.
    let _ = source.close().await;
    target.close().await;
    Ok(Copied {
        messages: done,
        bots: bots.len() as i64,
        rooms: rooms.len() as i64,
    })
}
