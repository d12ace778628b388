//! The single writer task. Every change goes through it: it batches the
//! changes waiting in its queue into one transaction, then publishes their
//! events in commit order and only then answers the callers. Because one
//! task commits and publishes, subscribers see each room's messages in
//! strictly increasing id order, and a caller's answer means "stored and
//! broadcast".
//!
//! Each message comes back from the store with the conversation its room
//! was in just before it (every store keeps it), which the feed turns into
//! the message's turn, in commit order. The writer has no backend branch.

use std::sync::Arc;

use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot};

use crate::feed::Feed;
use crate::model::{Kind, Message, NewMessage};
use crate::store::{Store, StoreError, WriteOp, WriteOutcome};
use crate::telemetry;
use crate::turns::Admission;

/// Most changes committed in one transaction.
const MAX_BATCH: usize = 256;
const QUEUE: usize = 4096;

/// What a change did, and for a person's message how it is answered (see
/// `turns`).
type Reply = (Result<WriteOutcome, StoreError>, Option<Admission>);

/// A stored message.
pub struct Inserted {
    pub message: Message,
    /// The message as its API JSON (what `message` serialises to).
    pub json: Arc<str>,
    /// How a person's message is answered: at once (with the conversation
    /// the room was in just before), or as a turn (see `turns`).
    pub admission: Admission,
}

struct Command {
    op: WriteOp,
    reply: oneshot::Sender<Reply>,
}

/// A handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Command>,
}

impl Writer {
    /// Starts the task; it ends once every `Writer` handle is dropped.
    pub fn spawn(
        store: Arc<dyn Store>,
        feed: Arc<dyn Feed>,
    ) -> (Writer, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(rx, store, feed));
        (Writer { tx }, task)
    }

    pub async fn write(&self, op: WriteOp) -> Result<WriteOutcome, StoreError> {
        self.send(op).await?.0
    }

    /// Stores a message.
    pub async fn insert(&self, message: NewMessage) -> Result<Inserted, StoreError> {
        match self.send(WriteOp::InsertMessage(message)).await? {
            (Ok(WriteOutcome::Message { message, json, .. }), admission) => Ok(Inserted {
                message,
                json,
                admission: admission.unwrap_or(Admission::AtOnce(None)),
            }),
            (Ok(other), ..) => unreachable!("an insert is answered with a message, not {other:?}"),
            (Err(e), ..) => Err(e),
        }
    }

    async fn send(&self, op: WriteOp) -> Result<Reply, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Command { op, reply })
            .await
            .map_err(|_| shutting_down())?;
        answer.await.map_err(|_| shutting_down())
    }
}

fn shutting_down() -> StoreError {
    StoreError::ShuttingDown
}

async fn run(mut rx: mpsc::Receiver<Command>, store: Arc<dyn Store>, feed: Arc<dyn Feed>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        if batch.len() < MAX_BATCH {
            // Let handlers that are already running queue their changes
            // too: one more in this batch is one less commit, and a yield
            // costs microseconds when there is nobody else.
            tokio::task::yield_now().await;
            let room = MAX_BATCH - batch.len();
            rx.recv_many(&mut batch, room).now_or_never();
        }
        let (ops, replies) = batch.drain(..).map(|c| (c.op, c.reply)).unzip();
        write_changes(&*store, ops, replies, &*feed).await;
    }
}

/// Writes a batch of changes, publishes what they did in order and answers
/// their callers.
async fn write_changes(
    store: &dyn Store,
    ops: Vec<WriteOp>,
    replies: Vec<oneshot::Sender<Reply>>,
    feed: &dyn Feed,
) {
    let started = std::time::Instant::now();
    metrics::histogram!(telemetry::DB_WRITE_BATCH).record(ops.len() as f64);
    let results = write_batch(store, &ops).await;
    telemetry::observe_seconds(telemetry::DB_WRITE_SECONDS, started.elapsed());
    let published = feed.committed(&mut results.iter().filter_map(|r| r.as_ref().ok()));
    let mut answers = Vec::with_capacity(replies.len());
    for (reply, result) in replies.into_iter().zip(results) {
        let mut turn = None;
        // Turns are registered in commit order, so they keep it.
        if let Ok(WriteOutcome::Message {
            message,
            before,
            turn: registered,
            ..
        }) = &result
            && message.kind == Kind::User
        {
            turn = Some(feed.turn(message, before.clone(), *registered));
        }
        answers.push((reply, (result, turn)));
    }
    // The callers are answered once the batch is published; the writer
    // need not wait for that before the next batch (with a shared
    // database, publishing waits for the listener to hear the batch).
    let answer = move || {
        for (reply, answer) in answers {
            // The caller may have gone away (client disconnected); the
            // change stands regardless (and a dropped turn passes itself on).
            let _ = reply.send(answer);
        }
    };
    let mut published = published;
    if (&mut published).now_or_never().is_some() {
        answer();
    } else {
        tokio::spawn(async move {
            published.await;
            answer();
        });
    }
}

/// One transaction (or statement) for the batch; if it fails, each change
/// alone, so one bad change does not fail its neighbours.
async fn write_batch(store: &dyn Store, ops: &[WriteOp]) -> Vec<Result<WriteOutcome, StoreError>> {
    match store.write(ops).await {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(e) if ops.len() == 1 => vec![Err(e)],
        Err(_) => {
            let mut results = Vec::with_capacity(ops.len());
            for op in ops {
                results.push(
                    store
                        .write(std::slice::from_ref(op))
                        .await
                        .map(|mut o| o.remove(0)),
                );
            }
            results
        }
    }
}
