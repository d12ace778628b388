//! Reads both backends make of a room's messages, written once. A backend
//! says how a room's messages are found (`in_room`: by name on PostgreSQL,
//! by the room's number on SQLite) and renders the statement itself.

use sea_query::{Expr, ExprTrait, Order, Query, SelectStatement};

use super::schema::{MESSAGE_COLUMNS, Messages};

/// The newest message among `in_room` whose id is below `before`.
pub(crate) fn latest_before(in_room: Expr, before: i64) -> SelectStatement {
    Query::select()
        .columns(MESSAGE_COLUMNS)
        .from(Messages::Table)
        .and_where(in_room)
        .and_where(Expr::col(Messages::Id).lt(before))
        .order_by(Messages::Id, Order::Desc)
        .limit(1)
        .to_owned()
}

/// The largest id among `in_room` (NULL when there is none).
pub(crate) fn newest_id(in_room: Expr) -> SelectStatement {
    Query::select()
        .expr(Expr::col(Messages::Id).max())
        .from(Messages::Table)
        .and_where(in_room)
        .to_owned()
}
