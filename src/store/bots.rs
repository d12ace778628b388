//! Adding, changing and deleting bots, written once for both backends:
//! the statements (sea-query, rendered by each backend's builder) and the
//! logic of an upsert (the room's bound on bots, moving a bot between
//! rooms) and a delete. Each backend runs them in its own write
//! transaction through `BotRows`.

use async_trait::async_trait;
use sea_query::{
    DeleteStatement, Expr, ExprTrait, InsertStatement, Order, Query, SelectStatement,
    UpdateStatement,
};

use super::schema::{BOT_COLUMNS, Bots};
use super::{StoreError, WriteOutcome};
use crate::model::{Bot, BotInput};

/// The bot `id`.
pub(crate) fn select_one(id: i64) -> SelectStatement {
    Query::select()
        .columns(BOT_COLUMNS)
        .from(Bots::Table)
        .and_where(Expr::col(Bots::Id).eq(id))
        .to_owned()
}

/// The bots of `room` (every bot for `None`), oldest first.
pub(crate) fn select_list(room: Option<&str>) -> SelectStatement {
    let mut q = Query::select();
    q.columns(BOT_COLUMNS).from(Bots::Table);
    if let Some(room) = room {
        q.and_where(Expr::col(Bots::Room).eq(room));
    }
    q.order_by(Bots::Id, Order::Asc).to_owned()
}

/// How many bots `room` has.
pub(crate) fn select_count(room: &str) -> SelectStatement {
    Query::select()
        .expr(Expr::col(Bots::Id).count())
        .from(Bots::Table)
        .and_where(Expr::col(Bots::Room).eq(room))
        .to_owned()
}

/// The input's fields as values; `text` is how the backend stores a text
/// (PostgreSQL's text cannot hold NUL).
fn values(input: &BotInput, text: fn(&str) -> Expr) -> [(Bots, Expr); 5] {
    [
        (Bots::Room, Expr::val(input.room.as_str())),
        (Bots::Name, text(&input.name)),
        (
            Bots::RespondsTo,
            match &input.responds_to {
                Some(r) => text(r),
                None => Expr::val(Option::<String>::None),
            },
        ),
        (Bots::Url, text(&input.url)),
        (Bots::SavedLocally, Expr::val(input.saved_locally)),
    ]
}

/// Changes the bot `id` to `input`.
pub(crate) fn update_one(id: i64, input: &BotInput, text: fn(&str) -> Expr) -> UpdateStatement {
    Query::update()
        .table(Bots::Table)
        .values(values(input, text))
        .and_where(Expr::col(Bots::Id).eq(id))
        .to_owned()
}

/// Adds `input`, returning its id.
pub(crate) fn insert_one(input: &BotInput, text: fn(&str) -> Expr) -> InsertStatement {
    let (columns, values): (Vec<Bots>, Vec<Expr>) = values(input, text).into_iter().unzip();
    Query::insert()
        .into_table(Bots::Table)
        .columns(columns)
        .values_panic(values)
        .returning_col(Bots::Id)
        .to_owned()
}

/// Deletes the bot `id`.
pub(crate) fn delete_one(id: i64) -> DeleteStatement {
    Query::delete()
        .from_table(Bots::Table)
        .and_where(Expr::col(Bots::Id).eq(id))
        .to_owned()
}

/// A backend's write transaction, as bot changes need it: each method runs
/// one of the statements above (`find`: `select_one`, and so on).
#[async_trait]
pub(crate) trait BotRows: Send {
    async fn find(&mut self, id: i64) -> Result<Option<Bot>, StoreError>;
    async fn count(&mut self, room: &str) -> Result<usize, StoreError>;
    async fn update(&mut self, id: i64, input: &BotInput) -> Result<(), StoreError>;
    async fn insert(&mut self, input: &BotInput) -> Result<i64, StoreError>;
    async fn delete(&mut self, id: i64) -> Result<(), StoreError>;
}

/// Adds or changes a bot. A bot entering a room (new, or moved from
/// another) is refused when the room already holds `max_bots_per_room`.
pub(crate) async fn upsert(
    rows: &mut impl BotRows,
    input: &BotInput,
    max_bots_per_room: usize,
) -> Result<WriteOutcome, StoreError> {
    let previous = match input.id {
        Some(id) => rows.find(id).await?,
        None => None,
    };
    let entering_room = previous.as_ref().is_none_or(|p| p.room != input.room);
    if entering_room && rows.count(&input.room).await? >= max_bots_per_room {
        return Ok(WriteOutcome::BotLimitReached);
    }
    let id = match &previous {
        Some(p) => {
            rows.update(p.id, input).await?;
            p.id
        }
        None => rows.insert(input).await?,
    };
    Ok(WriteOutcome::Bot {
        bot: Bot {
            id,
            room: input.room.clone(),
            name: input.name.clone(),
            responds_to: input.responds_to.clone(),
            url: input.url.clone(),
            saved_locally: input.saved_locally,
        },
        previous,
    })
}

