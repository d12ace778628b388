//! The bot-call log's SQL. Records arrive in bulk (the recorder writes
//! every so often), so each write stores, per room, one row holding that
//! room's new records as a JSON array: a few rows per write instead of a
//! row, an index entry and later a delete per call, which is what made
//! recording cost a noticeable share of posting. Listings read the room's
//! newest rows and cut the records to the newest `keep`.

use std::collections::BTreeMap;

use sea_query::{Expr, ExprTrait, Iden, Order, Query};
use sqlx::Row;
use sqlx::sqlite::SqlitePool;

use crate::model::BotCall;
use crate::store::StoreError;

#[derive(Iden, Clone, Copy)]
enum BotCallChunks {
    Table,
    Room,
    FirstId,
    LastId,
    Count,
    Calls,
}

/// Most chunk rows in one INSERT (5 bound values each).
const MAX_ROWS_PER_INSERT: usize = 256;

/// Stores `calls`: one row per room, its records in id order.
pub(super) async fn insert(
    conn: &mut sqlx::SqliteConnection,
    calls: &[BotCall],
) -> Result<(), StoreError> {
    let mut by_room: BTreeMap<&str, Vec<&BotCall>> = BTreeMap::new();
    for call in calls {
        by_room.entry(&call.room).or_default().push(call);
    }
    for records in by_room.values_mut() {
        records.sort_by_key(|c| c.id);
    }
    let rooms: Vec<(&str, Vec<&BotCall>)> = by_room.into_iter().collect();
    for part in rooms.chunks(MAX_ROWS_PER_INSERT) {
        let mut insert = Query::insert();
        insert.into_table(BotCallChunks::Table).columns([
            BotCallChunks::Room,
            BotCallChunks::FirstId,
            BotCallChunks::LastId,
            BotCallChunks::Count,
            BotCallChunks::Calls,
        ]);
        for (room, records) in part {
            let json =
                serde_json::to_string(&records).map_err(|e| StoreError::Invalid(e.to_string()))?;
            insert.values_panic([
                (*room).into(),
                records[0].id.into(),
                records[records.len() - 1].id.into(),
                (records.len() as i64).into(),
                json.into(),
            ]);
        }
        bound!(insert).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Counting the room's rows from the newest back, the last id of the first
/// row by which they hold `keep` records: rows older than it are not
/// needed. `None` when all the room's rows together hold fewer.
async fn oldest_needed_row(
    conn: &mut sqlx::SqliteConnection,
    room: &str,
    keep: usize,
) -> Result<Option<i64>, StoreError> {
    let rows = bound!(
        Query::select()
            .columns([BotCallChunks::LastId, BotCallChunks::Count])
            .from(BotCallChunks::Table)
            .and_where(Expr::col(BotCallChunks::Room).eq(room))
            .order_by(BotCallChunks::LastId, Order::Desc)
    )
    .fetch_all(conn)
    .await?;
    let mut held = 0;
    for row in rows {
        held += usize::try_from(row.try_get::<i64, _>(1)?).unwrap_or(0);
        if held >= keep {
            return Ok(Some(row.try_get(0)?));
        }
    }
    Ok(None)
}

fn parse(json: &str) -> Result<Vec<BotCall>, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Invalid(format!("a bot-call record is unreadable: {e}")))
}

/// Drops the room's rows older than those holding its newest `keep`
/// records.
pub(super) async fn prune(
    conn: &mut sqlx::SqliteConnection,
    room: &str,
    keep: usize,
) -> Result<(), StoreError> {
    if let Some(oldest_needed) = oldest_needed_row(conn, room, keep).await? {
        bound!(
            Query::delete()
                .from_table(BotCallChunks::Table)
                .and_where(Expr::col(BotCallChunks::Room).eq(room))
                .and_where(Expr::col(BotCallChunks::LastId).lt(oldest_needed))
        )
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// The room's newest `keep` records with id > `since` (of one bot, if
/// given), ascending.
pub(super) async fn list(
    pool: &SqlitePool,
    room: &str,
    bot_id: Option<i64>,
    since: i64,
    keep: usize,
) -> Result<Vec<BotCall>, StoreError> {
    let mut conn = pool.acquire().await?;
    let floor = oldest_needed_row(&mut conn, room, keep).await?;
    let rows = bound!(
        Query::select()
            .column(BotCallChunks::Calls)
            .from(BotCallChunks::Table)
            .and_where(Expr::col(BotCallChunks::Room).eq(room))
            .and_where(Expr::col(BotCallChunks::LastId).gte(floor.unwrap_or(i64::MIN)))
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut records = Vec::new();
    for row in rows {
        records.extend(parse(row.try_get(0)?)?);
    }
    records.sort_by_key(|c| std::cmp::Reverse(c.id));
    records.truncate(keep);
    records.retain(|c| c.id > since && bot_id.is_none_or(|b| c.bot_id == Some(b)));
    records.reverse();
    Ok(records)
}

/// The record of call `id`, if it is still kept.
pub(super) async fn find(pool: &SqlitePool, id: i64) -> Result<Option<BotCall>, StoreError> {
    let rows = bound!(
        Query::select()
            .column(BotCallChunks::Calls)
            .from(BotCallChunks::Table)
            .and_where(Expr::col(BotCallChunks::LastId).gte(id))
            .and_where(Expr::col(BotCallChunks::FirstId).lte(id))
    )
    .fetch_all(pool)
    .await?;
    for row in rows {
        let json: String = row.try_get(0)?;
        if let Some(call) = parse(&json)?.into_iter().find(|c| c.id == id) {
            return Ok(Some(call));
        }
    }
    Ok(None)
}

/// The largest call id ever stored (0 when none).
pub(super) async fn max_id(pool: &SqlitePool) -> Result<i64, StoreError> {
    let row = bound!(
        Query::select()
            .expr(Expr::col(BotCallChunks::LastId).max())
            .from(BotCallChunks::Table)
    )
    .fetch_one(pool)
    .await?;
    Ok(row.try_get::<Option<i64>, _>(0)?.unwrap_or(0))
}
