//! The single writer task. Every change goes through it: it batches the
//! changes waiting in its queue into one transaction, then publishes their
//! events in commit order and only then answers the callers. Because one
//! task commits and publishes, subscribers see each room's messages in
//! strictly increasing id order, and a caller's answer means "stored and
//! broadcast".

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::broker::Broker;
use crate::error::AppError;
use crate::matcher::BotCache;
use crate::model::Event;
use crate::store::{Store, StoreError, WriteOp, WriteOutcome};
use crate::texts;

/// Most changes committed in one transaction.
const MAX_BATCH: usize = 256;
const QUEUE: usize = 4096;

struct Command {
    op: WriteOp,
    reply: oneshot::Sender<Result<WriteOutcome, StoreError>>,
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
        broker: Arc<Broker>,
        bots: Arc<BotCache>,
    ) -> (Writer, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(rx, store, broker, bots));
        (Writer { tx }, task)
    }

    pub async fn write(&self, op: WriteOp) -> Result<WriteOutcome, AppError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Command { op, reply })
            .await
            .map_err(|_| AppError::Unavailable(texts::SHUTTING_DOWN.to_owned()))?;
        match answer.await {
            Ok(result) => Ok(result?),
            Err(_) => Err(AppError::Unavailable(texts::SHUTTING_DOWN.to_owned())),
        }
    }
}

async fn run(
    mut rx: mpsc::Receiver<Command>,
    store: Arc<dyn Store>,
    broker: Arc<Broker>,
    bots: Arc<BotCache>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let ops: Vec<WriteOp> = batch.iter().map(|c| c.op.clone()).collect();
        let results: Vec<Result<WriteOutcome, StoreError>> = match store.write(&ops).await {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
            Err(e) if ops.len() == 1 => vec![Err(e)],
            Err(_) => {
                // One bad change must not fail its neighbours: retry each alone.
                let mut results = Vec::with_capacity(ops.len());
                for op in ops {
                    results.push(store.write(&[op]).await.map(|mut o| o.remove(0)));
                }
                results
            }
        };
        for (command, result) in batch.drain(..).zip(results) {
            if let Ok(outcome) = &result {
                publish(outcome, &broker, &bots);
            }
            // The caller may have gone away (client disconnected); the change
            // stands regardless.
            let _ = command.reply.send(result);
        }
    }
}

fn publish(outcome: &WriteOutcome, broker: &Broker, bots: &BotCache) {
    match outcome {
        WriteOutcome::Message(m) => broker.publish(&Event::Message(m.clone())),
        WriteOutcome::Bot { bot, previous } => {
            if let Some(prev) = previous.as_ref().filter(|p| p.room != bot.room) {
                bots.invalidate(&prev.room);
                broker.publish(&Event::DeleteBot(prev.clone()));
            }
            bots.invalidate(&bot.room);
            broker.publish(&Event::PutBot(bot.clone()));
        }
        WriteOutcome::Deleted(Some(bot)) => {
            bots.invalidate(&bot.room);
            broker.publish(&Event::DeleteBot(bot.clone()));
        }
        WriteOutcome::Cleared {
            room,
            last_cleared_id: Some(last),
        } => broker.publish(&Event::ClearMessages {
            room: room.clone(),
            last_cleared_id: *last,
        }),
        WriteOutcome::Deleted(None)
        | WriteOutcome::Cleared { .. }
        | WriteOutcome::BotLimitReached => {}
    }
}
