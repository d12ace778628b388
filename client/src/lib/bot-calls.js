// The room's bot calls: the records of GET /api/bot-calls and the
// bot_call_started / bot_call_finished websocket frames merged into one list
// (newest first), the calls in flight and the messages waiting for a bot
// (bot_turn_queue frames; both for "… is thinking"), and the words and
// numbers shown for them. Plain data, so that Vue can make it reactive.

/** The server keeps this many calls per room; so does the page. */
export const MAX_CALLS = 200

/** "… is thinking" shows the seconds once a call has taken this long. */
export const SHOW_ELAPSED_AFTER_S = 2

export function createCallStore() {
  return {
    calls: [], // newest first (descending id)
    inflight: {}, // call id → {id, botId, botName, url, activation, since (ms, local clock)}
    staleInflight: null, // ids not yet re-announced after a reconnect
    queues: {}, // bot key → {key, botId, botName, waiting, since (ms, local clock)}; only waiting > 0
    loaded: false, // the room's list has been fetched once
  }
}

const isCall = (c) => c !== null && typeof c === 'object' && Number.isInteger(c.id)

/** A record whose call is over (a started frame or an in-flight record is not). */
export function isFinished(call) {
  return typeof call?.outcome === 'string' && call.outcome !== ''
}

/** A finished call that did not get a usable reply. */
export function isFailure(call) {
  return isFinished(call) && call.outcome !== 'ok'
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

/** Which bot a bot_turn_queue frame is about, as a key of `store.queues`. */
function queueKey(botId, botName) {
  return botId !== null ? `bot:${botId}` : `name:${botName}`
}

/**
 * Applies a bot_turn_queue frame: `waiting` messages wait behind the call in
 * flight to a bot in a conversation (0: none any more). Returns false for
 * anything else, or a frame that names no bot or no count.
 */
export function applyTurnQueueFrame(store, frame, receivedMs) {
  const data = frame?.data
  if (frame?.kind !== 'bot_turn_queue' || data === null || typeof data !== 'object') return false
  const { waiting } = data
  if (!Number.isInteger(waiting) || waiting < 0) return false
  const botId = Number.isInteger(data.bot_id) ? data.bot_id : null
  const botName = typeof data.bot_name === 'string' && data.bot_name ? data.bot_name : null
  if (botId === null && botName === null) return false
  const key = queueKey(botId, botName)
  const known = store.queues[key]
  if (waiting === 0) {
    delete store.queues[key]
  } else {
    store.queues[key] = {
      key,
      botId,
      botName: botName ?? known?.botName ?? `Bot ${botId}`,
      waiting,
      since: known ? known.since : receivedMs,
    }
  }
  return true
}

/**
 * The server does not repeat bot_turn_queue frames to a new connection:
 * on every (re)connect, no message is known to be waiting.
 */
export function resetTurnQueues(store) {
  for (const key of Object.keys(store.queues)) delete store.queues[key]
}

/**
 * Frames the server never sends as part of what it replays on connect
 * (bot_turn_queue): they neither continue the replay burst nor tell that
 * the announcement of calls in flight is over.
 */
export function isLiveOnlyFrame(frame) {
  return frame?.kind === 'bot_turn_queue'
}

/**
 * A reconnect re-announces the calls still in flight: until it is over,
 * every call thought to be in flight is suspect.
 */
export function beginInflightResync(store) {
  store.staleInflight = new Set(Object.keys(store.inflight).map(Number))
}

/**
 * On connect the server sends clear_messages (maybe), a put_bot per bot,
 * then a bot_call_started per call in flight, then messages: any other frame
 * means the announcement is over (but a live-only frame says nothing either
 * way).
 */
export function endsAnnouncement(frame) {
  const kind = frame?.kind
  return kind !== 'put_bot' && kind !== 'bot_call_started' && kind !== 'clear_messages' && !isLiveOnlyFrame(frame)
}

/** Ends the resync: calls not re-announced have finished meanwhile. */
export function finishInflightResync(store) {
  const stale = store.staleInflight
  store.staleInflight = null
  if (!stale) return 0
  for (const id of stale) delete store.inflight[id]
  return stale.size
}

/**
 * The "… is thinking" lines: one per bot (a transient form target counts by
 * its URL), the oldest call of each first, in the order they started, each
 * with the number of messages `waiting` for that bot (from `queues`). A bot
 * with messages waiting but no call in flight (the frames raced) gets a line
 * of its own, with `id` null.
 */
export function thinkingLines(inflight, queues = {}) {
  const byBot = new Map()
  for (const call of Object.values(inflight)) {
    const key = call.botId !== null ? `bot:${call.botId}` : `url:${call.url}`
    const seen = byBot.get(key)
    if (!seen || call.since < seen.since || (call.since === seen.since && call.id < seen.id)) {
      byBot.set(key, {
        key,
        botId: call.botId,
        name: call.botName,
        since: call.since,
        id: call.id,
        activation: call.activation,
        waiting: 0,
      })
    }
  }
  for (const queue of Object.values(queues)) {
    if (!(queue.waiting > 0)) continue
    const line =
      queue.botId !== null
        ? byBot.get(queue.key)
        : [...byBot.values()].find((l) => l.botId === null && l.id !== null && l.name === queue.botName)
    if (line) {
      line.waiting = queue.waiting
    } else {
      byBot.set(queue.key, {
        key: queue.key,
        botId: queue.botId,
        name: queue.botName,
        since: queue.since,
        id: null,
        activation: '',
        waiting: queue.waiting,
      })
    }
  }
  return [...byBot.values()].sort((a, b) => a.since - b.since || (a.id ?? 0) - (b.id ?? 0))
}

/** Whole seconds from `sinceMs` to `nowMs`, never negative. */
export function elapsedSeconds(sinceMs, nowMs) {
  return Math.max(0, Math.floor((nowMs - sinceMs) / 1000))
}

/** The seconds to show after "… is thinking…": '' for the first 2 s. */
export function elapsedText(sinceMs, nowMs) {
  const s = elapsedSeconds(sinceMs, nowMs)
  if (s < SHOW_ELAPSED_AFTER_S) return ''
  if (s < 60) return `${s} s`
  const m = Math.floor(s / 60)
  return `${m} min ${String(s % 60).padStart(2, '0')} s`
}

/** "1 more message waiting for it", "2 more messages waiting for it"; '' for none. */
export function waitingText(waiting) {
  if (!(waiting > 0)) return ''
  return waiting === 1 ? '1 more message waiting for it' : `${waiting} more messages waiting for it`
}

/**
 * "EchoBot is thinking…" ("EchoBot (test) is thinking…" for a test call),
 * then how many more messages wait for it; for a bot with messages waiting
 * but no call in flight, "EchoBot — 1 message waiting".
 */
export function thinkingWho(line) {
  const waiting = line.waiting ?? 0
  if (line.id === null) return `${line.name} — ${waiting} ${waiting === 1 ? 'message' : 'messages'} waiting`
  const what = line.activation === 'test' ? ' (test)' : line.activation === 'replay' ? ' (replay)' : ''
  const who = `${line.name}${what} is thinking…`
  return waiting > 0 ? `${who} ${waitingText(waiting)}` : who
}

/** The seconds a line shows: '' for the first 2 s, and for a line with no call in flight. */
export function lineElapsedText(line, nowMs) {
  return line.id === null ? '' : elapsedText(line.since, nowMs)
}

/**
 * The whole line, with the elapsed time once it is worth showing (after a
 * dot when messages are waiting, so the seconds stay the call's).
 */
export function thinkingText(line, nowMs) {
  const elapsed = lineElapsedText(line, nowMs)
  if (!elapsed) return thinkingWho(line)
  return line.waiting > 0 ? `${thinkingWho(line)} · ${elapsed}` : `${thinkingWho(line)} ${elapsed}`
}

/** A latency in milliseconds for people: "4.2 ms", "35 ms", "2.31 s". */
export function formatLatency(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return ''
  if (ms < 9.95) return `${ms.toFixed(1)} ms`
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 10_000) return `${(ms / 1000).toFixed(2)} s`
  if (ms < 100_000) return `${(ms / 1000).toFixed(1)} s`
  return `${Math.round(ms / 1000)} s`
}

