// The room's bot calls as plain data (so that Vue can make it reactive): the
// records of GET /api/bot-calls and the bot_call_started / bot_call_finished
// websocket frames merged into one list (newest first), the calls in flight
// and the messages waiting for a bot (both for "… is thinking").

import { isCall, isFinished } from './bot-call-record.js'
import { applyTurnQueueFrame } from './turn-queues.js'

/** The server keeps this many calls per room; so does the page. */
export const MAX_CALLS = 200

export function createCallStore() {
  return {
    calls: [], // newest first (descending id)
    inflight: {}, // call id → {id, botId, botName, url, activation, since (ms, local clock)}
    staleInflight: null, // ids not yet re-announced after a reconnect
    queues: {}, // bot key → {key, botId, botName, waiting, since (ms, local clock)}; only waiting > 0
    loaded: false, // the room's list has been fetched once
  }
}

/**
 * One record merged with a newer view of the same call. A finished call
 * never goes back to in flight (a listing fetched before the call ended can
 * arrive after its bot_call_finished frame), and fields the newer view
 * leaves out (the body, absent from websocket frames) are kept.
 */
export function mergeCall(old, incoming) {
  if (!old) return { ...incoming }
  if (isFinished(old) && !isFinished(incoming)) return old
  const merged = { ...old }
  for (const [key, value] of Object.entries(incoming)) {
    if (value !== undefined) merged[key] = value
  }
  return merged
}

/**
 * Merges `records` into `list` (newest first), in place: known ids are
 * updated, new ones inserted in order; the list is cut to `max` calls.
 * Returns the list.
 */
export function mergeCalls(list, records, max = MAX_CALLS) {
  const byId = new Map(list.map((c, i) => [c.id, i]))
  let added = false
  for (const record of records ?? []) {
    if (!isCall(record)) continue
    const i = byId.get(record.id)
    if (i === undefined) {
      byId.set(record.id, list.length)
      list.push({ ...record })
      added = true
    } else {
      const merged = mergeCall(list[i], record)
      if (merged !== list[i]) list[i] = merged
    }
  }
  if (added) list.sort((a, b) => b.id - a.id)
  if (list.length > max) list.splice(max)
  return list
}

/**
 * The `since` for catching up after the socket was down: everything after
 * the oldest call still thought to be in flight, else after the newest known
 * call; -1 (everything) when nothing is known.
 */
export function catchUpSince(list) {
  if (list.length === 0) return -1
  let since = list[0].id
  for (const c of list) if (!isFinished(c)) since = Math.min(since, c.id - 1)
  return since
}

/**
 * Applies a bot_call_started, bot_call_finished or bot_turn_queue frame.
 * `receivedMs` is when it arrived (local clock); `replaying` says it came in
 * the burst sent as the socket opened, when a started frame announces a call
 * that began earlier (then the server's start time counts, but never in the
 * future: the two clocks may differ). Returns true when the frame was one of
 * these.
 */
export function applyCallFrame(store, frame, receivedMs, replaying = false) {
  if (frame?.kind === 'bot_turn_queue') return applyTurnQueueFrame(store, frame, receivedMs)
  const data = frame?.data
  if (frame?.kind === 'bot_call_started') {
    if (!isCall(data)) return false
    store.staleInflight?.delete(data.id)
    mergeCalls(store.calls, [data])
    const known = store.inflight[data.id]
    if (!isFinished(store.calls.find((c) => c.id === data.id))) {
      let since = known ? known.since : receivedMs
      if (!known && replaying && typeof data.started === 'number' && Number.isFinite(data.started)) {
        since = Math.min(receivedMs, data.started * 1000)
      }
      store.inflight[data.id] = {
        id: data.id,
        botId: data.bot_id ?? null,
        botName: typeof data.bot_name === 'string' && data.bot_name ? data.bot_name : String(data.url ?? 'A bot'),
        url: data.url ?? '',
        activation: data.activation ?? '',
        since,
      }
    }
    return true
  }
  if (frame?.kind === 'bot_call_finished') {
    if (!isCall(data)) return false
    delete store.inflight[data.id]
    store.staleInflight?.delete(data.id)
    mergeCalls(store.calls, [data])
    return true
  }
  return false
}

/**
 * Each room message a call produced (its reply or the system message about
 * its failure) → that call's id.
 */
export function callsByMessage(list) {
  const map = new Map()
  for (const c of list) if (Number.isInteger(c.message_id)) map.set(c.message_id, c.id)
  return map
}
