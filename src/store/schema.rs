//! The tables both stores share, as sea-query names, the bounds both
//! apply to them, and how a row of either becomes a message or a bot.

use sea_query::Iden;
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::StoreError;
use crate::model::{Bot, Kind, Message, State};

#[derive(Iden, Clone, Copy)]
pub(crate) enum Messages {
    Table,
    Id,
    Room,
    Author,
    Kind,
    Text,
    When,
    Image,
    Media,
    Css,
    Js,
    FromBot,
    BaseUrl,
    State,
    Json,
    /// SQLite only: the room's number in `rooms` (see `sqlite::store`).
    RoomNo,
}

pub(crate) const MESSAGE_COLUMNS: [Messages; 13] = [
    Messages::Id,
    Messages::Room,
    Messages::Author,
    Messages::Kind,
    Messages::Text,
    Messages::When,
    Messages::Image,
    Messages::Media,
    Messages::Css,
    Messages::Js,
    Messages::FromBot,
    Messages::BaseUrl,
    Messages::State,
];

#[derive(Iden, Clone, Copy)]
pub(crate) enum Bots {
    Table,
    Id,
    Room,
    Name,
    RespondsTo,
    Url,
    SavedLocally,
}

pub(crate) const BOT_COLUMNS: [Bots; 6] = [
    Bots::Id,
    Bots::Room,
    Bots::Name,
    Bots::RespondsTo,
    Bots::Url,
    Bots::SavedLocally,
];

/// Characters of message JSON one history page holds at most (a page
/// always holds at least one message): bounds what one page read keeps in
/// memory when messages are large (bot replies up to the reply cap).
pub(crate) const PAGE_MAX_CHARS: i64 = 4 << 20;

/// Most rows in one INSERT (15 bound values each, well under either
/// database's cap on bound values).
pub(crate) const MAX_ROWS_PER_INSERT: usize = 256;

/// A `messages` row (of either backend) as a message; errors name a kind
/// or state the row should never hold.
pub(crate) fn message_from_row<'r, R>(row: &'r R) -> Result<Message, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    f64: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
{
    let kind: String = row.try_get("kind")?;
    let state: Option<String> = row.try_get("state")?;
    Ok(Message {
        id: row.try_get("id")?,
        room: row.try_get("room")?,
        author: row.try_get("author")?,
        kind: Kind::parse(&kind)
            .ok_or_else(|| StoreError::Invalid(format!("unknown kind {kind:?}")))?,
        text: row.try_get("text")?,
        when: row.try_get("when")?,
        image: row.try_get("image")?,
        media: row.try_get("media")?,
        css: row.try_get("css")?,
        js: row.try_get("js")?,
        from_bot: row.try_get("from_bot")?,
        base_url: row.try_get("base_url")?,
        state: match state {
            Some(s) => Some(State::from_stored(&s).map_err(StoreError::Invalid)?),
            None => None,
        },
    })
}

/// A `bots` row (of either backend) as a bot.
pub(crate) fn bot_from_row<'r, R>(row: &'r R) -> Result<Bot, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(Bot {
        id: row.try_get("id")?,
        room: row.try_get("room")?,
        name: row.try_get("name")?,
        responds_to: row.try_get("responds_to")?,
        url: row.try_get("url")?,
        saved_locally: row.try_get("saved_locally")?,
    })
}

/// A history page's one row as either backend's page query returns it
/// (largest id, count, joined JSON); `None` when the page is empty.
pub(crate) fn page_from_row<'r, R>(row: &'r R) -> Result<Option<super::JsonPage>, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
{
    let count: i64 = row.try_get(1)?;
    if count == 0 {
        return Ok(None);
    }
    Ok(Some(super::JsonPage {
        last_id: row.try_get(0)?,
        count: usize::try_from(count).unwrap_or(0),
        joined: row.try_get(2)?,
    }))
}
