//! The posting allowances when several instances share the database: each
//! room's and each client's token bucket is a row, taken under its row
//! lock, so spreading posts over instances gains nothing. The bucket's
//! arithmetic is `ratelimit`'s, shared with the in-memory buckets.

use sqlx::Row;

use super::feed::Shared;
use crate::ratelimit::Verdict;
use crate::store::StoreError;

/// Takes one post from the room's bucket (its row in `rooms`, locked).
pub(super) async fn admit_room(shared: &Shared, room: &str) -> Result<Verdict, StoreError> {
    if shared.rate <= 0.0 {
        return Ok(Verdict::Allowed);
    }
    let (rate, burst) = (shared.rate, shared.burst);
    let mut tx = shared.pool.begin().await?;
    sqlx::query("INSERT INTO rooms (name) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(room)
        .execute(&mut *tx)
        .await?;
    let row = sqlx::query(
        "SELECT least($2, coalesce(rate_tokens, $2) + \
             greatest(0, extract(epoch FROM clock_timestamp() - coalesce(rate_at, clock_timestamp())))::float8 * $3), \
             rate_limiting \
         FROM rooms WHERE name = $1 FOR UPDATE",
    )
    .bind(room)
    .bind(burst)
    .bind(rate)
    .fetch_one(&mut *tx)
    .await?;
    let mut tokens: f64 = row.try_get(0)?;
    let mut limiting: bool = row.try_get(1)?;
    let verdict = crate::ratelimit::take(&mut tokens, &mut limiting, burst, rate);
    sqlx::query(
        "UPDATE rooms SET rate_tokens = $2, rate_at = clock_timestamp(), rate_limiting = $3 \
         WHERE name = $1",
    )
    .bind(room)
    .bind(tokens)
    .bind(limiting)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(verdict)
}

/// Takes one post from the client's bucket (its row in `client_rates`).
pub(super) async fn admit_client(shared: &Shared, client: &str) -> Result<Verdict, StoreError> {
    let (rate, burst) = (shared.client_rate, shared.client_burst);
    if rate <= 0.0 {
        return Ok(Verdict::Allowed);
    }
    let mut tx = shared.pool.begin().await?;
    sqlx::query(
        "INSERT INTO client_rates (client, tokens, at) VALUES ($1, $2, clock_timestamp()) \
         ON CONFLICT DO NOTHING",
    )
    .bind(client)
    .bind(burst)
    .execute(&mut *tx)
    .await?;
    // The bucket refilled since it was last used.
    let mut tokens: f64 = sqlx::query(
        "SELECT least($2, tokens + greatest(0, extract(epoch FROM clock_timestamp() - at))::float8 * $3) \
         FROM client_rates WHERE client = $1 FOR UPDATE",
    )
    .bind(client)
    .bind(burst)
    .bind(rate)
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    // A client is not told of episodes: only its own refusals.
    let mut limiting = true;
    let verdict = crate::ratelimit::take(&mut tokens, &mut limiting, burst, rate);
    sqlx::query("UPDATE client_rates SET tokens = $2, at = clock_timestamp() WHERE client = $1")
        .bind(client)
        .bind(tokens)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(verdict)
}

/// Charges `n` caused messages to the room's and the client's buckets
/// (see `ratelimit::charge`).
pub(super) async fn charge(
    shared: &Shared,
    room: &str,
    client: Option<&str>,
    n: u32,
) -> Result<(), StoreError> {
    let room_on = shared.rate > 0.0;
    let client = client.filter(|_| shared.client_rate > 0.0);
    if !room_on && client.is_none() {
        return Ok(());
    }
    // Each bucket refilled to now, less what was caused, never below minus
    // a burst (as `ratelimit::charge`): one round trip for both rows, no
    // lock held beyond the statement. A bucket that is off (or a client
    // from this machine: NULL) matches no row.
    sqlx::query(
        "WITH room AS ( \
           UPDATE rooms SET rate_tokens = greatest(-$2, least($2, coalesce(rate_tokens, $2) + \
               greatest(0, extract(epoch FROM clock_timestamp() - coalesce(rate_at, clock_timestamp())))::float8 * $3) - $4), \
               rate_at = clock_timestamp() \
           WHERE name = $1 AND $3 > 0 RETURNING 1 \
         ), client AS ( \
           UPDATE client_rates SET tokens = greatest(-$6, least($6, tokens + \
               greatest(0, extract(epoch FROM clock_timestamp() - at))::float8 * $7) - $4), \
               at = clock_timestamp() \
           WHERE client = $5 AND $7 > 0 RETURNING 1 \
         ) SELECT (SELECT count(*) FROM room) + (SELECT count(*) FROM client)",
    )
    .bind(room)
    .bind(shared.burst)
    .bind(shared.rate)
    .bind(f64::from(n))
    .bind(client)
    .bind(shared.client_burst)
    .bind(shared.client_rate)
    .execute(&shared.pool)
    .await?;
    Ok(())
}
