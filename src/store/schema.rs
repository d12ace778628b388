//! The tables both stores share, as sea-query names, and the bounds both
//! apply to them.

use sea_query::Iden;

#[derive(Iden, Clone, Copy)]
pub(super) enum Messages {
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
}

pub(super) const MESSAGE_COLUMNS: [Messages; 13] = [
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
pub(super) enum Bots {
    Table,
    Id,
    Room,
    Name,
    RespondsTo,
    Url,
}

pub(super) const BOT_COLUMNS: [Bots; 5] = [
    Bots::Id,
    Bots::Room,
    Bots::Name,
    Bots::RespondsTo,
    Bots::Url,
];

/// Characters of message JSON one history page holds at most (a page
/// always holds at least one message): bounds what one page read keeps in
/// memory when messages are large (bot replies up to the reply cap).
pub(super) const PAGE_MAX_CHARS: i64 = 4 << 20;

/// Most rows in one INSERT (14 bound values each, well under either
/// database's cap on bound values).
pub(super) const MAX_ROWS_PER_INSERT: usize = 256;
