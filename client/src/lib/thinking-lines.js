// The "… is thinking" lines above the message box, from the call store's
// calls in flight and messages waiting: one line per bot, and its words.

import { elapsedText } from './bot-call-format.js'

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
