//! Wiring a server together and running it until shutdown: open the store,
//! start the writer, build the use cases and the router, serve, and on
//! shutdown let in-flight work finish, close websockets, checkpoint the WAL.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::botcall::BotCaller;
use crate::broker::Broker;
use crate::calllog::CallLog;
use crate::chat::{Chat, ChatSettings};
use crate::config::Config;
use crate::http::{self, AppState};
use crate::matcher::BotCache;
use crate::ratelimit::RoomRateLimit;
use crate::recorder::Recorder;
use crate::store::{SqliteStore, Store, StoreError};
use crate::turns::Turns;
use crate::writer::Writer;

/// Serves `listener` until `shutdown` is cancelled, then drains.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), StoreError> {
    crate::telemetry::handle();
    // One server per database file: the lock is held until we return.
    let _lock = match config.db.as_str() {
        ":memory:" => None,
        db => Some(crate::backup::lock_database(std::path::Path::new(db)).map_err(StoreError)?),
    };
    let store = Arc::new(SqliteStore::open(&config.db).await?);
    let broker = Broker::new(config.ws_lag_events, config.ws_lag_bytes);
    let bot_cache = Arc::new(BotCache::default());
    let turns = Turns::new(Arc::clone(&broker));
    let (writer, writer_task) = Writer::spawn(
        Arc::clone(&store) as Arc<dyn Store>,
        Arc::clone(&broker),
        Arc::clone(&bot_cache),
        turns,
    );
    let (recorder, recorder_task) = Recorder::spawn(
        Arc::clone(&store) as Arc<dyn Store>,
        config.bot_calls_per_room,
    );
    let chat = Arc::new(Chat::new(
        Arc::clone(&store) as Arc<dyn Store>,
        writer,
        broker,
        bot_cache,
        BotCaller::new(
            config.bot_timeout,
            config.bot_max_reply_bytes,
            config.refuse_private_bot_urls,
        ),
        CallLog::new(
            store.max_bot_call_id().await?,
            config.bot_calls_per_room,
            recorder,
        ),
        ChatSettings {
            limits: config.limits.clone(),
            // A turn waits for one bot call before it (bounded by the bot
            // timeout), plus a moment to store its reply.
            turn_wait: config.bot_timeout + std::time::Duration::from_secs(5),
            rate_limit: RoomRateLimit::new(config.room_rate_limit, config.room_rate_burst),
        },
    ));
    let grace = config.shutdown_grace;
    let state = AppState {
        chat,
        config: Arc::new(config),
        shutdown: shutdown.clone(),
    };
    let app = http::router(state);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "NeCSuS is listening");
    }
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    tokio::select! {
        result = server => {
            if let Err(e) = result {
                tracing::error!(error = %e, "server error");
            }
        }
        () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(?grace, "requests still running after the grace period; stopping anyway");
        }
    }
    // The router (and with it every writer and recorder handle) is gone:
    // both finish what is queued and stop.
    let _ = writer_task.await;
    let _ = recorder_task.await;
    if let Err(e) = store.checkpoint().await {
        tracing::warn!(error = %e.0, "WAL checkpoint at shutdown failed");
    }
    store.close().await;
    tracing::info!("NeCSuS stopped");
    Ok(())
}
