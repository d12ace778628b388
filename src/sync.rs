//! Taking a mutex that a panic may have poisoned.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, poisoned or not. Every mutex in this crate guards data that
/// each critical section leaves valid at every step (maps of counters,
/// buckets, queues), so a panic elsewhere while it was held leaves nothing
/// half-done to protect against, and refusing the lock for ever after would
/// stop the whole server over one request's panic.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
