//! Wiring a server together and running it until shutdown: start the
//! backend `--db` names (see `backend`), start the
//! writer, build the use cases and the router, serve, and on shutdown let
//! in-flight work finish, close websockets, and close the database.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::botcall::BotCaller;
use crate::broker::Broker;
use crate::calllog::CallLog;
use crate::chat::{Chat, ChatSettings, Services};
use crate::config::Config;
use crate::http::{self, AppState};
use crate::matcher::BotCache;
use crate::store::StoreError;
use crate::writer::Writer;

/// Serves `listener` until `shutdown` is cancelled, then drains.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), StoreError> {
    crate::telemetry::handle();
    let broker = Broker::new(config.ws_lag_events, config.ws_lag_bytes);
    let bot_cache = Arc::new(BotCache::default());
    // A turn waits for one bot call before it (bounded by the bot
    // timeout), plus a moment to store its reply.
    let turn_wait = config.bot_timeout + Duration::from_secs(5);
    let crate::backend::Started {
        store,
        feed,
        running,
    } = crate::backend::start(crate::backend::Needs {
        config: &config,
        broker: Arc::clone(&broker),
        bots: Arc::clone(&bot_cache),
        turn_wait,
    })
    .await?;
    let (writer, writer_task) = Writer::spawn(Arc::clone(&store), Arc::clone(&feed));
    let chat = Arc::new(Chat::new(
        Services {
            store: Arc::clone(&store),
            writer,
            broker,
            bots: bot_cache,
            caller: BotCaller::new(
                config.bot_timeout,
                config.bot_max_reply_bytes,
                config.reply_bytes_in_flight,
                crate::netguard::BotNetworks::new(config.allow_bot_networks.clone()),
            ),
            feed: Arc::clone(&feed),
            calls: CallLog::new(Arc::clone(&feed), config.bot_calls_per_room),
            call_limits: crate::calllimits::CallLimits::new(
                config.bot_calls_in_flight,
                config.bot_calls_in_flight_per_room,
                config.bot_calls_in_flight_per_client,
            ),
        },
        ChatSettings {
            limits: config.limits.clone(),
            turn_wait,
            rate_limit: (config.room_rate_limit, config.room_rate_burst),
            bot_tests_per_minute: (
                config.bot_tests_per_minute_per_client,
                config.bot_tests_per_minute_per_bot,
            ),
            max_messages_per_post: config.max_messages_per_post,
            failure_notice_gap: config.failure_notice_gap,
        },
    ));
    drop(feed);
    // Websockets learn of the shutdown from their subscriptions.
    tokio::spawn({
        let broker = Arc::clone(chat.broker());
        let shutdown = shutdown.clone();
        async move {
            shutdown.cancelled().await;
            broker.close();
        }
    });
    let grace = config.shutdown_grace;
    let state = AppState {
        chat,
        config: Arc::new(config),
        shutdown: shutdown.clone(),
    };
    log_mode(&state.config);
    let app = http::router(state);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "NeCSuS is listening");
    }
    // Without TCP_NODELAY, a streamed answer's last small write waits for
    // the client's delayed ACK: 40 ms on every history read.
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
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
    // The router (and with it every writer handle) is gone: the writer
    // finishes what is queued and stops; so does the recorder.
    if let Err(e) = writer_task.await {
        tracing::error!(error = %e, "the writer task ended abnormally");
    }
    running.shut_down().await;
    tracing::info!("NeCSuS stopped");
    Ok(())
}

/// Says at start-up which trust mode runs (see `http::crosssite`).
fn log_mode(config: &Config) {
    if config.open {
        tracing::warn!(
            "open mode (--open): changes from other sites' pages are accepted and /metrics answers anyone"
        );
        return;
    }
    let tutor = if config.tutor_token.is_some() {
        "a tutor's token is configured"
    } else {
        "no tutor's token: /metrics answers this machine only"
    };
    tracing::info!("protected mode: changes from other sites' pages are refused; {tutor}");
}
