//! The bot-call log's writer: finished calls' records collect in memory and
//! a task writes them to the store together, every so often, beside (never
//! in the way of) the messages' writer. A record is a debugging aid nothing
//! else depends on, so it need not be on disk before anyone is answered:
//! reads of the log ask for a flush first and so always see every record
//! handed over before them, and a crash loses at most the last moments'
//! records (a graceful stop writes them).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};

use crate::model::BotCall;
use crate::store::Store;
use crate::store::StoreError;
use crate::telemetry;

/// Records are written at least this often...
const EVERY: Duration = Duration::from_millis(500);
/// ...and as soon as this many are waiting. Large batches measured
/// cheaper per record than small ones: each write rewrites the log's
/// index pages once, however many records it adds.
const AT_ONCE: usize = 1024;
/// Beyond this many waiting (the database is stuck), new records are
/// dropped rather than held (each holds up to 16 KiB of body).
const MAX_WAITING: usize = 4 * 1024;

#[derive(Default)]
struct Waiting {
    calls: Vec<BotCall>,
    /// Callers of `flush` to answer once `calls` is written.
    flushes: Vec<oneshot::Sender<()>>,
}

struct Shared {
    waiting: Mutex<Waiting>,
    wake: Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        crate::sync::lock(&self.waiting)
    }
}

/// A handle to the recorder; cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    shared: Arc<Shared>,
    /// Dropped with the last handle, which tells the task to finish.
    _alive: mpsc::Sender<()>,
}

impl Recorder {
    /// Starts the task; it ends once every handle is dropped, after writing
    /// what it still holds. The log keeps each room's newest
    /// `keep_per_room` records.
    pub fn spawn(
        store: Arc<dyn Store>,
        keep_per_room: usize,
    ) -> (Recorder, tokio::task::JoinHandle<()>) {
        let shared = Arc::new(Shared {
            waiting: Mutex::new(Waiting::default()),
            wake: Notify::new(),
        });
        let (alive, handles_gone) = mpsc::channel(1);
        let task = tokio::spawn(run(Arc::clone(&shared), handles_gone, store, keep_per_room));
        let recorder = Recorder {
            shared,
            _alive: alive,
        };
        (recorder, task)
    }

    /// Hands a finished call's record over; it is written shortly. Never
    /// waits: posting a message must not slow down for its log.
    pub fn record(&self, call: BotCall) {
        let mut waiting = self.shared.lock();
        if waiting.calls.len() >= MAX_WAITING {
            drop(waiting);
            metrics::counter!(telemetry::BOT_CALL_RECORDS_LOST).increment(1);
            return;
        }
        waiting.calls.push(call);
        let full = waiting.calls.len() >= AT_ONCE;
        drop(waiting);
        if full {
            self.shared.wake.notify_one();
        }
    }

    /// Waits until every record handed over so far is written (or given
    /// up on: see `write`).
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.shared.lock().flushes.push(reply);
        self.shared.wake.notify_one();
        answer.await.map_err(|_| StoreError::ShuttingDown)
    }
}

async fn run(
    shared: Arc<Shared>,
    mut handles_gone: mpsc::Receiver<()>,
    store: Arc<dyn Store>,
    keep_per_room: usize,
) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let last = tokio::select! {
            () = shared.wake.notified() => false,
            _ = tick.tick() => false,
            None = handles_gone.recv() => true,
        };
        let Waiting { calls, flushes } = std::mem::take(&mut *shared.lock());
        write(&*store, calls, keep_per_room).await;
        for reply in flushes {
            // A flush whose caller went away needs no answer.
            let _ = reply.send(());
        }
        if last {
            break;
        }
    }
}

async fn write(store: &dyn Store, calls: Vec<BotCall>, keep_per_room: usize) {
    if calls.is_empty() {
        return;
    }
    if let Err(e) = store.record_calls(&calls, keep_per_room).await {
        // Dropping debugging records beats piling them up while the
        // database is unwell; the chat itself is unaffected.
        metrics::counter!(telemetry::BOT_CALL_RECORDS_LOST).increment(calls.len() as u64);
        tracing::warn!(records = calls.len(), error = %e, "could not write bot-call records");
    }
}