/// Deletes a bot; `Deleted(None)` when there was none.
pub(crate) async fn delete(rows: &mut impl BotRows, id: i64) -> Result<WriteOutcome, StoreError> {
    let Some(bot) = rows.find(id).await? else {
        return Ok(WriteOutcome::Deleted(None));
    };
    rows.delete(id).await?;
    Ok(WriteOutcome::Deleted(Some(bot)))
}

/// A text stored as it is (SQLite keeps any string).
pub(crate) fn plain_text(s: &str) -> Expr {
    Expr::val(s)
}

/// Defines, in a backend's module, `Rows` (its write transaction as
/// `BotRows` and `store::clears::ClearRows`) and `find_bot` (a bot by id,
/// on any connection), rendering statements with `$builder`, storing texts
/// with `$text`, finding a room's messages with `$in_room` and keeping a
/// clear point with the statement `$keep_clear_point` makes. A macro, not
/// a generic impl: sqlx's bounds for "any database's transaction" would say
/// more than these few lines.
macro_rules! write_rows {
    ($db:ty, $conn:ty, $builder:expr, $text:expr, $in_room:expr, $keep_clear_point:expr) => {
        #[async_trait::async_trait]
        impl $crate::store::clears::ClearRows for Rows<'_, '_> {
            async fn newest_id(
                &mut self,
                room: &str,
            ) -> Result<Option<i64>, $crate::store::StoreError> {
                use sea_query_sqlx::SqlxBinder as _;
                let statement = $crate::store::reads::newest_id($in_room(room));
                let (sql, values) = statement.build_sqlx($builder);
                let row = sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                    .fetch_one(&mut **self.0)
                    .await?;
                Ok(sqlx::Row::try_get(&row, 0)?)
            }

            async fn keep_clear_point(
                &mut self,
                room: &str,
                last: i64,
            ) -> Result<(), $crate::store::StoreError> {
                use sea_query_sqlx::SqlxBinder as _;
                let (sql, values) = $keep_clear_point(room, last).build_sqlx($builder);
                sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                    .execute(&mut **self.0)
                    .await?;
                Ok(())
            }

            async fn delete_messages(
                &mut self,
                room: &str,
            ) -> Result<(), $crate::store::StoreError> {
                use sea_query_sqlx::SqlxBinder as _;
                let statement = $crate::store::clears::delete_in($in_room(room));
                let (sql, values) = statement.build_sqlx($builder);
                sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                    .execute(&mut **self.0)
                    .await?;
                Ok(())
            }
        }

        /// The write transaction, as bot changes need it (see `store::bots`).
        struct Rows<'a, 'c>(&'a mut sqlx::Transaction<'c, $db>);

        /// The bot `id`, if there is one.
        pub(super) async fn find_bot(
            conn: &mut $conn,
            id: i64,
        ) -> Result<Option<$crate::model::Bot>, $crate::store::StoreError> {
            use sea_query_sqlx::SqlxBinder as _;
            let (sql, values) = $crate::store::bots::select_one(id).build_sqlx($builder);
            let row = sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                .fetch_optional(conn)
                .await?;
            row.as_ref()
                .map($crate::store::schema::bot_from_row)
                .transpose()
        }

        #[async_trait::async_trait]
        impl $crate::store::bots::BotRows for Rows<'_, '_> {
            async fn find(
                &mut self,
                id: i64,
            ) -> Result<Option<$crate::model::Bot>, $crate::store::StoreError> {
                find_bot(self.0, id).await
            }

            async fn count(&mut self, room: &str) -> Result<usize, $crate::store::StoreError> {
                use sea_query_sqlx::SqlxBinder as _;
                let (sql, values) = $crate::store::bots::select_count(room).build_sqlx($builder);
                let row = sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                    .fetch_one(&mut **self.0)
                    .await?;
                Ok(usize::try_from(sqlx::Row::try_get::<i64, _>(&row, 0)?).unwrap_or(0))
            }

            async fn update(
                &mut self,
                id: i64,
                input: &$crate::model::BotInput,
            ) -> Result<(), $crate::store::StoreError> {
                use sea_query_sqlx::SqlxBinder as _;
                let statement = $crate::store::bots::update_one(id, input, $text);
                let (sql, values) = statement.build_sqlx($builder);
                sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                    .execute(&mut **self.0)
                    .await?;
                Ok(())
            }

            async fn insert(
                &mut self,
                input: &$crate::model::BotInput,
            ) -> Result<i64, $crate::store::StoreError> {
                use sea_query_sqlx::SqlxBinder as _;
                let statement = $crate::store::bots::insert_one(input, $text);
                let (sql, values) = statement.build_sqlx($builder);
                let row = sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                    .fetch_one(&mut **self.0)
                    .await?;
                Ok(sqlx::Row::try_get(&row, 0)?)
            }

            async fn delete(&mut self, id: i64) -> Result<(), $crate::store::StoreError> {
                use sea_query_sqlx::SqlxBinder as _;
                let (sql, values) = $crate::store::bots::delete_one(id).build_sqlx($builder);
                sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                    .execute(&mut **self.0)
                    .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use write_rows;