const OUTCOMES = {
  ok: 'ok',
  no_url: 'no URL',
  invalid_url: 'invalid URL',
  cannot_connect: 'cannot connect',
  timeout: 'timed out',
  too_many_redirects: 'too many redirects',
  bad_status: 'bad status',
  too_large: 'reply too large',
  broken_response: 'broken response',
  not_json: 'not JSON',
  not_object: 'not an object',
  missing_text: 'no text',
  text_not_string: 'text not a string',
}

/** The outcome of a call in a few words. */
export function outcomeText(call) {
  if (!isFinished(call)) return 'in flight'
  return OUTCOMES[call.outcome] ?? call.outcome.replace(/_/g, ' ')
}

/** The HTTP status, or a dash when no response arrived. */
export function statusText(status) {
  if (!Number.isInteger(status)) return '—'
  return String(status)
}

const ACTIVATIONS = {
  match: 'match',
  conversation: 'conversation',
  form: 'form',
  test: 'test',
  replay: 'replay',
}

export function activationText(activation) {
  return ACTIVATIONS[activation] ?? String(activation ?? '')
}

/**
 * The `text` a bot replied with, when its body is a JSON object with a
 * string `text`; else null.
 */
export function replyText(body) {
  if (typeof body !== 'string') return null
  try {
    const value = JSON.parse(body)
    return value && typeof value === 'object' && !Array.isArray(value) && typeof value.text === 'string'
      ? value.text
      : null
  } catch {
    return null
  }
}

/** A single-quoted POSIX shell word. */
export function shellQuote(s) {
  return `'${String(s).replace(/'/g, `'\\''`)}'`
}

/** A curl command that sends the bot the same request again. */
export function curlCommand(call) {
  const body = JSON.stringify(call.request ?? {})
  return `curl -X POST ${shellQuote(call.url ?? '')} -H 'Content-Type: application/json' -d ${shellQuote(body)}`
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

/** Bots to filter the log by: {key, label}, from the room's bots and the calls. */
export function botFilterOptions(bots, calls) {
  const options = new Map()
  for (const b of bots ?? []) options.set(`bot:${b.id}`, b.name || `Bot ${b.id}`)
  for (const c of calls ?? []) {
    const key = callBotKey(c)
    if (!options.has(key)) options.set(key, c.bot_name || c.url || key)
  }
  return [...options].map(([key, label]) => ({ key, label })).sort((a, b) => a.label.localeCompare(b.label))
}

/** Which bot a call went to, as a filter key. */
export function callBotKey(call) {
  return Number.isInteger(call.bot_id) ? `bot:${call.bot_id}` : `url:${call.url ?? ''}`
}

/** The call id in a location hash like "#bot-call-12", or null. */
export function callIdFromHash(hash) {
  const m = /^#bot-call-(\d+)$/.exec(hash ?? '')
  return m ? Number(m[1]) : null
}
