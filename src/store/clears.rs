//! Clearing a room, written once for both backends: the newest id of its
//! messages becomes its clear point, then its messages are deleted. How a
//! room's messages are found and where its clear point is kept are each
//! backend's (the arguments of `write_rows!`).

use async_trait::async_trait;
use sea_query::{DeleteStatement, Expr, Query};

use super::schema::Messages;
use super::{StoreError, WriteOutcome};

/// Deletes the messages `in_room` selects.
pub(crate) fn delete_in(in_room: Expr) -> DeleteStatement {
    Query::delete()
        .from_table(Messages::Table)
        .and_where(in_room)
        .to_owned()
}

/// A backend's write transaction, as clearing a room needs it.
#[async_trait]
pub(crate) trait ClearRows: Send {
    /// The id of the room's newest message.
    async fn newest_id(&mut self, room: &str) -> Result<Option<i64>, StoreError>;
    /// Remembers `last` as the room's clear point.
    async fn keep_clear_point(&mut self, room: &str, last: i64) -> Result<(), StoreError>;
    async fn delete_messages(&mut self, room: &str) -> Result<(), StoreError>;
}

/// Clears `room`; `last_cleared_id` is `None` when it had no messages.
pub(crate) async fn clear(
    rows: &mut impl ClearRows,
    room: &str,
) -> Result<WriteOutcome, StoreError> {
    let last = rows.newest_id(room).await?;
    if let Some(last) = last {
        rows.keep_clear_point(room, last).await?;
        rows.delete_messages(room).await?;
    }
    Ok(WriteOutcome::Cleared {
        room: room.to_owned(),
        last_cleared_id: last,
    })
}
