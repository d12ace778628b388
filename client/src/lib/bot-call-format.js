// The words and numbers shown for a bot call (pure functions of a record):
// elapsed time and latency, outcome, status, activation, the reply's text
// and a curl command that sends the request again.

import { isFinished } from './bot-call-record.js'

/** "… is thinking" shows the seconds once a call has taken this long. */
export const SHOW_ELAPSED_AFTER_S = 2

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
