//! Metrics in Prometheus text format: one process-wide recorder, the names
//! of every metric NeCSuS keeps, and the rendering behind `GET /metrics`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS: &str = "necsus_http_requests_total";
pub const MESSAGES: &str = "necsus_messages_total";
pub const BOT_CALLS: &str = "necsus_bot_calls_total";
pub const BOT_CALL_SECONDS: &str = "necsus_bot_call_duration_seconds";
pub const BOT_CALL_RECORDS_LOST: &str = "necsus_bot_call_records_lost_total";
pub const WS_SUBSCRIBERS: &str = "necsus_websocket_subscribers";
pub const WS_LAGGED: &str = "necsus_websocket_lagged_total";
pub const DB_WRITE_SECONDS: &str = "necsus_db_write_duration_seconds";
pub const DB_WRITE_BATCH: &str = "necsus_db_write_batch_size";
pub const ROOM_RATE_LIMIT: &str = "necsus_room_rate_limit_posts_per_second";
pub const ROOMS_RATE_LIMITED: &str = "necsus_room_rate_limit_episodes_total";
pub const CLIENTS_RATE_LIMITED: &str = "necsus_client_rate_limited_posts_total";
pub const LISTENER_RESYNCS: &str = "necsus_listener_resyncs_total";
pub const FRAMES_BY_REFERENCE: &str = "necsus_frames_by_reference_total";
pub const NOTIFY_QUEUE_USAGE: &str = "necsus_notification_queue_usage";
pub const LOG_LINES_DROPPED: &str = "necsus_log_lines_dropped_total";
pub const BACKGROUND_ERRORS: &str = "necsus_background_errors_total";

/// A background task's step failed (`task` names it: janitor, heartbeat,
/// turn cleanup…): logged at warn and counted in `/metrics`, since no
/// request is there to carry the error. Returns nothing: the task goes on.
pub fn background_failed(task: &'static str, error: &dyn std::fmt::Display) {
    tracing::warn!(task, error = %error, "background task step failed");
    metrics::counter!(BACKGROUND_ERRORS, "task" => task).increment(1);
}

static LOG_DROPS: OnceLock<tracing_appender::non_blocking::ErrorCounter> = OnceLock::new();

/// Reports the log writer's dropped lines in `/metrics`.
pub fn count_dropped_log_lines(counter: tracing_appender::non_blocking::ErrorCounter) {
    // Set once per process; a second log setup (tests) keeps the first.
    let _ = LOG_DROPS.set(counter);
}

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder once per process (several servers in one test
/// process share it). `None` if another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let seconds = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0, 60.0, 120.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()),
                    &seconds,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        metrics_exporter_prometheus::Matcher::Full(DB_WRITE_BATCH.into()),
                        &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0],
                    )
                })
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            metrics::describe_counter!(HTTP_REQUESTS, "HTTP requests by route, method and status");
            metrics::describe_counter!(MESSAGES, "Messages stored, by kind");
            metrics::describe_counter!(BOT_CALLS, "Bot calls by outcome");
            metrics::describe_histogram!(BOT_CALL_SECONDS, "Bot call latency");
            metrics::describe_gauge!(WS_SUBSCRIBERS, "Websocket subscribers connected now");
            metrics::describe_counter!(
                WS_LAGGED,
                "Websocket subscribers closed for falling behind"
            );
            metrics::describe_histogram!(DB_WRITE_SECONDS, "Time to commit one batch of writes");
            metrics::describe_histogram!(DB_WRITE_BATCH, "Changes committed per transaction");
            metrics::describe_gauge!(
                ROOM_RATE_LIMIT,
                "Posts per second one room accepts in the long run (0: no limit)"
            );
            metrics::describe_counter!(
                ROOMS_RATE_LIMITED,
                "Times a room started refusing posts for coming too fast"
            );
            metrics::counter!(ROOMS_RATE_LIMITED).increment(0);
            metrics::describe_counter!(
                CLIENTS_RATE_LIMITED,
                "Posts refused because their client sent too fast (before the room's limit)"
            );
            metrics::counter!(CLIENTS_RATE_LIMITED).increment(0);
            metrics::describe_counter!(
                LISTENER_RESYNCS,
                "Times the PostgreSQL listener lost notifications and every subscriber resynced"
            );
            metrics::describe_counter!(
                FRAMES_BY_REFERENCE,
                "Notifications whose frame was too large to send inline and went by reference"
            );
            metrics::describe_counter!(
                LOG_LINES_DROPPED,
                "Log lines dropped because the log's writer could not keep up"
            );
            metrics::counter!(LOG_LINES_DROPPED).absolute(0);
            metrics::describe_gauge!(
                NOTIFY_QUEUE_USAGE,
                "PostgreSQL's notification queue usage (0 to 1), pg_notification_queue_usage()"
            );
            // Shown as 0 from the start rather than appearing on the first lag.
            metrics::counter!(WS_LAGGED).increment(0);
            Some(handle)
        })
        .as_ref()
}

thread_local! {
    /// This thread's handles to the per-request and per-message counters,
    /// by label values. `counter!` looks its key up in the recorder's
    /// registry on every call (building and hashing the labels), which cost
    /// about half a microsecond per request; a handle, once registered, is
    /// just an atomic add. Label sets are few (routes × methods × statuses,
    /// message kinds), so this stays small.
    static COUNTERS: RefCell<HashMap<Counted, metrics::Counter>> = RefCell::new(HashMap::new());
}

/// A counter kept in `COUNTERS`, with its label values.
#[derive(PartialEq, Eq, Hash)]
enum Counted {
    /// Route, method, status.
    Request(&'static str, &'static str, u16),
    /// Message kind.
    Message(&'static str),
}

/// Adds one to the counter `counted`, registering it with `register` the
/// first time this thread counts it.
fn count(counted: Counted, register: impl FnOnce() -> metrics::Counter) {
    COUNTERS.with_borrow_mut(|counters| {
        counters
            .entry(counted)
            .or_insert_with(register)
            .increment(1)
    });
}

/// Counts one HTTP request in `HTTP_REQUESTS`.
pub fn count_request(route: &'static str, method: &'static str, status: u16) {
    count(Counted::Request(route, method, status), || {
        metrics::counter!(
            HTTP_REQUESTS,
            "route" => route,
            "method" => method,
            "status" => status.to_string(),
        )
    });
}

/// Counts one stored message of `kind` in `MESSAGES`.
pub fn count_message(kind: &'static str) {
    count(
        Counted::Message(kind),
        || metrics::counter!(MESSAGES, "kind" => kind),
    );
}

pub fn observe_seconds(name: &'static str, d: Duration) {
    metrics::histogram!(name).record(d.as_secs_f64());
}

/// The metrics page; gauges read at render time are passed in.
pub fn render(subscribers: usize, room_rate_limit: f64) -> String {
    metrics::gauge!(WS_SUBSCRIBERS).set(subscribers as f64);
    metrics::gauge!(ROOM_RATE_LIMIT).set(room_rate_limit);
    if let Some(drops) = LOG_DROPS.get() {
        metrics::counter!(LOG_LINES_DROPPED).absolute(drops.dropped_lines() as u64);
    }
    handle().map(|h| h.render()).unwrap_or_default()
}
