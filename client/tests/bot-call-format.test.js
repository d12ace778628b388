import { describe, it, expect } from 'vitest'
import {
  elapsedSeconds,
  elapsedText,
  formatLatency,
  outcomeText,
  statusText,
  replyText,
  shellQuote,
  curlCommand,
} from '../src/lib/bot-call-format.js'
import { started, finished } from './bot-call-fixtures.js'

describe('elapsed time and latency', () => {
  it('counts whole seconds, never below zero', () => {
    expect(elapsedSeconds(5000, 4000)).toBe(0)
    expect(elapsedSeconds(0, 2999)).toBe(2)
    expect(elapsedText(0, 1999)).toBe('')
    expect(elapsedText(0, 59_999)).toBe('59 s')
    expect(elapsedText(0, 61_000)).toBe('1 min 01 s')
    expect(elapsedText(0, 125_000)).toBe('2 min 05 s')
  })
  it('formats latencies for people', () => {
    expect(formatLatency(0.42)).toBe('0.4 ms')
    expect(formatLatency(9.94)).toBe('9.9 ms')
    expect(formatLatency(9.96)).toBe('10 ms')
    expect(formatLatency(35.4)).toBe('35 ms')
    expect(formatLatency(2312)).toBe('2.31 s')
    expect(formatLatency(20_450)).toBe('20.4 s')
    expect(formatLatency(120_000)).toBe('120 s')
    expect(formatLatency(null)).toBe('')
    expect(formatLatency(-1)).toBe('')
  })
})

describe('words for a call', () => {
  it('describes outcomes and statuses', () => {
    expect(outcomeText(started(1))).toBe('in flight')
    expect(outcomeText(finished(1))).toBe('ok')
    expect(outcomeText(finished(1, { outcome: 'cannot_connect' }))).toBe('cannot connect')
    expect(outcomeText(finished(1, { outcome: 'not_json' }))).toBe('not JSON')
    expect(outcomeText(finished(1, { outcome: 'some_new_thing' }))).toBe('some new thing')
    expect(statusText(404)).toBe('404')
    expect(statusText(null)).toBe('—')
  })
  it('finds the reply text in a body', () => {
    expect(replyText('{"text":"Hello, NeCSuS!"}')).toBe('Hello, NeCSuS!')
    expect(replyText('{"text":5}')).toBe(null)
    expect(replyText('["text"]')).toBe(null)
    expect(replyText('Not Found')).toBe(null)
    expect(replyText(null)).toBe(null)
  })
  it('writes a curl command that survives any quote', () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`)
    const call = finished(1, { request: { room: "Ann's room", author: 'A', text: 'x', params: {} } })
    expect(curlCommand(call)).toBe(
      `curl -X POST 'http://127.0.0.1:1234/echo' -H 'Content-Type: application/json' ` +
        `-d '{"room":"Ann'\\''s room","author":"A","text":"x","params":{}}'`,
    )
  })
})
